//! Declaring, as RabbitMQ judges it: equivalence on redeclare, passive declares, exclusive and
//! auto-delete queues, delete and purge, server-named queues, reserved exchange names.
//!
//! A refused declare closes the channel on AMQP, so each refused operation runs on a channel of
//! its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use kombu::{
    Channel, Connection, Consumer, Error, Exchange, ExchangeKind, FieldTable, Producer, Queue,
};
use serde_json::json;

use common::{declare, drain_until_marker, open, test_name, wait_until_gone};

async fn fresh(conn: &Connection) -> Channel {
    conn.channel().await.unwrap()
}

async fn redeclare_exchange(conn: &Connection, exchange: Exchange) -> Error {
    exchange
        .attach(&fresh(conn).await)
        .declare()
        .await
        .expect_err("the redeclare must be refused")
}

async fn redeclare_queue(conn: &Connection, queue: Queue) -> Error {
    queue
        .attach(&fresh(conn).await)
        .declare()
        .await
        .expect_err("the redeclare must be refused")
}

fn assert_precondition_naming(err: &Error, what: &str) {
    assert!(err.is_precondition_failed(), "{err}");
    assert!(
        err.message().contains(&format!("'{what}'")),
        "the error should name `{what}`: {err}"
    );
}

#[tokio::test]
async fn redeclaring_an_exchange_identically_succeeds() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Topic)
        .alternate_exchange(common::name(t, "ae"));
    x.attach(&ch).declare().await.unwrap();
    x.attach(&fresh(&conn).await).declare().await.unwrap();
}

#[tokio::test]
async fn redeclaring_an_exchange_with_another_type_fails_naming_the_type() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let name = common::name(t, "x");
    Exchange::new(name.as_str(), ExchangeKind::Direct)
        .attach(&ch)
        .declare()
        .await
        .unwrap();
    let err = redeclare_exchange(&conn, Exchange::new(name.as_str(), ExchangeKind::Topic)).await;
    assert_precondition_naming(&err, "type");
}

#[tokio::test]
async fn redeclaring_an_exchange_with_another_durability_fails_naming_durable() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    x.attach(&ch).declare().await.unwrap();
    let err = redeclare_exchange(&conn, x.durable(false)).await;
    assert_precondition_naming(&err, "durable");
}

#[tokio::test]
async fn redeclaring_an_exchange_with_another_auto_delete_fails_naming_auto_delete() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Fanout);
    x.attach(&ch).declare().await.unwrap();
    let err = redeclare_exchange(&conn, x.auto_delete(true)).await;
    assert_precondition_naming(&err, "auto_delete");
}

#[tokio::test]
async fn redeclaring_an_exchange_with_other_arguments_fails_naming_the_argument() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    x.clone()
        .alternate_exchange(common::name(t, "ae1"))
        .attach(&ch)
        .declare()
        .await
        .unwrap();
    let err = redeclare_exchange(&conn, x.alternate_exchange(common::name(t, "ae2"))).await;
    assert_precondition_naming(&err, "alternate-exchange");
}

#[tokio::test]
async fn redeclaring_a_queue_identically_succeeds_and_reports_its_counts() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let queue = Queue::new(common::name(t, "q"))
        .message_ttl(Duration::from_secs(60))
        .max_length(10);
    let q = declare(&ch, queue.clone()).await;
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .await
        .unwrap();
    common::wait_for_ready(&q, 1).await;

    let again = queue.attach(&fresh(&conn).await).declare().await.unwrap();
    assert_eq!(again.name, q.name());
    assert_eq!(again.message_count, 1);
    assert_eq!(again.consumer_count, 0);
}

#[tokio::test]
async fn redeclaring_a_queue_with_another_durability_fails_naming_durable() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    declare(&ch, q.clone()).await;
    let err = redeclare_queue(&conn, q.durable(false)).await;
    assert_precondition_naming(&err, "durable");
}

#[tokio::test]
async fn redeclaring_a_queue_with_another_auto_delete_fails_naming_auto_delete() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    declare(&ch, q.clone()).await;
    let err = redeclare_queue(&conn, q.auto_delete(true)).await;
    assert_precondition_naming(&err, "auto_delete");
}

