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
    // `Exchange::new` is durable, not auto-delete, not internal: only what differs is written.
    let durable = (!x.durable).then(|| quote! { .durable(false) });
    let auto_delete = x.auto_delete.then(|| quote! { .auto_delete(true) });
    let internal = x.internal.then(|| quote! { .internal(true) });
    let args = arguments(&x.arguments)?;
    Ok(quote! {
        ::kombu::Exchange::new(#name, #kind) #durable #auto_delete #internal #args
    })
}

/// Where an expression is written: inside module `exchanges` or `queues`, or at the top of
/// the generated module.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Nested,
    Top,
}

/// The exchange and queue functions a generated module has already written, by broker name,
/// with what each returns: a binding, a producer or a consumer refers to them instead of
/// writing the same declaration again.
#[derive(Default)]
pub(super) struct Refs {
    exchanges: HashMap<String, (proc_macro2::Ident, ExchangeDecl)>,
    queues: HashMap<String, (proc_macro2::Ident, QueueDecl)>,
}

impl Refs {
    pub(super) fn add_exchange(&mut self, x: &ExchangeDecl, f: proc_macro2::Ident) {
        self.exchanges.insert(x.name.clone(), (f, x.clone()));
    }

    pub(super) fn add_queue(&mut self, q: &QueueDecl, f: proc_macro2::Ident) {
        self.queues.insert(q.name.clone(), (f, q.clone()));
    }

    /// A call of the module's function for exchange `x`, if it returns exactly `x`.
    fn exchange(&self, x: &ExchangeDecl, place: Place) -> Option<TokenStream> {
        let (f, known) = self.exchanges.get(&x.name)?;
        let same = known.kind == x.kind
            && known.durable == x.durable
            && known.auto_delete == x.auto_delete
            && known.internal == x.internal
            && known.arguments == x.arguments
            && known.bindings == x.bindings;
        same.then(|| match place {
            Place::Nested => quote! { super::exchanges::#f() },
            Place::Top => quote! { exchanges::#f() },
        })
    }

    /// A call of the module's function for queue `q`, if it returns exactly `q`.
    pub(super) fn queue(&self, q: &QueueDecl) -> Option<TokenStream> {
        let (f, known) = self.queues.get(&q.name)?;
        let same = known.durable == q.durable
            && known.exclusive == q.exclusive
            && known.auto_delete == q.auto_delete
            && known.arguments == q.arguments
            && known.bindings == q.bindings;
        same.then(|| quote! { queues::#f() })
    }

    /// Exchange `x`'s declaration: a call of the module's function when there is one.
    pub(super) fn exchange_or_inline(&self, x: &ExchangeDecl, place: Place) -> R<TokenStream> {
        match self.exchange(x, place) {
            Some(call) => Ok(call),
            None => exchange(x, self, place),
        }
    }

    /// Queue `q`'s declaration: a call of the module's function when there is one.
    pub(super) fn queue_or_inline(&self, q: &QueueDecl) -> R<TokenStream> {
        match self.queue(q) {
            Some(call) => Ok(call),
            None => queue(q, self, Place::Top),
        }
    }
}

/// An exchange's declaration: its settings, then its exchange-to-exchange bindings (each
/// source declared without its own bindings, so cycles stay finite).
pub(super) fn exchange(x: &ExchangeDecl, refs: &Refs, place: Place) -> R<TokenStream> {
    let base = exchange_base(x)?;
    if x.bindings.is_empty() {
        return Ok(base);
    }
    let bindings = x
        .bindings
        .iter()
        .map(|b| binding(b, refs, place))
        .collect::<R<Vec<_>>>()?;
    Ok(quote! {
        {
            let mut exchange = #base;
            exchange.bindings = ::std::vec![#(#bindings),*];
            exchange
        }
    })
}

pub(super) fn binding(b: &BindingDecl, refs: &Refs, place: Place) -> R<TokenStream> {
    let key = &b.routing_key;
    // The source is declared without its own bindings (so that cycles stay finite): the
    // module's function is used only when the exchange has none.
    let source = match refs.exchange(&b.source, place) {
        Some(call) if b.source.bindings.is_empty() => call,
        _ => exchange_base(&b.source)?,
    };
    let args = arguments(&b.arguments)?;
    Ok(quote! { ::kombu::Binding::new(#source, #key) #args })
}

/// One exchange's constant and function in module `exchanges`, and the function's name.
pub(super) fn exchange_item(
    x: &ExchangeDecl,
    scope: &mut Scope,
    refs: &Refs,
) -> R<(TokenStream, proc_macro2::Ident)> {
    let name = &x.name;
    let f = scope.claim(&x.ident, Owner::entity("exchange", name))?;
    let konst = scope.claim_const(
        &x.ident,
        Owner::part_of(Some("the constant"), "exchange", name),
    )?;
    let body = exchange(x, refs, Place::Nested)?;
    let doc = doc_with(
        format!("Exchange `{name}` ({}).", x.kind),
        x.description.as_deref(),
    );
    let item = quote! {
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
pub(super) fn queue(q: &QueueDecl, refs: &Refs, place: Place) -> R<TokenStream> {
    let name = &q.name;
    // `Queue::new` is durable, not exclusive, not auto-delete: only what differs is written.
    let durable = (!q.durable).then(|| quote! { .durable(false) });
    let exclusive = q.exclusive.then(|| quote! { .exclusive(true) });
    let auto_delete = q.auto_delete.then(|| quote! { .auto_delete(true) });
    let args = arguments(&q.arguments)?;
    let bindings = q
        .bindings
        .iter()
        .map(|b| binding(b, refs, place))
        .collect::<R<Vec<_>>>()?;
    Ok(quote! {
        ::kombu::Queue::new(#name) #durable #exclusive #auto_delete #args #(.binding(#bindings))*
    })
}

/// One queue's constant and function in module `queues`, and the function's name.
pub(super) fn queue_item(
    q: &QueueDecl,
    scope: &mut Scope,
    refs: &Refs,
) -> R<(TokenStream, proc_macro2::Ident)> {
    let name = &q.name;
    let f = scope.claim(&q.ident, Owner::entity("queue", name))?;
    let konst = scope.claim_const(
        &q.ident,
        Owner::part_of(Some("the constant"), "queue", name),
    )?;
    let body = queue(q, refs, Place::Nested)?;
    let doc = doc_with(format!("Queue `{name}`."), q.description.as_deref());
    let item = quote! {
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
            ::kombu::__private::declare_all(channel, "the topology", declarations()).await
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
