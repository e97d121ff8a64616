//! [`Accept`]: which content types a consumer will decode.

use super::{Registry, DATA, TEXT};
use crate::error::{Error, ErrorKind, Result};

/// Content types that are always decoded: they run no decoder, only text/bytes conversion.
const TRUSTED: [&str; 3] = [DATA, "application/text", TEXT];

/// The content types a consumer accepts, by serializer name (`"json"`) or MIME type
/// (`"application/json"`). `application/data` and `text/plain` (`application/text`) are always
/// accepted.
///
/// The default accepts JSON only: pickle, YAML and msgpack are refused until a consumer opts in,
/// as in Python kombu.
///
/// ```
/// use kombu::serialization::{Accept, Registry};
/// let registry = Registry::new();
/// assert!(Accept::default().allows("application/json", &registry));
/// assert!(!Accept::default().allows("application/x-python-serialize", &registry));
/// assert!(Accept::new(["json", "pickle"]).allows("application/x-python-serialize", &registry));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    /// `None`: everything.
    entries: Option<Vec<String>>,
}

impl Default for Accept {
    fn default() -> Self {
        Accept::new(["json"])
    }
}

impl Accept {
    /// Accept the given serializer names or MIME types (plus the always-trusted types).
    pub fn new<I, S>(entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Accept {
            entries: Some(entries.into_iter().map(Into::into).collect()),
        }
    }

    /// Accept every content type, pickle included. Only for trusted peers.
    pub fn all() -> Self {
        Accept { entries: None }
    }

    /// Whether `content_type` may be decoded.
    pub fn allows(&self, content_type: &str, registry: &Registry) -> bool {
        let Some(entries) = &self.entries else {
            return true;
        };
        TRUSTED.contains(&content_type)
            || entries.iter().any(|e| {
                e == content_type || registry.content_type_of(e).is_ok_and(|t| t == content_type)
            })
    }

    /// `Ok` if `content_type` may be decoded, else a content-disallowed error naming it.
    pub fn check(&self, content_type: &str, registry: &Registry) -> Result<()> {
        if self.allows(content_type, registry) {
            return Ok(());
        }
        let alias = registry
            .by_type
            .get(content_type)
            .map(|&i| registry.entries[i].name.as_str());
        let what = match alias {
            Some(name) => format!("{name} ({content_type})"),
            None => content_type.to_owned(),
        };
        let accepted = self.entries.as_deref().unwrap_or_default().join(", ");
        Err(Error::new(
            ErrorKind::ContentDisallowed,
            format!("refusing to deserialize untrusted content of type {what}; this consumer accepts [{accepted}]"),
        ))
    }
}
