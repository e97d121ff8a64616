//! The topology file format as Rust types: what a file may say, with defaults.
//!
//! These types are the format. serde reads them (through [`super::de`], which adds places to
//! errors), serde writes them back (TOML, YAML, JSON), and schemars turns them into
//! `schemas/topology.schema.json`. Meaning beyond the shape — do the names refer to anything,
//! does the routing work — is [`super::validate`]'s business.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::policy::{DeadLetterStrategy, LeaderLocator};
use super::source::{FileId, Pos, Span};
use crate::{DeliveryMode, ExchangeKind, FailurePolicy, FieldTable, Overflow, QueueType};

pub(crate) const AT_NAME: &str = "$kombu::At";
pub(crate) const AT_SPAN: &str = "$kombu::At::span";
pub(crate) const AT_VALUE: &str = "$kombu::At::value";

/// A value with the place it was read from. Compares, hashes and serializes as the bare
/// value: two files that say the same thing are equal wherever they say it.
#[derive(Clone, Default)]
pub struct At<T> {
    value: T,
    span: Option<Span>,
}

impl<T> At<T> {
    /// A value with no place (built in code).
    pub fn new(value: T) -> Self {
        At { value, span: None }
    }

    /// A value with the place it was read from.
    pub(crate) fn located(value: T, span: Option<Span>) -> Self {
        At { value, span }
    }

    /// Where the value was read, if it was read from a file.
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    /// The value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The value, without the place.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for At<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> From<T> for At<T> {
    fn from(value: T) -> Self {
        At::new(value)
    }
}

impl From<&str> for At<String> {
    fn from(value: &str) -> Self {
        At::new(value.to_owned())
    }
}

impl<T: fmt::Debug> fmt::Debug for At<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: fmt::Display> fmt::Display for At<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for At<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for At<T> {}

impl<T: Hash> Hash for At<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl Borrow<str> for At<String> {
    fn borrow(&self) -> &str {
        &self.value
    }
}

impl<T: Serialize> Serialize for At<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AtVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for AtVisitor<T> {
            type Value = At<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<At<T>, D::Error> {
                T::deserialize(d).map(At::new)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<At<T>, A::Error> {
                let _: Option<String> = map.next_key()?;
                let packed: Vec<u32> = map.next_value()?;
                let _: Option<String> = map.next_key()?;
                let value: T = map.next_value()?;
                let span = match packed.as_slice() {
                    [file, sl, sc, el, ec] => Some(Span {
                        file: FileId(*file),
                        start: Pos {
                            line: *sl,
                            column: *sc,
                        },
                        end: Pos {
                            line: *el,
                            column: *ec,
                        },
                    }),
                    _ => None,
                };
                Ok(At { value, span })
            }
        }
        d.deserialize_newtype_struct(AT_NAME, AtVisitor(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for At<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// A name with its place, as used for table keys and references.
pub type Name = At<String>;

fn yes() -> bool {
    true
}
fn is_true(v: &bool) -> bool {
    *v
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The whole file: a version, and entities in tables keyed by name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "kombu topology",
    description = "Exchanges, queues, bindings, message types, producers and consumers of a kombu topology (https://example.invalid/kombu/docs/topology.md)."
)]
pub struct TopologyModel {
    /// The editor schema this file follows (JSON files only; TOML and YAML use a comment).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Version of the format. Always `1`.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// What this topology is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Exchanges, by the name the broker knows them under.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub exchanges: IndexMap<String, ExchangeDef>,
    /// Queues, by the name the broker knows them under.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub queues: IndexMap<String, QueueDef>,
    /// Message types, by name (`video` becomes the Rust type `Video`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub messages: IndexMap<String, MessageDef>,
    /// Producers, by name (`media` becomes `MediaProducer`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub producers: IndexMap<String, ProducerDef>,
    /// Consumers, by name (`media_worker` becomes `MediaWorkerConsumer`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub consumers: IndexMap<String, ConsumerDef>,
    /// Celery tasks, by name (`add` becomes the method `add` of the generated `TaskClient`
    /// and of the `TaskHandler` trait).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tasks: IndexMap<String, TaskDef>,
    /// Policies, by the name the broker knows them under.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub policies: IndexMap<String, super::policy::PolicyDef>,
    /// Operator policies (set by the operator, capping what policies and arguments ask), by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub operator_policies: IndexMap<String, super::policy::PolicyDef>,
}

/// An exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeDef {
    /// What the exchange is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Rust identifier of its function in generated code (its constant is the upper case),
    /// instead of the one derived from its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_name: Option<At<String>>,
    /// The exchange type: `direct` (default), `fanout`, `topic`, `headers`, or a plugin type.
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "exchange_kind"
    )]
    pub kind: ExchangeKind,
    /// Survives a broker restart.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    #[schemars(default = "yes")]
    pub durable: bool,
    /// Deleted when its last binding is removed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auto_delete: bool,
    /// Only reachable through exchange-to-exchange bindings, not by publishing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    /// Where messages that match no binding go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_exchange: Option<Name>,
    /// Other declaration arguments, sent as given.
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub arguments: FieldTable,
    /// Exchange-to-exchange bindings: this exchange receives what each source routes to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<BindingDef>,
}

