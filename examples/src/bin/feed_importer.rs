//! The feed importer of the kombu README, with the producer and worker as plain Rust types:
//! `FeedImporter` publishes `{"action": "import_feed", "feed_url": ...}` to the `tasks`
//! exchange; `Worker` consumes `feed_tasks` and dispatches on `action`, rejecting (not losing)
//! an action it does not know.
//!
//! Its names are prefixed `feed_importer.` so that it does not meet the other examples on a
//! shared broker. Runs on the in-memory broker; set `KOMBU_URL` to use another.

use std::time::Duration;

use kombu::{Channel, Connection, Consumer, Exchange, ExchangeKind, Message, Producer, Queue};
use serde::Deserialize;

fn task_exchange() -> Exchange {
    Exchange::new("feed_importer.tasks", ExchangeKind::Direct)
}

fn task_queues() -> Vec<Queue> {
    vec![Queue::new("feed_importer.feed_tasks").bind_to(task_exchange(), "feed.import")]
}

/// Publishes feed-import tasks.
struct FeedImporter {
    producer: Producer,
}

impl FeedImporter {
    fn new(channel: &Channel) -> Self {
        let producer = Producer::new(channel)
            .exchange(task_exchange())
            .routing_key("feed.import");
        FeedImporter { producer }
    }

    async fn import_feed(&self, feed_url: &str) -> kombu::Result<()> {
        self.producer
            .publish(&serde_json::json!({"action": "import_feed", "feed_url": feed_url}))
            .declare(task_queues()[0].clone())
            .await
    }
}

/// The tasks a worker knows, dispatched on the `action` field.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Task {
    ImportFeed { feed_url: String },
}

/// Consumes the task queues and runs each task.
struct Worker {
    consumer: Consumer,
}

impl Worker {
    fn new(channel: &Channel) -> Self {
        Worker {
            consumer: Consumer::new(channel, task_queues()).prefetch_count(10),
        }
    }

    fn receive(message: &Message) -> kombu::Result<()> {
        match message.decode::<Task>() {
            Ok(Task::ImportFeed { feed_url }) => {
                println!("importing feed {feed_url}");
                message.ack()
            }
            Err(e) => {
                // Unknown action or malformed task: reject it so it is dead-lettered (or
                // dropped, if the queue has no dead-letter exchange), and say so.
                eprintln!("rejecting message {}: {e:#}", message.delivery_tag());
                message.reject()
            }
        }
    }

    async fn run(&mut self, expected: usize) -> kombu::Result<()> {
        self.consumer.consume().await?;
        for _ in 0..expected {
            let message = self.consumer.recv(Duration::from_secs(5)).await?;
            Worker::receive(&message)?;
        }
        self.consumer.cancel().await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("feed_importer: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let conn = Connection::connect(&kombu_examples::broker_url()).await?;
    let channel = conn.channel().await?;

    let importer = FeedImporter::new(&channel);
    importer
        .import_feed("http://cnn.com/rss/edition.rss")
        .await?;
    importer
        .import_feed("http://cnn.com/rss/money_news_companies.rss")
        .await?;
    // An action no worker knows: it is rejected, not silently dropped.
    importer
        .producer
        .publish(&serde_json::json!({"action": "delete_everything"}))
        .await?;
    println!("sent 3 tasks");

    let mut worker = Worker::new(&conn.channel().await?);
    worker.run(3).await?;
    conn.close().await
}
