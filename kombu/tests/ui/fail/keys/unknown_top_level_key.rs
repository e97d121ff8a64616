#[derive(kombu::Producer)]
#[kombu(exchnage(name = "feed"), routing_key = "importer")]
struct FeedProducer {
    producer: kombu::Producer,
}

fn main() {}
