//! The effective configuration of a queue or exchange: which policy and which operator policy
//! apply to it, and what each setting ends up being once the declared arguments, the policy
//! and the operator policy are combined by RabbitMQ's per-key rules.
//!
//! This module follows RabbitMQ 3.10–3.13 (the source cited is v3.13.7):
//!
//! - Matching (`rabbit_policy:match_all/3`, `matches/3`): a policy applies when its vhost is the
//!   entity's, its `apply-to` fits the entity (and the queue's type), its pattern matches the
//!   name anywhere (`re:run/3`, unanchored), and, for queues, the queue's type supports every
//!   key of the definition (`rabbit_queue_type:is_policy_applicable/2` against the type's
//!   `unsupported_policies`: a policy that sets `delivery-limit` does not apply to a classic
//!   queue at all). Of those, the highest priority wins; the order among equals is unspecified.
//! - Policy against operator policy (`rabbit_policy:get0/3`, `rabbit_policies:merge_policy_value/3`):
//!   the lesser for `message-ttl`, `max-length`, `max-length-bytes`, `max-in-memory-*`,
//!   `expires`, `delivery-limit`; the operator's for `queue-version`, `overflow` and the rest.
//! - Argument against policy (`rabbit_queue_type_util:args_policy_lookup/3` with each queue
//!   type's resolver): classic queues (`rabbit_amqqueue_process:process_args_policy/1`) take
//!   the lesser for `expires`, `message-ttl`, `max-length`, `max-length-bytes` and the argument
//!   for the dead-letter keys, `overflow`, `queue-mode`, `queue-version`; quorum queues
//!   (`rabbit_quorum_queue:ra_machine_config/1`, `dead_letter_handler/2`) take the lesser for the
//!   limits, `message-ttl` and `delivery-limit`, the policy for `overflow` and `expires`, the
//!   argument for the dead-letter keys; streams (`rabbit_stream_queue:update_stream_conf/2`)
//!   take the policy for `max-length-bytes`, `max-age` and the segment and filter sizes;
//!   exchanges (`rabbit_policy:get_arg/3`) take the argument for `alternate-exchange`. Any
//!   other key: the argument when there is one (`get_arg`'s rule), else the policy.

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostic::{Code, Sink};
use super::load::Origins;
use super::model::TopologyModel;
use super::policy::{self, ApplyTo, PolicyDef, PolicyValue, POLICY_KEYS};
use super::source::SourceFile;
use super::{EntityKind, Topology};
use crate::{FieldTable, FieldValue, QueueType};

/// A policy that matches an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyMatch {
    /// The policy's name.
    pub name: String,
    /// Its priority.
    pub priority: i64,
}

/// Where an effective value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingSource {
    /// The entity's own declaration argument (`x-max-length`, ...).
    Argument,
    /// The policy of this name.
    Policy(String),
    /// The operator policy of this name.
    OperatorPolicy(String),
    /// Nothing sets it: the broker's default.
    Default,
}

impl std::fmt::Display for SettingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingSource::Argument => f.write_str("argument"),
            SettingSource::Policy(n) => write!(f, "policy {n}"),
            SettingSource::OperatorPolicy(n) => write!(f, "operator policy {n}"),
            SettingSource::Default => f.write_str("default"),
        }
    }
}

/// One effective setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveSetting {
    /// The key, as a policy writes it (`max-length`); the argument is `x-` and the key.
    pub key: &'static str,
    /// The value in the broker's form (milliseconds for durations).
    pub value: PolicyValue,
    /// Where it comes from.
    pub source: SettingSource,
    /// The values that lost, with where they come from.
    pub overridden: Vec<(SettingSource, PolicyValue)>,
}

/// The effective configuration of one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Queue or exchange.
    pub kind: EntityKind,
    /// Its name.
    pub name: String,
    /// For a queue: its type (classic when not declared).
    pub queue_type: Option<QueueType>,
    /// The policy that applies, if one does.
    pub policy: Option<PolicyMatch>,
    /// The operator policy that applies, if one does.
    pub operator_policy: Option<PolicyMatch>,
    /// Policies that match at the winner's priority beside it (RabbitMQ picks one of them).
    pub policy_ties: Vec<String>,
    /// Operator policies that match at the winner's priority beside it.
    pub operator_policy_ties: Vec<String>,
    /// Every setting an argument, the policy or the operator policy gives, in key order.
    pub settings: Vec<EffectiveSetting>,
}

