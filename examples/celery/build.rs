//! Generates the typed task client and handler trait from `topology.toml`. This service runs
//! `thumbnail` (and, on the in-memory broker, stands in for Python's `add`): `serve_tasks`
//! keeps the other tasks out of its handler trait, so its worker never takes them from the
//! Python workers' queue.

fn main() -> Result<(), kombu_build::Error> {
    kombu_build::Config::new()
        .serve_tasks(["thumbnail"])
        .compile(&["topology.toml"])?;
    kombu_build::Config::new()
        .module_name("standalone")
        .compile(&["topology.toml"])?;
    Ok(())
}
