//! Publishing: the properties a plain publish sets (exactly Python kombu's), the per-publish
//! options, raw bodies, and the producer's defaults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use kombu::compression::{Compression, DEFAULT_MAX_DECOMPRESSED};
use kombu::{
    DeliveryMode, ErrorKind, Exchange, ExchangeKind, FieldTable, FieldValue, Producer, Properties,
    Queue, Value,
};
use serde_json::json;

use common::{declare, drain_field, get_one, open, test_name};

#[tokio::test]
async fn plain_publish_sets_exactly_the_properties_python_kombu_sets() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;

    Producer::new(&ch)
        .publish(&json!({"hello": "world"}))
        .routing_key(q.name())
        .await
        .unwrap();

    let message = get_one(&q).await;
    let mut expected = Properties::default();
    expected.content_type = Some("application/json".into());
    expected.content_encoding = Some("utf-8".into());
    expected.headers = Some(FieldTable::new());
    expected.delivery_mode = Some(DeliveryMode::Persistent);
    expected.priority = Some(0);
    assert_eq!(message.properties(), &expected);
    assert_eq!(
        message.payload().unwrap(),
        &common::json(json!({"hello": "world"}))
    );
}

#[tokio::test]
async fn routing_key_option_overrides_the_producer_default() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    let a = declare(
        &ch,
        Queue::new(common::name(t, "a")).bind_to(x.clone(), "a"),
    )
    .await;
    let b = declare(
        &ch,
        Queue::new(common::name(t, "b")).bind_to(x.clone(), "b"),
    )
    .await;

    let producer = Producer::new(&ch).exchange(x).routing_key("a");
    producer.publish(&json!({"n": "default"})).await.unwrap();
    producer
        .publish(&json!({"n": "option"}))
        .routing_key("b")
        .await
        .unwrap();

    assert_eq!(drain_field(&ch, &a, "n").await, ["default"]);
    assert_eq!(drain_field(&ch, &b, "n").await, ["option"]);
}

#[tokio::test]
async fn exchange_option_publishes_to_another_exchange() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let main = Exchange::new(common::name(t, "main"), ExchangeKind::Direct);
    let other = Exchange::new(common::name(t, "other"), ExchangeKind::Fanout);
    let on_main = declare(
        &ch,
        Queue::new(common::name(t, "m")).bind_to(main.clone(), "k"),
    )
    .await;
    let on_other = declare(
        &ch,
        Queue::new(common::name(t, "o")).bind_to(other.clone(), ""),
    )
    .await;

    let producer = Producer::new(&ch).exchange(main).routing_key("k");
    producer
        .publish(&json!({"n": 1}))
        .exchange(other.name.as_str())
        .await
        .unwrap();

    assert!(drain_field(&ch, &on_main, "n").await.is_empty());
    let got = common::drain_until_marker(&ch, &on_other).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].exchange(), other.name);
    assert_eq!(common::int_field(&got[0], "n"), 1);
}

#[tokio::test]
async fn yaml_serializer_sends_yaml() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let body = json!({"name": "cat.mp4", "size": 3});

    Producer::new(&ch)
        .publish(&body)
        .routing_key(q.name())
        .serializer("yaml")
        .await
        .unwrap();

    let message = get_one(&q).await;
    assert_eq!(message.content_type(), Some("application/x-yaml"));
    assert_eq!(message.content_encoding(), Some("utf-8"));
    assert_eq!(common::decode_any(&message), common::json(body));
    // The default accept list (JSON) refuses it.
    assert!(message.payload().unwrap_err().is_content_disallowed());
}

#[tokio::test]
async fn msgpack_serializer_sends_msgpack() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let body = json!({"name": "cat.mp4", "sizes": [1, 2, 3]});

    Producer::new(&ch)
        .publish(&body)
        .routing_key(q.name())
        .serializer("msgpack")
        .await
        .unwrap();

    let message = get_one(&q).await;
    assert_eq!(message.content_type(), Some("application/x-msgpack"));
    assert_eq!(message.content_encoding(), Some("binary"));
    assert_eq!(common::decode_any(&message), common::json(body));
}

