//! Helpers shared by the behaviour suite.
//!
//! Every test gets its broker from [`url`] and names its exchanges and queues with [`name`], so
//! the same tests run unchanged on the in-memory broker (the default: one isolated broker per
//! test) and, later, on a shared RabbitMQ (`KOMBU_TEST_TRANSPORT=amqp`, optionally with
//! `KOMBU_TEST_AMQP_URL`), where the names keep tests and runs from colliding.
//!
//! Tests never assert on timing. They wait for outcomes with generous deadlines ([`WAIT`]), and
//! they prove that something did *not* reach a queue with a marker ([`drain_until_marker`]):
//! a message published after the one under test, on the same channel, which a broker places
//! behind it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kombu::serialization::{Accept, Registry};

pub(crate) mod stomp;
use kombu::{BoundQueue, Channel, Connection, Message, Producer, Queue, Value};

/// How long a test waits for something that should happen. Generous on purpose: it bounds a
/// failing test, it is not a performance expectation.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// How long a test listens before concluding that nothing (more) is coming. Only used where a
/// marker cannot prove absence (a consumer held back by its prefetch window).
pub(crate) const QUIET: Duration = Duration::from_millis(300);

/// A short TTL for expiry tests.
pub(crate) const TTL: Duration = Duration::from_millis(100);

/// The header that marks the messages [`drain_until_marker`] publishes.
const MARKER: &str = "x-kombu-test-marker";

/// A token unique to this test process, so names never collide across runs on a shared broker.
/// `scripts/test-suite.py` gives one in `KOMBU_TEST_RUN_ID` and, once the binary has run,
/// deletes the queues and exchanges whose names hold it.
pub(crate) fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        if let Ok(id) = std::env::var("KOMBU_TEST_RUN_ID") {
            if !id.is_empty() {
                return id;
            }
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{:x}{:x}", std::process::id(), nanos % (1 << 40))
    })
}

/// The name of the test function this is expanded in, to key its broker and entity names.
macro_rules! test_name {
    () => {{
        fn here() {}
        let path = std::any::type_name_of_val(&here);
        path.split("::")
            .filter(|part| *part != "here" && *part != "{{closure}}")
            .last()
            .unwrap_or(path)
    }};
}
pub(crate) use test_name;

/// Which transport the suite runs on: `memory` (default), `amqp` or `stomp` (see [`stomp`]).
pub(crate) fn transport() -> String {
    std::env::var("KOMBU_TEST_TRANSPORT").unwrap_or_else(|_| "memory".to_owned())
}

/// Whether the suite runs on STOMP.
pub(crate) fn is_stomp() -> bool {
    transport() == "stomp"
}

/// The delivery mode a transient message arrives with. On STOMP, RabbitMQ turns
/// `persistent:false` into no delivery mode at all, which AMQP reads as transient.
pub(crate) fn transient() -> Option<kombu::DeliveryMode> {
    if is_stomp() {
        None
    } else {
        Some(kombu::DeliveryMode::Transient)
    }
}

/// A header value as it arrives. STOMP headers are text, so on STOMP a number or a boolean
/// arrives as its text.
pub(crate) fn arrived(value: kombu::FieldValue) -> kombu::FieldValue {
    use kombu::FieldValue as V;
    if !is_stomp() {
        return value;
    }
    match value {
        V::Bool(b) => V::String(b.to_string()),
        V::I8(v) => V::String(v.to_string()),
        V::U8(v) => V::String(v.to_string()),
        V::I16(v) => V::String(v.to_string()),
        V::U16(v) => V::String(v.to_string()),
        V::I32(v) => V::String(v.to_string()),
        V::U32(v) => V::String(v.to_string()),
        V::I64(v) => V::String(v.to_string()),
        other => other,
    }
}

/// Whether the suite runs on the in-memory broker.
pub(crate) fn is_memory() -> bool {
    transport() == "memory"
}

/// The prefix of names given to queues declared without one: the broker's `amq.gen-` on the
/// in-memory broker (which answers as RabbitMQ does), and the client-chosen `kombu.gen-` on AMQP
/// (so recovery can declare the queue again under the same name).
pub(crate) fn generated_prefix() -> &'static str {
    if is_memory() {
        "amq.gen-"
    } else {
        "kombu.gen-"
    }
}

/// The broker URL for the test called `test`. On the in-memory transport each test has a broker
/// of its own; calling `url` twice in one test gives the same broker (for a second connection).
pub(crate) fn url(test: &str) -> String {
    match transport().as_str() {
        "memory" => format!("memory://{test}-{}", run_id()),
        "amqp" => std::env::var("KOMBU_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672//".to_owned()),
        "stomp" => stomp::stomp_url(),
        other => panic!("KOMBU_TEST_TRANSPORT={other}: expected `memory`, `amqp` or `stomp`"),
    }
}

/// A name for an exchange or queue of the test `test`, unique to the test and the run.
pub(crate) fn name(test: &str, entity: &str) -> String {
    format!("{test}.{entity}.{}", run_id())
}

/// Connect to the test's broker.
pub(crate) async fn connect(test: &str) -> Connection {
    connect_with(test, kombu::ConnectionOptions::default()).await
}

/// Connect to the test's broker with options.
pub(crate) async fn connect_with(test: &str, options: kombu::ConnectionOptions) -> Connection {
    if is_stomp() {
        return stomp::connect(options).await;
    }
    let url = url(test);
    Connection::connect_with(&url, options)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e:#}"))
}

