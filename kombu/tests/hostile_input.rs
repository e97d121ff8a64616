//! Hostile message bodies: deep nesting and bodies that expand (pickle memo references and
//! DUP, YAML aliases, MARK-built vectors) are decode errors, never a stack overflow or a
//! memory blow-up, on the test thread and on a tokio worker (2 MiB stack) alike; a consumer
//! rejects such a message (dead-lettering it) instead of dropping it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kombu::serialization::{Accept, Registry, MSGPACK, PICKLE, YAML};
use kombu::{Consumer, Exchange, ExchangeKind, Producer, Queue, Value};

use common::{declare, drain_until_marker, open, test_name, WAIT};

/// How deep the hostile bodies nest: far past every decoder's bound.
const DEEP: usize = 10_000;

fn decode(body: &[u8], content_type: &str) -> kombu::Result<Value> {
    Registry::new().decode(body, Some(content_type), None, Some(&Accept::all()))
}

/// `[[[...]]]`, `depth` lists deep, in pickle protocol 2: `depth` EMPTY_LISTs, then an APPEND
/// for each but the outermost (20 KB for 10,000 levels).
fn deep_pickle_lists(depth: usize) -> Vec<u8> {
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b']', depth));
    p.extend(std::iter::repeat_n(b'a', depth - 1));
    p.push(b'.');
    p
}

/// `((((...))))` as MARK ... TUPLE pairs, protocol 0 style.
fn deep_pickle_tuples(depth: usize) -> Vec<u8> {
    let mut p = vec![b'('; depth];
    p.extend(std::iter::repeat_n(b't', depth));
    p.push(b'.');
    p
}

/// Nesting through the memo, as Python writes it: each list is memoized as it is opened and
/// appended to its parent, through its memo reference, once it is complete.
fn deep_pickle_through_the_memo(depth: u32) -> Vec<u8> {
    let mut p = b"\x80\x02".to_vec();
    for id in 0..depth {
        p.extend(b"]r");
        p.extend(id.to_le_bytes());
    }
    p.extend(std::iter::repeat_n(b'a', depth as usize - 1));
    p.push(b'.');
    p
}

/// A list of `n` leaves, memoized, and a list of `n` references to it: n² leaves from 7n
/// bytes.
fn pickle_memo_square(n: usize) -> Vec<u8> {
    let mut p = b"\x80\x02(".to_vec();
    p.extend(std::iter::repeat_n(*b"K\x00", n).flatten());
    p.extend(b"lr\x00\x00\x00\x00(");
    p.extend(std::iter::repeat_n(*b"j\x00\x00\x00\x00", n).flatten());
    p.extend(b"l.");
    p
}

/// A list of two references to the list before it, `levels` times: 2^levels leaves from a
/// few hundred bytes (a "billion laughs" through the memo).
fn pickle_memo_bomb(levels: u32) -> Vec<u8> {
    let mut p = b"\x80\x02K\x00r\x00\x00\x00\x00".to_vec();
    for id in 1..=levels {
        p.extend(b"(j");
        p.extend((id - 1).to_le_bytes());
        p.extend(b"j");
        p.extend((id - 1).to_le_bytes());
        p.extend(b"lr");
        p.extend(id.to_le_bytes());
        p.push(b'0');
    }
    p.extend(b"j");
    p.extend(levels.to_le_bytes());
    p.push(b'.');
    p
}

/// DUP copies the list on top and APPEND puts the copy in it: the list doubles each time.
fn pickle_dup_bomb(doublings: usize) -> Vec<u8> {
    let mut p = b"\x80\x02]K\x00a".to_vec();
    for _ in 0..doublings {
        p.extend(b"2a");
    }
    p.push(b'.');
    p
}

/// A YAML anchor of `n` items and a list of `n` aliases to it: n² nodes from a few bytes each.
fn yaml_alias_square(n: usize) -> Vec<u8> {
    let items = vec!["0"; n].join(",");
    let aliases = vec!["*a"; n].join(",");
    format!("a: &a [{items}]\nb: [{aliases}]\n").into_bytes()
}

/// `depth` msgpack arrays of one element each, around a nil.
fn deep_msgpack(depth: usize) -> Vec<u8> {
    let mut p = vec![0x91; depth];
    p.push(0xc0);
    p
}

fn assert_refused(result: kombu::Result<Value>, what: &str) {
    match result {
        Err(e) => assert!(e.is_decode(), "{what}: {e}"),
        Ok(_) => panic!("{what} decoded instead of being refused"),
    }
}

