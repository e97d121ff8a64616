//! JSON as Python kombu writes it, including the `{"__type__": T, "__value__": V}` wrappers for
//! values JSON has no type for (datetime, date, time, decimal, uuid, bytes, base64).
//!
//! On decode a wrapper becomes the plainest faithful value: datetimes, dates, times and decimals
//! their ISO/decimal text (which `chrono`, `time` and `rust_decimal` types deserialize from), a
//! uuid its hyphenated text, `bytes` and `base64` real bytes. An unknown `__type__` is a decode
//! error, as in Python.

use base64::Engine as _;

use crate::error::{Error, Result};
use crate::value::Value;

const MARKER: &[u8] = b"\"__type__\"";

/// Whether a JSON body may contain a type wrapper (false positives are fine), by a
/// vectorized substring search (`memchr`), which costs a fraction of the JSON parse.
pub(super) fn has_type_wrapper(body: &[u8]) -> bool {
    memchr::memmem::find(body, MARKER).is_some()
}

pub(super) fn decode(body: &[u8]) -> Result<Value> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Error::decode(format!("body is not valid JSON: {e}")))?;
    unwrap(value)
}

fn unwrap(value: serde_json::Value) -> Result<Value> {
    use serde_json::Value as J;
    Ok(match value {
        J::Object(map) => {
            if map.len() == 2 && map.contains_key("__type__") && map.contains_key("__value__") {
                let mut map = map;
                let kind = map.remove("__type__").unwrap_or_default();
                let inner = map.remove("__value__").unwrap_or_default();
                return special(kind, inner);
            }
            Value::Map(
                map.into_iter()
                    .map(|(k, v)| Ok((Value::String(k), unwrap(v)?)))
                    .collect::<Result<_>>()?,
            )
        }
        J::Array(items) => Value::List(items.into_iter().map(unwrap).collect::<Result<_>>()?),
        other => Value::from(other),
    })
}

fn special(kind: serde_json::Value, inner: serde_json::Value) -> Result<Value> {
    let kind = kind
        .as_str()
        .ok_or_else(|| Error::decode(format!("JSON `__type__` must be a string, found {kind}")))?
        .to_owned();
    let text = |inner: &serde_json::Value| -> Result<String> {
        inner.as_str().map(str::to_owned).ok_or_else(|| {
            Error::decode(format!(
                "JSON `__value__` of a `{kind}` must be a string, found {inner}"
            ))
        })
    };
    match kind.as_str() {
        "datetime" | "date" | "time" | "decimal" => Ok(Value::String(text(&inner)?)),
        "bytes" => Ok(Value::Bytes(text(&inner)?.into_bytes())),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(text(&inner)?)
            .map(Value::Bytes)
            .map_err(|e| Error::decode(format!("JSON `base64` value is not base64: {e}"))),
        "uuid" => {
            let hex = inner
                .get("hex")
                .and_then(serde_json::Value::as_str)
                .filter(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| {
                    Error::decode(format!(
                        "JSON `uuid` value must be {{\"hex\": \"<32 hex digits>\"}}, found {inner}"
                    ))
                })?
                .to_ascii_lowercase();
            Ok(Value::String(format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            )))
        }
        other => Err(Error::decode(format!(
            "unsupported JSON `__type__` `{other}` (known: datetime, date, time, decimal, uuid, bytes, base64)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::has_type_wrapper;

    #[test]
    fn the_wrapper_scan_finds_the_marker_wherever_it_is() {
        assert!(has_type_wrapper(br#""__type__""#));
        assert!(has_type_wrapper(
            br#"{"a": [1, {"__type__": "uuid", "__value__": "x"}]}"#
        ));
        assert!(has_type_wrapper(br#"{"snake_case": 1, "__type__": 2}"#));
        assert!(!has_type_wrapper(
            br#"{"x__type__": 1, "__type": 2, "_": "_"}"#
        ));
        assert!(!has_type_wrapper(b"_"));
        assert!(!has_type_wrapper(b""));
    }
}
