//! The parsed form of a file before it means anything: a tree of nodes with spans.
//!
//! TOML (through `toml`'s spanned document parser) and YAML/JSON (through `saphyr-parser`'s
//! event stream) both land here, so everything after parsing — decoding into the model,
//! errors, validation — is written once for every format.
//!
//! Recursion elsewhere (decoding, dropping, code generation) follows the shape of this tree,
//! so the tree is bounded here, where it is built: at most `MAX_DEPTH` levels of tables and
//! lists, and YAML aliases may add at most `MAX_ALIAS_NODES` nodes to a file (a "billion
//! laughs" file of a few hundred bytes would otherwise expand to gigabytes). YAML and JSON are
//! read from an event stream without recursion, so a file nested far deeper is refused at the
//! first level too many, not with a stack overflow; `toml` has its own nesting limits.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Code, Sink};
use super::source::{FileId, Format, Pos, SourceFile, Span};

/// How many levels of tables and lists a file may nest, counting the file's top-level table.
pub(crate) const MAX_DEPTH: usize = 128;

/// How many nodes YAML aliases may add to one file in all.
pub(crate) const MAX_ALIAS_NODES: usize = 100_000;

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
        Format::Toml => parse_toml(files, source, file, sink),
        Format::Yaml | Format::Json => parse_yaml(files, source, file, sink),
    }
}

fn byte_span(source: &SourceFile, file: FileId, range: std::ops::Range<usize>) -> Span {
    Span {
        file,
        start: source.pos_of_byte(range.start),
        end: source.pos_of_byte(range.end),
    }
}

fn too_deep(files: &[SourceFile], sink: &mut Sink, span: Span) {
    sink.push(
        files,
        Code::LimitExceeded,
        Some(span),
        format!("tables and lists nest deeper than {MAX_DEPTH} levels here"),
    )
    .help("a topology needs a handful of levels; flatten this structure");
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
    let mut reader = TomlReader {
        files,
        source,
        file,
        sink,
    };
    let value = reader.table(doc.into_inner(), 1)?;
    Some(Node { value, span })
}

/// Turns `toml`'s document into nodes. `toml` bounds the nesting of one key path and of one
/// inline value (to 80 each), but a table header's path and dotted keys below it add up, so
/// the depth is checked here too; the recursion is therefore at most `MAX_DEPTH` deep.
struct TomlReader<'a> {
    files: &'a [SourceFile],
    source: &'a SourceFile,
    file: FileId,
    sink: &'a mut Sink,
}

impl TomlReader<'_> {
    fn span(&self, range: std::ops::Range<usize>) -> Span {
        byte_span(self.source, self.file, range)
    }

    /// A table at `depth` (the file's table is 1).
    fn table(&mut self, table: DeTable<'_>, depth: usize) -> Option<NodeValue> {
        let mut entries = Vec::with_capacity(table.len());
        for (k, v) in table {
            let key = Key {
                span: self.span(k.span()),
                name: k.into_inner().into_owned(),
            };
            entries.push((key, self.value(v, depth + 1)?));
        }
        Some(NodeValue::Map(entries))
    }

    /// A value whose tables and lists, if it is one, are at `depth`.
    fn value(&mut self, v: toml::Spanned<DeValue<'_>>, depth: usize) -> Option<Node> {
        let span = self.span(v.span());
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
            DeValue::Array(_) | DeValue::Table(_) if depth > MAX_DEPTH => {
                too_deep(self.files, self.sink, span);
                return None;
            }
            DeValue::Array(items) => NodeValue::Seq(
                items
                    .into_iter()
                    .map(|v| self.value(v, depth + 1))
                    .collect::<Option<_>>()?,
            ),
            DeValue::Table(t) => self.table(t, depth)?,
        };
        Some(Node { value, span })
    }
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

/// A table or list being read, with what its finished children add up to.
struct Frame {
    span: Span,
    anchor: usize,
    kind: FrameKind,
    /// Nodes in the subtree so far, this one included.
    nodes: usize,
    /// The most levels of tables and lists below this one so far.
    below: usize,
}

enum FrameKind {
    Seq(Vec<Node>),
    /// The entries, the key waiting for its value, and where each key was first defined (so
    /// that duplicates are found in constant time however large the table).
    Map(Vec<(Key, Node)>, Option<Key>, HashMap<String, Span>),
}

/// An anchored node, kept for its aliases, with its size in nodes and its levels of tables
/// and lists.
struct Anchored {
    node: Node,
    nodes: usize,
    levels: usize,
}