impl Default for ExchangeDef {
    fn default() -> Self {
        ExchangeDef {
            description: None,
            rust_name: None,
            kind: ExchangeKind::Direct,
            durable: true,
            auto_delete: false,
            internal: false,
            alternate_exchange: None,
            arguments: FieldTable::new(),
            bindings: Vec::new(),
        }
    }
}

/// An exchange type: a built-in one, or a plugin's (whose names start with `x-`); anything
/// else RabbitMQ refuses, so it is refused here with a did-you-mean.
fn exchange_kind<'de, D: Deserializer<'de>>(d: D) -> Result<ExchangeKind, D::Error> {
    const BUILT_IN: &[&str] = &["direct", "fanout", "topic", "headers"];
    let name = String::deserialize(d)?;
    if BUILT_IN.contains(&name.as_str()) || name.starts_with("x-") {
        Ok(ExchangeKind::from(name.as_str()))
    } else {
        Err(de::Error::unknown_variant(&name, BUILT_IN))
    }
}

/// How a headers binding matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HeadersMatch {
    /// Every header must match (`x-match: all`, the default).
    #[default]
    All,
    /// One matching header is enough.
    Any,
    /// As `all`, counting `x-` headers too.
    AllWithX,
    /// As `any`, counting `x-` headers too.
    AnyWithX,
}

impl HeadersMatch {
    /// The `x-match` value.
    pub fn as_str(self) -> &'static str {
        match self {
            HeadersMatch::All => "all",
            HeadersMatch::Any => "any",
            HeadersMatch::AllWithX => "all-with-x",
            HeadersMatch::AnyWithX => "any-with-x",
        }
    }
}

/// A binding from a source exchange (to a queue, or to an exchange).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingDef {
    /// The source exchange.
    pub exchange: Name,
    /// The binding key (`*` and `#` are wildcards on topic exchanges only).
    #[serde(default, skip_serializing_if = "is_empty_name")]
    pub routing_key: Name,
    /// Header values to match (headers exchanges).
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub headers: FieldTable,
    /// How the headers match (headers exchanges).
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_: Option<HeadersMatch>,
    /// Other binding arguments, sent as given.
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub arguments: FieldTable,
    /// What the binding is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn is_empty_name(n: &Name) -> bool {
    n.is_empty()
}

impl BindingDef {
    /// The arguments sent with the bind: `arguments`, then `x-match` and the header values.
    pub fn binding_arguments(&self) -> FieldTable {
        let mut args = self.arguments.clone();
        if self.match_.is_some() || !self.headers.is_empty() {
            args.insert(
                "x-match".to_owned(),
                self.match_.unwrap_or_default().as_str().into(),
            );
        }
        for (k, v) in &self.headers {
            args.insert(k.clone(), v.clone());
        }
        args
    }
}

