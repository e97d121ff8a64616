//! Consuming: several queues on one channel, callbacks run by `drain_events`, raw and
//! undecodable messages, the accept list, prefetch, no-ack, consumer tags, consume/cancel, the
//! async stream, and a consumer cancelled by the broker.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kombu::serialization::Accept;
use kombu::{Consumer, ErrorKind, Exchange, ExchangeKind, Producer, Queue, Value};
use serde_json::json;

use common::{declare, drain_until_marker, get_one, open, test_name, QUIET, WAIT};

fn shared<T>() -> Arc<Mutex<Vec<T>>> {
    Arc::new(Mutex::new(Vec::new()))
}

#[tokio::test]
async fn consumes_several_queues_on_one_channel() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let a = Queue::new(common::name(t, "a"));
    let b = Queue::new(common::name(t, "b"));
    let mut consumer = Consumer::new(&ch, [a.clone(), b.clone()]);
    consumer.consume().await.unwrap();
    assert!(consumer.consuming_from(&a.name));
    assert!(consumer.consuming_from(&b.name));

    let producer = Producer::new(&ch);
    producer
        .publish(&json!({"from": "a"}))
        .routing_key(a.name.as_str())
        .await
        .unwrap();
    producer
        .publish(&json!({"from": "b"}))
        .routing_key(b.name.as_str())
        .await
        .unwrap();

    let mut got = BTreeSet::new();
    for _ in 0..2 {
        let message = consumer.recv(WAIT).await.unwrap();
        got.insert((
            message.routing_key().to_owned(),
            common::str_field(&message, "from"),
        ));
        message.ack().unwrap();
    }
    assert_eq!(
        got,
        BTreeSet::from([(a.name.clone(), "a".into()), (b.name.clone(), "b".into())])
    );
}

#[tokio::test]
async fn consume_declares_its_queues_and_their_bindings() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Topic);
    let q = Queue::new(common::name(t, "q")).bind_to(x.clone(), "video.#");
    let mut consumer = Consumer::new(&ch, [q]);
    consumer.consume().await.unwrap();

    Producer::new(&ch)
        .exchange(x)
        .publish(&json!({"n": 1}))
        .routing_key("video.cat")
        .await
        .unwrap();
    let message = consumer.recv(WAIT).await.unwrap();
    assert_eq!(message.routing_key(), "video.cat");
    message.ack().unwrap();
}

#[tokio::test]
async fn callbacks_are_called_in_registration_order_with_the_decoded_body_and_the_message() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let calls = shared::<String>();

    let mut consumer = Consumer::new(&ch, [q.clone()]);
    let log = Arc::clone(&calls);
    consumer.register_callback(move |body, message| {
        let n = body.get("n").and_then(Value::as_i64).unwrap();
        log.lock()
            .unwrap()
            .push(format!("first {n} {}", message.routing_key()));
    });
    let log = Arc::clone(&calls);
    consumer.register_callback(move |body, message| {
        let n = body.get("n").and_then(Value::as_i64).unwrap();
        assert_eq!(message.payload().unwrap(), body);
        log.lock().unwrap().push(format!("second {n}"));
        message.ack().unwrap();
    });
    consumer.consume().await.unwrap();

    let producer = Producer::new(&ch).routing_key(q.name.as_str());
    producer.publish(&json!({"n": 1})).await.unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();
    conn.drain_events(WAIT).await.unwrap();
    conn.drain_events(WAIT).await.unwrap();

    assert_eq!(
        *calls.lock().unwrap(),
        [
            format!("first 1 {}", q.name),
            "second 1".to_owned(),
            format!("first 2 {}", q.name),
            "second 2".to_owned(),
        ]
    );
}