/// The alias at `pos` as written (`*name`), for messages.
fn alias_text(source: &SourceFile, pos: Pos) -> String {
    let rest = source.text_from(pos);
    let mut name: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .take(64)
        .collect();
    if !name.starts_with('*') {
        name = "*".to_owned();
    }
    name
}

fn parse_yaml(
    files: &[SourceFile],
    source: &SourceFile,
    file: FileId,
    sink: &mut Sink,
) -> Option<Node> {
    // JSON is read with the YAML reader (of which it is a subset), but named as itself.
    let format = if source.format == Format::Json {
        "JSON"
    } else {
        "YAML"
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut anchors: HashMap<usize, Anchored> = HashMap::new();
    let mut expanded = 0usize;
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
                // The reader refuses flow collections (`[`, `{`) nested past 255 levels
                // itself, and looks ahead far enough to do so before the levels reach us.
                if e.info() == "recursion limit exceeded" {
                    sink.push(
                        files,
                        Code::LimitExceeded,
                        Some(span),
                        format!("`[` and `{{` nest deeper than the {format} reader allows here (a topology may nest {MAX_DEPTH} levels)"),
                    );
                } else {
                    sink.push(
                        files,
                        Code::Syntax,
                        Some(span),
                        format!("invalid {format}: {}", e.info()),
                    );
                }
                return None;
            }
        };
        let span = yaml_span(file, &span);
        // A finished node: the node, its anchor, its size in nodes and its levels.
        let complete: Option<(Node, usize, usize, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                if root.is_some() {
                    sink.push(
                        files,
                        Code::Syntax,
                        Some(span),
                        format!("a topology file holds one {format} document; split the others into their own files"),
                    );
                    ok = false;
                }
                None
            }
            Event::Alias(id) => {
                let Some(anchored) = anchors.get(&id) else {
                    sink.push(
                        files,
                        Code::Syntax,
                        Some(span),
                        format!("invalid {format}: alias of an unknown anchor"),
                    );
                    return None;
                };
                if stack.len() + anchored.levels > MAX_DEPTH {
                    sink.push(
                        files,
                        Code::LimitExceeded,
                        Some(span),
                        format!(
                            "alias `{}` nests tables and lists deeper than {MAX_DEPTH} levels here",
                            alias_text(source, span.start)
                        ),
                    );
                    return None;
                }
                expanded = expanded.saturating_add(anchored.nodes);
                if expanded > MAX_ALIAS_NODES {
                    sink.push(
                        files,
                        Code::LimitExceeded,
                        Some(span),
                        format!(
                            "alias `{}` repeats {} nodes, which takes what the aliases of this file expand to past {MAX_ALIAS_NODES} nodes",
                            alias_text(source, span.start),
                            anchored.nodes
                        ),
                    )
                    .help("write out what the aliases repeat, or repeat less");
                    return None;
                }
                Some((
                    Node {
                        value: anchored.node.value.clone(),
                        span,
                    },
                    0,
                    anchored.nodes,
                    anchored.levels,
                ))
            }
            Event::Scalar(text, style, anchor, _tag) => Some((
                Node {
                    value: yaml_scalar(&text, style),
                    span,
                },
                anchor,
                1,
                0,
            )),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    too_deep(files, sink, span);
                    return None;
                }
                let kind = match event {
                    Event::SequenceStart(..) => FrameKind::Seq(Vec::new()),
                    _ => FrameKind::Map(Vec::new(), None, HashMap::new()),
                };
                stack.push(Frame {
                    span,
                    anchor,
                    kind,
                    nodes: 1,
                    below: 0,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|frame| {
                let value = match frame.kind {
                    FrameKind::Seq(items) => NodeValue::Seq(items),
                    FrameKind::Map(entries, _, _) => NodeValue::Map(entries),
                };
                let node = Node {
                    value,
                    span: Span {
                        end: span.end,
                        ..frame.span
                    },
                };
                (node, frame.anchor, frame.nodes, frame.below + 1)
            }),
        };
        let Some((node, anchor, nodes, levels)) = complete else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    nodes,
                    levels,
                },
            );
        }
        let Some(parent) = stack.last_mut() else {
            root = Some(node);
            continue;
        };
        parent.nodes = parent.nodes.saturating_add(nodes);
        parent.below = parent.below.max(levels);
        match &mut parent.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map(entries, pending, seen) => match pending.take() {
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
                Some(key) => match seen.get(&key.name) {
                    Some(&first) => {
                        sink.push(
                            files,
                            Code::DuplicateName,
                            Some(key.span),
                            format!("duplicate key `{}`", key.name),
                        )
                        .related(files, first, "first defined here");
                    }
                    None => {
                        seen.insert(key.name.clone(), key.span);
                        entries.push((key, node));
                    }
                },
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
