//! What has been declared on an AMQP connection, recorded so that recovery can declare it again
//! on a new connection: exchanges, queues (under the names they were given), queue bindings and
//! exchange-to-exchange bindings. Deletes and unbinds remove their records.

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

#[derive(Debug, Default)]
pub(crate) struct Topology {
    pub exchanges: Vec<Exchange>,
    pub queues: Vec<Queue>,
    pub queue_bindings: Vec<BindingRecord>,
    pub exchange_bindings: Vec<BindingRecord>,
}

impl Topology {
    pub(crate) fn exchange(&mut self, exchange: &Exchange) {
        let mut record = exchange.clone();
        record.bindings.clear();
        self.exchanges.retain(|e| e.name != record.name);
        self.exchanges.push(record);
    }

    pub(crate) fn queue(&mut self, queue: &Queue) {
        let mut record = queue.clone();
        record.bindings.clear();
        self.queues.retain(|q| q.name != record.name);
        self.queues.push(record);
    }

    pub(crate) fn bind(list: &mut Vec<BindingRecord>, record: BindingRecord, bind: bool) {
        list.retain(|b| b != &record);
        if bind {
            list.push(record);
        }
    }

    pub(crate) fn delete_exchange(&mut self, name: &str) {
        self.exchanges.retain(|e| e.name != name);
        self.queue_bindings.retain(|b| b.source != name);
        self.exchange_bindings
            .retain(|b| b.source != name && b.destination != name);
    }

    pub(crate) fn delete_queue(&mut self, name: &str) {
        self.queues.retain(|q| q.name != name);
        self.queue_bindings.retain(|b| b.destination != name);
    }
}
