//! Typed Rust values for the JSON type wrappers Python kombu writes
//! (`{"__type__": "datetime", "__value__": "2024-05-01T12:30:00+00:00"}`), behind the
//! `python-types` feature.
//!
//! Each type serializes as the wrapper Python kombu's JSON decoder turns back into the Python
//! type (`datetime.datetime`, `date`, `time`, `Decimal`, `UUID`, `bytes`), and deserializes from
//! the wrapper or from the plain value kombu's decoder leaves once it has unwrapped it, so a
//! handler can take them as fields of its message type.
//!
//! ```
//! use kombu::python_types::{PyDateTime, PyDecimal, PyUuid};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Order { at: PyDateTime, total: PyDecimal, id: PyUuid }
//!
//! let body = br#"{"at": {"__type__": "datetime", "__value__": "2024-05-01T12:30:00+00:00"},
//!     "total": {"__type__": "decimal", "__value__": "19.99"},
//!     "id": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}}"#;
//! let registry = kombu::serialization::Registry::new();
//! let order: Order = registry.decode_as(body, Some("application/json"), None, None).unwrap();
//! assert_eq!(order.total.0.to_string(), "19.99");
//! let again = serde_json::to_value(&order).unwrap();
//! assert_eq!(again["at"]["__type__"], "datetime");
//! ```

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

fn wrap<S: Serializer, V: Serialize + ?Sized>(
    s: S,
    kind: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(2))?;
    map.serialize_entry("__type__", kind)?;
    map.serialize_entry("__value__", value)?;
    map.end()
}

/// What a wrapper holds once read: its `__value__` as text, bytes, or (for uuid) the hex.
enum Raw {
    Text(String),
    Bytes(Vec<u8>),
}

struct RawVisitor(&'static str);

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a Python {} (its text, or a {{\"__type__\", \"__value__\"}} wrapper)",
            self.0
        )
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Text(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Raw, E> {
        Ok(Raw::Bytes(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut kind: Option<String> = None;
        let mut value: Option<serde_json::Value> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "__type__" => kind = Some(map.next_value()?),
                "__value__" => value = Some(map.next_value()?),
                // A bare uuid value, as it sits inside its wrapper.
                "hex" => return Ok(Raw::Text(map.next_value()?)),
                other => return Err(de::Error::unknown_field(other, &["__type__", "__value__"])),
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("__type__"))?;
        let value = value.ok_or_else(|| de::Error::missing_field("__value__"))?;
        let text = |v: &serde_json::Value| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| de::Error::custom(format!("`__value__` of a {kind} must be text")))
        };
        match kind.as_str() {
            "uuid" => value
                .get("hex")
                .and_then(serde_json::Value::as_str)
                .map(|h| Raw::Text(h.to_owned()))
                .ok_or_else(|| de::Error::custom("a uuid wrapper holds {\"hex\": ...}")),
            "bytes" => Ok(Raw::Bytes(text(&value)?.into_bytes())),
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(text(&value)?)
                .map(Raw::Bytes)
                .map_err(de::Error::custom),
            _ => Ok(Raw::Text(text(&value)?)),
        }
    }
}

fn raw_text<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<String, D::Error> {
    match d.deserialize_any(RawVisitor(what))? {
        Raw::Text(t) => Ok(t),
        Raw::Bytes(b) => String::from_utf8(b).map_err(de::Error::custom),
    }
}

macro_rules! py_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $kind:literal, $to:expr, $from:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $inner);

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let to: fn(&$inner) -> String = $to;
                wrap(s, $kind, &to(&self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = raw_text(d, $kind)?;
                let from: fn(&str) -> Result<$inner, String> = $from;
                from(&text).map($name).map_err(|e| {
                    de::Error::custom(format!("`{text}` is not a Python {}: {e}", $kind))
                })
            }
        }
    };
}

py_type!(
    /// `datetime.datetime` with a UTC offset (`isoformat()` with `+HH:MM`).
    PyDateTime(chrono::DateTime<chrono::FixedOffset>),
    "datetime",
    |v| v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
    |t| chrono::DateTime::parse_from_rfc3339(t).map_err(|e| e.to_string())
);