impl Effective {
    /// The effective setting of one key, if something sets it.
    pub fn get(&self, key: &str) -> Option<&EffectiveSetting> {
        self.settings.iter().find(|s| s.key == key)
    }
}

/// `unsupported_policies` of each queue type's `capabilities/0` (3.13).
fn unsupported(t: QueueType) -> &'static [&'static str] {
    match t {
        QueueType::Classic => &[
            "max-age",
            "stream-max-segment-size-bytes",
            "queue-leader-locator",
            "initial-cluster-size",
            "delivery-limit",
            "dead-letter-strategy",
            "max-in-memory-length",
            "max-in-memory-bytes",
            "target-group-size",
        ],
        QueueType::Quorum => &[
            "max-priority",
            "queue-mode",
            "single-active-consumer",
            "ha-mode",
            "ha-params",
            "ha-sync-mode",
            "ha-promote-on-shutdown",
            "ha-promote-on-failure",
            "queue-master-locator",
            "max-age",
            "stream-max-segment-size-bytes",
            "initial-cluster-size",
        ],
        QueueType::Stream => &[
            "expires",
            "message-ttl",
            "dead-letter-exchange",
            "dead-letter-routing-key",
            "max-length",
            "max-in-memory-length",
            "max-in-memory-bytes",
            "max-priority",
            "overflow",
            "queue-mode",
            "single-active-consumer",
            "delivery-limit",
            "ha-mode",
            "ha-params",
            "ha-sync-mode",
            "ha-promote-on-shutdown",
            "ha-promote-on-failure",
            "queue-master-locator",
            "dead-letter-strategy",
            "target-group-size",
        ],
    }
}

/// The entity a policy is matched against.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Queue(&'a str, QueueType),
    Exchange(&'a str),
}

fn applies(p: &PolicyDef, vhost: &str, target: Target<'_>) -> bool {
    if p.vhost != vhost {
        return false;
    }
    let (name, fits) = match target {
        Target::Exchange(name) => (
            name,
            matches!(p.apply_to, ApplyTo::All | ApplyTo::Exchanges),
        ),
        Target::Queue(name, t) => {
            let kind = match p.apply_to {
                ApplyTo::All | ApplyTo::Queues => true,
                ApplyTo::Exchanges => false,
                ApplyTo::ClassicQueues => t == QueueType::Classic,
                ApplyTo::QuorumQueues => t == QueueType::Quorum,
                ApplyTo::Streams => t == QueueType::Stream,
            };
            let supported = kind
                && p.definition
                    .entries()
                    .iter()
                    .all(|(k, _)| !unsupported(t).contains(k));
            (name, supported)
        }
    };
    fits && matches(&p.pattern, name)
}

thread_local! {
    /// Compiled patterns: the lint asks every policy about every entity, and compiling a
    /// pattern costs far more than matching it.
    static PATTERNS: std::cell::RefCell<std::collections::HashMap<String, Option<regex::Regex>>> =
        std::cell::RefCell::default();
}

fn matches(pattern: &str, name: &str) -> bool {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 4096 {
            cache.clear();
        }
        cache
            .entry(pattern.to_owned())
            .or_insert_with(|| policy::compile(pattern).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(name))
    })
}

/// The winner among `table`'s policies for `target`, and the others at its priority.
fn pick<'m>(
    table: &'m indexmap::IndexMap<String, PolicyDef>,
    vhost: &str,
    target: Target<'_>,
) -> Option<(&'m str, &'m PolicyDef, Vec<String>)> {
    let mut matching: Vec<(&String, &PolicyDef)> = table
        .iter()
        .filter(|(_, p)| applies(p, vhost, target))
        .collect();
    // Highest priority first; among equals, by name, so that the answer is stable (RabbitMQ's
    // own choice among equals is unspecified, which the lint reports).
    matching.sort_by(|a, b| b.1.priority.cmp(&a.1.priority).then(a.0.cmp(b.0)));
    let (name, winner) = *matching.first()?;
    let ties = matching[1..]
        .iter()
        .take_while(|(_, p)| p.priority == winner.priority)
        .map(|(n, _)| (*n).clone())
        .collect();
    Some((name.as_str(), winner, ties))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    Lesser,
    Argument,
    Policy,
}

