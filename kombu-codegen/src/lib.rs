//! # kombu-codegen
//!
//! The one generator of kombu's typed layer. It takes an [`ir::Module`] — a description of
//! exchanges, queues, message types, producers and consumers, already validated — and emits
//! Rust tokens that use only `::kombu` ([`json_schema`] writes the JSON Schema of the same message types). Two front ends feed it: `kombu-build` (topology files)
//! and `kombu-derive` (`#[derive(Producer)]`, `#[derive(Consumer)]`). It knows no file format
//! and does no validation of its own beyond what it needs to emit valid Rust.
//!
//! Internal to kombu: its API follows kombu-build and kombu-derive, not semver.

pub mod derive;
mod expand;
pub mod ir;
pub mod json_schema;
mod names;

pub use expand::{
    consumer_items, generate, generate_each, producer_items, task_set_items, Error, Piece,
};
pub use names::{ident, is_identifier};
