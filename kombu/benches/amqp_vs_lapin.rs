//! kombu over AMQP against lapin written the way an expert tunes it, same workload, same run,
//! rounds alternating, on the RabbitMQ at 127.0.0.1:5672. Prints messages per second for each
//! side and the kombu/lapin ratio per workload (read the ratio; absolute rates depend on the
//! machine, and these two cores also run the broker).
//!
//! Workloads, 100-byte JSON bodies, both sides serializing/deserializing and setting the same
//! properties as Python kombu does. How each side is tuned:
//! - publish without confirms. lapin: up to 1,000 publishes in flight at once (a
//!   `FuturesUnordered`, so frames are written back to back). kombu: its pipeline, window
//!   1,000. Both clocks stop when the broker has every message: one round trip on the
//!   publishing channel after the last publish (a passive `queue.declare`, which also checks
//!   the count).
//! - publish with confirms, window 1,000. lapin: up to 1,000 publish-and-confirm futures in
//!   flight. kombu: its pipeline, window 1,000. The clock stops at the last confirm.
//! - consume with a per-message ack (prefetch 256). lapin: the receive loop decodes and hands
//!   each delivery tag to a task that sends the acks, so the loop never waits on an ack.
//!   kombu: `message.ack()`, which queues the ack for the channel's ack task.
//! - consume with a multiple ack every 100 messages, acks off the receive path the same way.
//!   Both consume clocks stop when every ack has been handed to the broker and the consumer is
//!   cancelled.
//!
//! `cargo bench -p kombu --bench amqp_vs_lapin` (`KOMBU_BENCH_MESSAGES` and
//! `KOMBU_BENCH_ROUNDS` change the size; `KOMBU_BENCH_ONLY=publish` runs the workloads whose
//! name contains that text).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_util::stream::{FuturesUnordered, StreamExt};
use kombu::{Connection, Consumer, Producer, Queue};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde::{Deserialize, Serialize};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

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

fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_content_encoding(ShortString::from("utf-8"))
        .with_headers(FieldTable::default())
        .with_delivery_mode(2)
        .with_priority(0)
}

struct Bench {
    lapin: lapin::Connection,
    kombu: Connection,
    queue: String,
    n: u64,
}

impl Bench {
    async fn lapin_channel(&self) -> lapin::Channel {
        self.lapin.create_channel().await.unwrap()
    }

    async fn purge(&self) {
        let ch = self.lapin_channel().await;
        ch.queue_purge(self.queue.as_str().into(), QueuePurgeOptions::default())
            .await
            .unwrap();
        let _ = ch.close(200, "OK".into()).await;
    }

    async fn fill(&self) {
        self.purge().await;
        let ch = self.lapin_channel().await;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let mut window = VecDeque::new();
        for id in 0..self.n {
            let body = serde_json::to_vec(&reading(id)).unwrap();
            let confirm = ch
                .basic_publish(
                    "".into(),
                    self.queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties(),
                )
                .await
                .unwrap();
            window.push_back(confirm);
            if window.len() >= 1024 {
                window.pop_front().unwrap().await.unwrap();
            }
        }
        for confirm in window {
            confirm.await.unwrap();
        }
        let _ = ch.close(200, "OK".into()).await;
    }

    // ---- publish ------------------------------------------------------------------------

