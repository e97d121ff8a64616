//! AMQP field values and tables: the typed data of arguments and headers.
//!
//! [`FieldValue`] keeps the exact AMQP type of a value (the integer `1` is not the string `"1"`,
//! and an `i32` is not an `i64`), because RabbitMQ compares headers and declaration arguments by
//! type. [`FieldTable`] is a sorted map of them.
//!
//! In config files (serde) values are written naturally where that is unambiguous: booleans,
//! strings, lists and tables as themselves, integers as integers (read back as `i32` when they
//! fit, else `i64`, the choice Python's AMQP client makes), floats as `f64`. Every other type is a
//! one-key table whose key names the type: `{ "$u8" = 5 }`, `{ "$i64" = 1 }`, `{ "$f32" = 1.5 }`,
//! `{ "$bytes" = "<base64>" }`, `{ "$timestamp" = 1700000000 }`,
//! `{ "$decimal" = { scale = 2, value = 1234 } }`, `{ "$void" = true }`. A table that itself has
//! exactly one key starting with `$` is written as `{ "$table" = { ... } }`. So every value
//! round-trips through JSON, TOML and YAML with its type.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use base64::Engine as _;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A table of AMQP field values: declaration arguments, binding arguments, message headers.
pub type FieldTable = BTreeMap<String, FieldValue>;

/// An AMQP decimal: `value / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decimal {
    /// Number of decimal digits after the point.
    pub scale: u8,
    /// The unscaled value.
    pub value: u32,
}

/// One AMQP field value, with its wire type.
#[derive(Debug, Clone)]
pub enum FieldValue {
    /// `t`: boolean.
    Bool(bool),
    /// `b`: signed 8-bit.
    I8(i8),
    /// `B`: unsigned 8-bit.
    U8(u8),
    /// `s`: signed 16-bit.
    I16(i16),
    /// `u`: unsigned 16-bit.
    U16(u16),
    /// `I`: signed 32-bit.
    I32(i32),
    /// `i`: unsigned 32-bit.
    U32(u32),
    /// `l`: signed 64-bit.
    I64(i64),
    /// `f`: 32-bit float.
    F32(f32),
    /// `d`: 64-bit float.
    F64(f64),
    /// `D`: decimal.
    Decimal(Decimal),
    /// `S`: long string (UTF-8).
    String(String),
    /// `x`: byte array.
    Bytes(Vec<u8>),
    /// `T`: timestamp, seconds since the Unix epoch.
    Timestamp(u64),
    /// `A`: array.
    Array(Vec<FieldValue>),
    /// `F`: nested table.
    Table(FieldTable),
    /// `V`: no value.
    Void,
}

impl FieldValue {
    /// An integer as Python's AMQP client sends one: a signed 32-bit field when it fits, else
    /// a signed 64-bit one.
    pub fn int(v: i64) -> FieldValue {
        match i32::try_from(v) {
            Ok(small) => FieldValue::I32(small),
            Err(_) => FieldValue::I64(v),
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an `i64`, if it is an integer of any width that fits.
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            FieldValue::I8(v) => v.into(),
            FieldValue::U8(v) => v.into(),
            FieldValue::I16(v) => v.into(),
            FieldValue::U16(v) => v.into(),
            FieldValue::I32(v) => v.into(),
            FieldValue::U32(v) => v.into(),
            FieldValue::I64(v) => v,
            FieldValue::Timestamp(v) => i64::try_from(v).ok()?,
            _ => return None,
        })
    }

    /// The AMQP type tag, as used in the serde form (`"i32"`, `"string"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Bool(_) => "bool",
            FieldValue::I8(_) => "i8",
            FieldValue::U8(_) => "u8",
            FieldValue::I16(_) => "i16",
            FieldValue::U16(_) => "u16",
            FieldValue::I32(_) => "i32",
            FieldValue::U32(_) => "u32",
            FieldValue::I64(_) => "i64",
            FieldValue::F32(_) => "f32",
            FieldValue::F64(_) => "f64",
            FieldValue::Decimal(_) => "decimal",
            FieldValue::String(_) => "string",
            FieldValue::Bytes(_) => "bytes",
            FieldValue::Timestamp(_) => "timestamp",
            FieldValue::Array(_) => "array",
            FieldValue::Table(_) => "table",
            FieldValue::Void => "void",
        }
    }
}