#[tokio::test]
async fn pickle_cannot_be_produced() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let err = Producer::new(&ch)
        .publish(&json!({"a": 1}))
        .routing_key(q.name())
        .serializer("pickle")
        .await
        .unwrap_err();
    assert!(err.is_encode(), "{err}");
    assert!(common::drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn unknown_serializer_is_an_error() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let err = Producer::new(&ch)
        .publish(&json!({"a": 1}))
        .routing_key(q.name())
        .serializer("cbor-not-registered")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SerializerNotInstalled, "{err}");
}

#[tokio::test]
async fn zlib_compression_names_the_codec_in_a_header_and_keeps_the_content_type() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let body = json!({"text": "spam ".repeat(100)});

    Producer::new(&ch)
        .publish(&body)
        .routing_key(q.name())
        .compression("zlib")
        .await
        .unwrap();

    let message = get_one(&q).await;
    assert_eq!(
        message.header("compression"),
        Some(&FieldValue::from("application/x-gzip"))
    );
    assert_eq!(message.content_type(), Some("application/json"));
    assert_eq!(message.content_encoding(), Some("utf-8"));
    assert_eq!(message.body(), serde_json::to_vec(&body).unwrap());
    assert_eq!(message.payload().unwrap(), &common::json(body));
}

#[tokio::test]
async fn compressed_body_travels_compressed() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let body = json!({"text": "spam ".repeat(100)});

    // A mandatory publish that reaches no queue hands back the message as it was sent.
    let err = Producer::new(&ch)
        .publish(&body)
        .routing_key(common::name(t, "nowhere"))
        .compression("zlib")
        .mandatory(true)
        .await
        .unwrap_err();
    let sent = err.returned_message().unwrap();
    assert_ne!(sent.body, serde_json::to_vec(&body).unwrap());
    assert_eq!(
        Compression::Zlib
            .decompress(&sent.body, DEFAULT_MAX_DECOMPRESSED)
            .unwrap(),
        serde_json::to_vec(&body).unwrap()
    );
}

#[tokio::test]
async fn every_available_codec_round_trips() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    for (alias, codec) in [
        ("zlib", Compression::Zlib),
        ("bzip2", Compression::Bzip2),
        ("xz", Compression::Xz),
        ("brotli", Compression::Brotli),
        ("zstd", Compression::Zstd),
    ] {
        let body = json!({"codec": alias, "filler": "x".repeat(200)});
        let sent = producer.publish(&body).compression(alias).await;
        if !codec.is_available() {
            assert_eq!(sent.unwrap_err().kind(), ErrorKind::Compression, "{alias}");
            continue;
        }
        sent.unwrap();
        let message = get_one(&q).await;
        assert_eq!(
            message.header("compression"),
            Some(&FieldValue::from(codec.mime_type())),
            "{alias}"
        );
        assert_eq!(message.payload().unwrap(), &common::json(body), "{alias}");
        message.ack().unwrap();
    }
}

#[tokio::test]
async fn headers_are_sent_with_the_message() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let mut more = FieldTable::new();
    more.insert("flag".into(), true.into());

    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .header("format", "mp4")
        .header("size", 42i32)
        .headers(more)
        .await
        .unwrap();

    let message = get_one(&q).await;
    let mut expected = FieldTable::new();
    expected.insert("format".into(), "mp4".into());
    expected.insert("size".into(), common::arrived(FieldValue::I32(42)));
    expected.insert("flag".into(), common::arrived(FieldValue::Bool(true)));
    assert_eq!(message.headers(), Some(&expected));
    if !common::is_stomp() {
        assert_eq!(
            message.header("size").and_then(FieldValue::as_i64),
            Some(42)
        );
    }
}

#[tokio::test]
async fn priority_is_sent() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .priority(7)
        .await
        .unwrap();
    assert_eq!(get_one(&q).await.properties().priority, Some(7));
}

#[tokio::test]
async fn expiration_is_sent_as_a_duration() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .expiration(Duration::from_secs(60))
        .await
        .unwrap();
    let message = get_one(&q).await;
    assert_eq!(
        message.properties().expiration,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        message.properties().expiration_wire().as_deref(),
        Some("60000")
    );
}

