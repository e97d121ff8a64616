//! Dead-lettering (rejected, expired, overflowed messages republished to a dead-letter exchange
//! with an `x-death` header), length limits, and priority queues.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kombu::{
    BoundQueue, Channel, ErrorKind, Exchange, ExchangeKind, FieldTable, FieldValue, Message,
    Overflow, Producer, Queue,
};
use serde_json::json;

use common::{deaths, declare, drain_until_marker, get_one, open, test_name, TTL};

/// A fanout dead-letter exchange and the queue bound to it.
async fn dead_letter_queue(t: &str, ch: &Channel) -> (Exchange, BoundQueue) {
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Fanout);
    let dlq = declare(
        ch,
        Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), ""),
    )
    .await;
    (dlx, dlq)
}

fn text<'a>(table: &'a FieldTable, key: &str) -> &'a str {
    table
        .get(key)
        .and_then(FieldValue::as_str)
        .unwrap_or_else(|| panic!("`{key}` is not text in {table:?}"))
}

fn count(table: &FieldTable) -> i64 {
    table
        .get("count")
        .and_then(FieldValue::as_i64)
        .unwrap_or_else(|| panic!("no integer count in {table:?}"))
}

fn routing_keys(table: &FieldTable) -> Vec<String> {
    match table.get("routing-keys") {
        Some(FieldValue::Array(keys)) => keys
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("routing-keys is {other:?}"),
    }
}

fn numbers(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| common::int_field(m, "n")).collect()
}

#[tokio::test]
async fn reject_without_requeue_dead_letters_with_an_x_death_header() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let work = Exchange::new(common::name(t, "work"), ExchangeKind::Direct);
    // A direct dead-letter exchange bound with the original key: the key is kept.
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Direct);
    let dlq = declare(
        &ch,
        Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), "task"),
    )
    .await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .bind_to(work.clone(), "task")
            .dead_letter_exchange(dlx.name.as_str()),
    )
    .await;

    Producer::new(&ch)
        .exchange(work.clone())
        .publish(&json!({"n": 1}))
        .routing_key("task")
        .header("origin", "test")
        .await
        .unwrap();
    get_one(&q).await.reject().unwrap();

    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 1);
    assert_eq!(dead.header("origin"), Some(&FieldValue::from("test")));
    assert_eq!(dead.exchange(), dlx.name);
    assert_eq!(dead.routing_key(), "task");
    let deaths = deaths(&dead);
    assert_eq!(deaths.len(), 1);
    let death = &deaths[0];
    assert_eq!(count(death), 1);
    assert_eq!(text(death, "reason"), "rejected");
    assert_eq!(text(death, "queue"), q.name());
    assert_eq!(text(death, "exchange"), work.name);
    assert_eq!(routing_keys(death), ["task"]);
    assert!(matches!(death.get("time"), Some(FieldValue::Timestamp(_))));
    assert_eq!(
        dead.header("x-first-death-reason"),
        Some(&FieldValue::from("rejected"))
    );
    assert_eq!(
        dead.header("x-first-death-queue"),
        Some(&FieldValue::from(q.name()))
    );
    assert_eq!(
        dead.header("x-first-death-exchange"),
        Some(&FieldValue::from(work.name.as_str()))
    );
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn requeue_does_not_dead_letter() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .await
        .unwrap();
    get_one(&q).await.requeue().unwrap();

    assert_eq!(numbers(&drain_until_marker(&ch, &q).await), [1]);
    assert!(drain_until_marker(&ch, &dlq).await.is_empty());
}

#[tokio::test]
async fn queue_ttl_expiry_dead_letters_as_expired() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .message_ttl(TTL)
            .dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .await
        .unwrap();

    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 1);
    let deaths = deaths(&dead);
    assert_eq!(text(&deaths[0], "reason"), "expired");
    assert_eq!(text(&deaths[0], "queue"), q.name());
    assert_eq!(count(&deaths[0]), 1);
    assert_eq!(routing_keys(&deaths[0]), [q.name()]);
    common::wait_for_ready(&q, 0).await;
}

#[tokio::test]
async fn per_message_expiration_dead_letters_as_expired() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    let producer = Producer::new(&ch).routing_key(q.name());
    producer
        .publish(&json!({"n": 1}))
        .expiration(TTL)
        .await
        .unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();

    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 1);
    let deaths = deaths(&dead);
    assert_eq!(text(&deaths[0], "reason"), "expired");
    assert_eq!(
        text(&deaths[0], "original-expiration"),
        TTL.as_millis().to_string()
    );
    assert_eq!(
        dead.properties().expiration,
        None,
        "a dead-lettered message loses its expiration"
    );
    // The message without an expiration stays.
    assert_eq!(numbers(&drain_until_marker(&ch, &q).await), [2]);
}

