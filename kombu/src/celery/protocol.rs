//! Celery's task message, version 2 as Celery 5.x writes it (read and written), and version 1
//! (read only, from old senders): headers, body `[args, kwargs, embed]` and properties. The
//! facts, with their sources, are in `docs/celery-protocol.md`.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::{Error, ErrorKind, FieldTable, FieldValue, Message, Result};

/// A task signature as Celery puts one in `link`, `link_error` and `chain`: the task, its
/// arguments and its `apply_async` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// The task's name.
    pub task: String,
    /// Positional arguments (the parent's result is put first unless `immutable`).
    #[serde(default)]
    pub args: Vec<Json>,
    /// Keyword arguments.
    #[serde(default)]
    pub kwargs: Map<String, Json>,
    /// `apply_async` options: `task_id`, `reply_to`, `queue`, `priority`, ...
    #[serde(default)]
    pub options: Map<String, Json>,
    /// `null` for a plain task; `"chain"`, `"group"`, `"chord"`, ... for a composite one.
    #[serde(default)]
    pub subtask_type: Option<String>,
    /// Whether the parent's result is left out of its arguments.
    #[serde(default)]
    pub immutable: bool,
}

impl Signature {
    /// A signature of `task` with no arguments.
    pub fn new(task: impl Into<String>) -> Self {
        Signature {
            task: task.into(),
            args: Vec::new(),
            kwargs: Map::new(),
            options: Map::new(),
            subtask_type: None,
            immutable: false,
        }
    }

    /// With these positional arguments.
    pub fn args(mut self, args: Vec<Json>) -> Self {
        self.args = args;
        self
    }

    /// With an `apply_async` option (`queue`, `task_id`, `reply_to`, `priority`, ...).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<Json>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }

    /// Its `task_id` option, if it has one.
    pub fn task_id(&self) -> Option<&str> {
        self.options.get("task_id").and_then(Json::as_str)
    }

    /// An option that is a string (`reply_to`, `queue`, `exchange`, `routing_key`).
    pub fn option_str(&self, key: &str) -> Option<&str> {
        self.options.get(key).and_then(Json::as_str)
    }
}

/// The third element of a protocol 2 body: what runs after the task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    /// Tasks sent with the result on success (`link`).
    #[serde(default)]
    pub callbacks: Option<Vec<Signature>>,
    /// Tasks sent with the task id on failure (`link_error`).
    #[serde(default)]
    pub errbacks: Option<Vec<Signature>>,
    /// The rest of a chain, last step first: the next step is the last element.
    #[serde(default)]
    pub chain: Option<Vec<Signature>>,
    /// A chord's body (the `rpc://` backend does not support chords).
    #[serde(default)]
    pub chord: Option<Json>,
}

/// One task message: what a sender writes and a worker reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMessage {
    /// The task's registered name (`tasks.add`).
    pub task: String,
    /// The task id (a UUID string); also the message's `correlation_id`.
    pub id: String,
    /// Positional arguments.
    pub args: Vec<Json>,
    /// Keyword arguments.
    pub kwargs: Map<String, Json>,
    /// Callbacks, errbacks and the rest of a chain.
    pub embed: Embed,
    /// The id of the task that started the workflow (the task's own id when it is the first).
    pub root_id: String,
    /// The id of the task that sent this one.
    pub parent_id: Option<String>,
    /// The group it belongs to.
    pub group: Option<String>,
    /// Its place in the group.
    pub group_index: Option<i64>,
    /// How many times it was retried.
    pub retries: u32,
    /// Not before this time.
    pub eta: Option<DateTime<Utc>>,
    /// Not after this time (it is then revoked as expired).
    pub expires: Option<DateTime<Utc>>,
    /// Hard and soft time limits.
    pub time_limit: Option<Duration>,
    /// The soft time limit.
    pub soft_time_limit: Option<Duration>,
    /// The display name a worker uses instead of `task`.
    pub shadow: Option<String>,
    /// The arguments as the sender shows them (Python's `repr`).
    pub argsrepr: String,
    /// The keyword arguments as the sender shows them.
    pub kwargsrepr: String,
    /// Who sent it: `gen<pid>@<host>`.
    pub origin: String,
    /// Whether no result is wanted; `None` when the header is missing (the task decides).
    pub ignore_result: Option<bool>,
    /// The queue the result goes to (`rpc://`), the sender's reply queue.
    pub reply_to: Option<String>,
    /// How many times `Task.replace` replaced it.
    pub replaced_task_nesting: i64,
    /// Headers that are not Celery's, kept as they came (a retry sends them again).
    pub extra_headers: FieldTable,
    /// Which protocol it came in (1 or 2); written messages are always 2.
    pub protocol: u8,
}

