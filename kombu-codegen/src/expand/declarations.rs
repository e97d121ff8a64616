//! Declarations: each exchange and queue as a `::kombu` builder expression, its constant and
//! function in the `exchanges` and `queues` modules, and `declare_all`/`declarations`.

use super::*;

pub(super) fn arg(a: &Arg) -> R<TokenStream> {
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

pub(super) fn table(entries: &[(String, Arg)]) -> R<TokenStream> {
    let keys = entries.iter().map(|(k, _)| k);
    let values = entries.iter().map(|(_, v)| arg(v)).collect::<R<Vec<_>>>()?;
    Ok(quote! {
        ::kombu::FieldTable::from([#((::std::string::String::from(#keys), #values)),*])
    })
}

/// `.argument(key, value)` calls. A scalar is written as a typed literal (`100000i32`, `"quorum"`)
/// that `Into<FieldValue>` turns into the same variant, which keeps generated code short.
pub(super) fn arguments(entries: &[(String, Arg)]) -> R<TokenStream> {
    let keys = entries.iter().map(|(k, _)| k);
    let values = entries
        .iter()
        .map(|(_, v)| argument_value(v))
        .collect::<R<Vec<_>>>()?;
    Ok(quote! { #(.argument(#keys, #values))* })
}

fn argument_value(a: &Arg) -> R<TokenStream> {
    let int = |width: &str, value: i64| -> Option<Literal> {
        Some(match width {
            "I8" => Literal::i8_suffixed(i8::try_from(value).ok()?),
            "U8" => Literal::u8_suffixed(u8::try_from(value).ok()?),
            "I16" => Literal::i16_suffixed(i16::try_from(value).ok()?),
            "U16" => Literal::u16_suffixed(u16::try_from(value).ok()?),
            "I32" => Literal::i32_suffixed(i32::try_from(value).ok()?),
            "U32" => Literal::u32_suffixed(u32::try_from(value).ok()?),
            "I64" => Literal::i64_suffixed(value),
            _ => return None,
        })
    };
    Ok(match a {
        Arg::Bool(b) => quote! { #b },
        Arg::Str(s) => quote! { #s },
        Arg::Int { width, value } => match int(width, *value) {
            Some(lit) => quote! { #lit },
            None => arg(a)?,
        },
        _ => arg(a)?,
    })
}

pub(super) fn exchange_base(x: &ExchangeDecl) -> R<TokenStream> {
    let name = &x.name;
    let kind = match &x.kind {
        ExchangeKind::Direct => quote! { ::kombu::ExchangeKind::Direct },
        ExchangeKind::Fanout => quote! { ::kombu::ExchangeKind::Fanout },
        ExchangeKind::Topic => quote! { ::kombu::ExchangeKind::Topic },
        ExchangeKind::Headers => quote! { ::kombu::ExchangeKind::Headers },
        ExchangeKind::Custom(name) => {
            quote! { ::kombu::ExchangeKind::Custom(::std::string::String::from(#name)) }
        }
    };
    let durable = x.durable;
    let auto_delete = x.auto_delete;
    let internal = x.internal;
    let args = arguments(&x.arguments)?;
    Ok(quote! {
        ::kombu::Exchange::new(#name, #kind)
            .durable(#durable)
            .auto_delete(#auto_delete)
            .internal(#internal)
            #args
    })
}

/// An exchange's declaration: its settings, then its exchange-to-exchange bindings (each
/// source declared without its own bindings, so cycles stay finite).
pub(super) fn exchange(x: &ExchangeDecl) -> R<TokenStream> {
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

pub(super) fn binding(b: &BindingDecl) -> R<TokenStream> {
    let key = &b.routing_key;
    let source = exchange_base(&b.source)?;
    let args = arguments(&b.arguments)?;
    Ok(quote! { ::kombu::Binding::new(#source, #key) #args })
}

/// One exchange's constant and function in module `exchanges`, and the function's name.
pub(super) fn exchange_item(
    x: &ExchangeDecl,
    scope: &mut Scope,
) -> R<(TokenStream, proc_macro2::Ident)> {
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

/// A queue's declaration: its flags, its arguments and its bindings. Settings such as a TTL
/// arrive as the arguments the broker receives, so nothing here knows them by name.
pub(super) fn queue(q: &QueueDecl) -> R<TokenStream> {
    let name = &q.name;
    let durable = q.durable;
    let exclusive = q.exclusive;
    let auto_delete = q.auto_delete;
    let args = arguments(&q.arguments)?;
    let bindings = q.bindings.iter().map(binding).collect::<R<Vec<_>>>()?;
    Ok(quote! {
        ::kombu::Queue::new(#name)
            .durable(#durable)
            .exclusive(#exclusive)
            .auto_delete(#auto_delete)
            #args
            #(.binding(#bindings))*
    })
}

/// One queue's constant and function in module `queues`, and the function's name.
pub(super) fn queue_item(q: &QueueDecl, scope: &mut Scope) -> R<(TokenStream, proc_macro2::Ident)> {
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

pub(super) fn declare_all(xs: &[proc_macro2::Ident], qs: &[proc_macro2::Ident]) -> TokenStream {
    quote! {
        /// Declares every exchange, queue and binding of this topology on `channel`: the
        /// exchanges first (with their exchange-to-exchange bindings), then the queues.
        #[allow(dead_code, unreachable_pub)]
        pub async fn declare_all(channel: &::kombu::Channel) -> ::kombu::Result<()> {
            ::kombu::__private::require_declare(channel, "the topology")?;
            #(channel.declare_exchange(&exchanges::#xs()).await?;)*
            #(channel.declare_queue(&queues::#qs()).await?;)*
            ::core::result::Result::Ok(())
        }

        /// Every exchange and every queue of this topology, as declarations, in file order
        /// (what [`declare_all`] declares; equal to what `kombu::topology::Topology` gives at
        /// run time for the same files).
        #[allow(dead_code, unreachable_pub)]
        pub fn declarations() -> (::std::vec::Vec<::kombu::Exchange>, ::std::vec::Vec<::kombu::Queue>) {
            (
                ::std::vec![#(exchanges::#xs()),*],
                ::std::vec![#(queues::#qs()),*],
            )
        }
    }
}
