//! The STOMP transport on its own (`stomp://`, RabbitMQ's STOMP plugin on 61613), with AMQP
//! on the other side where a test crosses protocols: properties survive STOMP -> AMQP and
//! AMQP -> STOMP, serializers and compression work as on AMQP, closing a channel returns its
//! unacknowledged messages, and what STOMP cannot do is a clear `Unsupported` error.
//!
//! Run with `KOMBU_REQUIRE_BROKER=1` in CI (a missing broker then fails the test instead of
//! skipping it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use kombu::{
    Connection, Consumer, DeliveryMode, ErrorKind, Exchange, ExchangeKind, FieldValue, Producer,
    Queue,
};
use serde_json::json;

use common::{test_name, WAIT};

const STOMP: &str = "stomp://guest:guest@127.0.0.1:61613/";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672//";

fn require_broker() -> bool {
    std::env::var("KOMBU_REQUIRE_BROKER").is_ok_and(|v| v == "1")
}

/// A STOMP and an AMQP connection to the same RabbitMQ, or `None` (skip) when it is not there
/// and not required.
async fn both() -> Option<(Connection, Connection)> {
    match (
        Connection::connect(STOMP).await,
        Connection::connect(AMQP).await,
    ) {
        (Ok(stomp), Ok(amqp)) => Some((stomp, amqp)),
        (Err(e), _) | (_, Err(e)) if !require_broker() => {
            eprintln!("skipped: RabbitMQ with its STOMP plugin is not reachable ({e:#}); set KOMBU_REQUIRE_BROKER=1 to make this a failure");
            None
        }
        (Err(e), _) | (_, Err(e)) => {
            panic!(
                "RabbitMQ with STOMP is required (KOMBU_REQUIRE_BROKER=1) but not reachable: {e:#}"
            )
        }
    }
}

/// Every compression compiled in.
fn compressions() -> Vec<Option<&'static str>> {
    let mut all = vec![None, Some("zlib")];
    for (on, name) in [
        (cfg!(feature = "bzip2"), "bzip2"),
        (cfg!(feature = "xz"), "lzma"),
        (cfg!(feature = "brotli"), "brotli"),
        (cfg!(feature = "zstd"), "zstd"),
    ] {
        if on {
            all.push(Some(name));
        }
    }
    all
}

fn name(test: &str, entity: &str) -> String {
    format!("stomp.{}", common::name(test, entity))
}

