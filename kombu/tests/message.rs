//! A received message: its body (decompressed), properties and delivery information, decoding
//! (memoised, typed), and settling it exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kombu::{
    Consumer, DeliveryMode, ErrorKind, Exchange, ExchangeKind, FieldValue, MessageState, Producer,
    Queue, Value,
};
use serde::Deserialize;
use serde_json::json;

use common::{declare, drain_until_marker, get_one, open, test_name, WAIT};

#[tokio::test]
async fn body_is_decompressed_and_properties_and_delivery_info_are_exposed() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(x.clone(), "k"),
    )
    .await;
    let body = json!({"name": "cat.mp4", "text": "meow ".repeat(50)});

    Producer::new(&ch)
        .exchange(x.clone())
        .publish(&body)
        .routing_key("k")
        .compression("zlib")
        .header("format", "mp4")
        .priority(3)
        .await
        .unwrap();

    let message = get_one(&q).await;
    assert_eq!(message.body(), serde_json::to_vec(&body).unwrap());
    assert_eq!(message.content_type(), Some("application/json"));
    assert_eq!(message.content_encoding(), Some("utf-8"));
    assert_eq!(message.header("format"), Some(&FieldValue::from("mp4")));
    assert_eq!(
        message.headers().and_then(|h| h.get("compression")),
        Some(&FieldValue::from("application/x-gzip"))
    );
    assert_eq!(message.properties().priority, Some(3));
    assert_eq!(
        message.properties().delivery_mode,
        Some(DeliveryMode::Persistent)
    );
    assert_eq!(message.exchange(), x.name);
    assert_eq!(message.routing_key(), "k");
    assert!(!message.redelivered());
    assert!(message.delivery_tag() > 0);
    assert_eq!(message.consumer_tag(), "", "basic.get has no consumer");
    assert_eq!(message.state(), MessageState::Received);
    assert!(!message.acknowledged());
}

#[tokio::test]
async fn consumed_message_names_its_consumer_and_tags_increase() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]).tag_prefix("reader-");
    consumer.consume().await.unwrap();
    let producer = Producer::new(&ch).routing_key(q.name.as_str());
    producer.publish(&json!({"n": 1})).await.unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();

    let first = consumer.recv(WAIT).await.unwrap();
    let second = consumer.recv(WAIT).await.unwrap();
    assert!(first.consumer_tag().starts_with("reader-"));
    assert_eq!(first.consumer_tag(), second.consumer_tag());
    assert!(second.delivery_tag() > first.delivery_tag());
}

#[tokio::test]
async fn payload_is_decoded_once() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({"a": [1, 2, 3]}))
        .routing_key(q.name())
        .await
        .unwrap();

    let message = get_one(&q).await;
    let first = message.payload().unwrap();
    let second = message.payload().unwrap();
    assert!(std::ptr::eq(first, second), "the decoded value is memoised");
    assert_eq!(first, &common::json(json!({"a": [1, 2, 3]})));
}

#[derive(Debug, Deserialize, PartialEq)]
struct Video {
    name: String,
    size: u32,
}

#[tokio::test]
async fn decode_gives_a_typed_value() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    producer
        .publish(&json!({"name": "cat.mp4", "size": 3}))
        .await
        .unwrap();
    producer
        .publish(&json!({"name": "dog.mp4", "size": 4}))
        .await
        .unwrap();

    let expected = Video {
        name: "cat.mp4".into(),
        size: 3,
    };
    let message = get_one(&q).await;
    assert_eq!(message.decode::<Video>().unwrap(), expected);
    // After payload() too, from the memoised value.
    message.payload().unwrap();
    assert_eq!(message.decode::<Video>().unwrap(), expected);

    // A body of another shape is a decode error.
    let other = get_one(&q).await;
    let err = other.decode::<Vec<u32>>().unwrap_err();
    assert!(err.is_decode(), "{err}");
}

