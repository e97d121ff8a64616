//! AMQP-only behaviour against the real RabbitMQ (the shared behaviour suite runs on AMQP too,
//! with `KOMBU_TEST_TRANSPORT=amqp`): failover across URLs, the broker's reply in errors, the
//! channel reopened after the broker closed it, client properties, settling a delivery of a
//! dead channel.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use kombu::{Connection, Consumer, ErrorKind, Exchange, ExchangeKind, Producer, Queue};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672//";

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("amqp-test.{what}.{}.{nanos:x}", std::process::id())
}

async fn connect(url: &str) -> Option<Connection> {
    match Connection::connect(url).await {
        Ok(c) => Some(c),
        Err(e) if std::env::var("KOMBU_REQUIRE_BROKER").is_ok_and(|v| v == "1") => {
            panic!("RabbitMQ is required (KOMBU_REQUIRE_BROKER=1): {e:#}")
        }
        Err(e) => {
            eprintln!("skipped: RabbitMQ not reachable at 127.0.0.1:5672 ({e:#}); set KOMBU_REQUIRE_BROKER=1 to make this a failure");
            None
        }
    }
}

#[tokio::test]
async fn failover_skips_an_alternate_that_does_not_answer() {
    // Port 1 refuses at once; the second URL is the real broker.
    let Some(conn) = connect(&format!("amqp://guest:guest@127.0.0.1:1//;{URL}")).await else {
        return;
    };
    assert_eq!(conn.url().port, 5672);
    let channel = conn.channel().await.unwrap();
    let q = Queue::new(unique("failover")).exclusive(true);
    channel.declare_queue(&q).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn no_alternate_answering_is_a_connection_error_naming_the_url() {
    let err = Connection::connect("amqp://guest:secret@127.0.0.1:1//")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err:#}");
    // The whole chain, causes included.
    let text = format!("{err:#}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(
        !text.contains("secret"),
        "the password is never shown: {text}"
    );
}

#[tokio::test]
async fn an_inequivalent_redeclare_names_the_entity_and_the_broker_reply_and_the_channel_recovers()
{
    let Some(conn) = connect(URL).await else {
        return;
    };
    let channel = conn.channel().await.unwrap();
    let name = unique("redeclare");
    let exchange = Exchange::new(name.as_str(), ExchangeKind::Direct).auto_delete(true);
    channel.declare_exchange(&exchange).await.unwrap();
    let err = channel
        .declare_exchange(&Exchange::new(name.as_str(), ExchangeKind::Fanout).auto_delete(true))
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("exchange '{name}'")), "{text}");
    assert!(
        text.contains("406") && text.contains("inequivalent arg 'type'"),
        "{text}"
    );

    // The broker closed the channel; the next operation runs on a reopened one.
    let q = Queue::new(unique("after-406")).exclusive(true);
    let declared = channel.declare_queue(&q).await.unwrap();
    assert_eq!(declared.name, q.name);
    exchange.attach(&channel).delete(false).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_passive_declare_of_a_missing_queue_is_not_found_with_the_reply() {
    let Some(conn) = connect(URL).await else {
        return;
    };
    let channel = conn.channel().await.unwrap();
    let name = unique("missing");
    let err = Queue::new(name.as_str())
        .passive(true)
        .attach(&channel)
        .declare()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains(&format!("no queue '{name}'")),
        "{err}"
    );
    conn.close().await.unwrap();
}

#[tokio::test]
async fn an_exclusive_queue_is_refused_to_another_connection() {
    let (Some(a), Some(b)) = (connect(URL).await, connect(URL).await) else {
        return;
    };
    let q = Queue::new(unique("exclusive")).exclusive(true);
    a.channel().await.unwrap().declare_queue(&q).await.unwrap();
    let err = b
        .channel()
        .await
        .unwrap()
        .declare_queue(&q)
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "{err}");
    assert!(err.to_string().contains("RESOURCE_LOCKED"), "{err}");
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_delivery_of_a_closed_channel_cannot_be_settled_and_comes_back_redelivered() {
    let Some(conn) = connect(URL).await else {
        return;
    };
    let setup = conn.channel().await.unwrap();
    let q = Queue::new(unique("dead-channel"))
        .durable(false)
        .auto_delete(false);
    setup.declare_queue(&q).await.unwrap();
    Producer::new(&setup)
        .routing_key(q.name.as_str())
        .confirm(true)
        .publish(&serde_json::json!({"n": 1}))
        .await
        .unwrap();

    let channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&channel, [q.clone()]).auto_declare(false);
    consumer.consume().await.unwrap();
    let message = consumer.recv(Duration::from_secs(10)).await.unwrap();
    assert!(!message.redelivered());
    // Make the broker close the consumer's channel: a passive declare of a missing queue.
    let _ = channel
        .declare_queue(&Queue::new(unique("nope")).passive(true))
        .await
        .unwrap_err();
    let err = message.ack().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Channel, "{err}");
    assert!(err.to_string().contains("redeliver"), "{err}");

    // The reopened channel resumed the consumer, and the broker redelivered the message.
    let again = consumer.recv(Duration::from_secs(10)).await.unwrap();
    assert!(again.redelivered());
    again.ack().unwrap();
    consumer.cancel().await.unwrap();
    q.attach(&setup).delete(false, false).await.unwrap();
    conn.close().await.unwrap();
}

