//! `kombu diff`: every change between two versions of a topology, classed by what the broker
//! (and the messages in it) would go through.
//!
//! - **safe**: additive, or what RabbitMQ does not compare on a redeclare (an argument such as
//!   `x-ha-policy`; the broker keeps its old value); apply as is.
//! - **policy**: a queue or exchange argument that a RabbitMQ policy can change in place (TTL,
//!   length limits, overflow, dead-lettering, alternate exchange). Redeclaring with the new
//!   `x-` argument would be refused with 406, so the hint says which policy to set.
//! - **recreate**: RabbitMQ answers a redeclare with 406 PRECONDITION_FAILED (type, durable,
//!   exclusive, auto-delete, queue type, the arguments it compares); the hint says how to
//!   migrate without losing messages.
//! - **destructive**: drops messages or routes (a removed queue or binding, a message contract
//!   that old producers or consumers cannot follow).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use kombu::topology::{
    BindingDef, ExchangeDef, Format as FileFormat, MessageDef, QueueDef, SourceFile, TaskDef,
    Topology, TopologyModel,
};

pub(crate) use crate::change::{Change, Class};

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// One line per change, with hints.
    Human,
    /// A table for a pull-request comment.
    Markdown,
    /// A JSON array of changes.
    Json,
}

fn change(entity: &str, class: Class, text: impl Into<String>, hint: Option<String>) -> Change {
    Change {
        entity: entity.to_owned(),
        change: text.into(),
        class,
        hint,
    }
}

/// Arguments as a topology file writes them: `{ x-a = 1, x-b = "text" }`.
pub(crate) fn table(t: &kombu::FieldTable) -> String {
    if t.is_empty() {
        return "none".to_owned();
    }
    let items: Vec<String> = t.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", items.join(", "))
}

fn queue_type(t: Option<kombu::QueueType>) -> String {
    t.map_or_else(
        || "classic (the default)".to_owned(),
        |t| t.as_str().to_owned(),
    )
}

fn dur(d: &Option<std::time::Duration>) -> String {
    let Some(d) = d else { return "none".to_owned() };
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms % size == 0 && ms >= size {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}

fn recreate_queue_hint(name: &str) -> String {
    format!("RabbitMQ refuses to redeclare `{name}` with other settings (406). `kombu apply --allow-destructive` recreates it without losing a message: its messages and bindings move to `{name}.kombu-migrate` and back (stop its consumers first). Or by hand: declare the new queue under a new name beside it, move consumers and bindings, let `{name}` drain, then delete it.")
}

fn binding_text(b: &BindingDef) -> String {
    let mut s = format!("from `{}`", b.exchange.get());
    if !b.routing_key.is_empty() {
        s.push_str(&format!(" with key `{}`", b.routing_key.get()));
    }
    if !b.headers.is_empty() {
        let h: Vec<String> = b.headers.keys().cloned().collect();
        s.push_str(&format!(" on headers {}", h.join(", ")));
    }
    s
}

fn bindings(entity: &str, old: &[BindingDef], new: &[BindingDef], out: &mut Vec<Change>) {
    for b in new.iter().filter(|b| !old.contains(b)) {
        out.push(change(
            entity,
            Class::Safe,
            format!("binding added {}", binding_text(b)),
            None,
        ));
    }
    for b in old.iter().filter(|b| !new.contains(b)) {
        out.push(change(
            entity,
            Class::Destructive,
            format!(
                "binding removed {}: messages it routed stop arriving",
                binding_text(b)
            ),
            Some("make sure another binding or queue takes those messages first".to_owned()),
        ));
    }
}

fn exchange(name: &str, old: &ExchangeDef, new: &ExchangeDef, out: &mut Vec<Change>) {
    let entity = format!("exchange `{name}`");
    let mut recreate = |what: &str, a: String, b: String| {
        out.push(change(
            &entity,
            Class::Recreate,
            format!("{what}: {a} → {b}"),
            Some(format!("RabbitMQ refuses to redeclare `{name}` with another {what} (406). `kombu apply --allow-destructive` deletes and declares it again with every binding (the file's, and the broker's own to entities the file does not name); what is published to it meanwhile reaches no queue. Without that gap: declare a new exchange, bind it like this one, move publishers, then delete `{name}`.")),
        ));
    };
    if old.kind != new.kind {
        recreate(
            "type",
            old.kind.as_str().to_owned(),
            new.kind.as_str().to_owned(),
        );
    }
    if old.durable != new.durable {
        recreate("durable", old.durable.to_string(), new.durable.to_string());
    }
    if old.auto_delete != new.auto_delete {
        recreate(
            "auto_delete",
            old.auto_delete.to_string(),
            new.auto_delete.to_string(),
        );
    }
    if old.internal != new.internal {
        recreate(
            "internal",
            old.internal.to_string(),
            new.internal.to_string(),
        );
    }
    if old.arguments != new.arguments {
        let kind = new.kind.as_str();
        match arguments_change(&old.arguments, &new.arguments, "exchange", name, |k| {
            crate::drift::compared_exchange_argument(kind, k)
        }) {
            Some(c) => out.push(c),
            None => recreate("arguments", table(&old.arguments), table(&new.arguments)),
        }
    }
    if old.alternate_exchange != new.alternate_exchange {
        let to = new.alternate_exchange.as_ref().map(|a| a.get().clone());
        out.push(change(
            &entity,
            Class::Policy,
            format!(
                "alternate exchange: {} → {}",
                old.alternate_exchange.as_ref().map_or("none".to_owned(), |a| format!("`{}`", a.get())),
                to.as_ref().map_or("none".to_owned(), |a| format!("`{a}`"))
            ),
            Some(match to {
                Some(a) => format!("set it in place with a policy: rabbitmqctl set_policy {name}-ae '^{}$' '{{\"alternate-exchange\":\"{a}\"}}' --apply-to exchanges", regex(name)),
                None => format!("clear the policy that sets it on `{name}`"),
            }),
        ));
    }
    if old.description != new.description {
        out.push(change(&entity, Class::Safe, "description changed", None));
    }
    bindings(&entity, &old.bindings, &new.bindings, out);
}

/// An arguments change in which every changed key is one RabbitMQ does not compare on a
/// redeclare (`compared` is false for it): safe, and the broker keeps the old values. `None`
/// when a compared key changed (a recreate).
fn arguments_change(
    old: &kombu::FieldTable,
    new: &kombu::FieldTable,
    kind: &str,
    name: &str,
    compared: impl Fn(&str) -> bool,
) -> Option<Change> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    let changed: Vec<&str> = keys
        .into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(String::as_str)
        .collect();
    if changed.iter().any(|k| compared(k)) {
        return None;
    }
    Some(change(
        &format!("{kind} `{name}`"),
        Class::Safe,
        format!("arguments: {} → {}", table(old), table(new)),
        Some(format!(
            "RabbitMQ does not compare {} when the {kind} is declared again: the redeclare succeeds, and `{name}` on the broker keeps the old value until it is recreated (`kombu plan` notes it)",
            changed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        )),
    ))
}

