//! Routing simulation over a topology, with the in-memory broker's RabbitMQ-exact router.
//!
//! Used by the checks (does a producer route reach a queue; does what reaches a queue match
//! what its consumer expects) and by tools that answer "where does this key go".

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::model::{BindingDef, TopologyModel};
use crate::transport::memory::router::{route_graph, BindingEntry, Destination, Router};
use crate::{ExchangeKind, FieldTable};

/// The exchanges RabbitMQ declares in every virtual host, with their types.
pub const PREDECLARED: &[(&str, ExchangeKind)] = &[
    ("amq.direct", ExchangeKind::Direct),
    ("amq.fanout", ExchangeKind::Fanout),
    ("amq.topic", ExchangeKind::Topic),
    ("amq.headers", ExchangeKind::Headers),
    ("amq.match", ExchangeKind::Headers),
    ("amq.rabbitmq.trace", ExchangeKind::Topic),
];

/// The kind of an exchange RabbitMQ predeclares, if `name` is one.
pub fn predeclared(name: &str) -> Option<&'static ExchangeKind> {
    PREDECLARED.iter().find(|(n, _)| *n == name).map(|(_, k)| k)
}

/// Every exchange of a topology (and the predeclared ones) with its bindings, ready to route.
#[derive(Debug)]
pub struct Routes {
    exchanges: HashMap<String, (Router, Option<String>)>,
    queues: HashSet<String>,
    /// The binding keys from a source exchange to a destination, for explaining a path.
    keys: HashMap<(String, Destination), Vec<String>>,
}

/// How a message got from one exchange to the next exchange or queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop {
    /// A binding of `from` matched; `keys` are the binding keys from `from` to `to`.
    Binding {
        /// The source exchange.
        from: String,
        /// The destination (queue or exchange).
        to: String,
        /// Whether `to` is a queue.
        to_queue: bool,
        /// The bindings between them: their keys, or for headers bindings the values matched.
        keys: Vec<String>,
    },
    /// No binding of `from` matched, so its alternate exchange `to` got the message.
    Alternate {
        /// The exchange nothing matched on.
        from: String,
        /// Its alternate exchange.
        to: String,
    },
    /// The default exchange delivered to the queue named by the routing key.
    Default {
        /// The queue.
        queue: String,
    },
}

/// One queue a message reaches and the way it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePath {
    /// The queue.
    pub queue: String,
    /// The hops from the exchange published to, in order.
    pub hops: Vec<Hop>,
}

impl Routes {
    /// Builds the routers of `model`. Bindings to exchanges that do not exist are ignored (the
    /// checks report them).
    pub fn new(model: &TopologyModel) -> Self {
        let mut exchanges: HashMap<String, (Router, Option<String>)> = model
            .exchanges
            .iter()
            .map(|(name, x)| {
                let alt = x
                    .alternate_exchange
                    .as_ref()
                    .map(|a| a.get().clone())
                    .or_else(|| {
                        x.arguments
                            .get("alternate-exchange")
                            .and_then(crate::FieldValue::as_str)
                            .map(str::to_owned)
                    });
                (name.clone(), (Router::new(&x.kind), alt))
            })
            .collect();
        for (name, kind) in PREDECLARED {
            exchanges
                .entry((*name).to_owned())
                .or_insert_with(|| (Router::new(kind), None));
        }
        let mut keys: HashMap<(String, Destination), Vec<String>> = HashMap::new();
        let mut bind = |b: &BindingDef, destination: Destination| {
            let label = if b.headers.is_empty() {
                b.routing_key.get().clone()
            } else {
                let values: Vec<String> = b
                    .headers
                    .iter()
                    // As a topology file writes them: a string quoted, a number bare.
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!(
                    "headers {} ({})",
                    values.join(", "),
                    b.match_.unwrap_or_default().as_str()
                )
            };
            keys.entry((b.exchange.get().clone(), destination.clone()))
                .or_default()
                .push(label);
            if let Some((router, _)) = exchanges.get_mut(b.exchange.get()) {
                router.bind(BindingEntry {
                    destination,
                    key: b.routing_key.get().clone(),
                    arguments: b.binding_arguments(),
                });
            }
        };
        for (name, q) in &model.queues {
            for b in &q.bindings {
                bind(b, Destination::Queue(name.as_str().into()));
            }
        }
        for (name, x) in &model.exchanges {
            for b in &x.bindings {
                bind(b, Destination::Exchange(name.as_str().into()));
            }
        }
        Routes {
            exchanges,
            queues: model.queues.keys().cloned().collect(),
            keys,
        }
    }

    /// The queues a message published to `exchange` with `routing_key` and `headers` reaches.
    pub fn route(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: Option<&FieldTable>,
    ) -> BTreeSet<String> {
        route_graph(
            exchange,
            &[routing_key],
            headers,
            |name| {
                self.exchanges
                    .get(name)
                    .map(|(router, alt)| (router, alt.as_deref()))
            },
            |queue| self.queues.contains(queue),
        )
    }

    /// Like [`Routes::route`], with the way to each queue: the bindings followed
    /// (exchange-to-exchange included) and the alternate exchanges taken. Queues in name order.
    pub fn trace(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: Option<&FieldTable>,
    ) -> Vec<RoutePath> {
        let mut paths: BTreeMap<String, Vec<Hop>> = BTreeMap::new();
        let mut todo: Vec<(String, Vec<Hop>)> = vec![(exchange.to_owned(), Vec::new())];
        let mut seen: BTreeSet<String> = BTreeSet::new();
        while let Some((name, hops)) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if name.is_empty() {
                if self.queues.contains(routing_key) {
                    let mut hops = hops;
                    hops.push(Hop::Default {
                        queue: routing_key.to_owned(),
                    });
                    paths.entry(routing_key.to_owned()).or_insert(hops);
                }
                continue;
            }
            let Some((router, alternate)) = self.exchanges.get(&name) else {
                continue;
            };
            let mut found = BTreeSet::new();
            router.route(routing_key, headers, &mut found);
            if found.is_empty() {
                if let Some(alt) = alternate {
                    let mut next = hops.clone();
                    next.push(Hop::Alternate {
                        from: name.clone(),
                        to: alt.clone(),
                    });
                    todo.push((alt.clone(), next));
                }
            }
            for dest in found {
                let keys = self
                    .keys
                    .get(&(name.clone(), dest.clone()))
                    .cloned()
                    .unwrap_or_default();
                let (to, to_queue) = match dest {
                    Destination::Queue(q) => (q.to_string(), true),
                    Destination::Exchange(x) => (x.to_string(), false),
                };
                let mut next = hops.clone();
                next.push(Hop::Binding {
                    from: name.clone(),
                    to: to.clone(),
                    to_queue,
                    keys,
                });
                if to_queue {
                    paths.entry(to).or_insert(next);
                } else {
                    todo.push((to, next));
                }
            }
        }
        paths
            .into_iter()
            .map(|(queue, hops)| RoutePath { queue, hops })
            .collect()
    }

    /// Whether anything is bound to `exchange`.
    pub fn has_bindings(&self, exchange: &str) -> bool {
        self.exchanges
            .get(exchange)
            .is_some_and(|(router, _)| !router.is_empty())
    }
}
