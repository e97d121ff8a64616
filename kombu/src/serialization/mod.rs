//! The serializer registry: turning values into bodies and bodies back into values, with the
//! content-type rules of Python kombu.
//!
//! Built in: `json` (the default), `yaml`, `msgpack`, `pickle` (decode only, read as plain data,
//! never constructing objects) and `raw`. More can be registered ([`Serializer`],
//! [`Registry::register`], or the process-wide [`register`]).
//!
//! Decoding follows Python kombu exactly (see [`Registry::decode`]): a missing content type means
//! `application/data`, a missing encoding `utf-8`; the accept list is checked before any decoder
//! runs; an empty body is returned as it is; a type with no decoder gives text for text encodings
//! and bytes for `binary`. Every built-in decoder bounds how deep a body nests and how much
//! it may expand (YAML aliases, pickle memo references), so a hostile body is a decode error,
//! never a stack overflow or an exhausted memory. What this module does not own: compression
//! (see [`crate::compression`]), which wraps the serialized bytes.

mod accept;
mod json;
mod limits;
mod msgpack;
mod pickle;
mod yaml;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::fxhash::FxHashMap;
use crate::sync;
use crate::value::Value;

pub use accept::Accept;

/// `application/json`.
pub const JSON: &str = "application/json";
/// `application/x-yaml`.
pub const YAML: &str = "application/x-yaml";
/// `application/x-msgpack`.
pub const MSGPACK: &str = "application/x-msgpack";
/// `application/x-python-serialize` (pickle).
pub const PICKLE: &str = "application/x-python-serialize";
/// `application/data`: raw bytes.
pub const DATA: &str = "application/data";
/// `text/plain`.
pub const TEXT: &str = "text/plain";

/// A serialized body with the properties that describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The body bytes.
    pub body: Vec<u8>,
    /// The `content_type` property.
    pub content_type: String,
    /// The `content_encoding` property.
    pub content_encoding: String,
}

/// A body given without a serializer: sent as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Bytes: `application/data`, encoding `binary` unless a content type/encoding is given.
    Bytes(Vec<u8>),
    /// Text: `text/plain`, encoding `utf-8` unless a content type/encoding is given.
    Text(String),
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::Bytes(b)
    }
}
impl From<&[u8]> for Body {
    fn from(b: &[u8]) -> Self {
        Body::Bytes(b.to_vec())
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Text(s)
    }
}
impl From<&str> for Body {
    fn from(s: &str) -> Self {
        Body::Text(s.to_owned())
    }
}

/// A user-supplied serializer, registered under a name and a content type.
pub trait Serializer: Send + Sync + 'static {
    /// The name producers select it by (`"json"`, `"cbor"`, ...).
    fn name(&self) -> &str;
    /// The `content_type` it writes and the type it decodes.
    fn content_type(&self) -> &str;
    /// The `content_encoding` it writes (`"utf-8"` or `"binary"`, usually).
    fn content_encoding(&self) -> &str;
    /// Encode a value.
    fn encode(&self, value: &Value) -> Result<Vec<u8>>;
    /// Decode a body.
    fn decode(&self, body: &[u8]) -> Result<Value>;
}

#[derive(Clone)]
enum Codec {
    Json,
    Yaml,
    Msgpack,
    Pickle,
    Raw,
    Custom(Arc<dyn Serializer>),
}

#[derive(Clone)]
struct Entry {
    name: String,
    content_type: String,
    content_encoding: String,
    codec: Codec,
}

