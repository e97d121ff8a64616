//! [`Producer`]: publishes to an exchange with defaults (routing key, serializer, compression,
//! delivery mode, headers), and [`Publish`], the per-message options, awaited to send.
//!
//! A plain publish sets exactly the properties Python kombu sets: `content_type`,
//! `content_encoding`, `headers` (empty when there are none), `delivery_mode` (persistent unless
//! the exchange or the producer says otherwise) and `priority = 0`.

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;

use crate::channel::Channel;
use crate::compression::Compression;
use crate::error::{Error, ErrorKind, Result};
use crate::field::{FieldTable, FieldValue};
use crate::properties::{DeliveryMode, Properties};
use crate::serialization::{Body, Registry};
use crate::telemetry;
use crate::transport::{Confirmation, OutgoingMessage, PendingConfirm, PublishFlags};
use crate::{Exchange, Queue};

/// Something a publish can declare first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Declarable {
    /// An exchange (and its exchange-to-exchange bindings).
    Exchange(Exchange),
    /// A queue (and its bindings and their exchanges).
    Queue(Queue),
}

impl From<Exchange> for Declarable {
    fn from(e: Exchange) -> Self {
        Declarable::Exchange(e)
    }
}
impl From<Queue> for Declarable {
    fn from(q: Queue) -> Self {
        Declarable::Queue(q)
    }
}

/// Publishes messages to one exchange with defaults.
///
/// A producer is shared by reference (`&Producer`, `Arc<Producer>`: publishing takes `&self`,
/// also in confirm mode, from many tasks at once) or cloned: a clone publishes on the same
/// channel with the same settings.
#[derive(Debug)]
pub struct Producer {
    channel: Channel,
    exchange: Exchange,
    routing_key: String,
    serializer: Option<String>,
    compression: Option<String>,
    delivery_mode: Option<DeliveryMode>,
    headers: FieldTable,
    auto_declare: bool,
    confirm: bool,
    registry: Option<Arc<Registry>>,
    ready: AtomicBool,
}

impl Clone for Producer {
    fn clone(&self) -> Self {
        Producer {
            channel: self.channel.clone(),
            exchange: self.exchange.clone(),
            routing_key: self.routing_key.clone(),
            serializer: self.serializer.clone(),
            compression: self.compression.clone(),
            delivery_mode: self.delivery_mode,
            headers: self.headers.clone(),
            auto_declare: self.auto_declare,
            confirm: self.confirm,
            registry: self.registry.clone(),
            // Declared once per connection anyway (the channel's cache); a clone of a producer
            // that has declared need not ask again.
            ready: AtomicBool::new(self.ready.load(Ordering::Acquire)),
        }
    }
}

impl Producer {
    /// A producer on `channel` publishing to the default exchange `""` until told otherwise.
    pub fn new(channel: &Channel) -> Self {
        Producer {
            channel: channel.clone(),
            exchange: Exchange::default_exchange(),
            routing_key: String::new(),
            serializer: None,
            compression: None,
            delivery_mode: None,
            headers: FieldTable::new(),
            auto_declare: true,
            confirm: false,
            registry: None,
            ready: AtomicBool::new(false),
        }
    }

