//! Declarations as plain data: [`Exchange`], [`Queue`], [`Binding`].
//!
//! These are values: `Clone`, full-equality `Eq`, `Hash`, and serde forms that round-trip through
//! JSON, TOML and YAML, so they can sit in config files and be compared. They never talk to a
//! broker themselves; acting on one (declare, delete, bind, purge) needs the bound form a
//! [`Channel`](crate::Channel) hands out. What this module does not own: the topology file format
//! (names, composition, message types), which builds on these types.

mod binding;
mod exchange;
mod queue;

pub use binding::Binding;
pub use exchange::{Exchange, ExchangeKind};
pub(crate) use queue::parse_max_age;
pub use queue::{Overflow, Queue, QueueType, StreamOffset};
