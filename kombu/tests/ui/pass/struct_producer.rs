// The README's FeedProducer: a struct holding the producer, with a domain method.
use kombu::Producer;

#[derive(Producer)]
#[kombu(
    exchange(name = "feed", type = "direct", durable = true),
    routing_key = "importer",
    serializer = "json",
    compression = "zlib",
    delivery_mode = "persistent",
    confirm = false
)]
pub struct FeedProducer {
    producer: kombu::Producer,
    sent: std::cell::Cell<u32>,
}

impl FeedProducer {
    pub async fn import_feed(&self, feed_url: &str) -> kombu::Result<()> {
        self.sent.set(self.sent.get() + 1);
        self.publish(&serde_json::json!({"action": "import_feed", "feed_url": feed_url})).await
    }
}

fn main() {
    let exchange: kombu::Exchange = FeedProducer::exchange();
    assert_eq!(exchange.name, "feed");
    let _ = FeedProducer::new;
    let _ = FeedProducer::from_connection;
    let _ = FeedProducer::declare;
}