    /// The exchange to publish to (declared before the first publish unless `auto_declare` is
    /// off).
    pub fn exchange(mut self, exchange: Exchange) -> Self {
        self.exchange = exchange;
        self
    }
    /// The default routing key.
    pub fn routing_key(mut self, key: impl Into<String>) -> Self {
        self.routing_key = key.into();
        self
    }
    /// The default serializer by name (`json` unless set).
    pub fn serializer(mut self, name: impl Into<String>) -> Self {
        self.serializer = Some(name.into());
        self
    }
    /// The default compression, by alias or MIME type (`zlib`, `application/x-bz2`, ...).
    pub fn compression(mut self, name: impl Into<String>) -> Self {
        self.compression = Some(name.into());
        self
    }
    /// The default delivery mode (else the exchange's, which is persistent unless set).
    pub fn delivery_mode(mut self, mode: DeliveryMode) -> Self {
        self.delivery_mode = Some(mode);
        self
    }
    /// A header sent with every message.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }
    /// Whether the exchange is declared before the first publish (default true; on a transport
    /// that cannot declare, STOMP, it must exist and is not declared).
    pub fn auto_declare(mut self, auto_declare: bool) -> Self {
        self.auto_declare = auto_declare;
        self
    }
    /// Put the channel in publisher-confirm mode: each publish waits for the broker's ack, and a
    /// nack is an error that hands the message back.
    pub fn confirm(mut self, confirm: bool) -> Self {
        self.confirm = confirm;
        self
    }
    /// Use this serializer registry instead of the process-wide one.
    pub fn registry(mut self, registry: Arc<Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The exchange this producer publishes to.
    pub fn exchange_declaration(&self) -> &Exchange {
        &self.exchange
    }

    /// The channel this producer publishes on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Declare the exchange now.
    pub async fn declare(&self) -> Result<()> {
        self.channel.declare_exchange(&self.exchange).await
    }

    /// Publish a value, serialized with the producer's serializer unless the options say
    /// otherwise. Await the returned [`Publish`] to send it.
    pub fn publish<'a, T: Serialize + Sync + ?Sized>(&'a self, body: &'a T) -> Publish<'a, T> {
        Publish::new(self, Payload::Value(body))
    }

    /// Reply to a request the way Python kombu's `kombu.common.send_reply` does: to the
    /// request's `reply_to` (through this producer's exchange, usually the default one), with
    /// its `correlation_id`, serialized as the request was (same content type and encoding).
    /// An error when the request has no `reply_to`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> kombu::Result<()> {
    /// let conn = kombu::Connection::connect("memory://reply-doc").await?;
    /// let channel = conn.channel().await?;
    /// for q in ["rpc", "replies"] {
    ///     channel.declare_queue(&kombu::Queue::new(q)).await?;
    /// }
    /// let producer = kombu::Producer::new(&channel);
    /// producer.publish(&"ping").routing_key("rpc").reply_to("replies").correlation_id("42").await?;
    ///
    /// let request = kombu::Queue::new("rpc").attach(&channel).get(false).await?.unwrap();
    /// producer.reply(&request, &"pong")?.await?;
    /// request.ack()?;
    ///
    /// let reply = kombu::Queue::new("replies").attach(&channel).get(true).await?.unwrap();
    /// assert_eq!(reply.properties().correlation_id.as_deref(), Some("42"));
    /// assert_eq!(reply.decode::<String>()?, "pong");
    /// # Ok(()) }
    /// ```
    pub fn reply<'a, T: Serialize + Sync + ?Sized>(
        &'a self,
        request: &crate::Message,
        body: &'a T,
    ) -> Result<Publish<'a, T>> {
        let properties = request.properties();
        let reply_to = properties.reply_to.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::Encode,
                format!(
                    "cannot reply to message {}: it has no reply_to",
                    request.delivery_tag()
                ),
            )
        })?;
        let mut publish = self.publish(body).routing_key(reply_to);
        if let Some(id) = &properties.correlation_id {
            publish = publish.correlation_id(id.as_str());
        }
        let registry = self
            .registry
            .clone()
            .unwrap_or_else(crate::serialization::registry);
        if let Some(name) = request
            .content_type()
            .and_then(|t| registry.name_of(t))
            .filter(|name| *name != "pickle")
        {
            publish = publish.serializer(name);
        }
        Ok(publish)
    }

    /// Publish bytes or text as they are, without a serializer: bytes as `application/data`
    /// (`binary`), text as `text/plain` (`utf-8`), unless a content type is given.
    pub fn publish_body(&self, body: impl Into<Body>) -> Publish<'_, ()> {
        Publish::new(self, Payload::Body(body.into()))
    }

    async fn prepare(&self) -> Result<()> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        // A transport that cannot declare (STOMP) publishes to what exists.
        if self.auto_declare && self.channel.capabilities().declare {
            self.channel.maybe_declare_exchange(&self.exchange).await?;
        }
        if self.confirm {
            self.channel.confirm_select().await?;
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
    }
}

enum Payload<'a, T: ?Sized> {
    Value(&'a T),
    Body(Body),
}

/// One publish: per-message options over the producer's defaults. Await it to send.
#[must_use = "a publish does nothing until awaited"]
pub struct Publish<'a, T: ?Sized> {
    producer: &'a Producer,
    payload: Payload<'a, T>,
    exchange: Option<String>,
    routing_key: Option<String>,
    serializer: Option<String>,
    compression: Option<String>,
    headers: FieldTable,
    content_type: Option<String>,
    content_encoding: Option<String>,
    mandatory: bool,
    declare: Vec<Declarable>,
    properties: Properties,
}

