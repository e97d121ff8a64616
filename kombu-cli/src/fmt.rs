//! `kombu fmt`: one canonical layout, so reviews see real changes only.
//!
//! Entities are sorted by name within each table (fields, variants and methods keep their
//! order: it is the order of the generated code), defaults are left out, and the file is
//! written back in its own format. The leading comment block (the editor's schema line, a
//! file header) is kept. Comments further down cannot be carried through a re-serialization,
//! so a file that has them is refused rather than silently stripped: such notes belong in the
//! `description` keys, which reach the generated docs too.

use std::path::PathBuf;

use kombu::topology::{Format, SourceFile, Topology, TopologyModel};

fn sorted(model: &TopologyModel) -> TopologyModel {
    let mut m = model.clone();
    m.exchanges.sort_keys();
    m.queues.sort_keys();
    m.messages.sort_keys();
    m.producers.sort_keys();
    m.consumers.sort_keys();
    m.policies.sort_keys();
    m.operator_policies.sort_keys();
    m
}

/// The canonical text of one file, or why it cannot be formatted.
fn canonical(path: &std::path::Path, text: &str) -> Result<String, String> {
    let format = Format::from_path(path)
        .ok_or_else(|| format!("{}: unknown topology file format", path.display()))?;
    let name = path.display().to_string();
    let topology = Topology::from_sources([SourceFile::new(name.clone(), format, text)])
        .map_err(|d| d.render(crate::output::stderr_colour()))?;
    let header: Vec<&str> = text
        .lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .collect();
    let model = sorted(topology.model());
    let body = match format {
        Format::Toml => model.to_toml_string(),
        Format::Json => model.to_json_string().map(|s| s + "\n"),
        _ => model.to_yaml_string(),
    }
    .map_err(|e| e.to_string())?;
    let header = header.join("\n");
    let header = header.trim_end();
    let out = if header.is_empty() {
        body
    } else {
        format!("{header}\n{body}")
    };
    // Never drop a comment: only the header block is carried through.
    if let Some((line, comment)) = crate::comments::first_lost(format, text, &out) {
        let shown: String = comment
            .chars()
            .take(60)
            .flat_map(char::escape_debug)
            .collect();
        return Err(format!(
            "{name}:{line}: the comment `# {shown}` would be lost by formatting (only the comment block at the top of a file is kept); move it into a `description`"
        ));
    }
    // Never write something that reads back differently.
    let back = Topology::from_sources([SourceFile::new(name.clone(), format, out.as_str())])
        .map_err(|d| d.to_string())?;
    if back.model() != &model {
        return Err(format!(
            "{name}: formatting would change the topology; not written"
        ));
    }
    Ok(out)
}

pub(crate) fn run(files: &[PathBuf], check: bool) -> Result<u8, crate::Failure> {
    let mut unformatted = 0;
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let out = canonical(path, &text)?;
        if out == text {
            continue;
        }
        if check {
            crate::output::outln!("{}: not formatted", path.display());
            unformatted += 1;
        } else {
            std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
            crate::output::outln!("{}: formatted", path.display());
        }
    }
    Ok(u8::from(unformatted > 0))
}