/// A set of serializers, by name and by content type.
#[derive(Clone)]
pub struct Registry {
    entries: Vec<Entry>,
    by_name: FxHashMap<String, usize>,
    by_type: FxHashMap<String, usize>,
    default: String,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("serializers", &self.by_name.keys().collect::<Vec<_>>())
            .field("default", &self.default)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

const SKIP_DECODE: [&str; 2] = ["binary", "ascii-8bit"];

impl Registry {
    /// A registry with the built-in serializers and `json` as the default.
    pub fn new() -> Self {
        let mut r = Registry {
            entries: Vec::new(),
            by_name: FxHashMap::default(),
            by_type: FxHashMap::default(),
            default: "json".to_owned(),
        };
        r.insert("json", JSON, "utf-8", Codec::Json);
        r.insert("yaml", YAML, "utf-8", Codec::Yaml);
        r.insert("msgpack", MSGPACK, "binary", Codec::Msgpack);
        r.insert("pickle", PICKLE, "binary", Codec::Pickle);
        // `raw` encodes only: `application/data` has no decoder, so it decodes by encoding rules.
        r.entries.push(Entry {
            name: "raw".into(),
            content_type: DATA.into(),
            content_encoding: "binary".into(),
            codec: Codec::Raw,
        });
        r.by_name.insert("raw".into(), r.entries.len() - 1);
        r
    }

