//! The parsed form of a file before it means anything: a tree of nodes with spans.
//!
//! TOML (through `toml`'s spanned document parser) and YAML/JSON (through `saphyr-parser`'s
//! event stream) both land here, so everything after parsing — decoding into the model,
//! errors, validation — is written once for every format.

use saphyr_parser::{Event, Parser, ScalarStyle};
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Code, Sink};
use super::source::{FileId, Pos, SourceFile, Span};

/// A value with the span it was read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: NodeValue,
    pub(crate) span: Span,
}

/// A key of a table, with its span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl NodeValue {
    /// What the value is, for messages ("a string", "a table").
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a float",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a table",
        }
    }
}

/// Parses a file of any format into nodes; syntax errors go to `sink` (all of them TOML's
/// recovering parser finds; YAML stops at its first).
pub(crate) fn parse(files: &[SourceFile], file: FileId, sink: &mut Sink) -> Option<Node> {
    let source = files.get(file.0 as usize)?;
    match source.format {
        super::Format::Toml => parse_toml(files, source, file, sink),
        super::Format::Yaml | super::Format::Json => parse_yaml(files, source, file, sink),
    }
}

fn byte_span(source: &SourceFile, file: FileId, range: std::ops::Range<usize>) -> Span {
    Span {
        file,
        start: source.pos_of_byte(range.start),
        end: source.pos_of_byte(range.end),
    }
}

fn parse_toml(
    files: &[SourceFile],
    source: &SourceFile,
    file: FileId,
    sink: &mut Sink,
) -> Option<Node> {
    let (doc, errors) = DeTable::parse_recoverable(&source.text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().map(|r| byte_span(source, file, r));
            sink.push(
                files,
                Code::Syntax,
                span,
                format!("invalid TOML: {}", e.message().trim()),
            );
        }
        return None;
    }
    let span = byte_span(source, file, doc.span());
    Some(Node {
        value: toml_table(source, file, doc.into_inner()),
        span,
    })
}

fn toml_table(source: &SourceFile, file: FileId, table: DeTable<'_>) -> NodeValue {
    NodeValue::Map(
        table
            .into_iter()
            .map(|(k, v)| {
                let key = Key {
                    span: byte_span(source, file, k.span()),
                    name: k.into_inner().into_owned(),
                };
                (key, toml_value(source, file, v))
            })
            .collect(),
    )
}

fn toml_value(source: &SourceFile, file: FileId, v: toml::Spanned<DeValue<'_>>) -> Node {
    let span = byte_span(source, file, v.span());
    let value = match v.into_inner() {
        DeValue::String(s) => NodeValue::Str(s.into_owned()),
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => NodeValue::Int(n),
            Err(_) => NodeValue::Str(i.as_str().to_owned()),
        },
        DeValue::Float(f) => {
            NodeValue::Float(f.as_str().replace('_', "").parse().unwrap_or(f64::NAN))
        }
        DeValue::Boolean(b) => NodeValue::Bool(b),
        DeValue::Datetime(d) => NodeValue::Str(d.to_string()),
        DeValue::Array(items) => NodeValue::Seq(
            items
                .into_iter()
                .map(|v| toml_value(source, file, v))
                .collect(),
        ),
        DeValue::Table(t) => toml_table(source, file, t),
    };
    Node { value, span }
}

fn yaml_pos(marker: &saphyr_parser::Marker) -> Pos {
    Pos {
        line: u32::try_from(marker.line()).unwrap_or(u32::MAX),
        column: u32::try_from(marker.col() + 1).unwrap_or(u32::MAX),
    }
}

fn yaml_span(file: FileId, span: &saphyr_parser::Span) -> Span {
    Span {
        file,
        start: yaml_pos(&span.start),
        end: yaml_pos(&span.end),
    }
}