// The payload need not be `Debug`; what the publish will do is.
impl<T: ?Sized> std::fmt::Debug for Publish<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("serializer", &self.serializer)
            .field("compression", &self.compression)
            .field("headers", &self.headers)
            .field("content_type", &self.content_type)
            .field("content_encoding", &self.content_encoding)
            .field("mandatory", &self.mandatory)
            .field("declare", &self.declare)
            .field("properties", &self.properties)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Serialize + Sync + ?Sized> Publish<'a, T> {
    fn new(producer: &'a Producer, payload: Payload<'a, T>) -> Self {
        Publish {
            producer,
            payload,
            exchange: None,
            routing_key: None,
            serializer: None,
            compression: None,
            headers: FieldTable::new(),
            content_type: None,
            content_encoding: None,
            mandatory: false,
            declare: Vec::new(),
            properties: Properties::default(),
        }
    }

    /// Publish with this routing key.
    pub fn routing_key(mut self, key: impl Into<String>) -> Self {
        self.routing_key = Some(key.into());
        self
    }
    /// Publish to this exchange (by name) instead of the producer's.
    pub fn exchange(mut self, name: impl Into<String>) -> Self {
        self.exchange = Some(name.into());
        self
    }
    /// Serialize with this serializer.
    pub fn serializer(mut self, name: impl Into<String>) -> Self {
        self.serializer = Some(name.into());
        self
    }
    /// Compress with this codec (alias or MIME type).
    pub fn compression(mut self, name: impl Into<String>) -> Self {
        self.compression = Some(name.into());
        self
    }
    /// Add a header (over the producer's headers).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }
    /// Add headers.
    pub fn headers(mut self, headers: FieldTable) -> Self {
        self.headers.extend(headers);
        self
    }
    /// The content type of a raw body (with [`Producer::publish_body`]).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
    /// The content encoding of a raw body.
    pub fn content_encoding(mut self, encoding: impl Into<String>) -> Self {
        self.content_encoding = Some(encoding.into());
        self
    }
    /// Priority 0..=255 (queues honour up to their `x-max-priority`).
    pub fn priority(mut self, priority: u8) -> Self {
        self.properties.priority = Some(priority);
        self
    }
    /// Per-message TTL.
    pub fn expiration(mut self, ttl: Duration) -> Self {
        self.properties.expiration = Some(ttl);
        self
    }
    /// Persistent or transient.
    pub fn delivery_mode(mut self, mode: DeliveryMode) -> Self {
        self.properties.delivery_mode = Some(mode);
        self
    }
    /// Return the message as an [`Unroutable`](ErrorKind::Unroutable) error when no queue takes
    /// it.
    pub fn mandatory(mut self, mandatory: bool) -> Self {
        self.mandatory = mandatory;
        self
    }
    /// Where replies go.
    pub fn reply_to(mut self, queue: impl Into<String>) -> Self {
        self.properties.reply_to = Some(queue.into());
        self
    }
    /// Correlation id.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.properties.correlation_id = Some(id.into());
        self
    }
    /// Message id.
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.properties.message_id = Some(id.into());
        self
    }
    /// Timestamp, seconds since the Unix epoch.
    pub fn timestamp(mut self, secs: u64) -> Self {
        self.properties.timestamp = Some(secs);
        self
    }
    /// The AMQP `type` property.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.properties.kind = Some(kind.into());
        self
    }
    /// App id.
    pub fn app_id(mut self, id: impl Into<String>) -> Self {
        self.properties.app_id = Some(id.into());
        self
    }
    /// User id (RabbitMQ checks it against the connection's user).
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.properties.user_id = Some(id.into());
        self
    }
    /// Declare this entity (once per connection) before publishing.
    pub fn declare(mut self, entity: impl Into<Declarable>) -> Self {
        self.declare.push(entity.into());
        self
    }

    fn encode(&mut self, registry: &Registry) -> Result<OutgoingMessage> {
        let p = self.producer;
        let encoded = match &mut self.payload {
            // Moved, not copied: a large body is held once.
            Payload::Body(body) => registry.encode_body(
                std::mem::replace(body, Body::Bytes(Vec::new())),
                self.content_type.as_deref(),
                self.content_encoding.as_deref(),
            )?,
            Payload::Value(value) => {
                if self.content_type.is_some() {
                    return Err(Error::new(
                        ErrorKind::Encode,
                        "a content type is for raw bodies (publish_body); a serialized value takes its content type from the serializer",
                    ));
                }
                registry.encode(
                    *value,
                    self.serializer.as_deref().or(p.serializer.as_deref()),
                )?
            }
        };
        let mut headers = p.headers.clone();
        headers.extend(std::mem::take(&mut self.headers));
        let mut body = encoded.body;
        if let Some(codec) = self.compression.as_deref().or(p.compression.as_deref()) {
            let codec = Compression::from_name(codec)?;
            body = codec.compress(&body)?;
            headers.insert("compression".into(), codec.mime_type().into());
        }
        let mut properties = self.properties.clone();
        properties.content_type = Some(encoded.content_type);
        properties.content_encoding = Some(encoded.content_encoding);
        properties.headers = Some(headers);
        properties.delivery_mode = Some(
            properties
                .delivery_mode
                .or(p.delivery_mode)
                .unwrap_or(p.exchange.delivery_mode),
        );
        properties.priority = Some(properties.priority.unwrap_or(0));
        Ok(OutgoingMessage {
            body: body.into(),
            properties,
        })
    }

    /// Hand the message to the broker; the confirmation is still to come. `names` is this
    /// publish's producer, borrowed for as long as the confirmation is kept (a pipeline keeps it
    /// longer than the publish lives).
    async fn start<'p>(self, names: &'p Producer) -> Result<Confirming<'p>> {
        self.stage(names).await?.hand_over(names).await
    }

    /// Everything before the hand-over to the channel: declare, encode, the span.
    async fn stage<'p>(mut self, names: &'p Producer) -> Result<Staged<'p>> {
        let p = self.producer;
        p.prepare().await?;
        for entity in &self.declare {
            match entity {
                Declarable::Exchange(e) => p.channel.maybe_declare_exchange(e).await?,
                Declarable::Queue(q) => p.channel.maybe_declare_queue(q).await?,
            }
        }
        let global;
        let registry = match &p.registry {
            Some(r) => r.as_ref(),
            None => {
                global = crate::serialization::registry();
                global.as_ref()
            }
        };
        let mut message = self.encode(registry)?;
        // The names are the producer's (borrowed) or this publish's (moved): kept for the
        // errors of the confirmation without a copy.
        let exchange: Cow<'p, str> = match self.exchange.take() {
            Some(name) => Cow::Owned(name),
            None => Cow::Borrowed(names.exchange.name.as_str()),
        };
        let routing_key: Cow<'p, str> = match self.routing_key.take() {
            Some(key) => Cow::Owned(key),
            None => Cow::Borrowed(names.routing_key.as_str()),
        };
        let span = telemetry::publish_span(
            &exchange,
            &routing_key,
            &message.properties,
            message.body.len(),
        );
        if let Some(headers) = message.properties.headers.as_mut() {
            telemetry::inject(&span, headers);
        }
        let started = std::time::Instant::now();
        // In confirm mode keep the message (the body shared, not copied), to hand back if the
        // broker refuses it.
        let keep = p.confirm.then(|| message.clone());
        let flags = PublishFlags {
            mandatory: self.mandatory,
        };
        Ok(Staged {
            message,
            flags,
            keep,
            exchange,
            routing_key,
            span,
            started,
        })
    }

    async fn send(self) -> Result<()> {
        let producer = self.producer;
        self.start(producer).await?.wait().await
    }
}

