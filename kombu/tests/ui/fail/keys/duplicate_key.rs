#[derive(kombu::Producer)]
#[kombu(exchange(name = "feed"), routing_key = "importer", routing_key = "other")]
struct FeedProducer {
    producer: kombu::Producer,
}

fn main() {}
