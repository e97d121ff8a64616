//! How a consumer's throughput grows with the number of handlers it runs at once, on the
//! RabbitMQ at 127.0.0.1:5672: 10,000 JSON messages, handlers that each await 10 ms (an I/O
//! call, not CPU work), `Consumer::run` with concurrency 1, 8 and 64, prefetch 200, each
//! message acked as its handler finishes. Prints messages per second per concurrency and the
//! speed-up over one handler (read the speed-up: the ideal is N, bounded by what two cores
//! and the broker do per message).
//!
//! `cargo bench -p kombu --bench consumer_concurrency` (`KOMBU_BENCH_MESSAGES` changes the
//! count, `KOMBU_BENCH_CONCURRENCY=1,8,64` the levels, `KOMBU_BENCH_HANDLER_MS` the handler
//! time).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kombu::{Connection, Consumer, Disposition, Producer, Queue, RunOptions, Shutdown};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn fill(conn: &Connection, queue: &str, n: usize) {
    let channel = conn.channel().await.unwrap();
    channel.declare_queue(&Queue::new(queue)).await.unwrap();
    let producer = Producer::new(&channel).routing_key(queue).confirm(true);
    let mut pipeline = producer.pipeline(500);
    for i in 0..n {
        pipeline
            .send(producer.publish(&serde_json::json!({ "n": i, "sensor": "greenhouse-north-7" })))
            .await
            .unwrap();
    }
    pipeline.flush().await.unwrap();
}

async fn consume(
    conn: &Connection,
    queue: &str,
    n: usize,
    concurrency: usize,
    handler: Duration,
) -> f64 {
    let channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&channel, [Queue::new(queue)]).prefetch_count(200);
    let done = AtomicUsize::new(0);
    let shutdown = Shutdown::new(Duration::from_secs(30));
    let options = RunOptions::new()
        .concurrency(concurrency)
        .shutdown(shutdown.clone());
    consumer.consume().await.unwrap();
    let start = Instant::now();
    consumer
        .run(options, async |message| {
            tokio::time::sleep(handler).await;
            if message.payload().is_err() {
                return Disposition::Reject;
            }
            if done.fetch_add(1, Ordering::SeqCst) + 1 == n {
                shutdown.token().cancel();
            }
            Disposition::Ack
        })
        .await
        .unwrap();
    let elapsed = start.elapsed();
    channel.close().await.unwrap();
    n as f64 / elapsed.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = setting("KOMBU_BENCH_MESSAGES", "10000").parse().unwrap();
    let handler = Duration::from_millis(setting("KOMBU_BENCH_HANDLER_MS", "10").parse().unwrap());
    let levels: Vec<usize> = setting("KOMBU_BENCH_CONCURRENCY", "1,8,64")
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let conn = match Connection::connect(URL).await {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("skipped: no RabbitMQ at {URL}: {e}");
            return;
        }
    };
    let queue = format!("kombu.bench.concurrency.{}", std::process::id());
    println!("{n} messages, handlers awaiting {handler:?}, prefetch 200");
    let mut base = None;
    for &c in &levels {
        fill(&conn, &queue, n).await;
        let rate = consume(&conn, &queue, n, c, handler).await;
        let base = *base.get_or_insert(rate);
        println!(
            "concurrency {c:>3}: {rate:>8.0} msg/s  ({:.1}x one handler)",
            rate / base
        );
    }
    let channel = conn.channel().await.unwrap();
    Queue::new(queue.as_str())
        .attach(&channel)
        .delete(false, false)
        .await
        .unwrap();
    conn.close().await.unwrap();
}
