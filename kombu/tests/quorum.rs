//! Quorum and stream queues as RabbitMQ 3.10 treats them: what their declarations refuse (flags
//! and arguments another queue type owns), and a quorum queue's delivery count and delivery
//! limit (`x-delivery-count` on a returned message; past the limit, the message is
//! dead-lettered with reason `delivery_limit`, or dropped without a dead-letter exchange).
//!
//! Part of the behaviour suite: the in-memory broker by default, RabbitMQ with
//! `KOMBU_TEST_TRANSPORT=amqp` (`python3 scripts/test-suite.py --transport amqp quorum`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kombu::{Channel, ErrorKind, Exchange, ExchangeKind, FieldValue, Producer, Queue, QueueType};

use common::{declare, get_one, get_within, open, test_name, QUIET};

/// Declares `queue` on a fresh channel and returns the broker's refusal.
async fn refusal(channel: &Channel, queue: Queue) -> kombu::Error {
    let name = queue.name.clone();
    let result = queue.attach(channel).declare().await;
    match result {
        Ok(_) => {
            // Clean up before failing.
            let _ = Queue::new(name.as_str())
                .attach(channel)
                .delete(false, false)
                .await;
            panic!("declaring `{name}` was accepted")
        }
        Err(e) => e,
    }
}

fn quorum(name: &str) -> Queue {
    Queue::new(name).queue_type(QueueType::Quorum)
}

fn stream(name: &str) -> Queue {
    Queue::new(name).queue_type(QueueType::Stream)
}

#[tokio::test]
async fn quorum_and_stream_declarations_refuse_what_rabbitmq_refuses() {
    if common::is_stomp() {
        return;
    }
    let t = test_name!();
    let (conn, channel) = open(t).await;
    let q = common::name(t, "q");
    let cases: Vec<(Queue, String)> = vec![
        (
            quorum(&q).durable(false),
            format!("invalid property 'non-durable' for queue '{q}' in vhost '/'"),
        ),
        (
            quorum(&q).auto_delete(true),
            format!("invalid property 'auto-delete' for queue '{q}' in vhost '/'"),
        ),
        // kombu's exclusive queues are auto-delete too (as Python kombu's), and RabbitMQ
        // checks that flag first.
        (
            quorum(&q).exclusive(true),
            format!("invalid property 'auto-delete' for queue '{q}' in vhost '/'"),
        ),
        // Arguments are checked before flags.
        (
            quorum(&q).durable(false).max_priority(5),
            format!("invalid arg 'x-max-priority' for queue '{q}' in vhost '/' of queue type rabbit_quorum_queue"),
        ),
        (
            quorum(&q).argument("x-queue-mode", "lazy"),
            format!("invalid arg 'x-queue-mode' for queue '{q}' in vhost '/' of queue type rabbit_quorum_queue"),
        ),
        (
            quorum(&q).argument("x-max-age", "1D"),
            format!("invalid arg 'x-max-age' for queue '{q}' in vhost '/' of queue type rabbit_quorum_queue"),
        ),
        (
            stream(&q).message_ttl(std::time::Duration::from_secs(1)),
            format!("invalid arg 'x-message-ttl' for queue '{q}' in vhost '/' of queue type rabbit_stream_queue"),
        ),
        (
            stream(&q).dead_letter_exchange("dlx"),
            format!("invalid arg 'x-dead-letter-exchange' for queue '{q}' in vhost '/' of queue type rabbit_stream_queue"),
        ),
        (
            stream(&q).argument("x-delivery-limit", 3i32),
            format!("invalid arg 'x-delivery-limit' for queue '{q}' in vhost '/' of queue type rabbit_stream_queue"),
        ),
        (
            stream(&q).durable(false),
            format!("invalid property 'non-durable' for queue '{q}' in vhost '/'"),
        ),
        (
            Queue::new(q.as_str()).argument("x-delivery-limit", 3i32),
            format!("invalid arg 'x-delivery-limit' for queue '{q}' in vhost '/' of queue type rabbit_classic_queue"),
        ),
        (
            Queue::new(q.as_str()).argument("x-queue-leader-locator", "balanced"),
            format!("invalid arg 'x-queue-leader-locator' for queue '{q}' in vhost '/' of queue type rabbit_classic_queue"),
        ),
        (
            quorum(&q).argument("x-dead-letter-strategy", "sometimes"),
            format!("invalid arg 'x-dead-letter-strategy' for queue '{q}' in vhost '/': invalid_dlx_strategy"),
        ),
        // A bad value of an argument the type takes comes before another type's argument...
        (
            quorum(&q)
                .max_priority(3)
                .argument("x-dead-letter-strategy", "sometimes"),
            format!("invalid arg 'x-dead-letter-strategy' for queue '{q}' in vhost '/': invalid_dlx_strategy"),
        ),
        // ...and the value of another type's argument is not looked at.
        (
            Queue::new(q.as_str()).argument("x-dead-letter-strategy", "sometimes"),
            format!("invalid arg 'x-dead-letter-strategy' for queue '{q}' in vhost '/' of queue type rabbit_classic_queue"),
        ),
        (
            quorum(&q).argument("x-quorum-initial-group-size", 0i32),
            format!("invalid arg 'x-quorum-initial-group-size' for queue '{q}' in vhost '/': {{value_zero,0}}"),
        ),
        (
            stream(&q).argument("x-initial-cluster-size", -2i32),
            format!("invalid arg 'x-initial-cluster-size' for queue '{q}' in vhost '/': {{value_negative,-2}}"),
        ),
        (
            quorum(&q).argument("x-queue-leader-locator", "anywhere"),
            format!("invalid arg 'x-queue-leader-locator' for queue '{q}' in vhost '/': invalid_queue_locator_arg"),
        ),
    ];
    for (queue, expected) in cases {
        let err = refusal(&channel, queue.clone()).await;
        assert_eq!(
            err.kind(),
            ErrorKind::PreconditionFailed,
            "{queue:?}: {err:#}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("406 PRECONDITION_FAILED - {expected}")),
            "{queue:?}:\n  got      {text}\n  expected {expected}"
        );
    }
    // What each type does accept, including arguments kombu does not know.
    for queue in [
        quorum(&q)
            .argument("x-delivery-limit", 3i32)
            .argument("x-quorum-initial-group-size", 1i32)
            .argument("x-queue-leader-locator", "client-local")
            .argument("x-dead-letter-strategy", "at-least-once")
            .overflow(kombu::Overflow::RejectPublish)
            .message_ttl(std::time::Duration::from_secs(60))
            .argument("x-custom", "kept"),
        stream(&q)
            .argument("x-max-age", "7D")
            .max_length_bytes(1_000_000)
            .argument("x-stream-max-segment-size-bytes", 100_000i32)
            .argument("x-initial-cluster-size", 1i32),
    ] {
        let bound = declare(&channel, queue).await;
        bound.delete(false, false).await.unwrap();
    }
    conn.close().await.unwrap();
}

