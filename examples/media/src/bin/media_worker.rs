//! A complete worker: the typed consumer that `build.rs` generates from `topology.toml`,
//! running up to 8 handlers at once (`concurrency = 8` in the file), stopping cleanly on SIGTERM
//! or Ctrl-C (no new messages, handlers in flight finish within 30 s, what was prefetched goes
//! back, the queued acks are sent), and showing what it does through `tracing` (a `process` span
//! per message, with OpenTelemetry's messaging attributes).
//!
//! `KOMBU_URL` names the broker (default: the in-memory one, where the worker publishes a few
//! jobs to itself and stops once they are done). `WORKER_STOP_AFTER` stops it after that many
//! messages on any broker (0 = only on a signal).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kombu::{Connection, Disposition, Message, Shutdown};

mod media {
    kombu::include_topology!("topology");
}

use media::{Image, MediaProducer, MediaWorkerConsumer, MediaWorkerHandler, Video};

/// The handler: one method per message type. It awaits its work, so while one video is
/// transcoded, other handlers run.
struct Worker {
    handled: AtomicU64,
    stop_after: u64,
    shutdown: Shutdown,
}

impl Worker {
    fn done(&self) {
        if self.handled.fetch_add(1, Ordering::SeqCst) + 1 == self.stop_after {
            self.shutdown.token().cancel();
        }
    }
}

impl MediaWorkerHandler for Worker {
    async fn video(&self, video: Video, _: &Message) -> Disposition {
        tracing::info!(name = %video.name, size = video.size, "transcoding");
        tokio::time::sleep(Duration::from_millis(50)).await; // the transcoder, awaited
        self.done();
        Disposition::Ack
    }

    async fn image(&self, image: Image, _: &Message) -> Disposition {
        if image.size == 0 {
            // Rejected: it goes to the queue's dead-letter exchange, and kombu logs why.
            return Disposition::Reject;
        }
        tracing::info!(name = %image.name, tags = ?image.tags, "making thumbnails");
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.done();
        Disposition::Ack
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();
    if let Err(e) = run().await {
        tracing::error!("{e:#}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let url = std::env::var("KOMBU_URL").unwrap_or_else(|_| "memory://media-worker".to_owned());
    let on_memory = url.starts_with("memory://");
    let stop_after = std::env::var("WORKER_STOP_AFTER")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if on_memory { 20 } else { 0 });

    let conn = Connection::connect(&url).await?;
    let channel = conn.channel().await?;
    media::declare_all(&channel).await?;
    if on_memory {
        publish_some(&MediaProducer::new(&channel)).await?;
    }

    // SIGTERM (what service managers send) or Ctrl-C requests the shutdown; handlers in flight
    // then have 30 s.
    let shutdown = Shutdown::new(Duration::from_secs(30)).on_signals();

    let worker = Worker {
        handled: AtomicU64::new(0),
        stop_after,
        shutdown: shutdown.clone(),
    };
    let mut consumer = MediaWorkerConsumer::start(&channel, worker).await?;
    tracing::info!(
        concurrency = MediaWorkerConsumer::<Worker>::CONCURRENCY,
        "media worker started"
    );
    consumer.run_until(&shutdown).await?;
    let handled = consumer.handler().handled.load(Ordering::SeqCst);
    conn.close().await?; // sends the acks still queued, waits for outstanding confirms
    tracing::info!(handled, "media worker stopped");
    Ok(())
}

async fn publish_some(producer: &MediaProducer) -> kombu::Result<()> {
    for n in 0..10 {
        producer
            .publish_video(&Video {
                name: format!("/tmp/lolcat{n}.avi"),
                size: 1_301_013,
                duration_seconds: Some(94.5),
            })
            .await?;
        producer
            .publish_image(&Image {
                name: format!("/tmp/lolcat{n}.png"),
                size: 40_960,
                tags: vec!["cat".to_owned()],
            })
            .await?;
    }
    Ok(())
}