fn regex(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            if "\\.^$|?*+()[]{}".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

fn queue(name: &str, old: &QueueDef, new: &QueueDef, out: &mut Vec<Change>) {
    let entity = format!("queue `{name}`");
    let mut recreate = |what: &str, a: String, b: String| {
        out.push(change(
            &entity,
            Class::Recreate,
            format!("{what}: {a} → {b}"),
            Some(recreate_queue_hint(name)),
        ));
    };
    if old.durable != new.durable {
        recreate("durable", old.durable.to_string(), new.durable.to_string());
    }
    if old.exclusive != new.exclusive {
        recreate(
            "exclusive",
            old.exclusive.to_string(),
            new.exclusive.to_string(),
        );
    }
    if old.auto_delete != new.auto_delete {
        recreate(
            "auto_delete",
            old.auto_delete.to_string(),
            new.auto_delete.to_string(),
        );
    }
    // No type and `classic` are the same declaration to the broker.
    let classic = |t: Option<kombu::QueueType>| t.unwrap_or(kombu::QueueType::Classic);
    if classic(old.queue_type) != classic(new.queue_type) {
        recreate(
            "queue type",
            queue_type(old.queue_type),
            queue_type(new.queue_type),
        );
    }
    if old.max_priority != new.max_priority {
        recreate(
            "max_priority",
            opt(&old.max_priority),
            opt(&new.max_priority),
        );
    }
    if old.single_active_consumer != new.single_active_consumer {
        recreate(
            "single_active_consumer",
            old.single_active_consumer.to_string(),
            new.single_active_consumer.to_string(),
        );
    }
    if old.arguments != new.arguments {
        match arguments_change(&old.arguments, &new.arguments, "queue", name, |k| {
            crate::drift::compared_queue_argument(k)
        }) {
            Some(c) => out.push(c),
            None => recreate("arguments", table(&old.arguments), table(&new.arguments)),
        }
    }
    let policies: [(&str, &str, String, String, Option<String>); 7] = [
        (
            "message_ttl",
            "message-ttl",
            dur(&old.message_ttl),
            dur(&new.message_ttl),
            new.message_ttl.map(|d| d.as_millis().to_string()),
        ),
        (
            "expires",
            "expires",
            dur(&old.expires),
            dur(&new.expires),
            new.expires.map(|d| d.as_millis().to_string()),
        ),
        (
            "max_length",
            "max-length",
            opt(&old.max_length),
            opt(&new.max_length),
            new.max_length.map(|n| n.to_string()),
        ),
        (
            "max_length_bytes",
            "max-length-bytes",
            opt(&old.max_length_bytes),
            opt(&new.max_length_bytes),
            new.max_length_bytes.map(|n| n.to_string()),
        ),
        (
            "overflow",
            "overflow",
            opt(&old.overflow.map(|o| o.as_str())),
            opt(&new.overflow.map(|o| o.as_str())),
            new.overflow.map(|o| format!("\"{}\"", o.as_str())),
        ),
        (
            "dead_letter_exchange",
            "dead-letter-exchange",
            opt(&old.dead_letter_exchange),
            opt(&new.dead_letter_exchange),
            new.dead_letter_exchange
                .as_ref()
                .map(|x| format!("\"{}\"", x.get())),
        ),
        (
            "dead_letter_routing_key",
            "dead-letter-routing-key",
            opt(&old.dead_letter_routing_key),
            opt(&new.dead_letter_routing_key),
            new.dead_letter_routing_key
                .as_ref()
                .map(|k| format!("\"{k}\"")),
        ),
    ];
    for (key, policy_key, a, b, value) in policies {
        if a != b {
            let hint = match value {
                Some(v) => format!("change it in place with a policy (a redeclare with the new x-argument is refused with 406): rabbitmqctl set_policy {name}-{policy_key} '^{}$' '{{\"{policy_key}\":{v}}}' --apply-to queues", regex(name)),
                None => format!("clear the policy that sets {policy_key} on `{name}`"),
            };
            out.push(change(
                &entity,
                Class::Policy,
                format!("{key}: {a} → {b}"),
                Some(hint),
            ));
        }
    }
    if old.description != new.description {
        out.push(change(&entity, Class::Safe, "description changed", None));
    }
    bindings(&entity, &old.bindings, &new.bindings, out);
}

fn message(name: &str, old: &MessageDef, new: &MessageDef, out: &mut Vec<Change>) {
    let entity = format!("message `{name}`");
    if old.rust != new.rust || old.tag != new.tag {
        out.push(change(&entity, Class::Destructive, "definition changed (Rust type or tag field)", Some("consumers built from the old file cannot decode the new messages: version the message type instead".to_owned())));
    }
    let empty = indexmap::IndexMap::new();
    let (of, nf) = (
        old.fields.as_ref().unwrap_or(&empty),
        new.fields.as_ref().unwrap_or(&empty),
    );
    for (f, def) in nf {
        match of.get(f) {
            None if def.ty.starts_with("optional<") => out.push(change(&entity, Class::Safe, format!("optional field `{f}` added"), None)),
            None => out.push(change(&entity, Class::Destructive, format!("required field `{f}` added"), Some("messages from producers built from the old file lack it and are rejected; add it as optional<...> first".to_owned()))),
            Some(o) if o.ty != def.ty => out.push(change(&entity, Class::Destructive, format!("field `{f}`: {} → {}", o.ty, def.ty), Some("old and new programs cannot read each other's messages: add a new field instead".to_owned()))),
            Some(_) => {}
        }
    }
    for (f, def) in of.iter().filter(|(f, _)| !nf.contains_key(f.as_str())) {
        // An optional field's absence is what its readers already take.
        if def.ty.starts_with("optional<") {
            out.push(change(
                &entity,
                Class::Safe,
                format!("optional field `{f}` removed"),
                None,
            ));
        } else {
            out.push(change(&entity, Class::Destructive, format!("field `{f}` removed"), Some("consumers built from the old file reject messages without it: make it optional first, deploy, then remove it".to_owned())));
        }
    }
    let empty_v = indexmap::IndexMap::new();
    let (ov, nv) = (
        old.variants.as_ref().unwrap_or(&empty_v),
        new.variants.as_ref().unwrap_or(&empty_v),
    );
    for v in nv.keys().filter(|v| !ov.contains_key(v.as_str())) {
        out.push(change(
            &entity,
            Class::Safe,
            format!("variant `{v}` added"),
            Some(
                "deploy consumers before producers: old consumers reject the new action".to_owned(),
            ),
        ));
    }
    for v in ov.keys().filter(|v| !nv.contains_key(v.as_str())) {
        out.push(change(
            &entity,
            Class::Destructive,
            format!("variant `{v}` removed"),
            Some("new consumers reject that action if old producers still send it".to_owned()),
        ));
    }
}

/// Bindings by source exchange, each with its destination (`exchange NAME` or `queue NAME`),
/// found in one pass over the model.
type BySource<'a> = HashMap<&'a str, Vec<(String, &'a BindingDef)>>;

fn by_source(m: &TopologyModel) -> BySource<'_> {
    let mut out: BySource<'_> = HashMap::new();
    let exchanges = m
        .exchanges
        .iter()
        .map(|(n, x)| ("exchange", n, &x.bindings));
    let queues = m.queues.iter().map(|(n, q)| ("queue", n, &q.bindings));
    for (kind, name, bindings) in exchanges.chain(queues) {
        for b in bindings {
            out.entry(b.exchange.get().as_str())
                .or_default()
                .push((format!("{kind} `{name}`"), b));
        }
    }
    out
}

/// The bindings from one exchange, sorted, with the kind of their destination but neither
/// its name nor the source's: a queue renamed in the same change still counts as the same
/// binding.
fn shapes(bindings: Option<&Vec<(String, &BindingDef)>>) -> Vec<String> {
    let mut shapes: Vec<String> = bindings
        .into_iter()
        .flatten()
        .map(|(to, b)| {
            let kind = to.split(' ').next().unwrap_or_default();
            let mut b = (*b).clone();
            b.exchange = String::new().into();
            format!("{kind} {}", serde_json::to_string(&b).unwrap_or_default())
        })
        .collect();
    shapes.sort_unstable();
    shapes
}

fn rename_ref(name: &mut kombu::topology::Name, renames: &HashMap<&str, &str>) {
    if let Some(to) = renames.get(name.get().as_str()) {
        *name = (*to).into();
    }
}

/// `m` with the exchanges of `renames` (old name to new) renamed, and every reference to
/// them (bindings, alternate and dead-letter exchanges, producers) following, in one pass.
fn rename_exchanges(m: &mut TopologyModel, renames: &HashMap<&str, &str>) {
    for (from, to) in renames {
        if let Some(x) = m.exchanges.shift_remove(*from) {
            m.exchanges.insert((*to).to_owned(), x);
        }
    }
    for x in m.exchanges.values_mut() {
        x.bindings
            .iter_mut()
            .for_each(|b| rename_ref(&mut b.exchange, renames));
        if let Some(a) = &mut x.alternate_exchange {
            rename_ref(a, renames);
        }
    }
    for q in m.queues.values_mut() {
        q.bindings
            .iter_mut()
            .for_each(|b| rename_ref(&mut b.exchange, renames));
        if let Some(d) = &mut q.dead_letter_exchange {
            rename_ref(d, renames);
        }
    }
    for p in m.producers.values_mut() {
        rename_ref(&mut p.exchange, renames);
    }
}

/// `m` with queue `from` called `to`, consumers following.
fn rename_queue(m: &mut TopologyModel, from: &str, to: &str) {
    if let Some(q) = m.queues.shift_remove(from) {
        m.queues.insert(to.to_owned(), q);
    }
    for c in m.consumers.values_mut() {
        if let Some(consume) = c.queues.shift_remove(from) {
            c.queues.insert(to.into(), consume);
        }
    }
}

/// Pairs `(removed, added)` of the same signature where that signature is of exactly one
/// removed and one added name, and `same` confirms them: an unambiguous rename. Grouping by
/// signature keeps this linear however many entities come and go.
fn pair<'a>(
    removed: &[&'a str],
    added: &[&'a str],
    signature: impl Fn(&str, bool) -> String,
    same: impl Fn(&str, &str) -> bool,
) -> Vec<(&'a str, &'a str)> {
    type Sides<'a> = (Vec<(usize, &'a str)>, Vec<&'a str>);
    let mut groups: HashMap<String, Sides<'a>> = HashMap::new();
    for (i, r) in removed.iter().enumerate() {
        groups
            .entry(signature(r, false))
            .or_default()
            .0
            .push((i, r));
    }
    for a in added {
        groups.entry(signature(a, true)).or_default().1.push(a);
    }
    let mut pairs: Vec<(usize, &str, &str)> = groups
        .into_values()
        .filter_map(|(r, a)| match (r.as_slice(), a.as_slice()) {
            ([(i, r)], [a]) if same(r, a) => Some((*i, *r, *a)),
            _ => None,
        })
        .collect();
    pairs.sort_unstable();
    pairs.into_iter().map(|(_, r, a)| (r, a)).collect()
}

/// An exchange's settings and the bindings from it, with its own name left out: equal for
/// an exchange and its renamed copy.
fn exchange_signature(
    x: &ExchangeDef,
    name: &str,
    from: Option<&Vec<(String, &BindingDef)>>,
) -> String {
    let mut x = x.clone();
    let this = HashMap::from([(name, "")]);
    x.bindings
        .iter_mut()
        .for_each(|b| rename_ref(&mut b.exchange, &this));
    if let Some(alt) = &mut x.alternate_exchange {
        rename_ref(alt, &this);
    }
    format!(
        "{} {}",
        serde_json::to_string(&x).unwrap_or_default(),
        shapes(from).join(" ")
    )
}

/// Entities removed and added with identical settings and bindings: renames. Returns the old
/// model with those renames applied (so the rest of the diff sees no change for them) and one
/// change per rename, with the migration it needs.
fn renames(old: &TopologyModel, new: &TopologyModel) -> (TopologyModel, Vec<Change>) {
    let mut renamed = old.clone();
    let mut out = Vec::new();
    let removed: Vec<&str> = old
        .exchanges
        .keys()
        .filter(|k| !new.exchanges.contains_key(k.as_str()))
        .map(String::as_str)
        .collect();
    let added: Vec<&str> = new
        .exchanges
        .keys()
        .filter(|k| !old.exchanges.contains_key(k.as_str()))
        .map(String::as_str)
        .collect();
    let (old_from, new_from) = if removed.is_empty() || added.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        (by_source(old), by_source(new))
    };
    let same_exchange = |r: &str, a: &str| {
        let (Some(o), Some(n)) = (old.exchanges.get(r), new.exchanges.get(a)) else {
            return false;
        };
        // Its own bindings and alternate exchange may name it: compare under the new name.
        let mut o = o.clone();
        let this = HashMap::from([(r, a)]);
        o.bindings
            .iter_mut()
            .for_each(|b| rename_ref(&mut b.exchange, &this));
        if let Some(alt) = &mut o.alternate_exchange {
            rename_ref(alt, &this);
        }
        o == *n && shapes(old_from.get(r)) == shapes(new_from.get(a))
    };
    let exchange_signature = |name: &str, is_added: bool| {
        let (model, from) = if is_added {
            (new, &new_from)
        } else {
            (old, &old_from)
        };
        model
            .exchanges
            .get(name)
            .map(|x| exchange_signature(x, name, from.get(name)))
            .unwrap_or_default()
    };
    let exchange_pairs = pair(&removed, &added, exchange_signature, same_exchange);
    for &(r, a) in &exchange_pairs {
        let moved: Vec<String> = new_from
            .get(a)
            .into_iter()
            .flatten()
            .map(|(to, b)| {
                let key = b.routing_key.get();
                if key.is_empty() {
                    to.clone()
                } else {
                    format!("{to} (key `{key}`)")
                }
            })
            .collect();
        let moved = if moved.is_empty() {
            String::new()
        } else {
            format!(" bind {} to `{a}`,", moved.join(", "))
        };
        out.push(change(
            &format!("exchange `{r}`"),
            Class::Recreate,
            format!("renamed to `{a}` (same settings and bindings)"),
            Some(format!("RabbitMQ cannot rename an exchange: declare `{a}`,{moved} bind `{a}` where `{r}` is bound, move publishers to `{a}`, then delete `{r}`.")),
        ));
    }
    rename_exchanges(&mut renamed, &exchange_pairs.iter().copied().collect());
    let removed: Vec<&str> = renamed
        .queues
        .keys()
        .filter(|k| !new.queues.contains_key(k.as_str()))
        .map(String::as_str)
        .collect();
    let added: Vec<&str> = new
        .queues
        .keys()
        .filter(|k| !renamed.queues.contains_key(k.as_str()))
        .map(String::as_str)
        .collect();
    let queue_signature = |name: &str, is_added: bool| {
        let model = if is_added { new } else { &renamed };
        serde_json::to_string(&model.queues.get(name)).unwrap_or_default()
    };
    let pairs: Vec<(String, String)> = pair(&removed, &added, queue_signature, |r, a| {
        renamed.queues.get(r) == new.queues.get(a)
    })
    .into_iter()
    .map(|(r, a)| (r.to_owned(), a.to_owned()))
    .collect();
    for (r, a) in pairs {
        rename_queue(&mut renamed, &r, &a);
        out.push(change(
            &format!("queue `{r}`"),
            Class::Recreate,
            format!("renamed to `{a}` (same settings and bindings)"),
            Some(format!("RabbitMQ cannot rename a queue, so its messages must move: declare `{a}` with its bindings beside `{r}`, move consumers to `{a}`, unbind `{r}`, move what is left in it (a shovel: rabbitmqctl set_parameter shovel {r}-to-{a} '{{\"src-uri\":\"amqp://\",\"src-queue\":\"{r}\",\"dest-uri\":\"amqp://\",\"dest-queue\":\"{a}\",\"src-delete-after\":\"queue-length\"}}'), then delete `{r}` once empty.")),
        ));
    }
    (renamed, out)
}

