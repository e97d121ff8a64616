//! One kombu channel over AMQP: a lapin channel that is reopened (with its QoS, confirm mode
//! and consumers) when the broker closes it or the connection recovers.
//!
//! Delivery tags handed out carry the channel's generation in their top bits, so a message
//! delivered by a channel that has since died is recognised when acknowledged. Acks and rejects
//! go through one ordered queue per channel (`acks.rs`); `close` flushes it first. The
//! declarations themselves are `declare.rs`, the conversions `convert.rs`.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::ShortString;
use tokio::sync::{mpsc, oneshot};

use super::acks::{ack_loop, AckCmd, BatchState, Receiving};
use super::convert::{
    check_properties, check_short, check_table, error, from_properties, to_properties, to_table,
};
use super::declare::{
    apply_binding, binding_context, exchange_declare, queue_declare, record, Link,
};
use super::topology::BindingRecord;
use super::ConnInner;
use crate::error::{Error, ErrorKind, Result};
use crate::sync::lock;
use crate::transport::naming::unique_suffix;
use crate::transport::recovery::{ConsumerRecord, Consumers};
use crate::transport::{
    AckBatching, BindOp, BindingKind, BindingRef, Confirmation, ConsumeOptions, ConsumerEvent,
    Delivery, DeliverySender, OutgoingMessage, PendingConfirm, PublishFlags, QueueDeclared,
    TransportChannel,
};
use crate::{Exchange, FieldValue, Queue};

pub(super) const TAG_BITS: u32 = 40;
pub(super) const TAG_MASK: u64 = (1 << TAG_BITS) - 1;

/// The live lapin channel and its generation, shared: taking it per publish or ack costs one
/// reference count, not a clone of lapin's handle.
#[derive(Clone)]
pub(super) struct Slot(Arc<SlotState>);

pub(super) struct SlotState {
    pub(super) channel: lapin::Channel,
    pub(super) generation: u32,
    /// The first channel opened on a recovered connection: the one [`Slot::nacked`] may
    /// replace once.
    after_recovery: bool,
    opened: std::time::Instant,
    /// Whether the broker has confirmed a publish on it.
    acked: AtomicBool,
    /// Whether it has been closed to be replaced ([`Slot::nacked`]).
    replaced: AtomicBool,
}

impl Slot {
    fn new(channel: lapin::Channel, generation: u32, after_recovery: bool) -> Self {
        Slot(Arc::new(SlotState {
            channel,
            generation,
            after_recovery,
            opened: std::time::Instant::now(),
            acked: AtomicBool::new(false),
            replaced: AtomicBool::new(false),
        }))
    }

    /// How long a channel opened on a recovered connection may nack every publish before it
    /// is replaced (a quorum queue elects a new leader well within it).
    const NACKS_BEFORE_REPLACING: Duration = Duration::from_secs(2);

    fn acked(&self) {
        if !self.acked.load(Ordering::Relaxed) {
            self.acked.store(true, Ordering::Relaxed);
        }
    }

    /// A publish on this channel was nacked. A channel opened on a recovered connection that
    /// has nacked every publish for [`Self::NACKS_BEFORE_REPLACING`] is closed once, so that
    /// the next publish opens a new one: RabbitMQ 3.10 can leave a channel opened while a
    /// quorum queue was electing a new leader (its old leader's node had died) addressing the
    /// old leader, nacking every publish to that queue until the node returns, while a channel
    /// opened after the election publishes normally. Publishes still in flight on the closed
    /// channel fail, and are published again like any whose channel was lost.
    fn nacked(&self) {
        if !self.after_recovery
            || self.acked.load(Ordering::Relaxed)
            || self.opened.elapsed() < Self::NACKS_BEFORE_REPLACING
            || self.replaced.swap(true, Ordering::SeqCst)
        {
            return;
        }
        tracing::warn!(
            generation = self.generation,
            "every publish on the channel opened after the connection was recovered has been nacked; opening a new channel (a quorum queue's leader may have moved)"
        );
        let channel = self.channel.clone();
        tokio::spawn(async move {
            let _ = channel
                .close(
                    200,
                    "kombu: replacing a channel that nacks every publish".into(),
                )
                .await;
        });
    }
}

impl std::ops::Deref for Slot {
    type Target = SlotState;
    fn deref(&self) -> &SlotState {
        &self.0
    }
}