#[tokio::test]
async fn drain_events_is_a_timeout_error_when_nothing_arrives() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let mut consumer = Consumer::new(&ch, [Queue::new(common::name(t, "q"))]);
    consumer.register_callback(|_, _| panic!("no message was published"));
    consumer.consume().await.unwrap();

    let err = conn.drain_events(QUIET).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn recv_is_a_timeout_error_when_nothing_arrives() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let mut consumer = Consumer::new(&ch, [Queue::new(common::name(t, "q"))]);
    consumer.consume().await.unwrap();
    let err = consumer.recv(QUIET).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn on_message_receives_raw_messages_and_callbacks_are_not_called() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let raw = shared::<Vec<u8>>();
    let decoded = shared::<String>();

    let sink = Arc::clone(&raw);
    let mut consumer = Consumer::new(&ch, [q.clone()]).on_message(move |message| {
        sink.lock().unwrap().push(message.body().to_vec());
        message.ack().unwrap();
    });
    let sink = Arc::clone(&decoded);
    consumer.register_callback(move |body, _| sink.lock().unwrap().push(body.to_string()));
    consumer.consume().await.unwrap();

    // Not even JSON: on_message does not decode.
    Producer::new(&ch)
        .publish_body(b"{not json".as_slice())
        .routing_key(q.name.as_str())
        .content_type("application/json")
        .content_encoding("utf-8")
        .await
        .unwrap();
    conn.drain_events(WAIT).await.unwrap();

    assert_eq!(*raw.lock().unwrap(), [b"{not json".to_vec()]);
    assert!(decoded.lock().unwrap().is_empty());
}

#[tokio::test]
async fn on_decode_error_receives_undecodable_messages() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let errors = shared::<(Vec<u8>, ErrorKind)>();
    let called = shared::<()>();

    let sink = Arc::clone(&errors);
    let mut consumer =
        Consumer::new(&ch, [q.queue().clone()]).on_decode_error(move |message, error| {
            sink.lock()
                .unwrap()
                .push((message.body().to_vec(), error.kind()));
            message.ack().unwrap();
        });
    let sink = Arc::clone(&called);
    consumer.register_callback(move |_, _| sink.lock().unwrap().push(()));
    consumer.consume().await.unwrap();

    Producer::new(&ch)
        .publish_body("{\"truncated\": ")
        .routing_key(q.name())
        .content_type("application/json")
        .await
        .unwrap();
    conn.drain_events(WAIT).await.unwrap();

    assert_eq!(
        *errors.lock().unwrap(),
        [(b"{\"truncated\": ".to_vec(), ErrorKind::Decode)]
    );
    assert!(called.lock().unwrap().is_empty());
    // The handler acked it: it is gone.
    consumer.cancel().await.unwrap();
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn undecodable_message_without_a_handler_is_rejected_and_drain_events_returns_the_error() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Fanout);
    let dlq = declare(
        &ch,
        Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), ""),
    )
    .await;
    let q = Queue::new(common::name(t, "q")).dead_letter_exchange(dlx.name.as_str());
    let called = shared::<()>();

    let sink = Arc::clone(&called);
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.register_callback(move |_, _| sink.lock().unwrap().push(()));
    consumer.consume().await.unwrap();

    Producer::new(&ch)
        .publish_body("not json at all")
        .routing_key(q.name.as_str())
        .content_type("application/json")
        .await
        .unwrap();
    let err = conn.drain_events(WAIT).await.unwrap_err();
    assert!(err.is_decode(), "{err}");
    assert!(called.lock().unwrap().is_empty());

    let dead = get_one(&dlq).await;
    assert_eq!(dead.body(), b"not json at all");
    assert_eq!(dead_reason(&dead), "rejected");
}

fn dead_reason(message: &kombu::Message) -> String {
    match message.header("x-death") {
        Some(kombu::FieldValue::Array(deaths)) => match deaths.first() {
            Some(kombu::FieldValue::Table(t)) => t["reason"].as_str().unwrap().to_owned(),
            other => panic!("x-death entry is {other:?}"),
        },
        other => panic!("x-death is {other:?}"),
    }
}

fn pickle_body() -> &'static [u8] {
    include_bytes!("fixtures/python/doc.pickle")
}

async fn publish_yaml_and_pickle(ch: &kombu::Channel, queue: &str) {
    let producer = Producer::new(ch).routing_key(queue);
    producer
        .publish(&json!({"int": -42}))
        .serializer("yaml")
        .await
        .unwrap();
    producer
        .publish_body(pickle_body())
        .content_type("application/x-python-serialize")
        .content_encoding("binary")
        .await
        .unwrap();
}

