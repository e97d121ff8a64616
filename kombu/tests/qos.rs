//! Quality of service: the prefetch window of each consumer, and what happens to unacknowledged
//! messages when their channel or connection closes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kombu::{Channel, Consumer, Message, Producer, Queue};
use serde_json::json;

use common::{declare, drain_until_marker, get_one, open, test_name, QUIET, WAIT};

async fn publish_numbers(ch: &Channel, queue: &str, range: std::ops::RangeInclusive<i64>) {
    let producer = Producer::new(ch).routing_key(queue);
    for n in range {
        producer.publish(&json!({"n": n})).await.unwrap();
    }
}

fn numbered(messages: &[Message]) -> Vec<(i64, bool)> {
    messages
        .iter()
        .map(|m| (common::int_field(m, "n"), m.redelivered()))
        .collect()
}

#[tokio::test]
async fn no_more_than_prefetch_count_deliveries_are_unacknowledged_at_once() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    publish_numbers(&ch, q.name(), 1..=10).await;

    let mut consumer = Consumer::new(&ch, [q.queue().clone()]).prefetch_count(3);
    consumer.consume().await.unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(consumer.recv(WAIT).await.unwrap());
    }
    assert_eq!(
        numbered(&held),
        [(1, false), (2, false), (3, false)],
        "delivered in order"
    );
    common::wait_for_ready(&q, 7).await;
    let err = consumer.recv(QUIET).await.unwrap_err();
    assert!(err.is_timeout(), "a fourth delivery came: {err}");
    assert_eq!(q.status().await.unwrap().message_count, 7);
}

#[tokio::test]
async fn acking_lets_the_next_message_through() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    publish_numbers(&ch, q.name(), 1..=3).await;

    let mut consumer = Consumer::new(&ch, [q.queue().clone()]).prefetch_count(1);
    consumer.consume().await.unwrap();
    for n in 1..=3 {
        let message = consumer.recv(WAIT).await.unwrap();
        assert_eq!(common::int_field(&message, "n"), n);
        if n < 3 {
            assert!(consumer.recv(QUIET).await.unwrap_err().is_timeout());
        }
        message.ack().unwrap();
    }
}

#[tokio::test]
async fn rejecting_frees_a_slot_and_requeueing_redelivers() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    publish_numbers(&ch, q.name(), 1..=2).await;

    let mut consumer = Consumer::new(&ch, [q.queue().clone()]).prefetch_count(1);
    consumer.consume().await.unwrap();
    let first = consumer.recv(WAIT).await.unwrap();
    first.requeue().unwrap();
    let again = consumer.recv(WAIT).await.unwrap();
    assert_eq!(numbered(std::slice::from_ref(&again)), [(1, true)]);
    again.reject().unwrap();
    let second = consumer.recv(WAIT).await.unwrap();
    assert_eq!(numbered(std::slice::from_ref(&second)), [(2, false)]);
}

#[tokio::test]
async fn prefetch_applies_to_each_consumer_separately() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let a = declare(&ch, Queue::new(common::name(t, "a"))).await;
    let b = declare(&ch, Queue::new(common::name(t, "b"))).await;
    publish_numbers(&ch, a.name(), 1..=3).await;
    publish_numbers(&ch, b.name(), 1..=3).await;

    let mut one = Consumer::new(&ch, [a.queue().clone()]).prefetch_count(1);
    let mut two = Consumer::new(&ch, [b.queue().clone()]).prefetch_count(1);
    one.consume().await.unwrap();
    two.consume().await.unwrap();

    let from_a = one.recv(WAIT).await.unwrap();
    let from_b = two.recv(WAIT).await.unwrap();
    assert_eq!(from_a.routing_key(), a.name());
    assert_eq!(from_b.routing_key(), b.name());
    common::wait_for_ready(&a, 2).await;
    common::wait_for_ready(&b, 2).await;
    assert!(one.recv(QUIET).await.unwrap_err().is_timeout());
    assert!(two.recv(QUIET).await.unwrap_err().is_timeout());
}

#[tokio::test]
async fn unacknowledged_messages_of_a_closed_channel_are_requeued_in_place_as_redelivered() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    publish_numbers(&ch, q.name(), 1..=5).await;

    let worker = conn.channel().await.unwrap();
    let on_worker = q.queue().attach(&worker);
    let m1 = get_one(&on_worker).await;
    let m2 = get_one(&on_worker).await;
    let m3 = get_one(&on_worker).await;
    m2.ack().unwrap();
    assert_eq!(numbered(&[m1, m3]), [(1, false), (3, false)]);
    worker.close().await.unwrap();

    let left = drain_until_marker(&ch, &q).await;
    assert_eq!(
        numbered(&left),
        [(1, true), (3, true), (4, false), (5, false)]
    );
}

#[tokio::test]
async fn unacknowledged_deliveries_of_a_closed_channel_return_from_a_consumer_too() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    publish_numbers(&ch, q.name(), 1..=4).await;

    let worker = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&worker, [q.queue().clone()]).prefetch_count(2);
    consumer.consume().await.unwrap();
    let first = consumer.recv(WAIT).await.unwrap();
    let second = consumer.recv(WAIT).await.unwrap();
    assert_eq!(numbered(&[first, second]), [(1, false), (2, false)]);
    worker.close().await.unwrap();

    let left = drain_until_marker(&ch, &q).await;
    assert_eq!(
        numbered(&left),
        [(1, true), (2, true), (3, false), (4, false)]
    );
}

#[tokio::test]
async fn unacknowledged_messages_of_a_closed_connection_are_requeued_in_place_as_redelivered() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    publish_numbers(&ch, q.name(), 1..=3).await;

    let (worker, worker_channel) = open(t).await;
    let mut consumer = Consumer::new(&worker_channel, [q.queue().clone()]).prefetch_count(2);
    consumer.consume().await.unwrap();
    let first = consumer.recv(WAIT).await.unwrap();
    let second = consumer.recv(WAIT).await.unwrap();
    assert_eq!(numbered(&[first, second]), [(1, false), (2, false)]);
    worker.close().await.unwrap();

    let left = drain_until_marker(&ch, &q).await;
    assert_eq!(numbered(&left), [(1, true), (2, true), (3, false)]);
}
