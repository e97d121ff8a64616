use super::*;

fn sample() -> Vec<u8> {
    "héllo wörld ✓ 日本, the same words again and again. "
        .repeat(200)
        .into_bytes()
}

#[test]
fn every_compiled_codec_round_trips() {
    for codec in ALL.into_iter().filter(|c| c.is_available()) {
        let packed = codec.compress(&sample()).unwrap();
        assert!(
            packed.len() < sample().len(),
            "{codec} should shrink repetitive text"
        );
        let back = codec.decompress(&packed, DEFAULT_MAX_DECOMPRESSED).unwrap();
        assert_eq!(back, sample(), "{codec}");
    }
}

#[test]
fn aliases_and_mime_types_name_the_same_codec() {
    let table = [
        ("zlib", Compression::Zlib),
        ("gzip", Compression::Zlib),
        ("application/x-gzip", Compression::Zlib),
        ("bzip2", Compression::Bzip2),
        ("bzip", Compression::Bzip2),
        ("application/x-bz2", Compression::Bzip2),
        ("lzma", Compression::Xz),
        ("xz", Compression::Xz),
        ("application/x-lzma", Compression::Xz),
        ("brotli", Compression::Brotli),
        ("application/x-brotli", Compression::Brotli),
        ("zstd", Compression::Zstd),
        ("zstandard", Compression::Zstd),
        ("application/zstd", Compression::Zstd),
    ];
    for (name, codec) in table {
        assert_eq!(Compression::from_name(name).unwrap(), codec, "{name}");
    }
    let err = Compression::from_name("snappy").unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Compression);
    assert!(err.to_string().contains("snappy"), "{err}");
}

#[test]
fn zlib_is_a_zlib_stream_not_a_gzip_file() {
    let (packed, mime) = compress("gzip", b"abc").unwrap();
    assert_eq!(mime, "application/x-gzip");
    assert_eq!(
        packed[0], 0x78,
        "zlib header (RFC 1950), not gzip's 0x1f 0x8b"
    );
}

#[test]
fn a_compression_bomb_is_an_error_not_an_allocation() {
    let zeros = vec![0u8; 10 * 1024 * 1024];
    let packed = Compression::Zlib.compress(&zeros).unwrap();
    assert!(packed.len() < 64 * 1024);
    let err = Compression::Zlib
        .decompress(&packed, 1024 * 1024)
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Compression);
    assert!(err.to_string().contains("limit of 1048576 bytes"), "{err}");
    // Exactly at the limit is fine.
    assert_eq!(
        Compression::Zlib
            .decompress(&packed, zeros.len())
            .unwrap()
            .len(),
        zeros.len()
    );
}

#[test]
fn corrupt_input_is_an_error() {
    let err = Compression::Zlib
        .decompress(b"not zlib at all", 1024)
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Compression);
}

#[test]
fn a_codec_not_compiled_in_names_its_feature() {
    for codec in ALL.into_iter().filter(|c| !c.is_available()) {
        let err = codec.decompress(b"x", 10).unwrap_err().to_string();
        assert!(err.contains(codec.feature().unwrap_or("?")), "{err}");
    }
}
