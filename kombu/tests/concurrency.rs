//! Running handlers concurrently: `Consumer::run` with a concurrency, ordered queues, shutdown
//! in the middle, a panicking handler, batched acks with handlers finishing out of order, and
//! the decoded stream. Every test counts what the queue holds afterwards: nothing lost, nothing
//! handled twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use kombu::{
    Channel, Consumer, Disposition, Exchange, ExchangeKind, FailurePolicy, Message, Producer,
    Queue, RunOptions, Shutdown,
};
use serde_json::json;

use common::{declare, get_within, open, test_name, WAIT};

/// How many handlers run now, and the most that ever ran at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

async fn publish_numbers(ch: &Channel, queue: &str, n: usize) {
    let producer = Producer::new(ch).routing_key(queue);
    for i in 0..n {
        producer.publish(&json!({ "n": i })).await.unwrap();
    }
}

/// The numbers still in `queue`, taken with acks on a fresh connection.
async fn left_in(t: &str, queue: &Queue) -> Vec<i64> {
    let (conn, ch) = open(t).await;
    let bound = declare(&ch, queue.clone()).await;
    let mut left = Vec::new();
    while let Some(message) = get_within(&bound, Duration::from_millis(300)).await {
        left.push(common::int_field(&message, "n"));
        message.ack().unwrap();
    }
    conn.close().await.unwrap();
    left
}

async fn delete(t: &str, queues: &[&Queue]) {
    let (conn, ch) = open(t).await;
    for q in queues {
        let _ = (*q).clone().attach(&ch).delete(false, false).await;
    }
    conn.close().await.unwrap();
}

fn number(message: &Message) -> i64 {
    common::int_field(message, "n")
}

#[tokio::test]
async fn run_keeps_up_to_the_concurrency_in_flight_and_acks_every_message() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]).prefetch_count(20);
    consumer.consume().await.unwrap();
    publish_numbers(&ch, &q.name, 40).await;

    let gauge = Gauge::default();
    let seen = Mutex::new(Vec::new());
    let shutdown = Shutdown::new(WAIT);
    let options = RunOptions::new().concurrency(4).shutdown(shutdown.clone());
    consumer
        .run(options, async |message| {
            gauge.enter();
            tokio::time::sleep(Duration::from_millis(20)).await;
            gauge.leave();
            let mut seen = seen.lock().unwrap();
            seen.push(number(message));
            if seen.len() == 40 {
                shutdown.token().cancel();
            }
            Disposition::Ack
        })
        .await
        .unwrap();
    conn.close().await.unwrap();

    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..40).collect::<Vec<i64>>(),
        "each message handled once"
    );
    assert_eq!(gauge.most(), 4, "never more than 4 at once, and 4 reached");
    assert_eq!(
        left_in(t, &q).await,
        Vec::<i64>::new(),
        "every message was acked"
    );
    delete(t, &[&q]).await;
}

#[tokio::test]
async fn an_ordered_queue_is_handled_one_at_a_time_in_order_beside_a_concurrent_one() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let ledger = Queue::new(common::name(t, "ledger"));
    let thumbs = Queue::new(common::name(t, "thumbs"));
    let mut consumer = Consumer::new(&ch, [ledger.clone(), thumbs.clone()]).prefetch_count(50);
    consumer.consume().await.unwrap();
    publish_numbers(&ch, &ledger.name, 20).await;
    publish_numbers(&ch, &thumbs.name, 20).await;

    let ledger_gauge = Gauge::default();
    let thumbs_gauge = Gauge::default();
    let order = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    let shutdown = Shutdown::new(WAIT);
    let options = RunOptions::new()
        .concurrency(8)
        .ordered(ledger.name.clone())
        .shutdown(shutdown.clone());
    consumer
        .run(options, async |message| {
            let is_ledger = message.routing_key() == ledger.name;
            let gauge = if is_ledger {
                &ledger_gauge
            } else {
                &thumbs_gauge
            };
            gauge.enter();
            // Later messages finish sooner: without the lane, order would be lost.
            let n = number(message) as u64;
            tokio::time::sleep(Duration::from_millis(2 + (20 - n.min(20)))).await;
            gauge.leave();
            if is_ledger {
                order.lock().unwrap().push(n as i64);
            }
            if done.fetch_add(1, Ordering::SeqCst) + 1 == 40 {
                shutdown.token().cancel();
            }
            Disposition::Ack
        })
        .await
        .unwrap();
    conn.close().await.unwrap();

    assert_eq!(
        order.into_inner().unwrap(),
        (0..20).collect::<Vec<i64>>(),
        "the ordered queue's messages in the order they were published"
    );
    assert_eq!(ledger_gauge.most(), 1, "one ledger handler at a time");
    assert!(
        thumbs_gauge.most() > 1,
        "the other queue's handlers ran beside each other (most at once: {})",
        thumbs_gauge.most()
    );
    assert!(left_in(t, &ledger).await.is_empty());
    assert!(left_in(t, &thumbs).await.is_empty());
    delete(t, &[&ledger, &thumbs]).await;
}

