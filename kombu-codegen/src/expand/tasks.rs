//! Celery tasks: a client with one method per task (returning the `TypedSend` to send) and a
//! handler trait with one method per task, whose `into_worker` registers each on a
//! `kombu::celery::Worker` that binds the message's arguments to the method's parameters.

use super::*;
use crate::ir::{TaskSet, TaskSpec};

/// The client's own methods; a task of the same name gets a trailing `_`.
const CLIENT_METHODS: &[&str] = &["new", "from_celery", "celery"];
/// The handler trait's own method.
const HANDLER_METHODS: &[&str] = &["into_worker"];
/// The parameter every handler method has besides the task's.
const HANDLER_PARAMS: &[&str] = &["request"];

fn millis(ms: u64) -> TokenStream {
    quote! { ::core::time::Duration::from_millis(#ms) }
}

/// The task's parameters (positional, then keyword-only), as names and types.
fn task_params(
    t: &TaskSpec,
    reserved: &'static [&'static str],
    cx: &Context,
) -> R<(Vec<proc_macro2::Ident>, Vec<TokenStream>)> {
    let all: Vec<Field> = t.args.iter().chain(&t.kwargs).cloned().collect();
    let names = field_names(&all, &format!("task `{}`", t.name), reserved)?;
    let types = all
        .iter()
        .map(|f| field_type(&f.ty, None, cx))
        .collect::<R<Vec<_>>>()?;
    Ok((names.bindings, types))
}

fn result_type(t: &TaskSpec, cx: &Context) -> R<TokenStream> {
    match &t.result {
        Some(ty) => field_type(ty, None, cx),
        None => Ok(quote! { () }),
    }
}

fn task_doc(t: &TaskSpec, what: &str) -> TokenStream {
    let route = match &t.route {
        Some((x, key)) => format!(
            "exchange `{x}` with routing key `{key}`, to queue `{}`",
            t.queue
        ),
        None => format!("queue `{}`", t.queue),
    };
    doc_with(
        format!("{what} Celery task `{}` (through {route}).", t.task),
        t.description.as_deref(),
    )
}

/// `.queue_declaration(queues::images())` for a queue of the topology, else `.queue("name")`
/// (declared as Celery declares its queues): on the client's `SendTask` and on the `Worker`.
fn queue_call(t: &TaskSpec, cx: &Context) -> R<TokenStream> {
    Ok(match &t.declaration {
        Some(q) => {
            let decl = cx.refs.queue_or_inline(q)?;
            quote! { .queue_declaration(#decl) }
        }
        None => {
            let q = &t.queue;
            quote! { .queue(#q) }
        }
    })
}

fn client_method(t: &TaskSpec, id: &proc_macro2::Ident, cx: &Context) -> R<TokenStream> {
    let (names, types) = task_params(t, &[], cx)?;
    let result = result_type(t, cx)?;
    let name = &t.task;
    let (arg_names, kwarg_names) = names.split_at(t.args.len());
    let kwargs = t.kwargs.iter().zip(kwarg_names).map(|(f, b)| {
        let wire = &f.name;
        if matches!(f.ty, FieldType::Optional(_)) {
            quote! { .kwarg_opt(#wire, &#b) }
        } else {
            quote! { .kwarg(#wire, &#b) }
        }
    });
    let queue = queue_call(t, cx)?;
    let route = t
        .route
        .as_ref()
        .map(|(x, key)| quote! { .exchange(#x, #key) });
    let time_limit = t.time_limit_ms.map(|ms| {
        let d = millis(ms);
        quote! { .time_limit(#d) }
    });
    let soft_time_limit = t.soft_time_limit_ms.map(|ms| {
        let d = millis(ms);
        quote! { .soft_time_limit(#d) }
    });
    let expires = t.expires_ms.map(|ms| {
        let d = millis(ms);
        quote! { .expires_in(#d) }
    });
    let priority = t.priority.map(|p| quote! { .priority(#p) });
    let ignore = t.ignore_result.then(|| quote! { .ignore_result(true) });
    let doc = task_doc(t, "Sends");
    Ok(quote! {
        #doc
        pub fn #id(&self #(, #names: #types)*) -> ::kombu::celery::TypedSend<'_, #result> {
            ::kombu::celery::TypedSend::new(
                self.celery
                    .send_task(#name)
                    #(.arg(&#arg_names))*
                    #(#kwargs)*
                    #queue
                    #route
                    #time_limit
                    #soft_time_limit
                    #expires
                    #priority
                    #ignore
            )
        }
    })
}

fn handler_method(t: &TaskSpec, id: &proc_macro2::Ident, cx: &Context) -> R<TokenStream> {
    let (names, types) = task_params(t, HANDLER_PARAMS, cx)?;
    let result = result_type(t, cx)?;
    let doc = task_doc(t, "Runs");
    Ok(quote! {
        #doc
        fn #id(&self #(, #names: #types)*, request: &::kombu::celery::TaskRequest)
            -> impl ::core::future::Future<
                Output = ::core::result::Result<#result, ::kombu::celery::TaskError>,
            > + ::core::marker::Send;
    })
}

/// `worker.typed_task(...)`: the task's options, and a closure binding the message's
/// arguments to the handler method's parameters.
fn registration(
    t: &TaskSpec,
    id: &proc_macro2::Ident,
    handler: &proc_macro2::Ident,
) -> TokenStream {
    let name = &t.task;
    let mut options = Vec::new();
    if t.acks_late {
        options.push(quote! { acks_late: true });
    }
    if let Some(n) = t.max_retries {
        options.push(quote! { max_retries: ::core::option::Option::Some(#n) });
    }
    if let Some(ms) = t.default_retry_delay_ms {
        let d = millis(ms);
        options.push(quote! { default_retry_delay: #d });
    }
    if let Some(ms) = t.time_limit_ms {
        let d = millis(ms);
        options.push(quote! { time_limit: ::core::option::Option::Some(#d) });
    }
    if let Some(ms) = t.soft_time_limit_ms {
        let d = millis(ms);
        options.push(quote! { soft_time_limit: ::core::option::Option::Some(#d) });
    }
    if t.ignore_result {
        options.push(quote! { ignore_result: true });
    }
    let positional: Vec<&str> = t.args.iter().map(|f| f.name.as_str()).collect();
    let keyword: Vec<&str> = t.kwargs.iter().map(|f| f.name.as_str()).collect();
    let indexes = 0..positional.len();
    let optional = |f: &Field| matches!(f.ty, FieldType::Optional(_));
    let call = |text: &str| proc_macro2::Ident::new(text, proc_macro2::Span::call_site());
    let arg_fns = t
        .args
        .iter()
        .map(|f| call(if optional(f) { "arg_opt" } else { "arg" }));
    let kwarg_fns = t
        .kwargs
        .iter()
        .map(|f| call(if optional(f) { "kwarg_opt" } else { "kwarg" }));
    quote! {
        let h = ::std::sync::Arc::clone(&handler);
        let worker = worker.typed_task(
            #name,
            ::kombu::celery::TaskOptions {
                #(#options,)*
                ..::core::default::Default::default()
            },
            move |request| {
                let h = ::std::sync::Arc::clone(&h);
                async move {
                    request.check_arguments(&[#(#positional),*], &[#(#keyword),*])?;
                    // By its full path: a task named `clone` or `into` would otherwise be
                    // `Arc`'s method.
                    <Self as #handler>::#id(
                        &*h,
                        #(request.#arg_fns(#indexes, #positional)?,)*
                        #(request.#kwarg_fns(#keyword)?,)*
                        &request,
                    )
                    .await
                }
            },
        );
    }
}

/// The items of one task set outside a generated module (a derive).
pub fn task_set_items(set: &TaskSet) -> R<TokenStream> {
    task_items(set, &Context::default())
}

/// The client struct, its impl and the handler trait of a task set.
pub(super) fn task_items(set: &TaskSet, cx: &Context) -> R<TokenStream> {
    let client = ident(&format!("{}Client", set.ident))?;
    let handler = ident(&format!("{}Handler", set.ident))?;
    let mut client_scope = Scope::reserving(
        format!("the methods of the client of {}", set.name),
        CLIENT_METHODS,
    );
    let mut handler_scope = Scope::reserving(
        format!("the methods of the handler of {}", set.name),
        HANDLER_METHODS,
    );
    let mut client_methods = Vec::with_capacity(set.tasks.len());
    let mut handler_methods = Vec::with_capacity(set.tasks.len());
    let mut registrations = Vec::with_capacity(set.tasks.len());
    let mut queues: Vec<TokenStream> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for t in &set.tasks {
        let what = format_args!("task `{}`", t.name);
        let cid = client_scope.claim(&t.ident, what)?;
        client_methods.push(client_method(t, &cid, cx)?);
        if !t.serve {
            continue;
        }
        let hid = handler_scope.claim(&t.ident, format_args!("task `{}`", t.name))?;
        handler_methods.push(handler_method(t, &hid, cx)?);
        registrations.push(registration(t, &hid, &handler));
        if seen.insert(&t.queue) {
            queues.push(queue_call(t, cx)?);
        }
    }
    let client_doc = doc_with(
        format!(
            "Sends the Celery tasks of {} and waits for their typed results: \
             `client.task(args).apply_async().await?.get(timeout).await?`.",
            set.name
        ),
        set.description.as_deref(),
    );
    let handler_doc = doc(Some(&format!(
        "Runs the Celery tasks of {}: one method per task, given the task's arguments; \
         `into_worker` makes the worker that consumes their queues and calls it.",
        set.name
    )));
    // The task's parameters are the methods', and the topology names them.
    let allow = quote! {
        #[allow(
            dead_code,
            unreachable_pub,
            clippy::too_many_arguments,
            clippy::wrong_self_convention,
            clippy::new_ret_no_self
        )]
    };
    let handler_trait = (!handler_methods.is_empty()).then(|| {
        quote! {
            #handler_doc
            #allow
            pub trait #handler: ::core::marker::Send + ::core::marker::Sync + 'static {
                #(#handler_methods)*

                /// A worker on `connection` that consumes the tasks' queues and runs every
                /// task with this handler (with each task's options: acks late, retries,
                /// limits).
                fn into_worker(self, connection: &::kombu::Connection) -> ::kombu::celery::Worker
                where
                    Self: ::core::marker::Sized,
                {
                    let handler = ::std::sync::Arc::new(self);
                    let worker = ::kombu::celery::Worker::new(connection) #(#queues)*;
                    #(#registrations)*
                    worker
                }
            }
        }
    });
    Ok(quote! {
        #client_doc
        #[derive(Debug, Clone)]
        #[allow(dead_code, unreachable_pub)]
        pub struct #client {
            celery: ::kombu::celery::Celery,
        }

        #allow
        impl #client {
            /// A client on a new channel of `connection`, with its own reply queue.
            pub async fn new(connection: &::kombu::Connection) -> ::kombu::Result<Self> {
                ::kombu::Result::Ok(Self::from_celery(
                    ::kombu::celery::Celery::new(connection).await?,
                ))
            }

            /// A client sending through `celery` (sharing its reply queue).
            pub fn from_celery(celery: ::kombu::celery::Celery) -> Self {
                Self { celery }
            }

            /// The untyped client, for tasks and options this one does not have.
            pub fn celery(&self) -> &::kombu::celery::Celery {
                &self.celery
            }

            #(#client_methods)*
        }

        #handler_trait
    })
}
