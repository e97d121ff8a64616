//! A worker that stops cleanly on SIGTERM (or Ctrl-C): it stops taking messages, lets the
//! handler in flight finish within a grace period, gives back what was prefetched but not
//! started, then closes the connection, which sends the acks still queued. Nothing is lost,
//! and a message is handled twice only if the broker redelivers it (flagged `redelivered`).
//!
//! Run alone, it publishes a few jobs to itself on the in-memory broker and stops when idle.
//! Its settings come from the environment (the shutdown test in `examples/tests` drives it):
//! `KOMBU_URL`, `WORKER_QUEUE`, `WORKER_LOG` (a file that gets a line `N redelivered` per
//! handled job), `WORKER_HANDLER_MS` (how long a handler takes), `WORKER_GRACE_MS`,
//! `WORKER_IDLE_EXIT_MS` (stop by itself after so long without a message; 0 = never).

use std::io::Write;
use std::time::Duration;

use kombu::{Connection, Consumer, Producer, Queue, Shutdown};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KOMBU_URL").unwrap_or_else(|_| "memory://graceful-worker".into());
    let queue = std::env::var("WORKER_QUEUE").unwrap_or_else(|_| "graceful_worker.jobs".into());
    let log_path = std::env::var("WORKER_LOG").ok();
    let handler_time = Duration::from_millis(setting("WORKER_HANDLER_MS", 1));
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

    let shutdown = Shutdown::new(grace);
    let token = shutdown.token().clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        token.cancel();
    });

    let mut log = match &log_path {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
        None => None,
    };
    let mut handled = 0u64;
    loop {
        let next = if idle_exit.is_zero() {
            shutdown.next(&mut consumer).await
        } else {
            match tokio::time::timeout(idle_exit, shutdown.next(&mut consumer)).await {
                Ok(next) => next,
                Err(_) => break, // Idle: stop as if asked to.
            }
        };
        let Some(message) = next else { break };
        let message = message?;
        let done = shutdown
            .finish(async {
                tokio::time::sleep(handler_time).await;
                let n = message
                    .payload()
                    .ok()
                    .and_then(|body| body.get("n"))
                    .and_then(|n| n.as_i64())
                    .unwrap_or(-1);
                if let Some(log) = log.as_mut() {
                    writeln!(log, "{n} {}", message.redelivered())?;
                }
                message.ack()?;
                Ok::<_, Box<dyn std::error::Error>>(())
            })
            .await;
        match done {
            Some(result) => result?,
            None => {
                eprintln!("a handler did not finish within the grace period; its message goes back")
            }
        }
        handled += 1;
    }
    let returned = shutdown.wind_down(&mut consumer).await?;
    conn.close().await?;
    println!("handled {handled} jobs, gave back {returned} not started, and stopped cleanly");
    Ok(())
}

/// SIGTERM (what service managers send) or Ctrl-C.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