#[tokio::test]
async fn what_stomp_cannot_do_is_an_unsupported_error_that_says_so() {
    let t = test_name!();
    let Some((stomp, amqp)) = both().await else {
        return;
    };
    let ch = stomp.channel().await.unwrap();
    let x = Exchange::new(name(t, "x"), ExchangeKind::Direct);
    let err = x.attach(&ch).declare().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let text = err.to_string();
    assert!(text.contains("not supported on STOMP"), "{text}");
    assert!(text.contains(&x.name), "names the exchange: {text}");
    assert!(text.contains("no_declare"), "says what to do: {text}");

    let q = Queue::new(name(t, "q")).bind_to(x.clone(), "k");
    let err = q.clone().attach(&ch).declare().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");

    // The predeclared exchanges need no declaration, even passively.
    Exchange::new("amq.direct", ExchangeKind::Direct)
        .passive(true)
        .attach(&ch)
        .declare()
        .await
        .unwrap();

    // Queue operations and basic.get: the queue exists (declared over AMQP) but STOMP cannot
    // purge, delete or get from it.
    let achannel = amqp.channel().await.unwrap();
    let declared = common::declare(&achannel, Queue::new(name(t, "q")).auto_delete(true)).await;
    let on_stomp = Queue::new(declared.name()).no_declare(true).attach(&ch);
    for err in [
        on_stomp.purge().await.unwrap_err(),
        on_stomp.get(false).await.map(|_| ()).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }

    // Mandatory publishing has no basic.return to rely on.
    let err = Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(declared.name())
        .mandatory(true)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");

    // Typed header values that STOMP's text headers cannot carry are refused, not altered.
    let err = Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(declared.name())
        .header("list", FieldValue::Array(vec![FieldValue::I32(1)]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("`list`"), "{err}");
    // (Auto-delete only once a consumer has come and gone: this one never had one.)
    declared.delete(false, false).await.unwrap();
    stomp.close().await.unwrap();
    amqp.close().await.unwrap();
}

#[tokio::test]
async fn stomp_publish_reaches_an_amqp_consumer_with_its_properties() {
    let t = test_name!();
    let Some((stomp, amqp)) = both().await else {
        return;
    };
    let achannel = amqp.channel().await.unwrap();
    let x = Exchange::new(name(t, "x"), ExchangeKind::Topic).auto_delete(true);
    let q = Queue::new(name(t, "q"))
        .auto_delete(true)
        .bind_to(x.clone(), "video.#");
    let mut consumer = Consumer::new(&achannel, [q]).accept(kombu::serialization::Accept::all());
    consumer.consume().await.unwrap();

    let sch = stomp.channel().await.unwrap();
    Producer::new(&sch)
        .exchange(x.clone().no_declare(true))
        .confirm(true)
        .publish(&json!({"name": "cat.mp4", "size": 1301013}))
        .routing_key("video.hd")
        .serializer("msgpack")
        .compression("zlib")
        .priority(7)
        .expiration(Duration::from_secs(60))
        .reply_to("answers")
        .correlation_id("c-1")
        .message_id("m-1")
        .timestamp(1_700_000_000)
        .kind("video")
        .app_id("stomp-test")
        .header("origin", "stomp")
        .await
        .unwrap();

    let m = consumer.recv(WAIT).await.unwrap();
    assert_eq!(m.exchange(), x.name);
    assert_eq!(m.routing_key(), "video.hd");
    assert_eq!(m.content_type(), Some("application/x-msgpack"));
    assert_eq!(
        m.header("compression"),
        Some(&FieldValue::from("application/x-gzip"))
    );
    let p = m.properties();
    assert_eq!(p.delivery_mode, Some(DeliveryMode::Persistent));
    assert_eq!(p.priority, Some(7));
    assert_eq!(p.expiration, Some(Duration::from_secs(60)));
    assert_eq!(p.reply_to.as_deref(), Some("answers"));
    assert_eq!(p.correlation_id.as_deref(), Some("c-1"));
    assert_eq!(p.message_id.as_deref(), Some("m-1"));
    assert_eq!(p.timestamp, Some(1_700_000_000));
    assert_eq!(p.kind.as_deref(), Some("video"));
    assert_eq!(p.app_id.as_deref(), Some("stomp-test"));
    assert_eq!(m.header("origin"), Some(&FieldValue::from("stomp")));
    assert_eq!(
        m.payload().unwrap().get("size").and_then(|v| v.as_i64()),
        Some(1301013)
    );
    m.ack().unwrap();
    stomp.close().await.unwrap();
    amqp.close().await.unwrap();
}

#[tokio::test]
async fn a_plain_consumer_and_producer_work_on_stomp_and_declare_all_refuses_once() {
    let t = test_name!();
    let Some((stomp, amqp)) = both().await else {
        return;
    };
    // The topology exists on the broker (declared over AMQP)...
    let x = Exchange::new(name(t, "x"), ExchangeKind::Direct).auto_delete(true);
    let q = Queue::new(name(t, "q"))
        .auto_delete(true)
        .bind_to(x.clone(), "k");
    let achannel = amqp.channel().await.unwrap();
    common::declare(&achannel, q.clone()).await;

    // ... and on stomp:// the default consumer and producer (auto-declare on, nothing marked
    // `no_declare`) use it instead of failing on a declaration STOMP cannot make.
    let sch = stomp.channel().await.unwrap();
    assert!(!sch.capabilities().declare);
    let mut consumer = Consumer::new(&sch, [q.clone()]);
    consumer.consume().await.unwrap();
    Producer::new(&sch)
        .exchange(x.clone())
        .routing_key("k")
        .publish(&json!({"n": 1}))
        .await
        .unwrap();
    let m = consumer.recv(WAIT).await.unwrap();
    assert_eq!(common::int_field(&m, "n"), 1);
    m.ack().unwrap();

    // declare_all is refused once, before it declares anything, saying where to declare.
    let topology = kombu::topology::Topology::from_toml_str(&format!(
        "version = 1\n[exchanges.\"{}\"]\n[queues.\"{}\"]\n",
        name(t, "other-x"),
        name(t, "other-q")
    ))
    .unwrap();
    let err = topology.declare_all(&sch).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("over AMQP"), "{err}");
    consumer.cancel().await.unwrap();
    stomp.close().await.unwrap();
    amqp.close().await.unwrap();
}

