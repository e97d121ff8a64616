//! Policies and operator policies in the file model: `[policies.NAME]` and
//! `[operator_policies.NAME]`, their typed definitions, and the checks that need no other
//! entity (the pattern is a regex, each key is one RabbitMQ accepts, values in range).
//!
//! The keys are those RabbitMQ 3.10–3.13 validates: `rabbit_policies:register/0` (the core
//! keys), `rabbit_mirror_queue_misc` (`ha-*`, classic mirroring, gone in 4.0),
//! `rabbit_queue_location_validator` (`queue-master-locator`), `rabbit_quorum_queue`
//! (`target-group-size`) and `rabbit_federation_parameters` (`federation-upstream*`).
//! Operator policies accept only the `operator_policy_validator` keys of the same modules.
//! Which policy applies to an entity, and what it changes, is [`super::effective`]'s business.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::diagnostic::{Code, Sink};
use super::load::Origins;
use super::model::{At, DurationSchema, TopologyModel};
use super::source::SourceFile;
use super::EntityKind;
use crate::duration::duration_ms;
use crate::Overflow;

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
fn default_vhost() -> String {
    "/".to_owned()
}
fn is_default_vhost(v: &str) -> bool {
    v == "/"
}

/// What kind of entity a policy applies to (`apply-to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyTo {
    /// Queues and exchanges (RabbitMQ's default).
    #[default]
    All,
    /// Queues of every type.
    Queues,
    /// Exchanges only.
    Exchanges,
    /// Classic queues only (RabbitMQ 3.12+).
    ClassicQueues,
    /// Quorum queues only (RabbitMQ 3.12+).
    QuorumQueues,
    /// Streams only (RabbitMQ 3.12+).
    Streams,
}

impl ApplyTo {
    /// The `apply-to` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyTo::All => "all",
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::ClassicQueues => "classic_queues",
            ApplyTo::QuorumQueues => "quorum_queues",
            ApplyTo::Streams => "streams",
        }
    }

    /// The value for an `apply-to` word, if it is one.
    pub fn from_word(word: &str) -> Option<ApplyTo> {
        Some(match word {
            "all" => ApplyTo::All,
            "queues" => ApplyTo::Queues,
            "exchanges" => ApplyTo::Exchanges,
            "classic_queues" => ApplyTo::ClassicQueues,
            "quorum_queues" => ApplyTo::QuorumQueues,
            "streams" => ApplyTo::Streams,
            _ => return None,
        })
    }
}

/// A policy or an operator policy: which entities (a regex on the name, a kind) and what it
/// sets on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    /// What the policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A regular expression; the policy applies to every entity whose name it matches
    /// anywhere (anchor it with `^...$` to match one name).
    pub pattern: At<String>,
    /// `all` (default), `queues`, `exchanges`, `classic_queues`, `quorum_queues` or `streams`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub apply_to: ApplyTo,
    /// Of the policies that match an entity, the one with the highest priority applies.
    #[serde(default, skip_serializing_if = "is_default")]
    pub priority: i64,
    /// The virtual host (`/` by default).
    #[serde(default = "default_vhost", skip_serializing_if = "is_default_vhost")]
    #[schemars(default = "default_vhost")]
    pub vhost: String,
    /// What the policy sets, with RabbitMQ's key names (`max-length`, `message-ttl`, ...).
    pub definition: PolicyDefinition,
}

impl PolicyDef {
    /// A policy for `pattern` with an empty definition, priority 0, applying to all.
    pub fn new(pattern: impl Into<String>) -> Self {
        PolicyDef {
            description: None,
            pattern: At::new(pattern.into()),
            apply_to: ApplyTo::All,
            priority: 0,
            vhost: default_vhost(),
            definition: PolicyDefinition::default(),
        }
    }
}

macro_rules! words {
    ($( $(#[$doc:meta])* $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $text:literal, )* } )*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $text)] $variant, )*
        }

        impl $name {
            /// The word as RabbitMQ writes it.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }

            fn from_word(word: &str) -> Option<Self> {
                match word { $( $text => Some($name::$variant), )* _ => None }
            }
        }
    )*};
}

