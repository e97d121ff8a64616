//! A STOMP 1.2 client connection on tokio: the handshake, heart-beats both ways, receipts,
//! subscriptions and acknowledgements. The transport maps kombu's model onto it.
//!
//! One task reads: frames go to their subscription (by the `subscription` header), receipts
//! to whoever waits for them, and an `ERROR` frame (which the server sends before it closes
//! the connection) fails everything pending with the server's message. One task writes: frames
//! queue for it in order (so acknowledgements can be sent without waiting), it sends a
//! heart-beat when the line has been quiet, and it notices a silent server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

use super::frame::{encode, Command, Decoder, Frame, Item, Limits};
use crate::sync::lock;
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

/// Why a frame failed: the kind of error it is and what the server or the session said.
type Failure = (ErrorKind, String);

type Waiters = HashMap<String, oneshot::Sender<std::result::Result<(), Failure>>>;

#[derive(Default)]
struct Shared {
    subscriptions: Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>,
    receipts: Mutex<Waiters>,
    /// Woken whenever a receipt is settled, for [`Client::disconnect`] waiting for the rest.
    receipt_settled: tokio::sync::Notify,
    failure: Mutex<Option<String>>,
    closed: AtomicBool,
}

/// Subscription and receipt ids are unique in the process, so an id of one session can never
/// name something of another.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Shared {
    /// Records why the connection ended and fails everything waiting with a connection error.
    fn fail(&self, why: String) {
        self.fail_with(ErrorKind::Connection, why, None);
    }

    /// Like [`Shared::fail`], for the server's ERROR, whose kind is `kind`: when it names the
    /// frame it refuses (its `receipt-id`), only that frame's receipt gets the refusal, and the
    /// others learn that the session ended (a connection error).
    fn fail_with(&self, kind: ErrorKind, why: String, refused: Option<&str>) {
        self.closed.store(true, Ordering::SeqCst);
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            *failure = Some(why.clone());
        }
        drop(failure);
        for (id, w) in lock(&self.receipts).drain() {
            let failure = match refused {
                Some(r) if r != id => (
                    ErrorKind::Connection,
                    format!("the STOMP session ended when the server refused another frame: {why}"),
                ),
                _ => (kind, why.clone()),
            };
            let _ = w.send(Err(failure));
        }
        self.receipt_settled.notify_waiters();
        lock(&self.subscriptions).clear();
    }

    fn error(&self) -> Error {
        let why = lock(&self.failure)
            .clone()
            .unwrap_or_else(|| "the STOMP connection is closed".to_owned());
        Error::new(ErrorKind::Connection, why)
    }
}

/// A RECEIPT still to come (see [`Client::send_for_receipt`]).
#[derive(Debug)]
pub struct Receipt {
    id: String,
    rx: oneshot::Receiver<std::result::Result<(), Failure>>,
    shared: Arc<Shared>,
    timeout: Duration,
}

impl Receipt {
    /// Waits for the RECEIPT; the server's ERROR or a lost connection is an error.
    pub async fn wait(self) -> Result<()> {
        match tokio::time::timeout(self.timeout, self.rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err((kind, why)))) => Err(Error::new(kind, why)),
            Ok(Err(_)) => Err(self.shared.error()),
            Err(_) => {
                lock(&self.shared.receipts).remove(&self.id);
                Err(Error::new(
                    ErrorKind::Timeout,
                    "no RECEIPT from the STOMP server in time",
                ))
            }
        }
    }
}

