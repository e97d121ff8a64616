//! [`OutgoingMessage`]: a message on its way to the broker, as producers build it and
//! transports send it; an unroutable or refused publish hands it back inside the error. It
//! holds data only (body and properties), so errors can carry it without depending on more.

use crate::properties::Properties;

/// A message on its way to the broker: body (serialized and maybe compressed) and properties.
/// An unroutable or refused publish hands it back ([`Error::returned_message`](crate::Error::returned_message)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The body bytes as sent: shared, so keeping the message to hand back after a refusal
    /// costs no copy (`Vec<u8>` converts without copying: `body.into()`).
    pub body: bytes::Bytes,
    /// The basic properties.
    pub properties: Properties,
}
