//! YAML bodies, read with `serde_norway` (the maintained fork of the archived `serde_yaml`).

use crate::error::{Error, Result};
use crate::value::Value;

pub(super) fn decode(body: &[u8]) -> Result<Value> {
    serde_norway::from_slice(body)
        .map_err(|e| Error::decode(format!("body is not valid YAML: {e}")))
}
