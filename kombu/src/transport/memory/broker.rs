//! The in-process broker: exchanges, queues, channels and connections with RabbitMQ's
//! semantics (declare equivalence, exclusive ownership, auto-delete, QoS, requeue in place,
//! TTL, max-length, dead-lettering with `x-death`, alternate exchanges, mandatory returns).
//!
//! All state sits behind one mutex; every operation takes it once. Deliveries are pushed to
//! consumers' unbounded senders while the lock is held (a send never blocks); prefetch bounds
//! how many are in flight. TTL expiry runs when a queue is touched and on a timer task.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::queue::{ConsumerState, QueueState, Stored};
use super::refusal::{
    access_refused, amqp_type_name, channel_closed, check_arguments, check_flag, locked, not_found,
    precondition, QUEUE_CHECKED_ARGS,
};
use super::router::{BindingEntry, Destination, Router};
use crate::error::{Error, ErrorKind, Result};
use crate::field::{FieldTable, FieldValue};
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

#[derive(Debug)]
struct Unacked {
    queue: String,
    msg: Stored,
    consumer_tag: Option<String>,
}

#[derive(Debug, Default)]
struct ChannelState {
    conn: ConnId,
    next_tag: u64,
    prefetch: u16,
    confirm: bool,
    unacked: BTreeMap<u64, Unacked>,
    /// Consumer tag -> queue.
    consumers: HashMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    exchanges: HashMap<String, ExchangeState>,
    queues: HashMap<String, QueueState>,
    channels: HashMap<ChanId, ChannelState>,
    connections: HashMap<ConnId, Vec<ChanId>>,
    next_id: u64,
    seq: u64,
    /// Queues whose consumers may be able to take messages.
    pending: BTreeSet<String>,
    /// TTL timers to start once the lock is released.
    timers: Vec<(String, Instant)>,
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
                    name.to_owned(),
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