#[tokio::test]
async fn empty_body_is_returned_as_it_is_without_decoding() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish_body(Vec::<u8>::new())
        .routing_key(q.name())
        .content_type("application/json")
        .content_encoding("utf-8")
        .await
        .unwrap();
    let message = get_one(&q).await;
    assert_eq!(message.payload().unwrap(), &Value::Bytes(Vec::new()));
}

#[tokio::test]
async fn ack_is_allowed_once() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .await
        .unwrap();

    let message = get_one(&q).await;
    message.ack().unwrap();
    assert_eq!(message.state(), MessageState::Acked);
    assert!(message.acknowledged());
    for (what, result) in [
        ("ack", message.ack()),
        ("reject", message.reject()),
        ("requeue", message.requeue()),
    ] {
        let err = result.unwrap_err();
        assert!(err.is_message_state(), "{what}: {err}");
    }
    assert_eq!(message.state(), MessageState::Acked);
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn reject_is_allowed_once_and_discards_without_a_dead_letter_exchange() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .await
        .unwrap();

    let message = get_one(&q).await;
    message.reject().unwrap();
    assert_eq!(message.state(), MessageState::Rejected);
    let err = message.reject().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MessageState, "{err}");
    assert!(message.ack().unwrap_err().is_message_state());
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn requeue_is_allowed_once() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .await
        .unwrap();

    let message = get_one(&q).await;
    message.requeue().unwrap();
    assert_eq!(message.state(), MessageState::Requeued);
    assert!(message.requeue().unwrap_err().is_message_state());
    assert!(message.ack().unwrap_err().is_message_state());
    // Requeued once: exactly one copy is back.
    let back = drain_until_marker(&ch, &q).await;
    assert_eq!(back.len(), 1);
    assert!(back[0].redelivered());
}

#[tokio::test]
async fn ack_on_a_no_ack_delivery_is_a_no_op() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .await
        .unwrap();

    let message = common::get_one_no_ack(&q).await;
    message.ack().unwrap();
    message.ack().unwrap();
    message.requeue().unwrap();
    // The broker forgot it when it was sent: the requeue brought nothing back.
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn reject_with_requeue_redelivers_at_original_position() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for n in 1..=4 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }

    let m1 = get_one(&q).await;
    let m2 = get_one(&q).await;
    // Requeued in the opposite order: they still go back to where they were.
    m2.requeue().unwrap();
    m1.requeue().unwrap();

    let again: Vec<(i64, bool)> = drain_until_marker(&ch, &q)
        .await
        .iter()
        .map(|m| (common::int_field(m, "n"), m.redelivered()))
        .collect();
    assert_eq!(again, [(1, true), (2, true), (3, false), (4, false)]);
}

#[tokio::test]
async fn requeued_message_is_redelivered_to_a_consumer() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.consume().await.unwrap();
    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name.as_str())
        .await
        .unwrap();

    let first = consumer.recv(WAIT).await.unwrap();
    assert!(!first.redelivered());
    first.requeue().unwrap();
    let again = consumer.recv(WAIT).await.unwrap();
    assert!(again.redelivered());
    assert_eq!(common::int_field(&again, "n"), 1);
    again.ack().unwrap();
}

#[tokio::test]
async fn body_that_cannot_be_decompressed_is_a_decode_error() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish_body(b"not zlib at all".as_slice())
        .routing_key(q.name())
        .content_type("application/json")
        .header("compression", "application/x-gzip")
        .await
        .unwrap();
    let message = get_one(&q).await;
    let err = message.payload().unwrap_err();
    assert!(err.is_decode(), "{err}");
    assert!(message
        .decode::<serde_json::Value>()
        .unwrap_err()
        .is_decode());
}