fn every_hostile_body() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        ("deep pickle lists", deep_pickle_lists(DEEP), PICKLE),
        ("deep pickle tuples", deep_pickle_tuples(DEEP), PICKLE),
        (
            "deep pickle through the memo",
            deep_pickle_through_the_memo(DEEP as u32),
            PICKLE,
        ),
        ("pickle memo bomb", pickle_memo_bomb(22), PICKLE),
        ("pickle memo square", pickle_memo_square(2_000), PICKLE),
        ("pickle DUP bomb", pickle_dup_bomb(22), PICKLE),
        ("YAML alias square", yaml_alias_square(2_000), YAML),
        ("deep msgpack", deep_msgpack(DEEP), MSGPACK),
        ("deep JSON", deep_json(DEEP), kombu::serialization::JSON),
        ("deep YAML", deep_yaml(DEEP), YAML),
    ]
}

fn deep_json(depth: usize) -> Vec<u8> {
    let mut p = vec![b'['; depth];
    p.extend(std::iter::repeat_n(b']', depth));
    p
}

fn deep_yaml(depth: usize) -> Vec<u8> {
    let mut p = vec![b'['; depth];
    p.extend(std::iter::repeat_n(b']', depth));
    p
}

#[test]
fn deep_and_expanding_bodies_are_decode_errors() {
    for (what, body, content_type) in every_hostile_body() {
        assert_refused(decode(&body, content_type), what);
    }
}

#[test]
fn deep_pickle_error_says_what_is_wrong() {
    let err = decode(&deep_pickle_lists(DEEP), PICKLE).unwrap_err();
    assert!(err.to_string().contains("deeper than"), "{err}");
    let err = decode(&pickle_memo_square(2_000), PICKLE).unwrap_err();
    assert!(err.to_string().contains("decodes to more than"), "{err}");
}

#[test]
fn nesting_within_the_bound_still_decodes() {
    // 100 levels is well inside every decoder's bound.
    let mut expected = Value::List(vec![]);
    for _ in 1..100 {
        expected = Value::List(vec![expected]);
    }
    assert_eq!(
        decode(&deep_pickle_lists(100), PICKLE).unwrap(),
        expected,
        "pickle"
    );
    assert_eq!(
        decode(&deep_pickle_through_the_memo(100), PICKLE).unwrap(),
        expected,
        "pickle through the memo"
    );
    assert_eq!(
        decode(&deep_json(100), kombu::serialization::JSON).unwrap(),
        expected
    );
    // References to one memoized object are how Python writes repeats: a modest number
    // decodes.
    let shared = decode(&pickle_memo_square(100), PICKLE).unwrap();
    let Value::List(outer) = shared else {
        panic!("{shared:?}")
    };
    assert_eq!(outer.len(), 100);
    assert!(outer
        .iter()
        .all(|inner| *inner == Value::List(vec![Value::Int(0); 100])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_are_refused_on_a_tokio_worker_too() {
    let refused = tokio::spawn(async {
        for (what, body, content_type) in every_hostile_body() {
            assert_refused(decode(&body, content_type), what);
        }
    });
    refused.await.unwrap();
}

#[tokio::test]
async fn a_consumer_rejects_a_hostile_pickle_to_the_dead_letter_exchange() {
    let t = test_name!();
    let (conn, ch) = open(t).await;
    let dlx = Exchange::new(common::name(t, "dlx"), ExchangeKind::Fanout);
    let dlq = declare(
        &ch,
        Queue::new(common::name(t, "dlq")).bind_to(dlx.clone(), ""),
    )
    .await;
    let q = Queue::new(common::name(t, "q")).dead_letter_exchange(dlx.name.as_str());
    let mut consumer = Consumer::new(&ch, [q.clone()]).accept(Accept::new(["pickle"]));
    consumer.register_callback(|_, _| panic!("a hostile pickle reached a callback"));
    consumer.consume().await.unwrap();
    Producer::new(&ch)
        .routing_key(q.name.as_str())
        .publish_body(deep_pickle_lists(DEEP))
        .content_type(PICKLE)
        .content_encoding("binary")
        .await
        .unwrap();

    let err = conn.drain_events(WAIT).await.unwrap_err();
    assert!(err.is_decode(), "{err}");
    assert!(err.to_string().contains("rejected"), "{err}");
    common::wait_for_ready(&dlq, 1).await;
    let dead = drain_until_marker(&ch, &dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), deep_pickle_lists(DEEP).as_slice());
}
