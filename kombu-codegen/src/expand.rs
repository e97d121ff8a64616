//! IR → tokens. Every path is absolute (`::kombu::`, `::core::`, `::std::`); items refer to
//! each other relative to the module the output is included in.

use std::collections::{HashMap, HashSet};
use std::fmt;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ir::{
    Arg, BindingDecl, Confirm, ConsumeSpec, ConsumerSpec, ExchangeDecl, Field, FieldType,
    MessageKind, MessageType, MethodInput, MethodSpec, Module, OnFailure, ProducerSpec, QueueDecl,
};
use crate::names::{ident, Owner, Scope};

/// Something in the IR that cannot be turned into Rust (front ends check first, so this is
/// rare: an identifier or a type path that does not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    entities: Vec<(&'static str, String)>,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error::collision(message, Vec::new())
    }

    /// Two items that would get one identifier, with the entities among them.
    pub(crate) fn collision(
        message: impl Into<String>,
        entities: Vec<(&'static str, String)>,
    ) -> Self {
        Error {
            message: message.into(),
            entities,
        }
    }

    /// The top-level entities the error is about, as kind (`"exchange"`, `"queue"`,
    /// `"message"`, `"producer"`, `"consumer"`) and name: both sides of a collision of their
    /// identifiers, so that a front end can point at their declarations.
    pub fn entities(&self) -> &[(&'static str, String)] {
        &self.entities
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

type R<T> = Result<T, Error>;

/// One piece of a generated module, in order. [`generate_each`] hands them out one at a
/// time so that a front end can format and drop each before the next is made: a topology of
/// 100,000 queues is gigabytes of tokens and syntax trees at once, and tens of megabytes of
/// text one item at a time.
#[derive(Debug)]
pub enum Piece {
    /// A whole item.
    Item(TokenStream),
    /// The start of an inline module (`#attrs pub mod name {`); the items up to the matching
    /// [`Piece::ModuleEnd`] are its contents.
    ModuleStart {
        /// Its doc comment and attributes.
        attrs: TokenStream,
        /// Its name.
        name: proc_macro2::Ident,
    },
    /// The end of the module last started.
    ModuleEnd,
}

/// Generates the items of one module.
pub fn generate(module: &Module) -> R<TokenStream> {
    let mut top = TokenStream::new();
    let mut open: Option<(TokenStream, proc_macro2::Ident, TokenStream)> = None;
    generate_each(module, |piece| {
        match piece {
            Piece::Item(item) => match &mut open {
                Some((_, _, body)) => body.extend(item),
                None => top.extend(item),
            },
            Piece::ModuleStart { attrs, name } => open = Some((attrs, name, TokenStream::new())),
            Piece::ModuleEnd => {
                if let Some((attrs, name, body)) = open.take() {
                    top.extend(quote! { #attrs pub mod #name { #body } });
                }
            }
        }
        Ok::<(), Error>(())
    })?;
    Ok(top)
}

/// Generates the items of one module piece by piece, handing each to `emit` (see [`Piece`]).
/// Every identifier is unique in its namespace: a name the generator uses itself gets a
/// trailing `_`, and two items that would still share one are an error naming both.
pub fn generate_each<E: From<Error>>(
    module: &Module,
    mut emit: impl FnMut(Piece) -> Result<(), E>,
) -> Result<(), E> {
    let cx = Context::new(&module.messages);
    let mut types = Scope::reserving("the generated module", &["exchanges", "queues"]);
    let mut exchange_fns = Vec::with_capacity(module.exchanges.len());
    emit(Piece::ModuleStart {
        attrs: quote! {
            /// The exchanges of this topology, as declarations.
            #[allow(dead_code)]
        },
        name: ident("exchanges")?,
    })?;
    let mut scope = Scope::new("module `exchanges`");
    for x in &module.exchanges {
        let (item, f) = exchange_item(x, &mut scope)?;
        exchange_fns.push(f);
        emit(Piece::Item(item))?;
    }
    emit(Piece::ModuleEnd)?;
    for m in &module.messages {
        if matches!(m.kind, MessageKind::External(_)) {
            continue;
        }
        let id = types.claim(&m.ident, Owner::entity("message", &m.name))?;
        emit(Piece::Item(message(m, id, &module.extra_derives, &cx)?))?;
    }
    let mut queue_fns = Vec::with_capacity(module.queues.len());
    emit(Piece::ModuleStart {
        attrs: quote! {
            /// The queues of this topology, as declarations with their bindings.
            #[allow(dead_code)]
        },
        name: ident("queues")?,
    })?;
    let mut scope = Scope::new("module `queues`");
    for q in &module.queues {
        let (item, f) = queue_item(q, &mut scope)?;
        queue_fns.push(f);
        emit(Piece::Item(item))?;
    }
    emit(Piece::ModuleEnd)?;
    emit(Piece::Item(declare_all(&exchange_fns, &queue_fns)))?;
    for p in &module.producers {
        if p.define_struct {
            types.claim(&p.ident, Owner::entity("producer", &p.name))?;
        }
        emit(Piece::Item(producer(p, &cx)?))?;
    }
    for c in &module.consumers {
        types.claim(
            &format!("{}Handler", c.ident),
            Owner::part_of(Some("the handler trait"), "consumer", &c.name),
        )?;
        types.claim(
            &format!("{}Consumer", c.ident),
            Owner::entity("consumer", &c.name),
        )?;
        emit(Piece::Item(consumer(c, &cx)?))?;
    }
    Ok(())
}

/// `#[doc = ...]` lines for a description.
fn doc(text: Option<&str>) -> TokenStream {
    let Some(text) = text else {
        return TokenStream::new();
    };
    let lines = text.lines().map(|l| format!(" {l}"));
    quote! { #(#[doc = #lines])* }
}

fn doc_with(first: String, text: Option<&str>) -> TokenStream {
    match text {
        Some(t) => doc(Some(&format!("{first}\n\n{t}"))),
        None => doc(Some(&first)),
    }
}

fn rust_type(path: &str) -> R<syn::Type> {
    syn::parse_str(path).map_err(|e| Error::new(format!("`{path}` is not a Rust type: {e}")))
}

fn arg(a: &Arg) -> R<TokenStream> {
    Ok(match a {
        Arg::Bool(b) => quote! { ::kombu::FieldValue::Bool(#b) },
        Arg::Int { width, value } => {
            let variant = ident(width)?;
            let lit = Literal::i64_unsuffixed(*value);
            quote! { ::kombu::FieldValue::#variant(#lit) }
        }
        Arg::F32(v) => quote! { ::kombu::FieldValue::F32(#v) },
        Arg::F64(v) => quote! { ::kombu::FieldValue::F64(#v) },
        Arg::Decimal { scale, value } => {
            quote! { ::kombu::FieldValue::Decimal(::kombu::Decimal { scale: #scale, value: #value }) }
        }
        Arg::Str(s) => quote! { ::kombu::FieldValue::String(::std::string::String::from(#s)) },
        Arg::Bytes(b) => quote! { ::kombu::FieldValue::Bytes(::std::vec![#(#b),*]) },
        Arg::Timestamp(t) => quote! { ::kombu::FieldValue::Timestamp(#t) },
        Arg::Void => quote! { ::kombu::FieldValue::Void },
        Arg::List(items) => {
            let items = items.iter().map(arg).collect::<R<Vec<_>>>()?;
            quote! { ::kombu::FieldValue::Array(::std::vec![#(#items),*]) }
        }
        Arg::Table(entries) => {
            let table = table(entries)?;
            quote! { ::kombu::FieldValue::Table(#table) }
        }
    })
}

fn table(entries: &[(String, Arg)]) -> R<TokenStream> {
    let keys = entries.iter().map(|(k, _)| k);
    let values = entries.iter().map(|(_, v)| arg(v)).collect::<R<Vec<_>>>()?;
    Ok(quote! {
        ::kombu::FieldTable::from([#((::std::string::String::from(#keys), #values)),*])
    })
}

fn arguments(entries: &[(String, Arg)]) -> R<TokenStream> {
    let keys = entries.iter().map(|(k, _)| k);
    let values = entries.iter().map(|(_, v)| arg(v)).collect::<R<Vec<_>>>()?;
    Ok(quote! { #(.argument(#keys, #values))* })
}

fn exchange_base(x: &ExchangeDecl) -> R<TokenStream> {
    let name = &x.name;
    let kind = &x.kind;
    let durable = x.durable;
    let auto_delete = x.auto_delete;
    let internal = x.internal;
    let args = arguments(&x.arguments)?;
    let alternate = x
        .alternate_exchange
        .as_ref()
        .map(|a| quote! { .alternate_exchange(#a) });
    Ok(quote! {
        ::kombu::Exchange::new(#name, ::kombu::ExchangeKind::from(#kind))
            .durable(#durable)
            .auto_delete(#auto_delete)
            .internal(#internal)
            #args
            #alternate
    })
}

/// An exchange's declaration: its settings, then its exchange-to-exchange bindings (each
/// source declared without its own bindings, so cycles stay finite).
fn exchange(x: &ExchangeDecl) -> R<TokenStream> {
    let base = exchange_base(x)?;
    if x.bindings.is_empty() {
        return Ok(base);
    }
    let bindings = x.bindings.iter().map(binding).collect::<R<Vec<_>>>()?;
    Ok(quote! {
        {
            let mut exchange = #base;
            exchange.bindings = ::std::vec![#(#bindings),*];
            exchange
        }
    })
}

fn binding(b: &BindingDecl) -> R<TokenStream> {
    let key = &b.routing_key;
    let source = exchange_base(&b.source)?;
    let args = arguments(&b.arguments)?;
    Ok(quote! { ::kombu::Binding::new(#source, #key) #args })
}

/// One exchange's constant and function in module `exchanges`, and the function's name.
fn exchange_item(x: &ExchangeDecl, scope: &mut Scope) -> R<(TokenStream, proc_macro2::Ident)> {
    let name = &x.name;
    let f = scope.claim(&x.ident, Owner::entity("exchange", name))?;
    let konst = scope.claim_const(
        &x.ident,
        Owner::part_of(Some("the constant"), "exchange", name),
    )?;
    let body = exchange(x)?;
    let doc = doc_with(
        format!("Exchange `{name}` ({}).", x.kind),
        x.description.as_deref(),
    );
    let const_doc = format!(" The name of exchange `{name}`.");
    let item = quote! {
        #[doc = #const_doc]
        pub const #konst: &str = #name;
        #doc
        pub fn #f() -> ::kombu::Exchange {
            #body
        }
    };
    Ok((item, f))
}

fn queue(q: &QueueDecl) -> R<TokenStream> {
    let name = &q.name;
    let durable = q.durable;
    let exclusive = q.exclusive;
    let auto_delete = q.auto_delete;
    let mut calls = Vec::new();
    calls.push(arguments(&q.arguments)?);
    if let Some(t) = &q.queue_type {
        let v = ident(&capitalize(t))?;
        calls.push(quote! { .queue_type(::kombu::QueueType::#v) });
    }
    if let Some(ms) = q.message_ttl_ms {
        calls.push(quote! { .message_ttl(::core::time::Duration::from_millis(#ms)) });
    }
    if let Some(ms) = q.expires_ms {
        calls.push(quote! { .expires(::core::time::Duration::from_millis(#ms)) });
    }
    if let Some(n) = q.max_length {
        calls.push(quote! { .max_length(#n) });
    }
    if let Some(n) = q.max_length_bytes {
        calls.push(quote! { .max_length_bytes(#n) });
    }
    if let Some(n) = q.max_priority {
        calls.push(quote! { .max_priority(#n) });
    }
    if let Some(o) = &q.overflow {
        let v = ident(&o.split('-').map(capitalize).collect::<String>())?;
        calls.push(quote! { .overflow(::kombu::Overflow::#v) });
    }
    if let Some(x) = &q.dead_letter_exchange {
        calls.push(quote! { .dead_letter_exchange(#x) });
    }
    if let Some(k) = &q.dead_letter_routing_key {
        calls.push(quote! { .dead_letter_routing_key(#k) });
    }
    for b in &q.bindings {
        let b = binding(b)?;
        calls.push(quote! { .binding(#b) });
    }
    Ok(quote! {
        ::kombu::Queue::new(#name)
            .durable(#durable)
            .exclusive(#exclusive)
            .auto_delete(#auto_delete)
            #(#calls)*
    })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One queue's constant and function in module `queues`, and the function's name.
fn queue_item(q: &QueueDecl, scope: &mut Scope) -> R<(TokenStream, proc_macro2::Ident)> {
    let name = &q.name;
    let f = scope.claim(&q.ident, Owner::entity("queue", name))?;
    let konst = scope.claim_const(
        &q.ident,
        Owner::part_of(Some("the constant"), "queue", name),
    )?;
    let body = queue(q)?;
    let doc = doc_with(format!("Queue `{name}`."), q.description.as_deref());
    let const_doc = format!(" The name of queue `{name}`.");
    let item = quote! {
        #[doc = #const_doc]
        pub const #konst: &str = #name;
        #doc
        pub fn #f() -> ::kombu::Queue { #body }
    };
    Ok((item, f))
}

/// What generating a module needs to know about all of it: which message fields must be
/// boxed.
#[derive(Default)]
struct Context {
    /// Generated message types that contain themselves (directly, or through others, by
    /// fields that hold the value itself: a message or an optional one), each with the number
    /// of its cycle (its strongly connected component).
    cyclic: HashMap<String, usize>,
}

impl Context {
    fn new(messages: &[MessageType]) -> Self {
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
        Context { cyclic }
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
fn held(t: &FieldType) -> Option<&str> {
    match t {
        FieldType::Message(m) => Some(m),
        FieldType::Optional(inner) => held(inner),
        _ => None,
    }
}

/// The strongly connected components of a graph (Tarjan's algorithm, iterative so that a
/// long chain of messages does not exhaust the stack): the component number of each node.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<usize> {
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
struct FieldNames {
    fields: Vec<proc_macro2::Ident>,
    bindings: Vec<proc_macro2::Ident>,
}

fn field_names(list: &[Field], owner: &str, reserved: &'static [&'static str]) -> R<FieldNames> {
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
fn params(
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
fn field_pattern(names: &FieldNames) -> TokenStream {
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
fn message_type(path: &str) -> R<TokenStream> {
    if !path.is_empty() && !path.contains(|c: char| ":<>&[]() ,".contains(c)) {
        let id = ident(path)?;
        return Ok(quote! { #id });
    }
    let ty = rust_type(path)?;
    Ok(quote! { #ty })
}

/// The Rust type of a field of message `owner` (`None` outside a generated module).
fn field_type(t: &FieldType, owner: Option<&str>, cx: &Context) -> R<TokenStream> {
    field_type_at(t, owner, true, cx)
}

fn field_type_at(t: &FieldType, owner: Option<&str>, inline: bool, cx: &Context) -> R<TokenStream> {
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

fn primitive_note(t: &FieldType) -> Option<&'static str> {
    match t {
        FieldType::Primitive(p) if p == "timestamp" => Some("An RFC 3339 timestamp."),
        FieldType::Primitive(p) if p == "uuid" => Some("A UUID in its hyphenated form."),
        FieldType::Optional(inner) | FieldType::List(inner) | FieldType::Map(inner) => {
            primitive_note(inner)
        }
        _ => None,
    }
}

fn fields(
    list: &[Field],
    names: &FieldNames,
    owner: &str,
    public: bool,
    cx: &Context,
) -> R<Vec<TokenStream>> {
    list.iter()
        .zip(&names.fields)
        .map(|(f, id)| {
            let ty = field_type(&f.ty, Some(owner), cx)?;
            let base = f
                .description
                .clone()
                .unwrap_or_else(|| format!("The `{}` field.", f.name));
            let description = match primitive_note(&f.ty) {
                Some(n) => Some(format!("{base}\n\n{n}")),
                None => Some(base),
            };
            let doc = doc(description.as_deref());
            let wire = &f.name;
            let rename = (id.to_string().trim_start_matches("r#") != wire.as_str())
                .then(|| quote! { #[serde(rename = #wire)] });
            let optional = matches!(f.ty, FieldType::Optional(_)).then(|| {
                quote! { #[serde(default, skip_serializing_if = "::core::option::Option::is_none")] }
            });
            let vis = public.then(|| quote! { pub });
            Ok(quote! { #doc #rename #optional #vis #id: #ty })
        })
        .collect()
}

fn derives(extra: &[String]) -> R<TokenStream> {
    let extra = extra
        .iter()
        .map(|d| {
            syn::parse_str::<syn::Path>(d).map_err(|e| Error::new(format!("derive `{d}`: {e}")))
        })
        .collect::<R<Vec<_>>>()?;
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

fn message(
    m: &MessageType,
    id: proc_macro2::Ident,
    extra: &[String],
    cx: &Context,
) -> R<TokenStream> {
    let derive = derives(extra)?;
    match &m.kind {
        MessageKind::External(_) => Ok(TokenStream::new()),
        MessageKind::Struct(list) => {
            let doc = doc_with(format!("Message `{}`.", m.name), m.description.as_deref());
            let names = field_names(list, &format!("message `{}`", m.name), &[])?;
            let fields = fields(list, &names, &m.ident, true, cx)?;
            Ok(quote! {
                #doc
                #derive
                #[serde(crate = "::kombu::__private::serde")]
                #[allow(dead_code)]
                pub struct #id {
                    #(#fields,)*
                }
            })
        }
        MessageKind::Enum { tag, variants } => {
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
                    let fields = fields(&v.fields, &names, &m.ident, false, cx)?;
                    items.push(quote! { #vdoc #[serde(rename = #wire)] #vid { #(#fields,)* } });
                }
            }
            Ok(quote! {
                #doc
                #derive
                #[serde(crate = "::kombu::__private::serde", tag = #tag)]
                #[allow(dead_code, clippy::large_enum_variant)]
                pub enum #id {
                    #(#items,)*
                }
            })
        }
    }
}

fn declare_all(xs: &[proc_macro2::Ident], qs: &[proc_macro2::Ident]) -> TokenStream {
    quote! {
        /// Declares every exchange, queue and binding of this topology on `channel`: the
        /// exchanges first (with their exchange-to-exchange bindings), then the queues.
        #[allow(dead_code)]
        pub async fn declare_all(channel: &::kombu::Channel) -> ::kombu::Result<()> {
            ::kombu::__private::require_declare(channel, "the topology")?;
            #(channel.declare_exchange(&exchanges::#xs()).await?;)*
            #(channel.declare_queue(&queues::#qs()).await?;)*
            ::core::result::Result::Ok(())
        }

        /// Every exchange and every queue of this topology, as declarations, in file order
        /// (what [`declare_all`] declares; equal to what `kombu::topology::Topology` gives at
        /// run time for the same files).
        #[allow(dead_code)]
        pub fn declarations() -> (::std::vec::Vec<::kombu::Exchange>, ::std::vec::Vec<::kombu::Queue>) {
            (
                ::std::vec![#(exchanges::#xs()),*],
                ::std::vec![#(queues::#qs()),*],
            )
        }
    }
}

/// The methods every producer has; a topology's method of the same name gets a trailing `_`.
const PRODUCER_METHODS: &[&str] = &[
    "exchange",
    "new",
    "from_connection",
    "publish",
    "declare",
    "producer",
];

fn method(
    m: &MethodSpec,
    id: proc_macro2::Ident,
    field: &proc_macro2::Ident,
    cx: &Context,
) -> R<TokenStream> {
    let key = &m.routing_key;
    let doc = doc_with(
        format!("Publishes with routing key `{key}`."),
        m.description.as_deref(),
    );
    let header_keys = m.headers.iter().map(|(k, _)| k);
    let header_values = m
        .headers
        .iter()
        .map(|(_, v)| arg(v))
        .collect::<R<Vec<_>>>()?;
    let publish = quote! {
        self.#field
            .publish(message)
            .routing_key(#key)
            #(.header(#header_keys, #header_values))*
            .await
    };
    let ty = message_type(&m.message)?;
    match &m.input {
        MethodInput::Message => Ok(quote! {
            #doc
            pub async fn #id(&self, message: &#ty) -> ::kombu::Result<()> {
                #publish
            }
        }),
        MethodInput::Variant { ident: v, fields } => {
            let v = ident(v)?;
            let (names, types) = params(fields, &m.message, &[], cx)?;
            let build = if fields.is_empty() {
                quote! { #ty::#v }
            } else {
                let pattern = field_pattern(&names);
                quote! { #ty::#v { #pattern } }
            };
            let bindings = &names.bindings;
            Ok(quote! {
                #doc
                pub async fn #id(&self #(, #bindings: #types)*) -> ::kombu::Result<()> {
                    let message = &#build;
                    #publish
                }
            })
        }
    }
}

/// The items of one producer (its struct, if it defines one, and its impl).
pub fn producer_items(p: &ProducerSpec) -> R<TokenStream> {
    producer(p, &Context::default())
}

fn producer(p: &ProducerSpec, cx: &Context) -> R<TokenStream> {
    let id = ident(&p.ident)?;
    let field = ident(&p.field)?;
    let doc = doc_with(format!("Producer `{}`.", p.name), p.description.as_deref());
    let (exchange_decl, exchange_doc) = match &p.exchange {
        Some(x) => (
            exchange(x)?,
            format!(" The exchange it publishes to: `{}` ({}).", x.name, x.kind),
        ),
        None => (
            quote! { ::kombu::Exchange::default_exchange() },
            " The default exchange: the routing key names the queue.".to_owned(),
        ),
    };
    let key = &p.routing_key;
    let serializer = &p.serializer;
    let compression = p.compression.as_ref().map(|c| quote! { .compression(#c) });
    let mode = if p.persistent {
        quote! { ::kombu::DeliveryMode::Persistent }
    } else {
        quote! { ::kombu::DeliveryMode::Transient }
    };
    let confirm = p.confirm == Confirm::Wait;
    let mut scope = Scope::reserving(
        format!("the methods of producer `{}`", p.name),
        PRODUCER_METHODS,
    );
    let methods = p
        .methods
        .iter()
        .map(|m| {
            let id = scope.claim(&m.ident, format_args!("method `{}`", m.ident))?;
            method(m, id, &field, cx)
        })
        .collect::<R<Vec<_>>>()?;
    let others = p
        .other_fields
        .iter()
        .map(|f| ident(f))
        .collect::<R<Vec<_>>>()?;
    let definition = p.define_struct.then(|| {
        quote! {
            #doc
            #[allow(dead_code)]
            #[derive(Debug)]
            pub struct #id {
                #field: ::kombu::Producer,
            }
        }
    });
    Ok(quote! {
        #definition

        // A variant's fields are the method's parameters, and the topology names the methods.
        #[allow(dead_code, clippy::too_many_arguments, clippy::wrong_self_convention)]
        impl #id {
            #[doc = #exchange_doc]
            pub fn exchange() -> ::kombu::Exchange {
                #exchange_decl
            }

            /// A producer on `channel`; its exchange is declared before the first publish.
            pub fn new(channel: &::kombu::Channel) -> Self {
                let #field = ::kombu::Producer::new(channel)
                    .exchange(Self::exchange())
                    .routing_key(#key)
                    .serializer(#serializer)
                    #compression
                    .delivery_mode(#mode)
                    .confirm(#confirm);
                Self { #field, #(#others: ::core::default::Default::default(),)* }
            }

            /// A producer on a new channel of `connection`.
            pub async fn from_connection(connection: &::kombu::Connection) -> ::kombu::Result<Self> {
                let channel = connection.channel().await?;
                ::core::result::Result::Ok(Self::new(&channel))
            }

            /// Publishes `body` with the default routing key (change it, and anything else,
            /// on the returned `Publish` before awaiting it).
            pub fn publish<'a, T>(&'a self, body: &'a T) -> ::kombu::Publish<'a, T>
            where
                T: ::kombu::__private::serde::Serialize + ::core::marker::Sync + ?::core::marker::Sized,
            {
                self.#field.publish(body)
            }

            /// Declares the exchange now (it is declared before the first publish anyway).
            pub async fn declare(&self) -> ::kombu::Result<()> {
                self.#field.declare().await
            }

            /// The untyped producer underneath, for anything the methods do not cover.
            pub fn producer(&self) -> &::kombu::Producer {
                &self.#field
            }

            #(#methods)*
        }
    })
}

/// The parameter a handler gets besides the message or its fields.
const HANDLER_PARAMS: &[&str] = &["delivery", "handler"];

/// A handler method's signature, and the arguments the consumer calls it with.
fn handler_sig(
    c: &ConsumeSpec,
    h: &crate::ir::HandlerSpec,
    id: &proc_macro2::Ident,
    cx: &Context,
) -> R<(TokenStream, TokenStream)> {
    let queue = &c.queue.name;
    let (params, call_args, doc) = match &h.variant {
        None => {
            let ty = message_type(&c.message)?;
            (
                quote! { message: #ty, },
                quote! { message, },
                doc_with(
                    format!("Handles a message from queue `{queue}`."),
                    h.description.as_deref(),
                ),
            )
        }
        Some((v, fields)) => {
            let (names, types) = params(fields, &c.message, HANDLER_PARAMS, cx)?;
            let bindings = &names.bindings;
            (
                quote! { #(#bindings: #types,)* },
                quote! { #(#bindings,)* },
                doc_with(
                    format!("Handles variant `{v}` from queue `{queue}`."),
                    h.description.as_deref(),
                ),
            )
        }
    };
    let sig = quote! {
        #doc
        fn #id(&self, #params delivery: &::kombu::Message)
            -> impl ::core::future::Future<Output = ::kombu::Disposition> + ::core::marker::Send;
    };
    Ok((sig, call_args))
}

/// The items of one consumer: its handler trait and its consumer struct.
pub fn consumer_items(c: &ConsumerSpec) -> R<TokenStream> {
    consumer(c, &Context::default())
}

/// The name of the consumer's handler type parameter: `H`, unless a message it dispatches is
/// called that (inside the impl, `H` would mean the parameter).
fn handler_param(c: &ConsumerSpec) -> proc_macro2::Ident {
    let used: HashSet<&str> = c
        .queues
        .iter()
        .flat_map(|q| {
            q.message
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
        })
        .collect();
    let mut name = "H".to_owned();
    while used.contains(name.as_str()) {
        name.push('_');
    }
    proc_macro2::Ident::new(&name, proc_macro2::Span::call_site())
}

fn consumer(c: &ConsumerSpec, cx: &Context) -> R<TokenStream> {
    let handler_ty = handler_param(c);
    let stem = &c.ident;
    let trait_id = ident(&format!("{stem}Handler"))?;
    let struct_id = ident(&format!("{stem}Consumer"))?;
    let name = &c.name;
    let prefetch = c.prefetch;
    let concurrency = usize::from(c.concurrency.max(1));
    let ordered: Vec<&str> = c
        .queues
        .iter()
        .filter(|q| q.ordered)
        .map(|q| q.queue.name.as_str())
        .collect();
    let mut sigs = Vec::new();
    let mut arms = Vec::new();
    let mut queue_fns = Vec::new();
    let hook = c.on_failure == OnFailure::Hook;
    let mut scope = Scope::reserving(
        format!("the handler methods of consumer `{name}`"),
        if hook { &["on_failure"] } else { &[] },
    );
    // Queues that carry the same message share its handler methods.
    let mut declared: HashMap<&str, proc_macro2::Ident> = HashMap::new();
    for q in &c.queues {
        queue_fns.push(queue(&q.queue)?);
        let queue = &q.queue.name;
        let ty = message_type(&q.message)?;
        let mut variant_arms = Vec::new();
        for h in &q.handlers {
            let (hid, first) = match declared.get(h.ident.as_str()) {
                Some(id) => (id.clone(), false),
                None => {
                    let id = scope.claim(&h.ident, format_args!("handler `{}`", h.ident))?;
                    declared.insert(&h.ident, id.clone());
                    (id, true)
                }
            };
            let (sig, args) = handler_sig(q, h, &hid, cx)?;
            if first {
                sigs.push(sig);
            }
            match &h.variant {
                None => variant_arms.push(quote! {
                    ::core::result::Result::Ok(message) => ::core::result::Result::Ok(handler.#hid(#args delivery).await),
                }),
                Some((v, fields)) => {
                    let v = ident(v)?;
                    let pattern = if fields.is_empty() {
                        quote! { #ty::#v }
                    } else {
                        let names = field_names(fields, &format!("message `{}`", q.message), HANDLER_PARAMS)?;
                        let fields = field_pattern(&names);
                        quote! { #ty::#v { #fields } }
                    };
                    variant_arms.push(quote! {
                        ::core::result::Result::Ok(#pattern) => ::core::result::Result::Ok(handler.#hid(#args delivery).await),
                    });
                }
            }
        }
        arms.push(quote! {
            ::core::option::Option::Some(#queue) => match delivery.decode::<#ty>() {
                #(#variant_arms)*
                ::core::result::Result::Err(error) => ::core::result::Result::Err(error),
            },
        });
    }
    let (policy, hook_sig, on_error) = match c.on_failure {
        OnFailure::DeadLetter => (quote! { DeadLetter }, TokenStream::new(), None),
        OnFailure::Requeue => (quote! { Requeue }, TokenStream::new(), None),
        OnFailure::Hook => (
            quote! { Hook },
            quote! {
                /// Decides what happens to a message that could not be decoded, has an unknown
                /// tag, or arrived on a queue this consumer does not handle.
                fn on_failure(&self, error: ::kombu::Error, delivery: &::kombu::Message)
                    -> impl ::core::future::Future<Output = ::kombu::Disposition> + ::core::marker::Send;
            },
            Some(quote! { handler.on_failure(error, delivery).await }),
        ),
    };
    let failure = match on_error {
        Some(hook) => quote! {
            let _ = ::kombu::__private::failed(Self::NAME, queue, ::kombu::FailurePolicy::#policy, delivery, &error);
            #hook
        },
        None => quote! {
            ::kombu::__private::failed(Self::NAME, queue, ::kombu::FailurePolicy::#policy, delivery, &error)
        },
    };
    let accept = if c.accept.is_empty() {
        TokenStream::new()
    } else {
        let names = &c.accept;
        quote! { .accept(::kombu::serialization::Accept::new([#(#names),*])) }
    };
    let trait_doc = doc_with(
        format!("What consumer `{name}` does with each message; one method per message type or variant."),
        c.description.as_deref(),
    );
    let struct_doc = doc_with(
        format!("Consumer `{name}`: consumes its queues and dispatches each message to a [`{stem}Handler`] method."),
        c.description.as_deref(),
    );
    Ok(quote! {
        #trait_doc
        #[allow(dead_code, clippy::too_many_arguments, clippy::wrong_self_convention)]
        pub trait #trait_id: ::core::marker::Send + ::core::marker::Sync {
            #(#sigs)*
            #hook_sig
        }

        #struct_doc
        #[allow(dead_code)]
        pub struct #struct_id<#handler_ty> {
            consumer: ::kombu::Consumer,
            handler: #handler_ty,
            concurrency: usize,
        }

        // The handler need not be `Debug`; it is left out.
        #[automatically_derived]
        impl<#handler_ty> ::core::fmt::Debug for #struct_id<#handler_ty> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#struct_id))
                    .field("consumer", &self.consumer)
                    .field("concurrency", &self.concurrency)
                    .finish_non_exhaustive()
            }
        }

        #[allow(dead_code)]
        impl<#handler_ty: #trait_id> #struct_id<#handler_ty> {
            /// The consumer's name in the topology.
            pub const NAME: &'static str = #name;
            /// The prefetch count it consumes with.
            pub const PREFETCH: u16 = #prefetch;
            /// How many handlers [`run`](Self::run) runs at once, unless
            /// [`concurrency`](Self::concurrency) says otherwise.
            pub const CONCURRENCY: usize = #concurrency;
            /// The queues whose messages are handled one at a time, in order.
            pub const ORDERED: &'static [&'static str] = &[#(#ordered),*];

            /// Declares the queues (with their exchanges and bindings), sets the prefetch and
            /// starts consuming.
            pub async fn start(channel: &::kombu::Channel, handler: #handler_ty) -> ::kombu::Result<Self> {
                let mut consumer = ::kombu::Consumer::new(channel, [#(#queue_fns),*])
                    .prefetch_count(#prefetch)
                    #accept;
                consumer.consume().await?;
                ::core::result::Result::Ok(Self { consumer, handler, concurrency: Self::CONCURRENCY })
            }

            /// Runs up to `n` handlers at once (at least 1). More than the prefetch never run.
            pub fn concurrency(mut self, n: usize) -> Self {
                self.concurrency = n.max(1);
                self
            }

            /// The handler.
            pub fn handler(&self) -> &#handler_ty {
                &self.handler
            }

            /// The untyped consumer underneath (to cancel it, for example).
            pub fn consumer(&mut self) -> &mut ::kombu::Consumer {
                &mut self.consumer
            }

            /// Waits up to `timeout` for the next message, handles and settles it, and says
            /// what was done with it.
            pub async fn handle_next(&mut self, timeout: ::core::time::Duration) -> ::kombu::Result<::kombu::Disposition> {
                let delivery = self.consumer.recv(timeout).await?;
                ::core::result::Result::Ok(self.handle(&delivery).await)
            }

            /// How [`run`](Self::run) hands messages to the handler: the concurrency, the
            /// ordered queues, the failure policy for a handler that panics.
            pub fn run_options(&self) -> ::kombu::RunOptions {
                ::kombu::RunOptions::new()
                    .name(Self::NAME)
                    .concurrency(self.concurrency)
                    .on_panic(::kombu::FailurePolicy::#policy)
                    #(.ordered(#ordered))*
            }

            /// Handles messages, up to the concurrency at once, each acked (or rejected) as
            /// its handler finishes, until the consumer is cancelled or its channel or
            /// connection closes; then returns `Ok`. A broker cancel is returned as an error
            /// once the handlers in flight have finished.
            pub async fn run(&mut self) -> ::kombu::Result<()> {
                let options = self.run_options();
                self.run_with(options).await
            }

            /// [`run`](Self::run) until `shutdown` is requested: then it stops taking messages,
            /// lets the handlers in flight finish within the grace period, gives back what was
            /// delivered but not started, and returns. Close the connection after it.
            pub async fn run_until(&mut self, shutdown: &::kombu::Shutdown) -> ::kombu::Result<()> {
                let options = self.run_options().shutdown(shutdown.clone());
                self.run_with(options).await
            }

            /// [`run`](Self::run) with options of your own.
            pub async fn run_with(&mut self, options: ::kombu::RunOptions) -> ::kombu::Result<()> {
                let handler = &self.handler;
                ::kombu::__private::run(&mut self.consumer, &options, async |delivery: &::kombu::Message, queue: ::core::option::Option<&str>| {
                    Self::dispatch(handler, queue, delivery).await
                })
                .await
            }

            /// Decodes one delivery by its content type, dispatches it by queue (and tag) to
            /// the handler, and settles it as the handler decided. A delivery that cannot be
            /// handled follows the consumer's failure policy.
            pub async fn handle(&self, delivery: &::kombu::Message) -> ::kombu::Disposition {
                let queue = self.consumer.queue_of(delivery.consumer_tag());
                let handling = Self::dispatch(&self.handler, queue.as_deref(), delivery);
                let disposition = ::kombu::__private::process(Self::NAME, queue.as_deref(), delivery, handling).await;
                ::kombu::__private::settle(Self::NAME, queue.as_deref(), delivery, disposition)
            }

            /// What the handler (or the failure policy) decides for a delivery from `queue`.
            async fn dispatch(handler: &#handler_ty, queue: ::core::option::Option<&str>, delivery: &::kombu::Message) -> ::kombu::Disposition {
                let outcome: ::core::result::Result<::kombu::Disposition, ::kombu::Error> = match queue {
                    #(#arms)*
                    _ => ::core::result::Result::Err(::kombu::__private::unknown_queue(Self::NAME, delivery)),
                };
                match outcome {
                    ::core::result::Result::Ok(disposition) => disposition,
                    ::core::result::Result::Err(error) => { #failure }
                }
            }
        }
    })
}
