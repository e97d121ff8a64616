//! kombu over AMQP beside the Rust clients a user would otherwise pick, lapin and amqprs, each
//! written the way an expert tunes it, and (optionally) Python kombu: same workloads, same run,
//! rounds rotating which side goes first, on the RabbitMQ at 127.0.0.1:5672. Prints messages per
//! second for each side and kombu / the better of lapin and amqprs (read the ratio; absolute
//! rates depend on the machine, and these cores also run the broker).
//!
//! Bodies are JSON of three sizes (16 bytes, about 100 bytes, 1 KiB); every side serializes and
//! deserializes the same struct with serde_json (Python: `json`) and sets the properties Python
//! kombu sets (content type and encoding, empty headers, persistent, priority 0).
//!
//! How each side is tuned:
//! - publish without confirms. lapin: up to 1,000 publishes in flight (a `FuturesUnordered`, so
//!   frames are written back to back). amqprs: `basic_publish` in a loop (it only queues the
//!   frames for the connection's writer task; that is its fastest path). kombu: a `Pipeline`
//!   of 1,000 given the messages as an iterator (`publish_all`, which encodes and hands them
//!   to the channel in bursts of 64). Python kombu: `Producer.publish` in a loop. Every clock stops when the broker has
//!   every message: one round trip on the publishing channel after the last publish (a passive
//!   `queue.declare`); the count is checked after the clock.
//! - publish with confirms, window 1,000. lapin: up to 1,000 publish-and-confirm futures in
//!   flight. amqprs: its channel callback takes the broker's acks (multiple or single) and the
//!   publishing loop waits only when 1,000 are unconfirmed. kombu: `publish_all` on a
//!   `Pipeline` of 1,000 of a confirming producer. Python kombu: `confirm_publish`, its only confirm mode, which waits for
//!   each confirm (window 1). The clock stops at the last confirm.
//! - consume with a per-message ack, prefetch 256. lapin: the receive loop decodes and hands each
//!   delivery tag to a task that sends the acks, so it never waits on an ack. amqprs: the receive
//!   loop decodes and calls `basic_ack`, which only queues the frame for the writer task (a task
//!   hop would only add work). kombu: `message.ack()`, which queues the ack for the channel's ack
//!   task. Python kombu: `message.ack()` in the callback of `drain_events`.
//! - consume with a multiple ack every 100 messages, acks off the receive path as above. kombu:
//!   `Consumer::batch_ack(100, 50 ms)` and `message.ack()` on every message.
//!   Every consume clock stops when the acks have been handed to the broker and the consumer is
//!   cancelled (a round trip after the last ack).
//!
//! ```sh
//! cargo bench -p kombu-bench --bench amqp_clients
//! ```
//! `KOMBU_BENCH_MESSAGES` (20,000) and `KOMBU_BENCH_ROUNDS` (5) change the size;
//! `KOMBU_BENCH_ONLY=publish` runs the workloads whose name contains that text;
//! `KOMBU_BENCH_SIZES=16,100,1024` picks body sizes; `KOMBU_BENCH_PYTHON=path/to/python` (a
//! Python with kombu installed, e.g. `bash kombu/tests/interop/setup.sh` prints one) adds Python
//! kombu's column.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_util::stream::{FuturesUnordered, StreamExt};
use kombu::{Connection, Consumer, Producer, Queue};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{FieldTable, ShortString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const WINDOW: usize = 1000;
const PREFETCH: u16 = 256;

/// A body type of the bench: built from a sequence number, which decoding gives back.
trait Payload: Serialize + DeserializeOwned + Send + Sync + 'static {
    const NAME: &'static str;
    fn make(id: u64) -> Self;
    fn id(&self) -> u64;
}

/// 16 bytes of JSON: `{"n":1000000000}`.
#[derive(Serialize, Deserialize)]
struct Tiny {
    n: u64,
}

impl Payload for Tiny {
    const NAME: &'static str = "16 B";
    fn make(id: u64) -> Self {
        Tiny {
            n: 1_000_000_000 + id,
        }
    }
    fn id(&self) -> u64 {
        self.n
    }
}

/// About 100 bytes of JSON.
#[derive(Serialize, Deserialize)]
struct Reading {
    id: u64,
    sensor: String,
    value: f64,
    unit: String,
    tags: Vec<String>,
}

impl Payload for Reading {
    const NAME: &'static str = "~100 B";
    fn make(id: u64) -> Self {
        Reading {
            id,
            sensor: "greenhouse-north-7".into(),
            value: 21.5,
            unit: "celsius".into(),
            tags: vec!["calibrated".into(), "hourly".into()],
        }
    }
    fn id(&self) -> u64 {
        self.id
    }
}

