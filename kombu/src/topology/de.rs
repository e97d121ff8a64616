//! Decoding nodes into the model with serde, keeping every error's place.
//!
//! A serde `Deserializer` over [`Node`]s. It differs from a plain one in three ways that make
//! the errors useful: every error carries the span of the innermost node it came from; unknown
//! keys of a struct are reported (with a did-you-mean) and skipped instead of ending the
//! decode, so all of them show at once; and a failing entry can be skipped and the decode
//! retried, so several bad values in one entity are all reported. [`At`] fields receive the
//! span of their value.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::rc::Rc;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::diagnostic::{escape, Code, Sink};
use super::model::{AT_NAME, AT_SPAN, AT_VALUE};
use super::node::{Key, Node, NodeValue};
use super::source::{SourceFile, Span};
use crate::suggest::did_you_mean;

/// A decode error, with where it happened.
#[derive(Debug)]
pub(crate) struct DeError {
    code: Code,
    message: String,
    help: Option<String>,
    span: Option<Span>,
    /// The key span of the innermost table entry holding the failing value.
    entry: Option<Option<Span>>,
    missing: Option<&'static str>,
    suppressed: bool,
}

impl DeError {
    fn new(code: Code, message: String) -> Self {
        DeError {
            code,
            message,
            help: None,
            span: None,
            entry: None,
            missing: None,
            suppressed: false,
        }
    }

    fn at(mut self, span: Span, entry: Option<Span>) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
        }
        if self.entry.is_none() {
            self.entry = Some(entry);
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

fn one_of(expected: &[&str]) -> String {
    match expected {
        [] => "none".to_owned(),
        [one] => format!("`{one}`"),
        _ => expected
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let msg = msg.to_string();
        // A value's own deserializer may add a help line (a duration without its unit).
        match msg.split_once(crate::duration::HELP_MARK) {
            Some((message, help)) => {
                let mut e = DeError::new(Code::InvalidValue, message.to_owned());
                e.help = Some(help.to_owned());
                e
            }
            None => DeError::new(Code::InvalidValue, msg),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = DeError::new(Code::MissingKey, format!("missing key `{field}`"));
        e.missing = Some(field);
        e
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::new(Code::UnknownKey, format!("unknown key `{field}`"));
        e.help = Some(match did_you_mean(field, expected.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("known keys here: {}", one_of(expected)),
        });
        e
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::new(
            Code::InvalidValue,
            format!(
                "unknown value `{variant}`, expected one of {}",
                one_of(expected)
            ),
        );
        if let Some(m) = did_you_mean(variant, expected.iter().copied()) {
            e.help = Some(format!("did you mean `{m}`?"));
        }
        e
    }
}

/// State shared by the deserializers of one decode.
struct Ctx<'f> {
    files: &'f [SourceFile],
    sink: RefCell<Sink>,
    skip: RefCell<HashSet<Span>>,
    last_key: RefCell<Option<Span>>,
}

/// Decodes `node` as a `T`, reporting every problem found to `sink`. Returns the value only
/// when it decoded without error.
pub(crate) fn decode<T: DeserializeOwned>(
    files: &[SourceFile],
    node: &Node,
    context: &str,
    sink: &mut Sink,
) -> Option<T> {
    let ctx = Ctx {
        files,
        sink: RefCell::new(Sink::default()),
        skip: RefCell::new(HashSet::new()),
        last_key: RefCell::new(None),
    };
    let mut failed = false;
    let mut result = None;
    for _ in 0..64 {
        match T::deserialize(De {
            node,
            ctx: &ctx,
            entry: None,
        }) {
            Ok(v) => {
                result = Some(v);
                break;
            }
            Err(e) => {
                if e.suppressed {
                    failed = true;
                    break;
                }
                failed = true;
                let mut s = ctx.sink.borrow_mut();
                let d = s.push(files, e.code, e.span, e.message);
                if let Some(h) = e.help {
                    d.help(h);
                }
                drop(s);
                match e.entry.flatten() {
                    Some(k) if ctx.skip.borrow_mut().insert(k) => continue,
                    _ => break,
                }
            }
        }
    }
    let mut items = ctx.sink.into_inner().items;
    let mut seen = HashSet::new();
    items.retain(|d| seen.insert(d.clone()));
    if !context.is_empty() {
        // The context holds the entity's name, as read from the file.
        let context = escape(context);
        for d in &mut items {
            d.message = format!("{context}: {}", d.message);
        }
    }
    let errors = items.iter().any(|d| d.is_error());
    sink.items.extend(items);
    if failed || errors {
        None
    } else {
        result
    }
}

struct De<'de, 'f> {
    node: &'de Node,
    ctx: &'de Ctx<'f>,
    entry: Option<Span>,
}

impl<'de, 'f> De<'de, 'f> {
    fn child(&self, node: &'de Node, entry: Option<Span>) -> De<'de, 'f> {
        De {
            node,
            ctx: self.ctx,
            entry,
        }
    }

    fn fix(&self, e: DeError) -> DeError {
        e.at(self.node.span, self.entry)
    }

    fn any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Int(n) => {
                if let Ok(v) = i64::try_from(*n) {
                    visitor.visit_i64(v)
                } else if let Ok(v) = u64::try_from(*n) {
                    visitor.visit_u64(v)
                } else {
                    visitor.visit_i128(*n)
                }
            }
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::Str(s) => visitor.visit_str(s),
            NodeValue::Seq(items) => visitor.visit_seq(Seq {
                items: items.iter(),
                de: &self,
            }),
            NodeValue::Map(entries) => self.map(entries, None, visitor),
        };
        r.map_err(|e| self.fix(e))
    }

    fn map<V: Visitor<'de>>(
        &self,
        entries: &'de [(Key, Node)],
        known: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let skipped = Rc::new(RefCell::new(Vec::new()));
        let access = Map {
            entries: entries.iter(),
            value: None,
            known,
            de: self,
            skipped: Rc::clone(&skipped),
        };
        visitor.visit_map(access).map_err(|mut e| {
            if e.code == Code::UnknownKey && e.span.is_none() {
                e.span = *self.ctx.last_key.borrow();
            }
            if let Some(field) = e.missing {
                if skipped.borrow().iter().any(|s: &String| s == field) {
                    e.suppressed = true;
                }
            }
            e
        })
    }
}

