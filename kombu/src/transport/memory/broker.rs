//! The in-process broker: exchanges, queues, channels and connections with RabbitMQ's
//! semantics (declare equivalence, exclusive ownership, auto-delete, QoS, requeue in place,
//! TTL, max-length, dead-lettering with `x-death`, alternate exchanges, mandatory returns,
//! quorum queues' delivery counts and limits, streams read from an offset).
//!
//! All state sits behind one mutex; every operation takes it once and does little under it:
//! names are shared (`Arc<str>`), a message is stored once however many queues it reaches
//! (its body shared with the deliveries, not copied), routing fills a reused list, and an
//! unacked delivery is a small entry in its channel's log. Deliveries are pushed to
//! consumers' unbounded senders while the lock is held (a send never blocks); prefetch bounds
//! how many are in flight. TTL expiry runs when a queue is touched and on a timer task.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::queue::{ConsumerState, Content, QueueState, Stored};
use super::refusal::{
    access_refused, amqp_type_name, channel_closed, check_arguments, check_flag, locked, not_found,
    precondition, QUEUE_CHECKED_ARGS,
};
use super::router::{BindingEntry, Destination, Router};
use crate::error::{Error, ErrorKind, Result};
use crate::field::{FieldTable, FieldValue};
use crate::fxhash::FxHashMap;
use crate::properties::Properties;
use crate::transport::naming::random_suffix;
use crate::transport::{
    Confirmation, ConsumeOptions, ConsumerEvent, Delivery, DeliverySender, OutgoingMessage,
    PublishFlags, QueueDeclared,
};
use crate::{Exchange, ExchangeKind, Overflow, Queue};

pub(super) type ConnId = u64;
pub(super) type ChanId = u64;

#[derive(Debug)]
struct ExchangeState {
    kind: ExchangeKind,
    durable: bool,
    auto_delete: bool,
    internal: bool,
    arguments: FieldTable,
    router: Router,
}

/// A delivery awaiting its ack: the stored message (shared) and where it came from.
#[derive(Debug)]
struct Unacked {
    queue: Arc<str>,
    msg: Stored,
    /// The consumer's id ([`ConsumerState::id`]); 0 for `basic.get`.
    consumer: u64,
}

/// A channel's unacked deliveries in tag order. Tags only grow, so a delivery is appended;
/// acks mostly come in order, so settling takes from the front. One settled out of order
/// leaves a hole, and holes are swept once they are half the log: each operation costs O(1)
/// amortized, or O(log n) to find an out-of-order tag.
#[derive(Debug, Default)]
struct UnackedLog {
    entries: VecDeque<(u64, Option<Unacked>)>,
    live: usize,
}

impl UnackedLog {
    fn insert(&mut self, tag: u64, entry: Unacked) {
        self.entries.push_back((tag, Some(entry)));
        self.live += 1;
    }

    fn remove(&mut self, tag: u64) -> Option<Unacked> {
        let index = self.entries.binary_search_by_key(&tag, |e| e.0).ok()?;
        let entry = self.entries.get_mut(index)?.1.take()?;
        self.live -= 1;
        while matches!(self.entries.front(), Some((_, None))) {
            self.entries.pop_front();
        }
        while matches!(self.entries.back(), Some((_, None))) {
            self.entries.pop_back();
        }
        if self.live * 2 < self.entries.len() {
            self.entries.retain(|e| e.1.is_some());
        }
        Some(entry)
    }

    /// Every delivery up to and including `tag`, in tag order.
    fn take_through(&mut self, tag: u64) -> Vec<Unacked> {
        let mut taken = Vec::new();
        while self.entries.front().is_some_and(|e| e.0 <= tag) {
            if let Some((_, Some(entry))) = self.entries.pop_front() {
                self.live -= 1;
                taken.push(entry);
            }
        }
        taken
    }
}

#[derive(Debug, Default)]
struct ChannelState {
    conn: ConnId,
    next_tag: u64,
    prefetch: u16,
    confirm: bool,
    unacked: UnackedLog,
    /// Consumer tag -> queue.
    consumers: FxHashMap<String, Arc<str>>,
    /// The properties and routing key of the last message published on the channel.
    last_properties: Option<Arc<Properties>>,
    last_key: Option<Arc<str>>,
}

#[derive(Debug, Default)]
struct State {
    exchanges: FxHashMap<Arc<str>, ExchangeState>,
    queues: FxHashMap<Arc<str>, QueueState>,
    channels: FxHashMap<ChanId, ChannelState>,
    connections: FxHashMap<ConnId, Vec<ChanId>>,
    next_id: u64,
    seq: u64,
    /// Queues whose consumers may be able to take messages (each once: see
    /// [`QueueState::pending`]).
    pending: Vec<Arc<str>>,
    /// The queues of the publish being routed, kept to reuse its allocation.
    routed: Vec<Arc<str>>,
    /// TTL timers to start once the lock is released.
    timers: Vec<(Arc<str>, Instant)>,
}

/// One named in-process broker.
#[derive(Debug)]
pub(crate) struct Broker {
    state: Mutex<State>,
    me: Weak<Broker>,
}

impl Broker {
    pub(super) fn new() -> Arc<Broker> {
        let broker = Arc::new_cyclic(|me| Broker {
            state: Mutex::new(State::default()),
            me: me.clone(),
        });
        {
            let mut state = broker.lock();
            for (name, kind) in [
                ("", ExchangeKind::Direct),
                ("amq.direct", ExchangeKind::Direct),
                ("amq.fanout", ExchangeKind::Fanout),
                ("amq.topic", ExchangeKind::Topic),
                ("amq.headers", ExchangeKind::Headers),
                ("amq.match", ExchangeKind::Headers),
            ] {
                state.exchanges.insert(
                    name.into(),
                    ExchangeState {
                        router: Router::new(&kind),
                        kind,
                        durable: true,
                        auto_delete: false,
                        internal: false,
                        arguments: FieldTable::new(),
                    },
                );
            }
        }
        broker
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Run `f` on the state, then deliver what became deliverable and start TTL timers.
    fn with<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let (result, timers) = {
            let mut state = self.lock();
            let result = f(&mut state);
            state.run_pending();
            (result, std::mem::take(&mut state.timers))
        };
        self.start_timers(timers);
        result
    }

