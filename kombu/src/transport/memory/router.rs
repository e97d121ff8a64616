//! Exchange routing exactly as RabbitMQ does it: direct, fanout, topic and headers.
//!
//! Topic bindings live in a trie over words (as in RabbitMQ), so matching costs grow with the
//! routing key, not with the number of bindings. Bindings are kept by destination, so binding,
//! unbinding and dropping a deleted destination's bindings cost the same however many bindings
//! an exchange has. Names are shared (`Arc<str>`), so routing clones no string. Words may be empty (`a..b` is `a`, ``, `b`), the
//! empty key is zero words, `*` is exactly one word and `#` zero or more. Headers matching
//! implements `all`, `any`, `all-with-x` and `any-with-x`, with value comparison as RabbitMQ's
//! (numbers by value whatever their width, a `void` binding value matching any header value).
//! What this module does not own: exchange-to-exchange chains and alternate exchanges, which
//! [`route_graph`] resolves by calling [`Router::for_each_match`] per exchange.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::field::{FieldTable, FieldValue};
use crate::ExchangeKind;

/// Where a binding leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// A queue, by name.
    Queue(Arc<str>),
    /// An exchange (exchange-to-exchange binding), by name.
    Exchange(Arc<str>),
}

/// One binding's identity: destination, key and arguments (as RabbitMQ keys bindings).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindingEntry {
    /// Where matching messages go.
    pub destination: Destination,
    /// The binding key.
    pub key: String,
    /// The binding arguments (`x-match` and values for headers exchanges).
    pub arguments: FieldTable,
}

#[derive(Debug, Default)]
struct TopicNode {
    words: HashMap<String, TopicNode>,
    star: Option<Box<TopicNode>>,
    hash: Option<Box<TopicNode>>,
    /// Destinations whose binding key ends here, with how many bindings lead to each.
    here: HashMap<Destination, usize>,
}

impl TopicNode {
    fn is_empty(&self) -> bool {
        self.words.is_empty() && self.star.is_none() && self.hash.is_none() && self.here.is_empty()
    }

    fn child_mut(&mut self, word: &str) -> &mut TopicNode {
        match word {
            "*" => self.star.get_or_insert_with(Box::default),
            "#" => self.hash.get_or_insert_with(Box::default),
            other => self.words.entry(other.to_owned()).or_default(),
        }
    }

    fn insert(&mut self, words: &[&str], destination: &Destination) {
        match words.split_first() {
            None => *self.here.entry(destination.clone()).or_default() += 1,
            Some((word, rest)) => self.child_mut(word).insert(rest, destination),
        }
    }

    /// Remove one binding; prunes empty branches. Returns whether the node is now empty.
    fn remove(&mut self, words: &[&str], destination: &Destination) -> bool {
        match words.split_first() {
            None => {
                if let Some(count) = self.here.get_mut(destination) {
                    *count -= 1;
                    if *count == 0 {
                        self.here.remove(destination);
                    }
                }
            }
            Some((word, rest)) => match *word {
                "*" => {
                    if self
                        .star
                        .as_mut()
                        .is_some_and(|n| n.remove(rest, destination))
                    {
                        self.star = None;
                    }
                }
                "#" => {
                    if self
                        .hash
                        .as_mut()
                        .is_some_and(|n| n.remove(rest, destination))
                    {
                        self.hash = None;
                    }
                }
                other => {
                    if self
                        .words
                        .get_mut(other)
                        .is_some_and(|n| n.remove(rest, destination))
                    {
                        self.words.remove(other);
                    }
                }
            },
        }
        self.is_empty()
    }

    /// Calls `found` for each destination whose binding matches the words left in `words`
    /// (`None`: no word left; `Some(s)`: the words of `s` split on `.`, `""` being one empty
    /// word). A destination may be found more than once.
    fn collect<'a>(&'a self, words: Option<&str>, found: &mut impl FnMut(&'a Destination)) {
        if let Some(hash) = &self.hash {
            // `#` swallows zero or more words: try every split point.
            let mut rest = words;
            loop {
                hash.collect(rest, found);
                match rest {
                    None => break,
                    Some(s) => rest = s.split_once('.').map(|(_, r)| r),
                }
            }
        }
        match words {
            None => self.here.keys().for_each(&mut *found),
            Some(s) => {
                let (word, rest) = match s.split_once('.') {
                    Some((w, r)) => (w, Some(r)),
                    None => (s, None),
                };
                if let Some(child) = self.words.get(word) {
                    child.collect(rest, found);
                }
                if let Some(star) = &self.star {
                    star.collect(rest, found);
                }
            }
        }
    }
}

