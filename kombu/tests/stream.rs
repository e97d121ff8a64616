//! Streams: a stream keeps what it was given after it is consumed, each consumer starts where
//! its `x-stream-offset` says (`first`, `last`, `next`, an offset, a timestamp, an interval),
//! every delivery carries its offset (`Message::stream_offset`), so a consumer can resume after
//! the last one it processed; retention drops whole old segments by size and by age; and what a
//! stream does not do (`basic.get`, automatic acks) is refused.
//!
//! Part of the behaviour suite: the in-memory broker's emulation by default, RabbitMQ with
//! `KOMBU_TEST_TRANSPORT=amqp` (`python3 scripts/test-suite.py --transport amqp stream`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod common;

use kombu::{Channel, Connection, Consumer, Producer, Queue, QueueType, StreamOffset};

use common::test_name;

/// A stream named after test `t`, with `settings`, declared, and a confirming producer to it.
async fn stream(
    t: &str,
    settings: impl FnOnce(Queue) -> Queue,
) -> (Connection, Channel, Queue, Producer) {
    let (conn, channel) = common::open(t).await;
    let name = common::name(t, "log");
    let queue = settings(Queue::new(name.as_str()).queue_type(QueueType::Stream));
    channel.declare_queue(&queue).await.unwrap();
    let producer = Producer::new(&channel)
        .routing_key(name.as_str())
        .confirm(true);
    (conn, channel, queue, producer)
}

/// Reads from `queue` starting at `offset` until `quiet` passes without a delivery: the
/// messages' numbers and offsets, each acked.
async fn read(
    channel: &Channel,
    queue: &Queue,
    offset: StreamOffset,
    quiet: Duration,
) -> Vec<(u64, u64)> {
    let mut consumer = Consumer::new(channel, [queue.clone().stream_offset(offset)])
        .prefetch_count(100)
        .auto_declare(false);
    consumer.consume().await.unwrap();
    let mut seen = Vec::new();
    loop {
        match consumer.recv(quiet).await {
            Ok(m) => {
                let n: u64 = m.decode().unwrap();
                seen.push((
                    n,
                    m.stream_offset().expect("a stream delivery has its offset"),
                ));
                m.ack().unwrap();
            }
            Err(e) if e.is_timeout() => break,
            Err(e) => panic!("{e:#}"),
        }
    }
    consumer.cancel().await.unwrap();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_consumers_start_where_their_offset_says_and_see_each_offset() {
    if common::is_stomp() {
        return;
    }
    let (conn, channel, queue, producer) =
        stream(test_name!(), |q| q.max_length_bytes(10_000_000)).await;
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for n in 0..10u64 {
        producer.publish(&n).await.unwrap();
    }
    let quiet = Duration::from_millis(700);

    let all = read(&channel, &queue, StreamOffset::First, quiet).await;
    let numbers: Vec<u64> = all.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (0..10).collect::<Vec<_>>());
    assert!(
        all.windows(2).all(|w| w[0].1 < w[1].1),
        "offsets increase: {all:?}"
    );

    // Consumed and acked, the messages are still there for the next reader.
    assert_eq!(
        read(&channel, &queue, StreamOffset::First, quiet).await,
        all
    );

    // From an offset: resuming after the sixth message.
    let resumed = read(&channel, &queue, StreamOffset::Offset(all[5].1 + 1), quiet).await;
    assert_eq!(resumed, all[6..]);

    // From a time before the first publish: everything.
    let since = read(
        &channel,
        &queue,
        StreamOffset::Timestamp(before.saturating_sub(60)),
        quiet,
    )
    .await;
    assert_eq!(since, all);

    // From an hour ago (an interval): everything.
    let recent = read(
        &channel,
        &queue,
        StreamOffset::Age(Duration::from_secs(3600)),
        quiet,
    )
    .await;
    assert_eq!(recent, all);

    // From the last chunk: at least the last message, never one before the first.
    let last = read(&channel, &queue, StreamOffset::Last, quiet).await;
    assert_eq!(last.last(), all.last());

    // From next: only what is published after the consumer starts.
    let mut consumer = Consumer::new(&channel, [queue.clone().stream_offset(StreamOffset::Next)])
        .prefetch_count(100)
        .auto_declare(false);
    consumer.consume().await.unwrap();
    assert!(consumer.recv(quiet).await.unwrap_err().is_timeout());
    producer.publish(&10u64).await.unwrap();
    let m = consumer.recv(Duration::from_secs(10)).await.unwrap();
    assert_eq!(m.decode::<u64>().unwrap(), 10);
    assert!(m.stream_offset().unwrap() > all[9].1);
    m.ack().unwrap();
    consumer.cancel().await.unwrap();

    queue.attach(&channel).delete(false, false).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_refuses_basic_get_and_automatic_acks() {
    if common::is_stomp() {
        return;
    }
    let (conn, channel, queue, _) = stream(test_name!(), |q| q).await;
    let name = queue.name.clone();

    let err = queue.clone().attach(&channel).get(false).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "540 NOT_IMPLEMENTED - basic.get not supported by stream queues queue '{name}' in vhost '/'"
        )),
        "{err:#}"
    );
    // (On RabbitMQ that closed the connection; kombu opens it again.)
    let channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&channel, [queue.clone()])
        .prefetch_count(10)
        .no_ack(true)
        .auto_declare(false);
    let err = consumer.consume().await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "540 NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues queue '{name}' in vhost '/'"
        )),
        "{err:#}"
    );
    let channel = conn.channel().await.unwrap();
    queue.attach(&channel).delete(false, false).await.unwrap();

    // An age RabbitMQ does not read: zero, a fraction, a number that is not a string.
    for (age, reason) in [
        (kombu::FieldValue::from("0s"), "invalid_max_age"),
        (kombu::FieldValue::from("1.5h"), "invalid_max_age"),
        (kombu::FieldValue::I64(5), "{unacceptable_type,long}"),
    ] {
        let channel = conn.channel().await.unwrap();
        let aged = Queue::new(format!("{name}-aged"))
            .queue_type(QueueType::Stream)
            .argument("x-max-age", age);
        let err = channel.declare_queue(&aged).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "406 PRECONDITION_FAILED - invalid arg 'x-max-age' for queue '{name}-aged' in vhost '/': {reason}"
            )),
            "{err:#}"
        );
    }
    conn.close().await.unwrap();
}