/// The Celery headers of protocol 2, the keys [`TaskMessage::extra_headers`] leaves out.
const CELERY_HEADERS: &[&str] = &[
    "lang",
    "task",
    "id",
    "shadow",
    "eta",
    "expires",
    "group",
    "group_index",
    "retries",
    "timelimit",
    "root_id",
    "parent_id",
    "argsrepr",
    "kwargsrepr",
    "origin",
    "ignore_result",
    "replaced_task_nesting",
    "stamped_headers",
    "stamps",
    "meth",
];

impl TaskMessage {
    /// A message for `task` with a new id, no arguments and the defaults Celery uses.
    pub fn new(task: impl Into<String>) -> Self {
        let id = new_task_id();
        TaskMessage {
            task: task.into(),
            root_id: id.clone(),
            id,
            args: Vec::new(),
            kwargs: Map::new(),
            embed: Embed::default(),
            parent_id: None,
            group: None,
            group_index: None,
            retries: 0,
            eta: None,
            expires: None,
            time_limit: None,
            soft_time_limit: None,
            shadow: None,
            argsrepr: String::new(),
            kwargsrepr: String::new(),
            origin: origin(),
            ignore_result: Some(false),
            reply_to: None,
            replaced_task_nesting: 0,
            extra_headers: FieldTable::new(),
            protocol: 2,
        }
    }

