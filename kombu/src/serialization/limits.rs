//! What decoding one body may build, the same for every format: how deep values nest and how
//! many there are.
//!
//! Depth is bounded because decoding, converting, comparing and dropping values recurse, and
//! a tokio worker has a 2 MiB stack. Size is bounded because some formats let a few bytes
//! stand for many values (YAML aliases, pickle memo references and `DUP`), so a small body
//! could otherwise take all the memory there is. The size bound grows with the body, so data
//! that is merely large still decodes.
//!
//! JSON needs neither here: `serde_json` stops at 128 levels and every JSON value costs at
//! least a byte. YAML and msgpack go through [`Bounded`]; pickle is checked by walking its
//! opcodes first (`pickle.rs`).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::value::Value;

/// The deepest a decoded value may nest (containers inside containers), as `serde_json` and
/// `serde_norway` allow.
pub(super) const MAX_DEPTH: usize = 128;

/// Bytes of text or binary data counted as one more value (about what a value takes).
pub(super) const BYTES_PER_CELL: usize = 32;

/// How many values (counting every [`BYTES_PER_CELL`] bytes of data as one more) a body of
/// `len` bytes may decode to: 16 per byte of body, and at least 2^18, so small bodies are
/// never cramped. Both bounds are far above what plain data needs (at most one per byte).
pub(super) fn max_cells(len: usize) -> u64 {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    len.saturating_mul(16).max(1 << 18)
}

/// What one scalar of `len` data bytes costs.
pub(super) fn cells_of_data(len: usize) -> u64 {
    1 + u64::try_from(len / BYTES_PER_CELL).unwrap_or(u64::MAX)
}

/// The error for a body past the depth bound.
pub(super) fn too_deep(format: &str) -> String {
    format!("{format} body nests deeper than {MAX_DEPTH} levels; refused")
}

/// The error for a body past the size bound.
pub(super) fn too_large(format: &str, limit: u64) -> String {
    format!(
        "{format} body decodes to more than {limit} values (repeated references expand it); \
         refused"
    )
}

/// What a [`Bounded`] decoding has built so far, and whether it stopped at a bound.
#[derive(Debug, Default)]
pub(super) struct Budget {
    spent: Cell<u64>,
    refused: Cell<bool>,
}

impl Budget {
    /// Whether decoding stopped at a bound (rather than at malformed input).
    pub(super) fn refused(&self) -> bool {
        self.refused.get()
    }
}

/// Deserializes a [`Value`] within [`MAX_DEPTH`] and a budget of values, whatever the format
/// repeats.
#[derive(Clone, Copy)]
pub(super) struct Bounded<'a> {
    format: &'a str,
    limit: u64,
    budget: &'a Budget,
    depth: usize,
}

impl<'a> Bounded<'a> {
    /// The top of a body of `len` bytes, counting in `budget`.
    pub(super) fn new(format: &'a str, len: usize, budget: &'a Budget) -> Self {
        Bounded {
            format,
            limit: max_cells(len),
            budget,
            depth: 0,
        }
    }

    fn charge<E: de::Error>(&self, cells: u64) -> Result<(), E> {
        let spent = self.budget.spent.get().saturating_add(cells);
        self.budget.spent.set(spent);
        if spent > self.limit {
            self.budget.refused.set(true);
            return Err(E::custom(too_large(self.format, self.limit)));
        }
        Ok(())
    }

    fn child<E: de::Error>(&self) -> Result<Bounded<'a>, E> {
        if self.depth >= MAX_DEPTH {
            self.budget.refused.set(true);
            return Err(E::custom(too_deep(self.format)));
        }
        Ok(Bounded {
            depth: self.depth + 1,
            ..*self
        })
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Containers are allocated for at most this many items up front, whatever length the body
/// claims.
const MAX_PREALLOCATED: usize = 64;

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.charge(1)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.charge(1)?;
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.charge(1)?;
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        self.charge(1)?;
        if let Ok(i) = i64::try_from(v) {
            Ok(Value::Int(i))
        } else if let Ok(u) = u64::try_from(v) {
            Ok(Value::UInt(u))
        } else {
            Err(E::custom(format!("integer {v} is out of range")))
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.charge(1)?;
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.charge(cells_of_data(v.len()))?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.charge(cells_of_data(v.len()))?;
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        self.charge(cells_of_data(v.len()))?;
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        self.charge(cells_of_data(v.len()))?;
        Ok(Value::Bytes(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.charge(1)?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.charge(1)?;
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.charge(1)?;
        let child = self.child()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOCATED));
        while let Some(item) = seq.next_element_seed(child)? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.charge(1)?;
        let child = self.child()?;
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_PREALLOCATED));
        while let Some(key) = map.next_key_seed(child)? {
            let value = map.next_value_seed(child)?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}