/// An encoded message not yet handed to the channel.
struct Staged<'a> {
    message: OutgoingMessage,
    flags: PublishFlags,
    keep: Option<OutgoingMessage>,
    exchange: Cow<'a, str>,
    routing_key: Cow<'a, str>,
    span: tracing::Span,
    started: std::time::Instant,
}

impl<'a> Staged<'a> {
    /// Hand the message to the channel of `producer` (the one that staged it).
    async fn hand_over(self, producer: &Producer) -> Result<Confirming<'a>> {
        let Staged {
            message,
            flags,
            keep,
            exchange,
            routing_key,
            span,
            started,
        } = self;
        let published = producer
            .channel
            .transport
            .publish(&exchange, &routing_key, message, flags)
            .instrument(span.clone())
            .await;
        let pending = match published {
            Ok(pending) => pending,
            Err(e) => {
                telemetry::failed(&span, e.kind());
                telemetry::published(&exchange, started.elapsed(), Err(e.kind()));
                return Err(e);
            }
        };
        Ok(Confirming {
            pending,
            keep,
            confirm: producer.confirm,
            exchange,
            routing_key,
            span,
            started,
        })
    }
}

/// A published message whose confirmation is outstanding.
struct Confirming<'a> {
    pending: PendingConfirm,
    keep: Option<OutgoingMessage>,
    /// The producer asked for confirms: only the broker's ack is success.
    confirm: bool,
    exchange: Cow<'a, str>,
    routing_key: Cow<'a, str>,
    /// The publish's span: it ends with the confirm.
    span: tracing::Span,
    started: std::time::Instant,
}

