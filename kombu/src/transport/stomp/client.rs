//! A STOMP 1.2 client connection on tokio: the handshake, heart-beats both ways, receipts,
//! subscriptions and acknowledgements. The transport maps kombu's model onto it.
//!
//! One task reads: frames go to their subscription (by the `subscription` header), receipts
//! to whoever waits for them, and an `ERROR` frame (which the server sends before it closes
//! the connection) fails everything pending with the server's message. One task writes
//! heart-beats and notices a silent server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::frame::{decode, encode, Command, Frame, Item, Limits};
use crate::{Error, ErrorKind, Result};

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `host:port`.
    pub address: String,
    /// The virtual host (sent as `host`).
    pub vhost: String,
    /// User name.
    pub login: String,
    /// Password.
    pub passcode: String,
    /// Heart-beats we offer to send and want to receive (0 = none).
    pub heartbeat: (Duration, Duration),
    /// How long to wait for the handshake and for receipts.
    pub timeout: Duration,
    /// Frame limits for what the server sends.
    pub limits: Limits,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            address: "127.0.0.1:61613".to_owned(),
            vhost: "/".to_owned(),
            login: "guest".to_owned(),
            passcode: "guest".to_owned(),
            heartbeat: (Duration::from_secs(10), Duration::from_secs(10)),
            timeout: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

type Waiters = HashMap<String, oneshot::Sender<std::result::Result<(), String>>>;

#[derive(Default)]
struct Shared {
    subscriptions: Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>,
    receipts: Mutex<Waiters>,
    failure: Mutex<Option<String>>,
    closed: AtomicBool,
    last_read_ms: AtomicU64,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Records why the connection ended and fails everything waiting.
    fn fail(&self, why: String) {
        self.closed.store(true, Ordering::SeqCst);
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            *failure = Some(why.clone());
        }
        drop(failure);
        for (_, w) in lock(&self.receipts).drain() {
            let _ = w.send(Err(why.clone()));
        }
        lock(&self.subscriptions).clear();
    }

    fn error(&self) -> Error {
        let why = lock(&self.failure)
            .clone()
            .unwrap_or_else(|| "the STOMP connection is closed".to_owned());
        Error::new(ErrorKind::Connection, why)
    }
}