pub(super) struct AmqpChannel {
    conn: Arc<ConnInner>,
    me: Weak<AmqpChannel>,
    /// Shared with the ack task, which sends what was queued even after the channel is dropped.
    slot: Arc<Mutex<Option<Slot>>>,
    generation: AtomicU32,
    /// The connection generation the current channel was opened on.
    recovered_at: Mutex<u64>,
    reopening: tokio::sync::Mutex<()>,
    prefetch: Mutex<Option<u16>>,
    /// The channel-wide prefetch (`basic.qos` with `global = true`), restored on reopen.
    prefetch_channel: Mutex<Option<u16>>,
    /// Confirm mode, set only while `confirm_gate` is held for writing; a reopened channel
    /// restores it before anyone can publish on it.
    confirm: AtomicBool,
    /// Publishes hold it for reading until their frames are handed to lapin; turning confirm
    /// mode on holds it for writing until the broker's `confirm.select-ok`. So no publish is
    /// sent in the window where the broker already numbers publishes and lapin does not yet,
    /// which would put lapin's numbering out of step with the broker's for good.
    confirm_gate: tokio::sync::RwLock<()>,
    /// Held while lapin registers a publish's confirm and queues its frames (one synchronous
    /// step): publishes from several threads then reach the wire in the order lapin numbered
    /// them, so each confirm (and each return) is matched with its own message.
    publish_order: Mutex<()>,
    consumers: Consumers<StreamResume>,
    cancelled: Mutex<HashSet<String>>,
    acks: mpsc::UnboundedSender<AckCmd>,
    /// Acks and rejects queued but not yet sent; other operations wait for them, so what the
    /// user did first reaches the broker first.
    pub(super) pending_acks: AtomicUsize,
    batch: Arc<BatchState>,
    closed: AtomicBool,
    /// Where mandatory publishes go while this channel is not in confirm mode: a companion
    /// channel in confirm mode, opened on the first such publish. AMQP says which message came
    /// back only through the confirm that follows its `basic.return`; turning confirms on here
    /// instead would change this channel's mode for every later publish.
    returns: tokio::sync::OnceCell<Arc<AmqpChannel>>,
}

impl AmqpChannel {
    pub(super) async fn open(conn: Arc<ConnInner>) -> Result<Arc<AmqpChannel>> {
        let lapin_conn = conn.connection().await?;
        let conn_generation = conn.generation.load(Ordering::SeqCst);
        let channel = lapin_conn
            .create_channel()
            .await
            .map_err(|e| error("opening a channel", e))?;
        let (acks, rx) = mpsc::unbounded_channel();
        let me = Arc::new_cyclic(|me| AmqpChannel {
            conn,
            me: me.clone(),
            slot: Arc::new(Mutex::new(Some(Slot::new(channel, 1, false)))),
            generation: AtomicU32::new(1),
            recovered_at: Mutex::new(conn_generation),
            reopening: tokio::sync::Mutex::new(()),
            prefetch: Mutex::new(None),
            prefetch_channel: Mutex::new(None),
            confirm: AtomicBool::new(false),
            confirm_gate: tokio::sync::RwLock::new(()),
            publish_order: Mutex::new(()),
            consumers: Consumers::default(),
            cancelled: Mutex::default(),
            acks,
            pending_acks: AtomicUsize::new(0),
            batch: Arc::default(),
            closed: AtomicBool::new(false),
            returns: tokio::sync::OnceCell::new(),
        });
        tokio::spawn(ack_loop(
            Arc::downgrade(&me),
            Arc::clone(&me.slot),
            Arc::clone(&me.batch),
            rx,
        ));
        Ok(me)
    }