/// A queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueDef {
    /// What the queue is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Rust identifier of its function in generated code (its constant is the upper case),
    /// instead of the one derived from its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_name: Option<At<String>>,
    /// Survives a broker restart.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    #[schemars(default = "yes")]
    pub durable: bool,
    /// Owned by the declaring connection and deleted with it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclusive: bool,
    /// Deleted when its last consumer cancels.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auto_delete: bool,
    /// `x-queue-type`: `classic`, `quorum` or `stream` (the broker's default when absent).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub queue_type: Option<QueueType>,
    /// `x-message-ttl`: a duration with its unit (`"2000ms"`, `"30s"`, `"5m"`).
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub message_ttl: Option<Duration>,
    /// `x-expires`: the queue is deleted after being unused this long.
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub expires: Option<Duration>,
    /// `x-max-length`: the most messages the queue holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// `x-max-length-bytes`: the most body bytes the queue holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length_bytes: Option<u64>,
    /// `x-max-priority`: enables priorities 0..=max (at most 255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority: Option<u8>,
    /// `x-overflow`: `drop-head` (default), `reject-publish` or `reject-publish-dlx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Overflow>,
    /// `x-dead-letter-exchange`: where rejected, expired and dropped messages go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<Name>,
    /// `x-dead-letter-routing-key`: the key dead-lettered messages are republished with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_routing_key: Option<String>,
    /// `x-single-active-consumer`: only one consumer receives at a time.
    #[serde(default, skip_serializing_if = "is_false")]
    pub single_active_consumer: bool,
    /// `x-delivery-limit` (quorum queues): how many times a message may be returned to the
    /// queue before it is dropped or dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_limit: Option<u32>,
    /// How many nodes hold a replica when the queue is declared (default: every node):
    /// `x-quorum-initial-group-size` of a quorum queue, `x-initial-cluster-size` of a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub initial_group_size: Option<u32>,
    /// `x-queue-leader-locator` (quorum queues and streams): where the leader is placed,
    /// `client-local` (the declaring connection's node) or `balanced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_locator: Option<LeaderLocator>,
    /// `x-dead-letter-strategy` (quorum queues): `at-most-once` (the default) or
    /// `at-least-once` (dead letters republished with confirms; needs `overflow =
    /// "reject-publish"` and a `dead_letter_exchange`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_strategy: Option<DeadLetterStrategy>,
    /// `x-max-age` (streams): how long segments are kept, in RabbitMQ's form: a number and one
    /// of `Y`, `M`, `D`, `h`, `m`, `s` (`"7D"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^0*[1-9][0-9]*[YMDhms]$"))]
    pub max_age: Option<String>,
    /// `x-stream-max-segment-size-bytes` (streams): the size of a segment file (at most
    /// 3,000,000,000; RabbitMQ's default is 500 MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3_000_000_000u64))]
    pub max_segment_size_bytes: Option<u64>,
    /// Other declaration arguments, sent as given (the typed keys above win).
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub arguments: FieldTable,
    /// Where the queue receives messages from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<BindingDef>,
}

impl Default for QueueDef {
    fn default() -> Self {
        QueueDef {
            description: None,
            rust_name: None,
            durable: true,
            exclusive: false,
            auto_delete: false,
            queue_type: None,
            message_ttl: None,
            expires: None,
            max_length: None,
            max_length_bytes: None,
            max_priority: None,
            overflow: None,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
            single_active_consumer: false,
            delivery_limit: None,
            initial_group_size: None,
            leader_locator: None,
            dead_letter_strategy: None,
            max_age: None,
            max_segment_size_bytes: None,
            arguments: FieldTable::new(),
            bindings: Vec::new(),
        }
    }
}

/// The schema of a duration: a string with its unit.
pub(crate) struct DurationSchema;

