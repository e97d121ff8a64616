//! msgpack bodies, read with `rmp-serde`.
//!
//! Read through [`Bounded`]: `rmp-serde` allows 1,024 levels, too deep for a tokio worker's
//! stack once converting and dropping the value recurse too, and an array header can claim
//! millions of items in five bytes (nothing is allocated for more than the body holds).

use serde::de::DeserializeSeed;

use super::limits::{Bounded, Budget};
use crate::error::{Error, Result};
use crate::value::Value;

pub(super) fn decode(body: &[u8]) -> Result<Value> {
    let budget = Budget::default();
    let mut deserializer = rmp_serde::Deserializer::from_read_ref(body);
    Bounded::new("msgpack", body.len(), &budget)
        .deserialize(&mut deserializer)
        .map_err(|e| {
            if budget.refused() {
                Error::decode(format!("body refused: {e}"))
            } else {
                Error::decode(format!("body is not valid msgpack: {e}"))
            }
        })
}