/// How the argument and the (merged) policy value combine, per queue type and key.
fn rule(target: Target<'_>, key: &str) -> Rule {
    match target {
        Target::Exchange(_) => Rule::Argument,
        Target::Queue(_, QueueType::Classic) => match key {
            "expires" | "message-ttl" | "max-length" | "max-length-bytes" => Rule::Lesser,
            _ => Rule::Argument,
        },
        Target::Queue(_, QueueType::Quorum) => match key {
            "max-length"
            | "max-length-bytes"
            | "max-in-memory-length"
            | "max-in-memory-bytes"
            | "delivery-limit"
            | "message-ttl" => Rule::Lesser,
            "overflow" | "expires" => Rule::Policy,
            _ => Rule::Argument,
        },
        Target::Queue(_, QueueType::Stream) => match key {
            "max-length-bytes"
            | "max-age"
            | "stream-max-segment-size-bytes"
            | "stream-filter-size-bytes" => Rule::Policy,
            _ => Rule::Argument,
        },
    }
}

/// Policy value against operator policy value (`rabbit_policies:merge_policy_value/3`, 3.13).
fn operator_takes_lesser(key: &str) -> bool {
    matches!(
        key,
        "message-ttl"
            | "max-length"
            | "max-length-bytes"
            | "max-in-memory-length"
            | "max-in-memory-bytes"
            | "expires"
            | "delivery-limit"
    )
}

fn lesser(a: &PolicyValue, b: &PolicyValue) -> bool {
    match (a, b) {
        (PolicyValue::Int(a), PolicyValue::Int(b)) => a <= b,
        _ => true,
    }
}

fn field_value(v: &FieldValue) -> Option<PolicyValue> {
    if let Some(n) = v.as_i64() {
        return Some(PolicyValue::Int(n));
    }
    v.as_str().map(|s| PolicyValue::Str(s.to_owned()))
}

