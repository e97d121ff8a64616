//! A checked topology → the generator's description ([`kombu_codegen::ir::Module`]).
//!
//! Names become identifiers here: a `rust_name` as written, else the name in the case Rust
//! expects (`order-created` → `order_created`, `OrderCreated`), and names whose conversions
//! meet (`Orders` and `orders`) told apart by a number (`derive_idents`). kombu-codegen then
//! makes each a valid identifier and refuses two items that still meet. Field types are
//! resolved to generated or external Rust types, and handler method names are made unique.
//! Everything else this step relies on was validated when the topology loaded.

use std::collections::{BTreeMap, HashMap, HashSet};

use indexmap::IndexMap;
use kombu::topology::{
    fn_ident, type_ident, At, ConfirmPolicy, FieldDef, MessageDef, Topology, TopologyModel,
    TypeExpr,
};
use kombu::{Binding, DeliveryMode, Exchange, FailurePolicy, FieldTable, FieldValue};
use kombu_codegen::ir;

use crate::Error;

/// What to lower and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only these producers (all when `None`).
    pub producers: Option<Vec<String>>,
    /// Only these consumers (all when `None`).
    pub consumers: Option<Vec<String>>,
    /// Extra derives on generated message types.
    pub extra_derives: Vec<String>,
    /// Message name → Rust type path, replacing the generated type.
    pub type_paths: BTreeMap<String, String>,
    /// Generate the Celery task client and handler trait (when the topology has tasks).
    pub tasks: bool,
    /// Only these tasks are in the handler trait and its worker (all when `None`); the
    /// client sends every task.
    pub serve: Option<Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            producers: None,
            consumers: None,
            extra_derives: Vec::new(),
            type_paths: BTreeMap::new(),
            tasks: true,
            serve: None,
        }
    }
}

