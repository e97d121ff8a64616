//! A worker process is sent SIGTERM in the middle of 10,000 messages, against RabbitMQ: it
//! exits within its grace period, and, with a second run finishing the queue, every message
//! was handled, and a message handled twice was redelivered (flagged) the second time. None
//! is lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kombu::{Connection, Producer, Queue};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672//";
const MESSAGES: i64 = 10_000;
const GRACE: Duration = Duration::from_secs(5);

async fn connect() -> Option<Connection> {
    match Connection::connect(URL).await {
        Ok(c) => Some(c),
        Err(e) if std::env::var("KOMBU_REQUIRE_BROKER").is_ok_and(|v| v == "1") => {
            panic!("RabbitMQ is required (KOMBU_REQUIRE_BROKER=1): {e:#}")
        }
        Err(e) => {
            eprintln!("skipped: RabbitMQ not reachable ({e:#}); set KOMBU_REQUIRE_BROKER=1 to make this a failure");
            None
        }
    }
}

fn worker(queue: &str, log: &std::path::Path, idle_exit_ms: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_graceful_worker"))
        .env("KOMBU_URL", URL)
        .env("WORKER_QUEUE", queue)
        .env("WORKER_LOG", log)
        .env("WORKER_HANDLER_MS", "5")
        .env("WORKER_CONCURRENCY", "8")
        .env("WORKER_GRACE_MS", GRACE.as_millis().to_string())
        .env("WORKER_IDLE_EXIT_MS", idle_exit_ms.to_string())
        .spawn()
        .unwrap()
}

fn lines(log: &std::path::Path) -> Vec<(i64, bool)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (n, redelivered) = l.split_once(' ')?;
            Some((n.parse().ok()?, redelivered == "true"))
        })
        .collect()
}

/// Wait for the process to exit, up to `limit`; its exit status.
async fn exit_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the worker did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_worker_stopped_by_sigterm_mid_stream_loses_nothing() {
    let Some(conn) = connect().await else { return };
    let channel = conn.channel().await.unwrap();
    let name = format!("graceful-shutdown.{}", std::process::id());
    let mut queue = Queue::new(name.as_str()).attach(&channel);
    queue.declare().await.unwrap();
    let producer = Producer::new(&channel)
        .routing_key(name.as_str())
        .confirm(true);
    let mut pipeline = producer.pipeline(500);
    for n in 0..MESSAGES {
        pipeline
            .send(producer.publish(&serde_json::json!({ "n": n })))
            .await
            .unwrap();
    }
    pipeline.flush().await.unwrap();
    let log = std::env::temp_dir().join(format!("{name}.log"));
    let _ = std::fs::remove_file(&log);

    // First run: stopped by SIGTERM once it is well into the queue.
    let mut first = worker(&name, &log, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while lines(&log).len() < 2_000 {
        assert!(
            Instant::now() < deadline,
            "the worker handled too little in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped_at = Instant::now();
    let status = exit_within(&mut first, GRACE + Duration::from_secs(10)).await;
    assert!(status.success(), "the worker failed: {status}");
    let after_first = lines(&log).len();
    eprintln!(
        "first run handled {after_first} and exited {:?} after SIGTERM",
        stopped_at.elapsed()
    );

    // Second run: finishes the queue and stops when idle.
    let mut second = worker(&name, &log, 2_000);
    let status = exit_within(&mut second, Duration::from_secs(180)).await;
    assert!(status.success(), "the second worker failed: {status}");

    let handled = lines(&log);
    let mut seen: BTreeMap<i64, Vec<bool>> = BTreeMap::new();
    for (n, redelivered) in &handled {
        seen.entry(*n).or_default().push(*redelivered);
    }
    let missing: Vec<i64> = (0..MESSAGES).filter(|n| !seen.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "{} messages lost, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let mut duplicates = 0;
    for (n, times) in &seen {
        for redelivered in &times[1..] {
            duplicates += 1;
            assert!(
                redelivered,
                "message {n} was handled again without the redelivered flag"
            );
        }
    }
    eprintln!(
        "{} messages, {} handled, {duplicates} handled twice (redelivered), 0 lost",
        MESSAGES,
        handled.len()
    );
    assert_eq!(queue.status().await.unwrap().message_count, 0);
    queue.delete(false, false).await.unwrap();
    let _ = std::fs::remove_file(&log);
    conn.close().await.unwrap();
}