#[tokio::test]
async fn drop_head_overflow_dead_letters_the_oldest_as_maxlen() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .max_length(2)
            .overflow(Overflow::DropHead)
            .dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for n in 1..=3 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }

    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 1);
    assert_eq!(text(&deaths(&dead)[0], "reason"), "maxlen");
    common::wait_for_ready(&q, 2).await;
    let left = (get_one(&q).await, get_one(&q).await);
    assert_eq!(numbers(&[left.0, left.1]), [2, 3]);
}

#[tokio::test]
async fn max_length_drops_the_oldest_by_default() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .max_length(1)
            .dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    let producer = Producer::new(&ch).routing_key(q.name());
    producer.publish(&json!({"n": 1})).await.unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();

    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 1);
    assert_eq!(text(&deaths(&dead)[0], "reason"), "maxlen");
    common::wait_for_ready(&q, 1).await;
    assert_eq!(common::int_field(&get_one(&q).await, "n"), 2);
}

#[tokio::test]
async fn reject_publish_refuses_new_messages_without_dead_lettering_them() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .max_length(1)
            .overflow(Overflow::RejectPublish)
            .dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    let producer = Producer::new(&ch).routing_key(q.name());
    producer.publish(&json!({"n": 1})).await.unwrap();
    // Without confirms the publisher is not told.
    producer.publish(&json!({"n": 2})).await.unwrap();

    common::wait_for_ready(&q, 1).await;
    assert_eq!(common::int_field(&get_one(&q).await, "n"), 1);
    assert!(drain_until_marker(&ch, &dlq).await.is_empty());
}

#[tokio::test]
async fn reject_publish_with_confirms_is_a_nack_that_hands_back_the_message() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .max_length(1)
            .overflow(Overflow::RejectPublish),
    )
    .await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    producer.publish(&json!({"n": 1})).await.unwrap();
    let err = producer.publish(&json!({"n": 2})).await.unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Nacked, "{err}");
    let refused = err.returned_message().expect("the message is handed back");
    assert_eq!(refused.body, serde_json::to_vec(&json!({"n": 2})).unwrap());
    common::wait_for_ready(&q, 1).await;
    assert_eq!(common::int_field(&get_one(&q).await, "n"), 1);
}

#[tokio::test]
async fn reject_publish_dlx_dead_letters_refused_messages() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .max_length(1)
            .overflow(Overflow::RejectPublishDlx)
            .dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    producer.publish(&json!({"n": 1})).await.unwrap();
    let err = producer.publish(&json!({"n": 2})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Nacked, "{err}");

    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 2);
    let deaths = deaths(&dead);
    assert_eq!(text(&deaths[0], "reason"), "maxlen");
    assert_eq!(text(&deaths[0], "queue"), q.name());
    common::wait_for_ready(&q, 1).await;
    assert_eq!(common::int_field(&get_one(&q).await, "n"), 1);
}

#[tokio::test]
async fn dead_letter_routing_key_replaces_the_original_key() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Direct);
    let dlq = declare(
        &ch,
        Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), "dead"),
    )
    .await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .dead_letter_exchange(dlx.name.as_str())
            .dead_letter_routing_key("dead"),
    )
    .await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .await
        .unwrap();
    get_one(&q).await.reject().unwrap();

    let dead = get_one(&dlq).await;
    assert_eq!(dead.routing_key(), "dead");
    assert_eq!(routing_keys(&deaths(&dead)[0]), [q.name()]);
}

#[tokio::test]
async fn dead_lettering_again_counts_in_x_death() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let to_b = Exchange::new(common::name(t, "to-b"), ExchangeKind::Fanout);
    let to_a = Exchange::new(common::name(t, "to-a"), ExchangeKind::Fanout);
    let a = declare(
        &ch,
        Queue::new(common::name(t, "a"))
            .bind_to(to_a.clone(), "")
            .dead_letter_exchange(to_b.name.as_str()),
    )
    .await;
    let b = declare(
        &ch,
        Queue::new(common::name(t, "b"))
            .bind_to(to_b.clone(), "")
            .dead_letter_exchange(to_a.name.as_str()),
    )
    .await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(a.name())
        .await
        .unwrap();

    get_one(&a).await.reject().unwrap(); // a -> b
    get_one(&b).await.reject().unwrap(); // b -> a
    get_one(&a).await.reject().unwrap(); // a -> b again
    let dead = get_one(&b).await;

    let deaths = deaths(&dead);
    assert_eq!(deaths.len(), 2, "{deaths:?}");
    assert_eq!(
        text(&deaths[0], "queue"),
        a.name(),
        "the newest death first"
    );
    assert_eq!(count(&deaths[0]), 2);
    assert_eq!(text(&deaths[1], "queue"), b.name());
    assert_eq!(count(&deaths[1]), 1);
    assert_eq!(
        dead.header("x-first-death-queue"),
        Some(&FieldValue::from(a.name()))
    );
}

