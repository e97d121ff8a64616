//! Deserializing generated message structs through one shared visitor.
//!
//! `#[derive(Deserialize)]` writes a field enum, two visitors and a duplicate check per field
//! for every struct: for a topology of a thousand message types that is most of the time rustc
//! spends on the generated module. A generated struct instead implements [`Record`] (its wire
//! field names, a tuple of one `Option` per field, a `match` that reads field *i* into slot
//! *i*, and the step that builds the struct) and its `Deserialize` calls [`deserialize`]; the
//! generator writes both through the `__message!` macro, one line per field. The
//! visitor, the field-name lookup and the errors live here once. What a struct accepts is what
//! serde's derive accepts: a map (unknown keys ignored, a repeated key an error, a missing
//! required field an error naming it) or a sequence in field order, keys given as strings,
//! bytes or indexes, with the same error wording.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A struct filled field by field (implemented by generated message types).
pub trait Record<'de>: Sized {
    /// The type's name, for errors.
    const NAME: &'static str;
    /// The fields' wire names, in declaration order.
    const FIELDS: &'static [&'static str];
    /// One `Option` per field: what was read so far.
    type Partial;
    /// The partial struct with nothing read.
    const EMPTY: Self::Partial;
    /// Reads field `index` from `source` into its slot; `false` when a sequence has ended.
    fn read<S: Source<'de>>(
        partial: &mut Self::Partial,
        index: usize,
        source: S,
    ) -> Result<bool, S::Error>;
    /// The struct, or the name of the first required field that is missing.
    fn finish(partial: Self::Partial) -> Result<Self, &'static str>;
}

/// Where a field's value comes from: the next value of a map, or the next element of a
/// sequence.
pub trait Source<'de> {
    /// The format's error.
    type Error: de::Error;
    /// Reads one value into `slot` (field `name`); `false` if there was none (a sequence
    /// ended). A map key seen twice is an error.
    fn put<T: Deserialize<'de>>(
        self,
        slot: &mut Option<T>,
        name: &'static str,
    ) -> Result<bool, Self::Error>;
}

/// A required field's value, or the field's name for the missing-field error.
pub fn required<T>(slot: Option<T>, name: &'static str) -> Result<T, &'static str> {
    slot.ok_or(name)
}

/// `Deserialize::deserialize` of a generated struct.
pub fn deserialize<'de, T: Record<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_struct(T::NAME, T::FIELDS, RecordVisitor::<T>(PhantomData))
}

struct RecordVisitor<T>(PhantomData<fn() -> T>);

impl<'de, T: Record<'de>> Visitor<'de> for RecordVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "struct {}", T::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut partial = T::EMPTY;
        while let Some(key) = map.next_key_seed(Key::<T>(PhantomData))? {
            match key {
                Some(index) => {
                    T::read(&mut partial, index, FromMap(&mut map))?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        T::finish(partial).map_err(de::Error::missing_field)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let mut partial = T::EMPTY;
        for index in 0..T::FIELDS.len() {
            if !T::read(&mut partial, index, FromSeq(&mut seq))? {
                return Err(de::Error::invalid_length(
                    index,
                    &Elements::<T>(PhantomData),
                ));
            }
        }
        T::finish(partial).map_err(de::Error::missing_field)
    }
}

/// What a sequence was expected to hold, worded as serde's derive words it.
struct Elements<T>(PhantomData<fn() -> T>);

impl<'de, T: Record<'de>> de::Expected for Elements<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match T::FIELDS.len() {
            1 => write!(f, "struct {} with 1 element", T::NAME),
            n => write!(f, "struct {} with {n} elements", T::NAME),
        }
    }
}

/// A map key: the index of the field it names, `None` for a key the struct does not have.
struct Key<T>(PhantomData<fn() -> T>);

impl<'de, T: Record<'de>> DeserializeSeed<'de> for Key<T> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de, T: Record<'de>> Visitor<'de> for Key<T> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_u64<E: de::Error>(self, index: u64) -> Result<Option<usize>, E> {
        Ok(usize::try_from(index).ok().filter(|i| *i < T::FIELDS.len()))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(T::FIELDS.iter().position(|f| *f == name))
    }

    fn visit_bytes<E: de::Error>(self, name: &[u8]) -> Result<Option<usize>, E> {
        Ok(T::FIELDS.iter().position(|f| f.as_bytes() == name))
    }
}