    /// The live lapin channel, reopened if the broker closed it or the connection recovered.
    async fn channel(&self) -> Result<Slot> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Channel, "channel is closed"));
        }
        if self.pending_acks.load(Ordering::SeqCst) > 0 {
            self.flush_acks().await;
        }
        let current = lock(&self.slot).clone();
        if let Some(slot) = current {
            if slot.channel.status().connected() {
                return Ok(slot);
            }
        }
        let conn = self.conn.connection().await?;
        self.reopen(&conn).await
    }

    /// Open a new lapin channel on `conn`, restore QoS and confirm mode, restart consumers.
    pub(super) async fn reopen(&self, conn: &lapin::Connection) -> Result<Slot> {
        let _guard = self.reopening.lock().await;
        if let Some(slot) = lock(&self.slot).as_ref() {
            if slot.channel.status().connected() {
                return Ok(slot.clone());
            }
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Channel, "channel is closed"));
        }
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| error("reopening a channel", e))?;
        let prefetch = *lock(&self.prefetch);
        if let Some(count) = prefetch {
            channel
                .basic_qos(count, BasicQosOptions::default())
                .await
                .map_err(|e| error("restoring basic.qos", e))?;
        }
        let prefetch_channel = *lock(&self.prefetch_channel);
        if let Some(count) = prefetch_channel {
            channel
                .basic_qos(count, BasicQosOptions { global: true })
                .await
                .map_err(|e| error("restoring basic.qos (global)", e))?;
        }
        if self.confirm.load(Ordering::SeqCst) {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| error("restoring confirm mode", e))?;
        }
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        // Deliveries of the old channel can no longer be acked; the broker redelivers them.
        lock(&self.batch.outstanding).clear();
        // The first channel since the connection was recovered (not one replacing a channel
        // the broker closed, or one `Slot::nacked` replaced).
        let recovered = self.conn.generation.load(Ordering::SeqCst);
        let after_recovery =
            std::mem::replace(&mut *lock(&self.recovered_at), recovered) < recovered;
        let slot = Slot::new(channel, generation, after_recovery);
        *lock(&self.slot) = Some(slot.clone());
        for (tag, record) in self.consumers.to_restart() {
            let options = resumed(&record.options, &record.state);
            if let Err(e) = self
                .start_consumer(
                    &slot,
                    &record.queue,
                    &tag,
                    &options,
                    record.sender,
                    record.state,
                )
                .await
            {
                self.consumers.cancel(
                    &tag,
                    &format!("could not resume consuming after the channel was reopened: {e:#}"),
                );
            }
        }
        Ok(slot)
    }

    /// `basic.consume` and a task forwarding its deliveries. Boxed: consumer tasks reopen
    /// channels, which start consumers, and the explicit `Send` bound ends that cycle.
    fn start_consumer<'a>(
        &'a self,
        slot: &'a Slot,
        queue: &'a str,
        tag: &'a str,
        options: &'a ConsumeOptions,
        sender: DeliverySender,
        resume: StreamResume,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            // Counted before the broker can deliver to it (see `BatchState::receivers`).
            let tracked = (!options.no_ack).then(|| Receiving::consumer(&self.batch));
            let consumer = slot
                .channel
                .basic_consume(
                    queue.into(),
                    tag.into(),
                    BasicConsumeOptions {
                        no_local: false,
                        no_ack: options.no_ack,
                        exclusive: options.exclusive,
                        nowait: false,
                    },
                    to_table(&options.arguments),
                )
                .await
                .map_err(|e| error(&format!("consuming from queue '{queue}'"), e))?;
            tokio::spawn(forward(
                self.me.clone(),
                consumer,
                slot.generation,
                tag.to_owned(),
                sender,
                tracked,
                resume,
            ));
            Ok(())
        })
    }

    fn current_generation(&self) -> u32 {
        self.generation.load(Ordering::SeqCst)
    }

    fn slot_connected(&self, generation: u32) -> bool {
        lock(&self.slot)
            .as_ref()
            .is_some_and(|s| s.generation == generation && s.channel.status().connected())
    }

    fn check_tag(&self, tag: u64) -> Result<u64> {
        let generation = u32::try_from(tag >> TAG_BITS).unwrap_or(0);
        if !self.slot_connected(generation) {
            return Err(Error::new(
                ErrorKind::Channel,
                format!(
                    "delivery {} came on a channel that has since closed (connection lost or channel error); \
                     it cannot be settled, and the broker will redeliver it",
                    tag & TAG_MASK
                ),
            ));
        }
        Ok(tag)
    }

    fn queue_settle(&self, cmd: AckCmd) -> Result<()> {
        self.pending_acks.fetch_add(1, Ordering::SeqCst);
        self.acks.send(cmd).map_err(|_| {
            self.pending_acks.fetch_sub(1, Ordering::SeqCst);
            Error::new(ErrorKind::Channel, "channel is closed")
        })
    }

    /// Wait until every ack and reject queued so far has been sent.
    async fn flush_acks(&self) {
        let (tx, rx) = oneshot::channel();
        if self.acks.send(AckCmd::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Turn publisher confirms on, once: returns when the broker has answered
    /// `confirm.select-ok`, and no publish on this channel goes out in between.
    async fn enable_confirms(&self) -> Result<()> {
        if self.confirm.load(Ordering::SeqCst) {
            return Ok(());
        }
        let _no_publishes = self.confirm_gate.write().await;
        let mut attempts = 0;
        loop {
            if self.confirm.load(Ordering::SeqCst) {
                return Ok(());
            }
            let slot = self.channel().await?;
            // No reopen may run between choosing the slot and its select-ok: a reopen reads
            // `confirm` to decide whether the new channel needs confirm mode.
            let _no_reopen = self.reopening.lock().await;
            if !self.slot_connected(slot.generation) {
                continue; // Reopened or died since: select on the live one.
            }
            self.confirm.store(true, Ordering::SeqCst);
            match slot
                .channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.confirm.store(false, Ordering::SeqCst);
                    attempts += 1;
                    if attempts >= 3 || !channel_went_away(&e) {
                        return Err(error("confirm.select", e));
                    }
                }
            }
        }
    }

    /// Everything this channel owes the broker before it closes: queued acks and rejects
    /// sent, and the confirms of publishes already made received (bounded by the confirm
    /// timeout), so their publishers learn the outcome instead of a closed channel.
    pub(super) async fn settle(&self) {
        self.flush_acks().await;
        if let Some(companion) = self.returns.get() {
            Box::pin(companion.settle()).await;
        }
        if !self.confirm.load(Ordering::SeqCst) {
            return;
        }
        let slot = lock(&self.slot).clone();
        if let Some(slot) = slot.filter(|s| s.channel.status().connected()) {
            let timeout = self.conn.options().confirm_timeout;
            if tokio::time::timeout(timeout, slot.channel.wait_for_confirms())
                .await
                .is_err()
            {
                tracing::warn!(
                    ?timeout,
                    "closing with publisher confirms still outstanding"
                );
            }
        }
    }
}

