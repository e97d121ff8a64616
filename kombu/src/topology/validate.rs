//! Semantic validation (errors) and lint (warnings) of a loaded topology.
//!
//! Runs on a model whose shape is already right (see [`super::load`]); checks what the shape
//! cannot say: that names refer to things that exist, that the broker would accept the
//! declarations, that routes reach queues, and that what producers route to a queue is what
//! its consumer expects. Every rule has a stable [`Code`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use indexmap::IndexMap;

use super::diagnostic::{Code, Sink};
use super::ident::problem;
use super::load::Origins;
use super::model::{
    At, BindingDef, ConsumeDef, FieldDef, MessageDef, Name, QueueDef, TopologyModel,
};
use super::node::MAX_DEPTH;
use super::policy::DeadLetterStrategy;
use super::route::{predeclared, Routes};
use super::source::{SourceFile, Span};
use super::types::parse_type;
use super::EntityKind;
use crate::suggest::Suggester;
use crate::{ExchangeKind, FieldTable, FieldValue, QueueType};

struct Check<'a> {
    files: &'a [SourceFile],
    model: &'a TopologyModel,
    origins: &'a Origins,
    sink: &'a mut Sink,
    routes: Routes,
    /// The exchanges with a headers exchange at or behind them.
    headers_behind: HashSet<&'a str>,
    /// Did-you-mean over the exchanges, messages and queues, made on first use.
    exchange_names: Option<Suggester<'a>>,
    message_names: Option<Suggester<'a>>,
    queue_names: Option<Suggester<'a>>,
}

/// The longest exchange or queue name RabbitMQ takes: an AMQP short string.
const MAX_NAME_BYTES: usize = 255;

/// The primitive types a misspelt field type may have meant.
const SUGGESTED_PRIMITIVES: &[&str] = &[
    "string",
    "bool",
    "i64",
    "u64",
    "f64",
    "bytes",
    "timestamp",
    "uuid",
    "json",
];

/// The exchanges at or behind which (through exchange-to-exchange bindings and alternate
/// exchanges) a headers exchange lies, so that header values published to them matter: every
/// exchange that reaches a headers exchange, found in one walk back from all of them.
fn headers_behind(model: &TopologyModel) -> HashSet<&str> {
    // Where a message at an exchange can come from: the exchanges it is bound to, and the
    // exchanges whose alternate it is.
    let mut sources: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, x) in &model.exchanges {
        for b in &x.bindings {
            sources
                .entry(name.as_str())
                .or_default()
                .push(b.exchange.as_str());
        }
        if let Some(alt) = &x.alternate_exchange {
            sources.entry(alt.as_str()).or_default().push(name.as_str());
        }
    }
    let mut todo: Vec<&str> = model
        .exchanges
        .iter()
        .filter(|(_, x)| x.kind == ExchangeKind::Headers)
        .map(|(name, _)| name.as_str())
        .chain(
            super::route::PREDECLARED
                .iter()
                .filter(|(name, kind)| {
                    *kind == ExchangeKind::Headers && !model.exchanges.contains_key(*name)
                })
                .map(|(name, _)| *name),
        )
        .collect();
    let mut reached = HashSet::new();
    while let Some(x) = todo.pop() {
        if reached.insert(x) {
            todo.extend(sources.get(x).into_iter().flatten().copied());
        }
    }
    reached
}

/// Runs every rule.
pub(crate) fn validate(
    files: &[SourceFile],
    model: &TopologyModel,
    origins: &Origins,
    sink: &mut Sink,
) {
    let mut c = Check {
        files,
        model,
        origins,
        sink,
        routes: Routes::new(model),
        headers_behind: headers_behind(model),
        exchange_names: None,
        message_names: None,
        queue_names: None,
    };
    c.table_depths();
    c.exchanges();
    c.queues();
    c.messages();
    let reached = c.producers();
    c.consumers();
    c.tasks();
    c.orphans(&reached);
    c.dead_letter_cycles();
}

