//! JSON Schema of message types: what their generated Rust types write and read as JSON,
//! expanded from the same [`ir::MessageType`]s the Rust types are generated from, so a schema
//! and its type cannot disagree. A required field is `required`; an optional one may be absent
//! or `null` (the type skips it when `None`); unknown keys are allowed (the types ignore them);
//! an enum is an object whose tag property selects one of its variants (`oneOf`); a field that
//! holds another message refers to that message's schema.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::ir::{Field, FieldType, MessageKind, MessageType};

/// Each message type's schema, by its topology name, in order. A field holding message `m`
/// refers to it as `{ref_prefix}{m}` (`#/components/schemas/` in an AsyncAPI document, say).
pub fn message_schemas(messages: &[MessageType], ref_prefix: &str) -> Vec<(String, Value)> {
    // Fields name the messages they hold by Rust type: the generated name, or a path.
    let mut names: HashMap<&str, &str> = HashMap::new();
    for m in messages {
        names.entry(m.ident.as_str()).or_insert(m.name.as_str());
        if let MessageKind::External(path) = &m.kind {
            names.entry(path.as_str()).or_insert(m.name.as_str());
        }
    }
    let cx = Refs {
        names: &names,
        prefix: ref_prefix,
    };
    messages
        .iter()
        .map(|m| (m.name.clone(), message(m, &cx)))
        .collect()
}

struct Refs<'a> {
    names: &'a HashMap<&'a str, &'a str>,
    prefix: &'a str,
}

fn message(m: &MessageType, cx: &Refs<'_>) -> Value {
    let mut schema = match &m.kind {
        MessageKind::Struct(fields) => object(fields, &[], cx),
        MessageKind::Enum { tag, variants } => {
            let tags: Vec<&str> = variants.iter().map(|v| v.tag.as_str()).collect();
            let one_of: Vec<Value> = variants
                .iter()
                .map(|v| {
                    let tag_value = json!({ "const": v.tag });
                    let mut s = object(&v.fields, &[(tag.as_str(), tag_value)], cx);
                    s.insert("title".to_owned(), json!(v.tag));
                    if let Some(d) = &v.description {
                        s.insert("description".to_owned(), json!(d));
                    }
                    Value::Object(s)
                })
                .collect();
            let mut s = Map::new();
            s.insert("type".to_owned(), json!("object"));
            s.insert(
                "properties".to_owned(),
                json!({ tag: { "type": "string", "enum": tags } }),
            );
            s.insert("required".to_owned(), json!([tag]));
            s.insert("discriminator".to_owned(), json!(tag));
            s.insert("oneOf".to_owned(), Value::Array(one_of));
            s
        }
        MessageKind::External(path) => {
            let mut s = Map::new();
            s.insert("x-kombu-rust-type".to_owned(), json!(path));
            s
        }
    };
    let mut out = Map::new();
    out.insert("title".to_owned(), json!(m.name));
    let description = match (&m.kind, &m.description) {
        (MessageKind::External(path), Some(d)) => Some(format!(
            "{d}\n\nThe Rust type `{path}`, defined outside the topology: its fields are not known here."
        )),
        (MessageKind::External(path), None) => Some(format!(
            "The Rust type `{path}`, defined outside the topology: its fields are not known here."
        )),
        (_, d) => d.clone(),
    };
    if let Some(d) = description {
        out.insert("description".to_owned(), json!(d));
    }
    out.append(&mut schema);
    Value::Object(out)
}

/// An object with these fields (after `fixed` properties, which are required).
fn object(fields: &[Field], fixed: &[(&str, Value)], cx: &Refs<'_>) -> Map<String, Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, schema) in fixed {
        properties.insert((*name).to_owned(), schema.clone());
        required.push(json!(name));
    }
    for f in fields {
        let (schema, optional) = match &f.ty {
            FieldType::Optional(inner) => (nullable(field_type(inner, cx)), true),
            t => (field_type(t, cx), false),
        };
        let schema = match (&f.description, schema) {
            (Some(d), Value::Object(mut s)) => {
                s.insert("description".to_owned(), json!(d));
                Value::Object(s)
            }
            (_, s) => s,
        };
        properties.insert(f.name.clone(), schema);
        if !optional {
            required.push(json!(f.name));
        }
    }
    let mut s = Map::new();
    s.insert("type".to_owned(), json!("object"));
    s.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        s.insert("required".to_owned(), Value::Array(required));
    }
    s
}

/// `schema` or `null`.
fn nullable(schema: Value) -> Value {
    match schema {
        Value::Object(mut s) if matches!(s.get("type"), Some(Value::String(_))) => {
            if let Some(t) = s.remove("type") {
                s.insert("type".to_owned(), json!([t, "null"]));
            }
            Value::Object(s)
        }
        s => json!({ "anyOf": [s, { "type": "null" }] }),
    }
}

fn field_type(t: &FieldType, cx: &Refs<'_>) -> Value {
    match t {
        FieldType::Primitive(p) => primitive(p),
        FieldType::Optional(inner) => nullable(field_type(inner, cx)),
        FieldType::List(inner) => json!({ "type": "array", "items": field_type(inner, cx) }),
        FieldType::Map(inner) => {
            json!({ "type": "object", "additionalProperties": field_type(inner, cx) })
        }
        FieldType::Message(ty) => match cx.names.get(ty.as_str()) {
            Some(name) => json!({ "$ref": format!("{}{}", cx.prefix, name) }),
            // Not a message of the module: nothing is known of it.
            None => json!({ "x-kombu-rust-type": ty }),
        },
    }
}

