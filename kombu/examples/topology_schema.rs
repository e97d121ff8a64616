//! Regenerates `schemas/topology.schema.json` from the topology model:
//! `cargo run -p kombu --example topology_schema`. A test fails when the checked-in file is
//! stale.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/topology.schema.json");
    let schema = kombu::topology::json_schema();
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == schema {
        println!("{} is up to date", path.display());
    } else {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, schema)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
