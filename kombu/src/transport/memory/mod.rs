//! `memory://`: an in-process broker that behaves as RabbitMQ does, for tests and examples.
//!
//! `memory://NAME` selects a broker by name (`memory://` is the shared unnamed one), so tests
//! that use distinct names never share state. The broker lives as long as the process. Routing
//! is in [`router`](self) and is exact to RabbitMQ's rules (checked by a differential test
//! against a real RabbitMQ); the broker's semantics are in `broker.rs`.

mod broker;
mod queue;
mod refusal;
pub mod router;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;

use self::broker::{Broker, ChanId, ConnId};
use self::router::Destination;
use super::{
    BindOp, BindingKind, BindingRef, Confirmation, ConsumeOptions, Delivery, DeliverySender,
    OutgoingMessage, PendingConfirm, PublishFlags, QueueDeclared, Transport, TransportChannel,
};
use crate::error::{Error, ErrorKind, Result};
use crate::{Exchange, Queue};

fn broker(name: &str) -> Arc<Broker> {
    static BROKERS: OnceLock<Mutex<HashMap<String, Arc<Broker>>>> = OnceLock::new();
    let brokers = BROKERS.get_or_init(Mutex::default);
    let mut map = crate::sync::lock(brokers);
    Arc::clone(map.entry(name.to_owned()).or_insert_with(Broker::new))
}

/// A connection to an in-process broker.
#[derive(Debug)]
pub struct MemoryTransport {
    broker: Arc<Broker>,
    conn: ConnId,
    open: AtomicBool,
}

impl MemoryTransport {
    /// Connect to the broker called `name` (created on first use).
    pub fn connect(name: &str) -> Self {
        let broker = broker(name);
        let conn = broker.open_connection();
        MemoryTransport {
            broker,
            conn,
            open: AtomicBool::new(true),
        }
    }

    fn shut(&self) {
        if self.open.swap(false, Ordering::SeqCst) {
            self.broker.close_connection(self.conn);
        }
    }
}

impl Drop for MemoryTransport {
    fn drop(&mut self) {
        self.shut();
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn open_channel(&self) -> Result<Arc<dyn TransportChannel>> {
        if !self.is_open() {
            return Err(Error::new(ErrorKind::Connection, "connection is closed"));
        }
        let id = self.broker.open_channel(self.conn)?;
        Ok(Arc::new(MemoryChannel {
            broker: Arc::clone(&self.broker),
            id,
        }))
    }

    async fn close(&self) -> Result<()> {
        self.shut();
        Ok(())
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}

/// A publish's answer already known, as a future: `Ack` when `ACK`, else `NotRequested`.
/// Zero-sized, so a boxed one allocates nothing.
struct Answered<const ACK: bool>;

impl<const ACK: bool> std::future::Future for Answered<ACK> {
    type Output = Result<Confirmation>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(if ACK {
            Confirmation::Ack
        } else {
            Confirmation::NotRequested
        }))
    }
}

/// A channel on the in-process broker. Dropping it closes it (unacked messages are requeued).
#[derive(Debug)]
struct MemoryChannel {
    broker: Arc<Broker>,
    id: ChanId,
}

impl Drop for MemoryChannel {
    fn drop(&mut self) {
        self.broker.close_channel(self.id);
    }
}

#[async_trait]
impl TransportChannel for MemoryChannel {
    async fn declare_exchange(&self, exchange: &Exchange) -> Result<()> {
        self.broker.declare_exchange(self.id, exchange)
    }

    async fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<()> {
        self.broker.delete_exchange(self.id, name, if_unused)
    }

    async fn declare_queue(&self, queue: &Queue) -> Result<QueueDeclared> {
        self.broker.declare_queue(self.id, queue)
    }

    async fn binding(&self, op: BindOp, b: BindingRef<'_>) -> Result<()> {
        let dest = match b.kind {
            BindingKind::Queue => Destination::Queue(b.destination.into()),
            BindingKind::Exchange => Destination::Exchange(b.destination.into()),
        };
        self.broker.bind(
            self.id,
            dest,
            b.source,
            b.routing_key,
            b.arguments,
            op == BindOp::Bind,
        )
    }

    async fn delete_queue(&self, name: &str, if_unused: bool, if_empty: bool) -> Result<u32> {
        self.broker.delete_queue(self.id, name, if_unused, if_empty)
    }

    async fn purge_queue(&self, name: &str) -> Result<u32> {
        self.broker.purge_queue(self.id, name)
    }

    async fn confirm_select(&self) -> Result<()> {
        self.broker.confirm_select(self.id)
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: OutgoingMessage,
        flags: PublishFlags,
    ) -> Result<PendingConfirm> {
        let outcome = self
            .broker
            .publish(self.id, exchange, routing_key, message, flags);
        // The usual answers as zero-sized futures: boxing them allocates nothing.
        Ok(match outcome {
            Ok(Confirmation::NotRequested) => Box::pin(Answered::<false>),
            Ok(Confirmation::Ack) => Box::pin(Answered::<true>),
            other => Box::pin(std::future::ready(other)),
        })
    }

    async fn qos(&self, prefetch_count: u16) -> Result<()> {
        self.broker.qos(self.id, prefetch_count)
    }

    async fn consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: &ConsumeOptions,
        sender: DeliverySender,
    ) -> Result<()> {
        self.broker
            .consume(self.id, queue, consumer_tag, options, sender)
            .map(|_| ())
    }

    async fn cancel(&self, consumer_tag: &str) -> Result<()> {
        self.broker.cancel(self.id, consumer_tag)
    }

    async fn get(&self, queue: &str, no_ack: bool) -> Result<Option<Delivery>> {
        self.broker.get(self.id, queue, no_ack)
    }

    fn ack(&self, delivery_tag: u64, multiple: bool) -> Result<()> {
        self.broker.ack(self.id, delivery_tag, multiple)
    }

    fn reject(&self, delivery_tag: u64, requeue: bool) -> Result<()> {
        self.broker.reject(self.id, delivery_tag, requeue)
    }

    async fn close(&self) -> Result<()> {
        self.broker.close_channel(self.id);
        Ok(())
    }
}
