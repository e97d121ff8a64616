//! `SimpleQueue`: a named queue used as a FIFO (put, get, get_nowait, qsize, clear).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kombu::serialization::Accept;
use kombu::Value;
use serde_json::json;

use common::{connect, test_name, QUIET, WAIT};

#[tokio::test]
async fn put_then_get_returns_the_message() {
    let t = test_name!();
    let conn = connect(t).await;
    let mut queue = conn.simple_queue(&common::name(t, "q")).await.unwrap();
    queue.put(&json!({"hello": "world"})).await.unwrap();

    let message = queue.get(WAIT).await.unwrap();
    assert_eq!(
        message.payload().unwrap(),
        &common::json(json!({"hello": "world"}))
    );
    assert_eq!(message.content_type(), Some("application/json"));
    message.ack().unwrap();
}

#[tokio::test]
async fn get_returns_messages_in_the_order_they_were_put() {
    let t = test_name!();
    let conn = connect(t).await;
    let mut queue = conn.simple_queue(&common::name(t, "q")).await.unwrap();
    for n in 0..5 {
        queue.put(&json!({"n": n})).await.unwrap();
    }
    for n in 0..5 {
        let message = queue.get(WAIT).await.unwrap();
        assert_eq!(common::int_field(&message, "n"), n);
        message.ack().unwrap();
    }
}

#[tokio::test]
async fn get_is_a_timeout_error_when_the_queue_stays_empty() {
    let t = test_name!();
    let conn = connect(t).await;
    let mut queue = conn.simple_queue(&common::name(t, "q")).await.unwrap();
    let err = queue.get(QUIET).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn get_waits_for_a_message_put_later() {
    let t = test_name!();
    let conn = connect(t).await;
    let name = common::name(t, "q");
    let mut queue = conn.simple_queue(&name).await.unwrap();
    let writer = conn.simple_queue(&name).await.unwrap();
    let put_later = async {
        tokio::time::sleep(common::TTL).await;
        writer.put(&json!({"late": true})).await.unwrap();
    };
    let (got, ()) = tokio::join!(queue.get(WAIT), put_later);
    let message = got.unwrap();
    assert_eq!(
        message.payload().unwrap().get("late"),
        Some(&Value::Bool(true))
    );
}

#[tokio::test]
async fn get_nowait_is_none_when_the_queue_is_empty() {
    let t = test_name!();
    let conn = connect(t).await;
    let mut queue = conn.simple_queue(&common::name(t, "q")).await.unwrap();
    assert!(queue.get_nowait().await.unwrap().is_none());

    queue.put(&json!({"n": 1})).await.unwrap();
    common::eventually("the message is ready", || async {
        queue.qsize().await.unwrap() == 1
    })
    .await;
    let message = queue.get_nowait().await.unwrap().expect("a ready message");
    assert_eq!(common::int_field(&message, "n"), 1);
    message.ack().unwrap();
    assert!(queue.get_nowait().await.unwrap().is_none());
}

#[tokio::test]
async fn get_nowait_after_get_takes_the_next_message() {
    let t = test_name!();
    let conn = connect(t).await;
    let mut queue = conn.simple_queue(&common::name(t, "q")).await.unwrap();
    for n in 1..=3 {
        queue.put(&json!({"n": n})).await.unwrap();
    }
    let first = queue.get(WAIT).await.unwrap();
    first.ack().unwrap();
    let mut rest = Vec::new();
    while rest.len() < 2 {
        match queue.get_nowait().await.unwrap() {
            Some(message) => {
                rest.push(common::int_field(&message, "n"));
                message.ack().unwrap();
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    assert_eq!(common::int_field(&first, "n"), 1);
    assert_eq!(rest, [2, 3]);
}

#[tokio::test]
async fn qsize_counts_the_ready_messages() {
    let t = test_name!();
    let conn = connect(t).await;
    let mut queue = conn.simple_queue(&common::name(t, "q")).await.unwrap();
    assert_eq!(queue.qsize().await.unwrap(), 0);
    for n in 0..3 {
        queue.put(&json!({"n": n})).await.unwrap();
    }
    common::eventually("three messages are ready", || async {
        queue.qsize().await.unwrap() == 3
    })
    .await;
    // Taking one out without waiting leaves two.
    queue.get_nowait().await.unwrap().unwrap().ack().unwrap();
    assert_eq!(queue.qsize().await.unwrap(), 2);
}

#[tokio::test]
async fn clear_removes_every_ready_message_and_says_how_many() {
    let t = test_name!();
    let conn = connect(t).await;
    let mut queue = conn.simple_queue(&common::name(t, "q")).await.unwrap();
    for n in 0..4 {
        queue.put(&json!({"n": n})).await.unwrap();
    }
    common::eventually("four messages are ready", || async {
        queue.qsize().await.unwrap() == 4
    })
    .await;

    assert_eq!(queue.clear().await.unwrap(), 4);
    assert_eq!(queue.qsize().await.unwrap(), 0);
    assert!(queue.get_nowait().await.unwrap().is_none());
    assert!(queue.get(QUIET).await.unwrap_err().is_timeout());
}

#[tokio::test]
async fn put_body_sends_text_as_it_is() {
    let t = test_name!();
    let conn = connect(t).await;
    let mut queue = conn.simple_queue(&common::name(t, "q")).await.unwrap();
    queue.put_body("plain words").await.unwrap();
    let message = queue.get(WAIT).await.unwrap();
    assert_eq!(message.content_type(), Some("text/plain"));
    assert_eq!(message.payload().unwrap(), &Value::from("plain words"));
}

#[tokio::test]
async fn two_simple_queues_of_one_name_share_the_queue() {
    let t = test_name!();
    let conn = connect(t).await;
    let other = connect(t).await;
    let name = common::name(t, "q");
    let writer = conn.simple_queue(&name).await.unwrap();
    let mut reader = other.simple_queue(&name).await.unwrap();
    assert_eq!(reader.name(), name);
    writer.put(&json!({"n": 7})).await.unwrap();
    let message = reader.get(WAIT).await.unwrap();
    assert_eq!(common::int_field(&message, "n"), 7);
}

#[tokio::test]
async fn simple_queue_accept_list_decides_what_is_decoded() {
    let t = test_name!();
    let conn = connect(t).await;
    let name = common::name(t, "q");
    let ch = conn.channel().await.unwrap();
    let mut queue = kombu::SimpleQueue::new(&ch, &name)
        .await
        .unwrap()
        .accept(Accept::new(["yaml"]));
    kombu::Producer::new(&ch)
        .routing_key(name.as_str())
        .publish(&json!({"n": 1}))
        .serializer("yaml")
        .await
        .unwrap();
    let message = queue.get(WAIT).await.unwrap();
    assert_eq!(common::int_field(&message, "n"), 1);
}
