//! Names in the case Rust expects: the conversions kombu-build applies before kombu-codegen
//! makes each a valid identifier (a leading digit, a keyword, characters no identifier holds),
//! and the test of a path segment in a message's `rust` path. Names themselves are the
//! broker's: any name RabbitMQ accepts is a valid name here.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// A type name: `feed_task` → `FeedTask`.
pub fn type_ident(name: &str) -> String {
    name.to_upper_camel_case()
}

/// A function, field or module name: `importFeed` → `import_feed`.
pub fn fn_ident(name: &str) -> String {
    name.to_snake_case()
}

/// Keywords that cannot be written even as raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Why `ident` (a segment of a Rust path) is not an identifier, if it is not.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(type_ident("feed_task"), "FeedTask");
        assert_eq!(type_ident("feed-task"), "FeedTask");
        assert_eq!(fn_ident("importFeed"), "import_feed");
        assert_eq!(problem(&type_ident("2fa")), Some("it starts with a digit"));
        assert_eq!(
            problem(&fn_ident("self")),
            Some("it is a keyword that cannot be a raw identifier")
        );
        assert_eq!(problem(&fn_ident("type")), None);
    }
}
