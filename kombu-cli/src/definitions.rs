//! RabbitMQ definitions.json to and from topology models: the conversion the `export` and
//! `import` commands (`interchange.rs`) and `plan`/`apply` (`management.rs`) share. It reads and
//! writes JSON only; fetching from a broker is the commands' business.
//!
//! Export writes what `rabbitmqctl import_definitions` (or the management UI) loads: exchanges,
//! queues with their `x-` arguments, bindings. Import reads a broker's export back into a
//! topology file, typed arguments becoming typed keys, so that an existing deployment can adopt
//! reviewed files. Import adopts what is topology: the exchanges RabbitMQ declares itself are
//! left out, and so (unless `--include-ephemeral`) are ephemeral entities, listed on stderr:
//! exclusive, auto-delete and `x-expires` queues, auto-delete exchanges, server-named
//! `amq.gen-` queues, and the per-worker queues of Celery and Python kombu (`celeryev.<uuid>`,
//! `<uuid>.reply.celery.pidbox`, `<hostname>.celery.pidbox`, uuid-named reply queues).
//! Durations are written with their unit (`x-message-ttl: 2000` as `"2000ms"`).

use indexmap::IndexMap;
use kombu::topology::{
    At, BindingDef, DeadLetterStrategy, ExchangeDef, HeadersMatch, LeaderLocator, QueueDef,
    Topology, TopologyModel,
};
use kombu::{FieldTable, FieldValue, Overflow, QueueType};
use serde_json::{json, Value};

/// A field value as plain JSON, the way the management API and definitions files carry it.
pub(crate) fn to_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => json!(b),
        FieldValue::I8(n) => json!(n),
        FieldValue::U8(n) => json!(n),
        FieldValue::I16(n) => json!(n),
        FieldValue::U16(n) => json!(n),
        FieldValue::I32(n) => json!(n),
        FieldValue::U32(n) => json!(n),
        FieldValue::I64(n) => json!(n),
        FieldValue::F32(f) => json!(f),
        FieldValue::F64(f) => json!(f),
        FieldValue::String(s) => json!(s),
        FieldValue::Timestamp(t) => json!(t),
        FieldValue::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        FieldValue::Table(t) => table_json(t),
        FieldValue::Bytes(b) => json!(String::from_utf8_lossy(b)),
        FieldValue::Decimal(d) => json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        FieldValue::Void => Value::Null,
    }
}

pub(crate) fn table_json(t: &FieldTable) -> Value {
    Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
}