/// A connected STOMP session.
pub struct Client {
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    shared: Arc<Shared>,
    server: String,
    timeout: Duration,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .finish()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The server's reason in an ERROR frame: its `message` header and body.
fn error_text(frame: &Frame) -> String {
    let message = frame.header("message").unwrap_or("error");
    let body = String::from_utf8_lossy(&frame.body);
    let body = body.trim();
    if body.is_empty() {
        format!("the STOMP server refused: {message}")
    } else {
        format!("the STOMP server refused: {message} ({body})")
    }
}

impl Client {
    /// Connects, authenticates and negotiates heart-beats.
    pub async fn connect(options: &ConnectOptions) -> Result<Client> {
        let stream = tokio::time::timeout(options.timeout, TcpStream::connect(&options.address))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Timeout,
                    format!("STOMP connect to {}: timed out", options.address),
                )
            })?
            .map_err(|e| {
                Error::new(
                    ErrorKind::Connection,
                    format!("STOMP connect to {}: {e}", options.address),
                )
            })?;
        let (mut reader, mut writer) = stream.into_split();
        let (cx, cy) = (millis(options.heartbeat.0), millis(options.heartbeat.1));
        let connect = Frame::new(Command::Connect)
            .header_pair("accept-version", "1.2")
            .header_pair("host", options.vhost.clone())
            .header_pair("login", options.login.clone())
            .header_pair("passcode", options.passcode.clone())
            .header_pair("heart-beat", format!("{cx},{cy}"));
        let mut out = Vec::new();
        encode(&connect, &mut out);
        writer
            .write_all(&out)
            .await
            .map_err(|e| Error::new(ErrorKind::Connection, format!("STOMP CONNECT: {e}")))?;
        let mut buf = Vec::new();
        let connected = tokio::time::timeout(options.timeout, async {
            loop {
                match decode(&buf, &options.limits)? {
                    Some((Item::Frame(f), used)) => {
                        buf.drain(..used);
                        return Ok(f);
                    }
                    Some((Item::Heartbeat, used)) => {
                        buf.drain(..used);
                    }
                    None => {
                        let mut chunk = [0u8; 4096];
                        let n = reader.read(&mut chunk).await.map_err(|e| {
                            Error::new(ErrorKind::Connection, format!("STOMP handshake: {e}"))
                        })?;
                        if n == 0 {
                            return Err(Error::new(
                                ErrorKind::Connection,
                                "the STOMP server closed the connection during the handshake",
                            ));
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        })
        .await
        .map_err(|_| {
            Error::new(
                ErrorKind::Timeout,
                "STOMP handshake: no CONNECTED frame in time",
            )
        })??;
        match connected.command {
            Command::Connected => {}
            Command::Error => {
                let text = error_text(&connected);
                let kind = if text.contains("login")
                    || text.contains("Access refused")
                    || text.contains("credentials")
                {
                    ErrorKind::AccessRefused
                } else {
                    ErrorKind::Connection
                };
                return Err(Error::new(kind, text));
            }
            other => {
                return Err(Error::new(
                    ErrorKind::Connection,
                    format!("STOMP handshake: expected CONNECTED, got {other}"),
                ))
            }
        }
        if connected.header("version") != Some("1.2") {
            return Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "the STOMP server speaks version {:?}, not 1.2",
                    connected.header("version")
                ),
            ));
        }
        let (sx, sy) = connected
            .header("heart-beat")
            .and_then(|h| h.split_once(','))
            .map(|(a, b)| {
                (
                    a.trim().parse::<u64>().unwrap_or(0),
                    b.trim().parse::<u64>().unwrap_or(0),
                )
            })
            .unwrap_or((0, 0));
        // We send every max(cx, sy); we expect to hear from the server every max(sx, cy).
        let send_every = (cx > 0 && sy > 0).then(|| Duration::from_millis(cx.max(sy)));
        let expect_every = (sx > 0 && cy > 0).then(|| Duration::from_millis(sx.max(cy)));
        let shared = Arc::new(Shared::default());
        let started = Instant::now();
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(read_loop(
            reader,
            buf,
            Arc::clone(&shared),
            options.limits,
            started,
        )));
        if send_every.is_some() || expect_every.is_some() {
            tasks.push(tokio::spawn(heartbeat_loop(
                Arc::clone(&writer),
                Arc::clone(&shared),
                send_every,
                expect_every,
                started,
            )));
        }
        Ok(Client {
            writer,
            shared,
            server: connected.header("server").unwrap_or("STOMP").to_owned(),
            timeout: options.timeout,
            tasks,
        })
    }

    /// What the server says it is (`RabbitMQ/3.10.8`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether the session is still usable.
    pub fn is_open(&self) -> bool {
        !self.shared.closed.load(Ordering::SeqCst)
    }

    /// A fresh identifier for subscriptions and receipts.
    pub fn next_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            self.shared.next_id.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Sends a frame.
    pub async fn send(&self, frame: &Frame) -> Result<()> {
        if !self.is_open() {
            return Err(self.shared.error());
        }
        let mut out = Vec::new();
        encode(frame, &mut out);
        let mut w = self.writer.lock().await;
        w.write_all(&out).await.map_err(|e| {
            self.shared.fail(format!("STOMP write: {e}"));
            self.shared.error()
        })
    }

    /// Sends a frame with a `receipt` header and waits for the server's RECEIPT: the frame was
    /// processed (or the server's ERROR, as an error).
    pub async fn send_with_receipt(&self, frame: Frame) -> Result<()> {
        let id = self.next_id("receipt");
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.receipts).insert(id.clone(), tx);
        self.send(&frame.header_pair("receipt", id.clone())).await?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(why))) => Err(Error::new(ErrorKind::Channel, why)),
            Ok(Err(_)) => Err(self.shared.error()),
            Err(_) => {
                lock(&self.shared.receipts).remove(&id);
                Err(Error::new(
                    ErrorKind::Timeout,
                    "no RECEIPT from the STOMP server in time",
                ))
            }
        }
    }

    /// Subscribes to `destination` with `client-individual` acknowledgements and the given
    /// extra headers; MESSAGE frames arrive on the returned receiver.
    pub async fn subscribe(
        &self,
        destination: &str,
        headers: &[(String, String)],
    ) -> Result<(String, mpsc::UnboundedReceiver<Frame>)> {
        let id = self.next_id("sub");
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.subscriptions).insert(id.clone(), tx);
        let mut frame = Frame::new(Command::Subscribe)
            .header_pair("id", id.clone())
            .header_pair("destination", destination)
            .header_pair("ack", "client-individual");
        frame.headers.extend(headers.iter().cloned());
        if let Err(e) = self.send_with_receipt(frame).await {
            lock(&self.shared.subscriptions).remove(&id);
            return Err(e);
        }
        Ok((id, rx))
    }

    /// Ends a subscription.
    pub async fn unsubscribe(&self, id: &str) -> Result<()> {
        lock(&self.shared.subscriptions).remove(id);
        self.send_with_receipt(Frame::new(Command::Unsubscribe).header_pair("id", id))
            .await
    }

    /// Acknowledges a MESSAGE by its `ack` header.
    pub async fn ack(&self, ack_id: &str) -> Result<()> {
        self.send(&Frame::new(Command::Ack).header_pair("id", ack_id))
            .await
    }

    /// Refuses a MESSAGE by its `ack` header (RabbitMQ requeues it unless `requeue:false`).
    pub async fn nack(&self, ack_id: &str, requeue: bool) -> Result<()> {
        self.send(
            &Frame::new(Command::Nack)
                .header_pair("id", ack_id)
                .header_pair("requeue", requeue.to_string()),
        )
        .await
    }

    /// Says goodbye (waiting for the receipt, so nothing sent before is lost) and closes.
    pub async fn disconnect(&self) -> Result<()> {
        if self.is_open() {
            let result = self
                .send_with_receipt(Frame::new(Command::Disconnect))
                .await;
            self.shared
                .fail("the STOMP connection was closed".to_owned());
            result?;
        }
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn read_loop(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut buf: Vec<u8>,
    shared: Arc<Shared>,
    limits: Limits,
    started: Instant,
) {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        loop {
            match decode(&buf, &limits) {
                Ok(Some((item, used))) => {
                    buf.drain(..used);
                    shared
                        .last_read_ms
                        .store(millis(started.elapsed()), Ordering::SeqCst);
                    if let Item::Frame(frame) = item {
                        dispatch(&shared, frame);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.fail(e.to_string());
                    return;
                }
            }
        }
        match reader.read(&mut chunk).await {
            Ok(0) => {
                shared.fail("the STOMP server closed the connection".to_owned());
                return;
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                shared
                    .last_read_ms
                    .store(millis(started.elapsed()), Ordering::SeqCst);
            }
            Err(e) => {
                shared.fail(format!("STOMP read: {e}"));
                return;
            }
        }
    }
}

fn dispatch(shared: &Shared, frame: Frame) {
    match frame.command {
        Command::Message => {
            let sub = frame.header("subscription").unwrap_or_default().to_owned();
            let subs = lock(&shared.subscriptions);
            if let Some(tx) = subs.get(&sub) {
                let _ = tx.send(frame);
            }
        }
        Command::Receipt => {
            let id = frame.header("receipt-id").unwrap_or_default().to_owned();
            if let Some(w) = lock(&shared.receipts).remove(&id) {
                let _ = w.send(Ok(()));
            }
        }
        Command::Error => shared.fail(error_text(&frame)),
        _ => {}
    }
}

async fn heartbeat_loop(
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    shared: Arc<Shared>,
    send_every: Option<Duration>,
    expect_every: Option<Duration>,
    started: Instant,
) {
    let tick = [send_every, expect_every]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Duration::from_secs(10))
        / 2;
    let mut last_sent = Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Some(every) = send_every {
            if last_sent.elapsed() >= every / 2 {
                let mut w = writer.lock().await;
                if w.write_all(b"\n").await.is_err() {
                    shared.fail("STOMP heart-beat: the connection is gone".to_owned());
                    return;
                }
                last_sent = Instant::now();
            }
        }
        if let Some(every) = expect_every {
            // The spec allows some tolerance: two periods of silence end the session.
            let silent = millis(started.elapsed())
                .saturating_sub(shared.last_read_ms.load(Ordering::SeqCst));
            if silent > millis(every) * 2 {
                shared.fail(format!(
                    "no heart-beat from the STOMP server for {silent} ms"
                ));
                return;
            }
        }
    }
}