// Equality is by type and value; floats compare by bit pattern so that `Eq` and `Hash` hold
// (a declaration with NaN in its arguments is still equal to itself).
impl PartialEq for FieldValue {
    fn eq(&self, other: &Self) -> bool {
        use FieldValue::*;
        match (self, other) {
            (Bool(a), Bool(b)) => a == b,
            (I8(a), I8(b)) => a == b,
            (U8(a), U8(b)) => a == b,
            (I16(a), I16(b)) => a == b,
            (U16(a), U16(b)) => a == b,
            (I32(a), I32(b)) => a == b,
            (U32(a), U32(b)) => a == b,
            (I64(a), I64(b)) => a == b,
            (F32(a), F32(b)) => a.to_bits() == b.to_bits(),
            (F64(a), F64(b)) => a.to_bits() == b.to_bits(),
            (Decimal(a), Decimal(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Timestamp(a), Timestamp(b)) => a == b,
            (Array(a), Array(b)) => a == b,
            (Table(a), Table(b)) => a == b,
            (Void, Void) => true,
            _ => false,
        }
    }
}

impl Eq for FieldValue {}

impl Hash for FieldValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            FieldValue::Bool(v) => v.hash(state),
            FieldValue::I8(v) => v.hash(state),
            FieldValue::U8(v) => v.hash(state),
            FieldValue::I16(v) => v.hash(state),
            FieldValue::U16(v) => v.hash(state),
            FieldValue::I32(v) => v.hash(state),
            FieldValue::U32(v) => v.hash(state),
            FieldValue::I64(v) => v.hash(state),
            FieldValue::F32(v) => v.to_bits().hash(state),
            FieldValue::F64(v) => v.to_bits().hash(state),
            FieldValue::Decimal(v) => v.hash(state),
            FieldValue::String(v) => v.hash(state),
            FieldValue::Bytes(v) => v.hash(state),
            FieldValue::Timestamp(v) => v.hash(state),
            FieldValue::Array(v) => v.hash(state),
            FieldValue::Table(v) => v.hash(state),
            FieldValue::Void => {}
        }
    }
}

macro_rules! from_impls {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl From<$t> for FieldValue {
            fn from(v: $t) -> Self { FieldValue::$variant(v) }
        })*
    };
}

from_impls! {
    bool => Bool, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, f32 => F32, f64 => F64, String => String, Vec<u8> => Bytes,
    Vec<FieldValue> => Array, FieldTable => Table, Decimal => Decimal,
}

impl From<&str> for FieldValue {
    fn from(v: &str) -> Self {
        FieldValue::String(v.to_owned())
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Bool(v) => write!(f, "{v}"),
            FieldValue::I8(v) => write!(f, "{v}"),
            FieldValue::U8(v) => write!(f, "{v}"),
            FieldValue::I16(v) => write!(f, "{v}"),
            FieldValue::U16(v) => write!(f, "{v}"),
            FieldValue::I32(v) => write!(f, "{v}"),
            FieldValue::U32(v) => write!(f, "{v}"),
            FieldValue::I64(v) => write!(f, "{v}"),
            FieldValue::F32(v) => write!(f, "{v}"),
            FieldValue::F64(v) => write!(f, "{v}"),
            FieldValue::Decimal(d) => write!(f, "{}e-{}", d.value, d.scale),
            FieldValue::String(v) => write!(f, "{v:?}"),
            FieldValue::Bytes(v) => write!(f, "<{} bytes>", v.len()),
            FieldValue::Timestamp(v) => write!(f, "@{v}"),
            FieldValue::Array(v) => {
                f.write_str("[")?;
                for (i, item) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            FieldValue::Table(t) => {
                f.write_str("{")?;
                for (i, (k, v)) in t.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                f.write_str("}")
            }
            FieldValue::Void => f.write_str("void"),
        }
    }
}

// ---- serde -------------------------------------------------------------------------------

struct Tagged<'a, T: Serialize + ?Sized>(&'static str, &'a T);

