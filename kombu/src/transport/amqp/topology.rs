//! What has been declared on an AMQP connection, recorded so that recovery can declare it again
//! on a new connection: exchanges, queues (under the names they were given), queue bindings and
//! exchange-to-exchange bindings. Deletes and unbinds remove their records.
//!
//! Recording a declare or a binding costs the same however many are recorded (maps keyed by
//! name), so declaring 100,000 bindings is linear, not quadratic. Records replay in the order
//! they were first made.

use indexmap::IndexMap;

use crate::field::FieldTable;
use crate::{Exchange, Queue};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BindingRecord {
    /// Queue or destination exchange.
    pub destination: String,
    pub source: String,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// Bindings by (destination, source, routing key); bindings that differ only in their
/// arguments are distinct, and few, so each key holds a short list of argument tables.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bindings {
    by_key: IndexMap<(String, String, String), Vec<FieldTable>>,
}

impl Bindings {
    /// Record a binding (`bind`) or forget it (an unbind).
    pub(crate) fn set(&mut self, record: BindingRecord, bind: bool) {
        let key = (record.destination, record.source, record.routing_key);
        let tables = self.by_key.entry(key.clone()).or_default();
        tables.retain(|a| a != &record.arguments);
        if bind {
            tables.push(record.arguments);
        }
        if tables.is_empty() {
            self.by_key.shift_remove(&key);
        }
    }

    /// Forget the bindings `doomed` says.
    fn forget(&mut self, doomed: impl Fn(&str, &str) -> bool) {
        self.by_key
            .retain(|(destination, source, _), _| !doomed(destination, source));
    }

    /// Every binding, in the order first recorded.
    pub(crate) fn records(&self) -> Vec<BindingRecord> {
        self.by_key
            .iter()
            .flat_map(|((destination, source, routing_key), tables)| {
                tables.iter().map(move |arguments| BindingRecord {
                    destination: destination.clone(),
                    source: source.clone(),
                    routing_key: routing_key.clone(),
                    arguments: arguments.clone(),
                })
            })
            .collect()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Topology {
    pub exchanges: IndexMap<String, Exchange>,
    pub queues: IndexMap<String, Queue>,
    pub queue_bindings: Bindings,
    pub exchange_bindings: Bindings,
}

impl Topology {
    pub(crate) fn exchange(&mut self, exchange: &Exchange) {
        let mut record = exchange.clone();
        record.bindings.clear();
        self.exchanges.insert(record.name.clone(), record);
    }

    pub(crate) fn queue(&mut self, queue: &Queue) {
        let mut record = queue.clone();
        record.bindings.clear();
        self.queues.insert(record.name.clone(), record);
    }

    pub(crate) fn delete_exchange(&mut self, name: &str) {
        self.exchanges.shift_remove(name);
        self.queue_bindings.forget(|_, source| source == name);
        self.exchange_bindings
            .forget(|destination, source| source == name || destination == name);
    }

    pub(crate) fn delete_queue(&mut self, name: &str) {
        self.queues.shift_remove(name);
        self.queue_bindings
            .forget(|destination, _| destination == name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(destination: &str, source: &str, key: &str) -> BindingRecord {
        BindingRecord {
            destination: destination.into(),
            source: source.into(),
            routing_key: key.into(),
            arguments: FieldTable::new(),
        }
    }

    #[test]
    fn bindings_are_recorded_once_in_order_and_forgotten_with_their_entities() {
        let mut t = Topology::default();
        t.queue_bindings.set(record("q1", "x", "a"), true);
        t.queue_bindings.set(record("q2", "x", "b"), true);
        t.queue_bindings.set(record("q1", "x", "a"), true);
        let mut with_args = record("q1", "x", "a");
        with_args.arguments.insert("k".into(), "v".into());
        t.queue_bindings.set(with_args.clone(), true);
        assert_eq!(
            t.queue_bindings.records(),
            [
                record("q1", "x", "a"),
                with_args.clone(),
                record("q2", "x", "b")
            ]
        );
        t.queue_bindings.set(record("q1", "x", "a"), false);
        assert_eq!(
            t.queue_bindings.records(),
            [with_args, record("q2", "x", "b")]
        );
        t.delete_queue("q1");
        assert_eq!(t.queue_bindings.records(), [record("q2", "x", "b")]);
        t.delete_exchange("x");
        assert!(t.queue_bindings.records().is_empty());
    }

    #[test]
    fn redeclaring_replaces_the_record_in_place() {
        let mut t = Topology::default();
        t.queue(&Queue::new("a"));
        t.queue(&Queue::new("b"));
        t.queue(&Queue::new("a").durable(false));
        let names: Vec<&str> = t.queues.keys().map(String::as_str).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(!t.queues["a"].durable);
    }
}
