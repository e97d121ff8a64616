//! kombu's fuzz targets, one function per target. Each takes any bytes and checks what must
//! hold for every input: no panic, no hang, no unbounded memory, and the target's own
//! property (a decoder that resumes across reads finds what one read finds; a URL written
//! back parses to the same URL; a topology file that `check` accepts generates Rust that
//! parses). A violated property panics: that is how a fuzzer learns of it.
//!
//! Two runners share these functions: `fuzz/` (the cargo-fuzz layout, for long runs with
//! libFuzzer) and `tests/corpus.rs`, which runs every file of `fuzz/corpus/<target>/` through
//! its target on a plain `cargo test`, so what was once found stays fixed.

#![allow(clippy::panic)]

use kombu::serialization::{Accept, Registry};
use kombu::topology::Topology;
use kombu::transport::stomp::frame::{self, Decoder, Item, Limits};
use kombu::BrokerUrl;

/// A fuzz target: any bytes in, a panic when what it checks does not hold.
pub type Target = fn(&[u8]);

/// The targets by name, as the corpus folders and `fuzz/fuzz_targets/` name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("stomp_frame", stomp_frame),
    ("url", url),
    ("topology", topology),
    ("message", message),
    ("codegen", codegen),
];

/// Limits small enough that a fuzzer reaches them.
const STOMP_LIMITS: Limits = Limits {
    max_frame: 64 * 1024,
    max_headers: 64,
    max_header_line: 4096,
};

/// Every item of `data` fed to a decoder in pieces of `piece` bytes, and the error that ended
/// the stream, if one did.
fn decode_in_pieces(data: &[u8], piece: usize) -> (Vec<Item>, bool) {
    let mut decoder = Decoder::new(STOMP_LIMITS);
    let mut items = Vec::new();
    for chunk in data.chunks(piece.max(1)) {
        decoder.push(chunk);
        loop {
            match decoder.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(_) => return (items, true),
            }
        }
    }
    // About one look per byte, however the bytes arrive (a decoder that rescans its buffer
    // after each read would look at each byte many times).
    let scanned = decoder.scanned();
    let bound = 4 * data.len() as u64 + 64;
    if scanned > bound {
        panic!(
            "the decoder looked at {scanned} bytes for {} received",
            data.len()
        );
    }
    (items, false)
}

/// The STOMP frame decoder: the first byte sets the size of the reads the rest arrives in;
/// the items found must not depend on it, and each frame found encodes to bytes that decode
/// to the same frame.
pub fn stomp_frame(data: &[u8]) {
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let (whole, whole_failed) = decode_in_pieces(data, data.len());
    let (pieces, pieces_failed) = decode_in_pieces(data, usize::from(piece % 64) + 1);
    if whole != pieces || whole_failed != pieces_failed {
        panic!(
            "reads of {} bytes found other items than one read",
            piece % 64 + 1
        );
    }
    for item in whole {
        if let Item::Frame(f) = item {
            if !representable(&f) {
                continue;
            }
            let mut out = Vec::new();
            frame::encode(&f, &mut out);
            match frame::decode(&out, &STOMP_LIMITS) {
                Ok(Some((Item::Frame(back), used))) if used == out.len() => {
                    if back != f {
                        panic!("{f:?} encodes to a frame that decodes as {back:?}");
                    }
                }
                other => panic!("{f:?} encodes to bytes that decode as {other:?}"),
            }
        }
    }
}

/// Whether `frame` can be written so that it reads back the same: CONNECT and CONNECTED
/// headers are not escaped (STOMP 1.2, for 1.0 servers), so a header of theirs with a line end
/// or a trailing carriage return (read as part of the line end), or a name with a colon, has
/// no written form.
fn representable(frame: &frame::Frame) -> bool {
    use frame::Command;
    if !matches!(frame.command, Command::Connect | Command::Connected) {
        return true;
    }
    frame.headers.iter().all(|(name, value)| {
        !name.contains([':', '\n', '\r']) && !value.contains('\n') && !value.ends_with('\r')
    })
}