/// Lowers a checked topology.
pub fn lower(topology: &Topology, options: &Options) -> Result<ir::Module, Error> {
    let model = topology.model();
    for (what, filter, known) in [
        (
            "producer",
            &options.producers,
            model.producers.keys().collect::<Vec<_>>(),
        ),
        (
            "consumer",
            &options.consumers,
            model.consumers.keys().collect::<Vec<_>>(),
        ),
        (
            "task",
            &options.serve,
            model.tasks.keys().collect::<Vec<_>>(),
        ),
    ] {
        for name in filter.iter().flatten() {
            if !known.contains(&name) {
                return Err(Error::Config(format!(
                    "the topology has no {what} `{name}`"
                )));
            }
        }
    }
    for name in options.type_paths.keys() {
        if !model.messages.contains_key(name) {
            return Err(Error::Config(format!(
                "type_path for `{name}`, which is not a message of the topology"
            )));
        }
    }
    let names = Names::new(model);
    let types = message_types(model, &names, options);
    let mut module = ir::Module {
        sources: topology.files().iter().map(|f| f.name.clone()).collect(),
        description: model.description.clone(),
        extra_derives: options.extra_derives.clone(),
        ..ir::Module::default()
    };
    for name in model.exchanges.keys() {
        if let Some(x) = exchange_decl(topology, &names, name) {
            module.exchanges.push(x);
        }
    }
    for name in model.queues.keys() {
        if let Some(q) = queue_decl(topology, &names, name) {
            module.queues.push(q);
        }
    }
    for (name, m) in &model.messages {
        module
            .messages
            .push(message(name, m, &names, &types, options));
    }
    for (name, p) in &model.producers {
        if options
            .producers
            .as_ref()
            .is_some_and(|f| !f.contains(name))
        {
            continue;
        }
        let exchange = if p.exchange.is_empty() {
            None
        } else {
            exchange_decl(topology, &names, &p.exchange)
        };
        let method_names: Vec<(&str, Option<&str>)> =
            p.methods.keys().map(|m| (m.as_str(), None)).collect();
        let method_idents = derive_idents(&method_names, fn_ident, "_");
        let methods = p
            .methods
            .iter()
            .zip(method_idents)
            .map(|((_, m), method_ident)| {
                let message = &types[m.message.as_str()];
                let input = match &m.variant {
                    None => ir::MethodInput::Message,
                    Some(v) => {
                        let variants = model
                            .messages
                            .get(m.message.as_str())
                            .and_then(|d| d.variants.as_ref());
                        let def = variants.and_then(|vs| vs.get(v.as_str()));
                        ir::MethodInput::Variant {
                            ident: variants
                                .and_then(|vs| variant_idents(vs).remove(v.as_str()))
                                .unwrap_or_else(|| type_ident(v)),
                            fields: def.map(|d| fields(&d.fields, &types)).unwrap_or_default(),
                        }
                    }
                };
                let routing_key = m
                    .routing_key
                    .as_ref()
                    .or(p.routing_key.as_ref())
                    .map(|k| k.get().clone())
                    .unwrap_or_default();
                ir::MethodSpec {
                    ident: method_ident,
                    description: m.description.clone(),
                    message: message.clone(),
                    input,
                    routing_key,
                    headers: args(&m.headers),
                }
            })
            .collect();
        module.producers.push(ir::ProducerSpec {
            name: name.clone(),
            ident: format!("{}Producer", names.producer(name)),
            description: p.description.clone(),
            exchange,
            define_struct: true,
            field: "producer".to_owned(),
            other_fields: Vec::new(),
            routing_key: p
                .routing_key
                .as_ref()
                .map(|k| k.get().clone())
                .unwrap_or_default(),
            serializer: p.serializer.clone(),
            compression: p.compression.clone(),
            persistent: p.delivery_mode == DeliveryMode::Persistent,
            confirm: match p.confirm {
                ConfirmPolicy::Wait => ir::Confirm::Wait,
                _ => ir::Confirm::None,
            },
            methods,
        });
    }
    for (name, c) in &model.consumers {
        if options
            .consumers
            .as_ref()
            .is_some_and(|f| !f.contains(name))
        {
            continue;
        }
        module
            .consumers
            .push(consumer(name, c, topology, &names, &types));
    }
    if !model.tasks.is_empty() && options.tasks {
        let set = tasks(topology, &names, &types, options);
        // A worker consumes whole queues: one that serves some of a queue's tasks would take
        // the others too, and answer them NotRegistered.
        for t in set.tasks.iter().filter(|t| !t.serve) {
            if let Some(served) = set.tasks.iter().find(|s| s.serve && s.queue == t.queue) {
                return Err(Error::Config(format!(
                    "serve_tasks: task `{}` is served and task `{}` is not, but both are sent to queue `{}`; the worker would take `{}` from that queue and answer it NotRegistered. Serve both, or give them different queues",
                    served.name, t.name, t.queue, t.name
                )));
            }
        }
        module.tasks.push(set);
    }
    Ok(module)
}

