//! Policies and operator policies in the binary: read from and written to RabbitMQ's
//! definitions (`policies`, and `parameters` of component `operator_policy`) and the management
//! API (`/api/policies`, `/api/operator-policies`), and drawn in `graph`.
//!
//! The model and the effective computation are `kombu::topology`'s; this module only
//! translates between them and the broker's JSON.

use indexmap::IndexMap;
use kombu::topology::{
    ApplyTo, EntityKind, PolicyDef, PolicyDefinition, PolicyValue, Topology, TopologyModel,
};
use serde_json::{json, Value};

/// A definition value from the broker's JSON.
fn value_of(v: &Value) -> Option<PolicyValue> {
    match v {
        Value::Number(n) => n.as_i64().map(PolicyValue::Int),
        Value::String(s) => Some(PolicyValue::Str(s.clone())),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .map(PolicyValue::List),
        _ => None,
    }
}

/// A definition value as the broker's JSON.
pub(crate) fn json_of(v: &PolicyValue) -> Value {
    match v {
        PolicyValue::Int(n) => json!(n),
        PolicyValue::Str(s) => json!(s),
        PolicyValue::List(l) => json!(l),
        other => json!(other.to_string()),
    }
}

/// A definition as the broker's JSON object.
pub(crate) fn definition_json(d: &PolicyDefinition) -> Value {
    let map: serde_json::Map<String, Value> = d
        .entries()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json_of(v)))
        .collect();
    Value::Object(map)
}

/// A policy from the broker's JSON: `pattern`, `apply-to`, `priority`, `definition`, `vhost`
/// (as in definitions.json, the management API, and an operator policy parameter's value).
pub(crate) fn policy_from_json(p: &Value, vhost: &str) -> Result<PolicyDef, String> {
    let pattern = p
        .get("pattern")
        .and_then(Value::as_str)
        .ok_or("no `pattern`")?;
    let mut def = PolicyDef::new(pattern);
    def.vhost = p
        .get("vhost")
        .and_then(Value::as_str)
        .unwrap_or(vhost)
        .to_owned();
    if let Some(a) = p.get("apply-to").and_then(Value::as_str) {
        def.apply_to = ApplyTo::from_word(a).ok_or_else(|| format!("unknown apply-to `{a}`"))?;
    }
    def.priority = match p.get("priority") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| format!("priority {v} is not an integer"))?,
    };
    let definition = p
        .get("definition")
        .and_then(Value::as_object)
        .ok_or("no `definition` object")?;
    for (k, v) in definition {
        let value = value_of(v).ok_or_else(|| format!("`{k}`: {v} is not a value kombu reads"))?;
        def.definition.set(k, &value)?;
    }
    Ok(def)
}

/// A policy in the broker's JSON (definitions.json's `policies` entries and the body of
/// `PUT /api/policies/{vhost}/{name}`).
pub(crate) fn policy_json(name: &str, p: &PolicyDef) -> Value {
    json!({
        "vhost": p.vhost,
        "name": name,
        "pattern": p.pattern.get(),
        "apply-to": p.apply_to.as_str(),
        "definition": definition_json(&p.definition),
        "priority": p.priority,
    })
}