    /// The AMQP headers of protocol 2: every Celery header, an unset one as void (as Python
    /// sends `None`), then the extra headers.
    pub fn headers(&self) -> FieldTable {
        let mut h = self.extra_headers.clone();
        let opt_str = |v: &Option<String>| match v {
            Some(s) => FieldValue::String(s.clone()),
            None => FieldValue::Void,
        };
        let time = |t: &Option<DateTime<Utc>>| match t {
            Some(t) => FieldValue::String(format_time(t)),
            None => FieldValue::Void,
        };
        let limit = |d: &Option<Duration>| match d {
            Some(d) if d.subsec_nanos() == 0 => {
                FieldValue::int(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            }
            Some(d) => FieldValue::F64(d.as_secs_f64()),
            None => FieldValue::Void,
        };
        let argsrepr = if self.argsrepr.is_empty() {
            python_repr_args(&self.args)
        } else {
            self.argsrepr.clone()
        };
        let kwargsrepr = if self.kwargsrepr.is_empty() {
            python_repr(&Json::Object(self.kwargs.clone()))
        } else {
            self.kwargsrepr.clone()
        };
        let entries = [
            ("lang", FieldValue::String("py".into())),
            ("task", FieldValue::String(self.task.clone())),
            ("id", FieldValue::String(self.id.clone())),
            ("shadow", opt_str(&self.shadow)),
            ("eta", time(&self.eta)),
            ("expires", time(&self.expires)),
            ("group", opt_str(&self.group)),
            (
                "group_index",
                self.group_index.map_or(FieldValue::Void, FieldValue::int),
            ),
            ("retries", FieldValue::int(i64::from(self.retries))),
            (
                "timelimit",
                FieldValue::Array(vec![limit(&self.time_limit), limit(&self.soft_time_limit)]),
            ),
            ("root_id", FieldValue::String(self.root_id.clone())),
            ("parent_id", opt_str(&self.parent_id)),
            ("argsrepr", FieldValue::String(argsrepr)),
            ("kwargsrepr", FieldValue::String(kwargsrepr)),
            ("origin", FieldValue::String(self.origin.clone())),
            (
                "ignore_result",
                FieldValue::Bool(self.ignore_result.unwrap_or(false)),
            ),
            (
                "replaced_task_nesting",
                FieldValue::int(self.replaced_task_nesting),
            ),
            ("stamped_headers", FieldValue::Void),
            ("stamps", FieldValue::Table(FieldTable::new())),
        ];
        for (k, v) in entries {
            h.insert(k.to_owned(), v);
        }
        h
    }

    /// The protocol 2 body: `[args, kwargs, embed]` as JSON, `embed` always an object.
    pub fn body(&self) -> Json {
        let embed = serde_json::to_value(&self.embed).unwrap_or(Json::Null);
        Json::Array(vec![
            Json::Array(self.args.clone()),
            Json::Object(self.kwargs.clone()),
            embed,
        ])
    }

    /// Reads a delivered task message: protocol 2 (the `task` header), or protocol 1 (the
    /// task in a body object). Anything else is a `Decode` error that says why.
    pub fn from_message(message: &Message) -> Result<TaskMessage> {
        let headers = message.headers();
        let body = body_json(message)?;
        match headers.and_then(|h| h.get("task")) {
            Some(task) => {
                let headers = headers.cloned().unwrap_or_default();
                let task = task
                    .as_str()
                    .ok_or_else(|| invalid("the `task` header is not a string"))?
                    .to_owned();
                Self::from_v2(task, headers, body, message)
            }
            None => Self::from_v1(body, message),
        }
    }

    fn from_v2(
        task: String,
        headers: FieldTable,
        body: Json,
        message: &Message,
    ) -> Result<TaskMessage> {
        let get_str = |k: &str| {
            headers
                .get(k)
                .and_then(FieldValue::as_str)
                .map(str::to_owned)
        };
        let id = get_str("id").ok_or_else(|| invalid("the `id` header is missing"))?;
        let (args, kwargs, embed) = match body {
            // A hybrid message: protocol 2 headers and a protocol 1 body.
            Json::Object(ref fields) if fields.contains_key("args") => (
                list(fields.get("args"))?,
                map(fields.get("kwargs"))?,
                Embed {
                    callbacks: signatures(fields.get("callbacks"))?,
                    errbacks: signatures(fields.get("errbacks"))?,
                    chain: None,
                    chord: fields.get("chord").cloned().filter(|c| !c.is_null()),
                },
            ),
            Json::Array(mut parts) if parts.len() == 3 => {
                let embed = parts.pop().unwrap_or(Json::Null);
                let kwargs = parts.pop().unwrap_or(Json::Null);
                let args = parts.pop().unwrap_or(Json::Null);
                let embed = match embed {
                    Json::Null => Embed::default(),
                    e => serde_json::from_value(e)
                        .map_err(|e| invalid(format!("the body's embed: {e}")))?,
                };
                (list(Some(&args))?, map(Some(&kwargs))?, embed)
            }
            _ => {
                return Err(invalid(
                    "the body is not [args, kwargs, embed] (protocol 2) or a task object",
                ))
            }
        };
        let (time_limit, soft_time_limit) = time_limits(headers.get("timelimit"))?;
        let extra_headers = headers
            .iter()
            .filter(|(k, _)| kept_header(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(TaskMessage {
            root_id: get_str("root_id").unwrap_or_else(|| id.clone()),
            parent_id: get_str("parent_id"),
            group: get_str("group"),
            group_index: headers.get("group_index").and_then(FieldValue::as_i64),
            retries: headers
                .get("retries")
                .and_then(FieldValue::as_i64)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(0),
            eta: parse_time_header(headers.get("eta"), "eta")?,
            expires: parse_time_header(headers.get("expires"), "expires")?,
            time_limit,
            soft_time_limit,
            shadow: get_str("shadow"),
            argsrepr: get_str("argsrepr").unwrap_or_default(),
            kwargsrepr: get_str("kwargsrepr").unwrap_or_default(),
            origin: get_str("origin").unwrap_or_default(),
            ignore_result: match headers.get("ignore_result") {
                Some(FieldValue::Bool(b)) => Some(*b),
                _ => None,
            },
            reply_to: reply_to(message),
            replaced_task_nesting: headers
                .get("replaced_task_nesting")
                .and_then(FieldValue::as_i64)
                .unwrap_or(0),
            extra_headers,
            task,
            id,
            args,
            kwargs,
            embed,
            protocol: 2,
        })
    }

    fn from_v1(body: Json, message: &Message) -> Result<TaskMessage> {
        let Json::Object(fields) = body else {
            return Err(invalid(
                "no `task` header, and the body is not a protocol 1 task object",
            ));
        };
        let get_str = |k: &str| fields.get(k).and_then(Json::as_str).map(str::to_owned);
        let task = get_str("task").ok_or_else(|| {
            invalid("no `task` header (protocol 2) and no `task` in the body (protocol 1)")
        })?;
        let id = get_str("id").ok_or_else(|| invalid("the task object has no `id`"))?;
        let limits = fields.get("timelimit").map(json_to_field);
        let (time_limit, soft_time_limit) = time_limits(limits.as_ref())?;
        let parse = |k: &str| match fields.get(k) {
            Some(Json::String(s)) => parse_time(s)
                .map(Some)
                .map_err(|e| invalid(format!("`{k}`: {e}"))),
            _ => Ok(None),
        };
        Ok(TaskMessage {
            args: list(fields.get("args"))?,
            kwargs: map(fields.get("kwargs"))?,
            embed: Embed {
                callbacks: signatures(fields.get("callbacks"))?,
                errbacks: signatures(fields.get("errbacks"))?,
                chain: None,
                chord: fields.get("chord").cloned().filter(|c| !c.is_null()),
            },
            root_id: id.clone(),
            parent_id: None,
            group: get_str("taskset").or_else(|| get_str("group")),
            group_index: fields.get("group_index").and_then(Json::as_i64),
            retries: fields
                .get("retries")
                .and_then(Json::as_u64)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(0),
            eta: parse("eta")?,
            expires: parse("expires")?,
            time_limit,
            soft_time_limit,
            shadow: None,
            argsrepr: String::new(),
            kwargsrepr: String::new(),
            origin: String::new(),
            ignore_result: None,
            reply_to: reply_to(message),
            replaced_task_nesting: 0,
            extra_headers: (message.headers().into_iter().flatten())
                .filter(|(k, _)| kept_header(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            task,
            id,
            protocol: 1,
        })
    }
}

/// Whether a header that came with a task is sent again with it (a retry): not Celery's own
/// (they are written from the fields), not kombu's `compression` (the body was decompressed
/// on arrival and goes out as it is), and not the broker's dead-lettering record (`x-death`,
/// `x-first-death-*`, `x-last-death-*`, `x-delivery-count`), which Celery drops too.
fn kept_header(key: &str) -> bool {
    !(CELERY_HEADERS.contains(&key)
        || key == "compression"
        || key == "x-death"
        || key == "x-delivery-count"
        || key.starts_with("x-first-death-")
        || key.starts_with("x-last-death-"))
}

fn reply_to(message: &Message) -> Option<String> {
    message
        .properties()
        .reply_to
        .clone()
        .filter(|r| !r.is_empty())
}

fn invalid(why: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("not a Celery task message: {}", why.into()),
    )
}

fn list(v: Option<&Json>) -> Result<Vec<Json>> {
    match v {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(a)) => Ok(a.clone()),
        Some(other) => Err(invalid(format!("args is not a list: {other}"))),
    }
}

fn map(v: Option<&Json>) -> Result<Map<String, Json>> {
    match v {
        None | Some(Json::Null) => Ok(Map::new()),
        Some(Json::Object(m)) => Ok(m.clone()),
        Some(other) => Err(invalid(format!("kwargs is not an object: {other}"))),
    }
}

fn signatures(v: Option<&Json>) -> Result<Option<Vec<Signature>>> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| invalid(format!("a callback is not a signature: {e}"))),
    }
}