/// Every change from `old` to `new`, renames first.
pub(crate) fn diff(old: &TopologyModel, new: &TopologyModel) -> Vec<Change> {
    let (old, mut out) = renames(old, new);
    out.extend(changes(&old, new));
    // Policy-class hints that converge (computed, and reclassed where a policy cannot reach).
    crate::policy_hint::converge(&old, new, &mut out);
    out.extend(crate::policy_hint::policy_changes(&old, new));
    out
}

/// Every change from `old` to `new`, renames not looked for.
fn changes(old: &TopologyModel, new: &TopologyModel) -> Vec<Change> {
    let mut out = Vec::new();
    macro_rules! entities {
        ($field:ident, $kind:literal, $compare:expr, $removed:expr) => {
            for (name, n) in &new.$field {
                match old.$field.get(name) {
                    None => out.push(change(
                        &format!("{} `{name}`", $kind),
                        Class::Safe,
                        "added",
                        None,
                    )),
                    Some(o) if o != n => $compare(name, o, n, &mut out),
                    Some(_) => {}
                }
            }
            for name in old
                .$field
                .keys()
                .filter(|k| !new.$field.contains_key(k.as_str()))
            {
                let (class, text, hint): (Class, &str, Option<&str>) = $removed;
                out.push(change(
                    &format!("{} `{name}`", $kind),
                    class,
                    text,
                    hint.map(str::to_owned),
                ));
            }
        };
    }
    entities!(exchanges, "exchange", exchange, (Class::Destructive, "removed: its bindings go, and what is published to it is dropped", Some("move publishers off it first; `kombu apply` never deletes it, delete it on the broker once idle")));
    entities!(queues, "queue", queue, (Class::Destructive, "removed: the messages in it are lost when it is deleted", Some("stop publishing to it, let it drain, then delete it on the broker; `kombu apply` never deletes it")));
    entities!(
        messages,
        "message",
        message,
        (
            Class::Destructive,
            "removed",
            Some("programs built from the old file still send or expect it")
        )
    );
    let code_change =
        |name: &str, _: &dyn fmt::Debug, _: &dyn fmt::Debug, out: &mut Vec<Change>, kind: &str| {
            out.push(change(
                &format!("{kind} `{name}`"),
                Class::Safe,
                "changed (generated code only)",
                None,
            ));
        };
    for (name, n) in &new.producers {
        match old.producers.get(name) {
            None => out.push(change(
                &format!("producer `{name}`"),
                Class::Safe,
                "added",
                None,
            )),
            Some(o) if o != n => code_change(name, o, n, &mut out, "producer"),
            Some(_) => {}
        }
    }
    for name in old
        .producers
        .keys()
        .filter(|k| !new.producers.contains_key(k.as_str()))
    {
        out.push(change(
            &format!("producer `{name}`"),
            Class::Safe,
            "removed",
            None,
        ));
    }
    for (name, n) in &new.consumers {
        match old.consumers.get(name) {
            None => out.push(change(
                &format!("consumer `{name}`"),
                Class::Safe,
                "added",
                None,
            )),
            Some(o) if o != n => code_change(name, o, n, &mut out, "consumer"),
            Some(_) => {}
        }
    }
    for name in old
        .consumers
        .keys()
        .filter(|k| !new.consumers.contains_key(k.as_str()))
    {
        out.push(change(
            &format!("consumer `{name}`"),
            Class::Safe,
            "removed",
            None,
        ));
    }
    for (name, n) in &new.tasks {
        match old.tasks.get(name) {
            None => out.push(change(
                &format!("task `{name}`"),
                Class::Safe,
                "added",
                None,
            )),
            Some(o) if o != n => task_changes(name, o, n, &mut out),
            Some(_) => {}
        }
    }
    for (name, t) in &old.tasks {
        if !new.tasks.contains_key(name) {
            out.push(change(
                &format!("task `{name}`"),
                Class::Destructive,
                "removed",
                Some(format!("senders built from the old file still send `{}`, and a worker without it answers NotRegistered: stop the senders first, and keep a worker for it until its queue has no more of them", celery_name(name, t))),
            ));
        }
    }
    out
}

