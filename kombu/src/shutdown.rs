//! [`Shutdown`]: stopping a consumer gracefully. It owns the order of the steps (stop taking
//! deliveries, let handlers in flight finish within a grace period, give back what was
//! prefetched but not started); what each step does to the broker is the consumer's and the
//! transport's business, and [`Connection::close`](crate::Connection::close) sends the acks
//! still queued and waits for outstanding confirms.
//!
//! ```
//! use std::time::Duration;
//! use kombu::{Connection, Consumer, Producer, Queue, Shutdown};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> kombu::Result<()> {
//! let conn = Connection::connect("memory://shutdown-doc").await?;
//! let channel = conn.channel().await?;
//! let mut consumer = Consumer::new(&channel, [Queue::new("jobs")]);
//! consumer.consume().await?;
//! let producer = Producer::new(&channel).routing_key("jobs");
//! for n in 0..3 {
//!     producer.publish(&serde_json::json!({ "n": n })).await?;
//! }
//! // Tie the token to SIGTERM in a service: `tokio::signal::unix::signal(...)`, then
//! // `shutdown.token().cancel()`.
//! let shutdown = Shutdown::new(Duration::from_secs(10));
//! let mut handled = 0;
//! while let Some(message) = shutdown.next(&mut consumer).await {
//!     let message = message?;
//!     // The handler runs to its end unless shutdown comes and the grace period runs out.
//!     shutdown.finish(async { message.ack() }).await.transpose()?;
//!     handled += 1;
//!     if handled == 3 {
//!         shutdown.token().cancel();
//!     }
//! }
//! shutdown.wind_down(&mut consumer).await?;
//! conn.close().await?;
//! # assert_eq!(handled, 3);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;

use tokio_util::sync::CancellationToken;

use crate::consumer::Consumer;
use crate::error::Result;
use crate::message::Message;

/// A request to stop, and how long handlers in flight may take to finish after it.
///
/// Cloning gives another handle on the same request (the token is shared).
#[derive(Debug, Clone)]
pub struct Shutdown {
    token: CancellationToken,
    grace: Duration,
}

impl Shutdown {
    /// A shutdown not yet requested, giving handlers `grace` to finish once it is.
    pub fn new(grace: Duration) -> Self {
        Shutdown::with_token(CancellationToken::new(), grace)
    }

    /// A shutdown requested through `token` (shared with the rest of a service).
    pub fn with_token(token: CancellationToken, grace: Duration) -> Self {
        Shutdown { token, grace }
    }

    /// Requests the shutdown when the process gets SIGTERM (what service managers and
    /// Kubernetes send) or SIGINT (Ctrl-C): spawns a task on the current tokio runtime that
    /// waits for either. Returns `self` for chaining.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shutdown = kombu::Shutdown::new(std::time::Duration::from_secs(30)).on_signals();
    /// # }
    /// ```
    pub fn on_signals(self) -> Self {
        let token = self.token.clone();
        tokio::spawn(async move {
            termination().await;
            tracing::info!("termination signal: shutting down");
            token.cancel();
        });
        self
    }

    /// The token: cancel it to request the shutdown.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// How long handlers in flight may take once shutdown is requested.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Whether shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The consumer's next message, or `None` once shutdown is requested (or the consumer's
    /// stream ended). A message already received is never dropped here: shutdown is checked
    /// first, and a message taken is handed over.
    pub async fn next(&self, consumer: &mut Consumer) -> Option<Result<Message>> {
        let mut cancelled = pin!(self.token.cancelled());
        std::future::poll_fn(|cx| {
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Pin::new(&mut *consumer).poll_next(cx)
        })
        .await
    }

    /// Run a handler to its end; once shutdown is requested it has the grace period left, and
    /// `None` says it was cut off then (its message stays unsettled and the broker delivers it
    /// again, flagged `redelivered`, when the channel closes).
    pub async fn finish<T>(&self, handler: impl Future<Output = T>) -> Option<T> {
        let mut handler = pin!(handler);
        let mut cancelled = pin!(self.token.cancelled());
        let before = std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = handler.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        match before {
            Some(out) => Some(out),
            None => tokio::time::timeout(self.grace, handler).await.ok(),
        }
    }

    /// After the last handler: stop consuming (`basic.cancel`), and give back the messages
    /// delivered but not started (requeued at their place, flagged `redelivered`). Then close
    /// the connection ([`Connection::close`](crate::Connection::close)), which sends the acks
    /// still queued and waits for outstanding publisher confirms.
    ///
    /// Returns how many messages were given back. On STOMP, whose broker refuses to settle a
    /// message of a cancelled subscription, they go back when the channel closes instead.
    pub async fn wind_down(&self, consumer: &mut Consumer) -> Result<usize> {
        consumer.cancel().await?;
        let mut returned = 0;
        // The stream ends once the cancel has taken effect, after what was already delivered.
        while let Ok(Some(item)) = tokio::time::timeout(self.grace, consumer.next()).await {
            if let Ok(message) = item {
                if message.requeue().is_ok() {
                    returned += 1;
                }
            }
        }
        Ok(returned)
    }
}

/// SIGTERM or SIGINT (Ctrl-C); on other platforms Ctrl-C.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            let mut term = std::pin::pin!(term.recv());
            let mut int = std::pin::pin!(int.recv());
            std::future::poll_fn(|cx| {
                if term.as_mut().poll(cx).is_ready() || int.as_mut().poll(cx).is_ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        // No way to hear the signal: never request the shutdown from here.
        std::future::pending::<()>().await;
    }
}