pub(super) fn json_to_field(v: &Json) -> FieldValue {
    match v {
        Json::Null => FieldValue::Void,
        Json::Bool(b) => FieldValue::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::int(i),
            None => FieldValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => FieldValue::String(s.clone()),
        Json::Array(a) => FieldValue::Array(a.iter().map(json_to_field).collect()),
        Json::Object(o) => FieldValue::Table(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_field(v)))
                .collect(),
        ),
    }
}

/// `timelimit`: `[hard, soft]`, each seconds or void.
fn time_limits(v: Option<&FieldValue>) -> Result<(Option<Duration>, Option<Duration>)> {
    let seconds = |v: &FieldValue| -> Result<Option<Duration>> {
        let secs = match v {
            FieldValue::Void => return Ok(None),
            FieldValue::F32(f) => f64::from(*f),
            FieldValue::F64(f) => *f,
            other => match other.as_i64() {
                Some(i) => i as f64,
                None => return Err(invalid(format!("a time limit is a {}", other.type_name()))),
            },
        };
        if secs > 0.0 {
            // (Too large for a `Duration`: no limit to speak of.)
            Ok(Duration::try_from_secs_f64(secs).ok())
        } else {
            Ok(None)
        }
    };
    match v {
        None | Some(FieldValue::Void) => Ok((None, None)),
        Some(FieldValue::Array(a)) if a.len() == 2 => Ok((seconds(&a[0])?, seconds(&a[1])?)),
        Some(_) => Err(invalid("`timelimit` is not [hard, soft]")),
    }
}