/// Whether a lapin error says the channel or the connection went away under an operation
/// (rather than the broker refusing it).
fn channel_went_away(e: &lapin::Error) -> bool {
    matches!(
        e.kind(),
        lapin::ErrorKind::InvalidChannelState(..)
            | lapin::ErrorKind::InvalidConnectionState(..)
            | lapin::ErrorKind::IOError(..)
            | lapin::ErrorKind::MissingHeartbeatError
    )
}

/// Where a stream consumer resumes when its channel is reopened: one past the offset of the
/// last delivery passed on to the application (0 until there is one, and for other queues).
/// Without it, a consumer that asked for `first` would read the stream again from its start,
/// and one that asked for `next` would miss what was published while the channel was down.
type StreamResume = Arc<AtomicU64>;

/// A stream delivery's offset (the `x-stream-offset` header RabbitMQ adds).
fn stream_offset(delivery: &Delivery) -> Option<u64> {
    let headers = delivery.properties.headers.as_ref()?;
    u64::try_from(headers.get("x-stream-offset")?.as_i64()?).ok()
}

/// `options` with `x-stream-offset` set to where a stream consumer resumes, if it received
/// anything before the channel closed.
fn resumed(options: &ConsumeOptions, resume: &StreamResume) -> ConsumeOptions {
    let mut options = options.clone();
    let next = resume.load(Ordering::SeqCst);
    if next > 0 {
        options.arguments.insert(
            "x-stream-offset".to_owned(),
            FieldValue::I64(i64::try_from(next).unwrap_or(i64::MAX)),
        );
    }
    options
}

fn to_delivery(d: lapin::message::Delivery, generation: u32, consumer_tag: Arc<str>) -> Delivery {
    Delivery {
        delivery_tag: (u64::from(generation) << TAG_BITS) | (d.delivery_tag & TAG_MASK),
        redelivered: d.redelivered,
        exchange: d.exchange.as_str().into(),
        routing_key: d.routing_key.as_str().into(),
        consumer_tag,
        properties: from_properties(&d.properties).into(),
        body: d.data.into(),
    }
}

/// Move deliveries from a lapin consumer to kombu's consumer; tell it when the broker cancels;
/// reopen the channel when it died.
async fn forward(
    channel: Weak<AmqpChannel>,
    mut consumer: lapin::Consumer,
    generation: u32,
    tag: String,
    sender: DeliverySender,
    tracked: Option<Receiving>,
    resume: StreamResume,
) {
    // Shared by every delivery of this consumer (a reference count, not a copy each).
    let shared_tag: Arc<str> = Arc::from(tag.as_str());
    // Whether the queue is a stream, known from the first delivery (a stream's carry their
    // offset); only a stream's deliveries are looked at after it.
    let mut stream = None;
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut consumer).poll_next(cx)).await;
        match next {
            Some(Ok(delivery)) => {
                let delivery = to_delivery(delivery, generation, Arc::clone(&shared_tag));
                if stream != Some(false) {
                    let offset = stream_offset(&delivery);
                    stream = Some(offset.is_some());
                    if let Some(offset) = offset {
                        // Before it is handed over: a reopened channel resumes after it.
                        resume.fetch_max(offset.saturating_add(1), Ordering::SeqCst);
                    }
                }
                if let Some(receiving) = &tracked {
                    receiving.delivered(delivery.delivery_tag);
                }
                if sender.send(ConsumerEvent::Delivery(delivery)).is_err() {
                    // Nobody listens any more: stop consuming; unacked messages go back when
                    // the channel closes.
                    if let Some(ch) = channel.upgrade() {
                        ch.consumers.remove(&tag);
                        let slot = lock(&ch.slot).clone();
                        if let Some(slot) = slot {
                            let _ = slot
                                .channel
                                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                                .await;
                        }
                    }
                    return;
                }
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, consumer_tag = %tag, "consumer stream error");
                break;
            }
            None => break,
        }
    }
    let ended = |sender: &DeliverySender, tag: String| {
        let _ = sender.send(ConsumerEvent::Ended { consumer_tag: tag });
    };
    // The lapin consumer's stream has ended, after its last delivery was forwarded.
    let Some(ch) = channel.upgrade() else {
        return ended(&sender, tag); // The channel was dropped.
    };
    if lock(&ch.cancelled).remove(&tag) || ch.closed.load(Ordering::SeqCst) || ch.conn.is_closed() {
        return ended(&sender, tag);
    }
    if ch.current_generation() != generation {
        return; // Already reopened; the consumer was restarted there.
    }
    if ch.slot_connected(generation) {
        // The channel lives: the broker cancelled this consumer (its queue was deleted).
        ch.consumers.remove(&tag);
        let _ = sender.send(ConsumerEvent::Cancelled {
            consumer_tag: tag,
            reason: "the broker cancelled the consumer (was its queue deleted?)".into(),
        });
        return;
    }
    // The channel or the connection died: reopen, which restarts this consumer. A consumer has
    // no caller waiting on it, so it outlasts any outage: it keeps waiting for recovery until
    // the connection is closed.
    loop {
        match ch.channel().await {
            Ok(_) => return,
            Err(e)
                if matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout)
                    && !ch.closed.load(Ordering::SeqCst)
                    && !ch.conn.is_closed() =>
            {
                tracing::debug!(error = format_args!("{e:#}"), consumer_tag = %tag, "still waiting for the connection to recover");
                tokio::time::sleep(ch.conn.options().recovery.max_backoff).await;
            }
            Err(e) => {
                ch.consumers.remove(&tag);
                let _ = sender.send(ConsumerEvent::Cancelled {
                    consumer_tag: tag,
                    reason: format!("the channel closed and could not be reopened: {e:#}"),
                });
                return;
            }
        }
    }
}

