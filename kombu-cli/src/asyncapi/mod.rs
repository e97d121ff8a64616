//! `kombu asyncapi` and `kombu import --asyncapi`: topology files to an AsyncAPI 3.0
//! document (`write`), and an AsyncAPI 2.6 or 3.0 document with AMQP bindings to a topology
//! file (`read`).
//!
//! What the two agree on, beside AsyncAPI's own fields: every id is the entity's name with
//! characters outside `[A-Za-z0-9._-]` replaced (`ids`), and what AsyncAPI's AMQP bindings
//! cannot hold (queue bindings, queue arguments, producer and consumer settings, tasks,
//! policies) travels in `x-kombu-*` extensions, named here, so that a document kombu wrote
//! reads back into the topology it came from. docs/asyncapi.md lists which settings travel
//! only that way.

mod ids;
mod read;
mod write;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub(crate) use ids::Ids;

/// The AMQP bindings' version kombu writes.
const BINDING_VERSION: &str = "0.3.0";
/// On an exchange channel's AMQP binding: the exchange's settings AsyncAPI has no field for.
const X_EXCHANGE: &str = "x-kombu-exchange";
/// On a queue channel's AMQP binding: the queue's other settings, its bindings included.
const X_QUEUE: &str = "x-kombu-queue";
/// On a send operation: the producer's name and settings.
const X_PRODUCER: &str = "x-kombu-producer";
/// On a send operation: the method's name, variant and headers.
const X_METHOD: &str = "x-kombu-method";
/// On a receive operation: the consumer's name and settings.
const X_CONSUMER: &str = "x-kombu-consumer";
/// On a receive operation: how the consumer reads its queue (ordered, stream offset).
const X_CONSUME: &str = "x-kombu-consume";
/// On a message: its Rust name or type, its compatibility mode.
const X_MESSAGE: &str = "x-kombu-message";
/// On the document: the topology's Celery tasks, policies and operator policies.
const X_TASKS: &str = "x-kombu-tasks";
const X_POLICIES: &str = "x-kombu-policies";
const X_OPERATOR_POLICIES: &str = "x-kombu-operator-policies";

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// What `kombu asyncapi` is asked for.
pub(crate) struct Options<'a> {
    pub(crate) files: &'a [PathBuf],
    pub(crate) title: Option<&'a str>,
    pub(crate) version: &'a str,
    pub(crate) vhost: &'a str,
    pub(crate) server: Option<&'a str>,
    pub(crate) format: Format,
}

pub(crate) fn export(options: &Options<'_>) -> Result<u8, crate::Failure> {
    let topology = crate::load(options.files)?;
    let title = match options.title {
        Some(t) => t.to_owned(),
        None => default_title(options.files),
    };
    let doc = write::document(
        &topology,
        &write::Info {
            title: &title,
            version: options.version,
            vhost: options.vhost,
            server: options.server,
        },
    )?;
    crate::output::outln!("{}", text(&doc, options.format)?.trim_end());
    Ok(0)
}

/// The first file's name without its extension; for a file named `topology`, its
/// directory's name (`examples/media/topology.toml` is `media`).
fn default_title(files: &[PathBuf]) -> String {
    let Some(file) = files.first() else {
        return "topology".to_owned();
    };
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
    let dir = std::path::absolute(file).ok().and_then(|f| {
        f.parent()?
            .file_name()
            .map(|d| d.to_string_lossy().into_owned())
    });
    match (stem, dir) {
        (Some(stem), Some(dir)) if stem == "topology" => dir,
        (Some(stem), _) => stem,
        (None, _) => "topology".to_owned(),
    }
}

pub(crate) fn text(doc: &Value, format: Format) -> Result<String, crate::Failure> {
    match format {
        Format::Json => serde_json::to_string_pretty(doc).map_err(|e| e.to_string()),
        Format::Yaml => serde_norway::to_string(doc).map_err(|e| e.to_string()),
    }
}

/// `kombu import --asyncapi FILE`: the topology file, and on stderr what the document holds
/// that a topology cannot (each with where it is).
pub(crate) fn import(
    file: &Path,
    format: crate::interchange::ImportFormat,
) -> Result<u8, crate::Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let doc = parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let (model, left) = read::topology(&doc).map_err(|e| format!("{}: {e}", file.display()))?;
    if !left.is_empty() {
        eprintln!(
            "note: {} has {} thing(s) a topology file cannot hold, left out:",
            file.display(),
            left.len()
        );
        const SHOWN: usize = 100;
        for l in left.iter().take(SHOWN) {
            eprintln!("  - {l}");
        }
        if left.len() > SHOWN {
            eprintln!("  ... and {} more", left.len() - SHOWN);
        }
    }
    // What the import wrote must load: a document that reads into a topology kombu refuses
    // is reported here, not at the user's next `kombu check`.
    let model_text = crate::interchange::model_text(&model, format)?;
    // The text as printed is what must load (TOML, say, nests tables no deeper than 80).
    let loaded = match format {
        crate::interchange::ImportFormat::Toml => {
            kombu::topology::Topology::from_toml_str(&model_text)
        }
        crate::interchange::ImportFormat::Yaml => {
            kombu::topology::Topology::from_yaml_str(&model_text)
        }
    };
    let topology = loaded.map_err(|d| {
        format!(
            "{}: the topology read from it does not check:\n{}",
            file.display(),
            d.render(false)
        )
    })?;
    // And it generates (as `kombu check` requires of a file).
    kombu_build::Config::new().check(&topology).map_err(|e| {
        format!(
            "{}: the topology read from it would not generate code: {e}",
            file.display()
        )
    })?;
    crate::output::outln!(
        "# Imported from {} (AsyncAPI {}) by `kombu import --asyncapi`.\n{}",
        file.display(),
        doc.get("asyncapi").and_then(Value::as_str).unwrap_or("?"),
        model_text.trim_end()
    );
    Ok(0)
}

/// A document in JSON or YAML (JSON is YAML, but a JSON parser's errors read better).
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
    } else {
        serde_norway::from_str(text).map_err(|e| format!("not YAML: {e}"))
    }
}

/// Whether a JSON value is worth writing (not null, an empty object or an empty array).
fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests;
