//! Pickle bodies, read as plain data only.
//!
//! `serde-pickle` interprets the pickle opcodes without running Python and refuses any global
//! other than the few builtins that stand for plain data, so no object is ever constructed. A
//! consumer must still opt in (accept `pickle`) before this runs.

use crate::error::{Error, Result};
use crate::value::Value;

pub(super) fn decode(body: &[u8]) -> Result<Value> {
    // Unresolved globals (a pickled `datetime`, a class instance) are errors, not `None`:
    // nothing is silently lost.
    let value = serde_pickle::value_from_slice(body, serde_pickle::DeOptions::new())
        .map_err(|e| Error::decode(format!("body is not a plain-data pickle: {e}")))?;
    convert(value)
}

fn convert(value: serde_pickle::Value) -> Result<Value> {
    use serde_pickle::Value as P;
    Ok(match value {
        P::None => Value::Null,
        P::Bool(b) => Value::Bool(b),
        P::I64(i) => Value::Int(i),
        P::Int(big) => {
            let text = big.to_string();
            text.parse::<i64>()
                .map(Value::Int)
                .or_else(|_| text.parse::<u64>().map(Value::UInt))
                .map_err(|_| {
                    Error::decode(format!("pickled integer {text} does not fit 64 bits"))
                })?
        }
        P::F64(f) => Value::Float(f),
        P::Bytes(b) => Value::Bytes(b),
        P::String(s) => Value::String(s),
        P::List(items) | P::Tuple(items) => {
            Value::List(items.into_iter().map(convert).collect::<Result<_>>()?)
        }
        P::Set(items) | P::FrozenSet(items) => Value::List(
            items
                .into_iter()
                .map(|h| convert(h.into_value()))
                .collect::<Result<_>>()?,
        ),
        P::Dict(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| Ok((convert(k.into_value())?, convert(v)?)))
                .collect::<Result<_>>()?,
        ),
    })
}
