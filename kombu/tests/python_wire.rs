//! Bytes produced by Python itself (Python kombu's serializers and Python's codecs, written by
//! `tests/fixtures/python/generate.py`) decode to the values Python meant.

use kombu::compression::{Compression, DEFAULT_MAX_DECOMPRESSED};
use kombu::serialization::{Accept, Registry};
use kombu::Value;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/python/", $name)).as_slice()
    };
}

fn doc() -> Value {
    Value::Map(vec![
        ("text".into(), "héllo wörld ✓ 日本".into()),
        ("int".into(), Value::Int(-42)),
        ("float".into(), Value::Float(3.25)),
        ("flag".into(), Value::Bool(true)),
        ("none".into(), Value::Null),
        (
            "list".into(),
            Value::List(vec![Value::Int(1), "two".into(), Value::Float(3.5)]),
        ),
        (
            "nested".into(),
            Value::Map(vec![(
                "deeper".into(),
                Value::Map(vec![("k".into(), Value::List(vec![]))]),
            )]),
        ),
    ])
}

fn decode(body: &[u8], content_type: &str, accept: &Accept) -> kombu::Result<Value> {
    Registry::new().decode(body, Some(content_type), None, Some(accept))
}

#[test]
fn python_kombu_serializers_decode_to_the_same_document() {
    let all = Accept::all();
    assert_eq!(
        decode(fixture!("doc.json"), "application/json", &all).unwrap(),
        doc()
    );
    assert_eq!(
        decode(fixture!("doc.yaml"), "application/x-yaml", &all).unwrap(),
        doc()
    );
    assert_eq!(
        decode(fixture!("doc.msgpack"), "application/x-msgpack", &all).unwrap(),
        doc()
    );
    assert_eq!(
        decode(
            fixture!("doc.pickle"),
            "application/x-python-serialize",
            &all
        )
        .unwrap(),
        doc()
    );
}

#[test]
fn every_pickle_protocol_reads_as_data() {
    let pickle = Accept::new(["pickle"]);
    for body in [
        fixture!("doc.pickle2"),
        fixture!("doc.pickle3"),
        fixture!("doc.pickle4"),
        fixture!("doc.pickle5"),
    ] {
        assert_eq!(
            decode(body, "application/x-python-serialize", &pickle).unwrap(),
            doc()
        );
    }
}

#[test]
fn pickle_is_refused_unless_the_consumer_opts_in() {
    let err = decode(
        fixture!("doc.pickle"),
        "application/x-python-serialize",
        &Accept::default(),
    )
    .unwrap_err();
    assert!(err.is_content_disallowed(), "{err}");
}

#[test]
fn a_pickled_object_is_refused_not_constructed() {
    let err = decode(
        fixture!("datetime.pickle"),
        "application/x-python-serialize",
        &Accept::all(),
    )
    .unwrap_err();
    assert!(err.is_decode(), "{err}");
}

#[test]
fn python_kombu_json_special_types_decode() {
    let v = decode(
        fixture!("special.json"),
        "application/json",
        &Accept::default(),
    )
    .unwrap();
    assert_eq!(
        v.get("when").and_then(Value::as_str),
        Some("2024-05-01T12:30:00+00:00")
    );
    assert_eq!(v.get("day").and_then(Value::as_str), Some("2024-05-01"));
    assert_eq!(v.get("price").and_then(Value::as_str), Some("19.99"));
    assert_eq!(
        v.get("id").and_then(Value::as_str),
        Some("12345678-1234-5678-1234-567812345678")
    );
    assert_eq!(
        v.get("text_bytes").and_then(Value::as_bytes),
        Some(&b"abc"[..])
    );
    assert_eq!(
        v.get("raw_bytes").and_then(Value::as_bytes),
        Some(&[0xff, 0x00][..])
    );
}

#[test]
fn python_compressed_bodies_decompress() {
    let plain = fixture!("plain.bin");
    let cases = [
        (Compression::Zlib, fixture!("plain.zlib")),
        (Compression::Bzip2, fixture!("plain.bz2")),
        (Compression::Xz, fixture!("plain.xz")),
        (Compression::Brotli, fixture!("plain.br")),
        (Compression::Zstd, fixture!("plain.zst")),
    ];
    for (codec, packed) in cases {
        if !codec.is_available() {
            eprintln!(
                "{codec}: not compiled in (feature `{:?}`), skipped",
                codec.feature()
            );
            continue;
        }
        assert_eq!(
            codec.decompress(packed, DEFAULT_MAX_DECOMPRESSED).unwrap(),
            plain,
            "{codec}"
        );
    }
}

/// Our compressed output, decompressed by Python's own zlib, bz2 and lzma modules.
#[test]
fn python_decompresses_what_we_compress() {
    let python = std::env::var("KOMBU_PYTHON").unwrap_or_else(|_| "python3".into());
    if std::process::Command::new(&python)
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is required in CI for wire tests"
        );
        eprintln!("skipped: no python3 on PATH");
        return;
    }
    let plain = fixture!("plain.bin");
    for (codec, module) in [
        (Compression::Zlib, "zlib"),
        (Compression::Bzip2, "bz2"),
        (Compression::Xz, "lzma"),
    ] {
        if !codec.is_available() {
            continue;
        }
        let packed = codec.compress(plain).unwrap();
        let dir = std::env::temp_dir().join(format!("kombu-wire-{}-{module}", std::process::id()));
        std::fs::write(&dir, &packed).unwrap();
        let out = std::process::Command::new(&python)
            .args([
                "-c",
                &format!(
                    "import sys, {module}; sys.stdout.buffer.write({module}.decompress(open(sys.argv[1], 'rb').read()))"
                ),
            ])
            .arg(&dir)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&dir);
        assert!(
            out.status.success(),
            "{module}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, plain, "{module}");
    }
}
