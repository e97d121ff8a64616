//! [`Connection`] (alias [`BrokerConnection`]): picks the transport from the URL, hands out
//! channels, and runs consumer callbacks in [`Connection::drain_events`].

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::channel::Channel;
use crate::compression::DEFAULT_MAX_DECOMPRESSED;
use crate::error::{Error, ErrorKind, Result};
use crate::session::Session;
use crate::simple::SimpleQueue;
use crate::transport::memory::MemoryTransport;
use crate::transport::Transport;
use crate::url::{BrokerUrl, Scheme};

/// Settings of a connection beyond its URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// The largest body a compressed message may decompress to.
    pub max_decompressed: usize,
    /// Recovery, backoff and confirm settings of the AMQP transport.
    #[cfg(feature = "amqp")]
    pub amqp: crate::transport::amqp::AmqpOptions,
    /// Recovery, backoff and heart-beat settings of the STOMP transport.
    #[cfg(feature = "stomp")]
    pub stomp: crate::transport::stomp::StompOptions,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            #[cfg(feature = "amqp")]
            amqp: crate::transport::amqp::AmqpOptions::default(),
            #[cfg(feature = "stomp")]
            stomp: crate::transport::stomp::StompOptions::default(),
        }
    }
}

impl ConnectionOptions {
    /// Set the AMQP transport's recovery, backoff and confirm settings.
    #[cfg(feature = "amqp")]
    pub fn amqp(mut self, amqp: crate::transport::amqp::AmqpOptions) -> Self {
        self.amqp = amqp;
        self
    }

    /// Set the STOMP transport's recovery, backoff and heart-beat settings.
    #[cfg(feature = "stomp")]
    pub fn stomp(mut self, stomp: crate::transport::stomp::StompOptions) -> Self {
        self.stomp = stomp;
        self
    }

    /// Set the largest body a compressed message may decompress to.
    pub fn max_decompressed(mut self, bytes: usize) -> Self {
        self.max_decompressed = bytes;
        self
    }
}

struct Inner {
    transport: Arc<dyn Transport>,
    shared: Arc<Session>,
    url: BrokerUrl,
    alternates: Vec<BrokerUrl>,
    default_channel: OnceCell<Channel>,
}

/// A connection to a broker. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

/// Python kombu's name for [`Connection`].
pub type BrokerConnection = Connection;

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.inner.url)
            .field("alternates", &self.inner.alternates.len())
            .finish()
    }
}

impl Connection {
    /// Connect to the broker a URL names (`memory://`, `amqp://`, ...). Several URLs joined by
    /// `;` are failover alternates, tried in order.
    pub async fn connect(url: &str) -> Result<Self> {
        Connection::connect_with(url, ConnectionOptions::default()).await
    }

