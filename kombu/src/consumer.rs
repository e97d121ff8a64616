//! [`Consumer`]: consumes one or more queues on a channel, either with callbacks run by
//! [`Connection::drain_events`](crate::Connection::drain_events) (Python kombu's style) or as an
//! async stream of [`Message`]s.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::channel::Channel;
use crate::error::{Error, ErrorKind, Result};
use crate::message::{Message, Receipt};
use crate::serialization::Accept;
use crate::session::Drainable;
use crate::sync::lock;
use crate::transport::{ConsumeOptions, ConsumerEvent, DeliverySender};
use crate::value::Value;
use crate::Queue;

type Callback = Box<dyn FnMut(&Value, &Message) + Send>;
type RawCallback = Box<dyn FnMut(&Message) + Send>;
type DecodeErrorCallback = Box<dyn FnMut(&Message, &Error) + Send>;
type CancelCallback = Box<dyn FnMut(&str, &str) + Send>;

#[derive(Default)]
struct Handlers {
    callbacks: Vec<Callback>,
    on_message: Option<RawCallback>,
    on_decode_error: Option<DecodeErrorCallback>,
    on_cancel: Option<CancelCallback>,
}

/// The part of a consumer the connection's `drain_events` reaches.
pub(crate) struct ConsumerShared {
    rx: Mutex<mpsc::UnboundedReceiver<ConsumerEvent>>,
    handlers: Mutex<Handlers>,
    has_handlers: AtomicBool,
    receipt: Mutex<Option<Receipt>>,
    /// (queue, consumer tag) of each active `basic.consume`.
    active: Mutex<Vec<(String, String)>>,
    /// The queue of each tag started and not yet ended (the transport's `Ended`, or a broker
    /// cancel): a delivery that arrives after `cancel` still knows its queue, and the stream
    /// ends once none is left, after what was queued before the ends.
    open: Mutex<HashMap<String, String>>,
    /// Whether any consume was started: before that, the stream waits rather than ends.
    started: AtomicBool,
}

impl std::fmt::Debug for ConsumerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerShared").finish_non_exhaustive()
    }
}

impl ConsumerShared {
    /// The event already queued, if any, without waiting (ends are taken in passing).
    fn try_event(&self) -> Option<ConsumerEvent> {
        let mut rx = lock(&self.rx);
        loop {
            match rx.try_recv().ok()? {
                ConsumerEvent::Ended { consumer_tag } => self.end(&consumer_tag),
                event => return Some(event),
            }
        }
    }

    /// Nothing more can come: consumes were started, and every one has ended.
    fn has_ended(&self) -> bool {
        self.started.load(Ordering::Acquire) && lock(&self.open).is_empty()
    }

    fn end(&self, tag: &str) {
        lock(&self.open).remove(tag);
        lock(&self.active).retain(|(_, t)| t != tag);
    }

    fn cancelled(&self, tag: &str, reason: &str) -> Error {
        lock(&self.active).retain(|(_, t)| t != tag);
        let queue = lock(&self.open).remove(tag).unwrap_or_default();
        Error::new(
            ErrorKind::ConsumerCancelled,
            format!("consumer `{tag}` on queue `{queue}` was cancelled by the broker: {reason}"),
        )
    }

    fn message(&self, event: ConsumerEvent) -> Result<Message> {
        match event {
            ConsumerEvent::Delivery(delivery) => {
                let receipt = lock(&self.receipt).clone().ok_or_else(|| {
                    Error::new(
                        ErrorKind::Channel,
                        "delivery for a consumer that never started",
                    )
                })?;
                let message = Message::new(delivery, receipt);
                let queue = lock(&self.open).get(message.consumer_tag()).cloned();
                crate::telemetry::delivered(
                    queue.as_deref().unwrap_or(""),
                    message.delivery(),
                    message.delivery_tag(),
                );
                Ok(message)
            }
            ConsumerEvent::Cancelled {
                consumer_tag,
                reason,
            } => Err(self.cancelled(&consumer_tag, &reason)),
            ConsumerEvent::Ended { consumer_tag } => {
                self.end(&consumer_tag);
                Err(Error::new(
                    ErrorKind::Channel,
                    format!("consumer `{consumer_tag}` has ended"),
                ))
            }
        }
    }
}

