//! Message type evolution: whether the message types of a new topology can be deployed beside
//! those of the old one, checked the way schema registries check a new schema version. Each
//! message type chooses its mode (`compatibility` in the file):
//!
//! - `backward` (the default): consumers built from the new file read what producers built
//!   from the old one send (deploy consumers first). A field added must be optional; a field
//!   may be removed; a variant may be added, not removed; a type may only widen.
//! - `forward`: consumers built from the old file read what new producers send (deploy
//!   producers first). A field may be added; a field removed must have been optional; a
//!   variant may be removed, not added; a type may only narrow.
//! - `full`: both.
//! - `none`: no check.
//!
//! A reader ignores fields it does not know (generated types do), so an extra field never
//! breaks one; a missing field breaks it unless the field is `optional<...>`. What a type
//! reads is decided by [`reads`]: the same type, an optional of what it reads, an integer
//! whose range holds the writer's, a float from any number, `json` from anything.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::diagnostic::{Code, Diagnostic};
use super::model::{At, Compatibility, FieldDef, MessageDef, Name, TopologyModel};
use super::types::{Primitive, TypeExpr};
use super::{EntityKind, Topology};

/// The breaking changes from `old` to `new`'s message types, by each new type's mode, as
/// E114 errors placed in `new`'s files. A message type only in one of them is not compared
/// (`kombu diff` reports it).
pub fn check_compatibility(old: &TopologyModel, new: &Topology) -> Vec<Diagnostic> {
    compare(old, new)
        .into_iter()
        .filter(|b| b.refused)
        .map(|b| b.diagnostic)
        .collect()
}

/// Which side of a deploy a message-type change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakDirection {
    /// Consumers built from the new file cannot read what old producers still send.
    Backward,
    /// Consumers built from the old file cannot read what new producers send.
    Forward,
}

impl BreakDirection {
    /// `backward` or `forward`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakDirection::Backward => "backward",
            BreakDirection::Forward => "forward",
        }
    }
}

/// One change to a message type that breaks its readers on one side of a deploy, whatever
/// its mode allows ([`check_compatibility`] keeps the ones the mode refuses).
#[derive(Debug, Clone)]
pub struct MessageBreak {
    /// The message type.
    pub message: String,
    /// The change (`required field `size` removed`).
    pub change: String,
    /// Which readers it breaks.
    pub direction: BreakDirection,
    /// The message type's effective mode (joined with the modes of the messages that hold it).
    pub mode: Compatibility,
    /// Whether the mode refuses it (`kombu check --against` reports it as E114).
    pub refused: bool,
    /// The enum variant it is in (`None`: the whole type, or a struct's field).
    pub variant: Option<String>,
    /// The E114 diagnostic it is, placed in `new`'s files.
    pub diagnostic: Diagnostic,
}

/// Every change from `old` to `new`'s message types that breaks readers on one side of a
/// deploy, in both directions, each with whether its mode refuses it.
pub fn message_breaks(old: &TopologyModel, new: &Topology) -> Vec<MessageBreak> {
    compare(old, new)
}

fn compare(old: &TopologyModel, new: &Topology) -> Vec<MessageBreak> {
    let modes = effective_modes(new.model());
    let mut out = Vec::new();
    for (name, n) in &new.model().messages {
        let Some(o) = old.messages.get(name) else {
            continue;
        };
        if o == n {
            continue;
        }
        let (mode, via) = modes
            .get(name.as_str())
            .cloned()
            .unwrap_or((n.compatibility.unwrap_or_default(), None));
        let mut c = Compare {
            topology: new,
            message: name,
            mode,
            via,
            variant: None,
            out: &mut out,
        };
        c.message(o, n);
    }
    out
}

