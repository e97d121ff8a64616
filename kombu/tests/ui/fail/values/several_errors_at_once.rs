// Three mistakes, three errors, and the user's call to `self.publish` adds none.
#[derive(kombu::Producer)]
#[kombu(exchange(name = "feed", type = "fanot"), delivery_mode = "forever", serialiser = "json")]
struct FeedProducer {
    producer: kombu::Producer,
}

impl FeedProducer {
    async fn import_feed(&self, url: &str) -> kombu::Result<()> {
        self.publish(&url).await
    }
}

fn main() {}
