//! IR → tokens. Every path is absolute (`::kombu::`, `::core::`, `::std::`); items refer to
//! each other relative to the module the output is included in.

use std::fmt;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ir::{
    Arg, BindingDecl, Confirm, ConsumeSpec, ConsumerSpec, ExchangeDecl, Field, FieldType,
    MessageKind, MessageType, MethodInput, MethodSpec, Module, OnFailure, ProducerSpec, QueueDecl,
};
use crate::names::ident;

/// Something in the IR that cannot be turned into Rust (front ends check first, so this is
/// rare: an identifier or a type path that does not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

type R<T> = Result<T, Error>;

/// Generates the items of one module.
pub fn generate(module: &Module) -> R<TokenStream> {
    let exchanges = exchanges(&module.exchanges)?;
    let mut messages = Vec::new();
    for m in &module.messages {
        messages.push(message(m, &module.extra_derives)?);
    }
    let declare_all = declare_all(module)?;
    let mut producers = Vec::new();
    for p in &module.producers {
        producers.push(producer_items(p)?);
    }
    let mut consumers = Vec::new();
    for c in &module.consumers {
        consumers.push(consumer_items(c)?);
    }
    Ok(quote! {
        #exchanges
        #(#messages)*
        #declare_all
        #(#producers)*
        #(#consumers)*
    })
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

fn exchanges(list: &[ExchangeDecl]) -> R<TokenStream> {
    let mut items = Vec::new();
    for x in list {
        let f = ident(&x.ident)?;
        let konst = ident(&x.ident.to_uppercase())?;
        let name = &x.name;
        let body = exchange(x)?;
        let doc = doc_with(
            format!("Exchange `{name}` ({}).", x.kind),
            x.description.as_deref(),
        );
        let const_doc = format!(" The name of exchange `{name}`.");
        items.push(quote! {
            #[doc = #const_doc]
            pub const #konst: &str = #name;
            #doc
            pub fn #f() -> ::kombu::Exchange {
                #body
            }
        });
    }
    Ok(quote! {
        /// The exchanges of this topology, as declarations.
        #[allow(dead_code)]
        pub mod exchanges {
            #(#items)*
        }
    })
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

/// Queues need the exchange list to name binding sources, so they are generated with it.
fn queues(list: &[QueueDecl]) -> R<TokenStream> {
    let mut items = Vec::new();
    for q in list {
        let f = ident(&q.ident)?;
        let konst = ident(&q.ident.to_uppercase())?;
        let name = &q.name;
        let body = queue(q)?;
        let doc = doc_with(format!("Queue `{name}`."), q.description.as_deref());
        let const_doc = format!(" The name of queue `{name}`.");
        items.push(quote! {
            #[doc = #const_doc]
            pub const #konst: &str = #name;
            #doc
            pub fn #f() -> ::kombu::Queue { #body }
        });
    }
    Ok(quote! {
        /// The queues of this topology, as declarations with their bindings.
        #[allow(dead_code)]
        pub mod queues {
            #(#items)*
        }
    })
}

/// A variant's fields as parameters: their names and their types.
fn params(fields: &[Field]) -> R<(Vec<proc_macro2::Ident>, Vec<TokenStream>)> {
    let names = fields
        .iter()
        .map(|f| ident(&f.ident))
        .collect::<R<Vec<_>>>()?;
    let types = fields
        .iter()
        .map(|f| field_type(&f.ty))
        .collect::<R<Vec<_>>>()?;
    Ok((names, types))
}

fn field_type(t: &FieldType) -> R<TokenStream> {
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
            let inner = field_type(inner)?;
            quote! { ::core::option::Option<#inner> }
        }
        FieldType::List(inner) => {
            let inner = field_type(inner)?;
            quote! { ::std::vec::Vec<#inner> }
        }
        FieldType::Map(inner) => {
            let inner = field_type(inner)?;
            quote! { ::std::collections::BTreeMap<::std::string::String, #inner> }
        }
        FieldType::Message(name) => {
            let ty = rust_type(name)?;
            quote! { #ty }
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

fn fields(list: &[Field], public: bool) -> R<Vec<TokenStream>> {
    list.iter()
        .map(|f| {
            let id = ident(&f.ident)?;
            let ty = field_type(&f.ty)?;
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
            let rename = (f.ident.trim_start_matches("r#") != wire.as_str())
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

fn message(m: &MessageType, extra: &[String]) -> R<TokenStream> {
    let id = ident(&m.ident)?;
    let derive = derives(extra)?;
    match &m.kind {
        MessageKind::External(_) => Ok(TokenStream::new()),
        MessageKind::Struct(list) => {
            let doc = doc_with(format!("Message `{}`.", m.name), m.description.as_deref());
            let fields = fields(list, true)?;
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
            let mut items = Vec::new();
            for v in variants {
                let vid = ident(&v.ident)?;
                let vdoc = doc_with(
                    format!("`{tag} = \"{}\"`.", v.tag),
                    v.description.as_deref(),
                );
                let wire = &v.tag;
                if v.fields.is_empty() {
                    items.push(quote! { #vdoc #[serde(rename = #wire)] #vid });
                } else {
                    let fields = fields(&v.fields, false)?;
                    items.push(quote! { #vdoc #[serde(rename = #wire)] #vid { #(#fields,)* } });
                }
            }
            Ok(quote! {
                #doc
                #derive
                #[serde(crate = "::kombu::__private::serde", tag = #tag)]
                #[allow(dead_code)]
                pub enum #id {
                    #(#items,)*
                }
            })
        }
    }
}

fn declare_all(module: &Module) -> R<TokenStream> {
    let xs = module
        .exchanges
        .iter()
        .map(|x| ident(&x.ident))
        .collect::<R<Vec<_>>>()?;
    let qs = module
        .queues
        .iter()
        .map(|q| ident(&q.ident))
        .collect::<R<Vec<_>>>()?;
    let queues = queues(&module.queues)?;
    Ok(quote! {
        #queues

        /// Declares every exchange, queue and binding of this topology on `channel`: the
        /// exchanges first (with their exchange-to-exchange bindings), then the queues.
        #[allow(dead_code)]
        pub async fn declare_all(channel: &::kombu::Channel) -> ::kombu::Result<()> {
            #(channel.declare_exchange(&exchanges::#xs()).await?;)*
            #(channel.declare_queue(&queues::#qs()).await?;)*
            ::core::result::Result::Ok(())
        }
    })
}

fn method(m: &MethodSpec, field: &proc_macro2::Ident) -> R<TokenStream> {
    let id = ident(&m.ident)?;
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
    let ty = rust_type(&m.message)?;
    match &m.input {
        MethodInput::Message => Ok(quote! {
            #doc
            pub async fn #id(&self, message: &#ty) -> ::kombu::Result<()> {
                #publish
            }
        }),
        MethodInput::Variant { ident: v, fields } => {
            let v = ident(v)?;
            let (names, types) = params(fields)?;
            let build = if fields.is_empty() {
                quote! { #ty::#v }
            } else {
                quote! { #ty::#v { #(#names),* } }
            };
            Ok(quote! {
                #doc
                pub async fn #id(&self #(, #names: #types)*) -> ::kombu::Result<()> {
                    let message = &#build;
                    #publish
                }
            })
        }
    }
}

/// The items of one producer (its struct, if it defines one, and its impl).
pub fn producer_items(p: &ProducerSpec) -> R<TokenStream> {
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
    let methods = p
        .methods
        .iter()
        .map(|m| method(m, &field))
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
            pub struct #id {
                #field: ::kombu::Producer,
            }
        }
    });
    Ok(quote! {
        #definition

        #[allow(dead_code)]
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

fn handler_sig(c: &ConsumeSpec, h: &crate::ir::HandlerSpec) -> R<(TokenStream, TokenStream)> {
    let id = ident(&h.ident)?;
    let queue = &c.queue.name;
    let (params, call_args, doc) = match &h.variant {
        None => {
            let ty = rust_type(&c.message)?;
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
            let (names, types) = params(fields)?;
            (
                quote! { #(#names: #types,)* },
                quote! { #(#names,)* },
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
    let stem = &c.ident;
    let trait_id = ident(&format!("{stem}Handler"))?;
    let struct_id = ident(&format!("{stem}Consumer"))?;
    let name = &c.name;
    let prefetch = c.prefetch;
    let mut sigs = Vec::new();
    let mut arms = Vec::new();
    let mut queue_fns = Vec::new();
    let mut declared_sigs: Vec<String> = Vec::new();
    for q in &c.queues {
        queue_fns.push(queue(&q.queue)?);
        let queue = &q.queue.name;
        let ty = rust_type(&q.message)?;
        let mut variant_arms = Vec::new();
        for h in &q.handlers {
            let (sig, args) = handler_sig(q, h)?;
            // Queues that carry the same message share its handler methods.
            if !declared_sigs.contains(&h.ident) {
                declared_sigs.push(h.ident.clone());
                sigs.push(sig);
            }
            let hid = ident(&h.ident)?;
            match &h.variant {
                None => variant_arms.push(quote! {
                    ::core::result::Result::Ok(message) => ::core::result::Result::Ok(self.handler.#hid(#args delivery).await),
                }),
                Some((v, fields)) => {
                    let v = ident(v)?;
                    let pattern = if fields.is_empty() {
                        quote! { #ty::#v }
                    } else {
                        quote! { #ty::#v { #args } }
                    };
                    variant_arms.push(quote! {
                        ::core::result::Result::Ok(#pattern) => ::core::result::Result::Ok(self.handler.#hid(#args delivery).await),
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
            Some(quote! { self.handler.on_failure(error, delivery).await }),
        ),
    };
    let failure = match on_error {
        Some(hook) => quote! {
            let _ = ::kombu::__private::failed(Self::NAME, queue.as_deref(), ::kombu::FailurePolicy::#policy, delivery, &error);
            #hook
        },
        None => quote! {
            ::kombu::__private::failed(Self::NAME, queue.as_deref(), ::kombu::FailurePolicy::#policy, delivery, &error)
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
        #[allow(dead_code)]
        pub trait #trait_id: ::core::marker::Send + ::core::marker::Sync {
            #(#sigs)*
            #hook_sig
        }

        #struct_doc
        #[allow(dead_code)]
        pub struct #struct_id<H> {
            consumer: ::kombu::Consumer,
            handler: H,
        }

        #[allow(dead_code)]
        impl<H: #trait_id> #struct_id<H> {
            /// The consumer's name in the topology.
            pub const NAME: &'static str = #name;
            /// The prefetch count it consumes with.
            pub const PREFETCH: u16 = #prefetch;

            /// Declares the queues (with their exchanges and bindings), sets the prefetch and
            /// starts consuming.
            pub async fn start(channel: &::kombu::Channel, handler: H) -> ::kombu::Result<Self> {
                let mut consumer = ::kombu::Consumer::new(channel, [#(#queue_fns),*])
                    .prefetch_count(#prefetch)
                    #accept;
                consumer.consume().await?;
                ::core::result::Result::Ok(Self { consumer, handler })
            }

            /// The handler.
            pub fn handler(&self) -> &H {
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

            /// Handles messages until the consumer is cancelled or its channel closes.
            pub async fn run(&mut self) -> ::kombu::Result<()> {
                while let ::core::option::Option::Some(delivery) = self.consumer.next().await {
                    let delivery = delivery?;
                    let _ = self.handle(&delivery).await;
                }
                ::core::result::Result::Ok(())
            }

            /// Decodes one delivery by its content type, dispatches it by queue (and tag) to
            /// the handler, and settles it as the handler decided. A delivery that cannot be
            /// handled follows the consumer's failure policy.
            pub async fn handle(&self, delivery: &::kombu::Message) -> ::kombu::Disposition {
                let queue = self.consumer.queue_of(delivery.consumer_tag());
                let outcome: ::core::result::Result<::kombu::Disposition, ::kombu::Error> = match queue.as_deref() {
                    #(#arms)*
                    _ => ::core::result::Result::Err(::kombu::__private::unknown_queue(Self::NAME, delivery)),
                };
                let disposition = match outcome {
                    ::core::result::Result::Ok(disposition) => disposition,
                    ::core::result::Result::Err(error) => { #failure }
                };
                ::kombu::__private::settle(Self::NAME, delivery, disposition)
            }
        }
    })
}
