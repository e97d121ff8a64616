//! Names a transport makes up: the random-looking suffix of `amq.gen-…` queues, `amq.ctag-…`
//! consumer tags and `kombu.gen-…` queues.
//!
//! Owned here rather than by one transport so that the memory broker (which generates names as
//! RabbitMQ does) and the AMQP transport (which names server-named queues itself, so recovery
//! can declare them again) share one generator. It does not decide the prefixes: each caller
//! says which name it is making.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A random-looking 22-character suffix (RabbitMQ's length and alphabet) mixing `n`, the
/// caller's counter, with a per-call random hash key.
pub(crate) fn random_suffix(n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(n);
    let mut bits = hasher.finish() as u128 | (u128::from(n) << 64);
    (0..22)
        .map(|_| {
            let c = ALPHABET[(bits % 64) as usize];
            bits = bits / 64 + u128::from(c) * 7919;
            char::from(c)
        })
        .collect()
}

/// A fresh suffix, unique in the process, for callers without a counter of their own.
#[cfg_attr(not(feature = "amqp"), allow(dead_code))]
pub(crate) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    random_suffix(COUNTER.fetch_add(1, Ordering::Relaxed))
}