words! {
    /// `dead-letter-strategy` (quorum queues).
    DeadLetterStrategy {
        /// Dead letters may be lost (the default).
        AtMostOnce = "at-most-once",
        /// Dead letters are republished with confirms (needs `overflow = reject-publish`).
        AtLeastOnce = "at-least-once",
    }
    /// `queue-mode` (classic queues before 3.12).
    QueueMode {
        /// Messages kept in memory when possible.
        Default = "default",
        /// Messages moved to disk early.
        Lazy = "lazy",
    }
    /// `queue-leader-locator` (quorum queues and streams).
    LeaderLocator {
        /// The node the declaring client is connected to.
        ClientLocal = "client-local",
        /// Spread leaders over the cluster.
        Balanced = "balanced",
        /// Deprecated; RabbitMQ maps it to `balanced`.
        Random = "random",
        /// Deprecated; RabbitMQ maps it to `balanced`.
        LeastLeaders = "least-leaders",
    }
    /// `queue-master-locator` (classic queues).
    MasterLocator {
        /// The node with the fewest masters.
        MinMasters = "min-masters",
        /// The node the declaring client is connected to.
        ClientLocal = "client-local",
        /// A random node.
        Random = "random",
    }
    /// `ha-mode` (classic queue mirroring, RabbitMQ before 4.0).
    HaMode {
        /// Mirror on every node.
        All = "all",
        /// Mirror on `ha-params` nodes.
        Exactly = "exactly",
        /// Mirror on the nodes named in `ha-params`.
        Nodes = "nodes",
    }
    /// `ha-sync-mode` (classic queue mirroring).
    HaSyncMode {
        /// New mirrors start empty.
        Manual = "manual",
        /// New mirrors synchronise at once.
        Automatic = "automatic",
    }
    /// `ha-promote-on-shutdown` and `ha-promote-on-failure` (classic queue mirroring).
    HaPromote {
        /// Promote an unsynchronised mirror too.
        Always = "always",
        /// Promote only a synchronised mirror.
        WhenSynced = "when-synced",
    }
}

/// `ha-params`: a count (`ha-mode = "exactly"`) or node names (`ha-mode = "nodes"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HaParams {
    /// How many replicas.
    Count(u32),
    /// Which nodes.
    Nodes(Vec<String>),
}

/// A policy definition value in the broker's form: durations in integer milliseconds,
/// words as strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyValue {
    /// An integer (limits, milliseconds, versions).
    Int(i64),
    /// A string (exchange names, words).
    Str(String),
    /// A list of strings (`ha-params` with node names).
    List(Vec<String>),
}