/// A ~100-byte body numbered `n`.
fn padded(n: u64) -> String {
    format!("{n:0>100}")
}

/// The numbers of the [`padded`] messages a reader from `first` gets, reading again when
/// nothing came: RabbitMQ 3.10 now and then delivers nothing to a reader from `first` of a
/// stream cut into small segments (about one read in five when we tried; the next read gets
/// the messages).
async fn read_padded(channel: &Channel, queue: &Queue) -> Vec<u64> {
    for _ in 0..5 {
        let mut consumer =
            Consumer::new(channel, [queue.clone().stream_offset(StreamOffset::First)])
                .prefetch_count(100)
                .auto_declare(false);
        consumer.consume().await.unwrap();
        let mut seen = Vec::new();
        loop {
            match consumer.recv(Duration::from_millis(1500)).await {
                Ok(m) => {
                    let body: String = m.decode().unwrap();
                    seen.push(body.parse::<u64>().unwrap());
                    m.ack().unwrap();
                }
                Err(e) if e.is_timeout() => break,
                Err(e) => panic!("{e:#}"),
            }
        }
        consumer.cancel().await.unwrap();
        if !seen.is_empty() {
            return seen;
        }
    }
    Vec::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_size_drops_whole_old_segments_and_keeps_the_newest() {
    if common::is_stomp() {
        return;
    }
    let (conn, channel, queue, producer) = stream(test_name!(), |q| {
        q.max_length_bytes(5_000)
            .argument("x-stream-max-segment-size-bytes", 1_000i64)
    })
    .await;
    for n in 0..300u64 {
        producer.publish(&padded(n)).await.unwrap();
    }
    let kept = read_padded(&channel, &queue).await;
    // The newest messages, in order, with nothing missing between them: at most the limit
    // and one segment's worth (RabbitMQ, which counts its framing too, keeps fewer).
    assert_eq!(kept.last(), Some(&299), "{kept:?}");
    assert!(kept.len() <= 60, "{} kept: {kept:?}", kept.len());
    assert!(
        kept.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous: {kept:?}"
    );

    queue.attach(&channel).delete(false, false).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_age_drops_segments_older_than_max_age_when_a_new_one_starts() {
    if common::is_stomp() {
        return;
    }
    let (conn, channel, queue, producer) = stream(test_name!(), |q| {
        q.argument("x-max-age", "2s")
            .argument("x-stream-max-segment-size-bytes", 1_000i64)
    })
    .await;
    for n in 0..20u64 {
        producer.publish(&padded(n)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for n in 20..40u64 {
        producer.publish(&padded(n)).await.unwrap();
    }
    let kept = read_padded(&channel, &queue).await;
    // Every message of the second batch; of the first, at most what shared a segment with
    // the second (a segment holds about ten of these).
    assert!(kept.ends_with(&(20..40).collect::<Vec<_>>()), "{kept:?}");
    assert!(kept.len() <= 30, "{} kept: {kept:?}", kept.len());
    assert!(
        kept.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous: {kept:?}"
    );

    queue.attach(&channel).delete(false, false).await.unwrap();
    conn.close().await.unwrap();
}
