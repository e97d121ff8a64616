//! Names as Rust identifiers: the case conversions generated code uses, and the check that a
//! name survives them.

use heck::{ToSnakeCase, ToUpperCamelCase};

use super::EntityKind;

/// A type name: `feed_task` → `FeedTask`.
pub fn type_ident(name: &str) -> String {
    name.to_upper_camel_case()
}

/// A function, field or module name: `importFeed` → `import_feed`.
pub fn fn_ident(name: &str) -> String {
    name.to_snake_case()
}

/// A constant name: `media.video` → `MEDIA_VIDEO`. It is the function name in upper case,
/// with a trailing `_` when upper case changes nothing (`名前` → `名前_`), so that a queue's
/// or exchange's constant never takes its function's identifier (the rule kombu-build's
/// generator applies; upper case can still merge two names, `ß` and `ss`, which `kombu check`
/// refuses).
pub fn const_ident(name: &str) -> String {
    let function = fn_ident(name);
    let upper = function.to_uppercase();
    if upper == function {
        upper + "_"
    } else {
        upper
    }
}

/// The Rust types kombu-build generates at the top of a module for an entity: a message's
/// type, a producer's struct, a consumer's handler trait and consumer struct. They share one
/// namespace, so two entities whose types would have the same name are refused.
pub(crate) fn generated_types(kind: EntityKind, name: &str) -> Vec<String> {
    let stem = type_ident(name);
    match kind {
        EntityKind::Message => vec![stem],
        EntityKind::Producer => vec![format!("{stem}Producer")],
        EntityKind::Consumer => vec![format!("{stem}Handler"), format!("{stem}Consumer")],
        _ => Vec::new(),
    }
}

/// Keywords that cannot be written even as raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Why `ident` (already case-converted) is not usable, if it is not.
pub(crate) fn problem(ident: &str) -> Option<&'static str> {
    let mut chars = ident.chars();
    match chars.next() {
        None => Some("it has no letters or digits"),
        Some(c) if c.is_ascii_digit() => Some("it starts with a digit"),
        Some(c) if !(c.is_alphabetic() || c == '_') => Some("it does not start with a letter"),
        _ if NOT_RAW.contains(&ident) => Some("it is a keyword that cannot be a raw identifier"),
        _ if !ident.chars().all(|c| c.is_alphanumeric() || c == '_') => {
            Some("it holds characters Rust identifiers cannot")
        }
        _ => None,
    }
}

/// A rename that would work, for the help line.
pub(crate) fn suggest(kind: &str, name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    let cleaned = cleaned.trim_matches('_');
    if cleaned.is_empty() {
        return format!("{kind}_1");
    }
    if NOT_RAW.contains(&cleaned) {
        return format!("{cleaned}_{kind}");
    }
    if cleaned.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("{kind}_{cleaned}");
    }
    cleaned.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(type_ident("feed_task"), "FeedTask");
        assert_eq!(type_ident("feed-task"), "FeedTask");
        assert_eq!(fn_ident("importFeed"), "import_feed");
        assert_eq!(const_ident("media.video"), "MEDIA_VIDEO");
        assert_eq!(const_ident("名前"), "名前_");
        assert_eq!(const_ident("ß"), const_ident("ss"));
        assert_eq!(
            generated_types(EntityKind::Producer, "media"),
            generated_types(EntityKind::Message, "media_producer")
        );
        assert_eq!(problem(&type_ident("2fa")), Some("it starts with a digit"));
        assert_eq!(
            problem(&fn_ident("self")),
            Some("it is a keyword that cannot be a raw identifier")
        );
        assert_eq!(problem(&fn_ident("type")), None);
        assert_eq!(suggest("message", "2fa"), "message_2fa");
        assert_eq!(suggest("field", "self"), "self_field");
    }
}