impl JsonSchema for DurationSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number with its unit: ms, s, m, h, d (`\"2000ms\"`, `\"30s\"`, `\"5m\"`). A bare number is refused: 2000 would be 2000 ms or 2000 s.",
            "type": "string",
            "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h|d)\\s*$"
        })
    }
}

/// A message type: a struct (`fields`), an enum dispatched on a tag field (`tag` and
/// `variants`), or an existing Rust type (`rust`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageDef {
    /// What the message means; becomes the type's doc comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The name of its generated Rust type, instead of the one derived from its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_name: Option<At<String>>,
    /// A path to an existing Rust type (`crate::billing::Invoice`) instead of a definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust: Option<At<String>>,
    /// The fields of a struct message, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<IndexMap<Name, At<FieldDef>>>,
    /// The tag field that names the variant of an enum message (`action`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Name>,
    /// The variants of an enum message, by tag value (`import_feed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<IndexMap<Name, VariantDef>>,
    /// Which changes `kombu check --against OLD` lets through (`backward` when absent): see
    /// [`Compatibility`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<Compatibility>,
}

/// How a message type may change between deployed versions of a topology, as schema
/// registries say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    /// New consumers read old messages: add optional fields, remove fields, add variants,
    /// widen types. Deploy consumers first.
    #[default]
    Backward,
    /// Old consumers read new messages: add fields, remove optional fields, remove variants,
    /// narrow types. Deploy producers first.
    Forward,
    /// Both: add or remove optional fields only.
    Full,
    /// Any change.
    None,
}

impl Compatibility {
    /// What both modes protect: `full` if they protect different directions.
    pub fn join(self, other: Compatibility) -> Compatibility {
        use Compatibility::*;
        match (self, other) {
            (None, m) | (m, None) => m,
            (a, b) if a == b => a,
            _ => Full,
        }
    }

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::Backward => "backward",
            Compatibility::Forward => "forward",
            Compatibility::Full => "full",
            Compatibility::None => "none",
        }
    }
}

/// One variant of an enum message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantDef {
    /// What the variant means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The variant's fields (beside the tag), in order.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub fields: IndexMap<Name, At<FieldDef>>,
}

/// A field: its type (`"string"`, `"optional<u32>"`, `"list<video>"`), and optionally a
/// description. Written as the type alone, or as a table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldDef {
    /// The type expression.
    pub ty: String,
    /// What the field means; becomes its doc comment.
    pub description: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "FieldTable")]
