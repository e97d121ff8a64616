//! kombu over `stomp://` against the bare STOMP client underneath it (frames written by hand),
//! same workload, same run, rounds alternating, on RabbitMQ's STOMP plugin at 127.0.0.1:61613.
//! Prints messages per second for each side and the kombu/raw ratio per workload: what the
//! transport, the serializer registry and the Producer/Consumer API cost on top of the wire.
//! Read the ratio; absolute rates depend on the machine.
//!
//! Workloads, 100-byte JSON bodies, both sides serializing/deserializing and sending the same
//! headers (those Python kombu's properties become). How each side is tuned:
//! - publish without receipts. Raw: every SEND queued for the client's writer without waiting
//!   (`send_now`), the fastest path the client has. kombu: `Producer::publish` awaited per
//!   message (which also only queues the frame). Both clocks stop at DISCONNECT's receipt, when
//!   the broker has processed every frame before it.
//! - publish with receipts, 256 in flight. Raw: a window of 256 receipt futures, the oldest
//!   awaited when it is full. kombu: a `Pipeline` of 256 on a confirming producer. The clock
//!   stops at the last receipt.
//! - consume with a per-message ACK, prefetch 256. Raw: the receive loop decodes and queues the
//!   ACK frame without waiting (`ack`). kombu: `message.ack()`, which does the same.
//!
//! The queue is declared, filled and purged over AMQP. `cargo bench -p kombu --bench
//! stomp_vs_raw` (`KOMBU_BENCH_MESSAGES`, `KOMBU_BENCH_ROUNDS`, `KOMBU_BENCH_ONLY` as in
//! `kombu-bench`'s `amqp_clients`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use kombu::transport::stomp::client::{Client, ConnectOptions};
use kombu::transport::stomp::frame::{Command, Frame};
use kombu::{BoundQueue, Connection, Consumer, Producer, Queue};
use serde::{Deserialize, Serialize};

const STOMP: &str = "stomp://guest:guest@127.0.0.1:61613/";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(Serialize, Deserialize)]
struct Reading {
    id: u64,
    sensor: String,
    value: f64,
    unit: String,
    tags: Vec<String>,
}

fn reading(id: u64) -> Reading {
    Reading {
        id,
        sensor: "greenhouse-north-7".into(),
        value: 21.5,
        unit: "celsius".into(),
        tags: vec!["calibrated".into(), "hourly".into()],
    }
}

struct Bench {
    stomp: Connection,
    amqp: Connection,
    queue: BoundQueue,
    n: u64,
}

impl Bench {
    fn name(&self) -> &str {
        self.queue.name()
    }

    async fn raw_client(&self) -> Client {
        Client::connect(&ConnectOptions::default()).await.unwrap()
    }

    fn send_frame(&self, id: u64) -> Frame {
        Frame::new(Command::Send)
            .header_pair("destination", format!("/amq/queue/{}", self.name()))
            .header_pair("content-type", "application/json")
            .header_pair("content-encoding", "utf-8")
            .header_pair("persistent", "true")
            .header_pair("priority", "0")
            .with_body(serde_json::to_vec(&reading(id)).unwrap())
    }

    async fn purge(&self) {
        self.queue.purge().await.unwrap();
    }

    async fn fill(&self) {
        self.purge().await;
        let channel = self.amqp.channel().await.unwrap();
        let producer = Producer::new(&channel)
            .routing_key(self.name())
            .confirm(true);
        let mut pipeline = producer.pipeline(1024);
        for id in 0..self.n {
            pipeline.send(producer.publish(&reading(id))).await.unwrap();
        }
        pipeline.flush().await.unwrap();
        channel.close().await.unwrap();
    }

    async fn raw_publish(&self, receipts: bool) -> Duration {
        let client = self.raw_client().await;
        let start = Instant::now();
        let mut window = VecDeque::new();
        for id in 0..self.n {
            let frame = self.send_frame(id);
            if receipts {
                window.push_back(client.send_for_receipt(frame).unwrap());
                if window.len() >= 256 {
                    window.pop_front().unwrap().wait().await.unwrap();
                }
            } else {
                client.send_now(&frame).unwrap();
            }
        }
        for receipt in window {
            receipt.wait().await.unwrap();
        }
        client.disconnect().await.unwrap();
        start.elapsed()
    }