/// The YAML 1.2 core schema's reading of a plain scalar.
fn yaml_scalar(text: &str, style: ScalarStyle) -> NodeValue {
    if style != ScalarStyle::Plain {
        return NodeValue::Str(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    let int = if let Some(hex) = text.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = text.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()
    } else if text
        .trim_start_matches(['-', '+'])
        .chars()
        .all(|c| c.is_ascii_digit())
        && text.chars().any(|c| c.is_ascii_digit())
    {
        text.parse().ok()
    } else {
        None
    };
    if let Some(n) = int {
        return NodeValue::Int(n);
    }
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_numeric {
        if let Ok(f) = text.parse::<f64>() {
            return NodeValue::Float(f);
        }
    }
    NodeValue::Str(text.to_owned())
}

enum Frame {
    Seq(Span, Vec<Node>),
    Map(Span, Vec<(Key, Node)>, Option<Key>),
}

fn parse_yaml(
    files: &[SourceFile],
    source: &SourceFile,
    file: FileId,
    sink: &mut Sink,
) -> Option<Node> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut anchors: std::collections::HashMap<usize, Node> = std::collections::HashMap::new();
    let mut anchor_of: Vec<usize> = Vec::new();
    let mut ok = true;
    let parser = Parser::new_from_str(&source.text);
    for item in parser {
        let (event, span) = match item {
            Ok(pair) => pair,
            Err(e) => {
                let pos = Pos {
                    line: u32::try_from(e.marker().line()).unwrap_or(u32::MAX),
                    column: u32::try_from(e.marker().col() + 1).unwrap_or(u32::MAX),
                };
                let span = Span {
                    file,
                    start: pos,
                    end: pos,
                };
                sink.push(
                    files,
                    Code::Syntax,
                    Some(span),
                    format!("invalid YAML: {}", e.info()),
                );
                return None;
            }
        };
        let span = yaml_span(file, &span);
        let complete: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                if root.is_some() {
                    sink.push(files, Code::Syntax, Some(span), "a topology file holds one YAML document; split the others into their own files");
                    ok = false;
                }
                None
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => Some((
                    Node {
                        value: node.value.clone(),
                        span,
                    },
                    0,
                )),
                None => {
                    sink.push(
                        files,
                        Code::Syntax,
                        Some(span),
                        "invalid YAML: alias of an unknown anchor",
                    );
                    return None;
                }
            },
            Event::Scalar(text, style, anchor, _tag) => Some((
                Node {
                    value: yaml_scalar(&text, style),
                    span,
                },
                anchor,
            )),
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(span, Vec::new()));
                anchor_of.push(anchor);
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(span, Vec::new(), None));
                anchor_of.push(anchor);
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let anchor = anchor_of.pop().unwrap_or(0);
                match stack.pop() {
                    Some(Frame::Seq(start, items)) => Some((
                        Node {
                            value: NodeValue::Seq(items),
                            span: Span {
                                end: span.end,
                                ..start
                            },
                        },
                        anchor,
                    )),
                    Some(Frame::Map(start, entries, _)) => Some((
                        Node {
                            value: NodeValue::Map(entries),
                            span: Span {
                                end: span.end,
                                ..start
                            },
                        },
                        anchor,
                    )),
                    None => None,
                }
            }
        };
        let Some((node, anchor)) = complete else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                None => {
                    let name = match &node.value {
                        NodeValue::Str(s) => s.clone(),
                        NodeValue::Int(n) => n.to_string(),
                        NodeValue::Bool(b) => b.to_string(),
                        NodeValue::Null => "null".to_owned(),
                        NodeValue::Float(f) => f.to_string(),
                        NodeValue::Seq(_) | NodeValue::Map(_) => {
                            sink.push(files, Code::Syntax, Some(node.span), "keys must be strings");
                            ok = false;
                            String::new()
                        }
                    };
                    *pending = Some(Key {
                        name,
                        span: node.span,
                    });
                }
                Some(key) => {
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == key.name) {
                        let first = first.span;
                        sink.push(
                            files,
                            Code::DuplicateName,
                            Some(key.span),
                            format!("duplicate key `{}`", key.name),
                        )
                        .related(files, first, "first defined here");
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
    if !ok {
        return None;
    }
    Some(root.unwrap_or(Node {
        value: NodeValue::Map(Vec::new()),
        span: Span {
            file,
            start: Pos { line: 1, column: 1 },
            end: Pos { line: 1, column: 1 },
        },
    }))
}

/// Looks up a key in a map node.
pub(crate) fn get<'a>(entries: &'a [(Key, Node)], name: &str) -> Option<&'a (Key, Node)> {
    entries.iter().find(|(k, _)| k.name == name)
}
