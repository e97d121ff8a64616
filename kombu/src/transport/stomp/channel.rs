//! A kombu channel on one STOMP session: publishing, consuming, acknowledgements, and
//! recovery of a lost session (reconnect with bounded backoff, resubscribe under the same
//! consumer tags).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::client::Client;
use super::convert::{
    parse_destination, properties_of, queue_destination, send_destination, send_frame,
};
use super::frame::{Command, Frame};
use super::{lock, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::recovery::{Backoff, ConsumerRecord, Consumers};
use crate::transport::{
    BindOp, BindingKind, BindingRef, Capabilities, Confirmation, ConsumeOptions, ConsumerEvent,
    Delivery, DeliverySender, OutgoingMessage, PendingConfirm, PublishFlags, QueueDeclared,
    TransportChannel,
};
use crate::{Exchange, Queue};

/// The error for what RabbitMQ's STOMP plugin cannot do.
fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{what} is not supported on STOMP. Declare the topology over AMQP (`kombu apply`, \
             or `declare_all` on an amqp:// connection) or in the broker's definitions, and \
             mark the entities `no_declare` (or turn `auto_declare` off) on stomp://"
        ),
    )
}

/// What a consumer's record holds beside the shared part: its subscription, the session that
/// subscription belongs to, and the prefetch it was made with (to make it again the same).
struct Subscription {
    id: String,
    session: u64,
    prefetch: u16,
}

/// A delivery awaiting its acknowledgement.
struct Unacked {
    /// The session it came on; after a reconnect its `ack` id means nothing.
    session: u64,
    /// The subscription it came on.
    subscription: String,
    ack: String,
}

/// The session in use and its number, read together so an ack never meets another session.
#[derive(Clone)]
struct Live {
    session: u64,
    client: Arc<Client>,
}

/// Counts the callers inside [`StompChannel::recover`] while they hold the channel.
struct Recovering<'a>(&'a AtomicUsize);

impl<'a> Recovering<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Recovering(count)
    }
}

impl Drop for Recovering<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct StompChannel {
    conn: Arc<Shared>,
    me: Weak<StompChannel>,
    live: Mutex<Option<Live>>,
    sessions: AtomicU64,
    recovering: tokio::sync::Mutex<()>,
    in_recovery: AtomicUsize,
    consumers: Consumers<Subscription>,
    unacked: Mutex<BTreeMap<u64, Unacked>>,
    /// Delivery tags of messages whose session was lost before they were settled.
    lost: Mutex<BTreeSet<u64>>,
    /// (session, subscription) the user cancelled: RabbitMQ ends the whole session when a
    /// message of such a subscription is acknowledged, so those are not sent.
    unsubscribed: Mutex<HashSet<(u64, String)>>,
    next_tag: AtomicU64,
    prefetch: AtomicU32,
    confirm: AtomicBool,
    closed: AtomicBool,
}

impl StompChannel {
    pub(crate) fn new(conn: Arc<Shared>, client: Client) -> Arc<StompChannel> {
        Arc::new_cyclic(|me| StompChannel {
            conn,
            me: me.clone(),
            live: Mutex::new(Some(Live {
                session: 0,
                client: Arc::new(client),
            })),
            sessions: AtomicU64::new(0),
            recovering: tokio::sync::Mutex::new(()),
            in_recovery: AtomicUsize::new(0),
            consumers: Consumers::default(),
            unacked: Mutex::default(),
            lost: Mutex::default(),
            unsubscribed: Mutex::default(),
            next_tag: AtomicU64::new(1),
            prefetch: AtomicU32::new(0),
            confirm: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) || self.conn.is_closed() {
            return Err(Error::new(ErrorKind::Channel, "the channel is closed"));
        }
        Ok(())
    }

    /// The session, if it is up (for what cannot wait: acknowledgements).
    fn current(&self) -> Option<Live> {
        lock(&self.live)
            .as_ref()
            .filter(|l| l.client.is_open())
            .cloned()
    }

    /// The live session, recovering it first if it was lost. Recovery runs in a task of its
    /// own, so a caller that gives up waiting does not cut it short.
    async fn live(&self) -> Result<Live> {
        self.check_open()?;
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let Some(me) = self.me.upgrade() else {
            return Err(Error::new(ErrorKind::Channel, "the channel was dropped"));
        };
        let timeout = self.conn.options().recovery.recovery_timeout;
        let recovery = tokio::spawn(async move { me.recover().await });
        match tokio::time::timeout(timeout, recovery).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(Error::new(
                ErrorKind::Connection,
                format!("recovering the STOMP session failed: {e}"),
            )),
            Err(_) => Err(Error::new(
                ErrorKind::Connection,
                format!("the STOMP session was lost and did not come back within {timeout:?}"),
            )),
        }
    }

