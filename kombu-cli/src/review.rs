//! `kombu review`: one pull-request comment about a topology change. It puts together what
//! the other commands find: the classified changes with their migration hints (`diff`), a
//! Mermaid graph of the changed part with added, removed and changed entities and edges
//! marked (`graph`'s diagram of both versions), the routes that change (the route simulator
//! over every key the bindings and producers use, old against new), the message-type changes
//! that break a consumer (`kombu::topology::message_breaks`, with the producers that route the
//! message to it), and the lint findings new in the new version (`check`'s).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kombu::topology::{
    message_breaks, BreakDirection, Diagnostic, Diagnostics, MessageBreak, Routes, Topology,
    TopologyModel,
};
use kombu::FieldTable;

use crate::change::{Change, Class};
use crate::graph::{self, Shape};

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// GitHub-flavoured Markdown with a Mermaid graph.
    Markdown,
}

/// One version of the topology: loaded, or the diagnostics that stop it loading.
type Version = Result<Topology, Diagnostics>;

pub(crate) fn run(
    old: &Path,
    new: Option<&Path>,
    git: Option<&str>,
    _format: Format,
    deny: &[Class],
) -> Result<u8, crate::Failure> {
    for file in [Some(old), new].into_iter().flatten() {
        if git.is_none() && !file.exists() {
            return Err(format!("{}: no such file", file.display()));
        }
    }
    let (old_v, new_v, title) = match (new, git) {
        (Some(new), None) => (
            load(&[old.to_path_buf()]),
            load(&[new.to_path_buf()]),
            new.display().to_string(),
        ),
        // `A...B` (GitHub's form): B against where it left A.
        (None, Some(rev)) if rev.contains("...") => {
            let (a, b) = rev.split_once("...").unwrap_or((rev, "HEAD"));
            let base = crate::diff::merge_base(old, a, b)?;
            (
                at_revision(old, &base)?,
                at_revision(old, b)?,
                format!("{} ({a}...{b})", old.display()),
            )
        }
        (None, Some(rev)) => match rev.split_once("..") {
            Some((a, b)) => (
                at_revision(old, a)?,
                at_revision(old, b)?,
                format!("{} ({a}..{b})", old.display()),
            ),
            None => (
                at_revision(old, rev)?,
                load(&[PathBuf::from(old)]),
                format!("{} (against {rev})", old.display()),
            ),
        },
        (Some(_), Some(_)) => return Err("give either OLD NEW or --git REV FILE".to_owned()),
        (None, None) => return Err("give OLD and NEW files, or --git REV FILE".to_owned()),
    };
    // The old version is what is deployed: it must load.
    let old_t = old_v.map_err(|d| {
        format!(
            "the old version does not load:\n{}",
            d.render(crate::output::stderr_colour())
        )
    })?;
    let (comment, changes) = match &new_v {
        Ok(new_t) => {
            let r = Review::new(&old_t, new_t);
            (r.markdown(&title), r.changes)
        }
        Err(d) => (refused(&title, d), Vec::new()),
    };
    crate::output::out!("{comment}");
    let broken = u8::from(new_v.is_err());
    Ok(broken.max(crate::diff::deny_verdict(&changes, deny)))
}

fn load(files: &[PathBuf]) -> Version {
    Topology::from_paths(files)
}

fn at_revision(path: &Path, rev: &str) -> Result<Version, crate::Failure> {
    Ok(Topology::from_sources([crate::diff::source_at_revision(
        path, rev,
    )?]))
}

/// The comment when the new version does not load: its errors.
fn refused(title: &str, d: &Diagnostics) -> String {
    let mut out = format!("## Topology review: {}\n\n", code(title));
    let _ = writeln!(
        out,
        "**The new version does not load**: {} error(s). Nothing else is compared until it does.\n",
        d.iter().filter(|d| d.is_error()).count()
    );
    for d in d.iter() {
        let _ = writeln!(out, "- {}", finding(d));
    }
    out
}

