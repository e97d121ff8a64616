//! Body compression, with Python kombu's codec names and MIME types.
//!
//! The `compression` header carries the codec's MIME type; `content_type`/`content_encoding`
//! still describe the uncompressed payload. `application/x-gzip` is, as in Python kombu, a zlib
//! stream (RFC 1950), not a gzip file, and `application/x-lzma` is an xz container.
//!
//! zlib is always available; bzip2, xz, brotli and zstd are each behind the cargo feature of
//! the same name (`all-codecs` enables every one), so default builds stay lean. Decompression is
//! bounded ([`DEFAULT_MAX_DECOMPRESSED`] unless configured), so a compression bomb is an error,
//! not an out-of-memory.

mod codecs;

use std::fmt;
use std::io::Read;

use crate::error::{Error, Result};

/// The default limit on a decompressed body: 128 MiB, RabbitMQ's default maximum message size.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 128 * 1024 * 1024;

/// A compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// zlib stream, MIME `application/x-gzip`; aliases `zlib`, `gzip`.
    Zlib,
    /// bzip2, MIME `application/x-bz2`; aliases `bzip2`, `bzip`.
    Bzip2,
    /// xz container, MIME `application/x-lzma`; aliases `lzma`, `xz`.
    Xz,
    /// brotli, MIME `application/x-brotli`; alias `brotli`.
    Brotli,
    /// zstd frame, MIME `application/zstd`; aliases `zstd`, `zstandard`.
    Zstd,
}

const ALL: [Compression; 5] = [
    Compression::Zlib,
    Compression::Bzip2,
    Compression::Xz,
    Compression::Brotli,
    Compression::Zstd,
];

impl Compression {
    /// Look a codec up by alias or MIME type.
    pub fn from_name(name: &str) -> Result<Self> {
        let lower = name.trim().to_ascii_lowercase();
        ALL.into_iter()
            .find(|c| c.mime_type() == lower || c.aliases().contains(&lower.as_str()))
            .ok_or_else(|| {
                Error::compression(format!(
                    "unknown compression `{name}` (known: zlib/gzip, bzip2/bzip, lzma/xz, brotli, zstd/zstandard, or their MIME types)"
                ))
            })
    }

    /// The MIME type sent in the `compression` header.
    pub fn mime_type(self) -> &'static str {
        match self {
            Compression::Zlib => "application/x-gzip",
            Compression::Bzip2 => "application/x-bz2",
            Compression::Xz => "application/x-lzma",
            Compression::Brotli => "application/x-brotli",
            Compression::Zstd => "application/zstd",
        }
    }

    /// The names this codec is known by.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Compression::Zlib => &["zlib", "gzip"],
            Compression::Bzip2 => &["bzip2", "bzip"],
            Compression::Xz => &["lzma", "xz"],
            Compression::Brotli => &["brotli"],
            Compression::Zstd => &["zstd", "zstandard"],
        }
    }

    /// The cargo feature that compiles this codec in (`None` for zlib, always there).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Compression::Zlib => None,
            Compression::Bzip2 => Some("bzip2"),
            Compression::Xz => Some("xz"),
            Compression::Brotli => Some("brotli"),
            Compression::Zstd => Some("zstd"),
        }
    }

    /// Whether this build can use the codec.
    pub fn is_available(self) -> bool {
        codecs::available(self)
    }

    /// Compress a body.
    pub fn compress(self, body: &[u8]) -> Result<Vec<u8>> {
        codecs::compress(self, body)
            .map_err(|e| Error::compression(format!("{self} compression failed: {e}")))
    }

    /// Decompress a body, refusing output larger than `max_size` bytes.
    pub fn decompress(self, body: &[u8], max_size: usize) -> Result<Vec<u8>> {
        let reader = codecs::decoder(self, body)?;
        let mut out = Vec::with_capacity(body.len().saturating_mul(3).min(max_size));
        let limit = u64::try_from(max_size)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        reader
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| Error::compression(format!("{self} body is corrupt: {e}")))?;
        if out.len() > max_size {
            return Err(Error::compression(format!(
                "{self} body decompresses to more than the limit of {max_size} bytes"
            )));
        }
        Ok(out)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.aliases()[0])
    }
}

fn not_compiled(codec: Compression) -> Error {
    Error::compression(format!(
        "compression `{codec}` ({}) is not compiled in: enable the `{}` feature of kombu",
        codec.mime_type(),
        codec.feature().unwrap_or("default")
    ))
}

/// Compress `body` with the codec named by alias or MIME type; returns the body and the MIME
/// type for the `compression` header.
pub fn compress(name: &str, body: &[u8]) -> Result<(Vec<u8>, &'static str)> {
    let codec = Compression::from_name(name)?;
    Ok((codec.compress(body)?, codec.mime_type()))
}

/// Decompress `body` with the codec named by alias or MIME type, bounded by `max_size`.
pub fn decompress(name: &str, body: &[u8], max_size: usize) -> Result<Vec<u8>> {
    Compression::from_name(name)?.decompress(body, max_size)
}

#[cfg(test)]
mod tests;