#[tokio::test]
async fn delivery_mode_option_makes_a_message_transient() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .delivery_mode(DeliveryMode::Transient)
        .await
        .unwrap();
    assert_eq!(
        get_one(&q).await.properties().delivery_mode,
        common::transient()
    );
}

#[tokio::test]
async fn mandatory_publish_that_reaches_no_queue_is_unroutable_and_hands_back_the_message() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(x.clone(), "bound"),
    )
    .await;
    let producer = Producer::new(&ch).exchange(x);
    let body = json!({"lost": true});

    let err = producer
        .publish(&body)
        .routing_key("unbound")
        .mandatory(true)
        .header("h", "v")
        .await
        .unwrap_err();
    assert!(err.is_unroutable(), "{err}");
    let returned = err.returned_message().expect("the message is handed back");
    assert_eq!(returned.body, serde_json::to_vec(&body).unwrap());
    assert_eq!(
        returned.properties.content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(
        returned
            .properties
            .headers
            .as_ref()
            .and_then(|h| h.get("h")),
        Some(&FieldValue::from("v"))
    );
    let owned = err.into_returned_message().unwrap();
    assert_eq!(owned.body, serde_json::to_vec(&body).unwrap());

    // Routable: no error, and the message arrives.
    producer
        .publish(&json!({"n": "ok"}))
        .routing_key("bound")
        .mandatory(true)
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &q, "n").await, ["ok"]);
}

#[tokio::test]
async fn a_mandatory_publish_on_a_closed_channel_fails() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name());
    ch.close().await.unwrap();
    // Over AMQP a mandatory publish goes through a companion channel; a closed channel must
    // not open one and publish anyway.
    let sent = producer
        .publish(&json!({"late": true}))
        .mandatory(true)
        .await;
    assert!(sent.is_err(), "published on a closed channel");
}

#[tokio::test]
async fn message_properties_are_sent_when_given() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    // RabbitMQ checks user_id against the connection's user.
    let user = conn.url().userid.clone();
    Producer::new(&ch)
        .publish(&json!({}))
        .routing_key(q.name())
        .reply_to("replies")
        .correlation_id("corr-1")
        .message_id("msg-1")
        .timestamp(1_700_000_000)
        .kind("video.uploaded")
        .app_id("uploader")
        .user_id(user.as_str())
        .await
        .unwrap();

    let message = get_one(&q).await;
    let p = message.properties();
    assert_eq!(p.reply_to.as_deref(), Some("replies"));
    assert_eq!(p.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(p.message_id.as_deref(), Some("msg-1"));
    assert_eq!(p.timestamp, Some(1_700_000_000));
    assert_eq!(p.kind.as_deref(), Some("video.uploaded"));
    assert_eq!(p.app_id.as_deref(), Some("uploader"));
    assert_eq!(p.user_id.as_deref(), Some(user.as_str()));
}

#[tokio::test]
async fn declare_option_declares_entities_before_publishing() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    let extra = Exchange::new(common::name(t, "extra"), ExchangeKind::Fanout);
    let queue = Queue::new(common::name(t, "q")).bind_to(x.clone(), "k");

    Producer::new(&ch)
        .exchange(x)
        .routing_key("k")
        .publish(&json!({"n": "first"}))
        .declare(queue.clone())
        .declare(extra.clone())
        .await
        .unwrap();

    // The queue and its binding existed before the message was routed.
    let q = queue.attach(&ch);
    assert_eq!(drain_field(&ch, &q, "n").await, ["first"]);
    let check = conn.channel().await.unwrap();
    extra.passive(true).attach(&check).declare().await.unwrap();
}

#[tokio::test]
async fn raw_bytes_with_a_content_type_are_sent_unserialized() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let jpeg: Vec<u8> = vec![
        0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];

    // Python: producer.publish(image, content_type="image/jpeg", content_encoding="binary")
    Producer::new(&ch)
        .publish_body(jpeg.clone())
        .routing_key(q.name())
        .content_type("image/jpeg")
        .content_encoding("binary")
        .await
        .unwrap();

    let message = get_one(&q).await;
    assert_eq!(message.body(), jpeg.as_slice());
    assert_eq!(message.content_type(), Some("image/jpeg"));
    assert_eq!(message.content_encoding(), Some("binary"));
    assert_eq!(common::decode_any(&message), Value::Bytes(jpeg));
}

