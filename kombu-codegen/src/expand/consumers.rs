//! Consumers: the handler trait (one method per message or variant), the consumer type (an
//! alias of `kombu::TypedConsumer`, which runs handlers concurrently and settles what they
//! decide) and the `Dispatch` impl that decodes a delivery and calls the handler.

use super::*;
use crate::ir::StreamOffset;

/// The parameter a handler gets besides the message or its fields.
pub(super) const HANDLER_PARAMS: &[&str] = &["delivery", "handler"];

/// A handler method's signature, and the arguments the consumer calls it with.
pub(super) fn handler_sig(
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
                vec![quote! { message: #ty }],
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
                bindings
                    .iter()
                    .zip(&types)
                    .map(|(b, t)| quote! { #b: #t })
                    .collect(),
                quote! { #(#bindings,)* },
                doc_with(
                    format!("Handles variant `{v}` from queue `{queue}`."),
                    h.description.as_deref(),
                ),
            )
        }
    };
    // `::kombu::__consumer!` adds the `delivery: &::kombu::Message` parameter and the
    // `impl ::kombu::Handled` return type to every method.
    let sig = quote! {
        #doc
        fn #id(&self #(, #params)*);
    };
    Ok((sig, call_args))
}

/// The items of one consumer: its handler trait and its consumer struct.
pub fn consumer_items(c: &ConsumerSpec) -> R<TokenStream> {
    let item = consumer(c, &Context::default())?;
    Ok(quote! { ::kombu::__consumer! { #item } })
}

/// The name of the consumer's handler type parameter: `H`, unless a message it dispatches is
/// called that (inside the impl, `H` would mean the parameter).
pub(super) fn handler_param(c: &ConsumerSpec) -> proc_macro2::Ident {
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

pub(super) fn consumer(c: &ConsumerSpec, cx: &Context) -> R<TokenStream> {
    let handler_ty = handler_param(c);
    let stem = &c.ident;
    let trait_id = ident(&format!("{stem}Handler"))?;
    let struct_id = ident(&format!("{stem}Consumer"))?;
    let dispatch_id = ident(&format!("{stem}Dispatch"))?;
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
        let queue_fn = cx.refs.queue_or_inline(&q.queue)?;
        queue_fns.push(match q.offset {
            None => queue_fn,
            Some(offset) => {
                let offset = match offset {
                    StreamOffset::First => quote! { First },
                    StreamOffset::Last => quote! { Last },
                    StreamOffset::Next => quote! { Next },
                    StreamOffset::Offset(n) => quote! { Offset(#n) },
                    StreamOffset::AgeSecs(secs) => {
                        quote! { Age(::core::time::Duration::from_secs(#secs)) }
                    }
                };
                quote! { #queue_fn.stream_offset(::kombu::StreamOffset::#offset) }
            }
        });
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
                None => variant_arms.push((
                    None,
                    // The type to decode is the method's parameter's.
                    quote! { handler.#hid(delivery.decode()?, delivery).await },
                )),
                Some((v, fields)) => {
                    let v = ident(v)?;
                    let pattern = if fields.is_empty() {
                        quote! { #ty::#v }
                    } else {
                        let names = field_names(
                            fields,
                            &format!("message `{}`", q.message),
                            HANDLER_PARAMS,
                        )?;
                        let fields = field_pattern(&names);
                        quote! { #ty::#v { #fields } }
                    };
                    variant_arms
                        .push((Some(pattern), quote! { handler.#hid(#args delivery).await }));
                }
            }
        }
        // A whole message is one arm; an enum's variants are matched once decoded (the
        // decode error, or a tag no variant has, goes back to the caller's failure policy).
        let arm = match variant_arms.as_slice() {
            [(None, call)] => quote! { #queue => #call, },
            _ => {
                let arms = variant_arms.iter().map(|(pattern, call)| match pattern {
                    Some(p) => quote! { #p => #call, },
                    None => quote! { _ => #call, },
                });
                quote! {
                    #queue => match delivery.decode::<#ty>()? {
                        #(#arms)*
                    },
                }
            }
        };
        arms.push(arm);
    }
    // Only what differs from `Dispatch`'s defaults is written.
    let policy = match c.on_failure {
        OnFailure::DeadLetter => None,
        OnFailure::Requeue => Some(quote! { Requeue }),
        OnFailure::Hook => Some(quote! { Hook }),
    }
    .map(|p| quote! { const POLICY: ::kombu::FailurePolicy = ::kombu::FailurePolicy::#p; });
    let concurrency =
        (concurrency != 1).then(|| quote! { const CONCURRENCY: usize = #concurrency; });
    let ordered = (!ordered.is_empty())
        .then(|| quote! { const ORDERED: &'static [&'static str] = &[#(#ordered),*]; });
    let (hook_sig, hook_impl) = if c.on_failure == OnFailure::Hook {
        (
            quote! {
                /// Decides what happens to a message that could not be decoded, has an unknown
                /// tag, or arrived on a queue this consumer does not handle.
                fn on_failure(&self, error: ::kombu::Error);
            },
            quote! {
                fn on_failure(handler: &#handler_ty, error: ::kombu::Error, delivery: &::kombu::Message)
                    -> impl ::core::future::Future<Output = ::kombu::Disposition> + ::core::marker::Send {
                    handler.on_failure(error, delivery)
                }
            },
        )
    } else {
        (TokenStream::new(), TokenStream::new())
    };
    let accept = &c.accept;
    let accept = (!accept.is_empty())
        .then(|| quote! { const ACCEPT: &'static [&'static str] = &[#(#accept),*]; });
    let unknown = quote! { ::kombu::__private::unknown_queue(#name, delivery) };
    let dispatch_body = if arms.is_empty() {
        // (A derive with errors: no queue was understood.)
        quote! {
            let _ = (handler, queue);
            #unknown
        }
    } else {
        quote! {
            let disposition = match queue {
                #(#arms)*
                _ => return #unknown,
            };
            ::core::result::Result::Ok(disposition)
        }
    };
    let trait_doc = doc_with(
        format!("What consumer `{name}` does with each message; one method per message type or variant (each also gets the delivery and returns `impl kombu::Handled`)."),
        c.description.as_deref(),
    );
    let struct_doc = doc_with(
        format!("Consumer `{name}`: consumes its queues and dispatches each message to a [`{stem}Handler`] method."),
        c.description.as_deref(),
    );
    let dispatch_doc = format!(
        " How consumer `{name}` decodes a delivery and picks the [`{stem}Handler`] method (what [`{stem}Consumer`] runs)."
    );
    // The input of `::kombu::__consumer!`, which adds the handler methods' `delivery`
    // parameter and return type, the `Send + Sync` bound, `Debug`, the `allow`s, the
    // `Dispatch` impl's header and `dispatch`'s return type.
    Ok(quote! {
        #trait_doc
        pub trait #trait_id {
            #(#sigs)*
            #hook_sig
        }

        #struct_doc
        pub type #struct_id<#handler_ty> = ::kombu::TypedConsumer<#dispatch_id, #handler_ty>;

        #[doc = #dispatch_doc]
        pub enum #dispatch_id {}

        impl #dispatch_id {
            const NAME: &'static str = #name;
            const PREFETCH: u16 = #prefetch;
            #concurrency
            #ordered
            #accept
            #policy

            fn queues() -> ::std::vec::Vec<::kombu::Queue> {
                ::std::vec![#(#queue_fns),*]
            }

            async fn dispatch(handler: &#handler_ty, queue: &str, delivery: &::kombu::Message) {
                #dispatch_body
            }

            #hook_impl
        }
    })
}