/// The topology's Celery tasks: one set, `TaskClient` and `TaskHandler`.
fn tasks(
    topology: &Topology,
    names: &Names,
    types: &HashMap<String, String>,
    options: &Options,
) -> ir::TaskSet {
    let model = topology.model();
    let entries: Vec<(&str, Option<&str>)> = model
        .tasks
        .iter()
        .map(|(n, t)| (n.as_str(), t.rust_name.as_ref().map(|r| r.as_str())))
        .collect();
    let idents = derive_idents(&entries, fn_ident, "_");
    let millis = |d: Option<std::time::Duration>| {
        d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    let tasks = model
        .tasks
        .iter()
        .zip(idents)
        .map(|((name, t), ident)| {
            let queue = t.queue.as_ref().map_or("celery", |q| q.as_str()).to_owned();
            ir::TaskSpec {
                name: name.clone(),
                task: t
                    .name
                    .as_ref()
                    .map_or(name.as_str(), |n| n.as_str())
                    .to_owned(),
                ident,
                description: t.description.clone(),
                declaration: queue_decl(topology, names, &queue),
                queue,
                route: t
                    .exchange
                    .as_ref()
                    .zip(t.routing_key.as_ref())
                    .map(|(x, k)| (x.get().clone(), k.get().clone())),
                args: fields(&t.args, types),
                kwargs: fields(&t.kwargs, types),
                result: t.result.as_ref().map(|r| {
                    TypeExpr::parse(r)
                        .map(|ty| field_type(&ty, types))
                        .unwrap_or_else(|_| ir::FieldType::Primitive("json".to_owned()))
                }),
                acks_late: t.acks_late,
                max_retries: t.max_retries,
                default_retry_delay_ms: millis(t.default_retry_delay),
                time_limit_ms: millis(t.time_limit),
                soft_time_limit_ms: millis(t.soft_time_limit),
                expires_ms: millis(t.expires),
                ignore_result: t.ignore_result,
                priority: t.priority,
                serve: options.serve.as_ref().is_none_or(|f| f.contains(name)),
            }
        })
        .collect();
    ir::TaskSet {
        name: "the topology's `[tasks]`".to_owned(),
        ident: "Task".to_owned(),
        description: None,
        tasks,
    }
}

/// The Rust type each message is known by: its generated name, or a path.
fn message_types(
    model: &TopologyModel,
    names: &Names,
    options: &Options,
) -> HashMap<String, String> {
    model
        .messages
        .iter()
        .map(|(name, m)| {
            let ty = match (options.type_paths.get(name), &m.rust) {
                (Some(path), _) => path.clone(),
                (None, Some(path)) => path.get().clone(),
                (None, None) => names.message(name),
            };
            (name.clone(), ty)
        })
        .collect()
}

fn message(
    name: &str,
    m: &MessageDef,
    names: &Names,
    types: &HashMap<String, String>,
    options: &Options,
) -> ir::MessageType {
    let kind = if let Some(path) = options.type_paths.get(name) {
        ir::MessageKind::External(path.clone())
    } else if let Some(path) = &m.rust {
        ir::MessageKind::External(path.get().clone())
    } else if let (Some(tag), Some(variants)) = (&m.tag, &m.variants) {
        let mut idents = variant_idents(variants);
        ir::MessageKind::Enum {
            tag: tag.get().clone(),
            variants: variants
                .iter()
                .map(|(v, def)| ir::Variant {
                    tag: v.get().clone(),
                    ident: idents.remove(v.as_str()).unwrap_or_else(|| type_ident(v)),
                    description: def.description.clone(),
                    fields: fields(&def.fields, types),
                })
                .collect(),
        }
    } else {
        ir::MessageKind::Struct(
            m.fields
                .as_ref()
                .map(|f| fields(f, types))
                .unwrap_or_default(),
        )
    };
    ir::MessageType {
        name: name.to_owned(),
        ident: names.message(name),
        description: m.description.clone(),
        kind,
    }
}

fn fields(
    list: &IndexMap<At<String>, At<FieldDef>>,
    types: &HashMap<String, String>,
) -> Vec<ir::Field> {
    let names: Vec<(&str, Option<&str>)> = list.keys().map(|k| (k.as_str(), None)).collect();
    list.iter()
        .zip(derive_idents(&names, fn_ident, "_"))
        .map(|((name, f), ident)| ir::Field {
            name: name.get().clone(),
            ident,
            description: f.description.clone(),
            ty: TypeExpr::parse(&f.ty)
                .map(|t| field_type(&t, types))
                .unwrap_or_else(|_| ir::FieldType::Primitive("json".to_owned())),
        })
        .collect()
}

fn field_type(t: &TypeExpr, types: &HashMap<String, String>) -> ir::FieldType {
    match t {
        TypeExpr::Primitive(p) => ir::FieldType::Primitive(p.as_str().to_owned()),
        TypeExpr::Optional(inner) => ir::FieldType::Optional(Box::new(field_type(inner, types))),
        TypeExpr::List(inner) => ir::FieldType::List(Box::new(field_type(inner, types))),
        TypeExpr::Map(inner) => ir::FieldType::Map(Box::new(field_type(inner, types))),
        TypeExpr::Message(m) => {
            ir::FieldType::Message(types.get(m).cloned().unwrap_or_else(|| type_ident(m)))
        }
        _ => ir::FieldType::Primitive("json".to_owned()),
    }
}

/// An exchange's declaration; with `bindings`, its exchange-to-exchange bindings too (their
/// sources without theirs). Predeclared `amq.*` exchanges are known by name and type.
/// An exchange of the file (or a predeclared `amq.*` one) as the generator's description:
/// the runtime's declaration ([`Topology::exchange`], the one mapping from the file), taken
/// over field by field.
fn exchange_decl(topology: &Topology, names: &Names, name: &str) -> Option<ir::ExchangeDecl> {
    let x = topology.exchange(name)?;
    let def = topology.model().exchanges.get(name);
    let ident = match def {
        Some(_) => names.exchange(name),
        None => fn_ident(name),
    };
    let mut decl = exchange_ir(&x, ident);
    decl.description = def.and_then(|d| d.description.clone());
    Some(decl)
}

fn exchange_ir(x: &Exchange, ident: String) -> ir::ExchangeDecl {
    ir::ExchangeDecl {
        name: x.name.clone(),
        ident,
        description: None,
        kind: exchange_kind(&x.kind),
        durable: x.durable,
        auto_delete: x.auto_delete,
        internal: x.internal,
        arguments: args(&x.arguments),
        bindings: x.bindings.iter().map(binding_ir).collect(),
    }
}

/// A queue of the file as the generator's description: the runtime's declaration
/// ([`Topology::queue`]), whose settings are already the arguments the broker receives.
fn queue_decl(topology: &Topology, names: &Names, name: &str) -> Option<ir::QueueDecl> {
    let q = topology.queue(name)?;
    Some(ir::QueueDecl {
        name: name.to_owned(),
        ident: names.queue(name),
        description: topology
            .model()
            .queues
            .get(name)
            .and_then(|d| d.description.clone()),
        durable: q.durable,
        exclusive: q.exclusive,
        auto_delete: q.auto_delete,
        arguments: args(&q.declare_arguments()),
        bindings: q.bindings.iter().map(binding_ir).collect(),
    })
}

fn binding_ir(b: &Binding) -> ir::BindingDecl {
    ir::BindingDecl {
        source: Box::new(exchange_ir(&b.exchange, fn_ident(&b.exchange.name))),
        routing_key: b.routing_key.clone(),
        arguments: args(&b.arguments),
    }
}

fn args(table: &FieldTable) -> Vec<(String, ir::Arg)> {
    table.iter().map(|(k, v)| (k.clone(), arg(v))).collect()
}

fn arg(v: &FieldValue) -> ir::Arg {
    let int = |width: &'static str, value: i64| ir::Arg::Int { width, value };
    match v {
        FieldValue::Bool(b) => ir::Arg::Bool(*b),
        FieldValue::I8(n) => int("I8", i64::from(*n)),
        FieldValue::U8(n) => int("U8", i64::from(*n)),
        FieldValue::I16(n) => int("I16", i64::from(*n)),
        FieldValue::U16(n) => int("U16", i64::from(*n)),
        FieldValue::I32(n) => int("I32", i64::from(*n)),
        FieldValue::U32(n) => int("U32", i64::from(*n)),
        FieldValue::I64(n) => int("I64", *n),
        FieldValue::F32(f) => ir::Arg::F32(*f),
        FieldValue::F64(f) => ir::Arg::F64(*f),
        FieldValue::Decimal(d) => ir::Arg::Decimal {
            scale: d.scale,
            value: d.value,
        },
        FieldValue::String(s) => ir::Arg::Str(s.clone()),
        FieldValue::Bytes(b) => ir::Arg::Bytes(b.clone()),
        FieldValue::Timestamp(t) => ir::Arg::Timestamp(*t),
        FieldValue::Array(items) => ir::Arg::List(items.iter().map(arg).collect()),
        FieldValue::Table(t) => ir::Arg::Table(args(t)),
        _ => ir::Arg::Void,
    }
}

fn consumer(
    name: &str,
    c: &kombu::topology::ConsumerDef,
    topology: &Topology,
    names: &Names,
    types: &HashMap<String, String>,
) -> ir::ConsumerSpec {
    let model = topology.model();
    let mut queues: Vec<ir::ConsumeSpec> = c
        .queues
        .iter()
        .map(|(queue, consume)| {
            let def = model.messages.get(&consume.message);
            let handlers = match def.and_then(|d| d.variants.as_ref()) {
                Some(variants) if def.is_some_and(|d| d.rust.is_none()) => {
                    let mut idents = variant_idents(variants);
                    variants
                        .iter()
                        .map(|(v, vdef)| ir::HandlerSpec {
                            ident: fn_ident(v),
                            description: vdef.description.clone(),
                            variant: Some((
                                idents.remove(v.as_str()).unwrap_or_else(|| type_ident(v)),
                                fields(&vdef.fields, types),
                            )),
                        })
                        .collect()
                }
                _ => vec![ir::HandlerSpec {
                    ident: names.queue(queue),
                    // (The message's own description is on its type.)
                    description: consume.description.clone(),
                    variant: None,
                }],
            };
            ir::ConsumeSpec {
                queue: queue_decl(topology, names, queue).unwrap_or_else(|| ir::QueueDecl {
                    name: queue.get().clone(),
                    ident: names.queue(queue),
                    durable: true,
                    ..ir::QueueDecl::default()
                }),
                message: types
                    .get(&consume.message)
                    .cloned()
                    .unwrap_or_else(|| type_ident(&consume.message)),
                handlers,
                ordered: consume.ordered,
                offset: consume
                    .offset
                    .as_ref()
                    .and_then(|o| o.to_stream_offset())
                    .map(|o| match o {
                        kombu::StreamOffset::First => ir::StreamOffset::First,
                        kombu::StreamOffset::Last => ir::StreamOffset::Last,
                        kombu::StreamOffset::Offset(n) => ir::StreamOffset::Offset(n),
                        kombu::StreamOffset::Age(age) => ir::StreamOffset::AgeSecs(age.as_secs()),
                        // (`Next` is RabbitMQ's default; a topology file writes no timestamp.)
                        _ => ir::StreamOffset::Next,
                    }),
            }
        })
        .collect();
    // Handler names must be unique in the trait (and leave room for `on_failure`): a clash is
    // resolved by prefixing the queue, and a clash that leaves (variant `x` of queue `a` and
    // the handler of queue `a_x`) by a number.
    let mut count: HashMap<String, usize> = HashMap::new();
    for h in queues.iter().flat_map(|q| &q.handlers) {
        *count.entry(h.ident.clone()).or_default() += 1;
    }
    let mut taken: HashSet<String> = HashSet::new();
    for q in &mut queues {
        for h in &mut q.handlers {
            if count[&h.ident] > 1 || h.ident == "on_failure" {
                h.ident = format!("{}_{}", q.queue.ident, h.ident);
            }
            let stem = h.ident.clone();
            let mut n = 1;
            while !taken.insert(h.ident.clone()) {
                n += 1;
                h.ident = format!("{stem}_{n}");
            }
        }
    }
    ir::ConsumerSpec {
        name: name.to_owned(),
        ident: names.consumer(name),
        description: c.description.clone(),
        queues,
        prefetch: c.prefetch,
        concurrency: c.concurrency,
        on_failure: match c.on_failure {
            FailurePolicy::Requeue => ir::OnFailure::Requeue,
            FailurePolicy::Hook => ir::OnFailure::Hook,
            _ => ir::OnFailure::DeadLetter,
        },
        accept: c.accept.clone(),
    }
}

/// The identifiers of the entities of a topology, by name: each kind its own namespace.
struct Names {
    exchanges: HashMap<String, String>,
    queues: HashMap<String, String>,
    messages: HashMap<String, String>,
    producers: HashMap<String, String>,
    consumers: HashMap<String, String>,
}

impl Names {
    fn new(model: &TopologyModel) -> Self {
        fn of<'m, D: 'm>(
            entities: impl Iterator<Item = (&'m String, &'m D)>,
            rust_name: impl Fn(&D) -> Option<&At<String>>,
            convert: fn(&str) -> String,
            separator: &str,
        ) -> HashMap<String, String> {
            let entries: Vec<(&str, Option<&str>)> = entities
                .map(|(name, d)| (name.as_str(), rust_name(d).map(|r| r.as_str())))
                .collect();
            let idents = derive_idents(&entries, convert, separator);
            entries
                .iter()
                .map(|(name, _)| (*name).to_owned())
                .zip(idents)
                .collect()
        }
        Names {
            exchanges: of(
                model.exchanges.iter(),
                |x| x.rust_name.as_ref(),
                fn_ident,
                "_",
            ),
            queues: of(model.queues.iter(), |q| q.rust_name.as_ref(), fn_ident, "_"),
            messages: of(
                model.messages.iter(),
                |m| m.rust_name.as_ref(),
                type_ident,
                "",
            ),
            producers: of(
                model.producers.iter(),
                |p| p.rust_name.as_ref(),
                type_ident,
                "",
            ),
            consumers: of(
                model.consumers.iter(),
                |c| c.rust_name.as_ref(),
                type_ident,
                "",
            ),
        }
    }

    fn exchange(&self, name: &str) -> String {
        (self.exchanges.get(name).cloned()).unwrap_or_else(|| fn_ident(name))
    }

    fn queue(&self, name: &str) -> String {
        (self.queues.get(name).cloned()).unwrap_or_else(|| fn_ident(name))
    }

    fn message(&self, name: &str) -> String {
        (self.messages.get(name).cloned()).unwrap_or_else(|| type_ident(name))
    }

    fn producer(&self, name: &str) -> String {
        (self.producers.get(name).cloned()).unwrap_or_else(|| type_ident(name))
    }

    fn consumer(&self, name: &str) -> String {
        (self.consumers.get(name).cloned()).unwrap_or_else(|| type_ident(name))
    }
}

/// The identifiers of the variants of an enum message, by tag.
fn variant_idents<V>(variants: &IndexMap<At<String>, V>) -> HashMap<&str, String> {
    let entries: Vec<(&str, Option<&str>)> = variants.keys().map(|v| (v.as_str(), None)).collect();
    let idents = derive_idents(&entries, type_ident, "");
    entries.iter().map(|(v, _)| *v).zip(idents).collect()
}

/// The identifier of each name of one namespace, in order: its `rust_name` when it has one,
/// else `convert(name)`. Names whose conversions meet are told apart by a number: the one
/// already written as its conversion (`orders`), or else the first in byte order, keeps it,
/// and the others get `2`, `3`, ... after `separator` (`Orders` → `orders_2`), in byte order.
/// kombu-codegen makes each a valid Rust identifier and refuses two that still meet.
pub(crate) fn derive_idents(
    entries: &[(&str, Option<&str>)],
    convert: fn(&str) -> String,
    separator: &str,
) -> Vec<String> {
    let mut idents: Vec<String> = entries
        .iter()
        .map(|(name, rust_name)| rust_name.map_or_else(|| convert(name), str::to_owned))
        .collect();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (_, rust_name)) in entries.iter().enumerate() {
        if rust_name.is_none() {
            if let Some(ident) = idents.get(i) {
                groups.entry(ident.clone()).or_default().push(i);
            }
        }
    }
    for (ident, mut members) in groups {
        if members.len() < 2 {
            continue;
        }
        members.sort_by_key(|i| {
            let name = entries.get(*i).map_or("", |e| e.0);
            (name != ident, name)
        });
        for (n, i) in members.iter().enumerate().skip(1) {
            if let Some(slot) = idents.get_mut(*i) {
                *slot = format!("{ident}{separator}{}", n + 1);
            }
        }
    }
    idents
}

/// The IR's exchange type for the model's.
fn exchange_kind(kind: &kombu::ExchangeKind) -> ir::ExchangeKind {
    match kind {
        kombu::ExchangeKind::Direct => ir::ExchangeKind::Direct,
        kombu::ExchangeKind::Fanout => ir::ExchangeKind::Fanout,
        kombu::ExchangeKind::Topic => ir::ExchangeKind::Topic,
        kombu::ExchangeKind::Headers => ir::ExchangeKind::Headers,
        kombu::ExchangeKind::Custom(name) => ir::ExchangeKind::Custom(name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_whose_conversions_meet_are_numbered() {
        let entries = [("Orders", None), ("orders", None), ("ORDERS", None)];
        assert_eq!(
            derive_idents(&entries, fn_ident, "_"),
            ["orders_3", "orders", "orders_2"]
        );
        let entries = [("order-created", None), ("order_created", Some("created"))];
        assert_eq!(
            derive_idents(&entries, fn_ident, "_"),
            ["order_created", "created"]
        );
        let entries = [("orders", None), ("Orders", None)];
        assert_eq!(
            derive_idents(&entries, type_ident, ""),
            ["Orders2", "Orders"]
        );
    }
}
