//! An AsyncAPI document as a topology. A 2.x document is first brought to 3.0's shape
//! (`upgrade`: its `subscribe` operations send, its `publish` operations receive). Then:
//! a channel with an AMQP `routingKey` binding is an exchange, one with a `queue` binding a
//! queue; a `send` operation is a producer method (its exchange is its channel's, its routing
//! key the `cc` or else the channel's address), a `receive` one a consumer of its channel's
//! queue; a message's payload schema becomes a message type (objects its fields, nested
//! objects and referenced schemas message types of their own, a `oneOf` told apart by a
//! constant property an enum message). `x-kombu-*` extensions, which `kombu asyncapi` writes,
//! give back what AsyncAPI has no field for. Whatever has no place in a topology is returned
//! as a list of notes, each naming where it is.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use kombu::topology::TypeExpr;
use kombu::topology::{
    At, BindingDef, ConsumeDef, ConsumerDef, ExchangeDef, FieldDef, MessageDef, MethodDef,
    ProducerDef, QueueDef, TopologyModel, VariantDef,
};
use kombu::DeliveryMode;
use serde_json::{Map, Value};

use super::*;

/// What a channel is, once read.
#[derive(Clone)]
enum Channel {
    /// An exchange (`""` for the default one), and the routing key its address names (when
    /// the address is not the exchange's name).
    Exchange { name: String, key: Option<String> },
    /// A queue.
    Queue(String),
    /// Left out (a note says why).
    Skipped,
}

struct Reader<'a> {
    doc: &'a Value,
    model: TopologyModel,
    notes: Vec<String>,
    channels: HashMap<String, Channel>,
    /// A message object's pointer → its message type's name.
    messages: HashMap<String, String>,
    /// A schema's pointer → the message type made of it.
    schemas: HashMap<String, String>,
    /// String schemas that list their allowed values (read as plain strings).
    enums: Vec<String>,
    /// Message type names given out, and the last suffix used for each base name.
    taken: HashSet<String>,
    bases: HashMap<String, usize>,
    /// Referenced object schemas whose message types are named but not read yet (read one
    /// after the other, not by recursion: a chain of references is as long as a document
    /// makes it).
    deferred: Vec<(String, String)>,
    /// Schemas being read (a cycle that is not through a message type is any JSON value),
    /// and how deep.
    reading: HashSet<String>,
    depth: usize,
    /// Producer methods and message types made so far (a document that multiplies them is
    /// refused past [`MAX_ITEMS`]).
    items: usize,
}

