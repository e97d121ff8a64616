//! The comments of a topology file, so that `kombu fmt` can refuse to lose one.
//!
//! A `#` starts a comment only outside strings: TOML's basic, literal and multi-line strings,
//! YAML's quoted and block scalars. JSON has no comments.

use kombu::topology::Format;

/// Every comment in `text`: its line (1-based) and its text, without the `#`, trimmed.
pub(crate) fn comments(format: Format, text: &str) -> Vec<(usize, String)> {
    match format {
        Format::Toml => toml_comments(text),
        Format::Json => Vec::new(),
        _ => yaml_comments(text),
    }
}

/// The first comment of `before` that `after` does not have (compared by text, each kept
/// comment counted once).
pub(crate) fn first_lost(format: Format, before: &str, after: &str) -> Option<(usize, String)> {
    let mut kept: Vec<String> = comments(format, after)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    for (line, comment) in comments(format, before) {
        match kept.iter().position(|k| *k == comment) {
            Some(i) => {
                kept.swap_remove(i);
            }
            None => return Some((line, comment)),
        }
    }
    None
}

#[derive(PartialEq)]
enum In {
    Code,
    Basic,
    Literal,
    MultiBasic,
    MultiLiteral,
}

const TRIPLE_DOUBLE: &[u8] = b"\"\"\"";
const TRIPLE_SINGLE: &[u8] = b"'''";

/// TOML comments: a `#` outside basic, literal and multi-line strings.
fn toml_comments(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut state = In::Code;
    let bytes = text.as_bytes();
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let b = bytes[i];
        match state {
            In::Code if b == b'#' => {
                let end = rest
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| i + p);
                let comment = text.get(i + 1..end).unwrap_or_default();
                out.push((line, comment.trim().to_owned()));
                i = end;
                continue;
            }
            In::Code if rest.starts_with(TRIPLE_DOUBLE) => {
                state = In::MultiBasic;
                i += 3;
                continue;
            }
            In::Code if rest.starts_with(TRIPLE_SINGLE) => {
                state = In::MultiLiteral;
                i += 3;
                continue;
            }
            In::Code if b == b'"' => state = In::Basic,
            In::Code if b == b'\'' => state = In::Literal,
            In::Basic | In::MultiBasic if b == b'\\' => {
                if rest.get(1) == Some(&b'\n') {
                    line += 1;
                }
                i += 2;
                continue;
            }
            In::Basic if b == b'"' || b == b'\n' => state = In::Code,
            In::Literal if b == b'\'' || b == b'\n' => state = In::Code,
            // Up to two more quotes belong to the string (`""""` ends with a quote).
            In::MultiBasic if rest.starts_with(TRIPLE_DOUBLE) => {
                state = In::Code;
                i += rest.iter().take_while(|&&c| c == b'"').count().min(5);
                continue;
            }
            In::MultiLiteral if rest.starts_with(TRIPLE_SINGLE) => {
                state = In::Code;
                i += rest.iter().take_while(|&&c| c == b'\'').count().min(5);
                continue;
            }
            _ => {}
        }
        if b == b'\n' {
            line += 1;
        }
        i += 1;
    }
    out
}

/// Whether `value` (the last word of a line's code) is a block scalar indicator: `|` or `>`
/// with optional chomping and indentation indicators.
fn block_indicator(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some('|' | '>')) && chars.all(|c| matches!(c, '-' | '+' | '1'..='9'))
}

/// YAML comments: a `#` at the start of a line or after white space, outside quoted scalars
/// (which may run over several lines) and block scalars (`|`, `>`).
fn yaml_comments(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    // While in a block scalar: the indentation its lines are deeper than.
    let mut block: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block = None;
        }
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        let mut prev: Option<char> = None;
        // The last character outside white space, to tell a quote that opens a scalar
        // (`key: "x"`, `- 'x'`, `[ "x"`) from an apostrophe inside one (`don't`).
        let mut last: Option<char> = None;
        let mut code_end = line.len();
        let mut k = 0;
        while k < chars.len() {
            let (at, c) = chars[k];
            match quote {
                Some('"') if c == '\\' => {
                    k += 2;
                    prev = None;
                    continue;
                }
                Some('\'') if c == '\'' && chars.get(k + 1).map(|p| p.1) == Some('\'') => {
                    k += 2;
                    continue;
                }
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => {
                    if c == '#' && prev.is_none_or(char::is_whitespace) {
                        out.push((n + 1, line[at + 1..].trim().to_owned()));
                        code_end = at;
                        break;
                    }
                    let opens = last.is_none_or(|t| ":-[{,?".contains(t))
                        && prev.is_none_or(|p| p.is_whitespace() || "[{,".contains(p));
                    if (c == '"' || c == '\'') && opens {
                        quote = Some(c);
                    }
                    if !c.is_whitespace() {
                        last = Some(c);
                    }
                }
            }
            prev = Some(c);
            k += 1;
        }
        if quote.is_none() {
            let code = line[..code_end].trim_end();
            let value = code.rsplit([' ', '\t']).next().unwrap_or_default();
            let before = code[..code.len() - value.len()].trim_end();
            if block_indicator(value)
                && (before.is_empty() || before.ends_with(':') || before.ends_with('-'))
            {
                block = Some(indent);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(format: Format, text: &str) -> Vec<(usize, String)> {
        comments(format, text)
    }

    #[test]
    fn toml_comments_outside_strings_only() {
        let text = "# head\nversion = 1 # v\n[exchanges.a] # trailing\ndescription = \"a # b\" # real\nx = 'c # d'\ny = \"\"\"\n# not\n\"\"\"\nz = '''\n# not\n''' # after\ne = \"q\\\" # no\" # yes\n";
        assert_eq!(
            texts(Format::Toml, text),
            vec![
                (1, "head".to_owned()),
                (2, "v".to_owned()),
                (3, "trailing".to_owned()),
                (4, "real".to_owned()),
                (11, "after".to_owned()),
                (12, "yes".to_owned()),
            ]
        );
    }

    #[test]
    fn yaml_comments_outside_scalars_only() {
        let text = "# head\nversion: 1 # v\nexchanges:\n  a: # trailing\n    description: \"a # b\" # real\n    x: 'it''s # no' # yes\n    y: don't#no\n    z: |\n      # content\n      more\n    w: >- # folded\n      # content too\n  b: {} # after\nq: \"multi\n  # inside\n  line\"\n";
        assert_eq!(
            texts(Format::Yaml, text),
            vec![
                (1, "head".to_owned()),
                (2, "v".to_owned()),
                (4, "trailing".to_owned()),
                (5, "real".to_owned()),
                (6, "yes".to_owned()),
                (11, "folded".to_owned()),
                (13, "after".to_owned()),
            ]
        );
    }

    #[test]
    fn a_comment_missing_after_is_lost() {
        let before = "# head\nversion = 1\n[exchanges.a] # about a\n";
        let after = "# head\nversion = 1\n\n[exchanges.a]\n";
        assert_eq!(
            first_lost(Format::Toml, before, after),
            Some((3, "about a".to_owned()))
        );
        assert_eq!(first_lost(Format::Toml, after, after), None);
    }
}
