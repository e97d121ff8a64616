//! `kombu graph`: the topology as a Mermaid or DOT diagram, producers and consumers included
//! (which no broker can show, since it never sees them until they connect).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use kombu::topology::{BindingDef, EntityKind, TopologyModel};
use kombu::QueueType;

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// A Mermaid flowchart (renders in GitHub comments and Markdown).
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// A diagram in neutral form, drawn by either writer.
pub(crate) struct Diagram {
    /// (id, label, shape), in the order first met.
    pub(crate) nodes: Vec<(String, String, Shape)>,
    /// (from id, to id, label, dashed).
    pub(crate) edges: Vec<Edge>,
    /// Each node's id → what it stands for: its kind (`x` exchange, `q` queue, `p` producer,
    /// `c` consumer, `y` policy, `o` operator policy) and name, the same in any diagram.
    pub(crate) keys: BTreeMap<String, (char, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Exchange,
    Queue,
    Producer,
    Consumer,
    Policy,
}

/// Gives each entity one node, in the order first met.
#[derive(Default)]
struct Nodes {
    ids: BTreeMap<(char, String), String>,
    nodes: Vec<(String, String, Shape)>,
}

impl Nodes {
    fn node(&mut self, kind: char, name: &str, label: String, shape: Shape) -> String {
        let n = self.ids.len();
        let nodes = &mut self.nodes;
        self.ids
            .entry((kind, name.to_owned()))
            .or_insert_with(|| {
                let id = format!("{kind}{n}");
                nodes.push((id.clone(), label, shape));
                id
            })
            .clone()
    }

    fn exchange(&mut self, name: &str) -> String {
        let label = if name.is_empty() {
            "(default exchange)".to_owned()
        } else {
            name.to_owned()
        };
        self.node('x', name, label, Shape::Exchange)
    }

