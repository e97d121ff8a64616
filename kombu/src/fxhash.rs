//! A fast hasher for maps looked up once or more per message (Firefox's and rustc's "Fx"
//! hash): a rotate, a xor and a multiply per word. Used for the in-memory broker's queues,
//! exchanges and channels, the serializer registry's content types and the metric keys. Their
//! keys are names the application chose, in process, so there is no untrusted input to defend
//! against, which is what std's SipHash pays for; in the broker it was a fifth of a publish.
//! The memory router keeps std's hasher: on the topic trie's short words Fx measured slower
//! (bench `memory`, `topic/*`).

use std::hash::{BuildHasherDefault, Hasher};

/// [`FxHasher`] as a `HashMap`/`HashSet` build hasher.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// A `HashMap` hashed with [`FxHasher`].
pub(crate) type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The Fx hash state.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The length first: `"a"` and `"a\0"` pad to the same word.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn equal_keys_hash_alike_and_near_keys_apart() {
        let build = FxBuild::default();
        assert_eq!(build.hash_one("queue-1"), build.hash_one("queue-1"));
        assert_ne!(build.hash_one("queue-1"), build.hash_one("queue-2"));
        assert_ne!(build.hash_one("a"), build.hash_one("a\0"));
        assert_ne!(build.hash_one(1u64), build.hash_one(2u64));
    }
}