#[tokio::test]
async fn raw_bytes_with_a_content_type_default_to_binary_encoding() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish_body(vec![1u8, 2, 3])
        .routing_key(q.name())
        .content_type("image/png")
        .await
        .unwrap();
    let message = get_one(&q).await;
    assert_eq!(message.body(), [1, 2, 3]);
    assert_eq!(message.content_type(), Some("image/png"));
    assert_eq!(message.content_encoding(), Some("binary"));
}

#[tokio::test]
async fn raw_bytes_without_a_content_type_are_application_data() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish_body(vec![0u8, 159, 146, 150])
        .routing_key(q.name())
        .await
        .unwrap();
    let message = get_one(&q).await;
    assert_eq!(message.content_type(), Some("application/data"));
    assert_eq!(message.content_encoding(), Some("binary"));
    assert_eq!(message.body(), [0, 159, 146, 150]);
    // Always accepted, decoded to bytes.
    assert_eq!(
        message.payload().unwrap(),
        &Value::Bytes(vec![0, 159, 146, 150])
    );
}

#[tokio::test]
async fn text_is_sent_as_text_plain() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    Producer::new(&ch)
        .publish_body("héllo wörld")
        .routing_key(q.name())
        .await
        .unwrap();
    let message = get_one(&q).await;
    assert_eq!(message.content_type(), Some("text/plain"));
    assert_eq!(message.content_encoding(), Some("utf-8"));
    assert_eq!(message.body(), "héllo wörld".as_bytes());
    assert_eq!(message.payload().unwrap(), &Value::from("héllo wörld"));
}

#[tokio::test]
async fn content_type_on_a_serialized_value_is_an_error() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let err = Producer::new(&ch)
        .publish(&json!({"a": 1}))
        .routing_key(q.name())
        .content_type("application/json")
        .await
        .unwrap_err();
    assert!(err.is_encode(), "{err}");
    assert!(common::drain_until_marker(&ch, &q).await.is_empty());
}

#[tokio::test]
async fn producer_defaults_apply_to_every_publish() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(x.clone(), "rk"),
    )
    .await;
    let producer = Producer::new(&ch)
        .exchange(x.clone())
        .routing_key("rk")
        .serializer("msgpack")
        .compression("zlib")
        .delivery_mode(DeliveryMode::Transient)
        .header("origin", "defaults");

    for n in 0..2i64 {
        producer.publish(&json!({"n": n})).await.unwrap();
    }
    for n in 0..2i64 {
        let message = get_one(&q).await;
        assert_eq!(message.exchange(), x.name);
        assert_eq!(message.routing_key(), "rk");
        assert_eq!(message.content_type(), Some("application/x-msgpack"));
        assert_eq!(
            message.header("compression"),
            Some(&FieldValue::from("application/x-gzip"))
        );
        assert_eq!(message.properties().delivery_mode, common::transient());
        assert_eq!(
            message.header("origin"),
            Some(&FieldValue::from("defaults"))
        );
        assert_eq!(common::decode_any(&message), common::json(json!({"n": n})));
        message.ack().unwrap();
    }
}

#[tokio::test]
async fn publish_options_win_over_producer_defaults() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch)
        .routing_key(q.name())
        .serializer("msgpack")
        .delivery_mode(DeliveryMode::Transient)
        .header("origin", "defaults")
        .header("kept", 1i32);

    producer
        .publish(&json!({"n": 1}))
        .serializer("json")
        .delivery_mode(DeliveryMode::Persistent)
        .header("origin", "publish")
        .await
        .unwrap();

    let message = get_one(&q).await;
    assert_eq!(message.content_type(), Some("application/json"));
    assert_eq!(
        message.properties().delivery_mode,
        Some(DeliveryMode::Persistent)
    );
    assert_eq!(message.header("origin"), Some(&FieldValue::from("publish")));
    assert_eq!(
        message.header("kept"),
        Some(&common::arrived(FieldValue::I32(1)))
    );
}

