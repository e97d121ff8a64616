//! A Rust service beside Celery: it serves a task that Python code sends
//! (`app.send_task("images.thumbnail", args=("cat.png", 128))`) and calls a Python task
//! (`tasks.add`), getting its result through Celery's `rpc://` backend.
//!
//! Against RabbitMQ and a Python Celery worker (its app configured with
//! `result_backend = "rpc://"` and a task named `tasks.add` on the queue `celery`):
//!
//! ```sh
//! KOMBU_URL=amqp://guest:guest@127.0.0.1:5672// cargo run -p kombu-examples --bin celery_service
//! ```
//!
//! Run alone (on the in-memory broker, the default), it also stands in for the Python worker
//! with a Rust `tasks.add`, so that both calls are answered.

use std::time::Duration;

use kombu::celery::{Celery, TaskError, TaskOptions, TaskRequest, Worker};
use kombu::{Connection, Shutdown};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("celery_service: {e}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let url = std::env::var("KOMBU_URL").unwrap_or_else(|_| "memory://celery-service".into());
    let alone = url.starts_with("memory://");
    let conn = Connection::connect(&url).await?;

    // The task this service runs for Python senders, on its own queue.
    let mut worker = Worker::new(&conn).queue("images").task(
        "images.thumbnail",
        TaskOptions {
            acks_late: true,
            time_limit: Some(Duration::from_secs(30)),
            ..TaskOptions::default()
        },
        |req: TaskRequest| async move {
            let (path, size): (String, u32) = req.args()?;
            if size == 0 {
                return Err(TaskError::failure(
                    "builtins",
                    "ValueError",
                    "size must be positive",
                ));
            }
            Ok(json!({ "thumbnail": format!("{path}@{size}px") }))
        },
    );
    if alone {
        // Standing in for the Python worker's `tasks.add`.
        worker = worker.queue("celery").task(
            "tasks.add",
            TaskOptions::default(),
            |req: TaskRequest| async move {
                let (x, y): (i64, i64) = req.args()?;
                Ok(json!(x + y))
            },
        );
    }
    let shutdown = Shutdown::new(Duration::from_secs(10)).on_signals();
    let serving = tokio::spawn(worker.run(shutdown.clone()));

    let celery = Celery::new(&conn).await?;
    // Calling the Python task.
    let sum = celery
        .send_task("tasks.add")
        .args((2, 2))
        .apply_async()
        .await?;
    println!(
        "tasks.add(2, 2) = {}",
        sum.get::<i64>(Duration::from_secs(10)).await?
    );
    // What a Python sender does, sent from Rust here: the Rust task answers.
    let thumb = celery
        .send_task("images.thumbnail")
        .queue("images")
        .args(("cat.png", 128))
        .apply_async()
        .await?;
    println!(
        "images.thumbnail('cat.png', 128) = {}",
        thumb
            .get::<serde_json::Value>(Duration::from_secs(10))
            .await?
    );
    let refused = celery
        .send_task("images.thumbnail")
        .queue("images")
        .args(("cat.png", 0))
        .apply_async()
        .await?;
    match refused
        .get::<serde_json::Value>(Duration::from_secs(10))
        .await
    {
        Err(e) => println!("images.thumbnail('cat.png', 0) failed: {e}"),
        Ok(v) => println!("images.thumbnail('cat.png', 0) = {v} (unexpected)"),
    }

    if alone {
        shutdown.token().cancel();
    }
    match serving.await {
        Ok(result) => result?,
        Err(e) => eprintln!("celery_service: the worker task ended: {e}"),
    }
    conn.close().await
}