#[tokio::test]
async fn pickle_and_yaml_are_refused_by_default_as_content_disallowed() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.consume().await.unwrap();
    publish_yaml_and_pickle(&ch, &q.name).await;

    for content_type in ["application/x-yaml", "application/x-python-serialize"] {
        let message = consumer.recv(WAIT).await.unwrap();
        assert_eq!(message.content_type(), Some(content_type));
        let err = message.payload().unwrap_err();
        assert!(err.is_content_disallowed(), "{content_type}: {err}");
        let err = message.decode::<serde_json::Value>().unwrap_err();
        assert!(err.is_content_disallowed(), "{content_type}: {err}");
        message.ack().unwrap();
    }
}

#[tokio::test]
async fn refused_content_in_callback_mode_is_rejected_and_reported() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Fanout);
    let dlq = declare(
        &ch,
        Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), ""),
    )
    .await;
    let q = Queue::new(common::name(t, "q")).dead_letter_exchange(dlx.name.as_str());
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.register_callback(|_, _| panic!("refused content reached a callback"));
    consumer.consume().await.unwrap();
    publish_yaml_and_pickle(&ch, &q.name).await;

    for _ in 0..2 {
        let err = conn.drain_events(WAIT).await.unwrap_err();
        assert!(err.is_content_disallowed(), "{err}");
    }
    // A broker dead-letters asynchronously: wait for both before reading.
    common::wait_for_ready(&dlq, 2).await;
    let dead = drain_until_marker(&ch, &dlq).await;
    let types: Vec<_> = dead.iter().map(|m| m.content_type().unwrap()).collect();
    assert_eq!(
        types,
        ["application/x-yaml", "application/x-python-serialize"]
    );
}

#[tokio::test]
async fn accepted_content_types_are_decoded() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer =
        Consumer::new(&ch, [q.clone()]).accept(Accept::new(["json", "yaml", "pickle"]));
    consumer.consume().await.unwrap();
    publish_yaml_and_pickle(&ch, &q.name).await;

    for _ in 0..2 {
        let message = consumer.recv(WAIT).await.unwrap();
        let body = message.payload().unwrap();
        assert_eq!(body.get("int").and_then(Value::as_i64), Some(-42), "{body}");
        message.ack().unwrap();
    }
}

#[tokio::test]
async fn accept_list_by_mime_type_works_like_by_name() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]).accept(Accept::new(["application/x-yaml"]));
    consumer.consume().await.unwrap();
    let producer = Producer::new(&ch).routing_key(q.name.as_str());
    producer
        .publish(&json!({"n": 1}))
        .serializer("yaml")
        .await
        .unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();

    let yaml = consumer.recv(WAIT).await.unwrap();
    assert_eq!(yaml.payload().unwrap(), &common::json(json!({"n": 1})));
    // The accept list replaces the default: JSON is no longer accepted.
    let json_message = consumer.recv(WAIT).await.unwrap();
    assert!(json_message.payload().unwrap_err().is_content_disallowed());
}

#[tokio::test]
async fn prefetch_count_bounds_unacknowledged_deliveries() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for n in 0..4 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }
    let mut consumer = Consumer::new(&ch, [q.queue().clone()]).prefetch_count(2);
    consumer.consume().await.unwrap();

    let first = consumer.recv(WAIT).await.unwrap();
    let second = consumer.recv(WAIT).await.unwrap();
    assert_eq!(
        [
            common::int_field(&first, "n"),
            common::int_field(&second, "n")
        ],
        [0, 1]
    );
    common::wait_for_ready(&q, 2).await;
    assert!(consumer.recv(QUIET).await.unwrap_err().is_timeout());

    first.ack().unwrap();
    let third = consumer.recv(WAIT).await.unwrap();
    assert_eq!(common::int_field(&third, "n"), 2);
}