    fn start_timers(&self, timers: Vec<(String, Instant)>) {
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
                        state.pending.insert(queue);
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
            let owned: Vec<String> = state
                .queues
                .iter()
                .filter(|(_, q)| q.owner == Some(conn))
                .map(|(name, _)| name.clone())
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
            let existing = state.exchanges.get(name);
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
                        name.clone(),
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
            match state.queues.get(&name) {
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
                    let kind = arguments.get("x-queue-type").and_then(FieldValue::as_str);
                    if matches!(kind, Some("quorum" | "stream")) {
                        for (flag, bad) in [
                            ("durable", !queue.durable),
                            ("exclusive", queue.exclusive),
                            ("auto_delete", queue.is_auto_delete()),
                        ] {
                            if bad {
                                return Err(precondition(format!(
                                    "invalid property '{flag}' for {entity} in vhost '/'"
                                )));
                            }
                        }
                    }
                    state.queues.insert(
                        name.clone(),
                        QueueState::new(
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
            let q = state.queues.get(&name).ok_or_else(|| not_found(&entity))?;
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
            match &destination {
                Destination::Queue(q) => {
                    let queue = state
                        .queues
                        .get(q)
                        .ok_or_else(|| not_found(&format!("queue '{q}'")))?;
                    if queue.owner.is_some_and(|owner| owner != conn) {
                        return Err(locked(q));
                    }
                }
                Destination::Exchange(x) => {
                    if !state.exchanges.contains_key(x) {
                        return Err(not_found(&format!("exchange '{x}'")));
                    }
                }
            }
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
            let x = state
                .exchanges
                .get(exchange)
                .ok_or_else(|| not_found(&format!("exchange '{exchange}'")))?;
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
            let queues = state.route(exchange, routing_key, message.properties.headers.as_ref());
            if queues.is_empty() {
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
            let stored = Stored {
                seq: state.seq,
                exchange: exchange.to_owned(),
                routing_key: routing_key.to_owned(),
                body: message.body,
                properties,
                redelivered: false,
                expires_at: None,
            };
            let mut refused = false;
            for queue in queues {
                refused |= !state.enqueue(&queue, stored.clone());
            }
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
            q.consumers.push(ConsumerState {
                tag: tag.clone(),
                channel: chan,
                no_ack: options.no_ack,
                prefetch,
                unacked: 0,
                exclusive: options.exclusive,
                sender,
            });
            q.had_consumer = true;
            state.touch(queue);
            state
                .channel_mut(chan)?
                .consumers
                .insert(tag.clone(), queue.to_owned());
            state.pending.insert(queue.to_owned());
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
            state.touch(queue);
            state.expire(queue);
            let Some(msg) = state.queues.get_mut(queue).and_then(QueueState::pop) else {
                return Ok(None);
            };
            let channel = state.channel_mut(chan)?;
            let tag = channel.next_tag;
            channel.next_tag += 1;
            let delivery = to_delivery(&msg, tag, "");
            if !no_ack {
                channel.unacked.insert(
                    tag,
                    Unacked {
                        queue: queue.to_owned(),
                        msg,
                        consumer_tag: None,
                    },
                );
            }
            Ok(Some(delivery))
        })
    }

    pub(super) fn ack(&self, chan: ChanId, tag: u64, multiple: bool) -> Result<()> {
        self.with(|state| {
            for entry in state.take_unacked(chan, tag, multiple)? {
                state.settled(chan, &entry);
            }
            Ok(())
        })
    }

    pub(super) fn reject(&self, chan: ChanId, tag: u64, requeue: bool) -> Result<()> {
        self.with(|state| {
            for entry in state.take_unacked(chan, tag, false)? {
                state.settled(chan, &entry);
                if requeue {
                    state.requeue(entry);
                } else {
                    state.dead_letter(&entry.queue, entry.msg, "rejected");
                }
            }
            Ok(())
        })
    }
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

fn to_delivery(msg: &Stored, tag: u64, consumer_tag: &str) -> Delivery {
    Delivery {
        delivery_tag: tag,
        redelivered: msg.redelivered,
        exchange: msg.exchange.clone(),
        routing_key: msg.routing_key.clone(),
        consumer_tag: consumer_tag.to_owned(),
        body: msg.body.to_vec(),
        properties: msg.properties.clone(),
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
    /// and alternate exchanges; each queue once.
    fn route(&self, exchange: &str, key: &str, headers: Option<&FieldTable>) -> BTreeSet<String> {
        // Sender-selected distribution: the `CC` and `BCC` headers (arrays of strings) add
        // routing keys.
        let mut keys: Vec<&str> = vec![key];
        keys.extend(sender_selected(headers, "CC"));
        keys.extend(sender_selected(headers, "BCC"));
        super::router::route_graph(
            exchange,
            &keys,
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
            |queue| self.queues.contains_key(queue),
        )
    }

    /// Put a published message into a queue, applying TTL and length limits. Returns false
    /// when the queue refused it (`reject-publish`).
    fn enqueue(&mut self, queue: &str, mut msg: Stored) -> bool {
        let now = Instant::now();
        let Some(q) = self.queues.get_mut(queue) else {
            return true;
        };
        let ttl = match (q.limits.message_ttl, msg.properties.expiration) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        msg.expires_at = ttl.map(|d| now + d);
        if q.would_overflow(msg.body.len()) {
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
        self.pending.insert(queue.to_owned());
        true
    }

    /// Dead-letter `msg` from `queue` for `reason`, or drop it when the queue has no
    /// dead-letter exchange (or the exchange does not exist), as RabbitMQ does.
    fn dead_letter(&mut self, queue: &str, mut msg: Stored, reason: &str) {
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
            .unwrap_or_else(|| msg.routing_key.clone());
        if !self.exchanges.contains_key(&dlx) {
            return;
        }
        let headers = msg.properties.headers.get_or_insert_with(FieldTable::new);
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
                t.insert("exchange".into(), msg.exchange.as_str().into());
                t.insert(
                    "routing-keys".into(),
                    FieldValue::Array(vec![msg.routing_key.as_str().into()]),
                );
                if let Some(exp) = msg.properties.expiration {
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
            ("x-first-death-exchange", msg.exchange.as_str()),
        ] {
            headers.entry(k.into()).or_insert_with(|| v.into());
        }
        msg.properties.expiration = None;
        msg.exchange = dlx.clone();
        msg.routing_key = key.clone();
        msg.redelivered = false;
        self.seq += 1;
        msg.seq = self.seq;
        let targets = self.route(&dlx, &key, msg.properties.headers.as_ref());
        for target in targets {
            // A message that would die into a queue it already died in, with no rejection on
            // the way, is dropped (RabbitMQ's cycle rule).
            if died_in.contains(&target) && !cycle_safe {
                continue;
            }
            self.enqueue(&target, msg.clone());
        }
    }

    /// Dead-letter (or drop) expired messages at the head of `queue`, delete the queue if it
    /// was unused for its `x-expires`, and arm its timer for the next of these.
    fn expire(&mut self, queue: &str) {
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
                self.timers.push((queue.to_owned(), at));
            }
        }
    }

    /// Note that a queue was used (declare, get, consume, cancel): `x-expires` restarts.
    fn touch(&mut self, queue: &str) {
        if let Some(q) = self.queues.get_mut(queue) {
            q.last_used = Instant::now();
            self.pending.insert(queue.to_owned());
        }
    }

    /// Deliver to consumers of every queue that may have become deliverable.
    fn run_pending(&mut self) {
        while let Some(queue) = self.pending.pop_first() {
            self.expire(&queue);
            self.dispatch(&queue);
        }
    }

    fn dispatch(&mut self, queue: &str) {
        loop {
            let Some(q) = self.queues.get_mut(queue) else {
                return;
            };
            if q.len() == 0 || q.consumers.is_empty() {
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
            let (chan, no_ack, tag) = {
                let c = &q.consumers[index];
                (c.channel, c.no_ack, c.tag.clone())
            };
            let Some(channel) = self.channels.get_mut(&chan) else {
                q.requeue(msg);
                q.consumers.remove(index);
                continue;
            };
            let delivery_tag = channel.next_tag;
            let delivery = to_delivery(&msg, delivery_tag, &tag);
            if q.consumers[index]
                .sender
                .send(ConsumerEvent::Delivery(delivery))
                .is_err()
            {
                // The consumer's receiver is gone: keep the message and cancel the consumer
                // as `basic.cancel` would (an auto-delete queue may go with it).
                q.requeue(msg);
                channel.consumers.remove(&tag);
                self.remove_consumer(queue, chan, &tag);
                continue;
            }
            channel.next_tag += 1;
            if !no_ack {
                q.consumers[index].unacked += 1;
                channel.unacked.insert(
                    delivery_tag,
                    Unacked {
                        queue: queue.to_owned(),
                        msg,
                        consumer_tag: Some(tag),
                    },
                );
            }
        }
    }

    fn take_unacked(&mut self, chan: ChanId, tag: u64, multiple: bool) -> Result<Vec<Unacked>> {
        let channel = self.channel_mut(chan)?;
        if multiple {
            let rest = channel.unacked.split_off(&(tag + 1));
            let taken = std::mem::replace(&mut channel.unacked, rest);
            if taken.is_empty() && tag != 0 {
                return Err(precondition(format!("unknown delivery tag {tag}")));
            }
            return Ok(taken.into_values().collect());
        }
        channel
            .unacked
            .remove(&tag)
            .map(|u| vec![u])
            .ok_or_else(|| precondition(format!("unknown delivery tag {tag}")))
    }

    /// Bookkeeping once a delivery is settled: its consumer may take another.
    fn settled(&mut self, chan: ChanId, entry: &Unacked) {
        if let (Some(tag), Some(q)) = (&entry.consumer_tag, self.queues.get_mut(&entry.queue)) {
            if let Some(c) = q
                .consumers
                .iter_mut()
                .find(|c| &c.tag == tag && c.channel == chan)
            {
                c.unacked = c.unacked.saturating_sub(1);
            }
            self.pending.insert(entry.queue.clone());
        }
    }

    fn requeue(&mut self, mut entry: Unacked) {
        if let Some(q) = self.queues.get_mut(&entry.queue) {
            entry.msg.redelivered = true;
            q.requeue(entry.msg);
            self.pending.insert(entry.queue);
        }
    }

    fn remove_consumer(&mut self, queue: &str, chan: ChanId, tag: &str) {
        let Some(q) = self.queues.get_mut(queue) else {
            return;
        };
        // Every delivery to it went out under this lock, so its end comes after them.
        q.consumers.retain(|c| {
            let ended = c.tag == tag && c.channel == chan;
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
        for (_, entry) in std::mem::take(&mut channel.unacked) {
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
                channel.consumers.remove(&consumer.tag);
            }
            let _ = consumer.sender.send(ConsumerEvent::Cancelled {
                consumer_tag: consumer.tag,
                reason: format!("queue '{name}': {reason}"),
            });
        }
        self.remove_bindings_to(&Destination::Queue(name.to_owned()));
        count
    }

    fn delete_exchange(&mut self, name: &str) {
        if self.exchanges.remove(name).is_some() {
            self.remove_bindings_to(&Destination::Exchange(name.to_owned()));
        }
    }

    /// Remove every binding that leads to `dest`; auto-delete exchanges left with no bindings
    /// go too.
    fn remove_bindings_to(&mut self, dest: &Destination) {
        let mut emptied = Vec::new();
        for (name, x) in &mut self.exchanges {
            if x.router.remove_destination(dest) > 0 && x.auto_delete && x.router.is_empty() {
                emptied.push(name.clone());
            }
        }
        for name in emptied {
            self.delete_exchange(&name);
        }
    }
}