#[tokio::test]
async fn amqp_publish_reaches_a_stomp_consumer_with_its_properties() {
    let t = test_name!();
    let Some((stomp, amqp)) = both().await else {
        return;
    };
    let achannel = amqp.channel().await.unwrap();
    let x = Exchange::new(name(t, "x"), ExchangeKind::Direct);
    let q = Queue::new(name(t, "q")).bind_to(x.clone(), "image");
    let declared = common::declare(&achannel, q.clone()).await;

    Producer::new(&achannel)
        .exchange(x.clone())
        .publish(&json!({"name": "lolcat.jpg"}))
        .routing_key("image")
        .serializer("yaml")
        .compression("zlib")
        .priority(3)
        .expiration(Duration::from_millis(90_000))
        .reply_to("replies")
        .correlation_id("c-2")
        .message_id("m-2")
        .timestamp(1_700_000_001)
        .kind("image")
        .app_id("amqp-test")
        .delivery_mode(DeliveryMode::Persistent)
        .header("origin", "amqp")
        .header("size", 42i32)
        .await
        .unwrap();

    let sch = stomp.channel().await.unwrap();
    let mut consumer =
        Consumer::new(&sch, [q.no_declare(true)]).accept(kombu::serialization::Accept::all());
    consumer.consume().await.unwrap();
    let m = consumer.recv(WAIT).await.unwrap();
    assert_eq!(m.exchange(), x.name, "from the MESSAGE's destination");
    assert_eq!(m.routing_key(), "image");
    assert!(!m.redelivered());
    assert_eq!(m.content_type(), Some("application/x-yaml"));
    let p = m.properties();
    assert_eq!(p.delivery_mode, Some(DeliveryMode::Persistent));
    assert_eq!(p.priority, Some(3));
    assert_eq!(p.expiration, Some(Duration::from_millis(90_000)));
    assert_eq!(
        p.reply_to.as_deref(),
        Some("replies"),
        "without /reply-queue/"
    );
    assert_eq!(p.correlation_id.as_deref(), Some("c-2"));
    assert_eq!(p.message_id.as_deref(), Some("m-2"));
    assert_eq!(p.timestamp, Some(1_700_000_001));
    assert_eq!(p.kind.as_deref(), Some("image"));
    assert_eq!(p.app_id.as_deref(), Some("amqp-test"));
    assert_eq!(m.header("origin"), Some(&FieldValue::from("amqp")));
    assert_eq!(
        m.header("size"),
        Some(&FieldValue::from("42")),
        "STOMP headers are text"
    );
    assert_eq!(
        m.payload().unwrap().get("name").and_then(|v| v.as_str()),
        Some("lolcat.jpg")
    );
    m.ack().unwrap();
    consumer.cancel().await.unwrap();
    // The ack went through: nothing is left for anyone.
    common::wait_for_ready(&declared, 0).await;
    declared.delete(false, false).await.unwrap();
    Exchange::new(x.name.clone(), ExchangeKind::Direct)
        .attach(&achannel)
        .delete(false)
        .await
        .unwrap();
    stomp.close().await.unwrap();
    amqp.close().await.unwrap();
}

