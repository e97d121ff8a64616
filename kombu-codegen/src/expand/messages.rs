//! Message types: structs and tagged enums with serde attributes, field types (boxing what a
//! cycle of messages needs boxed), and the names fields are bound to as parameters.

use super::*;

/// What generating a module needs to know about all of it: which message fields must be
/// boxed.
#[derive(Default)]
pub(super) struct Context {
    /// Generated message types that contain themselves (directly, or through others, by
    /// fields that hold the value itself: a message or an optional one), each with the number
    /// of its cycle (its strongly connected component).
    cyclic: HashMap<String, usize>,
    /// The exchange and queue functions written so far.
    pub(super) refs: Refs,
}

impl Context {
    pub(super) fn new(messages: &[MessageType]) -> Self {
        let generated: HashMap<&str, usize> = messages
            .iter()
            .filter(|m| !matches!(m.kind, MessageKind::External(_)))
            .enumerate()
            .map(|(i, m)| (m.ident.as_str(), i))
            .collect();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); generated.len()];
        for m in messages {
            let Some(&from) = generated.get(m.ident.as_str()) else {
                continue;
            };
            let fields: Vec<&Field> = match &m.kind {
                MessageKind::Struct(fields) => fields.iter().collect(),
                MessageKind::Enum { variants, .. } => {
                    variants.iter().flat_map(|v| &v.fields).collect()
                }
                MessageKind::External(_) => Vec::new(),
            };
            for f in fields {
                if let Some(to) = held(&f.ty).and_then(|t| generated.get(t)) {
                    edges[from].push(*to);
                }
            }
        }
        let components = strongly_connected(&edges);
        let mut size = vec![0usize; generated.len()];
        for c in &components {
            size[*c] += 1;
        }
        let cyclic = generated
            .iter()
            .filter(|(_, &i)| size[components[i]] > 1 || edges[i].contains(&i))
            .map(|(name, &i)| ((*name).to_owned(), components[i]))
            .collect();
        Context {
            cyclic,
            refs: Refs::default(),
        }
    }

    /// Whether a field of message `owner` that holds message `target` itself needs a `Box`:
    /// both are in one cycle, so without it the type would have infinite size.
    fn boxes(&self, owner: Option<&str>, target: &str) -> bool {
        owner
            .and_then(|o| self.cyclic.get(o))
            .is_some_and(|c| self.cyclic.get(target) == Some(c))
    }
}

/// The message a field of this type holds inline (itself or optional): a list or a map puts
/// its elements on the heap, so it breaks a cycle.
pub(super) fn held(t: &FieldType) -> Option<&str> {
    match t {
        FieldType::Message(m) => Some(m),
        FieldType::Optional(inner) => held(inner),
        _ => None,
    }
}

/// The strongly connected components of a graph (Tarjan's algorithm, iterative so that a
/// long chain of messages does not exhaust the stack): the component number of each node.
pub(super) fn strongly_connected(edges: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![UNSEEN; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut next_component = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, next edge to follow)
        let mut work = vec![(root, 0usize)];
        while let Some((v, e)) = work.pop() {
            if e == 0 {
                index[v] = next_index;
                low[v] = next_index;
                next_index += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(e) {
                work.push((v, e + 1));
                if index[w] == UNSEEN {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = next_component;
                    if w == v {
                        break;
                    }
                }
                next_component += 1;
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
        }
    }
    component
}

/// The identifiers of a list of fields: each field's own, and the name it is bound to as a
/// parameter (the same, unless the generated function already has a parameter of that name).
pub(super) struct FieldNames {
    pub(super) fields: Vec<proc_macro2::Ident>,
    pub(super) bindings: Vec<proc_macro2::Ident>,
}

pub(super) fn field_names(
    list: &[Field],
    owner: &str,
    reserved: &'static [&'static str],
) -> R<FieldNames> {
    let mut fields_scope = Scope::new(owner.to_owned());
    let mut params_scope = Scope::reserving(format!("the parameters for {owner}"), reserved);
    let mut names = FieldNames {
        fields: Vec::with_capacity(list.len()),
        bindings: Vec::with_capacity(list.len()),
    };
    for f in list {
        let what = format_args!("field `{}`", f.name);
        names.fields.push(fields_scope.claim(&f.ident, what)?);
        names.bindings.push(params_scope.claim(&f.ident, what)?);
    }
    Ok(names)
}

/// A variant's fields as parameters: their names and their types.
pub(super) fn params(
    fields: &[Field],
    message: &str,
    reserved: &'static [&'static str],
    cx: &Context,
) -> R<(FieldNames, Vec<TokenStream>)> {
    let names = field_names(fields, &format!("message `{message}`"), reserved)?;
    let types = fields
        .iter()
        .map(|f| field_type(&f.ty, Some(message), cx))
        .collect::<R<Vec<_>>>()?;
    Ok((names, types))
}

