//! How RabbitMQ compares a declaration with what it has, as `plan`, `apply`'s migrations and
//! `diff` need it: which settings and arguments differ, and which of them RabbitMQ checks on a
//! redeclare (406 if they differ) rather than keeps silently.

use serde_json::Value;

use crate::api::{args, field};

/// What differs between a wanted declaration and the broker's, key by key.
pub(crate) fn drift(wanted: &Value, actual: &Value, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        let (w, a) = (field(wanted, k), field(actual, k));
        if w != a {
            out.push(format!("{k}: broker {a}, file {w}"));
        }
    }
    let (wa, aa) = (args(wanted), args(actual));
    if wa != aa {
        let mut names: Vec<&String> = wa
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        names.extend(aa.as_object().into_iter().flatten().map(|(k, _)| k));
        names.sort();
        names.dedup();
        for n in names {
            let (w, a) = (
                wa.get(n.as_str()).cloned().unwrap_or(Value::Null),
                aa.get(n.as_str()).cloned().unwrap_or(Value::Null),
            );
            if w != a {
                out.push(format!("argument {n}: broker {a}, file {w}"));
            }
        }
    }
    out
}

/// The settings of a queue that a redeclare must match (the others are statistics).
pub(crate) const QUEUE_KEYS: &[&str] = &["durable", "auto_delete"];

/// The queue arguments RabbitMQ compares when a queue is declared again: the union, over the
/// queue types and the versions from 3.10 on, of each type's `queue_arguments` capability
/// (`rabbit_classic_queue`, `rabbit_quorum_queue`, `rabbit_stream_queue`). Another argument
/// (`x-ha-policy`, a client's own key) is not compared: a redeclare with another value of it
/// succeeds, and the queue keeps the value it was first declared with. Erring on the side of
/// listing a key only costs a recreate that was not needed; missing one would let a 406 through.
const COMPARED_QUEUE_ARGUMENTS: &[&str] = &[
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-delivery-limit",
    "x-expires",
    "x-initial-cluster-size",
    "x-max-age",
    "x-max-in-memory-bytes",
    "x-max-in-memory-length",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-message-ttl",
    "x-overflow",
    "x-queue-leader-locator",
    "x-queue-master-locator",
    "x-queue-mode",
    "x-queue-type",
    "x-queue-version",
    "x-quorum-initial-group-size",
    "x-quorum-target-group-size",
    "x-single-active-consumer",
    "x-stream-filter-size-bytes",
    "x-stream-max-segment-size-bytes",
];

/// The exchange types whose declarations RabbitMQ compares by `alternate-exchange` alone
/// (`rabbit_exchange:assert_args_equivalence`); a plugin's type may compare more, so its
/// arguments are all compared here.
const BUILT_IN_EXCHANGE_TYPES: &[&str] = &["direct", "fanout", "topic", "headers"];

/// Whether RabbitMQ refuses to declare a queue again with another value of argument `key`.
pub(crate) fn compared_queue_argument(key: &str) -> bool {
    COMPARED_QUEUE_ARGUMENTS.contains(&key)
}

/// Whether RabbitMQ refuses to declare an exchange of type `kind` again with another value of
/// argument `key`.
pub(crate) fn compared_exchange_argument(kind: &str, key: &str) -> bool {
    key == "alternate-exchange" || !BUILT_IN_EXCHANGE_TYPES.contains(&kind)
}

/// `v` with only the arguments for which `keep` holds.
fn with_arguments(v: &Value, keep: impl Fn(&str) -> bool) -> Value {
    let mut v = v.clone();
    let mut a = args(&v);
    if let Some(m) = a.as_object_mut() {
        m.retain(|k, _| keep(k));
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("arguments".to_owned(), a);
    }
    v
}

/// What differs between a wanted declaration and the broker's, split as RabbitMQ compares them
/// on a redeclare: `(refused, not compared)`. The first are changes only a recreate makes; the
/// second stay as the broker has them, and a redeclare still succeeds.
pub(crate) fn redeclare_drift(
    wanted: &Value,
    actual: &Value,
    keys: &[&str],
    compared: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<String>) {
    // A classic queue may be declared with `x-queue-type: classic` or without it: the broker
    // takes the two as the same.
    let classic = |v: &Value| {
        let mut v = v.clone();
        let is_classic =
            v.pointer("/arguments/x-queue-type").and_then(Value::as_str) == Some("classic");
        if let Some(m) = v
            .get_mut("arguments")
            .and_then(Value::as_object_mut)
            .filter(|_| is_classic)
        {
            m.remove("x-queue-type");
        }
        v
    };
    let (wanted, actual) = (classic(wanted), classic(actual));
    let refused = drift(
        &with_arguments(&wanted, &compared),
        &with_arguments(&actual, &compared),
        keys,
    );
    let ignored = drift(
        &with_arguments(&wanted, |k| !compared(k)),
        &with_arguments(&actual, |k| !compared(k)),
        &[],
    );
    (refused, ignored)
}

/// [`redeclare_drift`] of a queue.
pub(crate) fn queue_drift(wanted: &Value, actual: &Value) -> (Vec<String>, Vec<String>) {
    redeclare_drift(wanted, actual, QUEUE_KEYS, compared_queue_argument)
}
