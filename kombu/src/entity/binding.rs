//! [`Binding`]: a routing rule from an exchange to a queue or to another exchange.

use serde::{Deserialize, Serialize};

use super::Exchange;
use crate::field::{FieldTable, FieldValue};

/// A binding from `exchange` with a binding key and arguments (the match rules of a headers
/// exchange live in the arguments). Used for queue bindings and exchange-to-exchange bindings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Binding {
    /// The source exchange. It is declared before the binding is made.
    pub exchange: Exchange,
    /// The binding key (ignored by fanout and headers exchanges).
    #[serde(default)]
    pub routing_key: String,
    /// Binding arguments (`x-match` and header values for headers exchanges).
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub arguments: FieldTable,
}

impl Binding {
    /// A binding from `exchange` with `routing_key`.
    pub fn new(exchange: Exchange, routing_key: impl Into<String>) -> Self {
        Binding {
            exchange,
            routing_key: routing_key.into(),
            arguments: FieldTable::new(),
        }
    }

    /// Add one binding argument.
    pub fn argument(mut self, key: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.arguments.insert(key.into(), value.into());
        self
    }
}
