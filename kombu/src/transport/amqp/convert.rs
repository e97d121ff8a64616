//! Conversions between kombu's types and lapin's: field tables, properties, deliveries, errors.
//! Everything lapin-specific stays in this folder.

use std::time::Duration;

use lapin::types::{
    AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable as LapinTable, LongString,
    ShortString,
};
use lapin::BasicProperties;

use crate::error::{Error, ErrorKind};
use crate::field::{Decimal, FieldTable, FieldValue};
use crate::properties::{DeliveryMode, Properties};

/// The longest AMQP short string: names, routing keys, property strings, field table keys.
const MAX_SHORT: usize = 255;

/// Refuse what AMQP cannot carry as a short string (lapin would panic on it): `what` names it.
pub(super) fn check_short(what: &str, value: &str) -> Result<(), Error> {
    if value.len() <= MAX_SHORT {
        return Ok(());
    }
    let mut end = 40;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Err(Error::new(
        ErrorKind::Encode,
        format!(
            "{what} '{}...' is {} bytes long; AMQP carries at most {MAX_SHORT} (a short string)",
            &value[..end],
            value.len()
        ),
    ))
}

/// Refuse a field table with a key AMQP cannot carry, at any depth.
pub(super) fn check_table(what: &str, table: &FieldTable) -> Result<(), Error> {
    fn value(what: &str, v: &FieldValue) -> Result<(), Error> {
        match v {
            FieldValue::Table(t) => check_table(what, t),
            FieldValue::Array(items) => items.iter().try_for_each(|v| value(what, v)),
            _ => Ok(()),
        }
    }
    for (k, v) in table {
        // The error's wording is built only when a key is too long (this runs per publish).
        if k.len() > MAX_SHORT {
            check_short(&format!("a key of {what}"), k)?;
        }
        value(what, v)?;
    }
    Ok(())
}

/// Refuse properties AMQP cannot carry: a short string property or a header key too long.
pub(super) fn check_properties(p: &Properties) -> Result<(), Error> {
    for (name, v) in [
        ("content_type", &p.content_type),
        ("content_encoding", &p.content_encoding),
        ("correlation_id", &p.correlation_id),
        ("reply_to", &p.reply_to),
        ("message_id", &p.message_id),
        ("type", &p.kind),
        ("user_id", &p.user_id),
        ("app_id", &p.app_id),
        ("cluster_id", &p.cluster_id),
    ] {
        if let Some(v) = v.as_deref().filter(|v| v.len() > MAX_SHORT) {
            check_short(&format!("the property {name}"), v)?;
        }
    }
    match &p.headers {
        Some(headers) => check_table("the headers", headers),
        None => Ok(()),
    }
}

pub(super) fn to_amqp(value: &FieldValue) -> AMQPValue {
    match value {
        FieldValue::Bool(b) => AMQPValue::Boolean(*b),
        FieldValue::I8(v) => AMQPValue::ShortShortInt(*v),
        FieldValue::U8(v) => AMQPValue::ShortShortUInt(*v),
        FieldValue::I16(v) => AMQPValue::ShortInt(*v),
        FieldValue::U16(v) => AMQPValue::ShortUInt(*v),
        FieldValue::I32(v) => AMQPValue::LongInt(*v),
        FieldValue::U32(v) => AMQPValue::LongUInt(*v),
        FieldValue::I64(v) => AMQPValue::LongLongInt(*v),
        FieldValue::F32(v) => AMQPValue::Float(*v),
        FieldValue::F64(v) => AMQPValue::Double(*v),
        FieldValue::Decimal(d) => AMQPValue::DecimalValue(DecimalValue {
            scale: d.scale,
            value: d.value,
        }),
        FieldValue::String(s) => AMQPValue::LongString(LongString::from(s.as_str())),
        FieldValue::Bytes(b) => AMQPValue::ByteArray(ByteArray::from(b.clone())),
        FieldValue::Timestamp(t) => AMQPValue::Timestamp(*t),
        FieldValue::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(to_amqp).collect::<Vec<_>>(),
        )),
        FieldValue::Table(t) => AMQPValue::FieldTable(to_table(t)),
        FieldValue::Void => AMQPValue::Void,
    }
}

pub(super) fn to_table(table: &FieldTable) -> LapinTable {
    let mut out = LapinTable::default();
    for (k, v) in table {
        out.insert(ShortString::from(k.as_str()), to_amqp(v));
    }
    out
}

