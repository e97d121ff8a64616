//! [`Queue`], with the typed conveniences that map to `x-` arguments.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Binding, Exchange};
use crate::duration::duration_ms;
use crate::field::{FieldTable, FieldValue};

/// What a queue does when it is full (`x-overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Drop (or dead-letter) the oldest message; RabbitMQ's default.
    DropHead,
    /// Refuse new messages.
    RejectPublish,
    /// Refuse new messages and dead-letter them.
    RejectPublishDlx,
}

impl Overflow {
    /// The broker's name for this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::DropHead => "drop-head",
            Overflow::RejectPublish => "reject-publish",
            Overflow::RejectPublishDlx => "reject-publish-dlx",
        }
    }
}

/// The queue type (`x-queue-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// The classic queue.
    Classic,
    /// A replicated quorum queue.
    Quorum,
    /// An append-only stream.
    Stream,
}

impl QueueType {
    /// The type `x-queue-type` in `arguments` names (classic when it names none).
    pub(crate) fn of_arguments(arguments: &FieldTable) -> QueueType {
        match arguments.get("x-queue-type").and_then(FieldValue::as_str) {
            Some("quorum") => QueueType::Quorum,
            Some("stream") => QueueType::Stream,
            _ => QueueType::Classic,
        }
    }

    /// The broker's name for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
            QueueType::Stream => "stream",
        }
    }

    /// Whether this type takes the declaration argument `key`: `Some(false)` for an argument
    /// RabbitMQ (3.10) knows as another type's and refuses with 406 (`invalid arg ... of queue
    /// type ...`); `None` for one it does not know, which any type keeps as given.
    pub(crate) fn takes_argument(self, key: &str) -> Option<bool> {
        let column = match self {
            QueueType::Classic => 0,
            QueueType::Quorum => 1,
            QueueType::Stream => 2,
        };
        TYPED_ARGUMENTS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, takes)| takes[column])
    }
}

/// The `x-` arguments RabbitMQ 3.10 knows, and which queue types take each, as
/// `[classic, quorum, stream]` (each type's `queue_arguments`).
const TYPED_ARGUMENTS: &[(&str, [bool; 3])] = &[
    ("x-expires", [true, true, false]),
    ("x-message-ttl", [true, true, false]),
    ("x-dead-letter-exchange", [true, true, false]),
    ("x-dead-letter-routing-key", [true, true, false]),
    ("x-max-length", [true, true, false]),
    ("x-max-length-bytes", [true, true, true]),
    ("x-max-priority", [true, false, false]),
    ("x-overflow", [true, true, false]),
    ("x-queue-mode", [true, false, false]),
    ("x-queue-version", [true, false, false]),
    ("x-queue-master-locator", [true, false, false]),
    ("x-single-active-consumer", [true, true, false]),
    ("x-max-in-memory-length", [false, true, false]),
    ("x-max-in-memory-bytes", [false, true, false]),
    ("x-quorum-initial-group-size", [false, true, false]),
    ("x-delivery-limit", [false, true, false]),
    ("x-dead-letter-strategy", [false, true, false]),
    ("x-queue-leader-locator", [false, true, true]),
    ("x-max-age", [false, false, true]),
    ("x-stream-max-segment-size-bytes", [false, false, true]),
    ("x-initial-cluster-size", [false, false, true]),
];

/// Where a consumer of a stream starts reading (`x-stream-offset`, sent with `basic.consume`).
///
/// A stream keeps its messages after they are consumed; each consumer reads from its own
/// position. Without an offset, RabbitMQ starts at `Next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamOffset {
    /// The first message the stream still holds.
    First,
    /// The last chunk written (a few of the most recent messages).
    Last,
    /// Only messages published after the consumer starts.
    Next,
    /// The message with this offset (each delivery's [`crate::Message::stream_offset`]), or
    /// the first one after it that the stream still holds.
    Offset(u64),
    /// The first message written at or after this time (seconds since the Unix epoch;
    /// RabbitMQ starts at the chunk holding it).
    Timestamp(u64),
    /// The first message written within this long before the consumer starts (sent as whole
    /// seconds, at least one: `"3600s"`).
    Age(Duration),
}

