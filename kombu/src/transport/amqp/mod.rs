//! `amqp://` (and `amqps://` with the `tls` feature): AMQP 0-9-1 on lapin and tokio.
//!
//! Recovery is ours, not lapin's: when the connection drops, the next operation (or a consumer
//! noticing its stream end) reconnects with bounded exponential backoff across the failover
//! URLs, declares the recorded topology again, reopens every channel with its QoS and confirm
//! mode, and restarts its consumers under the same tags. Queues declared without a name get a
//! client-chosen `kombu.gen-...` name so they can be declared again after a reconnect (the
//! broker refuses to redeclare its own `amq.gen-` names). Operations wait for recovery up to
//! [`AmqpOptions::recovery_timeout`], then fail with a connection error. Deliveries from a
//! channel that died cannot be acknowledged (a clear channel error); the broker redelivers them
//! with `redelivered = true`.

mod acks;
mod channel;
mod convert;
mod declare;
mod topology;

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;
use lapin::types::{LongString, ShortString};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::ConnectionProperties;

use self::channel::AmqpChannel;
use self::convert::error;
use self::declare::{binding_context, Link};
use self::topology::Topology;
use super::recovery::{Backoff, RecoveryOptions};
use super::{Transport, TransportChannel};
use crate::error::{Error, ErrorKind, Result};
use crate::sync::lock;
use crate::url::{BrokerUrl, Scheme};

/// Settings of the AMQP transport beyond the URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AmqpOptions {
    /// Reconnection: how long operations wait, the backoff, one attempt's timeout.
    pub recovery: RecoveryOptions,
    /// How long a publish waits for its publisher confirm.
    pub confirm_timeout: Duration,
    /// The heartbeat interval to ask for when the URL gives none (`heartbeat=` in the URL
    /// wins); `None` takes the broker's. A dead peer is noticed after two missed heartbeats.
    pub heartbeat: Option<Duration>,
    /// Extra certificate authorities (PEM) trusted for `amqps://`, beside the system's roots.
    /// Certificates are always verified; this only widens whom to trust (a private CA).
    pub tls_ca_pem: Option<String>,
}

impl AmqpOptions {
    crate::transport::recovery::recovery_builders!("connection");

    /// Ask for this heartbeat interval unless the URL gives one.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }
    /// Trust this certificate authority (PEM) too, for `amqps://`.
    pub fn tls_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.tls_ca_pem = Some(pem.into());
        self
    }
    /// Set how long a publish waits for its confirm.
    pub fn confirm_timeout(mut self, timeout: Duration) -> Self {
        self.confirm_timeout = timeout;
        self
    }
}

impl Default for AmqpOptions {
    fn default() -> Self {
        AmqpOptions {
            recovery: RecoveryOptions::default(),
            confirm_timeout: Duration::from_secs(30),
            heartbeat: None,
            tls_ca_pem: None,
        }
    }
}

pub(super) struct ConnInner {
    urls: Vec<BrokerUrl>,
    options: AmqpOptions,
    current: Mutex<Option<Arc<lapin::Connection>>>,
    /// The URL `current` is connected to.
    current_url: Mutex<BrokerUrl>,
    generation: AtomicU64,
    recovering: tokio::sync::Mutex<()>,
    topology: Mutex<Topology>,
    channels: Mutex<Vec<Weak<AmqpChannel>>>,
    closed: AtomicBool,
    /// Why the last reconnection attempt failed, for the error of whoever gives up waiting.
    last_failure: Mutex<Option<String>>,
}

fn uri(url: &BrokerUrl, options: &AmqpOptions) -> AMQPUri {
    AMQPUri {
        scheme: if url.scheme == Scheme::Amqps {
            AMQPScheme::AMQPS
        } else {
            AMQPScheme::AMQP
        },
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: url.userid.clone(),
                password: url.password().to_owned(),
            },
            host: url.host.clone(),
            port: url.port,
        },
        vhost: url.virtual_host.clone(),
        query: AMQPQueryString {
            frame_max: url.options.frame_max,
            channel_max: url.options.channel_max,
            heartbeat: url
                .options
                .heartbeat
                .or(options.heartbeat)
                .map(|h| u16::try_from(h.as_secs()).unwrap_or(u16::MAX)),
            connection_timeout: url
                .options
                .connection_timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            auth_mechanism: None,
        },
    }
}

