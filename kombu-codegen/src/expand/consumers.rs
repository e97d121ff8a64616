//! Consumers: the handler trait (one method per message or variant) and the consumer that
//! dispatches to it, runs handlers concurrently and settles what they decide.

use super::*;

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
        #[allow(dead_code, unreachable_pub, clippy::too_many_arguments, clippy::wrong_self_convention)]
        pub trait #trait_id: ::core::marker::Send + ::core::marker::Sync {
            #(#sigs)*
            #hook_sig
        }

        #struct_doc
        #[allow(dead_code, unreachable_pub)]
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

        #[allow(dead_code, unreachable_pub)]
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
