//! Producers: a struct per producer with one method per route (returning the `Publish` to await).

use super::*;

/// The methods every producer has; a topology's method of the same name gets a trailing `_`.
pub(super) const PRODUCER_METHODS: &[&str] = &[
    "exchange",
    "new",
    "from_connection",
    "publish",
    "declare",
    "producer",
];

pub(super) fn method(
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
    let header_keys = m.headers.iter().map(|(k, _)| k);
    let ty = message_type(&m.message)?;
    match &m.input {
        // Not an `async fn`: the `Publish` it returns is awaited (or given more settings)
        // by the caller, so no future is generated per method.
        MethodInput::Message => Ok(quote! {
            #doc
            pub fn #id<'a>(&'a self, message: &'a #ty) -> ::kombu::Publish<'a, #ty> {
                self.#field
                    .publish(message)
                    .routing_key(#key)
                    #(.header(#header_keys, #header_values))*
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

pub(super) fn producer(p: &ProducerSpec, cx: &Context) -> R<TokenStream> {
    let id = ident(&p.ident)?;
    let field = ident(&p.field)?;
    let doc = doc_with(format!("Producer `{}`.", p.name), p.description.as_deref());
    let (exchange_decl, exchange_doc) = match &p.exchange {
        Some(x) => (
            cx.refs.exchange_or_inline(x, Place::Top)?,
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
            #[allow(dead_code, unreachable_pub)]
            #[derive(Debug)]
            pub struct #id {
                #field: ::kombu::Producer,
            }
        }
    });
    Ok(quote! {
        #definition

        // A variant's fields are the method's parameters, and the topology names the methods.
        #[allow(dead_code, unreachable_pub, clippy::too_many_arguments, clippy::wrong_self_convention)]
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
