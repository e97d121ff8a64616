// A tagged enum: one typed producer method and one handler method per variant.
use kombu::{Consumer, Disposition, Message, Producer};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Producer, Consumer)]
#[serde(tag = "action", rename_all = "snake_case")]
#[kombu(
    producer = "TaskProducer",
    consumer = "Worker",
    exchange(name = "tasks", type = "topic"),
    routing_key = "tasks.default",
    queue(name = "tasks", exchange = "tasks", routing_key = "tasks.#"),
    queue(name = "urgent", binding(exchange = "tasks", routing_key = "tasks.urgent"), max_priority = 9),
    prefetch = 5,
    accept = ["json", "msgpack"],
    on_failure = "hook"
)]
enum Task {
    ImportFeed { feed_url: String, tags: Vec<String> },
    #[kombu(routing_key = "tasks.urgent")]
    Purge,
}

struct Handler;

impl WorkerHandler for Handler {
    async fn import_feed(&self, feed_url: String, tags: Vec<String>, _: &Message) -> Disposition {
        let _ = (feed_url, tags);
        Disposition::Ack
    }
    async fn purge(&self, _: &Message) -> Disposition {
        Disposition::Requeue
    }
    async fn on_failure(&self, _: kombu::Error, _: &Message) -> Disposition {
        Disposition::Reject
    }
}

async fn use_it(channel: &kombu::Channel) -> kombu::Result<()> {
    let producer = TaskProducer::new(channel);
    producer.import_feed("http://cnn.com/rss".to_owned(), vec![]).await?;
    producer.purge().await?;
    let mut consumer = WorkerConsumer::start(channel, Handler).await?;
    let _: Disposition = consumer.handle_next(std::time::Duration::from_secs(1)).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
    assert_eq!(WorkerConsumer::<Handler>::PREFETCH, 5);
}
