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

use crate::management::{enc, plan_steps, Action, Api, Binding, Request, Step};
use crate::migrate::{self, Mover};

/// What `kombu apply` was asked.
pub(crate) struct Options<'a> {
    pub(crate) files: &'a [PathBuf],
    pub(crate) broker: &'a str,
    pub(crate) vhost: &'a str,
    /// The AMQP URL for moving messages (else derived from `broker`).
    pub(crate) amqp: Option<&'a str>,
    pub(crate) allow_destructive: bool,
    /// Stop a migration after this state (tests of resuming).
    pub(crate) stop_after: Option<&'a str>,
}

/// What was done, for the summary.
#[derive(Default)]
struct Summary {
    created: Vec<String>,
    deleted: Vec<String>,
    recreated: Vec<String>,
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
    fn print(&self) {
        let list = |v: &[String]| {
            if v.is_empty() {
                "nothing".to_owned()
            } else {
                v.join(", ")
            }
        };
        println!("created: {}", list(&self.created));
        println!("deleted: {}", list(&self.deleted));
        println!("recreated: {}", list(&self.recreated));
        println!(
            "bindings: {} created, {} removed, {} not in the file put back after a recreate",
            self.bound, self.unbound, self.kept
        );
        println!(
            "messages: {} moved to temporary queues and {} moved back (publishes during a migration included), none dropped",
            self.moved_out, self.moved_back
        );
        for w in &self.warnings {
            println!("warning: {w}");
        }
        if self.refused > 0 {
            println!(
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
    if options.allow_destructive && !plan.collateral.is_empty() {
        println!("collateral effects:");
        for c in &plan.collateral {
            println!("  - {c}");
        }
    }
    let mut summary = Summary::default();
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
    crate::policies::apply_policies(&api, &crate::load(options.files)?)?;
    let result = run(&api, &plan, options, &mut summary, &mover);
    if let Some(m) = mover {
        m.close();
    }
    summary.print();
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
    let is_managed = |to_queue: bool, name: &str| {
        plan.managed
            .iter()
            .any(|(q, n)| *q == to_queue && n == name)
    };
    for step in &plan.steps {
        let Some(run) = &step.run else { continue };
        let destructive = matches!(step.action, Action::Recreate | Action::Remove);
        if destructive && !options.allow_destructive {
            println!(
                "  refused  {}: {} (needs --allow-destructive)",
                step.what, step.detail
            );
            summary.refused += 1;
            continue;
        }
        let mut note = String::new();
        match run {
            Request::PutExchange(name, body) => {
                api.put(&format!("exchanges/{v}/{}", enc(name)), body)?;
                summary.created.push(step.what.clone());
            }
            Request::PutQueue(name, body) => {
                api.put(&format!("queues/{v}/{}", enc(name)), body)?;
                summary.created.push(step.what.clone());
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
                    .filter(|b| !own.contains(b) && !is_managed(b.to_queue, &b.destination))
                    .collect();
                api.delete(&format!("exchanges/{v}/{}", enc(name)))?;
                summary.deleted.push(step.what.clone());
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
                summary.recreated.push(format!(
                    "{} ({} binding(s) from the file, {kept} from the broker put back)",
                    step.what,
                    own.len()
                ));
                note = format!(" ({} + {kept} binding(s) created again)", own.len());
            }
            Request::MigrateQueue(name, body) => {
                let Some(m) = mover.as_ref() else {
                    return Err("no AMQP connection to move messages with".to_owned());
                };
                let outcome = migrate::migrate(api, m, name, body, options.stop_after)?;
                if outcome.deleted {
                    summary.deleted.push(step.what.clone());
                }
                summary.moved_out += outcome.moved_out;
                summary.moved_back += outcome.moved_back;
                summary.recreated.push(format!(
                    "{} ({} message(s) moved out and {} back, {} binding(s) moved with it)",
                    step.what, outcome.moved_out, outcome.moved_back, outcome.bindings
                ));
                note = format!(
                    " ({} message(s) moved to `{}`, {} back)",
                    outcome.moved_out,
                    migrate::temp_name(name),
                    outcome.moved_back
                );
            }
        }
        println!(
            "  applied  {}{}{note}",
            step.what,
            if step.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", step.detail)
            }
        );
    }
    Ok(())
}