py_type!(
    /// A naive `datetime.datetime` (no UTC offset).
    PyNaiveDateTime(chrono::NaiveDateTime),
    "datetime",
    |v| v.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
    |t| t.parse::<chrono::NaiveDateTime>().map_err(|e| e.to_string())
);

py_type!(
    /// `datetime.date`.
    PyDate(chrono::NaiveDate),
    "date",
    |v| v.format("%Y-%m-%d").to_string(),
    |t| t.parse::<chrono::NaiveDate>().map_err(|e| e.to_string())
);

py_type!(
    /// `datetime.time` (naive).
    PyTime(chrono::NaiveTime),
    "time",
    |v| v.format("%H:%M:%S%.f").to_string(),
    |t| t.parse::<chrono::NaiveTime>().map_err(|e| e.to_string())
);

py_type!(
    /// `decimal.Decimal`, exact.
    PyDecimal(rust_decimal::Decimal),
    "decimal",
    |v| v.to_string(),
    |t| t.parse::<rust_decimal::Decimal>().map_err(|e| e.to_string())
);

/// `uuid.UUID`, written as `{"hex": "<32 hex digits>"}` inside its wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PyUuid(pub uuid::Uuid);

impl Serialize for PyUuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = self.0.simple().to_string();
        let mut inner = serde_json::Map::new();
        inner.insert("hex".into(), serde_json::Value::String(hex));
        wrap(s, "uuid", &inner)
    }
}

impl<'de> Deserialize<'de> for PyUuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = raw_text(d, "uuid")?;
        uuid::Uuid::parse_str(&text)
            .map(PyUuid)
            .map_err(|e| de::Error::custom(format!("`{text}` is not a uuid: {e}")))
    }
}

/// `bytes`: written as `bytes` (the text) when valid UTF-8, else `base64`, as Python kombu does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PyBytes(pub Vec<u8>);

impl Serialize for PyBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => wrap(s, "bytes", text),
            Err(_) => wrap(
                s,
                "base64",
                &base64::engine::general_purpose::STANDARD.encode(&self.0),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for PyBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PyBytes(match d.deserialize_any(RawVisitor("bytes"))? {
            Raw::Bytes(b) => b,
            Raw::Text(t) => t.into_bytes(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_the_wrappers() {
        let dt = PyDateTime(
            chrono::DateTime::parse_from_rfc3339("2024-05-01T12:30:00.250+02:00").unwrap(),
        );
        let json = serde_json::to_value(dt).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"__type__": "datetime", "__value__": "2024-05-01T12:30:00.250+02:00"})
        );
        assert_eq!(serde_json::from_value::<PyDateTime>(json).unwrap(), dt);
        let u = PyUuid(uuid::Uuid::parse_str("12345678-1234-5678-1234-567812345678").unwrap());
        let json = serde_json::to_value(u).unwrap();
        assert_eq!(json["__value__"]["hex"], "12345678123456781234567812345678");
        assert_eq!(serde_json::from_value::<PyUuid>(json).unwrap(), u);
        let raw = PyBytes(vec![0xff, 0]);
        let json = serde_json::to_value(&raw).unwrap();
        assert_eq!(json["__type__"], "base64");
        assert_eq!(serde_json::from_value::<PyBytes>(json).unwrap(), raw);
        let text = serde_json::to_value(PyBytes(b"abc".to_vec())).unwrap();
        assert_eq!(
            text,
            serde_json::json!({"__type__": "bytes", "__value__": "abc"})
        );
        let d: PyDecimal = serde_json::from_str("\"19.990\"").unwrap();
        assert_eq!(d.0.to_string(), "19.990", "exact, trailing zero kept");
        let naive: PyNaiveDateTime = serde_json::from_str("\"2024-05-01T12:30:00\"").unwrap();
        assert_eq!(
            serde_json::to_value(naive).unwrap()["__value__"],
            "2024-05-01T12:30:00"
        );
        let t: PyTime = serde_json::from_str("\"12:30:00.500000\"").unwrap();
        assert_eq!(
            serde_json::to_value(t).unwrap()["__value__"],
            "12:30:00.500"
        );
        assert!(serde_json::from_str::<PyDate>("\"not a date\"").is_err());
    }
}
