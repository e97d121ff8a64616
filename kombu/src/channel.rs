//! [`Channel`], and declarations attached to it ([`BoundExchange`], [`BoundQueue`]) that act
//! on the broker through it.
//!
//! A declaration is data until attached to a channel: `exchange.attach(&channel)` gives a
//! handle that can declare or delete. (Attaching adds no binding on the broker; that is
//! [`Queue::bind_to`].) Acting on an unattached declaration does not compile:
//!
//! ```compile_fail
//! use kombu::{Exchange, ExchangeKind};
//! # async fn f() -> kombu::Result<()> {
//! let media = Exchange::new("media", ExchangeKind::Direct);
//! media.delete(false).await?; // error: no method `delete` on an unattached `Exchange`
//! # Ok(()) }
//! ```
//!
//! ```
//! use kombu::{Connection, Exchange, ExchangeKind};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> kombu::Result<()> {
//! let conn = Connection::connect("memory://channel-doc").await?;
//! let channel = conn.channel().await?;
//! let media = Exchange::new("media", ExchangeKind::Direct);
//! media.attach(&channel).declare().await?;
//! media.attach(&channel).delete(false).await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::error::Result;
use crate::field::FieldTable;
use crate::message::{Message, Receipt};
use crate::serialization::Accept;
use crate::session::Session;
use crate::telemetry;
use crate::transport::{
    BindOp, BindingKind, BindingRef, Capabilities, QueueDeclared, TransportChannel,
};
use crate::{Exchange, Queue};

/// A channel: where declarations, publishes and consumers run.
#[derive(Clone)]
pub struct Channel {
    pub(crate) transport: Arc<dyn TransportChannel>,
    pub(crate) shared: Arc<Session>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").finish_non_exhaustive()
    }
}

impl Channel {
    /// Declare an exchange and its exchange-to-exchange bindings (their sources first).
    /// Exchanges named `""` or `amq.*`, and `no_declare` ones, are not sent.
    pub async fn declare_exchange(&self, exchange: &Exchange) -> Result<()> {
        if exchange.should_declare() || exchange.passive && !exchange.no_declare {
            telemetry::declaring(
                "exchange",
                &exchange.name,
                self.transport.declare_exchange(exchange),
            )
            .await?;
        }
        for binding in &exchange.bindings {
            Box::pin(self.declare_exchange(&binding.exchange)).await?;
            telemetry::declaring(
                "binding",
                &exchange.name,
                self.bind(
                    BindOp::Bind,
                    BindingKind::Exchange,
                    &exchange.name,
                    &binding.exchange.name,
                    &binding.routing_key,
                    &binding.arguments,
                ),
            )
            .await?;
        }
        self.shared.declared().exchanges.insert(exchange.clone());
        Ok(())
    }

    /// Declare a queue with its bindings: each binding's exchange, then the queue, then the
    /// bindings. Returns the broker's answer (the name, for a server-named queue).
    pub async fn declare_queue(&self, queue: &Queue) -> Result<QueueDeclared> {
        if queue.no_declare {
            return Ok(QueueDeclared {
                name: queue.name.clone(),
                message_count: 0,
                consumer_count: 0,
            });
        }
        for binding in &queue.bindings {
            self.declare_exchange(&binding.exchange).await?;
        }
        let declared =
            telemetry::declaring("queue", &queue.name, self.transport.declare_queue(queue)).await?;
        for binding in &queue.bindings {
            if binding.exchange.is_default() {
                continue; // Every queue is bound to the default exchange by its name.
            }
            telemetry::declaring(
                "binding",
                &declared.name,
                self.bind(
                    BindOp::Bind,
                    BindingKind::Queue,
                    &declared.name,
                    &binding.exchange.name,
                    &binding.routing_key,
                    &binding.arguments,
                ),
            )
            .await?;
        }
        if !queue.name.is_empty() {
            self.shared.declared().queues.insert(queue.clone());
        }
        Ok(declared)
    }