#[tokio::test]
async fn redeclaring_a_queue_with_other_arguments_fails_naming_the_argument() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q")).message_ttl(Duration::from_secs(60));
    declare(&ch, q.clone()).await;

    let err = redeclare_queue(&conn, q.clone().message_ttl(Duration::from_secs(30))).await;
    assert_precondition_naming(&err, "x-message-ttl");

    let mut without_ttl = q.clone();
    without_ttl.message_ttl = None;
    let err = redeclare_queue(&conn, without_ttl).await;
    assert_precondition_naming(&err, "x-message-ttl");

    let err = redeclare_queue(&conn, q.max_length(5)).await;
    assert_precondition_naming(&err, "x-max-length");
}

#[tokio::test]
async fn redeclaring_a_queue_as_exclusive_is_refused() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    declare(&ch, q.clone()).await;
    // RabbitMQ answers 405 RESOURCE_LOCKED for an exclusivity mismatch.
    let err = redeclare_queue(&conn, q.exclusive(true)).await;
    assert!(err.is_access_refused(), "{err}");
}

#[tokio::test]
async fn passive_declare_of_a_missing_exchange_is_not_found() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let err = Exchange::new(common::name(t, "missing"), ExchangeKind::Direct)
        .passive(true)
        .attach(&ch)
        .declare()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn passive_declare_of_a_missing_queue_is_not_found() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let missing = Queue::new(common::name(t, "missing"));
    let err = missing
        .clone()
        .passive(true)
        .attach(&ch)
        .declare()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = missing
        .attach(&fresh(&conn).await)
        .status()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn passive_declare_of_an_existing_queue_does_not_change_it() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q")).max_length(3);
    declare(&ch, q.clone()).await;
    // Passive: only the name matters; no equivalence check, no change.
    let mut passive = Queue::new(q.name.as_str()).passive(true).attach(&ch);
    let declared = passive.declare().await.unwrap();
    assert_eq!(declared.name, q.name);
    // The queue kept its limit: redeclaring it as first declared still works.
    q.attach(&ch).declare().await.unwrap();
}

#[tokio::test]
async fn exclusive_queue_is_refused_to_another_connection() {
    let t = test_name!();
    let (owner, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q")).exclusive(true)).await;
    let other = common::connect(t).await;

    let err = q
        .queue()
        .attach(&fresh(&other).await)
        .declare()
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "declare: {err}");
    let err = q
        .queue()
        .attach(&fresh(&other).await)
        .get(false)
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "get: {err}");
    let err = Consumer::new(&fresh(&other).await, [q.queue().clone()])
        .auto_declare(false)
        .consume()
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "consume: {err}");
    let err = q
        .queue()
        .attach(&fresh(&other).await)
        .purge()
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "purge: {err}");
    let err = q
        .queue()
        .attach(&fresh(&other).await)
        .delete(false, false)
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "delete: {err}");

    // Its own connection uses it from any channel.
    let mine = q.queue().attach(&fresh(&owner).await);
    assert_eq!(mine.status().await.unwrap().message_count, 0);
}

#[tokio::test]
async fn exclusive_queue_is_deleted_when_its_connection_closes() {
    let t = test_name!();
    let (owner, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q")).exclusive(true)).await;
    let other = common::connect(t).await;

    owner.close().await.unwrap();
    wait_until_gone(&other, q.name()).await;
}

#[tokio::test]
async fn auto_delete_queue_is_deleted_when_its_last_consumer_cancels() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q")).auto_delete(true);
    let mut first = Consumer::new(&ch, [q.clone()]);
    first.consume().await.unwrap();
    let mut second = Consumer::new(&fresh(&conn).await, [q.clone()]);
    second.consume().await.unwrap();

    first.cancel().await.unwrap();
    let status = q.attach(&ch).status().await.unwrap();
    assert_eq!(status.consumer_count, 1, "one consumer is left");

    second.cancel().await.unwrap();
    wait_until_gone(&conn, &q.name).await;
}

#[tokio::test]
async fn auto_delete_queue_that_never_had_a_consumer_stays() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q")).auto_delete(true)).await;
    Producer::new(&ch)
        .publish(&json!({"n": "kept"}))
        .routing_key(q.name())
        .await
        .unwrap();
    let q = q.queue().attach(&fresh(&conn).await);
    assert_eq!(common::drain_field(&ch, &q, "n").await, ["kept"]);
}

#[tokio::test]
async fn delete_if_unused_refuses_a_queue_with_consumers() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = Queue::new(common::name(t, "q"));
    let mut consumer = Consumer::new(&ch, [q.clone()]);
    consumer.consume().await.unwrap();

    let err = q
        .attach(&fresh(&conn).await)
        .delete(true, false)
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    q.attach(&fresh(&conn).await).status().await.unwrap();

    consumer.cancel().await.unwrap();
    q.attach(&fresh(&conn).await)
        .delete(true, false)
        .await
        .unwrap();
    wait_until_gone(&conn, &q.name).await;
}