/// About 1 KiB of JSON: a reading with a note.
#[derive(Serialize, Deserialize)]
struct Report {
    reading: Reading,
    note: String,
}

impl Payload for Report {
    const NAME: &'static str = "1 KiB";
    fn make(id: u64) -> Self {
        Report {
            reading: Reading::make(id),
            note: "calibration drift within tolerance; ".repeat(25),
        }
    }
    fn id(&self) -> u64 {
        self.reading.id
    }
}

fn lapin_properties() -> lapin::BasicProperties {
    lapin::BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_content_encoding(ShortString::from("utf-8"))
        .with_headers(FieldTable::default())
        .with_delivery_mode(2)
        .with_priority(0)
}

fn amqprs_properties() -> amqprs::BasicProperties {
    amqprs::BasicProperties::default()
        .with_content_type("application/json")
        .with_content_encoding("utf-8")
        .with_headers(amqprs::FieldTable::new())
        .with_delivery_mode(2)
        .with_priority(0)
        .finish()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Lapin,
    Amqprs,
    Kombu,
    Python,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Publish,
    PublishConfirms,
    ConsumeAck,
    ConsumeMultiple,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Publish => "publish, no confirms",
            Workload::PublishConfirms => "publish, confirms (window 1000)",
            Workload::ConsumeAck => "consume, ack per message",
            Workload::ConsumeMultiple => "consume, multiple ack every 100",
        }
    }
    fn python_name(self) -> &'static str {
        match self {
            Workload::Publish => "publish",
            Workload::PublishConfirms => "publish-confirms",
            Workload::ConsumeAck => "consume-ack",
            Workload::ConsumeMultiple => "consume-multiple",
        }
    }
    fn consumes(self) -> bool {
        matches!(self, Workload::ConsumeAck | Workload::ConsumeMultiple)
    }
}

struct Bench {
    lapin: lapin::Connection,
    amqprs: amqprs::connection::Connection,
    kombu: Connection,
    python: Option<String>,
    queue: String,
    n: u64,
}

/// What the amqprs confirm callback shares with the publishing loop: the unconfirmed tags.
#[derive(Default)]
struct Unconfirmed {
    tags: Mutex<BTreeSet<u64>>,
    nacked: std::sync::atomic::AtomicU64,
    changed: tokio::sync::Notify,
}

struct ConfirmCallback(Arc<Unconfirmed>);

impl ConfirmCallback {
    fn settle(&self, tag: u64, multiple: bool) {
        let mut tags = self.0.tags.lock().unwrap();
        if multiple {
            let above = tags.split_off(&(tag + 1));
            *tags = above;
        } else {
            tags.remove(&tag);
        }
        drop(tags);
        self.0.changed.notify_one();
    }
}

#[async_trait::async_trait]
impl amqprs::callbacks::ChannelCallback for ConfirmCallback {
    async fn close(
        &mut self,
        _: &amqprs::channel::Channel,
        close: amqprs::CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        panic!("the broker closed the bench channel: {close}");
    }
    async fn cancel(
        &mut self,
        _: &amqprs::channel::Channel,
        _: amqprs::Cancel,
    ) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(
        &mut self,
        _: &amqprs::channel::Channel,
        active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &amqprs::channel::Channel, ack: amqprs::Ack) {
        self.settle(ack.delivery_tag(), ack.mutiple());
    }
    async fn publish_nack(&mut self, _: &amqprs::channel::Channel, nack: amqprs::Nack) {
        self.0
            .nacked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.settle(nack.delivery_tag(), nack.multiple());
    }
    async fn publish_return(
        &mut self,
        _: &amqprs::channel::Channel,
        _: amqprs::Return,
        _: amqprs::BasicProperties,
        _: Vec<u8>,
    ) {
    }
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