/// A routing key or binding key as RabbitMQ splits it: `""` is zero words, else split on `.`.
fn words(key: &str) -> Vec<&str> {
    if key.is_empty() {
        Vec::new()
    } else {
        key.split('.').collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchMode {
    All,
    Any,
    AllWithX,
    AnyWithX,
}

fn match_mode(arguments: &FieldTable) -> MatchMode {
    match arguments.get("x-match").and_then(FieldValue::as_str) {
        Some("any") => MatchMode::Any,
        Some("all-with-x") => MatchMode::AllWithX,
        Some("any-with-x") => MatchMode::AnyWithX,
        _ => MatchMode::All,
    }
}

/// Header value equality as RabbitMQ compares them (checked against RabbitMQ by the
/// differential test): top-level numbers by value whatever their width or float-ness, a
/// timestamp counting as its integer; text equal to a byte array with the same bytes; arrays and
/// everything else by exact type and value.
pub fn header_value_eq(a: &FieldValue, b: &FieldValue) -> bool {
    use FieldValue as F;
    fn number(v: &FieldValue) -> Option<f64> {
        match *v {
            FieldValue::F32(f) => Some(f.into()),
            FieldValue::F64(f) => Some(f),
            _ => v.as_i64().map(|i| i as f64),
        }
    }
    match (a, b) {
        (F::String(x), F::Bytes(y)) | (F::Bytes(y), F::String(x)) => x.as_bytes() == y.as_slice(),
        _ => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (number(a), number(b)) {
                (Some(x), Some(y)) => x == y,
                _ => a == b,
            },
        },
    }
}

fn headers_match(arguments: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let mode = match_mode(arguments);
    let with_x = matches!(mode, MatchMode::AllWithX | MatchMode::AnyWithX);
    let mut considered = arguments
        .iter()
        .filter(|(k, _)| k.as_str() != "x-match" && (with_x || !k.starts_with("x-")));
    let matches_one = |(key, expected): (&String, &FieldValue)| {
        headers.and_then(|h| h.get(key)).is_some_and(|actual| {
            matches!(expected, FieldValue::Void) || header_value_eq(expected, actual)
        })
    };
    match mode {
        MatchMode::All | MatchMode::AllWithX => considered.all(matches_one),
        MatchMode::Any | MatchMode::AnyWithX => considered.any(matches_one),
    }
}

/// The bindings of one exchange, indexed for its type: the routing decision RabbitMQ makes for
/// that exchange alone.
///
/// ```
/// use std::collections::BTreeSet;
/// use kombu::transport::memory::router::{BindingEntry, Destination, Router};
/// use kombu::{ExchangeKind, FieldTable};
///
/// let mut router = Router::new(&ExchangeKind::Topic);
/// router.bind(BindingEntry {
///     destination: Destination::Queue("stocks".into()),
///     key: "*.stock.#".into(),
///     arguments: FieldTable::new(),
/// });
/// let mut out = BTreeSet::new();
/// router.route("usd.stock", None, &mut out);
/// assert!(out.contains(&Destination::Queue("stocks".into())));
/// ```
#[derive(Debug)]
pub struct Router {
    kind: RouterKind,
    /// Every binding, by destination then (key, arguments), for fanout and headers routing,
    /// unbinding, dropping a destination and emptiness: binding and unbinding cost the same
    /// however many bindings there are.
    bindings: HashMap<Destination, HashSet<(String, FieldTable)>>,
    /// How many bindings of a direct exchange join each (key, destination): bindings that
    /// differ only in arguments route alike, and the route goes with the last of them.
    direct_pairs: HashMap<(String, Destination), usize>,
}

#[derive(Debug)]
enum RouterKind {
    Direct(HashMap<String, BTreeSet<Destination>>),
    Fanout,
    Topic(TopicNode),
    Headers,
}

impl Router {
    /// An exchange of `kind` with no bindings.
    pub fn new(kind: &ExchangeKind) -> Self {
        let kind = match kind {
            ExchangeKind::Fanout => RouterKind::Fanout,
            ExchangeKind::Topic => RouterKind::Topic(TopicNode::default()),
            ExchangeKind::Headers => RouterKind::Headers,
            // Plugin types route as direct here; the in-memory broker has no plugins.
            ExchangeKind::Direct | ExchangeKind::Custom(_) => RouterKind::Direct(HashMap::new()),
        };
        Router {
            kind,
            bindings: HashMap::new(),
            direct_pairs: HashMap::new(),
        }
    }

    /// Whether the exchange has no bindings.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Add a binding; binding the same thing twice is a no-op. Returns whether it was new.
    pub fn bind(&mut self, entry: BindingEntry) -> bool {
        let BindingEntry {
            destination,
            key,
            arguments,
        } = entry;
        let set = self.bindings.entry(destination.clone()).or_default();
        if set.contains(&(key.clone(), arguments.clone())) {
            return false;
        }
        match &mut self.kind {
            RouterKind::Direct(map) => {
                map.entry(key.clone())
                    .or_default()
                    .insert(destination.clone());
                *self
                    .direct_pairs
                    .entry((key.clone(), destination))
                    .or_default() += 1;
            }
            RouterKind::Topic(trie) => trie.insert(&words(&key), &destination),
            RouterKind::Fanout | RouterKind::Headers => {}
        }
        set.insert((key, arguments));
        true
    }

    /// Remove a binding. Returns whether it existed.
    pub fn unbind(&mut self, entry: &BindingEntry) -> bool {
        let Some(set) = self.bindings.get_mut(&entry.destination) else {
            return false;
        };
        // The set is keyed by owned pairs; a lookup needs one (bindings are rare next to
        // messages).
        if !set.remove(&(entry.key.clone(), entry.arguments.clone())) {
            return false;
        }
        if set.is_empty() {
            self.bindings.remove(&entry.destination);
        }
        self.unindex(&entry.destination, &entry.key);
        true
    }

    /// Take one binding of `destination` with `key` out of the routing index.
    fn unindex(&mut self, destination: &Destination, key: &str) {
        match &mut self.kind {
            RouterKind::Direct(map) => {
                let pair = (key.to_owned(), destination.clone());
                let still_bound = match self.direct_pairs.get_mut(&pair) {
                    Some(n) if *n > 1 => {
                        *n -= 1;
                        true
                    }
                    _ => {
                        self.direct_pairs.remove(&pair);
                        false
                    }
                };
                if !still_bound {
                    if let Some(set) = map.get_mut(key) {
                        set.remove(destination);
                        if set.is_empty() {
                            map.remove(key);
                        }
                    }
                }
            }
            RouterKind::Topic(trie) => {
                trie.remove(&words(key), destination);
            }
            RouterKind::Fanout | RouterKind::Headers => {}
        }
    }

    /// Remove every binding to `destination` (it was deleted). Returns how many went; costs
    /// the number of its bindings, not of the exchange's.
    pub fn remove_destination(&mut self, destination: &Destination) -> usize {
        let Some(set) = self.bindings.remove(destination) else {
            return 0;
        };
        for (key, _) in &set {
            self.unindex(destination, key);
        }
        set.len()
    }

    /// The destinations this exchange's own bindings select, each once (borrowed: routing
    /// allocates nothing per match).
    pub fn route<'a>(
        &'a self,
        routing_key: &str,
        headers: Option<&FieldTable>,
        out: &mut BTreeSet<&'a Destination>,
    ) {
        self.for_each_match(routing_key, headers, |d| {
            out.insert(d);
        });
    }

    /// Calls `found` for each destination this exchange's own bindings select; a topic
    /// exchange may name one destination more than once. Allocates nothing.
    pub fn for_each_match<'a>(
        &'a self,
        routing_key: &str,
        headers: Option<&FieldTable>,
        mut found: impl FnMut(&'a Destination),
    ) {
        match &self.kind {
            RouterKind::Direct(map) => {
                if let Some(set) = map.get(routing_key) {
                    set.iter().for_each(found);
                }
            }
            RouterKind::Fanout => self.bindings.keys().for_each(found),
            RouterKind::Topic(trie) => {
                let words = (!routing_key.is_empty()).then_some(routing_key);
                trie.collect(words, &mut found);
            }
            RouterKind::Headers => {
                for (dest, set) in &self.bindings {
                    if set.iter().any(|(_, args)| headers_match(args, headers)) {
                        found(dest);
                    }
                }
            }
        }
    }
}