    /// One binding operation on the transport.
    async fn bind(
        &self,
        op: BindOp,
        kind: BindingKind,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<()> {
        let binding = BindingRef {
            kind,
            destination,
            source,
            routing_key,
            arguments,
        };
        self.transport.binding(op, binding).await
    }

    /// What the transport under this channel can do.
    pub fn capabilities(&self) -> Capabilities {
        self.transport.capabilities()
    }

    /// Refuses, up front and once, to declare `what` on a transport that cannot declare
    /// (STOMP): the one message says where to declare instead.
    pub(crate) fn require_declare(&self, what: &str) -> Result<()> {
        if self.capabilities().declare {
            return Ok(());
        }
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!(
                "{what} cannot be declared on this transport (STOMP has no declarations). \
                 Declare it over AMQP first (`kombu apply`, or `declare_all` on an amqp:// \
                 connection to the same broker) or in the broker's definitions; consumers and \
                 producers on stomp:// then use what exists"
            ),
        ))
    }

    /// Declare an exchange unless this connection already declared an equal one.
    pub async fn maybe_declare_exchange(&self, exchange: &Exchange) -> Result<()> {
        if self.shared.declared().exchanges.contains(exchange) {
            return Ok(());
        }
        self.declare_exchange(exchange).await
    }

    /// Declare a queue unless this connection already declared an equal one.
    pub async fn maybe_declare_queue(&self, queue: &Queue) -> Result<()> {
        if !queue.name.is_empty() && self.shared.declared().queues.contains(queue) {
            return Ok(());
        }
        self.declare_queue(queue).await.map(|_| ())
    }

    /// Set how many unacknowledged messages each consumer started afterwards may hold.
    pub async fn basic_qos(&self, prefetch_count: u16) -> Result<()> {
        self.transport.qos(prefetch_count).await
    }

    /// Set how many unacknowledged messages the whole channel may hold, for the consumers
    /// already started too (RabbitMQ's `basic.qos` with `global = true`; a later call changes
    /// the limit at once). Both limits apply where both are set. `Unsupported` on transports
    /// without a channel-wide limit (the in-memory broker, STOMP).
    pub async fn basic_qos_channel(&self, prefetch_count: u16) -> Result<()> {
        self.transport.qos_channel(prefetch_count).await
    }

    /// Put the channel in publisher-confirm mode.
    pub async fn confirm_select(&self) -> Result<()> {
        self.transport.confirm_select().await
    }

    /// Fetch one message from a queue (`basic.get`), decoded with the default accept list.
    pub async fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<Message>> {
        self.get_with(queue, no_ack, Some(Arc::new(Accept::default())))
            .await
    }

    pub(crate) async fn get_with(
        &self,
        queue: &str,
        no_ack: bool,
        accept: Option<Arc<Accept>>,
    ) -> Result<Option<Message>> {
        let delivery = self.transport.get(queue, no_ack).await?;
        Ok(delivery.map(|d| Message::new(d, self.receipt(no_ack, accept))))
    }

    pub(crate) fn receipt(&self, no_ack: bool, accept: Option<Arc<Accept>>) -> Receipt {
        Receipt {
            channel: Arc::clone(&self.transport),
            no_ack,
            accept,
            registry: crate::serialization::registry(),
            max_decompressed: self.shared.max_decompressed,
        }
    }

    /// Close the channel; its unacknowledged messages return to their queues.
    pub async fn close(&self) -> Result<()> {
        self.transport.close().await
    }
}

/// An [`Exchange`] attached to a channel ([`Exchange::attach`]): it can act on the broker.
#[derive(Debug, Clone)]
pub struct BoundExchange {
    exchange: Exchange,
    channel: Channel,
}

impl Exchange {
    /// Attach this declaration to a channel, to declare or delete it. This adds no binding
    /// on the broker (that is [`Exchange::bind_to`]).
    pub fn attach(&self, channel: &Channel) -> BoundExchange {
        BoundExchange {
            exchange: self.clone(),
            channel: channel.clone(),
        }
    }
}