async fn connect_one(url: &BrokerUrl, options: &AmqpOptions) -> Result<lapin::Connection> {
    if url.scheme == Scheme::Amqps && !cfg!(feature = "tls") {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "amqps:// needs the `tls` feature of kombu",
        ));
    }
    let name = url
        .options
        .connection_name
        .clone()
        .unwrap_or_else(|| format!("kombu-rs pid {}", std::process::id()));
    let properties = ConnectionProperties::default()
        .with_connection_name(LongString::from(name))
        .with_client_property(ShortString::from("product"), LongString::from("kombu"))
        .with_client_property(
            ShortString::from("version"),
            LongString::from(env!("CARGO_PKG_VERSION")),
        )
        .with_client_property(ShortString::from("platform"), LongString::from("Rust"));
    let timeout = url
        .options
        .connection_timeout
        .unwrap_or(options.recovery.connect_timeout);
    let connect = async {
        #[cfg(feature = "tls")]
        if url.scheme == Scheme::Amqps {
            let runtime = lapin::runtime::default_runtime()?;
            let tls = lapin::tcp::OwnedTLSConfig {
                identity: None,
                cert_chain: options.tls_ca_pem.clone(),
            };
            return lapin::Connection::connect_uri_with_config(
                uri(url, options),
                properties,
                tls,
                runtime,
            )
            .await;
        }
        lapin::Connection::connect_uri(uri(url, options), properties).await
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(error(&format!("cannot connect to {url}"), e)),
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("connecting to {url} took longer than {timeout:?}"),
        )),
    }
}

impl ConnInner {
    /// The live connection, recovering it first if it is down.
    async fn connection(self: &Arc<Self>) -> Result<Arc<lapin::Connection>> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Connection, "connection is closed"));
        }
        if let Some(conn) = lock(&self.current).as_ref() {
            if conn.status().connected() {
                return Ok(Arc::clone(conn));
            }
        }
        match tokio::time::timeout(self.options.recovery.recovery_timeout, self.recover()).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "the connection to the broker is down and did not recover within {:?}{}",
                    self.options.recovery.recovery_timeout,
                    lock(&self.last_failure)
                        .as_deref()
                        .map(|e| format!(" (last attempt: {e})"))
                        .unwrap_or_default()
                ),
            )),
        }
    }

    /// Reconnect (once, however many callers ask), redeclare the topology, reopen channels.
    async fn recover(self: &Arc<Self>) -> Result<Arc<lapin::Connection>> {
        let _guard = self.recovering.lock().await;
        // Someone else may have recovered while this caller waited for the lock.
        if let Some(conn) = lock(&self.current).as_ref() {
            if conn.status().connected() {
                return Ok(Arc::clone(conn));
            }
        }
        let mut backoff = Backoff::new(&self.options.recovery);
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Connection, "connection is closed"));
            }
            let mut last = None;
            for url in &self.urls {
                match connect_one(url, &self.options).await {
                    Ok(conn) => match self.restore(&conn).await {
                        Ok(()) => {
                            let conn = Arc::new(conn);
                            // Counted before anyone can open a channel on it.
                            let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                            *lock(&self.current) = Some(Arc::clone(&conn));
                            *lock(&self.current_url) = url.clone();
                            *lock(&self.last_failure) = None;
                            tracing::info!(url = %url, generation, "AMQP connection recovered");
                            self.watch(&conn);
                            let channels: Vec<Arc<AmqpChannel>> = lock(&self.channels)
                                .iter()
                                .filter_map(Weak::upgrade)
                                .collect();
                            for channel in channels {
                                if let Err(e) = channel.reopen(&conn).await {
                                    tracing::warn!(
                                        error = format_args!("{e:#}"),
                                        "reopening a channel after recovery failed"
                                    );
                                }
                            }
                            return Ok(conn);
                        }
                        Err(e) => last = Some(e),
                    },
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                tracing::warn!(
                    error = format_args!("{e:#}"),
                    backoff = ?backoff.current(),
                    "reconnect failed; retrying"
                );
                *lock(&self.last_failure) = Some(format!("{e:#}"));
            }
            backoff.wait().await;
        }
    }

    /// Declare the recorded topology on a fresh connection.
    async fn restore(&self, conn: &lapin::Connection) -> Result<()> {
        let (exchanges, queues, queue_bindings, exchange_bindings) = {
            let t = lock(&self.topology);
            (
                t.exchanges.values().cloned().collect::<Vec<_>>(),
                t.queues.values().cloned().collect::<Vec<_>>(),
                t.queue_bindings.records(),
                t.exchange_bindings.records(),
            )
        };
        if exchanges.is_empty() && queues.is_empty() {
            return Ok(());
        }
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| error("recovery: opening a channel", e))?;
        for e in &exchanges {
            declare::declare_exchange(&ch, e).await?;
        }
        for q in &queues {
            declare::declare_queue(&ch, q).await?;
        }
        for (link, list) in [
            (Link::Queue, &queue_bindings),
            (Link::Exchange, &exchange_bindings),
        ] {
            for b in list {
                declare::apply_binding(&ch, link, true, b)
                    .await
                    .map_err(|e| {
                        error(&format!("recovery: {}", binding_context(link, true, b)), e)
                    })?;
            }
        }
        let _ = ch.close(200, "OK".into()).await;
        Ok(())
    }

    /// Start recovery as soon as lapin reports the connection failed, so consumers resume
    /// without waiting for the next operation.
    fn watch(self: &Arc<Self>, conn: &lapin::Connection) {
        let me = Arc::downgrade(self);
        let mut events: Pin<Box<dyn Stream<Item = lapin::Event> + Send>> =
            Box::pin(conn.events_listener());
        tokio::spawn(async move {
            while let Some(event) = std::future::poll_fn(|cx| events.as_mut().poll_next(cx)).await {
                if let lapin::Event::Error(e) = event {
                    let Some(inner) = me.upgrade() else { return };
                    if inner.closed.load(Ordering::SeqCst) {
                        return;
                    }
                    tracing::warn!(error = %e, "AMQP connection failed; recovering");
                    let _ = inner.recover().await;
                    return;
                }
            }
        });
    }

    pub(super) fn record(&self, f: impl FnOnce(&mut Topology)) {
        f(&mut lock(&self.topology));
    }

    pub(super) fn options(&self) -> &AmqpOptions {
        &self.options
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// A connection to RabbitMQ (or another AMQP 0-9-1 broker).
pub struct AmqpTransport {
    inner: Arc<ConnInner>,
}

impl std::fmt::Debug for AmqpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpTransport")
            .field("urls", &self.inner.urls)
            .finish_non_exhaustive()
    }
}