    fn insert(&mut self, name: &str, content_type: &str, encoding: &str, codec: Codec) {
        let entry = Entry {
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            content_encoding: encoding.to_owned(),
            codec,
        };
        let index = match self.by_name.get(name) {
            Some(&i) => {
                let old_type = std::mem::take(&mut self.entries[i].content_type);
                self.by_type.remove(&old_type);
                self.entries[i] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.by_name.insert(name.to_owned(), index);
        self.by_type.insert(content_type.to_owned(), index);
    }

    /// Register (or replace) a serializer under its name and content type.
    pub fn register(&mut self, serializer: impl Serializer) {
        let name = serializer.name().to_owned();
        let content_type = serializer.content_type().to_owned();
        let encoding = serializer.content_encoding().to_owned();
        self.insert(
            &name,
            &content_type,
            &encoding,
            Codec::Custom(Arc::new(serializer)),
        );
    }

    /// Remove a serializer by name or content type.
    pub fn unregister(&mut self, name_or_type: &str) -> Result<()> {
        let index = self.index(name_or_type)?;
        let entry = &self.entries[index];
        let (name, ctype) = (entry.name.clone(), entry.content_type.clone());
        self.by_name.remove(&name);
        if self.by_type.get(&ctype) == Some(&index) {
            self.by_type.remove(&ctype);
        }
        Ok(())
    }

    /// The serializer used when a producer names none.
    pub fn default_serializer(&self) -> &str {
        &self.default
    }

    /// Set the default serializer by name.
    pub fn set_default(&mut self, name: &str) -> Result<()> {
        self.index(name)?;
        self.default = name.to_owned();
        Ok(())
    }

    fn index(&self, name_or_type: &str) -> Result<usize> {
        self.by_name
            .get(name_or_type)
            .or_else(|| self.by_type.get(name_or_type))
            .copied()
            .ok_or_else(|| {
                let mut known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
                known.sort_unstable();
                Error::new(
                    ErrorKind::SerializerNotInstalled,
                    format!(
                        "no serializer `{name_or_type}` is registered (known: {})",
                        known.join(", ")
                    ),
                )
            })
    }

    /// The name of the serializer registered for a content type, if any.
    pub fn name_of(&self, content_type: &str) -> Option<&str> {
        self.by_type
            .get(content_type)
            .map(|&i| self.entries[i].name.as_str())
    }

    /// The content type registered for a serializer name (or the type itself if it is one).
    pub fn content_type_of(&self, name_or_type: &str) -> Result<&str> {
        Ok(&self.entries[self.index(name_or_type)?].content_type)
    }

    /// Serialize a value with the named serializer (the default when `None`).
    pub fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        serializer: Option<&str>,
    ) -> Result<Encoded> {
        let entry = &self.entries[self.index(serializer.unwrap_or(&self.default))?];
        let fail = |e: &dyn std::fmt::Display| {
            Error::encode(format!("cannot encode with `{}`: {e}", entry.name))
        };
        let body = match &entry.codec {
            Codec::Json => serde_json::to_vec(value).map_err(|e| fail(&e))?,
            Codec::Yaml => serde_norway::to_string(value)
                .map_err(|e| fail(&e))?
                .into_bytes(),
            Codec::Msgpack => rmp_serde::to_vec_named(value).map_err(|e| fail(&e))?,
            Codec::Pickle => return Err(Error::encode(
                "pickle is decode-only in kombu: Rust never writes pickles; use json or msgpack",
            )),
            Codec::Raw => {
                let body = match Value::from_serialize(value)? {
                    Value::Bytes(b) => Body::Bytes(b),
                    Value::String(s) => Body::Text(s),
                    Value::List(items) => Body::Bytes(
                        items
                            .iter()
                            .map(|v| v.as_i64().and_then(|i| u8::try_from(i).ok()))
                            .collect::<Option<Vec<u8>>>()
                            .ok_or_else(|| fail(&"raw takes bytes or text"))?,
                    ),
                    _ => return Err(fail(&"raw takes bytes or text")),
                };
                return self.encode_body(body, Some(DATA), None);
            }
            Codec::Custom(s) => s.encode(&Value::from_serialize(value)?)?,
        };
        Ok(Encoded {
            body,
            content_type: entry.content_type.clone(),
            content_encoding: entry.content_encoding.clone(),
        })
    }

    /// A body sent without serialization, as Python kombu does for `bytes` and `str`: bytes are
    /// `application/data`/`binary`, text `text/plain`/`utf-8`, unless a content type (and
    /// encoding) is given. Text is encoded with its encoding (`utf-8`, `us-ascii` or
    /// `latin-1`); a character the encoding cannot hold, or another encoding, is an encode
    /// error.
    pub fn encode_body(
        &self,
        body: Body,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Result<Encoded> {
        let (body, default_type, encoding) = match body {
            Body::Bytes(b) => (b, DATA, content_encoding.unwrap_or("binary").to_owned()),
            Body::Text(t) => {
                let encoding = content_encoding.unwrap_or("utf-8");
                (encode_text(t, encoding)?, TEXT, encoding.to_owned())
            }
        };
        Ok(Encoded {
            body,
            content_type: content_type.unwrap_or(default_type).to_owned(),
            content_encoding: encoding,
        })
    }

    /// Decode a body to a [`Value`], by Python kombu's rules:
    ///
    /// 1. a missing `content_type` is `application/data`;
    /// 2. when an accept list is given, a type outside it (and outside the always-trusted
    ///    `application/data`, `application/text`, `text/plain`) is refused before any decoder
    ///    runs;
    /// 3. a missing encoding is `utf-8`;
    /// 4. an empty body is returned as it is (empty bytes);
    /// 5. a registered decoder for the type decodes it;
    /// 6. otherwise text encodings give text and `binary` gives bytes.
    pub fn decode(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        accept: Option<&Accept>,
    ) -> Result<Value> {
        let content_type = content_type.filter(|t| !t.is_empty()).unwrap_or(DATA);
        if let Some(accept) = accept {
            accept.check(content_type, self)?;
        }
        if body.is_empty() {
            return Ok(Value::Bytes(Vec::new()));
        }
        if let Some(&index) = self.by_type.get(content_type) {
            let entry = &self.entries[index];
            return match &entry.codec {
                Codec::Json => json::decode(body),
                Codec::Yaml => yaml::decode(body),
                Codec::Msgpack => msgpack::decode(body),
                Codec::Pickle => pickle::decode(body),
                Codec::Raw => Ok(Value::Bytes(body.to_vec())),
                Codec::Custom(s) => s.decode(body),
            };
        }
        let encoding = content_encoding
            .filter(|e| !e.is_empty())
            .unwrap_or("utf-8")
            .to_ascii_lowercase();
        if SKIP_DECODE.contains(&encoding.as_str()) {
            return Ok(Value::Bytes(body.to_vec()));
        }
        decode_text(body, &encoding).map(Value::String)
    }

    /// Decode a body into a typed value; the same rules as [`Registry::decode`]. JSON without
    /// `__type__` wrappers is read straight into `T`, with no intermediate value.
    pub fn decode_as<T: DeserializeOwned>(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        accept: Option<&Accept>,
    ) -> Result<T> {
        let ctype = content_type.filter(|t| !t.is_empty()).unwrap_or(DATA);
        if ctype == JSON
            && !body.is_empty()
            && matches!(
                self.by_type.get(JSON).map(|&i| &self.entries[i].codec),
                Some(Codec::Json)
            )
            && !json::has_type_wrapper(body)
        {
            if let Some(accept) = accept {
                accept.check(ctype, self)?;
            }
            return serde_json::from_slice(body).map_err(|e| {
                Error::decode(format!("JSON body does not match the expected type: {e}"))
            });
        }
        self.decode(body, content_type, content_encoding, accept)?
            .deserialize_into()
    }
}

/// Encode text in a named encoding (the ones [`decode_text`] reads).
fn encode_text(text: String, encoding: &str) -> Result<Vec<u8>> {
    let narrow = |limit: u32, name: &str| -> Result<Vec<u8>> {
        text.chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .ok()
                    .filter(|&b| u32::from(b) <= limit)
                    .ok_or_else(|| Error::encode(format!("{c:?} cannot be encoded as {name}")))
            })
            .collect()
    };
    match encoding.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Ok(text.into_bytes()),
        "ascii" | "us-ascii" => narrow(0x7f, "us-ascii"),
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" => narrow(0xff, "latin-1"),
        other => Err(Error::encode(format!(
            "cannot encode text as `{other}` (known: utf-8, us-ascii, latin-1); send bytes with that content encoding instead"
        ))),
    }
}