fn celery_name<'a>(key: &'a str, t: &'a TaskDef) -> &'a str {
    t.name.as_ref().map_or(key, |n| n.as_str())
}

/// How a Celery task changed, for senders and workers built from the old and the new file
/// running side by side during a deploy.
fn task_changes(name: &str, o: &TaskDef, n: &TaskDef, out: &mut Vec<Change>) {
    let entity = format!("task `{name}`");
    let before = out.len();
    let (old_name, new_name) = (celery_name(name, o), celery_name(name, n));
    if old_name != new_name {
        out.push(change(&entity, Class::Destructive, format!("Celery name `{old_name}` → `{new_name}`"), Some("a worker answers a name it does not know with NotRegistered: deploy workers that register both names before the senders, and drop the old one once no sender uses it".to_owned())));
    }
    let route = |t: &TaskDef| {
        (
            t.queue
                .as_ref()
                .map_or("celery".to_owned(), |q| q.get().clone()),
            t.exchange.as_ref().map(|x| x.get().clone()),
            t.routing_key.as_ref().map(|k| k.get().clone()),
        )
    };
    let (old_route, new_route) = (route(o), route(n));
    if old_route.0 != new_route.0 {
        out.push(change(
            &entity,
            Class::Destructive,
            format!("queue `{}` → `{}`", old_route.0, new_route.0),
            Some(format!(
                "old senders keep sending to `{}`: keep a worker consuming it until it is empty",
                old_route.0
            )),
        ));
    } else if old_route != new_route {
        out.push(change(
            &entity,
            Class::Safe,
            "route changed (exchange or routing key)",
            None,
        ));
    }
    let params = |t: &TaskDef| -> Vec<(String, String, bool)> {
        (t.args
            .iter()
            .map(|(k, f)| (k.get().clone(), f.ty.clone(), true)))
        .chain(
            t.kwargs
                .iter()
                .map(|(k, f)| (k.get().clone(), f.ty.clone(), false)),
        )
        .collect()
    };
    let (old_params, new_params) = (params(o), params(n));
    let position = |ps: &[(String, String, bool)], p: &str| {
        ps.iter()
            .filter(|(_, _, positional)| *positional)
            .position(|(q, _, _)| q == p)
    };
    for (p, ty, positional) in &new_params {
        match old_params.iter().find(|(q, _, _)| q == p) {
            // New senders send it (an optional keyword when set, a positional one always),
            // and an old worker refuses an argument it does not know.
            None if ty.starts_with("optional<") => out.push(change(&entity, Class::Destructive, format!("optional parameter `{p}` added"), Some("old workers fail tasks that carry it with TypeError: deploy the workers before the senders".to_owned()))),
            None => out.push(change(&entity, Class::Destructive, format!("required parameter `{p}` added"), Some("old senders do not send it, and the new worker fails their tasks with TypeError: add it as `optional<...>` first, deploy the senders, then make it required".to_owned()))),
            Some((_, old_ty, was_positional)) => {
                if old_ty != ty {
                    out.push(change(&entity, Class::Destructive, format!("parameter `{p}` retyped `{old_ty}` → `{ty}`"), Some("tasks sent with the old type fail with TypeError: add a parameter with the new type instead".to_owned())));
                }
                if was_positional != positional {
                    let (from, to) = if *positional { ("kwargs", "args") } else { ("args", "kwargs") };
                    out.push(change(&entity, Class::Destructive, format!("parameter `{p}` moved from `{from}` to `{to}`"), Some("senders built from one file pass it where workers built from the other do not take it, and the task fails with TypeError".to_owned())));
                } else if *positional && position(&old_params, p) != position(&new_params, p) {
                    out.push(change(&entity, Class::Destructive, format!("positional parameter `{p}` moved from place {} to {}", position(&old_params, p).map_or(0, |i| i + 1), position(&new_params, p).map_or(0, |i| i + 1)), Some("old senders pass it at its old place, which the new worker reads as another parameter: add new positional parameters last, or make them keyword-only".to_owned())));
                }
            }
        }
    }
    for (p, _, _) in &old_params {
        if !new_params.iter().any(|(q, _, _)| q == p) {
            out.push(change(&entity, Class::Destructive, format!("parameter `{p}` removed"), Some("old senders still send it, and the new worker fails their tasks with TypeError (unexpected argument): stop sending it first".to_owned())));
        }
    }
    if !o.ignore_result && n.ignore_result {
        out.push(change(
            &entity,
            Class::Destructive,
            "ignore_result turned on",
            Some(
                "clients built from the old file wait for results the workers no longer send"
                    .to_owned(),
            ),
        ));
    }
    if o.result != n.result {
        let shown = |r: &Option<kombu::topology::At<String>>| {
            r.as_ref().map_or("none".to_owned(), |r| r.get().clone())
        };
        out.push(change(&entity, Class::Destructive, format!("result `{}` → `{}`", shown(&o.result), shown(&n.result)), Some("clients built from the old file cannot decode the new result: return a new task's result instead".to_owned())));
    }
    if out.len() == before {
        out.push(change(
            &entity,
            Class::Safe,
            "options changed (retries, limits, expiry, acks, priority or description)",
            None,
        ));
    }
}