impl AmqpChannel {
    async fn apply_binding_record(
        &self,
        link: Link,
        bind: bool,
        binding: BindingRecord,
    ) -> Result<()> {
        let b = &binding;
        self.run(
            || binding_context(link, bind, b),
            |ch| async move { apply_binding(&ch, link, bind, b).await },
        )
        .await?;
        self.conn.record(|t| {
            let bindings = match link {
                Link::Queue => &mut t.queue_bindings,
                Link::Exchange => &mut t.exchange_bindings,
            };
            bindings.set(binding, bind)
        });
        Ok(())
    }

    /// Run one broker operation on the live channel. If the channel turns out to be closed
    /// under us (the broker closed it after an earlier error, lapin closed it when a close
    /// crossed the broker's, or the connection dropped), reopen it (after recovery) and run the
    /// operation once more. A publish that failed that way is sent again, so it may arrive
    /// twice: at-least-once, as with any AMQP client that retries.
    async fn run<T, F, Fut>(&self, what: impl Fn() -> String, op: F) -> Result<(T, Slot)>
    where
        F: Fn(lapin::Channel) -> Fut,
        Fut: Future<Output = lapin::Result<T>>,
    {
        let slot = self.channel().await?;
        match op(slot.channel.clone()).await {
            Ok(v) => Ok((v, slot)),
            Err(e) if channel_went_away(&e) => {
                // The channel or the connection went away under this operation: wait for
                // recovery (bounded by `recovery_timeout`), then run it once more.
                let conn = self.conn.connection().await?;
                let slot = self.reopen(&conn).await?;
                match op(slot.channel.clone()).await {
                    Ok(v) => Ok((v, slot)),
                    Err(e) => Err(error(&what(), e)),
                }
            }
            Err(e) => Err(error(&what(), e)),
        }
    }
}

