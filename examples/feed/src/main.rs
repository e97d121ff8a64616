//! The feed example of Python kombu's README, with the derives.
//!
//! Python subclasses `Producer` (class attributes `exchange` and `routing_key`, a method
//! `import_feed` that publishes `{"action": "import_feed", "feed_url": ...}`) and `Consumer`
//! (class attribute `queues`, a `receive` that dispatches on `message_data["action"]` and
//! raises on an unknown action). Here the producer is a struct with `#[derive(Producer)]`
//! whose `import_feed` calls `self.publish(...)` as in the README, and the actions are a
//! serde-tagged enum with `#[derive(Consumer)]`: one handler method per action, and an unknown
//! action is rejected (to the dead-letter exchange, if the queue has one) and logged, never
//! lost silently. The same topology is written as a file in `topology.toml`.
//!
//! Runs on the in-memory broker unless `KOMBU_URL` names one.

use std::time::Duration;

use kombu::{Connection, Disposition, Message};
use serde::{Deserialize, Serialize};

/// Asks the feed workers to do things.
#[derive(kombu::Producer)]
#[kombu(exchange(name = "feed", type = "direct"), routing_key = "importer")]
struct FeedProducer {
    producer: kombu::Producer,
}

impl FeedProducer {
    /// Import one feed: the README's method, typed.
    async fn import_feed(&self, feed_url: &str) -> kombu::Result<()> {
        let task = FeedTask::ImportFeed {
            feed_url: feed_url.to_owned(),
        };
        self.publish(&task).await
    }
}

/// What the feed workers are asked to do, dispatched on `action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, kombu::Consumer)]
#[serde(tag = "action", rename_all = "snake_case")]
#[kombu(
    consumer = "Feed",
    exchange(name = "feed", type = "direct"),
    queue(name = "feed", exchange = "feed", routing_key = "importer"),
    prefetch = 10,
    on_failure = "dead_letter"
)]
enum FeedTask {
    /// Fetch a feed and store its entries.
    ImportFeed { feed_url: String },
    /// Re-import every known feed.
    RefreshAll,
}

/// The worker: one method per action.
struct Importer;

impl FeedHandler for Importer {
    async fn import_feed(&self, feed_url: String, _: &Message) -> Disposition {
        println!("Got feed import message for: {feed_url}");
        Disposition::Ack
    }

    async fn refresh_all(&self, _: &Message) -> Disposition {
        println!("Refreshing every feed");
        Disposition::Ack
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("kombu-example-feed: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let url = std::env::var("KOMBU_URL").unwrap_or_else(|_| "memory://feed".to_owned());
    let conn = Connection::connect(&url).await?;
    let channel = conn.channel().await?;

    let mut consumer = FeedConsumer::start(&channel, Importer).await?;
    let producer = FeedProducer::new(&channel);
    producer.import_feed("http://cnn.com/rss").await?;
    producer.import_feed("http://bbc.co.uk/rss").await?;
    // An action no one handles, sent by something else: rejected, not lost or panicked on.
    producer
        .publish(&serde_json::json!({"action": "delete_everything"}))
        .await?;

    for _ in 0..3 {
        let done = consumer.handle_next(Duration::from_secs(5)).await?;
        if done != Disposition::Ack {
            println!("A message with an unknown action was {done:?}ed");
        }
    }
    conn.close().await
}
