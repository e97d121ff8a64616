//! The transport abstraction: what a broker connection must do for the runtime above it.
//!
//! [`Transport`] is a connection, [`TransportChannel`] a channel on it. The memory transport
//! implements them in-process; the AMQP and STOMP transports implement them over the network.
//! No dependency's types appear here: bodies are bytes, properties are [`Properties`], tables are
//! [`FieldTable`]s, deliveries arrive on a [`DeliverySender`].
//!
//! Acknowledgements are synchronous calls: in AMQP `basic.ack`/`basic.reject` have no reply, so
//! a transport only has to queue the frame. Everything that waits for the broker is `async`.

#[cfg(feature = "amqp")]
pub mod amqp;
pub mod memory;
pub(crate) mod naming;
pub mod recovery;
#[cfg(feature = "stomp")]
pub mod stomp;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::field::FieldTable;
use crate::properties::Properties;
use crate::{Exchange, Queue};

/// Also here, where transports take it.
pub use crate::outgoing::OutgoingMessage;

/// Where a message is published and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishFlags {
    /// Return the message (error [`ErrorKind::Unroutable`](crate::ErrorKind::Unroutable)) when
    /// no queue receives it.
    pub mandatory: bool,
}

/// What the broker answered to a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Not in confirm mode: nothing was awaited.
    NotRequested,
    /// The broker took responsibility for the message.
    Ack,
    /// The broker refused the message (for example a full queue with `reject-publish`).
    Nack,
}

/// The broker's answer to one publish, still to come: await it for the confirmation. Several
/// can be in flight at once (pipelined confirms).
pub type PendingConfirm = Pin<Box<dyn Future<Output = Result<Confirmation>> + Send + 'static>>;

/// What `queue.declare` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDeclared {
    /// The queue's name (chosen by the broker when declared with an empty name).
    pub name: String,
    /// Messages ready in the queue.
    pub message_count: u32,
    /// Consumers on the queue.
    pub consumer_count: u32,
}

/// One message delivered by the broker, before decompression and decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The channel-scoped tag to acknowledge with.
    pub delivery_tag: u64,
    /// Whether the message was delivered before and not acknowledged.
    pub redelivered: bool,
    /// The exchange it was published to (names are shared: a transport that knows the name
    /// already hands out a reference, not a copy).
    pub exchange: Arc<str>,
    /// The routing key it was published with.
    pub routing_key: Arc<str>,
    /// The consumer it was delivered to (empty for `basic.get`).
    pub consumer_tag: Arc<str>,
    /// The body as received: shared, so a transport that holds the body already (the memory
    /// broker, a frame buffer) hands it over without copying (`Vec<u8>` converts without
    /// copying too: `body.into()`).
    pub body: bytes::Bytes,
    /// The basic properties, shared: the memory broker hands every delivery of a message the
    /// properties it stored once.
    pub properties: Arc<Properties>,
}

/// What a consumer receives from its transport.
// Deliveries are the common case; boxing them would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ConsumerEvent {
    /// A message.
    Delivery(Delivery),
    /// The broker cancelled the consumer (its queue was deleted, for example).
    Cancelled {
        /// The cancelled consumer's tag.
        consumer_tag: String,
        /// Why, as far as the transport knows.
        reason: String,
    },
    /// The consumer ended without the broker cancelling it: the user cancelled it, or its
    /// channel or connection closed. It is the last event of that consumer tag: every delivery
    /// of the tag was sent before it.
    Ended {
        /// The ended consumer's tag.
        consumer_tag: String,
    },
}

/// The sending half given to [`TransportChannel::consume`]; several consumers may share one.
pub type DeliverySender = mpsc::UnboundedSender<ConsumerEvent>;

/// How acknowledgements are batched (see [`TransportChannel::set_ack_batching`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckBatching {
    /// Send once this many acks are waiting.
    pub max_count: usize,
    /// Send once the oldest waiting ack is this old.
    pub max_delay: std::time::Duration,
}

/// What a binding's destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindingKind {
    /// `queue.bind`: messages go to a queue.
    Queue,
    /// `exchange.bind`: messages go on to another exchange.
    Exchange,
}

/// One binding: what `source` routes with `routing_key` (and, for a headers exchange,
/// `arguments`) goes to `destination`.
#[derive(Debug, Clone, Copy)]
pub struct BindingRef<'a> {
    /// A queue or an exchange.
    pub kind: BindingKind,
    /// The queue or exchange that receives.
    pub destination: &'a str,
    /// The exchange messages come from.
    pub source: &'a str,
    /// The binding key.
    pub routing_key: &'a str,
    /// The binding's arguments (`x-match` and the headers for a headers exchange).
    pub arguments: &'a FieldTable,
}

/// Add a binding or take it away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindOp {
    /// `queue.bind` / `exchange.bind`.
    Bind,
    /// `queue.unbind` / `exchange.unbind`.
    Unbind,
}

