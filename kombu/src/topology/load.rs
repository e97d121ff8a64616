//! Reading files into the model and composing several files into one topology.
//!
//! Each entity is decoded on its own, so one bad queue does not hide the errors of the next.
//! Composition keeps the first declaration of a name and reports any later one that differs,
//! naming both places.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;

use super::de::decode;
use super::diagnostic::{Code, Sink};
use super::model::TopologyModel;
use super::node::{self, Node, NodeValue};
use super::source::{FileId, SourceFile, Span};
use super::EntityKind;
use crate::suggest::did_you_mean;

/// The format versions this library reads.
pub(crate) const VERSION: u32 = 1;

const TOP_KEYS: &[&str] = &[
    "$schema",
    "version",
    "description",
    "exchanges",
    "queues",
    "messages",
    "producers",
    "consumers",
    "tasks",
    "policies",
    "operator_policies",
];

/// Where each entity of a topology was first declared (the span of its key).
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins {
    map: HashMap<(EntityKind, String), Span>,
}

impl Origins {
    pub(crate) fn get(&self, kind: EntityKind, name: &str) -> Option<Span> {
        self.map.get(&(kind, name.to_owned())).copied()
    }

    pub(crate) fn insert(&mut self, kind: EntityKind, name: &str, span: Span) {
        self.map.entry((kind, name.to_owned())).or_insert(span);
    }
}

/// Reads every file and composes them. Returns the model only if no error was found.
pub(crate) fn load(files: &[SourceFile], sink: &mut Sink) -> (TopologyModel, Origins) {
    let mut model = TopologyModel {
        version: VERSION,
        ..TopologyModel::default()
    };
    let mut origins = Origins::default();
    for i in 0..files.len() {
        let id = FileId(u32::try_from(i).unwrap_or(u32::MAX));
        let Some(root) = node::parse(files, id, sink) else {
            continue;
        };
        load_root(files, &root, &mut model, &mut origins, sink);
    }
    (model, origins)
}

fn load_root(
    files: &[SourceFile],
    root: &Node,
    model: &mut TopologyModel,
    origins: &mut Origins,
    sink: &mut Sink,
) {
    let NodeValue::Map(entries) = &root.value else {
        sink.push(
            files,
            Code::InvalidValue,
            Some(root.span),
            format!("a topology file is a table, not {}", root.value.describe()),
        );
        return;
    };
    match node::get(entries, "version") {
        None => {
            sink.push(
                files,
                Code::Version,
                Some(first_line(root.span)),
                "missing `version`",
            )
            .help(format!("start the file with `version = {VERSION}`"));
        }
        Some((_, v)) => match &v.value {
            NodeValue::Int(n) if *n == i128::from(VERSION) => {}
            other => {
                let shown = match other {
                    NodeValue::Int(n) => n.to_string(),
                    NodeValue::Str(s) => format!("\"{s}\""),
                    other => other.describe().to_owned(),
                };
                sink.push(
                    files,
                    Code::Version,
                    Some(v.span),
                    format!("unsupported version {shown}; this kombu reads version {VERSION}"),
                );
            }
        },
    }
    for (key, value) in entries {
        let kind = match key.name.as_str() {
            "version" => continue,
            "$schema" | "description" => {
                if !matches!(value.value, NodeValue::Str(_)) {
                    sink.push(
                        files,
                        Code::InvalidValue,
                        Some(value.span),
                        format!(
                            "`{}` must be a string, found {}",
                            key.name,
                            value.value.describe()
                        ),
                    );
                } else if key.name == "description" && model.description.is_none() {
                    model.description = decode(files, value, "", sink);
                }
                continue;
            }
            "exchanges" => EntityKind::Exchange,
            "queues" => EntityKind::Queue,
            "messages" => EntityKind::Message,
            "producers" => EntityKind::Producer,
            "consumers" => EntityKind::Consumer,
            "tasks" => EntityKind::Task,
            "policies" => EntityKind::Policy,
            "operator_policies" => EntityKind::OperatorPolicy,
            other => {
                let d = sink.push(
                    files,
                    Code::UnknownKey,
                    Some(key.span),
                    format!("unknown top-level key `{other}`"),
                );
                match did_you_mean(other, TOP_KEYS.iter().copied()) {
                    Some(m) => d.help(format!("did you mean `{m}`?")),
                    None => d.help(format!("known keys here: {}", TOP_KEYS.join(", "))),
                };
                continue;
            }
        };
        let NodeValue::Map(items) = &value.value else {
            sink.push(
                files,
                Code::InvalidValue,
                Some(value.span),
                format!(
                    "`{}` must be a table of {}s by name, found {}",
                    key.name,
                    kind.as_str(),
                    value.value.describe()
                ),
            );
            continue;
        };
        for (name, node) in items {
            match kind {
                EntityKind::Exchange => {
                    add(files, kind, name, node, &mut model.exchanges, origins, sink)
                }
                EntityKind::Queue => add(files, kind, name, node, &mut model.queues, origins, sink),
                EntityKind::Message => {
                    add(files, kind, name, node, &mut model.messages, origins, sink)
                }
                EntityKind::Producer => {
                    add(files, kind, name, node, &mut model.producers, origins, sink)
                }
                EntityKind::Consumer => {
                    add(files, kind, name, node, &mut model.consumers, origins, sink)
                }
                EntityKind::Task => add(files, kind, name, node, &mut model.tasks, origins, sink),
                EntityKind::Policy => {
                    add(files, kind, name, node, &mut model.policies, origins, sink)
                }
                EntityKind::OperatorPolicy => add(
                    files,
                    kind,
                    name,
                    node,
                    &mut model.operator_policies,
                    origins,
                    sink,
                ),
            }
        }
    }
}

fn first_line(span: Span) -> Span {
    Span {
        start: span.start,
        end: span.start,
        ..span
    }
}

fn add<T: DeserializeOwned + PartialEq>(
    files: &[SourceFile],
    kind: EntityKind,
    name: &node::Key,
    node: &Node,
    table: &mut IndexMap<String, T>,
    origins: &mut Origins,
    sink: &mut Sink,
) {
    let context = format!("{} `{}`", kind.as_str(), name.name);
    let Some(def) = decode::<T>(files, node, &context, sink) else {
        return;
    };
    match table.get(&name.name) {
        None => {
            table.insert(name.name.clone(), def);
            origins.insert(kind, &name.name, name.span);
        }
        Some(existing) if *existing == def => {}
        Some(_) => {
            let d = sink.push(
                files,
                Code::Conflict,
                Some(name.span),
                format!(
                    "{} `{}` is declared again with different settings",
                    kind.as_str(),
                    name.name
                ),
            );
            if let Some(first) = origins.get(kind, &name.name) {
                d.related(files, first, "first declared here");
            }
            d.help("every declaration of a name must be identical; keep one, or make them agree");
        }
    }
}