impl Drainable for ConsumerShared {
    fn has_handlers(&self) -> bool {
        self.has_handlers.load(Ordering::Acquire)
    }
    /// The next delivery or broker cancel; `None` once every consume started has ended and
    /// what came before the ends was taken.
    fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<ConsumerEvent>> {
        let mut rx = lock(&self.rx);
        loop {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(ConsumerEvent::Ended { consumer_tag })) => {
                    self.end(&consumer_tag);
                }
                Poll::Ready(Some(event)) => return Poll::Ready(Some(event)),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending if self.has_ended() => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
    /// Callback-mode dispatch of one event.
    fn handle(&self, event: ConsumerEvent) -> Result<()> {
        let mut handlers = lock(&self.handlers);
        if let ConsumerEvent::Cancelled {
            consumer_tag,
            reason,
        } = &event
        {
            let error = self.cancelled(consumer_tag, reason);
            return match handlers.on_cancel.as_mut() {
                Some(on_cancel) => {
                    on_cancel(consumer_tag, reason);
                    Ok(())
                }
                None => Err(error),
            };
        }
        if let ConsumerEvent::Ended { consumer_tag } = &event {
            self.end(consumer_tag);
            return Ok(());
        }
        let message = self.message(event)?;
        if let Some(on_message) = handlers.on_message.as_mut() {
            on_message(&message);
            return Ok(());
        }
        match message.payload() {
            Ok(body) => {
                for callback in &mut handlers.callbacks {
                    callback(body, &message);
                }
                Ok(())
            }
            Err(e) => match handlers.on_decode_error.as_mut() {
                Some(on_error) => {
                    on_error(&message, &e);
                    Ok(())
                }
                None => {
                    let outcome = match message.reject() {
                        Ok(()) => "it was rejected (dead-lettered if the queue has a dead-letter exchange)".to_owned(),
                        Err(re) => format!("rejecting it failed too: {re:#}"),
                    };
                    Err(Error::new(
                        e.kind(),
                        format!(
                            "message {} (consumer `{}`, exchange `{}`, routing key `{}`): {}; {outcome}",
                            message.delivery_tag(),
                            message.consumer_tag(),
                            message.exchange(),
                            message.routing_key(),
                            e.message()
                        ),
                    ))
                }
            },
        }
    }
}

fn next_tag(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{pid:x}-{nanos:x}-{n}")
}

/// Consumes queues on a channel.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use kombu::{Connection, Consumer, Exchange, ExchangeKind, Producer, Queue};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> kombu::Result<()> {
/// let conn = Connection::connect("memory://consumer-doc").await?;
/// let channel = conn.channel().await?;
/// let media = Exchange::new("media", ExchangeKind::Direct);
/// let video = Queue::new("video").bind_to(media.clone(), "video");
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let mut consumer = Consumer::new(&channel, [video]);
/// consumer.register_callback(move |body, message| {
///     sink.lock().unwrap().push(body.get("name").and_then(|v| v.as_str()).unwrap_or("").to_owned());
///     message.ack().unwrap();
/// });
/// consumer.consume().await?;
///
/// let producer = Producer::new(&channel).exchange(media).routing_key("video");
/// producer.publish(&serde_json::json!({"name": "cat.mp4"})).await?;
/// conn.drain_events(Duration::from_secs(1)).await?;
/// assert_eq!(*seen.lock().unwrap(), ["cat.mp4"]);
/// # Ok(()) }
/// ```
pub struct Consumer {
    channel: Channel,
    queues: Vec<Queue>,
    shared: Arc<ConsumerShared>,
    tx: DeliverySender,
    tag_prefix: String,
    prefetch_count: Option<u16>,
    no_ack: bool,
    exclusive: bool,
    auto_declare: bool,
    accept: Arc<Accept>,
    registry: Option<Arc<crate::serialization::Registry>>,
    batch_ack: Option<crate::transport::AckBatching>,
    consuming: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field(
                "queues",
                &self.queues.iter().map(|q| &q.name).collect::<Vec<_>>(),
            )
            .field("consuming", &self.consuming)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// The prefetch a consumer uses unless told otherwise.
    pub const DEFAULT_PREFETCH: u16 = 100;

