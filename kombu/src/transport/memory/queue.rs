//! One queue's storage in the in-memory broker: ready messages by priority in original order
//! (or, for a stream, a log read from per-consumer offsets), consumers, and the limits (TTL,
//! max length, dead-lettering, a quorum queue's delivery limit) read from its arguments.
//!
//! A published message is stored once ([`Content`], shared by `Arc` between every queue it was
//! routed to, their unacked entries and, for the body, the deliveries); a queue holds only a
//! small [`Stored`] entry per message.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::entity::parse_max_age;
use crate::field::{FieldTable, FieldValue};
use crate::properties::Properties;
use crate::transport::DeliverySender;
use crate::{Overflow, QueueType};

/// What was published: the same for every queue the message reached, so stored once.
#[derive(Debug, Clone)]
pub(super) struct Content {
    /// Position of the message in publish order; requeued messages go back here.
    pub seq: u64,
    pub exchange: Arc<str>,
    pub routing_key: Arc<str>,
    pub body: bytes::Bytes,
    /// Shared with the deliveries, and with the channel's earlier messages when equal.
    pub properties: Arc<Properties>,
}

/// A message as a queue holds it: the shared content and what is the queue's own.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub content: Arc<Content>,
    pub redelivered: bool,
    /// How many times it was returned to the queue (counted by quorum queues only).
    pub returns: u32,
    pub expires_at: Option<Instant>,
}

impl Stored {
    fn priority(&self, max: usize) -> usize {
        usize::from(self.content.properties.priority.unwrap_or(0)).min(max)
    }

    fn seq(&self) -> u64 {
        self.content.seq
    }

    fn size(&self) -> u64 {
        self.content.body.len() as u64
    }
}

#[derive(Debug)]
pub(super) struct ConsumerState {
    /// Unique in the broker: unacked entries name their consumer by it.
    pub id: u64,
    /// Shared with every delivery to the consumer.
    pub tag: Arc<str>,
    pub channel: u64,
    pub no_ack: bool,
    pub prefetch: u16,
    pub unacked: u32,
    pub exclusive: bool,
    pub sender: DeliverySender,
    /// A stream consumer's next offset.
    pub cursor: u64,
}

impl ConsumerState {
    pub(super) fn has_capacity(&self) -> bool {
        self.no_ack || self.prefetch == 0 || self.unacked < u32::from(self.prefetch)
    }
}

/// The settings of a queue that affect the broker's behaviour, read from its arguments.
#[derive(Debug, Clone, Default)]
pub(super) struct Limits {
    pub message_ttl: Option<Duration>,
    pub expires: Option<Duration>,
    pub max_length: Option<u64>,
    pub max_length_bytes: Option<u64>,
    pub overflow: Option<Overflow>,
    pub max_priority: Option<u8>,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    /// A quorum queue: it counts returns and says so in `x-delivery-count`.
    pub counts_deliveries: bool,
    /// `x-delivery-limit`: the returns after which a message is dead-lettered.
    pub delivery_limit: Option<u64>,
}

fn non_negative(v: Option<&FieldValue>) -> Option<u64> {
    v.and_then(FieldValue::as_i64)
        .and_then(|i| u64::try_from(i).ok())
}

impl Limits {
    pub(super) fn from_arguments(args: &FieldTable) -> Self {
        Limits {
            message_ttl: non_negative(args.get("x-message-ttl")).map(Duration::from_millis),
            expires: non_negative(args.get("x-expires")).map(Duration::from_millis),
            max_length: non_negative(args.get("x-max-length")),
            max_length_bytes: non_negative(args.get("x-max-length-bytes")),
            overflow: match args.get("x-overflow").and_then(FieldValue::as_str) {
                Some("reject-publish") => Some(Overflow::RejectPublish),
                Some("reject-publish-dlx") => Some(Overflow::RejectPublishDlx),
                Some("drop-head") => Some(Overflow::DropHead),
                _ => None,
            },
            max_priority: non_negative(args.get("x-max-priority"))
                .map(|p| u8::try_from(p).unwrap_or(u8::MAX)),
            dead_letter_exchange: args
                .get("x-dead-letter-exchange")
                .and_then(FieldValue::as_str)
                .map(str::to_owned),
            dead_letter_routing_key: args
                .get("x-dead-letter-routing-key")
                .and_then(FieldValue::as_str)
                .map(str::to_owned),
            counts_deliveries: args.get("x-queue-type").and_then(FieldValue::as_str)
                == Some("quorum"),
            delivery_limit: non_negative(args.get("x-delivery-limit")),
        }
    }
}