#[tokio::test]
async fn shutdown_in_the_middle_loses_nothing_and_handles_nothing_twice() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]).prefetch_count(16);
    consumer.consume().await.unwrap();
    publish_numbers(&ch, &q.name, 100).await;

    let handled = Mutex::new(Vec::new());
    let started = AtomicUsize::new(0);
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let options = RunOptions::new().concurrency(8).shutdown(shutdown.clone());
    consumer
        .run(options, async |message| {
            if started.fetch_add(1, Ordering::SeqCst) + 1 == 20 {
                // Shutdown while up to 8 handlers are in flight and 8 more wait in the prefetch.
                shutdown.token().cancel();
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
            handled.lock().unwrap().push(number(message));
            Disposition::Ack
        })
        .await
        .unwrap();
    conn.close().await.unwrap();

    let handled = handled.into_inner().unwrap();
    let started = started.into_inner();
    assert_eq!(
        handled.len(),
        started,
        "every handler that started finished within the grace period"
    );
    assert!(handled.len() < 100, "shutdown stopped the run early");
    let mut all = handled.clone();
    all.extend(left_in(t, &q).await);
    all.sort_unstable();
    assert_eq!(
        all,
        (0..100).collect::<Vec<i64>>(),
        "each message either handled once or still in the queue"
    );
    delete(t, &[&q]).await;
}

#[tokio::test]
async fn handlers_cut_off_by_the_grace_period_leave_their_messages_for_redelivery() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]).prefetch_count(4);
    consumer.consume().await.unwrap();
    publish_numbers(&ch, &q.name, 4).await;

    let started = AtomicUsize::new(0);
    let shutdown = Shutdown::new(Duration::from_millis(50));
    let options = RunOptions::new().concurrency(4).shutdown(shutdown.clone());
    consumer
        .run(options, async |_message| {
            if started.fetch_add(1, Ordering::SeqCst) + 1 == 4 {
                shutdown.token().cancel();
            }
            // Far longer than the grace period.
            tokio::time::sleep(Duration::from_secs(60)).await;
            Disposition::Ack
        })
        .await
        .unwrap();
    conn.close().await.unwrap();

    let mut left = left_in(t, &q).await;
    left.sort_unstable();
    assert_eq!(
        left,
        vec![0, 1, 2, 3],
        "unsettled messages went back to the queue"
    );
    delete(t, &[&q]).await;
}