#[tokio::test]
async fn delete_if_empty_refuses_a_queue_with_messages() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .await
        .unwrap();
    common::wait_for_ready(&q, 1).await;

    let err = q
        .queue()
        .attach(&fresh(&conn).await)
        .delete(false, true)
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");

    let q = q.queue().attach(&fresh(&conn).await);
    assert_eq!(q.purge().await.unwrap(), 1);
    q.delete(false, true).await.unwrap();
    wait_until_gone(&conn, q.name()).await;
}

#[tokio::test]
async fn delete_returns_how_many_messages_the_queue_held() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for _ in 0..3 {
        producer.publish(&json!({})).await.unwrap();
    }
    common::wait_for_ready(&q, 3).await;
    assert_eq!(q.delete(false, false).await.unwrap(), 3);
    wait_until_gone(&conn, q.name()).await;
}

#[tokio::test]
async fn purge_returns_how_many_messages_it_removed() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for _ in 0..5 {
        producer.publish(&json!({})).await.unwrap();
    }
    common::wait_for_ready(&q, 5).await;
    assert_eq!(q.purge().await.unwrap(), 5);
    assert_eq!(q.status().await.unwrap().message_count, 0);
    assert_eq!(q.purge().await.unwrap(), 0);
}

#[tokio::test]
async fn purge_leaves_unacknowledged_messages_alone() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    producer.publish(&json!({"n": 1})).await.unwrap();
    producer.publish(&json!({"n": 2})).await.unwrap();

    let held = common::get_one(&q).await;
    assert_eq!(q.purge().await.unwrap(), 1);
    held.requeue().unwrap();
    let left: Vec<i64> = drain_until_marker(&ch, &q)
        .await
        .iter()
        .map(|m| common::int_field(m, "n"))
        .collect();
    assert_eq!(
        left,
        [1],
        "only the unacknowledged message survived the purge"
    );
}

#[tokio::test]
async fn unnamed_queues_get_unique_generated_names() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let mut first = Queue::new("").exclusive(true).attach(&ch);
    let mut second = Queue::new("").exclusive(true).attach(&ch);
    let a = first.declare().await.unwrap();
    let b = second.declare().await.unwrap();

    assert!(a.name.starts_with(common::generated_prefix()), "{}", a.name);
    assert!(b.name.starts_with(common::generated_prefix()), "{}", b.name);
    assert_ne!(a.name, b.name);
    assert_eq!(
        first.name(),
        a.name,
        "the bound queue takes the broker's name"
    );

    // The name works: publish to it through the default exchange.
    Producer::new(&ch)
        .publish(&json!({"n": "here"}))
        .routing_key(a.name.as_str())
        .await
        .unwrap();
    assert_eq!(common::drain_field(&ch, &first, "n").await, ["here"]);
}

#[tokio::test]
async fn server_named_queue_is_bound_under_its_new_name() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Fanout);
    let mut consumer = Consumer::new(&ch, [Queue::new("").exclusive(true).bind_to(x.clone(), "")]);
    consumer.consume().await.unwrap();
    let name = consumer.queues()[0].name.clone();
    assert!(name.starts_with(common::generated_prefix()), "{name}");
    assert!(consumer.consuming_from(&name));

    Producer::new(&ch)
        .exchange(x)
        .publish(&json!({}))
        .await
        .unwrap();
    let message = consumer.recv(common::WAIT).await.unwrap();
    assert!(message.ack().is_ok());
}

#[tokio::test]
async fn reserved_exchange_names_are_never_declared() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    // Sent to the broker, each of these would be refused (reserved name, or the wrong type for
    // an existing exchange). Channel::declare_exchange does not send them.
    ch.declare_exchange(&Exchange::default_exchange())
        .await
        .unwrap();
    ch.declare_exchange(&Exchange::new("amq.topic", ExchangeKind::Direct))
        .await
        .unwrap();
    let invented = Exchange::new(
        format!("amq.{}", common::name(t, "x")),
        ExchangeKind::Direct,
    );
    invented.attach(&ch).declare().await.unwrap();

    let err = invented
        .passive(true)
        .attach(&fresh(&conn).await)
        .declare()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "it was never declared: {err}");
    // The broker's own exchange is still a topic exchange.
    let q = declare(
        &fresh(&conn).await,
        Queue::new(common::name(t, "q"))
            .bind_to(Exchange::new("amq.topic", ExchangeKind::Topic), "a.#"),
    )
    .await;
    Producer::new(&ch)
        .exchange(Exchange::new("amq.topic", ExchangeKind::Topic))
        .publish(&json!({"n": "topic"}))
        .routing_key("a.b.c")
        .await
        .unwrap();
    assert_eq!(common::drain_field(&ch, &q, "n").await, ["topic"]);
}