struct FieldTableForm {
    /// The type: `string`, `bool`, `i8`..`i64`, `u8`..`u64`, `f32`, `f64`, `bytes`, `timestamp`, `uuid`, `json`, `optional<T>`, `list<T>`, `map<T>`, or a message name.
    #[serde(rename = "type")]
    ty: String,
    /// What the field means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

impl Serialize for FieldDef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.description {
            None => s.serialize_str(&self.ty),
            Some(d) => FieldTableForm {
                ty: self.ty.clone(),
                description: Some(d.clone()),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for FieldDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a type (\"string\") or a table with `type` and `description`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldDef, E> {
                Ok(FieldDef {
                    ty: v.to_owned(),
                    description: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldDef, A::Error> {
                let t = FieldTableForm::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FieldDef {
                    ty: t.ty,
                    description: t.description,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for FieldDef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Field".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let table = generator.subschema_for::<FieldTableForm>();
        schemars::json_schema!({
            "description": "A field type (`string`, `optional<u32>`, `list<video>`, ...), or a table with `type` and `description`.",
            "anyOf": [{"type": "string"}, table]
        })
    }
}

/// A Celery task: how it is sent (its Celery name and route), its typed arguments and
/// result, and how a worker runs it (Celery's task options).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskDef {
    /// What the task does; becomes the doc comment of its methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Rust identifier of its methods, instead of the one derived from its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_name: Option<At<String>>,
    /// The name Celery registers it under (`proj.tasks.add`); the table key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<At<String>>,
    /// The queue it is sent to and a worker consumes (Celery's default, `celery`, when
    /// absent). A queue of `[queues]` is declared as written there; any other is declared as
    /// Celery declares its queues (durable, bound to a direct exchange of its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Name>,
    /// Sends it to this exchange of `[exchanges]` with `routing_key` instead of to the queue
    /// directly (Celery's `exchange` and `routing_key` options); the binding must lead to
    /// `queue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Name>,
    /// The routing key used with `exchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<At<String>>,
    /// The positional parameters, in order, with their types (`x = "i64"`). A sender may also
    /// pass one by keyword, as in Python.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub args: IndexMap<Name, At<FieldDef>>,
    /// The keyword-only parameters with their types; an `optional<T>` one is left out of the
    /// message when `None`, so the task's default applies.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub kwargs: IndexMap<Name, At<FieldDef>>,
    /// The type of its return value (`None`, Python's, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<At<String>>,
    /// Ack the message after the task has run instead of before (Celery's `acks_late`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub acks_late: bool,
    /// How many times a worker retries it (Celery's default, 3, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// The delay of a retry that names none (Celery's default, 180 s, when absent).
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub default_retry_delay: Option<Duration>,
    /// The hard time limit: the task is stopped with `TimeLimitExceeded` past it.
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub time_limit: Option<Duration>,
    /// The soft time limit: the task is stopped with `SoftTimeLimitExceeded` past it.
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub soft_time_limit: Option<Duration>,
    /// A task not started this long after it was sent is revoked as expired.
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub expires: Option<Duration>,
    /// The worker reports no result (the client's handle then never completes).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_result: bool,
    /// The message priority (for a queue with `max_priority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

/// Whether a producer waits for publisher confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmPolicy {
    /// Fire and forget (the default).
    #[default]
    None,
    /// Each publish waits for the broker's confirm and fails on a nack.
    Wait,
}

/// A producer: an exchange, publishing defaults, and named methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProducerDef {
    /// What the producer is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The stem of its generated struct (`Media` gives `MediaProducer`), instead of the one
    /// derived from its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_name: Option<At<String>>,
    /// The exchange it publishes to (`""` is the default exchange).
    pub exchange: Name,
    /// The routing key of methods that do not give their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<Name>,
    /// Serializer name: `json` (default), `yaml`, `msgpack`, `raw`, or one registered by the application.
    #[serde(default = "json", skip_serializing_if = "is_json")]
    #[schemars(default = "json")]
    pub serializer: String,
    /// Compression: `zlib`, `bzip2`, `xz`, `brotli` or `zstd` (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// `persistent` (default) or `transient`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub delivery_mode: DeliveryMode,
    /// `none` (default) or `wait` for publisher confirms.
    #[serde(default, skip_serializing_if = "is_default")]
    pub confirm: ConfirmPolicy,
    /// The methods, by name; each publishes one message type.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub methods: IndexMap<Name, MethodDef>,
}

fn json() -> String {
    "json".to_owned()
}
fn is_json(s: &str) -> bool {
    s == "json"
}

/// One producer method: what it sends and how it is routed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodDef {
    /// What the method does; becomes its doc comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The message type it publishes.
    pub message: Name,
    /// For an enum message: the one variant this method sends (its tag value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Name>,
    /// The routing key (else the producer's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<Name>,
    /// Header values sent with each message (for headers exchanges).
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub headers: FieldTable,
}

/// A consumer: queues, the message type each carries, and how it consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerDef {
    /// What the consumer is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The stem of its generated handler trait and struct (`Worker` gives `WorkerHandler` and
    /// `WorkerConsumer`), instead of the one derived from its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_name: Option<At<String>>,
    /// Queues, each with the message type it carries: `video = "video"` or a table.
    pub queues: IndexMap<Name, At<ConsumeDef>>,
    /// How many unacknowledged messages the broker sends ahead (`basic.qos`).
    #[serde(default = "prefetch", skip_serializing_if = "is_default_prefetch")]
    #[schemars(default = "prefetch")]
    pub prefetch: u16,
    /// How many handlers run at once (at least 1; the generated consumer's `run` acks each
    /// message as its handler finishes). More than `prefetch` never run.
    #[serde(
        default = "concurrency",
        skip_serializing_if = "is_default_concurrency"
    )]
    #[schemars(default = "concurrency", range(min = 1))]
    pub concurrency: u16,
    /// What happens to a message that cannot be decoded, has an unknown tag, or whose handler fails.
    #[serde(default, skip_serializing_if = "is_default")]
    pub on_failure: FailurePolicy,
    /// Serializer names it accepts (`json` when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
}

