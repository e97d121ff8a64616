#[derive(kombu::Producer)]
#[kombu(exchange(name = "feed", durabel = true))]
struct FeedProducer {
    producer: kombu::Producer,
}

fn main() {}
