//! The codec implementations, each compiled in only with its feature.

use std::io::{Read, Write};

use super::{not_compiled, Compression};
use crate::error::Result;

pub(super) fn available(codec: Compression) -> bool {
    match codec {
        Compression::Zlib => true,
        Compression::Bzip2 => cfg!(feature = "bzip2"),
        Compression::Xz => cfg!(feature = "xz"),
        Compression::Brotli => cfg!(feature = "brotli"),
        Compression::Zstd => cfg!(feature = "zstd"),
    }
}

pub(super) fn compress(codec: Compression, body: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    match codec {
        Compression::Zlib => {
            let mut enc =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(body)?;
            enc.finish()
        }
        #[cfg(feature = "bzip2")]
        Compression::Bzip2 => {
            let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            enc.write_all(body)?;
            enc.finish()
        }
        #[cfg(feature = "xz")]
        Compression::Xz => {
            let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
            enc.write_all(body)?;
            enc.finish()
        }
        #[cfg(feature = "brotli")]
        Compression::Brotli => {
            let mut out = Vec::new();
            {
                // Quality 6 of 11: Python's default (11) is far slower for little gain.
                let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 6, 22);
                enc.write_all(body)?;
                enc.flush()?;
            }
            Ok(out)
        }
        #[cfg(feature = "zstd")]
        // One-shot compression writes the content size into the frame header, which Python's
        // `zstandard.ZstdDecompressor().decompress` (what Python kombu uses) requires.
        Compression::Zstd => zstd::bulk::compress(body, 3),
        #[allow(unreachable_patterns)]
        other => Err(std::io::Error::other(not_compiled(other))),
    }
}

pub(super) fn decoder<'a>(codec: Compression, body: &'a [u8]) -> Result<Box<dyn Read + 'a>> {
    Ok(match codec {
        Compression::Zlib => Box::new(flate2::read::ZlibDecoder::new(body)),
        #[cfg(feature = "bzip2")]
        Compression::Bzip2 => Box::new(bzip2::read::BzDecoder::new(body)),
        #[cfg(feature = "xz")]
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new(body)),
        #[cfg(feature = "brotli")]
        Compression::Brotli => Box::new(brotli::Decompressor::new(body, 4096)),
        #[cfg(feature = "zstd")]
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(body)
                .map_err(|e| crate::Error::compression(format!("zstd body is corrupt: {e}")))?,
        ),
        #[allow(unreachable_patterns)]
        other => return Err(not_compiled(other)),
    })
}
