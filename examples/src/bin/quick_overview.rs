//! The quick overview of the kombu README: a `media` exchange, `video` and `image` queues, a
//! producer that declares what it needs, and one consumer on both queues whose callback prints
//! each message and acknowledges it.
//!
//! The names are prefixed `quick_overview.` so that on a shared broker they do not meet the
//! media example's `video` queue, which has other arguments (a dead-letter exchange).
//!
//! Runs on the in-memory broker; set `KOMBU_URL` to use another.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kombu::{Connection, Consumer, Exchange, ExchangeKind, Producer, Queue};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("quick_overview: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let url = kombu_examples::broker_url();
    let conn = Connection::connect(&url).await?;
    println!("connected to {}", conn.url());

    let media = Exchange::new("quick_overview.media", ExchangeKind::Direct);
    let video = Queue::new("quick_overview.video").bind_to(media.clone(), "video");
    let image = Queue::new("quick_overview.image").bind_to(media.clone(), "image");

    // Produce: the `declare` list makes sure the queue exists, so the message is not lost.
    let channel = conn.channel().await?;
    let producer = Producer::new(&channel)
        .exchange(media.clone())
        .serializer("json");
    producer
        .publish(&serde_json::json!({"name": "/tmp/lolcat1.avi", "size": 1301013}))
        .routing_key("video")
        .declare(video.clone())
        .await?;
    producer
        .publish(&serde_json::json!({"name": "/tmp/lolcat1.jpg", "size": 20403}))
        .routing_key("image")
        .declare(image.clone())
        .await?;
    println!("published one video and one image");

    // Consume from both queues on one channel; the callback prints and acknowledges.
    let processed = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&processed);
    let mut consumer = Consumer::new(&channel, [video, image]).callback(move |body, message| {
        println!("received from {:<6} {body}", message.routing_key());
        match message.ack() {
            Ok(()) => {
                count.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => eprintln!("ack failed: {e:#}"),
        }
    });
    consumer.consume().await?;
    while processed.load(Ordering::SeqCst) < 2 {
        conn.drain_events(Duration::from_secs(5)).await?;
    }
    consumer.cancel().await?;
    conn.close().await?;
    println!("processed {} messages", processed.load(Ordering::SeqCst));
    Ok(())
}