/// The `x-delivery-count` of a message (0 on its first delivery).
fn delivery_count(message: &kombu::Message) -> Option<i64> {
    message.header("x-delivery-count").map(|v| match v {
        // A long, as RabbitMQ sends it.
        FieldValue::I64(n) => *n,
        other => panic!("x-delivery-count is not a long: {other:?}"),
    })
}

#[tokio::test]
async fn a_quorum_queue_counts_returns_and_dead_letters_past_its_delivery_limit() {
    if common::is_stomp() {
        return;
    }
    let t = test_name!();
    let (conn, channel) = open(t).await;
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Fanout);
    let dlq = declare(
        &channel,
        Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), ""),
    )
    .await;
    let queue = declare(
        &channel,
        quorum(&common::name(t, "q"))
            .argument("x-delivery-limit", 2i32)
            .dead_letter_exchange(dlx.name.clone()),
    )
    .await;
    let producer = Producer::new(&channel).routing_key(queue.name());
    producer.publish("poison").await.unwrap();

    // Delivered three times, returned each time.
    let mut counts = Vec::new();
    for _ in 0..3 {
        let message = get_one(&queue).await;
        counts.push(delivery_count(&message));
        message.requeue().unwrap();
    }
    assert_eq!(counts, [Some(0), Some(1), Some(2)]);
    // The third return is past the limit: dead-lettered, not delivered again.
    let dead = get_one(&dlq).await;
    assert_eq!(dead.body(), b"\"poison\"");
    let deaths = common::deaths(&dead);
    let first = &deaths[0];
    assert_eq!(
        first.get("reason"),
        Some(&FieldValue::String("delivery_limit".into()))
    );
    assert_eq!(
        first.get("queue"),
        Some(&FieldValue::String(queue.name().into()))
    );
    assert!(get_within(&queue, QUIET).await.is_none());
    dead.ack().unwrap();

    // Without a dead-letter exchange, the message is dropped.
    let plain = declare(
        &channel,
        quorum(&common::name(t, "plain")).argument("x-delivery-limit", 0i32),
    )
    .await;
    Producer::new(&channel)
        .routing_key(plain.name())
        .publish("once")
        .await
        .unwrap();
    let message = get_one(&plain).await;
    assert_eq!(delivery_count(&message), Some(0));
    message.requeue().unwrap();
    assert!(get_within(&plain, QUIET).await.is_none());

    plain.delete(false, false).await.unwrap();
    queue.delete(false, false).await.unwrap();
    dlq.delete(false, false).await.unwrap();
    dlx.attach(&channel).delete(false).await.unwrap();
    conn.close().await.unwrap();
}