/// The effective configuration of the queue or exchange `name` of `topology` when it is
/// declared in `vhost`, or `None` if the topology declares no such entity.
pub fn effective(
    topology: &Topology,
    vhost: &str,
    kind: EntityKind,
    name: &str,
) -> Option<Effective> {
    let model = topology.model();
    let (target, args, queue_type): (Target<'_>, FieldTable, Option<QueueType>) = match kind {
        EntityKind::Queue => {
            model.queues.get(name)?;
            let q = topology.queue(name)?;
            let args = q.declare_arguments();
            let t = QueueType::of_arguments(&args);
            (Target::Queue(name, t), args, Some(t))
        }
        EntityKind::Exchange => {
            model.exchanges.get(name)?;
            let x = topology.exchange(name)?;
            (Target::Exchange(name), x.arguments, None)
        }
        _ => return None,
    };
    let policy = pick(&model.policies, vhost, target);
    let op = pick(&model.operator_policies, vhost, target);

    let mut keys: BTreeMap<usize, &'static str> = BTreeMap::new();
    let mut note = |key: &str| {
        if let Some(i) = POLICY_KEYS.iter().position(|k| *k == key) {
            keys.insert(i, POLICY_KEYS[i]);
        }
    };
    for k in args.keys() {
        note(k.strip_prefix("x-").unwrap_or(k));
    }
    for (_, p, _) in policy.iter().chain(op.iter()) {
        for (k, _) in p.definition.entries() {
            note(k);
        }
    }

    let mut settings = Vec::new();
    for key in keys.into_values() {
        let arg_name = match target {
            Target::Exchange(_) => key.to_owned(),
            Target::Queue(..) => format!("x-{key}"),
        };
        let arg = args.get(&arg_name).and_then(field_value);
        let pol = policy.as_ref().and_then(|(n, p, _)| {
            p.definition
                .get(key)
                .map(|v| (SettingSource::Policy((*n).to_owned()), v))
        });
        let opv = op.as_ref().and_then(|(n, p, _)| {
            p.definition
                .get(key)
                .map(|v| (SettingSource::OperatorPolicy((*n).to_owned()), v))
        });
        let mut overridden = Vec::new();
        // The policy value RabbitMQ's `rabbit_policy:get/2` returns: policy and operator
        // policy merged.
        let merged = match (pol, opv) {
            (None, None) => None,
            (Some(p), None) => Some(p),
            (None, Some(o)) => Some(o),
            (Some(p), Some(o)) => {
                let op_wins = !operator_takes_lesser(key) || !lesser(&p.1, &o.1);
                let (win, lose) = if op_wins { (o, p) } else { (p, o) };
                overridden.push(lose);
                Some(win)
            }
        };
        let (source, value) = match (arg, merged) {
            (None, None) => continue,
            (Some(a), None) => (SettingSource::Argument, a),
            (None, Some(m)) => m,
            (Some(a), Some(m)) => {
                let arg_wins = match rule(target, key) {
                    Rule::Argument => true,
                    Rule::Policy => false,
                    Rule::Lesser => lesser(&a, &m.1),
                };
                if arg_wins {
                    overridden.push(m);
                    (SettingSource::Argument, a)
                } else {
                    overridden.push((SettingSource::Argument, a));
                    m
                }
            }
        };
        settings.push(EffectiveSetting {
            key,
            value,
            source,
            overridden,
        });
    }
    let to_match = |m: &Option<(&str, &PolicyDef, Vec<String>)>| {
        m.as_ref().map(|(n, p, _)| PolicyMatch {
            name: (*n).to_owned(),
            priority: p.priority,
        })
    };
    Some(Effective {
        kind,
        name: name.to_owned(),
        queue_type,
        policy: to_match(&policy),
        operator_policy: to_match(&op),
        policy_ties: policy.as_ref().map(|m| m.2.clone()).unwrap_or_default(),
        operator_policy_ties: op.as_ref().map(|m| m.2.clone()).unwrap_or_default(),
        settings,
    })
}

/// The vhosts the policies of a model name (`/` when there are none).
fn vhosts(model: &TopologyModel) -> BTreeSet<&str> {
    let mut v: BTreeSet<&str> = model
        .policies
        .values()
        .chain(model.operator_policies.values())
        .map(|p| p.vhost.as_str())
        .collect();
    if v.is_empty() {
        v.insert("/");
    }
    v
}