fn parse_time_header(v: Option<&FieldValue>, name: &str) -> Result<Option<DateTime<Utc>>> {
    match v {
        None | Some(FieldValue::Void) => Ok(None),
        Some(FieldValue::String(s)) => parse_time(s)
            .map(Some)
            .map_err(|e| invalid(format!("`{name}`: {e}"))),
        Some(FieldValue::Timestamp(t)) => Ok(DateTime::from_timestamp(
            i64::try_from(*t).unwrap_or(i64::MAX),
            0,
        )),
        Some(other) => Err(invalid(format!("`{name}` is a {}", other.type_name()))),
    }
}

/// An ISO 8601 time as Python's `isoformat()` writes it (`+00:00`, another offset, `Z`, or no
/// offset, which Celery reads as UTC).
pub fn parse_time(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!("`{s}` is not an ISO 8601 time"))
}

/// A time as Celery writes one: `2026-03-26T12:00:00.123456+00:00`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Now, in UTC.
pub(super) fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

/// A new task id: a random (version 4) UUID in its hyphenated form, as Celery makes them.
pub fn new_task_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// `gen<pid>@<host>`, as Celery names a sender that is not a worker.
fn origin() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("gen{}@{host}", std::process::id())
}

/// Arguments as Python's `repr` of a tuple shows them: `(2, 2)`, `('a',)`.
fn python_repr_args(args: &[Json]) -> String {
    let inner: Vec<String> = args.iter().map(python_repr).collect();
    let text = match inner.len() {
        1 => format!("({},)", inner[0]),
        _ => format!("({})", inner.join(", ")),
    };
    truncate_repr(text)
}