#[tokio::test]
async fn exchange_delivery_mode_is_used_when_the_producer_sets_none() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Fanout)
        .delivery_mode(DeliveryMode::Transient);
    let q = declare(&ch, Queue::new(common::name(t, "q")).bind_to(x.clone(), "")).await;
    Producer::new(&ch)
        .exchange(x)
        .publish(&json!({}))
        .await
        .unwrap();
    assert_eq!(
        get_one(&q).await.properties().delivery_mode,
        common::transient()
    );
}

#[tokio::test]
async fn auto_declare_declares_the_exchange_before_the_first_publish() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Topic);
    let producer = Producer::new(&ch).exchange(x.clone());
    producer.publish(&json!({})).await.unwrap();

    let check = conn.channel().await.unwrap();
    x.clone()
        .passive(true)
        .attach(&check)
        .declare()
        .await
        .unwrap();
    // It was declared as described: declaring it again with another type conflicts.
    let check = conn.channel().await.unwrap();
    let err = Exchange::new(x.name.as_str(), ExchangeKind::Fanout)
        .attach(&check)
        .declare()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
}

#[tokio::test]
async fn without_auto_declare_the_exchange_is_not_declared() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Topic);
    let producer = Producer::new(&ch).exchange(x.clone()).auto_declare(false);
    // Publishing to an exchange that does not exist fails (on AMQP it closes the channel).
    let _ = producer.publish(&json!({})).await;

    let check = conn.channel().await.unwrap();
    let err = x.passive(true).attach(&check).declare().await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn producer_declare_declares_the_exchange_now() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Headers);
    let producer = Producer::new(&ch).exchange(x.clone()).auto_declare(false);
    producer.declare().await.unwrap();
    let check = conn.channel().await.unwrap();
    x.passive(true).attach(&check).declare().await.unwrap();
}

#[tokio::test]
async fn confirmed_publish_succeeds_when_the_broker_takes_the_message() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    producer.publish(&json!({"n": "a"})).await.unwrap();
    producer.publish(&json!({"n": "b"})).await.unwrap();
    assert_eq!(drain_field(&ch, &q, "n").await, ["a", "b"]);
}

#[tokio::test]
async fn pipelined_confirms_deliver_every_message_in_order() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    let mut pipeline = producer.pipeline(16);
    for n in 0..200 {
        pipeline
            .send(producer.publish(&json!({"n": n})))
            .await
            .unwrap();
        assert!(
            pipeline.in_flight() <= 16,
            "the window bounds what is unconfirmed"
        );
    }
    pipeline.flush().await.unwrap();
    assert_eq!(pipeline.in_flight(), 0);
    common::wait_for_ready(&q, 200).await;
    for n in 0..200 {
        let m = get_one(&q).await;
        assert_eq!(common::int_field(&m, "n"), n);
        m.ack().unwrap();
    }
}

#[tokio::test]
async fn a_pipelined_nack_hands_back_the_refused_message() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .max_length(1)
            .overflow(kombu::Overflow::RejectPublish),
    )
    .await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    let mut pipeline = producer.pipeline(8);
    pipeline
        .send(producer.publish(&json!({"n": 1})))
        .await
        .unwrap();
    pipeline
        .send(producer.publish(&json!({"n": 2})))
        .await
        .unwrap();
    let err = pipeline.flush().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Nacked, "{err}");
    let returned = err
        .returned_message()
        .expect("the refused message comes back");
    assert_eq!(&returned.body[..], br#"{"n":2}"#);
}

/// An `Arc<Producer>` shared by many tasks from its very first publish (a web service's
/// case): every publish is confirmed by the broker or fails, none is taken for confirmed
/// without the broker's word, and the queue holds exactly what was confirmed. Repeated on
/// fresh producers, since the first use is where confirm mode is switched on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_a_fresh_confirming_producer_get_every_publish_confirmed() {
    const TASKS: usize = 32;
    let per_task: usize = if common::transport() == "amqp" {
        2000
    } else {
        300
    };
    let t = test_name!();
    for round in 0..3 {
        let (conn, ch) = open(t).await;
        let q = declare(&ch, Queue::new(common::name(t, &format!("q{round}")))).await;
        let producer = std::sync::Arc::new(Producer::new(&ch).routing_key(q.name()).confirm(true));
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..TASKS {
            let producer = std::sync::Arc::clone(&producer);
            tasks.spawn(async move {
                let mut confirmed = 0usize;
                let mut failed = Vec::new();
                for n in 0..per_task {
                    match producer.publish(&json!({"t": task, "n": n})).await {
                        Ok(()) => confirmed += 1,
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (confirmed, failed)
            });
        }
        let mut confirmed = 0;
        let mut failed = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (ok, errors) = done.unwrap();
            confirmed += ok;
            failed.extend(errors);
        }
        assert!(
            failed.is_empty(),
            "round {round}: {} publishes failed on a healthy broker, first: {}",
            failed.len(),
            failed[0]
        );
        assert_eq!(confirmed, TASKS * per_task, "round {round}");
        common::wait_for_ready(&q, u32::try_from(confirmed).unwrap()).await;
        q.delete(false, false).await.unwrap();
        conn.close().await.unwrap();
    }
}