#[derive(Debug)]
pub(super) struct QueueState {
    /// The queue's name, shared by its bindings, unacked entries and the pending list.
    pub name: Arc<str>,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
    pub owner: Option<u64>,
    pub limits: Limits,
    /// Ready messages, one deque per priority level, each in `seq` order.
    levels: Vec<VecDeque<Stored>>,
    bytes: u64,
    pub consumers: Vec<ConsumerState>,
    pub next_consumer: usize,
    pub had_consumer: bool,
    /// When a TTL timer is already set to look at this queue.
    pub timer_at: Option<Instant>,
    /// Last declare, get, consume or cancel: `x-expires` counts from here.
    pub last_used: Instant,
    /// Whether the queue is in the broker's list of queues to deliver from.
    pub pending: bool,
    /// A stream's log (`x-queue-type = stream`): messages stay after they are consumed.
    pub stream: Option<StreamLog>,
}

/// A stream's messages in offset order, each with its offset and the second it was written.
/// Reading does not remove them; every consumer has its own cursor.
///
/// Retention works as RabbitMQ's does, a segment at a time: the log is cut into segments of
/// `x-stream-max-segment-size-bytes` (500 MB unless set), and each time a new segment starts,
/// whole old segments are dropped, oldest first, while the log is over `x-max-length-bytes`
/// or the segment's last message is older than `x-max-age`. The segment being written is never
/// dropped, and nothing is dropped between two segments. (Sizes count message bodies; RabbitMQ
/// also counts its own framing, so it keeps somewhat fewer messages for the same limit.)
#[derive(Debug)]
pub(super) struct StreamLog {
    entries: VecDeque<(u64, Stored, u64)>,
    next: u64,
    segments: VecDeque<Segment>,
    /// The bytes of every segment.
    bytes: u64,
    segment_bytes: u64,
    max_bytes: Option<u64>,
    max_age: Option<Duration>,
}

/// A segment of a stream's log: its first offset, its bytes, and the second its last message
/// was written.
#[derive(Debug)]
struct Segment {
    first: u64,
    bytes: u64,
    last_write: u64,
}

impl StreamLog {
    /// RabbitMQ's default segment size.
    const SEGMENT_BYTES: u64 = 500_000_000;

    pub(super) fn new(arguments: &FieldTable) -> Self {
        let number = |key: &str| {
            arguments
                .get(key)
                .and_then(FieldValue::as_i64)
                .and_then(|n| u64::try_from(n).ok())
        };
        StreamLog {
            entries: VecDeque::new(),
            next: 0,
            segments: VecDeque::new(),
            bytes: 0,
            segment_bytes: number("x-stream-max-segment-size-bytes")
                .filter(|n| *n > 0)
                .unwrap_or(Self::SEGMENT_BYTES),
            max_bytes: number("x-max-length-bytes"),
            max_age: arguments
                .get("x-max-age")
                .and_then(FieldValue::as_str)
                .and_then(parse_max_age),
        }
    }

    fn append(&mut self, msg: Stored, secs: u64) {
        let size = msg.size();
        if self
            .segments
            .back()
            .is_none_or(|s| s.bytes >= self.segment_bytes)
        {
            self.segments.push_back(Segment {
                first: self.next,
                bytes: 0,
                last_write: secs,
            });
            self.retain(secs);
        }
        if let Some(segment) = self.segments.back_mut() {
            segment.bytes += size;
            segment.last_write = secs;
        }
        self.bytes += size;
        self.entries.push_back((self.next, msg, secs));
        self.next += 1;
    }

    /// Drops the oldest segments (never the one being written) while the log is too large or
    /// they are too old.
    fn retain(&mut self, now: u64) {
        while self.segments.len() > 1 {
            let Some(oldest) = self.segments.front() else {
                break;
            };
            let too_large = self.max_bytes.is_some_and(|max| self.bytes > max);
            let too_old = self
                .max_age
                .is_some_and(|age| oldest.last_write.saturating_add(age.as_secs()) < now);
            if !(too_large || too_old) {
                break;
            }
            self.bytes -= oldest.bytes;
            self.segments.pop_front();
            let keep_from = self.segments.front().map_or(self.next, |s| s.first);
            while self.entries.front().is_some_and(|e| e.0 < keep_from) {
                self.entries.pop_front();
            }
        }
    }

    /// The first offset the log still holds (the next one when it holds none).
    pub(super) fn first(&self) -> u64 {
        self.entries.front().map_or(self.next, |e| e.0)
    }

    /// The message at `offset`, if the log holds it.
    pub(super) fn at(&self, offset: u64) -> Option<&Stored> {
        let index = usize::try_from(offset.checked_sub(self.first())?).ok()?;
        self.entries.get(index).map(|e| &e.1)
    }

    /// The first message written at or after `secs` (or the next one).
    fn written_since(&self, secs: u64) -> u64 {
        self.entries
            .iter()
            .find(|e| e.2 >= secs)
            .map_or(self.next, |e| e.0)
    }

