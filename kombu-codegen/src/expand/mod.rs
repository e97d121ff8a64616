//! IR → tokens. Every path is absolute (`::kombu::`, `::core::`, `::std::`); items refer to
//! each other relative to the module the output is included in. One file per kind of item:
//! declarations, messages, producers, consumers; this one drives them and holds what they share.

mod consumers;
mod declarations;
mod messages;
mod producers;
mod tasks;

pub use self::consumers::consumer_items;
use self::consumers::*;
use self::declarations::*;
use self::messages::*;
pub use self::producers::producer_items;
use self::producers::*;
pub use self::tasks::task_set_items;
use self::tasks::*;

use std::collections::{HashMap, HashSet};
use std::fmt;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ir::{
    Arg, BindingDecl, Confirm, ConsumeSpec, ConsumerSpec, ExchangeDecl, ExchangeKind, Field,
    FieldType, MessageKind, MessageType, MethodInput, MethodSpec, Module, OnFailure, ProducerSpec,
    QueueDecl,
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

pub(super) type R<T> = Result<T, Error>;

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
    /// An item given to a macro: `path! { item }`. The item is valid Rust on its own (a
    /// struct whose fields carry the macro's markers), so a front end can format it as one.
    Macro {
        /// The macro's path (`::kombu::__message`).
        path: TokenStream,
        /// Its input.
        item: TokenStream,
    },
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
            Piece::Macro { path, item } => {
                let call = quote! { #path! { #item } };
                match &mut open {
                    Some((_, _, body)) => body.extend(call),
                    None => top.extend(call),
                }
            }
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
    let mut cx = Context::new(&module.messages);
    let mut types = Scope::reserving("the generated module", &["exchanges", "queues"]);
    let mut exchange_fns = Vec::with_capacity(module.exchanges.len());
    emit(Piece::ModuleStart {
        attrs: quote! {
            /// The exchanges of this topology: a function giving each one's declaration, and a
            /// constant (its name in capitals) holding its name.
            #[allow(dead_code, unreachable_pub, missing_docs)]
        },
        name: ident("exchanges")?,
    })?;
    let mut scope = Scope::new("module `exchanges`");
    for x in &module.exchanges {
        let (item, f) = exchange_item(x, &mut scope, &cx.refs)?;
        cx.refs.add_exchange(x, f.clone());
        exchange_fns.push(f);
        emit(Piece::Item(item))?;
    }
    emit(Piece::ModuleEnd)?;
    for m in &module.messages {
        if matches!(m.kind, MessageKind::External(_)) {
            continue;
        }
        let id = types.claim(&m.ident, Owner::entity("message", &m.name))?;
        emit(message(m, id, &module.extra_derives, &cx)?)?;
    }
    let mut queue_fns = Vec::with_capacity(module.queues.len());
    emit(Piece::ModuleStart {
        attrs: quote! {
            /// The queues of this topology: a function giving each one's declaration with its
            /// bindings, and a constant (its name in capitals) holding its name.
            #[allow(dead_code, unreachable_pub, missing_docs)]
        },
        name: ident("queues")?,
    })?;
    let mut scope = Scope::new("module `queues`");
    for q in &module.queues {
        let (item, f) = queue_item(q, &mut scope, &cx.refs)?;
        cx.refs.add_queue(q, f.clone());
        queue_fns.push(f);
        emit(Piece::Item(item))?;
    }
    emit(Piece::ModuleEnd)?;
    emit(Piece::Item(declare_all(&exchange_fns, &queue_fns)))?;
    for p in &module.producers {
        if p.define_struct {
            types.claim(&p.ident, Owner::entity("producer", &p.name))?;
        }
        emit(producer_piece(p, &cx)?)?;
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
        types.claim(
            &format!("{}Dispatch", c.ident),
            Owner::part_of(Some("the dispatch type"), "consumer", &c.name),
        )?;
        emit(Piece::Macro {
            path: quote! { ::kombu::__consumer },
            item: consumer(c, &cx)?,
        })?;
    }
    for set in &module.tasks {
        for suffix in ["Client", "Handler"] {
            types.claim(
                &format!("{}{suffix}", set.ident),
                format!("the task {} of {}", suffix.to_lowercase(), set.name),
            )?;
        }
        emit(Piece::Item(task_items(set, &cx)?))?;
    }
    Ok(())
}

/// `#[doc = ...]` lines for a description.
pub(super) fn doc(text: Option<&str>) -> TokenStream {
    let Some(text) = text else {
        return TokenStream::new();
    };
    let lines = text.lines().map(|l| format!(" {l}"));
    quote! { #(#[doc = #lines])* }
}

pub(super) fn doc_with(first: String, text: Option<&str>) -> TokenStream {
    match text {
        Some(t) => doc(Some(&format!("{first}\n\n{t}"))),
        None => doc(Some(&first)),
    }
}

pub(super) fn rust_type(path: &str) -> R<syn::Type> {
    syn::parse_str(path).map_err(|e| Error::new(format!("`{path}` is not a Rust type: {e}")))
}
