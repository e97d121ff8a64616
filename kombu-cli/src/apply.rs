//! `kombu apply`: carries out a plan against a live broker, and says truthfully what it did.
//!
//! Order: exchanges and queues that are missing are created; exchanges that must be recreated
//! are deleted, declared again and given every binding the file gives them (as source and as
//! destination) plus the bindings the broker had to entities the files do not name (a worker's
//! own binding); queues that must be recreated migrate through a temporary queue (see
//! `migrate`), messages and bindings with them; then bindings are removed and created as the
//! file says. Recreating and removing need `--allow-destructive`; without it those steps are
//! refused and nothing is deleted.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::api::{enc, Api, Binding};
use crate::management::{
    file_declares, plan_steps, step_json, Action, Format, Request, Step, Subject,
};
use crate::migrate::{self, Mover};
use crate::output::sayln;

/// What `kombu apply` was asked.
pub(crate) struct Options<'a> {
    pub(crate) files: &'a [PathBuf],
    pub(crate) broker: &'a str,
    pub(crate) vhost: &'a str,
    /// The AMQP URL for moving messages (else derived from `broker`).
    pub(crate) amqp: Option<&'a str>,
    pub(crate) allow_destructive: bool,
    /// Lines as it goes and a summary, or one JSON object at the end.
    pub(crate) format: Format,
    /// Stop a migration after this state (tests of resuming).
    pub(crate) stop_after: Option<&'a str>,
}

/// An entity `apply` deleted and declared again, and what went with it.
struct Recreated {
    subject: Subject,
    how: Recreate,
}

enum Recreate {
    /// An exchange: the bindings the file gives it, and those of the broker put back.
    Exchange { from_file: usize, put_back: usize },
    /// A queue, through its migration.
    Queue(migrate::Outcome),
}

impl std::fmt::Display for Recreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.how {
            Recreate::Exchange {
                from_file,
                put_back,
            } => write!(
                f,
                "{} ({from_file} binding(s) from the file, {put_back} from the broker put back)",
                self.subject
            ),
            Recreate::Queue(o) => write!(
                f,
                "{} ({} message(s) moved out and {} back, {} binding(s) moved with it)",
                self.subject, o.moved_out, o.moved_back, o.bindings
            ),
        }
    }
}

impl Recreated {
    fn json(&self) -> Value {
        let mut v = json!({"subject": self.subject.json()});
        match &self.how {
            Recreate::Exchange {
                from_file,
                put_back,
            } => {
                v["bindings_from_file"] = json!(from_file);
                v["bindings_put_back"] = json!(put_back);
            }
            Recreate::Queue(o) => {
                v["messages_moved_out"] = json!(o.moved_out);
                v["messages_moved_back"] = json!(o.moved_back);
                v["bindings_moved"] = json!(o.bindings);
            }
        }
        v
    }
}

/// What was done, for the summary. With human output each step is also said as it is done;
/// with JSON, everything is said at the end, in one object.
struct Summary {
    format: Format,
    policies: Vec<crate::policies::Applied>,
    /// Each step carried out or refused, as JSON (`step_json` and its `outcome`).
    steps: Vec<Value>,
    created: Vec<Subject>,
    deleted: Vec<Subject>,
    recreated: Vec<Recreated>,
    bound: usize,
    unbound: usize,
    /// Bindings put back after a recreate, beside those the file gives.
    kept: usize,
    moved_out: u64,
    moved_back: u64,
    refused: usize,
    warnings: Vec<String>,
}

impl Summary {
    fn new(format: Format) -> Summary {
        Summary {
            format,
            policies: Vec::new(),
            steps: Vec::new(),
            created: Vec::new(),
            deleted: Vec::new(),
            recreated: Vec::new(),
            bound: 0,
            unbound: 0,
            kept: 0,
            moved_out: 0,
            moved_back: 0,
            refused: 0,
            warnings: Vec::new(),
        }
    }

    /// A line said as the step is done (human output only).
    fn say(&self, line: &str) {
        if self.format == Format::Human {
            sayln!("{line}");
        }
    }