    async fn lapin_publish(&self, confirms: bool) -> Duration {
        const IN_FLIGHT: usize = 1000;
        let ch = self.lapin_channel().await;
        if confirms {
            ch.confirm_select(ConfirmSelectOptions::default())
                .await
                .unwrap();
        }
        let start = Instant::now();
        let mut in_flight = FuturesUnordered::new();
        for id in 0..self.n {
            if in_flight.len() >= IN_FLIGHT {
                in_flight.next().await.unwrap();
            }
            let (ch, queue) = (ch.clone(), self.queue.clone());
            in_flight.push(async move {
                let body = serde_json::to_vec(&reading(id)).unwrap();
                let confirm = ch
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        properties(),
                    )
                    .await
                    .unwrap();
                if confirms {
                    assert!(confirm.await.unwrap().is_ack());
                }
            });
        }
        while in_flight.next().await.is_some() {}
        if !confirms {
            self.lapin_round_trip(&ch).await;
        }
        let elapsed = start.elapsed();
        let _ = ch.close(200, "OK".into()).await;
        self.check_all_arrived().await;
        elapsed
    }

    /// One synchronous round trip on `ch`: the broker's channel answers after it has taken
    /// every publish sent before it on the channel.
    async fn lapin_round_trip(&self, ch: &lapin::Channel) -> u32 {
        ch.queue_declare(
            self.queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count()
    }

    /// After the clock: every message of the round reached the queue (the queue process may
    /// count the last ones a moment after the channel answered).
    async fn check_all_arrived(&self) {
        let ch = self.lapin_channel().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let count = u64::from(self.lapin_round_trip(&ch).await);
            if count == self.n {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{count} of {} messages arrived",
                self.n
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = ch.close(200, "OK".into()).await;
    }

    async fn kombu_publish(&self, confirms: bool) -> Duration {
        let channel = self.kombu.channel().await.unwrap();
        let producer = Producer::new(&channel)
            .routing_key(self.queue.as_str())
            .confirm(confirms);
        // Put the channel in confirm mode before the clock starts, as the lapin side does.
        producer.declare().await.unwrap();
        if confirms {
            channel.confirm_select().await.unwrap();
        }
        let start = Instant::now();
        let mut pipeline = producer.pipeline(1000);
        for id in 0..self.n {
            pipeline.send(producer.publish(&reading(id))).await.unwrap();
        }
        pipeline.flush().await.unwrap();
        if !confirms {
            // The same round trip as the lapin side, on the publishing channel.
            channel
                .declare_queue(&Queue::new(self.queue.as_str()).passive(true))
                .await
                .unwrap();
        }
        let elapsed = start.elapsed();
        channel.close().await.unwrap();
        self.check_all_arrived().await;
        elapsed
    }

    // ---- consume ------------------------------------------------------------------------

    async fn lapin_consume(&self, batch: bool) -> Duration {
        let ch = self.lapin_channel().await;
        ch.basic_qos(256, BasicQosOptions::default()).await.unwrap();
        let mut consumer = ch
            .basic_consume(
                self.queue.as_str().into(),
                "bench".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        // Acks go out from their own task; the receive loop only hands it delivery tags.
        let (acks, mut pending) = tokio::sync::mpsc::unbounded_channel::<(u64, bool)>();
        let acker = {
            let ch = ch.clone();
            tokio::spawn(async move {
                while let Some((tag, multiple)) = pending.recv().await {
                    ch.basic_ack(tag, BasicAckOptions { multiple })
                        .await
                        .unwrap();
                }
            })
        };
        let start = Instant::now();
        for i in 0..self.n {
            let delivery = std::future::poll_fn(|cx| Pin::new(&mut consumer).poll_next(cx))
                .await
                .unwrap()
                .unwrap();
            let r: Reading = serde_json::from_slice(&delivery.data).unwrap();
            std::hint::black_box(r.id);
            if !batch {
                acks.send((delivery.delivery_tag, false)).unwrap();
            } else if (i + 1) % 100 == 0 || i + 1 == self.n {
                acks.send((delivery.delivery_tag, true)).unwrap();
            }
        }
        drop(acks);
        acker.await.unwrap();
        ch.basic_cancel("bench".into(), Default::default())
            .await
            .unwrap();
        let elapsed = start.elapsed();
        let _ = ch.close(200, "OK".into()).await;
        elapsed
    }

    async fn kombu_consume(&self, batch: bool) -> Duration {
        let channel = self.kombu.channel().await.unwrap();
        let queue = Queue::new(self.queue.as_str())
            .durable(false)
            .no_declare(true);
        let mut consumer = Consumer::new(&channel, [queue]).prefetch_count(256);
        if batch {
            consumer = consumer.batch_ack(100, Duration::from_millis(50));
        }
        consumer.consume().await.unwrap();
        let start = Instant::now();
        for _ in 0..self.n {
            let message = consumer.next().await.unwrap().unwrap();
            let r: Reading = message.decode().unwrap();
            std::hint::black_box(r.id);
            message.ack().unwrap();
        }
        // Cancelling sends the acks still queued first, as the lapin side's ack task does.
        consumer.cancel().await.unwrap();
        let elapsed = start.elapsed();
        channel.close().await.unwrap();
        elapsed
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
        let lapin =
            match lapin::Connection::connect(URL, lapin::ConnectionProperties::default()).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("skipped: RabbitMQ not reachable at 127.0.0.1:5672: {e}");
                    return;
                }
            };
        let kombu = Connection::connect(URL).await.unwrap();
        let queue = format!("kombu-bench-{}", std::process::id());
        {
            let ch = lapin.create_channel().await.unwrap();
            let mut args = FieldTable::default();
            args.insert(
                "x-queue-mode".into(),
                AMQPValue::LongString(LongString::from("default")),
            );
            ch.queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: false,
                    ..QueueDeclareOptions::default()
                },
                args,
            )
            .await
            .unwrap();
        }
        let bench = Bench {
            lapin,
            kombu,
            queue: queue.clone(),
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
            "workload", "lapin msg/s", "kombu msg/s", "ratio"
        );
        for (name, kind) in [
            ("publish, no confirms", 0),
            ("publish, confirms (window 1000)", 1),
            ("consume, ack per message", 2),
            ("consume, multiple ack every 100", 3),
        ] {
            if support::skipped(name) {
                continue;
            }
            let b = &bench;
            let (lm, km) = support::compare(rounds, bench.n, move |kombu| async move {
                match (kind, kombu) {
                    (0 | 1, false) => {
                        b.purge().await;
                        b.lapin_publish(kind == 1).await
                    }
                    (0 | 1, true) => {
                        b.purge().await;
                        b.kombu_publish(kind == 1).await
                    }
                    (_, false) => {
                        b.fill().await;
                        b.lapin_consume(kind == 3).await
                    }
                    (_, true) => {
                        b.fill().await;
                        b.kombu_consume(kind == 3).await
                    }
                }
            })
            .await;
            println!("{name:<34} {lm:>12.0} {km:>12.0} {:>8.3}", km / lm);
        }
        let ch = bench.lapin.create_channel().await.unwrap();
        let _ = ch
            .queue_delete(queue.as_str().into(), Default::default())
            .await;
    });
}
