//! [`SimpleQueue`]: a queue as a FIFO, for the quick cases (Python kombu's `SimpleQueue`).
//!
//! `put` publishes to a direct exchange named like the queue, with the queue's name as routing
//! key; `get` consumes (with no prefetch limit, as Python kombu's `SimpleQueue`), so a second
//! `get` returns the next message even while the first is unacknowledged. Messages delivered to
//! the local buffer and never taken return to the queue when the channel closes.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::channel::Channel;
use crate::consumer::Consumer;
use crate::error::Result;
use crate::message::Message;
use crate::producer::Producer;
use crate::serialization::{Accept, Body};
use crate::{Exchange, ExchangeKind, Queue};

/// A named queue used as a FIFO.
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> kombu::Result<()> {
/// let conn = kombu::Connection::connect("memory://simple-doc").await?;
/// let mut queue = conn.simple_queue("tasks").await?;
/// queue.put(&serde_json::json!({"hello": "world"})).await?;
/// assert_eq!(queue.qsize().await?, 1);
/// let message = queue.get(Duration::from_secs(1)).await?;
/// assert_eq!(message.payload()?.get("hello").and_then(|v| v.as_str()), Some("world"));
/// message.ack()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SimpleQueue {
    channel: Channel,
    queue: Queue,
    producer: Producer,
    consumer: Option<Consumer>,
    accept: Accept,
}

impl SimpleQueue {
    /// Declare the queue (and its exchange) on `channel`.
    pub async fn new(channel: &Channel, name: &str) -> Result<Self> {
        let exchange = Exchange::new(name, ExchangeKind::Direct);
        let queue = Queue::new(name).bind_to(exchange.clone(), name);
        channel.maybe_declare_queue(&queue).await?;
        Ok(SimpleQueue {
            channel: channel.clone(),
            producer: Producer::new(channel).exchange(exchange).routing_key(name),
            queue,
            consumer: None,
            accept: Accept::default(),
        })
    }

    /// Accept other content types than the default (JSON, raw data, text).
    pub fn accept(mut self, accept: Accept) -> Self {
        self.accept = accept;
        self
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.queue.name
    }

    /// Put a value (JSON unless the producer says otherwise).
    pub async fn put<T: Serialize + Sync + ?Sized>(&self, value: &T) -> Result<()> {
        self.producer.publish(value).await
    }

    /// Put raw bytes or text.
    pub async fn put_body(&self, body: impl Into<Body>) -> Result<()> {
        self.producer.publish_body(body).await
    }

    /// The next message, waiting up to `timeout` (a timeout error when none came).
    pub async fn get(&mut self, timeout: Duration) -> Result<Message> {
        if self.consumer.is_none() {
            let mut consumer = Consumer::new(&self.channel, [self.queue.clone()])
                .accept(self.accept.clone())
                .auto_declare(false);
            consumer.consume().await?;
            self.consumer = Some(consumer);
        }
        match self.consumer.as_mut() {
            Some(consumer) => consumer.recv(timeout).await,
            None => unreachable_consumer(),
        }
    }

    /// The next message if one is ready, without waiting.
    pub async fn get_nowait(&mut self) -> Result<Option<Message>> {
        if let Some(buffered) = self.consumer.as_mut().and_then(Consumer::try_next) {
            return buffered.map(Some);
        }
        self.channel
            .get_with(&self.queue.name, false, Some(Arc::new(self.accept.clone())))
            .await
    }

    /// How many messages are ready in the queue.
    pub async fn qsize(&self) -> Result<u32> {
        Ok(self
            .queue
            .attach(&self.channel)
            .status()
            .await?
            .message_count)
    }

    /// Remove every ready message; returns how many.
    pub async fn clear(&self) -> Result<u32> {
        self.queue.attach(&self.channel).purge().await
    }

    /// Stop consuming; unacknowledged messages return to the queue when the channel closes.
    pub async fn close(mut self) -> Result<()> {
        if let Some(mut consumer) = self.consumer.take() {
            consumer.cancel().await?;
        }
        Ok(())
    }
}

fn unreachable_consumer() -> Result<Message> {
    Err(crate::Error::new(
        crate::ErrorKind::Channel,
        "simple queue consumer was not started",
    ))
}
