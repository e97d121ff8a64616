//! Mapping kombu's model onto RabbitMQ's STOMP destinations and headers, and back.
//!
//! Destinations: a message for exchange `E` with routing key `K` is sent to `/exchange/E/K`;
//! one for the default exchange to `/amq/queue/K` (which names an existing queue and declares
//! nothing); a queue is consumed by subscribing to `/amq/queue/NAME`. Names are
//! percent-encoded where RabbitMQ would read a `/` or `%` as syntax.
//!
//! Properties travel as the headers RabbitMQ's STOMP plugin translates to and from AMQP:
//! `content-type`, `content-encoding`, `persistent`, `priority`, `expiration`, `reply-to`,
//! `correlation-id`, `amqp-message-id`, `timestamp`, `type`, `user-id` and `app-id`. Every
//! other header is an application header. STOMP header values are strings: numbers and
//! booleans are sent as text and arrive as text; lists and tables have no STOMP form and are
//! refused rather than altered.

use super::frame::Frame;
use crate::field::{FieldTable, FieldValue};
use crate::properties::{DeliveryMode, Properties};
use crate::{Error, ErrorKind, Result};

/// Percent-encodes what RabbitMQ treats as syntax inside a destination segment.
pub fn escape_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_segment`] (and any other `%XX`), leaving malformed escapes as they are.
pub fn unescape_segment(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a publish to `exchange` with `routing_key` is sent.
pub fn send_destination(exchange: &str, routing_key: &str) -> String {
    if exchange.is_empty() {
        format!("/amq/queue/{}", escape_segment(routing_key))
    } else if routing_key.is_empty() {
        format!("/exchange/{}", escape_segment(exchange))
    } else {
        format!(
            "/exchange/{}/{}",
            escape_segment(exchange),
            escape_segment(routing_key)
        )
    }
}

/// What a queue is consumed from.
pub fn queue_destination(queue: &str) -> String {
    format!("/amq/queue/{}", escape_segment(queue))
}

/// The exchange and routing key a MESSAGE's `destination` stands for: `/exchange/E/K` and
/// `/topic/K` (the `amq.topic` exchange) name them; `/queue/Q`, `/amq/queue/Q` and
/// `/reply-queue/Q` are the default exchange with the queue's name as key.
pub fn parse_destination(destination: &str) -> (String, String) {
    let rest = |prefix: &str| destination.strip_prefix(prefix);
    if let Some(rest) = rest("/exchange/") {
        let (exchange, key) = rest.split_once('/').unwrap_or((rest, ""));
        (unescape_segment(exchange), unescape_segment(key))
    } else if let Some(key) = rest("/topic/") {
        ("amq.topic".to_owned(), unescape_segment(key))
    } else if let Some(queue) = rest("/amq/queue/")
        .or_else(|| rest("/queue/"))
        .or_else(|| rest("/reply-queue/"))
    {
        (String::new(), unescape_segment(queue))
    } else {
        (String::new(), destination.to_owned())
    }
}

/// Headers of STOMP itself or of RabbitMQ's plugin, never application headers.
const RESERVED: &[&str] = &[
    "destination",
    "subscription",
    "message-id",
    "ack",
    "redelivered",
    "content-length",
    "receipt",
    "transaction",
    "content-type",
    "content-encoding",
    "persistent",
    "priority",
    "expiration",
    "reply-to",
    "correlation-id",
    "amqp-message-id",
    "timestamp",
    "type",
    "user-id",
    "app-id",
    "cluster-id",
];

fn header_text(name: &str, value: &FieldValue) -> Result<String> {
    Ok(match value {
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::I8(v) => v.to_string(),
        FieldValue::U8(v) => v.to_string(),
        FieldValue::I16(v) => v.to_string(),
        FieldValue::U16(v) => v.to_string(),
        FieldValue::I32(v) => v.to_string(),
        FieldValue::U32(v) => v.to_string(),
        FieldValue::I64(v) => v.to_string(),
        FieldValue::F32(v) => v.to_string(),
        FieldValue::F64(v) => v.to_string(),
        FieldValue::Decimal(d) => decimal_text(d.value, d.scale),
        FieldValue::Timestamp(t) => t.to_string(),
        FieldValue::String(s) => s.clone(),
        FieldValue::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => return Err(unsupported_header(name, "bytes that are not UTF-8")),
        },
        FieldValue::Void => String::new(),
        FieldValue::Array(_) => return Err(unsupported_header(name, "a list")),
        FieldValue::Table(_) => return Err(unsupported_header(name, "a table")),
    })
}

/// `value / 10^scale` in plain decimal notation.
fn decimal_text(value: u32, scale: u8) -> String {
    let digits = value.to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{whole}.{fraction}")
}

fn unsupported_header(name: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "header `{name}` holds {what}; STOMP headers are text, so it cannot be sent over \
             STOMP unchanged (send it as a string, or in the body)"
        ),
    )
}

/// The SEND frame for a message: destination, properties and application headers, body.
pub fn send_frame(destination: String, body: Vec<u8>, properties: &Properties) -> Result<Frame> {
    let mut frame = Frame::new(super::frame::Command::Send).header_pair("destination", destination);
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            frame.headers.push((name.to_owned(), v));
        }
    };
    put("content-type", properties.content_type.clone());
    put("content-encoding", properties.content_encoding.clone());
    put(
        "persistent",
        properties
            .delivery_mode
            .map(|m| (m == DeliveryMode::Persistent).to_string()),
    );
    put("priority", properties.priority.map(|p| p.to_string()));
    put("expiration", properties.expiration_wire());
    put("reply-to", properties.reply_to.clone());
    put("correlation-id", properties.correlation_id.clone());
    put("amqp-message-id", properties.message_id.clone());
    put("timestamp", properties.timestamp.map(|t| t.to_string()));
    put("type", properties.kind.clone());
    put("user-id", properties.user_id.clone());
    put("app-id", properties.app_id.clone());
    if let Some(headers) = &properties.headers {
        for (name, value) in headers.iter() {
            if RESERVED.contains(&name.as_str()) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "header `{name}` has a meaning of its own in STOMP; an application \
                         header of that name cannot be sent over STOMP"
                    ),
                ));
            }
            let text = header_text(name, value)?;
            frame.headers.push((name.clone(), text));
        }
    }
    frame.body = body;
    Ok(frame)
}

/// The properties of a received MESSAGE. Values that do not parse (a `priority` of `high`)
/// stay in the headers under their own name rather than vanish.
pub fn properties_of(frame: &Frame) -> Properties {
    let mut p = Properties::default();
    let mut headers = FieldTable::new();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in &frame.headers {
        // STOMP: the first occurrence of a repeated header wins.
        if !seen.insert(name.as_str()) {
            continue;
        }
        let keep = match name.as_str() {
            "content-type" => {
                p.content_type = Some(value.clone());
                false
            }
            "content-encoding" => {
                p.content_encoding = Some(value.clone());
                false
            }
            "persistent" => match value.as_str() {
                "true" => {
                    p.delivery_mode = Some(DeliveryMode::Persistent);
                    false
                }
                "false" => {
                    p.delivery_mode = Some(DeliveryMode::Transient);
                    false
                }
                _ => true,
            },
            "priority" => match value.parse() {
                Ok(v) => {
                    p.priority = Some(v);
                    false
                }
                Err(_) => true,
            },
            "expiration" => match Properties::parse_expiration(value) {
                Some(d) => {
                    p.expiration = Some(d);
                    false
                }
                None => true,
            },
            "reply-to" => {
                // RabbitMQ shows an AMQP reply-to `q` as `/reply-queue/q`.
                let plain = value.strip_prefix("/reply-queue/").map(unescape_segment);
                p.reply_to = Some(plain.unwrap_or_else(|| value.clone()));
                false
            }
            "correlation-id" => {
                p.correlation_id = Some(value.clone());
                false
            }
            "amqp-message-id" => {
                p.message_id = Some(value.clone());
                false
            }
            "timestamp" => match value.parse() {
                Ok(v) => {
                    p.timestamp = Some(v);
                    false
                }
                Err(_) => true,
            },
            "type" => {
                p.kind = Some(value.clone());
                false
            }
            "user-id" => {
                p.user_id = Some(value.clone());
                false
            }
            "app-id" => {
                p.app_id = Some(value.clone());
                false
            }
            "cluster-id" => {
                p.cluster_id = Some(value.clone());
                false
            }
            // STOMP's own headers, and RabbitMQ copying our receipt request into the message.
            "destination" | "subscription" | "message-id" | "ack" | "redelivered"
            | "content-length" | "receipt" | "transaction" => false,
            _ => true,
        };
        if keep {
            headers.insert(name.clone(), FieldValue::String(value.clone()));
        }
    }
    if !headers.is_empty() {
        p.headers = Some(headers);
    }
    p
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::transport::stomp::frame::Command;
    use std::time::Duration;

    #[test]
    fn destinations_follow_rabbitmq() {
        assert_eq!(send_destination("media", "video"), "/exchange/media/video");
        assert_eq!(send_destination("", "tasks"), "/amq/queue/tasks");
        assert_eq!(send_destination("logs", ""), "/exchange/logs");
        assert_eq!(send_destination("a/b", "c/d%"), "/exchange/a%2Fb/c%2Fd%25");
        assert_eq!(queue_destination("q/1"), "/amq/queue/q%2F1");
        assert_eq!(
            parse_destination("/exchange/a%2Fb/c%2Fd%25"),
            ("a/b".to_owned(), "c/d%".to_owned())
        );
        assert_eq!(
            parse_destination("/exchange/media/video.hd/x"),
            ("media".to_owned(), "video.hd/x".to_owned())
        );
        assert_eq!(
            parse_destination("/queue/tasks"),
            (String::new(), "tasks".to_owned())
        );
        assert_eq!(
            parse_destination("/topic/a.b"),
            ("amq.topic".to_owned(), "a.b".to_owned())
        );
        assert_eq!(unescape_segment("100%"), "100%", "a stray percent stays");
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(5, 3), "0.005");
        assert_eq!(unescape_segment("%zz%4"), "%zz%4");
    }

    #[test]
    fn properties_go_out_as_headers_and_come_back() {
        let mut headers = FieldTable::new();
        headers.insert("x-n".into(), FieldValue::I64(5));
        headers.insert("flag".into(), FieldValue::Bool(true));
        headers.insert("s".into(), FieldValue::String("v".into()));
        let props = Properties {
            content_type: Some("application/json".into()),
            content_encoding: Some("utf-8".into()),
            delivery_mode: Some(DeliveryMode::Persistent),
            priority: Some(4),
            expiration: Some(Duration::from_millis(1500)),
            reply_to: Some("replies".into()),
            correlation_id: Some("c1".into()),
            message_id: Some("m1".into()),
            timestamp: Some(1_700_000_000),
            kind: Some("t".into()),
            user_id: Some("guest".into()),
            app_id: Some("app".into()),
            headers: Some(headers),
            ..Properties::default()
        };
        let frame = send_frame("/amq/queue/q".into(), b"{}".to_vec(), &props).unwrap();
        assert_eq!(frame.header("amqp-message-id"), Some("m1"));
        assert_eq!(frame.header("persistent"), Some("true"));
        assert_eq!(frame.header("expiration"), Some("1500"));
        assert_eq!(frame.header("x-n"), Some("5"));
        let mut message = Frame::new(Command::Message);
        message.headers = frame.headers.clone();
        message
            .headers
            .push(("message-id".into(), "T_1@@session".into()));
        let back = properties_of(&message);
        let mut expected = props.clone();
        let mut text = FieldTable::new();
        text.insert("x-n".into(), FieldValue::String("5".into()));
        text.insert("flag".into(), FieldValue::String("true".into()));
        text.insert("s".into(), FieldValue::String("v".into()));
        expected.headers = Some(text);
        assert_eq!(back, expected, "numbers and booleans come back as text");
    }

    #[test]
    fn what_stomp_cannot_carry_is_refused() {
        let mut headers = FieldTable::new();
        headers.insert("list".into(), FieldValue::Array(vec![FieldValue::I32(1)]));
        let props = Properties {
            headers: Some(headers),
            ..Properties::default()
        };
        let err = send_frame("/amq/queue/q".into(), Vec::new(), &props).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("`list`"), "{err}");
        let mut headers = FieldTable::new();
        headers.insert("destination".into(), FieldValue::String("/queue/x".into()));
        let props = Properties {
            headers: Some(headers),
            ..Properties::default()
        };
        assert!(send_frame("/amq/queue/q".into(), Vec::new(), &props).is_err());
    }

    #[test]
    fn reply_to_loses_rabbitmqs_prefix_and_bad_values_stay_visible() {
        let mut message = Frame::new(Command::Message)
            .header_pair("reply-to", "/reply-queue/answers")
            .header_pair("priority", "high");
        message.headers.push(("priority".into(), "3".into()));
        let p = properties_of(&message);
        assert_eq!(p.reply_to.as_deref(), Some("answers"));
        assert_eq!(p.priority, None);
        assert_eq!(
            p.headers.unwrap().get("priority"),
            Some(&FieldValue::String("high".into()))
        );
    }
}