    /// Reconnect (once, however many callers ask) and resubscribe every consumer. A consumer
    /// whose queue is gone is cancelled (its receiver hears why); the others carry on. Stops
    /// when the channel is closed, or dropped by everyone but the callers of `recover`.
    async fn recover(&self) -> Result<Live> {
        let _counted = Recovering::enter(&self.in_recovery);
        let _guard = self.recovering.lock().await;
        let mut backoff = Backoff::new(&self.conn.options().recovery);
        loop {
            self.check_open()?;
            if let Some(live) = self.current() {
                return Ok(live);
            }
            if self.me.strong_count() <= self.in_recovery.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Channel, "the channel was dropped"));
            }
            match self.conn.connect_any().await {
                Ok(client) => {
                    let client = Arc::new(client);
                    if self.check_open().is_err() {
                        let _ = client.disconnect().await;
                        return Err(Error::new(ErrorKind::Channel, "the channel is closed"));
                    }
                    let session = self.sessions.fetch_add(1, Ordering::SeqCst) + 1;
                    self.forget_unacked_before(session);
                    let live = Live {
                        session,
                        client: Arc::clone(&client),
                    };
                    *lock(&self.live) = Some(live.clone());
                    match self.resubscribe(&client, session).await {
                        Ok(()) => {
                            self.conn.recovered();
                            tracing::info!(session, "STOMP session recovered");
                            return Ok(live);
                        }
                        // Not every consumer is back: drop this session and start over with
                        // the consumers that are left.
                        Err(e) => {
                            tracing::warn!(error = %e, "resubscribing after a reconnect failed");
                            client.abort(format!("resubscribing failed: {e}"));
                        }
                    }
                }
                Err(e) => {
                    if e.kind() == ErrorKind::AccessRefused {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, backoff = ?backoff.current(), "STOMP reconnect failed; retrying");
                }
            }
            backoff.wait().await;
        }
    }

    /// Unsettled deliveries of earlier sessions can no longer be settled: remember their tags
    /// to say so when someone tries.
    fn forget_unacked_before(&self, session: u64) {
        let mut unacked = lock(&self.unacked);
        let old: Vec<u64> = unacked
            .iter()
            .filter(|(_, u)| u.session < session)
            .map(|(t, _)| *t)
            .collect();
        let mut lost = lock(&self.lost);
        for tag in old {
            unacked.remove(&tag);
            lost.insert(tag);
        }
    }

    async fn resubscribe(&self, client: &Arc<Client>, session: u64) -> Result<()> {
        let tags: Vec<String> = self.consumers.lock().keys().cloned().collect();
        for tag in tags {
            let Some((queue, no_ack, prefetch)) = self
                .consumers
                .lock()
                .get(&tag)
                .map(|r| (r.queue.clone(), r.options.no_ack, r.state.prefetch))
            else {
                continue;
            };
            match self.subscribe(client, &queue, no_ack, prefetch).await {
                Ok((id, rx)) => {
                    let registered = match self.consumers.lock().get_mut(&tag) {
                        Some(record) => {
                            record.state.id = id.clone();
                            record.state.session = session;
                            true
                        }
                        None => false,
                    };
                    if registered {
                        self.spawn_forward(tag, id, Arc::clone(client), session, rx);
                    } else {
                        // Cancelled meanwhile: end the subscription just made.
                        client.unsubscribe(&id).await?;
                    }
                }
                // The broker refused this subscription (its queue is gone, or locked to another
                // connection): trying again would fail the same way, so cancel the consumer.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::NotFound
                            | ErrorKind::AccessRefused
                            | ErrorKind::PreconditionFailed
                    ) =>
                {
                    self.consumers.cancel(&tag, &e.to_string());
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        client: &Client,
        queue: &str,
        no_ack: bool,
        prefetch: u16,
    ) -> Result<(String, mpsc::UnboundedReceiver<Frame>)> {
        let mut headers = vec![(
            "ack".to_owned(),
            if no_ack { "auto" } else { "client-individual" }.to_owned(),
        )];
        if prefetch > 0 {
            headers.push(("prefetch-count".to_owned(), prefetch.to_string()));
        }
        client
            .subscribe(&queue_destination(queue), &headers)
            .await
            .map_err(|e| Error::new(e.kind(), format!("consuming queue `{queue}`: {e}")))
    }

    fn spawn_forward(
        &self,
        tag: String,
        subscription: String,
        client: Arc<Client>,
        session: u64,
        rx: mpsc::UnboundedReceiver<Frame>,
    ) {
        tokio::spawn(forward(
            self.me.clone(),
            tag,
            subscription,
            client,
            session,
            rx,
        ));
    }

    /// Turns a MESSAGE of `subscription` into a delivery for the consumer `tag`. A message no
    /// consumer takes any more goes back to its queue.
    fn deliver(
        &self,
        tag: &str,
        subscription: &str,
        client: &Arc<Client>,
        session: u64,
        frame: Frame,
    ) {
        let mut consumers = self.consumers.lock();
        let record = consumers
            .get(tag)
            .filter(|r| r.state.session == session && r.state.id == subscription);
        let Some(record) = record else {
            drop(consumers);
            // A message of a subscription we cancelled: RabbitMQ refuses to settle it once
            // the UNSUBSCRIBE is through (and ends the session over it), so it stays
            // unacknowledged and goes back to its queue when the session closes.
            let cancelled = lock(&self.unsubscribed).contains(&(session, subscription.to_owned()));
            if let (false, Some(ack)) = (cancelled, frame.header("ack")) {
                let _ = client.nack(ack, true);
            }
            return;
        };
        let delivery_tag = self.next_tag.fetch_add(1, Ordering::SeqCst);
        let ack = frame.header("ack").map(str::to_owned);
        let no_ack = record.options.no_ack;
        if let (false, Some(ack)) = (no_ack, ack.as_ref()) {
            lock(&self.unacked).insert(
                delivery_tag,
                Unacked {
                    session,
                    subscription: subscription.to_owned(),
                    ack: ack.clone(),
                },
            );
        }
        let (exchange, routing_key) = parse_destination(frame.header("destination").unwrap_or(""));
        let delivery = Delivery {
            delivery_tag,
            redelivered: frame.header("redelivered") == Some("true"),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            consumer_tag: tag.into(),
            properties: properties_of(&frame).into(),
            body: frame.body.into(),
        };
        if record
            .sender
            .send(ConsumerEvent::Delivery(delivery))
            .is_ok()
        {
            return;
        }
        // No one listens any more: end the subscription and give the message back, rather
        // than hold it or have the broker send it here again and again.
        consumers.remove(tag);
        drop(consumers);
        lock(&self.unacked).remove(&delivery_tag);
        if let (false, Some(ack)) = (no_ack, ack) {
            let _ = client.nack(&ack, true);
        }
        let (client, subscription) = (Arc::clone(client), subscription.to_owned());
        tokio::spawn(async move {
            let _ = client.unsubscribe(&subscription).await;
        });
    }

    /// The `ack` ids for `delivery_tag` (and every earlier one when `multiple`) that belong to
    /// `session`, removed from the unacknowledged set, and whether any belonged to a lost
    /// session. An unknown tag is an error.
    fn take_unacked(
        &self,
        delivery_tag: u64,
        multiple: bool,
        session: u64,
    ) -> Result<(Vec<String>, bool, bool)> {
        let unsubscribed = lock(&self.unsubscribed);
        let mut unacked = lock(&self.unacked);
        let mut lost = lock(&self.lost);
        let mut stale = false;
        let tags: Vec<u64> = if multiple {
            let before = lost.len();
            lost.retain(|t| *t > delivery_tag);
            stale |= lost.len() != before;
            unacked.range(..=delivery_tag).map(|(t, _)| *t).collect()
        } else if unacked.contains_key(&delivery_tag) {
            vec![delivery_tag]
        } else if lost.remove(&delivery_tag) {
            return Ok((Vec::new(), true, false));
        } else {
            return Err(Error::new(
                ErrorKind::Channel,
                format!(
                    "unknown delivery tag {delivery_tag} (already settled, or never delivered \
                     on this channel)"
                ),
            ));
        };
        let mut ids = Vec::with_capacity(tags.len());
        let mut orphaned = false;
        for t in tags {
            if let Some(u) = unacked.remove(&t) {
                if u.session != session {
                    stale = true;
                } else if unsubscribed.contains(&(u.session, u.subscription)) {
                    orphaned = true;
                } else {
                    ids.push(u.ack);
                }
            }
        }
        Ok((ids, stale, orphaned))
    }

    /// ACK or NACK what `delivery_tag` covers on the live session; then an error if part of it
    /// came on a session that was lost (the broker delivers those again).
    fn settle(
        &self,
        delivery_tag: u64,
        multiple: bool,
        send: impl Fn(&Client, &str) -> Result<()>,
    ) -> Result<()> {
        let live = self.current();
        let session = live.as_ref().map_or(u64::MAX, |l| l.session);
        let (ids, stale, orphaned) = self.take_unacked(delivery_tag, multiple, session)?;
        if let Some(live) = &live {
            for id in &ids {
                send(&live.client, id)?;
            }
        }
        if orphaned {
            return Err(Error::new(
                ErrorKind::Channel,
                "on STOMP a message cannot be settled once its consumer was cancelled \
                 (RabbitMQ would end the session); it goes back to its queue when the channel \
                 closes",
            ));
        }
        if stale || live.is_none() {
            return Err(Error::new(
                ErrorKind::Channel,
                "the message was delivered on a STOMP session that has since been lost; the \
                 broker delivers it again",
            ));
        }
        Ok(())
    }

    /// The server ended the subscription of consumer `tag` (as AMQP's basic.cancel from the
    /// broker does): the consumer hears why and is forgotten; the session and the channel's
    /// other consumers carry on, and its unsettled deliveries can still be settled.
    fn cancelled_by_server(&self, tag: &str, subscription: &str, session: u64, reason: &str) {
        self.consumers.cancel_if(tag, reason, |r| {
            r.state.id == subscription && r.state.session == session
        });
    }
}

/// Moves one subscription's MESSAGE frames to its consumer; when the subscription ends without
/// being cancelled, the session was lost, so recover it (which resubscribes). If recovery gives
/// up, the consumers hear why.
async fn forward(
    channel: Weak<StompChannel>,
    tag: String,
    subscription: String,
    client: Arc<Client>,
    session: u64,
    mut rx: mpsc::UnboundedReceiver<Frame>,
) {
    while let Some(frame) = rx.recv().await {
        let Some(channel) = channel.upgrade() else {
            if let Some(ack) = frame.header("ack") {
                let _ = client.nack(ack, true);
            }
            return;
        };
        if frame.command == Command::Error {
            // The server cancelled this subscription (its queue was deleted).
            let said = String::from_utf8_lossy(&frame.body);
            let reason = format!(
                "{}: {}",
                frame.header("message").unwrap_or("cancelled by the server"),
                said.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            channel.cancelled_by_server(&tag, &subscription, session, &reason);
            return;
        }
        channel.deliver(&tag, &subscription, &client, session, frame);
    }
    drop(client);
    let Some(channel) = channel.upgrade() else {
        return;
    };
    let still_ours = channel
        .consumers
        .lock()
        .get(&tag)
        .is_some_and(|r| r.state.id == subscription && r.state.session == session);
    if still_ours && channel.check_open().is_ok() {
        tracing::warn!(consumer_tag = %tag, "STOMP session lost; recovering");
        if let Err(e) = channel.recover().await {
            if channel.check_open().is_ok() {
                channel
                    .consumers
                    .cancel_all(&format!("the STOMP session could not be recovered: {e}"));
            }
        }
    }
}

#[async_trait]
impl TransportChannel for StompChannel {
    async fn declare_exchange(&self, exchange: &Exchange) -> Result<()> {
        // The predeclared exchanges exist; there is nothing to declare.
        if exchange.name.is_empty() || exchange.name.starts_with("amq.") {
            return Ok(());
        }
        Err(unsupported(&format!(
            "declaring exchange `{}`",
            exchange.name
        )))
    }

    async fn delete_exchange(&self, name: &str, _if_unused: bool) -> Result<()> {
        Err(unsupported(&format!("deleting exchange `{name}`")))
    }

    async fn declare_queue(&self, queue: &Queue) -> Result<QueueDeclared> {
        Err(unsupported(&format!("declaring queue `{}`", queue.name)))
    }

    async fn binding(&self, op: BindOp, b: BindingRef<'_>) -> Result<()> {
        let what = match b.kind {
            BindingKind::Queue => "queue",
            BindingKind::Exchange => "exchange",
        };
        let (verb, to) = match op {
            BindOp::Bind => ("binding", "to"),
            BindOp::Unbind => ("unbinding", "from"),
        };
        Err(unsupported(&format!(
            "{verb} {what} `{}` {to} exchange `{}` (key `{}`)",
            b.destination, b.source, b.routing_key
        )))
    }

    async fn delete_queue(&self, name: &str, _if_unused: bool, _if_empty: bool) -> Result<u32> {
        Err(unsupported(&format!("deleting queue `{name}`")))
    }

    async fn purge_queue(&self, name: &str) -> Result<u32> {
        Err(unsupported(&format!("purging queue `{name}`")))
    }

    async fn confirm_select(&self) -> Result<()> {
        self.check_open()?;
        self.confirm.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: OutgoingMessage,
        flags: PublishFlags,
    ) -> Result<PendingConfirm> {
        if flags.mandatory {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "mandatory publishing is not supported on STOMP (it has no basic.return); \
                 publish without `mandatory`, or over AMQP",
            ));
        }
        let frame = send_frame(
            send_destination(exchange, routing_key),
            Vec::from(message.body),
            &message.properties,
        )?;
        let client = self.live().await?.client;
        if self.confirm.load(Ordering::SeqCst) {
            let receipt = client.send_for_receipt(frame)?;
            let what = format!("publishing to exchange `{exchange}` with key `{routing_key}`");
            Ok(Box::pin(async move {
                receipt
                    .wait()
                    .await
                    .map(|()| Confirmation::Ack)
                    .map_err(|e| Error::new(e.kind(), format!("{what}: {e}")))
            }))
        } else {
            client.send_now(&frame)?;
            Ok(Box::pin(std::future::ready(Ok(Confirmation::NotRequested))))
        }
    }

    async fn qos(&self, prefetch_count: u16) -> Result<()> {
        self.check_open()?;
        self.prefetch
            .store(u32::from(prefetch_count), Ordering::SeqCst);
        Ok(())
    }

    async fn consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: &ConsumeOptions,
        sender: DeliverySender,
    ) -> Result<()> {
        if options.exclusive {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("exclusive consumers (queue `{queue}`) are not supported on STOMP"),
            ));
        }
        if !options.arguments.is_empty() {
            let names: Vec<&str> = options.arguments.keys().map(String::as_str).collect();
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "consumer arguments ({}) are not supported on STOMP",
                    names.join(", ")
                ),
            ));
        }
        if self.consumers.contains(consumer_tag) {
            return Err(Error::new(
                ErrorKind::Channel,
                format!("consumer tag `{consumer_tag}` is already in use on this channel"),
            ));
        }
        let prefetch = u16::try_from(self.prefetch.load(Ordering::SeqCst)).unwrap_or(u16::MAX);
        let Live { session, client } = self.live().await?;
        let (subscription, rx) = self
            .subscribe(&client, queue, options.no_ack, prefetch)
            .await?;
        self.consumers.insert(
            consumer_tag,
            ConsumerRecord {
                queue: queue.to_owned(),
                options: options.clone(),
                sender,
                state: Subscription {
                    id: subscription.clone(),
                    session,
                    prefetch,
                },
            },
        );
        self.spawn_forward(consumer_tag.to_owned(), subscription, client, session, rx);
        Ok(())
    }

    async fn cancel(&self, consumer_tag: &str) -> Result<()> {
        let Some(record) = self.consumers.remove(consumer_tag) else {
            return Ok(());
        };
        let Subscription { id, session, .. } = record.state;
        lock(&self.unsubscribed).insert((session, id.clone()));
        // Deliveries are sent while the record is held, so none can follow this; what the
        // server still sends for the subscription goes back to the queue.
        let _ = record.sender.send(ConsumerEvent::Ended {
            consumer_tag: consumer_tag.to_owned(),
        });
        // Messages it received and has not settled stay unacknowledged, as on AMQP. A
        // subscription of a lost session ended with it; one being remade by recovery is ended
        // there, when recovery finds the consumer gone.
        match self.current() {
            Some(live) if live.session == session => live.client.unsubscribe(&id).await,
            _ => Ok(()),
        }
    }

    async fn get(&self, queue: &str, _no_ack: bool) -> Result<Option<Delivery>> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("STOMP has no basic.get (queue `{queue}`): consume the queue instead"),
        ))
    }

    fn ack(&self, delivery_tag: u64, multiple: bool) -> Result<()> {
        self.settle(delivery_tag, multiple, |client, id| client.ack(id))
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::ALL;
        c.declare = false;
        c.bind = false;
        c.get = false;
        c.mandatory = false;
        c.exclusive_consume = false;
        c.consumer_arguments = false;
        c.settle_after_cancel = false;
        c
    }

    fn reject(&self, delivery_tag: u64, requeue: bool) -> Result<()> {
        self.settle(delivery_tag, false, |client, id| client.nack(id, requeue))
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.consumers.end_all();
        lock(&self.unacked).clear();
        lock(&self.lost).clear();
        let live = lock(&self.live).take();
        match live {
            // The broker returns what was not acknowledged to its queues.
            Some(live) if live.client.is_open() => live.client.disconnect().await,
            _ => Ok(()),
        }
    }
}