#[tokio::test]
async fn no_ack_deliveries_need_no_acknowledgement() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let consumer_channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&consumer_channel, [q.queue().clone()]).no_ack(true);
    consumer.consume().await.unwrap();
    let producer = Producer::new(&ch).routing_key(q.name());
    producer.publish(&json!({"n": 1})).await.unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();

    let first = consumer.recv(WAIT).await.unwrap();
    let second = consumer.recv(WAIT).await.unwrap();
    // Settling a no-ack delivery does nothing, however often.
    first.ack().unwrap();
    first.ack().unwrap();
    second.reject().unwrap();
    second.requeue().unwrap();

    // Nothing was held for them: closing the channel brings nothing back.
    consumer.cancel().await.unwrap();
    consumer_channel.close().await.unwrap();
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn tag_prefix_prefixes_consumer_tags() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]).tag_prefix("thumbnailer-");
    consumer.consume().await.unwrap();
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name.as_str())
        .await
        .unwrap();
    let message = consumer.recv(WAIT).await.unwrap();
    assert!(
        message.consumer_tag().starts_with("thumbnailer-"),
        "{}",
        message.consumer_tag()
    );
}

#[tokio::test]
async fn consume_twice_starts_one_consumer_per_queue() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let mut consumer = Consumer::new(&ch, [q.queue().clone()]);
    consumer.consume().await.unwrap();
    consumer.consume().await.unwrap();
    assert_eq!(q.status().await.unwrap().consumer_count, 1);

    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .await
        .unwrap();
    let message = consumer.recv(WAIT).await.unwrap();
    message.ack().unwrap();
    assert!(consumer.recv(QUIET).await.unwrap_err().is_timeout());
}

#[tokio::test]
async fn cancel_stops_consuming_every_queue() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let a = declare(&ch, Queue::new(common::name(t, "a"))).await;
    let b = declare(&ch, Queue::new(common::name(t, "b"))).await;
    let mut consumer = Consumer::new(&ch, [a.queue().clone(), b.queue().clone()]);
    consumer.consume().await.unwrap();
    consumer.cancel().await.unwrap();

    assert!(!consumer.consuming_from(a.name()));
    assert!(!consumer.consuming_from(b.name()));
    assert_eq!(a.status().await.unwrap().consumer_count, 0);
    assert_eq!(b.status().await.unwrap().consumer_count, 0);

    Producer::new(&ch)
        .publish(&json!({"n": "kept"}))
        .routing_key(a.name())
        .await
        .unwrap();
    // The message stayed in the queue.
    assert_eq!(common::drain_field(&ch, &a, "n").await, ["kept"]);
}

#[tokio::test]
async fn cancel_by_queue_stops_only_that_queue() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let a = declare(&ch, Queue::new(common::name(t, "a"))).await;
    let b = declare(&ch, Queue::new(common::name(t, "b"))).await;
    let mut consumer = Consumer::new(&ch, [a.queue().clone(), b.queue().clone()]);
    consumer.consume().await.unwrap();
    consumer.cancel_by_queue(a.name()).await.unwrap();

    assert!(!consumer.consuming_from(a.name()));
    assert!(consumer.consuming_from(b.name()));
    assert_eq!(a.status().await.unwrap().consumer_count, 0);
    assert_eq!(b.status().await.unwrap().consumer_count, 1);

    let producer = Producer::new(&ch);
    for q in [&a, &b] {
        producer
            .publish(&json!({"q": q.name()}))
            .routing_key(q.name())
            .await
            .unwrap();
    }
    let message = consumer.recv(WAIT).await.unwrap();
    assert_eq!(common::str_field(&message, "q"), b.name());
    message.ack().unwrap();
    assert_eq!(common::drain_field(&ch, &a, "q").await, [a.name()]);
}

#[tokio::test]
async fn consuming_from_names_only_queues_being_consumed() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let a = Queue::new(common::name(t, "a"));
    let mut consumer = Consumer::new(&ch, [a.clone()]);
    assert!(!consumer.consuming_from(&a.name), "not before consume()");
    consumer.consume().await.unwrap();
    assert!(consumer.consuming_from(&a.name));
    assert!(!consumer.consuming_from(&common::name(t, "other")));
}

#[tokio::test]
async fn add_queue_while_consuming_starts_consuming_it() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let a = Queue::new(common::name(t, "a"));
    let b = Queue::new(common::name(t, "b"));
    let mut consumer = Consumer::new(&ch, [a.clone()]);
    consumer.consume().await.unwrap();
    consumer.add_queue(b.clone()).await.unwrap();
    assert!(consumer.consuming_from(&b.name));
    assert_eq!(consumer.queues().len(), 2);

    Producer::new(&ch)
        .publish(&json!({"n": "b"}))
        .routing_key(b.name.as_str())
        .await
        .unwrap();
    let message = consumer.recv(WAIT).await.unwrap();
    assert_eq!(message.routing_key(), b.name);
}

