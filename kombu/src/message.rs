//! [`Message`]: one received message, with its delivery information, decoding (memoised and
//! subject to the consumer's accept list) and its one-time acknowledgement. One on its way to
//! the broker is an [`OutgoingMessage`](crate::OutgoingMessage).
//!
//! The body is already decompressed (the `compression` header is honoured when the message is
//! built); decoding happens only when asked for.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::DeserializeOwned;

use crate::compression::Compression;
use crate::error::{Error, ErrorKind, Result};
use crate::field::{FieldTable, FieldValue};
use crate::properties::Properties;
use crate::serialization::{Accept, Registry};
use crate::sync::lock;
use crate::transport::{Delivery, TransportChannel};
use crate::value::Value;

/// Where a message stands: received, then settled exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Not yet settled.
    Received,
    /// Acknowledged.
    Acked,
    /// Rejected without requeue (dead-lettered if the queue has a dead-letter exchange).
    Rejected,
    /// Rejected and requeued.
    Requeued,
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageState::Received => "RECEIVED",
            MessageState::Acked => "ACK",
            MessageState::Rejected => "REJECTED",
            MessageState::Requeued => "REQUEUED",
        })
    }
}

/// How a message was received: what a consumer or `get` passes along with the delivery.
#[derive(Clone)]
pub(crate) struct Receipt {
    pub channel: Arc<dyn TransportChannel>,
    pub no_ack: bool,
    pub accept: Option<Arc<Accept>>,
    pub registry: Arc<Registry>,
    pub max_decompressed: usize,
}

/// A received message.
pub struct Message {
    delivery: Delivery,
    /// Why the body could not be decompressed, if it could not.
    decompress_error: Option<String>,
    receipt: Receipt,
    state: Mutex<MessageState>,
    decoded: OnceLock<Value>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("delivery_tag", &self.delivery.delivery_tag)
            .field("exchange", &self.delivery.exchange)
            .field("routing_key", &self.delivery.routing_key)
            .field("content_type", &self.delivery.properties.content_type)
            .field("body_len", &self.delivery.body.len())
            .field("state", &self.state())
            .finish()
    }
}

impl Message {
    pub(crate) fn new(mut delivery: Delivery, receipt: Receipt) -> Self {
        let codec = delivery
            .properties
            .headers
            .as_ref()
            .and_then(|h| h.get("compression"))
            .and_then(FieldValue::as_str)
            .map(str::to_owned);
        let mut decompress_error = None;
        if let Some(codec) = codec {
            match Compression::from_name(&codec)
                .and_then(|c| c.decompress(&delivery.body, receipt.max_decompressed))
            {
                Ok(body) => delivery.body = body.into(),
                Err(e) => decompress_error = Some(e.message().to_owned()),
            }
        }
        Message {
            delivery,
            decompress_error,
            receipt,
            state: Mutex::new(MessageState::Received),
            decoded: OnceLock::new(),
        }
    }

    /// The delivery as the transport handed it over (its tag is the transport's own: the
    /// broker's is [`Message::delivery_tag`]).
    pub(crate) fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The body, decompressed, not decoded.
    pub fn body(&self) -> &[u8] {
        &self.delivery.body
    }
    /// The `content_type` property.
    pub fn content_type(&self) -> Option<&str> {
        self.delivery.properties.content_type.as_deref()
    }
    /// The `content_encoding` property.
    pub fn content_encoding(&self) -> Option<&str> {
        self.delivery.properties.content_encoding.as_deref()
    }
    /// The application headers.
    pub fn headers(&self) -> Option<&FieldTable> {
        self.delivery.properties.headers.as_ref()
    }
    /// One application header.
    pub fn header(&self, key: &str) -> Option<&FieldValue> {
        self.headers().and_then(|h| h.get(key))
    }
    /// The offset of this message in its stream (the `x-stream-offset` header RabbitMQ adds to
    /// a stream's deliveries); `None` for a message from another queue type. Consuming from
    /// `StreamOffset::Offset(n + 1)` resumes after it.
    pub fn stream_offset(&self) -> Option<u64> {
        self.header("x-stream-offset")
            .and_then(FieldValue::as_i64)
            .and_then(|n| u64::try_from(n).ok())
    }
    /// All basic properties.
    pub fn properties(&self) -> &Properties {
        &self.delivery.properties
    }
    /// The channel-scoped delivery tag, as the broker numbered the delivery.
    pub fn delivery_tag(&self) -> u64 {
        self.receipt.channel.broker_tag(self.delivery.delivery_tag)
    }
    /// Whether the broker delivered this message before.
    pub fn redelivered(&self) -> bool {
        self.delivery.redelivered
    }
    /// The exchange it was published to.
    pub fn exchange(&self) -> &str {
        &self.delivery.exchange
    }
    /// The routing key it was published with.
    pub fn routing_key(&self) -> &str {
        &self.delivery.routing_key
    }
    /// The consumer it was delivered to (empty for `get`).
    pub fn consumer_tag(&self) -> &str {
        &self.delivery.consumer_tag
    }

