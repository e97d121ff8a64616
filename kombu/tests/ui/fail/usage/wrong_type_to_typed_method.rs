// The per-variant method takes the variant's fields: the wrong type does not compile.
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, kombu::Producer)]
#[serde(tag = "action", rename_all = "snake_case")]
#[kombu(exchange(name = "feed"), routing_key = "importer")]
enum FeedTask {
    ImportFeed { feed_url: String },
}

async fn send(producer: &FeedTaskProducer) -> kombu::Result<()> {
    producer.import_feed(42).await
}

fn main() {
    let _ = send;
}
