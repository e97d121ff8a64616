//! # kombu
//!
//! A messaging toolkit for RabbitMQ, in the spirit of Python's kombu: exchange and queue
//! declarations as plain data, a serializer registry with Python kombu's content-type rules,
//! compression with Python kombu's codec names, and broker URLs read the way Python kombu reads
//! them.
//!
//! ## Declarations are data
//!
//! ```
//! use kombu::{Exchange, ExchangeKind, Queue};
//!
//! let media = Exchange::new("media", ExchangeKind::Direct);
//! let video = Queue::new("video").bind_to(media.clone(), "video");
//! // Values: compare them, store them, read them from config files.
//! let json = serde_json::to_string(&video).unwrap();
//! assert_eq!(serde_json::from_str::<Queue>(&json).unwrap(), video);
//! ```
//!
//! ## Serializing as Python kombu does
//!
//! ```
//! use kombu::serialization::{Accept, Registry};
//!
//! let registry = Registry::new();
//! let encoded = registry.encode(&serde_json::json!({"action": "import_feed"}), None).unwrap();
//! assert_eq!(encoded.content_type, "application/json");
//! let value = registry
//!     .decode(&encoded.body, Some("application/json"), Some("utf-8"), Some(&Accept::default()))
//!     .unwrap();
//! assert_eq!(value.get("action").and_then(|v| v.as_str()), Some("import_feed"));
//! ```
//!
//! ## Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `bzip2`, `xz`, `brotli`, `zstd` | that compression codec (zlib is always there) |
//! | `all-codecs` | every compression codec |

mod channel;
pub mod compression;
mod connection;
mod consumer;
mod entity;
mod error;
mod field;
mod message;
mod producer;
mod properties;
pub mod serialization;
mod simple;
mod suggest;
pub mod transport;
mod url;
mod value;

pub use channel::{BoundExchange, BoundQueue, Channel};
pub use connection::{BrokerConnection, Connection, ConnectionOptions};
pub use consumer::Consumer;
pub use message::{Message, MessageState};
pub use producer::{Declarable, Producer, Publish};
pub use simple::SimpleQueue;
pub use transport::QueueDeclared;

pub use entity::{Binding, Exchange, ExchangeKind, Overflow, Queue, QueueType};
pub use error::{Error, ErrorKind, Result};
pub use field::{Decimal, FieldTable, FieldValue};
pub use properties::{DeliveryMode, Properties};
pub use url::{BrokerUrl, Scheme, UrlOptions};
pub use value::{Value, ValueError};