impl Confirming<'_> {
    async fn wait(mut self) -> Result<()> {
        let pending = std::mem::replace(
            &mut self.pending,
            Box::pin(std::future::ready(Ok(Confirmation::NotRequested))),
        );
        let outcome = pending.instrument(self.span.clone()).await;
        let outcome = self.confirmed(outcome);
        match &outcome {
            Ok(()) => {
                telemetry::published(&self.exchange, self.started.elapsed(), Ok(self.confirm))
            }
            Err(e) => {
                telemetry::failed(&self.span, e.kind());
                telemetry::published(&self.exchange, self.started.elapsed(), Err(e.kind()));
            }
        }
        outcome
    }

    fn confirmed(&mut self, outcome: Result<Confirmation>) -> Result<()> {
        let confirmation = match outcome {
            Ok(c) => c,
            // Hand back what could not be confirmed (an unroutable message carries it already).
            Err(e) => {
                return Err(match self.keep.take() {
                    Some(m) if e.returned_message().is_none() => e.with_message(m),
                    _ => e,
                })
            }
        };
        match confirmation {
            Confirmation::Nack => {
                let err = Error::new(
                    ErrorKind::Nacked,
                    format!(
                        "the broker refused the message to exchange '{}' with routing key '{}'",
                        self.exchange, self.routing_key
                    ),
                );
                Err(match self.keep.take() {
                    Some(m) => err.with_message(m),
                    None => err,
                })
            }
            Confirmation::NotRequested if self.confirm => {
                let err = Error::new(
                    ErrorKind::Channel,
                    format!(
                        "the message to exchange '{}' with routing key '{}' was published without \
                         publisher confirms on a confirming producer; whether the broker has it is unknown",
                        self.exchange, self.routing_key
                    ),
                );
                Err(match self.keep.take() {
                    Some(m) => err.with_message(m),
                    None => err,
                })
            }
            Confirmation::Ack | Confirmation::NotRequested => Ok(()),
        }
    }
}

/// Publishes with publisher confirms pipelined: up to `window` messages are in flight, and a
/// publish waits only when the window is full. [`Pipeline::flush`] waits for the rest.
///
/// Waiting for each confirm before the next publish costs a round trip per message; a window
/// of a few hundred keeps the broker busy and still bounds what is unconfirmed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> kombu::Result<()> {
/// let conn = kombu::Connection::connect("memory://pipeline-doc").await?;
/// let channel = conn.channel().await?;
/// let queue = kombu::Queue::new("jobs");
/// channel.declare_queue(&queue).await?;
/// let producer = kombu::Producer::new(&channel).routing_key("jobs").confirm(true);
/// let mut pipeline = producer.pipeline(256);
/// for n in 0..1000 {
///     pipeline.send(producer.publish(&n)).await?;
/// }
/// pipeline.flush().await?;
/// assert_eq!(queue.attach(&channel).status().await?.message_count, 1000);
/// # Ok(()) }
/// ```
pub struct Pipeline<'a> {
    producer: &'a Producer,
    window: usize,
    in_flight: std::collections::VecDeque<Confirming<'a>>,
}

/// How many encoded messages [`Pipeline::publish_all`] hands to the channel at once.
const BURST: usize = 64;

impl std::fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("window", &self.window)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl Producer {
    /// Pipelined publishing with at most `window` unconfirmed messages (at least 1).
    pub fn pipeline(&self, window: usize) -> Pipeline<'_> {
        Pipeline {
            producer: self,
            window: window.max(1),
            in_flight: std::collections::VecDeque::new(),
        }
    }
}

