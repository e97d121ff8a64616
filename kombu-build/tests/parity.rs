//! The derive path and the topology-file path feed one IR and one generator: a derive and the
//! topology file that says the same thing produce the same description and the same code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use kombu::topology::Topology;
use kombu_codegen::{consumer_items, derive, producer_items};

const DERIVE: &str = r#"
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
"#;

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
    let from_file = &module.producers[0];
    assert_eq!(&from_derive, from_file);
    assert_eq!(
        producer_items(&from_derive).unwrap().to_string(),
        producer_items(from_file).unwrap().to_string()
    );
}

#[test]
fn a_derive_and_its_topology_file_describe_the_same_consumer() {
    let input: syn::DeriveInput = syn::parse_str(DERIVE).unwrap();
    let from_derive = derive::consumer_spec(&input).unwrap();
    let module = topology_module();
    let from_file = &module.consumers[0];
    assert_eq!(&from_derive, from_file);
    assert_eq!(
        consumer_items(&from_derive).unwrap().to_string(),
        consumer_items(from_file).unwrap().to_string()
    );
}

#[test]
fn the_derive_output_is_the_generator_output() {
    let input: syn::DeriveInput = syn::parse_str(DERIVE).unwrap();
    let module = topology_module();
    let mut expected = producer_items(&module.producers[0]).unwrap();
    expected.extend(consumer_items(&module.consumers[0]).unwrap());
    let mut derived = derive::derive_producer(&input);
    derived.extend(derive::derive_consumer(&input));
    assert_eq!(derived.to_string(), expected.to_string());
}
