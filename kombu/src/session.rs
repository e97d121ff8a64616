//! [`Session`]: what a connection shares with everything made from it (channels, producers,
//! consumers): the transport, what was declared (so auto-declare sends each declaration once
//! per transport generation), the consumers [`Connection::drain_events`] polls, and the limits.
//!
//! It knows the transport and the entities, nothing above them, so the runtime's modules
//! depend one way: connection → channel → producer and consumer → session → transport.
//! Consumers enter it as [`Drainable`], which they implement.
//!
//! [`Connection::drain_events`]: crate::Connection::drain_events

use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};

use crate::error::Result;
use crate::sync::lock;
use crate::transport::{ConsumerEvent, Transport};
use crate::{Exchange, Queue};

/// What has been declared on a connection, keyed by full equality, so `auto_declare` sends
/// each declaration once.
#[derive(Debug, Default)]
pub(crate) struct DeclareCache {
    /// The transport generation these declarations were made in; a reconnect clears them.
    generation: u64,
    pub(crate) exchanges: HashSet<Exchange>,
    pub(crate) queues: HashSet<Queue>,
}

/// A consumer as `drain_events` sees it: events to take and a callback to hand them to.
pub(crate) trait Drainable: Send + Sync {
    /// Whether callbacks were registered (else the consumer is used as a stream).
    fn has_handlers(&self) -> bool;
    /// The next event, if one is ready.
    fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<ConsumerEvent>>;
    /// Runs the callbacks for `event`.
    fn handle(&self, event: ConsumerEvent) -> Result<()>;
}

/// State shared by a connection and everything made from it.
pub(crate) struct Session {
    pub(crate) transport: Arc<dyn Transport>,
    declared: Mutex<DeclareCache>,
    consumers: Mutex<Vec<Weak<dyn Drainable>>>,
    pub(crate) max_decompressed: usize,
    /// Where `drain_events` starts polling, rotated so no consumer starves the others.
    pub(crate) next_poll: AtomicUsize,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("max_decompressed", &self.max_decompressed)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(transport: Arc<dyn Transport>, max_decompressed: usize) -> Self {
        Session {
            transport,
            declared: Mutex::default(),
            consumers: Mutex::default(),
            max_decompressed,
            next_poll: AtomicUsize::new(0),
        }
    }

    /// What was declared in the transport's current generation (a reconnect starts afresh).
    pub(crate) fn declared(&self) -> MutexGuard<'_, DeclareCache> {
        let mut cache = lock(&self.declared);
        let generation = self.transport.generation();
        if cache.generation != generation {
            *cache = DeclareCache {
                generation,
                ..DeclareCache::default()
            };
        }
        cache
    }

    /// Lets `drain_events` reach `consumer` (once, however often it is registered).
    pub(crate) fn register_consumer(&self, consumer: Arc<dyn Drainable>) {
        let mut list = lock(&self.consumers);
        let ptr = Arc::as_ptr(&consumer).cast::<()>();
        if !list
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr().cast::<()>(), ptr))
        {
            list.push(Arc::downgrade(&consumer));
        }
    }

    /// The consumers still alive.
    pub(crate) fn consumers(&self) -> Vec<Arc<dyn Drainable>> {
        let mut list = lock(&self.consumers);
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    }
}
