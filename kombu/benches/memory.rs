//! Hot paths of the in-memory transport, each beside a baseline measured in the same run so the
//! report can be read as a ratio:
//!
//! - `roundtrip/*`: publish + consume + ack of 1,000 messages one at a time (ping-pong: raw
//!   100-byte bodies, and a small JSON struct), against `roundtrip/baseline_mpsc`, the same
//!   bytes through a bare tokio channel (the floor any in-process transport stands on).
//! - `streaming/*`: a producer task publishes while a consumer task consumes and acks each
//!   message, on a two-worker runtime (16 and 100-byte raw bodies): `kombu_*` through
//!   `Producer` and `Consumer`, `transport_*` on the memory transport itself (publish, the
//!   delivery events, ack: what the broker costs without the layers above it), against
//!   `streaming/baseline_mpsc_*`, a producer task sending the same bodies through a bare tokio
//!   channel to a consumer task. `streaming/*_4x` runs four such producer/queue/consumer
//!   streams on one broker at once: its throughput should be above one stream's, not flat.
//! - `binding/*`: declaring 100,000 topic bindings on one exchange, and removing them again.
//! - `topic/trie_*`: routing decisions over 100, 10,000 and 100,000 topic bindings of which
//!   the same few match every key (the cost should stay flat), and `topic/trie_10k` /
//!   `topic/linear_10k`, random bindings routed by the trie against a loop over every binding
//!   with a matcher (what the trie avoids).
//! - before the groups run, a `footprint:` line prints the bytes the broker holds per unacked
//!   message beyond its body (growth of resident memory over 200,000 messages).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::Arc;

use kombu::transport::memory::router::{BindingEntry, Destination, Router};
use kombu::transport::memory::MemoryTransport;
use kombu::transport::{ConsumeOptions, ConsumerEvent, PublishFlags, Transport, TransportChannel};
use kombu::{
    Connection, Consumer, DeliveryMode, Exchange, ExchangeKind, FieldTable, OutgoingMessage,
    Producer, Properties, Queue,
};
use serde::Serialize;
use tokio::sync::mpsc;

const BATCH: usize = 1_000;

/// The process's resident memory, in bytes (Linux; 0 elsewhere). The footprint is measured
/// as its growth over many messages, which counts what the allocator really takes (unsafe code,
/// and so a counting allocator, is forbidden in this workspace).
fn resident() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[derive(Serialize)]
struct Reading {
    sensor: &'static str,
    value: f64,
    seq: u64,
    tags: [&'static str; 2],
}

/// Bytes the broker holds per unacked message beyond its body, and what a received `Message`
/// adds on the consumer's side.
fn footprint() {
    const N: usize = 200_000;
    const BODY: usize = 16;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = Connection::connect("memory://bench-footprint")
            .await
            .unwrap();
        let channel = conn.channel().await.unwrap();
        let queue = Queue::new("footprint");
        let producer = Producer::new(&channel).routing_key("footprint");
        let mut consumer = Consumer::new(&conn.channel().await.unwrap(), [queue]).prefetch_count(0);
        consumer.consume().await.unwrap();
        // Warm up: lazily allocated buffers are not the messages' cost.
        for _ in 0..100 {
            producer.publish_body(vec![b'x'; BODY]).await.unwrap();
            consumer.next().await.unwrap().unwrap().ack().unwrap();
        }
        let before = resident();
        let mut kept = Vec::with_capacity(N);
        for _ in 0..N {
            producer.publish_body(vec![b'x'; BODY]).await.unwrap();
        }
        for _ in 0..N {
            kept.push(consumer.next().await.unwrap().unwrap());
        }
        let with_messages = resident() - before;
        drop(kept); // Dropped unsettled: the broker still holds them unacked.
                    // Freed memory stays resident (the allocator keeps it): measure the broker's share
                    // by publishing as many again into a second queue, delivered and dropped alike.
        let second = Queue::new("footprint-2");
        let producer2 = Producer::new(&channel).routing_key("footprint-2");
        let mut consumer2 =
            Consumer::new(&conn.channel().await.unwrap(), [second]).prefetch_count(0);
        consumer2.consume().await.unwrap();
        let before2 = resident();
        for _ in 0..N {
            producer2.publish_body(vec![b'x'; BODY]).await.unwrap();
        }
        for _ in 0..N {
            drop(consumer2.next().await.unwrap().unwrap());
        }
        let broker = resident() - before2;
        let per = |bytes: usize| bytes as f64 / N as f64;
        println!(
            "footprint: the broker holds {:.0} B per unacked message beyond its {BODY}-byte body \
             (target <= 256; resident-memory growth over {N} messages); a received Message adds \
             {:.0} B until dropped",
            per(broker) - BODY as f64,
            per(with_messages.saturating_sub(broker)),
        );
        conn.close().await.unwrap();
    });
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

