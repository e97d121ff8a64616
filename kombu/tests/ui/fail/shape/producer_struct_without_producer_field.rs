#[derive(kombu::Producer)]
#[kombu(exchange(name = "feed"))]
struct FeedProducer {
    url: String,
}

fn main() {}
