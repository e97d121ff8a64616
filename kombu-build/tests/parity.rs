//! The derive path and the topology-file path feed one IR and one generator: a derive and the
//! topology file that says the same thing give the same description (the generator's input, so
//! the same code), and at run time the derived types declare what the file declares.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use kombu::topology::Topology;
use kombu::{Consumer, Disposition, Message, Producer};
use kombu_codegen::derive;
use serde::{Deserialize, Serialize};

/// Defines the item and keeps its source text for the front end to parse, so the derive the
/// compiler expands and the one the spec tests read are the same.
macro_rules! derived {
    ($($item:tt)*) => {
        $($item)*
        const DERIVE: &str = stringify!($($item)*);
    };
}

derived! {
#[derive(Serialize, Deserialize, Producer, Consumer)]
#[serde(tag = "action", rename_all = "snake_case")]
#[kombu(
    producer = "FeedProducer",
    consumer = "FeedWorker",
    exchange(name = "feed", type = "direct"),
    routing_key = "importer",
    compression = "zlib",
    confirm = true,
    queue(name = "feed", exchange = "feed", routing_key = "importer"),
    prefetch = 10,
    on_failure = "requeue",
)]
enum FeedTask {
    ImportFeed { feed_url: String, tags: Vec<String> },
    RefreshAll,
}
}

fn topology_module() -> kombu_codegen::ir::Module {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity.toml");
    let topology = Topology::from_path(path).unwrap();
    assert!(topology.warnings().is_empty(), "{:?}", topology.warnings());
    kombu_build::lower::lower(&topology, &Default::default()).unwrap()
}

#[test]
fn a_derive_and_its_topology_file_describe_the_same_producer() {
    let input: syn::DeriveInput = syn::parse_str(DERIVE).unwrap();
    let from_derive = derive::producer_spec(&input).unwrap();
    let module = topology_module();
    assert_eq!(from_derive, module.producers[0]);
}

#[test]
fn a_derive_and_its_topology_file_describe_the_same_consumer() {
    let input: syn::DeriveInput = syn::parse_str(DERIVE).unwrap();
    let from_derive = derive::consumer_spec(&input).unwrap();
    let module = topology_module();
    assert_eq!(from_derive, module.consumers[0]);
}

struct Worker;

impl FeedWorkerHandler for Worker {
    async fn import_feed(&self, _: String, _: Vec<String>, _: &Message) -> Disposition {
        Disposition::Ack
    }

    async fn refresh_all(&self, _: &Message) -> Disposition {
        Disposition::Ack
    }
}

#[tokio::test]
async fn the_derived_types_declare_what_the_topology_file_declares() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity.toml");
    let topology = Topology::from_path(path).unwrap();
    assert_eq!(Some(FeedProducer::exchange()), topology.exchange("feed"));
    let conn = kombu::Connection::connect("memory://kombu-build-parity")
        .await
        .unwrap();
    let channel = conn.channel().await.unwrap();
    let mut worker = FeedWorkerConsumer::start(&channel, Worker).await.unwrap();
    let feed = topology.queue("feed").unwrap();
    assert_eq!(worker.consumer().queues(), [feed]);
    assert_eq!(FeedWorkerConsumer::<Worker>::PREFETCH, 10);
    conn.close().await.unwrap();
}