    /// Connect with options.
    pub async fn connect_with(url: &str, options: ConnectionOptions) -> Result<Self> {
        let urls = BrokerUrl::parse_many(url)?;
        let mut last_error = None;
        let mut tried_amqp = false;
        let mut tried_stomp = false;
        for (i, candidate) in urls.iter().enumerate() {
            let is_amqp = matches!(candidate.scheme, Scheme::Amqp | Scheme::Amqps);
            let is_stomp = candidate.scheme == Scheme::Stomp;
            if (is_amqp && tried_amqp) || (is_stomp && tried_stomp) {
                continue; // The transport already tried every alternate of its scheme.
            }
            tried_amqp |= is_amqp;
            tried_stomp |= is_stomp;
            // The AMQP and STOMP transports get every alternate of their scheme, this one
            // first, for failover during recovery too.
            let family: Vec<BrokerUrl> = urls[i..]
                .iter()
                .chain(&urls[..i])
                .filter(|u| u.scheme == candidate.scheme)
                .cloned()
                .collect();
            let span = crate::telemetry::connect_span(&candidate.host, candidate.port);
            let opened =
                tracing::Instrument::instrument(open_transport(&family, &options), span.clone())
                    .await;
            if let Err(e) = &opened {
                crate::telemetry::failed(&span, e.kind());
            }
            match opened {
                Ok(transport) => {
                    let mut alternates = urls.clone();
                    let url = alternates.remove(i);
                    return Ok(Connection::assemble(transport, url, alternates, options));
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::invalid_url("no broker URL given")))
    }

    /// Use a transport built elsewhere (a custom transport, or one configured by hand).
    pub fn from_transport(transport: Arc<dyn Transport>, url: BrokerUrl) -> Self {
        Connection::from_transport_with(transport, url, ConnectionOptions::default())
    }

    /// [`Connection::from_transport`] with options (the transport-specific ones are the
    /// caller's business: the transport is already built).
    pub fn from_transport_with(
        transport: Arc<dyn Transport>,
        url: BrokerUrl,
        options: ConnectionOptions,
    ) -> Self {
        Connection::assemble(transport, url, Vec::new(), options)
    }

    fn assemble(
        transport: Arc<dyn Transport>,
        url: BrokerUrl,
        alternates: Vec<BrokerUrl>,
        options: ConnectionOptions,
    ) -> Self {
        let transport_for_cache = Arc::clone(&transport);
        Connection {
            inner: Arc::new(Inner {
                transport,
                shared: Arc::new(Session::new(
                    Arc::clone(&transport_for_cache),
                    options.max_decompressed,
                )),
                url,
                alternates,
                default_channel: OnceCell::new(),
            }),
        }
    }

    /// The URL of the broker this connection talks to now (after failover, the alternate it
    /// moved to). The password is redacted when displayed.
    pub fn url(&self) -> BrokerUrl {
        self.inner
            .transport
            .connected_url()
            .unwrap_or_else(|| self.inner.url.clone())
    }

    /// Whether the connection is open.
    pub fn is_open(&self) -> bool {
        self.inner.transport.is_open()
    }

    /// Open a new channel.
    pub async fn channel(&self) -> Result<Channel> {
        Ok(Channel {
            transport: self.inner.transport.open_channel().await?,
            shared: Arc::clone(&self.inner.shared),
        })
    }

    /// The connection's default channel, opened on first use.
    pub async fn default_channel(&self) -> Result<Channel> {
        self.inner
            .default_channel
            .get_or_try_init(|| self.channel())
            .await
            .cloned()
    }

    /// A [`SimpleQueue`] named `name`, on a channel of its own.
    pub async fn simple_queue(&self, name: &str) -> Result<SimpleQueue> {
        SimpleQueue::new(&self.channel().await?, name).await
    }

    /// Wait for one event of any consumer of this connection that has callbacks, and dispatch
    /// it: the decoded body and the message to each callback in order (or the raw message to
    /// `on_message`). A timeout error when nothing arrives in time.
    ///
    /// A message that cannot be decoded goes to the consumer's `on_decode_error`; without one it
    /// is rejected (dead-lettered if its queue has a dead-letter exchange) and the decode error
    /// is returned. A consumer cancelled by the broker (its queue was deleted) is reported the
    /// same way, through `on_cancel` or as an error.
    pub async fn drain_events(&self, timeout: Duration) -> Result<()> {
        let shared = Arc::clone(&self.inner.shared);
        let next = poll_fn(move |cx| {
            let consumers = shared.consumers();
            let start = shared.next_poll.fetch_add(1, Ordering::Relaxed);
            let n = consumers.len();
            for i in 0..n {
                let consumer = &consumers[(start + i) % n];
                if !consumer.has_handlers() {
                    continue;
                }
                if let Poll::Ready(Some(event)) = consumer.poll_event(cx) {
                    return Poll::Ready((Arc::clone(consumer), event));
                }
            }
            Poll::Pending
        });
        let (consumer, event) = tokio::time::timeout(timeout, next).await.map_err(|_| {
            Error::new(
                ErrorKind::Timeout,
                format!("no message arrived within {timeout:?}"),
            )
        })?;
        consumer.handle(event)
    }

    /// Close the connection: consumers stop, unacknowledged messages return to their queues,
    /// exclusive queues are deleted.
    ///
    /// This is the way to finish. Before it closes, every ack and reject that returned `Ok`
    /// (they are queued, not sent, when made) is sent, batched acks included, and the confirms
    /// of publishes already made are awaited (up to the confirm timeout), so a publish or a
    /// pipeline awaited after `close` reports the broker's answer rather than a lost connection.
    ///
    /// Dropping the connection without `close` does the same in a background task, which runs
    /// only while the tokio runtime does: a program that returns from `main` (or a test that
    /// ends) right after the drop may stop before it, and then unsent acks are lost (the broker
    /// redelivers those messages, flagged `redelivered`) and unconfirmed publishes stay unknown.
    /// Nothing here makes an unconfirmed publish safe: only an awaited confirm says the broker
    /// has the message.
    pub async fn close(&self) -> Result<()> {
        self.inner.transport.close().await
    }
}

/// Open the transport for `urls[0]`; the rest are its failover alternates.
async fn open_transport(
    urls: &[BrokerUrl],
    options: &ConnectionOptions,
) -> Result<Arc<dyn Transport>> {
    let Some(url) = urls.first() else {
        return Err(Error::invalid_url("no broker URL given"));
    };
    #[cfg(not(any(feature = "amqp", feature = "stomp")))]
    let _ = options;
    match url.scheme {
        Scheme::Memory => Ok(Arc::new(MemoryTransport::connect(&url.host))),
        #[cfg(feature = "amqp")]
        Scheme::Amqp | Scheme::Amqps => Ok(Arc::new(
            crate::transport::amqp::AmqpTransport::connect(urls, options.amqp.clone()).await?,
        )),
        #[cfg(not(feature = "amqp"))]
        Scheme::Amqp | Scheme::Amqps => Err(Error::new(
            ErrorKind::Unsupported,
            "amqp:// needs the `amqp` feature of kombu (on by default)",
        )),
        #[cfg(feature = "stomp")]
        Scheme::Stomp => Ok(Arc::new(
            crate::transport::stomp::StompTransport::connect(urls, options.stomp.clone()).await?,
        )),
        #[cfg(not(feature = "stomp"))]
        Scheme::Stomp => Err(Error::new(
            ErrorKind::Unsupported,
            "stomp:// needs the `stomp` feature of kombu (on by default)",
        )),
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Connection>();
}