    /// Records a step carried out (`applied`) or refused, with what it did beyond itself.
    fn step(&mut self, step: &Step, outcome: &str, note: &str) {
        let mut v = step_json(step);
        v["outcome"] = json!(outcome);
        if !note.is_empty() {
            v["note"] = json!(note);
        }
        self.steps.push(v);
    }

    /// The summary as one JSON object; `error` is why apply stopped, if it did.
    fn json(&self, collateral: &[String], error: Option<&str>) -> Value {
        let subjects = |v: &[Subject]| v.iter().map(Subject::json).collect::<Vec<_>>();
        json!({
            "collateral": collateral,
            "policies": self.policies.iter().map(|(word, operator, name)| json!({
                "action": word,
                "kind": if *operator { "operator_policy" } else { "policy" },
                "name": name,
            })).collect::<Vec<_>>(),
            "steps": self.steps,
            "created": subjects(&self.created),
            "deleted": subjects(&self.deleted),
            "recreated": self.recreated.iter().map(Recreated::json).collect::<Vec<_>>(),
            "bindings": {"created": self.bound, "removed": self.unbound, "put_back": self.kept},
            "messages": {"moved_out": self.moved_out, "moved_back": self.moved_back},
            "refused": self.refused,
            "warnings": self.warnings,
            "error": error,
        })
    }

    fn print(&self) {
        let list = |v: Vec<String>| {
            if v.is_empty() {
                "nothing".to_owned()
            } else {
                v.join(", ")
            }
        };
        let texts = |v: &[Subject]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        sayln!("created: {}", list(texts(&self.created)));
        sayln!("deleted: {}", list(texts(&self.deleted)));
        sayln!(
            "recreated: {}",
            list(self.recreated.iter().map(ToString::to_string).collect())
        );
        sayln!(
            "bindings: {} created, {} removed, {} not in the file put back after a recreate",
            self.bound,
            self.unbound,
            self.kept
        );
        sayln!(
            "messages: {} moved to temporary queues and {} moved back (publishes during a migration included), none dropped",
            self.moved_out, self.moved_back
        );
        for w in &self.warnings {
            sayln!("warning: {w}");
        }
        if self.refused > 0 {
            sayln!(
                "{} change(s) refused (they need --allow-destructive)",
                self.refused
            );
        }
    }
}

fn order(step: &Step) -> u8 {
    match step.run {
        Some(Request::PutExchange(..)) => 0,
        Some(Request::PutQueue(..)) => 1,
        Some(Request::RecreateExchange(..)) => 2,
        Some(Request::MigrateQueue(..)) => 3,
        Some(Request::Unbind(..)) => 4,
        _ => 5,
    }
}

pub(crate) fn apply(options: &Options<'_>) -> Result<u8, crate::Failure> {
    let api = Api::new(options.broker, options.vhost)?;
    let mut plan = plan_steps(&api, options.files)?;
    plan.steps.sort_by_key(order);
    // What the plan said beyond the entities, said again before anything is done.
    let collateral: &[String] = if options.allow_destructive {
        &plan.collateral
    } else {
        &[]
    };
    let mut summary = Summary::new(options.format);
    if !collateral.is_empty() {
        summary.say("collateral effects:");
        for c in collateral {
            summary.say(&format!("  - {c}"));
        }
    }
    let migrates = plan
        .steps
        .iter()
        .any(|s| matches!(s.run, Some(Request::MigrateQueue(..))));
    // Connected before anything changes: a broker without AMQP stops apply at the start, not
    // halfway.
    let mover = if migrates && options.allow_destructive {
        let url = options.amqp.map_or_else(
            || migrate::amqp_url(options.broker, options.vhost),
            str::to_owned,
        );
        Some(Mover::connect(&url)?)
    } else {
        None
    };
    // Policies first (`policies::apply_policies`: PUT in place), so that a queue declared
    // below starts with its policy.
    let topology = crate::load(options.files)?;
    summary.policies = crate::policies::apply_policies(&api, &topology)?;
    for p in &summary.policies {
        summary.say(&crate::policies::applied_text(p));
    }
    if let Some(text) = crate::policies::other_vhosts_text(&api, &topology) {
        summary.say(&format!("policies {text}"));
    }
    let result = run(&api, &plan, options, &mut summary, &mover);
    if let Some(m) = mover {
        m.close();
    }
    match options.format {
        Format::Human => summary.print(),
        Format::Json => {
            let mut json = summary.json(collateral, result.as_ref().err().map(String::as_str));
            json["vhost"] = json!(options.vhost);
            let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
            sayln!("{text}");
        }
    }
    result?;
    Ok(if summary.refused > 0 { 1 } else { 0 })
}

