//! The same broker event is the same `ErrorKind` on STOMP as on AMQP, against the real
//! RabbitMQ (AMQP on 5672, the STOMP plugin on 61613, the management API on 15672): a
//! connection the broker closes, refused credentials, a virtual host that does not exist, a
//! queue or exchange that does not exist, and a queue deleted under its consumer.
//!
//! Each test runs as a user of its own (made and removed through the management API), so
//! closing "its" connections touches nothing else on a shared broker; queues made here are
//! deleted. Run with `KOMBU_REQUIRE_BROKER=1` in CI (a missing broker then fails the test
//! instead of skipping it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use kombu::{Connection, Consumer, ErrorKind, Exchange, ExchangeKind, Producer, Queue};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{test_name, WAIT};

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672//";

fn require_broker() -> bool {
    std::env::var("KOMBU_REQUIRE_BROKER").is_ok_and(|v| v == "1")
}

/// One request to the management API as guest; the status and the body.
async fn api(method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, String) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut socket = tokio::net::TcpStream::connect("127.0.0.1:15672")
        .await
        .expect("the management API listens on 15672");
    // HTTP/1.0: the answer ends when the connection does, never chunked.
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\
         Content-Type: application/json\r\nX-Reason: kombu error-kind test\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn percent(path_segment: &str) -> String {
    path_segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A broker user of the test's own, with full rights on `/`; removed (closing whatever it
/// still has open) when dropped.
struct User {
    name: String,
}

impl User {
    async fn new(test: &str) -> Option<User> {
        if Connection::connect(AMQP).await.is_err()
            || tokio::net::TcpStream::connect("127.0.0.1:61613")
                .await
                .is_err()
        {
            assert!(
                !require_broker(),
                "KOMBU_REQUIRE_BROKER=1 but RabbitMQ (5672, STOMP on 61613) is not reachable"
            );
            eprintln!("skipped: RabbitMQ with its STOMP plugin is not reachable");
            return None;
        }
        let name = format!("kombu-{}", common::name(test, "user"));
        let (status, body) = api(
            "PUT",
            &format!("/api/users/{}", percent(&name)),
            Some(json!({"password": "secret", "tags": ""})),
        )
        .await;
        assert!(status < 300, "creating user {name}: {status} {body}");
        let (status, body) = api(
            "PUT",
            &format!("/api/permissions/%2F/{}", percent(&name)),
            Some(json!({"configure": ".*", "write": ".*", "read": ".*"})),
        )
        .await;
        assert!(status < 300, "permissions for {name}: {status} {body}");
        Some(User { name })
    }

    fn url(&self, scheme: &str) -> String {
        let port = if scheme == "stomp" { 61613 } else { 5672 };
        format!(
            "{scheme}://{}:secret@127.0.0.1:{port}/",
            percent(&self.name)
        )
    }
}

/// The broker's names of the connections of `user`.
async fn connections_of(user: &str) -> Vec<String> {
    let (status, body) = api("GET", "/api/connections?columns=name,user", None).await;
    assert_eq!(status, 200, "{body}");
    let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    all.iter()
        .filter(|c| c["user"] == user)
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

/// Closes every connection of `user` from the broker's side, as `rabbitmqctl
/// close_connection` or the management UI do, once the broker lists one.
async fn close_connections_of(user: String) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let names = connections_of(&user).await;
        if !names.is_empty() {
            for name in &names {
                let (status, body) = api(
                    "DELETE",
                    &format!("/api/connections/{}", percent(name)),
                    None,
                )
                .await;
                assert!(status < 300, "closing {name}: {status} {body}");
            }
            return names.len();
        }
        assert!(
            Instant::now() < deadline,
            "the broker never listed a connection of {user}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for User {
    fn drop(&mut self) {
        off_runtime(format!("/api/users/{}", percent(&self.name)));
    }
}

/// A queue of the test's own, made through the management API and deleted when dropped,
/// even by a failing test.
struct ScratchQueue {
    queue: Queue,
}

impl ScratchQueue {
    async fn new(test: &str, entity: &str) -> ScratchQueue {
        let queue = Queue::new(common::name(test, entity));
        let (status, body) = api(
            "PUT",
            &format!("/api/queues/%2F/{}", percent(&queue.name)),
            Some(json!({"durable": false, "auto_delete": false})),
        )
        .await;
        assert!(status < 300, "declaring {}: {status} {body}", queue.name);
        ScratchQueue { queue }
    }

    /// Deletes the queue now (as an administrator would, under its consumers).
    async fn delete_now(&self) {
        let (status, body) = api(
            "DELETE",
            &format!("/api/queues/%2F/{}", percent(&self.queue.name)),
            None,
        )
        .await;
        assert!(
            status < 300,
            "deleting {}: {status} {body}",
            self.queue.name
        );
    }
}

impl Drop for ScratchQueue {
    fn drop(&mut self) {
        off_runtime(format!("/api/queues/%2F/{}", percent(&self.queue.name)));
    }
}

/// A DELETE of `path` from a `Drop`, which cannot await: on a runtime of its own.
fn off_runtime(path: String) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(api("DELETE", &path, None)))
    })
    .join();
}

