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
    producer_call(p, &Context::default())
}

/// The input of `::kombu::__producer!` for one producer: its struct (if it defines one) and
/// an impl with its exchange, its settings (as `fn new(producer) -> Self`, which the macro
/// turns into the `new(channel)` constructor) and one method per route.
fn producer(p: &ProducerSpec, cx: &Context) -> R<TokenStream> {
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
            pub struct #id {
                #field: ::kombu::Producer,
            }
        }
    });
    // `::kombu::__producer!` adds the methods every producer has (`new`, which runs the
    // settings below on a new `Producer`, `from_connection`, `publish`, `declare`, `producer`),
    // written once in kombu instead of once per producer.
    Ok(quote! {
        #definition

        #[producer(#field)]
        impl #id {
            #[doc = #exchange_doc]
            pub fn exchange() -> ::kombu::Exchange {
                #exchange_decl
            }

            fn new(#field: ::kombu::Producer) -> Self {
                Self {
                    #field: #field
                        .routing_key(#key)
                        .serializer(#serializer)
                        #compression
                        .delivery_mode(#mode)
                        .confirm(#confirm),
                    #(#others: ::core::default::Default::default(),)*
                }
            }

            #(#methods)*
        }
    })
}

/// A producer as a piece of a generated module.
pub(super) fn producer_piece(p: &ProducerSpec, cx: &Context) -> R<Piece> {
    Ok(Piece::Macro {
        path: quote! { ::kombu::__producer },
        item: producer(p, cx)?,
    })
}

/// The items of one producer for a derive: the same input, given to the macro.
fn producer_call(p: &ProducerSpec, cx: &Context) -> R<TokenStream> {
    let item = producer(p, cx)?;
    Ok(quote! { ::kombu::__producer! { #item } })
}