pub(super) fn from_amqp(value: &AMQPValue) -> FieldValue {
    match value {
        AMQPValue::Boolean(b) => FieldValue::Bool(*b),
        AMQPValue::ShortShortInt(v) => FieldValue::I8(*v),
        AMQPValue::ShortShortUInt(v) => FieldValue::U8(*v),
        AMQPValue::ShortInt(v) => FieldValue::I16(*v),
        AMQPValue::ShortUInt(v) => FieldValue::U16(*v),
        AMQPValue::LongInt(v) => FieldValue::I32(*v),
        AMQPValue::LongUInt(v) => FieldValue::U32(*v),
        AMQPValue::LongLongInt(v) => FieldValue::I64(*v),
        AMQPValue::Float(v) => FieldValue::F32(*v),
        AMQPValue::Double(v) => FieldValue::F64(*v),
        AMQPValue::DecimalValue(d) => FieldValue::Decimal(Decimal {
            scale: d.scale,
            value: d.value,
        }),
        AMQPValue::ShortString(s) => FieldValue::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => FieldValue::String(text.to_owned()),
            Err(_) => FieldValue::Bytes(s.as_bytes().to_vec()),
        },
        AMQPValue::FieldArray(items) => {
            FieldValue::Array(items.as_slice().iter().map(from_amqp).collect())
        }
        AMQPValue::Timestamp(t) => FieldValue::Timestamp(*t),
        AMQPValue::FieldTable(t) => FieldValue::Table(from_table(t)),
        AMQPValue::ByteArray(b) => FieldValue::Bytes(b.as_slice().to_vec()),
        AMQPValue::Void => FieldValue::Void,
    }
}

pub(super) fn from_table(table: &LapinTable) -> FieldTable {
    table
        .inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), from_amqp(v)))
        .collect()
}

pub(super) fn to_properties(p: &Properties) -> BasicProperties {
    let mut out = BasicProperties::default();
    let s = |v: &str| ShortString::from(v);
    if let Some(v) = &p.content_type {
        out = out.with_content_type(s(v));
    }
    if let Some(v) = &p.content_encoding {
        out = out.with_content_encoding(s(v));
    }
    if let Some(v) = &p.headers {
        out = out.with_headers(to_table(v));
    }
    if let Some(v) = p.delivery_mode {
        out = out.with_delivery_mode(v.as_u8());
    }
    if let Some(v) = p.priority {
        out = out.with_priority(v);
    }
    if let Some(v) = &p.correlation_id {
        out = out.with_correlation_id(s(v));
    }
    if let Some(v) = &p.reply_to {
        out = out.with_reply_to(s(v));
    }
    if let Some(v) = p.expiration_wire() {
        out = out.with_expiration(s(&v));
    }
    if let Some(v) = &p.message_id {
        out = out.with_message_id(s(v));
    }
    if let Some(v) = p.timestamp {
        out = out.with_timestamp(v);
    }
    if let Some(v) = &p.kind {
        out = out.with_type(s(v));
    }
    if let Some(v) = &p.user_id {
        out = out.with_user_id(s(v));
    }
    if let Some(v) = &p.app_id {
        out = out.with_app_id(s(v));
    }
    if let Some(v) = &p.cluster_id {
        out = out.with_cluster_id(s(v));
    }
    out
}

pub(super) fn from_properties(p: &BasicProperties) -> Properties {
    let s = |v: &Option<ShortString>| v.as_ref().map(|x| x.as_str().to_owned());
    Properties {
        content_type: s(p.content_type()),
        content_encoding: s(p.content_encoding()),
        headers: p.headers().as_ref().map(from_table),
        delivery_mode: p.delivery_mode().map(DeliveryMode::from_u8),
        priority: *p.priority(),
        correlation_id: s(p.correlation_id()),
        reply_to: s(p.reply_to()),
        expiration: p
            .expiration()
            .as_ref()
            .and_then(|e| e.as_str().parse::<u64>().ok())
            .map(Duration::from_millis),
        message_id: s(p.message_id()),
        timestamp: *p.timestamp(),
        kind: s(p.kind()),
        user_id: s(p.user_id()),
        app_id: s(p.app_id()),
        cluster_id: s(p.cluster_id()),
    }
}

/// A lapin error as a kombu error: the broker's reply code and text, and what we were doing.
pub(super) fn error(context: &str, e: lapin::Error) -> Error {
    let kind = match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => {
            let code = amqp.get_id();
            let kind = ErrorKind::of_reply_code(code);
            return Error::new(kind, format!("{context}: {code} {}", amqp.get_message()));
        }
        lapin::ErrorKind::IOError(_)
        | lapin::ErrorKind::MissingHeartbeatError
        | lapin::ErrorKind::InvalidConnectionState(_)
        | lapin::ErrorKind::RuntimeShutdownError(_) => ErrorKind::Connection,
        _ => ErrorKind::Channel,
    };
    Error::new(kind, context.to_owned()).with_source(e)
}