/// The directory git runs in for FILE: the file's own.
fn git_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// FILE as git has it at REV.
pub(crate) fn source_at_revision(path: &Path, rev: &str) -> Result<SourceFile, crate::Failure> {
    // `REV:./name` is resolved against the directory git runs in.
    let dir = git_dir(path);
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spec = format!("{rev}:./{name}");
    let output = std::process::Command::new("git")
        .args(["show", &spec])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "git show {spec}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let format = FileFormat::from_path(path)
        .ok_or_else(|| format!("{}: unknown topology file format", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    Ok(SourceFile::new(
        format!("{}@{rev}", path.display()),
        format,
        text,
    ))
}

/// The commit where B left A (`git merge-base A B`), for `A...B`.
pub(crate) fn merge_base(path: &Path, a: &str, b: &str) -> Result<String, crate::Failure> {
    let dir = git_dir(path);
    let b = if b.is_empty() { "HEAD" } else { b };
    let output = std::process::Command::new("git")
        .args(["merge-base", a, b])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "git merge-base {a} {b}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn load_at_revision(path: &Path, rev: &str) -> Result<Topology, crate::Failure> {
    Topology::from_sources([source_at_revision(path, rev)?])
        .map_err(|d| d.render(crate::output::stderr_colour()))
}

/// The changes as a Markdown table, then the migration hints of those that need one; at most
/// `limit` of each (a pull-request comment has a size limit), saying how many are left out.
pub(crate) fn markdown_table(changes: &[Change], limit: usize) -> String {
    use std::fmt::Write as _;
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let mut out = String::from("| class | entity | change |\n|---|---|---|\n");
    for c in changes.iter().take(limit) {
        let _ = writeln!(
            out,
            "| **{}** | {} | {} |",
            c.class,
            cell(&c.entity),
            cell(&c.change)
        );
    }
    if changes.len() > limit {
        let _ = writeln!(
            out,
            "\n{} more changes are left out here; `kombu diff` lists them all.",
            changes.len() - limit
        );
    }
    let hints: Vec<&Change> = changes
        .iter()
        .filter(|c| c.hint.is_some() && c.class >= Class::Policy)
        .collect();
    if !hints.is_empty() {
        out.push_str("\n#### Migration\n\n");
        if hints.len() > limit {
            let _ = writeln!(
                out,
                "The first {limit} of {}; `kombu diff` gives every one.\n",
                hints.len()
            );
        }
        for c in hints.into_iter().take(limit) {
            // A hint's text, then what it asks to write (a policy) as a code block.
            let hint = c.hint.as_deref().unwrap_or_default();
            let (text, code) = hint.split_once('\n').unwrap_or((hint, ""));
            let _ = writeln!(out, "- {} ({}): {text}", cell(&c.entity), cell(&c.change));
            if !code.trim().is_empty() {
                let _ = writeln!(out, "\n  ```toml");
                for line in code.trim_end().lines() {
                    let _ = writeln!(out, "  {line}");
                }
                let _ = writeln!(out, "  ```");
            }
        }
    }
    out
}

pub(crate) fn run(
    old: &Path,
    new: Option<&Path>,
    git: Option<&str>,
    format: Format,
    deny: &[Class],
) -> Result<u8, crate::Failure> {
    let (old_t, new_t) = match (new, git) {
        (Some(new), None) => (
            crate::load(&[old.to_path_buf()])?,
            crate::load(&[new.to_path_buf()])?,
        ),
        // `A..B`: the file at two revisions; `A`: at A against the work tree.
        (None, Some(rev)) => match rev.split_once("..") {
            Some((a, b)) => (load_at_revision(old, a)?, load_at_revision(old, b)?),
            None => (
                load_at_revision(old, rev)?,
                crate::load(&[PathBuf::from(old)])?,
            ),
        },
        (Some(_), Some(_)) => return Err("give either OLD NEW or --git REV FILE".to_owned()),
        (None, None) => return Err("give OLD and NEW files, or --git REV FILE".to_owned()),
    };
    let changes = diff(old_t.model(), new_t.model());
    match format {
        Format::Human => {
            if changes.is_empty() {
                crate::output::outln!("no changes");
            }
            for c in &changes {
                crate::output::outln!("{} [{}]: {}", c.entity, c.class, c.change);
                if let Some(h) = &c.hint {
                    crate::output::outln!("  hint: {h}");
                }
            }
        }
        Format::Markdown => {
            let worst = changes.iter().map(|c| c.class).max();
            crate::output::outln!("### Topology changes\n");
            if changes.is_empty() {
                crate::output::outln!("No changes.");
            } else {
                crate::output::out!("{}", markdown_table(&changes, usize::MAX));
                if let Some(w) = worst {
                    crate::output::outln!("\nMost serious change: **{w}**.");
                }
            }
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = changes
                .iter()
                .map(|c| serde_json::json!({"entity": c.entity, "class": c.class.to_string(), "change": c.change, "hint": c.hint}))
                .collect();
            crate::output::outln!(
                "{}",
                serde_json::to_string_pretty(&items).unwrap_or_default()
            );
        }
    }
    Ok(deny_verdict(&changes, deny))
}

/// 1 if a change is of a class in `deny` (and says which on stderr), else 0.
pub(crate) fn deny_verdict(changes: &[Change], deny: &[Class]) -> u8 {
    let denied: Vec<&Change> = changes.iter().filter(|c| deny.contains(&c.class)).collect();
    if denied.is_empty() {
        return 0;
    }
    let mut classes: Vec<Class> = denied.iter().map(|c| c.class).collect();
    classes.sort_unstable();
    classes.dedup();
    let counts: Vec<String> = classes
        .iter()
        .rev()
        .map(|class| {
            let n = denied.iter().filter(|c| c.class == *class).count();
            format!("{n} {class}")
        })
        .collect();
    eprintln!(
        "{}: the change holds denied changes ({}; --deny {})",
        crate::output::error_word(),
        counts.join(", "),
        deny.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    1
}