    /// A consumer of `queues` on `channel`, accepting JSON only (plus raw data and text), with
    /// manual acknowledgement and auto-declaration of its queues.
    pub fn new(channel: &Channel, queues: impl IntoIterator<Item = Queue>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Consumer {
            channel: channel.clone(),
            queues: queues.into_iter().collect(),
            shared: Arc::new(ConsumerShared {
                rx: Mutex::new(rx),
                handlers: Mutex::default(),
                has_handlers: AtomicBool::new(false),
                receipt: Mutex::new(None),
                active: Mutex::default(),
                open: Mutex::default(),
                started: AtomicBool::new(false),
            }),
            tx,
            tag_prefix: String::from("kombu-"),
            prefetch_count: None,
            no_ack: false,
            exclusive: false,
            auto_declare: true,
            accept: Arc::new(Accept::default()),
            registry: None,
            batch_ack: None,
            consuming: false,
        }
    }

    /// Decode with this serializer registry instead of the process-wide one (as
    /// [`Producer::registry`](crate::Producer::registry) encodes with one).
    pub fn registry(mut self, registry: Arc<crate::serialization::Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The content types this consumer decodes (default: JSON, raw data and text).
    pub fn accept(mut self, accept: Accept) -> Self {
        self.accept = Arc::new(accept);
        self
    }
    /// At most this many unacknowledged messages at once (`basic.qos`); 0 means no limit.
    /// Unless set, consumers use [`Consumer::DEFAULT_PREFETCH`]: an unbounded prefetch lets a
    /// broker push a whole queue into the client's memory.
    pub fn prefetch_count(mut self, count: u16) -> Self {
        self.prefetch_count = Some(count);
        self
    }
    /// Deliveries need no acknowledgement (the broker forgets them when sent).
    pub fn no_ack(mut self, no_ack: bool) -> Self {
        self.no_ack = no_ack;
        self
    }
    /// Ask to be the only consumer of the queues.
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }
    /// The prefix of generated consumer tags.
    pub fn tag_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.tag_prefix = prefix.into();
        self
    }
    /// Batch acknowledgements (opt-in): `message.ack()` returns at once, and the channel sends
    /// one `basic.ack` with `multiple = true` once `max_count` acks wait or the oldest has
    /// waited `max_delay`. A batch only ever covers messages whose `ack` was called: a message
    /// still being handled holds back the acks of those after it. Rejects and requeues are sent
    /// at once. Batching applies to the whole channel; closing the channel sends what is due.
    pub fn batch_ack(mut self, max_count: usize, max_delay: Duration) -> Self {
        self.batch_ack = Some(crate::transport::AckBatching {
            max_count: max_count.max(1),
            max_delay,
        });
        self
    }

    /// Whether `consume` declares the queues (and their exchanges and bindings) first. On a
    /// transport that cannot declare (STOMP, see [`Channel::capabilities`]) nothing is
    /// declared: the queues must exist.
    pub fn auto_declare(mut self, auto_declare: bool) -> Self {
        self.auto_declare = auto_declare;
        self
    }

    fn set_handlers(&self, f: impl FnOnce(&mut Handlers)) {
        f(&mut lock(&self.shared.handlers));
        self.shared.has_handlers.store(true, Ordering::Release);
    }

    /// Add a callback: called, in registration order, with the decoded body and the message.
    pub fn register_callback(&mut self, callback: impl FnMut(&Value, &Message) + Send + 'static) {
        self.set_handlers(|h| h.callbacks.push(Box::new(callback)));
    }
    /// Builder form of [`Consumer::register_callback`].
    pub fn callback(mut self, callback: impl FnMut(&Value, &Message) + Send + 'static) -> Self {
        self.register_callback(callback);
        self
    }
    /// Receive raw messages instead: nothing is decoded and the callbacks are not called.
    pub fn on_message(self, handler: impl FnMut(&Message) + Send + 'static) -> Self {
        self.set_handlers(|h| h.on_message = Some(Box::new(handler)));
        self
    }
    /// Handle messages that cannot be decoded (the handler decides to ack, reject or requeue).
    /// Without one, such a message is rejected and `drain_events` returns the error.
    pub fn on_decode_error(self, handler: impl FnMut(&Message, &Error) + Send + 'static) -> Self {
        self.set_handlers(|h| h.on_decode_error = Some(Box::new(handler)));
        self
    }
    /// Handle the broker cancelling this consumer (consumer tag, reason). Without one,
    /// `drain_events` returns a [`ConsumerCancelled`](ErrorKind::ConsumerCancelled) error.
    pub fn on_cancel(self, handler: impl FnMut(&str, &str) + Send + 'static) -> Self {
        self.set_handlers(|h| h.on_cancel = Some(Box::new(handler)));
        self
    }