struct FromMap<'a, A>(&'a mut A);

impl<'de, A: MapAccess<'de>> Source<'de> for FromMap<'_, A> {
    type Error = A::Error;

    fn put<T: Deserialize<'de>>(
        self,
        slot: &mut Option<T>,
        name: &'static str,
    ) -> Result<bool, A::Error> {
        if slot.is_some() {
            return Err(de::Error::duplicate_field(name));
        }
        *slot = Some(self.0.next_value()?);
        Ok(true)
    }
}

struct FromSeq<'a, A>(&'a mut A);

impl<'de, A: SeqAccess<'de>> Source<'de> for FromSeq<'_, A> {
    type Error = A::Error;

    fn put<T: Deserialize<'de>>(
        self,
        slot: &mut Option<T>,
        _name: &'static str,
    ) -> Result<bool, A::Error> {
        *slot = self.0.next_element()?;
        Ok(slot.is_some())
    }
}

/// A generated message struct and its [`Record`] and `Deserialize` impls. The input is the
/// struct itself, with doc comments only; a field whose wire name is not its identifier is
/// marked `#[wire("wire name")]`, an `Option` that may be missing (left out when `None`, as
/// serde's `skip_serializing_if` does) `#[wire(opt)]`, and one that is both
/// `#[wire("wire name", opt)]`. The macro adds `Debug`, `Clone`, `PartialEq` and `Serialize`
/// (the input derives any others): what kombu-build writes for a struct message, so that the
/// generated source stays short and reads as the struct it is.
#[doc(hidden)]
#[macro_export]
macro_rules! __message {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $(#[wire($($wire:literal)? $(,)? $($opt:ident)?)])?
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            $crate::__private::serde::Serialize
        )]
        #[serde(crate = "::kombu::__private::serde")]
        #[allow(dead_code, unreachable_pub, missing_docs)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                $(
                    $(#[serde(rename = $wire)])?
                    // (`cfg_attr(any(), ..)` is never applied: it only names `$opt`, which
                    // the repetition needs to know whether to write the line before it.)
                    $(
                        #[serde(default, skip_serializing_if = "::core::option::Option::is_none")]
                        #[cfg_attr(any(), $opt)]
                    )?
                )?
                pub $field: $ty,
            )*
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                $crate::__private::record::deserialize(deserializer)
            }
        }

        // What was read so far, one `Option` per field (a type nothing outside can name).
        const _: () = {
            pub struct __KombuPartial {
                $( $field: ::core::option::Option<$ty>, )*
            }

            impl<'de> $crate::__private::record::Record<'de> for $name {
                const NAME: &'static str = ::core::stringify!($name);
                const FIELDS: &'static [&'static str] =
                    &[$($crate::__message!(@wire $field $($($wire)?)?)),*];
                type Partial = __KombuPartial;
                const EMPTY: __KombuPartial = __KombuPartial {
                    $( $field: ::core::option::Option::None, )*
                };

                #[allow(unused_assignments, unused_mut, unused_variables)]
                fn read<S: $crate::__private::record::Source<'de>>(
                    partial: &mut __KombuPartial,
                    index: usize,
                    source: S,
                ) -> ::core::result::Result<bool, S::Error> {
                    // Field `index`, in declaration order.
                    let mut next = 0usize;
                    $(
                        if index == next {
                            return source.put(
                                &mut partial.$field,
                                $crate::__message!(@wire $field $($($wire)?)?),
                            );
                        }
                        next += 1;
                    )*
                    ::core::result::Result::Ok(false)
                }

                fn finish(
                    partial: __KombuPartial,
                ) -> ::core::result::Result<Self, &'static str> {
                    let _ = &partial;
                    ::core::result::Result::Ok($name {
                        $(
                            $field: $crate::__message!(
                                @take [$($($opt)?)?] partial.$field,
                                $crate::__message!(@wire $field $($($wire)?)?)
                            ),
                        )*
                    })
                }
            }
        };
    };
    (@wire $field:ident) => {
        ::core::stringify!($field)
    };
    (@wire $field:ident $wire:literal) => {
        $wire
    };
    (@take [] $slot:expr, $wire:expr) => {
        $crate::__private::record::required($slot, $wire)?
    };
    (@take [opt] $slot:expr, $wire:expr) => {
        $slot.unwrap_or_default()
    };
}
