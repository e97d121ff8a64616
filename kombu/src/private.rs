//! What generated code calls and users should not: re-exports and small helpers that keep
//! the output of `kombu-build` and the derives short. Not a stable API.

pub use serde;
pub use serde_json;

use crate::dispatch::{self, Disposition, FailurePolicy};
use crate::{Error, Message};

/// Logs a delivery that could not be handled and says what the policy does with it (`Hook`
/// is resolved by the generated code before this is called).
pub fn failed(
    consumer: &str,
    queue: Option<&str>,
    policy: FailurePolicy,
    message: &Message,
    error: &Error,
) -> Disposition {
    dispatch::report_failure(consumer, queue, message, error);
    policy.disposition()
}

/// The error for a delivery on a queue the consumer does not handle.
pub fn unknown_queue(consumer: &str, message: &Message) -> Error {
    dispatch::unknown_queue(consumer, message)
}

/// Settles a message as the handler decided; a failure to settle (the channel closed) is
/// logged, since the broker redelivers the message anyway.
pub fn settle(consumer: &str, message: &Message, disposition: Disposition) -> Disposition {
    if let Err(error) = dispatch::settle(message, disposition) {
        tracing::warn!(consumer, %error, "could not settle a message; the broker will redeliver it");
    }
    disposition
}

/// Runs a typed consumer's handlers over its deliveries (the generated `run`).
pub async fn run(
    consumer: &mut crate::Consumer,
    options: &crate::RunOptions,
    handle: impl AsyncFn(&Message, Option<&str>) -> Disposition,
) -> crate::Result<()> {
    crate::worker::run(consumer, options, handle).await
}