    /// The queue holds exactly `n` messages of `P` (published with pipelined confirms).
    async fn fill<P: Payload>(&self) {
        self.purge().await;
        let ch = self.lapin_channel().await;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let mut window = VecDeque::new();
        for id in 0..self.n {
            let body = serde_json::to_vec(&P::make(id)).unwrap();
            let confirm = ch
                .basic_publish(
                    "".into(),
                    self.queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    lapin_properties(),
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

    /// The time taken and this process's CPU time (user and system, all threads) meanwhile.
    async fn run<P: Payload>(
        &self,
        workload: Workload,
        side: Side,
    ) -> (Duration, Option<Duration>) {
        if workload.consumes() {
            self.fill::<P>().await;
        } else {
            self.purge().await;
        }
        let cpu = cpu_time();
        let confirms = workload == Workload::PublishConfirms;
        let multiple = workload == Workload::ConsumeMultiple;
        let elapsed = match (side, workload.consumes()) {
            (Side::Lapin, false) => self.lapin_publish::<P>(confirms).await,
            (Side::Amqprs, false) => self.amqprs_publish::<P>(confirms).await,
            (Side::Kombu, false) => self.kombu_publish::<P>(confirms).await,
            (Side::Lapin, true) => self.lapin_consume::<P>(multiple).await,
            (Side::Amqprs, true) => self.amqprs_consume::<P>(multiple).await,
            (Side::Kombu, true) => self.kombu_consume::<P>(multiple).await,
            (Side::Python, _) => self.python::<P>(workload).await,
        };
        let cpu = cpu
            .zip(cpu_time())
            .map(|(before, after)| after.saturating_sub(before));
        if !workload.consumes() {
            self.check_all_arrived().await;
        }
        (elapsed, cpu)
    }

    // ---- lapin --------------------------------------------------------------------------

    async fn lapin_publish<P: Payload>(&self, confirms: bool) -> Duration {
        let ch = self.lapin_channel().await;
        if confirms {
            ch.confirm_select(ConfirmSelectOptions::default())
                .await
                .unwrap();
        }
        let start = Instant::now();
        let mut in_flight = FuturesUnordered::new();
        for id in 0..self.n {
            if in_flight.len() >= WINDOW {
                in_flight.next().await.unwrap();
            }
            let (ch, queue) = (ch.clone(), self.queue.clone());
            in_flight.push(async move {
                let body = serde_json::to_vec(&P::make(id)).unwrap();
                let confirm = ch
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        lapin_properties(),
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
        elapsed
    }

    async fn lapin_consume<P: Payload>(&self, multiple: bool) -> Duration {
        let ch = self.lapin_channel().await;
        ch.basic_qos(PREFETCH, BasicQosOptions::default())
            .await
            .unwrap();
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
            let body: P = serde_json::from_slice(&delivery.data).unwrap();
            std::hint::black_box(body.id());
            if !multiple {
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

    // ---- amqprs -------------------------------------------------------------------------

    async fn amqprs_round_trip(&self, ch: &amqprs::channel::Channel) {
        ch.queue_declare(
            amqprs::channel::QueueDeclareArguments::new(&self.queue)
                .passive(true)
                .finish(),
        )
        .await
        .unwrap();
    }

    async fn amqprs_publish<P: Payload>(&self, confirms: bool) -> Duration {
        let ch = self.amqprs.open_channel(None).await.unwrap();
        let unconfirmed = Arc::new(Unconfirmed::default());
        if confirms {
            ch.register_callback(ConfirmCallback(Arc::clone(&unconfirmed)))
                .await
                .unwrap();
            ch.confirm_select(amqprs::channel::ConfirmSelectArguments::default())
                .await
                .unwrap();
        }
        let args = amqprs::channel::BasicPublishArguments::new("", &self.queue);
        let start = Instant::now();
        for id in 0..self.n {
            if confirms {
                loop {
                    let waiting = unconfirmed.changed.notified();
                    if unconfirmed.tags.lock().unwrap().len() < WINDOW {
                        break;
                    }
                    waiting.await;
                }
                // Delivery tags count publishes from 1 on a channel in confirm mode.
                unconfirmed.tags.lock().unwrap().insert(id + 1);
            }
            let body = serde_json::to_vec(&P::make(id)).unwrap();
            ch.basic_publish(amqprs_properties(), body, args.clone())
                .await
                .unwrap();
        }
        if confirms {
            loop {
                let waiting = unconfirmed.changed.notified();
                if unconfirmed.tags.lock().unwrap().is_empty() {
                    break;
                }
                waiting.await;
            }
            assert_eq!(
                unconfirmed
                    .nacked
                    .load(std::sync::atomic::Ordering::Relaxed),
                0
            );
        } else {
            self.amqprs_round_trip(&ch).await;
        }
        let elapsed = start.elapsed();
        ch.close().await.unwrap();
        elapsed
    }

    async fn amqprs_consume<P: Payload>(&self, multiple: bool) -> Duration {
        let ch = self.amqprs.open_channel(None).await.unwrap();
        ch.basic_qos(amqprs::channel::BasicQosArguments::new(0, PREFETCH, false))
            .await
            .unwrap();
        let (tag, mut rx) = ch
            .basic_consume_rx(
                amqprs::channel::BasicConsumeArguments::new(&self.queue, "bench")
                    .manual_ack(true)
                    .finish(),
            )
            .await
            .unwrap();
        let start = Instant::now();
        for i in 0..self.n {
            let message = rx.recv().await.unwrap();
            let body: P = serde_json::from_slice(message.content.as_deref().unwrap()).unwrap();
            std::hint::black_box(body.id());
            let delivery_tag = message.deliver.unwrap().delivery_tag();
            if !multiple {
                ch.basic_ack(amqprs::channel::BasicAckArguments::new(delivery_tag, false))
                    .await
                    .unwrap();
            } else if (i + 1) % 100 == 0 || i + 1 == self.n {
                ch.basic_ack(amqprs::channel::BasicAckArguments::new(delivery_tag, true))
                    .await
                    .unwrap();
            }
        }
        ch.basic_cancel(amqprs::channel::BasicCancelArguments::new(&tag))
            .await
            .unwrap();
        let elapsed = start.elapsed();
        ch.close().await.unwrap();
        elapsed
    }

    // ---- kombu --------------------------------------------------------------------------

    async fn kombu_publish<P: Payload>(&self, confirms: bool) -> Duration {
        let channel = self.kombu.channel().await.unwrap();
        let producer = Producer::new(&channel)
            .routing_key(self.queue.as_str())
            .confirm(confirms);
        // Put the channel in confirm mode before the clock starts, as the other sides do.
        producer.declare().await.unwrap();
        if confirms {
            channel.confirm_select().await.unwrap();
        }
        let start = Instant::now();
        let mut pipeline = producer.pipeline(WINDOW);
        pipeline
            .publish_all((0..self.n).map(P::make))
            .await
            .unwrap();
        pipeline.flush().await.unwrap();
        if !confirms {
            // The same round trip as the other sides, on the publishing channel.
            channel
                .declare_queue(&Queue::new(self.queue.as_str()).passive(true))
                .await
                .unwrap();
        }
        let elapsed = start.elapsed();
        channel.close().await.unwrap();
        elapsed
    }

    async fn kombu_consume<P: Payload>(&self, multiple: bool) -> Duration {
        let channel = self.kombu.channel().await.unwrap();
        let queue = Queue::new(self.queue.as_str())
            .durable(false)
            .no_declare(true);
        let mut consumer = Consumer::new(&channel, [queue]).prefetch_count(PREFETCH);
        if multiple {
            consumer = consumer.batch_ack(100, Duration::from_millis(50));
        }
        consumer.consume().await.unwrap();
        let start = Instant::now();
        for _ in 0..self.n {
            let message = consumer.next().await.unwrap().unwrap();
            let body: P = message.decode().unwrap();
            std::hint::black_box(body.id());
            message.ack().unwrap();
        }
        // Cancelling sends the acks still queued first, as the other sides' acks are sent.
        consumer.cancel().await.unwrap();
        let elapsed = start.elapsed();
        channel.close().await.unwrap();
        elapsed
    }

    // ---- Python kombu -------------------------------------------------------------------

    /// Python kombu's side, timed by the script itself (interpreter start-up is not counted).
    async fn python<P: Payload>(&self, workload: Workload) -> Duration {
        let python = self.python.as_deref().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/amqp_bench.py");
        let sample = String::from_utf8(serde_json::to_vec(&P::make(0)).unwrap()).unwrap();
        let output = tokio::process::Command::new(python)
            .args([
                script,
                workload.python_name(),
                URL,
                &self.queue,
                &self.n.to_string(),
                &sample,
            ])
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "the Python side failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let seconds: f64 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap();
        Duration::from_secs_f64(seconds)
    }
}

/// This process's CPU time so far, user and system, every thread (Linux: `/proc/self/stat`).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in clock ticks of 1/100 s (USER_HZ).
    Some(Duration::from_millis(ticks * 10))
}

/// Messages per second.
fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `rounds` rounds of one workload on every side, rotating which side goes first so drift
/// favours none, and returns each side's median rate and median client CPU per message (µs;
/// NaN where unknown: the Python side runs in a process of its own).
async fn compare<P: Payload>(
    bench: &Bench,
    workload: Workload,
    sides: &[Side],
    rounds: u64,
) -> (Vec<f64>, Vec<f64>) {
    let mut rates = vec![Vec::new(); sides.len()];
    let mut cpus = vec![Vec::new(); sides.len()];
    for round in 0..rounds {
        for k in 0..sides.len() {
            let i = (k + round as usize) % sides.len();
            let (elapsed, cpu) = bench.run::<P>(workload, sides[i]).await;
            rates[i].push(rate(bench.n, elapsed));
            let per_message = match (sides[i], cpu) {
                (Side::Python, _) | (_, None) => f64::NAN,
                (_, Some(cpu)) => cpu.as_secs_f64() * 1e6 / bench.n as f64,
            };
            cpus[i].push(per_message);
        }
    }
    (
        rates.into_iter().map(median).collect(),
        cpus.into_iter().map(median).collect(),
    )
}

fn fmt_rate(r: f64) -> String {
    format!("{:.1}k", r / 1000.0)
}

async fn table<P: Payload>(bench: &Bench, sides: &[Side], rounds: u64) {
    let body = serde_json::to_vec(&P::make(0)).unwrap().len();
    println!(
        "\n{} bodies ({body} bytes), {} messages a round, {rounds} rounds, medians",
        P::NAME,
        bench.n
    );
    let mut header = format!("{:<34}", "workload");
    for side in sides {
        header.push_str(&format!(" {:>9}", format!("{side:?}").to_lowercase()));
    }
    println!("{header} {:>12}", "kombu / best");
    for workload in [
        Workload::Publish,
        Workload::PublishConfirms,
        Workload::ConsumeAck,
        Workload::ConsumeMultiple,
    ] {
        if std::env::var("KOMBU_BENCH_ONLY").is_ok_and(|only| !workload.name().contains(&only)) {
            continue;
        }
        let (rates, cpus) = compare::<P>(bench, workload, sides, rounds).await;
        let of = |side: Side| {
            sides
                .iter()
                .position(|s| *s == side)
                .map_or(f64::NAN, |i| rates[i])
        };
        let best = of(Side::Lapin).max(of(Side::Amqprs));
        let mut line = format!("{:<34}", workload.name());
        for r in &rates {
            line.push_str(&format!(" {:>9}", fmt_rate(*r)));
        }
        println!("{line} {:>12.2}", of(Side::Kombu) / best);
        let mut line = format!("{:<34}", "  client CPU, µs per message");
        for c in &cpus {
            line.push_str(&format!(
                " {:>9}",
                if c.is_nan() {
                    "-".to_owned()
                } else {
                    format!("{c:.1}")
                }
            ));
        }
        println!("{line}");
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
        let amqprs = amqprs::connection::Connection::open(
            &amqprs::connection::OpenConnectionArguments::new("127.0.0.1", 5672, "guest", "guest"),
        )
        .await
        .unwrap();
        let kombu = Connection::connect(URL).await.unwrap();
        let queue = format!("kombu-bench-{}", std::process::id());
        {
            let ch = lapin.create_channel().await.unwrap();
            // Deleted at the end; should the bench die first, the broker deletes it after five
            // minutes unused.
            let mut args = FieldTable::default();
            args.insert(
                "x-expires".into(),
                lapin::types::AMQPValue::LongUInt(300_000),
            );
            ch.queue_declare(queue.as_str().into(), QueueDeclareOptions::default(), args)
                .await
                .unwrap();
        }
        let python = std::env::var("KOMBU_BENCH_PYTHON")
            .ok()
            .filter(|p| !p.is_empty());
        let mut sides = vec![Side::Lapin, Side::Amqprs, Side::Kombu];
        if python.is_some() {
            sides.push(Side::Python);
        }
        // For profiling one client at a time (`perf stat` gives its CPU per message):
        // `KOMBU_BENCH_SIDES=kombu`.
        if let Ok(only) = std::env::var("KOMBU_BENCH_SIDES") {
            sides.retain(|s| only.contains(&format!("{s:?}").to_lowercase()));
        }
        let bench = Bench {
            lapin,
            amqprs,
            kombu,
            python,
            queue: queue.clone(),
            n: env("KOMBU_BENCH_MESSAGES", 20_000),
        };
        let rounds = env("KOMBU_BENCH_ROUNDS", 5);
        let sizes = std::env::var("KOMBU_BENCH_SIZES").unwrap_or_else(|_| "16,100,1024".into());
        for size in sizes.split(',') {
            match size.trim() {
                "16" => table::<Tiny>(&bench, &sides, rounds).await,
                "100" => table::<Reading>(&bench, &sides, rounds).await,
                "1024" => table::<Report>(&bench, &sides, rounds).await,
                other => eprintln!("unknown size {other} (16, 100 or 1024)"),
            }
        }
        let ch = bench.lapin.create_channel().await.unwrap();
        let _ = ch
            .queue_delete(queue.as_str().into(), Default::default())
            .await;
    });
}
