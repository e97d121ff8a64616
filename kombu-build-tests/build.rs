//! Generates the modules the tests use, from the example topologies and test fixtures.

fn main() -> Result<(), kombu_build::Error> {
    kombu_build::compile("../examples/topology/media.toml")?;
    kombu_build::compile("../examples/topology/feed.yaml")?;
    kombu_build::Config::new()
        .module_name("billing")
        .message_derive("Eq")
        .compile(&["../kombu/tests/fixtures/topology/valid/headers_and_e2e.toml"])?;
    kombu_build::Config::new().module_name("orders").compile(&[
        "../kombu/tests/fixtures/topology/valid/composed/exchanges.toml",
        "../kombu/tests/fixtures/topology/valid/composed/shipping.yaml",
        "../kombu/tests/fixtures/topology/valid/composed/billing.json",
    ])?;
    Ok(())
}
