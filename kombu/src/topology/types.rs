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

/// How many `optional<`, `list<` and `map<` a field type may nest. Code generation follows
/// the nesting, and no message needs more than a few.
pub(crate) const MAX_TYPE_DEPTH: usize = 64;

/// Makes a wrapper type around its inner type.
type Wrap = fn(Box<TypeExpr>) -> TypeExpr;

const WRAPPERS: &[(&str, Wrap)] = &[
    ("optional", TypeExpr::Optional),
    ("list", TypeExpr::List),
    ("map", TypeExpr::Map),
];

/// Why a type expression did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeError {
    /// It nests deeper than [`MAX_TYPE_DEPTH`] (else it is malformed).
    pub(crate) too_deep: bool,
    /// What is wrong, in one sentence.
    pub(crate) message: String,
}

impl TypeError {
    fn invalid(message: String) -> Self {
        TypeError {
            too_deep: false,
            message,
        }
    }
}

/// A type expression for a message: cut to 60 characters, so that a hostile one cannot fill
/// the screen.
fn shown(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

impl TypeExpr {
    /// Parses a type expression (at most 64 levels of `optional<`, `list<` and `map<`).
    pub fn parse(text: &str) -> Result<TypeExpr, String> {
        parse_type(text).map_err(|e| e.message)
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

/// Parses a type expression, peeling the wrappers off in a loop (no recursion, however deep
/// the text nests).
pub(crate) fn parse_type(text: &str) -> Result<TypeExpr, TypeError> {
    let mut wrappers: Vec<Wrap> = Vec::new();
    let mut text = text.trim();
    'peel: loop {
        for (wrapper, make) in WRAPPERS {
            let Some(rest) = text.strip_prefix(wrapper) else {
                continue;
            };
            let rest = rest.trim_start();
            if let Some(inner) = rest.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
                if wrappers.len() == MAX_TYPE_DEPTH {
                    return Err(TypeError {
                        too_deep: true,
                        message: format!(
                            "the type nests `optional<`, `list<` and `map<` more than {MAX_TYPE_DEPTH} levels deep"
                        ),
                    });
                }
                wrappers.push(*make);
                text = inner.trim();
                continue 'peel;
            }
            if rest.starts_with('<') {
                return Err(TypeError::invalid(format!(
                    "`{}` is missing its closing `>`",
                    shown(text)
                )));
            }
        }
        break;
    }
    let mut t = leaf(text)?;
    for make in wrappers.into_iter().rev() {
        t = make(Box::new(t));
    }
    Ok(t)
}

/// A type without wrappers: a primitive or a message name.
fn leaf(text: &str) -> Result<TypeExpr, TypeError> {
    if let Some((_, p)) = PRIMITIVES.iter().find(|(n, _)| *n == text) {
        return Ok(TypeExpr::Primitive(*p));
    }
    if text.is_empty() {
        return Err(TypeError::invalid("the type is empty".to_owned()));
    }
    if text
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Ok(TypeExpr::Message(text.to_owned()));
    }
    Err(TypeError::invalid(format!(
        "`{}` is not a type: use a primitive ({}), optional<T>, list<T>, map<T> or a message name",
        shown(text),
        PRIMITIVES
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    )))
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
