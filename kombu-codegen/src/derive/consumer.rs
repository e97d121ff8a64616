//! `#[derive(Consumer)]`: read and check its attributes (every problem collected, beside the
//! spec built from what was valid).

use super::*;

pub(super) const CONSUMER_KEYS: &[attr::Key] = &[
    key("consumer", Kind::Str),
    many("queue", Kind::Nested),
    key("prefetch", Kind::Int),
    key("concurrency", Kind::Int),
    key("accept", Kind::List),
    key("on_failure", Kind::Str),
];

/// The consumer as far as it could be understood, and the problems found.
pub(super) fn read_consumer(input: &syn::DeriveInput) -> (ir::ConsumerSpec, Errors) {
    let mut errors = Errors::default();
    let entries = attr::parse(&input.attrs, &mut errors);
    let mut ignored = names(PRODUCER_KEYS);
    ignored.retain(|k| !SHARED.contains(k));
    let known: Vec<attr::Key> = CONSUMER_KEYS
        .iter()
        .map(|k| attr::Key {
            name: k.name,
            kind: k.kind,
            repeat: k.repeat,
        })
        .chain([key("exchange", Kind::Nested)])
        .collect();
    let entries = check(
        &entries,
        &known,
        &ignored,
        "`#[kombu(...)]` of a consumer",
        &mut errors,
    );
    let shape = shape(input, &mut errors, "Consumer");
    let exchange = exchange_decl(&entries, &mut errors);
    let ident = input.ident.to_string();
    let stem = str_of(&entries, "consumer")
        .map(|(s, _)| s)
        .unwrap_or_else(|| ident.clone());
    if stem.to_upper_camel_case() != stem {
        if let Some((_, span)) = str_of(&entries, "consumer") {
            errors.push(
                span,
                format!(
                    "`consumer` names a type stem: write it as `{}`",
                    stem.to_upper_camel_case()
                ),
            );
        }
    }
    let handlers: Vec<ir::HandlerSpec> = match &shape.variants {
        Some(variants) => variants
            .iter()
            .map(|(v, _)| ir::HandlerSpec {
                ident: v.tag.to_snake_case(),
                description: v.description.clone(),
                variant: Some((v.ident.clone(), v.fields.clone())),
            })
            .collect(),
        None => vec![ir::HandlerSpec {
            ident: "receive".to_owned(),
            description: description(&input.attrs),
            variant: None,
        }],
    };
    if matches!(input.data, syn::Data::Union(_)) {
        errors.push(
            input.ident.span(),
            "`#[derive(Consumer)]` goes on a message type: a struct, or a tagged enum",
        );
    }
    let mut queues = Vec::new();
    for q in entries.iter().filter(|e| e.key == "queue") {
        if let Some(decl) = queue_decl(q, exchange.as_ref(), &mut errors) {
            let ordered = match &q.value {
                Value::Nested(inner) => attr::bool_of(inner, "ordered").unwrap_or(false),
                _ => false,
            };
            queues.push(ir::ConsumeSpec {
                queue: decl,
                message: ident.clone(),
                handlers: handlers.clone(),
                ordered,
                offset: None,
            });
        }
    }
    if queues.is_empty() && errors.is_empty() {
        errors.push(
            Span::call_site(),
            "a consumer needs at least one `queue(name = \"...\", exchange = \"...\", routing_key = \"...\")`",
        );
    }
    let prefetch = match int_of(&entries, "prefetch") {
        None => 100,
        Some((n, span)) => u16::try_from(n).unwrap_or_else(|_| {
            errors.push(span, "`prefetch` is at most 65535");
            u16::MAX
        }),
    };
    let concurrency = match int_of(&entries, "concurrency") {
        None => 1,
        Some((0, span)) => {
            errors.push(span, "`concurrency` is at least 1");
            1
        }
        Some((n, span)) => u16::try_from(n).unwrap_or_else(|_| {
            errors.push(span, "`concurrency` is at most 65535");
            u16::MAX
        }),
    };
    let on_failure = match str_of(&entries, "on_failure") {
        None => ir::OnFailure::DeadLetter,
        Some((p, span)) => match p.as_str() {
            "dead_letter" => ir::OnFailure::DeadLetter,
            "requeue" => ir::OnFailure::Requeue,
            "hook" => ir::OnFailure::Hook,
            other => {
                let hint = did_you_mean(other, ["dead_letter", "requeue", "hook"])
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_default();
                errors.push(span, format!("unknown failure policy `{other}`: expected `dead_letter`, `requeue` or `hook`{hint}"));
                ir::OnFailure::DeadLetter
            }
        },
    };
    let accept = match attr::get(&entries, "accept") {
        Some(Entry {
            value: Value::List(items),
            ..
        }) => items.clone(),
        _ => Vec::new(),
    };
    let spec = ir::ConsumerSpec {
        name: stem.to_snake_case(),
        ident: stem,
        description: None,
        queues,
        prefetch,
        concurrency,
        on_failure,
        accept,
    };
    (spec, errors)
}
