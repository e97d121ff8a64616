//! A topology as an AsyncAPI 3.0 document: a channel per exchange (AMQP binding
//! `is: routingKey`) and per queue (`is: queue`), a `send` operation per producer method (its
//! routing key as `cc`, its delivery mode), a `receive` operation per queue a consumer reads,
//! and a message per message type whose payload is the JSON Schema kombu-build expands from
//! the same description as the Rust type. A queue's channel lists the messages its consumers
//! read and those the producers' routes bring to it (by the route simulator).

use std::collections::BTreeSet;

use indexmap::IndexMap;
use kombu::topology::{predeclared, ExchangeDef, ProducerDef, QueueDef, Topology};
use kombu::{DeliveryMode, ExchangeKind};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::*;

/// The document's `info` and where it runs.
pub(crate) struct Info<'a> {
    pub(crate) title: &'a str,
    pub(crate) version: &'a str,
    pub(crate) vhost: &'a str,
    pub(crate) server: Option<&'a str>,
}

/// The channels written so far, and the messages each carries.
#[derive(Default)]
struct Channels {
    ids: Ids,
    /// Channel id → its object, in order: exchanges first, then queues.
    objects: IndexMap<String, Map<String, Value>>,
    /// Channel id → the message names it carries.
    messages: IndexMap<String, BTreeSet<String>>,
}

