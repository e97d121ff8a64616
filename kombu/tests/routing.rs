//! Routing through the broker, as RabbitMQ routes: direct, fanout, topic and headers exchanges,
//! the default exchange, exchange-to-exchange bindings, alternate exchanges, mandatory publishes,
//! and one copy per queue however many bindings match.
//!
//! Which queues a message reached is read with a marker (see `common::drain_until_marker`), so
//! "did not arrive" is proved by order, not by waiting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use kombu::{
    Binding, BoundQueue, Channel, Exchange, ExchangeKind, FieldTable, FieldValue, Producer, Queue,
};
use serde_json::json;

use common::{declare, drain_field, drain_set, open, set, test_name};

/// Declare an exchange of `kind` and one queue per binding key, publish one message per routing
/// key (its body names the key), and return, per binding, the keys its queue received.
async fn route_keys(
    t: &str,
    kind: ExchangeKind,
    bindings: &[&str],
    keys: &[&str],
) -> Vec<BTreeSet<String>> {
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), kind);
    let mut queues = Vec::new();
    for (i, binding) in bindings.iter().enumerate() {
        let queue = Queue::new(common::name(t, &format!("q{i}"))).bind_to(x.clone(), *binding);
        queues.push(declare(&ch, queue).await);
    }
    let producer = Producer::new(&ch).exchange(x);
    for key in keys {
        producer
            .publish(&json!({ "key": key }))
            .routing_key(*key)
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    for queue in &queues {
        received.push(drain_set(&ch, queue, "key").await);
    }
    received
}

fn expect(bindings: &[&str], got: &[BTreeSet<String>], expected: &[&[&str]]) {
    for ((binding, got), expected) in bindings.iter().zip(got).zip(expected) {
        assert_eq!(got, &set(expected), "binding key `{binding}`");
    }
}

// ---- topic -------------------------------------------------------------------------------

#[tokio::test]
async fn topic_hash_matches_zero_or_more_words() {
    let bindings = ["a.#", "#.a", "a.#.b", "#"];
    let keys = ["a", "a.b", "a.b.c", "b", "", "x.a", "a.x.y.b"];
    let got = route_keys(test_name!(), ExchangeKind::Topic, &bindings, &keys).await;
    expect(
        &bindings,
        &got,
        &[
            &["a", "a.b", "a.b.c", "a.x.y.b"],
            &["a", "x.a"],
            &["a.b", "a.x.y.b"],
            &keys,
        ],
    );
}

#[tokio::test]
async fn topic_star_matches_exactly_one_word() {
    let bindings = ["*", "*.*", "a.*", "*.stock.#"];
    let keys = [
        "",
        "a",
        "a.b",
        ".",
        "a.",
        "a.b.c",
        "usd.stock",
        "eur.stock.db",
        "stock.nasdaq",
    ];
    let got = route_keys(test_name!(), ExchangeKind::Topic, &bindings, &keys).await;
    expect(
        &bindings,
        &got,
        &[
            &["a"],
            &["a.b", ".", "a.", "usd.stock", "stock.nasdaq"],
            &["a.b", "a."],
            &["usd.stock", "eur.stock.db"],
        ],
    );
}

#[tokio::test]
async fn topic_words_may_be_empty() {
    let bindings = ["a.*.b", "a..b", "#.b", "*"];
    let keys = ["a..b", "a.b", "a.x.b", ".b", "."];
    let got = route_keys(test_name!(), ExchangeKind::Topic, &bindings, &keys).await;
    expect(
        &bindings,
        &got,
        &[
            &["a..b", "a.x.b"],
            &["a..b"],
            &["a..b", "a.b", "a.x.b", ".b"],
            &[],
        ],
    );
}

#[tokio::test]
async fn topic_wildcards_inside_a_word_are_literal_characters() {
    let bindings = ["a*", "a#.b", "*b"];
    let keys = ["a*", "ab", "a#.b", "ax.b", "*b", "bb"];
    let got = route_keys(test_name!(), ExchangeKind::Topic, &bindings, &keys).await;
    expect(&bindings, &got, &[&["a*"], &["a#.b"], &["*b"]]);
}

