//! The suite on `stomp://` (`KOMBU_TEST_TRANSPORT=stomp`).
//!
//! STOMP cannot declare, bind, delete, purge, inspect a queue or `basic.get`, and the suite's
//! tests set up their own exchanges and queues and look into queues with `basic.get`. So the
//! connection the tests get is a STOMP connection with an AMQP connection beside it for those
//! operations only, as a deployment that declares its topology over AMQP (`kombu apply`) and
//! runs its clients on STOMP would. Everything a client does is STOMP: publishing (with
//! confirms as receipts), consuming (with prefetch), acknowledging, rejecting, closing. A
//! message taken with `basic.get` is settled on the AMQP side it came from. Tests whose subject
//! is one of the AMQP-only operations are in `tests/stomp_not_applicable.txt` and are skipped
//! on STOMP.
//!
//! One AMQP channel orders a publish before the next unbind or `basic.get`; two connections do
//! not. So every STOMP publish here waits for its receipt (RabbitMQ answers once the message is
//! routed) before the test goes on, as if it were on one channel with its AMQP side. RabbitMQ
//! copies the `receipt` header into the message; `basic.get` here removes that artifact of the
//! harness.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use kombu::transport::amqp::{AmqpOptions, AmqpTransport};
use kombu::transport::stomp::{StompOptions, StompTransport};
use kombu::transport::{
    Confirmation, ConsumeOptions, Delivery, DeliverySender, OutgoingMessage, PendingConfirm,
    PublishFlags, QueueDeclared, Transport, TransportChannel,
};
use kombu::{BrokerUrl, Connection, ConnectionOptions, Exchange, Queue, Result};

/// Delivery tags of messages taken with `basic.get` over AMQP carry this bit.
const AMQP_TAG: u64 = 1 << 63;

pub(crate) fn stomp_url() -> String {
    std::env::var("KOMBU_TEST_STOMP_URL")
        .unwrap_or_else(|_| "stomp://guest:guest@127.0.0.1:61613/".to_owned())
}

fn amqp_url() -> String {
    std::env::var("KOMBU_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672//".to_owned())
}

/// A STOMP connection whose declarations go over AMQP.
pub(crate) async fn connect(options: ConnectionOptions) -> Connection {
    let url = BrokerUrl::parse(&stomp_url()).unwrap();
    let stomp = StompTransport::connect(std::slice::from_ref(&url), StompOptions::default())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e:#}"));
    let amqp_url = BrokerUrl::parse(&amqp_url()).unwrap();
    let amqp = AmqpTransport::connect(std::slice::from_ref(&amqp_url), AmqpOptions::default())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {amqp_url}: {e:#}"));
    Connection::from_transport_with(
        Arc::new(Split {
            stomp,
            amqp,
            open: AtomicBool::new(true),
        }),
        url,
        options,
    )
}

struct Split {
    stomp: StompTransport,
    amqp: AmqpTransport,
    open: AtomicBool,
}

#[async_trait]
impl Transport for Split {
    async fn open_channel(&self) -> Result<Arc<dyn TransportChannel>> {
        let stomp = self.stomp.open_channel().await?;
        stomp.confirm_select().await?;
        Ok(Arc::new(SplitChannel {
            stomp,
            amqp: self.amqp.open_channel().await?,
            confirm: AtomicBool::new(false),
        }))
    }
    async fn close(&self) -> Result<()> {
        self.open.store(false, Ordering::SeqCst);
        self.stomp.close().await?;
        self.amqp.close().await
    }
    fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst) && self.stomp.is_open()
    }
}

struct SplitChannel {
    stomp: Arc<dyn TransportChannel>,
    amqp: Arc<dyn TransportChannel>,
    /// Whether the test asked for confirms (the STOMP side always has them).
    confirm: AtomicBool,
}

#[async_trait]
impl TransportChannel for SplitChannel {
    async fn declare_exchange(&self, exchange: &Exchange) -> Result<()> {
        self.amqp.declare_exchange(exchange).await
    }
    async fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<()> {
        self.amqp.delete_exchange(name, if_unused).await
    }
    async fn declare_queue(&self, queue: &Queue) -> Result<QueueDeclared> {
        self.amqp.declare_queue(queue).await
    }
    async fn binding(
        &self,
        op: kombu::transport::BindOp,
        binding: kombu::transport::BindingRef<'_>,
    ) -> Result<()> {
        self.amqp.binding(op, binding).await
    }
    async fn delete_queue(&self, name: &str, if_unused: bool, if_empty: bool) -> Result<u32> {
        self.amqp.delete_queue(name, if_unused, if_empty).await
    }
    async fn purge_queue(&self, name: &str) -> Result<u32> {
        self.amqp.purge_queue(name).await
    }
    async fn confirm_select(&self) -> Result<()> {
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
        let pending = self
            .stomp
            .publish(exchange, routing_key, message, flags)
            .await?;
        if self.confirm.load(Ordering::SeqCst) {
            return Ok(pending);
        }
        pending.await?;
        Ok(Box::pin(std::future::ready(Ok(Confirmation::NotRequested))))
    }
    async fn qos(&self, prefetch_count: u16) -> Result<()> {
        self.stomp.qos(prefetch_count).await
    }
    async fn consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: &ConsumeOptions,
        sender: DeliverySender,
    ) -> Result<()> {
        self.stomp
            .consume(queue, consumer_tag, options, sender)
            .await
    }
    async fn cancel(&self, consumer_tag: &str) -> Result<()> {
        self.stomp.cancel(consumer_tag).await
    }
    async fn get(&self, queue: &str, no_ack: bool) -> Result<Option<Delivery>> {
        let got = self.amqp.get(queue, no_ack).await?;
        Ok(got.map(|mut d| {
            d.delivery_tag |= AMQP_TAG;
            if let Some(headers) = std::sync::Arc::make_mut(&mut d.properties).headers.as_mut() {
                headers.remove("receipt");
            }
            d
        }))
    }
    fn ack(&self, delivery_tag: u64, multiple: bool) -> Result<()> {
        if delivery_tag & AMQP_TAG != 0 {
            self.amqp.ack(delivery_tag & !AMQP_TAG, multiple)
        } else {
            self.stomp.ack(delivery_tag, multiple)
        }
    }
    fn capabilities(&self) -> kombu::transport::Capabilities {
        // STOMP's, plus what goes over the AMQP connection beside it.
        let mut c = self.stomp.capabilities();
        c.declare = true;
        c.bind = true;
        c.get = true;
        c
    }
    fn set_ack_batching(&self, batching: Option<kombu::transport::AckBatching>) {
        self.stomp.set_ack_batching(batching);
    }
    fn reject(&self, delivery_tag: u64, requeue: bool) -> Result<()> {
        if delivery_tag & AMQP_TAG != 0 {
            self.amqp.reject(delivery_tag & !AMQP_TAG, requeue)
        } else {
            self.stomp.reject(delivery_tag, requeue)
        }
    }
    async fn close(&self) -> Result<()> {
        let stomp = self.stomp.close().await;
        self.amqp.close().await?;
        stomp
    }
}