impl std::fmt::Display for PolicyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyValue::Int(n) => write!(f, "{n}"),
            PolicyValue::Str(s) => write!(f, "\"{}\"", s.escape_default()),
            PolicyValue::List(l) => {
                let items: Vec<String> = l
                    .iter()
                    .map(|s| format!("\"{}\"", s.escape_default()))
                    .collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

/// What a policy sets. Keys are RabbitMQ's; durations are written as in the rest of the file
/// (`"30s"`, `"500ms"`) and sent in milliseconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyDefinition {
    /// Exchanges: where messages that match no binding go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_exchange: Option<String>,
    /// Queues: how long a delivery may stay unacknowledged (RabbitMQ 3.12+).
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub consumer_timeout: Option<Duration>,
    /// Queues: where rejected, expired and dropped messages go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<String>,
    /// Queues: the key dead-lettered messages are republished with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_routing_key: Option<String>,
    /// Quorum queues: `at-most-once` or `at-least-once`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_strategy: Option<DeadLetterStrategy>,
    /// Queues: how long a message may wait.
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub message_ttl: Option<Duration>,
    /// Queues: deleted after being unused this long (at least 1ms).
    #[serde(
        default,
        with = "crate::duration::with_unit",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationSchema>")]
    pub expires: Option<Duration>,
    /// Queues: the most messages held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Queues and streams: the most body bytes held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length_bytes: Option<u64>,
    /// Quorum queues (before 3.12): the most messages kept in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_memory_length: Option<u64>,
    /// Quorum queues (before 3.12): the most body bytes kept in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_memory_bytes: Option<u64>,
    /// Classic queues: `default` or `lazy` (ignored from 3.12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_mode: Option<QueueMode>,
    /// Classic queues: storage version, 1 or 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_version: Option<u8>,
    /// Queues: what happens when full: `drop-head`, `reject-publish`, `reject-publish-dlx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Overflow>,
    /// Quorum queues: deliveries before a message is dead-lettered or dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_limit: Option<i64>,
    /// Streams: how long data is kept, as RabbitMQ writes it (`"7D"`, `"12h"`; units Y, M,
    /// D, h, m, s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// Streams: the size of a segment file (at most 3,000,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_max_segment_size_bytes: Option<u64>,
    /// Streams: the size of the Bloom filter, 16 to 255 (RabbitMQ 3.13+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_filter_size_bytes: Option<u8>,
    /// Quorum queues and streams: where the leader is placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_leader_locator: Option<LeaderLocator>,
    /// Classic queues: where the master is placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_master_locator: Option<MasterLocator>,
    /// Quorum queues and streams: replicas at declaration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_cluster_size: Option<u32>,
    /// Quorum queues: the replica count to maintain (RabbitMQ 3.13 with membership reconciliation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_size: Option<u32>,
    /// Classic mirroring: `all`, `exactly` or `nodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_mode: Option<HaMode>,
    /// Classic mirroring: a count or node names, by `ha-mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_params: Option<HaParams>,
    /// Classic mirroring: `manual` or `automatic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_sync_mode: Option<HaSyncMode>,
    /// Classic mirroring: messages per synchronisation batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_sync_batch_size: Option<u32>,
    /// Classic mirroring: `always` or `when-synced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_promote_on_shutdown: Option<HaPromote>,
    /// Classic mirroring: `always` or `when-synced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_promote_on_failure: Option<HaPromote>,
    /// Federation: the upstream to federate from (`all` for every upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation_upstream: Option<String>,
    /// Federation: the upstream set to federate from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation_upstream_set: Option<String>,
    /// Federation: a regex over upstream names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation_upstream_pattern: Option<String>,
}

/// Every definition key RabbitMQ 3.10–3.13 validates for a policy.
pub const POLICY_KEYS: &[&str] = &[
    "alternate-exchange",
    "consumer-timeout",
    "dead-letter-exchange",
    "dead-letter-routing-key",
    "dead-letter-strategy",
    "message-ttl",
    "expires",
    "max-length",
    "max-length-bytes",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "queue-mode",
    "queue-version",
    "overflow",
    "delivery-limit",
    "max-age",
    "stream-max-segment-size-bytes",
    "stream-filter-size-bytes",
    "queue-leader-locator",
    "queue-master-locator",
    "initial-cluster-size",
    "target-group-size",
    "ha-mode",
    "ha-params",
    "ha-sync-mode",
    "ha-sync-batch-size",
    "ha-promote-on-shutdown",
    "ha-promote-on-failure",
    "federation-upstream",
    "federation-upstream-set",
    "federation-upstream-pattern",
];

/// The keys an operator policy may set (`operator_policy_validator` registrations in
/// `rabbit_policies`, `rabbit_mirror_queue_misc` and `rabbit_quorum_queue`, 3.13; `overflow`
/// and `queue-version` since 3.12).
pub const OPERATOR_POLICY_KEYS: &[&str] = &[
    "expires",
    "message-ttl",
    "max-length",
    "max-length-bytes",
    "max-in-memory-length",
    "max-in-memory-bytes",
    "delivery-limit",
    "queue-version",
    "overflow",
    "target-group-size",
    "ha-mode",
    "ha-params",
    "ha-sync-mode",
];