#[tokio::test]
async fn topic_queue_with_several_matching_bindings_receives_one_copy() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Topic);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .bind_to(x.clone(), "a.*")
            .bind_to(x.clone(), "#")
            .bind_to(x.clone(), "a.b")
            .bind_to(x.clone(), "*.b.#"),
    )
    .await;
    Producer::new(&ch)
        .exchange(x)
        .publish(&json!({"key": "a.b"}))
        .routing_key("a.b")
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["a.b"]);
}

// ---- direct ------------------------------------------------------------------------------

#[tokio::test]
async fn direct_routes_on_exact_key_equality() {
    let bindings = ["video", "Video", "video.mp4", ""];
    let keys = ["video", "Video", "video.mp4", "", "vid", "video ", "#"];
    let got = route_keys(test_name!(), ExchangeKind::Direct, &bindings, &keys).await;
    expect(
        &bindings,
        &got,
        &[&["video"], &["Video"], &["video.mp4"], &[""]],
    );
}

#[tokio::test]
async fn direct_queues_sharing_a_key_each_receive_a_copy() {
    let bindings = ["shared", "shared", "other"];
    let got = route_keys(
        test_name!(),
        ExchangeKind::Direct,
        &bindings,
        &["shared", "other"],
    )
    .await;
    expect(&bindings, &got, &[&["shared"], &["shared"], &["other"]]);
}

#[tokio::test]
async fn direct_queue_bound_twice_with_one_key_receives_one_copy() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .bind_to(x.clone(), "k")
            .bind_to(x.clone(), "k"),
    )
    .await;
    q.bind_to(&x.name, "k", &FieldTable::new()).await.unwrap();
    Producer::new(&ch)
        .exchange(x)
        .publish(&json!({"key": "k"}))
        .routing_key("k")
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["k"]);
}

#[tokio::test]
async fn unbound_queue_no_longer_receives() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .bind_to(x.clone(), "a")
            .bind_to(x.clone(), "b"),
    )
    .await;
    q.unbind_from(&x.name, "a", &FieldTable::new())
        .await
        .unwrap();
    let producer = Producer::new(&ch).exchange(x);
    for key in ["a", "b"] {
        producer
            .publish(&json!({ "key": key }))
            .routing_key(key)
            .await
            .unwrap();
    }
    assert_eq!(drain_field(&ch, &q, "key").await, ["b"]);
}

// ---- fanout ------------------------------------------------------------------------------

#[tokio::test]
async fn fanout_copies_to_every_bound_queue_whatever_the_key() {
    let bindings = ["", "ignored", "#"];
    let keys = ["", "anything", "a.b"];
    let got = route_keys(test_name!(), ExchangeKind::Fanout, &bindings, &keys).await;
    expect(&bindings, &got, &[&keys, &keys, &keys]);
}

// ---- headers -----------------------------------------------------------------------------

/// One queue per binding (given as its arguments) on a headers exchange; one message per header
/// set (named by `id`, published with a routing key that matches no binding key); returns the
/// ids each queue received.
async fn route_headers(
    t: &str,
    bindings: &[FieldTable],
    messages: &[(&str, FieldTable)],
) -> Vec<BTreeSet<String>> {
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Headers);
    let mut queues = Vec::new();
    for (i, arguments) in bindings.iter().enumerate() {
        let mut binding = Binding::new(x.clone(), "bound-key");
        binding.arguments = arguments.clone();
        let queue = Queue::new(common::name(t, &format!("q{i}"))).binding(binding);
        queues.push(declare(&ch, queue).await);
    }
    let producer = Producer::new(&ch).exchange(x);
    for (id, headers) in messages {
        producer
            .publish(&json!({ "id": id }))
            .routing_key("not-the-bound-key")
            .headers(headers.clone())
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    for queue in &queues {
        received.push(drain_set(&ch, queue, "id").await);
    }
    received
}

