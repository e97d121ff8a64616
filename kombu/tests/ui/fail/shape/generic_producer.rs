#[derive(kombu::Producer)]
#[kombu(exchange(name = "feed"))]
struct FeedProducer<T> {
    producer: kombu::Producer,
    extra: T,
}

fn main() {}
