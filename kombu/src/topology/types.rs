//! Field types: the small type language of message fields.
//!
//! `string`, `bool`, `i8` … `i64`, `u8` … `u64`, `f32`, `f64`, `bytes`, `timestamp`, `uuid`,
//! `json` (any value), `optional<T>`, `list<T>`, `map<T>` (string keys), and the name of
//! another message. Parsed here; what each becomes in Rust is the generator's business.

use std::fmt;

/// A parsed field type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TypeExpr {
    /// A primitive type.
    Primitive(Primitive),
    /// May be absent (`null`).
    Optional(Box<TypeExpr>),
    /// A list.
    List(Box<TypeExpr>),
    /// A map with string keys.
    Map(Box<TypeExpr>),
    /// Another message type of the topology, by name.
    Message(String),
}

/// The primitive field types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Primitive {
    String,
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    /// Raw bytes (base64 in JSON).
    Bytes,
    /// A point in time (RFC 3339 in JSON).
    Timestamp,
    /// A UUID (its string form in JSON).
    Uuid,
    /// Any value.
    Json,
}

const PRIMITIVES: &[(&str, Primitive)] = &[
    ("string", Primitive::String),
    ("bool", Primitive::Bool),
    ("i8", Primitive::I8),
    ("i16", Primitive::I16),
    ("i32", Primitive::I32),
    ("i64", Primitive::I64),
    ("u8", Primitive::U8),
    ("u16", Primitive::U16),
    ("u32", Primitive::U32),
    ("u64", Primitive::U64),
    ("f32", Primitive::F32),
    ("f64", Primitive::F64),
    ("bytes", Primitive::Bytes),
    ("timestamp", Primitive::Timestamp),
    ("uuid", Primitive::Uuid),
    ("json", Primitive::Json),
];

impl Primitive {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        PRIMITIVES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("json", |(n, _)| n)
    }
}

impl TypeExpr {
    /// Parses a type expression.
    pub fn parse(text: &str) -> Result<TypeExpr, String> {
        let text = text.trim();
        for (wrapper, make) in [
            (
                "optional",
                TypeExpr::Optional as fn(Box<TypeExpr>) -> TypeExpr,
            ),
            ("list", TypeExpr::List),
            ("map", TypeExpr::Map),
        ] {
            if let Some(rest) = text.strip_prefix(wrapper) {
                let rest = rest.trim_start();
                if let Some(inner) = rest.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
                    return Ok(make(Box::new(TypeExpr::parse(inner)?)));
                }
                if rest.starts_with('<') {
                    return Err(format!("`{text}` is missing its closing `>`"));
                }
            }
        }
        if let Some((_, p)) = PRIMITIVES.iter().find(|(n, _)| *n == text) {
            return Ok(TypeExpr::Primitive(*p));
        }
        if text.is_empty() {
            return Err("the type is empty".to_owned());
        }
        if text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Ok(TypeExpr::Message(text.to_owned()));
        }
        Err(format!(
            "`{text}` is not a type: use a primitive ({}), optional<T>, list<T>, map<T> or a message name",
            PRIMITIVES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ))
    }

    /// The message names this type refers to.
    pub fn messages(&self) -> Vec<&str> {
        match self {
            TypeExpr::Primitive(_) => Vec::new(),
            TypeExpr::Optional(t) | TypeExpr::List(t) | TypeExpr::Map(t) => t.messages(),
            TypeExpr::Message(m) => vec![m.as_str()],
        }
    }
}

impl fmt::Display for TypeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeExpr::Primitive(p) => f.write_str(p.as_str()),
            TypeExpr::Optional(t) => write!(f, "optional<{t}>"),
            TypeExpr::List(t) => write!(f, "list<{t}>"),
            TypeExpr::Map(t) => write!(f, "map<{t}>"),
            TypeExpr::Message(m) => f.write_str(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_types() {
        assert_eq!(
            TypeExpr::parse("optional<list<video>>").unwrap(),
            TypeExpr::Optional(Box::new(TypeExpr::List(Box::new(TypeExpr::Message(
                "video".into()
            )))))
        );
        assert_eq!(
            TypeExpr::parse("map< u32 >").unwrap().to_string(),
            "map<u32>"
        );
        assert!(TypeExpr::parse("list<string")
            .unwrap_err()
            .contains("closing"));
        assert!(TypeExpr::parse("a b").is_err());
    }
}
