//! The errors of a build: a topology that does not check, a file that cannot be written, or
//! an output the generator cannot produce.

use std::fmt;

use kombu::topology::Diagnostics;

/// Why generation failed. `Debug` prints the same as `Display`, so a `build.rs` that returns
/// this from `main` shows the full diagnostics, not a struct dump. `Display` says everything
/// (the diagnostics, the I/O failure), so `source()` is `None`: an error reporter that walks
/// the chain (anyhow, eyre) prints each cause once.
#[non_exhaustive]
pub enum Error {
    /// The topology files have errors (each with its file, line and column).
    Topology(Diagnostics),
    /// The configuration asks for something the topology does not have.
    Config(String),
    /// The generator could not produce valid Rust.
    Codegen(String),
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Topology(d) => write!(f, "{d}"),
            Error::Config(m) => write!(f, "kombu-build configuration: {m}"),
            Error::Codegen(m) => write!(f, "kombu-build could not generate code: {m}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

impl From<Diagnostics> for Error {
    fn from(d: Diagnostics) -> Self {
        Error::Topology(d)
    }
}