/// `Type { a, b: b_ }`: a variant's fields bound to their parameter names.
pub(super) fn field_pattern(names: &FieldNames) -> TokenStream {
    let parts = names.fields.iter().zip(&names.bindings).map(|(f, b)| {
        if f == b {
            quote! { #f }
        } else {
            quote! { #f: #b }
        }
    });
    quote! { #(#parts),* }
}

/// A message type as the generator writes it: a generated message by its identifier, anything
/// else (an existing type) by its path.
pub(super) fn message_type(path: &str) -> R<TokenStream> {
    if !path.is_empty() && !path.contains(|c: char| ":<>&[]() ,".contains(c)) {
        let id = ident(path)?;
        return Ok(quote! { #id });
    }
    let ty = rust_type(path)?;
    Ok(quote! { #ty })
}

/// The Rust type of a field of message `owner` (`None` outside a generated module).
pub(super) fn field_type(t: &FieldType, owner: Option<&str>, cx: &Context) -> R<TokenStream> {
    field_type_at(t, owner, true, cx)
}

pub(super) fn field_type_at(
    t: &FieldType,
    owner: Option<&str>,
    inline: bool,
    cx: &Context,
) -> R<TokenStream> {
    Ok(match t {
        FieldType::Primitive(p) => match p.as_str() {
            "string" | "timestamp" | "uuid" => quote! { ::std::string::String },
            "bool" => quote! { bool },
            "i8" => quote! { i8 },
            "i16" => quote! { i16 },
            "i32" => quote! { i32 },
            "i64" => quote! { i64 },
            "u8" => quote! { u8 },
            "u16" => quote! { u16 },
            "u32" => quote! { u32 },
            "u64" => quote! { u64 },
            "f32" => quote! { f32 },
            "f64" => quote! { f64 },
            "bytes" => quote! { ::std::vec::Vec<u8> },
            "json" => quote! { ::kombu::__private::serde_json::Value },
            other => return Err(Error::new(format!("unknown primitive type `{other}`"))),
        },
        FieldType::Optional(inner) => {
            let inner = field_type_at(inner, owner, inline, cx)?;
            quote! { ::core::option::Option<#inner> }
        }
        FieldType::List(inner) => {
            let inner = field_type_at(inner, owner, false, cx)?;
            quote! { ::std::vec::Vec<#inner> }
        }
        FieldType::Map(inner) => {
            let inner = field_type_at(inner, owner, false, cx)?;
            quote! { ::std::collections::BTreeMap<::std::string::String, #inner> }
        }
        FieldType::Message(name) => {
            let ty = message_type(name)?;
            if inline && cx.boxes(owner, name) {
                quote! { ::std::boxed::Box<#ty> }
            } else {
                ty
            }
        }
    })
}

pub(super) fn primitive_note(t: &FieldType) -> Option<&'static str> {
    match t {
        FieldType::Primitive(p) if p == "timestamp" => Some("An RFC 3339 timestamp."),
        FieldType::Primitive(p) if p == "uuid" => Some("A UUID in its hyphenated form."),
        FieldType::Optional(inner) | FieldType::List(inner) | FieldType::Map(inner) => {
            primitive_note(inner)
        }
        _ => None,
    }
}

pub(super) fn fields(
    list: &[Field],
    names: &FieldNames,
    owner: &str,
    cx: &Context,
) -> R<Vec<TokenStream>> {
    list.iter()
        .zip(&names.fields)
        .map(|(f, id)| {
            let ty = field_type(&f.ty, Some(owner), cx)?;
            // A field without a description gets none (a `Field x.` line per field was most of
            // a large topology's generated text); the type allows `missing_docs`.
            let doc = doc(field_doc(f).as_deref());
            let wire = &f.name;
            let rename = (id.to_string().trim_start_matches("r#") != wire.as_str())
                .then(|| quote! { #[serde(rename = #wire)] });
            let optional = matches!(f.ty, FieldType::Optional(_)).then(|| {
                quote! { #[serde(default, skip_serializing_if = "::core::option::Option::is_none")] }
            });
            Ok(quote! { #doc #rename #optional #id: #ty })
        })
        .collect()
}

/// A struct message, as the input of `::kombu::__message!` (see [`Piece::Macro`]), which
/// writes the struct with its fields' serde names,
/// its `Deserialize` through kombu's shared visitor (`kombu::__private::record`, which
/// accepts and refuses what serde's derive would, for a fraction of the code to compile) and
/// its `Record` impl, from one line per field.
fn struct_message(
    id: &proc_macro2::Ident,
    attrs: TokenStream,
    list: &[Field],
    names: &FieldNames,
    owner: &str,
    cx: &Context,
) -> R<TokenStream> {
    let fields = list
        .iter()
        .zip(&names.fields)
        .map(|(f, field)| {
            let ty = field_type(&f.ty, Some(owner), cx)?;
            let doc = doc(field_doc(f).as_deref());
            let wire = &f.name;
            let renamed = (*field != wire.as_str()).then(|| quote! { #wire });
            let opt = matches!(f.ty, FieldType::Optional(_)).then(|| quote! { opt });
            let marker = match (renamed, opt) {
                (None, None) => TokenStream::new(),
                (Some(w), None) => quote! { #[wire(#w)] },
                (None, Some(o)) => quote! { #[wire(#o)] },
                (Some(w), Some(o)) => quote! { #[wire(#w, #o)] },
            };
            Ok(quote! { #doc #marker pub #field: #ty })
        })
        .collect::<R<Vec<_>>>()?;
    Ok(quote! {
        #attrs
        pub struct #id {
            #(#fields),*
        }
    })
}

/// A field's doc: its description and what its type means on the wire. A field with neither
/// gets none (a `The x field.` line per field was much of a large topology's generated text);
/// the type allows `missing_docs`.
fn field_doc(f: &Field) -> Option<String> {
    match (f.description.as_deref(), primitive_note(&f.ty)) {
        (Some(d), Some(n)) => Some(format!("{d}\n\n{n}")),
        (Some(d), None) => Some(d.to_owned()),
        (None, n) => n.map(str::to_owned),
    }
}

fn extra_derives(extra: &[String]) -> R<Vec<syn::Path>> {
    extra
        .iter()
        .map(|d| {
            syn::parse_str::<syn::Path>(d).map_err(|e| Error::new(format!("derive `{d}`: {e}")))
        })
        .collect()
}

/// The derives of an enum message (a struct's are `::kombu::__message!`'s).
fn derives(extra: &[String]) -> R<TokenStream> {
    let extra = extra_derives(extra)?;
    Ok(quote! {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            ::kombu::__private::serde::Serialize,
            ::kombu::__private::serde::Deserialize
            #(, #extra)*
        )]
    })
}

pub(super) fn message(
    m: &MessageType,
    id: proc_macro2::Ident,
    extra: &[String],
    cx: &Context,
) -> R<Piece> {
    match &m.kind {
        MessageKind::External(_) => Ok(Piece::Item(TokenStream::new())),
        MessageKind::Struct(list) => {
            let doc = doc_with(format!("Message `{}`.", m.name), m.description.as_deref());
            let names = field_names(list, &format!("message `{}`", m.name), &[])?;
            // The macro derives the rest.
            let extra = extra_derives(extra)?;
            let derive = (!extra.is_empty()).then(|| quote! { #[derive(#(#extra),*)] });
            let attrs = quote! { #doc #derive };
            Ok(Piece::Macro {
                path: quote! { ::kombu::__message },
                item: struct_message(&id, attrs, list, &names, &m.ident, cx)?,
            })
        }
        MessageKind::Enum { tag, variants } => {
            let derive = derives(extra)?;
            let doc = doc_with(
                format!("Message `{}`, dispatched on its `{tag}` field.", m.name),
                m.description.as_deref(),
            );
            let mut scope = Scope::new(format!("message `{}`", m.name));
            let mut items = Vec::new();
            for v in variants {
                let vid = scope.claim(&v.ident, format_args!("variant `{}`", v.tag))?;
                let vdoc = doc_with(
                    format!("`{tag} = \"{}\"`.", v.tag),
                    v.description.as_deref(),
                );
                let wire = &v.tag;
                if v.fields.is_empty() {
                    items.push(quote! { #vdoc #[serde(rename = #wire)] #vid });
                } else {
                    let owner = format!("variant `{}` of message `{}`", v.tag, m.name);
                    let names = field_names(&v.fields, &owner, &[])?;
                    let fields = fields(&v.fields, &names, &m.ident, cx)?;
                    items.push(quote! { #vdoc #[serde(rename = #wire)] #vid { #(#fields,)* } });
                }
            }
            Ok(Piece::Item(quote! {
                #doc
                #derive
                #[serde(crate = "::kombu::__private::serde", tag = #tag)]
                #[allow(dead_code, unreachable_pub, missing_docs, clippy::large_enum_variant)]
                pub enum #id {
                    #(#items,)*
                }
            }))
        }
    }
}