/// One producer/queue/consumer stream on the broker.
struct Stream {
    producer: Producer,
    consumer: Option<Consumer>,
}

async fn stream(conn: &Connection, name: &str) -> Stream {
    let queue = Queue::new(name);
    let producer = Producer::new(&conn.channel().await.unwrap()).routing_key(name);
    let mut consumer = Consumer::new(&conn.channel().await.unwrap(), [queue]).prefetch_count(1_000);
    consumer.consume().await.unwrap();
    Stream {
        producer,
        consumer: Some(consumer),
    }
}

/// Run `n` messages through every stream at once: each producer publishes `n / streams`
/// while its consumer consumes and acks them. Returns the time until the last ack.
fn run_streams(
    rt: &tokio::runtime::Runtime,
    streams: &mut [Stream],
    n: u64,
    body: &[u8],
) -> Duration {
    let per = n.div_ceil(streams.len() as u64);
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for s in streams.iter_mut() {
            let producer = s.producer.clone();
            let body = body.to_vec();
            let publishing = tokio::spawn(async move {
                for _ in 0..per {
                    producer.publish_body(body.clone()).await.unwrap();
                }
            });
            let mut consumer = s.consumer.take().unwrap();
            let consuming = tokio::spawn(async move {
                for _ in 0..per {
                    consumer.next().await.unwrap().unwrap().ack().unwrap();
                }
                consumer
            });
            tasks.push((publishing, consuming));
        }
        for (s, (publishing, consuming)) in streams.iter_mut().zip(tasks) {
            publishing.await.unwrap();
            s.consumer = Some(consuming.await.unwrap());
        }
        start.elapsed()
    })
}

/// One stream on the transport itself (no `Producer`, `Consumer` or `Message` above it): a
/// producer task publishes raw bodies with the properties a `Producer` sets on them, a
/// consumer task receives the deliveries and acks each.
async fn transport_stream(
    transport: &MemoryTransport,
    name: &str,
) -> (
    Arc<dyn TransportChannel>,
    Arc<dyn TransportChannel>,
    mpsc::UnboundedReceiver<ConsumerEvent>,
) {
    let publisher = transport.open_channel().await.unwrap();
    let consumer = transport.open_channel().await.unwrap();
    consumer.declare_queue(&Queue::new(name)).await.unwrap();
    consumer.qos(1_000).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    consumer
        .consume(name, "", &ConsumeOptions::default(), tx)
        .await
        .unwrap();
    (publisher, consumer, rx)
}