/// The lint of policies against the entities they match: classic queues mirrored by `ha-mode`
/// (W212), shadowed policies (W220), arguments that make a policy key ineffective (W221), and
/// ties (W222).
pub(crate) fn lint(topology: &Topology, origins: &Origins, sink: &mut Sink) {
    let model = topology.model();
    if model.policies.is_empty() && model.operator_policies.is_empty() {
        return;
    }
    let files: &[SourceFile] = topology.files();
    let entities: Vec<(EntityKind, &String)> = model
        .exchanges
        .keys()
        .map(|n| (EntityKind::Exchange, n))
        .chain(model.queues.keys().map(|n| (EntityKind::Queue, n)))
        .collect();
    for vhost in vhosts(model) {
        // Per policy: how many entities it matches, and how many it wins.
        let mut matched: BTreeMap<(EntityKind, &str), (usize, Vec<String>)> = BTreeMap::new();
        let mut ties_seen: BTreeSet<(EntityKind, Vec<String>)> = BTreeSet::new();
        for &(kind, name) in &entities {
            let Some(e) = effective(topology, vhost, kind, name) else {
                continue;
            };
            let target = match e.queue_type {
                Some(t) => Target::Queue(name, t),
                None => Target::Exchange(name),
            };
            for (pkind, table, winner, ties) in [
                (
                    EntityKind::Policy,
                    &model.policies,
                    &e.policy,
                    &e.policy_ties,
                ),
                (
                    EntityKind::OperatorPolicy,
                    &model.operator_policies,
                    &e.operator_policy,
                    &e.operator_policy_ties,
                ),
            ] {
                for (pname, p) in table {
                    if applies(p, vhost, target) {
                        let won = winner.as_ref().is_some_and(|w| &w.name == pname)
                            || ties.contains(pname);
                        let entry = matched
                            .entry((pkind, pname.as_str()))
                            .or_insert((0, Vec::new()));
                        entry.0 += 1;
                        if !won {
                            entry.1.push(format!("{} `{name}`", kind.as_str()));
                        }
                    }
                }
                if let (Some(w), false) = (winner, ties.is_empty()) {
                    let mut group: Vec<String> = ties.clone();
                    group.push(w.name.clone());
                    group.sort();
                    if ties_seen.insert((pkind, group.clone())) {
                        let listed: Vec<String> = group.iter().map(|g| format!("`{g}`")).collect();
                        sink.push(
                            files,
                            Code::PolicyTie,
                            origins.get(pkind, &w.name),
                            format!(
                                "{} {} match {} `{name}` with the same priority {}; RabbitMQ applies one of them, unspecified which",
                                match pkind {
                                    EntityKind::OperatorPolicy => "operator policies",
                                    _ => "policies",
                                },
                                listed.join(" and "),
                                kind.as_str(),
                                w.priority
                            ),
                        )
                        .help("give them different priorities, or make their patterns disjoint");
                    }
                }
            }
            if e.queue_type == Some(QueueType::Classic) {
                let mirrored = e.policy.as_ref().filter(|w| {
                    model
                        .policies
                        .get(&w.name)
                        .is_some_and(|p| p.definition.ha_mode.is_some())
                });
                if let Some(w) = mirrored {
                    let d = sink.push(
                        files,
                        Code::ClassicReplication,
                        origins.get(kind, name),
                        format!(
                            "classic queue `{name}` is mirrored by policy `{}` (`ha-mode`), which RabbitMQ deprecates and 4.0 removes",
                            w.name
                        ),
                    );
                    d.help("to replicate it, make it a quorum queue (`type = \"quorum\"`)");
                    if let Some(span) = origins.get(EntityKind::Policy, &w.name) {
                        d.related(files, span, format!("policy `{}` is declared here", w.name));
                    }
                }
            }
            for s in &e.settings {
                if s.source != SettingSource::Argument {
                    continue;
                }
                // A policy that asks for the value the argument already gives loses nothing.
                for (lost, v) in s.overridden.iter().filter(|(_, v)| *v != s.value) {
                    let (what, pname, pkind) = match lost {
                        SettingSource::Policy(n) => ("policy", n, EntityKind::Policy),
                        SettingSource::OperatorPolicy(n) => {
                            ("operator policy", n, EntityKind::OperatorPolicy)
                        }
                        _ => continue,
                    };
                    let arg = match kind {
                        EntityKind::Queue => format!("x-{}", s.key),
                        _ => s.key.to_owned(),
                    };
                    let d = sink.push(
                        files,
                        Code::IneffectivePolicyKey,
                        origins.get(kind, name),
                        format!(
                            "{} `{name}`: its argument `{arg}` = {} wins over {what} `{pname}`'s `{}` = {v}, which has no effect here",
                            kind.as_str(),
                            s.value,
                            s.key
                        ),
                    );
                    if let Some(span) = origins.get(pkind, pname) {
                        d.related(files, span, format!("{what} `{pname}` is declared here"));
                    }
                }
            }
        }
        for ((pkind, pname), (count, lost)) in matched {
            if count > 0 && lost.len() == count {
                let shown: Vec<&str> = lost.iter().take(3).map(String::as_str).collect();
                let more = if lost.len() > 3 {
                    format!(" and {} more", lost.len() - 3)
                } else {
                    String::new()
                };
                sink.push(
                    files,
                    Code::ShadowedPolicy,
                    origins.get(pkind, pname),
                    format!(
                        "{} `{pname}` applies to nothing: a higher-priority {} wins on every entity it matches ({}{more})",
                        pkind.as_str(),
                        pkind.as_str(),
                        shown.join(", ")
                    ),
                )
                .help("raise its priority, narrow the other pattern, or move its keys into the policy that wins");
            }
        }
    }
}
