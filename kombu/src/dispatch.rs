//! What a typed handler decides for a message, and how that decision is carried out.
//!
//! Generated consumers (from topology files through `kombu-build`, or from
//! `#[derive(Consumer)]`) decode each delivery into its message type and call a handler method;
//! the handler answers with a [`Disposition`]. A delivery that cannot be handled — it does not
//! decode, its tag names no variant, it arrived on a queue the consumer does not know — follows
//! the consumer's [`FailurePolicy`]. Nothing is dropped silently: every failure is logged with
//! the consumer, queue and reason, and the message is rejected (to the dead-letter exchange),
//! requeued, or handed to the consumer's error hook.

use crate::{Error, Message, Result};

/// What to do with a message once its handler has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Disposition {
    /// Done: acknowledge it.
    Ack,
    /// Not now: reject with requeue, so the broker delivers it again.
    Requeue,
    /// Never: reject without requeue, so it goes to the queue's dead-letter exchange (or is
    /// dropped by the broker if the queue has none).
    Reject,
}

/// What a consumer does with a message it cannot handle.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Reject without requeue: to the dead-letter exchange (the default).
    #[default]
    DeadLetter,
    /// Reject with requeue.
    Requeue,
    /// Ask the consumer's error hook.
    Hook,
}

impl FailurePolicy {
    /// The disposition this policy gives without a hook (`Hook` falls back to dead-lettering).
    pub fn disposition(self) -> Disposition {
        match self {
            FailurePolicy::Requeue => Disposition::Requeue,
            FailurePolicy::DeadLetter | FailurePolicy::Hook => Disposition::Reject,
        }
    }
}

/// Logs why `consumer` could not handle `message`.
pub(crate) fn report_failure(
    consumer: &str,
    queue: Option<&str>,
    message: &Message,
    error: &Error,
) {
    tracing::warn!(
        consumer,
        queue = queue.unwrap_or("?"),
        exchange = message.exchange(),
        routing_key = message.routing_key(),
        delivery_tag = message.delivery_tag(),
        %error,
        "message could not be handled"
    );
}

/// Carries out `disposition` on `message` (unless it was already settled by the handler).
pub(crate) fn settle(message: &Message, disposition: Disposition) -> Result<()> {
    if message.acknowledged() {
        return Ok(());
    }
    match disposition {
        Disposition::Ack => message.ack(),
        Disposition::Requeue => message.requeue(),
        Disposition::Reject => message.reject(),
    }
}

/// Settles `message` as `disposition` says, and logs what a user must be able to see without
/// looking for it: a message rejected (dead-lettered) or requeued by its handler, at warn level
/// with the consumer, the queue and the delivery tag; a settle that failed (the broker then
/// redelivers the message).
pub(crate) fn settle_and_report(
    consumer: &str,
    queue: Option<&str>,
    message: &Message,
    disposition: Disposition,
) {
    if message.acknowledged() {
        return;
    }
    let queue = queue.unwrap_or("?");
    let delivery_tag = message.delivery_tag();
    match disposition {
        Disposition::Ack => {}
        Disposition::Reject => tracing::warn!(
            consumer,
            queue,
            delivery_tag,
            "message rejected: it goes to the queue's dead-letter exchange, if it has one"
        ),
        Disposition::Requeue => tracing::warn!(
            consumer,
            queue,
            delivery_tag,
            "message requeued: the broker delivers it again"
        ),
    }
    if let Err(error) = settle(message, disposition) {
        tracing::warn!(consumer, queue, delivery_tag, %error, "could not settle a message; the broker will redeliver it");
    }
}

/// The error for a delivery on a queue the consumer did not subscribe to.
pub(crate) fn unknown_queue(consumer: &str, message: &Message) -> Error {
    Error::new(
        crate::ErrorKind::Decode,
        format!(
            "consumer `{consumer}` received a message (consumer tag `{}`) for a queue it does not handle",
            message.consumer_tag()
        ),
    )
}
