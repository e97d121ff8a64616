//! Identifiers in the generated code: any name becomes a valid Rust identifier, and each
//! namespace of the output ([`Scope`]) makes sure no two items get the same one.
//!
//! Front ends convert names first (kombu-build with `kombu::topology`'s case conversions, or a
//! `rust_name`); what arrives here is made valid in every edition, normalized as rustc will
//! normalize it (NFC), and checked for uniqueness the way rustc will compare it. A generated
//! name that would still collide is an error naming both items (and, for exchanges, queues,
//! messages, producers and consumers, which entities: [`crate::Error::entities`]), never code
//! that does not compile. These are the only identifier rules: `kombu check` runs this
//! generator to apply them.

use std::collections::HashMap;
use std::fmt;

use proc_macro2::{Ident, Span};
use unicode_normalization::UnicodeNormalization;

/// Keywords of any edition up to 2024, strict and reserved. Generated code is included in
/// crates of every edition, so all of them are written raw (`r#type`, `r#gen`).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers: they get a trailing `_` (`self_`).
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// The text of a valid identifier for `name`, without `r#`: NFC, every character an
/// identifier cannot hold replaced with `_`, and `_` before a leading character that cannot
/// start one (a digit), or for an empty name. Keywords are left as they are ([`ident`] makes
/// them raw or suffixes them).
pub(crate) fn identifier_text(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let mut text: String = name
        .nfc()
        .map(|c| {
            if unicode_ident::is_xid_continue(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let starts = text
        .chars()
        .next()
        .is_some_and(|c| c == '_' || unicode_ident::is_xid_start(c));
    if !starts {
        text.insert(0, '_');
    }
    if NOT_RAW.contains(&text.as_str()) {
        text.push('_');
    }
    text
}

/// The identifier for `name` (see [`identifier_text`]), raw when it is a keyword of any
/// edition. Never fails: a name no identifier can spell becomes one that can.
pub fn ident(name: &str) -> Result<Ident, crate::Error> {
    Ok(make(&identifier_text(name)))
}

/// Whether `text` is used as written: a Rust identifier (a keyword of any edition included,
/// written raw), not one [`identifier_text`] would change.
pub fn is_identifier(text: &str) -> bool {
    identifier_text(text) == text.strip_prefix("r#").unwrap_or(text)
}

fn make(text: &str) -> Ident {
    if KEYWORDS.contains(&text) {
        Ident::new_raw(text, Span::call_site())
    } else {
        Ident::new(text, Span::call_site())
    }
}

/// The constant beside a function `ident` (`media_dlx` → `MEDIA_DLX`): its upper case, with a
/// trailing `_` when upper case changes nothing (`名前` → `名前_`), so that a constant never
/// takes its function's identifier (names converted by `kombu::topology` never end in `_`, so
/// the suffix does not meet another item's name; a [`Scope`] refuses it if it does).
pub(crate) fn const_text(ident: &str) -> String {
    let text = identifier_text(ident);
    let upper = identifier_text(&text.to_uppercase());
    if upper == text {
        format!("{upper}_")
    } else {
        upper
    }
}

/// One namespace of the generated code (a module's types, a module's values, an impl's
/// methods, a struct's fields, a function's parameters). Each item claims its identifier;
/// names the generator itself uses there are reserved, and an item whose name is reserved gets
/// a trailing `_` (`new` → `new_` beside the generated `new`). Two items that would get the
/// same identifier are an error naming both.
pub(crate) struct Scope {
    what: String,
    reserved: &'static [&'static str],
    taken: HashMap<String, Owner>,
}

/// What claims an identifier in a [`Scope`]: a description for errors and, for a top-level
/// entity (an exchange, queue, message, producer or consumer), its kind and name, so that a
/// front end can say where it is declared.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    text: String,
    entity: Option<(&'static str, String)>,
}

impl Owner {
    /// The entity `kind` (`"queue"`) called `name`.
    pub(crate) fn entity(kind: &'static str, name: &str) -> Self {
        Owner::part_of(None, kind, name)
    }

    /// A part (`"the constant"`) of the entity `kind` called `name`, or the entity itself.
    pub(crate) fn part_of(part: Option<&str>, kind: &'static str, name: &str) -> Self {
        let text = match part {
            Some(part) => format!("{part} of {kind} `{name}`"),
            None => format!("{kind} `{name}`"),
        };
        Owner {
            text,
            entity: Some((kind, name.to_owned())),
        }
    }
}

impl From<fmt::Arguments<'_>> for Owner {
    fn from(text: fmt::Arguments<'_>) -> Self {
        Owner {
            text: text.to_string(),
            entity: None,
        }
    }
}

impl From<&str> for Owner {
    fn from(text: &str) -> Self {
        Owner {
            text: text.to_owned(),
            entity: None,
        }
    }
}

impl From<String> for Owner {
    fn from(text: String) -> Self {
        Owner { text, entity: None }
    }
}

impl Scope {
    /// An empty namespace, described as `what` in errors (`"module `queues`"`).
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Scope::reserving(what, &[])
    }

    /// A namespace where the generator uses `reserved` itself.
    pub(crate) fn reserving(what: impl Into<String>, reserved: &'static [&'static str]) -> Self {
        Scope {
            what: what.into(),
            reserved,
            taken: HashMap::new(),
        }
    }

    /// The identifier for `name`, claimed for `owner` (`"queue `orders`"`).
    pub(crate) fn claim(
        &mut self,
        name: &str,
        owner: impl Into<Owner>,
    ) -> Result<Ident, crate::Error> {
        self.claim_text(identifier_text(name), owner.into())
    }

    /// The constant for the function `ident` (see [`const_text`]), claimed for `owner`.
    pub(crate) fn claim_const(
        &mut self,
        ident: &str,
        owner: impl Into<Owner>,
    ) -> Result<Ident, crate::Error> {
        self.claim_text(const_text(ident), owner.into())
    }

    fn claim_text(&mut self, mut text: String, owner: Owner) -> Result<Ident, crate::Error> {
        while self.reserved.contains(&text.as_str()) {
            text.push('_');
        }
        if let Some(other) = self.taken.get(&text) {
            let entities = [other, &owner]
                .iter()
                .filter_map(|o| o.entity.clone())
                .collect();
            return Err(crate::Error::collision(
                format!(
                    "{} and {} would both be the Rust identifier `{text}` in {}: rename one of them",
                    other.text, owner.text, self.what
                ),
                entities,
            ));
        }
        let id = make(&text);
        self.taken.insert(text, owner);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str) -> String {
        ident(name).map(|i| i.to_string()).unwrap_or_default()
    }

    #[test]
    fn every_name_becomes_a_valid_identifier() {
        assert_eq!(text("video"), "video");
        assert_eq!(text("type"), "r#type");
        assert_eq!(text("gen"), "r#gen");
        assert_eq!(text("r#async"), "r#async");
        assert_eq!(text("self"), "self_");
        assert_eq!(text("Self"), "Self_");
        assert_eq!(text("crate"), "crate_");
        assert_eq!(text("_"), "__");
        assert_eq!(text(""), "__");
        assert_eq!(text("2fa"), "_2fa");
        assert_eq!(text("名前"), "名前");
        assert_eq!(text("a²"), "a_");
        assert_eq!(text("🎉"), "__");
        // Canonically equivalent spellings are one identifier to rustc, and here.
        assert_eq!(text("e\u{301}"), "\u{e9}");
        assert_eq!(text("\u{f900}"), "\u{8c48}");
    }

    #[test]
    fn a_constant_never_takes_its_functions_identifier() {
        assert_eq!(const_text("media_dlx"), "MEDIA_DLX");
        assert_eq!(const_text("名前"), "名前_");
        assert_eq!(const_text("заказ"), "ЗАКАЗ");
        assert_eq!(const_text("type"), "TYPE");
    }

    #[test]
    fn a_scope_suffixes_reserved_names_and_refuses_collisions() {
        let mut scope = Scope::reserving("impl `P`", &["new", "publish"]);
        let new = scope.claim("new", "method `new`").map(|i| i.to_string());
        assert_eq!(new.as_deref(), Ok("new_"));
        let err = scope.claim("new_", "method `new_`").map(|i| i.to_string());
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("method `new` and method `new_` would both be the Rust identifier `new_` in impl `P`: rename one of them".to_owned())
        );
        let mut consts = Scope::new("module `queues`");
        assert!(consts.claim_const("ß", "queue `ß`").is_ok());
        assert!(consts.claim_const("ss", "queue `ss`").is_err());
        let mut nfc = Scope::new("module `queues`");
        assert!(nfc.claim("\u{e9}", "queue `\u{e9}`").is_ok());
        assert!(nfc.claim("e\u{301}", "queue `e\u{301}`").is_err());
    }
}
