//! Interop with real Python kombu over the real RabbitMQ, both directions.
//!
//! The Python side is the scripts in `tests/interop/` (data for this driver, not tests of their
//! own), run with the python of a virtualenv that `tests/interop/setup.sh` makes:
//! `KOMBU_INTEROP_PYTHON`, else `<workspace>/target/interop-venv/bin/python`. Without that
//! python or without RabbitMQ on 127.0.0.1:5672 each test prints `skipped: ...` and passes,
//! unless `KOMBU_REQUIRE_BROKER=1`, where it fails.
//!
//! What is proven:
//! 1. Python publishes, Rust consumes: every serializer (JSON with the `__type__` wrappers, YAML,
//!    msgpack, pickle as data and only when accepted, raw bytes, text, custom content types)
//!    with every compression codec, and the properties and headers.
//! 2. Rust publishes, Python consumes the same matrix (no pickle: Rust never writes pickle) and
//!    reports what it decoded, which is compared exactly; `python_types` values arrive as real
//!    `datetime`, `date`, `time`, `Decimal`, `UUID` and `bytes` objects.
//! 3. Request/reply both ways: `Producer::reply` answering Python's `collect_replies`, and
//!    Python's `send_reply` answering a Rust request.
//!
//! Each matrix test checks every case, prints a per-codec tally, and fails listing every case
//! that did not match.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kombu::compression::Compression;
use kombu::serialization::{Accept, Registry};
use kombu::{
    Channel, Connection, Consumer, DeliveryMode, FieldTable, FieldValue, Message, Producer, Queue,
    Value,
};
use serde_json::json;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672//";
/// How long Rust waits for one message. Generous: it bounds a failing test only.
const WAIT: Duration = Duration::from_secs(20);
/// How long a Python script may run (they bound their own waits at about 20 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(45);
/// A safety net: queues left behind by a failed run disappear on their own.
const QUEUE_EXPIRES: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// Environment: the venv's python and the broker.

fn broker_required() -> bool {
    std::env::var("KOMBU_REQUIRE_BROKER").is_ok_and(|v| v == "1")
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The venv's python, once it is known to import kombu and its codecs; else why not.
fn python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let python = match std::env::var_os("KOMBU_INTEROP_PYTHON") {
                Some(p) => PathBuf::from(p),
                None => {
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/interop-venv/bin/python")
                }
            };
            let out = Command::new(&python)
                .args([
                    "-c",
                    "import kombu, msgpack, yaml, brotli, zstandard; print(kombu.__version__)",
                ])
                .output()
                .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} cannot import kombu and its codecs: {}",
                    python.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            eprintln!(
                "interop: Python kombu {} at {}",
                String::from_utf8_lossy(&out.stdout).trim(),
                python.display()
            );
            Ok(python)
        })
        .clone()
}

struct Interop {
    python: PathBuf,
    conn: Connection,
    channel: Channel,
}

/// The python and a broker connection, or `None` (skipped) when either is missing and
/// `KOMBU_REQUIRE_BROKER` is not `1`.
async fn interop() -> Option<Interop> {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let conn = Connection::connect(URL).await;
    let problem = match (&python, &conn) {
        (Ok(_), Ok(_)) => None,
        (Err(p), _) => Some(format!(
            "no Python kombu for the interop suite ({p}); run kombu/tests/interop/setup.sh \
             (or set KOMBU_INTEROP_PYTHON to a python that has kombu)"
        )),
        (_, Err(e)) => Some(format!("RabbitMQ not reachable at 127.0.0.1:5672 ({e:#})")),
    };
    if let Some(problem) = problem {
        assert!(
            !broker_required(),
            "the interop suite is required (KOMBU_REQUIRE_BROKER=1): {problem}"
        );
        eprintln!("skipped: {problem}; set KOMBU_REQUIRE_BROKER=1 to make this a failure");
        return None;
    }
    let conn = conn.unwrap();
    let channel = conn.channel().await.unwrap();
    Some(Interop {
        python: python.unwrap(),
        conn,
        channel,
    })
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("kombu-interop.{what}.{}.{nanos:x}", std::process::id())
}

/// A queue for one test: non-durable, expiring if a failed run leaves it behind.
fn test_queue(what: &str) -> Queue {
    Queue::new(unique(what))
        .durable(false)
        .expires(QUEUE_EXPIRES)
}

async fn declare(channel: &Channel, queue: &Queue) {
    channel
        .declare_queue(queue)
        .await
        .unwrap_or_else(|e| panic!("declaring `{}` failed: {e}", queue.name));
}