impl<T: Serialize + ?Sized> Serialize for Tagged<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Bool(v) => serializer.serialize_bool(*v),
            FieldValue::I32(v) => serializer.serialize_i32(*v),
            FieldValue::I64(v) if i32::try_from(*v).is_err() => serializer.serialize_i64(*v),
            FieldValue::I64(v) => Tagged("$i64", v).serialize(serializer),
            FieldValue::F64(v) => serializer.serialize_f64(*v),
            FieldValue::String(v) => serializer.serialize_str(v),
            FieldValue::Array(v) => v.serialize(serializer),
            FieldValue::Table(t) if is_ambiguous_table(t) => {
                Tagged("$table", t).serialize(serializer)
            }
            FieldValue::Table(t) => t.serialize(serializer),
            FieldValue::I8(v) => Tagged("$i8", v).serialize(serializer),
            FieldValue::U8(v) => Tagged("$u8", v).serialize(serializer),
            FieldValue::I16(v) => Tagged("$i16", v).serialize(serializer),
            FieldValue::U16(v) => Tagged("$u16", v).serialize(serializer),
            FieldValue::U32(v) => Tagged("$u32", v).serialize(serializer),
            FieldValue::F32(v) => Tagged("$f32", v).serialize(serializer),
            FieldValue::Decimal(v) => Tagged("$decimal", v).serialize(serializer),
            FieldValue::Bytes(v) => Tagged(
                "$bytes",
                &base64::engine::general_purpose::STANDARD.encode(v),
            )
            .serialize(serializer),
            FieldValue::Timestamp(v) => Tagged("$timestamp", v).serialize(serializer),
            FieldValue::Void => Tagged("$void", &true).serialize(serializer),
        }
    }
}

fn is_ambiguous_table(t: &FieldTable) -> bool {
    t.len() == 1 && t.keys().all(|k| k.starts_with('$'))
}

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldValueVisitor)
    }
}

struct FieldValueVisitor;

fn natural_int<E: de::Error>(v: i128) -> Result<FieldValue, E> {
    if let Ok(v) = i32::try_from(v) {
        Ok(FieldValue::I32(v))
    } else if let Ok(v) = i64::try_from(v) {
        Ok(FieldValue::I64(v))
    } else {
        Err(E::custom(format!(
            "integer {v} does not fit an AMQP signed 64-bit field"
        )))
    }
}

