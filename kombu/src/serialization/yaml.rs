//! YAML bodies, read with `serde_norway` (the maintained fork of the archived `serde_yaml`).
//!
//! An alias repeats its anchor's node wherever it appears, so a short body can stand for a
//! huge value (`serde_norway` only bounds the number of alias jumps): decoding goes through
//! [`Bounded`], which stops at the depth and size bounds of [`super::limits`].

use serde::de::DeserializeSeed;

use super::limits::{Bounded, Budget};
use crate::error::{Error, Result};
use crate::value::Value;

pub(super) fn decode(body: &[u8]) -> Result<Value> {
    let budget = Budget::default();
    Bounded::new("YAML", body.len(), &budget)
        .deserialize(serde_norway::Deserializer::from_slice(body))
        .map_err(|e| {
            if budget.refused() {
                Error::decode(format!("body refused: {e}"))
            } else {
                Error::decode(format!("body is not valid YAML: {e}"))
            }
        })
}
