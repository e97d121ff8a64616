//! The derives at work: a producer struct with a domain method (the README's pattern), an enum
//! producer with a method per action, and an enum consumer dispatching on the action; an
//! unknown action is dead-lettered, not lost. Runs on `memory://` and, with
//! `KOMBU_TEST_TRANSPORT=amqp`, on RabbitMQ.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "derive")]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use kombu::{Consumer, Disposition, Message, Producer};
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(5);

/// The README's producer: the struct holds the producer; `import_feed` calls `self.publish`.
#[derive(Producer)]
#[kombu(
    exchange(
        name = "kombu.derive.tasks",
        type = "direct",
        durable = false,
        auto_delete = true
    ),
    routing_key = "feed"
)]
struct FeedProducer {
    producer: kombu::Producer,
}

impl FeedProducer {
    async fn import_feed(&self, feed_url: &str) -> kombu::Result<()> {
        self.publish(&serde_json::json!({"action": "import_feed", "feed_url": feed_url}))
            .await
    }
}

/// The actions, with a producer method and a handler method for each.
#[derive(Debug, Serialize, Deserialize, Producer, Consumer)]
#[serde(tag = "action", rename_all = "snake_case")]
#[kombu(
    producer = "TaskProducer",
    consumer = "Tasks",
    exchange(
        name = "kombu.derive.tasks",
        type = "direct",
        durable = false,
        auto_delete = true
    ),
    routing_key = "feed",
    queue(
        name = "kombu.derive.feed",
        exchange = "kombu.derive.tasks",
        routing_key = "feed",
        durable = false,
        auto_delete = true,
        dead_letter_exchange = "kombu.derive.dlx"
    ),
    prefetch = 5
)]
enum Task {
    ImportFeed { feed_url: String },
    RefreshAll,
}

#[derive(Default)]
struct Worker {
    seen: Mutex<Vec<String>>,
}

impl TasksHandler for Worker {
    async fn import_feed(&self, feed_url: String, _: &Message) -> Disposition {
        self.seen.lock().unwrap().push(feed_url);
        Disposition::Ack
    }

    async fn refresh_all(&self, _: &Message) -> Disposition {
        self.seen.lock().unwrap().push("refresh".to_owned());
        Disposition::Ack
    }
}

/// The dead-letter side: a fanout exchange and a queue.
fn dead_letters() -> kombu::Queue {
    let dlx = kombu::Exchange::new("kombu.derive.dlx", kombu::ExchangeKind::Fanout)
        .durable(false)
        .auto_delete(true);
    kombu::Queue::new("kombu.derive.dead")
        .durable(false)
        .auto_delete(true)
        .bind_to(dlx, "")
}

#[tokio::test]
async fn the_readme_producer_and_an_enum_consumer_dispatching_on_action() {
    let test = common::test_name!();
    let (conn, channel) = common::open(test).await;
    let dead = common::declare(&channel, dead_letters()).await;
    dead.purge().await.unwrap();
    let mut consumer = TasksConsumer::start(&channel, Worker::default())
        .await
        .unwrap();
    let producer = FeedProducer::new(&channel);
    assert_eq!(FeedProducer::exchange().name, "kombu.derive.tasks");
    producer.import_feed("http://cnn.com/rss").await.unwrap();
    let typed = TaskProducer::new(&channel);
    typed
        .import_feed("http://bbc.co.uk/rss".to_owned())
        .await
        .unwrap();
    typed.refresh_all().await.unwrap();
    for _ in 0..3 {
        assert_eq!(consumer.handle_next(WAIT).await.unwrap(), Disposition::Ack);
    }
    assert_eq!(
        *consumer.handler().seen.lock().unwrap(),
        ["http://cnn.com/rss", "http://bbc.co.uk/rss", "refresh"]
    );

    // An action no variant names: rejected to the dead-letter exchange, not dropped.
    producer
        .publish(&serde_json::json!({"action": "delete_everything"}))
        .await
        .unwrap();
    assert_eq!(
        consumer.handle_next(WAIT).await.unwrap(),
        Disposition::Reject
    );
    let m = common::get_one(&dead).await;
    assert_eq!(common::str_field(&m, "action"), "delete_everything");
    m.ack().unwrap();
    assert_eq!(TasksConsumer::<Worker>::PREFETCH, 5);
    // (Auto-delete only once a consumer has come and gone: this one never had one. Its
    // exchange, auto-delete too, goes with its last binding.)
    dead.delete(false, false).await.unwrap();
    conn.close().await.unwrap();
}

