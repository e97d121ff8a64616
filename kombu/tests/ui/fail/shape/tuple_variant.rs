#[derive(serde::Serialize, kombu::Producer)]
#[serde(tag = "action")]
#[kombu(exchange(name = "feed"))]
enum FeedTask {
    ImportFeed(String),
}

fn main() {}