/// Each message's mode joined with the modes of the messages that hold it in a field
/// (directly or through others): a change to a part breaks whoever reads the whole. With the
/// message whose mode made it stricter than its own, if one did.
fn effective_modes(model: &TopologyModel) -> BTreeMap<&str, (Compatibility, Option<String>)> {
    let own = |m: &MessageDef| m.compatibility.unwrap_or_default();
    let mut modes: BTreeMap<&str, (Compatibility, Option<String>)> = model
        .messages
        .iter()
        .map(|(name, m)| (name.as_str(), (own(m), None)))
        .collect();
    // Who holds whom: (holder, held).
    let mut edges: Vec<(&str, String)> = Vec::new();
    for (name, m) in &model.messages {
        let fields = m
            .fields
            .iter()
            .flatten()
            .chain(m.variants.iter().flatten().flat_map(|(_, v)| &v.fields));
        for (_, f) in fields {
            if let Ok(t) = TypeExpr::parse(&f.ty) {
                edges.extend(
                    t.messages()
                        .into_iter()
                        .map(|held| (name.as_str(), held.to_owned())),
                );
            }
        }
    }
    // Joins only go up (none < backward, forward < full): a fixed point within as many rounds
    // as there are messages, usually one or two.
    for _ in 0..=model.messages.len() {
        let mut changed = false;
        for (holder, held) in &edges {
            let Some((holder_mode, _)) = modes.get(holder).cloned() else {
                continue;
            };
            let Some((held_mode, held_via)) = modes.get_mut(held.as_str()) else {
                continue;
            };
            let joined = held_mode.join(holder_mode);
            if joined != *held_mode {
                *held_mode = joined;
                *held_via = Some((*holder).to_owned());
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    modes
}

use BreakDirection as Breaks;

struct Compare<'a> {
    topology: &'a Topology,
    message: &'a str,
    mode: Compatibility,
    /// The message holding this one whose mode is stricter than this one's own.
    via: Option<String>,
    /// The variant being compared, if any.
    variant: Option<String>,
    out: &'a mut Vec<MessageBreak>,
}

impl Compare<'_> {
    fn report(&mut self, breaks: Breaks, span: Option<super::Span>, what: String) {
        let refused = match breaks {
            Breaks::Backward => matches!(self.mode, Compatibility::Backward | Compatibility::Full),
            Breaks::Forward => matches!(self.mode, Compatibility::Forward | Compatibility::Full),
        };
        let (rule, why, help) = match breaks {
            Breaks::Backward => (
                "backward",
                "consumers built from the new file cannot read the messages producers built from the old one still send",
                "make the change in two deploys (add a field as `optional<...>` first), or, if producers are always deployed before consumers, say `compatibility = \"forward\"`",
            ),
            Breaks::Forward => (
                "forward",
                "consumers built from the old file cannot read the messages producers built from the new one send",
                "make the change in two deploys (make a field `optional<...>` before removing it), or, if consumers are always deployed before producers, say `compatibility = \"backward\"`",
            ),
        };
        let location = span
            .and_then(|s| self.topology.locate(s))
            .or_else(|| self.topology.origin(EntityKind::Message, self.message));
        let mode = match &self.via {
            Some(holder) => format!(
                "{} compatibility, from message `{holder}`, which holds it",
                self.mode.as_str()
            ),
            None => format!("{} compatibility", self.mode.as_str()),
        };
        let diagnostic = Diagnostic::new(
            Code::IncompatibleMessageChange,
            format!(
                "message `{}` ({mode}): {what} breaks {rule} compatibility: {why}",
                self.message
            ),
            location,
        )
        .with_help(help);
        self.out.push(MessageBreak {
            message: self.message.to_owned(),
            change: what,
            direction: breaks,
            mode: self.mode,
            refused,
            variant: self.variant.clone(),
            diagnostic,
        });
    }

    fn message(&mut self, o: &MessageDef, n: &MessageDef) {
        let shape = |m: &MessageDef| {
            if m.rust.is_some() {
                "rust"
            } else if m.variants.is_some() {
                "enum"
            } else {
                "struct"
            }
        };
        if shape(o) != shape(n) || o.tag != n.tag || o.rust != n.rust {
            let span = n
                .rust
                .as_ref()
                .and_then(At::span)
                .or(n.tag.as_ref().and_then(At::span));
            let what = match (&o.rust, &n.rust) {
                (Some(a), Some(b)) if shape(o) == shape(n) => {
                    format!("the Rust type `{a}` replaced by `{b}` (which kombu cannot compare)")
                }
                _ => format!(
                    "the definition changed from {} to {}",
                    describe(o),
                    describe(n)
                ),
            };
            self.report(Breaks::Backward, span, what.clone());
            self.report(Breaks::Forward, span, what);
            return;
        }
        let empty = IndexMap::new();
        self.fields(
            "",
            o.fields.as_ref().unwrap_or(&empty),
            n.fields.as_ref().unwrap_or(&empty),
        );
        let (Some(ov), Some(nv)) = (&o.variants, &n.variants) else {
            return;
        };
        for (v, def) in nv {
            match ov.get(v.as_str()) {
                None => {
                    self.variant = Some(v.to_string());
                    self.report(Breaks::Forward, v.span(), format!("variant `{v}` added"));
                }
                Some(old) => {
                    self.variant = Some(v.to_string());
                    self.fields(&format!(" of variant `{v}`"), &old.fields, &def.fields);
                }
            }
        }
        for v in ov.keys().filter(|v| !nv.contains_key(v.as_str())) {
            self.variant = Some(v.to_string());
            let span = n.tag.as_ref().and_then(At::span);
            self.report(Breaks::Backward, span, format!("variant `{v}` removed"));
        }
    }

    fn fields(
        &mut self,
        of: &str,
        old: &IndexMap<Name, At<FieldDef>>,
        new: &IndexMap<Name, At<FieldDef>>,
    ) {
        for (f, def) in new {
            let new_ty = TypeExpr::parse(&def.ty).ok();
            match old.get(f.as_str()) {
                None => {
                    if !new_ty.as_ref().is_some_and(optional) {
                        self.report(
                            Breaks::Backward,
                            f.span(),
                            format!("required field `{f}`{of} added"),
                        );
                    }
                }
                Some(old_def) => {
                    let old_ty = TypeExpr::parse(&old_def.ty).ok();
                    let (Some(o), Some(n)) = (old_ty, new_ty) else {
                        continue;
                    };
                    if o == n {
                        continue;
                    }
                    let what = format!(
                        "field `{f}`{of} changed from `{}` to `{}`",
                        old_def.ty, def.ty
                    );
                    // An optional writer leaves the key out, which only an optional reader
                    // takes (a `json` field is required too).
                    let present = |r: &TypeExpr, w: &TypeExpr| optional(r) || !optional(w);
                    if !(present(&n, &o) && reads(&n, &o)) {
                        self.report(Breaks::Backward, def.span(), what.clone());
                    }
                    if !(present(&o, &n) && reads(&o, &n)) {
                        self.report(Breaks::Forward, def.span(), what);
                    }
                }
            }
        }
        for (f, old_def) in old {
            if new.contains_key(f.as_str()) {
                continue;
            }
            let was_optional = TypeExpr::parse(&old_def.ty)
                .ok()
                .is_some_and(|t| optional(&t));
            if !was_optional {
                // Placed at the message: the field is gone from the new file.
                self.report(
                    Breaks::Forward,
                    None,
                    format!("required field `{f}`{of} removed"),
                );
            }
        }
    }
}

fn describe(m: &MessageDef) -> String {
    match (&m.rust, &m.tag) {
        (Some(r), _) => format!("the Rust type `{r}`"),
        (None, Some(t)) => format!("an enum tagged by `{t}`"),
        (None, None) => "a struct".to_owned(),
    }
}

fn optional(t: &TypeExpr) -> bool {
    matches!(t, TypeExpr::Optional(_))
}

/// The range of an integer type, as (min, max).
fn int_range(p: Primitive) -> Option<(i128, i128)> {
    use Primitive::*;
    Some(match p {
        I8 => (i8::MIN.into(), i8::MAX.into()),
        I16 => (i16::MIN.into(), i16::MAX.into()),
        I32 => (i32::MIN.into(), i32::MAX.into()),
        I64 => (i64::MIN.into(), i64::MAX.into()),
        U8 => (0, u8::MAX.into()),
        U16 => (0, u16::MAX.into()),
        U32 => (0, u32::MAX.into()),
        U64 => (0, u64::MAX.into()),
        _ => return None,
    })
}

/// Whether a field of type `reader` decodes every value written as `writer`.
pub(crate) fn reads(reader: &TypeExpr, writer: &TypeExpr) -> bool {
    use TypeExpr as T;
    match (reader, writer) {
        _ if reader == writer => true,
        (T::Primitive(Primitive::Json), _) => true,
        (T::Optional(r), T::Optional(w)) => reads(r, w),
        (T::Optional(r), w) => reads(r, w),
        (T::List(r), T::List(w)) | (T::Map(r), T::Map(w)) => reads(r, w),
        (T::Primitive(r), T::Primitive(w)) => primitive_reads(*r, *w),
        _ => false,
    }
}

fn primitive_reads(reader: Primitive, writer: Primitive) -> bool {
    use Primitive::*;
    if let (Some((rmin, rmax)), Some((wmin, wmax))) = (int_range(reader), int_range(writer)) {
        return rmin <= wmin && wmax <= rmax;
    }
    match reader {
        // A JSON number of any kind decodes as a float.
        F64 => matches!(writer, F32) || int_range(writer).is_some(),
        F32 => int_range(writer).is_some_and(|(min, max)| min >= -(1 << 24) && max <= 1 << 24),
        // Timestamps and UUIDs are strings on the wire.
        String => matches!(writer, Timestamp | Uuid),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TypeExpr {
        TypeExpr::parse(s).unwrap_or(TypeExpr::Primitive(Primitive::Json))
    }

    #[test]
    fn what_reads_what() {
        assert!(reads(&t("u64"), &t("u32")));
        assert!(!reads(&t("u32"), &t("u64")));
        assert!(!reads(&t("u64"), &t("i8")));
        assert!(reads(&t("i64"), &t("u32")));
        assert!(reads(&t("optional<string>"), &t("string")));
        assert!(!reads(&t("string"), &t("optional<string>")));
        assert!(reads(&t("list<i64>"), &t("list<i32>")));
        assert!(!reads(&t("map<i32>"), &t("map<i64>")));
        assert!(reads(&t("f64"), &t("i64")));
        assert!(!reads(&t("i64"), &t("f64")));
        assert!(reads(&t("json"), &t("list<video>")));
        assert!(reads(&t("string"), &t("uuid")));
        assert!(!reads(&t("uuid"), &t("string")));
        assert!(!reads(&t("video"), &t("image")));
    }
}