fn table<const N: usize>(entries: [(&str, FieldValue); N]) -> FieldTable {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn s(v: &str) -> FieldValue {
    FieldValue::from(v)
}

#[tokio::test]
async fn headers_all_needs_every_argument_with_an_equal_value_and_type() {
    let bindings = [
        table([
            ("x-match", s("all")),
            ("format", s("mp4")),
            ("size", FieldValue::I32(1)),
        ]),
        // `all` is the default.
        table([("format", s("mp4")), ("size", FieldValue::I32(1))]),
    ];
    let messages = [
        (
            "both",
            table([("format", s("mp4")), ("size", FieldValue::I32(1))]),
        ),
        (
            "both-and-more",
            table([
                ("format", s("mp4")),
                ("size", FieldValue::I32(1)),
                ("extra", s("y")),
            ]),
        ),
        ("one", table([("format", s("mp4"))])),
        (
            "other-value",
            table([("format", s("avi")), ("size", FieldValue::I32(1))]),
        ),
        (
            "string-not-int",
            table([("format", s("mp4")), ("size", s("1"))]),
        ),
        ("none", FieldTable::new()),
    ];
    let got = route_headers(test_name!(), &bindings, &messages).await;
    assert_eq!(got[0], set(&["both", "both-and-more"]), "x-match all");
    assert_eq!(got[1], set(&["both", "both-and-more"]), "default match");
}

#[tokio::test]
async fn headers_any_needs_one_argument_with_an_equal_value() {
    let bindings = [table([
        ("x-match", s("any")),
        ("format", s("mp4")),
        ("size", FieldValue::I32(1)),
    ])];
    let messages = [
        ("format", table([("format", s("mp4"))])),
        (
            "size",
            table([("size", FieldValue::I32(1)), ("format", s("avi"))]),
        ),
        (
            "neither",
            table([("format", s("avi")), ("size", FieldValue::I32(2))]),
        ),
        ("string-not-int", table([("size", s("1"))])),
        ("none", FieldTable::new()),
    ];
    let got = route_headers(test_name!(), &bindings, &messages).await;
    assert_eq!(got[0], set(&["format", "size"]));
}

#[tokio::test]
async fn headers_all_without_arguments_matches_everything_and_any_matches_nothing() {
    let bindings = [
        table([("x-match", s("all"))]),
        table([("x-match", s("any"))]),
    ];
    let messages = [
        ("empty", FieldTable::new()),
        ("some", table([("format", s("mp4"))])),
    ];
    let got = route_headers(test_name!(), &bindings, &messages).await;
    assert_eq!(got[0], set(&["empty", "some"]), "all");
    assert_eq!(got[1], set(&[]), "any");
}

#[tokio::test]
async fn headers_x_arguments_are_ignored_in_matching() {
    let bindings = [
        table([
            ("x-match", s("all")),
            ("x-tenant", s("acme")),
            ("format", s("mp4")),
        ]),
        table([("x-match", s("any")), ("x-tenant", s("acme"))]),
    ];
    let messages = [
        ("format-only", table([("format", s("mp4"))])),
        ("tenant-only", table([("x-tenant", s("acme"))])),
    ];
    let got = route_headers(test_name!(), &bindings, &messages).await;
    assert_eq!(got[0], set(&["format-only"]), "all ignores x-tenant");
    assert_eq!(
        got[1],
        set(&[]),
        "any with only x- arguments has nothing to match"
    );
}

#[tokio::test]
async fn headers_with_x_modes_compare_x_arguments_too() {
    let bindings = [
        table([
            ("x-match", s("all-with-x")),
            ("x-tenant", s("acme")),
            ("format", s("mp4")),
        ]),
        table([("x-match", s("any-with-x")), ("x-tenant", s("acme"))]),
    ];
    let messages = [
        ("format-only", table([("format", s("mp4"))])),
        ("tenant-only", table([("x-tenant", s("acme"))])),
        (
            "both",
            table([("x-tenant", s("acme")), ("format", s("mp4"))]),
        ),
    ];
    let got = route_headers(test_name!(), &bindings, &messages).await;
    assert_eq!(got[0], set(&["both"]), "all-with-x");
    assert_eq!(got[1], set(&["tenant-only", "both"]), "any-with-x");
}

/// RabbitMQ compares header values with Erlang's `==`: numbers by value, whatever their width
/// or float-ness; a number never equals text.
#[tokio::test]
async fn headers_compare_numbers_by_value_whatever_their_width() {
    let bindings = [table([("size", FieldValue::I32(1))])];
    let messages = [
        ("i64", table([("size", FieldValue::I64(1))])),
        ("u8", table([("size", FieldValue::U8(1))])),
        ("float", table([("size", FieldValue::F64(1.0))])),
        ("other", table([("size", FieldValue::I64(2))])),
        ("text", table([("size", s("1"))])),
    ];
    let got = route_headers(test_name!(), &bindings, &messages).await;
    assert_eq!(got[0], set(&["i64", "u8", "float"]));
}

#[tokio::test]
async fn headers_void_binding_value_matches_any_value_of_the_header() {
    let bindings = [table([("format", FieldValue::Void)])];
    let messages = [
        ("mp4", table([("format", s("mp4"))])),
        ("int", table([("format", FieldValue::I32(3))])),
        ("absent", table([("other", s("x"))])),
    ];
    let got = route_headers(test_name!(), &bindings, &messages).await;
    assert_eq!(got[0], set(&["mp4", "int"]));
}

#[tokio::test]
async fn headers_queue_with_several_matching_bindings_receives_one_copy() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Headers);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .binding(Binding::new(x.clone(), "").argument("format", "mp4"))
            .binding(
                Binding::new(x.clone(), "")
                    .argument("x-match", "any")
                    .argument("size", 1i32),
            ),
    )
    .await;
    Producer::new(&ch)
        .exchange(x)
        .publish(&json!({"key": "both"}))
        .header("format", "mp4")
        .header("size", 1i32)
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["both"]);
}