async fn delete(channel: &Channel, queues: &[&Queue]) {
    for q in queues {
        let _ = q.attach(channel).delete(false, false).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Python scripts as child processes.

/// A running Python script; its stdout and stderr go to files read when it ends.
struct Script {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Script {
    fn start(python: &Path, script: &str, args: &[&str]) -> Script {
        let base = std::env::temp_dir().join(unique(script));
        let stdout = base.with_extension("out");
        let stderr = base.with_extension("err");
        let child = Command::new(python)
            .arg(interop_dir().join(script))
            .args(args)
            .current_dir(interop_dir())
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        Script {
            name: format!("{script} {}", args.join(" ")),
            child,
            stdout,
            stderr,
        }
    }

    /// Wait for the script (killing it after [`SCRIPT_TIMEOUT`]) and parse the JSON document it
    /// printed last.
    async fn finish(self) -> serde_json::Value {
        tokio::task::spawn_blocking(move || self.finish_blocking())
            .await
            .unwrap()
    }

    fn finish_blocking(mut self) -> serde_json::Value {
        let deadline = Instant::now() + SCRIPT_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let _ = std::fs::remove_file(&self.stdout);
        let _ = std::fs::remove_file(&self.stderr);
        let name = &self.name;
        let Some(status) = status else {
            panic!("{name} did not finish within {SCRIPT_TIMEOUT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        };
        assert!(
            status.success(),
            "{name} failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
        serde_json::from_str(last.unwrap_or("")).unwrap_or_else(|e| {
            panic!("{name} printed no JSON report ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}")
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The documents, as `tests/interop/interop_common.py` defines them.

const DOC_TEXT: &str = "h\u{e9}llo w\u{f6}rld \u{2713} \u{65e5}\u{672c}";
const BLOB: &[u8] = b"\xff\x00\x80binary";
const RAW: &[u8] = b"\x00\x01\xfe\xff raw \x80";
const TEXT: &str = "plain text \u{2713} \u{65e5}\u{672c}";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9";
const CSV: &str = "a,b\n1,\u{e9}\n";
const LATIN1: &str = "caf\u{e9} cr\u{e8}me";

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

/// `DOC`: what every serializer carries.
fn doc() -> Value {
    map(vec![
        ("text", DOC_TEXT.into()),
        ("int", Value::Int(-42)),
        ("big", Value::Int(9_007_199_254_740_993)),
        ("float", Value::Float(3.25)),
        ("flag", Value::Bool(true)),
        ("none", Value::Null),
        (
            "list",
            Value::List(vec![Value::Int(1), "two".into(), Value::Float(3.5)]),
        ),
        (
            "nested",
            map(vec![("deeper", map(vec![("k", Value::List(vec![]))]))]),
        ),
    ])
}

fn with(base: Value, extra: Vec<(&str, Value)>) -> Value {
    let Value::Map(mut entries) = base else {
        unreachable!()
    };
    entries.extend(extra.into_iter().map(|(k, v)| (k.into(), v)));
    Value::Map(entries)
}

/// Python's `dict(DOC, **SPECIAL)` as the untyped decoder gives it: wrappers unwrapped to their
/// text (datetime, date, time, decimal, uuid) or bytes.
fn json_doc_from_python() -> Value {
    with(
        doc(),
        vec![
            ("aware", "2024-05-01T12:30:00.250000+02:00".into()),
            ("utc", "2024-05-01T12:30:00+00:00".into()),
            ("naive", "2024-05-01T12:30:00".into()),
            ("day", "2024-05-01".into()),
            ("clock", "12:30:00.500000".into()),
            ("price", "19.990".into()),
            ("id", "12345678-1234-5678-1234-567812345678".into()),
            (
                "text_bytes",
                Value::Bytes("abc \u{2713}".as_bytes().to_vec()),
            ),
            ("raw_bytes", Value::Bytes(vec![0xff, 0x00, 0x80])),
        ],
    )
}

#[cfg(feature = "python-types")]
mod special {
    //! `SPECIAL` as typed Rust values.
    use chrono::{FixedOffset, NaiveDate, NaiveTime, TimeZone};
    use kombu::python_types::{
        PyBytes, PyDate, PyDateTime, PyDecimal, PyNaiveDateTime, PyTime, PyUuid,
    };
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub(crate) struct Special {
        pub aware: PyDateTime,
        pub utc: PyDateTime,
        pub naive: PyNaiveDateTime,
        pub day: PyDate,
        pub clock: PyTime,
        pub price: PyDecimal,
        pub id: PyUuid,
        pub text_bytes: PyBytes,
        pub raw_bytes: PyBytes,
    }

    pub(crate) fn special() -> Special {
        let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();
        let utc = FixedOffset::east_opt(0).unwrap();
        let day = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        Special {
            aware: PyDateTime(
                plus2
                    .from_local_datetime(&day.and_hms_milli_opt(12, 30, 0, 250).unwrap())
                    .unwrap(),
            ),
            utc: PyDateTime(
                utc.from_local_datetime(&day.and_hms_opt(12, 30, 0).unwrap())
                    .unwrap(),
            ),
            naive: PyNaiveDateTime(day.and_hms_opt(12, 30, 0).unwrap()),
            day: PyDate(day),
            clock: PyTime(NaiveTime::from_hms_milli_opt(12, 30, 0, 500).unwrap()),
            price: PyDecimal(rust_decimal::Decimal::new(19_990, 3)),
            id: PyUuid(uuid::Uuid::from_u128(
                0x12345678_1234_5678_1234_567812345678,
            )),
            text_bytes: PyBytes("abc \u{2713}".as_bytes().to_vec()),
            raw_bytes: PyBytes(vec![0xff, 0x00, 0x80]),
        }
    }

    /// What Python's `describe` reports for the decoded `Special`.
    pub(crate) fn described() -> serde_json::Value {
        serde_json::json!({"dict": {
            "aware": ["datetime", "2024-05-01 12:30:00.250000+02:00"],
            "utc": ["datetime", "2024-05-01 12:30:00+00:00"],
            "naive": ["datetime", "2024-05-01 12:30:00"],
            "day": ["date", "2024-05-01"],
            "clock": ["time", "12:30:00.500000"],
            "price": ["Decimal", "19.990"],
            "id": ["UUID", "12345678-1234-5678-1234-567812345678"],
            "text_bytes": ["bytes", "b'abc \\xe2\\x9c\\x93'"],
            "raw_bytes": ["bytes", "b'\\xff\\x00\\x80'"],
        }})
    }
}

/// The codecs, by the alias both sides publish with; `None` is uncompressed.
const CODECS: [Option<&str>; 6] = [
    None,
    Some("zlib"),
    Some("bzip2"),
    Some("lzma"),
    Some("brotli"),
    Some("zstd"),
];

fn codec_suffix(codec: Option<&str>) -> &str {
    codec.unwrap_or("none")
}

fn mime_of(codec: &str) -> &'static str {
    Compression::from_name(codec).unwrap().mime_type()
}

/// The `content_type`/`content_encoding` a kind of body travels with (both directions).
fn content_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "json" | "special" => ("application/json", "utf-8"),
        "yaml" => ("application/x-yaml", "utf-8"),
        "msgpack" => ("application/x-msgpack", "binary"),
        "pickle" => ("application/x-python-serialize", "binary"),
        "raw" | "empty" => ("application/data", "binary"),
        "text" => ("text/plain", "utf-8"),
        "jpeg" => ("image/jpeg", "binary"),
        "csv" => ("text/csv", "utf-8"),
        "latin1" => ("text/csv", "latin-1"),
        other => panic!("unknown kind {other}"),
    }
}

/// What a kind of body decodes to in Rust when Python sent it.
fn value_from_python(kind: &str) -> Value {
    match kind {
        "json" => json_doc_from_python(),
        "yaml" => doc(),
        "msgpack" => with(doc(), vec![("blob", Value::Bytes(BLOB.to_vec()))]),
        "pickle" => with(
            doc(),
            vec![
                ("blob", Value::Bytes(BLOB.to_vec())),
                ("pair", Value::List(vec![Value::Int(1), "a".into()])),
            ],
        ),
        "raw" => Value::Bytes(RAW.to_vec()),
        "text" => TEXT.into(),
        "jpeg" => Value::Bytes(JPEG.to_vec()),
        "csv" => CSV.into(),
        "latin1" => LATIN1.into(),
        "empty" => Value::Bytes(Vec::new()),
        other => panic!("unknown kind {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Python's `describe` (type name and `str(value)`), computed from a Rust value.

/// `str(b)` of Python bytes.
fn py_bytes(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if char::from(c) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(c)),
            c => write!(out, "\\x{c:02x}").unwrap(),
        }
    }
    out.push(quote);
    out
}

/// `str(f)` of a Python float (the values used here are short decimals).
fn py_float(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// What `describe` in interop_common.py reports for the Python value `v` decodes to.
fn py_describe(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => json!(["NoneType", "None"]),
        Value::Bool(b) => json!(["bool", if *b { "True" } else { "False" }]),
        Value::Int(i) => json!(["int", i.to_string()]),
        Value::UInt(u) => json!(["int", u.to_string()]),
        Value::Float(f) => json!(["float", py_float(*f)]),
        Value::String(s) => json!(["str", s]),
        Value::Bytes(b) => json!(["bytes", py_bytes(b)]),
        Value::List(items) => json!({"list": items.iter().map(py_describe).collect::<Vec<_>>()}),
        Value::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, v) in entries {
                m.insert(k.as_str().unwrap().to_owned(), py_describe(v));
            }
            json!({ "dict": m })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tallies: every case is checked, failures are listed together at the end.

#[derive(Default)]
struct Tally {
    outcomes: Vec<(String, Result<(), String>)>,
}

impl Tally {
    fn record(&mut self, case: impl Into<String>, outcome: Result<(), String>) {
        self.outcomes.push((case.into(), outcome));
    }

    /// Print the per-codec tally, then fail listing every mismatch.
    fn finish(self, title: &str) {
        let mut by_codec: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (case, outcome) in &self.outcomes {
            let codec = case.split_once('+').map_or("other", |(_, c)| c).to_owned();
            let entry = by_codec.entry(codec).or_default();
            entry.0 += 1;
            entry.1 += usize::from(outcome.is_ok());
        }
        let passed = self.outcomes.iter().filter(|(_, o)| o.is_ok()).count();
        let mut summary = format!(
            "interop {title}: {passed}/{} cases passed;",
            self.outcomes.len()
        );
        for (codec, (total, ok)) in &by_codec {
            write!(summary, " {codec} {ok}/{total}").unwrap();
        }
        println!("{summary}");
        let failures: Vec<String> = self
            .outcomes
            .into_iter()
            .filter_map(|(case, o)| o.err().map(|e| format!("  {case}: {e}")))
            .collect();
        assert!(
            failures.is_empty(),
            "{summary}\n{} mismatches:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Python publishes, Rust consumes.

/// The properties Python kombu sets on every publish, and nothing else unless asked.
fn check_plain_properties(message: &Message, headers: FieldTable) -> Result<(), String> {
    let p = message.properties();
    check("headers", p.headers.as_ref(), Some(&headers))?;
    check(
        "delivery_mode",
        p.delivery_mode,
        Some(DeliveryMode::Persistent),
    )?;
    check("priority", p.priority, Some(0))?;
    check("correlation_id", p.correlation_id.as_deref(), None)?;
    check("reply_to", p.reply_to.as_deref(), None)?;
    check("expiration", p.expiration, None)?;
    check("message_id", p.message_id.as_deref(), None)?;
    check("timestamp", p.timestamp, None)?;
    check("type", p.kind.as_deref(), None)
}

fn case_headers(case: &str, codec: Option<&str>) -> FieldTable {
    let mut headers = FieldTable::new();
    headers.insert("x-case".into(), case.into());
    if let Some(codec) = codec {
        headers.insert("compression".into(), mime_of(codec).into());
    }
    headers
}

/// `kind+codec` → (kind, codec alias or None).
fn parse_case(case: &str) -> (&str, Option<&str>) {
    let (kind, codec) = case.split_once('+').unwrap();
    (kind, (codec != "none").then_some(codec))
}

/// The checks every matrix message gets: content type, encoding, headers, plain properties.
fn check_envelope(case: &str, message: &Message) -> Result<(), String> {
    let (kind, codec) = parse_case(case);
    let (content_type, encoding) = content_of(kind);
    check("content_type", message.content_type(), Some(content_type))?;
    check(
        "content_encoding",
        message.content_encoding(),
        Some(encoding),
    )?;
    check_plain_properties(message, case_headers(case, codec))
}

fn check_from_python(case: &str, message: &Message) -> Result<(), String> {
    check_envelope(case, message)?;
    let (kind, _) = parse_case(case);
    let payload = message
        .payload()
        .map_err(|e| format!("payload() failed: {e}"))?;
    check("body", payload, &value_from_python(kind))?;
    #[cfg(feature = "python-types")]
    if kind == "json" {
        let typed: special::Special = message
            .decode()
            .map_err(|e| format!("decode::<Special>() failed: {e}"))?;
        check("typed body", typed, special::special())?;
    }
    Ok(())
}

fn check_properties_from_python(message: &Message) -> Result<(), String> {
    let p = message.properties();
    check(
        "content_type",
        message.content_type(),
        Some("application/json"),
    )?;
    check("priority", p.priority, Some(7))?;
    check("expiration", p.expiration, Some(Duration::from_secs(120)))?;
    check("reply_to", p.reply_to.as_deref(), Some("reply.queue"))?;
    check(
        "correlation_id",
        p.correlation_id.as_deref(),
        Some("corr-123"),
    )?;
    check("message_id", p.message_id.as_deref(), Some("msg-456"))?;
    check(
        "delivery_mode",
        p.delivery_mode,
        Some(DeliveryMode::Persistent),
    )?;
    let h = |k: &str| message.header(k).cloned();
    check(
        "x-str",
        h("x-str").as_ref().and_then(FieldValue::as_str),
        Some("value \u{2713}"),
    )?;
    check("x-int", h("x-int").and_then(|v| v.as_i64()), Some(42))?;
    check("x-neg", h("x-neg").and_then(|v| v.as_i64()), Some(-7))?;
    check("x-big", h("x-big").and_then(|v| v.as_i64()), Some(1 << 40))?;
    check("x-bool", h("x-bool"), Some(FieldValue::Bool(true)))?;
    check("x-float", h("x-float"), Some(FieldValue::F64(1.5)))?;
    match h("x-list") {
        Some(FieldValue::Array(items)) => check(
            "x-list",
            (
                items.len(),
                items.first().and_then(FieldValue::as_i64),
                items.get(1).and_then(FieldValue::as_str),
            ),
            (2, Some(1), Some("a")),
        )?,
        other => {
            return Err(format!(
                "x-list: got {other:?}, expected an array [1, \"a\"]"
            ))
        }
    }
    match h("x-table") {
        Some(FieldValue::Table(t)) => check(
            "x-table",
            t.get("k").and_then(FieldValue::as_str),
            Some("v"),
        )?,
        other => return Err(format!("x-table: got {other:?}, expected a table {{k: v}}")),
    }
    check("headers", message.headers().map(|h| h.len()), Some(9))?;
    let payload = message
        .payload()
        .map_err(|e| format!("payload() failed: {e}"))?;
    check("body", payload, &map(vec![("op", "properties".into())]))
}

/// Consume `cases.len()` messages from `queue` with `accept`, checking each in order.
async fn consume_and_check(
    channel: &Channel,
    queue: &Queue,
    accept: Accept,
    cases: &[String],
    tally: &mut Tally,
    mut check_one: impl FnMut(&str, &Message) -> Result<(), String>,
) {
    let mut consumer = Consumer::new(channel, [queue.clone()]).accept(accept);
    consumer.consume().await.unwrap();
    for (i, case) in cases.iter().enumerate() {
        let message = match consumer.recv(WAIT).await {
            Ok(m) => m,
            Err(e) => {
                // Nothing more is coming: the rest are missing too (no waiting for each).
                for case in &cases[i..] {
                    tally.record(case.as_str(), Err(format!("not received: {e}")));
                }
                break;
            }
        };
        if let Some(codec) = case
            .split_once('+')
            .and_then(|(_, c)| (c != "none").then_some(c))
        {
            let codec = Compression::from_name(codec).unwrap();
            if !codec.is_available() {
                eprintln!(
                    "skipped {case}: codec {codec} not compiled in (build with --all-features)"
                );
                message.ack().unwrap();
                continue;
            }
        }
        let header = message.header("x-case").and_then(FieldValue::as_str);
        let outcome = match header {
            Some(h) if h != case => Err(format!("out of order: got case {h}")),
            _ => check_one(case, &message),
        };
        message.ack().unwrap();
        tally.record(case.as_str(), outcome);
    }
    consumer.cancel().await.unwrap();
}

fn manifest(report: &serde_json::Value, key: &str) -> Vec<String> {
    serde_json::from_value(report[key].clone()).unwrap()
}

fn expected_cases(kinds: &[&str]) -> Vec<String> {
    CODECS
        .iter()
        .flat_map(|c| {
            kinds
                .iter()
                .map(move |k| format!("{k}+{}", codec_suffix(*c)))
        })
        .collect()
}

#[tokio::test]
async fn python_publishes_rust_consumes() {
    let Some(io) = interop().await else { return };
    let ch = &io.channel;
    let (main_q, pickle_q, refuse_q) = (
        test_queue("from-python"),
        test_queue("from-python-pickle"),
        test_queue("from-python-refuse"),
    );
    for q in [&main_q, &pickle_q, &refuse_q] {
        declare(ch, q).await;
    }
    let report = Script::start(
        &io.python,
        "publish.py",
        &[URL, &main_q.name, &pickle_q.name, &refuse_q.name],
    )
    .finish()
    .await;

    // Both sides agree on the matrix.
    let main_kinds = [
        "json", "yaml", "msgpack", "raw", "text", "jpeg", "csv", "latin1", "empty",
    ];
    let mut want_main = vec!["plain".to_owned(), "properties".to_owned()];
    want_main.extend(expected_cases(&main_kinds));
    assert_eq!(manifest(&report, "main"), want_main);
    assert_eq!(manifest(&report, "pickle"), expected_cases(&["pickle"]));
    let refuse = manifest(&report, "refuse");
    assert_eq!(
        refuse,
        [
            "pickle+none",
            "pickle+zlib",
            "yaml+none",
            "msgpack+none",
            "jpeg+none",
            "csv+none",
            "json+none",
            "raw+none",
            "text+none"
        ]
    );

    let mut tally = Tally::default();
    // An accept list naming every type Python sent (pickle apart, which has its own queue).
    let accept = Accept::new(["json", "yaml", "msgpack", "image/jpeg", "text/csv"]);
    consume_and_check(
        ch,
        &main_q,
        accept,
        &want_main,
        &mut tally,
        |case, m| match case {
            "plain" => {
                check("content_type", m.content_type(), Some("application/json"))?;
                check("content_encoding", m.content_encoding(), Some("utf-8"))?;
                check_plain_properties(m, FieldTable::new())?;
                check(
                    "body",
                    m.payload().map_err(|e| e.to_string())?,
                    &map(vec![("plain", Value::Bool(true))]),
                )
            }
            "properties" => check_properties_from_python(m),
            case => check_from_python(case, m),
        },
    )
    .await;

    // Pickle, read as data by a consumer that opts in by name...
    let cases = expected_cases(&["pickle"]);
    consume_and_check(
        ch,
        &pickle_q,
        Accept::new(["pickle"]),
        &cases,
        &mut tally,
        check_from_python,
    )
    .await;

    // ... and refused by the default accept list (JSON, raw data and text only), before any
    // decoder runs; `Accept::all()` reads the same bytes.
    consume_and_check(
        ch,
        &refuse_q,
        Accept::default(),
        &refuse,
        &mut tally,
        |case, m| {
            check_envelope(case, m)?;
            let (kind, _) = parse_case(case);
            let (content_type, _) = content_of(kind);
            match (kind, m.payload()) {
                ("json" | "raw" | "text", Ok(v)) => check("body", v, &value_from_python(kind)),
                ("json" | "raw" | "text", Err(e)) => Err(format!("refused: {e}")),
                (_, Ok(v)) => Err(format!("accepted {content_type} by default: {v}")),
                (_, Err(e)) if !e.is_content_disallowed() => {
                    Err(format!("not a content-disallowed error: {e}"))
                }
                (_, Err(e)) if !e.to_string().contains(content_type) => {
                    Err(format!("the error does not name {content_type}: {e}"))
                }
                (_, Err(_)) => {
                    let all = Registry::new()
                        .decode(
                            m.body(),
                            m.content_type(),
                            m.content_encoding(),
                            Some(&Accept::all()),
                        )
                        .map_err(|e| format!("Accept::all() failed: {e}"))?;
                    check("body with Accept::all()", &all, &value_from_python(kind))
                }
            }
        },
    )
    .await;

    delete(ch, &[&main_q, &pickle_q, &refuse_q]).await;
    io.conn.close().await.unwrap();
    tally.finish("python -> rust");
}

// ---------------------------------------------------------------------------------------------
// 2. Rust publishes, Python consumes.

/// The kinds Rust publishes. No pickle: Rust never writes pickle (decode-only by design).
fn rust_kinds() -> Vec<&'static str> {
    let mut kinds = vec![
        "json", "yaml", "msgpack", "raw", "text", "jpeg", "csv", "latin1", "empty",
    ];
    if cfg!(feature = "python-types") {
        kinds.push("special");
    }
    kinds
}

/// The Rust value a serialized kind carries.
fn rust_value(kind: &str) -> Value {
    match kind {
        "json" | "yaml" => doc(),
        "msgpack" => with(doc(), vec![("blob", Value::Bytes(BLOB.to_vec()))]),
        other => panic!("{other} is not serialized"),
    }
}

async fn publish_rust_case(
    producer: &Producer,
    queue: &str,
    kind: &str,
    codec: Option<&str>,
    case: &str,
) -> kombu::Result<()> {
    macro_rules! send {
        ($publish:expr) => {{
            let mut p = $publish.routing_key(queue).header("x-case", case);
            if let Some(codec) = codec {
                p = p.compression(codec);
            }
            p.await
        }};
    }
    match kind {
        "json" | "yaml" | "msgpack" => {
            let value = rust_value(kind);
            send!(producer.publish(&value).serializer(kind))
        }
        "raw" => send!(producer.publish_body(RAW)),
        "text" => send!(producer.publish_body(TEXT)),
        "jpeg" => send!(producer.publish_body(JPEG).content_type("image/jpeg")),
        "csv" => send!(producer.publish_body(CSV).content_type("text/csv")),
        "latin1" => send!(producer
            .publish_body(LATIN1)
            .content_type("text/csv")
            .content_encoding("latin-1")),
        "empty" => send!(producer.publish_body(Vec::new())),
        #[cfg(feature = "python-types")]
        "special" => {
            let value = special::special();
            send!(producer.publish(&value))
        }
        other => panic!("unknown kind {other}"),
    }
}

/// What Python's report says about a matrix message Rust sent.
fn python_expectation(case: &str) -> serde_json::Value {
    let (kind, codec) = parse_case(case);
    let (content_type, encoding) = content_of(kind);
    let mut headers = json!({"x-case": ["str", case]});
    if let Some(codec) = codec {
        headers["compression"] = json!(["str", mime_of(codec)]);
    }
    let body = match kind {
        "json" | "yaml" | "msgpack" => py_describe(&rust_value(kind)),
        "raw" => py_describe(&Value::Bytes(RAW.to_vec())),
        "text" => py_describe(&TEXT.into()),
        "jpeg" => py_describe(&Value::Bytes(JPEG.to_vec())),
        "csv" => py_describe(&CSV.into()),
        "latin1" => py_describe(&LATIN1.into()),
        // py-amqp hands an empty body over as `''` (str), whoever published it: Python kombu
        // publishing b"" to itself gets the same. Decompressed, it is b"".
        "empty" if codec.is_none() => py_describe(&"".into()),
        "empty" => py_describe(&Value::Bytes(Vec::new())),
        #[cfg(feature = "python-types")]
        "special" => special::described(),
        other => panic!("unknown kind {other}"),
    };
    json!({
        "content_type": content_type,
        "content_encoding": encoding,
        "headers": headers,
        "properties": {
            "content_type": content_type,
            "content_encoding": encoding,
            "delivery_mode": 2,
            "priority": 0,
        },
        "body": body,
    })
}

/// Compare one entry of a Python report with what was expected, naming what differs.
fn diff_entry(got: &serde_json::Value, want: &serde_json::Value) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let mut out = Vec::new();
    if let Some(error) = got.get("error").and_then(serde_json::Value::as_str) {
        out.push(format!("Python kombu could not decode it: {error}"));
    }
    let keys: std::collections::BTreeSet<&String> = got
        .as_object()
        .into_iter()
        .chain(want.as_object())
        .flat_map(|m| m.keys())
        .filter(|k| *k != "error")
        .collect();
    for k in keys {
        match (got.get(k), want.get(k)) {
            (a, b) if a == b => {}
            (None, Some(_)) if k == "body" && !out.is_empty() => {}
            (a, b) => out.push(format!(
                "{k}: Python got {}, expected {}",
                a.map_or("nothing".into(), |v| v.to_string()),
                b.map_or("nothing".into(), |v| v.to_string())
            )),
        }
    }
    Err(out.join("; "))
}

#[tokio::test]
async fn rust_publishes_python_consumes() {
    let Some(io) = interop().await else { return };
    let ch = &io.channel;
    let queue = test_queue("to-python");
    declare(ch, &queue).await;
    let producer = Producer::new(ch);
    let mut sent: Vec<(String, serde_json::Value)> = Vec::new();

    // A plain publish: exactly the properties Python kombu sets itself.
    producer
        .publish(&json!({"plain": true}))
        .routing_key(queue.name.as_str())
        .await
        .unwrap();
    sent.push((
        "plain".into(),
        json!({
            "content_type": "application/json",
            "content_encoding": "utf-8",
            "headers": {},
            "properties": {
                "content_type": "application/json",
                "content_encoding": "utf-8",
                "delivery_mode": 2,
                "priority": 0,
            },
            "body": {"dict": {"plain": ["bool", "True"]}},
        }),
    ));

    // Every property and header type a Python peer reads.
    let mut table = FieldTable::new();
    table.insert("k".into(), "v".into());
    producer
        .publish(&json!({"op": "properties"}))
        .routing_key(queue.name.as_str())
        .header("x-case", "properties")
        .header("x-str", "value \u{2713}")
        .header("x-int", 42i32)
        .header("x-neg", -7i64)
        .header("x-big", 1i64 << 40)
        .header("x-bool", true)
        .header("x-float", 1.5f64)
        .header(
            "x-list",
            vec![FieldValue::I32(1), FieldValue::String("a".into())],
        )
        .header("x-table", table)
        .priority(7)
        .expiration(Duration::from_secs(120))
        .reply_to("reply.queue")
        .correlation_id("corr-123")
        .message_id("msg-456")
        .timestamp(1_714_566_600)
        .kind("interop.test")
        .app_id("kombu-rs")
        .await
        .unwrap();
    sent.push((
        "properties".into(),
        json!({
            "content_type": "application/json",
            "content_encoding": "utf-8",
            "headers": {
                "x-case": ["str", "properties"],
                "x-str": ["str", "value \u{2713}"],
                "x-int": ["int", "42"],
                "x-neg": ["int", "-7"],
                "x-big": ["int", "1099511627776"],
                "x-bool": ["bool", "True"],
                "x-float": ["float", "1.5"],
                "x-list": {"list": [["int", "1"], ["str", "a"]]},
                "x-table": {"dict": {"k": ["str", "v"]}},
            },
            "properties": {
                "content_type": "application/json",
                "content_encoding": "utf-8",
                "delivery_mode": 2,
                "priority": 7,
                "expiration": "120000",
                "reply_to": "reply.queue",
                "correlation_id": "corr-123",
                "message_id": "msg-456",
                "timestamp": 1_714_566_600,
                "type": "interop.test",
                "app_id": "kombu-rs",
            },
            "body": {"dict": {"op": ["str", "properties"]}},
        }),
    ));

    let mut tally = Tally::default();
    for codec in CODECS {
        if let Some(c) = codec {
            let c = Compression::from_name(c).unwrap();
            if !c.is_available() {
                eprintln!(
                    "skipped codec {c}: not compiled in (build with --all-features or feature `{}`)",
                    c.feature().unwrap_or_default()
                );
                continue;
            }
        }
        for kind in rust_kinds() {
            if kind == "latin1" && codec.is_some() {
                // Python kombu cannot read a compressed latin-1 body even from Python: py-amqp
                // decodes every body with its content encoding before kombu decompresses it,
                // and latin-1 decodes any bytes, so kombu's decompress gets `str` (TypeError).
                continue;
            }
            let case = format!("{kind}+{}", codec_suffix(codec));
            match publish_rust_case(&producer, &queue.name, kind, codec, &case).await {
                Ok(()) => sent.push((case.clone(), python_expectation(&case))),
                Err(e) => tally.record(case, Err(format!("Rust could not publish: {e}"))),
            }
        }
    }

    let count = sent.len().to_string();
    let report = Script::start(&io.python, "consume.py", &[URL, &queue.name, &count])
        .finish()
        .await;
    let got = report["messages"].as_array().unwrap();
    for (i, (case, want)) in sent.iter().enumerate() {
        let outcome = match got.get(i) {
            None => Err("Python did not receive it".to_owned()),
            Some(entry) => diff_entry(entry, want),
        };
        tally.record(case.as_str(), outcome);
    }
    delete(ch, &[&queue]).await;
    io.conn.close().await.unwrap();
    tally.finish("rust -> python");
}

// ---------------------------------------------------------------------------------------------
// 3. Request/reply.

const RPC_SERIALIZERS: [&str; 3] = ["json", "msgpack", "yaml"];

fn rpc_request(n: i64, serializer: &str, from: &str) -> Value {
    map(vec![
        ("op", "add".into()),
        ("args", Value::List(vec![Value::Int(n), Value::Int(40)])),
        ("from", from.into()),
        ("serializer", serializer.into()),
    ])
}

fn rpc_reply(request: &Value, n: i64, from: &str) -> Value {
    map(vec![
        ("result", Value::Int(n + 40)),
        ("echo", request.clone()),
        ("from", from.into()),
    ])
}

/// (a) Python sends requests with `reply_to`/`correlation_id`; Rust answers each with
/// `Producer::reply`; Python's `collect_replies` receives them.
#[tokio::test]
async fn python_requests_rust_replies() {
    let Some(io) = interop().await else { return };
    let ch = &io.channel;
    let requests = test_queue("rpc-to-rust");
    declare(ch, &requests).await;
    let reply_queue = unique("rpc-replies-to-python");
    let prefix = unique("corr");
    let python = Script::start(
        &io.python,
        "rpc_client.py",
        &[
            URL,
            &requests.name,
            &reply_queue,
            &prefix,
            &RPC_SERIALIZERS.join(","),
        ],
    );

    let mut tally = Tally::default();
    let mut consumer = Consumer::new(ch, [requests.clone()]).accept(Accept::new(RPC_SERIALIZERS));
    consumer.consume().await.unwrap();
    let producer = Producer::new(ch);
    for (n, serializer) in (0i64..).zip(RPC_SERIALIZERS) {
        let case = format!("request-{serializer}");
        let request = match consumer.recv(WAIT).await {
            Ok(m) => m,
            Err(e) => {
                tally.record(case, Err(format!("no request: {e}")));
                continue;
            }
        };
        let outcome = (|| {
            let p = request.properties();
            let want_type = content_of(serializer).0;
            check("content_type", request.content_type(), Some(want_type))?;
            check(
                "reply_to",
                p.reply_to.as_deref(),
                Some(reply_queue.as_str()),
            )?;
            let corr = format!("{prefix}-{serializer}");
            check("correlation_id", p.correlation_id.as_deref(), Some(&*corr))?;
            let body = request.payload().map_err(|e| e.to_string())?;
            check("body", body, &rpc_request(n, serializer, "python"))
        })();
        let body = request.payload().cloned().unwrap_or(Value::Null);
        let reply = rpc_reply(&body, n, "rust");
        let sent = match producer.reply(&request, &reply) {
            Ok(publish) => publish.await.map_err(|e| format!("reply failed: {e}")),
            Err(e) => Err(format!("reply refused: {e}")),
        };
        request.ack().unwrap();
        tally.record(case, outcome.and(sent));
    }
    consumer.cancel().await.unwrap();

    let report = python.finish().await;
    let replies = report["replies"].as_array().unwrap();
    for (n, serializer) in (0i64..).zip(RPC_SERIALIZERS) {
        let corr = format!("{prefix}-{serializer}");
        let case = format!("reply-{serializer}");
        let Some(got) = replies
            .iter()
            .find(|r| r["properties"]["correlation_id"] == corr.as_str())
        else {
            tally.record(
                case,
                Err(format!("collect_replies got no reply {corr}: {replies:?}")),
            );
            continue;
        };
        let (content_type, encoding) = content_of(serializer);
        let want = json!({
            "content_type": content_type,
            "content_encoding": encoding,
            "headers": {},
            "properties": {
                "content_type": content_type,
                "content_encoding": encoding,
                "correlation_id": corr,
                "delivery_mode": 2,
                "priority": 0,
            },
            "body": py_describe(&rpc_reply(&rpc_request(n, serializer, "python"), n, "rust")),
        });
        tally.record(case, diff_entry(got, &want));
    }
    delete(ch, &[&requests]).await;
    io.conn.close().await.unwrap();
    tally.finish("python requests, rust replies");
}

/// (b) Rust sends requests with `reply_to`/`correlation_id`; Python answers with
/// `kombu.common.send_reply`; Rust picks its replies out by correlation id.
#[tokio::test]
async fn rust_requests_python_replies() {
    let Some(io) = interop().await else { return };
    let ch = &io.channel;
    let requests = test_queue("rpc-to-python");
    let replies = test_queue("rpc-replies-to-rust").exclusive(true);
    declare(ch, &requests).await;
    declare(ch, &replies).await;
    let prefix = unique("corr");
    let producer = Producer::new(ch);

    // Something else in the reply queue first: only correlation ids tell replies apart.
    producer
        .publish(&json!({"not": "ours"}))
        .routing_key(replies.name.as_str())
        .correlation_id("someone-else")
        .await
        .unwrap();
    for (n, serializer) in (0i64..).zip(RPC_SERIALIZERS) {
        producer
            .publish(&rpc_request(n, serializer, "rust"))
            .serializer(serializer)
            .routing_key(requests.name.as_str())
            .reply_to(replies.name.as_str())
            .correlation_id(format!("{prefix}-{serializer}"))
            .await
            .unwrap();
    }
    let python = Script::start(
        &io.python,
        "rpc_server.py",
        &[URL, &requests.name, &RPC_SERIALIZERS.len().to_string()],
    );

    let mut tally = Tally::default();
    let mut consumer = Consumer::new(ch, [replies.clone()]).accept(Accept::new(RPC_SERIALIZERS));
    consumer.consume().await.unwrap();
    let mut got: BTreeMap<String, Message> = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < RPC_SERIALIZERS.len() && Instant::now() < deadline {
        let Ok(message) = consumer.recv(WAIT).await else {
            break;
        };
        message.ack().unwrap();
        match message.properties().correlation_id.clone() {
            Some(id) if id.starts_with(&prefix) => {
                got.insert(id, message);
            }
            _ => {} // Not a reply to us.
        }
    }
    consumer.cancel().await.unwrap();

    for (n, serializer) in (0i64..).zip(RPC_SERIALIZERS) {
        let corr = format!("{prefix}-{serializer}");
        let outcome = match got.get(&corr) {
            None => Err(format!("no reply with correlation id {corr}")),
            Some(m) => (|| {
                let want_type = content_of(serializer).0;
                check("content_type", m.content_type(), Some(want_type))?;
                check(
                    "delivery_mode",
                    m.properties().delivery_mode,
                    Some(DeliveryMode::Persistent),
                )?;
                let body = m.payload().map_err(|e| e.to_string())?;
                check(
                    "body",
                    body,
                    &rpc_reply(&rpc_request(n, serializer, "rust"), n, "python"),
                )
            })(),
        };
        tally.record(format!("reply-{serializer}"), outcome);
    }

    // What the Python server saw of the requests.
    let report = python.finish().await;
    let seen = report["requests"].as_array().unwrap();
    for (n, serializer) in (0i64..).zip(RPC_SERIALIZERS) {
        let corr = format!("{prefix}-{serializer}");
        let outcome = match seen
            .iter()
            .find(|r| r["properties"]["correlation_id"] == corr.as_str())
        {
            None => Err(format!("Python saw no request {corr}: {seen:?}")),
            Some(entry) => {
                let content_type = content_of(serializer).0;
                check(
                    "reply_to",
                    entry["properties"]["reply_to"].as_str(),
                    Some(replies.name.as_str()),
                )
                .and(check(
                    "content_type",
                    entry["content_type"].as_str(),
                    Some(content_type),
                ))
                .and(check(
                    "body",
                    &entry["body"],
                    &py_describe(&rpc_request(n, serializer, "rust")),
                ))
            }
        };
        tally.record(format!("request-{serializer}"), outcome);
    }
    delete(ch, &[&requests, &replies]).await;
    io.conn.close().await.unwrap();
    tally.finish("rust requests, python replies");
}

// ---------------------------------------------------------------------------------------------
// Trace context: Rust → Python (opentelemetry-instrumentation-pika) → Rust stays one trace.

#[cfg(feature = "opentelemetry")]
#[tokio::test]
async fn a_trace_crosses_rust_python_and_back_as_one_trace() {
    use opentelemetry::trace::{SpanKind, TracerProvider as _};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use std::future::IntoFuture;
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    let Some(io) = interop().await else { return };
    let has_otel = Command::new(&io.python)
        .args(["-c", "import pika, opentelemetry.instrumentation.pika"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_otel {
        let problem =
            "the interop venv lacks pika and OpenTelemetry: run kombu/tests/interop/setup.sh";
        assert!(!broker_required(), "{problem}");
        eprintln!("skipped: {problem}");
        return;
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("kombu-interop")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let q = test_queue("otel-in");
    let reply = test_queue("otel-reply");
    declare(&io.channel, &q).await;
    declare(&io.channel, &reply).await;
    let mut consumer = Consumer::new(&io.channel, [reply.clone()]);
    consumer.consume().await.unwrap();
    Producer::new(&io.channel)
        .routing_key(q.name.as_str())
        .publish(&json!({ "order": 7 }))
        .message_id("rust-1")
        .into_future()
        .instrument(tracing::info_span!("checkout"))
        .await
        .unwrap();
    let relay = Script::start(&io.python, "otel_relay.py", &[URL, &q.name, &reply.name]);
    let shutdown = kombu::Shutdown::new(Duration::from_secs(5));
    let replies = std::sync::Mutex::new(Vec::new());
    let run = consumer.run(
        kombu::RunOptions::new().shutdown(shutdown.clone()),
        async |message| {
            replies
                .lock()
                .unwrap()
                .push(message.headers().cloned().unwrap_or_default());
            shutdown.token().cancel();
            kombu::Disposition::Ack
        },
    );
    tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .expect("the reply from Python arrived")
        .unwrap();
    let report = relay.finish().await;
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    delete(&io.channel, &[&q, &reply]).await;

    // Rust's publish span, and the header it wrote (a string, which Python reads).
    let publish = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Producer)
        .expect("Rust's publish span");
    let trace = publish.span_context.trace_id().to_string();
    let received = &report["received"]["headers"]["traceparent"];
    assert_eq!(received["type"], "str", "{report}");
    assert_eq!(
        received["value"],
        format!("00-{trace}-{}-01", publish.span_context.span_id()),
        "{report}"
    );
    // Python's consumer span continued it.
    let python_spans = report["spans"].as_array().unwrap();
    let python_consumer = python_spans
        .iter()
        .find(|s| s["kind"] == "CONSUMER")
        .unwrap_or_else(|| panic!("Python's consumer span: {report}"));
    assert_eq!(python_consumer["trace_id"], trace.as_str());
    assert_eq!(
        python_consumer["parent_span_id"],
        publish.span_context.span_id().to_string()
    );
    assert_eq!(python_consumer["parent_is_remote"], true);
    // Python's reply carries a span of that trace, which chains up to its consumer span.
    let sent = report["published"]["headers"]["traceparent"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("Python's reply traceparent: {report}"));
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts[1], trace, "Python's reply is in the same trace");
    let mut at = parts[2].to_owned();
    let mut hops = 0;
    while at != python_consumer["span_id"] {
        let span = python_spans
            .iter()
            .find(|s| s["span_id"] == at.as_str())
            .unwrap_or_else(|| panic!("span {at} is not one of Python's: {report}"));
        at = span["parent_span_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        hops += 1;
        assert!(hops < 10, "{report}");
    }
    // Back in Rust: the reply's process span continues the same trace, under Python's span.
    let replies = replies.into_inner().unwrap();
    assert_eq!(replies.len(), 1);
    let process = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Consumer)
        .expect("Rust's process span for the reply");
    assert_eq!(process.span_context.trace_id().to_string(), trace);
    assert_eq!(process.parent_span_id.to_string(), parts[2]);
    io.conn.close().await.unwrap();
}
