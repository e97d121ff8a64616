//! [`Exchange`] and [`ExchangeKind`]: what an exchange is, as data.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Binding;
use crate::field::{FieldTable, FieldValue};
use crate::properties::DeliveryMode;

/// The type of an exchange: the four built-in routing algorithms, or a plugin type by name
/// (`x-delayed-message`, `x-consistent-hash`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ExchangeKind {
    /// Routes on exact routing-key equality.
    #[default]
    Direct,
    /// Routes to every bound queue.
    Fanout,
    /// Routes on dotted routing-key patterns (`*`, `#`).
    Topic,
    /// Routes on message headers.
    Headers,
    /// Any other type, by the name the broker knows it under.
    Custom(String),
}

impl ExchangeKind {
    /// The name the broker uses for this type.
    pub fn as_str(&self) -> &str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
            ExchangeKind::Custom(name) => name,
        }
    }
}

impl From<&str> for ExchangeKind {
    fn from(name: &str) -> Self {
        match name {
            "direct" => ExchangeKind::Direct,
            "fanout" => ExchangeKind::Fanout,
            "topic" => ExchangeKind::Topic,
            "headers" => ExchangeKind::Headers,
            other => ExchangeKind::Custom(other.to_owned()),
        }
    }
}

impl fmt::Display for ExchangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ExchangeKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ExchangeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if name.is_empty() {
            return Err(serde::de::Error::custom("exchange type must not be empty"));
        }
        Ok(ExchangeKind::from(name.as_str()))
    }
}

fn yes() -> bool {
    true
}
fn is_true(v: &bool) -> bool {
    *v
}
fn is_false(v: &bool) -> bool {
    !*v
}

/// An exchange declaration.
///
/// ```
/// use kombu::{Exchange, ExchangeKind};
/// let media = Exchange::new("media", ExchangeKind::Direct);
/// assert!(media.durable && !media.auto_delete);
/// assert!(media.should_declare());
/// assert!(!Exchange::new("amq.topic", ExchangeKind::Topic).should_declare());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Exchange {
    /// The exchange name; `""` is the default exchange.
    pub name: String,
    /// The exchange type.
    #[serde(rename = "type", default)]
    pub kind: ExchangeKind,
    /// Survives a broker restart (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub durable: bool,
    /// Deleted when its last binding is removed (default false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub auto_delete: bool,
    /// Cannot be published to directly, only through exchange-to-exchange bindings.
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    /// The delivery mode producers use for this exchange when a publish does not say.
    #[serde(default)]
    pub delivery_mode: DeliveryMode,
    /// Extra declaration arguments (`alternate-exchange`, plugin settings, ...).
    #[serde(default, skip_serializing_if = "FieldTable::is_empty")]
    pub arguments: FieldTable,
    /// Only check that the exchange exists; fail if it does not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub passive: bool,
    /// Never declare this exchange (it is managed elsewhere).
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_declare: bool,
    /// Exchange-to-exchange bindings: this exchange receives what `binding.exchange` routes
    /// with `binding.routing_key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
}

impl Exchange {
    /// A durable, non-auto-delete exchange of the given type.
    pub fn new(name: impl Into<String>, kind: impl Into<ExchangeKind>) -> Self {
        Exchange {
            name: name.into(),
            kind: kind.into(),
            durable: true,
            auto_delete: false,
            internal: false,
            delivery_mode: DeliveryMode::default(),
            arguments: FieldTable::new(),
            passive: false,
            no_declare: false,
            bindings: Vec::new(),
        }
    }

    /// The default exchange `""`: direct, every queue bound by its own name.
    pub fn default_exchange() -> Self {
        Exchange::new("", ExchangeKind::Direct)
    }

    /// Set `durable`.
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }
    /// Set `auto_delete`.
    pub fn auto_delete(mut self, auto_delete: bool) -> Self {
        self.auto_delete = auto_delete;
        self
    }
    /// Set `internal`.
    pub fn internal(mut self, internal: bool) -> Self {
        self.internal = internal;
        self
    }
    /// Set the default delivery mode of messages published to this exchange.
    pub fn delivery_mode(mut self, mode: DeliveryMode) -> Self {
        self.delivery_mode = mode;
        self
    }
    /// Add one declaration argument.
    pub fn argument(mut self, key: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.arguments.insert(key.into(), value.into());
        self
    }
    /// Set the `alternate-exchange` argument: unroutable messages go there.
    pub fn alternate_exchange(self, name: impl Into<String>) -> Self {
        let name: String = name.into();
        self.argument("alternate-exchange", name)
    }
    /// Set `passive`.
    pub fn passive(mut self, passive: bool) -> Self {
        self.passive = passive;
        self
    }
    /// Set `no_declare`.
    pub fn no_declare(mut self, no_declare: bool) -> Self {
        self.no_declare = no_declare;
        self
    }
    /// Bind this exchange to `source`: it receives what `source` routes with `routing_key`.
    pub fn bind_to(mut self, source: Exchange, routing_key: impl Into<String>) -> Self {
        self.bindings.push(Binding::new(source, routing_key));
        self
    }

    /// Whether this is the nameless default exchange.
    pub fn is_default(&self) -> bool {
        self.name.is_empty()
    }

    /// Whether declaring this exchange sends anything to the broker: not when `no_declare` is
    /// set, and never for `""` or names starting with `amq.` (the broker's own exchanges).
    pub fn should_declare(&self) -> bool {
        !self.no_declare && !self.is_default() && !self.name.starts_with("amq.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_python_kombu() {
        let e: Exchange = serde_json::from_str(r#"{"name": "media"}"#).unwrap();
        assert_eq!(e, Exchange::new("media", ExchangeKind::Direct));
        assert!(e.durable);
        assert!(!e.auto_delete && !e.internal && !e.passive && !e.no_declare);
        assert_eq!(e.delivery_mode, DeliveryMode::Persistent);
    }

    #[test]
    fn plugin_types_keep_their_name() {
        let e: Exchange =
            serde_json::from_str(r#"{"name": "d", "type": "x-delayed-message"}"#).unwrap();
        assert_eq!(e.kind, ExchangeKind::Custom("x-delayed-message".into()));
        assert_eq!(
            serde_json::to_value(&e).unwrap()["type"],
            "x-delayed-message"
        );
        assert_eq!(ExchangeKind::from("topic"), ExchangeKind::Topic);
    }

    #[test]
    fn reserved_names_are_never_declared() {
        assert!(!Exchange::default_exchange().should_declare());
        assert!(!Exchange::new("amq.direct", ExchangeKind::Direct).should_declare());
        assert!(!Exchange::new("mine", ExchangeKind::Direct)
            .no_declare(true)
            .should_declare());
        assert!(Exchange::new("amqx", ExchangeKind::Direct).should_declare());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_str::<Exchange>(r#"{"name": "m", "durible": false}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("durible"), "{err}");
    }
}