/// A diagnostic on one line: its code, its place and what it says.
fn finding(d: &Diagnostic) -> String {
    let place = d
        .location
        .as_ref()
        .map(|l| format!(" `{}:{}`", l.file, l.line))
        .unwrap_or_default();
    format!("**{}**{place}: {}", d.code.as_str(), escape(&d.message))
}

/// Text for a Markdown table cell or list item.
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A name as inline code in a table cell: `(empty)` for the empty string, a longer fence when
/// it holds backticks.
fn code(s: &str) -> String {
    if s.is_empty() {
        return "(empty)".to_owned();
    }
    let s = escape(s);
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// The most rows of each table a comment holds.
const ROWS: usize = 100;
/// The longest comment written: GitHub refuses comments over 65,536 characters.
const MAX_COMMENT: usize = 60_000;
/// The most nodes, edges and characters of the graph (Mermaid refuses more than 500 edges
/// and 50,000 characters).
const MAX_NODES: usize = 80;
const MAX_EDGES: usize = 300;
const MAX_GRAPH_TEXT: usize = 30_000;
/// The longest label drawn.
const MAX_LABEL: usize = 60;

/// Where each queue's dead letters go, in both versions (its dead-letter exchange, with its
/// dead-letter routing key, else the keys its bindings brought them with); the queues whose
/// dead letters go elsewhere.
fn dead_letter_routes(
    old: &TopologyModel,
    new: &TopologyModel,
    old_routes: &Routes,
    new_routes: &Routes,
) -> Vec<RouteChange> {
    let targets =
        |m: &TopologyModel, routes: &Routes, q: &str| -> (String, String, BTreeSet<String>) {
            let Some(def) = m.queues.get(q) else {
                return (String::new(), String::new(), BTreeSet::new());
            };
            let Some(dlx) = &def.dead_letter_exchange else {
                return (String::new(), String::new(), BTreeSet::new());
            };
            let keys: Vec<String> = match &def.dead_letter_routing_key {
                Some(k) => vec![k.clone()],
                None => def
                    .bindings
                    .iter()
                    .map(|b| b.routing_key.to_string())
                    .collect(),
            };
            let reached = keys
                .iter()
                .flat_map(|k| routes.route(dlx, k, None))
                .collect();
            (dlx.to_string(), keys.join(", "), reached)
        };
    let names: BTreeSet<&String> = old.queues.keys().chain(new.queues.keys()).collect();
    let mut out = Vec::new();
    for q in names {
        if !(old.queues.contains_key(q) && new.queues.contains_key(q)) {
            continue;
        }
        let (_, _, before) = targets(old, old_routes, q);
        let (dlx, key, after) = targets(new, new_routes, q);
        if before != after {
            out.push(RouteChange {
                lost: before.difference(&after).cloned().collect(),
                gained: after.difference(&before).cloned().collect(),
                exchange: dlx,
                key,
                headers: None,
                senders: vec![format!("dead letters of {q}")],
            });
        }
    }
    out
}

/// A binding key and keys its topic wildcards match.
fn instances(key: &str) -> Vec<String> {
    if !key.split('.').any(|w| w == "*" || w == "#") {
        return vec![key.to_owned()];
    }
    let mut out = vec![key.to_owned()];
    for hash in [None, Some("x"), Some("x.x")] {
        let words: Vec<&str> = key
            .split('.')
            .filter_map(|w| match w {
                "*" => Some("x"),
                "#" => hash,
                w => Some(w),
            })
            .collect();
        let k = words.join(".");
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// A label cut at [`MAX_LABEL`] characters.
fn short(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL {
        return label.to_owned();
    }
    let mut s: String = label.chars().take(MAX_LABEL - 1).collect();
    s.push('…');
    s
}

/// "N more ... are left out" after a table cut at [`ROWS`].
fn left_out(out: &mut String, total: usize, what: &str) {
    if total > ROWS {
        let _ = writeln!(
            out,
            "\n{} more {what} are left out here; `kombu diff` and `kombu route` tell the rest.",
            total - ROWS
        );
    }
}

/// The comment cut at [`MAX_COMMENT`] characters, at a line, an open code block closed.
fn bounded(mut out: String) -> String {
    if out.len() <= MAX_COMMENT {
        return out;
    }
    let mut cut = MAX_COMMENT;
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = out[..cut].rfind('\n').unwrap_or(cut);
    out.truncate(cut);
    if out.matches("```").count() % 2 == 1 {
        out.push_str("\n```");
    }
    out.push_str(
        "\n\n*The comment is cut here, at 60,000 characters (GitHub takes at most 65,536): `kombu diff` lists every change.*\n",
    );
    out
}

struct Review<'a> {
    old: &'a Topology,
    new: &'a Topology,
    changes: Vec<Change>,
}

/// A message a route is tried with: its exchange, key and headers (as text, for the order).
type ProbeKey = (String, String, String);
/// The headers, and the producer methods that send such a message.
type Probe = (Option<FieldTable>, BTreeSet<String>);
/// An edge of either version: from, to, label, dashed.
type KeyedEdge = ((char, String), (char, String), String, bool);

/// A route that changes: a message published to `exchange` with `key` (and `headers`).
struct RouteChange {
    exchange: String,
    key: String,
    headers: Option<FieldTable>,
    lost: BTreeSet<String>,
    gained: BTreeSet<String>,
    senders: Vec<String>,
}

impl<'a> Review<'a> {
    fn new(old: &'a Topology, new: &'a Topology) -> Self {
        let changes = crate::diff::diff(old.model(), new.model());
        Review { old, new, changes }
    }

    fn markdown(&self, title: &str) -> String {
        let routes = self.routes();
        let mut breaks: Vec<(MessageBreak, Option<String>)> =
            message_breaks(self.old.model(), self.new)
                .into_iter()
                .map(|b| (b, None))
                .collect();
        breaks.extend(self.moved_breaks());
        let findings = self.new_findings();
        let mut out = format!("## Topology review: {}\n\n", code(title));
        out.push_str(&self.summary(&routes, breaks.len(), findings.len()));
        out.push_str("\n\n");
        if self.changes.is_empty() {
            out.push_str("No topology changes.\n");
        } else {
            out.push_str("### Changes\n\n");
            out.push_str(&crate::diff::markdown_table(&self.changes, ROWS));
            if let Some(graph) = self.graph() {
                out.push_str("\n### The changed part\n\n");
                out.push_str(&graph);
            }
        }
        if !routes.is_empty() {
            out.push_str("\n### Routes that change\n\n");
            out.push_str(&route_table(&routes[..routes.len().min(ROWS)]));
            left_out(&mut out, routes.len(), "routes");
        }
        if !breaks.is_empty() {
            out.push_str("\n### Message types that break a consumer\n\n");
            out.push_str(&self.breaks_text(&breaks[..breaks.len().min(ROWS)]));
            left_out(&mut out, breaks.len(), "breaks");
        }
        if !findings.is_empty() {
            out.push_str("\n### New lint findings\n\n");
            for d in findings.iter().take(ROWS) {
                let _ = writeln!(out, "- {}", finding(d));
            }
            left_out(&mut out, findings.len(), "findings");
        }
        bounded(out)
    }

    fn summary(&self, routes: &[RouteChange], breaks: usize, findings: usize) -> String {
        let mut parts = Vec::new();
        if self.changes.is_empty() {
            parts.push("no changes".to_owned());
        } else {
            let mut by_class: BTreeMap<std::cmp::Reverse<Class>, usize> = BTreeMap::new();
            for c in &self.changes {
                *by_class.entry(std::cmp::Reverse(c.class)).or_default() += 1;
            }
            let classes: Vec<String> = by_class
                .iter()
                .map(|(c, n)| format!("{n} {}", c.0))
                .collect();
            parts.push(format!(
                "**{} change{}** ({})",
                self.changes.len(),
                plural(self.changes.len()),
                classes.join(", ")
            ));
        }
        parts.push(format!(
            "**{} route{} change{}**",
            routes.len(),
            plural(routes.len()),
            if routes.len() == 1 { "s" } else { "" }
        ));
        parts.push(format!("**{breaks} message-type break{}**", plural(breaks)));
        parts.push(format!(
            "**{findings} new lint finding{}**",
            plural(findings)
        ));
        parts.join(" · ")
    }

    /// Every key a binding or a producer uses on each exchange, routed through both versions;
    /// those whose queues differ.
    fn routes(&self) -> Vec<RouteChange> {
        let (old, new) = (self.old.model(), self.new.model());
        // (exchange, key, headers) → the producer methods that send it.
        let mut probes: BTreeMap<ProbeKey, Probe> = BTreeMap::new();
        let mut probe =
            |x: &str, key: &str, headers: Option<&FieldTable>, sender: Option<String>| {
                let h = headers.filter(|h| !h.is_empty());
                let entry = probes
                    .entry((
                        x.to_owned(),
                        key.to_owned(),
                        h.map(|h| format!("{h:?}")).unwrap_or_default(),
                    ))
                    .or_insert_with(|| (h.cloned(), BTreeSet::new()));
                entry.1.extend(sender);
            };
        for m in [old, new] {
            for bindings in m
                .queues
                .values()
                .map(|q| &q.bindings)
                .chain(m.exchanges.values().map(|x| &x.bindings))
            {
                for b in bindings {
                    // The key itself, and keys its wildcards match (`order.*` is tried as
                    // `order.x`; `order.#` as `order`, `order.x` and `order.x.x`).
                    for key in instances(&b.routing_key) {
                        probe(&b.exchange, &key, Some(&b.headers), None);
                    }
                    // A headers binding's headers one by one too (`x-match` any or all).
                    if b.headers.len() > 1 {
                        for (k, v) in b.headers.iter() {
                            let mut one = FieldTable::new();
                            one.insert(k.clone(), v.clone());
                            probe(&b.exchange, "", Some(&one), None);
                        }
                    }
                }
            }
            for (pname, p) in &m.producers {
                for (mname, method) in &p.methods {
                    let key = method
                        .routing_key
                        .as_ref()
                        .or(p.routing_key.as_ref())
                        .map_or("", |k| k.as_str());
                    probe(
                        &p.exchange,
                        key,
                        Some(&method.headers),
                        Some(format!("{pname}.{}", mname.as_str())),
                    );
                }
            }
        }
        let (old_routes, new_routes) = (Routes::new(old), Routes::new(new));
        let mut out = dead_letter_routes(old, new, &old_routes, &new_routes);
        for ((exchange, key, _), (headers, senders)) in probes {
            let before = old_routes.route(&exchange, &key, headers.as_ref());
            let after = new_routes.route(&exchange, &key, headers.as_ref());
            if before == after {
                continue;
            }
            out.push(RouteChange {
                lost: before.difference(&after).cloned().collect(),
                gained: after.difference(&before).cloned().collect(),
                exchange,
                key,
                headers,
                senders: senders.into_iter().collect(),
            });
        }
        out
    }

    /// The breaking message-type changes, each with the consumers it breaks and the producers
    /// that route the message to them.
    /// The breaks of queues whose consumer moved to a message type of another name: the old
    /// type against the new one, by the same rules (old producers still send the old one).
    /// Each with the old type's name.
    fn moved_breaks(&self) -> Vec<(MessageBreak, Option<String>)> {
        let (old, new) = (self.old.model(), self.new.model());
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (cname, c) in &new.consumers {
            let Some(before) = old.consumers.get(cname) else {
                continue;
            };
            for (queue, consume) in &c.queues {
                let Some(was) = before.queues.get(queue.as_str()) else {
                    continue;
                };
                let (from, to) = (was.message.as_str(), consume.message.as_str());
                if from == to || !seen.insert((from, to)) {
                    continue;
                }
                let (Some(def), true) = (old.messages.get(from), new.messages.contains_key(to))
                else {
                    continue;
                };
                // The old file as if its type had had the new name.
                let mut as_if = old.clone();
                as_if.messages.insert(to.to_owned(), def.clone());
                for mut b in message_breaks(&as_if, self.new) {
                    if b.message == to {
                        b.change = format!("{} (in place of `{from}`)", b.change);
                        out.push((b, Some(from.to_owned())));
                    }
                }
            }
        }
        out
    }

    fn breaks_text(&self, breaks: &[(MessageBreak, Option<String>)]) -> String {
        let mut out = String::from(
            "| message | change | breaks | mode | consumers it breaks |\n|---|---|---|---|---|\n",
        );
        for (b, moved_from) in breaks {
            // A forward break hurts the consumers still running the old file, reading what new
            // producers send; a backward break the new consumers, reading what old producers
            // still send. (A type that replaced another is read and sent under the old
            // version's name on the old side.)
            let new_name = b.message.as_str();
            let old_name = moved_from.as_deref().unwrap_or(new_name);
            let (readers, writers, read, sent) = match b.direction {
                BreakDirection::Forward => (self.old.model(), self.new.model(), old_name, new_name),
                BreakDirection::Backward => {
                    (self.new.model(), self.old.model(), new_name, old_name)
                }
            };
            // Through either version's bindings: while the deploy runs, the broker has the
            // new ones and the old producers still publish.
            let (hit, missed) = readers_of(
                (read, sent),
                b.variant.as_deref(),
                readers,
                writers,
                [self.old, self.new],
            );
            let verdict = if b.refused {
                format!("{}: refused by `kombu check --against`", b.mode.as_str())
            } else {
                format!("{}: allowed", b.mode.as_str())
            };
            let _ = writeln!(
                out,
                "| {} | {} | **{}** | {} | {} |",
                code(&b.message),
                escape(&b.change),
                b.direction.as_str(),
                verdict,
                affected(&hit, &missed)
            );
        }
        out.push_str(
            "\n**backward**: consumers built from the new file cannot read what producers built from the old one still send (deploy producers first, or make the change in two steps). **forward**: consumers built from the old file cannot read what new producers send (deploy consumers first).\n",
        );
        out
    }

    /// Lint findings of the new version (its warnings and the generator's naming checks) that
    /// the old one does not have.
    fn new_findings(&self) -> Vec<Diagnostic> {
        let old: BTreeSet<(String, String)> = findings(self.old).iter().map(finding_key).collect();
        findings(self.new)
            .into_iter()
            .filter(|d| !old.contains(&finding_key(d)))
            .collect()
    }

    /// The Mermaid graph of what changed and what it touches: entities added (green), removed
    /// (red, dashed) and changed (yellow), with their neighbours for context; edges added
    /// (thick, green) and removed (dashed, red).
    fn graph(&self) -> Option<String> {
        let old = graph::diagram(self.old.model(), &crate::policies::applied(self.old));
        let new = graph::diagram(self.new.model(), &crate::policies::applied(self.new));
        type Key = (char, String);
        let keyed_nodes = |d: &graph::Diagram| -> Vec<(Key, String, Shape)> {
            d.nodes
                .iter()
                .filter_map(|(id, label, shape)| {
                    Some((d.keys.get(id)?.clone(), label.clone(), *shape))
                })
                .collect()
        };
        let keyed_edges = |d: &graph::Diagram| -> BTreeSet<KeyedEdge> {
            d.edges
                .iter()
                .filter_map(|(from, to, label, dashed)| {
                    Some((
                        d.keys.get(from)?.clone(),
                        d.keys.get(to)?.clone(),
                        label.clone(),
                        *dashed,
                    ))
                })
                .collect()
        };
        let (old_nodes, new_nodes) = (keyed_nodes(&old), keyed_nodes(&new));
        let old_keys: BTreeSet<&Key> = old_nodes.iter().map(|n| &n.0).collect();
        let new_keys: BTreeSet<&Key> = new_nodes.iter().map(|n| &n.0).collect();
        let (old_edges, new_edges) = (keyed_edges(&old), keyed_edges(&new));
        let changed = self.changed_entities();

        // Every node once (the new version's label), with its state.
        let mut nodes: Vec<(Key, String, Shape, &str)> = Vec::new();
        for (key, label, shape) in new_nodes.iter().chain(&old_nodes) {
            if nodes.iter().any(|n| &n.0 == key) {
                continue;
            }
            let state = if !old_keys.contains(key) {
                "added"
            } else if !new_keys.contains(key) {
                "removed"
            } else if changed.contains(key) {
                "changed"
            } else {
                ""
            };
            nodes.push((key.clone(), label.clone(), *shape, state));
        }
        let mut edges: Vec<(&KeyedEdge, &str)> = Vec::new();
        for e in &new_edges {
            edges.push((e, if old_edges.contains(e) { "" } else { "added" }));
        }
        for e in old_edges.difference(&new_edges) {
            edges.push((e, "removed"));
        }
        // The changed part, and one step around it.
        let mut focus: BTreeSet<&Key> = nodes
            .iter()
            .filter(|n| !n.3.is_empty())
            .map(|n| &n.0)
            .collect();
        for (e, state) in &edges {
            if !state.is_empty() {
                focus.insert(&e.0);
                focus.insert(&e.1);
            }
        }
        if focus.is_empty() {
            return None;
        }
        let mut shown: BTreeSet<&Key> = focus.clone();
        for (e, _) in &edges {
            if focus.contains(&e.0) || focus.contains(&e.1) {
                shown.insert(&e.0);
                shown.insert(&e.1);
            }
        }
        let mut out = String::from("```mermaid\nflowchart LR\n");
        let mut ids: BTreeMap<&Key, String> = BTreeMap::new();
        let mut classes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (key, label, shape, state) in &nodes {
            if !shown.contains(key) || ids.len() >= MAX_NODES {
                continue;
            }
            let id = format!("n{}", ids.len());
            let _ = writeln!(out, "  {}", graph::mermaid_node(&id, &short(label), *shape));
            if !state.is_empty() {
                classes.entry(state).or_default().push(id.clone());
            }
            ids.insert(key, id);
        }
        let mut styles = Vec::new();
        let mut n = 0usize;
        let mut hidden_edges = 0usize;
        for ((from, to, label, dashed), state) in &edges {
            let (Some(a), Some(b)) = (ids.get(from), ids.get(to)) else {
                continue;
            };
            if n >= MAX_EDGES {
                hidden_edges += 1;
                continue;
            }
            let label = short(label);
            let label = match (*state, label.is_empty()) {
                ("", _) => label.clone(),
                (s, true) => s.to_owned(),
                (s, false) => format!("{s}: {label}"),
            };
            let arrow = match (*state, *dashed) {
                ("added", _) => "==>",
                ("removed", _) | (_, true) => "-.->",
                _ => "-->",
            };
            if label.is_empty() {
                let _ = writeln!(out, "  {a} {arrow} {b}");
            } else {
                let _ = writeln!(out, "  {a} {arrow}|\"{}\"| {b}", graph::quote(&label));
            }
            match *state {
                "added" => styles.push(format!("  linkStyle {n} stroke:#1a7f37,stroke-width:3px")),
                "removed" => {
                    styles.push(format!("  linkStyle {n} stroke:#cf222e,stroke-width:2px"))
                }
                _ => {}
            }
            n += 1;
        }
        for s in styles {
            let _ = writeln!(out, "{s}");
        }
        for (class, members) in &classes {
            let style = match *class {
                "added" => "fill:#dafbe1,stroke:#1a7f37,stroke-width:2px",
                "removed" => "fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5",
                _ => "fill:#fff8c5,stroke:#9a6700,stroke-width:2px",
            };
            let _ = writeln!(out, "  classDef {class} {style}");
            let _ = writeln!(out, "  class {} {class}", members.join(","));
        }
        out.push_str("```\n");
        let hidden = shown.len().saturating_sub(ids.len());
        out.push_str(
            "\nGreen: added; red, dotted: removed; yellow: changed (or carrying a changed message); the rest is shown for context.",
        );
        if hidden > 0 || hidden_edges > 0 {
            let _ = write!(
                out,
                " {hidden} more entities and {hidden_edges} more edges are left out of the graph (`kombu graph` draws all of it)."
            );
        }
        out.push('\n');
        if out.len() > MAX_GRAPH_TEXT {
            return Some(format!(
                "The graph of the changed part is too large for a comment ({} entities); `kombu graph` draws it.\n",
                ids.len()
            ));
        }
        Some(out)
    }

    /// The entities the changes name, as graph keys (a message's change marks the producers
    /// and consumers that carry it).
    fn changed_entities(&self) -> BTreeSet<(char, String)> {
        let mut out = BTreeSet::new();
        for c in &self.changes {
            let Some((kind, rest)) = c.entity.split_once(' ') else {
                continue;
            };
            let Some(name) = rest.split('`').nth(1) else {
                continue;
            };
            match kind {
                "exchange" => {
                    out.insert(('x', name.to_owned()));
                }
                "queue" => {
                    out.insert(('q', name.to_owned()));
                }
                "producer" => {
                    out.insert(('p', name.to_owned()));
                }
                "consumer" => {
                    out.insert(('c', name.to_owned()));
                }
                "policy" => {
                    out.insert(('y', name.to_owned()));
                }
                "operator" if rest.starts_with("policy ") => {
                    out.insert(('o', name.to_owned()));
                }
                "message" => {
                    for m in [self.old.model(), self.new.model()] {
                        for (p, def) in &m.producers {
                            if def.methods.values().any(|x| x.message.as_str() == name) {
                                out.insert(('p', p.clone()));
                            }
                        }
                        for (c, def) in &m.consumers {
                            if def.queues.values().any(|q| q.message == name) {
                                out.insert(('c', c.clone()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// The consumers a break reaches, and those that read the message where no producer of the
/// other side routes it.
fn affected(hit: &[String], missed: &[String]) -> String {
    let mut out = hit.join("<br>");
    if hit.is_empty() {
        out.push_str("none: no producer routes it to a consumer that reads it");
    }
    if !missed.is_empty() {
        let _ = write!(out, "<br>(not reached: {})", missed.join(", "));
    }
    out
}

/// The consumers of `readers` that read `message` (or a message holding it) on a queue the
/// producers of `writers` route it to, each with those producers; then the consumers that
/// read it on a queue no such producer reaches.
fn readers_of(
    (message, sent_as): (&str, &str),
    variant: Option<&str>,
    readers: &TopologyModel,
    writers: &TopologyModel,
    routes: [&Topology; 2],
) -> (Vec<String>, Vec<String>) {
    let sent_types = holders(sent_as, writers);
    let holders = holders(message, readers);
    let mut out = Vec::new();
    let mut missed = Vec::new();
    for (cname, c) in &readers.consumers {
        for (queue, consume) in &c.queues {
            if !holders.contains(consume.message.as_str()) {
                continue;
            }
            let mut senders = Vec::new();
            for (pname, p) in &writers.producers {
                for (mname, m) in &p.methods {
                    if !sent_types.contains(m.message.as_str()) {
                        continue;
                    }
                    // A method that sends one variant only carries a break in that one.
                    if let (Some(v), Some(sent)) = (variant, &m.variant) {
                        if m.message.as_str() == sent_as && sent.as_str() != v {
                            continue;
                        }
                    }
                    let key = m
                        .routing_key
                        .as_ref()
                        .or(p.routing_key.as_ref())
                        .map_or("", |k| k.as_str());
                    let headers = (!m.headers.is_empty()).then_some(&m.headers);
                    if routes
                        .iter()
                        .any(|t| t.route(&p.exchange, key, headers).contains(queue.as_str()))
                    {
                        senders.push(code(&format!("{pname}.{}", mname.as_str())));
                    }
                }
            }
            if senders.is_empty() {
                missed.push(format!("{} on {}", code(cname), code(queue)));
            } else {
                out.push(format!(
                    "{} on {} (sent by {})",
                    code(cname),
                    code(queue),
                    senders.join(", ")
                ));
            }
        }
    }
    (out, missed)
}

/// `message` and the messages of `m` that hold it in a field, directly or through others.
fn holders<'m>(message: &'m str, m: &'m TopologyModel) -> BTreeSet<&'m str> {
    let mut out: BTreeSet<&str> = BTreeSet::from([message]);
    loop {
        let before = out.len();
        for (name, def) in &m.messages {
            let fields = def.fields.iter().flat_map(|f| f.values()).chain(
                def.variants
                    .iter()
                    .flat_map(|v| v.values().flat_map(|v| v.fields.values())),
            );
            let holds = fields.into_iter().any(|f| {
                kombu::topology::TypeExpr::parse(&f.ty)
                    .ok()
                    .is_some_and(|t| t.messages().iter().any(|held| out.contains(held)))
            });
            if holds {
                out.insert(name.as_str());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// What makes a finding the same in both versions: its code and its text without counts and
/// asides (`(... and 2 more)` grows when an unrelated entity is added).
fn finding_key(d: &Diagnostic) -> (String, String) {
    let mut text = String::new();
    let mut depth = 0usize;
    for c in d.message.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 && !c.is_ascii_digit() => text.push(c),
            _ => {}
        }
    }
    (d.code.as_str().to_owned(), text)
}

/// A version's lint findings: its warnings and the generator's naming checks.
fn findings(t: &Topology) -> Vec<Diagnostic> {
    let mut all = t.warnings().to_vec();
    if let Err(kombu_build::Error::Topology(d)) = kombu_build::Config::new().check(t) {
        all.extend(d.iter().cloned());
    }
    all
}

fn route_table(routes: &[RouteChange]) -> String {
    let mut out = String::from(
        "| exchange | routing key | no longer reaches | now reaches | sent by |\n|---|---|---|---|---|\n",
    );
    let list = |s: &BTreeSet<String>| {
        if s.is_empty() {
            "—".to_owned()
        } else {
            s.iter().map(|q| code(q)).collect::<Vec<_>>().join(", ")
        }
    };
    for r in routes {
        let exchange = if r.exchange.is_empty() {
            "(default)".to_owned()
        } else {
            code(&r.exchange)
        };
        let mut key = code(&r.key);
        if let Some(h) = &r.headers {
            let _ = write!(key, " headers {}", escape(&crate::diff::table(h)));
        }
        let senders = if r.senders.is_empty() {
            "(a binding's key)".to_owned()
        } else {
            r.senders
                .iter()
                .map(|s| match s.strip_prefix("dead letters of ") {
                    Some(q) => format!("dead letters of {}", code(q)),
                    None => code(s),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| {exchange} | {key} | {} | {} | {senders} |",
            list(&r.lost),
            list(&r.gained)
        );
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
