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
//! They act only once attached to a channel (`video.attach(&channel).declare()`); see [`Channel`].
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
//! ## Typed producers and consumers with derives
//!
//! Python kombu's README subclasses `Producer` and `Consumer`; here the same pattern is typed.
//! `#[derive(Producer)]` on a struct holding a [`Producer`](struct@Producer) gives it `new`,
//! `from_connection`, `publish` (with the default routing key), `declare` and `exchange()`;
//! you add the domain methods. On a serde-tagged enum, `#[derive(Producer)]` generates a
//! producer type with one method per variant, and `#[derive(Consumer)]` a handler trait with
//! one method per variant plus a consumer that declares its queues, dispatches on the tag and
//! applies the failure policy to anything it cannot handle.
//!
//! ```
//! use kombu::{Consumer, Disposition, Message, Producer};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Producer, Consumer)]
//! #[serde(tag = "action", rename_all = "snake_case")]
//! #[kombu(
//!     producer = "FeedProducer",
//!     consumer = "Feed",
//!     exchange(name = "feed", type = "direct"),
//!     routing_key = "importer",
//!     queue(name = "feed", exchange = "feed", routing_key = "importer"),
//!     prefetch = 10,
//!     on_failure = "dead_letter",
//! )]
//! enum FeedTask {
//!     ImportFeed { feed_url: String },
//! }
//!
//! struct Importer;
//!
//! impl FeedHandler for Importer {
//!     async fn import_feed(&self, feed_url: String, _: &Message) -> Disposition {
//!         assert_eq!(feed_url, "http://cnn.com/rss");
//!         Disposition::Ack
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> kombu::Result<()> {
//! let conn = kombu::Connection::connect("memory://derive-manual").await?;
//! let channel = conn.channel().await?;
//! let mut consumer = FeedConsumer::start(&channel, Importer).await?;
//! FeedProducer::new(&channel).import_feed("http://cnn.com/rss".into()).await?;
//! let done = consumer.handle_next(std::time::Duration::from_secs(1)).await?;
//! assert_eq!(done, Disposition::Ack);
//! # Ok(()) }
//! ```
//!
//! The `#[kombu(...)]` keys (unknown keys are errors with a did-you-mean):
//!
//! | key | for | meaning |
//! |---|---|---|
//! | `exchange(name, type, durable, auto_delete, internal, alternate_exchange)` | both | the exchange published to (absent: the default exchange), and the source of queue bindings of that name |
//! | `routing_key = "..."` | producer | the default key; on a variant, that variant's key |
//! | `serializer`, `compression`, `delivery_mode`, `confirm` | producer | `"json"`, `"zlib"`, `"persistent"`/`"transient"`, `true` to wait for confirms |
//! | `producer = "Name"` | producer on an enum | the generated struct (default `<Enum>Producer`) |
//! | `queue(name, exchange, routing_key, binding(exchange, routing_key)..., durable, exclusive, auto_delete, max_priority, max_length, message_ttl_ms, dead_letter_exchange, dead_letter_routing_key, queue_type, ordered)` | consumer | a queue to consume (repeatable); `ordered = true` handles its messages one at a time, in order |
//! | `prefetch = 10`, `concurrency = 8`, `accept = ["json"]`, `on_failure = "dead_letter" \| "requeue" \| "hook"` | consumer | consuming; `concurrency` is how many handlers `run` runs at once |
//! | `consumer = "Stem"` | consumer | names `<Stem>Handler` and `<Stem>Consumer` (default: the type's name) |
//! | `#[kombu(producer)]` on a field | producer on a struct | which field holds the `kombu::Producer` |
//!
//! The derives and `kombu-build` share one generator (`kombu-codegen`): a derive and a topology
//! file that describe the same producer or consumer generate the same code.
//!
//! ## Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `bzip2`, `xz`, `brotli`, `zstd` | that compression codec (zlib is always there) |
//! | `all-codecs` | every compression codec |
//! | `amqp` (default) | the AMQP 0-9-1 transport on lapin |
//! | `tls` | `amqps://` with rustls |
//! | `stomp` (default) | `stomp://`: STOMP 1.2 for RabbitMQ's STOMP plugin (see [`transport::stomp`]) |
//! | `python-types` | [`python_types`]: typed values for Python kombu's JSON wrappers |
//! | `celery` | [`celery`]: send tasks to Celery workers and run tasks Celery sends |
//! | `topology` (default) | [`topology`]: topology files, their checks and JSON Schema |
//! | `derive` (default) | `#[derive(Producer)]` and `#[derive(Consumer)]` |

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
#[cfg(feature = "celery")]
pub mod celery;
mod channel;
pub mod compression;
mod connection;
mod consumer;
mod dispatch;
mod duration;
pub(crate) mod entity;
mod error;
mod field;
mod fxhash;
mod message;
mod offsets;
mod outgoing;
mod producer;
mod properties;
#[cfg(feature = "python-types")]
pub mod python_types;
mod record;
pub mod serialization;
mod session;
mod shutdown;
mod simple;
mod suggest;
mod sync;
pub mod telemetry;
#[cfg(feature = "topology")]
pub mod topology;
pub mod transport;
mod typed;
mod url;
mod value;
mod worker;

pub use channel::{BoundExchange, BoundQueue, Channel};
pub use connection::{BrokerConnection, Connection, ConnectionOptions};
pub use consumer::{Consumer, Decoded, Delivered};
pub use dispatch::{Disposition, FailurePolicy};
#[cfg(all(feature = "derive", feature = "celery"))]
pub use kombu_derive::Tasks;
#[cfg(feature = "derive")]
pub use kombu_derive::{Consumer, Producer};
pub use message::{Message, MessageState};
pub use offsets::{MemoryOffsets, OffsetStore};
pub use outgoing::OutgoingMessage;
pub use producer::{Declarable, Pipeline, Producer, Publish};
pub use shutdown::Shutdown;
pub use simple::SimpleQueue;
pub use transport::QueueDeclared;
pub use typed::{Dispatch, Handled, TypedConsumer};
pub use worker::RunOptions;

pub use entity::{Binding, Exchange, ExchangeKind, Overflow, Queue, QueueType, StreamOffset};
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