#[tokio::test]
async fn declaring_a_queue_with_a_reserved_name_is_refused() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let err = Queue::new(format!("amq.{}", common::name(t, "q")))
        .attach(&ch)
        .declare()
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "{err}");
}

#[tokio::test]
async fn deleting_a_bound_exchange_if_unused_is_refused() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(x.clone(), "k"),
    )
    .await;

    let err = x
        .attach(&fresh(&conn).await)
        .delete(true)
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    x.passive(true)
        .attach(&fresh(&conn).await)
        .declare()
        .await
        .unwrap();
}

#[tokio::test]
async fn deleting_a_bound_exchange_removes_its_bindings_and_keeps_the_queues() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(x.clone(), "k"),
    )
    .await;

    x.attach(&ch).delete(false).await.unwrap();
    let err = x
        .clone()
        .passive(true)
        .attach(&fresh(&conn).await)
        .declare()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    q.status().await.unwrap();

    // Declared again, the exchange starts without the old binding.
    x.attach(&ch).declare().await.unwrap();
    let err = Producer::new(&ch)
        .exchange(x)
        .publish(&json!({}))
        .routing_key("k")
        .mandatory(true)
        .await
        .unwrap_err();
    assert!(err.is_unroutable(), "{err}");
    assert!(drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn auto_delete_exchange_is_deleted_when_its_last_binding_goes() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Fanout).auto_delete(true);
    let q = declare(&ch, Queue::new(common::name(t, "q")).bind_to(x.clone(), "")).await;

    q.unbind_from(&x.name, "", &FieldTable::new())
        .await
        .unwrap();
    let name = x.name.clone();
    common::eventually(&format!("exchange `{name}` is deleted"), || {
        let probe = x.clone().passive(true);
        let conn = conn.clone();
        async move {
            match probe.attach(&fresh(&conn).await).declare().await {
                Err(e) if e.is_not_found() => true,
                Err(e) => panic!("{e}"),
                Ok(()) => false,
            }
        }
    })
    .await;
}

#[tokio::test]
async fn binding_to_a_missing_exchange_is_not_found() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let err = q
        .queue()
        .attach(&fresh(&conn).await)
        .bind_to(&common::name(t, "missing"), "k", &FieldTable::new())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn unused_queue_with_expires_is_deleted() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let expires = common::TTL;
    let q = declare(&ch, Queue::new(common::name(t, "q")).expires(expires)).await;
    // Looking at the queue renews its lease on RabbitMQ, so look less often than it expires.
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        tokio::time::sleep(expires * 5).await;
        match q.queue().attach(&fresh(&conn).await).status().await {
            Err(e) if e.is_not_found() => break,
            Err(e) => panic!("{e}"),
            Ok(_) => assert!(
                std::time::Instant::now() < deadline,
                "queue `{}` with x-expires {expires:?} still exists after {:?}",
                q.name(),
                common::WAIT
            ),
        }
    }
}

#[tokio::test]
async fn exclusive_queue_accepts_messages_from_another_connection() {
    let t = test_name!();
    let (_owner, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q")).exclusive(true)).await;
    let (_other, other_channel) = open(t).await;
    Producer::new(&other_channel)
        .publish(&json!({"n": "from-other"}))
        .routing_key(q.name())
        .await
        .unwrap();
    common::wait_for_ready(&q, 1).await;
    assert_eq!(common::drain_field(&ch, &q, "n").await, ["from-other"]);
}

#[tokio::test]
async fn auto_delete_queue_is_deleted_when_its_consumers_channel_closes() {
    let t = test_name!();
    let (conn, _ch) = open(t).await;
    let worker = fresh(&conn).await;
    let q = Queue::new(common::name(t, "q")).auto_delete(true);
    let mut consumer = Consumer::new(&worker, [q.clone()]);
    consumer.consume().await.unwrap();
    worker.close().await.unwrap();
    wait_until_gone(&conn, &q.name).await;
}