struct Seq<'de, 'b, 'f> {
    items: std::slice::Iter<'de, Node>,
    de: &'b De<'de, 'f>,
}

impl<'de> de::SeqAccess<'de> for Seq<'de, '_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(self.de.child(node, self.de.entry))
                .map(Some)
                .map_err(|e| e.at(node.span, self.de.entry)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'de, 'b, 'f> {
    entries: std::slice::Iter<'de, (Key, Node)>,
    value: Option<&'de (Key, Node)>,
    known: Option<&'static [&'static str]>,
    de: &'b De<'de, 'f>,
    skipped: Rc<RefCell<Vec<String>>>,
}

impl<'de> de::MapAccess<'de> for Map<'de, '_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for entry in self.entries.by_ref() {
            let (key, _) = entry;
            if self.de.ctx.skip.borrow().contains(&key.span) {
                self.skipped.borrow_mut().push(key.name.clone());
                continue;
            }
            if let Some(known) = self.known {
                if !known.contains(&key.name.as_str()) {
                    let e = <DeError as de::Error>::unknown_field(&key.name, known);
                    let mut sink = self.de.ctx.sink.borrow_mut();
                    let d = sink.push(self.de.ctx.files, e.code, Some(key.span), e.message);
                    if let Some(h) = e.help {
                        d.help(h);
                    }
                    continue;
                }
            }
            *self.de.ctx.last_key.borrow_mut() = Some(key.span);
            self.value = Some(entry);
            return seed
                .deserialize(KeyDe {
                    key,
                    ctx: self.de.ctx,
                })
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some((key, node)) => seed
                .deserialize(self.de.child(node, Some(key.span)))
                .map_err(|e| e.at(node.span, Some(key.span))),
            None => Err(<DeError as de::Error>::custom("value without a key")),
        }
    }
}

/// Deserializes a table key (a string, or an [`At`] string with the key's span).
struct KeyDe<'de, 'f> {
    key: &'de Key,
    ctx: &'de Ctx<'f>,
}

impl<'de> de::Deserializer<'de> for KeyDe<'de, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor
            .visit_str(&self.key.name)
            .map_err(|e: DeError| e.at(self.key.span, Some(self.key.span)))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == AT_NAME {
            return visitor
                .visit_map(AtAccess {
                    span: self.key.span,
                    value: Some(KeyDe {
                        key: self.key,
                        ctx: self.ctx,
                    }),
                    state: 0,
                })
                .map_err(|e| e.at(self.key.span, Some(self.key.span)));
        }
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// Hands an [`At`] its span and then its value.
struct AtAccess<D> {
    span: Span,
    value: Option<D>,
    state: u8,
}

impl<'de, D: de::Deserializer<'de, Error = DeError>> de::MapAccess<'de> for AtAccess<D> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let key = match self.state {
            0 => AT_SPAN,
            1 => AT_VALUE,
            _ => return Ok(None),
        };
        self.state += 1;
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        if self.state == 1 {
            let s = self.span;
            let packed = [
                s.file.0,
                s.start.line,
                s.start.column,
                s.end.line,
                s.end.column,
            ];
            return seed.deserialize(packed.to_vec().into_deserializer());
        }
        match self.value.take() {
            Some(d) => seed.deserialize(d),
            None => Err(<DeError as de::Error>::custom("value read twice")),
        }
    }
}

impl<'de> de::Deserializer<'de> for De<'de, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.value == NodeValue::Null {
            visitor.visit_none().map_err(|e| self.fix(e))
        } else {
            let (span, entry) = (self.node.span, self.entry);
            visitor.visit_some(self).map_err(|e| e.at(span, entry))
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (span, entry) = (self.node.span, self.entry);
        if name == AT_NAME {
            return visitor
                .visit_map(AtAccess {
                    span,
                    value: Some(self),
                    state: 0,
                })
                .map_err(|e| e.at(span, entry));
        }
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(span, entry))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Map(entries) => self
                .map(entries, Some(fields), visitor)
                .map_err(|e| self.fix(e)),
            _ => self.any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            NodeValue::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => Err(DeError::new(
                Code::InvalidValue,
                format!("expected a string, found {}", other.describe()),
            )),
        };
        r.map_err(|e| self.fix(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map identifier
    }
}