/// The ack task coalesces acks that complete in order into one `multiple = true` ack. Handlers
/// here finish out of order and reject some messages: if a multiple ack ever covered a message
/// still being handled (or one rejected later), the broker would close the channel on the
/// later ack or reject ("unknown delivery tag"), and messages would come back redelivered or be
/// missing from the dead-letter queue. Every message is settled exactly as its handler said.
#[tokio::test]
async fn acks_coalesced_from_out_of_order_handlers_settle_exactly_what_finished() {
    let Some(conn) = connect(URL).await else {
        return;
    };
    let setup = conn.channel().await.unwrap();
    let dead = Queue::new(unique("coalesce-dead")).durable(false);
    let q = Queue::new(unique("coalesce"))
        .durable(false)
        .dead_letter_exchange("")
        .dead_letter_routing_key(dead.name.as_str());
    setup.declare_queue(&dead).await.unwrap();
    setup.declare_queue(&q).await.unwrap();
    const N: u64 = 3000;
    let producer = Producer::new(&setup)
        .routing_key(q.name.as_str())
        .confirm(true);
    let mut pipeline = producer.pipeline(500);
    for n in 0..N {
        pipeline.publish(&n).await.unwrap();
    }
    pipeline.flush().await.unwrap();

    let channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&channel, [q.clone()])
        .auto_declare(false)
        .prefetch_count(100);
    consumer.consume().await.unwrap();
    let mut handlers = tokio::task::JoinSet::new();
    for i in 0..N {
        let message = consumer.recv(Duration::from_secs(10)).await.unwrap();
        assert!(!message.redelivered(), "message {i} came back");
        let n: u64 = message.decode().unwrap();
        handlers.spawn(async move {
            // Finish out of order: later messages often before earlier ones.
            tokio::time::sleep(Duration::from_micros((n * 7919) % 3000)).await;
            if n.is_multiple_of(13) {
                message.reject().unwrap();
            } else {
                message.ack().unwrap();
            }
        });
    }
    while let Some(done) = handlers.join_next().await {
        done.unwrap();
    }
    consumer.cancel().await.unwrap();
    channel.close().await.unwrap();

    let rejected = (0..N).filter(|n| n.is_multiple_of(13)).count() as u32;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = q.attach(&setup).status().await.unwrap().message_count;
        let dead_count = dead.attach(&setup).status().await.unwrap().message_count;
        if left == 0 && dead_count == rejected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} messages back in the queue, {dead_count} of {rejected} dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    q.attach(&setup).delete(false, false).await.unwrap();
    dead.attach(&setup).delete(false, false).await.unwrap();
    conn.close().await.unwrap();
}

/// Names, routing keys, property strings and table keys are AMQP short strings (at most 255
/// bytes). Longer ones are refused with an error naming what is too long, before anything
/// reaches the broker (lapin would panic on them), and the channel stays usable.
#[tokio::test]
async fn what_amqp_cannot_carry_as_a_short_string_is_an_error_not_a_panic() {
    let Some(conn) = connect(URL).await else {
        return;
    };
    let channel = conn.channel().await.unwrap();
    let long = "k".repeat(300);
    let q = Queue::new(unique("short-strings")).durable(false);
    channel.declare_queue(&q).await.unwrap();
    let producer = Producer::new(&channel).routing_key(q.name.as_str());

    let err = producer
        .publish(&"x")
        .routing_key(long.as_str())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode, "{err}");
    assert!(err.to_string().contains("routing key"), "{err}");
    let err = producer
        .publish(&"x")
        .header(long.as_str(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode, "{err}");
    assert!(err.to_string().contains("headers"), "{err}");
    assert!(err.returned_message().is_some(), "the message comes back");
    let err = producer
        .publish(&"x")
        .correlation_id(long.as_str())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("correlation_id"), "{err}");
    let err = channel
        .declare_queue(&Queue::new(long.as_str()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode, "{err}");
    let err = channel
        .declare_exchange(&Exchange::new(long.as_str(), ExchangeKind::Topic))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode, "{err}");
    let err = channel
        .declare_queue(&Queue::new(unique("bound")).exclusive(true).bind_to(
            Exchange::new("amq.topic", ExchangeKind::Topic),
            long.as_str(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode, "{err}");

    // The channel still works.
    producer.publish(&"fine").await.unwrap();
    let got = q.attach(&channel).get(true).await.unwrap().unwrap();
    assert_eq!(got.decode::<String>().unwrap(), "fine");
    q.attach(&channel).delete(false, false).await.unwrap();
    conn.close().await.unwrap();
}