    fn check_body(&self) -> Result<()> {
        match &self.decompress_error {
            Some(e) => Err(Error::new(
                ErrorKind::Decode,
                format!(
                    "message {}: cannot decompress body: {e}",
                    self.delivery.delivery_tag
                ),
            )),
            None => Ok(()),
        }
    }

    /// The decoded body, by the content-type rules and the consumer's accept list; decoded once.
    pub fn payload(&self) -> Result<&Value> {
        if let Some(v) = self.decoded.get() {
            return Ok(v);
        }
        self.check_body()?;
        let value = self.receipt.registry.decode(
            &self.delivery.body,
            self.content_type(),
            self.content_encoding(),
            self.receipt.accept.as_deref(),
        )?;
        Ok(self.decoded.get_or_init(|| value))
    }

    /// Decode the body into a typed value, subject to the accept list.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        self.check_body()?;
        if let Some(v) = self.decoded.get() {
            return v.clone().deserialize_into();
        }
        self.receipt.registry.decode_as(
            &self.delivery.body,
            self.content_type(),
            self.content_encoding(),
            self.receipt.accept.as_deref(),
        )
    }

    /// Where the message stands.
    pub fn state(&self) -> MessageState {
        *lock(&self.state)
    }

    /// Whether it was acked, rejected or requeued.
    pub fn acknowledged(&self) -> bool {
        self.state() != MessageState::Received
    }

    fn settle(
        &self,
        to: MessageState,
        act: impl FnOnce(&dyn TransportChannel, u64) -> Result<()>,
    ) -> Result<()> {
        if self.receipt.no_ack {
            return Ok(()); // Nothing to settle: the broker forgot the message when it sent it.
        }
        let mut state = lock(&self.state);
        if *state != MessageState::Received {
            return Err(Error::new(
                ErrorKind::MessageState,
                format!(
                    "message {} was already settled ({}); it cannot be {to} again",
                    self.delivery.delivery_tag, *state
                ),
            ));
        }
        act(self.receipt.channel.as_ref(), self.delivery.delivery_tag)?;
        *state = to;
        crate::telemetry::settled(
            self.delivery.delivery_tag,
            match to {
                MessageState::Acked => "ack",
                MessageState::Rejected => "reject",
                _ => "requeue",
            },
        );
        Ok(())
    }

    /// Acknowledge: the broker forgets the message. A no-op on a no-ack delivery.
    pub fn ack(&self) -> Result<()> {
        self.settle(MessageState::Acked, |ch, tag| ch.ack(tag, false))
    }

    /// Reject without requeue: the message is dead-lettered if its queue has a dead-letter
    /// exchange, else discarded.
    pub fn reject(&self) -> Result<()> {
        self.settle(MessageState::Rejected, |ch, tag| ch.reject(tag, false))
    }

    /// Reject and requeue: the message goes back to its original position, marked redelivered.
    pub fn requeue(&self) -> Result<()> {
        self.settle(MessageState::Requeued, |ch, tag| ch.reject(tag, true))
    }
}
