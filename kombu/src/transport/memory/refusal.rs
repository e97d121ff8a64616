//! What the in-memory broker refuses and how it says so: RabbitMQ's reply codes and texts (404,
//! 405, 406, 403, a closed channel) and the equivalence checks of a redeclare (which flags and
//! `x-` arguments RabbitMQ compares, and how it names their values), so that a refusal reads as
//! RabbitMQ's would.

use crate::entity::parse_max_age;
use crate::error::{Error, ErrorKind, Result};
use crate::field::{FieldTable, FieldValue};
use crate::QueueType;

pub(super) fn not_found(what: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("404 NOT_FOUND - no {what} in vhost '/'"),
    )
}

pub(super) fn precondition(text: String) -> Error {
    Error::new(
        ErrorKind::PreconditionFailed,
        format!("406 PRECONDITION_FAILED - {text}"),
    )
}

pub(super) fn access_refused(text: String) -> Error {
    Error::new(
        ErrorKind::AccessRefused,
        format!("403 ACCESS_REFUSED - {text}"),
    )
}

pub(super) fn locked(queue: &str) -> Error {
    Error::new(
        ErrorKind::AccessRefused,
        format!(
            "405 RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{queue}' in vhost '/'. \
             It could be originally declared on another connection or the exclusive property value does not match that of the original declaration."
        ),
    )
}

pub(super) fn channel_closed() -> Error {
    Error::new(ErrorKind::Channel, "channel is closed")
}

/// How an AMQP argument value is named in RabbitMQ's equivalence errors.
pub(super) fn amqp_type_name(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Bool(_) => "bool",
        FieldValue::I8(_) => "byte",
        FieldValue::U8(_) => "unsignedbyte",
        FieldValue::I16(_) => "short",
        FieldValue::U16(_) => "unsignedshort",
        FieldValue::I32(_) => "signedint",
        FieldValue::U32(_) => "unsignedint",
        FieldValue::I64(_) => "long",
        FieldValue::F32(_) => "float",
        FieldValue::F64(_) => "double",
        FieldValue::Decimal(_) => "decimal",
        FieldValue::String(_) => "longstr",
        FieldValue::Bytes(_) => "binary",
        FieldValue::Timestamp(_) => "timestamp",
        FieldValue::Array(_) => "array",
        FieldValue::Table(_) => "table",
        FieldValue::Void => "void",
    }
}

/// Argument keys whose values RabbitMQ checks on a queue redeclare.
pub(super) const QUEUE_CHECKED_ARGS: [&str; 11] = [
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-type",
    "x-single-active-consumer",
];

pub(super) fn same_argument(a: Option<&FieldValue>, b: Option<&FieldValue>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x == y,
        },
        _ => false,
    }
}

pub(super) fn describe_argument(v: Option<&FieldValue>) -> String {
    match v {
        None => "none".to_owned(),
        Some(FieldValue::String(s)) => format!("the value '{s}' of type 'longstr'"),
        Some(v) => format!("the value '{v}' of type '{}'", amqp_type_name(v)),
    }
}

pub(super) fn check_arguments(
    keys: &[&str],
    current: &FieldTable,
    received: &FieldTable,
    entity: &str,
) -> Result<()> {
    for key in keys {
        let (old, new) = (current.get(*key), received.get(*key));
        if !same_argument(old, new) {
            return Err(precondition(format!(
                "inequivalent arg '{key}' for {entity} in vhost '/': received {} but current is {}",
                describe_argument(new),
                describe_argument(old)
            )));
        }
    }
    Ok(())
}

pub(super) fn check_flag(name: &str, current: bool, received: bool, entity: &str) -> Result<()> {
    if current != received {
        return Err(precondition(format!(
            "inequivalent arg '{name}' for {entity} in vhost '/': received '{received}' but current is '{current}'"
        )));
    }
    Ok(())
}

/// What RabbitMQ 3.10 refuses when a queue is first declared with these flags and arguments,
/// in its order: a value the type does not take for one of its arguments, an argument of
/// another queue type, then (quorum queues and streams) the flags `auto-delete`,
/// `exclusive-owner` and `non-durable`.
/// `entity` is `queue 'name'`.
pub(super) fn new_queue(
    entity: &str,
    arguments: &FieldTable,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
) -> Result<()> {
    let kind = QueueType::of_arguments(arguments);
    let type_name = match kind {
        QueueType::Quorum => "rabbit_quorum_queue",
        QueueType::Stream => "rabbit_stream_queue",
        _ => "rabbit_classic_queue",
    };
    // Values are checked first, of the arguments the type takes.
    let takes = |key: &str| arguments.contains_key(key) && kind.takes_argument(key) == Some(true);
    let word = |key: &str| arguments.get(key).and_then(FieldValue::as_str);
    if takes("x-dead-letter-strategy")
        && !matches!(
            word("x-dead-letter-strategy"),
            Some("at-most-once" | "at-least-once")
        )
    {
        return Err(precondition(format!(
            "invalid arg 'x-dead-letter-strategy' for {entity} in vhost '/': invalid_dlx_strategy"
        )));
    }
    if takes("x-queue-leader-locator")
        && !matches!(
            word("x-queue-leader-locator"),
            Some("client-local" | "balanced" | "random" | "least-leaders")
        )
    {
        return Err(precondition(format!(
            "invalid arg 'x-queue-leader-locator' for {entity} in vhost '/': invalid_queue_locator_arg"
        )));
    }
    if takes("x-max-age") {
        match arguments.get("x-max-age") {
            Some(FieldValue::String(age)) if parse_max_age(age).is_some() => {}
            Some(FieldValue::String(_)) => {
                return Err(precondition(format!(
                    "invalid arg 'x-max-age' for {entity} in vhost '/': invalid_max_age"
                )))
            }
            Some(v) => {
                return Err(precondition(format!(
                    "invalid arg 'x-max-age' for {entity} in vhost '/': {{unacceptable_type,{}}}",
                    amqp_type_name(v)
                )))
            }
            None => {}
        }
    }
    for key in ["x-quorum-initial-group-size", "x-initial-cluster-size"] {
        if !takes(key) {
            continue;
        }
        match arguments.get(key) {
            None => {}
            Some(v) => match v.as_i64() {
                Some(0) => {
                    return Err(precondition(format!(
                        "invalid arg '{key}' for {entity} in vhost '/': {{value_zero,0}}"
                    )))
                }
                Some(n) if n < 0 => {
                    return Err(precondition(format!(
                        "invalid arg '{key}' for {entity} in vhost '/': {{value_negative,{n}}}"
                    )))
                }
                Some(_) => {}
                None => {
                    return Err(precondition(format!(
                    "invalid arg '{key}' for {entity} in vhost '/': \"expected integer, got {}\"",
                    amqp_type_name(v)
                )))
                }
            },
        }
    }
    if let Some(key) = arguments
        .keys()
        .find(|key| kind.takes_argument(key) == Some(false))
    {
        return Err(precondition(format!(
            "invalid arg '{key}' for {entity} in vhost '/' of queue type {type_name}"
        )));
    }
    if kind != QueueType::Classic {
        for (flag, bad) in [
            ("auto-delete", auto_delete),
            ("exclusive-owner", exclusive),
            ("non-durable", !durable),
        ] {
            if bad {
                return Err(precondition(format!(
                    "invalid property '{flag}' for {entity} in vhost '/'"
                )));
            }
        }
    }
    Ok(())
}
