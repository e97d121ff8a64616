//! Topology files: exchanges, queues, bindings, message types, producers and consumers, read
//! from TOML, YAML or JSON into one model, checked, and declared.
//!
//! ```
//! use kombu::topology::Topology;
//!
//! let topology = Topology::from_toml_str(r#"
//! version = 1
//!
//! [exchanges.media]
//! type = "direct"
//!
//! [queues.video]
//! bindings = [{ exchange = "media", routing_key = "video" }]
//!
//! [messages.video]
//! fields.url = "string"
//!
//! [producers.media]
//! exchange = "media"
//! methods.publish_video = { message = "video", routing_key = "video" }
//!
//! [consumers.transcoder]
//! queues.video = "video"
//! "#).unwrap();
//! assert_eq!(topology.route("media", "video", None), ["video".to_owned()].into());
//! assert!(topology.warnings().is_empty());
//! ```
//!
//! The pipeline is parse (`node`: any format into spanned nodes) → decode (`de`, `load`:
//! nodes into `model` types, composing several files) → validate (`validate`: semantic
//! errors and lint); `compat` compares the message types with an older version's
//! ([`check_compatibility`], `kombu check --against`). Every diagnostic has a stable [`Code`]
//! and a place. This module owns the
//! file model and its checks; code generation from it lives in `kombu-build`.

mod compat;
mod de;
mod diagnostic;
mod effective;
mod ident;
mod load;
mod model;
mod node;
mod policy;
mod route;
mod schema;
mod source;
mod types;
mod validate;

use std::path::Path;

pub use compat::{check_compatibility, message_breaks, BreakDirection, MessageBreak};
pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use effective::{effective, Effective, EffectiveSetting, PolicyMatch, SettingSource};
pub use ident::{fn_ident, type_ident};
pub use model::{
    At, BindingDef, Compatibility, ConfirmPolicy, ConsumeDef, ConsumerDef, ExchangeDef, FieldDef,
    HeadersMatch, MessageDef, MethodDef, Name, ProducerDef, QueueDef, TaskDef, TopologyModel,
    VariantDef,
};
pub use policy::{
    ApplyTo, DeadLetterStrategy, HaMode, HaParams, HaPromote, HaSyncMode, LeaderLocator,
    MasterLocator, PolicyDef, PolicyDefinition, PolicyValue, QueueMode, OPERATOR_POLICY_KEYS,
    POLICY_KEYS,
};
pub use route::{predeclared, Hop, RoutePath, Routes, PREDECLARED};
pub use schema::json_schema;
pub use source::{FileId, Format, Location, Pos, SourceFile, Span};
pub use types::{Primitive, TypeExpr};

use crate::{Binding, Channel, Exchange, FieldTable, FieldValue, Queue, QueueType};

/// The kinds of named entity in a topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EntityKind {
    /// An exchange.
    Exchange,
    /// A queue.
    Queue,
    /// A message type.
    Message,
    /// A producer.
    Producer,
    /// A consumer.
    Consumer,
    /// A Celery task.
    Task,
    /// A policy.
    Policy,
    /// An operator policy.
    OperatorPolicy,
}

impl EntityKind {
    /// The word for it in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Exchange => "exchange",
            EntityKind::Queue => "queue",
            EntityKind::Message => "message",
            EntityKind::Producer => "producer",
            EntityKind::Consumer => "consumer",
            EntityKind::Task => "task",
            EntityKind::Policy => "policy",
            EntityKind::OperatorPolicy => "operator policy",
        }
    }
}

/// A checked topology: the composed model of one or more files, where each entity came from,
/// and the warnings the lint found.
#[derive(Debug, Clone)]
pub struct Topology {
    files: Vec<SourceFile>,
    model: TopologyModel,
    origins: load::Origins,
    warnings: Vec<Diagnostic>,
}