    fn queue(&mut self, name: &str) -> String {
        self.node('q', name, name.to_owned(), Shape::Queue)
    }
}

pub(crate) type Edge = (String, String, String, bool);

/// An edge from each binding's source exchange to `to`, labelled with its key or headers.
fn bind(n: &mut Nodes, edges: &mut Vec<Edge>, bindings: &[BindingDef], to: &str) {
    for b in bindings {
        let from = n.exchange(&b.exchange);
        edges.push((
            from,
            to.to_owned(),
            binding_label(&b.routing_key, &b.headers),
            false,
        ));
    }
}

/// `applied`: (policy, operator?, kind, entity) for each policy that applies to an entity.
pub(crate) fn diagram(
    m: &TopologyModel,
    applied: &[(String, bool, EntityKind, String)],
) -> Diagram {
    let mut n = Nodes::default();
    let mut edges = Vec::new();
    for (name, x) in &m.exchanges {
        n.node(
            'x',
            name,
            format!("{name} ({})", x.kind.as_str()),
            Shape::Exchange,
        );
    }
    for (name, q) in &m.queues {
        // Replicated queues say so; a classic queue (or the broker's default) is plain.
        let label = match q.queue_type {
            Some(t @ (QueueType::Quorum | QueueType::Stream)) => format!("{name} ({})", t.as_str()),
            _ => name.clone(),
        };
        n.node('q', name, label, Shape::Queue);
    }
    for (name, x) in &m.exchanges {
        let to = n.exchange(name);
        bind(&mut n, &mut edges, &x.bindings, &to);
        if let Some(alt) = &x.alternate_exchange {
            let alt = n.exchange(alt);
            edges.push((to.clone(), alt, "alternate".to_owned(), true));
        }
    }
    for (name, q) in &m.queues {
        let to = n.queue(name);
        bind(&mut n, &mut edges, &q.bindings, &to);
        if let Some(dlx) = &q.dead_letter_exchange {
            let dlx = n.exchange(dlx);
            edges.push((to.clone(), dlx, "dead letters".to_owned(), true));
        }
    }
    for (name, p) in &m.producers {
        let from = n.node('p', name, format!("producer {name}"), Shape::Producer);
        let to = n.exchange(&p.exchange);
        let methods: Vec<String> = p.methods.keys().map(|k| k.get().clone()).collect();
        edges.push((from, to, methods.join(", "), false));
    }
    for (name, c) in &m.consumers {
        let to = n.node('c', name, format!("consumer {name}"), Shape::Consumer);
        for (q, consume) in &c.queues {
            let from = n.queue(q);
            edges.push((from, to.clone(), consume.message.clone(), false));
        }
    }
    for (policy, operator, kind, entity) in applied {
        let (tag, word) = if *operator {
            ('o', "operator policy")
        } else {
            ('y', "policy")
        };
        let from = n.node(tag, policy, format!("{word} {policy}"), Shape::Policy);
        let to = match kind {
            EntityKind::Queue => n.queue(entity),
            _ => n.exchange(entity),
        };
        edges.push((from, to, "applies".to_owned(), true));
    }
    Diagram {
        nodes: n.nodes,
        edges,
        keys: n.ids.into_iter().map(|(key, id)| (id, key)).collect(),
    }
}

fn binding_label(key: &str, headers: &kombu::FieldTable) -> String {
    if headers.is_empty() {
        key.to_owned()
    } else {
        let h: Vec<String> = headers
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect();
        h.join(" ")
    }
}

/// A node in Mermaid's flowchart syntax, its shape telling what it is.
pub(crate) fn mermaid_node(id: &str, label: &str, shape: Shape) -> String {
    let label = quote(label);
    match shape {
        Shape::Exchange => format!("{id}{{{{\"{label}\"}}}}"),
        Shape::Queue => format!("{id}[(\"{label}\")]"),
        Shape::Producer | Shape::Consumer => format!("{id}([\"{label}\"])"),
        Shape::Policy => format!("{id}>\"{label}\"]"),
    }
}

/// A label's text inside DOT's double quotes.
fn dot_quote(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(['\n', '\r'], " ")
}

/// A label's text for Mermaid: its entity codes for what Mermaid would read as syntax or
/// markup (`#`, `"`, `<`, `>`), a space for a line break.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn run(files: &[PathBuf], format: Format) -> Result<u8, crate::Failure> {
    let topology = crate::load(files)?;
    let d = diagram(topology.model(), &crate::policies::applied(&topology));
    let mut out = String::new();
    match format {
        Format::Mermaid => {
            out.push_str("flowchart LR\n");
            for (id, label, shape) in &d.nodes {
                let _ = writeln!(out, "  {}", mermaid_node(id, label, *shape));
            }
            for (from, to, label, dashed) in &d.edges {
                let arrow = if *dashed { "-.->" } else { "-->" };
                let _ = if label.is_empty() {
                    writeln!(out, "  {from} {arrow} {to}")
                } else {
                    writeln!(out, "  {from} {arrow}|\"{}\"| {to}", quote(label))
                };
            }
        }
        Format::Dot => {
            out.push_str("digraph topology {\n  rankdir=LR;\n");
            for (id, label, shape) in &d.nodes {
                let shape = match shape {
                    Shape::Exchange => "hexagon",
                    Shape::Queue => "cylinder",
                    Shape::Producer | Shape::Consumer => "box, style=rounded",
                    Shape::Policy => "note",
                };
                let _ = writeln!(
                    out,
                    "  {id} [label=\"{}\", shape={shape}];",
                    dot_quote(label)
                );
            }
            for (from, to, label, dashed) in &d.edges {
                let style = if *dashed { ", style=dashed" } else { "" };
                let _ = writeln!(
                    out,
                    "  {from} -> {to} [label=\"{}\"{style}];",
                    dot_quote(label)
                );
            }
            out.push_str("}\n");
        }
    }
    crate::output::out!("{out}");
    Ok(0)
}