// ---- default exchange --------------------------------------------------------------------

#[tokio::test]
async fn default_exchange_routes_to_the_queue_the_key_names() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let a = declare(&ch, Queue::new(common::name(t, "a"))).await;
    let b = declare(&ch, Queue::new(common::name(t, "b"))).await;
    let producer = Producer::new(&ch);
    producer
        .publish(&json!({"key": "to-a"}))
        .routing_key(a.name())
        .await
        .unwrap();
    let err = producer
        .publish(&json!({"key": "nowhere"}))
        .routing_key(common::name(t, "no-such-queue"))
        .mandatory(true)
        .await
        .unwrap_err();
    assert!(err.is_unroutable(), "{err}");

    let received = common::drain_until_marker(&ch, &a).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].exchange(), "");
    assert_eq!(received[0].routing_key(), a.name());
    assert!(drain_field(&ch, &b, "key").await.is_empty());
}

#[tokio::test]
async fn default_exchange_cannot_be_bound_or_deleted() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;

    let err = q
        .queue()
        .attach(&conn.channel().await.unwrap())
        .bind_to("", "anything", &FieldTable::new())
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "bind: {err}");

    let err = Exchange::default_exchange()
        .attach(&conn.channel().await.unwrap())
        .delete(false)
        .await
        .unwrap_err();
    assert!(err.is_access_refused(), "delete: {err}");

    // Still routing by queue name.
    Producer::new(&ch)
        .publish(&json!({"key": "still"}))
        .routing_key(q.name())
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["still"]);
}

// ---- exchange to exchange ----------------------------------------------------------------

#[tokio::test]
async fn exchange_to_exchange_bindings_route_through_chains() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let entry = Exchange::new(common::name(t, "entry"), ExchangeKind::Topic);
    let media = Exchange::new(common::name(t, "media"), ExchangeKind::Direct)
        .bind_to(entry.clone(), "media.#");
    let video = Exchange::new(common::name(t, "video"), ExchangeKind::Fanout)
        .bind_to(media.clone(), "media.video");
    ch.declare_exchange(&video).await.unwrap();
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(video.clone(), ""),
    )
    .await;

    let producer = Producer::new(&ch).exchange(entry);
    for key in ["media.video", "media.audio", "other.video"] {
        producer
            .publish(&json!({ "key": key }))
            .routing_key(key)
            .await
            .unwrap();
    }
    let received = common::drain_until_marker(&ch, &q).await;
    assert_eq!(received.len(), 1);
    assert_eq!(common::str_field(&received[0], "key"), "media.video");
    assert_eq!(received[0].routing_key(), "media.video");
}