impl Topology {
    /// Reads one file; the format comes from its extension.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Topology, Diagnostics> {
        Topology::from_paths([path])
    }

    /// Reads several files that compose into one topology (for example one per service).
    pub fn from_paths<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Topology, Diagnostics> {
        let mut files = Vec::new();
        let mut sink = diagnostic::Sink::default();
        for path in paths {
            let path = path.as_ref();
            let name = path.display().to_string();
            let Some(format) = Format::from_path(path) else {
                sink.push(
                    &files,
                    Code::Io,
                    None,
                    format!(
                        "{name}: unknown topology file format (use .toml, .yaml, .yml or .json)"
                    ),
                );
                continue;
            };
            match std::fs::read_to_string(path) {
                Ok(text) => files.push(SourceFile::new(name, format, text)),
                Err(e) => {
                    sink.push(&files, Code::Io, None, format!("{name}: {e}"));
                }
            }
        }
        Topology::build(files, sink)
    }

    /// Reads TOML text (named `<toml>` in messages).
    pub fn from_toml_str(text: &str) -> Result<Topology, Diagnostics> {
        Topology::from_sources([SourceFile::new("<toml>", Format::Toml, text)])
    }

    /// Reads YAML text (named `<yaml>` in messages).
    pub fn from_yaml_str(text: &str) -> Result<Topology, Diagnostics> {
        Topology::from_sources([SourceFile::new("<yaml>", Format::Yaml, text)])
    }

    /// Reads JSON text (named `<json>` in messages).
    pub fn from_json_str(text: &str) -> Result<Topology, Diagnostics> {
        Topology::from_sources([SourceFile::new("<json>", Format::Json, text)])
    }

    /// Reads files already in memory, composing them in order.
    pub fn from_sources(
        files: impl IntoIterator<Item = SourceFile>,
    ) -> Result<Topology, Diagnostics> {
        Topology::build(files.into_iter().collect(), diagnostic::Sink::default())
    }

    /// Checks a model built in code (no file places in its diagnostics).
    pub fn from_model(model: TopologyModel) -> Result<Topology, Diagnostics> {
        let mut sink = diagnostic::Sink::default();
        if model.version != load::VERSION {
            sink.push(
                &[],
                Code::Version,
                None,
                format!(
                    "unsupported version {}; this kombu reads version {}",
                    model.version,
                    load::VERSION
                ),
            );
        }
        Topology::finish(Vec::new(), model, load::Origins::default(), sink)
    }

    fn build(files: Vec<SourceFile>, mut sink: diagnostic::Sink) -> Result<Topology, Diagnostics> {
        let (model, origins) = load::load(&files, &mut sink);
        Topology::finish(files, model, origins, sink)
    }

    fn finish(
        files: Vec<SourceFile>,
        model: TopologyModel,
        origins: load::Origins,
        mut sink: diagnostic::Sink,
    ) -> Result<Topology, Diagnostics> {
        // Semantic checks run on a model that decoded cleanly: on a partial one they would
        // report the missing parts again as dangling references.
        if !sink.has_errors() {
            validate::validate(&files, &model, &origins, &mut sink);
            policy::validate(&files, &model, &origins, &mut sink);
        }
        if sink.has_errors() {
            return Err(Diagnostics::new(sink.items));
        }
        let mut topology = Topology {
            files,
            model,
            origins,
            warnings: Vec::new(),
        };
        // The policy lint needs the entities as declared (their arguments), which only a
        // checked topology gives.
        effective::lint(&topology, &topology.origins, &mut sink);
        topology.warnings = Diagnostics::new(sink.items).iter().cloned().collect();
        Ok(topology)
    }

    /// The effective configuration of a queue or exchange declared in `vhost`: which policies
    /// apply and where each setting comes from (see [`effective`]).
    pub fn effective(&self, vhost: &str, kind: EntityKind, name: &str) -> Option<Effective> {
        effective::effective(self, vhost, kind, name)
    }

    /// The composed model.
    pub fn model(&self) -> &TopologyModel {
        &self.model
    }

    /// The warnings the lint found (the topology loaded despite them).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The files the topology was read from, in order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Where an entity was (first) declared.
    pub fn origin(&self, kind: EntityKind, name: &str) -> Option<Location> {
        Location::resolve(&self.files, self.origins.get(kind, name)?)
    }

    /// Resolves a span of this topology (from an [`At`] value) to a location.
    pub fn locate(&self, span: Span) -> Option<Location> {
        Location::resolve(&self.files, span)
    }

    /// The queues a message published to `exchange` with `routing_key` (and `headers`, for
    /// headers exchanges) reaches, by RabbitMQ's routing rules.
    pub fn route(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: Option<&FieldTable>,
    ) -> std::collections::BTreeSet<String> {
        Routes::new(&self.model).route(exchange, routing_key, headers)
    }

    /// The runtime declaration of an exchange, with its exchange-to-exchange bindings (the
    /// sources without their own bindings). Predeclared `amq.*` exchanges are returned too.
    pub fn exchange(&self, name: &str) -> Option<Exchange> {
        let Some(def) = self.model.exchanges.get(name) else {
            return self.shallow_exchange(name);
        };
        let mut x = self.shallow_exchange(name)?;
        x.bindings = def
            .bindings
            .iter()
            .filter_map(|b| self.runtime_binding(b))
            .collect();
        Some(x)
    }

    fn shallow_exchange(&self, name: &str) -> Option<Exchange> {
        if name.is_empty() {
            return Some(Exchange::default_exchange());
        }
        match self.model.exchanges.get(name) {
            Some(def) => {
                let mut x = Exchange::new(name, def.kind.clone())
                    .durable(def.durable)
                    .auto_delete(def.auto_delete)
                    .internal(def.internal);
                for (k, v) in &def.arguments {
                    x = x.argument(k.clone(), v.clone());
                }
                if let Some(alt) = &def.alternate_exchange {
                    x = x.alternate_exchange(alt.get().clone());
                }
                Some(x)
            }
            None => predeclared(name).map(|kind| Exchange::new(name, kind.clone())),
        }
    }

    fn runtime_binding(&self, b: &BindingDef) -> Option<Binding> {
        let source = self.shallow_exchange(&b.exchange)?;
        let mut binding = Binding::new(source, b.routing_key.get().clone());
        for (k, v) in b.binding_arguments() {
            binding = binding.argument(k, v);
        }
        Some(binding)
    }

    /// The runtime declaration of a queue, with its bindings, its settings as the arguments
    /// the broker receives ([`Queue::into_arguments_form`]).
    ///
    /// This is the one mapping from a file's queue to a declaration: kombu-build generates
    /// code from what it returns, so a setting added here reaches generated code unchanged.
    pub fn queue(&self, name: &str) -> Option<Queue> {
        let def = self.model.queues.get(name)?;
        let mut q = Queue::new(name)
            .durable(def.durable)
            .exclusive(def.exclusive)
            .auto_delete(def.auto_delete);
        for (k, v) in &def.arguments {
            q = q.argument(k.clone(), v.clone());
        }
        if let Some(t) = def.queue_type {
            q = q.queue_type(t);
        }
        if let Some(d) = def.message_ttl {
            q = q.message_ttl(d);
        }
        if let Some(d) = def.expires {
            q = q.expires(d);
        }
        if let Some(n) = def.max_length {
            q = q.max_length(n);
        }
        if let Some(n) = def.max_length_bytes {
            q = q.max_length_bytes(n);
        }
        if let Some(n) = def.max_priority {
            q = q.max_priority(n);
        }
        if let Some(o) = def.overflow {
            q = q.overflow(o);
        }
        if let Some(x) = &def.dead_letter_exchange {
            q = q.dead_letter_exchange(x.get().clone());
        }
        if let Some(k) = &def.dead_letter_routing_key {
            q = q.dead_letter_routing_key(k.clone());
        }
        if def.single_active_consumer {
            q = q.argument("x-single-active-consumer", true);
        }
        if let Some(n) = def.delivery_limit {
            q = q.argument("x-delivery-limit", FieldValue::int(n.into()));
        }
        if let Some(n) = def.initial_group_size {
            let key = match def.queue_type {
                Some(QueueType::Stream) => "x-initial-cluster-size",
                _ => "x-quorum-initial-group-size",
            };
            q = q.argument(key, FieldValue::int(n.into()));
        }
        if let Some(l) = def.leader_locator {
            q = q.argument("x-queue-leader-locator", l.as_str());
        }
        if let Some(s) = def.dead_letter_strategy {
            q = q.argument("x-dead-letter-strategy", s.as_str());
        }
        if let Some(age) = &def.max_age {
            q = q.argument("x-max-age", age.as_str());
        }
        if let Some(n) = def.max_segment_size_bytes {
            q = q.argument(
                "x-stream-max-segment-size-bytes",
                FieldValue::int(i64::try_from(n).unwrap_or(i64::MAX)),
            );
        }
        for b in &def.bindings {
            if let Some(binding) = self.runtime_binding(b) {
                q = q.binding(binding);
            }
        }
        Some(q.into_arguments_form())
    }

    /// Every exchange, as runtime declarations, in file order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.model
            .exchanges
            .keys()
            .filter_map(|n| self.exchange(n))
            .collect()
    }

    /// Every queue, as runtime declarations, in file order.
    pub fn queues(&self) -> Vec<Queue> {
        self.model
            .queues
            .keys()
            .filter_map(|n| self.queue(n))
            .collect()
    }

    /// Declares every exchange, queue and binding on `channel`, on any transport: first the
    /// exchanges (with their exchange-to-exchange bindings), then the queues with theirs.
    pub async fn declare_all(&self, channel: &Channel) -> crate::Result<()> {
        channel.require_declare("the topology")?;
        for x in self.exchanges() {
            channel.declare_exchange(&x).await?;
        }
        for q in self.queues() {
            channel.declare_queue(&q).await?;
        }
        Ok(())
    }
}

impl TopologyModel {
    /// The model as a TOML file.
    pub fn to_toml_string(&self) -> crate::Result<String> {
        toml::to_string_pretty(self).map_err(|e| {
            crate::Error::new(crate::ErrorKind::Encode, format!("topology to TOML: {e}"))
        })
    }

    /// The model as a YAML file.
    pub fn to_yaml_string(&self) -> crate::Result<String> {
        serde_norway::to_string(self).map_err(|e| {
            crate::Error::new(crate::ErrorKind::Encode, format!("topology to YAML: {e}"))
        })
    }

    /// The model as a JSON file.
    pub fn to_json_string(&self) -> crate::Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| {
            crate::Error::new(crate::ErrorKind::Encode, format!("topology to JSON: {e}"))
        })
    }
}
