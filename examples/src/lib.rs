//! Shared bits of the kombu examples: which broker they talk to.

/// The broker URL: `$KOMBU_URL`, or the in-memory broker when unset.
pub fn broker_url() -> String {
    std::env::var("KOMBU_URL").unwrap_or_else(|_| "memory://examples".to_owned())
}
