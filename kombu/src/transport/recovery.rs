//! What the AMQP and STOMP transports share when a connection is lost: how long callers wait
//! for it to come back ([`RecoveryOptions::recovery_timeout`]), how long one connection
//! attempt may take, and how reconnect attempts are paced (doubling from `initial_backoff` up
//! to `max_backoff`).

use std::time::Duration;

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