impl<'a> Pipeline<'a> {
    /// Send one publish of this pipeline's producer. Waits for the oldest confirm first when
    /// the window is full; an error is that message's (refused, unroutable, or unconfirmed),
    /// with the message handed back.
    pub async fn send<T: Serialize + Sync + ?Sized>(
        &mut self,
        publish: Publish<'_, T>,
    ) -> Result<()> {
        if !std::ptr::eq(publish.producer, self.producer) {
            return Err(Error::new(
                ErrorKind::Encode,
                "a pipeline sends publishes of its own producer only",
            ));
        }
        while self.in_flight.len() >= self.window {
            if let Some(oldest) = self.in_flight.pop_front() {
                oldest.wait().await?;
            }
        }
        // The same producer as the pipeline's (checked above), borrowed for the pipeline.
        let confirming = publish.start(self.producer).await?;
        self.in_flight.push_back(confirming);
        Ok(())
    }

    /// Publish `body` with the producer's defaults (the common case of [`Pipeline::send`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> kombu::Result<()> {
    /// let conn = kombu::Connection::connect("memory://pipeline-publish-doc").await?;
    /// let channel = conn.channel().await?;
    /// let queue = kombu::Queue::new("readings");
    /// channel.declare_queue(&queue).await?;
    /// let producer = kombu::Producer::new(&channel).routing_key("readings").confirm(true);
    /// let mut pipeline = producer.pipeline(256);
    /// for n in 0..100 {
    ///     pipeline.publish(&serde_json::json!({ "n": n })).await?;
    /// }
    /// pipeline.flush().await?;
    /// assert_eq!(queue.attach(&channel).status().await?.message_count, 100);
    /// # Ok(()) }
    /// ```
    pub async fn publish<T: Serialize + Sync + ?Sized>(&mut self, body: &T) -> Result<()> {
        let producer = self.producer;
        self.send(producer.publish(body)).await
    }

    /// Publish every value of `bodies` with the producer's defaults, keeping at most the
    /// window in flight. Messages are encoded, then handed to the channel in bursts (up to 64 at
    /// once, never more than the window has room for), which lets the connection write them
    /// together: for a batch already at hand this is the fastest way to publish. Returns when
    /// the last message is handed over; [`Pipeline::flush`] waits for the confirms.
    ///
    /// On an error (a value that cannot be encoded, or the oldest confirm failing), the messages
    /// before it were published and the ones after it were not.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> kombu::Result<()> {
    /// let conn = kombu::Connection::connect("memory://pipeline-all-doc").await?;
    /// let channel = conn.channel().await?;
    /// let queue = kombu::Queue::new("batch");
    /// channel.declare_queue(&queue).await?;
    /// let producer = kombu::Producer::new(&channel).routing_key("batch").confirm(true);
    /// let mut pipeline = producer.pipeline(256);
    /// pipeline.publish_all((0..1000).map(|n| serde_json::json!({ "n": n }))).await?;
    /// pipeline.flush().await?;
    /// assert_eq!(queue.attach(&channel).status().await?.message_count, 1000);
    /// # Ok(()) }
    /// ```
    pub async fn publish_all<I>(&mut self, bodies: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Serialize + Sync,
    {
        let producer = self.producer;
        let mut bodies = bodies.into_iter().peekable();
        let mut staged = Vec::with_capacity(BURST.min(self.window));
        while bodies.peek().is_some() {
            // Room in the window for a burst (or for what is left of it).
            let burst = BURST.min(self.window);
            while self.in_flight.len() + burst > self.window {
                if let Some(oldest) = self.in_flight.pop_front() {
                    oldest.wait().await?;
                }
            }
            let mut refused = None;
            for body in bodies.by_ref().take(burst) {
                match producer.publish(&body).stage(producer).await {
                    Ok(message) => staged.push(message),
                    Err(e) => {
                        refused = Some(e);
                        break;
                    }
                }
            }
            // What was encoded before a refused value is still sent.
            for message in staged.drain(..) {
                self.in_flight.push_back(message.hand_over(producer).await?);
            }
            if let Some(e) = refused {
                return Err(e);
            }
        }
        Ok(())
    }

    /// How many messages wait for their confirm.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Wait for every outstanding confirm; the first failure is returned after all were
    /// awaited.
    pub async fn flush(&mut self) -> Result<()> {
        let mut first_error = None;
        while let Some(confirming) = self.in_flight.pop_front() {
            if let Err(e) = confirming.wait().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl<'a, T: Serialize + Sync + ?Sized> IntoFuture for Publish<'a, T> {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