/// Confirmed publishes stream out with many in flight while the broker closes the
/// connection: every publish that fails says `Connection`, on both transports, and at least
/// one did fail (was in flight at the close).
#[tokio::test]
async fn a_connection_the_broker_closes_is_a_connection_error_on_both_transports() {
    let t = test_name!();
    let Some(user) = User::new(t).await else {
        return;
    };
    let scratch = ScratchQueue::new(t, "q").await;
    let queue = &scratch.queue;
    for scheme in ["amqp", "stomp"] {
        let conn = Connection::connect(&user.url(scheme)).await.unwrap();
        let channel = conn.channel().await.unwrap();
        let producer = Producer::new(&channel)
            .routing_key(queue.name.as_str())
            .auto_declare(false)
            .confirm(true);
        let mut pipeline = producer.pipeline(2_000);
        let closer = tokio::spawn(close_connections_of(user.name.clone()));
        let mut failures = Vec::new();
        let deadline = Instant::now() + WAIT;
        let mut after_close = 0;
        while after_close < 2_000 && Instant::now() < deadline {
            if let Err(e) = pipeline.send(producer.publish(&json!({"n": 1}))).await {
                failures.push(e);
            }
            if closer.is_finished() {
                after_close += 1;
            }
        }
        if let Err(e) = pipeline.flush().await {
            failures.push(e);
        }
        assert!(closer.await.unwrap() > 0);
        assert!(
            !failures.is_empty(),
            "{scheme}: no publish was in flight when the broker closed the connection"
        );
        let other: Vec<_> = failures
            .iter()
            .filter(|e| e.kind() != ErrorKind::Connection)
            .collect();
        assert!(
            other.is_empty(),
            "{scheme}: {} of {} failures are not connection errors, the first: {}",
            other.len(),
            failures.len(),
            other[0]
        );
        conn.close().await.ok();
    }
}

#[tokio::test]
async fn refused_credentials_and_a_missing_vhost_are_the_same_kind_on_both_transports() {
    let t = test_name!();
    let Some(user) = User::new(t).await else {
        return;
    };
    for (what, amqp, stomp) in [
        (
            "wrong password",
            user.url("amqp").replace(":secret@", ":wrong@"),
            user.url("stomp").replace(":secret@", ":wrong@"),
        ),
        (
            "no such vhost",
            format!("{}no-such-vhost", user.url("amqp")),
            format!("{}no-such-vhost", user.url("stomp")),
        ),
    ] {
        let amqp = Connection::connect(&amqp).await.unwrap_err();
        let stomp = Connection::connect(&stomp).await.unwrap_err();
        assert_eq!(
            amqp.kind(),
            stomp.kind(),
            "{what}:\n  AMQP: {amqp}\n  STOMP: {stomp}"
        );
    }
}

#[tokio::test]
async fn a_missing_queue_or_exchange_is_not_found_on_both_transports() {
    let t = test_name!();
    let Some(user) = User::new(t).await else {
        return;
    };
    for scheme in ["amqp", "stomp"] {
        let conn = Connection::connect(&user.url(scheme)).await.unwrap();
        let channel = conn.channel().await.unwrap();
        let mut consumer =
            Consumer::new(&channel, [Queue::new(common::name(t, "missing"))]).auto_declare(false);
        let err = consumer.consume().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{scheme}: {err}");
        let channel = conn.channel().await.unwrap();
        let err = Producer::new(&channel)
            .exchange(Exchange::new(
                common::name(t, "nowhere"),
                ExchangeKind::Direct,
            ))
            .auto_declare(false)
            .confirm(true)
            .publish(&json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{scheme}: {err}");
        conn.close().await.ok();
    }
}

/// Deleting a queue under its consumer cancels that consumer (AMQP's basic.cancel from the
/// broker; on STOMP an ERROR frame naming the subscription) and nothing else: another
/// consumer on the same channel still receives and acknowledges.
#[tokio::test]
async fn a_queue_deleted_under_its_consumer_cancels_only_that_consumer_on_both_transports() {
    let t = test_name!();
    let Some(user) = User::new(t).await else {
        return;
    };
    for scheme in ["amqp", "stomp"] {
        let doomed = ScratchQueue::new(t, &format!("{scheme}-doomed")).await;
        let kept = ScratchQueue::new(t, &format!("{scheme}-kept")).await;
        let conn = Connection::connect(&user.url(scheme)).await.unwrap();
        let channel = conn.channel().await.unwrap();
        let mut on_doomed = Consumer::new(&channel, [doomed.queue.clone()]).auto_declare(false);
        on_doomed.consume().await.unwrap();
        let mut on_kept = Consumer::new(&channel, [kept.queue.clone()]).auto_declare(false);
        on_kept.consume().await.unwrap();
        let producer = Producer::new(&channel)
            .routing_key(kept.queue.name.as_str())
            .auto_declare(false)
            .confirm(true);
        producer.publish(&json!({"n": 1})).await.unwrap();
        let first = on_kept.recv(WAIT).await.unwrap();

        doomed.delete_now().await;
        let err = on_doomed.recv(WAIT).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConsumerCancelled, "{scheme}: {err}");

        // The channel carries on: the delivery from before the cancel can be acknowledged,
        // and the other consumer still receives.
        first.ack().unwrap();
        producer.publish(&json!({"n": 2})).await.unwrap();
        let second = on_kept.recv(WAIT).await.unwrap();
        assert_eq!(common::int_field(&second, "n"), 2, "{scheme}");
        assert!(!second.redelivered(), "{scheme}: the session was lost");
        second.ack().unwrap();
        conn.close().await.unwrap();
    }
}
