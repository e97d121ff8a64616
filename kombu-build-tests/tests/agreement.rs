//! One topology, two mappings to declarations: what `kombu::topology::Topology` gives at run
//! time and what `kombu-build` generated from the same files must be equal, exchange by
//! exchange and queue by queue (with their bindings and arguments), for every fixture that
//! generates code: the examples, the valid fixtures and the whole generated-code corpus.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kombu::topology::Topology;
use kombu::{Exchange, Queue};
use kombu_build_tests as generated;

type Declarations = (Vec<Exchange>, Vec<Queue>);

fn agree(files: &[&str], generated: Declarations) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths: Vec<_> = files.iter().map(|f| root.join(f)).collect();
    let topology =
        Topology::from_paths(&paths).unwrap_or_else(|d| panic!("{files:?} does not load: {d}"));
    let (mut xs, mut qs) = generated;
    let mut runtime_xs = topology.exchanges();
    let mut runtime_qs = topology.queues();
    xs.sort_by(|a, b| a.name.cmp(&b.name));
    qs.sort_by(|a, b| a.name.cmp(&b.name));
    runtime_xs.sort_by(|a, b| a.name.cmp(&b.name));
    runtime_qs.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        runtime_xs.iter().map(|x| &x.name).collect::<Vec<_>>(),
        xs.iter().map(|x| &x.name).collect::<Vec<_>>(),
        "{files:?}: the same exchanges"
    );
    for (runtime, generated) in runtime_xs.iter().zip(&xs) {
        assert_eq!(runtime, generated, "{files:?}: exchange `{}`", runtime.name);
    }
    assert_eq!(
        runtime_qs.iter().map(|q| &q.name).collect::<Vec<_>>(),
        qs.iter().map(|q| &q.name).collect::<Vec<_>>(),
        "{files:?}: the same queues"
    );
    for (runtime, generated) in runtime_qs.iter().zip(&qs) {
        assert_eq!(runtime, generated, "{files:?}: queue `{}`", runtime.name);
    }
}

#[test]
fn the_examples_and_fixtures_declare_the_same_at_run_time_and_in_generated_code() {
    agree(
        &["../examples/media/topology.toml"],
        generated::media::declarations(),
    );
    agree(
        &["../examples/media/topology.yaml"],
        generated::media::declarations(),
    );
    agree(
        &["../examples/feed/topology.yaml"],
        generated::feed::declarations(),
    );
    agree(
        &["../examples/feed/topology.toml"],
        generated::feed::declarations(),
    );
    agree(
        &["../kombu/tests/fixtures/topology/valid/headers_and_e2e.toml"],
        generated::billing::declarations(),
    );
    agree(
        &["../kombu/tests/fixtures/topology/valid/policies.toml"],
        generated::policies::declarations(),
    );
    agree(
        &[
            "../kombu/tests/fixtures/topology/valid/composed/exchanges.toml",
            "../kombu/tests/fixtures/topology/valid/composed/shipping.yaml",
            "../kombu/tests/fixtures/topology/valid/composed/billing.json",
        ],
        generated::orders::declarations(),
    );
}

#[test]
fn every_corpus_file_declares_the_same_at_run_time_and_in_generated_code() {
    assert!(generated::corpus::DECLARATIONS.len() >= 6);
    for (file, declarations) in generated::corpus::DECLARATIONS {
        agree(&[file], declarations());
    }
}