#[tokio::test]
async fn add_queue_before_consume_waits_for_consume() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let a = Queue::new(common::name(t, "a"));
    let mut consumer = Consumer::new(&ch, []);
    consumer.add_queue(a.clone()).await.unwrap();
    assert!(!consumer.consuming_from(&a.name));
    consumer.consume().await.unwrap();
    assert!(consumer.consuming_from(&a.name));
}

#[tokio::test]
async fn consumer_is_an_async_stream_of_messages() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.consume().await.unwrap();
    let producer = Producer::new(&ch).routing_key(q.name.as_str());
    for n in 0..3 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }

    let mut seen = Vec::new();
    for _ in 0..3 {
        let message = tokio::time::timeout(WAIT, consumer.next())
            .await
            .expect("a message within the deadline")
            .expect("the stream is open")
            .unwrap();
        seen.push(common::int_field(&message, "n"));
        message.ack().unwrap();
    }
    assert_eq!(seen, [0, 1, 2]);

    // It is a `futures_core::Stream` too, for stream combinators.
    producer.publish(&json!({"n": 3})).await.unwrap();
    let polled = tokio::time::timeout(
        WAIT,
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut consumer), cx)
        }),
    )
    .await
    .expect("a message within the deadline")
    .expect("the stream is open")
    .unwrap();
    assert_eq!(common::int_field(&polled, "n"), 3);
}

#[tokio::test]
async fn deleting_the_queue_cancels_the_consumer_as_an_error() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.consume().await.unwrap();

    let other = conn.channel().await.unwrap();
    q.attach(&other).delete(false, false).await.unwrap();

    let err = consumer.recv(WAIT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConsumerCancelled, "{err}");
    assert!(!consumer.consuming_from(&q.name));
}

#[tokio::test]
async fn deleting_the_queue_makes_drain_events_report_the_cancel() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.register_callback(|_, _| {});
    consumer.consume().await.unwrap();

    let other = conn.channel().await.unwrap();
    q.attach(&other).delete(false, false).await.unwrap();

    let err = conn.drain_events(WAIT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConsumerCancelled, "{err}");
    assert!(err.message().contains(&q.name), "{err}");
}

#[tokio::test]
async fn on_cancel_is_told_when_the_broker_cancels_the_consumer() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let cancels = shared::<String>();
    let sink = Arc::clone(&cancels);
    let mut consumer = Consumer::new(&ch, [q.clone()])
        .tag_prefix("watcher-")
        .on_cancel(move |tag, _reason| sink.lock().unwrap().push(tag.to_owned()));
    consumer.register_callback(|_, _| {});
    consumer.consume().await.unwrap();

    let other = conn.channel().await.unwrap();
    q.attach(&other).delete(false, false).await.unwrap();
    conn.drain_events(WAIT).await.unwrap();

    let cancels = cancels.lock().unwrap();
    assert_eq!(cancels.len(), 1);
    assert!(cancels[0].starts_with("watcher-"), "{}", cancels[0]);
    assert!(!consumer.consuming_from(&q.name));
}

#[tokio::test]
async fn exclusive_consumer_keeps_other_consumers_out() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let mut first = Consumer::new(&ch, [q.queue().clone()]).exclusive(true);
    first.consume().await.unwrap();

    let other = conn.channel().await.unwrap();
    let mut second = Consumer::new(&other, [q.queue().clone()]);
    let err = second.consume().await.unwrap_err();
    assert!(err.is_access_refused(), "{err}");
}

#[tokio::test]
async fn a_message_is_delivered_once_to_one_of_several_consumers() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let other = conn.channel().await.unwrap();
    let mut one = Consumer::new(&ch, [q.queue().clone()]);
    let mut two = Consumer::new(&other, [q.queue().clone()]);
    one.consume().await.unwrap();
    two.consume().await.unwrap();
    let producer = Producer::new(&ch).routing_key(q.name());
    for n in 0..4 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }

    let mut seen = Vec::new();
    while seen.len() < 4 {
        tokio::select! {
            m = one.recv(WAIT) => { let m = m.unwrap(); seen.push(common::int_field(&m, "n")); m.ack().unwrap(); }
            m = two.recv(WAIT) => { let m = m.unwrap(); seen.push(common::int_field(&m, "n")); m.ack().unwrap(); }
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3]);
    assert!(one.recv(QUIET).await.unwrap_err().is_timeout());
    assert!(two.recv(QUIET).await.unwrap_err().is_timeout());
}