/// The AMQP reply code of the event an ERROR frame from RabbitMQ reports. The STOMP plugin
/// is an AMQP client inside the broker: a refusal names the AMQP error in its `message`
/// header (`not_found`), and a closed connection or channel carries the AMQP close in its
/// body (`{server_initiated_close,320,...}` when the broker closed an idle connection;
/// `Processing error` for each frame in flight when it closed a busy one).
fn reply_code(frame: &Frame) -> Option<u16> {
    let body = String::from_utf8_lossy(&frame.body);
    if let Some((_, rest)) = body.split_once("server_initiated_close,") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(code) = digits.parse() {
            return Some(code);
        }
    }
    if body.contains("connection_closing") {
        return Some(320);
    }
    Some(match frame.header("message")? {
        "not_found" => 404,
        "access_refused" => 403,
        "resource_locked" => 405,
        "precondition_failed" => 406,
        "not_allowed" => 530,
        // What RabbitMQ answers to every frame in flight when the broker closes the connection
        // under them (the frames were not at fault): AMQP's 541 internal-error, a connection
        // error.
        "Processing error" => 541,
        // The handshake: a virtual host that is missing or not allowed (AMQP's 530 at
        // connection.open), or a login refused (AMQP's 403 at connection.start-ok).
        "Bad CONNECT" if body.contains("Virtual host") => 530,
        "Bad CONNECT"
            if ["Access refused", "login", "credentials", "Authentication"]
                .iter()
                .any(|word| body.contains(word)) =>
        {
            403
        }
        _ => return None,
    })
}

/// The kind of an ERROR frame: what its AMQP equivalent is (the same mapping the AMQP
/// transport uses, so the same event is the same kind on both), else `otherwise`.
fn kind_of_error(frame: &Frame, otherwise: ErrorKind) -> ErrorKind {
    reply_code(frame).map_or(otherwise, ErrorKind::of_reply_code)
}

