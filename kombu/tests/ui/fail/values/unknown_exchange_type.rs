#[derive(kombu::Producer)]
#[kombu(exchange(name = "feed", type = "dierct"))]
struct FeedProducer {
    producer: kombu::Producer,
}

fn main() {}