/// The queues a message published to `start` with `keys` and `headers` reaches, following
/// exchange-to-exchange bindings and alternate exchanges (taken when an exchange's own
/// bindings select nothing), each queue once. `""` is the default exchange, which routes a
/// key to the queue of that name when `queue_exists`. Shared by the in-memory broker and the
/// topology checks so that both route exactly alike.
pub fn route_graph<'a>(
    start: &'a str,
    keys: &[&str],
    headers: Option<&FieldTable>,
    exchange: impl Fn(&str) -> Option<(&'a Router, Option<&'a str>)>,
    queue_exists: impl Fn(&str) -> bool,
) -> BTreeSet<String> {
    let mut queues = BTreeSet::new();
    route_graph_each(start, keys, headers, exchange, |queue, bound| {
        if bound || queue_exists(queue) {
            queues.insert(queue.to_owned());
        }
    });
    queues
}

/// [`route_graph`]'s walk, calling `queue(name, bound)` for each queue reached: a bound queue
/// (`bound`; it exists, since deleting a queue drops its bindings) or, through the default
/// exchange, a name that may not be a queue. A queue may be named more than once. Allocates
/// nothing when no exchange-to-exchange binding or alternate exchange is followed.
pub fn route_graph_each<'a>(
    start: &'a str,
    keys: &[&str],
    headers: Option<&FieldTable>,
    exchange: impl Fn(&str) -> Option<(&'a Router, Option<&'a str>)>,
    mut queue: impl FnMut(&str, bool),
) {
    // Exchanges reached other than `start`: a chain is short, and a lone exchange needs none.
    let mut seen: Vec<&'a str> = Vec::new();
    let mut todo: Vec<&'a str> = Vec::new();
    let mut next = Some(start);
    let mut first = true;
    while let Some(name) = next.take().or_else(|| todo.pop()) {
        if !std::mem::take(&mut first) {
            if name == start || seen.contains(&name) {
                continue;
            }
            seen.push(name);
        }
        if name.is_empty() {
            keys.iter().for_each(|k| queue(k, false));
            continue;
        }
        let Some((router, alternate)) = exchange(name) else {
            continue;
        };
        let mut matched = false;
        for k in keys {
            router.for_each_match(k, headers, |dest| {
                matched = true;
                match dest {
                    Destination::Queue(q) => queue(q, true),
                    Destination::Exchange(x) => todo.push(&**x),
                }
            });
        }
        if !matched {
            if let Some(alt) = alternate {
                todo.push(alt);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str) -> Destination {
        Destination::Queue(name.into())
    }

    fn topic(bindings: &[&str], key: &str) -> Vec<String> {
        let mut r = Router::new(&ExchangeKind::Topic);
        for b in bindings {
            r.bind(BindingEntry {
                destination: q(b),
                key: (*b).into(),
                arguments: FieldTable::new(),
            });
        }
        let mut out = BTreeSet::new();
        r.route(key, None, &mut out);
        out.into_iter()
            .map(|d| match d {
                Destination::Queue(n) | Destination::Exchange(n) => n.to_string(),
            })
            .collect()
    }

    fn matches(binding: &str, key: &str) -> bool {
        !topic(&[binding], key).is_empty()
    }

    #[test]
    fn a_direct_route_goes_with_the_last_binding_that_differs_only_in_arguments() {
        let mut r = Router::new(&ExchangeKind::Direct);
        let entry = |arg: i64| {
            let mut arguments = FieldTable::new();
            arguments.insert("x-n".into(), arg.into());
            BindingEntry {
                destination: q("jobs"),
                key: "k".into(),
                arguments,
            }
        };
        let routes = |r: &Router| {
            let mut out = BTreeSet::new();
            r.route("k", None, &mut out);
            out.len()
        };
        assert!(r.bind(entry(1)));
        assert!(r.bind(entry(2)));
        assert!(!r.bind(entry(2)), "the same binding twice is one binding");
        assert!(r.unbind(&entry(1)));
        assert_eq!(routes(&r), 1, "still bound with the other arguments");
        assert!(!r.unbind(&entry(1)));
        assert!(r.unbind(&entry(2)));
        assert_eq!(routes(&r), 0);
        assert!(r.is_empty());
    }

    #[test]
    fn many_bindings_on_one_exchange_bind_and_unbind() {
        let mut r = Router::new(&ExchangeKind::Direct);
        let entry = |i: usize| BindingEntry {
            destination: q(&format!("q{i}")),
            key: format!("k{}", i % 7),
            arguments: FieldTable::new(),
        };
        for i in 0..100_000 {
            assert!(r.bind(entry(i)));
        }
        let mut out = BTreeSet::new();
        r.route("k3", None, &mut out);
        assert_eq!(out.len(), (0..100_000).filter(|i| i % 7 == 3).count());
        assert_eq!(r.remove_destination(&q("q3")), 1);
        for i in (0..100_000).filter(|i| *i != 3) {
            assert!(r.unbind(&entry(i)));
        }
        assert!(r.is_empty());
    }

    #[test]
    fn topic_rules_from_the_reference() {
        for key in ["a", "a.b", "a.b.c"] {
            assert!(matches("a.#", key), "a.# ~ {key}");
        }
        assert!(matches("#.a", "a"));
        assert!(matches("a.#.b", "a.b"));
        assert!(matches("*.stock.#", "usd.stock"));
        assert!(matches("*.stock.#", "eur.stock.db"));
        assert!(!matches("*.stock.#", "stock.nasdaq"));
        assert!(!matches("*", ""));
        assert!(!matches("*", "a.b"));
        for key in ["", "a", "a.b", ".", "a..b"] {
            assert!(matches("#", key), "# ~ {key:?}");
        }
        assert!(matches("*.*", "."));
        assert!(matches("*.*", "a."));
        assert!(matches("a.*.b", "a..b"), "an empty word is a word");
        assert!(!matches("a*", "ab"), "* inside a word is literal");
        assert!(matches("a*", "a*"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
        assert!(matches("#.#", ""));
        assert!(matches("#.*.#", "x"));
        assert!(!matches("#.*.#", ""));
    }

    #[test]
    fn one_copy_per_destination_and_unbind_prunes() {
        let mut r = Router::new(&ExchangeKind::Topic);
        let a = BindingEntry {
            destination: q("q"),
            key: "a.*".into(),
            arguments: FieldTable::new(),
        };
        let b = BindingEntry {
            destination: q("q"),
            key: "#".into(),
            arguments: FieldTable::new(),
        };
        assert!(r.bind(a.clone()));
        assert!(!r.bind(a.clone()), "same binding twice is one binding");
        r.bind(b.clone());
        let mut out = BTreeSet::new();
        r.route("a.x", None, &mut out);
        assert_eq!(out.len(), 1);
        assert!(r.unbind(&a) && r.unbind(&b));
        assert!(r.is_empty());
        let mut out = BTreeSet::new();
        r.route("a.x", None, &mut out);
        assert!(out.is_empty());
    }

    fn table(pairs: &[(&str, FieldValue)]) -> FieldTable {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn headers_modes() {
        let h = table(&[
            ("format", "pdf".into()),
            ("size", FieldValue::I32(1)),
            ("x-k", "v".into()),
        ]);
        let all = |extra: &[(&str, FieldValue)]| {
            let mut args = table(extra);
            args.entry("x-match".into()).or_insert("all".into());
            headers_match(&args, Some(&h))
        };
        assert!(all(&[("format", "pdf".into())]));
        assert!(!all(&[("format", "pdf".into()), ("type", "report".into())]));
        assert!(all(&[]), "all with no arguments matches everything");
        assert!(
            !headers_match(&table(&[("x-match", "any".into())]), Some(&h)),
            "any with nothing matches nothing"
        );
        assert!(headers_match(
            &table(&[
                ("x-match", "any".into()),
                ("format", "zip".into()),
                ("size", FieldValue::I64(1))
            ]),
            Some(&h)
        ));
        assert!(
            !all(&[("size", "1".into())]),
            "the integer 1 is not the string 1"
        );
        assert!(
            all(&[("x-k", "nope".into())]),
            "x- arguments are ignored by all"
        );
        assert!(!headers_match(
            &table(&[("x-match", "all-with-x".into()), ("x-k", "nope".into())]),
            Some(&h)
        ));
        assert!(headers_match(
            &table(&[("x-match", "any-with-x".into()), ("x-k", "v".into())]),
            Some(&h)
        ));
        assert!(
            all(&[("format", FieldValue::Void)]),
            "void matches any value"
        );
        assert!(!headers_match(&table(&[("format", "pdf".into())]), None));
        assert!(headers_match(&table(&[]), None), "default x-match is all");
    }
}