#[tokio::test]
async fn consume_after_cancel_starts_again() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let mut consumer = Consumer::new(&ch, [q.queue().clone()]);
    consumer.consume().await.unwrap();
    consumer.cancel().await.unwrap();
    consumer.consume().await.unwrap();
    assert!(consumer.consuming_from(q.name()));
    assert_eq!(q.status().await.unwrap().consumer_count, 1);

    Producer::new(&ch)
        .publish(&json!({"n": 1}))
        .routing_key(q.name())
        .await
        .unwrap();
    let message = consumer.recv(WAIT).await.unwrap();
    assert_eq!(common::int_field(&message, "n"), 1);
}

#[tokio::test]
async fn dropping_a_consumer_cancels_it() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let mut consumer = Consumer::new(&ch, [q.queue().clone()]);
    consumer.consume().await.unwrap();
    assert_eq!(q.status().await.unwrap().consumer_count, 1);
    drop(consumer);
    common::eventually("the dropped consumer is cancelled", || async {
        q.status().await.unwrap().consumer_count == 0
    })
    .await;
}

#[tokio::test]
async fn batched_acks_never_cover_a_message_still_being_handled() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for n in 1..=30 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }

    let consumer_channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&consumer_channel, [q.queue().clone()])
        .prefetch_count(50)
        .batch_ack(10, Duration::from_millis(50));
    consumer.consume().await.unwrap();
    let mut held = None;
    for _ in 0..30 {
        let message = consumer.recv(WAIT).await.unwrap();
        if common::int_field(&message, "n") == 5 {
            held = Some(message); // Still being handled: must not be acked by a batch.
        } else {
            message.ack().unwrap();
        }
    }
    let held = held.expect("message 5 arrived");
    assert!(!held.acknowledged());
    // Closing the channel sends every due ack; only the unfinished message goes back.
    consumer.cancel().await.unwrap();
    consumer_channel.close().await.unwrap();
    drop(consumer);

    common::wait_for_ready(&q, 1).await;
    let back = get_one(&q).await;
    assert_eq!(common::int_field(&back, "n"), 5);
    assert!(back.redelivered());
    back.ack().unwrap();
    assert!(
        drain_until_marker(&ch, &q).await.is_empty(),
        "nothing else came back"
    );
}

/// The next item of the stream, within [`WAIT`]: `None` inside means the stream ended.
async fn next_within(consumer: &mut Consumer) -> Option<kombu::Result<kombu::Message>> {
    tokio::time::timeout(WAIT, consumer.next())
        .await
        .unwrap_or_else(|_| {
            panic!("the consumer's stream neither yielded nor ended within {WAIT:?}")
        })
}

#[tokio::test]
async fn after_cancel_the_stream_yields_what_had_arrived_then_ends() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for n in 0..3 {
        producer.publish(&json!({ "n": n })).await.unwrap();
    }
    let mut consumer = Consumer::new(&ch, [q.queue().clone()]);
    consumer.consume().await.unwrap();
    let first = consumer.recv(WAIT).await.unwrap();
    consumer.cancel().await.unwrap();
    let mut received = vec![first];
    while let Some(message) = next_within(&mut consumer).await {
        let message = message.unwrap();
        // A delivery that arrives after the cancel still knows its queue.
        assert_eq!(
            consumer.queue_of(message.consumer_tag()).as_deref(),
            Some(q.name())
        );
        received.push(message);
    }
    assert!(
        consumer.next().await.is_none(),
        "an ended stream stays ended"
    );
    let mut acked = 0;
    for message in &received {
        match message.ack() {
            Ok(()) => acked += 1,
            // RabbitMQ's STOMP ends the session on an ACK for a cancelled subscription, so
            // kombu refuses it; the message goes back to the queue when the channel closes.
            Err(e) if common::is_stomp() => assert_eq!(e.kind(), ErrorKind::Channel, "{e}"),
            Err(e) => panic!("acking a message that arrived before the cancel: {e}"),
        }
    }
    ch.close().await.unwrap();
    // Whatever was not acked is back in the queue: nothing is lost.
    let (_conn, check) = open(t).await;
    let q = q.queue().clone().attach(&check);
    let left = drain_until_marker(&check, &q).await;
    assert_eq!(acked + left.len(), 3);
}

