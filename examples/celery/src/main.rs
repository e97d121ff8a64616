//! A Rust service beside Celery, typed: `topology.toml` declares the tasks (Celery names,
//! queues, typed parameters and results, retries and time limits), `build.rs` turns them into
//! a `TaskClient` with one method per task and a `TaskHandler` trait with one method per task
//! this service runs.
//!
//! ```sh
//! cargo run -p kombu-example-celery          # alone, on the in-memory broker
//! KOMBU_URL=amqp://guest:guest@127.0.0.1:5672// cargo run -p kombu-example-celery
//! ```
//!
//! Against RabbitMQ it calls `tasks.add` on the Python workers (their app configured with
//! `result_backend = "rpc://"`) and serves `images.thumbnail` until stopped. Alone, on the in-memory broker,
//! it also stands in for the Python worker with a Rust `tasks.add`, so both calls are answered.

use std::time::Duration;

use kombu::celery::{TaskError, TaskRequest};
use kombu::{Connection, Shutdown};

mod topology {
    kombu::include_topology!("topology");
}
mod standalone {
    kombu::include_topology!("standalone");
}

use topology::{TaskClient, TaskHandler, Thumbnail};

/// What this service runs for Python senders.
struct Images;

impl TaskHandler for Images {
    async fn thumbnail(
        &self,
        path: String,
        size: u32,
        quality: Option<u8>,
        _request: &TaskRequest,
    ) -> Result<Thumbnail, TaskError> {
        if size == 0 {
            return Err(TaskError::failure(
                "builtins",
                "ValueError",
                "size must be positive",
            ));
        }
        let quality = u64::from(quality.unwrap_or(75));
        Ok(Thumbnail {
            path: format!("{path}@{size}px"),
            size,
            bytes: u64::from(size) * u64::from(size) * quality / 100,
        })
    }
}

/// Python's `tasks.add`, run in Rust when there is no Python worker (the in-memory broker).
struct StandIn;

impl standalone::TaskHandler for StandIn {
    async fn add(&self, x: i64, y: i64, _request: &TaskRequest) -> Result<i64, TaskError> {
        x.checked_add(y)
            .ok_or_else(|| TaskError::failure("builtins", "OverflowError", "too large"))
    }

    async fn thumbnail(
        &self,
        path: String,
        size: u32,
        quality: Option<u8>,
        request: &TaskRequest,
    ) -> Result<standalone::Thumbnail, TaskError> {
        let t = Images.thumbnail(path, size, quality, request).await?;
        Ok(standalone::Thumbnail {
            path: t.path,
            size: t.size,
            bytes: t.bytes,
        })
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("kombu-example-celery: {e}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let url = std::env::var("KOMBU_URL").unwrap_or_else(|_| "memory://celery-typed".into());
    let alone = url.starts_with("memory://");
    let conn = Connection::connect(&url).await?;
    // Against RabbitMQ it serves until SIGTERM or Ctrl-C; alone, it stops once it has shown
    // the calls.
    let shutdown = Shutdown::new(Duration::from_secs(10)).on_signals();
    let worker = if alone {
        standalone::TaskHandler::into_worker(StandIn, &conn)
    } else {
        Images.into_worker(&conn)
    };
    let running = tokio::spawn(worker.run(shutdown.clone()));

    let tasks = TaskClient::new(&conn).await?;
    let wait = Duration::from_secs(30);
    // Python's task, typed: two i64 in, an i64 back.
    let sum = tasks.add(2, 40).apply_async().await?;
    println!("tasks.add(2, 40) = {}", sum.get(wait).await?);
    // This service's own task, called as a Python sender would call it.
    let thumb = tasks
        .thumbnail("cat.png".into(), 128, Some(80))
        .apply_async()
        .await?;
    let thumb = thumb.get(wait).await?;
    println!("images.thumbnail('cat.png', 128, quality=80) = {thumb:?}");
    // A failure comes back as an error naming the Python exception.
    let failed = tasks
        .thumbnail("cat.png".into(), 0, None)
        .apply_async()
        .await?;
    match failed.get(wait).await {
        Err(e) => println!("images.thumbnail('cat.png', 0) failed: {e}"),
        Ok(t) => println!("images.thumbnail('cat.png', 0) unexpectedly gave {t:?}"),
    }

    if alone {
        shutdown.token().cancel();
    }
    match running.await {
        Ok(result) => result?,
        Err(e) => eprintln!("kombu-example-celery: the worker task ended: {e}"),
    }
    conn.close().await
}
