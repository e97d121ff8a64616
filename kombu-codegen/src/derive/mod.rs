//! The derive front end: `#[derive(Producer)]` / `#[derive(Consumer)]` / `#[derive(Tasks)]`
//! input → the IR.
//!
//! Parse (`attr`: the `#[kombu(...)]` language, `serde`: the serde attributes that decide the
//! wire names) → validate (known keys, types, required keys, the shape of the item; every
//! problem collected) → lower (the same [`ir`] types `kombu-build` produces) →
//! the shared generator. On errors the output is the errors plus a stub, so a mistake is one
//! error, not a cascade of "no method named `new`".

mod attr;
mod consumer;
mod entities;
mod producer;
mod serde;
mod shape;
mod tasks;

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;

use crate::ir;
use attr::{bool_of, check, int_of, key, many, str_of, Entry, Errors, Kind, Value};
use consumer::*;
use entities::*;
use producer::*;
use shape::*;
use tasks::*;
/// The closest known name, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(unknown, k), k))
        .filter(|&(d, k)| d <= (k.len().max(unknown.len()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Keys both derives read.
const SHARED: &[&str] = &["exchange"];

fn names(keys: &[attr::Key]) -> Vec<&'static str> {
    keys.iter().map(|k| k.name).collect()
}

/// `#[derive(Producer)]`. With mistakes in the attributes, the output is the errors plus the
/// producer as far as it was understood, so that code using it reports nothing more.
pub fn derive_producer(input: &syn::DeriveInput) -> TokenStream {
    let (spec, errors) = read_producer(input);
    let field_exists = match &input.data {
        syn::Data::Struct(data) => data
            .fields
            .iter()
            .any(|f| f.ident.as_ref().is_some_and(|i| *i == spec.field)),
        syn::Data::Enum(_) => true,
        syn::Data::Union(_) => false,
    };
    let items = if !input.generics.params.is_empty() {
        TokenStream::new()
    } else if field_exists {
        crate::expand::producer_items(&spec).unwrap_or_default()
    } else {
        producer_stub(input)
    };
    match errors.into_error() {
        None => items,
        Some(e) => {
            let e = e.to_compile_error();
            quote! { #e #items }
        }
    }
}

/// `#[derive(Consumer)]`, with the same best-effort output on mistakes.
pub fn derive_consumer(input: &syn::DeriveInput) -> TokenStream {
    let (spec, errors) = read_consumer(input);
    let items = if input.generics.params.is_empty() && !matches!(input.data, syn::Data::Union(_)) {
        crate::expand::consumer_items(&spec).unwrap_or_default()
    } else {
        TokenStream::new()
    };
    match errors.into_error() {
        None => items,
        Some(e) => {
            let e = e.to_compile_error();
            quote! { #e #items }
        }
    }
}

/// `#[derive(Tasks)]`: the task client and handler trait, with the errors if any.
pub fn derive_tasks(input: &syn::DeriveInput) -> TokenStream {
    let (set, errors) = read_tasks(input);
    // As far as it was understood, so that code using it reports nothing more.
    let usable = input.generics.params.is_empty() && matches!(input.data, syn::Data::Enum(_));
    let items = match (usable, crate::expand::task_set_items(&set)) {
        (true, Ok(items)) => items,
        (true, Err(e)) if errors.is_empty() => {
            syn::Error::new(input.ident.span(), e).to_compile_error()
        }
        _ => TokenStream::new(),
    };
    match errors.into_error() {
        None => items,
        Some(e) => {
            let e = e.to_compile_error();
            quote! { #e #items }
        }
    }
}

/// The task set a derive describes.
pub fn task_set(input: &syn::DeriveInput) -> syn::Result<ir::TaskSet> {
    let (set, errors) = read_tasks(input);
    match errors.into_error() {
        Some(e) => Err(e),
        None => Ok(set),
    }
}

/// What a producer struct whose producer field was not found still provides, so that the
/// user's own methods calling `self.publish(...)` add no errors of their own.
fn producer_stub(input: &syn::DeriveInput) -> TokenStream {
    let id = &input.ident;
    quote! {
        #[allow(dead_code, unused_variables)]
        impl #id {
            pub fn publish<'a, T>(&'a self, body: &'a T) -> ::kombu::Publish<'a, T>
            where
                T: ::kombu::__private::serde::Serialize + ::core::marker::Sync + ?::core::marker::Sized,
            {
                ::core::unreachable!()
            }
            pub fn new(channel: &::kombu::Channel) -> Self {
                ::core::unreachable!()
            }
        }
    }
}

/// The producer a derive describes.
pub fn producer_spec(input: &syn::DeriveInput) -> syn::Result<ir::ProducerSpec> {
    let (spec, errors) = read_producer(input);
    match errors.into_error() {
        Some(e) => Err(e),
        None => Ok(spec),
    }
}

/// The consumer a derive describes.
pub fn consumer_spec(input: &syn::DeriveInput) -> syn::Result<ir::ConsumerSpec> {
    let (spec, errors) = read_consumer(input);
    match errors.into_error() {
        Some(e) => Err(e),
        None => Ok(spec),
    }
}