    /// The queues (with broker-chosen names once declared).
    pub fn queues(&self) -> &[Queue] {
        &self.queues
    }

    /// Start consuming every queue not yet consumed. Calling it again is harmless.
    pub async fn consume(&mut self) -> Result<()> {
        if !self.consuming {
            let prefetch = self.prefetch_count.unwrap_or(Consumer::DEFAULT_PREFETCH);
            self.channel.basic_qos(prefetch).await?;
            if let Some(batching) = self.batch_ack {
                self.channel.transport.set_ack_batching(Some(batching));
            }
            let mut receipt = self
                .channel
                .receipt(self.no_ack, Some(Arc::clone(&self.accept)));
            if let Some(registry) = &self.registry {
                receipt.registry = Arc::clone(registry);
            }
            *lock(&self.shared.receipt) = Some(receipt);
            self.channel
                .shared
                .register_consumer(Arc::clone(&self.shared) as Arc<dyn Drainable>);
            self.consuming = true;
        }
        for i in 0..self.queues.len() {
            self.start(i).await?;
        }
        Ok(())
    }

    async fn start(&mut self, index: usize) -> Result<()> {
        // A transport that cannot declare (STOMP) consumes what exists.
        if self.auto_declare && self.channel.capabilities().declare {
            let declared = self.channel.declare_queue(&self.queues[index]).await?;
            self.queues[index].name = declared.name;
        }
        let name = self.queues[index].name.clone();
        if self.consuming_from(&name) {
            return Ok(());
        }
        let tag = next_tag(&self.tag_prefix);
        let options = ConsumeOptions {
            no_ack: self.no_ack,
            exclusive: self.exclusive,
            arguments: self.queues[index].consumer_arguments.clone(),
        };
        lock(&self.shared.open).insert(tag.clone(), name.clone());
        if let Err(e) = self
            .channel
            .transport
            .consume(&name, &tag, &options, self.tx.clone())
            .await
        {
            lock(&self.shared.open).remove(&tag);
            return Err(e);
        }
        self.shared.started.store(true, Ordering::Release);
        lock(&self.shared.active).push((name, tag));
        Ok(())
    }

    /// Add a queue; when already consuming, start consuming it too.
    pub async fn add_queue(&mut self, queue: Queue) -> Result<()> {
        self.queues.push(queue);
        if self.consuming {
            self.start(self.queues.len() - 1).await?;
        }
        Ok(())
    }

    /// The queue a delivery came from, by its consumer tag (also for deliveries that arrive
    /// after [`Consumer::cancel`], until the stream has ended).
    pub fn queue_of(&self, consumer_tag: &str) -> Option<String> {
        lock(&self.shared.open).get(consumer_tag).cloned()
    }

    /// Whether a `basic.consume` is active on the queue.
    pub fn consuming_from(&self, queue: &str) -> bool {
        lock(&self.shared.active).iter().any(|(q, _)| q == queue)
    }

    /// Stop consuming every queue. Messages already delivered stay unacknowledged until
    /// settled or until the channel closes; the stream yields what had arrived, then ends.
    pub async fn cancel(&mut self) -> Result<()> {
        let active = std::mem::take(&mut *lock(&self.shared.active));
        for (_, tag) in active {
            self.channel.transport.cancel(&tag).await?;
        }
        self.consuming = false;
        Ok(())
    }

    /// Stop consuming one queue.
    pub async fn cancel_by_queue(&mut self, queue: &str) -> Result<()> {
        let tags: Vec<String> = {
            let mut active = lock(&self.shared.active);
            let tags = active
                .iter()
                .filter(|(q, _)| q == queue)
                .map(|(_, t)| t.clone())
                .collect();
            active.retain(|(q, _)| q != queue);
            tags
        };
        for tag in tags {
            self.channel.transport.cancel(&tag).await?;
        }
        Ok(())
    }