/// Connect to the test's broker and open a channel.
pub(crate) async fn open(test: &str) -> (Connection, Channel) {
    let conn = connect(test).await;
    let channel = conn.channel().await.unwrap();
    (conn, channel)
}

/// Declare a queue on `channel` and return it bound (with the broker's name for a server-named
/// queue).
pub(crate) async fn declare(channel: &Channel, queue: Queue) -> BoundQueue {
    let mut bound = queue.attach(channel);
    bound
        .declare()
        .await
        .unwrap_or_else(|e| panic!("declaring queue `{}` failed: {e}", bound.name()));
    bound
}

/// A JSON document as a decoded body.
pub(crate) fn json(v: serde_json::Value) -> Value {
    Value::from(v)
}

/// Decode a message whatever its content type (every serializer accepted).
pub(crate) fn decode_any(message: &Message) -> Value {
    Registry::new()
        .decode(
            message.body(),
            message.content_type(),
            message.content_encoding(),
            Some(&Accept::all()),
        )
        .unwrap()
}

/// The integer under `key` of a message's JSON body.
pub(crate) fn int_field(message: &Message, key: &str) -> i64 {
    let payload = message.payload().unwrap();
    payload
        .get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("body {payload} has no integer `{key}`"))
}

/// The text under `key` of a message's JSON body.
pub(crate) fn str_field(message: &Message, key: &str) -> String {
    let payload = message.payload().unwrap();
    payload
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("body {payload} has no text `{key}`"))
        .to_owned()
}

/// `basic.get` until a message comes or `wait` passes.
pub(crate) async fn get_within(queue: &BoundQueue, wait: Duration) -> Option<Message> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(message) = queue.get(false).await.unwrap() {
            return Some(message);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next message of `queue`, taken with `no_ack` (the broker forgets it at once), waiting
/// up to [`WAIT`] for it.
pub(crate) async fn get_one_no_ack(queue: &BoundQueue) -> Message {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(message) = queue.get(true).await.unwrap() {
            return message;
        }
        assert!(
            Instant::now() < deadline,
            "no message arrived in queue `{}` within {WAIT:?}",
            queue.name()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next message of `queue` (unacknowledged), waiting up to [`WAIT`] for it.
pub(crate) async fn get_one(queue: &BoundQueue) -> Message {
    get_within(queue, WAIT).await.unwrap_or_else(|| {
        panic!(
            "no message arrived in queue `{}` within {WAIT:?}",
            queue.name()
        )
    })
}

/// Wait until `check` holds, polling; panic naming `what` after [`WAIT`].
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wait until the queue holds exactly `n` ready messages.
pub(crate) async fn wait_for_ready(queue: &BoundQueue, n: u32) {
    let what = format!("queue `{}` holds {n} ready messages", queue.name());
    eventually(&what, || async {
        queue.status().await.unwrap().message_count == n
    })
    .await;
}

/// Wait until the queue no longer exists.
pub(crate) async fn wait_until_gone(conn: &Connection, queue: &str) {
    let what = format!("queue `{queue}` is deleted");
    let probe = Queue::new(queue);
    eventually(&what, || async {
        // A fresh channel each time: on AMQP a failed passive declare closes the channel.
        let channel = conn.channel().await.unwrap();
        match probe.attach(&channel).status().await {
            Err(e) if e.is_not_found() => true,
            Err(e) => panic!("checking queue `{queue}`: {e}"),
            Ok(_) => false,
        }
    })
    .await;
}

/// Every message ahead of a fresh marker in `queue`, acked: publishes a marker to the queue
/// through the default exchange on `channel`, then takes messages until the marker comes back.
/// Messages published before the marker on the same channel are ahead of it, so what this
/// returns is exactly what the queue held, without guessing how long to wait.
pub(crate) async fn drain_until_marker(channel: &Channel, queue: &BoundQueue) -> Vec<Message> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let marker = format!("marker-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    Producer::new(channel)
        .publish(&serde_json::json!({ "marker": marker }))
        .routing_key(queue.name())
        .header(MARKER, marker.as_str())
        .await
        .unwrap();
    let mut before = Vec::new();
    loop {
        let message = get_one(queue).await;
        message.ack().unwrap();
        match message.header(MARKER).and_then(|v| v.as_str()) {
            Some(m) if m == marker => return before,
            Some(_) => {} // A marker of an earlier call: skip it.
            None => before.push(message),
        }
    }
}

/// The text field `key` of every message ahead of a marker (see [`drain_until_marker`]).
pub(crate) async fn drain_field(channel: &Channel, queue: &BoundQueue, key: &str) -> Vec<String> {
    drain_until_marker(channel, queue)
        .await
        .iter()
        .map(|m| str_field(m, key))
        .collect()
}

/// Like [`drain_field`], as a set.
pub(crate) async fn drain_set(
    channel: &Channel,
    queue: &BoundQueue,
    key: &str,
) -> BTreeSet<String> {
    drain_field(channel, queue, key).await.into_iter().collect()
}

/// A set of strings, for comparing with [`drain_set`].
pub(crate) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The `x-death` entries of a message, newest first.
pub(crate) fn deaths(message: &Message) -> Vec<kombu::FieldTable> {
    match message.header("x-death") {
        Some(kombu::FieldValue::Array(items)) => items
            .iter()
            .map(|item| match item {
                kombu::FieldValue::Table(t) => t.clone(),
                other => panic!("x-death entry is not a table: {other:?}"),
            })
            .collect(),
        other => panic!("x-death is missing or not an array: {other:?}"),
    }
}