/// Run `n` messages through every transport-level stream at once.
fn run_transport_streams(
    rt: &tokio::runtime::Runtime,
    streams: &mut [TransportStream],
    n: u64,
    body: &[u8],
) -> Duration {
    let per = n.div_ceil(streams.len() as u64);
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for s in streams.iter_mut() {
            let publisher = Arc::clone(&s.0);
            let body = body.to_vec();
            let queue = s.3.clone();
            let mut properties = Properties::default();
            properties.content_type = Some("application/data".into());
            properties.content_encoding = Some("binary".into());
            properties.headers = Some(FieldTable::new());
            properties.delivery_mode = Some(DeliveryMode::Persistent);
            properties.priority = Some(0);
            let publishing = tokio::spawn(async move {
                for _ in 0..per {
                    let message = OutgoingMessage {
                        body: body.clone().into(),
                        properties: properties.clone(),
                    };
                    publisher
                        .publish("", &queue, message, PublishFlags::default())
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                }
            });
            let consumer = Arc::clone(&s.1);
            let mut rx = s.2.take().unwrap();
            let consuming = tokio::spawn(async move {
                for _ in 0..per {
                    let ConsumerEvent::Delivery(d) = rx.recv().await.unwrap() else {
                        unreachable!("only deliveries on this stream");
                    };
                    consumer.ack(d.delivery_tag, false).unwrap();
                }
                rx
            });
            tasks.push((publishing, consuming));
        }
        for (s, (publishing, consuming)) in streams.iter_mut().zip(tasks) {
            publishing.await.unwrap();
            s.2 = Some(consuming.await.unwrap());
        }
        start.elapsed()
    })
}

type TransportStream = (
    Arc<dyn TransportChannel>,
    Arc<dyn TransportChannel>,
    Option<mpsc::UnboundedReceiver<ConsumerEvent>>,
    String,
);

/// The same through bare tokio channels: producer tasks send the bodies, consumer tasks
/// receive them.
fn run_mpsc(rt: &tokio::runtime::Runtime, streams: usize, n: u64, body: &[u8]) -> Duration {
    let per = n.div_ceil(streams as u64);
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            let body = body.to_vec();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per {
                    tx.send(body.clone()).unwrap();
                    tokio::task::consume_budget().await;
                }
            }));
            tasks.push(tokio::spawn(async move {
                for _ in 0..per {
                    std::hint::black_box(rx.recv().await.unwrap());
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        start.elapsed()
    })
}

fn streaming(c: &mut Criterion) {
    const N: u64 = 20_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let conn = rt
        .block_on(Connection::connect("memory://bench-streaming"))
        .unwrap();
    let mut one = vec![rt.block_on(stream(&conn, "stream-0"))];
    let mut four = Vec::new();
    for i in 1..=4 {
        four.push(rt.block_on(stream(&conn, &format!("stream-{i}"))));
    }
    let transport = MemoryTransport::connect("bench-streaming-transport");
    let mut transport_streams: Vec<TransportStream> = (0..5)
        .map(|i| {
            let name = format!("transport-stream-{i}");
            let (p, c, rx) = rt.block_on(transport_stream(&transport, &name));
            (p, c, Some(rx), name)
        })
        .collect();
    let (one_t, four_t) = transport_streams.split_at_mut(1);
    let mut group = c.benchmark_group("streaming");
    group.throughput(Throughput::Elements(N));
    for size in [16usize, 100] {
        let body = vec![b'x'; size];
        group.bench_function(format!("transport_{size}b"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run_transport_streams(&rt, one_t, N, &body))
                    .sum()
            })
        });
        group.bench_function(format!("transport_{size}b_4x"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run_transport_streams(&rt, four_t, N, &body))
                    .sum()
            })
        });
        group.bench_function(format!("kombu_{size}b"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run_streams(&rt, &mut one, N, &body))
                    .sum()
            })
        });
        group.bench_function(format!("kombu_{size}b_4x"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run_streams(&rt, &mut four, N, &body))
                    .sum()
            })
        });
        group.bench_function(format!("baseline_mpsc_{size}b"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run_mpsc(&rt, 1, N, &body)).sum())
        });
    }
    group.bench_function("baseline_mpsc_16b_4x", |b| {
        let body = vec![b'x'; 16];
        b.iter_custom(|iters| (0..iters).map(|_| run_mpsc(&rt, 4, N, &body)).sum())
    });
    group.finish();
    rt.block_on(conn.close()).unwrap();
}

/// Bind (or unbind) every key to every queue.
async fn bind_all(queues: &[kombu::BoundQueue], keys: &[String], exchange: &str, bind: bool) {
    let none = FieldTable::new();
    for q in queues {
        for key in keys {
            if bind {
                q.bind_to(exchange, key, &none).await.unwrap();
            } else {
                q.unbind_from(exchange, key, &none).await.unwrap();
            }
        }
    }
}

