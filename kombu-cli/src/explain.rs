//! `kombu explain NAME FILES...`: the effective configuration of a queue or exchange, each
//! setting with where its value comes from (argument, policy, operator policy, default).
//!
//! The computation is `kombu::topology::effective`; this module only finds the entity and
//! prints the answer.

use std::path::PathBuf;

use kombu::topology::{Effective, EntityKind, SettingSource};
use serde_json::json;

/// How `explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One line per setting.
    Human,
    /// A JSON object: the entity, the policies that apply, and each setting.
    Json,
}

fn source_json(s: &SettingSource) -> serde_json::Value {
    match s {
        SettingSource::Argument => json!({"from": "argument"}),
        SettingSource::Policy(n) => json!({"from": "policy", "name": n}),
        SettingSource::OperatorPolicy(n) => json!({"from": "operator_policy", "name": n}),
        _ => json!({"from": "default"}),
    }
}

fn value_json(v: &kombu::topology::PolicyValue) -> serde_json::Value {
    match v {
        kombu::topology::PolicyValue::Int(n) => json!(n),
        kombu::topology::PolicyValue::Str(s) => json!(s),
        kombu::topology::PolicyValue::List(l) => json!(l),
        _ => json!(v.to_string()),
    }
}

fn human(e: &Effective) -> String {
    let mut out = String::new();
    let kind = e.kind.as_str();
    out.push_str(&format!("{kind} {}", e.name));
    if let Some(t) = e.queue_type {
        out.push_str(&format!(" ({})", t.as_str()));
    }
    out.push('\n');
    let line = |what: &str, m: &Option<kombu::topology::PolicyMatch>, ties: &[String]| match m {
        None => format!("  {what}: none\n"),
        Some(m) => {
            let mut s = format!("  {what}: {} (priority {})", m.name, m.priority);
            if !ties.is_empty() {
                s.push_str(&format!(
                    "; tied with {}, RabbitMQ picks one of them",
                    ties.join(", ")
                ));
            }
            s.push('\n');
            s
        }
    };
    out.push_str(&line("policy", &e.policy, &e.policy_ties));
    out.push_str(&line(
        "operator policy",
        &e.operator_policy,
        &e.operator_policy_ties,
    ));
    if e.settings.is_empty() {
        out.push_str("  no argument or policy sets anything: the broker's defaults apply\n");
    }
    for s in &e.settings {
        // Durations are milliseconds on the broker; say so.
        let unit = match s.key {
            "message-ttl" | "expires" | "consumer-timeout" => "ms",
            _ => "",
        };
        out.push_str(&format!("  {} = {}{unit}  ({})", s.key, s.value, s.source));
        for (src, v) in &s.overridden {
            out.push_str(&format!("; {src} asks {v}{unit}"));
        }
        out.push('\n');
    }
    out
}

/// Runs `kombu explain`.
pub(crate) fn run(
    files: &[PathBuf],
    name: &str,
    vhost: &str,
    format: Format,
) -> Result<u8, crate::Failure> {
    let topology = crate::load(files)?;
    let mut found = Vec::new();
    for kind in [EntityKind::Queue, EntityKind::Exchange] {
        if let Some(e) = topology.effective(vhost, kind, name) {
            found.push(e);
        }
    }
    if found.is_empty() {
        let model = topology.model();
        let known = model.queues.keys().chain(model.exchanges.keys());
        let hint = crate::output::did_you_mean(name, known.map(String::as_str))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(format!(
            "no queue or exchange named `{name}` in the topology{hint}"
        ));
    }
    match format {
        Format::Human => {
            let text: Vec<String> = found.iter().map(human).collect();
            crate::output::out!("{}", text.join("\n"));
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = found
                .iter()
                .map(|e| {
                    let m = |m: &Option<kombu::topology::PolicyMatch>| {
                        m.as_ref()
                            .map(|m| json!({"name": m.name, "priority": m.priority}))
                    };
                    json!({
                        "kind": e.kind.as_str(),
                        "name": e.name,
                        "queue_type": e.queue_type.map(|t| t.as_str()),
                        "vhost": vhost,
                        "policy": m(&e.policy),
                        "policy_ties": e.policy_ties,
                        "operator_policy": m(&e.operator_policy),
                        "operator_policy_ties": e.operator_policy_ties,
                        "settings": e.settings.iter().map(|s| {
                            let mut o = source_json(&s.source);
                            o["key"] = json!(s.key);
                            o["value"] = value_json(&s.value);
                            o["overridden"] = s.overridden.iter().map(|(src, v)| {
                                let mut l = source_json(src);
                                l["value"] = value_json(v);
                                l
                            }).collect();
                            o
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let text = serde_json::to_string_pretty(&items).map_err(|e| e.to_string())?;
            crate::output::outln!("{text}");
        }
    }
    Ok(0)
}
