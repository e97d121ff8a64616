//! The figure for generation at scale: a topology of 200 exchanges, 400 queues and 400
//! bindings (1,000 entities) with 200 message types, 50 producers (4 routes each) and 50
//! consumers (8 queues each), every route type-checked. Prints the time to load and check it
//! and to generate its code, and writes a crate with the output under `target/kombu-scale/`
//! so its compile time can be measured:
//!
//! ```sh
//! cargo run --release -p kombu-build --example scale
//! cargo build --manifest-path target/kombu-scale/Cargo.toml   # (the second run: kombu is built)
//! ```
//!
//! An argument scales it: `scale 1000` is the issue's 1,000 exchanges, 2,000 queues and 1,000
//! message types (its crate compiled in about a minute here; `scale 100` and `scale 3000`
//! show that compile time grows linearly); `scale 50000` is 50,000 exchanges and 100,000
//! queues (the figure for near-linear generation; compare its time and peak memory with
//! `scale 5000`).

use std::fmt::Write as _;
use std::time::Instant;

use kombu::topology::{SourceFile, Topology};

const EXCHANGES: usize = 200;

fn topology(exchanges: usize) -> String {
    let mut t = String::from("version = 1\n");
    for i in 0..exchanges {
        let _ = write!(
            t,
            "\n[exchanges.x{i}]\ntype = \"topic\"\ndescription = \"Exchange {i}.\"\n"
        );
    }
    for i in 0..exchanges {
        for (q, key) in [(2 * i, format!("m{i}.*")), (2 * i + 1, "#".to_owned())] {
            let _ = write!(
                t,
                "\n[queues.q{q}]\nmax_length = 10000\nbindings = [{{ exchange = \"x{i}\", routing_key = \"{key}\" }}]\n"
            );
        }
    }
    for i in 0..exchanges {
        let _ = write!(
            t,
            "\n[messages.message{i}]\ndescription = \"Message {i}.\"\nfields.id = \"u64\"\nfields.name = \"string\"\nfields.tags = \"list<string>\"\nfields.score = \"optional<f64>\"\nfields.labels = \"map<string>\"\nfields.raw = \"bytes\"\n"
        );
    }
    for p in 0..exchanges / 4 {
        let _ = write!(t, "\n[producers.producer{p}]\nexchange = \"\"\n");
        for m in 4 * p..4 * p + 4 {
            let _ = write!(
                t,
                "[producers.producer{p}.methods.send{m}]\nmessage = \"message{m}\"\nrouting_key = \"q{}\"\n",
                2 * m
            );
        }
    }
    for c in 0..exchanges / 4 {
        let _ = write!(t, "\n[consumers.consumer{c}]\nprefetch = 50\n");
        for m in 4 * c..4 * c + 4 {
            let _ = write!(
                t,
                "queues.q{} = \"message{m}\"\nqueues.q{} = \"message{m}\"\n",
                2 * m,
                2 * m + 1
            );
        }
    }
    t
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exchanges = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => EXCHANGES,
    };
    let text = topology(exchanges);
    let started = Instant::now();
    let loaded = Topology::from_sources([SourceFile::new(
        "scale.toml",
        kombu::topology::Format::Toml,
        text.clone(),
    )])?;
    let load = started.elapsed();
    let started = Instant::now();
    let code = kombu_build::Config::new().generate(&loaded)?;
    let generate = started.elapsed();
    let m = loaded.model();
    let bindings: usize = m.queues.values().map(|q| q.bindings.len()).sum();
    println!(
        "{} exchanges, {} queues, {bindings} bindings, {} message types, {} producers, {} consumers",
        m.exchanges.len(),
        m.queues.len(),
        m.messages.len(),
        m.producers.len(),
        m.consumers.len()
    );
    println!(
        "load and check: {load:?}; generate and format: {generate:?}; {} lines of Rust",
        code.lines().count()
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kombu-scale");
    std::fs::create_dir_all(dir.join("src"))?;
    let kombu = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kombu")
        .canonicalize()?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"kombu-scale\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nkombu = {{ path = {:?} }}\n\n[workspace]\n",
            kombu.display().to_string()
        ),
    )?;
    std::fs::write(dir.join("src/lib.rs"), "include!(\"generated.rs\");\n")?;
    std::fs::write(dir.join("src/generated.rs"), code)?;
    std::fs::write(dir.join("scale.toml"), text)?;
    println!("wrote {}", dir.display());
    if let Some(peak) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
    {
        println!(
            "peak memory (Linux VmHWM): {}",
            peak.trim_start_matches("VmHWM:").trim()
        );
    }
    Ok(())
}
