//! `exchange(...)` and `queue(...)` attributes → the declarations the generator takes: the
//! derive's own keys (`message_ttl_ms`, `queue_type`, ...) become the arguments the broker
//! receives, as the topology path's one mapping gives them.

use super::*;

pub(super) const EXCHANGE_KEYS: &[attr::Key] = &[
    key("name", Kind::Str),
    key("type", Kind::Str),
    key("durable", Kind::Bool),
    key("auto_delete", Kind::Bool),
    key("internal", Kind::Bool),
    key("alternate_exchange", Kind::Str),
];

pub(super) const QUEUE_KEYS: &[attr::Key] = &[
    key("name", Kind::Str),
    key("exchange", Kind::Str),
    key("routing_key", Kind::Str),
    many("binding", Kind::Nested),
    key("durable", Kind::Bool),
    key("exclusive", Kind::Bool),
    key("auto_delete", Kind::Bool),
    key("max_priority", Kind::Int),
    key("max_length", Kind::Int),
    key("message_ttl_ms", Kind::Int),
    key("dead_letter_exchange", Kind::Str),
    key("dead_letter_routing_key", Kind::Str),
    key("queue_type", Kind::Str),
    key("ordered", Kind::Bool),
];

pub(super) const BINDING_KEYS: &[attr::Key] =
    &[key("exchange", Kind::Str), key("routing_key", Kind::Str)];

pub(super) fn exchange_decl(entries: &[Entry], errors: &mut Errors) -> Option<ir::ExchangeDecl> {
    let e = attr::get(entries, "exchange")?;
    let Value::Nested(inner) = &e.value else {
        return None;
    };
    let inner = check(inner, EXCHANGE_KEYS, &[], "`exchange(...)`", errors);
    let Some((name, _)) = str_of(&inner, "name") else {
        errors.push(e.span, "`exchange(...)` needs `name = \"...\"`");
        return None;
    };
    let kind = match str_of(&inner, "type") {
        None => ir::ExchangeKind::Direct,
        Some((t, span)) => {
            const KINDS: &[&str] = &["direct", "fanout", "topic", "headers"];
            if !KINDS.contains(&t.as_str()) && !t.starts_with("x-") {
                let hint = did_you_mean(&t, KINDS.iter().copied())
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_default();
                errors.push(span, format!("unknown exchange type `{t}`: expected `direct`, `fanout`, `topic`, `headers` or a plugin's `x-` type{hint}"));
            }
            ir::ExchangeKind::from_name(&t)
        }
    };
    Some(ir::ExchangeDecl {
        ident: name.to_snake_case(),
        name,
        description: None,
        kind,
        durable: bool_of(&inner, "durable").unwrap_or(true),
        auto_delete: bool_of(&inner, "auto_delete").unwrap_or(false),
        internal: bool_of(&inner, "internal").unwrap_or(false),
        arguments: str_of(&inner, "alternate_exchange")
            .map(|(s, _)| ("alternate-exchange".to_owned(), ir::Arg::Str(s)))
            .into_iter()
            .collect(),
        bindings: Vec::new(),
    })
}

pub(super) fn queue_decl(
    entry: &Entry,
    exchange: Option<&ir::ExchangeDecl>,
    errors: &mut Errors,
) -> Option<ir::QueueDecl> {
    let Value::Nested(inner) = &entry.value else {
        return None;
    };
    let inner = check(inner, QUEUE_KEYS, &[], "`queue(...)`", errors);
    let Some((name, _)) = str_of(&inner, "name") else {
        errors.push(entry.span, "`queue(...)` needs `name = \"...\"`");
        return None;
    };
    let source = |x: &str| -> ir::ExchangeDecl {
        match exchange {
            Some(decl) if decl.name == x => decl.clone(),
            _ => ir::ExchangeDecl::new(x, x.to_snake_case(), ir::ExchangeKind::Direct),
        }
    };
    let mut bindings = Vec::new();
    if let Some((x, _)) = str_of(&inner, "exchange") {
        bindings.push(ir::BindingDecl {
            source: Box::new(source(&x)),
            routing_key: str_of(&inner, "routing_key")
                .map(|(s, _)| s)
                .unwrap_or_default(),
            arguments: Vec::new(),
        });
    } else if let Some((_, span)) = str_of(&inner, "routing_key") {
        errors.push(
            span,
            "`routing_key` binds the queue to its `exchange`, which is missing",
        );
    }
    for b in inner.iter().filter(|e| e.key == "binding") {
        let Value::Nested(binner) = &b.value else {
            continue;
        };
        let binner = check(binner, BINDING_KEYS, &[], "`binding(...)`", errors);
        match str_of(&binner, "exchange") {
            Some((x, _)) => bindings.push(ir::BindingDecl {
                source: Box::new(source(&x)),
                routing_key: str_of(&binner, "routing_key")
                    .map(|(s, _)| s)
                    .unwrap_or_default(),
                arguments: Vec::new(),
            }),
            None => errors.push(b.span, "`binding(...)` needs `exchange = \"...\"`"),
        }
    }
    let small = |key: &str, max: u64, errors: &mut Errors| -> Option<u64> {
        let (n, span) = int_of(&inner, key)?;
        if n > max {
            errors.push(span, format!("`{key}` is at most {max}"));
        }
        Some(n.min(max))
    };
    // The attribute's settings as the arguments `queue.declare` sends, with the widths
    // `kombu::Queue::declare_arguments` gives them (so a derive and a file agree).
    let int = |n: u64| match i32::try_from(n) {
        Ok(v) => ir::Arg::Int {
            width: "I32",
            value: i64::from(v),
        },
        Err(_) => ir::Arg::Int {
            width: "I64",
            value: i64::try_from(n).unwrap_or(i64::MAX),
        },
    };
    let mut arguments: Vec<(String, ir::Arg)> = Vec::new();
    if let Some(n) = small("max_priority", 255, errors) {
        arguments.push(("x-max-priority".to_owned(), int(n)));
    }
    match str_of(&inner, "queue_type") {
        None => {}
        Some((t, _)) if ["classic", "quorum", "stream"].contains(&t.as_str()) => {
            arguments.push(("x-queue-type".to_owned(), ir::Arg::Str(t)));
        }
        Some((t, span)) => errors.push(
            span,
            format!("unknown queue type `{t}`: expected `classic`, `quorum` or `stream`"),
        ),
    }
    if let Some((n, _)) = int_of(&inner, "message_ttl_ms") {
        arguments.push(("x-message-ttl".to_owned(), int(n)));
    }
    if let Some((n, _)) = int_of(&inner, "max_length") {
        arguments.push(("x-max-length".to_owned(), int(n)));
    }
    for (key, arg) in [
        ("dead_letter_exchange", "x-dead-letter-exchange"),
        ("dead_letter_routing_key", "x-dead-letter-routing-key"),
    ] {
        if let Some((s, _)) = str_of(&inner, key) {
            arguments.push((arg.to_owned(), ir::Arg::Str(s)));
        }
    }
    arguments.sort_by(|a, b| a.0.cmp(&b.0));
    Some(ir::QueueDecl {
        ident: name.to_snake_case(),
        name,
        description: None,
        durable: bool_of(&inner, "durable").unwrap_or(true),
        exclusive: bool_of(&inner, "exclusive").unwrap_or(false),
        auto_delete: bool_of(&inner, "auto_delete").unwrap_or(false),
        arguments,
        bindings,
    })
}
