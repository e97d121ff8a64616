//! What the AMQP and STOMP transports share when a connection is lost: how long callers wait
//! for it to come back ([`RecoveryOptions::recovery_timeout`]), how long one connection
//! attempt may take, how reconnect attempts are paced (doubling from `initial_backoff` up
//! to `max_backoff`), and the record of the consumers to start again on the new connection
//! (or to cancel, with the reason, when they cannot be).

use std::time::Duration;

#[cfg(any(feature = "amqp", feature = "stomp"))]
use std::collections::HashMap;
#[cfg(any(feature = "amqp", feature = "stomp"))]
use std::sync::{Mutex, MutexGuard};

#[cfg(any(feature = "amqp", feature = "stomp"))]
use crate::sync::lock;
#[cfg(any(feature = "amqp", feature = "stomp"))]
use crate::transport::{ConsumeOptions, ConsumerEvent, DeliverySender};

/// Reconnection settings, the same for every transport that reconnects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryOptions {
    /// How long an operation waits for a lost connection (or STOMP session) to come back
    /// before failing with a connection error.
    pub recovery_timeout: Duration,
    /// The first pause between reconnection attempts; it doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest pause between reconnection attempts.
    pub max_backoff: Duration,
    /// How long one connection attempt may take (the URL's `connection_timeout` wins).
    pub connect_timeout: Duration,
}

impl Default for RecoveryOptions {
    fn default() -> Self {
        RecoveryOptions {
            recovery_timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A consumer as the application started it: enough to start it again after a reconnect.
/// `S` is what the transport adds (STOMP: the subscription and the session it belongs to).
#[cfg(any(feature = "amqp", feature = "stomp"))]
#[cfg_attr(not(all(feature = "amqp", feature = "stomp")), allow(dead_code))]
pub(crate) struct ConsumerRecord<S> {
    pub(crate) queue: String,
    pub(crate) options: ConsumeOptions,
    pub(crate) sender: DeliverySender,
    pub(crate) state: S,
}

/// A channel's consumers, by consumer tag.
#[cfg(any(feature = "amqp", feature = "stomp"))]
pub(crate) struct Consumers<S> {
    records: Mutex<HashMap<String, ConsumerRecord<S>>>,
}

#[cfg(any(feature = "amqp", feature = "stomp"))]
impl<S> Default for Consumers<S> {
    fn default() -> Self {
        Consumers {
            records: Mutex::new(HashMap::new()),
        }
    }
}

#[cfg(any(feature = "amqp", feature = "stomp"))]
#[cfg_attr(not(all(feature = "amqp", feature = "stomp")), allow(dead_code))]
impl<S> Consumers<S> {
    /// The records, locked (held while a delivery is handed over, so a cancel cannot pass it).
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<String, ConsumerRecord<S>>> {
        lock(&self.records)
    }

    pub(crate) fn insert(&self, tag: &str, record: ConsumerRecord<S>) {
        self.lock().insert(tag.to_owned(), record);
    }

    pub(crate) fn remove(&self, tag: &str) -> Option<ConsumerRecord<S>> {
        self.lock().remove(tag)
    }

    pub(crate) fn contains(&self, tag: &str) -> bool {
        self.lock().contains_key(tag)
    }

    /// What to start again on a new connection: each consumer's tag and record (its
    /// queue, options, receiver and transport state), cloned.
    pub(crate) fn to_restart(&self) -> Vec<(String, ConsumerRecord<S>)>
    where
        S: Clone,
    {
        self.lock()
            .iter()
            .map(|(tag, r)| {
                (
                    tag.clone(),
                    ConsumerRecord {
                        queue: r.queue.clone(),
                        options: r.options.clone(),
                        sender: r.sender.clone(),
                        state: r.state.clone(),
                    },
                )
            })
            .collect()
    }

    /// Forgets consumer `tag` and tells its receiver why it ended (the broker cancelled it,
    /// or it could not be started again). False if it was not there.
    pub(crate) fn cancel(&self, tag: &str, reason: &str) -> bool {
        self.cancel_if(tag, reason, |_| true)
    }

    /// [`cancel`](Self::cancel), if the record (checked under the same lock) is still the one
    /// `ours` recognises: a consumer already subscribed again is left alone.
    pub(crate) fn cancel_if(
        &self,
        tag: &str,
        reason: &str,
        ours: impl FnOnce(&ConsumerRecord<S>) -> bool,
    ) -> bool {
        let record = {
            let mut records = self.lock();
            if !records.get(tag).is_some_and(ours) {
                return false;
            }
            records.remove(tag)
        };
        let Some(record) = record else {
            return false;
        };
        let _ = record.sender.send(ConsumerEvent::Cancelled {
            consumer_tag: tag.to_owned(),
            reason: reason.to_owned(),
        });
        true
    }

    /// Cancels every consumer with `reason` (recovery gave up), so none waits forever.
    pub(crate) fn cancel_all(&self, reason: &str) {
        let records: Vec<(String, ConsumerRecord<S>)> = self.lock().drain().collect();
        for (tag, record) in records {
            let _ = record.sender.send(ConsumerEvent::Cancelled {
                consumer_tag: tag,
                reason: reason.to_owned(),
            });
        }
    }

    /// Ends every consumer (the channel closes): each receiver hears the end of its stream.
    pub(crate) fn end_all(&self) {
        let records: Vec<(String, ConsumerRecord<S>)> = self.lock().drain().collect();
        for (tag, record) in records {
            let _ = record
                .sender
                .send(ConsumerEvent::Ended { consumer_tag: tag });
        }
    }
}

/// The builder methods every transport's options have for their `recovery` field, written once.
#[cfg(any(feature = "amqp", feature = "stomp"))]
macro_rules! recovery_builders {
    ($what:literal) => {
        #[doc = concat!("Set how long operations wait for a lost ", $what, " to come back.")]
        pub fn recovery_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.recovery.recovery_timeout = timeout;
            self
        }
        /// Set the first and the longest pause between reconnection attempts.
        pub fn backoff(
            mut self,
            initial: ::std::time::Duration,
            max: ::std::time::Duration,
        ) -> Self {
            self.recovery.initial_backoff = initial;
            self.recovery.max_backoff = max;
            self
        }
        /// Set how long one connection attempt may take.
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.recovery.connect_timeout = timeout;
            self
        }
    };
}
#[cfg(any(feature = "amqp", feature = "stomp"))]
pub(crate) use recovery_builders;

/// The pauses between reconnection attempts: `initial_backoff`, doubling, at most
/// `max_backoff`.
#[cfg(any(feature = "amqp", feature = "stomp"))]
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

#[cfg(any(feature = "amqp", feature = "stomp"))]
impl Backoff {
    pub(crate) fn new(options: &RecoveryOptions) -> Self {
        Backoff {
            next: options.initial_backoff.min(options.max_backoff),
            max: options.max_backoff,
        }
    }

    /// The pause before the next attempt (shown in logs).
    pub(crate) fn current(&self) -> Duration {
        self.next
    }

    /// Waits the current pause, and doubles the next one (up to the maximum).
    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = self.next.saturating_mul(2).min(self.max);
    }
}

#[cfg(all(test, any(feature = "amqp", feature = "stomp")))]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let options = RecoveryOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..RecoveryOptions::default()
        };
        let mut b = Backoff::new(&options);
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(b.current().as_millis());
            b.next = b.next.saturating_mul(2).min(b.max);
        }
        assert_eq!(seen, [100, 200, 400, 500, 500]);
    }
}