/// What a transport can do, so that the runtime adapts (a consumer on STOMP does not try to
/// declare its queues) or refuses once, up front, with one clear message, instead of failing
/// halfway through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Declare, delete and purge exchanges and queues.
    pub declare: bool,
    /// Add and remove bindings.
    pub bind: bool,
    /// Fetch one message (`basic.get`).
    pub get: bool,
    /// Publish as mandatory, with unroutable messages returned.
    pub mandatory: bool,
    /// Consume exclusively.
    pub exclusive_consume: bool,
    /// Consumer arguments (`x-priority`, ...).
    pub consumer_arguments: bool,
    /// Settle a delivery after its consumer was cancelled (RabbitMQ's STOMP ends the session
    /// over it). Graceful shutdown cancels before the handlers in flight finish only where it
    /// can.
    pub settle_after_cancel: bool,
}

impl Capabilities {
    /// Everything AMQP 0-9-1 offers.
    pub const ALL: Capabilities = Capabilities {
        declare: true,
        bind: true,
        get: true,
        mandatory: true,
        exclusive_consume: true,
        consumer_arguments: true,
        settle_after_cancel: true,
    };
}

/// Options of `basic.consume`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// Deliveries need no acknowledgement.
    pub no_ack: bool,
    /// No other consumer may consume the queue.
    pub exclusive: bool,
    /// Consumer arguments (`x-priority`, ...).
    pub arguments: FieldTable,
}

/// A connection to a broker.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Open a new channel.
    async fn open_channel(&self) -> Result<Arc<dyn TransportChannel>>;
    /// Close the connection: channels close, unacknowledged messages return to their queues,
    /// exclusive queues are deleted.
    async fn close(&self) -> Result<()>;
    /// Whether the connection is usable.
    fn is_open(&self) -> bool;
    /// The URL of the broker the transport is connected to now (failover may change it).
    fn connected_url(&self) -> Option<crate::BrokerUrl> {
        None
    }
    /// Incremented each time the transport reconnects; what was declared before may be gone.
    fn generation(&self) -> u64 {
        0
    }
}

/// A channel: every broker operation the runtime uses.
#[async_trait]
pub trait TransportChannel: Send + Sync + 'static {
    /// `exchange.declare` (passive when `exchange.passive`).
    async fn declare_exchange(&self, exchange: &Exchange) -> Result<()>;
    /// `exchange.delete`.
    async fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<()>;
    /// `queue.declare` (passive when `queue.passive`), with [`Queue::declare_arguments`].
    async fn declare_queue(&self, queue: &Queue) -> Result<QueueDeclared>;
    /// `queue.bind`, `queue.unbind`, `exchange.bind` or `exchange.unbind`.
    async fn binding(&self, op: BindOp, binding: BindingRef<'_>) -> Result<()>;
    /// `queue.delete`; returns the number of messages deleted.
    async fn delete_queue(&self, name: &str, if_unused: bool, if_empty: bool) -> Result<u32>;
    /// `queue.purge`; returns the number of messages purged.
    async fn purge_queue(&self, name: &str) -> Result<u32>;
    /// `confirm.select`: from now on publishes are confirmed.
    async fn confirm_select(&self) -> Result<()>;
    /// `basic.publish`: returns once the message is handed to the broker, with the confirmation
    /// still to await. A mandatory message that reaches no queue resolves to an
    /// [`Unroutable`](crate::ErrorKind::Unroutable) error that hands the message back.
    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: OutgoingMessage,
        flags: PublishFlags,
    ) -> Result<PendingConfirm>;
    /// `basic.qos` for consumers started after it (`global = false`, per consumer).
    async fn qos(&self, prefetch_count: u16) -> Result<()>;
    /// `basic.qos` with `global = true`: how many unacknowledged messages the whole channel
    /// may hold, consumers already started included (RabbitMQ's per-channel limit, which a
    /// later call changes at once). A transport without one says `Unsupported`.
    async fn qos_channel(&self, prefetch_count: u16) -> Result<()> {
        let _ = prefetch_count;
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            "a channel-wide prefetch (basic.qos with global = true) is not supported on this transport",
        ))
    }
    /// `basic.consume`: deliveries (and a broker cancel) go to `sender`.
    async fn consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: &ConsumeOptions,
        sender: DeliverySender,
    ) -> Result<()>;
    /// `basic.cancel`.
    async fn cancel(&self, consumer_tag: &str) -> Result<()>;
    /// `basic.get`: one message, or `None` when the queue is empty.
    async fn get(&self, queue: &str, no_ack: bool) -> Result<Option<Delivery>>;
    /// `basic.ack`.
    fn ack(&self, delivery_tag: u64, multiple: bool) -> Result<()>;
    /// Batch acknowledgements on this channel: acks are sent as one `basic.ack` with
    /// `multiple = true` once `max_count` are waiting or the oldest has waited `max_delay`,
    /// covering only messages whose handling has finished. `None` turns batching off.
    /// Transports without a cost per ack may ack at once.
    fn set_ack_batching(&self, batching: Option<AckBatching>) {
        let _ = batching;
    }
    /// The broker's delivery tag of a delivery this channel handed out (a transport may add
    /// bits of its own to the tag it settles by).
    fn broker_tag(&self, delivery_tag: u64) -> u64 {
        delivery_tag
    }
    /// What this transport can do (all of AMQP 0-9-1 unless it says otherwise).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
    /// `basic.reject` (`basic.nack` for one message).
    fn reject(&self, delivery_tag: u64, requeue: bool) -> Result<()>;
    /// Close the channel: its consumers are cancelled and its unacknowledged messages return to
    /// their queues, marked redelivered.
    async fn close(&self) -> Result<()>;
}
