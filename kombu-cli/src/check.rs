//! `kombu check`: every diagnostic of the files, for people, machines or GitHub.

use std::path::PathBuf;

use kombu::topology::{Diagnostic, Severity, Topology};

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// The offending line with a caret.
    Human,
    /// One JSON array of diagnostics.
    Json,
    /// GitHub workflow annotations (`::error file=...`).
    Github,
}

pub(crate) fn run(
    files: &[PathBuf],
    against: &[PathBuf],
    format: Format,
    deny_warnings: bool,
) -> Result<u8, crate::Failure> {
    // The deployed version the message types are compared with.
    let old = if against.is_empty() {
        None
    } else {
        match Topology::from_paths(against) {
            Ok(t) => Some(t),
            Err(d) => {
                return Err(format!(
                    "the topology given with --against does not load:\n{d}"
                ))
            }
        }
    };
    let (diagnostics, summary): (Vec<Diagnostic>, Option<String>) =
        match Topology::from_paths(files) {
            Ok(t) => {
                let m = t.model();
                let summary = format!(
                "ok: {} exchanges, {} queues, {} messages, {} producers, {} consumers, {} tasks",
                m.exchanges.len(),
                m.queues.len(),
                m.messages.len(),
                m.producers.len(),
                m.consumers.len(),
                m.tasks.len()
            );
                // Identifiers are code generation's business: ask the generator itself (a
                // dry run), so that every file check accepts generates code that compiles.
                let incompatible = old
                    .as_ref()
                    .map(|o| kombu::topology::check_compatibility(o.model(), &t))
                    .unwrap_or_default();
                match kombu_build::Config::new().check(&t) {
                    Ok(()) if incompatible.is_empty() => (t.warnings().to_vec(), Some(summary)),
                    Ok(()) => {
                        let mut all = t.warnings().to_vec();
                        all.extend(incompatible);
                        (all, None)
                    }
                    Err(kombu_build::Error::Topology(d)) => {
                        let mut all = t.warnings().to_vec();
                        all.extend(d.iter().cloned());
                        all.extend(incompatible);
                        (all, None)
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            Err(d) => (d.iter().cloned().collect(), None),
        };
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    match format {
        Format::Human => {
            let colour = crate::output::stdout_colour();
            for d in &diagnostics {
                println!("{}", d.render(colour));
            }
            match summary {
                Some(s) if warnings == 0 => println!("{s}"),
                Some(s) => println!("{s}; {warnings} warning{}", plural(warnings)),
                None => println!(
                    "{errors} error{} and {warnings} warning{}",
                    plural(errors),
                    plural(warnings)
                ),
            }
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = diagnostics.iter().map(json).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&items).unwrap_or_default()
            );
        }
        Format::Github => {
            for d in &diagnostics {
                println!("{}", github(d));
            }
        }
    }
    Ok(u8::from(errors > 0 || (deny_warnings && warnings > 0)))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn json(d: &Diagnostic) -> serde_json::Value {
    let mut v = serde_json::json!({
        "code": d.code.as_str(),
        "severity": match d.severity() { Severity::Error => "error", Severity::Warning => "warning" },
        "message": d.message,
    });
    if let Some(l) = &d.location {
        v["file"] = l.file.clone().into();
        v["line"] = l.line.into();
        v["column"] = l.column.into();
    }
    if let Some(h) = &d.help {
        v["help"] = h.clone().into();
    }
    if !d.related.is_empty() {
        v["related"] = d
            .related
            .iter()
            .map(|(l, note)| serde_json::json!({"file": l.file, "line": l.line, "column": l.column, "note": note}))
            .collect();
    }
    v
}

/// Escapes for a workflow command's message and properties.
fn escape(s: &str, property: bool) -> String {
    let s = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        s.replace(':', "%3A").replace(',', "%2C")
    } else {
        s
    }
}

fn github(d: &Diagnostic) -> String {
    let level = match d.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str(&format!(" ({h})"));
    }
    match &d.location {
        Some(l) => format!(
            "::{level} file={},line={},col={},title={}::{}",
            escape(&l.file, true),
            l.line,
            l.column,
            d.code,
            escape(&message, false)
        ),
        None => format!("::{level} title={}::{}", d.code, escape(&message, false)),
    }
}
