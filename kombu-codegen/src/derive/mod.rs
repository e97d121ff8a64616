//! The derive front end: `#[derive(Producer)]` / `#[derive(Consumer)]` input → the IR.
//!
//! Parse (`attr`: the `#[kombu(...)]` language, `serde`: the serde attributes that decide the
//! wire names) → validate (known keys, types, required keys, the shape of the item; every
//! problem collected) → lower (the same [`ir`] types `kombu-build` produces) →
//! the shared generator. On errors the output is the errors plus a stub, so a mistake is one
//! error, not a cascade of "no method named `new`".

mod attr;
mod serde;

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;

use crate::ir;
use attr::{bool_of, check, int_of, key, many, str_of, Entry, Errors, Kind, Value};

/// The closest known name, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(unknown, k), k))
        .filter(|&(d, k)| d <= (k.len().max(unknown.len()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

const PRODUCER_KEYS: &[attr::Key] = &[
    key("producer", Kind::Str),
    key("exchange", Kind::Nested),
    key("routing_key", Kind::Str),
    key("serializer", Kind::Str),
    key("compression", Kind::Str),
    key("delivery_mode", Kind::Str),
    key("confirm", Kind::Bool),
];

const CONSUMER_KEYS: &[attr::Key] = &[
    key("consumer", Kind::Str),
    many("queue", Kind::Nested),
    key("prefetch", Kind::Int),
    key("concurrency", Kind::Int),
    key("accept", Kind::List),
    key("on_failure", Kind::Str),
];

/// Keys both derives read.
const SHARED: &[&str] = &["exchange"];

const EXCHANGE_KEYS: &[attr::Key] = &[
    key("name", Kind::Str),
    key("type", Kind::Str),
    key("durable", Kind::Bool),
    key("auto_delete", Kind::Bool),
    key("internal", Kind::Bool),
    key("alternate_exchange", Kind::Str),
];

const QUEUE_KEYS: &[attr::Key] = &[
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

const BINDING_KEYS: &[attr::Key] = &[key("exchange", Kind::Str), key("routing_key", Kind::Str)];

const VARIANT_KEYS: &[attr::Key] = &[key("routing_key", Kind::Str)];

const FIELD_KEYS: &[attr::Key] = &[key("producer", Kind::Bool)];

fn names(keys: &[attr::Key]) -> Vec<&'static str> {
    keys.iter().map(|k| k.name).collect()
}

/// `#[derive(Producer)]`. With mistakes in the attributes, the output is the errors plus the
/// producer as far as it was understood, so that code using it reports nothing more.
pub fn derive_producer(input: &syn::DeriveInput) -> TokenStream {
    let (spec, errors) = producer_spec_lenient(input);
    let field_exists = match &input.data {
        syn::Data::Struct(data) => data
            .fields
            .iter()
            .any(|f| f.ident.as_ref().is_some_and(|i| *i == spec.field)),
        syn::Data::Enum(_) => true,
        syn::Data::Union(_) => false,
    };
    let items = if !input.generics.params.is_empty() {
        TokenStream::new()
    } else if field_exists {
        crate::expand::producer_items(&spec).unwrap_or_default()
    } else {
        producer_stub(input)
    };
    match errors.into_error() {
        None => items,
        Some(e) => {
            let e = e.to_compile_error();
            quote! { #e #items }
        }
    }
}

/// `#[derive(Consumer)]`, with the same best-effort output on mistakes.
pub fn derive_consumer(input: &syn::DeriveInput) -> TokenStream {
    let (spec, errors) = consumer_spec_lenient(input);
    let items = if input.generics.params.is_empty() && !matches!(input.data, syn::Data::Union(_)) {
        crate::expand::consumer_items(&spec).unwrap_or_default()
    } else {
        TokenStream::new()
    };
    match errors.into_error() {
        None => items,
        Some(e) => {
            let e = e.to_compile_error();
            quote! { #e #items }
        }
    }
}

/// What a producer struct whose producer field was not found still provides, so that the
/// user's own methods calling `self.publish(...)` add no errors of their own.
fn producer_stub(input: &syn::DeriveInput) -> TokenStream {
    let id = &input.ident;
    quote! {
        #[allow(dead_code, unused_variables)]
        impl #id {
            pub fn publish<'a, T>(&'a self, body: &'a T) -> ::kombu::Publish<'a, T>
            where
                T: ::kombu::__private::serde::Serialize + ::core::marker::Sync + ?::core::marker::Sized,
            {
                ::core::unreachable!()
            }
            pub fn new(channel: &::kombu::Channel) -> Self {
                ::core::unreachable!()
            }
        }
    }
}

fn description(attrs: &[syn::Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|l| l.strip_prefix(' ').unwrap_or(&l).to_owned())
        .collect();
    if lines.is_empty() {
        None
    } else {
        Some(lines.join("\n").trim().to_owned())
    }
}

fn exchange_decl(entries: &[Entry], errors: &mut Errors) -> Option<ir::ExchangeDecl> {
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

/// The item's shape: the enum's variants (with tag values and fields), or none for a struct.
struct Shape {
    variants: Option<Vec<(ir::Variant, Vec<Entry>)>>,
}

fn shape(input: &syn::DeriveInput, errors: &mut Errors, derive: &str) -> Shape {
    if !input.generics.params.is_empty() {
        errors.push(
            input.generics.span(),
            format!("`#[derive({derive})]` does not support generic types"),
        );
    }
    let syn::Data::Enum(data) = &input.data else {
        return Shape { variants: None };
    };
    let serde = serde::read(&input.attrs);
    if serde.tag.is_none() {
        errors.push(
            input.ident.span(),
            format!("`#[derive({derive})]` on an enum needs `#[serde(tag = \"...\")]`: the tag field names the action (as in `{{\"action\": \"import_feed\", ...}}`)"),
        );
    }
    let mut variants = Vec::new();
    for v in &data.variants {
        let mut var_errors = Errors::default();
        let entries = attr::parse(&v.attrs, &mut var_errors);
        let entries = check(
            &entries,
            VARIANT_KEYS,
            &[],
            "a variant's `#[kombu(...)]`",
            &mut var_errors,
        );
        if let Some(e) = var_errors.into_error() {
            errors.push_error(e);
        }
        let fields = match &v.fields {
            syn::Fields::Named(named) => named.named.iter().map(field).collect(),
            syn::Fields::Unit => Vec::new(),
            syn::Fields::Unnamed(u) => {
                errors.push(u.span(), "variants of a tagged message enum have named fields (`ImportFeed { feed_url: String }`) or none");
                continue;
            }
        };
        let tag = serde::variant_tag(&serde, v);
        variants.push((
            ir::Variant {
                ident: v.ident.to_string(),
                tag,
                description: description(&v.attrs),
                fields,
            },
            entries,
        ));
    }
    Shape {
        variants: Some(variants),
    }
}

fn field(f: &syn::Field) -> ir::Field {
    let ident = f.ident.as_ref().map(|i| i.to_string()).unwrap_or_default();
    ir::Field {
        name: ident.trim_start_matches("r#").to_owned(),
        ident,
        description: description(&f.attrs),
        ty: field_type(&f.ty),
    }
}

/// Rust types back to the field type language where they are one of its types, so a derive
/// and a topology file describe the same thing the same way.
fn field_type(ty: &syn::Type) -> ir::FieldType {
    let rust = || ir::FieldType::Message(ty.to_token_stream().to_string().replace(' ', ""));
    let syn::Type::Path(p) = ty else {
        return rust();
    };
    if p.qself.is_some() {
        return rust();
    }
    let Some(last) = p.path.segments.last() else {
        return rust();
    };
    let name = last.ident.to_string();
    let args: Vec<&syn::Type> = match &last.arguments {
        syn::PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    const PRIMS: &[&str] = &[
        "bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64",
    ];
    match (name.as_str(), args.as_slice()) {
        ("String", []) => ir::FieldType::Primitive("string".to_owned()),
        (p, []) if PRIMS.contains(&p) => ir::FieldType::Primitive(p.to_owned()),
        ("Value", []) if p.path.segments.iter().any(|s| s.ident == "serde_json") => {
            ir::FieldType::Primitive("json".to_owned())
        }
        ("Option", [t]) => ir::FieldType::Optional(Box::new(field_type(t))),
        ("Vec", [t]) => ir::FieldType::List(Box::new(field_type(t))),
        ("BTreeMap", [k, v]) if matches!(field_type(k), ir::FieldType::Primitive(ref s) if s == "string") => {
            ir::FieldType::Map(Box::new(field_type(v)))
        }
        _ => rust(),
    }
}

fn stem_name(ident: &str, suffix: &str) -> String {
    ident
        .strip_suffix(suffix)
        .filter(|s| !s.is_empty())
        .unwrap_or(ident)
        .to_snake_case()
}

/// The producer a derive describes.
pub fn producer_spec(input: &syn::DeriveInput) -> syn::Result<ir::ProducerSpec> {
    let (spec, errors) = producer_spec_lenient(input);
    match errors.into_error() {
        Some(e) => Err(e),
        None => Ok(spec),
    }
}

/// The producer as far as it could be understood, and the problems found.
fn producer_spec_lenient(input: &syn::DeriveInput) -> (ir::ProducerSpec, Errors) {
    let mut errors = Errors::default();
    let entries = attr::parse(&input.attrs, &mut errors);
    let mut ignored = names(CONSUMER_KEYS);
    ignored.retain(|k| !SHARED.contains(k));
    let entries = check(
        &entries,
        PRODUCER_KEYS,
        &ignored,
        "`#[kombu(...)]` of a producer",
        &mut errors,
    );
    let shape = shape(input, &mut errors, "Producer");
    let exchange = exchange_decl(&entries, &mut errors);
    let routing_key = str_of(&entries, "routing_key")
        .map(|(s, _)| s)
        .unwrap_or_default();
    let persistent = match str_of(&entries, "delivery_mode") {
        None => true,
        Some((m, _)) if m == "persistent" => true,
        Some((m, _)) if m == "transient" => false,
        Some((m, span)) => {
            errors.push(
                span,
                format!("unknown delivery mode `{m}`: expected `persistent` or `transient`"),
            );
            true
        }
    };
    let ident = input.ident.to_string();
    let (struct_ident, define_struct, field, other_fields, methods) = match (
        &input.data,
        shape.variants,
    ) {
        (syn::Data::Struct(data), _) => {
            if let Some((_, span)) = str_of(&entries, "producer") {
                errors.push(span, "`producer = \"...\"` names the struct generated for an enum; on a struct, the struct is the producer");
            }
            let (field, others) = producer_field(data, &input.ident, &mut errors);
            (ident.clone(), false, field, others, Vec::new())
        }
        (syn::Data::Enum(_), Some(variants)) => {
            let name = str_of(&entries, "producer")
                .map(|(s, _)| s)
                .unwrap_or_else(|| format!("{ident}Producer"));
            let methods = variants
                .iter()
                .map(|(v, ventries)| ir::MethodSpec {
                    ident: v.tag.to_snake_case(),
                    description: v.description.clone(),
                    message: ident.clone(),
                    input: ir::MethodInput::Variant {
                        ident: v.ident.clone(),
                        fields: v.fields.clone(),
                    },
                    routing_key: str_of(ventries, "routing_key")
                        .map(|(s, _)| s)
                        .unwrap_or_else(|| routing_key.clone()),
                    headers: Vec::new(),
                })
                .collect();
            (name, true, "producer".to_owned(), Vec::new(), methods)
        }
        _ => {
            errors.push(input.ident.span(), "`#[derive(Producer)]` goes on a struct (the producer) or a tagged enum (its messages)");
            (
                ident.clone(),
                false,
                "producer".to_owned(),
                Vec::new(),
                Vec::new(),
            )
        }
    };
    let spec = ir::ProducerSpec {
        name: stem_name(&struct_ident, "Producer"),
        ident: struct_ident,
        description: if define_struct {
            None
        } else {
            description(&input.attrs)
        },
        exchange,
        define_struct,
        field,
        other_fields,
        routing_key,
        serializer: str_of(&entries, "serializer")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "json".to_owned()),
        compression: str_of(&entries, "compression").map(|(s, _)| s),
        persistent,
        confirm: if bool_of(&entries, "confirm").unwrap_or(false) {
            ir::Confirm::Wait
        } else {
            ir::Confirm::None
        },
        methods,
    };
    (spec, errors)
}

/// The field that holds the `kombu::Producer`: the one marked `#[kombu(producer)]`, or the only
/// field whose type is `Producer`.
fn producer_field(
    data: &syn::DataStruct,
    ident: &syn::Ident,
    errors: &mut Errors,
) -> (String, Vec<String>) {
    let syn::Fields::Named(named) = &data.fields else {
        errors.push(ident.span(), "a producer struct has named fields, one of them a `kombu::Producer` (`producer: kombu::Producer`)");
        return ("producer".to_owned(), Vec::new());
    };
    let mut marked = Vec::new();
    let mut typed = Vec::new();
    for f in &named.named {
        let mut field_errors = Errors::default();
        let entries = attr::parse(&f.attrs, &mut field_errors);
        let entries = check(
            &entries,
            FIELD_KEYS,
            &[],
            "a field's `#[kombu(...)]`",
            &mut field_errors,
        );
        if let Some(e) = field_errors.into_error() {
            errors.push_error(e);
        }
        let name = f
            .ident
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        if bool_of(&entries, "producer") == Some(true) {
            marked.push(name.clone());
        }
        if let syn::Type::Path(p) = &f.ty {
            if p.path
                .segments
                .last()
                .is_some_and(|s| s.ident == "Producer")
            {
                typed.push(name);
            }
        }
    }
    let field = match (marked.as_slice(), typed.as_slice()) {
        ([one], _) => one.clone(),
        ([], [one]) => one.clone(),
        ([], []) => {
            errors.push(ident.span(), "a producer struct needs a field of type `kombu::Producer` (`producer: kombu::Producer`)");
            return ("producer".to_owned(), Vec::new());
        }
        _ => {
            errors.push(
                ident.span(),
                "several fields could hold the producer: mark one with `#[kombu(producer)]`",
            );
            return ("producer".to_owned(), Vec::new());
        }
    };
    let others = named
        .named
        .iter()
        .filter_map(|f| f.ident.as_ref().map(ToString::to_string))
        .filter(|n| *n != field)
        .collect();
    (field, others)
}

fn queue_decl(
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

/// The consumer a derive describes.
pub fn consumer_spec(input: &syn::DeriveInput) -> syn::Result<ir::ConsumerSpec> {
    let (spec, errors) = consumer_spec_lenient(input);
    match errors.into_error() {
        Some(e) => Err(e),
        None => Ok(spec),
    }
}

/// The consumer as far as it could be understood, and the problems found.
fn consumer_spec_lenient(input: &syn::DeriveInput) -> (ir::ConsumerSpec, Errors) {
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
