//! Peak memory of generating a large module stays in proportion to the text it produces (it
//! was 45 times the text: the tokens and syntax tree of the whole module at once). Measured as
//! the process's peak resident memory (Linux's `VmHWM`, reset through `/proc/self/clear_refs`)
//! above what it held before, in one test in its own binary so nothing else runs meanwhile.
//! Figures for 100,000 queues come from `examples/scale.rs`.
//!
//! Run with `--nocapture` to see the figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(target_os = "linux")]

use std::fmt::Write as _;

use kombu::topology::{Format, SourceFile, Topology};

/// A memory figure of this process from `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: usize = line.trim().trim_end_matches("kB").trim().parse().unwrap();
    kb * 1024
}

/// `n` exchanges, each with two queues bound and a message type; producers of four methods
/// and consumers of eight queues (the shape of `examples/scale.rs`).
fn many(n: usize) -> String {
    let mut t = String::from("version = 1\n");
    for i in 0..n {
        let _ = write!(
            t,
            "\n[exchanges.x{i}]\ntype = \"topic\"\n\n[queues.q{}]\nbindings = [{{ exchange = \"x{i}\", routing_key = \"m{i}.*\" }}]\n\n[queues.q{}]\nbindings = [{{ exchange = \"x{i}\", routing_key = \"#\" }}]\n\n[messages.m{i}]\nfields.id = \"u64\"\nfields.tags = \"list<string>\"\nfields.note = \"optional<string>\"\n",
            2 * i,
            2 * i + 1
        );
    }
    for g in 0..n / 4 {
        let _ = write!(t, "\n[producers.p{g}]\nexchange = \"\"\n");
        for m in 4 * g..4 * g + 4 {
            let _ = writeln!(
                t,
                "methods.send{m} = {{ message = \"m{m}\", routing_key = \"q{}\" }}",
                2 * m
            );
        }
        let _ = write!(t, "\n[consumers.c{g}]\n");
        for m in 4 * g..4 * g + 4 {
            let _ = writeln!(
                t,
                "queues.q{} = \"m{m}\"\nqueues.q{} = \"m{m}\"",
                2 * m,
                2 * m + 1
            );
        }
    }
    t
}

#[test]
fn generating_a_large_module_holds_little_more_than_its_text() {
    let topology =
        Topology::from_sources([SourceFile::new("many.toml", Format::Toml, many(1_500))]).unwrap();
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_bytes("VmRSS:");
    let code = kombu_build::Config::new().generate(&topology).unwrap();
    let peak = status_bytes("VmHWM:").saturating_sub(before);
    println!(
        "3,000 queues: {} bytes of Rust, {peak} bytes peak ({:.1}x)",
        code.len(),
        peak as f64 / code.len() as f64
    );
    assert!(code.contains("pub fn send1499<"));
    assert!(
        peak < 8 * code.len(),
        "generating {} bytes of Rust took {peak} bytes at its peak",
        code.len()
    );
}
