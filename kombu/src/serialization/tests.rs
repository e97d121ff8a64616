use super::*;
use serde::Deserialize;

fn fixture() -> Value {
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

#[derive(Debug, Deserialize, PartialEq)]
struct Feed {
    action: String,
    feed_url: String,
}

#[test]
fn every_serializer_round_trips_the_fixture() {
    let r = Registry::new();
    for name in ["json", "yaml", "msgpack"] {
        let enc = r.encode(&fixture(), Some(name)).unwrap();
        let back = r
            .decode(
                &enc.body,
                Some(&enc.content_type),
                Some(&enc.content_encoding),
                Some(&Accept::all()),
            )
            .unwrap();
        assert_eq!(back, fixture(), "{name}");
    }
}

#[test]
fn content_types_and_encodings_match_python_kombu() {
    let r = Registry::new();
    let cases = [
        ("json", JSON, "utf-8"),
        ("yaml", YAML, "utf-8"),
        ("msgpack", MSGPACK, "binary"),
    ];
    for (name, ctype, encoding) in cases {
        let enc = r.encode(&1, Some(name)).unwrap();
        assert_eq!(
            (enc.content_type.as_str(), enc.content_encoding.as_str()),
            (ctype, encoding)
        );
    }
    let default = r.encode(&1, None).unwrap();
    assert_eq!(default.content_type, JSON);
    let raw = r.encode_body(Body::Bytes(vec![1, 2]), None, None).unwrap();
    assert_eq!(
        (raw.content_type.as_str(), raw.content_encoding.as_str()),
        (DATA, "binary")
    );
    let text = r.encode_body(Body::Text("hi".into()), None, None).unwrap();
    assert_eq!(
        (text.content_type.as_str(), text.content_encoding.as_str()),
        (TEXT, "utf-8")
    );
    let jpeg = r
        .encode_body(Body::Bytes(vec![0xff]), Some("image/jpeg"), None)
        .unwrap();
    assert_eq!(
        (jpeg.content_type.as_str(), jpeg.content_encoding.as_str()),
        ("image/jpeg", "binary")
    );
    assert_eq!(
        jpeg.body,
        vec![0xff],
        "given a content type, nothing is serialized"
    );
    let raw_text = r.encode(&"abc", Some("raw")).unwrap();
    assert_eq!(
        (raw_text.content_encoding.as_str(), raw_text.body.as_slice()),
        ("utf-8", &b"abc"[..])
    );
}

#[test]
fn pickle_is_decode_only() {
    let err = Registry::new().encode(&1, Some("pickle")).unwrap_err();
    assert!(err.is_encode(), "{err}");
}

#[test]
fn unknown_serializer_is_not_installed() {
    let err = Registry::new().encode(&1, Some("bson")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SerializerNotInstalled);
    assert!(
        err.to_string().contains("bson") && err.to_string().contains("json"),
        "{err}"
    );
}

#[test]
fn missing_content_type_is_application_data() {
    let r = Registry::new();
    let v = r
        .decode(b"\x00\x01", None, None, Some(&Accept::default()))
        .unwrap();
    // application/data has no decoder; the missing encoding means utf-8, which these bytes are.
    assert_eq!(v, Value::String("\u{0}\u{1}".into()));
    let v = r
        .decode(b"\xff", None, Some("binary"), Some(&Accept::default()))
        .unwrap();
    assert_eq!(v, Value::Bytes(vec![0xff]));
}

#[test]
fn unknown_types_give_text_or_bytes_by_encoding() {
    let r = Registry::new();
    let v = r
        .decode(b"<b>hi</b>", Some("text/html"), Some("utf-8"), None)
        .unwrap();
    assert_eq!(v, Value::String("<b>hi</b>".into()));
    let v = r
        .decode(b"\xff\xd8", Some("image/jpeg"), Some("binary"), None)
        .unwrap();
    assert_eq!(v, Value::Bytes(vec![0xff, 0xd8]));
    let v = r
        .decode(b"caf\xe9", Some("text/x"), Some("latin-1"), None)
        .unwrap();
    assert_eq!(v, Value::String("café".into()));
    let err = r
        .decode(b"x", Some("text/x"), Some("ebcdic"), None)
        .unwrap_err();
    assert!(
        err.is_decode() && err.to_string().contains("ebcdic"),
        "{err}"
    );
}

#[test]
fn empty_body_is_returned_without_decoding() {
    let r = Registry::new();
    let v = r.decode(b"", Some(JSON), Some("utf-8"), None).unwrap();
    assert_eq!(v, Value::Bytes(Vec::new()));
}

#[test]
fn default_accept_is_json_and_the_trusted_types() {
    let r = Registry::new();
    let accept = Accept::default();
    for ok in [JSON, DATA, TEXT, "application/text"] {
        assert!(accept.allows(ok, &r), "{ok}");
    }
    for refused in [PICKLE, YAML, MSGPACK, "image/jpeg"] {
        let err = r
            .decode(b"garbage", Some(refused), None, Some(&accept))
            .unwrap_err();
        assert!(err.is_content_disallowed(), "{refused}: {err}");
        assert!(err.to_string().contains(refused), "{err}");
    }
}

#[test]
fn disallowed_content_is_refused_before_any_decoder_runs() {
    // Not valid pickle: a decoder would fail with a decode error; the accept check comes first.
    let err = Registry::new()
        .decode(
            b"not a pickle",
            Some(PICKLE),
            Some("binary"),
            Some(&Accept::default()),
        )
        .unwrap_err();
    assert!(err.is_content_disallowed(), "{err}");
    assert!(
        err.to_string()
            .contains("pickle (application/x-python-serialize)"),
        "{err}"
    );
}

#[test]
fn accept_list_takes_names_and_mime_types() {
    let r = Registry::new();
    let accept = Accept::new(["msgpack", "application/x-yaml"]);
    assert!(accept.allows(MSGPACK, &r) && accept.allows(YAML, &r));
    assert!(
        !accept.allows(JSON, &r),
        "an accept list overrides the default"
    );
}

#[test]
fn json_type_wrappers_decode_as_python_kombu_writes_them() {
    let r = Registry::new();
    let body = br#"{"when": {"__type__": "datetime", "__value__": "2024-05-01T12:30:00+00:00"},
        "day": {"__type__": "date", "__value__": "2024-05-01"},
        "at": {"__type__": "time", "__value__": "12:30:00"},
        "price": {"__type__": "decimal", "__value__": "19.99"},
        "id": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}},
        "text_bytes": {"__type__": "bytes", "__value__": "abc"},
        "raw_bytes": {"__type__": "base64", "__value__": "/wA="},
        "list": [{"__type__": "decimal", "__value__": "1.5"}]}"#;
    let v = r.decode(body, Some(JSON), Some("utf-8"), None).unwrap();
    assert_eq!(
        v.get("when").unwrap().as_str(),
        Some("2024-05-01T12:30:00+00:00")
    );
    assert_eq!(v.get("day").unwrap().as_str(), Some("2024-05-01"));
    assert_eq!(v.get("at").unwrap().as_str(), Some("12:30:00"));
    assert_eq!(v.get("price").unwrap().as_str(), Some("19.99"));
    assert_eq!(
        v.get("id").unwrap().as_str(),
        Some("12345678-1234-5678-1234-567812345678")
    );
    assert_eq!(v.get("text_bytes").unwrap().as_bytes(), Some(&b"abc"[..]));
    assert_eq!(v.get("raw_bytes").unwrap().as_bytes(), Some(&[0xff, 0][..]));
    assert_eq!(v.get("list").unwrap(), &Value::List(vec!["1.5".into()]));

    #[derive(Deserialize)]
    struct Typed {
        price: String,
        text_bytes: String,
    }
    let t: Typed = r.decode_as(body, Some(JSON), None, None).unwrap();
    assert_eq!((t.price.as_str(), t.text_bytes.as_str()), ("19.99", "abc"));
}

