//! One change between two versions of a topology, and its class: what `kombu diff` reports
//! (`diff.rs` finds the changes) and what the policy hints (`policy_hint.rs`) add to and
//! rewrite.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Class {
    /// Additive; apply as is.
    Safe,
    /// Changed in place with a RabbitMQ policy.
    Policy,
    /// The broker refuses a redeclare: the entity is recreated (or renamed) with a migration.
    Recreate,
    /// Drops messages or routes.
    Destructive,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Safe => "safe",
            Class::Policy => "policy",
            Class::Recreate => "recreate",
            Class::Destructive => "destructive",
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) entity: String,
    pub(crate) change: String,
    pub(crate) class: Class,
    pub(crate) hint: Option<String>,
}
