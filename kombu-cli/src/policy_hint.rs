//! The hints of `kombu diff` for changes in the policy class: what to write so that the
//! change reaches the broker without a redeclare being refused, checked by computing the
//! result rather than assumed.
//!
//! For each queue (or exchange) whose policy-class settings change, the suggestion is: keep
//! the declared arguments as the broker has them (the old file's values, so that services that
//! declare the topology still succeed, with no 406), and add one policy that matches only that
//! entity (`^<escaped name>$`), outranks the policy that applies to it now, repeats that
//! policy's keys (RabbitMQ applies one policy per entity, so they would otherwise be lost on
//! it) and sets the new values. The suggested file is then loaded and its effective settings
//! computed (`kombu::topology::effective`, RabbitMQ's per-key rules): a key whose effective
//! value is not the new one cannot be changed by a policy (the argument wins, or RabbitMQ takes
//! the lesser of the two, or an operator policy caps it), and its change is reclassed as a
//! recreate, with the reason.

use kombu::topology::{
    ApplyTo, EntityKind, PolicyDef, PolicyValue, SettingSource, Topology, TopologyModel,
};

use crate::change::{Change, Class};

/// A policy-class field of a queue: its name in the file, the policy key, and its value in the
/// broker's form.
type Field = (&'static str, &'static str, Option<PolicyValue>);

