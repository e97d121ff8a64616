//! `stomp://`: STOMP 1.2, for RabbitMQ's STOMP plugin (`rabbitmq-plugins enable
//! rabbitmq_stomp`, port 61613).
//!
//! Our own codec (the maintained STOMP crates are copyleft or abandoned): [`frame`] turns
//! bytes into frames and back, with STOMP's header escaping, `content-length` bodies that may
//! hold NUL bytes, heart-beat EOLs, and limits on frame and header size. [`client`] is one
//! STOMP session on tokio. The transport maps kombu's model onto RabbitMQ's destinations
//! ([`convert`]):
//!
//! | kombu | STOMP |
//! |---|---|
//! | publish to exchange `E`, key `K` | `SEND /exchange/E/K` |
//! | publish to the default exchange, key `Q` | `SEND /amq/queue/Q` |
//! | consume queue `Q` | `SUBSCRIBE /amq/queue/Q`, `ack:client-individual`, `prefetch-count` |
//! | ack / reject(requeue) | `ACK` / `NACK` with `requeue` |
//! | publisher confirms | a `receipt` on every `SEND` |
//! | channel close | `DISCONNECT`: unacknowledged messages return to their queues |
//!
//! What STOMP cannot express is an [`Unsupported`](crate::ErrorKind::Unsupported) error that
//! says so: declaring exchanges and queues, bindings, deleting and purging, `basic.get`,
//! mandatory publishing, exclusive consumers and consumer arguments. Declare the topology over
//! AMQP (`kombu apply`, or `declare_all` on an `amqp://` connection) or in the broker's
//! definitions, and mark entities `no_declare` on STOMP (or turn `auto_declare` off). The
//! predeclared exchanges (`""`, `amq.*`) need no declaration.
//!
//! Each channel is a STOMP session of its own (RabbitMQ gives each session one AMQP channel),
//! so closing a channel returns exactly its unacknowledged messages. A lost session reconnects
//! with bounded exponential backoff across the failover URLs and resubscribes its consumers
//! under the same tags; messages delivered on the lost session cannot be acknowledged (a clear
//! error) and the broker redelivers them.

mod channel;
pub mod client;
pub mod convert;
pub mod frame;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;

use self::channel::StompChannel;
use self::client::{Client, ConnectOptions};
use self::frame::Limits;
use super::recovery::RecoveryOptions;
use super::{Transport, TransportChannel};
use crate::error::{Error, ErrorKind, Result};
use crate::sync::lock;
use crate::url::BrokerUrl;

/// The heart-beat offered and asked for unless the URL or the options say otherwise.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// Settings of the STOMP transport beyond the URL.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StompOptions {
    /// Reconnection: how long operations wait for a lost session, the backoff, one attempt's
    /// timeout (also each receipt's).
    pub recovery: RecoveryOptions,
    /// The heart-beat to offer and ask for, both ways, when the URL gives none (`heartbeat=`
    /// in the URL wins); `None` takes kombu's default (10 s), zero turns heart-beats off. The
    /// same form as [`AmqpOptions::heartbeat`](crate::transport::amqp::AmqpOptions), whose
    /// `None` takes the broker's.
    pub heartbeat: Option<Duration>,
    /// Limits on the frames the server sends.
    pub limits: Limits,
}

impl StompOptions {
    crate::transport::recovery::recovery_builders!("session");