impl StreamOffset {
    /// The `x-stream-offset` value RabbitMQ reads.
    pub fn to_argument(self) -> FieldValue {
        match self {
            StreamOffset::First => "first".into(),
            StreamOffset::Last => "last".into(),
            StreamOffset::Next => "next".into(),
            StreamOffset::Offset(n) => FieldValue::I64(i64::try_from(n).unwrap_or(i64::MAX)),
            StreamOffset::Timestamp(secs) => FieldValue::Timestamp(secs),
            StreamOffset::Age(age) => format!("{}s", age.as_secs().max(1)).into(),
        }
    }

    /// Reads an offset as topology files write it: `first`, `last`, `next`, an offset
    /// number, or an age in RabbitMQ's `x-max-age` form: a whole number above zero and one of
    /// `Y`, `M`, `D`, `h`, `m`, `s` (`"7D"`, `"12h"`).
    pub fn parse(s: &str) -> Option<StreamOffset> {
        Some(match s {
            "first" => StreamOffset::First,
            "last" => StreamOffset::Last,
            "next" => StreamOffset::Next,
            _ if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                StreamOffset::Offset(s.parse().ok()?)
            }
            _ => StreamOffset::Age(parse_max_age(s)?),
        })
    }
}

/// An age in RabbitMQ's form (`x-max-age`, and `x-stream-offset` as an interval): a whole
/// number above zero and one unit, `Y` (365 days), `M` (30 days), `D`, `h`, `m` or `s`.
/// `None` for what RabbitMQ refuses (`invalid_max_age`): `"0s"`, `"1.5h"`, `"10x"`.
pub(crate) fn parse_max_age(s: &str) -> Option<Duration> {
    let (digits, unit) = s.split_at(s.len().checked_sub(1)?);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok().filter(|n| *n > 0)?;
    let day = 24 * 3600;
    let unit = match unit {
        "Y" => 365 * day,
        "M" => 30 * day,
        "D" => day,
        "h" => 3600,
        "m" => 60,
        "s" => 1,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(unit)?))
}

fn yes() -> bool {
    true
}
fn is_true(v: &bool) -> bool {
    *v
}
fn is_false(v: &bool) -> bool {
    !*v
}

/// A queue declaration, with its bindings.
///
/// The typed fields (`message_ttl`, `max_length`, ...) become `x-` arguments when declared and
/// win over the same key in `arguments`:
///
/// ```
/// use std::time::Duration;
/// use kombu::{Exchange, ExchangeKind, FieldValue, Queue};
///
/// let media = Exchange::new("media", ExchangeKind::Direct);
/// let video = Queue::new("video")
///     .bind_to(media, "video")
///     .message_ttl(Duration::from_secs(10))
///     .max_priority(9);
/// let args = video.declare_arguments();
/// assert_eq!(args["x-message-ttl"], FieldValue::I32(10_000));
/// assert_eq!(args["x-max-priority"], FieldValue::I32(9));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Queue {
    /// The queue name; empty asks the broker to choose one.
    #[serde(default)]
    pub name: String,
    /// Where the queue receives messages from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
    /// Survives a broker restart (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub durable: bool,
    /// Owned by the declaring connection and deleted with it. Implies auto-delete.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclusive: bool,
    /// Deleted when its last consumer cancels.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auto_delete: bool,
    /// Raw declaration arguments; the typed fields below win on conflict.
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub arguments: FieldTable,
    /// `x-message-ttl`: how long a message may wait in the queue.
    #[serde(
        default,
        with = "crate::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_ttl: Option<Duration>,
    /// `x-expires`: the queue is deleted after being unused this long.
    #[serde(
        default,
        with = "crate::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires: Option<Duration>,
    /// `x-max-length`: the most messages the queue holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// `x-max-length-bytes`: the most body bytes the queue holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length_bytes: Option<u64>,
    /// `x-max-priority`: enables priorities 0..=max.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority: Option<u8>,
    /// `x-overflow`: what happens when the queue is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Overflow>,
    /// `x-dead-letter-exchange`: where rejected, expired and dropped messages go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key`: the key dead-lettered messages are republished with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_routing_key: Option<String>,
    /// `x-queue-type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_type: Option<QueueType>,
    /// Arguments sent with `basic.consume` (for example `x-priority`, `x-stream-offset`).
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub consumer_arguments: FieldTable,
    /// Only check that the queue exists; fail if it does not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub passive: bool,
    /// Never declare this queue or its bindings (they are managed elsewhere).
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_declare: bool,
}