fn ms(d: Duration) -> PolicyValue {
    PolicyValue::Int(duration_ms(d))
}
fn int<T: TryInto<i64>>(v: T) -> PolicyValue {
    PolicyValue::Int(v.try_into().unwrap_or(i64::MAX))
}
fn word(s: &str) -> PolicyValue {
    PolicyValue::Str(s.to_owned())
}

fn want_int<T: TryFrom<i64>>(key: &str, v: &PolicyValue) -> Result<T, String> {
    match v {
        PolicyValue::Int(n) => T::try_from(*n).map_err(|_| format!("`{key}`: {n} is out of range")),
        other => Err(format!("`{key}` must be an integer, found {other}")),
    }
}
fn want_str(key: &str, v: &PolicyValue) -> Result<String, String> {
    match v {
        PolicyValue::Str(s) => Ok(s.clone()),
        other => Err(format!("`{key}` must be a string, found {other}")),
    }
}
fn want_ms(key: &str, v: &PolicyValue) -> Result<Duration, String> {
    want_int::<u64>(key, v).map(Duration::from_millis)
}
fn want_word<T>(key: &str, v: &PolicyValue, parse: fn(&str) -> Option<T>) -> Result<T, String> {
    let s = want_str(key, v)?;
    parse(&s).ok_or_else(|| format!("`{key}`: `{s}` is not a value RabbitMQ accepts"))
}