pub(crate) fn topology(doc: &Value) -> Result<(TopologyModel, Vec<String>), String> {
    let version = doc
        .get("asyncapi")
        .and_then(Value::as_str)
        .ok_or("not an AsyncAPI document (no `asyncapi` version)")?;
    let upgraded;
    let doc = if version.starts_with("3.") {
        doc
    } else if version.starts_with("2.") {
        upgraded = upgrade(doc);
        &upgraded
    } else {
        return Err(format!(
            "AsyncAPI {version}: only 2.x and 3.x documents are read"
        ));
    };
    let mut r = Reader {
        doc,
        model: TopologyModel {
            version: 1,
            ..TopologyModel::default()
        },
        notes: Vec::new(),
        channels: HashMap::new(),
        messages: HashMap::new(),
        schemas: HashMap::new(),
        enums: Vec::new(),
        taken: HashSet::new(),
        bases: HashMap::new(),
        deferred: Vec::new(),
        reading: HashSet::new(),
        depth: 0,
        items: 0,
    };
    r.model.description = doc
        .pointer("/info/description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    r.messages()?;
    r.channels()?;
    r.operations()?;
    r.extensions()?;
    r.general_notes();
    r.order_messages();
    Ok((r.model, r.notes))
}

/// The most producer methods plus message types an import makes: past it, a document is
/// refused rather than written out (an operation without messages takes every message of
/// its channel, so a small document can ask for millions).
const MAX_ITEMS: usize = 50_000;
/// How deep schemas that are not message types may nest (arrays of arrays, ...).
const MAX_DEPTH: usize = 16;

impl Reader<'_> {
    /// Every message object of the document (components' and channels' inline ones) gets a
    /// message type.
    fn messages(&mut self) -> Result<(), String> {
        let doc = self.doc;
        if let Some(Value::Object(ms)) = doc.pointer("/components/messages") {
            for (id, _) in ms {
                let ptr = format!("/components/messages/{}", escape(id));
                self.message(&ptr)?;
            }
        }
        if let Some(Value::Object(channels)) = doc.get("channels") {
            for (cid, c) in channels {
                if let Some(Value::Object(ms)) = c.get("messages") {
                    for (id, _) in ms {
                        let ptr = format!("/channels/{}/messages/{}", escape(cid), escape(id));
                        self.message(&ptr)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The message type of the message object at `ptr` (a reference is followed).
    fn message(&mut self, ptr: &str) -> Result<Option<String>, String> {
        let Some((m, target)) = follow(self.doc, ptr, &mut self.notes) else {
            return Ok(None);
        };
        if let Some(name) = self.messages.get(&target) {
            let name = name.clone();
            self.messages.insert(ptr.to_owned(), name.clone());
            return Ok(Some(name));
        }
        let id = target.rsplit('/').next().map(unescape).unwrap_or_default();
        let wanted = m
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or(id);
        let (payload_ptr, schema) = match m.get("payload") {
            Some(_) => self.payload(&format!("{target}/payload"), &wanted)?,
            None => {
                self.notes.push(format!(
                    "message `{wanted}` ({target}) has no payload schema: it is taken as any JSON value"
                ));
                (String::new(), None)
            }
        };
        // A schema already read (a field of a message read before holds it) is this message.
        let name = match self.schemas.get(&payload_ptr) {
            Some(existing) => existing.clone(),
            None => {
                let name = self.free_message_name(&wanted)?;
                self.messages.insert(target.clone(), name.clone());
                let def = match schema {
                    Some(schema) => {
                        self.schemas.insert(payload_ptr.clone(), name.clone());
                        self.model
                            .messages
                            .insert(name.clone(), MessageDef::default());
                        self.message_def(&name, &schema, &payload_ptr)?
                    }
                    None => any_value(),
                };
                self.model.messages.insert(name.clone(), def);
                self.read_deferred()?;
                name
            }
        };
        self.messages.insert(target.clone(), name.clone());
        self.messages.insert(ptr.to_owned(), name.clone());
        for key in ["headers", "correlationId", "traits"] {
            if m.get(key).is_some() {
                self.notes.push(format!(
                    "message `{name}` ({target}): its `{key}` (a topology's message types are bodies only)"
                ));
            }
        }
        let ext = m.get(X_MESSAGE).cloned().unwrap_or(Value::Null);
        let Some(def) = self.model.messages.get_mut(&name) else {
            return Ok(Some(name));
        };
        if def.description.is_none() {
            def.description = m
                .get("description")
                .or_else(|| m.get("summary"))
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        if let Some(r) = ext.get("rust_name").and_then(Value::as_str) {
            def.rust_name = Some(At::from(r));
        }
        if let Some(r) = ext.get("rust").and_then(Value::as_str) {
            *def = MessageDef {
                description: def.description.take(),
                rust_name: def.rust_name.take(),
                rust: Some(At::from(r)),
                ..MessageDef::default()
            };
        }
        if let Some(c) = ext.get("compatibility") {
            def.compatibility = serde_json::from_value(c.clone())
                .map_err(|e| format!("{target}: {X_MESSAGE}.compatibility: {e}"))?;
        }
        Ok(Some(name))
    }

    /// A message's payload schema (a multi-format schema's inner schema when it is JSON
    /// Schema), with its pointer after references.
    fn payload(&mut self, ptr: &str, name: &str) -> Result<(String, Option<Value>), String> {
        let Some((p, target)) = follow(self.doc, ptr, &mut self.notes) else {
            return Ok((ptr.to_owned(), None));
        };
        if let Some(format) = p.get("schemaFormat").and_then(Value::as_str) {
            // AsyncAPI's own schemas, JSON Schema and OpenAPI's are read; Avro, RAML, ... not.
            let json_schema = ["aai.asyncapi", "schema+json", "schema+yaml", "oai.openapi"]
                .iter()
                .any(|f| format.contains(f));
            if !json_schema {
                self.notes.push(format!(
                    "message `{name}`: its payload is a `{format}` schema, which is not read: it is taken as any JSON value"
                ));
                return Ok((target, None));
            }
            let inner = format!("{target}/schema");
            return match follow(self.doc, &inner, &mut self.notes) {
                Some((s, t)) => Ok((t, Some(s.clone()))),
                None => Ok((inner, None)),
            };
        }
        Ok((target, Some(p.clone())))
    }

    /// A name for a new message type: `wanted` with what a name cannot hold replaced by `_`,
    /// never a type of its own (`string`), unique.
    fn free_message_name(&mut self, wanted: &str) -> Result<String, String> {
        self.free_name(wanted, false)
    }

    /// A name for a message type a field refers to: never a type's own name (a field of a
    /// message named `string` would be a string).
    fn free_field_message_name(&mut self, wanted: &str) -> Result<String, String> {
        self.free_name(wanted, true)
    }

    fn free_name(&mut self, wanted: &str, for_field: bool) -> Result<String, String> {
        self.count()?;
        let mut base: String = wanted
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if base.is_empty() {
            base = "message".to_owned();
        }
        if for_field && TypeExpr::parse(&base).is_ok_and(|t| !matches!(t, TypeExpr::Message(_))) {
            base.push_str("_message");
        }
        let mut candidate = base.clone();
        let n = self.bases.entry(base.clone()).or_insert(1);
        while self.taken.contains(&candidate) {
            *n += 1;
            candidate = format!("{base}_{n}");
        }
        self.taken.insert(candidate.clone());
        Ok(candidate)
    }

    /// One more method or message type, within [`MAX_ITEMS`].
    fn count(&mut self) -> Result<(), String> {
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(format!(
                "the document asks for more than {MAX_ITEMS} producer methods and message types: refused"
            ));
        }
        Ok(())
    }

    /// Reads the referenced schemas named so far.
    fn read_deferred(&mut self) -> Result<(), String> {
        while let Some((name, target)) = self.deferred.pop() {
            let Some((schema, _)) = follow(self.doc, &target, &mut self.notes) else {
                continue;
            };
            let schema = schema.clone();
            let def = self.message_def(&name, &schema, &target)?;
            self.model.messages.insert(name, def);
        }
        Ok(())
    }

    /// The message types in the order of the document's `components.messages` (the order a
    /// topology kombu wrote had), those only referenced after.
    fn order_messages(&mut self) {
        let mut rank: HashMap<&str, usize> = HashMap::new();
        if let Some(Value::Object(ms)) = self.doc.pointer("/components/messages") {
            for (i, id) in ms.keys().enumerate() {
                let ptr = format!("/components/messages/{}", escape(id));
                if let Some(name) = self.messages.get(&ptr) {
                    rank.entry(name.as_str()).or_insert(i);
                }
            }
        }
        let mut all: Vec<(String, MessageDef)> = self.model.messages.drain(..).collect();
        all.sort_by_key(|(name, _)| rank.get(name.as_str()).copied().unwrap_or(usize::MAX));
        self.model.messages = all.into_iter().collect();
    }

    /// A message type from an object schema (or an enum from a `oneOf` of objects told apart
    /// by one constant property); anything else is any JSON value, noted.
    fn message_def(&mut self, name: &str, s: &Value, ptr: &str) -> Result<MessageDef, String> {
        let merged_schema = merged(self.doc, s);
        let s = &merged_schema;
        let description = s
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(path) = s.get("x-kombu-rust-type").and_then(Value::as_str) {
            return Ok(MessageDef {
                description: description
                    .map(|d| strip_rust_note(&d))
                    .filter(|d| !d.is_empty()),
                rust: Some(At::from(path)),
                ..MessageDef::default()
            });
        }
        if let Some((tag, variants)) = self.tagged(s, ptr) {
            let mut out = IndexMap::new();
            for (value, vptr) in variants {
                let Some((v, vtarget)) = follow(self.doc, &vptr, &mut self.notes) else {
                    continue;
                };
                let v = v.clone();
                let fields = self.fields(name, &v, &vtarget, Some(&tag))?;
                out.insert(
                    At::from(value.as_str()),
                    VariantDef {
                        description: v
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        fields,
                    },
                );
            }
            return Ok(MessageDef {
                description,
                tag: Some(At::from(tag.as_str())),
                variants: Some(out),
                ..MessageDef::default()
            });
        }
        if is_struct(s) {
            let fields = self.fields(name, s, ptr, None)?;
            return Ok(MessageDef {
                description,
                fields: Some(fields),
                ..MessageDef::default()
            });
        }
        self.notes.push(format!(
            "message `{name}` ({ptr}): its payload is not an object with properties, which a message type needs: it is taken as any JSON value"
        ));
        Ok(MessageDef {
            description: description
                .map(|d| strip_rust_note(&d))
                .filter(|d| !d.is_empty()),
            ..any_value()
        })
    }

    /// `(tag, [(value, variant pointer)])` when the schema is a `oneOf`/`anyOf` of objects that
    /// each fix one common property to a constant.
    fn tagged(&mut self, s: &Value, ptr: &str) -> Option<(String, Vec<(String, String)>)> {
        let (key, alternatives) = ["oneOf", "anyOf"]
            .into_iter()
            .find_map(|k| s.get(k).and_then(Value::as_array).map(|a| (k, a)))?;
        let mut tag: Option<String> = s
            .get("discriminator")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut variants = Vec::new();
        for i in 0..alternatives.len() {
            let vptr = format!("{ptr}/{key}/{i}");
            let mut ignored = Vec::new();
            let (v, target) = follow(self.doc, &vptr, &mut ignored)?;
            let props = v.get("properties")?.as_object()?;
            let constant = |p: &Value| -> Option<String> {
                p.get("const")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(
                        || match p.get("enum").and_then(Value::as_array).map(Vec::as_slice) {
                            Some([Value::String(one)]) => Some(one.clone()),
                            _ => None,
                        },
                    )
            };
            let t = match &tag {
                Some(t) => t.clone(),
                None => props.iter().find(|(_, p)| constant(p).is_some())?.0.clone(),
            };
            let value = constant(props.get(&t)?)?;
            tag = Some(t);
            variants.push((value, target));
        }
        Some((tag?, variants))
    }

    /// The fields of an object schema (`skip`: the tag property of a variant).
    fn fields(
        &mut self,
        owner: &str,
        s: &Value,
        ptr: &str,
        skip: Option<&str>,
    ) -> Result<IndexMap<At<String>, At<FieldDef>>, String> {
        let required: HashSet<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = IndexMap::new();
        let Some(props) = s.get("properties").and_then(Value::as_object) else {
            return Ok(out);
        };
        for (prop, p) in props {
            if Some(prop.as_str()) == skip {
                continue;
            }
            let pptr = property_pointer(self.doc, ptr, prop, 0)
                .unwrap_or_else(|| format!("{ptr}/properties/{}", escape(prop)));
            let mut ty = self.field_type(&format!("{owner}_{prop}"), &pptr)?;
            if !required.contains(prop.as_str()) && !ty.starts_with("optional<") {
                ty = format!("optional<{ty}>");
            }
            let description = p
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
            out.insert(
                At::from(prop.as_str()),
                At::new(FieldDef { ty, description }),
            );
        }
        Ok(out)
    }

    /// The type expression of the schema at `ptr`; `name` is what a nested object's message
    /// type is called.
    fn field_type(&mut self, name: &str, ptr: &str) -> Result<String, String> {
        let Some((s, target)) = follow(self.doc, ptr, &mut self.notes) else {
            return Ok("json".to_owned());
        };
        let s = merged(self.doc, s);
        if let Some(existing) = self.schemas.get(&target) {
            if TypeExpr::parse(existing).is_ok_and(|t| !matches!(t, TypeExpr::Message(_))) {
                self.notes.push(format!(
                    "{target}: a field holds message `{existing}`, whose name is a type's: the field is any JSON value"
                ));
                return Ok("json".to_owned());
            }
            return Ok(existing.clone());
        }
        // A referenced object is a message type of its own, named now and read later.
        if target != ptr
            && (is_struct(&s) || (s.get("type").is_none() && self.tagged(&s, &target).is_some()))
        {
            let base = schema_name(&s, &target).unwrap_or_else(|| name.to_owned());
            let message = self.free_field_message_name(&base)?;
            self.schemas.insert(target.clone(), message.clone());
            self.model
                .messages
                .insert(message.clone(), MessageDef::default());
            self.deferred.push((message.clone(), target));
            return Ok(message);
        }
        if self.depth >= MAX_DEPTH || !self.reading.insert(target.clone()) {
            self.notes.push(format!(
                "{target}: nested (16 deep) or referring to itself too deeply to be a field type: any JSON value"
            ));
            return Ok("json".to_owned());
        }
        self.depth += 1;
        let ty = self.field_type_of(name, &s, &target);
        self.depth -= 1;
        self.reading.remove(&target);
        ty
    }

    fn field_type_of(&mut self, name: &str, s: &Value, target: &str) -> Result<String, String> {
        let target = target.to_owned();
        let s = s.clone();
        if let Some(path) = s.get("x-kombu-rust-type").and_then(Value::as_str) {
            if target.starts_with("/components/schemas/") {
                return self.schema_message(name, &s, &target);
            }
            self.notes.push(format!(
                "{target}: the Rust type `{path}` is not a message type of the document: the field is any JSON value"
            ));
            return Ok("json".to_owned());
        }
        // `T` or null.
        if let Some(Value::Array(types)) = s.get("type") {
            let non_null: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            if let [one] = non_null.as_slice() {
                let mut inner = s.clone();
                inner["type"] = Value::from(*one);
                let inner_ty = self.typed(name, &inner, &target)?;
                return Ok(optional(&inner_ty));
            }
            self.notes.push(format!(
                "{target}: a value of several types ({}) is any JSON value",
                non_null.join(", ")
            ));
            return Ok("json".to_owned());
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = s.get(key).and_then(Value::as_array) {
                let nulls = alts
                    .iter()
                    .filter(|a| a.get("type").and_then(Value::as_str) == Some("null"))
                    .count();
                if nulls == 1 && alts.len() == 2 {
                    let i = alts
                        .iter()
                        .position(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                        .unwrap_or(0);
                    let inner = self.field_type(name, &format!("{target}/{key}/{i}"))?;
                    return Ok(optional(&inner));
                }
            }
        }
        self.typed(name, &s, &target)
    }

    fn typed(&mut self, name: &str, s: &Value, target: &str) -> Result<String, String> {
        let ty = s.get("type").and_then(Value::as_str);
        let format = s.get("format").and_then(Value::as_str);
        let is_object = ty == Some("object") || (ty.is_none() && s.get("properties").is_some());
        if s.get("enum").is_some() && ty == Some("string") {
            self.enums.push(target.to_owned());
        }
        Ok(match ty {
            Some("string") => match format {
                Some("date-time") => "timestamp".to_owned(),
                Some("uuid") => "uuid".to_owned(),
                _ => "string".to_owned(),
            },
            Some("boolean") => "bool".to_owned(),
            Some("integer") => integer(s),
            Some("number") => match format {
                Some("float") => "f32".to_owned(),
                _ => "f64".to_owned(),
            },
            Some("array") => {
                if s.get("items").is_none() {
                    return Ok("list<json>".to_owned());
                }
                let items = self.field_type(&format!("{name}_item"), &format!("{target}/items"))?;
                // `bytes` and `list<u8>` are the same JSON; kombu marks its bytes.
                if items == "u8" && s.get("x-kombu-type").and_then(Value::as_str) == Some("bytes") {
                    "bytes".to_owned()
                } else {
                    format!("list<{items}>")
                }
            }
            _ if is_object => {
                // Properties (even none) make a struct; values of one schema a map.
                match s.get("additionalProperties") {
                    _ if s.get("properties").is_some() => self.schema_message(name, s, target)?,
                    Some(Value::Object(_)) => {
                        let inner =
                            self.field_type(name, &format!("{target}/additionalProperties"))?;
                        format!("map<{inner}>")
                    }
                    _ => "json".to_owned(),
                }
            }
            None if s.get("oneOf").is_some() || s.get("anyOf").is_some() => {
                match self.tagged(s, target) {
                    Some(_) => self.schema_message(name, s, target)?,
                    None => {
                        self.notes.push(format!(
                            "{target}: a choice of schemas not told apart by a constant property is any JSON value"
                        ));
                        "json".to_owned()
                    }
                }
            }
            Some("null") => "json".to_owned(),
            None => {
                let said = s.as_object().is_some_and(|o| {
                    o.keys().any(|k| {
                        !matches!(
                            k.as_str(),
                            "description"
                                | "title"
                                | "examples"
                                | "example"
                                | "default"
                                | "$comment"
                        ) && !k.starts_with("x-")
                    })
                });
                if said {
                    self.notes.push(format!(
                        "{target}: a schema without a type kombu reads: any JSON value"
                    ));
                }
                "json".to_owned()
            }
            Some(other) => {
                self.notes
                    .push(format!("{target}: type `{other}` is any JSON value"));
                "json".to_owned()
            }
        })
    }

    /// The message type made of the schema at `target` (a component schema is named after its
    /// title or key, a nested one after its place).
    fn schema_message(&mut self, name: &str, s: &Value, target: &str) -> Result<String, String> {
        if let Some(existing) = self.schemas.get(target) {
            return Ok(existing.clone());
        }
        let base = schema_name(s, target).unwrap_or_else(|| name.to_owned());
        let message = self.free_field_message_name(&base)?;
        self.schemas.insert(target.to_owned(), message.clone());
        // Reserve the name while the fields are read (a cycle refers back to it).
        self.model
            .messages
            .insert(message.clone(), MessageDef::default());
        let def = self.message_def(&message, s, target)?;
        self.model.messages.insert(message.clone(), def);
        Ok(message)
    }

    fn channels(&mut self) -> Result<(), String> {
        let doc = self.doc;
        let has_amqp_server = match doc.get("servers").and_then(Value::as_object) {
            Some(servers) => servers.values().any(|s| {
                matches!(
                    s.get("protocol").and_then(Value::as_str),
                    Some("amqp" | "amqps")
                )
            }),
            None => false,
        };
        let Some(Value::Object(channels)) = doc.get("channels") else {
            return Ok(());
        };
        for (id, _) in channels {
            let ptr = format!("/channels/{}", escape(id));
            let Some((c, _)) = follow(doc, &ptr, &mut self.notes) else {
                self.channels.insert(id.clone(), Channel::Skipped);
                continue;
            };
            // 3.0: an absent or null address is unknown. (A 2.x channel's key is its address,
            // which `upgrade` writes.)
            let address = c.get("address").and_then(Value::as_str).map(str::to_owned);
            let amqp = c
                .pointer("/bindings/amqp")
                .map(|b| follow_value(doc, b).clone());
            let description = c
                .get("description")
                .or_else(|| c.get("summary"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let runtime = address.as_deref().is_none_or(|a| a.contains('{'));
            let channel = match &amqp {
                None if !has_amqp_server => {
                    self.notes.push(format!(
                        "channel `{id}`: no AMQP binding and no AMQP server: not a RabbitMQ channel, left out with its operations"
                    ));
                    Channel::Skipped
                }
                _ if runtime
                    && amqp
                        .as_ref()
                        .and_then(|a| a.pointer("/queue/name"))
                        .is_none()
                    && amqp
                        .as_ref()
                        .and_then(|a| a.pointer("/exchange/name"))
                        .is_none() =>
                {
                    self.notes.push(format!(
                        "channel `{id}`: its address ({}) is chosen at run time (a reply queue, say): not declared, its operations left out",
                        address.as_deref().unwrap_or("null")
                    ));
                    Channel::Skipped
                }
                Some(a)
                    if a.get("is").and_then(Value::as_str) != Some("queue")
                        && a.get("exchange").is_some() =>
                {
                    self.exchange(id, a, address.as_deref(), description)?
                }
                Some(a) if a.get("is").and_then(Value::as_str) == Some("routingKey") => {
                    self.exchange(id, a, address.as_deref(), description)?
                }
                a => {
                    if a.is_none() {
                        self.notes.push(format!(
                            "channel `{id}`: no AMQP binding: taken as the queue `{}`",
                            address.as_deref().unwrap_or(id)
                        ));
                    }
                    let empty = Value::Null;
                    self.queue(
                        id,
                        a.as_ref().unwrap_or(&empty),
                        address.as_deref(),
                        description,
                    )?
                }
            };
            if c.get("parameters").is_some() && !matches!(channel, Channel::Skipped) {
                self.notes.push(format!(
                    "channel `{id}`: its parameters (a topology's names are fixed)"
                ));
            }
            self.channels.insert(id.clone(), channel);
        }
        Ok(())
    }

    fn exchange(
        &mut self,
        id: &str,
        amqp: &Value,
        address: Option<&str>,
        description: Option<String>,
    ) -> Result<Channel, String> {
        let x = amqp.get("exchange").cloned().unwrap_or(Value::Null);
        let ext = amqp.get(X_EXCHANGE).cloned().unwrap_or(Value::Null);
        let kind = x.get("type").and_then(Value::as_str).unwrap_or("direct");
        let name = match x.get("name").and_then(Value::as_str) {
            Some(n) => n.to_owned(),
            None if kind == "default" => String::new(),
            None => address.unwrap_or(id).to_owned(),
        };
        let name = if kind == "default" {
            String::new()
        } else {
            name
        };
        let key = address
            .filter(|a| *a != name && !a.contains('{'))
            .map(str::to_owned);
        let marked = ext.get("predeclared").and_then(Value::as_bool);
        let predeclared = name.is_empty()
            || marked == Some(true)
            || (name.starts_with("amq.") && marked != Some(false));
        if !predeclared {
            let mut def = Map::new();
            // A channel whose address is a routing key describes that key, not the exchange.
            if let Some(d) = description.filter(|_| key.is_none()) {
                def.insert("description".to_owned(), Value::from(d));
            }
            def.insert("type".to_owned(), Value::from(kind));
            for (from, to) in [("durable", "durable"), ("autoDelete", "auto_delete")] {
                if let Some(v) = x.get(from) {
                    def.insert(to.to_owned(), v.clone());
                }
            }
            if let Value::Object(rest) = ext {
                def.extend(rest.into_iter().filter(|(k, _)| k != "predeclared"));
            }
            let def: ExchangeDef = serde_json::from_value(Value::Object(def))
                .map_err(|e| format!("channel `{id}`: the exchange `{name}`: {e}"))?;
            self.model.exchanges.insert(name.clone(), def);
        }
        if let Some(vhost) = x.get("vhost").and_then(Value::as_str) {
            self.vhost(id, vhost);
        }
        Ok(Channel::Exchange { name, key })
    }

    fn queue(
        &mut self,
        id: &str,
        amqp: &Value,
        address: Option<&str>,
        description: Option<String>,
    ) -> Result<Channel, String> {
        let q = amqp.get("queue").cloned().unwrap_or(Value::Null);
        let ext = amqp.get(X_QUEUE).cloned().unwrap_or(Value::Null);
        let name = q
            .get("name")
            .and_then(Value::as_str)
            .or(address)
            .unwrap_or(id)
            .to_owned();
        let mut def = Map::new();
        if let Some(d) = description {
            def.insert("description".to_owned(), Value::from(d));
        }
        for (from, to) in [
            ("durable", "durable"),
            ("exclusive", "exclusive"),
            ("autoDelete", "auto_delete"),
        ] {
            if let Some(v) = q.get(from) {
                def.insert(to.to_owned(), v.clone());
            }
        }
        if let Value::Object(rest) = ext {
            def.extend(rest);
        }
        let def: QueueDef = serde_json::from_value(Value::Object(def))
            .map_err(|e| format!("channel `{id}`: the queue `{name}`: {e}"))?;
        self.model.queues.insert(name.clone(), def);
        if let Some(vhost) = q.get("vhost").and_then(Value::as_str) {
            self.vhost(id, vhost);
        }
        Ok(Channel::Queue(name))
    }

    fn vhost(&mut self, id: &str, vhost: &str) {
        if vhost != "/" {
            let note = format!(
                "channel `{id}`: virtual host `{vhost}` (a topology is declared in the virtual host of the connection: pass it to `kombu apply --vhost`)"
            );
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
    }

    fn operations(&mut self) -> Result<(), String> {
        let doc = self.doc;
        let Some(Value::Object(ops)) = doc.get("operations") else {
            return Ok(());
        };
        for (id, _) in ops {
            let ptr = format!("/operations/{}", escape(id));
            let Some((op, _)) = follow(doc, &ptr, &mut self.notes) else {
                continue;
            };
            let Some(channel_ref) = op.pointer("/channel/$ref").and_then(Value::as_str) else {
                self.notes
                    .push(format!("operation `{id}`: no channel reference: left out"));
                continue;
            };
            let channel_id = channel_ref
                .strip_prefix("#/channels/")
                .map(unescape)
                .unwrap_or_default();
            let Some(channel) = self.channels.get(&channel_id).cloned() else {
                self.notes.push(format!(
                    "operation `{id}`: its channel {channel_ref} is not a channel of the document: left out"
                ));
                continue;
            };
            if matches!(channel, Channel::Skipped) {
                continue;
            }
            // Its messages: those it lists, else every message of its channel.
            let mut refs: Vec<String> = op
                .get("messages")
                .and_then(Value::as_array)
                .map(|ms| {
                    ms.iter()
                        .filter_map(|m| m.get("$ref").and_then(Value::as_str))
                        .filter_map(|r| r.strip_prefix('#').map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if refs.is_empty() {
                if let Some(Value::Object(ms)) =
                    doc.pointer(&format!("/channels/{}/messages", escape(&channel_id)))
                {
                    refs = ms
                        .keys()
                        .map(|m| {
                            format!("/channels/{}/messages/{}", escape(&channel_id), escape(m))
                        })
                        .collect();
                }
            }
            let mut messages = Vec::new();
            for r in refs {
                if let Some(name) = self.message(&r)? {
                    if !messages.contains(&name) {
                        messages.push(name);
                    }
                }
            }
            if messages.is_empty() {
                self.notes
                    .push(format!("operation `{id}`: no message: left out"));
                continue;
            }
            let amqp = op
                .pointer("/bindings/amqp")
                .map(|b| follow_value(doc, b).clone())
                .unwrap_or(Value::Null);
            for key in ["reply", "traits", "security"] {
                if op.get(key).is_some() {
                    self.notes.push(format!(
                        "operation `{id}`: its `{key}` (not held by a producer or consumer)"
                    ));
                }
            }
            match op.get("action").and_then(Value::as_str) {
                Some("send") => self.send(id, op, &amqp, &channel, &messages)?,
                Some("receive") => {
                    // `consumer.queue` (as `kombu asyncapi` names them): the consumer.
                    let consumer = id
                        .strip_suffix(channel_id.as_str())
                        .and_then(|c| c.strip_suffix('.'))
                        .filter(|c| !c.is_empty())
                        .unwrap_or(id);
                    self.receive(id, consumer, op, &amqp, &channel, &messages)?
                }
                other => self.notes.push(format!(
                    "operation `{id}`: action {other:?} is neither send nor receive: left out"
                )),
            }
        }
        Ok(())
    }

    fn send(
        &mut self,
        id: &str,
        op: &Value,
        amqp: &Value,
        channel: &Channel,
        messages: &[String],
    ) -> Result<(), String> {
        let (exchange, channel_key) = match channel {
            Channel::Exchange { name, key } => (name.clone(), key.clone()),
            // Sent to a queue: through the default exchange, by the queue's name.
            Channel::Queue(q) => (String::new(), Some(q.clone())),
            Channel::Skipped => return Ok(()),
        };
        let ext = op.get(X_PRODUCER).cloned().unwrap_or(Value::Null);
        let method_ext = op.get(X_METHOD).cloned().unwrap_or(Value::Null);
        let (producer, method) = match (
            ext.get("name").and_then(Value::as_str),
            method_ext.get("name").and_then(Value::as_str),
        ) {
            (Some(p), Some(m)) => (p.to_owned(), m.to_owned()),
            _ => match id.rsplit_once('.') {
                Some((p, m)) if !p.is_empty() && !m.is_empty() => (p.to_owned(), m.to_owned()),
                _ => (
                    if exchange.is_empty() {
                        "default_exchange".to_owned()
                    } else {
                        exchange.clone()
                    },
                    id.to_owned(),
                ),
            },
        };
        let producer = self.producer_named(&producer, &exchange);
        let delivery_mode = match amqp.get("deliveryMode").and_then(Value::as_u64) {
            Some(1) => DeliveryMode::Transient,
            _ => DeliveryMode::Persistent,
        };
        if !self.model.producers.contains_key(&producer) {
            let mut def = Map::new();
            def.insert("exchange".to_owned(), Value::from(exchange.as_str()));
            if let Value::Object(rest) = &ext {
                def.extend(
                    rest.iter()
                        .filter(|(k, _)| *k != "name")
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
            let mut def: ProducerDef = serde_json::from_value(Value::Object(def))
                .map_err(|e| format!("operation `{id}`: the producer `{producer}`: {e}"))?;
            def.delivery_mode = delivery_mode;
            self.model.producers.insert(producer.clone(), def);
        }
        let cc: Vec<String> = amqp
            .get("cc")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if cc.len() > 1 {
            self.notes.push(format!(
                "operation `{id}`: routing keys {} after the first (a method sends with one)",
                cc[1..].join(", ")
            ));
        }
        for key in [
            "priority",
            "expiration",
            "mandatory",
            "userId",
            "bcc",
            "timestamp",
        ] {
            if amqp.get(key).is_some() {
                self.notes.push(format!(
                    "operation `{id}`: the AMQP `{key}` (a producer method has no such setting)"
                ));
            }
        }
        let Some(p) = self.model.producers.get_mut(&producer) else {
            return Ok(());
        };
        let producer_key = p.routing_key.as_ref().map(|k| k.to_string());
        let key = match method_ext.get("routing_key") {
            Some(Value::String(k)) => Some(k.clone()),
            _ => cc
                .first()
                .cloned()
                .or(channel_key)
                .filter(|k| Some(k) != producer_key.as_ref()),
        };
        let variant = method_ext
            .get("variant")
            .and_then(Value::as_str)
            .map(At::from);
        let headers = match method_ext.get("headers") {
            Some(h) => serde_json::from_value(h.clone())
                .map_err(|e| format!("operation `{id}`: {X_METHOD}.headers: {e}"))?,
            None => kombu::FieldTable::new(),
        };
        let description = op
            .get("description")
            .or_else(|| op.get("summary"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        for message in messages {
            self.items += 1;
            if self.items > MAX_ITEMS {
                return Err(format!(
                    "the document asks for more than {MAX_ITEMS} producer methods and message types: refused"
                ));
            }
            let name = if messages.len() == 1 {
                method.clone()
            } else {
                format!("{method}_{message}")
            };
            p.methods.insert(
                At::from(name.as_str()),
                MethodDef {
                    description: description.clone(),
                    message: At::from(message.as_str()),
                    variant: variant.clone(),
                    routing_key: key.as_deref().map(At::from),
                    headers: headers.clone(),
                },
            );
        }
        Ok(())
    }

    /// A producer name for `exchange`: `name`, unless a producer of that name publishes
    /// elsewhere.
    fn producer_named(&self, name: &str, exchange: &str) -> String {
        let mut candidate = name.to_owned();
        let mut n = 1;
        while self
            .model
            .producers
            .get(&candidate)
            .is_some_and(|p| p.exchange.as_str() != exchange)
        {
            n += 1;
            candidate = format!("{name}_{n}");
        }
        candidate
    }

    fn receive(
        &mut self,
        id: &str,
        consumer: &str,
        op: &Value,
        amqp: &Value,
        channel: &Channel,
        messages: &[String],
    ) -> Result<(), String> {
        let queue = match channel {
            Channel::Queue(q) => q.clone(),
            // From the default exchange by a queue's name: that queue.
            Channel::Exchange {
                name,
                key: Some(queue),
            } if name.is_empty() => {
                self.model.queues.entry(queue.clone()).or_default();
                queue.clone()
            }
            Channel::Exchange { name, key } => {
                // Received from an exchange: through a queue of its own, bound by the
                // operation's key.
                let queue = super::ids::sanitize(id);
                let kind = match self.model.exchanges.get(name) {
                    Some(x) => x.kind.as_str().to_owned(),
                    None => kombu::topology::predeclared(name)
                        .map(|k| k.as_str().to_owned())
                        .unwrap_or_default(),
                };
                let key = amqp
                    .pointer("/cc/0")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or(key.clone())
                    .unwrap_or_else(|| {
                        if kind == "topic" {
                            "#".to_owned()
                        } else {
                            String::new()
                        }
                    });
                self.notes.push(format!(
                    "operation `{id}` receives from the exchange `{name}`: the queue `{queue}` is declared for it, bound with key `{key}`"
                ));
                let def = self.model.queues.entry(queue.clone()).or_default();
                def.bindings.push(BindingDef {
                    exchange: At::from(name.as_str()),
                    routing_key: At::from(key.as_str()),
                    ..binding()
                });
                queue
            }
            Channel::Skipped => return Ok(()),
        };
        let ext = op.get(X_CONSUMER).cloned().unwrap_or(Value::Null);
        let how = op.get(X_CONSUME).cloned().unwrap_or(Value::Null);
        let consumer = match ext.get("name").and_then(Value::as_str) {
            Some(n) => n.to_owned(),
            None => consumer.to_owned(),
        };
        if amqp.get("ack") == Some(&Value::Bool(false)) {
            self.notes.push(format!(
                "operation `{id}`: `ack: false` (a kombu consumer acknowledges each message)"
            ));
        }
        if messages.len() > 1 {
            self.notes.push(format!(
                "operation `{id}` receives {} message types; a consumer reads one per queue: `{}` is taken, {} left out",
                messages.len(),
                messages[0],
                messages[1..].join(", ")
            ));
        }
        if !self.model.consumers.contains_key(&consumer) {
            let mut def = Map::new();
            def.insert("queues".to_owned(), Value::Object(Map::new()));
            if let Value::Object(rest) = &ext {
                def.extend(
                    rest.iter()
                        .filter(|(k, _)| *k != "name")
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
            let def: ConsumerDef = serde_json::from_value(Value::Object(def))
                .map_err(|e| format!("operation `{id}`: the consumer `{consumer}`: {e}"))?;
            self.model.consumers.insert(consumer.clone(), def);
        }
        let offset = match how.get("offset") {
            Some(o) => Some(
                serde_json::from_value(o.clone())
                    .map_err(|e| format!("operation `{id}`: {X_CONSUME}.offset: {e}"))?,
            ),
            None => None,
        };
        let consume = ConsumeDef {
            message: messages[0].clone(),
            description: op
                .get("description")
                .or_else(|| op.get("summary"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            ordered: how.get("ordered").and_then(Value::as_bool).unwrap_or(false),
            offset,
        };
        if let Some(c) = self.model.consumers.get_mut(&consumer) {
            c.queues.insert(At::from(queue.as_str()), At::new(consume));
        }
        Ok(())
    }

    /// The document-level extensions: tasks and policies.
    fn extensions(&mut self) -> Result<(), String> {
        if let Some(t) = self.doc.get(X_TASKS) {
            self.model.tasks =
                serde_json::from_value(t.clone()).map_err(|e| format!("{X_TASKS}: {e}"))?;
        }
        if let Some(p) = self.doc.get(X_POLICIES) {
            self.model.policies =
                serde_json::from_value(p.clone()).map_err(|e| format!("{X_POLICIES}: {e}"))?;
        }
        if let Some(p) = self.doc.get(X_OPERATOR_POLICIES) {
            self.model.operator_policies = serde_json::from_value(p.clone())
                .map_err(|e| format!("{X_OPERATOR_POLICIES}: {e}"))?;
        }
        Ok(())
    }

    /// What the document says about where and how it runs, which a topology leaves to the
    /// application.
    fn general_notes(&mut self) {
        if let Some(first) = self.enums.first() {
            self.notes.push(format!(
                "{} string schema(s) list their allowed values, which a `string` field does not check: {first}{}",
                self.enums.len(),
                if self.enums.len() > 1 { " and others" } else { "" }
            ));
        }
        if let Some(Value::Object(servers)) = self.doc.get("servers") {
            let names: Vec<&str> = servers.keys().map(String::as_str).collect();
            self.notes.push(format!(
                "servers {} (the broker's address is the application's connection URL)",
                names.join(", ")
            ));
        }
        if self.doc.pointer("/components/securitySchemes").is_some() {
            self.notes
                .push("security schemes (credentials are the connection URL's)".to_owned());
        }
    }
}

/// The value at `ptr` after following local `$ref`s (met at the end or on the way), with
/// its pointer; `None` (noted) for a reference to another document, to nothing, or a cycle.
/// Pointers are in URI fragment form (`%20` decoded, then `~1` and `~0`).
fn follow<'v>(doc: &'v Value, ptr: &str, notes: &mut Vec<String>) -> Option<(&'v Value, String)> {
    let mut at = ptr.to_owned();
    let mut hops = 0;
    'walk: loop {
        let tokens: Vec<String> = at.split('/').skip(1).map(unescape).collect();
        let mut node = doc;
        let mut path = String::new();
        for (i, token) in tokens.iter().enumerate() {
            if let Some(r) = node.get("$ref").and_then(Value::as_str) {
                // A reference on the way: go on from where it points.
                let rest: Vec<String> = tokens[i..].iter().map(|t| escape(t)).collect();
                at = format!("{}/{}", local_ref(r, &at, notes)?, rest.join("/"));
                hops += 1;
                if hops > 64 {
                    notes.push(format!("{ptr}: a cycle of references"));
                    return None;
                }
                continue 'walk;
            }
            let next = match node {
                Value::Object(m) => m.get(token.as_str()),
                Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            let Some(next) = next else {
                notes.push(format!("{at}: refers to nothing"));
                return None;
            };
            node = next;
            path.push('/');
            path.push_str(&escape(token));
        }
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                at = local_ref(r, &at, notes)?;
                hops += 1;
                if hops > 64 {
                    notes.push(format!("{ptr}: a cycle of references"));
                    return None;
                }
            }
            None => return Some((node, path)),
        }
    }
}

/// The pointer of a local reference (`#/components/...`), or a note that it is not one.
fn local_ref(r: &str, at: &str, notes: &mut Vec<String>) -> Option<String> {
    match r.strip_prefix('#') {
        Some(local) => Some(local.to_owned()),
        None => {
            notes.push(format!(
                "{at}: refers to another document ({r}), which is not read"
            ));
            None
        }
    }
}

/// A schema with its `allOf` parts merged in (their properties and required names, a type
/// if it has none).
fn merged(doc: &Value, s: &Value) -> Value {
    merged_to(doc, s, 0)
}

fn merged_to(doc: &Value, s: &Value, depth: usize) -> Value {
    let Some(parts) = s.get("allOf").and_then(Value::as_array) else {
        return s.clone();
    };
    let mut out = s.clone();
    if depth > 8 {
        return out;
    }
    let Some(o) = out.as_object_mut() else {
        return out;
    };
    o.remove("allOf");
    for part in parts {
        let part = merged_to(doc, resolve(doc, part), depth + 1);
        if let Some(props) = part.get("properties").and_then(Value::as_object) {
            let entry = o
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(into) = entry.as_object_mut() {
                for (k, v) in props {
                    into.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        if let Some(req) = part.get("required").and_then(Value::as_array) {
            let entry = o
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(into) = entry.as_array_mut() {
                for r in req {
                    if !into.contains(r) {
                        into.push(r.clone());
                    }
                }
            }
        }
        for key in ["type", "description"] {
            if let Some(v) = part.get(key) {
                o.entry(key).or_insert_with(|| v.clone());
            }
        }
    }
    out
}

/// A value after its local references (a few hops; a cycle stays where it is).
fn resolve<'v>(doc: &'v Value, mut v: &'v Value) -> &'v Value {
    for _ in 0..16 {
        let Some(next) = v
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| doc.pointer(&fragment_to_pointer(p)))
        else {
            break;
        };
        v = next;
    }
    v
}

/// Where property `prop` of the schema at `ptr` is: its own `properties`, or an `allOf`
/// part's.
fn property_pointer(doc: &Value, ptr: &str, prop: &str, depth: usize) -> Option<String> {
    let mut ignored = Vec::new();
    let (s, target) = follow(doc, ptr, &mut ignored)?;
    if s.pointer(&format!(
        "/properties/{}",
        prop.replace('~', "~0").replace('/', "~1")
    ))
    .is_some()
    {
        return Some(format!("{target}/properties/{}", escape(prop)));
    }
    if depth > 8 {
        return None;
    }
    let parts = s.get("allOf").and_then(Value::as_array)?;
    (0..parts.len())
        .find_map(|i| property_pointer(doc, &format!("{target}/allOf/{i}"), prop, depth + 1))
}

/// A URI fragment (`/a%20b/c~1d`) as a plain JSON pointer for `Value::pointer`.
fn fragment_to_pointer(fragment: &str) -> String {
    percent_decode(fragment)
}

/// Whether a schema describes a struct: it lists properties (even none).
fn is_struct(s: &Value) -> bool {
    s.get("properties").is_some()
}

/// The name a component schema gives its message type: its title, else its key.
fn schema_name(s: &Value, target: &str) -> Option<String> {
    let key = target.strip_prefix("/components/schemas/")?;
    if key.contains('/') {
        return None;
    }
    Some(
        s.get("title")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| unescape(key)),
    )
}

/// A binding object after one local reference (bindings are rarely deeper).
fn follow_value<'v>(doc: &'v Value, v: &'v Value) -> &'v Value {
    match v
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(local) => doc.pointer(local).unwrap_or(v),
        None => v,
    }
}

/// A JSON pointer token in URI fragment form (`%` encoded, so that decoding gives it back).
fn escape(key: &str) -> String {
    key.replace('~', "~0")
        .replace('/', "~1")
        .replace('%', "%25")
}

fn unescape(token: &str) -> String {
    let token = percent_decode(token);
    token.replace("~1", "/").replace("~0", "~")
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn optional(inner: &str) -> String {
    format!("optional<{inner}>")
}

/// An integer schema's Rust type: the one whose range it is, else `i64` (`u64` when it
/// cannot be negative).
fn integer(s: &Value) -> String {
    let min = s.get("minimum").and_then(Value::as_i64);
    let max = s.get("maximum").and_then(Value::as_u64);
    let exact = [
        ("i8", i64::from(i8::MIN), u64::from(i8::MAX.unsigned_abs())),
        ("i16", i16::MIN.into(), i16::MAX.unsigned_abs().into()),
        ("i32", i32::MIN.into(), i32::MAX.unsigned_abs().into()),
        ("i64", i64::MIN, i64::MAX.unsigned_abs()),
        ("u8", 0, u8::MAX.into()),
        ("u16", 0, u16::MAX.into()),
        ("u32", 0, u32::MAX.into()),
        ("u64", 0, u64::MAX),
    ];
    if let (Some(min), Some(max)) = (min, max) {
        if let Some((t, _, _)) = exact.iter().find(|(_, lo, hi)| *lo == min && *hi == max) {
            return (*t).to_owned();
        }
    }
    match s.get("format").and_then(Value::as_str) {
        Some("int32") => return "i32".to_owned(),
        Some("int64") => return "i64".to_owned(),
        _ => {}
    }
    if min.is_some_and(|m| m >= 0) {
        "u64".to_owned()
    } else {
        "i64".to_owned()
    }
}

/// A message type for a body of any JSON value.
fn any_value() -> MessageDef {
    MessageDef {
        rust: Some(At::from("::kombu::Value")),
        ..MessageDef::default()
    }
}

/// The description of an external type without the note `kombu asyncapi` adds to it.
fn strip_rust_note(d: &str) -> String {
    match d.find("The Rust type `") {
        Some(i) => d[..i].trim_end().to_owned(),
        None => d.to_owned(),
    }
}

fn binding() -> BindingDef {
    BindingDef {
        exchange: At::from(""),
        routing_key: At::from(""),
        headers: kombu::FieldTable::new(),
        match_: None,
        arguments: kombu::FieldTable::new(),
        description: None,
    }
}

/// A 2.x document in 3.0's shape: channels by id with their address, `subscribe` (the
/// application sends) as `send` and `publish` as `receive`, each operation's messages on its
/// channel.
fn upgrade(doc: &Value) -> Value {
    let mut out = doc.clone();
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut ids = Ids::default();
    if let Some(Value::Object(old)) = doc.get("channels") {
        for (address, item) in old {
            let id = ids.id(address);
            let mut c = Map::new();
            c.insert("address".to_owned(), Value::from(address.as_str()));
            for key in ["description", "bindings", "parameters"] {
                if let Some(v) = item.get(key) {
                    c.insert(key.to_owned(), v.clone());
                }
            }
            let mut messages = Map::new();
            for (verb, action) in [("subscribe", "send"), ("publish", "receive")] {
                let Some(op) = item.get(verb) else { continue };
                let op_id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{id}.{action}"));
                let mut refs = Vec::new();
                let listed: Vec<Value> = match op.get("message") {
                    Some(m) => match m.get("oneOf").and_then(Value::as_array) {
                        Some(all) => all.clone(),
                        None => vec![m.clone()],
                    },
                    None => Vec::new(),
                };
                for (i, m) in listed.iter().enumerate() {
                    let mid = match m.get("$ref").and_then(Value::as_str) {
                        Some(r) => r.rsplit('/').next().unwrap_or("message").to_owned(),
                        None => m
                            .get("name")
                            .or_else(|| m.get("messageId"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("{op_id}.message{}", i + 1)),
                    };
                    // One id per message of the channel (`subscribe` and `publish` may both
                    // name theirs `reply`).
                    let mut unique = mid.clone();
                    let mut n = 1;
                    while messages.get(&unique).is_some_and(|known| known != m) {
                        n += 1;
                        unique = format!("{mid}_{n}");
                    }
                    let mid = unique;
                    messages.insert(mid.clone(), m.clone());
                    refs.push(serde_json::json!({
                        "$ref": format!("#/channels/{}/messages/{}", escape(&id), escape(&mid))
                    }));
                }
                let mut o = Map::new();
                o.insert("action".to_owned(), Value::from(action));
                o.insert(
                    "channel".to_owned(),
                    serde_json::json!({ "$ref": format!("#/channels/{}", escape(&id)) }),
                );
                for key in ["summary", "description", "bindings", "traits", "security"] {
                    if let Some(v) = op.get(key) {
                        o.insert(key.to_owned(), v.clone());
                    }
                }
                o.insert("messages".to_owned(), Value::Array(refs));
                operations.insert(op_id, Value::Object(o));
            }
            c.insert("messages".to_owned(), Value::Object(messages));
            channels.insert(id, Value::Object(c));
        }
    }
    out["channels"] = Value::Object(channels);
    out["operations"] = Value::Object(operations);
    out
}