impl AmqpChannel {
    /// Hand a publish to lapin and return as soon as its frames are queued (and, in confirm
    /// mode, its confirm registered): many publishes can then be in flight at once. Writing the
    /// frames and the broker's confirm are awaited by the returned future. A publish that finds
    /// the channel gone, before or while its frames are written, is sent once more on the
    /// reopened channel (`retry`), so it may arrive twice: at-least-once, as with any client
    /// that retries.
    fn publish_queued<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        message: OutgoingMessage,
        flags: PublishFlags,
        retry: bool,
    ) -> Pin<Box<dyn Future<Output = Result<PendingConfirm>> + Send + 'a>> {
        Box::pin(async move {
            if self.closed.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Channel, "channel is closed"));
            }
            // Acks queued on this channel need not reach the broker before a publish: unlike the
            // other operations, a publish does not wait for them.
            let current = lock(&self.slot).clone();
            let slot = match current.filter(|s| s.channel.status().connected()) {
                Some(slot) => slot,
                None => self.channel().await?,
            };
            let properties = to_properties(&message.properties);
            let (exchange_name, key) =
                (ShortString::from(exchange), ShortString::from(routing_key));
            let options = BasicPublishOptions {
                mandatory: flags.mandatory,
                immediate: false,
            };
            // The body is shared with the future (a reference count), and copied once, into
            // lapin's frames.
            let body = message.body.clone();
            let channel = slot.clone();
            let mut write = Box::pin(async move {
                channel
                    .channel
                    .basic_publish(exchange_name, key, options, &body, properties)
                    .await
            });
            // Whether this publish is confirmed is decided under the gate, with its frames.
            let gate = self.confirm_gate.read().await;
            let confirming = self.confirm.load(Ordering::SeqCst);
            let first = std::future::poll_fn(|cx| {
                // lapin registers the confirm and queues the frames in the first poll; under the
                // order lock, publishes from several threads reach the wire in lapin's numbering.
                let _turn = lock(&self.publish_order);
                std::task::Poll::Ready(write.as_mut().poll(cx))
            })
            .await;
            drop(gate);
            let written: Written = match first {
                std::task::Poll::Ready(Err(e)) if retry && channel_went_away(&e) => {
                    // The channel or the connection went away before the frames were queued:
                    // wait for recovery (bounded by `recovery_timeout`), then publish once more.
                    let conn = self.conn.connection().await?;
                    self.reopen(&conn).await?;
                    return self
                        .publish_queued(exchange, routing_key, message, flags, false)
                        .await;
                }
                std::task::Poll::Ready(result) => Box::pin(std::future::ready(result)),
                std::task::Poll::Pending => write,
            };
            let me = self.me.upgrade();
            let timeout = self.conn.options().confirm_timeout;
            let (exchange, routing_key) = (exchange.to_owned(), routing_key.to_owned());
            Ok(Box::pin(async move {
                let on = slot;
                let confirm = match written.await {
                    Ok(confirm) => confirm,
                    Err(e) if retry && channel_went_away(&e) => {
                        // Lost while being written: whether the broker has it is unknown, so send
                        // it again on the reopened channel.
                        let Some(me) = me else {
                            return Err(Error::new(ErrorKind::Channel, "channel is closed")
                                .with_message(message));
                        };
                        let conn = me.conn.connection().await?;
                        me.reopen(&conn).await?;
                        let again = me
                            .publish_queued(&exchange, &routing_key, message, flags, false)
                            .await?;
                        return again.await;
                    }
                    Err(e) => {
                        return Err(error(&format!("publishing to exchange '{exchange}'"), e)
                            .with_message(message))
                    }
                };
                if !confirming {
                    return Ok(Confirmation::NotRequested);
                }
                let confirmation =
                    confirmed(confirm, timeout, &exchange, &routing_key, message, flags).await;
                match confirmation {
                    Ok(Confirmation::Ack) => on.acked(),
                    Ok(Confirmation::Nack) => on.nacked(),
                    _ => {}
                }
                confirmation
            }))
        })
    }
}

/// A publish's future once its frames are queued: done when they are written.
type Written = Pin<Box<dyn Future<Output = lapin::Result<lapin::PublisherConfirm>> + Send>>;

/// The broker's answer to a confirmed publish, within `timeout`.
async fn confirmed(
    confirm: lapin::PublisherConfirm,
    timeout: std::time::Duration,
    exchange: &str,
    routing_key: &str,
    message: OutgoingMessage,
    flags: PublishFlags,
) -> Result<Confirmation> {
    let keep = flags.mandatory.then_some(message);
    match tokio::time::timeout(timeout, confirm).await {
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!(
                "no publisher confirm within {timeout:?} for the message to exchange '{exchange}'"
            ),
        )),
        Ok(Err(e)) => Err(error(
            &format!("awaiting the confirm of a publish to exchange '{exchange}'"),
            e,
        )),
        Ok(Ok(lapin::Confirmation::Ack(Some(returned)))) => {
            let message = keep.unwrap_or_else(|| OutgoingMessage {
                body: returned.delivery.data.clone().into(),
                properties: from_properties(&returned.delivery.properties),
            });
            Err(Error::unroutable(exchange, routing_key, message))
        }
        Ok(Ok(lapin::Confirmation::Ack(None))) => Ok(Confirmation::Ack),
        Ok(Ok(lapin::Confirmation::Nack(_))) => Ok(Confirmation::Nack),
        // Confirm mode was on when this was published, so the broker will confirm it; lapin
        // not tracking it would be a bug, and it is never taken for success.
        Ok(Ok(lapin::Confirmation::NotRequested)) => {
            let err = Error::new(
                ErrorKind::Channel,
                format!(
                    "the confirm of a publish to exchange '{exchange}' was not tracked; \
                     whether the broker has the message is unknown"
                ),
            );
            Err(match keep {
                Some(m) => err.with_message(m),
                None => err,
            })
        }
    }
}

#[async_trait]
impl TransportChannel for AmqpChannel {
    async fn declare_exchange(&self, exchange: &Exchange) -> Result<()> {
        check_short("the exchange name", &exchange.name)?;
        check_table("the exchange's arguments", &exchange.arguments)?;
        self.run(
            || format!("declaring exchange '{}'", exchange.name),
            |ch| async move { exchange_declare(&ch, exchange).await },
        )
        .await?;
        if !exchange.passive {
            self.conn.record(|t| t.exchange(exchange));
        }
        Ok(())
    }

