// A handler must handle every action.
use kombu::{Disposition, Message};
use serde::Deserialize;

#[derive(Deserialize, kombu::Consumer)]
#[serde(tag = "action", rename_all = "snake_case")]
#[kombu(consumer = "Feed", queue(name = "feed", exchange = "feed", routing_key = "importer"))]
enum FeedTask {
    ImportFeed { feed_url: String },
    RefreshAll,
}

struct Importer;

impl FeedHandler for Importer {
    async fn import_feed(&self, _feed_url: String, _: &Message) -> Disposition {
        Disposition::Ack
    }
}

fn main() {}
