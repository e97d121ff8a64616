//! `kombu route`: the queues a message reaches, and the path to each.

use std::path::PathBuf;

use kombu::topology::{Hop, Routes};
use kombu::{FieldTable, FieldValue};

/// `name=value`, with numbers and booleans typed as a publisher would send them.
fn header(text: &str) -> Result<(String, FieldValue), crate::Failure> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("--header {text}: expected NAME=VALUE"))?;
    let value = if let Ok(n) = value.parse::<i64>() {
        FieldValue::I64(n)
    } else if let Ok(b) = value.parse::<bool>() {
        FieldValue::Bool(b)
    } else {
        FieldValue::String(value.to_owned())
    };
    Ok((name.to_owned(), value))
}

pub(crate) fn run(
    files: &[PathBuf],
    exchange: &str,
    key: &str,
    headers: &[String],
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
        return Err(format!("the topology has no exchange `{exchange}`"));
    }
    let paths = Routes::new(topology.model()).trace(exchange, key, headers);
    let shown = if exchange.is_empty() {
        "the default exchange".to_owned()
    } else {
        format!("exchange `{exchange}`")
    };
    let mut header_text = String::new();
    if let Some(h) = headers {
        let parts: Vec<String> = h.iter().map(|(k, v)| format!("{k}={}", value(v))).collect();
        header_text = format!(" and headers {}", parts.join(", "));
    }
    println!("{shown}, routing key `{key}`{header_text}:");
    if paths.is_empty() {
        println!(
            "  reaches no queue: the message is dropped (or returned, if published as mandatory)"
        );
    }
    for p in &paths {
        let hops: Vec<String> = p.hops.iter().map(hop).collect();
        println!("  {}: {}", p.queue, hops.join(", then "));
    }
    println!(
        "{} queue{}",
        paths.len(),
        if paths.len() == 1 { "" } else { "s" }
    );
    Ok(0)
}

fn value(v: &FieldValue) -> String {
    match v {
        FieldValue::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
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