impl PolicyDefinition {
    /// The keys set, with their values in the broker's form, in [`POLICY_KEYS`] order.
    pub fn entries(&self) -> Vec<(&'static str, PolicyValue)> {
        let mut out = Vec::new();
        let mut put = |key: &'static str, v: Option<PolicyValue>| {
            if let Some(v) = v {
                out.push((key, v));
            }
        };
        put(
            "alternate-exchange",
            self.alternate_exchange.as_deref().map(word),
        );
        put("consumer-timeout", self.consumer_timeout.map(ms));
        put(
            "dead-letter-exchange",
            self.dead_letter_exchange.as_deref().map(word),
        );
        put(
            "dead-letter-routing-key",
            self.dead_letter_routing_key.as_deref().map(word),
        );
        put(
            "dead-letter-strategy",
            self.dead_letter_strategy.map(|w| word(w.as_str())),
        );
        put("message-ttl", self.message_ttl.map(ms));
        put("expires", self.expires.map(ms));
        put("max-length", self.max_length.map(int));
        put("max-length-bytes", self.max_length_bytes.map(int));
        put("max-in-memory-length", self.max_in_memory_length.map(int));
        put("max-in-memory-bytes", self.max_in_memory_bytes.map(int));
        put("queue-mode", self.queue_mode.map(|w| word(w.as_str())));
        put("queue-version", self.queue_version.map(int));
        put("overflow", self.overflow.map(|w| word(w.as_str())));
        put("delivery-limit", self.delivery_limit.map(int));
        put("max-age", self.max_age.as_deref().map(word));
        put(
            "stream-max-segment-size-bytes",
            self.stream_max_segment_size_bytes.map(int),
        );
        put(
            "stream-filter-size-bytes",
            self.stream_filter_size_bytes.map(int),
        );
        put(
            "queue-leader-locator",
            self.queue_leader_locator.map(|w| word(w.as_str())),
        );
        put(
            "queue-master-locator",
            self.queue_master_locator.map(|w| word(w.as_str())),
        );
        put("initial-cluster-size", self.initial_cluster_size.map(int));
        put("target-group-size", self.target_group_size.map(int));
        put("ha-mode", self.ha_mode.map(|w| word(w.as_str())));
        put(
            "ha-params",
            self.ha_params.as_ref().map(|p| match p {
                HaParams::Count(n) => int(*n),
                HaParams::Nodes(nodes) => PolicyValue::List(nodes.clone()),
            }),
        );
        put("ha-sync-mode", self.ha_sync_mode.map(|w| word(w.as_str())));
        put("ha-sync-batch-size", self.ha_sync_batch_size.map(int));
        put(
            "ha-promote-on-shutdown",
            self.ha_promote_on_shutdown.map(|w| word(w.as_str())),
        );
        put(
            "ha-promote-on-failure",
            self.ha_promote_on_failure.map(|w| word(w.as_str())),
        );
        put(
            "federation-upstream",
            self.federation_upstream.as_deref().map(word),
        );
        put(
            "federation-upstream-set",
            self.federation_upstream_set.as_deref().map(word),
        );
        put(
            "federation-upstream-pattern",
            self.federation_upstream_pattern.as_deref().map(word),
        );
        out
    }

    /// The value of one key in the broker's form, if set.
    pub fn get(&self, key: &str) -> Option<PolicyValue> {
        self.entries()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// Sets one key from its broker form (as read from definitions.json or the management
    /// API). An unknown key or a value of the wrong type is refused with the reason.
    pub fn set(&mut self, key: &str, v: &PolicyValue) -> Result<(), String> {
        match key {
            "alternate-exchange" => self.alternate_exchange = Some(want_str(key, v)?),
            "consumer-timeout" => self.consumer_timeout = Some(want_ms(key, v)?),
            "dead-letter-exchange" => self.dead_letter_exchange = Some(want_str(key, v)?),
            "dead-letter-routing-key" => self.dead_letter_routing_key = Some(want_str(key, v)?),
            "dead-letter-strategy" => {
                self.dead_letter_strategy = Some(want_word(key, v, DeadLetterStrategy::from_word)?)
            }
            "message-ttl" => self.message_ttl = Some(want_ms(key, v)?),
            "expires" => self.expires = Some(want_ms(key, v)?),
            "max-length" => self.max_length = Some(want_int(key, v)?),
            "max-length-bytes" => self.max_length_bytes = Some(want_int(key, v)?),
            "max-in-memory-length" => self.max_in_memory_length = Some(want_int(key, v)?),
            "max-in-memory-bytes" => self.max_in_memory_bytes = Some(want_int(key, v)?),
            "queue-mode" => self.queue_mode = Some(want_word(key, v, QueueMode::from_word)?),
            "queue-version" => self.queue_version = Some(want_int(key, v)?),
            "overflow" => {
                self.overflow = Some(want_word(key, v, |s| match s {
                    "drop-head" => Some(Overflow::DropHead),
                    "reject-publish" => Some(Overflow::RejectPublish),
                    "reject-publish-dlx" => Some(Overflow::RejectPublishDlx),
                    _ => None,
                })?)
            }
            "delivery-limit" => self.delivery_limit = Some(want_int(key, v)?),
            "max-age" => self.max_age = Some(want_str(key, v)?),
            "stream-max-segment-size-bytes" => {
                self.stream_max_segment_size_bytes = Some(want_int(key, v)?)
            }
            "stream-filter-size-bytes" => self.stream_filter_size_bytes = Some(want_int(key, v)?),
            "queue-leader-locator" => {
                self.queue_leader_locator = Some(want_word(key, v, LeaderLocator::from_word)?)
            }
            "queue-master-locator" => {
                self.queue_master_locator = Some(want_word(key, v, MasterLocator::from_word)?)
            }
            "initial-cluster-size" => self.initial_cluster_size = Some(want_int(key, v)?),
            "target-group-size" => self.target_group_size = Some(want_int(key, v)?),
            "ha-mode" => self.ha_mode = Some(want_word(key, v, HaMode::from_word)?),
            "ha-params" => {
                self.ha_params = Some(match v {
                    PolicyValue::List(nodes) => HaParams::Nodes(nodes.clone()),
                    other => HaParams::Count(want_int(key, other)?),
                })
            }
            "ha-sync-mode" => self.ha_sync_mode = Some(want_word(key, v, HaSyncMode::from_word)?),
            "ha-sync-batch-size" => self.ha_sync_batch_size = Some(want_int(key, v)?),
            "ha-promote-on-shutdown" => {
                self.ha_promote_on_shutdown = Some(want_word(key, v, HaPromote::from_word)?)
            }
            "ha-promote-on-failure" => {
                self.ha_promote_on_failure = Some(want_word(key, v, HaPromote::from_word)?)
            }
            "federation-upstream" => self.federation_upstream = Some(want_str(key, v)?),
            "federation-upstream-set" => self.federation_upstream_set = Some(want_str(key, v)?),
            "federation-upstream-pattern" => {
                self.federation_upstream_pattern = Some(want_str(key, v)?)
            }
            other => {
                let mut msg = format!("unknown policy key `{other}`");
                if let Some(m) = crate::suggest::did_you_mean(other, POLICY_KEYS.iter().copied()) {
                    msg.push_str(&format!(" (did you mean `{m}`?)"));
                }
                return Err(msg);
            }
        }
        Ok(())
    }
}