/// `Connection::close` waits for the confirms of publishes already made, so a pipeline
/// flushed after it learns that the broker took every message.
#[tokio::test]
async fn close_waits_for_outstanding_confirms() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    let mut pipeline = producer.pipeline(1000);
    for n in 0..1000 {
        pipeline
            .send(producer.publish(&json!({"n": n})))
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    pipeline.flush().await.unwrap();

    let (_check_conn, check) = open(t).await;
    let q = q.queue().clone().attach(&check);
    common::wait_for_ready(&q, 1000).await;
    q.delete(false, false).await.unwrap();
}

#[tokio::test]
async fn a_cloned_producer_publishes_with_the_same_settings_from_another_task() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, kombu::Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch)
        .routing_key(q.name())
        .header("origin", "billing")
        .confirm(true);
    let clone = producer.clone();
    tokio::spawn(async move { clone.publish(&json!({ "from": "clone" })).await })
        .await
        .unwrap()
        .unwrap();
    producer
        .publish(&json!({ "from": "original" }))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let message = get_one(&q).await;
        assert_eq!(
            message.header("origin").and_then(|v| v.as_str()),
            Some("billing")
        );
        seen.push(common::str_field(&message, "from"));
    }
    seen.sort();
    assert_eq!(seen, ["clone", "original"]);
    q.delete(false, false).await.unwrap();
}

#[tokio::test]
async fn pipeline_publish_sends_bodies_with_the_producers_defaults() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, kombu::Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    let mut pipeline = producer.pipeline(16);
    for n in 0..50 {
        pipeline.publish(&json!({ "n": n })).await.unwrap();
    }
    pipeline.flush().await.unwrap();
    assert_eq!(pipeline.in_flight(), 0);
    common::wait_for_ready(&q, 50).await;
    q.purge().await.unwrap();
    q.delete(false, false).await.unwrap();
}

/// `Pipeline::publish_all` takes an iterator: every message arrives, in order, within the
/// window; a value that cannot be encoded stops it there, with what came before published.
#[tokio::test]
async fn publish_all_sends_an_iterator_in_order_and_stops_at_the_first_bad_value() {
    #[derive(serde::Serialize)]
    #[serde(untagged)]
    enum Item {
        N(u32),
        // JSON object keys must be strings: this map cannot be encoded.
        Bad(std::collections::BTreeMap<Vec<u8>, u8>),
    }
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    let mut pipeline = producer.pipeline(16);
    pipeline
        .publish_all((0..300).map(|n| json!({ "n": n })))
        .await
        .unwrap();
    assert!(
        pipeline.in_flight() <= 16,
        "the window bounds what is unconfirmed"
    );
    pipeline.flush().await.unwrap();
    common::wait_for_ready(&q, 300).await;
    for n in 0..300 {
        let m = get_one(&q).await;
        assert_eq!(common::int_field(&m, "n"), n);
        m.ack().unwrap();
    }

    let bad = std::collections::BTreeMap::from([(vec![1u8], 1u8)]);
    let items = (0..100)
        .map(Item::N)
        .chain([Item::Bad(bad)])
        .chain((100..200).map(Item::N));
    let err = pipeline.publish_all(items).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Encode, "{err}");
    pipeline.flush().await.unwrap();
    common::wait_for_ready(&q, 100).await;
    assert_eq!(q.status().await.unwrap().message_count, 100);
    q.purge().await.unwrap();
    q.delete(false, false).await.unwrap();
}