    async fn kombu_publish(&self, confirms: bool) -> Duration {
        let channel = self.stomp.channel().await.unwrap();
        let producer = Producer::new(&channel)
            .routing_key(self.name())
            .confirm(confirms);
        if confirms {
            channel.confirm_select().await.unwrap();
        }
        let start = Instant::now();
        if confirms {
            let mut pipeline = producer.pipeline(256);
            for id in 0..self.n {
                pipeline.send(producer.publish(&reading(id))).await.unwrap();
            }
            pipeline.flush().await.unwrap();
        } else {
            for id in 0..self.n {
                producer.publish(&reading(id)).await.unwrap();
            }
        }
        channel.close().await.unwrap();
        start.elapsed()
    }

    async fn raw_consume(&self) -> Duration {
        let client = self.raw_client().await;
        let headers = [("prefetch-count".to_owned(), "256".to_owned())];
        let (_, mut messages) = client
            .subscribe(&format!("/amq/queue/{}", self.name()), &headers)
            .await
            .unwrap();
        let start = Instant::now();
        for _ in 0..self.n {
            let frame = messages.recv().await.unwrap();
            let r: Reading = serde_json::from_slice(&frame.body).unwrap();
            std::hint::black_box(r.id);
            client.ack(frame.header("ack").unwrap()).unwrap();
        }
        client.disconnect().await.unwrap();
        start.elapsed()
    }

    async fn kombu_consume(&self) -> Duration {
        let channel = self.stomp.channel().await.unwrap();
        let queue = Queue::new(self.name()).no_declare(true);
        let mut consumer = Consumer::new(&channel, [queue]).prefetch_count(256);
        consumer.consume().await.unwrap();
        let start = Instant::now();
        for _ in 0..self.n {
            let message = consumer.next().await.unwrap().unwrap();
            let r: Reading = message.decode().unwrap();
            std::hint::black_box(r.id);
            message.ack().unwrap();
        }
        channel.close().await.unwrap();
        start.elapsed()
    }
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent; do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (stomp, amqp) = match (
            Connection::connect(STOMP).await,
            Connection::connect(AMQP).await,
        ) {
            (Ok(s), Ok(a)) => (s, a),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("skipped: RabbitMQ with its STOMP plugin is not reachable: {e}");
                return;
            }
        };
        let channel = amqp.channel().await.unwrap();
        let mut queue = Queue::new(format!("kombu-stomp-bench-{}", std::process::id()))
            .durable(false)
            .attach(&channel);
        queue.declare().await.unwrap();
        let bench = Bench {
            stomp,
            amqp,
            queue,
            n: support::env("KOMBU_BENCH_MESSAGES", 20_000),
        };
        let rounds = support::env("KOMBU_BENCH_ROUNDS", 5);
        println!(
            "{} messages of {} bytes per round, {rounds} rounds per side, alternating",
            bench.n,
            serde_json::to_vec(&reading(0)).unwrap().len()
        );
        println!(
            "{:<34} {:>12} {:>12} {:>8}",
            "workload", "raw msg/s", "kombu msg/s", "ratio"
        );
        for (name, kind) in [
            ("publish, no receipts", 0),
            ("publish, receipts (256 in flight)", 1),
            ("consume, ack per message", 2),
        ] {
            if support::skipped(name) {
                continue;
            }
            let b = &bench;
            let (r, k) = support::compare(rounds, bench.n, move |kombu| async move {
                match (kind, kombu) {
                    (0 | 1, false) => {
                        b.purge().await;
                        b.raw_publish(kind == 1).await
                    }
                    (0 | 1, true) => {
                        b.purge().await;
                        b.kombu_publish(kind == 1).await
                    }
                    (_, false) => {
                        b.fill().await;
                        b.raw_consume().await
                    }
                    (_, true) => {
                        b.fill().await;
                        b.kombu_consume().await
                    }
                }
            })
            .await;
            println!("{name:<34} {r:>12.0} {k:>12.0} {:>8.3}", k / r);
        }
        bench.queue.delete(false, false).await.unwrap();
    });
}
