//! Hot paths of the in-memory transport, each beside a baseline measured in the same run so the
//! report can be read as a ratio:
//!
//! - `roundtrip/*`: publish + consume + ack of 1,000 messages (raw 100-byte bodies, and a
//!   small JSON struct), against `roundtrip/baseline_mpsc`, the same bytes through a bare tokio
//!   channel (the floor any in-process transport stands on).
//! - `topic/trie_10k`: routing decisions over 10,000 topic bindings, against
//!   `topic/linear_10k`, a loop over every binding with a matcher (what the trie avoids).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kombu::transport::memory::router::{BindingEntry, Destination, Router};
use kombu::{Connection, Consumer, Exchange, ExchangeKind, FieldTable, Producer, Queue};
use serde::Serialize;

const BATCH: usize = 1_000;

#[derive(Serialize)]
struct Reading {
    sensor: &'static str,
    value: f64,
    seq: u64,
    tags: [&'static str; 2],
}

fn roundtrip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("roundtrip");
    group.throughput(Throughput::Elements(BATCH as u64));

    let (conn, producer, mut consumer) = rt.block_on(async {
        let conn = Connection::connect("memory://bench-roundtrip")
            .await
            .unwrap();
        let channel = conn.channel().await.unwrap();
        let exchange = Exchange::new("bench", ExchangeKind::Direct);
        let queue = Queue::new("bench").bind_to(exchange.clone(), "k");
        let producer = Producer::new(&channel).exchange(exchange).routing_key("k");
        let mut consumer =
            Consumer::new(&conn.channel().await.unwrap(), [queue]).prefetch_count(200);
        consumer.consume().await.unwrap();
        (conn, producer, consumer)
    });

    let body = vec![b'x'; 100];
    group.bench_function("raw_100b", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..BATCH {
                    producer.publish_body(body.clone()).await.unwrap();
                    let m = consumer.next().await.unwrap().unwrap();
                    m.ack().unwrap();
                }
            })
        })
    });

    group.bench_function("json", |b| {
        b.iter(|| {
            rt.block_on(async {
                for seq in 0..BATCH as u64 {
                    let reading = Reading {
                        sensor: "t1",
                        value: 21.5,
                        seq,
                        tags: ["a", "b"],
                    };
                    producer.publish(&reading).await.unwrap();
                    let m = consumer.next().await.unwrap().unwrap();
                    let v: serde_json::Value = m.decode().unwrap();
                    assert!(v.get("seq").is_some());
                    m.ack().unwrap();
                }
            })
        })
    });

    group.bench_function("baseline_mpsc", |b| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..BATCH {
                    tx.send(body.clone()).unwrap();
                    let got = rx.recv().await.unwrap();
                    std::hint::black_box(got);
                }
            })
        })
    });
    group.finish();
    rt.block_on(conn.close()).unwrap();
}

/// A deterministic word generator (no rand dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// A dotted key of 1..=5 words from a 200-word vocabulary; with `wildcards`, about one
    /// word in twenty is `*` and one in fifty `#` (bindings are selective, as in real systems).
    fn key(&mut self, wildcards: bool) -> String {
        let n = 1 + self.next() % 5;
        (0..n)
            .map(|_| {
                let r = self.next() % 200;
                match r {
                    0..=9 if wildcards => "*".to_owned(),
                    10..=13 if wildcards => "#".to_owned(),
                    _ => format!("w{}", r % 40),
                }
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Topic matching by recursion over words: correct, but run against every binding.
fn naive_match(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|i| naive_match(rest, &key[i..])),
        Some((&"*", rest)) => !key.is_empty() && naive_match(rest, &key[1..]),
        Some((w, rest)) => key.first() == Some(w) && naive_match(rest, &key[1..]),
    }
}

fn topic(c: &mut Criterion) {
    let mut gen = Lcg(7);
    let bindings: Vec<String> = (0..10_000).map(|_| gen.key(true)).collect();
    let keys: Vec<String> = (0..1_000).map(|_| gen.key(false)).collect();
    let mut router = Router::new(&ExchangeKind::Topic);
    for (i, key) in bindings.iter().enumerate() {
        router.bind(BindingEntry {
            destination: Destination::Queue(format!("q{i}")),
            key: key.clone(),
            arguments: FieldTable::new(),
        });
    }
    let split: Vec<Vec<&str>> = bindings.iter().map(|b| b.split('.').collect()).collect();
    // Both matchers must agree before either is timed.
    let mut matched = 0;
    for key in &keys {
        let mut out = BTreeSet::new();
        router.route(key, None, &mut out);
        let words: Vec<&str> = key.split('.').collect();
        let naive = split.iter().filter(|p| naive_match(p, &words)).count();
        assert_eq!(
            out.len(),
            naive,
            "trie and linear matcher disagree on {key}"
        );
        matched += naive;
    }
    println!(
        "topic: 10,000 bindings, {} keys, {:.1} matching bindings per key",
        keys.len(),
        matched as f64 / keys.len() as f64
    );

    let mut group = c.benchmark_group("topic");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function(BenchmarkId::new("trie", "10k"), |b| {
        b.iter(|| {
            let mut total = 0;
            for key in &keys {
                let mut out = BTreeSet::new();
                router.route(key, None, &mut out);
                total += out.len();
            }
            total
        })
    });
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("linear", "10k"), |b| {
        b.iter(|| {
            let mut total = 0;
            for key in &keys {
                let words: Vec<&str> = key.split('.').collect();
                total += split.iter().filter(|p| naive_match(p, &words)).count();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, roundtrip, topic);
criterion_main!(benches);
