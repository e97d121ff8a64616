//! `kombu route`: the queues a message reaches, and the path to each.

use std::path::PathBuf;

use kombu::topology::{Hop, RoutePath, Routes};
use kombu::{FieldTable, FieldValue};
use serde_json::{json, Value};

use crate::output::outln;

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// One line per queue reached, with its path.
    Human,
    /// A JSON object: the message, and each queue with its hops.
    Json,
}

/// `name=value`, typed as a topology file writes a value (a headers exchange tells the
/// integer 1 from the string "1"): an integer, a float, `true`/`false`, a quoted string
/// (`"1"`, with `\"` and `\\` escapes), or else the text as a string.
fn header(text: &str) -> Result<(String, FieldValue), crate::Failure> {
    let (name, value) = text
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| {
            format!("--header `{text}`: expected NAME=VALUE (e.g. `n=1`, `n='\"1\"'`)")
        })?;
    let value = if let Some(quoted) = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| value.len() >= 2)
    {
        FieldValue::String(unquote(quoted).ok_or_else(|| {
            format!("--header `{text}`: in a quoted value, write `\\\"` for a quote and `\\\\` for a backslash")
        })?)
    } else if let Ok(n) = value.parse::<i64>() {
        FieldValue::I64(n)
    } else if let Some(f) = value
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && value.contains(|c: char| c.is_ascii_digit()))
    {
        FieldValue::F64(f)
    } else if let Ok(b) = value.parse::<bool>() {
        FieldValue::Bool(b)
    } else {
        FieldValue::String(value.to_owned())
    };
    Ok((name.to_owned(), value))
}

/// The text between quotes with `\"` and `\\` unescaped; `None` for another escape or a bare
/// quote.
fn unquote(quoted: &str) -> Option<String> {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                _ => return None,
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

pub(crate) fn run(
    files: &[PathBuf],
    exchange: &str,
    key: &str,
    headers: &[String],
    format: Format,
) -> Result<u8, crate::Failure> {
    let topology = crate::load(files)?;
    let mut table = FieldTable::new();
    for h in headers {
        let (k, v) = header(h)?;
        table.insert(k, v);
    }
    let headers = (!table.is_empty()).then_some(&table);
    let x = &topology.model().exchanges;
    if !exchange.is_empty()
        && !x.contains_key(exchange)
        && kombu::topology::predeclared(exchange).is_none()
    {
        let predeclared = kombu::topology::PREDECLARED.iter().map(|(n, _)| *n);
        let known = x.keys().map(String::as_str).chain(predeclared);
        let hint = crate::output::did_you_mean(exchange, known)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(format!("the topology has no exchange `{exchange}`{hint}"));
    }
    let paths = Routes::new(topology.model()).trace(exchange, key, headers);
    if let Format::Json = format {
        outln!("{}", json_text(exchange, key, headers, &paths));
        return Ok(0);
    }
    let shown = if exchange.is_empty() {
        "the default exchange".to_owned()
    } else {
        format!("exchange `{exchange}`")
    };
    let mut header_text = String::new();
    if let Some(h) = headers {
        let parts: Vec<String> = h.iter().map(|(k, v)| format!("{k}={v}")).collect();
        header_text = format!(" and headers {}", parts.join(", "));
    }
    outln!("{shown}, routing key `{key}`{header_text}:");
    if paths.is_empty() {
        outln!(
            "  reaches no queue: the message is dropped (or returned, if published as mandatory)"
        );
    }
    for p in &paths {
        let hops: Vec<String> = p.hops.iter().map(hop).collect();
        outln!("  {}: {}", p.queue, hops.join(", then "));
    }
    outln!(
        "{} queue{}",
        paths.len(),
        if paths.len() == 1 { "" } else { "s" }
    );
    Ok(0)
}

/// A header value as JSON: numbers as numbers, text as strings.
fn value_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => json!(b),
        FieldValue::String(s) => json!(s),
        FieldValue::F32(f) => json!(f),
        FieldValue::F64(f) => json!(f),
        other => other
            .as_i64()
            .map_or_else(|| json!(other.to_string()), |n| json!(n)),
    }
}

fn hop_json(h: &Hop) -> Value {
    match h {
        Hop::Binding {
            from,
            to,
            to_queue,
            keys,
        } => json!({
            "via": "binding",
            "from": from,
            "to": to,
            "to_kind": if *to_queue { "queue" } else { "exchange" },
            "bindings": keys,
        }),
        Hop::Alternate { from, to } => json!({
            "via": "alternate_exchange",
            "from": from,
            "to": to,
            "to_kind": "exchange",
        }),
        Hop::Default { queue } => json!({
            "via": "default_exchange",
            "from": "",
            "to": queue,
            "to_kind": "queue",
        }),
    }
}

fn json_text(
    exchange: &str,
    key: &str,
    headers: Option<&FieldTable>,
    paths: &[RoutePath],
) -> String {
    let headers: serde_json::Map<String, Value> = headers
        .into_iter()
        .flat_map(|h| h.iter())
        .map(|(k, v)| (k.clone(), value_json(v)))
        .collect();
    let queues: Vec<Value> = paths
        .iter()
        .map(|p| json!({"queue": p.queue, "hops": p.hops.iter().map(hop_json).collect::<Vec<_>>()}))
        .collect();
    let v = json!({
        "exchange": exchange,
        "routing_key": key,
        "headers": headers,
        "queues": queues,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

fn hop(h: &Hop) -> String {
    match h {
        Hop::Binding {
            from,
            to,
            to_queue,
            keys,
        } => {
            let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
            format!(
                "{from} -> {} `{to}` (binding {})",
                if *to_queue { "queue" } else { "exchange" },
                keys.join(" or ")
            )
        }
        Hop::Alternate { from, to } => {
            format!("{from} -> alternate exchange `{to}` (no binding matched)")
        }
        Hop::Default { queue } => {
            format!("the default exchange -> queue `{queue}` (named by the key)")
        }
    }
}