#[tokio::test]
async fn dead_lettering_to_a_missing_exchange_drops_the_message() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).dead_letter_exchange(common::name(t, "missing")),
    )
    .await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .await
        .unwrap();
    get_one(&q).await.reject().unwrap();
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn priority_queue_delivers_higher_priority_first() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q")).max_priority(10)).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    // Above the maximum counts as the maximum; equal priorities keep their order.
    for (n, priority) in [(1, 1u8), (2, 5), (3, 9), (4, 5), (5, 0), (6, 255)] {
        producer
            .publish(&json!({"n": n}))
            .priority(priority)
            .await
            .unwrap();
    }
    common::wait_for_ready(&q, 6).await;
    assert_eq!(
        numbers(&drain_until_marker(&ch, &q).await),
        [6, 3, 2, 4, 1, 5]
    );
}

#[tokio::test]
async fn queue_without_max_priority_ignores_priority() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for (n, priority) in [(1, 1u8), (2, 9), (3, 5)] {
        producer
            .publish(&json!({"n": n}))
            .priority(priority)
            .await
            .unwrap();
    }
    assert_eq!(numbers(&drain_until_marker(&ch, &q).await), [1, 2, 3]);
}

#[tokio::test]
async fn ttl_expires_messages_waiting_behind_a_busy_consumer() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = Queue::new(common::name(t, "q"))
        .message_ttl(TTL)
        .dead_letter_exchange(dlx.name.as_str());
    let mut consumer = kombu::Consumer::new(&ch, [q.clone()]).prefetch_count(1);
    consumer.consume().await.unwrap();
    let producer = Producer::new(&ch).routing_key(q.name.as_str());
    producer.publish(&json!({"n": 1})).await.unwrap();
    let held = consumer.recv(common::WAIT).await.unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();

    // The second waits behind the unacknowledged first, and expires there.
    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 2);
    assert_eq!(text(&deaths(&dead)[0], "reason"), "expired");
    held.ack().unwrap();
}

#[tokio::test]
async fn message_requeued_after_its_expiration_is_dead_lettered_not_redelivered() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .expiration(TTL)
        .await
        .unwrap();
    let message = get_one(&q).await;
    // Make sure the expiration has passed while we held the message.
    tokio::time::sleep(TTL * 3).await;
    message.requeue().unwrap();

    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 1);
    assert_eq!(text(&deaths(&dead)[0], "reason"), "expired");
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn dead_letter_cycle_without_a_rejection_drops_the_message() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let back = Exchange::new(common::name(t, "back"), ExchangeKind::Fanout);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .bind_to(back.clone(), "")
            .dead_letter_exchange(back.name.as_str()),
    )
    .await;
    let witness = declare(
        &ch,
        Queue::new(common::name(t, "witness")).bind_to(back, ""),
    )
    .await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .expiration(TTL)
        .await
        .unwrap();

    // Expired into an exchange that routes back to its own queue: RabbitMQ drops that copy.
    let dead = get_one(&witness).await;
    assert_eq!(text(&deaths(&dead)[0], "reason"), "expired");
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn max_length_bytes_drops_the_oldest() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (dlx, dlq) = dead_letter_queue(t, &ch).await;
    let size = serde_json::to_vec(&json!({"n": 1})).unwrap().len() as u64;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .max_length_bytes(2 * size)
            .dead_letter_exchange(dlx.name.as_str()),
    )
    .await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for n in 1..=3 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }

    let dead = get_one(&dlq).await;
    assert_eq!(common::int_field(&dead, "n"), 1);
    assert_eq!(text(&deaths(&dead)[0], "reason"), "maxlen");
    common::wait_for_ready(&q, 2).await;
}

#[tokio::test]
async fn dead_lettering_to_the_default_exchange_routes_by_queue_name() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let parking = declare(&ch, Queue::new(common::name(t, "parking"))).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .dead_letter_exchange("")
            .dead_letter_routing_key(parking.name()),
    )
    .await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .await
        .unwrap();
    get_one(&q).await.reject().unwrap();

    let dead = get_one(&parking).await;
    assert_eq!(common::int_field(&dead, "n"), 1);
    assert_eq!(dead.exchange(), "");
    assert_eq!(dead.routing_key(), parking.name());
    assert_eq!(text(&deaths(&dead)[0], "queue"), q.name());
}