impl BoundExchange {
    /// The declaration.
    pub fn exchange(&self) -> &Exchange {
        &self.exchange
    }
    /// Declare it (and its exchange-to-exchange bindings).
    pub async fn declare(&self) -> Result<()> {
        self.channel.declare_exchange(&self.exchange).await
    }
    /// Delete it; with `if_unused`, only if nothing is bound to it.
    pub async fn delete(&self, if_unused: bool) -> Result<()> {
        self.channel
            .transport
            .delete_exchange(&self.exchange.name, if_unused)
            .await?;
        self.channel
            .shared
            .declared()
            .exchanges
            .retain(|e| e.name != self.exchange.name);
        Ok(())
    }
    /// Bind this exchange to `source` on the broker.
    pub async fn bind_to(
        &self,
        source: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<()> {
        self.channel
            .bind(
                BindOp::Bind,
                BindingKind::Exchange,
                &self.exchange.name,
                source,
                routing_key,
                arguments,
            )
            .await
    }
    /// Remove a binding from `source`.
    pub async fn unbind_from(
        &self,
        source: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<()> {
        self.channel
            .bind(
                BindOp::Unbind,
                BindingKind::Exchange,
                &self.exchange.name,
                source,
                routing_key,
                arguments,
            )
            .await
    }
}

/// A [`Queue`] attached to a channel ([`Queue::attach`]): it can act on the broker.
#[derive(Debug, Clone)]
pub struct BoundQueue {
    queue: Queue,
    channel: Channel,
}

impl Queue {
    /// Attach this declaration to a channel, to declare, purge, delete or bind it. Attaching
    /// adds no binding on the broker (that is [`Queue::bind_to`], or [`BoundQueue::bind_to`]).
    pub fn attach(&self, channel: &Channel) -> BoundQueue {
        BoundQueue {
            queue: self.clone(),
            channel: channel.clone(),
        }
    }
}

impl BoundQueue {
    /// The declaration (with the broker-chosen name after declaring a server-named queue).
    pub fn queue(&self) -> &Queue {
        &self.queue
    }
    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.queue.name
    }
    /// Declare the queue, its bindings and their exchanges. A server-named queue takes the
    /// name the broker chose.
    pub async fn declare(&mut self) -> Result<QueueDeclared> {
        let declared = self.channel.declare_queue(&self.queue).await?;
        self.queue.name.clone_from(&declared.name);
        Ok(declared)
    }
    /// Check that the queue exists and return its counts (a passive declare).
    pub async fn status(&self) -> Result<QueueDeclared> {
        let passive = self.queue.clone().passive(true);
        self.channel.transport.declare_queue(&passive).await
    }
    /// Bind the queue to an exchange on the broker.
    pub async fn bind_to(
        &self,
        exchange: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<()> {
        self.channel
            .bind(
                BindOp::Bind,
                BindingKind::Queue,
                &self.queue.name,
                exchange,
                routing_key,
                arguments,
            )
            .await
    }
    /// Remove a binding.
    pub async fn unbind_from(
        &self,
        exchange: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<()> {
        self.channel
            .bind(
                BindOp::Unbind,
                BindingKind::Queue,
                &self.queue.name,
                exchange,
                routing_key,
                arguments,
            )
            .await
    }
    /// Remove every ready message; returns how many.
    pub async fn purge(&self) -> Result<u32> {
        self.channel.transport.purge_queue(&self.queue.name).await
    }
    /// Delete the queue; returns how many messages it held. `if_unused`: only without
    /// consumers; `if_empty`: only without messages.
    pub async fn delete(&self, if_unused: bool, if_empty: bool) -> Result<u32> {
        let n = self
            .channel
            .transport
            .delete_queue(&self.queue.name, if_unused, if_empty)
            .await?;
        self.channel
            .shared
            .declared()
            .queues
            .retain(|q| q.name != self.queue.name);
        Ok(n)
    }
    /// Fetch one message (`basic.get`), decoded with the default accept list.
    pub async fn get(&self, no_ack: bool) -> Result<Option<Message>> {
        self.channel.basic_get(&self.queue.name, no_ack).await
    }
}