pub(crate) fn document(topology: &Topology, info: &Info<'_>) -> Result<Value, crate::Failure> {
    let model = topology.model();
    let mut message_ids = Ids::default();
    for name in model.messages.keys() {
        message_ids.id(name);
    }
    let schemas = kombu_build::Config::new()
        .message_schemas(topology, "#/components/schemas/")
        .map_err(|e| format!("message types: {e}"))?;

    let mut channels = Channels::default();
    // Exchange channels: the file's exchanges, then the predeclared ones producers use.
    let mut exchanges: Vec<(String, ExchangeDef)> = model
        .exchanges
        .iter()
        .map(|(n, x)| (n.clone(), x.clone()))
        .collect();
    for p in model.producers.values() {
        let name = p.exchange.as_str();
        if !exchanges.iter().any(|(n, _)| n == name) {
            let kind = predeclared(name).cloned().unwrap_or_default();
            exchanges.push((
                name.to_owned(),
                ExchangeDef {
                    kind,
                    ..ExchangeDef::default()
                },
            ));
        }
    }
    let mut exchange_ids: IndexMap<String, String> = IndexMap::new();
    for (name, x) in &exchanges {
        let id = channels.ids.id_as(&format!("exchange {name}"), name);
        exchange_ids.insert(name.clone(), id.clone());
        let declared = model.exchanges.contains_key(name);
        channels
            .objects
            .insert(id.clone(), exchange_channel(name, x, declared, info.vhost)?);
    }
    let mut queue_ids: IndexMap<String, String> = IndexMap::new();
    for (name, q) in &model.queues {
        let id = channels.ids.id_as(&format!("queue {name}"), name);
        queue_ids.insert(name.clone(), id.clone());
        channels
            .objects
            .insert(id.clone(), queue_channel(name, q, info.vhost)?);
    }

    let mut operations = Map::new();
    let mut op_ids = Ids::default();
    // Send operations: one per producer method.
    for (pname, p) in &model.producers {
        let Some(channel) = exchange_ids.get(p.exchange.as_str()).cloned() else {
            continue;
        };
        for (mname, m) in &p.methods {
            let key = m.routing_key.as_ref().or(p.routing_key.as_ref());
            let message = m.message.as_str();
            channels
                .messages
                .entry(channel.clone())
                .or_default()
                .insert(message.to_owned());
            // The queues its messages reach take the message type too.
            let headers = (!m.headers.is_empty()).then_some(&m.headers);
            for q in reached(
                topology,
                &p.exchange,
                key.map_or("", |k| k.as_str()),
                headers,
            ) {
                if let Some(qid) = queue_ids.get(&q) {
                    channels
                        .messages
                        .entry(qid.clone())
                        .or_default()
                        .insert(message.to_owned());
                }
            }
            let mid = message_ids.id(message);
            let mut amqp = Map::new();
            if let Some(k) = key {
                amqp.insert("cc".to_owned(), json!([k.as_str()]));
            }
            amqp.insert(
                "deliveryMode".to_owned(),
                json!(match p.delivery_mode {
                    DeliveryMode::Transient => 1,
                    DeliveryMode::Persistent => 2,
                }),
            );
            amqp.insert("bindingVersion".to_owned(), json!(BINDING_VERSION));
            let mut op = Map::new();
            op.insert("action".to_owned(), json!("send"));
            op.insert(
                "channel".to_owned(),
                json!({ "$ref": format!("#/channels/{channel}") }),
            );
            op.insert("title".to_owned(), json!(format!("{pname}.{mname}")));
            if let Some(d) = &m.description {
                op.insert("description".to_owned(), json!(d));
            }
            op.insert("bindings".to_owned(), json!({ "amqp": amqp }));
            op.insert(
                "messages".to_owned(),
                json!([{ "$ref": format!("#/channels/{channel}/messages/{mid}") }]),
            );
            op.insert(X_PRODUCER.to_owned(), producer_extension(pname, p)?);
            let mut method = Map::new();
            method.insert("name".to_owned(), json!(mname.as_str()));
            if m.routing_key.is_some() {
                method.insert("routing_key".to_owned(), json!(key.map(|k| k.as_str())));
            }
            if let Some(v) = &m.variant {
                method.insert("variant".to_owned(), json!(v.as_str()));
            }
            if !m.headers.is_empty() {
                method.insert("headers".to_owned(), to_value(&m.headers)?);
            }
            op.insert(X_METHOD.to_owned(), Value::Object(method));
            let id = op_ids.id_as(
                &format!("send {pname} {mname}"),
                &format!("{pname}.{mname}"),
            );
            operations.insert(id, Value::Object(op));
        }
    }
    // Receive operations: one per queue a consumer reads.
    for (cname, c) in &model.consumers {
        for (queue, consume) in &c.queues {
            let Some(channel) = queue_ids.get(queue.as_str()).cloned() else {
                continue;
            };
            channels
                .messages
                .entry(channel.clone())
                .or_default()
                .insert(consume.message.clone());
            let mid = message_ids.id(&consume.message);
            let mut op = Map::new();
            op.insert("action".to_owned(), json!("receive"));
            op.insert(
                "channel".to_owned(),
                json!({ "$ref": format!("#/channels/{channel}") }),
            );
            op.insert(
                "title".to_owned(),
                json!(format!("{cname}.{}", queue.as_str())),
            );
            if let Some(d) = &consume.description {
                op.insert("description".to_owned(), json!(d));
            }
            op.insert(
                "bindings".to_owned(),
                json!({ "amqp": { "ack": true, "bindingVersion": BINDING_VERSION } }),
            );
            op.insert(
                "messages".to_owned(),
                json!([{ "$ref": format!("#/channels/{channel}/messages/{mid}") }]),
            );
            let mut consumer = object(c)?;
            consumer.shift_remove("queues");
            op.insert(X_CONSUMER.to_owned(), named(cname, consumer));
            let mut how = Map::new();
            if consume.ordered {
                how.insert("ordered".to_owned(), json!(true));
            }
            if let Some(offset) = &consume.offset {
                how.insert("offset".to_owned(), to_value(offset)?);
            }
            if !how.is_empty() {
                op.insert(X_CONSUME.to_owned(), Value::Object(how));
            }
            let id = op_ids.id_as(
                &format!("receive {cname} {}", queue.as_str()),
                &format!("{cname}.{channel}"),
            );
            operations.insert(id, Value::Object(op));
        }
    }

    // Each channel's messages, by reference to the components.
    let mut channels_out = Map::new();
    for (id, mut object) in channels.objects {
        let mut refs = Map::new();
        for m in channels.messages.get(&id).into_iter().flatten() {
            let mid = message_ids.id(m);
            refs.insert(
                mid.clone(),
                json!({ "$ref": format!("#/components/messages/{mid}") }),
            );
        }
        // `messages` after `address`, `title` and `description`.
        object.insert("messages".to_owned(), Value::Object(refs));
        if let Some(bindings) = object.shift_remove("bindings") {
            object.insert("bindings".to_owned(), bindings);
        }
        channels_out.insert(id, Value::Object(object));
    }

    let content_types = content_types(model);
    let mut messages = Map::new();
    let mut schemas_out = Map::new();
    for (name, schema) in schemas {
        let mid = message_ids.id(&name);
        let def = model.messages.get(&name);
        let mut m = Map::new();
        m.insert("name".to_owned(), json!(name));
        m.insert("title".to_owned(), json!(name));
        if let Some(d) = def.and_then(|d| d.description.as_ref()) {
            m.insert("description".to_owned(), json!(d));
        }
        if let Some(ct) = content_types.get(&name) {
            m.insert("contentType".to_owned(), json!(ct));
        }
        m.insert(
            "payload".to_owned(),
            json!({ "$ref": format!("#/components/schemas/{mid}") }),
        );
        if let Some(def) = def {
            let mut ext = Map::new();
            if let Some(r) = &def.rust_name {
                ext.insert("rust_name".to_owned(), json!(r.as_str()));
            }
            if let Some(r) = &def.rust {
                ext.insert("rust".to_owned(), json!(r.as_str()));
            }
            if let Some(c) = def.compatibility {
                ext.insert("compatibility".to_owned(), json!(c.as_str()));
            }
            if !ext.is_empty() {
                m.insert(X_MESSAGE.to_owned(), Value::Object(ext));
            }
        }
        messages.insert(mid.clone(), Value::Object(m));
        schemas_out.insert(mid, schema);
    }

    let mut info_out = Map::new();
    info_out.insert("title".to_owned(), json!(info.title));
    info_out.insert("version".to_owned(), json!(info.version));
    if let Some(d) = &model.description {
        info_out.insert("description".to_owned(), json!(d));
    }
    let mut doc = Map::new();
    doc.insert("asyncapi".to_owned(), json!("3.0.0"));
    doc.insert("info".to_owned(), Value::Object(info_out));
    if let Some(server) = info.server {
        doc.insert("servers".to_owned(), servers(server)?);
    }
    doc.insert(
        "defaultContentType".to_owned(),
        json!(kombu::serialization::JSON),
    );
    doc.insert("channels".to_owned(), Value::Object(channels_out));
    doc.insert("operations".to_owned(), Value::Object(operations));
    let mut components = Map::new();
    components.insert("messages".to_owned(), Value::Object(messages));
    components.insert("schemas".to_owned(), Value::Object(schemas_out));
    doc.insert("components".to_owned(), Value::Object(components));
    for (key, value) in [
        (X_TASKS, to_value(&model.tasks)?),
        (X_POLICIES, to_value(&model.policies)?),
        (X_OPERATOR_POLICIES, to_value(&model.operator_policies)?),
    ] {
        if present(&value) {
            doc.insert(key.to_owned(), value);
        }
    }
    Ok(Value::Object(doc))
}