impl Queue {
    /// A durable queue with no bindings.
    pub fn new(name: impl Into<String>) -> Self {
        Queue {
            name: name.into(),
            bindings: Vec::new(),
            durable: true,
            exclusive: false,
            auto_delete: false,
            arguments: FieldTable::new(),
            message_ttl: None,
            expires: None,
            max_length: None,
            max_length_bytes: None,
            max_priority: None,
            overflow: None,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
            queue_type: None,
            consumer_arguments: FieldTable::new(),
            passive: false,
            no_declare: false,
        }
    }

    /// Add a binding from `exchange` with `routing_key`.
    pub fn bind_to(mut self, exchange: Exchange, routing_key: impl Into<String>) -> Self {
        self.bindings.push(Binding::new(exchange, routing_key));
        self
    }
    /// Add a binding with arguments (for headers exchanges).
    pub fn binding(mut self, binding: Binding) -> Self {
        self.bindings.push(binding);
        self
    }
    /// Set `durable`.
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }
    /// Set `exclusive`; an exclusive queue is also auto-delete.
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        if exclusive {
            self.auto_delete = true;
        }
        self
    }
    /// Set `auto_delete`.
    pub fn auto_delete(mut self, auto_delete: bool) -> Self {
        self.auto_delete = auto_delete;
        self
    }
    /// Add one raw declaration argument.
    pub fn argument(mut self, key: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.arguments.insert(key.into(), value.into());
        self
    }
    /// Set `x-message-ttl`.
    pub fn message_ttl(mut self, ttl: Duration) -> Self {
        self.message_ttl = Some(ttl);
        self
    }
    /// Set `x-expires`.
    pub fn expires(mut self, expires: Duration) -> Self {
        self.expires = Some(expires);
        self
    }
    /// Set `x-max-length`.
    pub fn max_length(mut self, max: u64) -> Self {
        self.max_length = Some(max);
        self
    }
    /// Set `x-max-length-bytes`.
    pub fn max_length_bytes(mut self, max: u64) -> Self {
        self.max_length_bytes = Some(max);
        self
    }
    /// Set `x-max-priority`.
    pub fn max_priority(mut self, max: u8) -> Self {
        self.max_priority = Some(max);
        self
    }
    /// Set `x-overflow`.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = Some(overflow);
        self
    }
    /// Set `x-dead-letter-exchange`.
    pub fn dead_letter_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.dead_letter_exchange = Some(exchange.into());
        self
    }
    /// Set `x-dead-letter-routing-key`.
    pub fn dead_letter_routing_key(mut self, key: impl Into<String>) -> Self {
        self.dead_letter_routing_key = Some(key.into());
        self
    }
    /// Set `x-queue-type`.
    pub fn queue_type(mut self, queue_type: QueueType) -> Self {
        self.queue_type = Some(queue_type);
        self
    }
    /// Consume a stream from `offset` (the `x-stream-offset` consumer argument). A stream
    /// consumer also needs a prefetch count and manual acks, which [`crate::Consumer`] has
    /// unless told otherwise.
    pub fn stream_offset(self, offset: StreamOffset) -> Self {
        self.consumer_argument("x-stream-offset", offset.to_argument())
    }
    /// Add one consumer argument.
    pub fn consumer_argument(
        mut self,
        key: impl Into<String>,
        value: impl Into<FieldValue>,
    ) -> Self {
        self.consumer_arguments.insert(key.into(), value.into());
        self
    }
    /// Set `passive`.
    pub fn passive(mut self, passive: bool) -> Self {
        self.passive = passive;
        self
    }
    /// Set `no_declare`.
    pub fn no_declare(mut self, no_declare: bool) -> Self {
        self.no_declare = no_declare;
        self
    }

    /// Whether the queue is deleted when its last consumer goes: set, or implied by exclusive.
    pub fn is_auto_delete(&self) -> bool {
        self.auto_delete || self.exclusive
    }

    /// The queue's type as declared: `queue_type`, else the `x-queue-type` argument, else
    /// classic.
    pub fn kind(&self) -> QueueType {
        self.queue_type
            .unwrap_or_else(|| QueueType::of_arguments(&self.arguments))
    }

    /// The arguments sent with `queue.declare`: `arguments` with the typed fields laid over
    /// them (durations in integer milliseconds, integers as Python's AMQP client sends them).
    pub fn declare_arguments(&self) -> FieldTable {
        let mut args = self.arguments.clone();
        let mut set = |key: &str, value: Option<FieldValue>| {
            if let Some(value) = value {
                args.insert(key.to_owned(), value);
            }
        };
        set(
            "x-message-ttl",
            self.message_ttl.map(|d| FieldValue::int(duration_ms(d))),
        );
        set(
            "x-expires",
            self.expires.map(|d| FieldValue::int(duration_ms(d))),
        );
        let int = |v: u64| FieldValue::int(i64::try_from(v).unwrap_or(i64::MAX));
        set("x-max-length", self.max_length.map(int));
        set("x-max-length-bytes", self.max_length_bytes.map(int));
        set(
            "x-max-priority",
            self.max_priority.map(|p| FieldValue::I32(p.into())),
        );
        set(
            "x-overflow",
            self.overflow.map(|o| FieldValue::from(o.as_str())),
        );
        set(
            "x-dead-letter-exchange",
            self.dead_letter_exchange.as_deref().map(FieldValue::from),
        );
        set(
            "x-dead-letter-routing-key",
            self.dead_letter_routing_key
                .as_deref()
                .map(FieldValue::from),
        );
        set(
            "x-queue-type",
            self.queue_type.map(|t| FieldValue::from(t.as_str())),
        );
        args
    }

    /// The same declaration with every typed setting (`message_ttl`, `queue_type`, ...) moved
    /// into `arguments`, as `queue.declare` sends them. Declares exactly the same queue; two
    /// declarations in this form are equal when the broker would see the same thing.
    pub fn into_arguments_form(mut self) -> Queue {
        self.arguments = self.declare_arguments();
        self.message_ttl = None;
        self.expires = None;
        self.max_length = None;
        self.max_length_bytes = None;
        self.max_priority = None;
        self.overflow = None;
        self.dead_letter_exchange = None;
        self.dead_letter_routing_key = None;
        self.queue_type = None;
        self
    }

    /// Whether declaring this queue sends anything to the broker.
    pub fn should_declare(&self) -> bool {
        !self.no_declare
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExchangeKind;

    #[test]
    fn exclusive_implies_auto_delete() {
        let q = Queue::new("q").exclusive(true);
        assert!(q.auto_delete && q.is_auto_delete());
        let q: Queue = serde_json::from_str(r#"{"name": "q", "exclusive": true}"#).unwrap();
        assert!(q.is_auto_delete(), "a file that only says exclusive");
    }

    #[test]
    fn defaults() {
        let q: Queue = serde_json::from_str(r#"{"name": "q"}"#).unwrap();
        assert_eq!(q, Queue::new("q"));
        assert!(q.durable && !q.exclusive && !q.auto_delete);
        assert!(q.declare_arguments().is_empty());
    }

    #[test]
    fn typed_arguments_map_to_x_arguments_in_milliseconds() {
        let q = Queue::new("q")
            .message_ttl(Duration::from_secs(10))
            .expires(Duration::from_millis(1500))
            .max_length(100)
            .max_length_bytes(5_000_000_000)
            .max_priority(10)
            .overflow(Overflow::RejectPublishDlx)
            .dead_letter_exchange("dlx")
            .dead_letter_routing_key("dead")
            .queue_type(QueueType::Quorum);
        let a = q.declare_arguments();
        assert_eq!(a["x-message-ttl"], FieldValue::I32(10_000));
        assert_eq!(a["x-expires"], FieldValue::I32(1500));
        assert_eq!(a["x-max-length"], FieldValue::I32(100));
        assert_eq!(a["x-max-length-bytes"], FieldValue::I64(5_000_000_000));
        assert_eq!(a["x-max-priority"], FieldValue::I32(10));
        assert_eq!(a["x-overflow"], "reject-publish-dlx".into());
        assert_eq!(a["x-dead-letter-exchange"], "dlx".into());
        assert_eq!(a["x-dead-letter-routing-key"], "dead".into());
        assert_eq!(a["x-queue-type"], "quorum".into());
        assert_eq!(a.len(), 9);
    }

    #[test]
    fn typed_fields_win_over_raw_arguments() {
        let q = Queue::new("q")
            .argument("x-message-ttl", 5)
            .argument("x-custom", "kept")
            .message_ttl(Duration::from_secs(1));
        let a = q.declare_arguments();
        assert_eq!(a["x-message-ttl"], FieldValue::I32(1000));
        assert_eq!(a["x-custom"], "kept".into());
        let raw_only = Queue::new("q").argument("x-message-ttl", 5);
        assert_eq!(
            raw_only.declare_arguments()["x-message-ttl"],
            FieldValue::I32(5)
        );
    }

    fn full_queue() -> Queue {
        let media = Exchange::new("media", ExchangeKind::Direct);
        let headers = Exchange::new("h", ExchangeKind::Headers).durable(false);
        Queue::new("video")
            .bind_to(media, "video")
            .binding(
                Binding::new(headers, "")
                    .argument("x-match", "any")
                    .argument("format", "mp4")
                    .argument("size", FieldValue::I64(1)),
            )
            .durable(false)
            .exclusive(true)
            .argument("x-single-active-consumer", true)
            .message_ttl(Duration::from_millis(2500))
            .expires(Duration::from_secs(60))
            .max_length(10)
            .max_priority(5)
            .overflow(Overflow::DropHead)
            .dead_letter_exchange("dlx")
            .queue_type(QueueType::Classic)
            .consumer_argument("x-priority", 3)
    }

    #[test]
    fn serde_round_trips_through_json_toml_yaml() {
        let q = full_queue();
        let json = serde_json::to_string(&q).unwrap();
        assert_eq!(serde_json::from_str::<Queue>(&json).unwrap(), q);
        let toml_text = toml::to_string(&q).unwrap();
        assert_eq!(
            toml::from_str::<Queue>(&toml_text).unwrap(),
            q,
            "{toml_text}"
        );
        let yaml = serde_norway::to_string(&q).unwrap();
        assert_eq!(serde_norway::from_str::<Queue>(&yaml).unwrap(), q, "{yaml}");
    }

    #[test]
    fn durations_read_as_seconds_or_with_units() {
        let q: Queue =
            toml::from_str("name = \"q\"\nmessage_ttl = \"500ms\"\nexpires = 30\n").unwrap();
        assert_eq!(q.message_ttl, Some(Duration::from_millis(500)));
        assert_eq!(q.expires, Some(Duration::from_secs(30)));
    }

    #[test]
    fn equality_is_full() {
        assert_ne!(Queue::new("q"), Queue::new("q").max_length(1));
        assert_ne!(Queue::new("q"), Queue::new("q").argument("x-max-length", 1));
        use std::collections::HashSet;
        let set: HashSet<Queue> = [full_queue(), full_queue()].into_iter().collect();
        assert_eq!(set.len(), 1);
    }
}