    /// The next message (stream style); `None` when the consumer can receive no more: every
    /// queue it consumed was cancelled (by [`Consumer::cancel`], or by the broker, which first
    /// arrives as a [`ConsumerCancelled`](ErrorKind::ConsumerCancelled) error), or its channel
    /// or connection closed. Messages that arrived before the end are yielded first. Before
    /// [`Consumer::consume`] it waits.
    pub async fn next(&mut self) -> Option<Result<Message>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The next message within `timeout`, else a timeout error.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Message> {
        match tokio::time::timeout(timeout, self.next()).await {
            Ok(Some(result)) => result,
            Ok(None) => Err(Error::new(
                ErrorKind::Channel,
                "the consumer has ended (cancelled, or its channel or connection closed)",
            )),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no message arrived within {timeout:?}"),
            )),
        }
    }

    /// The deliveries decoded as `T` (by their content type, as [`Message::decode`] does), as a
    /// stream of [`Decoded`] messages, for those who prefer a stream to a handler trait. A
    /// delivery that does not decode is settled by `on_failure` (dead-lettered by
    /// [`FailurePolicy::DeadLetter`](crate::FailurePolicy)), logged at warn level, and yielded
    /// as a [`Decode`](ErrorKind::Decode) error so the caller sees it: skip it and go on.
    pub fn decoded<T: serde::de::DeserializeOwned>(
        &mut self,
        on_failure: crate::FailurePolicy,
    ) -> Decoded<'_, T> {
        Decoded {
            consumer: self,
            on_failure,
            _type: std::marker::PhantomData,
        }
    }

    /// Whether its deliveries can be settled after it is cancelled (see
    /// [`Capabilities::settle_after_cancel`](crate::transport::Capabilities::settle_after_cancel)).
    pub(crate) fn settles_after_cancel(&self) -> bool {
        self.channel.capabilities().settle_after_cancel
    }

    /// A message already delivered to this consumer, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<Result<Message>> {
        let event = self.shared.try_event()?;
        Some(self.shared.message(event))
    }
}

impl Stream for Consumer {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.shared.poll_event(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(self.shared.message(event))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let active = std::mem::take(&mut *lock(&self.shared.active));
        if active.is_empty() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let transport = Arc::clone(&self.channel.transport);
            handle.spawn(async move {
                for (_, tag) in active {
                    let _ = transport.cancel(&tag).await;
                }
            });
        }
    }
}

/// A delivery decoded as `T`, with the message it came in (to settle it, or read its
/// properties). Dereferences to the message.
#[derive(Debug)]
pub struct Delivered<T> {
    /// The decoded body.
    pub body: T,
    /// The message.
    pub message: Message,
}

impl<T> std::ops::Deref for Delivered<T> {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.message
    }
}

/// The stream [`Consumer::decoded`] returns.
pub struct Decoded<'a, T> {
    consumer: &'a mut Consumer,
    on_failure: crate::FailurePolicy,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Decoded<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("consumer", &self.consumer)
            .field("on_failure", &self.on_failure)
            .finish()
    }
}

impl<T: serde::de::DeserializeOwned> Decoded<'_, T> {
    /// The next decoded delivery; `None` once the consumer's stream has ended.
    pub async fn next(&mut self) -> Option<Result<Delivered<T>>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl<T: serde::de::DeserializeOwned> Stream for Decoded<'_, T> {
    type Item = Result<Delivered<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let message = match Pin::new(&mut *this.consumer).poll_next(cx) {
            Poll::Ready(Some(Ok(message))) => message,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(Some(match message.decode::<T>() {
            Ok(body) => Ok(Delivered { body, message }),
            Err(error) => {
                let queue = this.consumer.queue_of(message.consumer_tag());
                crate::dispatch::report_failure(
                    "decoded stream",
                    queue.as_deref(),
                    &message,
                    &error,
                );
                let disposition = this.on_failure.disposition();
                let settled = match crate::dispatch::settle(&message, disposition) {
                    Ok(()) => match disposition {
                        crate::Disposition::Ack => "acked".to_owned(),
                        crate::Disposition::Requeue => "requeued".to_owned(),
                        crate::Disposition::Reject => {
                            "rejected to the dead-letter exchange".to_owned()
                        }
                    },
                    Err(e) => format!("settling it failed too: {e:#}"),
                };
                Err(Error::new(
                    error.kind(),
                    format!(
                        "message {} on queue `{}` could not be decoded ({settled}): {}",
                        message.delivery_tag(),
                        queue.as_deref().unwrap_or("?"),
                        error.message()
                    ),
                ))
            }
        }))
    }
}