/// A consumer that runs four handlers at once, but one at a time on its ordered queue.
// Two `queue(...)` entries repeat keys, which clippy's duplicated_attributes takes for a
// repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(Debug, Serialize, Deserialize, Consumer)]
#[kombu(
    consumer = "Thumbnails",
    exchange(
        name = "kombu.derive.media",
        type = "direct",
        durable = false,
        auto_delete = true
    ),
    queue(
        name = "kombu.derive.thumbs",
        exchange = "kombu.derive.media",
        routing_key = "thumb",
        durable = false,
        auto_delete = true
    ),
    queue(
        name = "kombu.derive.ledger",
        exchange = "kombu.derive.media",
        routing_key = "ledger",
        durable = false,
        auto_delete = true,
        ordered = true
    ),
    concurrency = 4,
    prefetch = 20
)]
struct Thumb {
    n: u32,
}

#[derive(Default)]
struct Thumbnailer {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    ledger: Mutex<Vec<u32>>,
    done: std::sync::atomic::AtomicUsize,
    shutdown: std::sync::OnceLock<kombu::Shutdown>,
}

impl ThumbnailsHandler for Thumbnailer {
    async fn receive(&self, thumb: Thumb, delivery: &Message) -> Disposition {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        tokio::time::sleep(Duration::from_millis(15)).await;
        self.now.fetch_sub(1, SeqCst);
        if delivery.routing_key() == "ledger" {
            self.ledger.lock().unwrap().push(thumb.n);
        }
        if self.done.fetch_add(1, SeqCst) + 1 == 16 {
            if let Some(shutdown) = self.shutdown.get() {
                shutdown.token().cancel();
            }
        }
        Disposition::Ack
    }
}

#[tokio::test]
async fn a_derived_consumer_runs_its_concurrency_and_keeps_an_ordered_queue_in_order() {
    let test = common::test_name!();
    let (conn, channel) = common::open(test).await;
    assert_eq!(ThumbnailsConsumer::<Thumbnailer>::CONCURRENCY, 4);
    assert_eq!(
        ThumbnailsConsumer::<Thumbnailer>::ORDERED,
        ["kombu.derive.ledger"]
    );
    let shutdown = kombu::Shutdown::new(WAIT);
    let handler = Thumbnailer::default();
    handler.shutdown.set(shutdown.clone()).unwrap();
    let mut consumer = ThumbnailsConsumer::start(&channel, handler).await.unwrap();
    let producer = kombu::Producer::new(&channel).exchange(
        kombu::Exchange::new("kombu.derive.media", kombu::ExchangeKind::Direct)
            .durable(false)
            .auto_delete(true),
    );
    for n in 0..8 {
        for key in ["thumb", "ledger"] {
            producer
                .publish(&Thumb { n })
                .routing_key(key)
                .await
                .unwrap();
        }
    }
    consumer.run_until(&shutdown).await.unwrap();
    let handler = consumer.handler();
    assert_eq!(handler.done.load(std::sync::atomic::Ordering::SeqCst), 16);
    assert_eq!(handler.most.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert_eq!(
        *handler.ledger.lock().unwrap(),
        (0..8).collect::<Vec<u32>>()
    );
    conn.close().await.unwrap();
}
