//! # kombu-derive
//!
//! `#[derive(Producer)]`, `#[derive(Consumer)]` and `#[derive(Tasks)]`, re-exported by `kombu` (feature `derive`,
//! on by default). A shim: the attribute parsing, validation and code generation live in
//! `kombu-codegen`, which `kombu-build` shares, so a derive and a topology file that say the
//! same thing produce the same code.
//!
//! See `kombu`'s documentation for the attribute reference.

use proc_macro::TokenStream;

/// A producer: on a struct holding a `kombu::Producer` (constructor, `publish`, `declare`,
/// the exchange declaration), or on a serde-tagged enum of messages (a producer type with one
/// typed method per variant). Configured with `#[kombu(exchange(...), routing_key = "...",
/// serializer, compression, delivery_mode, confirm)]`.
#[proc_macro_derive(Producer, attributes(kombu))]
pub fn derive_producer(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    kombu_codegen::derive::derive_producer(&input).into()
}

/// A consumer of a message type: on a struct (a handler trait with `receive`) or a
/// serde-tagged enum (one handler method per variant), with a consumer that declares its
/// `queue(...)`s, consumes with the `prefetch`, decodes, dispatches and applies `on_failure`.
#[proc_macro_derive(Consumer, attributes(kombu))]
pub fn derive_consumer(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    kombu_codegen::derive::derive_consumer(&input).into()
}

/// Celery tasks: on an enum with one variant per task (its named fields the task's
/// parameters, `#[kombu(kwarg)]` for keyword-only ones), a `{Enum}Client` with one method per
/// task and a `{Enum}Handler` trait whose `into_worker` runs them. Configured with
/// `#[kombu(queue = "...")]` on the enum and `#[kombu(task = "...", result = "Type", queue,
/// acks_late, max_retries, default_retry_delay, time_limit, soft_time_limit, expires,
/// ignore_result, priority, client_only)]` on a variant (times in seconds; `client_only`: sent,
/// not in the handler trait). Needs kombu's `celery` feature.
#[proc_macro_derive(Tasks, attributes(kombu))]
pub fn derive_tasks(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    kombu_codegen::derive::derive_tasks(&input).into()
}
