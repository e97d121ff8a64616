//! Routing simulation over a topology, with the in-memory broker's RabbitMQ-exact router.
//!
//! Used by the checks (does a producer route reach a queue; does what reaches a queue match
//! what its consumer expects) and by tools that answer "where does this key go".

use std::collections::{BTreeSet, HashMap, HashSet};

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
        let mut bind = |b: &BindingDef, destination: Destination| {
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
                bind(b, Destination::Queue(name.clone()));
            }
        }
        for (name, x) in &model.exchanges {
            for b in &x.bindings {
                bind(b, Destination::Exchange(name.clone()));
            }
        }
        Routes {
            exchanges,
            queues: model.queues.keys().cloned().collect(),
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

    /// Whether anything is bound to `exchange`.
    pub fn has_bindings(&self, exchange: &str) -> bool {
        self.exchanges
            .get(exchange)
            .is_some_and(|(router, _)| !router.is_empty())
    }
}