/// Plain JSON back to a field value (integers as Python's client sends them).
pub(crate) fn from_json(v: &Value) -> FieldValue {
    match v {
        Value::Null => FieldValue::Void,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => match i32::try_from(i) {
                Ok(small) => FieldValue::I32(small),
                Err(_) => FieldValue::I64(i),
            },
            (None, Some(f)) => FieldValue::F64(f),
            _ => FieldValue::Void,
        },
        Value::String(s) => FieldValue::String(s.clone()),
        Value::Array(items) => FieldValue::Array(items.iter().map(from_json).collect()),
        Value::Object(map) => {
            FieldValue::Table(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// The definitions of a topology for `vhost`.
pub(crate) fn definitions(topology: &Topology, vhost: &str) -> Value {
    let exchanges: Vec<Value> = topology
        .exchanges()
        .iter()
        .filter(|x| x.should_declare())
        .map(|x| {
            json!({
                "name": x.name, "vhost": vhost, "type": x.kind.as_str(), "durable": x.durable,
                "auto_delete": x.auto_delete, "internal": x.internal, "arguments": table_json(&x.arguments),
            })
        })
        .collect();
    let mut bindings = Vec::new();
    // Exclusive queues belong to the connection that declares them: definitions cannot carry
    // them, and the management API cannot create them.
    let queues: Vec<Value> = topology
        .queues()
        .iter()
        .filter(|q| !q.exclusive)
        .map(|q| {
            for b in &q.bindings {
                bindings.push(json!({
                    "source": b.exchange.name, "vhost": vhost, "destination": q.name, "destination_type": "queue",
                    "routing_key": b.routing_key, "arguments": table_json(&b.arguments),
                }));
            }
            json!({
                "name": q.name, "vhost": vhost, "durable": q.durable, "auto_delete": q.is_auto_delete(),
                "arguments": table_json(&q.declare_arguments()),
            })
        })
        .collect();
    for x in topology.exchanges() {
        for b in &x.bindings {
            bindings.push(json!({
                "source": b.exchange.name, "vhost": vhost, "destination": x.name, "destination_type": "exchange",
                "routing_key": b.routing_key, "arguments": table_json(&b.arguments),
            }));
        }
    }
    let mut defs = json!({ "exchanges": exchanges, "queues": queues, "bindings": bindings });
    crate::policies::export_into(&mut defs, topology.model(), vhost);
    defs
}

fn s(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn b(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

fn args(v: &Value) -> FieldTable {
    match v.get("arguments") {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect(),
        _ => FieldTable::new(),
    }
}

fn in_vhost(v: &Value, vhost: &str) -> bool {
    v.get("vhost")
        .and_then(Value::as_str)
        .is_none_or(|h| h == vhost)
}

/// Whether RabbitMQ declares this exchange itself.
fn builtin(name: &str) -> bool {
    name.is_empty() || name.starts_with("amq.")
}

fn millis(v: &FieldValue) -> Option<std::time::Duration> {
    match v {
        FieldValue::I32(n) => u64::try_from(*n).ok().map(std::time::Duration::from_millis),
        FieldValue::I64(n) => u64::try_from(*n).ok().map(std::time::Duration::from_millis),
        _ => None,
    }
}

fn uint(v: &FieldValue) -> Option<u64> {
    match v {
        FieldValue::I32(n) => u64::try_from(*n).ok(),
        FieldValue::I64(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// Sets the typed key for a queue argument; false when it has none (or an unexpected value).
fn typed_argument(def: &mut QueueDef, key: &str, v: &FieldValue) -> bool {
    match key {
        "x-message-ttl" => millis(v).map(|d| def.message_ttl = Some(d)).is_some(),
        "x-expires" => millis(v).map(|d| def.expires = Some(d)).is_some(),
        "x-max-length" => uint(v).map(|n| def.max_length = Some(n)).is_some(),
        "x-max-length-bytes" => uint(v).map(|n| def.max_length_bytes = Some(n)).is_some(),
        "x-max-priority" => uint(v)
            .and_then(|n| u8::try_from(n).ok())
            .map(|n| def.max_priority = Some(n))
            .is_some(),
        "x-overflow" => {
            def.overflow = match v.as_str() {
                Some("drop-head") => Some(Overflow::DropHead),
                Some("reject-publish") => Some(Overflow::RejectPublish),
                Some("reject-publish-dlx") => Some(Overflow::RejectPublishDlx),
                _ => return false,
            };
            true
        }
        "x-dead-letter-exchange" => v
            .as_str()
            .map(|x| def.dead_letter_exchange = Some(At::new(x.to_owned())))
            .is_some(),
        "x-dead-letter-routing-key" => v
            .as_str()
            .map(|x| def.dead_letter_routing_key = Some(x.to_owned()))
            .is_some(),
        "x-queue-type" => {
            def.queue_type = match v.as_str() {
                Some("classic") => Some(QueueType::Classic),
                Some("quorum") => Some(QueueType::Quorum),
                Some("stream") => Some(QueueType::Stream),
                _ => return false,
            };
            true
        }
        "x-delivery-limit" => uint(v)
            .and_then(|n| u32::try_from(n).ok())
            .map(|n| def.delivery_limit = Some(n))
            .is_some(),
        // One typed key for both: the queue's type says which argument it is sent as.
        "x-quorum-initial-group-size" | "x-initial-cluster-size" => uint(v)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(|n| def.initial_group_size = Some(n))
            .is_some(),
        "x-queue-leader-locator" => {
            def.leader_locator = match v.as_str() {
                Some("client-local") => Some(LeaderLocator::ClientLocal),
                Some("balanced") => Some(LeaderLocator::Balanced),
                Some("random") => Some(LeaderLocator::Random),
                Some("least-leaders") => Some(LeaderLocator::LeastLeaders),
                _ => return false,
            };
            true
        }
        "x-dead-letter-strategy" => {
            def.dead_letter_strategy = match v.as_str() {
                Some("at-most-once") => Some(DeadLetterStrategy::AtMostOnce),
                Some("at-least-once") => Some(DeadLetterStrategy::AtLeastOnce),
                _ => return false,
            };
            true
        }
        "x-max-age" => v
            .as_str()
            .map(|age| def.max_age = Some(age.to_owned()))
            .is_some(),
        "x-stream-max-segment-size-bytes" => uint(v)
            .map(|n| def.max_segment_size_bytes = Some(n))
            .is_some(),
        "x-single-active-consumer" => match v {
            FieldValue::Bool(on) => {
                def.single_active_consumer = *on;
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// A queue's arguments as typed keys, leaving what has none in `arguments`.
fn queue_def(q: &Value) -> QueueDef {
    let mut def = QueueDef {
        durable: b(q, "durable", true),
        auto_delete: b(q, "auto_delete", false),
        exclusive: b(q, "exclusive", false),
        ..QueueDef::default()
    };
    for (k, v) in args(q) {
        if !typed_argument(&mut def, &k, &v) {
            def.arguments.insert(k, v);
        }
    }
    def
}

fn binding_def(bind: &Value, headers_exchange: bool) -> BindingDef {
    let mut arguments = args(bind);
    let mut headers = FieldTable::new();
    let mut match_ = None;
    if headers_exchange {
        match_ = match arguments
            .remove("x-match")
            .as_ref()
            .and_then(FieldValue::as_str)
        {
            Some("any") => Some(HeadersMatch::Any),
            Some("all-with-x") => Some(HeadersMatch::AllWithX),
            Some("any-with-x") => Some(HeadersMatch::AnyWithX),
            Some(_) => Some(HeadersMatch::All),
            None => None,
        };
        headers = std::mem::take(&mut arguments);
    }
    BindingDef {
        exchange: At::new(s(bind, "source")),
        routing_key: At::new(s(bind, "routing_key")),
        headers,
        match_,
        arguments,
        description: None,
    }
}

/// Why a queue is ephemeral rather than topology, if it is: it belongs to one connection or
/// one process (exclusive, auto-delete, `x-expires`), or its name is one of the per-worker
/// patterns of Celery and Python kombu.
fn ephemeral_queue(name: &str, q: &Value) -> Option<String> {
    let mut why: Vec<&str> = Vec::new();
    if b(q, "exclusive", false) {
        why.push("exclusive");
    }
    if b(q, "auto_delete", false) {
        why.push("auto-delete");
    }
    if args(q).contains_key("x-expires") {
        why.push("x-expires");
    }
    if name
        .strip_prefix("celeryev.")
        .is_some_and(|rest| is_uuid(rest) || rest.len() >= 8)
    {
        // Celery's event receivers: `celeryev.<uuid>`, one per monitor (flower, celery events).
        why.push("a Celery event receiver (celeryev.<uuid>)");
    } else if name
        .strip_suffix(".pidbox")
        .and_then(|rest| rest.split_once(".reply."))
        .is_some()
    {
        // kombu's Mailbox replies: `<uuid>.reply.<namespace>.pidbox` (Celery's `inspect`).
        why.push("a kombu/Celery remote-control reply queue (<uuid>.reply.celery.pidbox)");
    } else if name.ends_with(".pidbox") && !why.is_empty() {
        // kombu's Mailbox per worker: `<hostname>.<namespace>.pidbox` (Celery's `celery.pidbox`).
        why.push("a kombu/Celery per-worker remote-control queue (<hostname>.celery.pidbox)");
    } else if is_uuid(name) {
        why.push("a reply queue named by a uuid (kombu/Celery RPC results)");
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// A uuid as kombu and Celery name queues with it: 8-4-4-4-12 hex digits, or 32 without dashes.
fn is_uuid(text: &str) -> bool {
    let hex = |part: &str| part.chars().all(|c| c.is_ascii_hexdigit());
    let groups: Vec<&str> = text.split('-').collect();
    match groups.as_slice() {
        [one] => one.len() == 32 && hex(one),
        parts => parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p)),
    }
}

/// What an import left out: entities that are not topology, and bindings that went with them.
#[derive(Default)]
pub(crate) struct LeftOut {
    /// (kind, name, why), in the order found.
    pub(crate) entities: Vec<(&'static str, String, String)>,
    /// Bindings to or from an entity left out.
    pub(crate) bindings: usize,
}

impl LeftOut {
    /// The summary on stderr, or nothing.
    pub(crate) fn report(&self) -> Option<String> {
        if self.entities.is_empty() {
            return None;
        }
        let mut text = format!(
            "note: left out {} ephemeral entit{} (they belong to a connection or a worker process, not to the topology; --include-ephemeral keeps them):",
            self.entities.len(),
            if self.entities.len() == 1 { "y" } else { "ies" }
        );
        for (kind, name, why) in &self.entities {
            text.push_str(&format!("\n  {kind} `{}`: {why}", name.escape_debug()));
        }
        if self.bindings > 0 {
            text.push_str(&format!(
                "\n  and {} binding{} to or from them",
                self.bindings,
                if self.bindings == 1 { "" } else { "s" }
            ));
        }
        Some(text)
    }
}

/// A topology model from a definitions document: what is topology, and (unless
/// `keep_ephemeral`) what was left out as ephemeral. Server-named `amq.gen-` queues are always
/// left out: RabbitMQ refuses to declare a name with the `amq.` prefix.
pub(crate) fn adopt(defs: &Value, vhost: &str, keep_ephemeral: bool) -> (TopologyModel, LeftOut) {
    let mut left = LeftOut::default();
    let list = |key: &str| -> Vec<Value> {
        defs.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter(|v| in_vhost(v, vhost)).cloned().collect())
            .unwrap_or_default()
    };
    let mut exchanges: IndexMap<String, ExchangeDef> = IndexMap::new();
    for x in list("exchanges") {
        let name = s(&x, "name");
        if builtin(&name) {
            continue;
        }
        if !keep_ephemeral {
            let why = if b(&x, "auto_delete", false) {
                Some("auto-delete")
            } else if name.ends_with(".pidbox") {
                // kombu's Mailbox exchanges (`celery.pidbox`, `reply.celery.pidbox`): every
                // worker declares them, and only per-worker queues are bound to them.
                Some("a kombu/Celery remote-control exchange, declared by every worker for its own queues")
            } else {
                None
            };
            if let Some(why) = why {
                left.entities.push(("exchange", name, why.to_owned()));
                continue;
            }
        }
        let mut arguments = args(&x);
        let alternate = arguments
            .remove("alternate-exchange")
            .and_then(|v| v.as_str().map(|a| At::new(a.to_owned())));
        exchanges.insert(
            name,
            ExchangeDef {
                kind: kombu::ExchangeKind::from(s(&x, "type").as_str()),
                durable: b(&x, "durable", true),
                auto_delete: b(&x, "auto_delete", false),
                internal: b(&x, "internal", false),
                alternate_exchange: alternate,
                arguments,
                ..ExchangeDef::default()
            },
        );
    }
    let mut queues: IndexMap<String, QueueDef> = IndexMap::new();
    for q in list("queues") {
        let name = s(&q, "name");
        if name.is_empty() {
            continue;
        }
        if name.starts_with("amq.") {
            left.entities.push((
                "queue",
                name,
                "server-named (RabbitMQ refuses to declare `amq.` names, so it stays out even with --include-ephemeral)".to_owned(),
            ));
            continue;
        }
        if !keep_ephemeral {
            if let Some(why) = ephemeral_queue(&name, &q) {
                left.entities.push(("queue", name, why));
                continue;
            }
        }
        queues.insert(name, queue_def(&q));
    }
    for bind in list("bindings") {
        let source = s(&bind, "source");
        if source.is_empty() {
            continue; // the default exchange's implicit bindings
        }
        let headers_exchange = exchanges
            .get(&source)
            .map(|x| x.kind == kombu::ExchangeKind::Headers)
            .unwrap_or_else(|| {
                kombu::topology::predeclared(&source) == Some(&kombu::ExchangeKind::Headers)
            });
        let destination = s(&bind, "destination");
        let left_out = |kind: &str, name: &str| {
            (left.entities.iter()).any(|(k, n, _)| *k == kind && n == name)
        };
        let gone = left_out("exchange", &source)
            || left_out(
                if s(&bind, "destination_type") == "queue" {
                    "queue"
                } else {
                    "exchange"
                },
                &destination,
            );
        if gone {
            left.bindings += 1;
            continue;
        }
        if !builtin(&source) && !exchanges.contains_key(&source) {
            eprintln!(
                "note: left out the binding from `{source}` to `{}`: the definitions do not declare `{source}` (RabbitMQ leaves internal exchanges out of its exports)",
                s(&bind, "destination")
            );
            continue;
        }
        let def = binding_def(&bind, headers_exchange);
        match s(&bind, "destination_type").as_str() {
            "queue" => {
                if let Some(q) = queues.get_mut(&destination) {
                    q.bindings.push(def);
                }
            }
            "exchange" => {
                if let Some(x) = exchanges.get_mut(&destination) {
                    x.bindings.push(def);
                }
            }
            _ => {}
        }
    }
    // Sorted, as `kombu fmt` writes them.
    exchanges.sort_keys();
    queues.sort_keys();
    let model = TopologyModel {
        version: 1,
        exchanges,
        queues,
        ..TopologyModel::default()
    };
    (model, left)
}