#[tokio::test]
async fn a_panicking_handler_dead_letters_its_message_and_the_run_goes_on() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Fanout);
    let dlq = Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), "");
    let dlq_bound = declare(&ch, dlq.clone()).await;
    let q = Queue::new(common::name(t, "q")).dead_letter_exchange(dlx.name.as_str());
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.consume().await.unwrap();
    publish_numbers(&ch, &q.name, 5).await;

    let ok = Mutex::new(Vec::new());
    let shutdown = Shutdown::new(WAIT);
    let calls = AtomicUsize::new(0);
    let options = RunOptions::new().concurrency(2).shutdown(shutdown.clone());
    consumer
        .run(options, async |message| {
            let n = number(message);
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if call == 5 {
                shutdown.token().cancel();
            }
            if n == 2 {
                panic!("handler bug on message 2");
            }
            ok.lock().unwrap().push(n);
            Disposition::Ack
        })
        .await
        .unwrap();

    let mut ok = ok.into_inner().unwrap();
    ok.sort_unstable();
    assert_eq!(ok, vec![0, 1, 3, 4]);
    let dead = get_within(&dlq_bound, WAIT)
        .await
        .expect("the panicking handler's message was dead-lettered");
    assert_eq!(number(&dead), 2);
    dead.ack().unwrap();
    conn.close().await.unwrap();
    assert!(left_in(t, &q).await.is_empty());
    delete(t, &[&q, &dlq]).await;
    let (conn, ch) = open(t).await;
    let _ = dlx.attach(&ch).delete(false).await;
    conn.close().await.unwrap();
}

#[tokio::test]
async fn batched_acks_with_handlers_finishing_out_of_order_ack_everything_exactly() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()])
        .prefetch_count(32)
        .batch_ack(10, Duration::from_millis(20));
    consumer.consume().await.unwrap();
    publish_numbers(&ch, &q.name, 200).await;

    let counts: Mutex<HashMap<i64, usize>> = Mutex::new(HashMap::new());
    let shutdown = Shutdown::new(WAIT);
    let done = AtomicUsize::new(0);
    let options = RunOptions::new().concurrency(16).shutdown(shutdown.clone());
    consumer
        .run(options, async |message| {
            let n = number(message);
            // Uneven handler times: acks become due far out of delivery order.
            tokio::time::sleep(Duration::from_millis(((n * 7919) % 13) as u64)).await;
            *counts.lock().unwrap().entry(n).or_default() += 1;
            if done.fetch_add(1, Ordering::SeqCst) + 1 == 200 {
                shutdown.token().cancel();
            }
            Disposition::Ack
        })
        .await
        .unwrap();
    conn.close().await.unwrap();

    let counts = counts.into_inner().unwrap();
    assert_eq!(counts.len(), 200);
    assert!(counts.values().all(|&c| c == 1), "no message handled twice");
    assert!(
        left_in(t, &q).await.is_empty(),
        "the batched acks covered every message"
    );
    delete(t, &[&q]).await;
}

#[derive(Debug, serde::Deserialize)]
struct Job {
    n: i64,
}

#[tokio::test]
async fn the_decoded_stream_yields_typed_messages_and_dead_letters_what_does_not_decode() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Fanout);
    let dlq = Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), "");
    let dlq_bound = declare(&ch, dlq.clone()).await;
    let q = Queue::new(common::name(t, "q")).dead_letter_exchange(dlx.name.as_str());
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.consume().await.unwrap();
    let producer = Producer::new(&ch).routing_key(q.name.as_str());
    producer.publish(&json!({ "n": 1 })).await.unwrap();
    producer.publish(&json!({ "name": "no n" })).await.unwrap();
    producer.publish(&json!({ "n": 3 })).await.unwrap();

    let mut stream = consumer.decoded::<Job>(FailurePolicy::DeadLetter);
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.body.n, 1);
    first.ack().unwrap();
    let bad = stream.next().await.unwrap().unwrap_err();
    assert_eq!(bad.kind(), kombu::ErrorKind::Decode);
    assert!(
        bad.to_string()
            .contains("rejected to the dead-letter exchange"),
        "{bad}"
    );
    let third = stream.next().await.unwrap().unwrap();
    assert_eq!(third.body.n, 3);
    third.message.ack().unwrap();

    let dead = get_within(&dlq_bound, WAIT)
        .await
        .expect("the undecodable message was dead-lettered");
    assert_eq!(common::str_field(&dead, "name"), "no n");
    dead.ack().unwrap();
    conn.close().await.unwrap();
    assert!(left_in(t, &q).await.is_empty());
    delete(t, &[&q, &dlq]).await;
    let (conn, ch) = open(t).await;
    let _ = dlx.attach(&ch).delete(false).await;
    conn.close().await.unwrap();
}