fn run(
    api: &Api,
    plan: &crate::management::Plan,
    options: &Options<'_>,
    summary: &mut Summary,
    mover: &Option<Mover>,
) -> Result<(), crate::Failure> {
    let v = enc(options.vhost);
    for step in &plan.steps {
        let Some(run) = &step.run else { continue };
        let destructive = matches!(step.action, Action::Recreate | Action::Remove);
        if destructive && !options.allow_destructive {
            summary.say(&format!(
                "  refused  {}: {} (needs --allow-destructive)",
                step.subject, step.detail
            ));
            summary.step(step, "refused", "needs --allow-destructive");
            summary.refused += 1;
            continue;
        }
        let mut note = String::new();
        match run {
            Request::PutExchange(name, body) => {
                api.put(&format!("exchanges/{v}/{}", enc(name)), body)?;
                summary.created.push(step.subject.clone());
            }
            Request::PutQueue(name, body) => {
                api.put(&format!("queues/{v}/{}", enc(name)), body)?;
                summary.created.push(step.subject.clone());
            }
            Request::Bind(b) => {
                api.bind(b)?;
                summary.bound += 1;
            }
            Request::Unbind(b) => {
                api.unbind(b)?;
                summary.unbound += 1;
            }
            Request::RecreateExchange(name, body, own) => {
                // Taken just before the delete: what the broker has now, not at plan time.
                let before = api.exchange_bindings(name)?;
                let keep: Vec<Binding> = before
                    .into_iter()
                    .filter(|b| !own.contains(b) && !file_declares(&plan.managed, b))
                    .collect();
                api.delete(&format!("exchanges/{v}/{}", enc(name)))?;
                summary.deleted.push(step.subject.clone());
                api.put(&format!("exchanges/{v}/{}", enc(name)), body)?;
                for b in own {
                    api.bind(b)?;
                }
                let mut kept = 0;
                for b in &keep {
                    // Its other end may have gone meanwhile (a worker's queue): say so.
                    match api.bind(b) {
                        Ok(()) => kept += 1,
                        Err(e) => summary
                            .warnings
                            .push(format!("{b} could not be put back: {e}")),
                    }
                }
                summary.kept += kept;
                summary.recreated.push(Recreated {
                    subject: step.subject.clone(),
                    how: Recreate::Exchange {
                        from_file: own.len(),
                        put_back: kept,
                    },
                });
                note = format!("{} + {kept} binding(s) created again", own.len());
            }
            Request::MigrateQueue(name, body) => {
                let Some(m) = mover.as_ref() else {
                    return Err("no AMQP connection to move messages with".to_owned());
                };
                let outcome = migrate::migrate(api, m, name, body, options.stop_after)?;
                if outcome.deleted {
                    summary.deleted.push(step.subject.clone());
                }
                summary.moved_out += outcome.moved_out;
                summary.moved_back += outcome.moved_back;
                note = format!(
                    "{} message(s) moved to `{}`, {} back",
                    outcome.moved_out,
                    migrate::temp_name(name),
                    outcome.moved_back
                );
                summary.recreated.push(Recreated {
                    subject: step.subject.clone(),
                    how: Recreate::Queue(outcome),
                });
            }
        }
        let detail = if step.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", step.detail)
        };
        let shown = if note.is_empty() {
            String::new()
        } else {
            format!(" ({note})")
        };
        summary.say(&format!("  applied  {}{detail}{shown}", step.subject));
        summary.step(step, "applied", &note);
    }
    Ok(())
}