    /// Where a consumer starts for its `x-stream-offset` (`next` when absent): `first`,
    /// `last` (the last message; RabbitMQ starts at the last chunk, which holds it), `next`,
    /// an offset (the first the log still holds when it is older), a timestamp (the first
    /// message written at or after it) or an interval (`"1h"`: from that long ago). `None` for a value RabbitMQ does not take.
    pub(super) fn start(&self, spec: Option<&FieldValue>) -> Option<u64> {
        Some(match spec {
            None => self.next,
            Some(FieldValue::String(s)) => match s.as_str() {
                "first" => self.first(),
                "last" => self.next.saturating_sub(1).max(self.first()),
                "next" => self.next,
                // An interval (`"1h"`): from that long ago.
                age => self.written_since(now_secs().saturating_sub(parse_max_age(age)?.as_secs())),
            },
            Some(FieldValue::Timestamp(t)) => self.written_since(*t),
            Some(v) => u64::try_from(v.as_i64()?).ok()?.max(self.first()),
        })
    }
}

impl QueueState {
    pub(super) fn new(
        name: Arc<str>,
        durable: bool,
        exclusive: bool,
        auto_delete: bool,
        arguments: FieldTable,
        owner: Option<u64>,
    ) -> Self {
        let limits = Limits::from_arguments(&arguments);
        let stream = (QueueType::of_arguments(&arguments) == QueueType::Stream)
            .then(|| StreamLog::new(&arguments));
        let levels = usize::from(limits.max_priority.unwrap_or(0)) + 1;
        QueueState {
            name,
            durable,
            exclusive,
            auto_delete,
            arguments,
            owner,
            limits,
            levels: (0..levels).map(|_| VecDeque::new()).collect(),
            bytes: 0,
            consumers: Vec::new(),
            next_consumer: 0,
            had_consumer: false,
            timer_at: None,
            last_used: Instant::now(),
            pending: false,
            stream,
        }
    }

    /// When the queue is deleted for being unused (`x-expires`), if it has no consumers.
    pub(super) fn idle_deadline(&self) -> Option<Instant> {
        match self.limits.expires {
            Some(expires) if self.consumers.is_empty() => Some(self.last_used + expires),
            _ => None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.levels.iter().map(VecDeque::len).sum()
    }

    fn max_level(&self) -> usize {
        self.levels.len() - 1
    }

    /// Append a newly published message (to a stream's log, with the second it was written).
    pub(super) fn push(&mut self, msg: Stored) {
        if let Some(log) = &mut self.stream {
            log.append(msg, now_secs());
            return;
        }
        let level = msg.priority(self.max_level());
        self.bytes += msg.size();
        self.levels[level].push_back(msg);
    }

    /// Put a message back at its original position (by `seq`).
    pub(super) fn requeue(&mut self, msg: Stored) {
        let level = msg.priority(self.max_level());
        self.bytes += msg.size();
        let deque = &mut self.levels[level];
        let pos = deque.partition_point(|m| m.seq() < msg.seq());
        deque.insert(pos, msg);
    }

    /// The next message to deliver: highest priority first, oldest first within a priority.
    pub(super) fn pop(&mut self) -> Option<Stored> {
        let msg = self.levels.iter_mut().rev().find_map(VecDeque::pop_front)?;
        self.bytes -= msg.size();
        Some(msg)
    }

    /// Remove the head if it has expired by `now`.
    pub(super) fn pop_expired(&mut self, now: Instant) -> Option<Stored> {
        let level = self.levels.iter().rposition(|d| {
            d.front()
                .is_some_and(|m| m.expires_at.is_some_and(|t| t <= now))
        })?;
        let msg = self.levels[level].pop_front()?;
        self.bytes -= msg.size();
        Some(msg)
    }

    /// The earliest expiry among the heads.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.levels
            .iter()
            .filter_map(|d| d.front().and_then(|m| m.expires_at))
            .min()
    }

    /// Whether holding one more message of `size` bytes would exceed a limit.
    pub(super) fn would_overflow(&self, size: usize) -> bool {
        self.limits
            .max_length
            .is_some_and(|max| self.len() as u64 + 1 > max)
            || self
                .limits
                .max_length_bytes
                .is_some_and(|max| self.bytes + size as u64 > max)
    }

    /// Whether a limit is exceeded now.
    pub(super) fn over_limit(&self) -> bool {
        self.limits
            .max_length
            .is_some_and(|max| self.len() as u64 > max)
            || self
                .limits
                .max_length_bytes
                .is_some_and(|max| self.bytes > max)
    }

    /// Drop every ready message; returns how many.
    pub(super) fn purge(&mut self) -> usize {
        let n = self.len();
        for d in &mut self.levels {
            d.clear();
        }
        self.bytes = 0;
        n
    }
}

/// Seconds since the Unix epoch, the resolution of a stream's timestamps.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
