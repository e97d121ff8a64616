//! The media example of Python kombu's README, typed.
//!
//! `topology.toml` declares the `media` exchange, the `video` and `image` queues, the
//! `Video` and `Image` messages, the `media` producer and the `media_worker` consumer.
//! `build.rs` turns it into Rust; this program publishes a video and an image through the
//! generated `MediaProducer` and handles them in an implementation of the generated
//! `MediaWorkerHandler`. It runs on the in-memory broker unless `KOMBU_URL` names one.

use std::time::Duration;

use kombu::{Connection, Disposition, Message};

mod media {
    kombu::include_topology!("topology");
}

use media::{Image, MediaProducer, MediaWorkerConsumer, MediaWorkerHandler, Video};

/// What the worker does with each kind of media.
struct Worker;

impl MediaWorkerHandler for Worker {
    async fn video(&self, video: Video, _: &Message) -> Disposition {
        let length = video
            .duration_seconds
            .map(|s| format!(", {s} s"))
            .unwrap_or_default();
        println!(
            "Transcoding video {} ({} bytes{length})",
            video.name, video.size
        );
        Disposition::Ack
    }

    async fn image(&self, image: Image, _: &Message) -> Disposition {
        println!(
            "Making thumbnails of {} ({} bytes, tags: {})",
            image.name,
            image.size,
            image.tags.join(", ")
        );
        Disposition::Ack
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("kombu-example-media: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let url = std::env::var("KOMBU_URL").unwrap_or_else(|_| "memory://media".to_owned());
    let conn = Connection::connect(&url).await?;
    let channel = conn.channel().await?;
    media::declare_all(&channel).await?;

    let producer = MediaProducer::new(&channel);
    producer
        .publish_video(&Video {
            name: "/tmp/lolcat1.avi".to_owned(),
            size: 1301013,
            duration_seconds: Some(94.5),
        })
        .await?;
    producer
        .publish_image(&Image {
            name: "/tmp/lolcat1.png".to_owned(),
            size: 40960,
            tags: vec!["cat".to_owned(), "cute".to_owned()],
        })
        .await?;

    let mut consumer = MediaWorkerConsumer::start(&channel, Worker).await?;
    for _ in 0..2 {
        let done = consumer.handle_next(Duration::from_secs(5)).await?;
        if done != Disposition::Ack {
            println!("(a message was {done:?})");
        }
    }
    conn.close().await
}
