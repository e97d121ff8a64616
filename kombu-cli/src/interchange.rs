//! `kombu export` and `kombu import`: topology files to a definitions.json, and a
//! definitions.json (or a live broker's, through the management API) to a topology file. The
//! conversion itself is `definitions.rs`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::definitions::{adopt, definitions};

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// RabbitMQ definitions.json.
    Definitions,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ImportFormat {
    /// A TOML topology file.
    Toml,
    /// A YAML topology file.
    Yaml,
}

pub(crate) fn export(
    files: &[PathBuf],
    _format: ExportFormat,
    vhost: &str,
) -> Result<u8, crate::Failure> {
    let topology = crate::load(files)?;
    let text =
        serde_json::to_string_pretty(&definitions(&topology, vhost)).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(0)
}

pub(crate) fn import(
    file: Option<&Path>,
    broker: Option<&str>,
    format: ImportFormat,
    vhost: &str,
    include_ephemeral: bool,
) -> Result<u8, crate::Failure> {
    let (defs, source) = match (file, broker) {
        (Some(file), None) => {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let defs: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
            (defs, file.display().to_string())
        }
        (None, Some(broker)) => (
            crate::api::fetch_definitions(broker, vhost)?,
            "the broker".to_owned(),
        ),
        _ => return Err("give a definitions.json, or --broker URL".to_owned()),
    };
    let (mut model, left) = adopt(&defs, vhost, include_ephemeral);
    if let Some(summary) = left.report() {
        eprintln!("{summary}");
    }
    for note in crate::policies::import_into(&mut model, &defs, vhost) {
        eprintln!("note: {note}");
    }
    print!(
        "# Imported from {source} (virtual host {vhost}) by `kombu import`.\n{}",
        model_text(&model, format)?
    );
    Ok(0)
}

/// A model as a topology file of `format`.
pub(crate) fn model_text(
    model: &kombu::topology::TopologyModel,
    format: ImportFormat,
) -> Result<String, crate::Failure> {
    match format {
        ImportFormat::Toml => model.to_toml_string(),
        ImportFormat::Yaml => model.to_yaml_string(),
    }
    .map_err(|e| e.to_string())
}