impl<'a> Check<'a> {
    fn suggest_exchange(&mut self, name: &str) -> Option<&'a str> {
        let model = self.model;
        self.exchange_names
            .get_or_insert_with(|| Suggester::new(model.exchanges.keys().map(String::as_str)))
            .suggest(name)
    }

    fn suggest_message(&mut self, name: &str) -> Option<&'a str> {
        let model = self.model;
        self.message_names
            .get_or_insert_with(|| Suggester::new(model.messages.keys().map(String::as_str)))
            .suggest(name)
    }

    fn suggest_queue(&mut self, name: &str) -> Option<&'a str> {
        let model = self.model;
        self.queue_names
            .get_or_insert_with(|| Suggester::new(model.queues.keys().map(String::as_str)))
            .suggest(name)
    }

    /// Refuses argument and header tables nested deeper than a file may nest (a model built
    /// in code is not bounded by a parser): code generation follows their nesting.
    fn table_depths(&mut self) {
        let model = self.model;
        let mut tables: Vec<(EntityKind, &str, &FieldTable)> = Vec::new();
        for (name, x) in &model.exchanges {
            tables.push((EntityKind::Exchange, name, &x.arguments));
            for b in &x.bindings {
                tables.push((EntityKind::Exchange, name, &b.headers));
                tables.push((EntityKind::Exchange, name, &b.arguments));
            }
        }
        for (name, q) in &model.queues {
            tables.push((EntityKind::Queue, name, &q.arguments));
            for b in &q.bindings {
                tables.push((EntityKind::Queue, name, &b.headers));
                tables.push((EntityKind::Queue, name, &b.arguments));
            }
        }
        for (name, p) in &model.producers {
            for m in p.methods.values() {
                tables.push((EntityKind::Producer, name, &m.headers));
            }
        }
        for (kind, name, table) in tables {
            if table_depth(table) > MAX_DEPTH {
                let files = self.files;
                let span = self.origin(kind, name);
                self.sink.push(
                    files,
                    Code::LimitExceeded,
                    span,
                    format!(
                        "{} `{name}` has a table nested deeper than {MAX_DEPTH} levels",
                        kind.as_str()
                    ),
                );
            }
        }
    }

    fn origin(&self, kind: EntityKind, name: &str) -> Option<Span> {
        self.origins.get(kind, name)
    }

    fn exchange_exists(&self, name: &str) -> bool {
        self.model.exchanges.contains_key(name) || predeclared(name).is_some()
    }

    fn exchange_kind(&self, name: &str) -> Option<&ExchangeKind> {
        self.model
            .exchanges
            .get(name)
            .map(|x| &x.kind)
            .or_else(|| predeclared(name))
    }

    fn undeclared_exchange(&mut self, name: &Name, what: String) {
        let help = match self.suggest_exchange(name) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("declare it under [exchanges.\"{name}\"]"),
        };
        let files = self.files;
        self.sink
            .push(
                files,
                Code::UndeclaredExchange,
                name.span(),
                format!("{what} names exchange `{name}`, which is not declared"),
            )
            .help(help);
    }

    fn binding(&mut self, b: &BindingDef, of: &str) {
        if b.exchange.is_empty() {
            let files = self.files;
            self.sink
                .push(
                    files,
                    Code::UndeclaredExchange,
                    b.exchange.span(),
                    format!("{of} binds to the default exchange, which RabbitMQ refuses (403 ACCESS_REFUSED)"),
                )
                .help("every queue is already reachable through the default exchange by its name");
            return;
        }
        if !self.exchange_exists(&b.exchange) {
            self.undeclared_exchange(&b.exchange, format!("a binding of {of}"));
            return;
        }
        let kind = self.exchange_kind(&b.exchange).cloned();
        let has_headers = !b.headers.is_empty() || b.match_.is_some();
        if has_headers && kind != Some(ExchangeKind::Headers) {
            let files = self.files;
            self.sink.push(
                files,
                Code::HeadersOnNonHeadersExchange,
                b.exchange.span(),
                format!(
                    "a binding of {of} gives header values, but `{}` is a {} exchange, which ignores them",
                    b.exchange,
                    kind.as_ref().map_or("non-headers", ExchangeKind::as_str)
                ),
            );
        }
        if kind == Some(ExchangeKind::Direct)
            && b.routing_key.split('.').any(|w| w == "*" || w == "#")
        {
            let files = self.files;
            self.sink
                .push(
                    files,
                    Code::WildcardInDirectBinding,
                    b.routing_key.span().or(b.exchange.span()),
                    format!(
                        "binding key `{}` of {of} has wildcards, but `{}` is a direct exchange, which matches keys literally",
                        b.routing_key, b.exchange
                    ),
                )
                .help("make the exchange a topic exchange to match patterns");
        }
    }

    fn exchanges(&mut self) {
        let model = self.model;
        let origins = self.origins;
        for kind in [EntityKind::Exchange, EntityKind::Queue] {
            let names: Vec<&String> = match kind {
                EntityKind::Exchange => model.exchanges.keys().collect(),
                _ => model.queues.keys().collect(),
            };
            for name in &names {
                let span = origins.get(kind, name);
                self.broker_name(kind, name, span);
            }
        }
        for (name, x) in &model.exchanges {
            if let Some(alt) = &x.alternate_exchange {
                if !self.exchange_exists(alt) {
                    self.undeclared_exchange(alt, format!("the alternate exchange of `{name}`"));
                }
            }
            for b in &x.bindings {
                self.binding(b, &format!("exchange `{name}`"));
            }
            let has_alt =
                x.alternate_exchange.is_some() || x.arguments.contains_key("alternate-exchange");
            if !has_alt && !self.routes.has_bindings(name) {
                let files = self.files;
                let span = self.origin(EntityKind::Exchange, name);
                self.sink.push(
                    files,
                    Code::DeadEndExchange,
                    span,
                    format!("nothing is bound to exchange `{name}` and it has no alternate exchange: messages published to it are dropped"),
                );
            }
        }
    }

    fn queues(&mut self) {
        let model = self.model;
        for (name, q) in &model.queues {
            for b in &q.bindings {
                self.binding(b, &format!("queue `{name}`"));
            }
            if let Some(dlx) = &q.dead_letter_exchange {
                if !dlx.is_empty() && !self.exchange_exists(dlx) {
                    let suggestion = self.suggest_exchange(dlx);
                    let files = self.files;
                    let d = self.sink.push(
                        files,
                        Code::UndeclaredDeadLetterExchange,
                        dlx.span(),
                        format!("queue `{name}` dead-letters to exchange `{dlx}`, which is not declared: its dead-lettered messages would be dropped"),
                    );
                    if let Some(m) = suggestion {
                        d.help(format!("did you mean `{m}`?"));
                    }
                }
            }
            let span = self.origin(EntityKind::Queue, name);
            let files = self.files;
            self.queue_type_settings(name, q, span);
            if let Some(t @ (QueueType::Quorum | QueueType::Stream)) = q.queue_type {
                let mut wrong = Vec::new();
                if !q.durable {
                    wrong.push("not durable");
                }
                if q.exclusive {
                    wrong.push("exclusive");
                }
                if q.auto_delete {
                    wrong.push("auto-delete");
                }
                if !wrong.is_empty() {
                    self.sink.push(
                        files,
                        Code::ReplicatedQueueFlags,
                        span,
                        format!(
                            "{} queue `{name}` is {}; RabbitMQ refuses that (406 PRECONDITION_FAILED)",
                            t.as_str(),
                            wrong.join(" and ")
                        ),
                    );
                }
            } else if q.exclusive && q.durable {
                self.sink
                    .push(
                        files,
                        Code::ExclusiveDurable,
                        span,
                        format!("queue `{name}` is exclusive and durable: it is deleted with its connection, so durability buys nothing"),
                    )
                    .help("add `durable = false`, or drop `exclusive`");
            }
        }
    }

    /// Settings another queue type owns (which RabbitMQ refuses), values RabbitMQ does not take,
    /// and at-least-once dead-lettering that would silently be at-most-once.
    fn queue_type_settings(&mut self, name: &str, q: &QueueDef, span: Option<Span>) {
        let kind = q.queue_type.unwrap_or(QueueType::Classic);
        if kind == QueueType::Classic {
            if let Some(key) = q.arguments.keys().find(|k| k.starts_with("x-ha-")) {
                let files = self.files;
                self.sink
                    .push(
                        files,
                        Code::ClassicReplication,
                        span,
                        format!("queue `{name}` asks for mirroring with the argument `{key}`, which RabbitMQ has ignored since 3.0: the queue lives on one node"),
                    )
                    .help("to replicate it, make it a quorum queue (`type = \"quorum\"`)");
            }
        }
        // Each typed key as the argument it is sent as (the replica count is named after the
        // type), set or not.
        let replicas = match kind {
            QueueType::Stream => "x-initial-cluster-size",
            _ => "x-quorum-initial-group-size",
        };
        let typed = [
            ("message_ttl", "x-message-ttl", q.message_ttl.is_some()),
            ("expires", "x-expires", q.expires.is_some()),
            ("max_length", "x-max-length", q.max_length.is_some()),
            ("max_priority", "x-max-priority", q.max_priority.is_some()),
            ("overflow", "x-overflow", q.overflow.is_some()),
            (
                "dead_letter_exchange",
                "x-dead-letter-exchange",
                q.dead_letter_exchange.is_some(),
            ),
            (
                "dead_letter_routing_key",
                "x-dead-letter-routing-key",
                q.dead_letter_routing_key.is_some(),
            ),
            (
                "single_active_consumer",
                "x-single-active-consumer",
                q.single_active_consumer,
            ),
            (
                "delivery_limit",
                "x-delivery-limit",
                q.delivery_limit.is_some(),
            ),
            (
                "dead_letter_strategy",
                "x-dead-letter-strategy",
                q.dead_letter_strategy.is_some(),
            ),
            (
                "initial_group_size",
                replicas,
                q.initial_group_size.is_some(),
            ),
            (
                "leader_locator",
                "x-queue-leader-locator",
                q.leader_locator.is_some(),
            ),
            ("max_age", "x-max-age", q.max_age.is_some()),
            (
                "max_segment_size_bytes",
                "x-stream-max-segment-size-bytes",
                q.max_segment_size_bytes.is_some(),
            ),
        ];
        let mut wrong: Vec<String> = typed
            .iter()
            .filter(|(_, argument, set)| *set && kind.takes_argument(argument) == Some(false))
            .map(|(key, _, _)| format!("`{key}`"))
            .collect();
        wrong.extend(
            q.arguments
                .keys()
                .filter(|key| kind.takes_argument(key) == Some(false))
                .map(|key| format!("`arguments.{key}`")),
        );
        let files = self.files;
        if !wrong.is_empty() {
            self.sink
                .push(
                    files,
                    Code::QueueTypeSetting,
                    span,
                    format!(
                        "{} queue `{name}` sets {}, which {} does not take; RabbitMQ refuses the declaration (406 PRECONDITION_FAILED)",
                        kind.as_str(),
                        wrong.join(", "),
                        match kind {
                            QueueType::Classic => "a classic queue",
                            QueueType::Quorum => "a quorum queue",
                            QueueType::Stream => "a stream",
                        }
                    ),
                )
                .help(match kind {
                    QueueType::Classic => "set `type = \"quorum\"` or `type = \"stream\"` for replicated settings, or drop them",
                    _ => "drop those settings, or change the queue's `type`",
                });
        }
        if q.initial_group_size == Some(0) {
            self.sink.push(
                files,
                Code::QueueTypeSetting,
                span,
                format!("queue `{name}` has `initial_group_size = 0`; RabbitMQ refuses it (at least one node holds the queue)"),
            );
        }
        if let Some(age) = &q.max_age {
            if crate::entity::parse_max_age(age).is_none() {
                self.sink
                    .push(
                        files,
                        Code::QueueTypeSetting,
                        span,
                        format!("queue `{name}` has `max_age = \"{age}\"`; RabbitMQ refuses it (invalid_max_age)"),
                    )
                    .help("a whole number above zero and one of Y, M, D, h, m, s: `\"7D\"`, `\"12h\"`");
            }
        }
        if q.max_segment_size_bytes
            .is_some_and(|n| n == 0 || n > 3_000_000_000)
        {
            self.sink.push(
                files,
                Code::QueueTypeSetting,
                span,
                format!("queue `{name}` has a `max_segment_size_bytes` outside 1..=3,000,000,000, which RabbitMQ refuses"),
            );
        }
        if kind == QueueType::Quorum
            && q.dead_letter_strategy == Some(DeadLetterStrategy::AtLeastOnce)
        {
            let mut missing = Vec::new();
            if q.overflow != Some(crate::Overflow::RejectPublish) {
                missing.push("`overflow = \"reject-publish\"`");
            }
            if q.dead_letter_exchange.is_none() {
                missing.push("a `dead_letter_exchange`");
            }
            if !missing.is_empty() {
                self.sink
                    .push(
                        files,
                        Code::AtLeastOnceFallback,
                        span,
                        format!(
                            "quorum queue `{name}` asks for at-least-once dead-lettering without {}: RabbitMQ dead-letters at most once instead",
                            missing.join(" and ")
                        ),
                    )
                    .help("add them, or set `dead_letter_strategy = \"at-most-once\"`");
            }
        }
    }

    /// Refuses an exchange or queue name RabbitMQ refuses: longer than an AMQP short string,
    /// or with the `amq.` prefix it keeps for itself (403 ACCESS_REFUSED). A file may describe
    /// a predeclared exchange (`amq.topic` as a topic exchange): it is never declared. Rust
    /// identifiers are not a concern here; code generation derives them (kombu-build).
    fn broker_name(&mut self, kind: EntityKind, name: &str, span: Option<Span>) {
        let what = kind.as_str();
        let files = self.files;
        if name.len() > MAX_NAME_BYTES {
            self.sink
                .push(
                    files,
                    Code::InvalidName,
                    span,
                    format!(
                        "{what} name `{}...` is {} bytes long; RabbitMQ refuses names longer than {MAX_NAME_BYTES} bytes",
                        name.chars().take(40).collect::<String>(),
                        name.len()
                    ),
                )
                .help("shorten it");
        }
        if !name.starts_with("amq.") {
            return;
        }
        let described = kind == EntityKind::Exchange
            && predeclared(name)
                .is_some_and(|k| self.model.exchanges.get(name).is_some_and(|x| &x.kind == k));
        if described {
            return;
        }
        let server_named = if kind == EntityKind::Queue && name.starts_with("amq.gen-") {
            " (it is the form of the names RabbitMQ gives server-named queues)"
        } else {
            ""
        };
        self.sink
            .push(
                files,
                Code::InvalidName,
                span,
                format!("{what} `{name}` starts with `amq.`, which RabbitMQ reserves for itself{server_named}: declaring it is refused with 403 ACCESS_REFUSED"),
            )
            .help(format!(
                "rename it without the `amq.` prefix, for example `{}`",
                name.trim_start_matches("amq.")
            ));
    }

    fn fields(&mut self, owner: &str, fields: &IndexMap<Name, At<FieldDef>>, tag: Option<&str>) {
        for (fname, f) in fields {
            if tag == Some(fname.as_str()) {
                let files = self.files;
                self.sink.push(
                    files,
                    Code::InvalidMessage,
                    fname.span(),
                    format!("field `{fname}` of {owner} has the name of the enum's tag field"),
                );
            }
            match parse_type(&f.ty) {
                Err(why) => {
                    let files = self.files;
                    let code = if why.too_deep {
                        Code::LimitExceeded
                    } else {
                        Code::InvalidMessage
                    };
                    self.sink.push(
                        files,
                        code,
                        f.span(),
                        format!("field `{fname}` of {owner}: {}", why.message),
                    );
                }
                Ok(t) => {
                    for m in t.messages() {
                        if !self.model.messages.contains_key(m) {
                            let suggestion = self.suggest_message(m).or_else(|| {
                                crate::suggest::did_you_mean(
                                    m,
                                    SUGGESTED_PRIMITIVES.iter().copied(),
                                )
                            });
                            let files = self.files;
                            let d = self.sink.push(
                                files,
                                Code::UndefinedMessage,
                                f.span(),
                                format!("field `{fname}` of {owner} has type `{m}`, which is neither a primitive type nor a message of this topology"),
                            );
                            if let Some(s) = suggestion {
                                d.help(format!("did you mean `{s}`?"));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Checks Celery tasks: names, parameters, types, routes and limits.
    fn tasks(&mut self) {
        let model: &'a TopologyModel = self.model;
        let files = self.files;
        let mut celery_names: HashMap<&str, &str> = HashMap::new();
        for (tname, t) in &model.tasks {
            let span = self.origin(EntityKind::Task, tname);
            let celery_name = t.name.as_ref().map_or(tname.as_str(), |n| n.as_str());
            if celery_name.is_empty() {
                self.sink.push(
                    files,
                    Code::InvalidTask,
                    t.name.as_ref().and_then(At::span).or(span),
                    format!("task `{tname}` has an empty Celery name"),
                );
            }
            if let Some(other) = celery_names.insert(celery_name, tname) {
                self.sink
                    .push(
                        files,
                        Code::InvalidTask,
                        t.name.as_ref().and_then(At::span).or(span),
                        format!("tasks `{other}` and `{tname}` are both registered as `{celery_name}`: a worker could not tell them apart"),
                    )
                    .help("give one of them another `name`");
            }
            let owner = format!("task `{tname}`");
            self.fields(&owner, &t.args, None);
            self.fields(&owner, &t.kwargs, None);
            for k in t.kwargs.keys() {
                if t.args.contains_key(k.as_str()) {
                    self.sink.push(
                        files,
                        Code::InvalidTask,
                        k.span(),
                        format!(
                            "parameter `{k}` of task `{tname}` is both in `args` and in `kwargs`"
                        ),
                    );
                }
            }
            if let Some(result) = &t.result {
                let mut one = IndexMap::new();
                let ty = FieldDef {
                    ty: result.get().clone(),
                    description: None,
                };
                one.insert(Name::from("result"), At::located(ty, result.span()));
                self.fields(&owner, &one, None);
            }
            let queue = t.queue.as_ref().map_or("celery", |q| q.as_str());
            self.broker_name(
                EntityKind::Queue,
                queue,
                t.queue.as_ref().and_then(At::span).or(span),
            );
            if let (Some(soft), Some(hard)) = (t.soft_time_limit, t.time_limit) {
                if soft > hard {
                    self.sink.push(
                        files,
                        Code::InvalidTask,
                        span,
                        format!("task `{tname}` has a soft time limit ({soft:?}) above its hard one ({hard:?}): the soft one never fires"),
                    );
                }
            }
            match (&t.exchange, &t.routing_key) {
                (None, None) => {}
                (None, Some(key)) => {
                    self.sink.push(
                        files,
                        Code::InvalidTask,
                        key.span(),
                        format!("task `{tname}` has a `routing_key` but no `exchange`: it is sent to its queue directly"),
                    );
                }
                (Some(x), None) => {
                    self.sink.push(
                        files,
                        Code::InvalidTask,
                        x.span(),
                        format!("task `{tname}` is sent to exchange `{x}` without a `routing_key`"),
                    );
                }
                (Some(x), Some(key)) => {
                    if !self.exchange_exists(x) {
                        self.undeclared_exchange(x, owner.clone());
                    } else if model.queues.contains_key(queue) {
                        let reached = self.routes.route(x, key, None);
                        if !reached.contains(queue) {
                            self.sink
                                .push(
                                    files,
                                    Code::InvalidTask,
                                    key.span(),
                                    format!("task `{tname}` is sent to exchange `{x}` with routing key `{key}`, which does not reach its queue `{queue}`: its worker would never see it"),
                                )
                                .help(format!("bind `{queue}` to `{x}` with a key that matches, or fix the key"));
                        }
                    } else {
                        self.sink
                            .push(
                                files,
                                Code::InvalidTask,
                                x.span(),
                                format!("task `{tname}` is sent through exchange `{x}` to queue `{queue}`, which `[queues]` does not declare, so nothing binds it to `{x}`"),
                            )
                            .help(format!("declare queue `{queue}` with a binding from `{x}`"));
                    }
                }
            }
        }
    }

    fn messages(&mut self) {
        let model = self.model;
        for (name, m) in &model.messages {
            let span = self.origin(EntityKind::Message, name);
            self.message_shape(name, m, span);
        }
    }

    fn message_shape(&mut self, name: &str, m: &MessageDef, span: Option<Span>) {
        let forms = [m.rust.is_some(), m.fields.is_some(), m.variants.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        let files = self.files;
        if forms != 1 {
            self.sink
                .push(
                    files,
                    Code::InvalidMessage,
                    span,
                    format!(
                        "message `{name}` must have exactly one of `fields`, `variants` or `rust`, it has {}",
                        if forms == 0 { "none".to_owned() } else { forms.to_string() }
                    ),
                )
                .help("a struct has `fields`, an enum has `tag` and `variants`, an existing type has `rust = \"path::Type\"`");
        }
        if m.variants.is_some() != m.tag.is_some() {
            self.sink.push(
                files,
                Code::InvalidMessage,
                m.tag.as_ref().and_then(At::span).or(span),
                format!("message `{name}`: `tag` and `variants` go together (an enum is dispatched on its tag field)"),
            );
        }
        if let Some(rust) = &m.rust {
            let ok = !rust.is_empty()
                && rust.split("::").enumerate().all(|(i, seg)| {
                    let seg = seg.split('<').next().unwrap_or(seg).trim();
                    let path_keyword = matches!(seg, "crate" | "self" | "super" | "Self");
                    (i == 0 && (seg.is_empty() || path_keyword))
                        || (!seg.is_empty() && problem(seg).is_none())
                });
            if !ok {
                self.sink.push(
                    files,
                    Code::InvalidMessage,
                    rust.span(),
                    format!(
                        "`{rust}` is not a Rust type path (for example `crate::billing::Invoice`)"
                    ),
                );
            }
        }
        if let Some(fields) = &m.fields {
            self.fields(&format!("message `{name}`"), fields, None);
        }
        if let Some(variants) = &m.variants {
            let tag = m.tag.as_ref().map(|t| t.as_str());
            for (vname, v) in variants {
                self.fields(&format!("variant `{vname}` of `{name}`"), &v.fields, tag);
            }
        }
    }

    /// Checks producers; returns, per queue, the producer methods that reach it.
    fn producers(&mut self) -> BTreeMap<String, Vec<(String, &'a Name, &'a Name)>> {
        let model: &'a TopologyModel = self.model;
        let mut reached: BTreeMap<String, Vec<(String, &'a Name, &'a Name)>> = BTreeMap::new();
        for (pname, p) in &model.producers {
            let exchange_ok = p.exchange.is_empty() || self.exchange_exists(&p.exchange);
            if !exchange_ok {
                self.undeclared_exchange(&p.exchange, format!("producer `{pname}`"));
            }
            let kind = self.exchange_kind(&p.exchange).cloned();
            for (mname, method) in &p.methods {
                match model.messages.get(method.message.as_str()) {
                    None => {
                        let suggestion = self.suggest_message(&method.message);
                        let files = self.files;
                        let d = self.sink.push(
                            files,
                            Code::UndefinedMessage,
                            method.message.span(),
                            format!("method `{mname}` of producer `{pname}` sends message `{}`, which is not defined", method.message),
                        );
                        if let Some(s) = suggestion {
                            d.help(format!("did you mean `{s}`?"));
                        }
                    }
                    Some(m) => {
                        if let Some(variant) = &method.variant {
                            let known = m
                                .variants
                                .as_ref()
                                .is_some_and(|v| v.contains_key(variant.as_str()));
                            if !known {
                                let files = self.files;
                                self.sink.push(
                                    files,
                                    Code::InvalidMessage,
                                    variant.span(),
                                    format!("method `{mname}` sends variant `{variant}`, which message `{}` does not have", method.message),
                                );
                            }
                        }
                    }
                }
                if !method.headers.is_empty()
                    && kind.is_some()
                    && !self.headers_behind.contains(p.exchange.as_str())
                {
                    let files = self.files;
                    self.sink.push(
                        files,
                        Code::HeadersOnNonHeadersExchange,
                        mname.span(),
                        format!("method `{mname}` of producer `{pname}` sets header values, but no headers exchange is at or behind `{}`", p.exchange),
                    );
                }
                if !exchange_ok {
                    continue;
                }
                let key = method
                    .routing_key
                    .as_ref()
                    .or(p.routing_key.as_ref())
                    .map_or("", |k| k.as_str());
                let headers = (!method.headers.is_empty()).then_some(&method.headers);
                let queues = self.routes.route(&p.exchange, key, headers);
                if queues.is_empty() {
                    let files = self.files;
                    self.sink.push(
                        files,
                        Code::UnroutedRoute,
                        mname.span(),
                        format!(
                            "method `{mname}` of producer `{pname}` publishes to `{}` with routing key `{key}`, which reaches no queue",
                            if p.exchange.is_empty() { "the default exchange" } else { p.exchange.as_str() }
                        ),
                    );
                }
                for q in queues {
                    reached
                        .entry(q)
                        .or_default()
                        .push((pname.clone(), mname, &method.message));
                }
            }
        }
        self.agreement(&reached);
        reached
    }

    fn agreement(&mut self, reached: &BTreeMap<String, Vec<(String, &Name, &Name)>>) {
        let model = self.model;
        // queue -> (consumer, declared message)
        let mut expects: BTreeMap<&str, Vec<(&str, &At<super::model::ConsumeDef>)>> =
            BTreeMap::new();
        for (cname, c) in &model.consumers {
            let span = self.origin(EntityKind::Consumer, cname);
            if c.concurrency == 0 {
                let files = self.files;
                self.sink.push(
                    files,
                    Code::InvalidValue,
                    span,
                    format!(
                        "consumer `{cname}` has `concurrency = 0`: at least one handler must run"
                    ),
                );
            } else if c.prefetch != 0 && c.concurrency > c.prefetch {
                let files = self.files;
                self.sink
                    .push(
                        files,
                        Code::ConcurrencyAbovePrefetch,
                        span,
                        format!(
                            "consumer `{cname}` runs up to {} handlers at once, but its prefetch of {} lets only {} messages arrive unacknowledged",
                            c.concurrency, c.prefetch, c.prefetch
                        ),
                    )
                    .help(format!("set `prefetch = {}` or more", c.concurrency));
            }
            for (q, consume) in &c.queues {
                expects
                    .entry(q.as_str())
                    .or_default()
                    .push((cname, consume));
            }
        }
        for (queue, consumers) in &expects {
            if let [(first_c, first), rest @ ..] = consumers.as_slice() {
                for (other_c, other) in rest {
                    if other.message != first.message {
                        let files = self.files;
                        self.sink
                            .push(
                                files,
                                Code::TypeDisagreement,
                                other.span(),
                                format!("consumer `{other_c}` expects `{}` on queue `{queue}`, but consumer `{first_c}` expects `{}` there", other.message, first.message),
                            )
                            .related(files, first.span().unwrap_or_default(), format!("`{first_c}` expects `{}` here", first.message));
                    }
                }
            }
            let Some(senders) = reached.get(*queue) else {
                continue;
            };
            let Some((cname, consume)) = consumers.first() else {
                continue;
            };
            if !model.messages.contains_key(&consume.message) {
                continue; // E104 already says so.
            }
            for (pname, mname, message) in senders {
                if model.messages.contains_key(message.as_str())
                    && message.as_str() != consume.message
                {
                    let files = self.files;
                    let d = self.sink.push(
                        files,
                        Code::TypeDisagreement,
                        message.span().or(mname.span()),
                        format!(
                            "method `{mname}` of producer `{pname}` routes `{message}` to queue `{queue}`, but consumer `{cname}` expects `{}` there",
                            consume.message
                        ),
                    );
                    if let Some(s) = consume.span() {
                        d.related(
                            files,
                            s,
                            format!("`{cname}` expects `{}` here", consume.message),
                        );
                    }
                }
            }
        }
    }

    fn consumers(&mut self) {
        let model = self.model;
        for (cname, c) in &model.consumers {
            for (q, consume) in &c.queues {
                if !model.queues.contains_key(q.as_str()) {
                    let suggestion = self.suggest_queue(q);
                    let files = self.files;
                    let d = self.sink.push(
                        files,
                        Code::UndeclaredQueue,
                        q.span(),
                        format!("consumer `{cname}` reads queue `{q}`, which is not declared"),
                    );
                    if let Some(s) = suggestion {
                        d.help(format!("did you mean `{s}`?"));
                    }
                }
                self.offset(cname, q, consume);
                if !model.messages.contains_key(&consume.message) {
                    let suggestion = self.suggest_message(&consume.message);
                    let files = self.files;
                    let d = self.sink.push(
                        files,
                        Code::UndefinedMessage,
                        consume.span(),
                        format!("consumer `{cname}` expects message `{}` on queue `{q}`, which is not defined", consume.message),
                    );
                    if let Some(s) = suggestion {
                        d.help(format!("did you mean `{s}`?"));
                    }
                }
            }
        }
    }

    /// A consumer's stream offset: one RabbitMQ reads (E112), on a stream (W210), and there
    /// when the queue is a stream (W211).
    fn offset(&mut self, cname: &str, q: &Name, consume: &At<ConsumeDef>) {
        let files = self.files;
        let stream = self
            .model
            .queues
            .get(q.as_str())
            .map(|def| def.queue_type == Some(QueueType::Stream));
        match (&consume.offset, stream) {
            (Some(offset), _) if offset.to_stream_offset().is_none() => {
                self.sink
                    .push(
                        files,
                        Code::InvalidStreamOffset,
                        consume.span(),
                        format!("consumer `{cname}` reads queue `{q}` from `offset = {offset}`, which RabbitMQ does not read"),
                    )
                    .help("`\"first\"`, `\"last\"`, `\"next\"`, an offset number, or an age such as `\"7D\"` or `\"12h\"`");
            }
            (Some(offset), Some(false)) => {
                self.sink
                    .push(
                        files,
                        Code::OffsetOnNonStream,
                        consume.span(),
                        format!("consumer `{cname}` reads queue `{q}` from `offset = {offset}`, but `{q}` is not a stream, and RabbitMQ ignores the offset"),
                    )
                    .help(format!("make `{q}` a stream (`type = \"stream\"`), or drop the offset"));
            }
            (None, Some(true)) => {
                self.sink
                    .push(
                        files,
                        Code::StreamWithoutOffset,
                        consume.span(),
                        format!("consumer `{cname}` reads stream `{q}` without an `offset`: it starts at `next`, and skips what was written while it was not running"),
                    )
                    .help("say where it starts (`offset = \"first\"`, `\"next\"`, or an age such as `\"1h\"`), and start its typed consumer with an offset store (`start_with_offsets`) to resume where it stopped");
            }
            _ => {}
        }
    }

    fn orphans<T>(&mut self, reached: &BTreeMap<String, T>) {
        let model = self.model;
        let consumed: BTreeSet<&str> = model
            .consumers
            .values()
            .flat_map(|c| c.queues.keys().map(|k| k.as_str()))
            // A task's queue: its client sends to it and its worker consumes it.
            .chain(
                (model.tasks.values()).map(|t| t.queue.as_ref().map_or("celery", |q| q.as_str())),
            )
            .collect();
        let dead_letter_targets: BTreeSet<String> = model
            .queues
            .iter()
            .filter_map(|(_, q)| {
                let dlx = q.dead_letter_exchange.as_ref()?;
                q.dead_letter_routing_key.as_ref().map(|k| (dlx, k))
            })
            .filter(|(dlx, _)| dlx.is_empty())
            .map(|(_, k)| k.clone())
            .collect();
        for (name, q) in &model.queues {
            if q.bindings.is_empty()
                && !consumed.contains(name.as_str())
                && !reached.contains_key(name)
                && !dead_letter_targets.contains(name)
            {
                let files = self.files;
                let span = self.origin(EntityKind::Queue, name);
                self.sink.push(
                    files,
                    Code::OrphanQueue,
                    span,
                    format!("queue `{name}` has no bindings, no consumer, and no producer publishes to it by name"),
                );
            }
        }
    }

    fn dead_letter_cycles(&mut self) {
        let model = self.model;
        // Where each queue's dead letters go: the dead-letter routing key if set, else the
        // keys messages arrived with (its binding keys, or its name through the default
        // exchange).
        let mut next: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (name, q) in &model.queues {
            let Some(dlx) = &q.dead_letter_exchange else {
                continue;
            };
            let keys: Vec<&str> = match &q.dead_letter_routing_key {
                Some(k) => vec![k.as_str()],
                None => q
                    .bindings
                    .iter()
                    .map(|b| b.routing_key.as_str())
                    .chain([name.as_str()])
                    .collect(),
            };
            let mut targets = BTreeSet::new();
            for k in keys {
                targets.extend(self.routes.route(dlx, k, None));
            }
            next.insert(name, targets);
        }
        // A cycle without a TTL is a cycle among the queues without one: the strongly
        // connected components of that graph (one walk, however long the chains) each hold
        // one, reported from the component's first queue by name.
        let names: Vec<&str> = next
            .keys()
            .copied()
            .filter(|q| {
                model
                    .queues
                    .get(*q)
                    .is_some_and(|q| q.message_ttl.is_none())
            })
            .collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, q)| (*q, i)).collect();
        let edges: Vec<Vec<usize>> = names
            .iter()
            .map(|q| {
                next.get(q)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| index.get(t.as_str()).copied())
                    .collect()
            })
            .collect();
        let component = components(&edges);
        let mut reported = HashSet::new();
        for (start, &c) in component.iter().enumerate() {
            if !reported.insert(c) {
                continue;
            }
            let Some(cycle) = shortest_cycle(&edges, &component, start) else {
                continue;
            };
            let files = self.files;
            let span = names
                .get(start)
                .and_then(|q| model.queues.get(*q))
                .and_then(|q| q.dead_letter_exchange.as_ref())
                .and_then(At::span);
            let shown: Vec<String> = cycle
                .iter()
                .chain([&start])
                .filter_map(|&i| names.get(i))
                .map(|q| format!("`{q}`"))
                .collect();
            self.sink
                .push(
                    files,
                    Code::DeadLetterCycle,
                    span,
                    format!(
                        "dead-letter cycle without a message TTL: {}",
                        shown.join(" -> ")
                    ),
                )
                .help("add `message_ttl` to one queue of the cycle to make a delayed retry loop");
        }
    }
}

/// How many levels of tables and lists a table nests (itself included), walked without
/// recursion.
fn table_depth(table: &FieldTable) -> usize {
    let mut deepest = 1;
    let mut todo: Vec<(&FieldValue, usize)> = table.values().map(|v| (v, 2)).collect();
    while let Some((value, depth)) = todo.pop() {
        match value {
            FieldValue::Table(t) => {
                deepest = deepest.max(depth);
                todo.extend(t.values().map(|v| (v, depth + 1)));
            }
            FieldValue::Array(items) => {
                deepest = deepest.max(depth);
                todo.extend(items.iter().map(|v| (v, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// The strongly connected component of each node of a graph given by its edges (Tarjan's
/// algorithm, with an explicit stack so that a long chain cannot overflow the real one).
/// Components are numbered from 0 in the order they complete.
fn components(edges: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut component = vec![UNSEEN; n];
    let mut open: Vec<usize> = Vec::new();
    let mut on_open = vec![false; n];
    let mut calls: Vec<(usize, usize)> = Vec::new();
    let mut next_order = 0;
    let mut next_component = 0;
    for root in 0..n {
        if order[root] != UNSEEN {
            continue;
        }
        order[root] = next_order;
        low[root] = next_order;
        next_order += 1;
        open.push(root);
        on_open[root] = true;
        calls.push((root, 0));
        while let Some(&(v, at)) = calls.last() {
            if let Some(&w) = edges[v].get(at) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                if order[w] == UNSEEN {
                    order[w] = next_order;
                    low[w] = next_order;
                    next_order += 1;
                    open.push(w);
                    on_open[w] = true;
                    calls.push((w, 0));
                } else if on_open[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                while let Some(w) = open.pop() {
                    on_open[w] = false;
                    component[w] = next_component;
                    if w == v {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

/// The shortest cycle from `start` back to itself within its component, as the nodes from
/// `start` on (without the return to it), if there is one.
fn shortest_cycle(edges: &[Vec<usize>], component: &[usize], start: usize) -> Option<Vec<usize>> {
    let c = component.get(start)?;
    let mut came_from: HashMap<usize, usize> = HashMap::new();
    let mut todo = VecDeque::from([start]);
    while let Some(v) = todo.pop_front() {
        for &w in edges.get(v)? {
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while let Some(&p) = came_from.get(&at) {
                    path.push(p);
                    at = p;
                }
                path.reverse();
                return Some(path);
            }
            if component.get(w) == Some(c) && w != start && !came_from.contains_key(&w) {
                came_from.insert(w, v);
                todo.push_back(w);
            }
        }
    }
    None
}
