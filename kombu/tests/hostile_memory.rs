//! Peak memory of decoding hostile bodies: each stays far under 100 MB. Measured as the
//! process's peak resident memory (Linux's `VmHWM`, reset through `/proc/self/clear_refs`)
//! above what it held before, in one test in its own binary so nothing else runs meanwhile.
//!
//! Run with `--nocapture` to see the figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(target_os = "linux")]

use kombu::serialization::{Accept, Registry, MSGPACK, PICKLE, YAML};

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

/// The most memory `f` made resident beyond what was resident before.
fn peak_of(f: impl FnOnce()) -> usize {
    // Writing 5 resets the peak to the current resident size.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_bytes("VmRSS:");
    f();
    status_bytes("VmHWM:").saturating_sub(before)
}

fn repeat(bytes: &[u8], n: usize) -> Vec<u8> {
    bytes.repeat(n)
}

fn bodies() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    // Pickle: 10,000 lists deep (20 KB); the same through the memo; a list of 2,000
    // references to a 2,000-item list; DUP doubling a list 22 times; 100,000 MARK-built
    // tuples (each worth 128 slots to serde-pickle).
    let deep = [
        b"\x80\x02".as_slice(),
        &repeat(b"]", 10_000),
        &repeat(b"a", 9_999),
        b".",
    ]
    .concat();
    let mut through_memo = b"\x80\x02".to_vec();
    for id in 0u32..10_000 {
        through_memo.extend(b"]r");
        through_memo.extend(id.to_le_bytes());
    }
    through_memo.extend(repeat(b"a", 9_999));
    through_memo.push(b'.');
    let square = [
        b"\x80\x02(".as_slice(),
        &repeat(b"K\x00", 2_000),
        b"lr\x00\x00\x00\x00(",
        &repeat(b"j\x00\x00\x00\x00", 2_000),
        b"l.",
    ]
    .concat();
    let dup = [b"\x80\x02]K\x00a".as_slice(), &repeat(b"2a", 22), b"."].concat();
    let marks = [b"]".as_slice(), &repeat(b"(ta", 100_000), b"."].concat();
    // YAML: an anchor of 2,000 items aliased 2,000 times (12 KB), and a small "billion
    // laughs" of nine levels of ten aliases each.
    let items = vec!["0"; 2_000].join(",");
    let aliases = vec!["*a"; 2_000].join(",");
    let square_yaml = format!("a: &a [{items}]\nb: [{aliases}]\n").into_bytes();
    let mut laughs = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..=9 {
        let refs = vec![format!("*l{}", level - 1); 10].join(", ");
        laughs.push_str(&format!("l{level}: &l{level} [{refs}]\n"));
    }
    // msgpack: 10,000 one-item arrays deep, and 100 array headers that each claim 65,535
    // items.
    let deep_msgpack = [vec![0x91u8; 10_000], vec![0xc0]].concat();
    let claims = repeat(b"\xdc\xff\xff", 100);
    vec![
        ("pickle, 10,000 lists deep", deep, PICKLE),
        ("pickle, 10,000 deep through the memo", through_memo, PICKLE),
        ("pickle, 2,000 x 2,000 memo references", square, PICKLE),
        ("pickle, DUP doubling 22 times", dup, PICKLE),
        ("pickle, 100,000 MARK-built tuples", marks, PICKLE),
        ("YAML, 2,000 x 2,000 aliases", square_yaml, YAML),
        ("YAML, billion laughs (10^9)", laughs.into_bytes(), YAML),
        ("msgpack, 10,000 arrays deep", deep_msgpack, MSGPACK),
        ("msgpack, 100 claimed 65,535-item arrays", claims, MSGPACK),
    ]
}

#[test]
fn hostile_bodies_decode_to_errors_within_100_mb() {
    let registry = Registry::new();
    let accept = Accept::all();
    let mut report = Vec::new();
    for (what, body, content_type) in bodies() {
        let mut result = None;
        let peak = peak_of(|| {
            result = Some(registry.decode(&body, Some(content_type), None, Some(&accept)));
        });
        let err = match result {
            Some(Err(e)) => e,
            other => panic!("{what}: expected a decode error, got {other:?}"),
        };
        assert!(err.is_decode(), "{what}: {err}");
        report.push(format!(
            "{what} ({} bytes): peak {:.1} MB",
            body.len(),
            peak as f64 / 1e6
        ));
        assert!(
            peak < 100_000_000,
            "{what}: decoding peaked at {peak} bytes\n{}",
            report.join("\n")
        );
    }
    println!("{}", report.join("\n"));
}