/// The queues a message reaches, and those it reaches when they dead-letter it (with their
/// dead-letter routing key, else its own).
fn reached(
    topology: &Topology,
    exchange: &str,
    key: &str,
    headers: Option<&kombu::FieldTable>,
) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    let mut next: Vec<(String, String)> = vec![(exchange.to_owned(), key.to_owned())];
    while let Some((exchange, key)) = next.pop() {
        for q in topology.route(&exchange, &key, headers) {
            if !all.insert(q.clone()) {
                continue;
            }
            if let Some(def) = topology.model().queues.get(&q) {
                if let Some(dlx) = &def.dead_letter_exchange {
                    let dlk = def.dead_letter_routing_key.clone().unwrap_or(key.clone());
                    next.push((dlx.to_string(), dlk));
                }
            }
        }
    }
    all
}

/// An exchange's channel; one the file does not declare (the default exchange, an `amq.*`
/// one) is marked `predeclared`, so that reading the document back does not declare it.
fn exchange_channel(
    name: &str,
    x: &ExchangeDef,
    declared: bool,
    vhost: &str,
) -> Result<Map<String, Value>, crate::Failure> {
    let standard = matches!(
        x.kind,
        ExchangeKind::Direct | ExchangeKind::Fanout | ExchangeKind::Topic | ExchangeKind::Headers
    );
    let kind = if name.is_empty() {
        "default"
    } else if standard {
        x.kind.as_str()
    } else {
        // A plugin's type (`x-delayed-message`): AsyncAPI knows only the built-in ones; the
        // extension says which.
        "direct"
    };
    let mut amqp = Map::new();
    amqp.insert("is".to_owned(), json!("routingKey"));
    amqp.insert(
        "exchange".to_owned(),
        json!({
            "name": name,
            "type": kind,
            "durable": x.durable,
            "autoDelete": x.auto_delete,
            "vhost": vhost,
        }),
    );
    amqp.insert("bindingVersion".to_owned(), json!(BINDING_VERSION));
    let mut rest = object(x)?;
    for k in ["description", "durable", "auto_delete"] {
        rest.shift_remove(k);
    }
    if standard {
        rest.shift_remove("type");
    }
    if !declared {
        rest.insert("predeclared".to_owned(), json!(true));
    } else if name.starts_with("amq.") {
        // Declared by the file although its name is a predeclared one's.
        rest.insert("predeclared".to_owned(), json!(false));
    }
    if !rest.is_empty() {
        amqp.insert(X_EXCHANGE.to_owned(), Value::Object(rest));
    }
    let mut channel = Map::new();
    channel.insert("address".to_owned(), json!(name));
    channel.insert(
        "title".to_owned(),
        json!(if name.is_empty() {
            "(default exchange)".to_owned()
        } else {
            format!("exchange {name}")
        }),
    );
    if let Some(d) = &x.description {
        channel.insert("description".to_owned(), json!(d));
    }
    channel.insert("bindings".to_owned(), json!({ "amqp": amqp }));
    Ok(channel)
}

