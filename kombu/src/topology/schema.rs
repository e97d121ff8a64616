//! The JSON Schema of the format, generated from [`TopologyModel`] for editors.
//!
//! `schemas/topology.schema.json` is this module's output, checked in so that taplo and
//! yaml-language-server can fetch it; `cargo run -p kombu --example topology_schema` rewrites
//! it and a test fails when it is stale. Draft-07, which both editors understand.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::model::TopologyModel;
use crate::{DeliveryMode, ExchangeKind, FailurePolicy, FieldValue, Overflow, QueueType};

/// The JSON Schema (draft-07) of a topology file, pretty-printed, ending in a newline.
pub fn json_schema() -> String {
    let settings = schemars::generate::SchemaSettings::draft07();
    let schema = settings
        .into_generator()
        .into_root_schema_for::<TopologyModel>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

impl JsonSchema for ExchangeKind {
    fn schema_name() -> Cow<'static, str> {
        "ExchangeType".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`direct`, `fanout`, `topic`, `headers`, or a plugin's type (`x-delayed-message`, ...).",
            "anyOf": [
                {"enum": ["direct", "fanout", "topic", "headers"]},
                {"type": "string", "pattern": "^x-"}
            ]
        })
    }
}

impl JsonSchema for QueueType {
    fn schema_name() -> Cow<'static, str> {
        "QueueType".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"enum": ["classic", "quorum", "stream"]})
    }
}

impl JsonSchema for Overflow {
    fn schema_name() -> Cow<'static, str> {
        "Overflow".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"enum": ["drop-head", "reject-publish", "reject-publish-dlx"]})
    }
}

impl JsonSchema for DeliveryMode {
    fn schema_name() -> Cow<'static, str> {
        "DeliveryMode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [{"enum": ["persistent", "transient"]}, {"enum": [1, 2]}]})
    }
}

impl JsonSchema for FieldValue {
    fn schema_name() -> Cow<'static, str> {
        "FieldValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An AMQP field value: a string, number, boolean, list or table; `{\"$u8\" = 5}` and the like pick an exact AMQP type."
        })
    }
}

impl JsonSchema for FailurePolicy {
    fn schema_name() -> Cow<'static, str> {
        "FailurePolicy".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`dead_letter` (reject without requeue, the default), `requeue`, or `hook` (the consumer's error hook decides).",
            "enum": ["dead_letter", "requeue", "hook"]
        })
    }
}
