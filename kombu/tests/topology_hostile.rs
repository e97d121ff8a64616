//! Hostile topology files: alias bombs, nesting deep enough to overflow a stack, files large
//! enough to expose quadratic checks, and names and lines that would garble a terminal. Each
//! is refused (or checked) with a diagnostic at its place, never a crash, a hang or gigabytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "topology")]

use std::fmt::Write as _;

use kombu::topology::{Code, Diagnostics, Format, SourceFile, Topology};

fn load(name: &str, format: Format, text: &str) -> Result<Topology, Diagnostics> {
    Topology::from_sources([SourceFile::new(name, format, text)])
}

/// The one error of a refused file, with its code.
fn only_error(result: Result<Topology, Diagnostics>) -> kombu::topology::Diagnostic {
    let d = match result {
        Ok(_) => panic!("the file loaded"),
        Err(d) => d,
    };
    let errors: Vec<_> = d.errors().cloned().collect();
    assert_eq!(errors.len(), 1, "{d}");
    errors.into_iter().next().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Diagnostics that stay readable

#[test]
fn a_long_line_is_cut_around_the_column() {
    // One 200 KB line with a bad value near its middle.
    let mut text = String::from("{\"version\": 1, \"queues\": {");
    for i in 0..2500 {
        write!(text, "\"queue-{i:05}\": {{\"durable\": true}}, ").unwrap();
    }
    let column = text.chars().count() + 1;
    text.push_str("\"bad\": {\"durable\": \"maybe\"}, ");
    for i in 2500..5000 {
        write!(text, "\"queue-{i:05}\": {{\"durable\": true}}, ").unwrap();
    }
    text.push_str("\"last\": {}}}");
    assert!(text.len() > 150_000);
    let d = only_error(load("long.json", Format::Json, &text));
    assert_eq!(d.code, Code::InvalidValue, "{d}");
    let loc = d.location.as_ref().unwrap();
    assert_eq!((loc.line, loc.column as usize), (1, column + 19), "{d}");
    let shown = d.to_string();
    assert!(shown.len() < 600, "{shown}");
    assert!(shown.lines().all(|l| l.chars().count() <= 140), "{shown}");
    // The caret is under the value, and both cuts are marked.
    let lines: Vec<&str> = shown.lines().collect();
    let source = lines.iter().find(|l| l.starts_with("1 | ")).unwrap();
    let caret = lines.iter().find(|l| l.contains('^')).unwrap();
    let at = caret.find('^').unwrap();
    let under: String = source.chars().skip(at).take(7).collect();
    assert_eq!(under, "\"maybe\"", "{shown}");
    assert!(
        source.starts_with("1 | …") && source.ends_with('…'),
        "{shown}"
    );
}

#[test]
fn control_characters_in_names_are_escaped() {
    let json = "{\"version\": 1, \"queues\": {\"evil\\n\\u0000name\\u001b[2J\\u202e\": {}}}";
    let t = load("names.json", Format::Json, json).unwrap();
    let w = &t.warnings()[0];
    assert_eq!(w.code, Code::OrphanQueue);
    assert!(
        w.message.contains("`evil\\n\\0name\\u{1b}[2J\\u{202e}`"),
        "{}",
        w.message
    );
    let shown = w.to_string();
    assert!(
        !shown
            .chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
        "{shown:?}"
    );
}

#[test]
fn control_characters_in_echoed_lines_are_escaped() {
    // TOML refuses raw control characters; the line it refuses is shown escaped.
    let text = "version = 1\ndescription = \"\u{1b}[2J\u{7}\"\n";
    let d = load("raw.toml", Format::Toml, text).unwrap_err();
    let shown = d.to_string();
    assert!(
        shown.contains("2 | description = \"\\u{1b}[2J\\u{7}\""),
        "{shown}"
    );
    assert!(
        !shown.chars().any(|c| c != '\n' && c.is_control()),
        "{shown:?}"
    );
}