#[tokio::test]
async fn a_message_reaches_a_queue_once_through_several_paths() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let top = Exchange::new(common::name(t, "top"), ExchangeKind::Fanout);
    let left =
        Exchange::new(common::name(t, "left"), ExchangeKind::Fanout).bind_to(top.clone(), "");
    let right =
        Exchange::new(common::name(t, "right"), ExchangeKind::Fanout).bind_to(top.clone(), "");
    ch.declare_exchange(&left).await.unwrap();
    ch.declare_exchange(&right).await.unwrap();
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q"))
            .bind_to(left.clone(), "")
            .bind_to(right.clone(), "")
            .bind_to(top.clone(), ""),
    )
    .await;

    Producer::new(&ch)
        .exchange(top)
        .publish(&json!({"key": "once"}))
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["once"]);
}

#[tokio::test]
async fn unbinding_an_exchange_stops_the_flow() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let source = Exchange::new(common::name(t, "source"), ExchangeKind::Direct);
    let destination = Exchange::new(common::name(t, "destination"), ExchangeKind::Fanout)
        .bind_to(source.clone(), "k");
    ch.declare_exchange(&destination).await.unwrap();
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(destination.clone(), ""),
    )
    .await;

    let producer = Producer::new(&ch).exchange(source.clone()).routing_key("k");
    producer.publish(&json!({"key": "before"})).await.unwrap();
    destination
        .attach(&ch)
        .unbind_from(&source.name, "k", &FieldTable::new())
        .await
        .unwrap();
    producer.publish(&json!({"key": "after"})).await.unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["before"]);

    destination
        .attach(&ch)
        .bind_to(&source.name, "k", &FieldTable::new())
        .await
        .unwrap();
    producer.publish(&json!({"key": "again"})).await.unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["again"]);
}

#[tokio::test]
async fn internal_exchange_receives_only_through_exchange_bindings() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let public = Exchange::new(common::name(t, "public"), ExchangeKind::Fanout);
    let internal = Exchange::new(common::name(t, "internal"), ExchangeKind::Fanout)
        .internal(true)
        .bind_to(public.clone(), "");
    ch.declare_exchange(&internal).await.unwrap();
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(internal.clone(), ""),
    )
    .await;

    // Publishing to it directly is refused (on AMQP the channel is closed, so use another).
    let direct = Producer::new(&conn.channel().await.unwrap())
        .exchange(internal.clone())
        .publish(&json!({"key": "direct"}))
        .await;
    if let Err(err) = direct {
        assert!(err.is_access_refused(), "{err}");
    }
    Producer::new(&ch)
        .exchange(public)
        .publish(&json!({"key": "through"}))
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["through"]);
}

// ---- alternate exchange ------------------------------------------------------------------

async fn with_alternate(t: &str, ch: &Channel) -> (Exchange, BoundQueue, BoundQueue) {
    let ae = Exchange::new(common::name(t, "ae"), ExchangeKind::Fanout);
    ch.declare_exchange(&ae).await.unwrap();
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct).alternate_exchange(&ae.name);
    let routed = declare(
        ch,
        Queue::new(common::name(t, "routed")).bind_to(x.clone(), "k"),
    )
    .await;
    let unrouted = declare(ch, Queue::new(common::name(t, "unrouted")).bind_to(ae, "")).await;
    (x, routed, unrouted)
}

#[tokio::test]
async fn alternate_exchange_receives_what_its_exchange_cannot_route() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (x, routed, unrouted) = with_alternate(t, &ch).await;
    let producer = Producer::new(&ch).exchange(x);
    for key in ["k", "other"] {
        producer
            .publish(&json!({ "key": key }))
            .routing_key(key)
            .await
            .unwrap();
    }
    assert_eq!(drain_field(&ch, &routed, "key").await, ["k"]);
    let fallen = common::drain_until_marker(&ch, &unrouted).await;
    assert_eq!(fallen.len(), 1);
    assert_eq!(common::str_field(&fallen[0], "key"), "other");
    assert_eq!(fallen[0].routing_key(), "other", "the key is kept");
}