/// Adds the policies and operator policies of `defs` (a definitions document, or what
/// `management::fetch_definitions` gathers) for `vhost` to `model`. Returns a note for each
/// policy that could not be read.
pub(crate) fn import_into(model: &mut TopologyModel, defs: &Value, vhost: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let in_vhost = |v: &Value| v.get("vhost").and_then(Value::as_str).unwrap_or(vhost) == vhost;
    let mut policies = IndexMap::new();
    for p in defs
        .get("policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| in_vhost(v))
    {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        match policy_from_json(p, vhost) {
            Ok(def) => {
                policies.insert(name.to_owned(), def);
            }
            Err(e) => notes.push(format!("policy `{name}` left out: {e}")),
        }
    }
    let mut operator = IndexMap::new();
    // definitions.json carries operator policies as runtime parameters; the management API
    // (`/api/operator-policies`) as policies.
    let as_parameters = defs
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("component").and_then(Value::as_str) == Some("operator_policy"))
        .filter(|v| in_vhost(v))
        .map(|p| {
            let mut value = p.get("value").cloned().unwrap_or(Value::Null);
            if let (Some(obj), Some(v)) = (value.as_object_mut(), p.get("vhost")) {
                obj.insert("vhost".to_owned(), v.clone());
            }
            (p.get("name").cloned().unwrap_or(Value::Null), value)
        });
    let as_policies = defs
        .get("operator_policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| in_vhost(v))
        .map(|p| (p.get("name").cloned().unwrap_or(Value::Null), p.clone()));
    for (name, p) in as_parameters.chain(as_policies) {
        let name = name.as_str().unwrap_or_default();
        match policy_from_json(&p, vhost) {
            Ok(def) => {
                operator.insert(name.to_owned(), def);
            }
            Err(e) => notes.push(format!("operator policy `{name}` left out: {e}")),
        }
    }
    policies.sort_keys();
    operator.sort_keys();
    model.policies = policies;
    model.operator_policies = operator;
    notes
}

/// Adds the topology's policies for `vhost` to a definitions document: `policies`, and
/// operator policies as `parameters` of component `operator_policy` (as
/// `rabbitmqctl export_definitions` writes them).
pub(crate) fn export_into(defs: &mut Value, model: &TopologyModel, vhost: &str) {
    let policies: Vec<Value> = model
        .policies
        .iter()
        .filter(|(_, p)| p.vhost == vhost)
        .map(|(n, p)| policy_json(n, p))
        .collect();
    let parameters: Vec<Value> = model
        .operator_policies
        .iter()
        .filter(|(_, p)| p.vhost == vhost)
        .map(|(n, p)| {
            let mut value = policy_json(n, p);
            if let Some(obj) = value.as_object_mut() {
                obj.remove("vhost");
                obj.remove("name");
            }
            json!({"vhost": vhost, "component": "operator_policy", "name": n, "value": value})
        })
        .collect();
    if let Some(obj) = defs.as_object_mut() {
        if !policies.is_empty() {
            obj.insert("policies".to_owned(), Value::Array(policies));
        }
        if !parameters.is_empty() {
            obj.insert("parameters".to_owned(), Value::Array(parameters));
        }
    }
}

/// Which policy and operator policy apply to each queue and exchange of the topology (in
/// virtual host `/`): (policy name, operator?, entity kind, entity name).
pub(crate) fn applied(topology: &Topology) -> Vec<(String, bool, EntityKind, String)> {
    let model = topology.model();
    let vhost = model
        .policies
        .values()
        .chain(model.operator_policies.values())
        .map(|p| p.vhost.as_str())
        .next()
        .unwrap_or("/");
    let entities = model
        .exchanges
        .keys()
        .map(|n| (EntityKind::Exchange, n))
        .chain(model.queues.keys().map(|n| (EntityKind::Queue, n)));
    let mut out = Vec::new();
    for (kind, name) in entities {
        let Some(e) = topology.effective(vhost, kind, name) else {
            continue;
        };
        if let Some(p) = e.policy {
            out.push((p.name, false, kind, name.clone()));
        }
        if let Some(p) = e.operator_policy {
            out.push((p.name, true, kind, name.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_round_trip() {
        let defs = json!({
            "policies": [
                {"vhost": "/", "name": "ttl", "pattern": "^celery", "apply-to": "queues",
                 "definition": {"message-ttl": 2000, "max-length": 10, "overflow": "reject-publish"},
                 "priority": 2},
                {"vhost": "other", "name": "elsewhere", "pattern": ".*", "apply-to": "all",
                 "definition": {"max-length": 1}, "priority": 0},
                {"vhost": "/", "name": "bad", "pattern": ".*", "apply-to": "all",
                 "definition": {"max-lenght": 1}, "priority": 0}
            ],
            "parameters": [
                {"vhost": "/", "component": "operator_policy", "name": "cap",
                 "value": {"pattern": ".*", "apply-to": "queues", "definition": {"max-length": 1000}, "priority": 0}},
                {"vhost": "/", "component": "federation-upstream", "name": "up", "value": {"uri": "amqp://"}}
            ]
        });
        let mut model = TopologyModel::default();
        let notes = import_into(&mut model, &defs, "/");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("did you mean `max-length`"), "{notes:?}");
        assert_eq!(model.policies.len(), 1);
        let ttl = &model.policies["ttl"];
        assert_eq!(ttl.priority, 2);
        assert_eq!(ttl.apply_to, ApplyTo::Queues);
        assert_eq!(
            ttl.definition.message_ttl,
            Some(std::time::Duration::from_millis(2000))
        );
        assert_eq!(
            model.operator_policies["cap"].definition.max_length,
            Some(1000)
        );

        let mut out = json!({});
        export_into(&mut out, &model, "/");
        let mut again = TopologyModel::default();
        assert!(import_into(&mut again, &out, "/").is_empty());
        assert_eq!(again.policies, model.policies);
        assert_eq!(again.operator_policies, model.operator_policies);
        assert_eq!(out["policies"][0]["definition"]["message-ttl"], 2000);
    }
}

/// What `plan` and `apply` do with one policy or operator policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicyStep {
    /// The broker has it as the file says.
    Unchanged,
    /// The broker does not have it.
    Create,
    /// The broker has it with other settings: `PUT` replaces it in place (no entity is
    /// redeclared, no message moves).
    Update(String),
}

/// One policy of the files, compared with the broker: (operator?, name, step, body to PUT).
pub(crate) type PolicyPlan = Vec<(bool, String, PolicyStep, Value)>;

fn policy_path(operator: bool, vhost: &str, name: &str) -> String {
    let kind = if operator {
        "operator-policies"
    } else {
        "policies"
    };
    format!(
        "{kind}/{}/{}",
        crate::api::enc(vhost),
        crate::api::enc(name)
    )
}

/// Compares the files' policies for the API's vhost with the broker's. Policies on the broker
/// that the files do not name are left alone (and counted).
pub(crate) fn plan_policies(
    api: &crate::api::Api,
    topology: &Topology,
) -> Result<(PolicyPlan, usize), crate::Failure> {
    let model = topology.model();
    let mut out = Vec::new();
    let mut others = 0;
    for (operator, table, kind) in [
        (false, &model.policies, "policies"),
        (true, &model.operator_policies, "operator-policies"),
    ] {
        let broker = api.list(kind)?;
        let mut named = std::collections::BTreeSet::new();
        for (name, p) in table.iter().filter(|(_, p)| p.vhost == api.vhost) {
            named.insert(name.clone());
            let mut want = p.clone();
            want.description = None;
            let body = policy_json(name, p);
            let have = broker
                .iter()
                .find(|b| b.get("name").and_then(Value::as_str) == Some(name.as_str()));
            let step = match have.map(|b| policy_from_json(b, &api.vhost)) {
                None => PolicyStep::Create,
                Some(Ok(have)) if have == want => PolicyStep::Unchanged,
                Some(Ok(_)) | Some(Err(_)) => {
                    let have = have.cloned().unwrap_or(Value::Null);
                    let mut diffs = Vec::new();
                    for k in ["pattern", "apply-to", "priority", "definition"] {
                        if have.get(k) != body.get(k) {
                            diffs.push(format!(
                                "{k}: broker {}, file {}",
                                have.get(k).unwrap_or(&Value::Null),
                                body.get(k).unwrap_or(&Value::Null)
                            ));
                        }
                    }
                    PolicyStep::Update(diffs.join("; "))
                }
            };
            out.push((operator, name.clone(), step, body));
        }
        others += broker
            .iter()
            .filter(|b| {
                let n = b.get("name").and_then(Value::as_str).unwrap_or_default();
                !named.contains(n)
            })
            .count();
    }
    Ok((out, others))
}

/// The files' policies for other vhosts than the API's: `plan` and `apply` act on one vhost, so
/// these are named (not silently skipped) with the vhost to run them against.
fn other_vhosts<'a>(
    api: &crate::api::Api,
    topology: &'a Topology,
) -> Vec<(bool, &'a str, &'a str)> {
    let model = topology.model();
    let mut out = Vec::new();
    for (operator, table) in [(false, &model.policies), (true, &model.operator_policies)] {
        for (name, p) in table.iter().filter(|(_, p)| p.vhost != api.vhost) {
            out.push((operator, name.as_str(), p.vhost.as_str()));
        }
    }
    out
}

/// The line that names the policies of other vhosts, if any.
pub(crate) fn other_vhosts_text(api: &crate::api::Api, topology: &Topology) -> Option<String> {
    let others = other_vhosts(api, topology);
    if others.is_empty() {
        return None;
    }
    let listed: Vec<String> = others
        .iter()
        .map(|(operator, name, vhost)| format!("{} (vhost `{vhost}`)", describe(*operator, name)))
        .collect();
    Some(format!(
        "not compared here (this run is for vhost `{}`; run it with --vhost for theirs): {}",
        api.vhost,
        listed.join(", ")
    ))
}

fn describe(operator: bool, name: &str) -> String {
    if operator {
        format!("operator policy `{name}`")
    } else {
        format!("policy `{name}`")
    }
}

/// The policy lines of `kombu plan`.
pub(crate) fn print_plan(api: &crate::api::Api, topology: &Topology) -> Result<(), crate::Failure> {
    let (plan, others) = plan_policies(api, topology)?;
    let mut counts = [0usize; 3];
    for (operator, name, step, _) in &plan {
        match step {
            PolicyStep::Unchanged => counts[2] += 1,
            PolicyStep::Create => {
                counts[0] += 1;
                println!("{:>9}  {}", "create", describe(*operator, name));
            }
            PolicyStep::Update(d) => {
                counts[1] += 1;
                println!("{:>9}  {}: {d}", "update", describe(*operator, name));
            }
        }
    }
    if !plan.is_empty() || others > 0 {
        println!(
            "policies: {} to create, {} to update in place, {} unchanged; {others} on the broker that the files do not name left alone",
            counts[0], counts[1], counts[2]
        );
    }
    if let Some(text) = other_vhosts_text(api, topology) {
        println!("policies {text}");
    }
    Ok(())
}

/// The policy part of `kombu plan --format json`: each policy to create or update (`kind` is
/// `policy` or `operator_policy`), the counts, and how many on the broker the files do not name.
pub(crate) fn plan_json(
    api: &crate::api::Api,
    topology: &Topology,
) -> Result<Value, crate::Failure> {
    let (plan, others) = plan_policies(api, topology)?;
    let kind = |operator: bool| {
        if operator {
            "operator_policy"
        } else {
            "policy"
        }
    };
    let steps: Vec<Value> = plan
        .iter()
        .filter_map(|(operator, name, step, _)| {
            let (action, detail) = match step {
                PolicyStep::Unchanged => return None,
                PolicyStep::Create => ("create", None),
                PolicyStep::Update(d) => ("update", Some(d)),
            };
            Some(serde_json::json!({"action": action, "kind": kind(*operator), "name": name, "detail": detail}))
        })
        .collect();
    let count = |f: fn(&PolicyStep) -> bool| plan.iter().filter(|p| f(&p.2)).count();
    let elsewhere: Vec<Value> = other_vhosts(api, topology)
        .into_iter()
        .map(|(operator, name, vhost)| {
            serde_json::json!({"kind": kind(operator), "name": name, "vhost": vhost})
        })
        .collect();
    Ok(serde_json::json!({
        "other_vhosts": elsewhere,
        "steps": steps,
        "counts": {
            "create": count(|s| *s == PolicyStep::Create),
            "update": count(|s| matches!(s, PolicyStep::Update(_))),
            "unchanged": count(|s| *s == PolicyStep::Unchanged),
        },
        "left_alone": others,
    }))
}

/// A policy `apply` put in place: (`created` or `updated`, operator?, name).
pub(crate) type Applied = (&'static str, bool, String);

/// How `apply` says it put a policy in place.
pub(crate) fn applied_text((word, operator, name): &Applied) -> String {
    format!("{word} {}", describe(*operator, name))
}

/// `kombu apply` for policies: creates and updates them in place (`PUT`), before the entities
/// they apply to are declared, so that a new queue starts with its policy. Never deletes one.
/// Returns what it put in place, in order.
pub(crate) fn apply_policies(
    api: &crate::api::Api,
    topology: &Topology,
) -> Result<Vec<Applied>, crate::Failure> {
    let (plan, _) = plan_policies(api, topology)?;
    let mut done = Vec::new();
    for (operator, name, step, body) in plan {
        let word = match step {
            PolicyStep::Unchanged => continue,
            PolicyStep::Create => "created",
            PolicyStep::Update(_) => "updated",
        };
        let mut body = body;
        if let Some(obj) = body.as_object_mut() {
            obj.remove("name");
            obj.remove("vhost");
        }
        api.put(&policy_path(operator, &api.vhost, &name), &body)?;
        done.push((word, operator, name));
    }
    Ok(done)
}
