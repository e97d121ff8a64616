//! The `#[kombu(...)]` attribute language: parsed into entries with spans, checked against
//! the known keys of each place (unknown keys get a did-you-mean, duplicates are refused), every
//! problem collected.

use proc_macro2::Span;
use syn::spanned::Spanned;

/// A parsed value.
#[derive(Clone)]
pub(crate) enum Value {
    /// `key = "text"`.
    Str(String),
    /// `key = 10`.
    Int(u64),
    /// `key = true`, or a bare `key`.
    Bool(bool),
    /// `key = ["a", "b"]`.
    List(Vec<String>),
    /// `key(...)`.
    Nested(Vec<Entry>),
}

/// `key = value` or `key(...)`, with the key's span.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) span: Span,
    pub(crate) value: Value,
    pub(crate) value_span: Span,
}

/// Collects errors so that all of them are reported at once.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    pub(crate) fn push_error(&mut self, e: syn::Error) {
        self.errors.push(e);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn into_error(self) -> Option<syn::Error> {
        let mut all = self.errors.into_iter();
        let mut first = all.next()?;
        for e in all {
            first.combine(e);
        }
        Some(first)
    }
}

/// Every `#[kombu(...)]` entry of `attrs`, in order.
pub(crate) fn parse(attrs: &[syn::Attribute], errors: &mut Errors) -> Vec<Entry> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("kombu")) {
        if let Err(e) = attr.parse_nested_meta(|meta| {
            out.push(entry(meta, errors)?);
            Ok(())
        }) {
            errors.push_error(e);
        }
    }
    out
}

fn entry(meta: syn::meta::ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<Entry> {
    let key = meta
        .path
        .get_ident()
        .map(|i| i.to_string().trim_start_matches("r#").to_owned())
        .unwrap_or_else(|| quote::ToTokens::to_token_stream(&meta.path).to_string());
    let span = meta.path.span();
    if meta.input.peek(syn::Token![=]) {
        let expr: syn::Expr = meta.value()?.parse()?;
        let value_span = expr.span();
        let value = match &expr {
            syn::Expr::Lit(l) => match &l.lit {
                syn::Lit::Str(s) => Value::Str(s.value()),
                syn::Lit::Int(i) => Value::Int(i.base10_parse()?),
                syn::Lit::Bool(b) => Value::Bool(b.value),
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "expected a string, an integer or a boolean",
                    ))
                }
            },
            syn::Expr::Array(a) => {
                let mut items = Vec::new();
                for e in &a.elems {
                    match e {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }) => items.push(s.value()),
                        other => errors.push(other.span(), "expected a string"),
                    }
                }
                Value::List(items)
            }
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected a string, an integer, a boolean or a list of strings",
                ))
            }
        };
        Ok(Entry {
            key,
            span,
            value,
            value_span,
        })
    } else if meta.input.peek(syn::token::Paren) {
        let mut nested = Vec::new();
        meta.parse_nested_meta(|inner| {
            nested.push(entry(inner, errors)?);
            Ok(())
        })?;
        Ok(Entry {
            key,
            span,
            value: Value::Nested(nested),
            value_span: span,
        })
    } else {
        Ok(Entry {
            key,
            span,
            value: Value::Bool(true),
            value_span: span,
        })
    }
}

/// What a key takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    Bool,
    List,
    Nested,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Int => "an integer",
            Kind::Bool => "a boolean",
            Kind::List => "a list of strings",
            Kind::Nested => "a list of keys in parentheses",
        }
    }
}

/// A known key: its name, what it takes, whether it may repeat.
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) repeat: bool,
}

pub(crate) const fn key(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        repeat: false,
    }
}

pub(crate) const fn many(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        repeat: true,
    }
}

/// Checks `entries` against `known` (reporting unknown, mistyped and duplicate keys) and
/// returns the ones that passed. Keys in `ignored` belong to the other derive: accepted, not
/// returned.
pub(crate) fn check(
    entries: &[Entry],
    known: &[Key],
    ignored: &[&str],
    place: &str,
    errors: &mut Errors,
) -> Vec<Entry> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for e in entries {
        if ignored.contains(&e.key.as_str()) {
            continue;
        }
        let Some(k) = known.iter().find(|k| k.name == e.key) else {
            let names = known.iter().map(|k| k.name).chain(ignored.iter().copied());
            let hint = match crate::derive::did_you_mean(&e.key, names) {
                Some(m) => format!("; did you mean `{m}`?"),
                None => format!(
                    "; expected one of {}",
                    known
                        .iter()
                        .map(|k| format!("`{}`", k.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            errors.push(e.span, format!("unknown key `{}` in {place}{hint}", e.key));
            continue;
        };
        let kind_ok = matches!(
            (&e.value, k.kind),
            (Value::Str(_), Kind::Str)
                | (Value::Int(_), Kind::Int)
                | (Value::Bool(_), Kind::Bool)
                | (Value::List(_), Kind::List)
                | (Value::Nested(_), Kind::Nested)
        );
        if !kind_ok {
            errors.push(
                e.value_span,
                format!("`{}` takes {}", e.key, k.kind.describe()),
            );
            continue;
        }
        if !k.repeat && seen.contains(&k.name) {
            errors.push(e.span, format!("duplicate key `{}` in {place}", e.key));
            continue;
        }
        seen.push(k.name);
        out.push(e.clone());
    }
    out
}

/// The first entry named `name`.
pub(crate) fn get<'a>(entries: &'a [Entry], name: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.key == name)
}

pub(crate) fn str_of(entries: &[Entry], name: &str) -> Option<(String, Span)> {
    match get(entries, name) {
        Some(Entry {
            value: Value::Str(s),
            value_span,
            ..
        }) => Some((s.clone(), *value_span)),
        _ => None,
    }
}

pub(crate) fn bool_of(entries: &[Entry], name: &str) -> Option<bool> {
    match get(entries, name) {
        Some(Entry {
            value: Value::Bool(b),
            ..
        }) => Some(*b),
        _ => None,
    }
}

pub(crate) fn int_of(entries: &[Entry], name: &str) -> Option<(u64, Span)> {
    match get(entries, name) {
        Some(Entry {
            value: Value::Int(n),
            value_span,
            ..
        }) => Some((*n, *value_span)),
        _ => None,
    }
}