impl<'de> Visitor<'de> for FieldValueVisitor {
    type Value = FieldValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AMQP field value (bool, integer, float, string, list, table, or a one-key table such as {\"$u8\": 5})")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<FieldValue, E> {
        Ok(FieldValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<FieldValue, E> {
        natural_int(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<FieldValue, E> {
        natural_int(v.into())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<FieldValue, E> {
        natural_int(v)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<FieldValue, E> {
        natural_int(i128::try_from(v).map_err(E::custom)?)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<FieldValue, E> {
        Ok(FieldValue::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldValue, E> {
        Ok(FieldValue::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<FieldValue, E> {
        Ok(FieldValue::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<FieldValue, E> {
        Ok(FieldValue::Bytes(v.to_vec()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Void)
    }
    fn visit_none<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Void)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<FieldValue, D::Error> {
        FieldValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(FieldValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldValue, A::Error> {
        let mut table = FieldTable::new();
        let Some(first) = map.next_key::<String>()? else {
            return Ok(FieldValue::Table(table));
        };
        if let Some(tag) = first.strip_prefix('$') {
            let value = tagged_value(tag, &mut map)?;
            if let Some(extra) = map.next_key::<String>()? {
                return Err(de::Error::custom(format!(
                    "a typed value `{{\"${tag}\": ...}}` must be the only key of its table, found `{extra}` beside it"
                )));
            }
            return Ok(value);
        }
        table.insert(first, map.next_value()?);
        while let Some((k, v)) = map.next_entry::<String, FieldValue>()? {
            table.insert(k, v);
        }
        Ok(FieldValue::Table(table))
    }
}

fn tagged_value<'de, A: MapAccess<'de>>(tag: &str, map: &mut A) -> Result<FieldValue, A::Error> {
    Ok(match tag {
        "bool" => FieldValue::Bool(map.next_value()?),
        "i8" => FieldValue::I8(map.next_value()?),
        "u8" => FieldValue::U8(map.next_value()?),
        "i16" => FieldValue::I16(map.next_value()?),
        "u16" => FieldValue::U16(map.next_value()?),
        "i32" => FieldValue::I32(map.next_value()?),
        "u32" => FieldValue::U32(map.next_value()?),
        "i64" => FieldValue::I64(map.next_value()?),
        "f32" => FieldValue::F32(map.next_value()?),
        "f64" => FieldValue::F64(map.next_value()?),
        "decimal" => FieldValue::Decimal(map.next_value()?),
        "string" => FieldValue::String(map.next_value()?),
        "bytes" => {
            let text: String = map.next_value()?;
            FieldValue::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|e| de::Error::custom(format!("`$bytes` is not base64: {e}")))?,
            )
        }
        "timestamp" => FieldValue::Timestamp(map.next_value()?),
        "array" => FieldValue::Array(map.next_value()?),
        "table" => FieldValue::Table(map.next_value()?),
        "void" => {
            let _: de::IgnoredAny = map.next_value()?;
            FieldValue::Void
        }
        other => {
            return Err(de::Error::custom(format!(
                "unknown field type `${other}`; expected one of $bool, $i8, $u8, $i16, $u16, $i32, $u32, $i64, $f32, $f64, $decimal, $string, $bytes, $timestamp, $array, $table, $void"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_type() -> FieldTable {
        let mut nested = FieldTable::new();
        nested.insert("inner".into(), FieldValue::U16(7));
        let mut dollar = FieldTable::new();
        dollar.insert("$weird".into(), FieldValue::I32(1));
        let mut t = FieldTable::new();
        for (k, v) in [
            ("bool", FieldValue::Bool(true)),
            ("i8", FieldValue::I8(-3)),
            ("u8", FieldValue::U8(200)),
            ("i16", FieldValue::I16(-300)),
            ("u16", FieldValue::U16(60000)),
            ("i32", FieldValue::I32(1)),
            ("u32", FieldValue::U32(4_000_000_000)),
            ("i64_small", FieldValue::I64(1)),
            ("i64_big", FieldValue::I64(1 << 40)),
            ("f32", FieldValue::F32(1.5)),
            ("f64", FieldValue::F64(-2.25)),
            (
                "decimal",
                FieldValue::Decimal(Decimal {
                    scale: 2,
                    value: 1234,
                }),
            ),
            ("string", FieldValue::String("ünïcødé".into())),
            ("bytes", FieldValue::Bytes(vec![0, 159, 146, 150])),
            ("timestamp", FieldValue::Timestamp(1_700_000_000)),
            (
                "array",
                FieldValue::Array(vec![FieldValue::I32(1), "1".into()]),
            ),
            ("table", FieldValue::Table(nested)),
            ("dollar_table", FieldValue::Table(dollar)),
            ("void", FieldValue::Void),
        ] {
            t.insert(k.into(), v);
        }
        t
    }

    #[test]
    fn every_type_round_trips_through_json_toml_and_yaml() {
        let table = every_type();
        let json = serde_json::to_string(&table).unwrap();
        assert_eq!(serde_json::from_str::<FieldTable>(&json).unwrap(), table);
        let toml_text = toml::to_string(&table).unwrap();
        assert_eq!(toml::from_str::<FieldTable>(&toml_text).unwrap(), table);
        let yaml = serde_norway::to_string(&table).unwrap();
        assert_eq!(serde_norway::from_str::<FieldTable>(&yaml).unwrap(), table);
    }

    #[test]
    fn natural_forms_read_as_expected_types() {
        let t: FieldTable = serde_json::from_str(
            r#"{"a": 1, "b": 5000000000, "c": "1", "d": 1.5, "e": true, "f": [1], "g": {"$u8": 9}}"#,
        )
        .unwrap();
        assert_eq!(t["a"], FieldValue::I32(1));
        assert_eq!(t["b"], FieldValue::I64(5_000_000_000));
        assert_eq!(t["c"], FieldValue::String("1".into()));
        assert_ne!(t["a"], t["c"], "the integer 1 is not the string \"1\"");
        assert_eq!(t["d"], FieldValue::F64(1.5));
        assert_eq!(t["e"], FieldValue::Bool(true));
        assert_eq!(t["f"], FieldValue::Array(vec![FieldValue::I32(1)]));
        assert_eq!(t["g"], FieldValue::U8(9));
    }

    #[test]
    fn unknown_type_tag_is_an_error_naming_it() {
        let err = serde_json::from_str::<FieldValue>(r#"{"$u128": 1}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field type `$u128`"),
            "{err}"
        );
        let err = serde_json::from_str::<FieldValue>(r#"{"$u8": 1, "x": 2}"#).unwrap_err();
        assert!(err.to_string().contains("only key"), "{err}");
        let err = serde_json::from_str::<FieldValue>(r#"{"$u8": 300}"#).unwrap_err();
        assert!(err.to_string().contains("300"), "{err}");
    }

    #[test]
    fn different_widths_are_different_values() {
        assert_ne!(FieldValue::I32(1), FieldValue::I64(1));
        assert_eq!(FieldValue::I32(1).as_i64(), FieldValue::I64(1).as_i64());
    }
}