    /// Offer and ask for this heart-beat interval unless the URL gives one.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }
    /// Set the limits on frames from the server.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// What the channels of one connection share.
pub(crate) struct Shared {
    urls: Vec<BrokerUrl>,
    options: StompOptions,
    current_url: Mutex<BrokerUrl>,
    closed: AtomicBool,
    generation: AtomicU64,
    channels: Mutex<Vec<Weak<StompChannel>>>,
    /// The session opened by `connect` (to check the URL and credentials), handed to the first
    /// channel.
    spare: Mutex<Option<Client>>,
}

/// How to reach `url`.
fn connect_options(url: &BrokerUrl, options: &StompOptions) -> ConnectOptions {
    let host = if url.host.contains(':') && !url.host.starts_with('[') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let heartbeat = url
        .options
        .heartbeat
        .or(options.heartbeat)
        .unwrap_or(DEFAULT_HEARTBEAT);
    ConnectOptions {
        address: format!("{host}:{}", url.port),
        vhost: url.virtual_host.clone(),
        login: url.userid.clone(),
        passcode: url.password().to_owned(),
        heartbeat: (heartbeat, heartbeat),
        timeout: url
            .options
            .connection_timeout
            .unwrap_or(options.recovery.connect_timeout),
        limits: options.limits,
    }
}

impl Shared {
    /// One attempt at each URL in order; the first session that opens.
    pub(crate) async fn connect_any(&self) -> Result<Client> {
        let mut last = None;
        for url in &self.urls {
            match Client::connect(&connect_options(url, &self.options)).await {
                Ok(client) => {
                    *lock(&self.current_url) = url.clone();
                    return Ok(client);
                }
                Err(e) => {
                    // Wrong credentials do not get better by retrying another node.
                    if e.kind() == ErrorKind::AccessRefused {
                        return Err(e);
                    }
                    last = Some(Error::new(e.kind(), format!("{url}: {e}")));
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid_url("no broker URL given")))
    }

    pub(crate) fn options(&self) -> &StompOptions {
        &self.options
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn recovered(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// A connection to RabbitMQ's STOMP plugin.
pub struct StompTransport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StompTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StompTransport")
            .field("urls", &self.shared.urls)
            .finish_non_exhaustive()
    }
}

impl StompTransport {
    /// Connect to the first URL that answers (checking the credentials); the others stay as
    /// failover alternates for recovery.
    pub async fn connect(urls: &[BrokerUrl], options: StompOptions) -> Result<Self> {
        let shared = Arc::new(Shared {
            current_url: Mutex::new(
                urls.first()
                    .cloned()
                    .ok_or_else(|| Error::invalid_url("no broker URL given"))?,
            ),
            urls: urls.to_vec(),
            options,
            closed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            channels: Mutex::default(),
            spare: Mutex::new(None),
        });
        let client = shared.connect_any().await?;
        *lock(&shared.spare) = Some(client);
        Ok(StompTransport { shared })
    }
}

#[async_trait]
impl Transport for StompTransport {
    async fn open_channel(&self) -> Result<Arc<dyn TransportChannel>> {
        if self.shared.is_closed() {
            return Err(Error::new(ErrorKind::Connection, "connection is closed"));
        }
        let spare = lock(&self.shared.spare).take().filter(Client::is_open);
        let client = match spare {
            Some(client) => client,
            None => self.shared.connect_any().await?,
        };
        let channel = StompChannel::new(Arc::clone(&self.shared), client);
        let mut channels = lock(&self.shared.channels);
        channels.retain(|w| w.strong_count() > 0);
        channels.push(Arc::downgrade(&channel));
        Ok(channel)
    }

    async fn close(&self) -> Result<()> {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        lock(&self.shared.spare).take();
        let channels: Vec<Arc<StompChannel>> = lock(&self.shared.channels)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut first_error = None;
        for channel in channels {
            if let Err(e) = channel.close().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn is_open(&self) -> bool {
        !self.shared.is_closed()
    }

    fn connected_url(&self) -> Option<BrokerUrl> {
        Some(lock(&self.shared.current_url).clone())
    }

    fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_url_gives_address_vhost_credentials_and_heartbeat() {
        let url = BrokerUrl::parse("stomp://u:p%40ss@rabbit:61614/prod?heartbeat=4").unwrap();
        let o = connect_options(&url, &StompOptions::default());
        assert_eq!(o.address, "rabbit:61614");
        assert_eq!((o.login.as_str(), o.passcode.as_str()), ("u", "p@ss"));
        assert_eq!(o.vhost, "prod");
        assert_eq!(
            o.heartbeat,
            (Duration::from_secs(4), Duration::from_secs(4))
        );
        let url = BrokerUrl::parse("stomp://[::1]").unwrap();
        let o = connect_options(&url, &StompOptions::default().heartbeat(Duration::ZERO));
        assert_eq!(o.address, "[::1]:61613");
        assert_eq!(o.vhost, "/");
        assert_eq!(o.heartbeat, (Duration::ZERO, Duration::ZERO));
    }
}