/// The URL parser: what parses is written back with its password and parses to the same
/// URL; the redacted form shows no password.
pub fn url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = BrokerUrl::parse(text) else {
        return;
    };
    let written = parsed.to_uri_with_password();
    match BrokerUrl::parse(&written) {
        Ok(back) if back == parsed => {}
        Ok(back) => {
            panic!("{text:?} parses, is written as {written:?}, which parses otherwise: {back:?}")
        }
        Err(e) => panic!("{text:?} parses, is written as {written:?}, which does not parse: {e}"),
    }
    // The redacted form is the same URL with `**` in the password's place.
    let shown = parsed.to_string();
    match BrokerUrl::parse(&shown) {
        // Either `**` stands where the password was, or no password is written at all.
        Ok(redacted)
            if parsed.password().is_empty()
                || redacted.password() == "**"
                || !shown.contains(parsed.password()) => {}
        Ok(redacted) => panic!(
            "the redacted form of {text:?} is {shown:?}, whose password is {:?}",
            redacted.password()
        ),
        Err(e) => panic!("the redacted form of {text:?} is {shown:?}, which does not parse: {e}"),
    }
}

/// The topology loader: the first byte picks TOML, YAML or JSON. Loading gives a topology or
/// diagnostics, and the diagnostics render.
pub fn topology(data: &[u8]) {
    let _ = load(data);
}

fn load(data: &[u8]) -> Option<Topology> {
    let (&format, rest) = data.split_first()?;
    let text = std::str::from_utf8(rest).ok()?;
    let loaded = match format % 3 {
        0 => Topology::from_toml_str(text),
        1 => Topology::from_yaml_str(text),
        _ => Topology::from_json_str(text),
    };
    match loaded {
        Ok(topology) => Some(topology),
        Err(diagnostics) => {
            let _ = diagnostics.to_string();
            None
        }
    }
}

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/x-yaml",
    "application/x-msgpack",
    "application/x-python-serialize",
    "application/data",
    "text/plain",
    "application/text",
    "",
];
const ENCODINGS: &[&str] = &["utf-8", "binary", "latin-1", "utf-16", ""];
const CODECS: &[&str] = &[
    "",
    "application/x-gzip",
    "application/x-bz2",
    "application/x-lzma",
    "application/x-brotli",
    "application/zstd",
];

/// Message decoding: the first three bytes pick the content type, the content encoding and
/// the compression (every one kombu knows), the rest is the body. Decompression is bounded,
/// decoding (every serializer accepted, pickle included) gives a value or an error.
pub fn message(data: &[u8]) {
    let [t, e, c, body @ ..] = data else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(*t) % CONTENT_TYPES.len()];
    let encoding = ENCODINGS[usize::from(*e) % ENCODINGS.len()];
    let codec = CODECS[usize::from(*c) % CODECS.len()];
    let body = if codec.is_empty() {
        body.to_vec()
    } else {
        match kombu::compression::decompress(codec, body, 1 << 20) {
            Ok(b) => b,
            Err(_) => return,
        }
    };
    if body.len() > 1 << 20 {
        panic!("decompression gave {} bytes past its bound", body.len());
    }
    let registry = Registry::new();
    let _ = registry.decode(
        &body,
        Some(content_type).filter(|t| !t.is_empty()),
        Some(encoding).filter(|e| !e.is_empty()),
        Some(&Accept::all()),
    );
}

/// Topology to generated code: a file `check` accepts generates code, and that code parses as
/// Rust (that it compiles is proved for a corpus by kombu-build-tests).
pub fn codegen(data: &[u8]) {
    let Some(topology) = load(data) else {
        return;
    };
    let code = match kombu_build::Config::new().generate(&topology) {
        Ok(code) => code,
        Err(e) => panic!("a topology that check accepts does not generate: {e}"),
    };
    if let Err(e) = syn::parse_file(&code) {
        panic!("generated code does not parse: {e}\n{code}");
    }
}
