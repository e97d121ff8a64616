//! # kombu
//!
//! A messaging toolkit for RabbitMQ, in the spirit of Python's kombu: exchange and queue
//! declarations as plain data, producers and consumers that speak Python kombu's wire
//! conventions, and pluggable transports. `memory://` is an in-process broker that routes
//! exactly like RabbitMQ, so this page's examples run as they are.
//!
//! ## Publish and consume
//!
//! ```
//! use std::time::Duration;
//! use kombu::{Connection, Consumer, Exchange, ExchangeKind, Producer, Queue};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> kombu::Result<()> {
//! let conn = Connection::connect("memory://manual").await?;
//! let channel = conn.channel().await?;
//!
//! let media = Exchange::new("media", ExchangeKind::Direct);
//! let video = Queue::new("video").bind_to(media.clone(), "video");
//!
//! // Publish: JSON by default, persistent, with the properties Python kombu sets.
//! let producer = Producer::new(&channel).exchange(media);
//! producer
//!     .publish(&serde_json::json!({"name": "/tmp/lolcat1.avi", "size": 1301013}))
//!     .routing_key("video")
//!     .declare(video.clone())
//!     .await?;
//!
//! // Consume as a stream (or with callbacks and `conn.drain_events`).
//! let mut consumer = Consumer::new(&channel, [video]);
//! consumer.consume().await?;
//! let message = consumer.recv(Duration::from_secs(1)).await?;
//! assert_eq!(message.payload()?.get("size").and_then(|v| v.as_i64()), Some(1301013));
//! message.ack()?;
//! # Ok(()) }
//! ```
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
//! They act only once bound to a channel (`video.bind(&channel).declare()`); see [`Channel`].
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
//! Consumers accept JSON (plus raw `application/data` and `text/plain`) unless told otherwise;
//! pickle is read only as data and only when a consumer opts in.
//!
//! ## Topology files
//!
//! Exchanges, queues, bindings, message types, producers and consumers can live in reviewed
//! TOML, YAML or JSON files ([`topology`]; the format reference is `docs/topology.md`).
//! Loading checks them (every error with its file, line and column) and the model declares
//! itself on any transport:
//!
//! ```
//! use kombu::topology::Topology;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> kombu::Result<()> {
//! let topology = Topology::from_yaml_str(
//!     "
//! version: 1
//! exchanges:
//!   media: { type: direct }
//! queues:
//!   video:
//!     bindings: [{ exchange: media, routing_key: video }]
//! ",
//! )?;
//! assert_eq!(topology.route("media", "video", None).len(), 1);
//!
//! let conn = kombu::Connection::connect("memory://topology-manual").await?;
//! let channel = conn.channel().await?;
//! topology.declare_all(&channel).await?;
//! # Ok(()) }
//! ```
//!
//! ## Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `bzip2`, `xz`, `brotli`, `zstd` | that compression codec (zlib is always there) |
//! | `all-codecs` | every compression codec |
//! | `amqp` (default) | the AMQP 0-9-1 transport on lapin |
//! | `tls` | `amqps://` with rustls |
//! | `python-types` | [`python_types`]: typed values for Python kombu's JSON wrappers |
//! | `topology` (default) | [`topology`]: topology files, their checks and JSON Schema |

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod channel;
pub mod compression;
mod connection;
mod consumer;
mod dispatch;
pub(crate) mod entity;
mod error;
mod field;
mod message;
mod producer;
mod properties;
#[cfg(feature = "python-types")]
pub mod python_types;
pub mod serialization;
mod simple;
mod suggest;
#[cfg(feature = "topology")]
pub mod topology;
pub mod transport;
mod url;
mod value;

pub use channel::{BoundExchange, BoundQueue, Channel};
pub use connection::{BrokerConnection, Connection, ConnectionOptions};
pub use consumer::Consumer;
pub use dispatch::{Disposition, FailurePolicy};
#[cfg(feature = "derive")]
pub use kombu_derive::{Consumer, Producer};
pub use message::{Message, MessageState};
pub use producer::{Declarable, Pipeline, Producer, Publish};
pub use simple::SimpleQueue;
pub use transport::QueueDeclared;

pub use entity::{Binding, Exchange, ExchangeKind, Overflow, Queue, QueueType};
pub use error::{Error, ErrorKind, Result};
pub use field::{Decimal, FieldTable, FieldValue};
pub use properties::{DeliveryMode, Properties};
pub use url::{BrokerUrl, Scheme, UrlOptions};

/// Includes the module `kombu-build` generated from a topology (by its file stem, or the
/// `Config::module_name` given in `build.rs`): `kombu::include_topology!("media");`.
#[macro_export]
macro_rules! include_topology {
    ($name:literal) => {
        ::core::include!(::core::concat!(
            ::core::env!("OUT_DIR"),
            "/kombu/",
            $name,
            ".rs"
        ));
    };
}
pub use value::{Value, ValueError};