impl AmqpTransport {
    /// Connect to the first URL that answers; the others stay as failover alternates for
    /// recovery.
    pub async fn connect(urls: &[BrokerUrl], options: AmqpOptions) -> Result<Self> {
        let mut last = None;
        for (i, url) in urls.iter().enumerate() {
            match connect_one(url, &options).await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    // Recovery starts from the URL that worked, then tries the others in order.
                    let mut ordered = urls.to_vec();
                    ordered.rotate_left(i);
                    let inner = Arc::new(ConnInner {
                        urls: ordered,
                        options,
                        current: Mutex::new(Some(Arc::clone(&conn))),
                        current_url: Mutex::new(url.clone()),
                        generation: AtomicU64::new(0),
                        recovering: tokio::sync::Mutex::new(()),
                        topology: Mutex::default(),
                        channels: Mutex::default(),
                        closed: AtomicBool::new(false),
                        last_failure: Mutex::new(None),
                    });
                    inner.watch(&conn);
                    return Ok(AmqpTransport { inner });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid_url("no broker URL given")))
    }
}

#[async_trait]
impl Transport for AmqpTransport {
    async fn open_channel(&self) -> Result<Arc<dyn TransportChannel>> {
        let channel = AmqpChannel::open(Arc::clone(&self.inner)).await?;
        lock(&self.inner.channels).retain(|w| w.strong_count() > 0);
        lock(&self.inner.channels).push(Arc::downgrade(&channel));
        Ok(channel)
    }

    async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.settle_and_close().await
    }

    fn is_open(&self) -> bool {
        !self.inner.closed.load(Ordering::SeqCst)
    }

    fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    fn connected_url(&self) -> Option<BrokerUrl> {
        Some(lock(&self.inner.current_url).clone())
    }
}

impl Drop for AmqpTransport {
    fn drop(&mut self) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // The same as `close`, in the background: it can only run while the runtime does (a
        // program that returns from `main` right after the drop may end before it has).
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let inner = Arc::clone(&self.inner);
            handle.spawn(async move {
                let _ = inner.settle_and_close().await;
            });
        }
    }
}

impl ConnInner {
    /// Send every channel's queued acks, wait for outstanding confirms, then close.
    async fn settle_and_close(&self) -> Result<()> {
        let channels: Vec<Arc<AmqpChannel>> = lock(&self.channels)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for channel in channels {
            channel.settle().await;
        }
        let conn = lock(&self.current).take();
        if let Some(conn) = conn {
            if conn.status().connected() {
                conn.close(200, "OK".into())
                    .await
                    .map_err(|e| error("closing the connection", e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_carries_url_options_over_transport_defaults() {
        let options = AmqpOptions::default().heartbeat(Duration::from_secs(30));
        let url = BrokerUrl::parse("amqp://u:p%40ss@rabbit:5673/prod?frame_max=131072").unwrap();
        let u = uri(&url, &options);
        assert_eq!(u.query.heartbeat, Some(30), "from the options");
        assert_eq!(u.query.frame_max, Some(131072));
        assert_eq!(u.authority.userinfo.password, "p@ss");
        assert_eq!(
            (u.authority.host.as_str(), u.authority.port),
            ("rabbit", 5673)
        );
        assert_eq!(u.vhost, "prod");
        let url = BrokerUrl::parse("amqps://h/?heartbeat=5&connection_timeout=2").unwrap();
        let u = uri(&url, &options);
        assert_eq!(u.query.heartbeat, Some(5), "the URL wins");
        assert_eq!(u.query.connection_timeout, Some(2000));
        assert_eq!(u.scheme, AMQPScheme::AMQPS);
        assert_eq!(u.vhost, "/");
    }
}