    async fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<()> {
        check_short("the exchange name", name)?;
        self.run(
            || format!("deleting exchange '{name}'"),
            |ch| async move {
                ch.exchange_delete(
                    name.into(),
                    ExchangeDeleteOptions {
                        if_unused,
                        nowait: false,
                    },
                )
                .await
            },
        )
        .await?;
        self.conn.record(|t| t.delete_exchange(name));
        Ok(())
    }

    async fn declare_queue(&self, queue: &Queue) -> Result<QueueDeclared> {
        check_short("the queue name", &queue.name)?;
        check_table("the queue's arguments", &queue.declare_arguments())?;
        let mut queue = queue.clone();
        if queue.name.is_empty() && !queue.passive {
            // A name recovery can declare again (the broker refuses to redeclare `amq.gen-`).
            queue.name = format!("kombu.gen-{}", unique_suffix());
        }
        let queue = &queue;
        let (declared, _) = self
            .run(
                || format!("declaring queue '{}'", queue.name),
                |ch| async move { queue_declare(&ch, queue).await },
            )
            .await?;
        if !queue.passive {
            self.conn.record(|t| t.queue(queue));
        }
        Ok(QueueDeclared {
            name: declared.name().as_str().to_owned(),
            message_count: declared.message_count(),
            consumer_count: declared.consumer_count(),
        })
    }

    async fn binding(&self, op: BindOp, b: BindingRef<'_>) -> Result<()> {
        check_short("the binding's destination", b.destination)?;
        check_short("the binding's source exchange", b.source)?;
        check_short("the binding key", b.routing_key)?;
        check_table("the binding's arguments", b.arguments)?;
        let link = match b.kind {
            BindingKind::Queue => Link::Queue,
            BindingKind::Exchange => Link::Exchange,
        };
        let record = record(b.destination, b.source, b.routing_key, b.arguments);
        self.apply_binding_record(link, op == BindOp::Bind, record)
            .await
    }

    async fn delete_queue(&self, name: &str, if_unused: bool, if_empty: bool) -> Result<u32> {
        check_short("the queue name", name)?;
        let (count, _) = self
            .run(
                || format!("deleting queue '{name}'"),
                |ch| async move {
                    ch.queue_delete(
                        name.into(),
                        QueueDeleteOptions {
                            if_unused,
                            if_empty,
                            nowait: false,
                        },
                    )
                    .await
                },
            )
            .await?;
        self.conn.record(|t| t.delete_queue(name));
        Ok(count)
    }

    async fn purge_queue(&self, name: &str) -> Result<u32> {
        check_short("the queue name", name)?;
        let (count, _) = self
            .run(
                || format!("purging queue '{name}'"),
                |ch| async move { ch.queue_purge(name.into(), Default::default()).await },
            )
            .await?;
        Ok(count)
    }