fn queue_channel(
    name: &str,
    q: &QueueDef,
    vhost: &str,
) -> Result<Map<String, Value>, crate::Failure> {
    let mut amqp = Map::new();
    amqp.insert("is".to_owned(), json!("queue"));
    amqp.insert(
        "queue".to_owned(),
        json!({
            "name": name,
            "durable": q.durable,
            "exclusive": q.exclusive,
            "autoDelete": q.auto_delete,
            "vhost": vhost,
        }),
    );
    amqp.insert("bindingVersion".to_owned(), json!(BINDING_VERSION));
    let mut rest = object(q)?;
    for k in ["description", "durable", "exclusive", "auto_delete"] {
        rest.shift_remove(k);
    }
    if !rest.is_empty() {
        amqp.insert(X_QUEUE.to_owned(), Value::Object(rest));
    }
    let mut channel = Map::new();
    channel.insert("address".to_owned(), json!(name));
    channel.insert("title".to_owned(), json!(format!("queue {name}")));
    if let Some(d) = &q.description {
        channel.insert("description".to_owned(), json!(d));
    }
    channel.insert("bindings".to_owned(), json!({ "amqp": amqp }));
    Ok(channel)
}

/// A producer's name and settings beside its methods (its exchange is the channel, its
/// delivery mode the operation's `deliveryMode`).
fn producer_extension(name: &str, p: &ProducerDef) -> Result<Value, crate::Failure> {
    let mut ext = object(p)?;
    for k in ["methods", "exchange", "delivery_mode"] {
        ext.shift_remove(k);
    }
    Ok(named(name, ext))
}

/// `{"name": name, ...rest}`.
fn named(name: &str, rest: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("name".to_owned(), json!(name));
    out.extend(rest);
    Value::Object(out)
}

/// The content type each message is sent with: its producers' serializer's (JSON when none
/// sends it, or when a serializer is one an application registers).
fn content_types(model: &kombu::topology::TopologyModel) -> IndexMap<String, String> {
    let registry = kombu::serialization::Registry::new();
    let mut out = IndexMap::new();
    for p in model.producers.values() {
        let Ok(ct) = registry.content_type_of(&p.serializer) else {
            continue;
        };
        for m in p.methods.values() {
            out.entry(m.message.to_string())
                .or_insert_with(|| ct.to_owned());
        }
    }
    out
}

/// `servers` for an AMQP URL: its host and port, its virtual host as the pathname.
fn servers(url: &str) -> Result<Value, crate::Failure> {
    let (protocol, rest) = url
        .split_once("://")
        .filter(|(p, _)| matches!(*p, "amqp" | "amqps"))
        .ok_or_else(|| format!("--server `{url}`: expected amqp://host[:port][/vhost]"))?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, hostpart)| hostpart);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err(format!("--server `{url}`: no host"));
    }
    let mut server = Map::new();
    server.insert("host".to_owned(), json!(host));
    server.insert("protocol".to_owned(), json!(protocol));
    if !path.is_empty() {
        server.insert("pathname".to_owned(), json!(format!("/{path}")));
    }
    Ok(json!({ "broker": server }))
}

/// A definition as a JSON object (as the file would hold it).
fn object<T: Serialize>(value: &T) -> Result<Map<String, Value>, crate::Failure> {
    match to_value(value)? {
        Value::Object(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, crate::Failure> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}
