//! `kombu plan` and `kombu apply`: a topology against a live broker, through RabbitMQ's
//! management HTTP API (the `rabbitmq_management` plugin).
//!
//! The plan compares declared settings and arguments (so argument drift shows, which the
//! Kubernetes operator cannot see) as RabbitMQ compares them on a redeclare (a difference in an
//! argument it does not compare, or `x-queue-type: classic` against none, is noted, not
//! recreated), classes each difference like `kombu diff`, lists what a recreate does beyond the
//! entity (bindings the files do not name, messages, consumers), and leaves everything the
//! topology does not name alone. `apply` (in `apply.rs`) carries the
//! plan out.

use std::path::PathBuf;

use serde_json::Value;

use crate::api::{s, Api, Binding};
use crate::definitions::definitions;
use crate::drift::{compared_exchange_argument, queue_drift, redeclare_drift};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    Unchanged,
    Create,
    Recreate,
    Remove,
}

impl Action {
    /// The word `plan` shows it with (and the `action` of its JSON).
    pub(crate) fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Recreate => "recreate",
            Action::Remove => "remove",
            Action::Unchanged => "unchanged",
        }
    }
}

/// What a step is about.
#[derive(Clone)]
pub(crate) enum Subject {
    Exchange(String),
    Queue(String),
    Binding(Binding),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Exchange(name) => write!(f, "exchange `{name}`"),
            Subject::Queue(name) => write!(f, "queue `{name}`"),
            Subject::Binding(b) => b.fmt(f),
        }
    }
}

impl Subject {
    /// As `--format json` shows it: its kind and name, or a binding's ends, key and arguments.
    pub(crate) fn json(&self) -> Value {
        match self {
            Subject::Exchange(name) => serde_json::json!({"kind": "exchange", "name": name}),
            Subject::Queue(name) => serde_json::json!({"kind": "queue", "name": name}),
            Subject::Binding(b) => serde_json::json!({
                "kind": "binding",
                "source": b.source,
                "destination": b.destination,
                "destination_type": b.kind(),
                "routing_key": b.routing_key,
                "arguments": b.arguments,
            }),
        }
    }
}

pub(crate) struct Step {
    pub(crate) action: Action,
    pub(crate) subject: Subject,
    pub(crate) detail: String,
    /// For `apply`: what carries it out.
    pub(crate) run: Option<Request>,
}

#[derive(Clone)]
pub(crate) enum Request {
    PutExchange(String, Value),
    PutQueue(String, Value),
    Bind(Binding),
    Unbind(Binding),
    /// Delete and declare again, then bind it as the file says (`Binding`s), and put back the
    /// bindings the broker had that the file does not manage (their other end not in it).
    RecreateExchange(String, Value, Vec<Binding>),
    /// A queue that must be recreated: its messages and bindings move through a temporary
    /// queue (see `migrate`), also when it is empty, so that no publish is lost meanwhile.
    MigrateQueue(String, Value),
}

/// What `plan` found: the steps, what they do beyond themselves, and what is left alone.
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    /// Effects of the steps beyond the entities they name (bindings and messages).
    pub(crate) collateral: Vec<String>,
    /// Differences a redeclare does not compare, so that the broker keeps its value.
    pub(crate) notes: Vec<String>,
    /// What the broker has and the files do not name, left alone: (exchanges, queues).
    pub(crate) left: (usize, usize),
    /// The queues (`true`) and exchanges (`false`) the files name.
    pub(crate) managed: Vec<(bool, String)>,
}