#[test]
fn unknown_json_type_wrapper_is_a_decode_error() {
    let err = Registry::new()
        .decode(
            br#"{"__type__": "complex", "__value__": "1+2j"}"#,
            Some(JSON),
            None,
            None,
        )
        .unwrap_err();
    assert!(
        err.is_decode() && err.to_string().contains("complex"),
        "{err}"
    );
}

#[test]
fn a_map_with_more_keys_than_the_wrapper_is_plain() {
    let v = Registry::new()
        .decode(
            br#"{"__type__": "date", "__value__": "x", "other": 1}"#,
            Some(JSON),
            None,
            None,
        )
        .unwrap();
    assert_eq!(v.get("__type__").unwrap().as_str(), Some("date"));
}

#[test]
fn typed_decode_reads_json_and_other_formats() {
    let r = Registry::new();
    let feed = serde_json::json!({"action": "import_feed", "feed_url": "http://cnn.com/rss"});
    for name in ["json", "yaml", "msgpack"] {
        let enc = r.encode(&feed, Some(name)).unwrap();
        let got: Feed = r
            .decode_as(
                &enc.body,
                Some(&enc.content_type),
                None,
                Some(&Accept::all()),
            )
            .unwrap();
        assert_eq!(got.feed_url, "http://cnn.com/rss", "{name}");
    }
    let err = r
        .decode_as::<Feed>(br#"{"action": 1}"#, Some(JSON), None, None)
        .unwrap_err();
    assert!(err.is_decode(), "{err}");
    let err = r
        .decode_as::<Feed>(b"{}", Some(YAML), None, Some(&Accept::default()))
        .unwrap_err();
    assert!(
        err.is_content_disallowed(),
        "the typed path checks the accept list too"
    );
}

#[test]
fn malformed_bodies_are_decode_errors() {
    let r = Registry::new();
    for (ctype, body) in [
        (JSON, &b"{nope"[..]),
        (MSGPACK, b"\xc1"),
        (PICKLE, b"\x80\x05garbage"),
        (YAML, b"a: ["),
    ] {
        let err = r
            .decode(body, Some(ctype), None, Some(&Accept::all()))
            .unwrap_err();
        assert!(err.is_decode(), "{ctype}: {err}");
    }
}

struct Reverse;

impl Serializer for Reverse {
    fn name(&self) -> &str {
        "reverse"
    }
    fn content_type(&self) -> &str {
        "application/x-reverse"
    }
    fn content_encoding(&self) -> &str {
        "utf-8"
    }
    fn encode(&self, value: &Value) -> Result<Vec<u8>> {
        let text = value
            .as_str()
            .ok_or_else(|| Error::encode("reverse takes text"))?;
        Ok(text.chars().rev().collect::<String>().into_bytes())
    }
    fn decode(&self, body: &[u8]) -> Result<Value> {
        let text = std::str::from_utf8(body).map_err(|e| Error::decode(e.to_string()))?;
        Ok(Value::String(text.chars().rev().collect()))
    }
}

#[test]
fn custom_serializers_register_by_name_and_type() {
    let mut r = Registry::new();
    r.register(Reverse);
    let enc = r.encode(&"abc", Some("reverse")).unwrap();
    assert_eq!(
        (enc.body.as_slice(), enc.content_type.as_str()),
        (&b"cba"[..], "application/x-reverse")
    );
    let back = r
        .decode(
            &enc.body,
            Some("application/x-reverse"),
            None,
            Some(&Accept::new(["reverse"])),
        )
        .unwrap();
    assert_eq!(back, Value::String("abc".into()));
    let typed: String = r
        .decode_as(&enc.body, Some("application/x-reverse"), None, None)
        .unwrap();
    assert_eq!(typed, "abc");
    r.set_default("reverse").unwrap();
    assert_eq!(r.encode(&"xy", None).unwrap().body, b"yx");
    r.unregister("application/x-reverse").unwrap();
    assert!(r.encode(&"xy", Some("reverse")).is_err());
    assert!(r.set_default("nope").is_err());
}

#[test]
fn the_global_registry_takes_registrations() {
    register(Reverse);
    assert_eq!(
        registry().content_type_of("reverse").unwrap(),
        "application/x-reverse"
    );
}

#[test]
fn text_is_sent_in_the_encoding_it_is_labelled_with() {
    let r = Registry::new();
    let latin = r
        .encode_body(Body::Text("café".into()), Some("text/csv"), Some("latin-1"))
        .unwrap();
    assert_eq!(latin.body, b"caf\xe9");
    assert_eq!(latin.content_encoding, "latin-1");
    let back = r
        .decode(&latin.body, Some("text/csv"), Some("latin-1"), None)
        .unwrap();
    assert_eq!(back, Value::String("café".into()));
    let err = r
        .encode_body(Body::Text("café".into()), None, Some("us-ascii"))
        .unwrap_err();
    assert!(
        err.is_encode() && err.to_string().contains("us-ascii"),
        "{err}"
    );
    let err = r
        .encode_body(Body::Text("x".into()), None, Some("utf-16"))
        .unwrap_err();
    assert!(err.to_string().contains("utf-16"), "{err}");
}
