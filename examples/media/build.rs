//! Generates typed clients from `topology.toml` into `$OUT_DIR/kombu/topology.rs`. A topology
//! with errors fails the build with `file:line:col` messages.

fn main() -> Result<(), kombu_build::Error> {
    kombu_build::compile("topology.toml")
}