pub(crate) fn plan_steps(api: &Api, files: &[PathBuf]) -> Result<Plan, crate::Failure> {
    let topology = crate::load(files)?;
    let want = definitions(&topology, &api.vhost);
    let exchanges = api.list("exchanges")?;
    let queues = api.list("queues")?;
    let bindings = api.list("bindings")?;
    let by_name = |list: &[Value], name: &str| {
        list.iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let wanted_bindings: Vec<Binding> = want["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Binding::from_json)
        .collect();
    let broker_bindings: Vec<(Binding, &Value)> = bindings
        .iter()
        .filter(|b| !s(b, "source").is_empty())
        .map(|b| (Binding::from_json(b), b))
        .collect();
    let managed: Vec<(bool, String)> = want["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| (true, s(q, "name")))
        .chain(
            want["exchanges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| (false, s(x, "name"))),
        )
        .collect();
    let is_managed =
        |to_queue: bool, name: &str| managed.iter().any(|(q, n)| *q == to_queue && n == name);
    let declares = |b: &Binding| file_declares(&managed, b);
    let mut steps = Vec::new();
    let mut collateral = Vec::new();
    let mut notes = Vec::new();
    let mut note = |what: &str, ignored: Vec<String>| {
        for i in ignored {
            notes.push(format!("{what}: {i}: RabbitMQ does not compare it when the {} is declared again, so the broker keeps its value until the {0} is recreated", what.split(' ').next().unwrap_or_default()));
        }
    };
    for x in want["exchanges"].as_array().into_iter().flatten() {
        let name = s(x, "name");
        let body = serde_json::json!({"type": x["type"], "durable": x["durable"], "auto_delete": x["auto_delete"], "internal": x["internal"], "arguments": x["arguments"]});
        match by_name(&exchanges, &name) {
            None => steps.push(Step {
                action: Action::Create,
                subject: Subject::Exchange(name.clone()),
                detail: format!("{} exchange", x["type"].as_str().unwrap_or("direct")),
                run: Some(Request::PutExchange(name, body)),
            }),
            Some(actual) => {
                let kind = s(x, "type");
                let (d, ignored) = redeclare_drift(
                    x,
                    &actual,
                    &["type", "durable", "auto_delete", "internal"],
                    |k| compared_exchange_argument(&kind, k),
                );
                note(&format!("exchange `{name}`"), ignored);
                if d.is_empty() {
                    steps.push(Step {
                        action: Action::Unchanged,
                        subject: Subject::Exchange(name),
                        detail: String::new(),
                        run: None,
                    });
                    continue;
                }
                let own: Vec<Binding> = wanted_bindings
                    .iter()
                    .filter(|b| b.touches_exchange(&name))
                    .cloned()
                    .collect();
                collateral.push(format!(
                    "exchange `{name}` is deleted and declared again: what is published to it meanwhile reaches no queue; its {} binding(s) from the file are created again",
                    own.len()
                ));
                for (b, _) in broker_bindings
                    .iter()
                    .filter(|(b, _)| b.touches_exchange(&name) && !wanted_bindings.contains(b))
                {
                    // One the file manages goes for good (a remove step says so); another
                    // (a worker's own binding, say) is put back after the recreate.
                    if declares(b) {
                        continue;
                    }
                    collateral.push(format!(
                        "{b} is on the broker, not in the file: the recreate of `{name}` deletes it; apply puts it back after"
                    ));
                }
                steps.push(Step {
                    action: Action::Recreate,
                    subject: Subject::Exchange(name.clone()),
                    detail: d.join("; "),
                    run: Some(Request::RecreateExchange(name, body, own)),
                });
            }
        }
    }
    for q in want["queues"].as_array().into_iter().flatten() {
        let name = s(q, "name");
        let body = serde_json::json!({"durable": q["durable"], "auto_delete": q["auto_delete"], "arguments": q["arguments"]});
        let temp = crate::migrate::temp_name(&name);
        let in_progress = by_name(&queues, &temp);
        match by_name(&queues, &name) {
            None if in_progress.is_none() => steps.push(Step {
                action: Action::Create,
                subject: Subject::Queue(name.clone()),
                detail: String::new(),
                run: Some(Request::PutQueue(name, body)),
            }),
            actual => {
                let d = match &actual {
                    Some(actual) => {
                        let (refused, ignored) = queue_drift(q, actual);
                        note(&format!("queue `{name}`"), ignored);
                        refused
                    }
                    None => vec!["deleted by an interrupted migration".to_owned()],
                };
                let count = |v: &Option<Value>, key: &str| {
                    v.as_ref()
                        .and_then(|v| v.get(key))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                let messages = count(&actual, "messages");
                // The list leaves statistics out: ask the queue itself for its consumers.
                let detail_of = match &actual {
                    Some(_) => api.queue(&name)?,
                    None => None,
                };
                let consumers = count(&detail_of, "consumers");
                if d.is_empty() && in_progress.is_none() {
                    steps.push(Step {
                        action: Action::Unchanged,
                        subject: Subject::Queue(name),
                        detail: String::new(),
                        run: None,
                    });
                    continue;
                }
                let mut detail = d.join("; ");
                if let Some(t) = &in_progress {
                    let held = t.get("messages").and_then(Value::as_u64).unwrap_or(0);
                    collateral.push(format!(
                        "queue `{name}`: a migration was interrupted; apply resumes it ({held} message(s) in `{temp}`)"
                    ));
                    if detail.is_empty() {
                        detail = "finish the interrupted migration".to_owned();
                    }
                }
                let stream = actual
                    .as_ref()
                    .and_then(|a| a.get("type"))
                    .and_then(Value::as_str)
                    == Some("stream");
                if stream && !d.is_empty() {
                    collateral.push(format!(
                        "queue `{name}` is a stream: apply refuses to recreate it (basic.get cannot move a stream's messages, and deleting it drops its log)"
                    ));
                } else if actual.is_some() && !d.is_empty() {
                    collateral.push(format!(
                        "queue `{name}` is deleted and declared again: its {messages} message(s) (as the management API last counted) and its bindings move to `{temp}` and back, none dropped; the order of messages published meanwhile is not kept"
                    ));
                }
                if consumers > 0 {
                    collateral.push(format!(
                        "queue `{name}` has {consumers} consumer(s): apply does not start its migration until they are stopped (deleting it would cancel them, and what they hold unacknowledged would be lost if they requeued it)"
                    ));
                }
                steps.push(Step {
                    action: Action::Recreate,
                    subject: Subject::Queue(name.clone()),
                    detail: format!("{detail} ({messages} messages in it)"),
                    run: Some(Request::MigrateQueue(name, body)),
                });
            }
        }
    }
    for b in &wanted_bindings {
        let exists = broker_bindings.iter().any(|(a, _)| a == b);
        steps.push(Step {
            action: if exists {
                Action::Unchanged
            } else {
                Action::Create
            },
            subject: Subject::Binding(b.clone()),
            detail: String::new(),
            run: (!exists).then(|| Request::Bind(b.clone())),
        });
    }
    for (a, _) in &broker_bindings {
        if !declares(a) || wanted_bindings.contains(a) {
            continue;
        }
        steps.push(Step {
            action: Action::Remove,
            subject: Subject::Binding(a.clone()),
            detail: "on the broker, not in the file".to_owned(),
            run: Some(Request::Unbind(a.clone())),
        });
    }
    // What the broker has and the files do not name: left alone, and said so.
    let other_exchanges = exchanges
        .iter()
        .filter(|x| {
            let n = s(x, "name");
            !n.is_empty() && !n.starts_with("amq.") && !is_managed(false, &n)
        })
        .count();
    let other_queues = queues
        .iter()
        .filter(|q| {
            let n = s(q, "name");
            let migrating = crate::migrate::migrated_name(&n).is_some_and(|m| is_managed(true, m));
            !n.starts_with("amq.gen-") && !is_managed(true, &n) && !migrating
        })
        .count();
    Ok(Plan {
        steps,
        collateral,
        notes,
        left: (other_exchanges, other_queues),
        managed,
    })
}

/// Whether a binding is one the files could declare, and so manage: both its ends are theirs
/// (its source may also be one of RabbitMQ's own `amq.*` exchanges). Any other (to a worker's
/// queue, or from an exchange that `import` left out as ephemeral) belongs to whoever declared
/// its other end: `plan` never removes it, and a recreate puts it back.
pub(crate) fn file_declares(managed: &[(bool, String)], b: &Binding) -> bool {
    let is_managed =
        |to_queue: bool, name: &str| managed.iter().any(|(q, n)| *q == to_queue && n == name);
    is_managed(b.to_queue, &b.destination)
        && (is_managed(false, &b.source) || kombu::topology::predeclared(&b.source).is_some())
}

/// How `plan` and `apply` write what they found and did.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Lines for a person: one per change, then the counts.
    Human,
    /// One JSON object (the steps with their subject, the counts, the collateral effects),
    /// for CI and scripts.
    Json,
}

impl Plan {
    fn count(&self, action: Action) -> usize {
        self.steps.iter().filter(|s| s.action == action).count()
    }

    /// The steps that change something.
    fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action != Action::Unchanged)
    }

    fn left_text(&self) -> String {
        format!(
            "left alone: {} exchange(s) and {} queue(s) on the broker that the files do not name",
            self.left.0, self.left.1
        )
    }
}

fn print(plan: &Plan) {
    for s in plan.changes() {
        let word = s.action.word();
        if s.detail.is_empty() {
            println!("{word:>9}  {}", s.subject);
        } else {
            println!("{word:>9}  {}: {}", s.subject, s.detail);
        }
    }
    println!(
        "{} to create, {} to recreate (the broker would refuse a redeclare), {} to remove, {} unchanged",
        plan.count(Action::Create),
        plan.count(Action::Recreate),
        plan.count(Action::Remove),
        plan.count(Action::Unchanged)
    );
    if !plan.collateral.is_empty() {
        println!("collateral effects (with --allow-destructive):");
        for c in &plan.collateral {
            println!("  - {c}");
        }
    }
    if !plan.notes.is_empty() {
        println!("not changed (a redeclare keeps them):");
        for n in &plan.notes {
            println!("  - {n}");
        }
    }
}

/// One step as `--format json` shows it.
pub(crate) fn step_json(step: &Step) -> Value {
    serde_json::json!({
        "action": step.action.word(),
        "subject": step.subject.json(),
        "detail": (!step.detail.is_empty()).then_some(&step.detail),
    })
}

/// The plan as one JSON object; `policies` is [`crate::policies::plan_json`].
fn plan_json(plan: &Plan, policies: Value) -> Value {
    let up_to_date =
        plan.changes().next().is_none() && policies["steps"].as_array().is_none_or(Vec::is_empty);
    serde_json::json!({
        "steps": plan.changes().map(step_json).collect::<Vec<_>>(),
        "counts": {
            "create": plan.count(Action::Create),
            "recreate": plan.count(Action::Recreate),
            "remove": plan.count(Action::Remove),
            "unchanged": plan.count(Action::Unchanged),
        },
        "collateral": plan.collateral,
        "notes": plan.notes,
        "policies": policies,
        "left_alone": {"exchanges": plan.left.0, "queues": plan.left.1},
        "up_to_date": up_to_date,
    })
}

pub(crate) fn plan(
    files: &[PathBuf],
    broker: &str,
    vhost: &str,
    format: Format,
) -> Result<u8, crate::Failure> {
    let api = Api::new(broker, vhost)?;
    let plan = plan_steps(&api, files)?;
    let topology = crate::load(files)?;
    match format {
        Format::Human => {
            print(&plan);
            // Policies are compared (and put in place) by `policies`.
            crate::policies::print_plan(&api, &topology)?;
            println!("{}", plan.left_text());
        }
        Format::Json => {
            let mut json = plan_json(&plan, crate::policies::plan_json(&api, &topology)?);
            json["vhost"] = Value::from(vhost);
            let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
            crate::output::outln!("{text}");
        }
    }
    Ok(0)
}
