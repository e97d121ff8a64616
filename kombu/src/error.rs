//! The one error type of the crate: [`Error`], its [`ErrorKind`], and the [`Result`] alias.
//!
//! Every failure a user can meet (a refused declare, an undecodable body, a bad URL) is an
//! [`Error`] whose message names the entity and the cause. The kind is `#[non_exhaustive]` so
//! new failure classes can be added without breaking matches.
//!
//! An underlying error (an I/O or TLS failure below the AMQP client) is the
//! [`source()`](std::error::Error::source), not part of `to_string()`, so error reporters that
//! walk the chain print it once; `format!("{err:#}")` gives the whole chain on one line.

use std::fmt;

use crate::outgoing::OutgoingMessage;

/// `Result<T, kombu::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What class of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection failed or was lost.
    Connection,
    /// A channel-level failure (the channel was closed by the broker, or is unusable).
    Channel,
    /// The entity does not exist (AMQP 404 NOT_FOUND).
    NotFound,
    /// The entity exists with other settings, or an `if_unused`/`if_empty` check failed
    /// (AMQP 406 PRECONDITION_FAILED).
    PreconditionFailed,
    /// The broker refused access (AMQP 403 ACCESS_REFUSED, or 405 RESOURCE_LOCKED for an
    /// exclusive queue of another connection).
    AccessRefused,
    /// A value could not be serialized.
    Encode,
    /// A body could not be deserialized.
    Decode,
    /// The content type is not in the consumer's accept list.
    ContentDisallowed,
    /// No serializer is registered under that name or content type.
    SerializerNotInstalled,
    /// Compressing or decompressing failed, the codec is unknown or not compiled in, or the
    /// decompressed body exceeds the size limit.
    Compression,
    /// A message was acknowledged, rejected or requeued twice.
    MessageState,
    /// Nothing happened within the time allowed.
    Timeout,
    /// A connection URL could not be parsed or holds an invalid option.
    InvalidUrl,
    /// A topology description is invalid.
    InvalidTopology,
    /// A message could not be routed and was published as mandatory (AMQP 312 NO_ROUTE).
    Unroutable,
    /// The broker refused a published message (a negative publisher confirm).
    Nacked,
    /// The broker cancelled a consumer (for example, its queue was deleted).
    ConsumerCancelled,
    /// The operation is not supported by this transport.
    Unsupported,
    /// A task ended in FAILURE or was REVOKED (the message holds the exception).
    TaskFailed,
}

impl ErrorKind {
    /// The kind of an AMQP reply code, the one mapping every transport uses for a broker's
    /// refusal (STOMP's ERROR frames from RabbitMQ carry the same codes): 404, 406, 403/405,
    /// 312, and the connection-level codes (320 forced close, 5xx) as `Connection`.
    #[cfg(any(feature = "amqp", feature = "stomp"))]
    pub(crate) fn of_reply_code(code: u16) -> ErrorKind {
        match code {
            404 => ErrorKind::NotFound,
            406 => ErrorKind::PreconditionFailed,
            403 | 405 => ErrorKind::AccessRefused,
            312 => ErrorKind::Unroutable,
            320 | 501..=541 => ErrorKind::Connection,
            _ => ErrorKind::Channel,
        }
    }

