#[derive(serde::Serialize, kombu::Producer)]
#[kombu(exchange(name = "feed"))]
enum FeedTask {
    ImportFeed { feed_url: String },
}

fn main() {}