/// A connected STOMP session.
pub struct Client {
    writer: mpsc::UnboundedSender<Vec<u8>>,
    shared: Arc<Shared>,
    server: String,
    timeout: Duration,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
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

/// How [`error_text`] starts.
const REFUSED: &str = "the STOMP server refused";

/// The server's reason in an ERROR frame: its `message` header and body.
fn error_text(frame: &Frame) -> String {
    let message = frame.header("message").unwrap_or("error");
    let body = String::from_utf8_lossy(&frame.body);
    let body = body.trim();
    if body.is_empty() {
        format!("{REFUSED}: {message}")
    } else {
        format!("{REFUSED}: {message} ({body})")
    }
}

impl Client {
    /// Connects, authenticates and negotiates heart-beats.
    pub async fn connect(options: &ConnectOptions) -> Result<Client> {
        // CONNECT headers are not escaped (STOMP 1.0 compatibility): a line break would end
        // the header early and start another, and a NUL would end the frame.
        for (what, value) in [
            ("login", &options.login),
            ("passcode", &options.passcode),
            ("virtual host", &options.vhost),
        ] {
            if value.contains(['\n', '\r', '\0']) {
                return Err(Error::invalid_url(format!(
                    "the STOMP {what} holds a line break or NUL, which a CONNECT frame cannot carry"
                )));
            }
        }
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
        let mut decoder = Decoder::new(options.limits);
        let connected = tokio::time::timeout(options.timeout, async {
            loop {
                match decoder.next_item()? {
                    Some(Item::Frame(f)) => return Ok(f),
                    Some(Item::Heartbeat) => {}
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
                        decoder.push(&chunk[..n]);
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
                let kind = kind_of_error(&connected, ErrorKind::Connection);
                return Err(Error::new(kind, error_text(&connected)));
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
        let (queue, outgoing) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(read_loop(
                reader,
                decoder,
                Arc::clone(&shared),
                queue.clone(),
                expect_every,
            )),
            tokio::spawn(write_loop(
                writer,
                outgoing,
                Arc::clone(&shared),
                send_every,
                options.timeout,
            )),
        ];
        Ok(Client {
            writer: queue,
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

    /// A fresh identifier for subscriptions and receipts, unique in the process.
    pub fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", NEXT_ID.fetch_add(1, Ordering::SeqCst))
    }

    /// Ends the session at once, without DISCONNECT: the socket closes, the server returns
    /// what was not acknowledged, and everything waiting fails with `why`.
    pub fn abort(&self, why: String) {
        self.shared.fail(why);
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Queues a frame for the writer without waiting: frames go out in the order they were
    /// queued. An error only when the session is already known to be over.
    pub fn send_now(&self, frame: &Frame) -> Result<()> {
        if !self.is_open() {
            return Err(self.shared.error());
        }
        let mut out = Vec::new();
        encode(frame, &mut out);
        self.writer.send(out).map_err(|_| self.shared.error())
    }

    /// Sends a frame.
    pub async fn send(&self, frame: &Frame) -> Result<()> {
        self.send_now(frame)
    }

    /// Sends a frame with a `receipt` header and returns the wait for the server's RECEIPT
    /// (the frame was processed) or ERROR, so several can be in flight at once.
    pub fn send_for_receipt(&self, frame: Frame) -> Result<Receipt> {
        let id = self.next_id("receipt");
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.receipts).insert(id.clone(), tx);
        if let Err(e) = self.send_now(&frame.header_pair("receipt", id.clone())) {
            lock(&self.shared.receipts).remove(&id);
            return Err(e);
        }
        Ok(Receipt {
            id,
            rx,
            shared: Arc::clone(&self.shared),
            timeout: self.timeout,
        })
    }

    /// Sends a frame with a `receipt` header and waits for the server's RECEIPT: the frame was
    /// processed (or the server's ERROR, as an error).
    pub async fn send_with_receipt(&self, frame: Frame) -> Result<()> {
        self.send_for_receipt(frame)?.wait().await
    }

    /// Subscribes to `destination` with the given extra headers (`client-individual`
    /// acknowledgements unless they set `ack`); MESSAGE frames arrive on the returned receiver.
    /// An ERROR frame on it means the server cancelled the subscription (its queue was
    /// deleted); nothing follows it, and the session goes on.
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
            .header_pair("destination", destination);
        if !headers.iter().any(|(name, _)| name == "ack") {
            frame = frame.header_pair("ack", "client-individual");
        }
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

    /// Acknowledges a MESSAGE by its `ack` header (queued, not awaited).
    pub fn ack(&self, ack_id: &str) -> Result<()> {
        self.send_now(&Frame::new(Command::Ack).header_pair("id", ack_id))
    }

    /// Refuses a MESSAGE by its `ack` header (RabbitMQ requeues it unless `requeue:false`;
    /// queued, not awaited).
    pub fn nack(&self, ack_id: &str, requeue: bool) -> Result<()> {
        self.send_now(
            &Frame::new(Command::Nack)
                .header_pair("id", ack_id)
                .header_pair("requeue", requeue.to_string()),
        )
    }

    /// Says goodbye (waiting for the receipt, so nothing sent before is lost) and closes.
    pub async fn disconnect(&self) -> Result<()> {
        // RabbitMQ answers a SEND's receipt once the message is safely routed, but DISCONNECT's
        // at once, and then closes: wait for the receipts still to come (bounded) first, so
        // their publishers learn the outcome.
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let settled = self.shared.receipt_settled.notified();
            if lock(&self.shared.receipts).is_empty() || !self.is_open() {
                break;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                break;
            }
        }
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

/// Reads and dispatches frames until the session ends; then wakes the writer so it ends too
/// and the socket closes (a peer that broke the protocol is not listened to any more).
async fn read_loop(
    reader: tokio::net::tcp::OwnedReadHalf,
    decoder: Decoder,
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    expect_every: Option<Duration>,
) {
    let why = read_until_done(reader, decoder, &shared, &writer, expect_every).await;
    shared.fail(why);
    // An empty write: the writer wakes, sees the session closed, and drops its half.
    let _ = writer.send(Vec::new());
}

/// Reads until the connection ends or breaks the protocol, and says why.
async fn read_until_done(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut decoder: Decoder,
    shared: &Shared,
    writer: &mpsc::UnboundedSender<Vec<u8>>,
    expect_every: Option<Duration>,
) -> String {
    // The spec allows some tolerance: two heart-beat periods of silence end the session.
    let patience = expect_every.map(|every| every.saturating_mul(2));
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        loop {
            match decoder.next_item() {
                Ok(Some(Item::Frame(frame))) => dispatch(shared, writer, frame),
                Ok(Some(Item::Heartbeat)) => {}
                Ok(None) => break,
                Err(e) => return format!("the STOMP server broke the protocol: {e}"),
            }
        }
        let read = match patience {
            Some(limit) => match tokio::time::timeout(limit, reader.read(&mut chunk)).await {
                Ok(read) => read,
                Err(_) => {
                    return format!(
                        "no heart-beat from the STOMP server for {} ms",
                        millis(limit)
                    )
                }
            },
            None => reader.read(&mut chunk).await,
        };
        match read {
            Ok(0) => return "the STOMP server closed the connection".to_owned(),
            Ok(n) => decoder.push(&chunk[..n]),
            Err(e) => return format!("STOMP read: {e}"),
        }
    }
}

/// Routes a frame from the server. A MESSAGE no subscription takes any more (it was
/// unsubscribed, or its receiver is gone) goes back to its queue.
fn dispatch(shared: &Shared, writer: &mpsc::UnboundedSender<Vec<u8>>, frame: Frame) {
    match frame.command {
        Command::Message => {
            let sub = frame.header("subscription").unwrap_or_default().to_owned();
            let refused = {
                let subs = lock(&shared.subscriptions);
                match subs.get(&sub) {
                    Some(tx) => tx.send(frame).err().map(|e| e.0),
                    None => Some(frame),
                }
            };
            if let Some(ack) = refused.as_ref().and_then(|f| f.header("ack")) {
                let mut out = Vec::new();
                encode(
                    &Frame::new(Command::Nack)
                        .header_pair("id", ack)
                        .header_pair("requeue", "true"),
                    &mut out,
                );
                let _ = writer.send(out);
            }
        }
        Command::Receipt => {
            let id = frame.header("receipt-id").unwrap_or_default().to_owned();
            if let Some(w) = lock(&shared.receipts).remove(&id) {
                let _ = w.send(Ok(()));
            }
            shared.receipt_settled.notify_waiters();
        }
        Command::Error => {
            // An ERROR naming a subscription and no frame of ours is how RabbitMQ ends one
            // subscription when its queue is deleted (AMQP's basic.cancel from the broker):
            // the subscription hears it, and the session goes on.
            let cancelled = frame
                .header("subscription")
                .filter(|_| frame.header("receipt-id").is_none())
                .map(str::to_owned);
            // RabbitMQ sends "Subscription not found" (and carries on) for a message it was
            // still delivering when our UNSUBSCRIBE went through; the message stays
            // unacknowledged on its side and goes back to its queue when the session closes.
            if frame.header("receipt-id").is_none()
                && frame.header("message") == Some("Subscription not found")
            {
                tracing::debug!(
                    detail = %String::from_utf8_lossy(&frame.body),
                    "a message arrived for a subscription already ended; the broker requeues it when the session closes"
                );
                return;
            }
            match cancelled {
                Some(sub) => {
                    if let Some(tx) = lock(&shared.subscriptions).remove(&sub) {
                        let _ = tx.send(frame);
                    }
                }
                None => shared.fail_with(
                    kind_of_error(&frame, ErrorKind::Channel),
                    error_text(&frame),
                    frame.header("receipt-id"),
                ),
            }
        }
        _ => {}
    }
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    shared: Arc<Shared>,
    send_every: Option<Duration>,
    write_timeout: Duration,
) {
    // Wake at least this often to send heart-beats.
    let tick = send_every
        .map(|d| d / 2)
        .unwrap_or(Duration::from_secs(3600));
    let mut last_sent = Instant::now();
    let mut batch = Vec::new();
    loop {
        let next = tokio::time::timeout(tick, outgoing.recv()).await;
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        match next {
            Ok(Some(bytes)) => {
                // Write what has queued up meanwhile in one go.
                batch.clear();
                batch.extend_from_slice(&bytes);
                loop {
                    match outgoing.try_recv() {
                        Ok(more) if batch.len() < 256 * 1024 => batch.extend_from_slice(&more),
                        Ok(more) => {
                            if write(&mut writer, &shared, &batch, write_timeout)
                                .await
                                .is_err()
                            {
                                return;
                            }
                            batch.clear();
                            batch.extend_from_slice(&more);
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                if write(&mut writer, &shared, &batch, write_timeout)
                    .await
                    .is_err()
                {
                    return;
                }
                last_sent = Instant::now();
            }
            // Every sender is gone: the client was dropped.
            Ok(None) => return,
            Err(_) => {}
        }
        if let Some(every) = send_every {
            if last_sent.elapsed() >= every / 2 {
                if write(&mut writer, &shared, b"\n", write_timeout)
                    .await
                    .is_err()
                {
                    return;
                }
                last_sent = Instant::now();
            }
        }
    }
}

/// Writes `bytes`; a failure, or a peer that takes nothing for `limit` (a half-open
/// connection), ends the session.
async fn write(
    writer: &mut OwnedWriteHalf,
    shared: &Shared,
    bytes: &[u8],
    limit: Duration,
) -> std::result::Result<(), ()> {
    let mut written = 0;
    while written < bytes.len() {
        let why = match tokio::time::timeout(limit, writer.write(&bytes[written..])).await {
            Ok(Ok(0)) => "STOMP write: the connection is closed".to_owned(),
            Ok(Ok(n)) => {
                written += n;
                continue;
            }
            Ok(Err(e)) => format!("STOMP write: {e}"),
            Err(_) => format!(
                "STOMP write: the server took nothing for {} ms",
                millis(limit)
            ),
        };
        shared.fail(why);
        return Err(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(message: &str, body: &str) -> Frame {
        Frame::new(Command::Error)
            .header_pair("message", message)
            .with_body(body.as_bytes().to_vec())
    }

    /// The ERROR frames RabbitMQ 3.10's STOMP plugin sends, each with the kind the same event
    /// has on AMQP.
    #[test]
    fn rabbitmq_error_frames_get_the_kind_of_their_amqp_event() {
        let cases = [
            // The broker closed an idle connection (management UI, rabbitmqctl).
            (
                error(
                    "AMQP channel died",
                    "Reason: {shutdown,\n {connection_closing,\n {server_initiated_close,320,\"bye\"}}}",
                ),
                ErrorKind::Connection,
            ),
            // ... or a busy one: every frame in flight gets this.
            (
                error("Processing error", "Processing error"),
                ErrorKind::Connection,
            ),
            (
                error("Bad CONNECT", "Virtual host '/nope' access denied"),
                ErrorKind::Connection,
            ),
            (
                error("Bad CONNECT", "Access refused for user 'guest'\n"),
                ErrorKind::AccessRefused,
            ),
            (
                error("not_found", "NOT_FOUND - no queue 'q' in vhost '/'"),
                ErrorKind::NotFound,
            ),
            (
                error("access_refused", "ACCESS_REFUSED - ..."),
                ErrorKind::AccessRefused,
            ),
            (
                error("resource_locked", "RESOURCE_LOCKED - ..."),
                ErrorKind::AccessRefused,
            ),
            (
                error("precondition_failed", "PRECONDITION_FAILED - ..."),
                ErrorKind::PreconditionFailed,
            ),
            (
                error("Invalid destination", "'/nowhere' is not a valid destination"),
                ErrorKind::Channel,
            ),
        ];
        for (frame, kind) in cases {
            assert_eq!(
                kind_of_error(&frame, ErrorKind::Channel),
                kind,
                "{}",
                error_text(&frame)
            );
        }
    }
}