    /// A short identifier (`not_found`, `precondition_failed`), for the `error.type` of spans
    /// and metrics.
    pub(crate) fn code(self) -> &'static str {
        match self {
            ErrorKind::Connection => "connection",
            ErrorKind::Channel => "channel",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PreconditionFailed => "precondition_failed",
            ErrorKind::AccessRefused => "access_refused",
            ErrorKind::Encode => "encode",
            ErrorKind::Decode => "decode",
            ErrorKind::ContentDisallowed => "content_disallowed",
            ErrorKind::SerializerNotInstalled => "serializer_not_installed",
            ErrorKind::Compression => "compression",
            ErrorKind::MessageState => "message_state",
            ErrorKind::Timeout => "timeout",
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::InvalidTopology => "invalid_topology",
            ErrorKind::Unroutable => "unroutable",
            ErrorKind::Nacked => "nacked",
            ErrorKind::ConsumerCancelled => "consumer_cancelled",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::TaskFailed => "task_failed",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connection => "connection error",
            ErrorKind::Channel => "channel error",
            ErrorKind::NotFound => "not found",
            ErrorKind::PreconditionFailed => "precondition failed",
            ErrorKind::AccessRefused => "access refused",
            ErrorKind::Encode => "encode error",
            ErrorKind::Decode => "decode error",
            ErrorKind::ContentDisallowed => "content disallowed",
            ErrorKind::SerializerNotInstalled => "serializer not installed",
            ErrorKind::Compression => "compression error",
            ErrorKind::MessageState => "message state error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::InvalidUrl => "invalid URL",
            ErrorKind::InvalidTopology => "invalid topology",
            ErrorKind::Unroutable => "unroutable",
            ErrorKind::Nacked => "message refused by the broker",
            ErrorKind::ConsumerCancelled => "consumer cancelled by the broker",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::TaskFailed => "task failed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kombu error: a kind, a message that names the entity and the cause, and optionally the
/// underlying error.
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    returned: Option<Box<OutgoingMessage>>,
}

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
            returned: None,
        }
    }

    /// A mandatory message that no queue received (AMQP 312 NO_ROUTE); the message is handed
    /// back through [`Error::returned_message`].
    pub fn unroutable(exchange: &str, routing_key: &str, message: OutgoingMessage) -> Self {
        Error::new(
            ErrorKind::Unroutable,
            format!("312 NO_ROUTE - message to exchange '{exchange}' with routing key '{routing_key}' reached no queue"),
        )
        .with_message(message)
    }

    /// Attach the message an operation could not deliver.
    pub fn with_message(mut self, message: OutgoingMessage) -> Self {
        self.returned = Some(Box::new(message));
        self
    }

    /// The message this error hands back (an unroutable or refused publish), if any.
    pub fn returned_message(&self) -> Option<&OutgoingMessage> {
        self.returned.as_deref()
    }

    /// Take back the message this error carries.
    pub fn into_returned_message(self) -> Option<OutgoingMessage> {
        self.returned.map(|m| *m)
    }

    /// Attach the underlying cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the entity did not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
    /// Whether a declare conflicted or a precondition failed (406).
    pub fn is_precondition_failed(&self) -> bool {
        self.kind == ErrorKind::PreconditionFailed
    }
    /// Whether access was refused (403/405).
    pub fn is_access_refused(&self) -> bool {
        self.kind == ErrorKind::AccessRefused
    }
    /// Whether the content type was refused by an accept list.
    pub fn is_content_disallowed(&self) -> bool {
        self.kind == ErrorKind::ContentDisallowed
    }
    /// Whether decoding a body failed.
    pub fn is_decode(&self) -> bool {
        self.kind == ErrorKind::Decode
    }
    /// Whether encoding a value failed.
    pub fn is_encode(&self) -> bool {
        self.kind == ErrorKind::Encode
    }
    /// Whether the operation timed out.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }
    /// Whether the connection failed or was lost.
    pub fn is_connection(&self) -> bool {
        self.kind == ErrorKind::Connection
    }
    /// Whether a message was settled twice.
    pub fn is_message_state(&self) -> bool {
        self.kind == ErrorKind::MessageState
    }
    /// Whether a mandatory message reached no queue.
    pub fn is_unroutable(&self) -> bool {
        self.kind == ErrorKind::Unroutable
    }
    /// Whether a URL was invalid.
    pub fn is_invalid_url(&self) -> bool {
        self.kind == ErrorKind::InvalidUrl
    }

    pub(crate) fn encode(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Encode, message)
    }
    pub(crate) fn decode(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Decode, message)
    }
    pub(crate) fn compression(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Compression, message)
    }
    pub(crate) fn invalid_url(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidUrl, message)
    }
}

/// `kind: message`. The cause is not repeated: [`source()`](std::error::Error::source) returns
/// it, so a reporter that walks the chain (anyhow, eyre, tracing) prints it once. The
/// alternate form `{:#}` prints the whole chain on one line, `kind: message: cause: its cause`,
/// for a caller that prints one line; a cause whose text its parent already ends with (lapin's
/// `IO error: {io}` above the same `io::Error`) is not printed twice.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if f.alternate() {
            let mut shown = self.message.clone();
            let mut cause = std::error::Error::source(self);
            while let Some(error) = cause {
                let text = error.to_string();
                if !shown.ends_with(&text) {
                    write!(f, ": {text}")?;
                }
                shown = text;
                cause = error.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", &source.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_and_message_and_leaves_the_cause_to_source() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::new(ErrorKind::Decode, "queue `video`: body is not JSON").with_source(io);
        assert_eq!(
            err.to_string(),
            "decode error: queue `video`: body is not JSON"
        );
        assert_eq!(
            format!("{err:#}"),
            "decode error: queue `video`: body is not JSON: disk on fire"
        );
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));
        assert!(err.is_decode());
        assert!(!err.is_timeout());
    }

    /// What anyhow's and eyre's reports do: each link's Display, then its source's.
    fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut links = Vec::new();
        let mut next = Some(err);
        while let Some(e) = next {
            links.push(e.to_string());
            next = e.source();
        }
        links
    }

    #[test]
    fn a_chain_walk_prints_the_cause_once() {
        let inner = Error::new(ErrorKind::Connection, "cannot connect to amqp://localhost")
            .with_source(std::io::Error::other("connection refused"));
        let outer = Error::new(ErrorKind::Channel, "opening a channel").with_source(inner);
        let links = chain(&outer);
        assert_eq!(
            links,
            [
                "channel error: opening a channel",
                "connection error: cannot connect to amqp://localhost",
                "connection refused",
            ]
        );
        let report = links.join(": ");
        assert_eq!(report.matches("connection refused").count(), 1, "{report}");
        // The alternate form is that same chain on one line.
        assert_eq!(format!("{outer:#}"), report);
    }

    #[test]
    fn the_alternate_form_skips_a_cause_its_parent_already_printed() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "IO error: {}", self.0)
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Error::new(ErrorKind::Connection, "cannot connect")
            .with_source(Wrapper(std::io::Error::other("connection refused")));
        assert_eq!(
            format!("{err:#}"),
            "connection error: cannot connect: IO error: connection refused"
        );
    }
}
