#[derive(kombu::Producer)]
#[kombu(exchange(type = "topic"))]
struct FeedProducer {
    producer: kombu::Producer,
}

fn main() {}
