// A mistake in a consumer's attributes is one error: the handler trait and the consumer are
// still generated, so the code that uses them reports nothing more.
use kombu::{Disposition, Message};
use serde::Deserialize;

#[derive(Deserialize, kombu::Consumer)]
#[serde(tag = "action", rename_all = "snake_case")]
#[kombu(consumer = "Feed", queue(name = "feed", exchange = "feed"), prefech = 10)]
enum FeedTask {
    ImportFeed { feed_url: String },
}

struct Importer;

impl FeedHandler for Importer {
    async fn import_feed(&self, _feed_url: String, _: &Message) -> Disposition {
        Disposition::Ack
    }
}

async fn run(channel: &kombu::Channel) -> kombu::Result<()> {
    FeedConsumer::start(channel, Importer).await?.run().await
}

fn main() {
    let _ = run;
}