fn primitive(p: &str) -> Value {
    let int = |min: i64, max: u64| {
        let mut s = Map::new();
        s.insert("type".to_owned(), json!("integer"));
        s.insert("minimum".to_owned(), Value::from(min));
        s.insert("maximum".to_owned(), Value::from(max));
        Value::Object(s)
    };
    match p {
        "string" => json!({ "type": "string" }),
        "timestamp" => json!({ "type": "string", "format": "date-time" }),
        "uuid" => json!({ "type": "string", "format": "uuid" }),
        "bool" => json!({ "type": "boolean" }),
        "i8" => int(i8::MIN.into(), i8::MAX.unsigned_abs().into()),
        "i16" => int(i16::MIN.into(), i16::MAX.unsigned_abs().into()),
        "i32" => int(i32::MIN.into(), i32::MAX.unsigned_abs().into()),
        "i64" => int(i64::MIN, i64::MAX.unsigned_abs()),
        "u8" => int(0, u8::MAX.into()),
        "u16" => int(0, u16::MAX.into()),
        "u32" => int(0, u32::MAX.into()),
        "u64" => int(0, u64::MAX),
        "f32" => json!({ "type": "number", "format": "float" }),
        "f64" => json!({ "type": "number", "format": "double" }),
        // `Vec<u8>`: serde writes a byte string as a list of numbers.
        // (`list<u8>` is the same JSON: the mark tells them apart.)
        "bytes" => json!({
            "type": "array",
            "items": { "type": "integer", "minimum": 0, "maximum": 255 },
            "x-kombu-type": "bytes"
        }),
        // `json` holds any value; an unknown primitive is refused before here.
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Variant;

    fn field(name: &str, ty: FieldType) -> Field {
        Field {
            name: name.to_owned(),
            ident: name.to_owned(),
            description: None,
            ty,
        }
    }

    fn p(name: &str) -> FieldType {
        FieldType::Primitive(name.to_owned())
    }

    #[test]
    fn fields_are_what_the_generated_types_write_and_read() {
        let messages = vec![
            MessageType {
                name: "order".to_owned(),
                ident: "Order".to_owned(),
                description: Some("An order.".to_owned()),
                kind: MessageKind::Struct(vec![
                    field("id", p("uuid")),
                    field("at", p("timestamp")),
                    field("qty", p("u16")),
                    field("note", FieldType::Optional(Box::new(p("string")))),
                    field(
                        "lines",
                        FieldType::List(Box::new(FieldType::Message("Line".to_owned()))),
                    ),
                    field(
                        "parent",
                        FieldType::Optional(Box::new(FieldType::Message("Order".to_owned()))),
                    ),
                    field("blob", p("bytes")),
                    field("extra", FieldType::Map(Box::new(p("json")))),
                ]),
            },
            MessageType {
                name: "line".to_owned(),
                ident: "Line".to_owned(),
                description: None,
                kind: MessageKind::Enum {
                    tag: "kind".to_owned(),
                    variants: vec![
                        Variant {
                            tag: "item".to_owned(),
                            ident: "Item".to_owned(),
                            description: None,
                            fields: vec![field("sku", p("string"))],
                        },
                        Variant {
                            tag: "gift".to_owned(),
                            ident: "Gift".to_owned(),
                            description: None,
                            fields: vec![],
                        },
                    ],
                },
            },
        ];
        let schemas = message_schemas(&messages, "#/s/");
        let order = &schemas[0].1;
        assert_eq!(
            order["required"],
            json!(["id", "at", "qty", "lines", "blob", "extra"])
        );
        let props = &order["properties"];
        assert_eq!(props["id"], json!({"type": "string", "format": "uuid"}));
        assert_eq!(
            props["at"],
            json!({"type": "string", "format": "date-time"})
        );
        assert_eq!(
            props["qty"],
            json!({"type": "integer", "minimum": 0, "maximum": 65535})
        );
        assert_eq!(props["note"], json!({"type": ["string", "null"]}));
        assert_eq!(
            props["lines"],
            json!({"type": "array", "items": {"$ref": "#/s/line"}})
        );
        assert_eq!(
            props["parent"],
            json!({"anyOf": [{"$ref": "#/s/order"}, {"type": "null"}]})
        );
        assert_eq!(
            props["blob"]["items"],
            json!({"type": "integer", "minimum": 0, "maximum": 255})
        );
        assert_eq!(
            props["extra"],
            json!({"type": "object", "additionalProperties": {}})
        );
        let line = &schemas[1].1;
        assert_eq!(line["discriminator"], "kind");
        assert_eq!(line["properties"]["kind"]["enum"], json!(["item", "gift"]));
        assert_eq!(
            line["oneOf"][0]["properties"]["kind"],
            json!({"const": "item"})
        );
        assert_eq!(line["oneOf"][0]["required"], json!(["kind", "sku"]));
        assert_eq!(line["oneOf"][1]["required"], json!(["kind"]));
    }
}