#[tokio::test]
async fn the_stream_ends_when_the_channel_closes() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q]);
    consumer.consume().await.unwrap();
    ch.close().await.unwrap();
    assert!(next_within(&mut consumer).await.is_none());
}

#[tokio::test]
async fn the_stream_ends_when_the_connection_closes() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q]);
    consumer.consume().await.unwrap();
    conn.close().await.unwrap();
    assert!(next_within(&mut consumer).await.is_none());
}

#[tokio::test]
async fn a_broker_cancel_is_an_error_and_then_the_stream_ends() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let mut consumer = Consumer::new(&ch, [q.queue().clone()]);
    consumer.consume().await.unwrap();
    let other = conn.channel().await.unwrap();
    q.queue()
        .clone()
        .attach(&other)
        .delete(false, false)
        .await
        .unwrap();
    let err = next_within(&mut consumer).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConsumerCancelled, "{err}");
    assert!(next_within(&mut consumer).await.is_none());
}

#[tokio::test]
async fn of_two_queues_the_stream_ends_when_both_have_ended() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let a = declare(&ch, Queue::new(common::name(t, "a"))).await;
    let b = declare(&ch, Queue::new(common::name(t, "b"))).await;
    let mut consumer = Consumer::new(&ch, [a.queue().clone(), b.queue().clone()]);
    consumer.consume().await.unwrap();
    let other = conn.channel().await.unwrap();
    a.queue()
        .clone()
        .attach(&other)
        .delete(false, false)
        .await
        .unwrap();
    let err = next_within(&mut consumer).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConsumerCancelled, "{err}");
    // `b` is still consumed: its messages still arrive.
    Producer::new(&ch)
        .routing_key(b.name())
        .publish(&json!({"n": 1}))
        .await
        .unwrap();
    let message = next_within(&mut consumer).await.unwrap().unwrap();
    message.ack().unwrap();
    consumer.cancel_by_queue(b.name()).await.unwrap();
    assert!(next_within(&mut consumer).await.is_none());
    b.delete(false, false).await.unwrap();
}

/// JSON written backwards: a serializer only a local registry knows.
struct Backwards;

impl kombu::serialization::Serializer for Backwards {
    fn name(&self) -> &str {
        "backwards"
    }
    fn content_type(&self) -> &str {
        "application/x-backwards-json"
    }
    fn content_encoding(&self) -> &str {
        "utf-8"
    }
    fn encode(&self, value: &Value) -> kombu::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec(value).unwrap();
        bytes.reverse();
        Ok(bytes)
    }
    fn decode(&self, body: &[u8]) -> kombu::Result<Value> {
        let mut bytes = body.to_vec();
        bytes.reverse();
        serde_json::from_slice(&bytes)
            .map_err(|e| kombu::Error::new(ErrorKind::Decode, e.to_string()))
    }
}

#[tokio::test]
async fn a_consumer_decodes_with_its_own_serializer_registry() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let mut registry = kombu::serialization::Registry::new();
    registry.register(Backwards);
    let registry = Arc::new(registry);
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()])
        .registry(Arc::clone(&registry))
        .accept(Accept::new(["backwards"]));
    consumer.consume().await.unwrap();
    Producer::new(&ch)
        .registry(registry)
        .serializer("backwards")
        .routing_key(q.name.as_str())
        .publish(&json!({ "name": "cat.mp4" }))
        .await
        .unwrap();
    let message = consumer.recv(WAIT).await.unwrap();
    assert_eq!(message.content_type(), Some("application/x-backwards-json"));
    assert_eq!(common::str_field(&message, "name"), "cat.mp4");
    message.ack().unwrap();
    consumer.cancel().await.unwrap();
    let _ = q.attach(&ch).delete(false, false).await;
}