/// Declaring, then removing, 100,000 topic bindings of 1,000 queues on one exchange.
fn binding(c: &mut Criterion) {
    const QUEUES: usize = 1_000;
    const PER_QUEUE: usize = 100;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (conn, channel, queues) = rt.block_on(async {
        let conn = Connection::connect("memory://bench-binding").await.unwrap();
        let channel = conn.channel().await.unwrap();
        let mut queues = Vec::new();
        for i in 0..QUEUES {
            let mut q = Queue::new(format!("bind-{i}")).attach(&channel);
            q.declare().await.unwrap();
            queues.push(q);
        }
        (conn, channel, queues)
    });
    let keys: Vec<String> = (0..PER_QUEUE)
        .map(|j| format!("region{}.*.kind{j}.#", j % 7))
        .collect();
    let round = std::cell::Cell::new(0);
    let timed = |bind_timed: bool, iters: u64| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            round.set(round.get() + 1);
            let x = Exchange::new(format!("bind-x-{}", round.get()), ExchangeKind::Topic)
                .attach(&channel);
            rt.block_on(x.declare()).unwrap();
            let name = x.exchange().name.clone();
            let start = Instant::now();
            rt.block_on(bind_all(&queues, &keys, &name, true));
            if bind_timed {
                total += start.elapsed();
            }
            let start = Instant::now();
            rt.block_on(bind_all(&queues, &keys, &name, false));
            if !bind_timed {
                total += start.elapsed();
            }
            rt.block_on(x.delete(false)).unwrap();
        }
        total
    };
    let mut group = c.benchmark_group("binding");
    group.sample_size(10);
    group.throughput(Throughput::Elements((QUEUES * PER_QUEUE) as u64));
    group.bench_function("bind_topic_100k", |b| {
        b.iter_custom(|iters| timed(true, iters))
    });
    group.bench_function("unbind_topic_100k", |b| {
        b.iter_custom(|iters| timed(false, iters))
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
            destination: Destination::Queue(format!("q{i}").into()),
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

/// Routing over 100, 10,000 and 100,000 bindings where the same five match every key: the
/// rest are keys of the same vocabulary with one more word no key has, so routing walks into
/// them but they never match. (Bindings with wildcards that partly match a key would add
/// matching work as they grow: that is more matches, not more bindings.)
fn topic_scaling(c: &mut Criterion) {
    let mut gen = Lcg(11);
    let keys: Vec<String> = (0..1_000).map(|_| gen.key(false)).collect();
    let mut group = c.benchmark_group("topic");
    group.throughput(Throughput::Elements(keys.len() as u64));
    for (label, n) in [("100", 100usize), ("10k", 10_000), ("100k", 100_000)] {
        let mut router = Router::new(&ExchangeKind::Topic);
        for (i, key) in ["#", "#", "*.#", "*.#", "#.*"].iter().enumerate() {
            router.bind(BindingEntry {
                destination: Destination::Queue(format!("match{i}").into()),
                key: (*key).to_owned(),
                arguments: FieldTable::new(),
            });
        }
        for i in 0..n - 5 {
            router.bind(BindingEntry {
                destination: Destination::Queue(format!("q{}", i % 1_000).into()),
                key: format!("{}.z{i}", gen.key(false)),
                arguments: FieldTable::new(),
            });
        }
        for key in &keys {
            let mut out = BTreeSet::new();
            router.route(key, None, &mut out);
            assert_eq!(out.len(), 5, "{key} matches the five every time");
        }
        group.bench_function(BenchmarkId::new("trie_5_matches", label), |b| {
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
    }
    group.finish();
}

fn everything(c: &mut Criterion) {
    footprint();
    roundtrip(c);
    streaming(c);
    binding(c);
    topic(c);
    topic_scaling(c);
}

criterion_group!(benches, everything);
criterion_main!(benches);
