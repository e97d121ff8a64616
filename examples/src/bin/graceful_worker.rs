//! A worker that runs several handlers at once and stops cleanly on SIGTERM (or Ctrl-C): it
//! stops taking messages, lets the handlers in flight finish within a grace period, gives back
//! what was prefetched but not started, then closes the connection, which sends the acks still
//! queued. Nothing is lost, and a message is handled twice only if the broker redelivers it
//! (flagged `redelivered`).
//!
//! Run alone, it publishes a few jobs to itself on the in-memory broker and stops when idle.
//! Its settings come from the environment (the shutdown test in `examples/tests` drives it):
//! `KOMBU_URL`, `WORKER_QUEUE`, `WORKER_LOG` (a file that gets a line `N redelivered` per
//! handled job), `WORKER_HANDLER_MS` (how long a handler takes), `WORKER_CONCURRENCY`
//! (handlers at once, default 8), `WORKER_GRACE_MS`, `WORKER_IDLE_EXIT_MS` (stop by itself after
//! so long without a message; 0 = never).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kombu::{Connection, Consumer, Disposition, Producer, Queue, RunOptions, Shutdown};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("graceful_worker: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KOMBU_URL").unwrap_or_else(|_| "memory://graceful-worker".into());
    let queue = std::env::var("WORKER_QUEUE").unwrap_or_else(|_| "graceful_worker.jobs".into());
    let log_path = std::env::var("WORKER_LOG").ok();
    let handler_time = Duration::from_millis(setting("WORKER_HANDLER_MS", 1));
    let concurrency = usize::try_from(setting("WORKER_CONCURRENCY", 8)).unwrap_or(8);
    let grace = Duration::from_millis(setting("WORKER_GRACE_MS", 5_000));
    let idle_exit = Duration::from_millis(setting("WORKER_IDLE_EXIT_MS", 1_000));

    let conn = Connection::connect(&url).await?;
    let channel = conn.channel().await?;
    let mut consumer = Consumer::new(&channel, [Queue::new(queue.as_str())]).prefetch_count(50);
    consumer.consume().await?;
    if url.starts_with("memory://") {
        let producer = Producer::new(&channel).routing_key(queue.as_str());
        for n in 0..20 {
            producer.publish(&serde_json::json!({ "n": n })).await?;
        }
    }

    // SIGTERM or Ctrl-C requests the shutdown.
    let shutdown = Shutdown::new(grace).on_signals();
    // Idle: stop as if asked to, once no handler has started for `idle_exit`.
    let started = Instant::now();
    let last_start = std::sync::Arc::new(AtomicU64::new(0));
    if !idle_exit.is_zero() {
        let (token, last_start) = (shutdown.token().clone(), last_start.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(idle_exit / 4).await;
                let last = Duration::from_millis(last_start.load(Ordering::SeqCst));
                if started.elapsed().saturating_sub(last) >= idle_exit {
                    token.cancel();
                    return;
                }
            }
        });
    }

    let log = match &log_path {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        )),
        None => None,
    };
    let handled = AtomicU64::new(0);
    let options = RunOptions::new()
        .name("graceful_worker")
        .concurrency(concurrency)
        .shutdown(shutdown.clone());
    consumer
        .run(options, async |message| {
            let since_start = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            last_start.store(since_start, Ordering::SeqCst);
            tokio::time::sleep(handler_time).await;
            let Some(n) = message
                .payload()
                .ok()
                .and_then(|body| body.get("n"))
                .and_then(|n| n.as_i64())
            else {
                eprintln!("job {} has no number: rejected", message.delivery_tag());
                return Disposition::Reject;
            };
            if let Some(log) = &log {
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = writeln!(log, "{n} {}", message.redelivered()) {
                    // Not recorded, so not done: the broker delivers it again.
                    eprintln!("cannot log job {n}: {e}; requeued");
                    return Disposition::Requeue;
                }
            }
            handled.fetch_add(1, Ordering::SeqCst);
            Disposition::Ack
        })
        .await?;
    conn.close().await?;
    println!(
        "handled {} jobs, {concurrency} at a time, and stopped cleanly",
        handled.into_inner()
    );
    Ok(())
}