#[tokio::test]
async fn every_serializer_and_compression_round_trips_over_stomp() {
    let t = test_name!();
    let Some((stomp, amqp)) = both().await else {
        return;
    };
    let achannel = amqp.channel().await.unwrap();
    let declared = common::declare(&achannel, Queue::new(name(t, "q")).auto_delete(true)).await;
    let q = Queue::new(declared.name()).no_declare(true);
    let sch = stomp.channel().await.unwrap();
    let mut consumer = Consumer::new(&sch, [q]).accept(kombu::serialization::Accept::all());
    consumer.consume().await.unwrap();
    let body = json!({"text": "spam ".repeat(50), "n": 7, "nested": {"ok": true}});
    let producer = Producer::new(&sch).routing_key(declared.name());
    let mut sent = Vec::new();
    for serializer in ["json", "msgpack", "yaml"] {
        for compression in compressions() {
            let mut publish = producer.publish(&body).serializer(serializer);
            if let Some(c) = compression {
                publish = publish.compression(c);
            }
            publish.await.unwrap();
            sent.push((serializer, compression));
        }
    }
    // Raw bytes with NUL bytes in them travel with a content-length.
    producer.publish_body(b"bin\0ary\0".to_vec()).await.unwrap();
    for (serializer, compression) in sent {
        let m = consumer.recv(WAIT).await.unwrap();
        assert_eq!(
            common::decode_any(&m),
            common::json(body.clone()),
            "{serializer} with {compression:?}"
        );
        m.ack().unwrap();
    }
    let raw = consumer.recv(WAIT).await.unwrap();
    assert_eq!(raw.body(), b"bin\0ary\0");
    assert_eq!(raw.content_type(), Some("application/data"));
    raw.ack().unwrap();
    stomp.close().await.unwrap();
    amqp.close().await.unwrap();
}

#[tokio::test]
async fn closing_a_channel_returns_its_unacknowledged_messages_and_reject_dead_letters() {
    let t = test_name!();
    let Some((stomp, amqp)) = both().await else {
        return;
    };
    let achannel = amqp.channel().await.unwrap();
    let dlx = Exchange::new(name(t, "dlx"), ExchangeKind::Fanout).auto_delete(true);
    let dead = common::declare(
        &achannel,
        Queue::new(name(t, "dead"))
            .auto_delete(true)
            .bind_to(dlx.clone(), ""),
    )
    .await;
    // Not auto-delete: the queue must outlive its STOMP consumer.
    let declared = common::declare(
        &achannel,
        Queue::new(name(t, "q")).dead_letter_exchange(dlx.name.clone()),
    )
    .await;
    let sch = stomp.channel().await.unwrap();
    let producer = Producer::new(&sch).routing_key(declared.name());
    for n in 0..2 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }
    let mut consumer = Consumer::new(&sch, [Queue::new(declared.name()).no_declare(true)]);
    consumer.consume().await.unwrap();
    let first = consumer.recv(WAIT).await.unwrap();
    let second = consumer.recv(WAIT).await.unwrap();
    assert_eq!(common::int_field(&first, "n"), 0);
    // A reject without requeue goes to the dead-letter exchange.
    first.reject().unwrap();
    let dead_one = common::get_one(&dead).await;
    assert_eq!(common::int_field(&dead_one, "n"), 0);
    dead_one.ack().unwrap();
    // Closing the channel hands back the one it held, marked redelivered.
    assert_eq!(common::int_field(&second, "n"), 1);
    sch.close().await.unwrap();
    let back = common::get_one(&declared).await;
    assert_eq!(common::int_field(&back, "n"), 1);
    assert!(back.redelivered());
    back.ack().unwrap();
    declared.delete(false, false).await.unwrap();
    // (Auto-delete only once a consumer has come and gone, or its last queue unbound.)
    dead.delete(false, false).await.unwrap();
    dlx.attach(&achannel).delete(false).await.unwrap();
    stomp.close().await.unwrap();
    amqp.close().await.unwrap();
}

#[tokio::test]
async fn wrong_credentials_are_access_refused() {
    if both().await.is_none() {
        return;
    }
    let err = Connection::connect("stomp://guest:wrong@127.0.0.1:61613/")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessRefused, "{err}");
    let err = Connection::connect("stomp://guest:guest@127.0.0.1:61613/no-such-vhost")
        .await
        .unwrap_err();
    // As on AMQP, where the broker answers connection.open with 530 NOT_ALLOWED.
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
}