    async fn confirm_select(&self) -> Result<()> {
        self.enable_confirms().await
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: OutgoingMessage,
        flags: PublishFlags,
    ) -> Result<PendingConfirm> {
        check_short("the exchange name", exchange)?;
        check_short("the routing key", routing_key)?;
        if let Err(e) = check_properties(&message.properties) {
            return Err(e.with_message(message));
        }
        if flags.mandatory && !self.confirm.load(Ordering::SeqCst) {
            // A return is only known for sure once the confirm arrives: on a channel without
            // confirms, the companion in confirm mode carries the publish. A closed channel
            // does not open one.
            if self.closed.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Channel, "channel is closed"));
            }
            let companion = self
                .returns
                .get_or_try_init(|| async {
                    let companion = AmqpChannel::open(Arc::clone(&self.conn)).await?;
                    companion.enable_confirms().await?;
                    Ok::<_, Error>(companion)
                })
                .await?;
            return companion
                .publish(exchange, routing_key, message, flags)
                .await;
        }
        self.publish_queued(exchange, routing_key, message, flags, true)
            .await
    }

    async fn qos(&self, prefetch_count: u16) -> Result<()> {
        self.run(
            || "basic.qos".to_owned(),
            |ch| async move {
                ch.basic_qos(prefetch_count, BasicQosOptions::default())
                    .await
            },
        )
        .await?;
        *lock(&self.prefetch) = Some(prefetch_count);
        Ok(())
    }

    async fn qos_channel(&self, prefetch_count: u16) -> Result<()> {
        self.run(
            || "basic.qos (global)".to_owned(),
            |ch| async move {
                ch.basic_qos(prefetch_count, BasicQosOptions { global: true })
                    .await
            },
        )
        .await?;
        *lock(&self.prefetch_channel) = Some(prefetch_count);
        Ok(())
    }

    async fn consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: &ConsumeOptions,
        sender: DeliverySender,
    ) -> Result<()> {
        check_short("the queue name", queue)?;
        check_short("the consumer tag", consumer_tag)?;
        check_table("the consumer's arguments", &options.arguments)?;
        let slot = self.channel().await?;
        let resume = StreamResume::default();
        self.consumers.insert(
            consumer_tag,
            ConsumerRecord {
                queue: queue.to_owned(),
                options: options.clone(),
                sender: sender.clone(),
                state: Arc::clone(&resume),
            },
        );
        if let Err(e) = self
            .start_consumer(&slot, queue, consumer_tag, options, sender, resume)
            .await
        {
            self.consumers.remove(consumer_tag);
            return Err(e);
        }
        Ok(())
    }

    async fn cancel(&self, consumer_tag: &str) -> Result<()> {
        check_short("the consumer tag", consumer_tag)?;
        if self.consumers.remove(consumer_tag).is_none() {
            return Ok(());
        }
        lock(&self.cancelled).insert(consumer_tag.to_owned());
        let slot = self.channel().await?;
        slot.channel
            .basic_cancel(consumer_tag.into(), BasicCancelOptions::default())
            .await
            .map_err(|e| error(&format!("cancelling consumer '{consumer_tag}'"), e))
    }

    async fn get(&self, queue: &str, no_ack: bool) -> Result<Option<Delivery>> {
        check_short("the queue name", queue)?;
        let receiving = (!no_ack).then(|| Receiving::get(&self.batch));
        let (got, slot) = self
            .run(
                || format!("basic.get from queue '{queue}'"),
                |ch| async move { ch.basic_get(queue.into(), BasicGetOptions { no_ack }).await },
            )
            .await?;
        let delivery = got.map(|m| to_delivery(m.delivery, slot.generation, Arc::from("")));
        if let (Some(d), Some(receiving)) = (&delivery, &receiving) {
            receiving.delivered(d.delivery_tag);
        }
        Ok(delivery)
    }

    fn ack(&self, delivery_tag: u64, multiple: bool) -> Result<()> {
        let tag = self.check_tag(delivery_tag)?;
        if !multiple && self.batch.enabled.load(Ordering::Relaxed) {
            let was_tracked = lock(&self.batch.outstanding).contains(&tag);
            if was_tracked {
                // Batched acks are not waited for by other operations; `close` sends them.
                // Never two of the batch's locks at once (the ack task takes them too).
                let max = lock(&self.batch.config).map_or(1, |c| c.max_count);
                let (first, full) = {
                    let mut guard = lock(&self.batch.done);
                    guard.0.insert(tag);
                    let first = guard.1.is_none();
                    guard.1.get_or_insert_with(tokio::time::Instant::now);
                    (first, guard.0.len() >= max)
                };
                if first || full {
                    return self
                        .acks
                        .send(AckCmd::Batch)
                        .map_err(|_| Error::new(ErrorKind::Channel, "channel is closed"));
                }
                return Ok(());
            }
        }
        self.queue_settle(AckCmd::Ack { tag, multiple })
    }

    fn reject(&self, delivery_tag: u64, requeue: bool) -> Result<()> {
        let tag = self.check_tag(delivery_tag)?;
        self.queue_settle(AckCmd::Reject { tag, requeue })
    }

    fn broker_tag(&self, delivery_tag: u64) -> u64 {
        delivery_tag & TAG_MASK
    }

    fn set_ack_batching(&self, batching: Option<AckBatching>) {
        *lock(&self.batch.config) = batching;
        self.batch
            .enabled
            .store(batching.is_some(), Ordering::SeqCst);
    }

    async fn close(&self) -> Result<()> {
        self.settle().await;
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.consumers.lock().clear();
        let slot = lock(&self.slot).take();
        let prefetch = *lock(&self.prefetch);
        if let Some(companion) = self.returns.get() {
            companion.close().await?;
        }
        if let Some(slot) = slot {
            close_safely(slot.channel.clone(), prefetch).await?;
        }
        Ok(())
    }
}

/// Close a channel without crossing a close the broker may already have sent (after a publish
/// it refused, say): one synchronous round trip first, which the broker answers only after any
/// such close. lapin mishandles crossing closes (it can then send a frame on a freed channel id,
/// which costs the whole connection), so this ordering matters.
pub(super) async fn close_safely(channel: lapin::Channel, prefetch: Option<u16>) -> Result<()> {
    if !channel.status().connected() {
        return Ok(());
    }
    let probe = channel
        .basic_qos(prefetch.unwrap_or(0), BasicQosOptions::default())
        .await;
    if probe.is_err() || !channel.status().connected() {
        return Ok(()); // The broker closed it first; nothing to do.
    }
    channel
        .close(200, "OK".into())
        .await
        .map_err(|e| error("closing the channel", e))
}

impl Drop for AmqpChannel {
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // The ack task sends what is still queued, then closes the channel itself rather than
        // leave it to lapin's automatic close on drop, which can cross a close from the broker
        // (see `close_safely`). It can only run while the runtime does.
        let prefetch = *lock(&self.prefetch);
        let _ = self.acks.send(AckCmd::Close { prefetch });
    }
}