    fn start_timers(&self, timers: Vec<(Arc<str>, Instant)>) {
        if timers.is_empty() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return; // No runtime: expiry still happens whenever the queue is touched.
        };
        for (queue, at) in timers {
            let me = self.me.clone();
            handle.spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                if let Some(broker) = me.upgrade() {
                    let _ = broker.with(|state| {
                        if let Some(q) = state.queues.get_mut(&queue) {
                            q.timer_at = None;
                        }
                        state.mark_pending(&queue);
                        Ok(())
                    });
                }
            });
        }
    }

    // ---- connections and channels ------------------------------------------------------

    pub(super) fn open_connection(&self) -> ConnId {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.connections.insert(id, Vec::new());
        id
    }

    pub(super) fn close_connection(&self, conn: ConnId) {
        let _ = self.with(|state| {
            let channels = state.connections.remove(&conn).unwrap_or_default();
            for chan in channels {
                state.close_channel(chan);
            }
            let owned: Vec<Arc<str>> = state
                .queues
                .values()
                .filter(|q| q.owner == Some(conn))
                .map(|q| Arc::clone(&q.name))
                .collect();
            for name in owned {
                state.delete_queue(&name, "exclusive queue's connection closed");
            }
            Ok(())
        });
    }

    pub(super) fn open_channel(&self, conn: ConnId) -> Result<ChanId> {
        let mut state = self.lock();
        if !state.connections.contains_key(&conn) {
            return Err(Error::new(ErrorKind::Connection, "connection is closed"));
        }
        state.next_id += 1;
        let id = state.next_id;
        state.channels.insert(
            id,
            ChannelState {
                conn,
                next_tag: 1,
                ..ChannelState::default()
            },
        );
        if let Some(list) = state.connections.get_mut(&conn) {
            list.push(id);
        }
        Ok(id)
    }

    pub(super) fn close_channel(&self, chan: ChanId) {
        let _ = self.with(|state| {
            state.close_channel(chan);
            Ok(())
        });
    }

    // ---- declarations ------------------------------------------------------------------

    pub(super) fn declare_exchange(&self, chan: ChanId, exchange: &Exchange) -> Result<()> {
        self.with(|state| {
            state.channel(chan)?;
            let name = &exchange.name;
            let entity = format!("exchange '{name}'");
            let existing = state.exchanges.get(name.as_str());
            if exchange.passive {
                return existing
                    .map(|_| ())
                    .ok_or_else(|| not_found(&entity));
            }
            if name.is_empty() {
                return Err(access_refused(
                    "operation not permitted on the default exchange".into(),
                ));
            }
            if name.starts_with("amq.") {
                return Err(access_refused(format!(
                    "exchange name '{name}' contains reserved prefix 'amq.*'"
                )));
            }
            match existing {
                Some(current) => {
                    if current.kind != exchange.kind {
                        return Err(precondition(format!(
                            "inequivalent arg 'type' for {entity} in vhost '/': received '{}' but current is '{}'",
                            exchange.kind, current.kind
                        )));
                    }
                    check_flag("durable", current.durable, exchange.durable, &entity)?;
                    check_flag("auto_delete", current.auto_delete, exchange.auto_delete, &entity)?;
                    check_flag("internal", current.internal, exchange.internal, &entity)?;
                    check_arguments(
                        &["alternate-exchange"],
                        &current.arguments,
                        &exchange.arguments,
                        &entity,
                    )
                }
                None => {
                    state.exchanges.insert(
                        name.as_str().into(),
                        ExchangeState {
                            kind: exchange.kind.clone(),
                            durable: exchange.durable,
                            auto_delete: exchange.auto_delete,
                            internal: exchange.internal,
                            arguments: exchange.arguments.clone(),
                            router: Router::new(&exchange.kind),
                        },
                    );
                    Ok(())
                }
            }
        })
    }

    pub(super) fn delete_exchange(&self, chan: ChanId, name: &str, if_unused: bool) -> Result<()> {
        self.with(|state| {
            state.channel(chan)?;
            if name.is_empty() || name.starts_with("amq.") {
                return Err(access_refused(format!(
                    "operation not permitted on exchange '{name}'"
                )));
            }
            let Some(x) = state.exchanges.get(name) else {
                // RabbitMQ answers delete-ok for a missing exchange.
                return Ok(());
            };
            if if_unused && !x.router.is_empty() {
                return Err(precondition(format!(
                    "exchange '{name}' in vhost '/' in use"
                )));
            }
            state.delete_exchange(name);
            Ok(())
        })
    }

    pub(super) fn declare_queue(&self, chan: ChanId, queue: &Queue) -> Result<QueueDeclared> {
        self.with(|state| {
            let conn = state.channel(chan)?.conn;
            let mut name = queue.name.clone();
            if name.is_empty() && !queue.passive {
                state.next_id += 1;
                name = format!("amq.gen-{}", random_suffix(state.next_id));
            }
            let entity = format!("queue '{name}'");
            let arguments = queue.declare_arguments();
            match state.queues.get(name.as_str()) {
                Some(current) => {
                    if current.owner.is_some_and(|owner| owner != conn) {
                        return Err(locked(&name));
                    }
                    if !queue.passive {
                        check_flag("durable", current.durable, queue.durable, &entity)?;
                        if current.exclusive != queue.exclusive {
                            return Err(locked(&name));
                        }
                        check_flag(
                            "auto_delete",
                            current.auto_delete,
                            queue.is_auto_delete(),
                            &entity,
                        )?;
                        check_arguments(
                            &QUEUE_CHECKED_ARGS,
                            &current.arguments,
                            &arguments,
                            &entity,
                        )?;
                    }
                }
                None if queue.passive => return Err(not_found(&entity)),
                None => {
                    if name.starts_with("amq.") && !queue.name.is_empty() {
                        return Err(access_refused(format!(
                            "queue name '{name}' contains reserved prefix 'amq.*'"
                        )));
                    }
                    super::refusal::new_queue(
                        &entity,
                        &arguments,
                        queue.durable,
                        queue.exclusive,
                        queue.is_auto_delete(),
                    )?;
                    let shared: Arc<str> = name.as_str().into();
                    state.queues.insert(
                        Arc::clone(&shared),
                        QueueState::new(
                            shared,
                            queue.durable,
                            queue.exclusive,
                            queue.is_auto_delete(),
                            arguments,
                            queue.exclusive.then_some(conn),
                        ),
                    );
                }
            }
            state.touch(&name);
            let q = state
                .queues
                .get(name.as_str())
                .ok_or_else(|| not_found(&entity))?;
            Ok(QueueDeclared {
                message_count: u32::try_from(q.len()).unwrap_or(u32::MAX),
                consumer_count: u32::try_from(q.consumers.len()).unwrap_or(u32::MAX),
                name,
            })
        })
    }

    pub(super) fn bind(
        &self,
        chan: ChanId,
        destination: Destination,
        source: &str,
        routing_key: &str,
        arguments: &FieldTable,
        bind: bool,
    ) -> Result<()> {
        self.with(|state| {
            let conn = state.channel(chan)?.conn;
            if source.is_empty() {
                return Err(access_refused(
                    "operation not permitted on the default exchange".into(),
                ));
            }
            // The destination by its shared name: a binding adds no copy of it.
            let destination = match &destination {
                Destination::Queue(q) => {
                    let queue = state
                        .queues
                        .get(q)
                        .ok_or_else(|| not_found(&format!("queue '{q}'")))?;
                    if queue.owner.is_some_and(|owner| owner != conn) {
                        return Err(locked(q));
                    }
                    Destination::Queue(Arc::clone(&queue.name))
                }
                Destination::Exchange(x) => {
                    let (name, _) = state
                        .exchanges
                        .get_key_value(x)
                        .ok_or_else(|| not_found(&format!("exchange '{x}'")))?;
                    Destination::Exchange(Arc::clone(name))
                }
            };
            let entry = BindingEntry {
                destination,
                key: routing_key.to_owned(),
                arguments: arguments.clone(),
            };
            let Some(x) = state.exchanges.get_mut(source) else {
                return Err(not_found(&format!("exchange '{source}'")));
            };
            if bind {
                x.router.bind(entry);
            } else if x.router.unbind(&entry) && x.auto_delete && x.router.is_empty() {
                state.delete_exchange(source);
            }
            Ok(())
        })
    }

    pub(super) fn delete_queue(
        &self,
        chan: ChanId,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<u32> {
        self.with(|state| {
            let conn = state.channel(chan)?.conn;
            let Some(q) = state.queues.get(name) else {
                return Ok(0);
            };
            if q.owner.is_some_and(|owner| owner != conn) {
                return Err(locked(name));
            }
            if if_unused && !q.consumers.is_empty() {
                return Err(precondition(format!("queue '{name}' in vhost '/' in use")));
            }
            if if_empty && q.len() > 0 {
                return Err(precondition(format!(
                    "queue '{name}' in vhost '/' is not empty"
                )));
            }
            Ok(state.delete_queue(name, "queue deleted"))
        })
    }

    pub(super) fn purge_queue(&self, chan: ChanId, name: &str) -> Result<u32> {
        self.with(|state| {
            let conn = state.channel(chan)?.conn;
            let q = state
                .queues
                .get_mut(name)
                .ok_or_else(|| not_found(&format!("queue '{name}'")))?;
            if q.owner.is_some_and(|owner| owner != conn) {
                return Err(locked(name));
            }
            Ok(u32::try_from(q.purge()).unwrap_or(u32::MAX))
        })
    }

    // ---- messages -----------------------------------------------------------------------

    pub(super) fn confirm_select(&self, chan: ChanId) -> Result<()> {
        let mut state = self.lock();
        state.channel_mut(chan)?.confirm = true;
        Ok(())
    }

    pub(super) fn publish(
        &self,
        chan: ChanId,
        exchange: &str,
        routing_key: &str,
        message: OutgoingMessage,
        flags: PublishFlags,
    ) -> Result<Confirmation> {
        self.with(|state| {
            let confirm = state.channel(chan)?.confirm;
            let (exchange_name, x) = state
                .exchanges
                .get_key_value(exchange)
                .ok_or_else(|| not_found(&format!("exchange '{exchange}'")))?;
            let exchange_name = Arc::clone(exchange_name);
            if x.internal {
                return Err(access_refused(format!(
                    "cannot publish to internal exchange '{exchange}' in vhost '/'"
                )));
            }
            // RabbitMQ refuses sender-selected routing headers that are not arrays of strings.
            if let Some(headers) = message.properties.headers.as_ref() {
                for name in ["CC", "BCC"] {
                    let bad = match headers.get(name) {
                        None => None,
                        Some(FieldValue::Array(items)) => items
                            .iter()
                            .find(|v| !matches!(v, FieldValue::String(_)))
                            .map(amqp_type_name),
                        Some(other) => Some(amqp_type_name(other)),
                    };
                    if let Some(kind) = bad {
                        return Err(precondition(format!(
                            "invalid message: {{unacceptable_type_in_header,\"{name}\",{kind}}}"
                        )));
                    }
                }
            }
            let mut queues = std::mem::take(&mut state.routed);
            state.route(
                exchange,
                routing_key,
                message.properties.headers.as_ref(),
                &mut queues,
            );
            if queues.is_empty() {
                state.routed = queues;
                if flags.mandatory {
                    return Err(Error::unroutable(exchange, routing_key, message));
                }
                return Ok(if confirm {
                    Confirmation::Ack
                } else {
                    Confirmation::NotRequested
                });
            }
            state.seq += 1;
            let mut properties = message.properties;
            // `BCC` routes but is never delivered.
            if let Some(headers) = properties.headers.as_mut() {
                headers.remove("BCC");
            }
            let seq = state.seq;
            let channel = state.channel_mut(chan)?;
            // A channel usually publishes many messages with the same properties and key:
            // they share the last one's instead of storing their own.
            let properties = match &channel.last_properties {
                Some(last) if **last == properties => Arc::clone(last),
                _ => {
                    let shared = Arc::new(properties);
                    channel.last_properties = Some(Arc::clone(&shared));
                    shared
                }
            };
            let routing_key = match &channel.last_key {
                Some(last) if **last == *routing_key => Arc::clone(last),
                _ => {
                    let shared: Arc<str> = routing_key.into();
                    channel.last_key = Some(Arc::clone(&shared));
                    shared
                }
            };
            let content = Arc::new(Content {
                seq,
                exchange: exchange_name,
                routing_key,
                body: message.body,
                properties,
            });
            let mut refused = false;
            for queue in queues.drain(..) {
                let stored = Stored {
                    content: Arc::clone(&content),
                    redelivered: false,
                    returns: 0,
                    expires_at: None,
                };
                refused |= !state.enqueue(&queue, stored);
            }
            state.routed = queues;
            Ok(match (confirm, refused) {
                (false, _) => Confirmation::NotRequested,
                (true, false) => Confirmation::Ack,
                (true, true) => Confirmation::Nack,
            })
        })
    }

    pub(super) fn qos(&self, chan: ChanId, prefetch: u16) -> Result<()> {
        let mut state = self.lock();
        state.channel_mut(chan)?.prefetch = prefetch;
        Ok(())
    }

    pub(super) fn consume(
        &self,
        chan: ChanId,
        queue: &str,
        tag: &str,
        options: &ConsumeOptions,
        sender: DeliverySender,
    ) -> Result<String> {
        self.with(|state| {
            let (conn, prefetch) = {
                let channel = state.channel(chan)?;
                (channel.conn, channel.prefetch)
            };
            let tag = if tag.is_empty() {
                state.next_id += 1;
                format!("amq.ctag-{}", random_suffix(state.next_id))
            } else {
                tag.to_owned()
            };
            if state.channel(chan)?.consumers.contains_key(&tag) {
                return Err(Error::new(
                    ErrorKind::Channel,
                    format!("530 NOT_ALLOWED - attempt to reuse consumer tag '{tag}'"),
                ));
            }
            let q = state
                .queues
                .get_mut(queue)
                .ok_or_else(|| not_found(&format!("queue '{queue}'")))?;
            if q.owner.is_some_and(|owner| owner != conn) {
                return Err(locked(queue));
            }
            if q.consumers.iter().any(|c| c.exclusive)
                || (options.exclusive && !q.consumers.is_empty())
            {
                return Err(access_refused(format!(
                    "queue '{queue}' in vhost '/' in exclusive use"
                )));
            }
            // A stream is read from an offset, with manual acks.
            let cursor = match &q.stream {
                None => 0,
                Some(_) if options.no_ack => {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!("540 NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues queue '{queue}' in vhost '/'"),
                    ))
                }
                Some(log) => log
                    .start(options.arguments.get("x-stream-offset"))
                    .ok_or_else(|| Error::new(ErrorKind::Channel, "541 INTERNAL_ERROR"))?,
            };
            let queue_name = Arc::clone(&q.name);
            state.next_id += 1;
            let id = state.next_id;
            let Some(q) = state.queues.get_mut(queue) else {
                return Err(not_found(&format!("queue '{queue}'")));
            };
            q.consumers.push(ConsumerState {
                id,
                tag: tag.as_str().into(),
                channel: chan,
                no_ack: options.no_ack,
                prefetch,
                unacked: 0,
                exclusive: options.exclusive,
                sender,
                cursor,
            });
            q.had_consumer = true;
            state.touch(queue);
            state
                .channel_mut(chan)?
                .consumers
                .insert(tag.clone(), queue_name);
            state.mark_pending(queue);
            Ok(tag)
        })
    }

    pub(super) fn cancel(&self, chan: ChanId, tag: &str) -> Result<()> {
        self.with(|state| {
            let queue = state.channel_mut(chan)?.consumers.remove(tag);
            if let Some(queue) = queue {
                state.remove_consumer(&queue, chan, tag);
            }
            Ok(())
        })
    }

    pub(super) fn get(&self, chan: ChanId, queue: &str, no_ack: bool) -> Result<Option<Delivery>> {
        self.with(|state| {
            let conn = state.channel(chan)?.conn;
            let q = state
                .queues
                .get(queue)
                .ok_or_else(|| not_found(&format!("queue '{queue}'")))?;
            if q.owner.is_some_and(|owner| owner != conn) {
                return Err(locked(queue));
            }
            if q.stream.is_some() {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("540 NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{queue}' in vhost '/'"),
                ));
            }
            state.touch(queue);
            state.expire(queue);
            let Some(q) = state.queues.get_mut(queue) else {
                return Ok(None);
            };
            let Some(msg) = q.pop() else {
                return Ok(None);
            };
            let counted = q
                .limits
                .counts_deliveries
                .then_some(("x-delivery-count", u64::from(msg.returns)));
            let queue = Arc::clone(&q.name);
            let channel = state.channel_mut(chan)?;
            let tag = channel.next_tag;
            channel.next_tag += 1;
            let delivery = to_delivery(&msg, tag, &Arc::from(""), counted);
            if !no_ack {
                channel.unacked.insert(
                    tag,
                    Unacked {
                        queue,
                        msg,
                        consumer: 0,
                    },
                );
            }
            Ok(Some(delivery))
        })
    }

    pub(super) fn ack(&self, chan: ChanId, tag: u64, multiple: bool) -> Result<()> {
        self.with(|state| {
            if multiple {
                for entry in state.take_unacked_through(chan, tag)? {
                    state.settled(&entry);
                }
            } else {
                let entry = state.take_unacked(chan, tag)?;
                state.settled(&entry);
            }
            Ok(())
        })
    }

    pub(super) fn reject(&self, chan: ChanId, tag: u64, requeue: bool) -> Result<()> {
        self.with(|state| {
            let entry = state.take_unacked(chan, tag)?;
            state.settled(&entry);
            if requeue {
                state.requeue(entry);
            } else {
                state.dead_letter(&entry.queue, entry.msg, "rejected");
            }
            Ok(())
        })
    }
}

