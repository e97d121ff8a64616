//! `#[derive(Producer)]`: read and check its attributes (every problem collected, beside the
//! spec built from what was valid).

use super::*;

pub(super) const PRODUCER_KEYS: &[attr::Key] = &[
    key("producer", Kind::Str),
    key("exchange", Kind::Nested),
    key("routing_key", Kind::Str),
    key("serializer", Kind::Str),
    key("compression", Kind::Str),
    key("delivery_mode", Kind::Str),
    key("confirm", Kind::Bool),
];

pub(super) const VARIANT_KEYS: &[attr::Key] = &[key("routing_key", Kind::Str)];

pub(super) const FIELD_KEYS: &[attr::Key] = &[key("producer", Kind::Bool)];

/// The producer as far as it could be understood, and the problems found.
pub(super) fn read_producer(input: &syn::DeriveInput) -> (ir::ProducerSpec, Errors) {
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
pub(super) fn producer_field(
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
