//! What generated code calls and users should not: re-exports and small helpers that keep
//! the output of `kombu-build` and the derives short. Not a stable API.

pub use serde;
pub use serde_json;

/// Deserializing generated message structs (see [`crate::record`]).
pub mod record {
    pub use crate::record::{deserialize, required, Record, Source};
}

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

/// The error for a delivery on a queue the consumer does not handle, as what the generated
/// `dispatch` returns.
pub fn unknown_queue(consumer: &str, message: &Message) -> crate::Result<Disposition> {
    Err(dispatch::unknown_queue(consumer, message))
}

/// Settles a message as the handler decided; a reject or requeue is logged, and so is a
/// failure to settle (the channel closed), since the broker redelivers the message anyway.
pub fn settle(
    consumer: &str,
    queue: Option<&str>,
    message: &Message,
    disposition: Disposition,
) -> Disposition {
    dispatch::settle_and_report(consumer, queue, message, disposition);
    disposition
}

/// Runs one delivery's handling (`handling`) in its `process` span, timed.
pub async fn process(
    consumer: &str,
    queue: Option<&str>,
    message: &Message,
    handling: impl std::future::Future<Output = Disposition>,
) -> Disposition {
    let span =
        crate::telemetry::process_span(consumer, queue, message.delivery(), message.delivery_tag());
    let started = std::time::Instant::now();
    let disposition = tracing::Instrument::instrument(handling, span).await;
    crate::telemetry::handled(consumer, queue.unwrap_or(""), started.elapsed());
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

/// The generated `declare_all`: every exchange (with its exchange-to-exchange bindings), then
/// every queue (with its bindings), on `channel`; one clear refusal on a transport that cannot
/// declare.
pub async fn declare_all(
    channel: &crate::Channel,
    what: &str,
    (exchanges, queues): (Vec<crate::Exchange>, Vec<crate::Queue>),
) -> crate::Result<()> {
    channel.require_declare(what)?;
    for exchange in &exchanges {
        channel.declare_exchange(exchange).await?;
    }
    for queue in &queues {
        channel.declare_queue(queue).await?;
    }
    Ok(())
}