/// Whether a `CC` or `BCC` header may add routing keys.
fn has_sender_selected(headers: Option<&FieldTable>) -> bool {
    headers.is_some_and(|h| !h.is_empty() && (h.contains_key("CC") || h.contains_key("BCC")))
}

/// The extra routing keys in a `CC` or `BCC` header: an array; its string items count.
fn sender_selected<'a>(
    headers: Option<&'a FieldTable>,
    name: &str,
) -> impl Iterator<Item = &'a str> {
    let items: &[FieldValue] = match headers.and_then(|h| h.get(name)) {
        Some(FieldValue::Array(items)) => items,
        _ => &[],
    };
    items.iter().filter_map(FieldValue::as_str)
}

/// The delivery of a stored message: body, properties and names are shared with the store,
/// not copied. A header the queue adds (a quorum queue's `x-delivery-count`, a stream's
/// `x-stream-offset`) goes into a copy of the properties.
fn to_delivery(
    msg: &Stored,
    tag: u64,
    consumer_tag: &Arc<str>,
    header: Option<(&str, u64)>,
) -> Delivery {
    let content = &msg.content;
    let properties = match header {
        Some((key, value)) => {
            let mut properties = Properties::clone(&content.properties);
            properties
                .headers
                .get_or_insert_with(FieldTable::new)
                .insert(
                    key.into(),
                    FieldValue::I64(i64::try_from(value).unwrap_or(i64::MAX)),
                );
            Arc::new(properties)
        }
        None => Arc::clone(&content.properties),
    };
    Delivery {
        delivery_tag: tag,
        redelivered: msg.redelivered,
        exchange: Arc::clone(&content.exchange),
        routing_key: Arc::clone(&content.routing_key),
        consumer_tag: Arc::clone(consumer_tag),
        body: content.body.clone(),
        properties,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl State {
    fn channel(&self, chan: ChanId) -> Result<&ChannelState> {
        self.channels.get(&chan).ok_or_else(channel_closed)
    }

    fn channel_mut(&mut self, chan: ChanId) -> Result<&mut ChannelState> {
        self.channels.get_mut(&chan).ok_or_else(channel_closed)
    }

    /// The queues a message reaches from `exchange`, following exchange-to-exchange bindings
    /// and alternate exchanges; each queue once, in name order, into `out` (cleared first).
    fn route(
        &self,
        exchange: &str,
        key: &str,
        headers: Option<&FieldTable>,
        out: &mut Vec<Arc<str>>,
    ) {
        out.clear();
        // Sender-selected distribution: the `CC` and `BCC` headers (arrays of strings) add
        // routing keys.
        let with_selected: Vec<&str>;
        let keys: &[&str] = if has_sender_selected(headers) {
            with_selected = std::iter::once(key)
                .chain(sender_selected(headers, "CC"))
                .chain(sender_selected(headers, "BCC"))
                .collect();
            &with_selected
        } else {
            std::slice::from_ref(&key)
        };
        super::router::route_graph_each(
            exchange,
            keys,
            headers,
            |name| {
                self.exchanges.get(name).map(|x| {
                    let alternate = x
                        .arguments
                        .get("alternate-exchange")
                        .and_then(FieldValue::as_str);
                    (&x.router, alternate)
                })
            },
            |queue, _| {
                if let Some(q) = self.queues.get(queue) {
                    out.push(Arc::clone(&q.name));
                }
            },
        );
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }

    /// Put `queue` on the list of queues to deliver from, once.
    fn mark_pending(&mut self, queue: &str) {
        if let Some(q) = self.queues.get_mut(queue) {
            if !q.pending {
                q.pending = true;
                self.pending.push(Arc::clone(&q.name));
            }
        }
    }

    /// Put a published message into a queue, applying TTL and length limits. Returns false
    /// when the queue refused it (`reject-publish`).
    fn enqueue(&mut self, queue: &str, mut msg: Stored) -> bool {
        let Some(q) = self.queues.get_mut(queue) else {
            return true;
        };
        let ttl = match (q.limits.message_ttl, msg.content.properties.expiration) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        msg.expires_at = ttl.map(|d| Instant::now() + d);
        if q.would_overflow(msg.content.body.len()) {
            match q.limits.overflow {
                Some(Overflow::RejectPublish) => return false,
                Some(Overflow::RejectPublishDlx) => {
                    self.dead_letter(queue, msg, "maxlen");
                    return false;
                }
                _ => {}
            }
        }
        q.push(msg);
        if !q.pending {
            q.pending = true;
            self.pending.push(Arc::clone(&q.name));
        }
        let mut dropped = Vec::new();
        while q.over_limit() {
            match q.pop() {
                Some(head) => dropped.push(head),
                None => break,
            }
        }
        for head in dropped {
            self.dead_letter(queue, head, "maxlen");
        }
        true
    }

    /// Dead-letter `msg` from `queue` for `reason`, or drop it when the queue has no
    /// dead-letter exchange (or the exchange does not exist), as RabbitMQ does.
    fn dead_letter(&mut self, queue: &str, msg: Stored, reason: &str) {
        let Some(q) = self.queues.get(queue) else {
            return;
        };
        let Some(dlx) = q.limits.dead_letter_exchange.clone() else {
            return;
        };
        let key = q
            .limits
            .dead_letter_routing_key
            .clone()
            .unwrap_or_else(|| msg.content.routing_key.as_ref().to_owned());
        let Some((dlx_name, _)) = self.exchanges.get_key_value(dlx.as_str()) else {
            return;
        };
        let dlx_name = Arc::clone(dlx_name);
        // The dead-lettered message is a new message (its headers change); the original
        // content stays as it is for the other queues that hold it.
        let mut content = Content::clone(&msg.content);
        let properties = Arc::make_mut(&mut content.properties);
        let headers = properties.headers.get_or_insert_with(FieldTable::new);
        let mut deaths = match headers.remove("x-death") {
            Some(FieldValue::Array(items)) => items,
            _ => Vec::new(),
        };
        let same = deaths.iter().position(|d| match d {
            FieldValue::Table(t) => {
                t.get("queue").and_then(FieldValue::as_str) == Some(queue)
                    && t.get("reason").and_then(FieldValue::as_str) == Some(reason)
            }
            _ => false,
        });
        let entry = match same {
            Some(i) => {
                let mut entry = deaths.remove(i);
                if let FieldValue::Table(t) = &mut entry {
                    let count = t.get("count").and_then(FieldValue::as_i64).unwrap_or(0);
                    t.insert("count".into(), FieldValue::I64(count + 1));
                    t.insert("time".into(), FieldValue::Timestamp(now_secs()));
                }
                entry
            }
            None => {
                let mut t = FieldTable::new();
                t.insert("count".into(), FieldValue::I64(1));
                t.insert("reason".into(), reason.into());
                t.insert("queue".into(), queue.into());
                t.insert("time".into(), FieldValue::Timestamp(now_secs()));
                t.insert("exchange".into(), content.exchange.as_ref().into());
                t.insert(
                    "routing-keys".into(),
                    FieldValue::Array(vec![content.routing_key.as_ref().into()]),
                );
                if let Some(exp) = properties.expiration {
                    t.insert(
                        "original-expiration".into(),
                        crate::duration::duration_ms(exp).to_string().into(),
                    );
                }
                FieldValue::Table(t)
            }
        };
        deaths.insert(0, entry);
        let cycle_safe = deaths.iter().any(|d| match d {
            FieldValue::Table(t) => {
                t.get("reason").and_then(FieldValue::as_str) == Some("rejected")
            }
            _ => false,
        });
        let died_in: BTreeSet<String> = deaths
            .iter()
            .filter_map(|d| match d {
                FieldValue::Table(t) => t
                    .get("queue")
                    .and_then(FieldValue::as_str)
                    .map(str::to_owned),
                _ => None,
            })
            .collect();
        headers.insert("x-death".into(), FieldValue::Array(deaths));
        for (k, v) in [
            ("x-first-death-reason", reason),
            ("x-first-death-queue", queue),
            ("x-first-death-exchange", &*content.exchange),
        ] {
            headers.entry(k.into()).or_insert_with(|| v.into());
        }
        properties.expiration = None;
        content.exchange = dlx_name;
        content.routing_key = key.as_str().into();
        self.seq += 1;
        content.seq = self.seq;
        let mut targets = Vec::new();
        self.route(
            &dlx,
            &key,
            content.properties.headers.as_ref(),
            &mut targets,
        );
        let content = Arc::new(content);
        for target in targets {
            // A message that would die into a queue it already died in, with no rejection on
            // the way, is dropped (RabbitMQ's cycle rule).
            if died_in.contains(&*target) && !cycle_safe {
                continue;
            }
            let stored = Stored {
                content: Arc::clone(&content),
                redelivered: false,
                returns: 0,
                expires_at: None,
            };
            self.enqueue(&target, stored);
        }
    }

    /// Dead-letter (or drop) expired messages at the head of `queue`, delete the queue if it
    /// was unused for its `x-expires`, and arm its timer for the next of these.
    fn expire(&mut self, queue: &str) {
        match self.queues.get(queue) {
            // Nothing can expire: no clock to read.
            Some(q) if q.limits.expires.is_none() && q.next_expiry().is_none() => return,
            Some(_) => {}
            None => return,
        }
        let now = Instant::now();
        loop {
            let Some(q) = self.queues.get_mut(queue) else {
                return;
            };
            match q.pop_expired(now) {
                Some(msg) => self.dead_letter(queue, msg, "expired"),
                None => break,
            }
        }
        let Some(q) = self.queues.get_mut(queue) else {
            return;
        };
        let idle = q.idle_deadline();
        if idle.is_some_and(|at| at <= now) {
            self.delete_queue(queue, "unused for longer than its x-expires");
            return;
        }
        let next = match (q.next_expiry(), idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = next {
            if q.timer_at.is_none_or(|t| at < t) {
                q.timer_at = Some(at);
                self.timers.push((Arc::clone(&q.name), at));
            }
        }
    }

    /// Note that a queue was used (declare, get, consume, cancel): `x-expires` restarts.
    fn touch(&mut self, queue: &str) {
        if let Some(q) = self.queues.get_mut(queue) {
            q.last_used = Instant::now();
        }
        self.mark_pending(queue);
    }

    /// Deliver to consumers of every queue that may have become deliverable, in name order
    /// within each round (a round's deliveries may make more queues pending).
    fn run_pending(&mut self) {
        while !self.pending.is_empty() {
            let mut round = std::mem::take(&mut self.pending);
            if round.len() > 1 {
                round.sort_unstable();
            }
            for queue in round.drain(..) {
                let Some(q) = self.queues.get_mut(&queue) else {
                    continue;
                };
                q.pending = false;
                if q.limits.expires.is_some() || q.next_expiry().is_some() {
                    self.expire(&queue);
                } else if q.consumers.is_empty() || (q.len() == 0 && q.stream.is_none()) {
                    continue; // Nothing to expire, nothing to deliver.
                }
                self.dispatch(&queue);
            }
            if self.pending.is_empty() {
                self.pending = round; // Keep the allocation.
            }
        }
    }

    /// Deliveries from a stream: each consumer with room gets the message at its cursor,
    /// which moves on; the log keeps the message.
    fn dispatch_stream(&mut self, queue: &str) {
        let mut gone: Vec<(ChanId, Arc<str>)> = Vec::new();
        if let Some(q) = self.queues.get_mut(queue) {
            let Some(log) = &q.stream else {
                return;
            };
            for consumer in &mut q.consumers {
                // Retention may have dropped what the cursor pointed at.
                consumer.cursor = consumer.cursor.max(log.first());
                while consumer.has_capacity() {
                    let Some(msg) = log.at(consumer.cursor) else {
                        break;
                    };
                    let Some(channel) = self.channels.get_mut(&consumer.channel) else {
                        break;
                    };
                    let delivery_tag = channel.next_tag;
                    let delivery = to_delivery(
                        msg,
                        delivery_tag,
                        &consumer.tag,
                        Some(("x-stream-offset", consumer.cursor)),
                    );
                    if consumer
                        .sender
                        .send(ConsumerEvent::Delivery(delivery))
                        .is_err()
                    {
                        gone.push((consumer.channel, Arc::clone(&consumer.tag)));
                        break;
                    }
                    channel.next_tag += 1;
                    consumer.cursor += 1;
                    consumer.unacked += 1;
                    channel.unacked.insert(
                        delivery_tag,
                        Unacked {
                            queue: Arc::clone(&q.name),
                            msg: msg.clone(),
                            consumer: consumer.id,
                        },
                    );
                }
            }
        }
        for (chan, tag) in gone {
            if let Some(channel) = self.channels.get_mut(&chan) {
                channel.consumers.remove(&*tag);
            }
            self.remove_consumer(queue, chan, &tag);
        }
    }

    fn dispatch(&mut self, queue: &str) {
        if self.queues.get(queue).is_some_and(|q| q.stream.is_some()) {
            self.dispatch_stream(queue);
            return;
        }
        // The consumer whose receiver turned out to be gone, to cancel outside the loop.
        let mut gone: Option<(ChanId, Arc<str>)> = None;
        loop {
            if let Some((chan, tag)) = gone.take() {
                if let Some(channel) = self.channels.get_mut(&chan) {
                    channel.consumers.remove(&*tag);
                }
                self.remove_consumer(queue, chan, &tag);
            }
            let Some(q) = self.queues.get_mut(queue) else {
                return;
            };
            // One lookup, then as many deliveries as the consumers take.
            loop {
                if q.consumers.is_empty() || q.len() == 0 {
                    return;
                }
                let n = q.consumers.len();
                let Some(index) = (0..n)
                    .map(|i| (q.next_consumer + i) % n)
                    .find(|&i| q.consumers[i].has_capacity())
                else {
                    return;
                };
                q.next_consumer = (index + 1) % n;
                let Some(msg) = q.pop() else {
                    return;
                };
                let consumer = &mut q.consumers[index];
                let Some(channel) = self.channels.get_mut(&consumer.channel) else {
                    q.requeue(msg);
                    q.consumers.remove(index);
                    continue;
                };
                let delivery_tag = channel.next_tag;
                let delivery = to_delivery(
                    &msg,
                    delivery_tag,
                    &consumer.tag,
                    q.limits
                        .counts_deliveries
                        .then_some(("x-delivery-count", u64::from(msg.returns))),
                );
                if consumer
                    .sender
                    .send(ConsumerEvent::Delivery(delivery))
                    .is_err()
                {
                    // The consumer's receiver is gone: keep the message and cancel the
                    // consumer as `basic.cancel` would (an auto-delete queue may go with it).
                    gone = Some((consumer.channel, Arc::clone(&consumer.tag)));
                    q.requeue(msg);
                    break;
                }
                channel.next_tag += 1;
                if !consumer.no_ack {
                    consumer.unacked += 1;
                    channel.unacked.insert(
                        delivery_tag,
                        Unacked {
                            queue: Arc::clone(&q.name),
                            msg,
                            consumer: consumer.id,
                        },
                    );
                }
            }
        }
    }

    fn take_unacked(&mut self, chan: ChanId, tag: u64) -> Result<Unacked> {
        self.channel_mut(chan)?
            .unacked
            .remove(tag)
            .ok_or_else(|| precondition(format!("unknown delivery tag {tag}")))
    }

    /// Every unacked delivery up to `tag` (all of them for 0), for a multiple ack.
    fn take_unacked_through(&mut self, chan: ChanId, tag: u64) -> Result<Vec<Unacked>> {
        let channel = self.channel_mut(chan)?;
        let through = if tag == 0 { u64::MAX } else { tag };
        let taken = channel.unacked.take_through(through);
        if taken.is_empty() && tag != 0 {
            return Err(precondition(format!("unknown delivery tag {tag}")));
        }
        Ok(taken)
    }

    /// Bookkeeping once a delivery is settled: its consumer may take another.
    fn settled(&mut self, entry: &Unacked) {
        if entry.consumer == 0 {
            return;
        }
        let Some(q) = self.queues.get_mut(&entry.queue) else {
            return;
        };
        if let Some(c) = q.consumers.iter_mut().find(|c| c.id == entry.consumer) {
            c.unacked = c.unacked.saturating_sub(1);
        }
        if !q.pending {
            q.pending = true;
            self.pending.push(Arc::clone(&q.name));
        }
    }

    fn requeue(&mut self, mut entry: Unacked) {
        if let Some(q) = self.queues.get_mut(&entry.queue) {
            if q.stream.is_some() {
                // A stream keeps every message: nothing goes back; the consumer has room again.
                if let Some(c) = q.consumers.iter_mut().find(|c| c.id == entry.consumer) {
                    c.unacked = c.unacked.saturating_sub(1);
                }
                self.mark_pending(&entry.queue);
                return;
            }
            entry.msg.redelivered = true;
            if q.limits.counts_deliveries {
                // A quorum queue counts returns; past its delivery limit, a message is
                // dead-lettered (or dropped) instead of delivered again.
                entry.msg.returns = entry.msg.returns.saturating_add(1);
                if q.limits
                    .delivery_limit
                    .is_some_and(|limit| u64::from(entry.msg.returns) > limit)
                {
                    self.dead_letter(&entry.queue, entry.msg, "delivery_limit");
                    self.mark_pending(&entry.queue);
                    return;
                }
            }
            q.requeue(entry.msg);
            self.mark_pending(&entry.queue);
        }
    }

    fn remove_consumer(&mut self, queue: &str, chan: ChanId, tag: &str) {
        let Some(q) = self.queues.get_mut(queue) else {
            return;
        };
        // Every delivery to it went out under this lock, so its end comes after them.
        q.consumers.retain(|c| {
            let ended = *c.tag == *tag && c.channel == chan;
            if ended {
                let _ = c.sender.send(ConsumerEvent::Ended {
                    consumer_tag: tag.to_owned(),
                });
            }
            !ended
        });
        q.next_consumer = 0;
        if q.auto_delete && q.had_consumer && q.consumers.is_empty() {
            self.delete_queue(queue, "auto-delete queue lost its last consumer");
        } else {
            self.touch(queue);
        }
    }

    fn close_channel(&mut self, chan: ChanId) {
        let Some(mut channel) = self.channels.remove(&chan) else {
            return;
        };
        if let Some(list) = self.connections.get_mut(&channel.conn) {
            list.retain(|&c| c != chan);
        }
        // Unacked messages go back first, at their original positions, marked redelivered.
        for entry in channel.unacked.take_through(u64::MAX) {
            self.requeue(entry);
        }
        for (tag, queue) in channel.consumers {
            self.remove_consumer(&queue, chan, &tag);
        }
    }

    /// Delete a queue: its bindings go, its consumers are told. Returns the ready count.
    fn delete_queue(&mut self, name: &str, reason: &str) -> u32 {
        let Some(mut q) = self.queues.remove(name) else {
            return 0;
        };
        let count = u32::try_from(q.purge()).unwrap_or(u32::MAX);
        for consumer in q.consumers.drain(..) {
            if let Some(channel) = self.channels.get_mut(&consumer.channel) {
                channel.consumers.remove(&*consumer.tag);
            }
            let _ = consumer.sender.send(ConsumerEvent::Cancelled {
                consumer_tag: consumer.tag.to_string(),
                reason: format!("queue '{name}': {reason}"),
            });
        }
        self.remove_bindings_to(&Destination::Queue(q.name));
        count
    }

    fn delete_exchange(&mut self, name: &str) {
        if let Some((name, _)) = self.exchanges.remove_entry(name) {
            self.remove_bindings_to(&Destination::Exchange(name));
        }
    }

    /// Remove every binding that leads to `dest`; auto-delete exchanges left with no bindings
    /// go too.
    fn remove_bindings_to(&mut self, dest: &Destination) {
        let mut emptied = Vec::new();
        for (name, x) in &mut self.exchanges {
            if x.router.remove_destination(dest) > 0 && x.auto_delete && x.router.is_empty() {
                emptied.push(Arc::clone(name));
            }
        }
        for name in emptied {
            self.delete_exchange(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(broker: &Broker, chan: ChanId, queue: &str, body: &'static [u8]) {
        let message = OutgoingMessage {
            body: bytes::Bytes::from_static(body),
            properties: Properties::default(),
        };
        broker
            .publish(chan, "", queue, message, PublishFlags::default())
            .unwrap();
    }

    #[test]
    fn an_unacked_message_costs_a_small_entry_beside_its_content() {
        // What the broker adds per unacked message beyond the body: the channel log's entry
        // and the content stored once (names and properties are shared `Arc`s, the body a
        // `Bytes` handle). The bench `memory` measures the whole of it in resident memory.
        let entry = std::mem::size_of::<(u64, Option<Unacked>)>();
        let content = std::mem::size_of::<Content>() + 2 * std::mem::size_of::<usize>();
        assert!(entry <= 64, "an unacked entry is {entry} bytes");
        assert!(content <= 112, "stored content is {content} bytes");
    }

    #[test]
    fn deliveries_share_the_stored_body_names_and_properties() {
        let broker = Broker::new();
        let conn = broker.open_connection();
        let chan = broker.open_channel(conn).unwrap();
        broker.declare_queue(chan, &Queue::new("shared")).unwrap();
        publish(&broker, chan, "shared", b"one");
        publish(&broker, chan, "shared", b"two");
        let first = broker.get(chan, "shared", false).unwrap().unwrap();
        let second = broker.get(chan, "shared", false).unwrap().unwrap();
        assert_eq!(&first.body[..], b"one");
        // The same static bytes: not copied on the way in, nor on the way out.
        assert_eq!(first.body.as_ptr(), b"one".as_ptr());
        assert!(Arc::ptr_eq(&first.exchange, &second.exchange));
        assert!(Arc::ptr_eq(&first.routing_key, &second.routing_key));
        assert!(
            Arc::ptr_eq(&first.properties, &second.properties),
            "a channel's messages with equal properties share them"
        );
        // The unacked entry holds the same content the delivery points into.
        let state = broker.lock();
        let channel = state.channels.get(&chan).unwrap();
        let held = channel.unacked.entries.front().unwrap().1.as_ref().unwrap();
        assert_eq!(held.msg.content.body.as_ptr(), first.body.as_ptr());
    }

    #[test]
    fn acks_in_any_order_leave_the_unacked_log_empty() {
        let broker = Broker::new();
        let conn = broker.open_connection();
        let chan = broker.open_channel(conn).unwrap();
        broker.declare_queue(chan, &Queue::new("log")).unwrap();
        let mut tags = Vec::new();
        for _ in 0..100 {
            publish(&broker, chan, "log", b"m");
            tags.push(
                broker
                    .get(chan, "log", false)
                    .unwrap()
                    .unwrap()
                    .delivery_tag,
            );
        }
        // Every third, then the rest backwards, then a multiple ack of what is left.
        for tag in tags.iter().step_by(3) {
            broker.ack(chan, *tag, false).unwrap();
        }
        assert!(broker.ack(chan, tags[0], false).is_err(), "acked twice");
        for tag in tags
            .iter()
            .rev()
            .filter(|t| (**t - tags[0]) % 3 != 0)
            .take(30)
        {
            broker.ack(chan, *tag, false).unwrap();
        }
        broker.ack(chan, 0, true).unwrap();
        let state = broker.lock();
        let log = &state.channels.get(&chan).unwrap().unacked;
        assert_eq!((log.live, log.entries.len()), (0, 0));
    }
}