/// Decode text in a named encoding (the ones Python kombu peers send).
fn decode_text(body: &[u8], encoding: &str) -> Result<String> {
    match encoding {
        "utf-8" | "utf8" => String::from_utf8(body.to_vec())
            .map_err(|e| Error::decode(format!("body is not valid utf-8: {e}"))),
        "ascii" | "us-ascii" => {
            if body.is_ascii() {
                Ok(body.iter().map(|&b| char::from(b)).collect())
            } else {
                Err(Error::decode("body is not valid us-ascii"))
            }
        }
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" => {
            Ok(body.iter().map(|&b| char::from(b)).collect())
        }
        other => Err(Error::decode(format!(
            "unknown content encoding `{other}` (known: utf-8, us-ascii, latin-1, binary)"
        ))),
    }
}

fn global_cell() -> &'static RwLock<Arc<Registry>> {
    static GLOBAL: OnceLock<RwLock<Arc<Registry>>> = OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(Arc::new(Registry::new())))
}

/// Bumped after each change of the process-wide registry: a thread's cached copy of an older
/// generation is read again.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's copy of the process-wide registry, and its generation: taking the registry
    /// per message costs a reference count, not the global lock.
    static CACHED: RefCell<Option<(u64, Arc<Registry>)>> = const { RefCell::new(None) };
}

/// The process-wide registry that producers and consumers use unless given their own.
pub fn registry() -> Arc<Registry> {
    let generation = GENERATION.load(Ordering::Acquire);
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        match &*cached {
            Some((seen, registry)) if *seen == generation => Arc::clone(registry),
            _ => {
                // Read after the generation: at least as new as the change that set it.
                let registry = Arc::clone(&sync::read(global_cell()));
                *cached = Some((generation, Arc::clone(&registry)));
                registry
            }
        }
    })
}

/// Register a serializer in the process-wide registry.
pub fn register(serializer: impl Serializer) {
    Arc::make_mut(&mut sync::write(global_cell())).register(serializer);
    GENERATION.fetch_add(1, Ordering::Release);
}

#[cfg(test)]
mod tests;