fn prefetch() -> u16 {
    crate::Consumer::DEFAULT_PREFETCH
}
fn is_default_prefetch(p: &u16) -> bool {
    *p == prefetch()
}
fn concurrency() -> u16 {
    1
}
fn is_default_concurrency(n: &u16) -> bool {
    *n == concurrency()
}

/// What a consumer expects on one queue. Written as the message name alone, or as a table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeDef {
    /// The message type.
    pub message: String,
    /// What the consumer does with this queue.
    pub description: Option<String>,
    /// Whether its messages are handled one at a time, in order, whatever the consumer's
    /// concurrency.
    pub ordered: bool,
    /// Where it starts reading, if the queue is a stream.
    pub offset: Option<OffsetDef>,
}

/// Where a consumer starts reading a stream (`x-stream-offset`): `"first"`, `"last"`,
/// `"next"` (RabbitMQ's default), an offset number, or an age (`"7D"`, `"12h"`: what was
/// written that long ago and since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OffsetDef {
    /// An offset number.
    Number(u64),
    /// `first`, `last`, `next` or an age.
    Word(#[schemars(regex(pattern = r"^(first|last|next|[0-9]+|0*[1-9][0-9]*[YMDhms])$"))] String),
}

impl OffsetDef {
    /// The offset it names, `None` if RabbitMQ would not read it.
    pub fn to_stream_offset(&self) -> Option<crate::StreamOffset> {
        match self {
            OffsetDef::Number(n) => Some(crate::StreamOffset::Offset(*n)),
            OffsetDef::Word(w) => crate::StreamOffset::parse(w),
        }
    }
}

impl fmt::Display for OffsetDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffsetDef::Number(n) => write!(f, "{n}"),
            OffsetDef::Word(w) => write!(f, "\"{w}\""),
        }
    }
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ConsumeTable")]
struct ConsumeTableForm {
    /// The message type.
    message: String,
    /// What the consumer does with this queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Handle its messages one at a time, in the order they arrive, whatever the consumer's
    /// `concurrency`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    ordered: bool,
    /// Where it starts reading, if the queue is a stream: `"first"`, `"last"`, `"next"` (the
    /// default), an offset number, or an age (`"7D"`, `"12h"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<OffsetDef>,
}

impl Serialize for ConsumeDef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.description.is_none() && !self.ordered && self.offset.is_none() {
            return s.serialize_str(&self.message);
        }
        ConsumeTableForm {
            message: self.message.clone(),
            description: self.description.clone(),
            ordered: self.ordered,
            offset: self.offset.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ConsumeDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConsumeDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message name or a table with `message`, `description`, `ordered` and `offset`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConsumeDef, E> {
                Ok(ConsumeDef {
                    message: v.to_owned(),
                    description: None,
                    ordered: false,
                    offset: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ConsumeDef, A::Error> {
                let t = ConsumeTableForm::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ConsumeDef {
                    message: t.message,
                    description: t.description,
                    ordered: t.ordered,
                    offset: t.offset,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ConsumeDef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Consume".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let table = generator.subschema_for::<ConsumeTableForm>();
        schemars::json_schema!({
            "description": "The message type the queue carries, or a table with `message`, `description`, `ordered` and `offset`.",
            "anyOf": [{"type": "string"}, table]
        })
    }
}
