//! The 14 AMQP basic properties of a message ([`Properties`]) and [`DeliveryMode`].
//!
//! Units follow Python kombu: `expiration` is a [`Duration`] here and travels as a string of
//! integer milliseconds; `timestamp` is seconds since the Unix epoch.

use std::fmt;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::duration_ms;
use crate::field::FieldTable;

/// Whether the broker writes a message to disk (AMQP `delivery_mode` 2) or not (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeliveryMode {
    /// `1`: kept in memory only.
    Transient,
    /// `2`: written to disk by durable queues (the default, as in Python kombu).
    #[default]
    Persistent,
}

impl DeliveryMode {
    /// The wire value: 1 or 2.
    pub fn as_u8(self) -> u8 {
        match self {
            DeliveryMode::Transient => 1,
            DeliveryMode::Persistent => 2,
        }
    }

    /// From the wire value; anything but 2 is transient, as brokers treat it.
    pub fn from_u8(v: u8) -> Self {
        if v == 2 {
            DeliveryMode::Persistent
        } else {
            DeliveryMode::Transient
        }
    }
}

impl Serialize for DeliveryMode {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            DeliveryMode::Transient => "transient",
            DeliveryMode::Persistent => "persistent",
        })
    }
}

impl<'de> Deserialize<'de> for DeliveryMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = DeliveryMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"persistent\", \"transient\", 1 or 2")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<DeliveryMode, E> {
                match v {
                    "persistent" => Ok(DeliveryMode::Persistent),
                    "transient" => Ok(DeliveryMode::Transient),
                    other => Err(E::custom(format!(
                        "unknown delivery mode `{other}`, expected \"persistent\" or \"transient\""
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<DeliveryMode, E> {
                match v {
                    1 => Ok(DeliveryMode::Transient),
                    2 => Ok(DeliveryMode::Persistent),
                    other => Err(E::custom(format!(
                        "delivery mode {other} is neither 1 (transient) nor 2 (persistent)"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<DeliveryMode, E> {
                self.visit_u64(u64::try_from(v).map_err(E::custom)?)
            }
        }
        d.deserialize_any(V)
    }
}

/// The AMQP basic properties of a message. Every field is optional on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Properties {
    /// MIME type of the (uncompressed) body.
    pub content_type: Option<String>,
    /// Encoding of the body (`utf-8`, `binary`, ...).
    pub content_encoding: Option<String>,
    /// Application headers (also carries `compression`).
    pub headers: Option<FieldTable>,
    /// Persistent or transient.
    pub delivery_mode: Option<DeliveryMode>,
    /// Priority 0..=255 (queues honour up to their `x-max-priority`).
    pub priority: Option<u8>,
    /// Correlates a reply with its request.
    pub correlation_id: Option<String>,
    /// Where replies should be sent (a queue name).
    pub reply_to: Option<String>,
    /// Per-message TTL; sent as integer milliseconds.
    pub expiration: Option<Duration>,
    /// Application message id.
    pub message_id: Option<String>,
    /// Seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    /// Application message type (AMQP `type`).
    pub kind: Option<String>,
    /// The authenticated user; RabbitMQ checks it against the connection's user.
    pub user_id: Option<String>,
    /// Application id.
    pub app_id: Option<String>,
    /// Deprecated in AMQP 0-9-1; kept for completeness.
    pub cluster_id: Option<String>,
}

impl Properties {
    /// `expiration` as it travels: integer milliseconds as a string (`10s` -> `"10000"`).
    pub fn expiration_wire(&self) -> Option<String> {
        self.expiration.map(|d| duration_ms(d).to_string())
    }

    /// Parse the wire form of `expiration` (a string of integer milliseconds); `None` when it
    /// is not one.
    pub fn parse_expiration(wire: &str) -> Option<Duration> {
        wire.trim().parse::<u64>().ok().map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_is_sent_as_integer_milliseconds() {
        let p = Properties {
            expiration: Some(Duration::from_secs(10)),
            ..Properties::default()
        };
        assert_eq!(p.expiration_wire().as_deref(), Some("10000"));
        assert_eq!(
            Properties::parse_expiration("1500"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(Properties::parse_expiration("1.5s"), None);
    }

    #[test]
    fn delivery_mode_reads_names_and_numbers() {
        let m: DeliveryMode = serde_json::from_str("1").unwrap();
        assert_eq!(m, DeliveryMode::Transient);
        let m: DeliveryMode = serde_json::from_str("\"persistent\"").unwrap();
        assert_eq!(m.as_u8(), 2);
        assert!(serde_json::from_str::<DeliveryMode>("3").is_err());
        assert_eq!(DeliveryMode::default(), DeliveryMode::Persistent);
    }
}
