//! Where a typed consumer of a stream resumes after a restart: the application's record of the
//! last offset each consumer handled on each stream ([`OffsetStore`], implemented over whatever
//! the application already keeps: a database row beside what the handler wrote, a key in a
//! cache), and [`MemoryOffsets`], a store in memory for tests and single-process use.
//!
//! RabbitMQ does not remember where an AMQP consumer of a stream was; a consumer that starts
//! again starts where its `offset` says (`next` by default) unless it is told where it left
//! off. [`TypedConsumer::start_with_offsets`](crate::TypedConsumer::start_with_offsets) asks
//! the store before consuming and records each message its handler finished.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::sync::lock;
use crate::Result;

/// The application's record of where each consumer is in each stream.
///
/// `save` is called after each message a handler finished (in offset order: the consumer
/// handles a stream's messages one at a time), with that message's offset; `load` once per
/// stream when the consumer starts, which then resumes at the offset after the one loaded.
/// A store that writes less often (every hundred messages, every second) is fine: the consumer
/// then handles again what came after the last saved offset, which is at-least-once as
/// everywhere else.
pub trait OffsetStore: Send + Sync + 'static {
    /// The last offset `consumer` handled on stream `queue`, if it handled any.
    fn load(&self, consumer: &str, queue: &str)
        -> impl Future<Output = Result<Option<u64>>> + Send;

    /// Records that `consumer` handled the message at `offset` on stream `queue` (and every
    /// one before it).
    fn save(
        &self,
        consumer: &str,
        queue: &str,
        offset: u64,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// A future boxed, for the store behind a trait object.
type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// [`OffsetStore`] as a trait object (a typed consumer keeps its store without a type
/// parameter for it).
pub(crate) trait DynOffsetStore: Send + Sync {
    fn load<'a>(&'a self, consumer: &'a str, queue: &'a str) -> Boxed<'a, Option<u64>>;
    fn save<'a>(&'a self, consumer: &'a str, queue: &'a str, offset: u64) -> Boxed<'a, ()>;
}

impl<S: OffsetStore> DynOffsetStore for S {
    fn load<'a>(&'a self, consumer: &'a str, queue: &'a str) -> Boxed<'a, Option<u64>> {
        Box::pin(OffsetStore::load(self, consumer, queue))
    }
    fn save<'a>(&'a self, consumer: &'a str, queue: &'a str, offset: u64) -> Boxed<'a, ()> {
        Box::pin(OffsetStore::save(self, consumer, queue, offset))
    }
}

/// An [`OffsetStore`] in memory: clones share it. It lasts as long as the process, so it
/// resumes consumers restarted within one (after a shutdown and a new `start`), not a new
/// process; a service keeps its offsets where it keeps its state.
#[derive(Debug, Clone, Default)]
pub struct MemoryOffsets {
    offsets: Arc<Mutex<HashMap<(String, String), u64>>>,
}

impl MemoryOffsets {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last offset saved for `consumer` on `queue`.
    pub fn get(&self, consumer: &str, queue: &str) -> Option<u64> {
        lock(&self.offsets)
            .get(&(consumer.to_owned(), queue.to_owned()))
            .copied()
    }
}

impl OffsetStore for MemoryOffsets {
    async fn load(&self, consumer: &str, queue: &str) -> Result<Option<u64>> {
        Ok(self.get(consumer, queue))
    }

    async fn save(&self, consumer: &str, queue: &str, offset: u64) -> Result<()> {
        lock(&self.offsets).insert((consumer.to_owned(), queue.to_owned()), offset);
        Ok(())
    }
}