#[tokio::test]
async fn mandatory_message_taken_by_the_alternate_exchange_is_not_returned() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let (x, _routed, unrouted) = with_alternate(t, &ch).await;
    Producer::new(&ch)
        .exchange(x)
        .publish(&json!({"key": "other"}))
        .routing_key("other")
        .mandatory(true)
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &unrouted, "key").await, ["other"]);
}

#[tokio::test]
async fn mandatory_message_the_alternate_exchange_cannot_route_either_is_returned() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let ae = Exchange::new(common::name(t, "ae"), ExchangeKind::Direct);
    ch.declare_exchange(&ae).await.unwrap();
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Direct).alternate_exchange(&ae.name);
    let err = Producer::new(&ch)
        .exchange(x)
        .publish(&json!({"key": "lost"}))
        .routing_key("lost")
        .mandatory(true)
        .await
        .unwrap_err();
    assert!(err.is_unroutable(), "{err}");
}

// ---- mandatory ---------------------------------------------------------------------------

#[tokio::test]
async fn unroutable_message_is_dropped_unless_mandatory() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let x = Exchange::new(common::name(t, "x"), ExchangeKind::Topic);
    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(x.clone(), "bound.#"),
    )
    .await;
    let producer = Producer::new(&ch).exchange(x);

    producer
        .publish(&json!({"key": "dropped"}))
        .routing_key("elsewhere")
        .await
        .unwrap();
    let err = producer
        .publish(&json!({"key": "returned"}))
        .routing_key("elsewhere")
        .mandatory(true)
        .await
        .unwrap_err();
    assert!(err.is_unroutable(), "{err}");
    assert!(err.message().contains("NO_ROUTE"), "{err}");
    assert_eq!(
        err.returned_message().unwrap().body,
        serde_json::to_vec(&json!({"key": "returned"})).unwrap()
    );
    assert!(drain_field(&ch, &q, "key").await.is_empty());
}

#[tokio::test]
async fn mandatory_message_reaching_a_queue_through_an_exchange_binding_is_not_returned() {
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let source = Exchange::new(common::name(t, "source"), ExchangeKind::Fanout);
    let destination = Exchange::new(common::name(t, "destination"), ExchangeKind::Fanout)
        .bind_to(source.clone(), "");
    ch.declare_exchange(&destination).await.unwrap();
    let producer = Producer::new(&ch).exchange(source);

    // Nothing bound downstream yet: unroutable.
    let err = producer
        .publish(&json!({"key": "early"}))
        .mandatory(true)
        .await
        .unwrap_err();
    assert!(err.is_unroutable(), "{err}");

    let q = declare(
        &ch,
        Queue::new(common::name(t, "q")).bind_to(destination, ""),
    )
    .await;
    producer
        .publish(&json!({"key": "late"}))
        .mandatory(true)
        .await
        .unwrap();
    assert_eq!(drain_field(&ch, &q, "key").await, ["late"]);
}

// ---- sender-selected distribution ------------------------------------------------------

#[tokio::test]
async fn cc_and_bcc_headers_add_routing_keys_and_bcc_is_not_delivered() {
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
    let c = declare(
        &ch,
        Queue::new(common::name(t, "c")).bind_to(x.clone(), "c"),
    )
    .await;
    Producer::new(&ch)
        .exchange(x)
        .publish(&json!({"to": "all"}))
        .routing_key("a")
        .header("CC", FieldValue::Array(vec!["b".into()]))
        .header("BCC", FieldValue::Array(vec!["c".into()]))
        .await
        .unwrap();
    for q in [&a, &b, &c] {
        let m = common::get_one(q).await;
        assert_eq!(
            m.routing_key(),
            "a",
            "delivered with the published routing key"
        );
        assert!(m.header("CC").is_some(), "CC is delivered");
        assert!(m.header("BCC").is_none(), "BCC is never delivered");
    }
}

#[tokio::test]
async fn a_cc_header_that_is_not_an_array_is_refused() {
    let t = test_name!();
    let (conn, _ch) = open(t).await;
    let ch = conn.channel().await.unwrap();
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let err = Producer::new(&ch)
        .routing_key(q.name())
        .confirm(true)
        .publish(&json!({}))
        .header("CC", "other")
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert!(
        err.to_string().contains("unacceptable_type_in_header"),
        "{err}"
    );
}
