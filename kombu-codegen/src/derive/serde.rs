//! The serde attributes that decide a message enum's wire form: `tag`, `rename_all`, and a
//! variant's `rename`.

use heck::{ToKebabCase, ToLowerCamelCase, ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};

pub(crate) struct Serde {
    pub(crate) tag: Option<String>,
    rename_all: Option<String>,
}

fn entries(attrs: &[syn::Attribute]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            if meta.input.peek(syn::Token![=]) {
                let value: syn::Expr = meta.value()?.parse()?;
                if let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) = value
                {
                    out.push((key, s.value()));
                }
            } else if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|inner| {
                    if inner.input.peek(syn::Token![=]) {
                        let _: syn::Expr = inner.value()?.parse()?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        });
    }
    out
}

pub(crate) fn read(attrs: &[syn::Attribute]) -> Serde {
    let e = entries(attrs);
    let get = |k: &str| e.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    Serde {
        tag: get("tag"),
        rename_all: get("rename_all"),
    }
}

/// The tag value serde writes for a variant.
pub(crate) fn variant_tag(serde: &Serde, v: &syn::Variant) -> String {
    if let Some((_, rename)) = entries(&v.attrs).into_iter().find(|(k, _)| k == "rename") {
        return rename;
    }
    let name = v.ident.to_string();
    match serde.rename_all.as_deref() {
        Some("snake_case") => name.to_snake_case(),
        Some("kebab-case") => name.to_kebab_case(),
        Some("lowercase") => name.to_lowercase(),
        Some("UPPERCASE") => name.to_uppercase(),
        Some("camelCase") => name.to_lower_camel_case(),
        Some("PascalCase") => name.to_upper_camel_case(),
        Some("SCREAMING_SNAKE_CASE") => name.to_shouty_snake_case(),
        Some("SCREAMING-KEBAB-CASE") => name.to_shouty_snake_case().replace('_', "-"),
        _ => name,
    }
}