/// Whether `max-age` is written as RabbitMQ's `rabbit_amqqueue:check_max_age/1` accepts: a
/// whole number above zero and one of the units Y, M, D, h, m, s.
fn valid_max_age(s: &str) -> bool {
    crate::entity::parse_max_age(s).is_some()
}

/// A compiled pattern. RabbitMQ matches with PCRE (`re:run/3`); the `regex` crate agrees on
/// everything but look-around and back-references, which it refuses.
pub(crate) fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        // The crate's message draws the pattern over several lines; its last line says why.
        let text = e.to_string();
        let why = text.lines().last().unwrap_or_default().trim();
        why.strip_prefix("error: ").unwrap_or(why).to_owned()
    })
}

/// The checks of one policy table that need no other entity.
pub(crate) fn validate(
    files: &[SourceFile],
    model: &TopologyModel,
    origins: &Origins,
    sink: &mut Sink,
) {
    let tables = [
        (EntityKind::Policy, &model.policies),
        (EntityKind::OperatorPolicy, &model.operator_policies),
    ];
    for (kind, table) in tables {
        for (name, p) in table {
            let origin = origins.get(kind, name);
            let what = kind.as_str();
            if let Err(e) = compile(&p.pattern) {
                sink.push(
                    files,
                    Code::InvalidPolicy,
                    p.pattern.span().or(origin),
                    format!("{what} `{name}`: pattern is not a regular expression: {e}"),
                );
            }
            let entries = p.definition.entries();
            if entries.is_empty() {
                sink.push(
                    files,
                    Code::InvalidPolicy,
                    origin,
                    format!("{what} `{name}` has an empty definition; RabbitMQ refuses it"),
                )
                .help("set at least one key under `definition`");
            }
            if kind == EntityKind::OperatorPolicy {
                for (key, _) in &entries {
                    if !OPERATOR_POLICY_KEYS.contains(key) {
                        sink.push(
                            files,
                            Code::InvalidPolicy,
                            origin,
                            format!("operator policy `{name}` sets `{key}`, which RabbitMQ accepts only in a user policy"),
                        )
                        .help(format!(
                            "operator policies accept {}",
                            OPERATOR_POLICY_KEYS.join(", ")
                        ));
                    }
                }
            }
            let d = &p.definition;
            let mut bad = |msg: String| {
                sink.push(
                    files,
                    Code::InvalidPolicy,
                    origin,
                    format!("{what} `{name}`: {msg}"),
                );
            };
            if let Some(v) = d.queue_version {
                if !(1..=2).contains(&v) {
                    bad(format!("`queue-version` is 1 or 2, not {v}"));
                }
            }
            if let Some(v) = d.stream_filter_size_bytes {
                if v < 16 {
                    bad(format!("`stream-filter-size-bytes` is 16 to 255, not {v}"));
                }
            }
            if let Some(v) = d.stream_max_segment_size_bytes {
                if v > 3_000_000_000 {
                    bad(format!(
                        "`stream-max-segment-size-bytes` is at most 3000000000, not {v}"
                    ));
                }
            }
            if d.expires == Some(Duration::ZERO) {
                bad("`expires` must be at least 1ms".to_owned());
            }
            if let Some(age) = &d.max_age {
                if !valid_max_age(age) {
                    bad(format!(
                        "`max-age` `{age}` is not a number with a unit Y, M, D, h, m or s (\"7D\")"
                    ));
                }
            }
            match (&d.ha_mode, &d.ha_params) {
                (Some(HaMode::Exactly), Some(HaParams::Count(_)))
                | (Some(HaMode::Nodes), Some(HaParams::Nodes(_)))
                | (Some(HaMode::All), None)
                | (None, None) => {}
                (Some(HaMode::Exactly | HaMode::Nodes), None) => {
                    bad("`ha-mode` `exactly` and `nodes` need `ha-params`".to_owned())
                }
                (None, Some(_)) => bad("`ha-params` needs `ha-mode`".to_owned()),
                _ => bad("`ha-params` is a count with `ha-mode = \"exactly\"` and node names with `\"nodes\"`".to_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_set_round_trip_every_key() {
        let mut d = PolicyDefinition::default();
        let values: Vec<(&str, PolicyValue)> = vec![
            ("alternate-exchange", word("ae")),
            ("consumer-timeout", PolicyValue::Int(60000)),
            ("dead-letter-exchange", word("dlx")),
            ("dead-letter-routing-key", word("dead")),
            ("dead-letter-strategy", word("at-least-once")),
            ("message-ttl", PolicyValue::Int(2000)),
            ("expires", PolicyValue::Int(1500)),
            ("max-length", PolicyValue::Int(10)),
            ("max-length-bytes", PolicyValue::Int(1000)),
            ("max-in-memory-length", PolicyValue::Int(5)),
            ("max-in-memory-bytes", PolicyValue::Int(500)),
            ("queue-mode", word("lazy")),
            ("queue-version", PolicyValue::Int(2)),
            ("overflow", word("reject-publish")),
            ("delivery-limit", PolicyValue::Int(3)),
            ("max-age", word("7D")),
            ("stream-max-segment-size-bytes", PolicyValue::Int(1000000)),
            ("stream-filter-size-bytes", PolicyValue::Int(32)),
            ("queue-leader-locator", word("balanced")),
            ("queue-master-locator", word("min-masters")),
            ("initial-cluster-size", PolicyValue::Int(3)),
            ("target-group-size", PolicyValue::Int(3)),
            ("ha-mode", word("nodes")),
            ("ha-params", PolicyValue::List(vec!["rabbit@a".to_owned()])),
            ("ha-sync-mode", word("automatic")),
            ("ha-sync-batch-size", PolicyValue::Int(100)),
            ("ha-promote-on-shutdown", word("always")),
            ("ha-promote-on-failure", word("when-synced")),
            ("federation-upstream", word("up")),
            ("federation-upstream-set", word("all")),
            ("federation-upstream-pattern", word("^up")),
        ];
        for (k, v) in &values {
            d.set(k, v).unwrap();
        }
        let keys: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, POLICY_KEYS);
        assert_eq!(
            d.entries(),
            values
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn set_refuses_unknown_keys_with_a_suggestion() {
        let e = PolicyDefinition::default()
            .set("max-lenght", &PolicyValue::Int(1))
            .unwrap_err();
        assert!(e.contains("did you mean `max-length`?"), "{e}");
        let e = PolicyDefinition::default()
            .set("queue-mode", &word("fast"))
            .unwrap_err();
        assert!(e.contains("not a value RabbitMQ accepts"), "{e}");
    }

    #[test]
    fn max_age_units() {
        assert!(valid_max_age("7D"));
        assert!(valid_max_age("12h"));
        assert!(!valid_max_age("7"));
        assert!(!valid_max_age("D"));
        assert!(!valid_max_age("7days"));
        assert!(!valid_max_age("0s"), "RabbitMQ refuses a zero age");
        assert!(!valid_max_age("1.5h"));
        assert_eq!(
            crate::entity::parse_max_age("2M"),
            Some(std::time::Duration::from_secs(2 * 30 * 86_400))
        );
        assert_eq!(
            crate::entity::parse_max_age("1Y"),
            Some(std::time::Duration::from_secs(365 * 86_400))
        );
        assert_eq!(
            crate::entity::parse_max_age("05s"),
            Some(std::time::Duration::from_secs(5))
        );
    }
}
