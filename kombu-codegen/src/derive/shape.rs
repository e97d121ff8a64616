//! The item a derive is on: its doc comment, its fields and their types, an enum's variants.

use super::*;

pub(super) fn description(attrs: &[syn::Attribute]) -> Option<String> {
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

/// The item's shape: the enum's variants (with tag values and fields), or none for a struct.
pub(super) struct Shape {
    pub(super) variants: Option<Vec<(ir::Variant, Vec<Entry>)>>,
}

pub(super) fn shape(input: &syn::DeriveInput, errors: &mut Errors, derive: &str) -> Shape {
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

pub(super) fn field(f: &syn::Field) -> ir::Field {
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
pub(super) fn field_type(ty: &syn::Type) -> ir::FieldType {
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

pub(super) fn stem_name(ident: &str, suffix: &str) -> String {
    ident
        .strip_suffix(suffix)
        .filter(|s| !s.is_empty())
        .unwrap_or(ident)
        .to_snake_case()
}
