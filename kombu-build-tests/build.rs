//! Generates the modules the tests use, from the example topologies and test fixtures.

fn main() -> Result<(), kombu_build::Error> {
    kombu_build::Config::new()
        .module_name("media")
        .compile(&["../examples/media/topology.toml"])?;
    kombu_build::Config::new()
        .module_name("feed")
        .compile(&["../examples/feed/topology.yaml"])?;
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