#[tokio::test]
async fn decompressed_size_is_bounded_by_the_connection_limit() {
    let t = test_name!();
    let conn = common::connect_with(
        t,
        kombu::ConnectionOptions::default().max_decompressed(1_000),
    )
    .await;
    let ch = conn.channel().await.unwrap();
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let big = json!({"filler": "z".repeat(100_000)});
    let small = json!({"filler": "z".repeat(100)});
    let producer = Producer::new(&ch).routing_key(q.name()).compression("zlib");
    producer.publish(&big).await.unwrap();
    producer.publish(&small).await.unwrap();

    let bomb = get_one(&q).await;
    let err = bomb.payload().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Decode | ErrorKind::Compression),
        "{err}"
    );
    let fine = get_one(&q).await;
    assert_eq!(fine.payload().unwrap(), &common::json(small));
}

/// Publish `count` messages to `queue` and take them all with `consumer`, acking each: every
/// ack returns `Ok` (it is queued, not yet sent).
async fn consume_and_ack(ch: &kombu::Channel, queue: &Queue, consumer: &mut Consumer, count: u32) {
    let producer = Producer::new(ch).routing_key(queue.name.as_str());
    for n in 0..count {
        producer.publish(&json!({ "n": n })).await.unwrap();
    }
    consumer.consume().await.unwrap();
    for _ in 0..count {
        let message = consumer.recv(WAIT).await.unwrap();
        message.ack().unwrap();
    }
}

/// An ack that returned `Ok` reaches the broker when the connection is closed right after it.
#[tokio::test]
async fn close_sends_every_ack_that_returned_ok() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    declare(&ch, q.clone()).await;
    let mut consumer = Consumer::new(&ch, [q.clone()]).prefetch_count(500);
    consume_and_ack(&ch, &q, &mut consumer, 500).await;
    conn.close().await.unwrap();

    let (_conn, check) = open(t).await;
    let q = declare(&check, q).await;
    common::wait_for_ready(&q, 0).await;
    let status = q.status().await.unwrap();
    assert_eq!(status.message_count, 0, "acked messages came back");
    q.delete(false, false).await.unwrap();
}

/// The same when everything is dropped without `close` while the runtime keeps running (the
/// close then happens in the background, after the queued acks).
#[tokio::test]
async fn dropping_the_connection_still_sends_the_acks_that_returned_ok() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    declare(&ch, q.clone()).await;
    let mut consumer = Consumer::new(&ch, [q.clone()]).prefetch_count(500);
    consume_and_ack(&ch, &q, &mut consumer, 500).await;
    drop(consumer);
    drop(ch);
    drop(conn);

    let (check_conn, check) = open(t).await;
    let q = declare(&check, q).await;
    // Wait until the dropped connection is gone: its unacked messages, if any, are back then.
    common::eventually("the dropped consumer is gone", || async {
        q.status().await.unwrap().consumer_count == 0
    })
    .await;
    let status = q.status().await.unwrap();
    assert_eq!(status.message_count, 0, "acked messages came back");
    q.delete(false, false).await.unwrap();
    drop(check_conn);
}

/// `delivery_tag()` is the broker's numbering (1, 2, ... per channel), what a log line or a
/// broker's own tools show, not a tag with transport bookkeeping in its high bits.
#[tokio::test]
async fn the_delivery_tag_is_the_brokers_own_numbering() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    declare(&ch, q.clone()).await;
    let producer = Producer::new(&ch).routing_key(q.name.as_str());
    producer.publish(&json!({"n": 1})).await.unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();
    let consume_conn = common::connect(t).await;
    let fresh = consume_conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&fresh, [q]);
    consumer.consume().await.unwrap();
    let first = consumer.recv(WAIT).await.unwrap();
    let second = consumer.recv(WAIT).await.unwrap();
    if !common::is_stomp() {
        assert_eq!((first.delivery_tag(), second.delivery_tag()), (1, 2));
    }
    assert!(second.delivery_tag() < 1 << 32, "{}", second.delivery_tag());
    first.ack().unwrap();
    second.ack().unwrap();
    drop(consumer);
    let q = Queue::new(common::name(t, "q")).attach(&ch);
    q.delete(false, false).await.unwrap();
}
