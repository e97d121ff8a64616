//! YAML bodies, read with `serde_norway` (the maintained fork of the archived `serde_yaml`).
//!
//! An alias repeats its anchor's node wherever it appears, so a short body can stand for a
//! huge value (`serde_norway` only bounds the number of alias jumps): decoding goes through
//! [`Bounded`], which stops at the depth and size bounds of [`super::limits`].

use serde::de::DeserializeSeed;

use super::limits::{Bounded, Budget, MAX_DEPTH};
use crate::error::{Error, Result};
use crate::value::Value;

pub(super) fn decode(body: &[u8]) -> Result<Value> {
    if let Some(at) = flow_too_deep(body) {
        return Err(Error::decode(format!(
            "body refused: flow collections nest deeper than {MAX_DEPTH} levels (at byte {at})"
        )));
    }
    let budget = Budget::default();
    Bounded::new("YAML", body.len(), &budget)
        .deserialize(serde_norway::Deserializer::from_slice(body))
        .map_err(|e| {
            if budget.refused() {
                Error::decode(format!("body refused: {e}"))
            } else {
                Error::decode(format!("body is not valid YAML: {e}"))
            }
        })
}

/// Where `[`/`{` first nest past [`MAX_DEPTH`], outside quoted scalars and comments: the
/// parser underneath reads the whole body into events before the bounded decoder sees any,
/// and deep flow nesting (a 120 KB body of brackets) cost it seconds. One linear pass; it may
/// over-count only where brackets stand in plain scalars, which nest nothing that deep.
fn flow_too_deep(body: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    let mut line_start = true;
    let mut after_space = true;
    while i < body.len() {
        let c = body[i];
        match c {
            b'"' => {
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i += if body[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' => {
                i += 1;
                while i < body.len() {
                    if body[i] == b'\'' {
                        if body.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'#' if line_start || after_space => {
                while i < body.len() && body[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        line_start = c == b'\n';
        after_space = c.is_ascii_whitespace();
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        let deep = "[".repeat(60_000) + &"]".repeat(60_000);
        let err = decode(deep.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("deeper than 128"), "{err}");
        let ok = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(flow_too_deep(ok.as_bytes()).is_none());
    }

    #[test]
    fn brackets_in_quotes_and_comments_do_not_count() {
        let quoted = format!(
            "a: \"{}\"\nb: '{}'\n# {}\nc: [1, {{d: 2}}]\n",
            "[".repeat(500),
            "{".repeat(500),
            "[".repeat(500)
        );
        assert!(flow_too_deep(quoted.as_bytes()).is_none());
        assert!(decode(quoted.as_bytes()).is_ok());
    }
}