fn ms(d: Option<std::time::Duration>) -> Option<PolicyValue> {
    d.map(|d| PolicyValue::Int(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}
fn int(n: Option<u64>) -> Option<PolicyValue> {
    n.map(|n| PolicyValue::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}
fn text(s: Option<&str>) -> Option<PolicyValue> {
    s.map(|s| PolicyValue::Str(s.to_owned()))
}

fn queue_fields(q: &kombu::topology::QueueDef) -> [Field; 7] {
    [
        ("message_ttl", "message-ttl", ms(q.message_ttl)),
        ("expires", "expires", ms(q.expires)),
        ("max_length", "max-length", int(q.max_length)),
        (
            "max_length_bytes",
            "max-length-bytes",
            int(q.max_length_bytes),
        ),
        ("overflow", "overflow", text(q.overflow.map(|o| o.as_str()))),
        (
            "dead_letter_exchange",
            "dead-letter-exchange",
            text(q.dead_letter_exchange.as_deref().map(String::as_str)),
        ),
        (
            "dead_letter_routing_key",
            "dead-letter-routing-key",
            text(q.dead_letter_routing_key.as_deref()),
        ),
    ]
}

/// Puts the old file's value of `field` back on `q`.
fn revert(q: &mut kombu::topology::QueueDef, old: &kombu::topology::QueueDef, field: &str) {
    match field {
        "message_ttl" => q.message_ttl = old.message_ttl,
        "expires" => q.expires = old.expires,
        "max_length" => q.max_length = old.max_length,
        "max_length_bytes" => q.max_length_bytes = old.max_length_bytes,
        "overflow" => q.overflow = old.overflow,
        "dead_letter_exchange" => q.dead_letter_exchange = old.dead_letter_exchange.clone(),
        "dead_letter_routing_key" => {
            q.dead_letter_routing_key = old.dead_letter_routing_key.clone();
        }
        _ => {}
    }
}

fn escape(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The vhost the suggestion is computed for: the one the file's policies use, else `/`.
fn vhost(model: &TopologyModel) -> String {
    model
        .policies
        .values()
        .chain(model.operator_policies.values())
        .map(|p| p.vhost.clone())
        .next()
        .unwrap_or_else(|| "/".to_owned())
}

/// One entity's suggestion: the policy to add (its name and definition), and for each changed
/// key, `Ok(())` if the policy reaches the new value or `Err(reason)`.
struct Suggestion {
    name: String,
    policy: PolicyDef,
    outranks: Option<String>,
    results: Vec<(&'static str, &'static str, Result<(), String>)>,
}

fn suggest(
    new: &TopologyModel,
    kind: EntityKind,
    entity: &str,
    changed: &[(&'static str, &'static str, Option<PolicyValue>)],
    revert_all: impl FnOnce(&mut TopologyModel),
) -> Option<Suggestion> {
    let vhost = vhost(new);
    let mut file = new.clone();
    revert_all(&mut file);
    let before = Topology::from_model(file.clone()).ok()?;
    let current = before.effective(&vhost, kind, entity)?;
    let mut name = entity.to_owned();
    if file
        .policies
        .get(&name)
        .is_some_and(|p| p.pattern.get() != &format!("^{}$", escape(entity)))
    {
        name = format!("{entity}-only");
    }
    let mut policy = PolicyDef::new(format!("^{}$", escape(entity)));
    policy.vhost.clone_from(&vhost);
    policy.apply_to = match kind {
        EntityKind::Exchange => ApplyTo::Exchanges,
        _ => ApplyTo::Queues,
    };
    let mut outranks = None;
    if let Some(winner) = &current.policy {
        if winner.name != name {
            if let Some(w) = file.policies.get(&winner.name) {
                policy.definition = w.definition.clone();
            }
            policy.priority = winner.priority.saturating_add(1);
            outranks = Some(winner.name.clone());
        } else if let Some(w) = file.policies.get(&name) {
            policy.definition = w.definition.clone();
            policy.priority = w.priority;
        }
    }
    let base = policy.definition.clone();
    for (_, key, value) in changed {
        if let Some(v) = value {
            if policy.definition.set(key, v).is_err() {
                return None;
            }
        }
    }
    file.policies.insert(name.clone(), policy.clone());
    let after = Topology::from_model(file).ok()?;
    let effective = after.effective(&vhost, kind, entity)?;
    let mut results = Vec::new();
    for (field, key, value) in changed {
        let got = effective.get(key);
        let result = match (value, got) {
            (None, _) => Err(format!(
                "a policy cannot remove the declared argument x-{key}"
            )),
            (Some(v), Some(s)) if &s.value == v => Ok(()),
            (Some(_), Some(s)) => Err(match &s.source {
                SettingSource::OperatorPolicy(op) => format!(
                    "operator policy `{op}` caps {key} at {}, below the new value",
                    s.value
                ),
                _ => format!(
                    "RabbitMQ keeps the declared argument x-{key} = {} over a policy's value on this {} (its per-key rule: {})",
                    s.value,
                    match current.queue_type {
                        Some(t) => format!("{} queue", t.as_str()),
                        None => "exchange".to_owned(),
                    },
                    if matches!(*key, "message-ttl" | "expires" | "max-length" | "max-length-bytes") {
                        "the lesser of argument and policy wins"
                    } else {
                        "the argument wins"
                    }
                ),
            }),
            (Some(_), None) => Err(format!("no policy applies {key} to this entity")),
        };
        results.push((*field, *key, result));
    }
    // Keys a policy cannot reach keep what the policy had before (or stay out of it).
    let unreachable: Vec<&str> = results
        .iter()
        .filter(|r| r.2.is_err())
        .map(|r| r.1)
        .collect();
    if !unreachable.is_empty() {
        let mut d = kombu::topology::PolicyDefinition::default();
        for (k, v) in policy.definition.entries() {
            let v = if unreachable.contains(&k) {
                base.get(k)
            } else {
                Some(v)
            };
            if let Some(v) = v {
                let _ = d.set(k, &v);
            }
        }
        policy.definition = d;
    }
    Some(Suggestion {
        name,
        policy,
        outranks,
        results,
    })
}

/// The TOML of one policy, as the user would write it (durations with their unit).
fn policy_toml(name: &str, p: &PolicyDef) -> String {
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare { name.to_owned() } else { quoted(name) };
    let mut out = format!(
        "[policies.{key}]\npattern = {}\napply_to = {}\n",
        quoted(p.pattern.get()),
        quoted(p.apply_to.as_str())
    );
    if p.priority != 0 {
        out.push_str(&format!("priority = {}\n", p.priority));
    }
    if p.vhost != "/" {
        out.push_str(&format!("vhost = {}\n", quoted(&p.vhost)));
    }
    let entries: Vec<String> = p
        .definition
        .entries()
        .iter()
        .map(|(k, v)| {
            let value = match v {
                PolicyValue::Str(s) => quoted(s),
                PolicyValue::Int(_) => shown(k, v),
                PolicyValue::List(l) => serde_json::Value::from(l.clone()).to_string(),
                other => quoted(&other.to_string()),
            };
            format!("{k} = {value}")
        })
        .collect();
    out.push_str(&format!("definition = {{ {} }}", entries.join(", ")));
    out
}

fn hint(kind: &str, entity: &str, kept: &[String], s: &Suggestion) -> String {
    let outranks = match &s.outranks {
        Some(o) => format!(
            "; it outranks policy `{o}`, which applies to `{entity}` now, and repeats its keys (RabbitMQ applies one policy per entity)"
        ),
        None => String::new(),
    };
    format!(
        "keep {} on {kind} `{entity}` as the broker has it (a redeclare with another value is refused with 406), and add this policy, which matches `{entity}` and nothing else{outranks}; `kombu apply` puts it in place and `kombu explain {entity}` shows the result:\n{}",
        kept.join(", "),
        policy_toml(&s.name, &s.policy)
    )
}

/// Rewrites the hints (and, where a policy cannot reach the new value, the class) of the
/// policy-class changes `diff` found between `old` and `new`.
pub(crate) fn converge(old: &TopologyModel, new: &TopologyModel, out: &mut [Change]) {
    for (name, nq) in &new.queues {
        let Some(oq) = old.queues.get(name) else {
            continue;
        };
        let changed: Vec<Field> = queue_fields(oq)
            .into_iter()
            .zip(queue_fields(nq))
            .filter(|(a, b)| a.2 != b.2)
            .map(|(_, b)| b)
            .collect();
        if changed.is_empty() {
            continue;
        }
        let old_fields = queue_fields(oq);
        let kept: Vec<String> = changed
            .iter()
            .filter_map(|c| old_fields.iter().find(|o| o.0 == c.0))
            .map(|o| match &o.2 {
                Some(v) => format!("`{} = {}`", o.0, shown(o.1, v)),
                None => format!("no `{}`", o.0),
            })
            .collect();
        let fields: Vec<&'static str> = changed.iter().map(|c| c.0).collect();
        let Some(s) = suggest(new, EntityKind::Queue, name, &changed, |m| {
            if let Some(q) = m.queues.get_mut(name) {
                for f in &fields {
                    revert(q, oq, f);
                }
            }
        }) else {
            continue;
        };
        // Only what the policy reaches is kept; the rest is a recreate anyway.
        let reached: Vec<&str> = s
            .results
            .iter()
            .filter(|r| r.2.is_ok())
            .map(|r| r.0)
            .collect();
        let kept: Vec<String> = kept
            .into_iter()
            .filter(|k| {
                reached
                    .iter()
                    .any(|f| k.contains(&format!("`{f} ")) || k.ends_with(&format!("`{f}`")))
            })
            .collect();
        let text = hint("queue", name, &kept, &s);
        let entity = format!("queue `{name}`");
        for (field, _, result) in &s.results {
            for c in out.iter_mut().filter(|c| {
                c.entity == entity
                    && c.class == Class::Policy
                    && c.change.starts_with(&format!("{field}:"))
            }) {
                match result {
                    Ok(()) => c.hint = Some(text.clone()),
                    Err(reason) => {
                        c.class = Class::Recreate;
                        c.hint = Some(format!(
                            "a policy cannot change it: {reason}. Recreate the queue (`kombu apply --allow-destructive` moves its messages through a temporary queue)."
                        ));
                    }
                }
            }
        }
    }
    for (name, nx) in &new.exchanges {
        let Some(ox) = old.exchanges.get(name) else {
            continue;
        };
        if ox.alternate_exchange == nx.alternate_exchange {
            continue;
        }
        let value = text(nx.alternate_exchange.as_deref().map(String::as_str));
        let changed = [("alternate_exchange", "alternate-exchange", value)];
        let kept = vec![match &ox.alternate_exchange {
            Some(a) => format!("`alternate_exchange = \"{}\"`", a.get()),
            None => "no `alternate_exchange`".to_owned(),
        }];
        let Some(s) = suggest(new, EntityKind::Exchange, name, &changed, |m| {
            if let Some(x) = m.exchanges.get_mut(name) {
                x.alternate_exchange.clone_from(&ox.alternate_exchange);
            }
        }) else {
            continue;
        };
        let text = hint("exchange", name, &kept, &s);
        let entity = format!("exchange `{name}`");
        for (_, _, result) in &s.results {
            for c in out
                .iter_mut()
                .filter(|c| c.entity == entity && c.class == Class::Policy)
            {
                match result {
                    Ok(()) => c.hint = Some(text.clone()),
                    Err(reason) => {
                        c.class = Class::Recreate;
                        c.hint = Some(format!(
                            "a policy cannot change it: {reason}. Declare a new exchange with the new alternate exchange, bind it like this one, move publishers, then delete `{name}`."
                        ));
                    }
                }
            }
        }
    }
}

fn shown(key: &str, v: &PolicyValue) -> String {
    match (key, v) {
        ("message-ttl" | "expires" | "consumer-timeout", PolicyValue::Int(ms)) => {
            let unit = [
                (86_400_000, "d"),
                (3_600_000, "h"),
                (60_000, "m"),
                (1000, "s"),
            ]
            .into_iter()
            .find(|(n, _)| *ms != 0 && ms % n == 0);
            match unit {
                Some((n, u)) => format!("\"{}{u}\"", ms / n),
                None => format!("\"{ms}ms\""),
            }
        }
        _ => v.to_string(),
    }
}

/// The entities a policy applies to in `topology` (it wins on them), as `kind `name``.
fn applies_to(topology: &Topology, operator: bool, policy: &str) -> Vec<String> {
    crate::policies::applied(topology)
        .into_iter()
        .filter(|(p, op, _, _)| p == policy && *op == operator)
        .map(|(_, _, kind, name)| format!("{} `{name}`", kind.as_str()))
        .collect()
}

fn listed(entities: &[String]) -> String {
    if entities.is_empty() {
        "nothing in the topology".to_owned()
    } else {
        entities.join(", ")
    }
}

/// Added, removed and changed policies and operator policies, each with the entities it
/// applies to. Policies change in place (no entity is redeclared), so these are of the policy
/// class; a removal is left to the operator, as `kombu apply` never deletes a policy.
pub(crate) fn policy_changes(old: &TopologyModel, new: &TopologyModel) -> Vec<Change> {
    let (Ok(before), Ok(after)) = (
        Topology::from_model(old.clone()),
        Topology::from_model(new.clone()),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (operator, a, b, word) in [
        (false, &old.policies, &new.policies, "policy"),
        (
            true,
            &old.operator_policies,
            &new.operator_policies,
            "operator policy",
        ),
    ] {
        let change = |name: &str, class: Class, text: String, hint: Option<String>| Change {
            entity: format!("{word} `{name}`"),
            change: text,
            class,
            hint,
        };
        for (name, p) in b {
            match a.get(name) {
                None => out.push(change(
                    name,
                    Class::Policy,
                    format!(
                        "added: applies to {}",
                        listed(&applies_to(&after, operator, name))
                    ),
                    Some(
                        "`kombu apply` puts it in place; no queue or exchange is redeclared"
                            .to_owned(),
                    ),
                )),
                Some(o) if o == p => {}
                Some(o) => {
                    let mut what = Vec::new();
                    if o.pattern != p.pattern {
                        what.push(format!("pattern {} → {}", o.pattern, p.pattern));
                    }
                    if o.apply_to != p.apply_to {
                        what.push(format!(
                            "apply_to {} → {}",
                            o.apply_to.as_str(),
                            p.apply_to.as_str()
                        ));
                    }
                    if o.priority != p.priority {
                        what.push(format!("priority {} → {}", o.priority, p.priority));
                    }
                    if o.vhost != p.vhost {
                        what.push(format!("vhost {} → {}", o.vhost, p.vhost));
                    }
                    if o.definition != p.definition {
                        let show = |d: &kombu::topology::PolicyDefinition| {
                            d.entries()
                                .iter()
                                .map(|(k, v)| format!("{k} = {}", shown(k, v)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        what.push(format!(
                            "definition {{ {} }} → {{ {} }}",
                            show(&o.definition),
                            show(&p.definition)
                        ));
                    }
                    if what.is_empty() {
                        out.push(change(
                            name,
                            Class::Safe,
                            "description changed".to_owned(),
                            None,
                        ));
                    } else {
                        out.push(change(
                            name,
                            Class::Policy,
                            format!(
                                "changed in place: {}; applies to {}",
                                what.join("; "),
                                listed(&applies_to(&after, operator, name))
                            ),
                            Some("`kombu apply` updates it in place; `kombu explain NAME` shows each entity's effective settings".to_owned()),
                        ));
                    }
                }
            }
        }
        for name in a.keys().filter(|n| !b.contains_key(n.as_str())) {
            let command = if operator {
                "clear_operator_policy"
            } else {
                "clear_policy"
            };
            out.push(change(
                name,
                Class::Policy,
                format!(
                    "removed: it stops applying to {}",
                    listed(&applies_to(&before, operator, name))
                ),
                Some(format!(
                    "`kombu apply` never deletes a policy: once the file no longer needs it, `rabbitmqctl {command} {name}`"
                )),
            ));
        }
    }
    out
}