/// A JSON value as Python's `repr` shows it (`None`, `True`, `'text'`, `{'k': 1}`).
fn python_repr(v: &Json) -> String {
    let text = match v {
        Json::Null => "None".to_owned(),
        Json::Bool(true) => "True".to_owned(),
        Json::Bool(false) => "False".to_owned(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(s.len() + 2);
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Json::Array(a) => format!(
            "[{}]",
            a.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    python_repr(&Json::String(k.clone())),
                    python_repr(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    truncate_repr(text)
}

/// Celery cuts `argsrepr` and `kwargsrepr` at 1,024 characters.
fn truncate_repr(text: String) -> String {
    const MAX: usize = 1024;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

/// The most bytes a task message's arguments may hold (Python `bytes` values): each becomes a
/// JSON number, tens of bytes of memory.
const MAX_ARGUMENT_BYTES: usize = 1 << 20;

/// The body as JSON: parsed directly, or, when it holds what JSON values cannot (Python
/// `bytes` arguments, which kombu's JSON sends wrapped), read as a `Value` and converted, if
/// it is a list or a map whose bytes stay within [`MAX_ARGUMENT_BYTES`].
fn body_json(message: &Message) -> Result<Json> {
    let direct = match message.decode::<Json>() {
        Ok(body) => return Ok(body),
        Err(e) if e.is_decode() => e,
        Err(e) => return Err(e),
    };
    let value = message.decode::<crate::Value>()?;
    if !matches!(value, crate::Value::List(_) | crate::Value::Map(_)) {
        return Err(direct);
    }
    if bytes_in(&value) > MAX_ARGUMENT_BYTES {
        return Err(invalid(format!(
            "its arguments hold more than {MAX_ARGUMENT_BYTES} bytes of binary data"
        )));
    }
    Ok(json_of(value))
}

/// How many bytes the `Bytes` values in `value` hold.
fn bytes_in(value: &crate::Value) -> usize {
    match value {
        crate::Value::Bytes(b) => b.len(),
        crate::Value::List(items) => items.iter().map(bytes_in).sum(),
        crate::Value::Map(entries) => entries.iter().map(|(k, v)| bytes_in(k) + bytes_in(v)).sum(),
        _ => 0,
    }
}

/// A decoded body as JSON. Bytes (Python `bytes` arguments, which kombu's JSON sends wrapped
/// and msgpack and pickle carry as such) become a list of numbers, as a `Vec<u8>` reads them;
/// a map key that is not text becomes its JSON text; a float that JSON cannot hold, `null`.
fn json_of(value: crate::Value) -> Json {
    use crate::Value as V;
    match value {
        V::Null => Json::Null,
        V::Bool(b) => Json::Bool(b),
        V::Int(i) => Json::from(i),
        V::UInt(u) => Json::from(u),
        V::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        V::String(s) => Json::String(s),
        V::Bytes(b) => Json::Array(b.into_iter().map(Json::from).collect()),
        V::List(items) => Json::Array(items.into_iter().map(json_of).collect()),
        V::Map(entries) => Json::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        V::String(s) => s,
                        other => json_of(other).to_string(),
                    };
                    (key, json_of(v))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headers_are_all_of_celerys_with_void_for_none() {
        let mut m = TaskMessage::new("add");
        m.args = vec![json!(2), json!(2)];
        m.kwargs.insert("z".into(), json!("it's"));
        m.time_limit = Some(Duration::from_secs(5));
        let h = m.headers();
        assert_eq!(h.len(), 19, "{h:?}");
        assert_eq!(h["lang"].as_str(), Some("py"));
        assert_eq!(h["root_id"].as_str(), Some(m.id.as_str()));
        assert!(matches!(h["shadow"], FieldValue::Void));
        assert!(matches!(h["stamped_headers"], FieldValue::Void));
        assert_eq!(h["argsrepr"].as_str(), Some("(2, 2)"));
        assert_eq!(h["kwargsrepr"].as_str(), Some("{'z': \"it's\"}"));
        match &h["timelimit"] {
            FieldValue::Array(a) => {
                assert_eq!(a[0].as_i64(), Some(5));
                assert!(matches!(a[1], FieldValue::Void));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            m.body(),
            json!([[2, 2], {"z": "it's"}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}])
        );
    }

    #[test]
    fn times_read_as_python_writes_them() {
        let t = parse_time("2026-12-07T22:11:19.423997+00:00").unwrap();
        assert_eq!(format_time(&t), "2026-12-07T22:11:19.423997+00:00");
        assert_eq!(
            parse_time("2026-12-07T22:11:19Z").unwrap().timestamp(),
            t.timestamp()
        );
        assert_eq!(
            parse_time("2026-12-07T23:11:19.423997+01:00").unwrap(),
            t,
            "an offset is converted"
        );
        assert_eq!(
            parse_time("2026-12-07T22:11:19.423997").unwrap(),
            t,
            "naive is UTC"
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn one_argument_reprs_as_a_one_tuple() {
        assert_eq!(python_repr_args(&[json!("a")]), "('a',)");
        assert_eq!(python_repr_args(&[]), "()");
        assert_eq!(python_repr(&json!([null, true, 1.5])), "[None, True, 1.5]");
        assert_eq!(
            python_repr_args(&[json!("x".repeat(2000))]).chars().count(),
            1027
        );
    }
}
