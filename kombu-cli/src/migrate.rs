//! Recreating a queue without losing a message or a publish: its messages and bindings move to a
//! temporary queue and back, over AMQP (publisher confirms, acks only after the confirm) and the
//! management API (declarations and bindings).
//!
//! The temporary queue is `<queue>.kombu-migrate`: durable (a quorum queue when the queue is
//! one, else classic), named so that a later `apply` finds it. Where a migration stands is read
//! from the broker, never kept here, so an `apply` interrupted at any step is finished by running
//! `apply` again:
//!
//! | state           | on the broker                                 | next step                      |
//! |-----------------|-----------------------------------------------|--------------------------------|
//! | (start)         | `Q` with the old settings, no `T`             | probe the new settings (a queue `<queue>.kombu-probe`, deleted at once): refused, stop; else declare `T` |
//! | `temp-declared` | `Q` (old), `T`                                | bind `T` as `Q` is bound       |
//! | `bound-temp`    | `Q` and `T` both bound (a publish reaches both) | unbind `Q`                   |
//! | `switched-out`  | `T` bound, `Q` not                            | move `Q`'s messages to `T`     |
//! | `moved-out`     | `Q` empty                                     | delete `Q` if empty            |
//! | `deleted`       | `T` only                                      | declare `Q` with new settings  |
//! | `recreated`     | `Q` (new, unbound), `T` bound                 | bind `Q` as `T` is bound       |
//! | `bound-new`     | both bound                                    | unbind `T`                     |
//! | `switched-back` | `Q` bound, `T` not                            | move `T`'s messages to `Q`     |
//! | `moved-back`    | `T` empty                                     | delete `T` if empty: done      |
//!
//! `--stop-after STATE` (hidden, for tests) stops after a state; `moving-out` and `moving-back`
//! end the process in the middle of a move, after a batch of copies is confirmed and before the
//! originals are acknowledged.
//!
//! Resuming: with `T` present, `Q` with the old settings resumes at `temp-declared` (each step
//! repeated does nothing more), `Q` missing at `deleted`, `Q` with the new settings at
//! `recreated`. At every moment each binding is on `Q`, on `T` or on both, and the queue about
//! to receive them gets them before the other loses them: a publish through a binding reaches
//! one of them at least. A message is acknowledged on the queue it leaves only once the broker
//! has confirmed its copy: an interruption leaves it in both (a duplicate), never in neither.
//!
//! Rolling back is applying the previous file: the same states, read the same way, take the
//! queue back to its old settings with its messages (tested from before and after the delete).
//!
//! What this does not cover: a message published to `Q` through the default exchange while `Q`
//! does not exist (between `moved-out` and `recreated`) is dropped, as the broker drops any
//! publish to a missing queue (for a quorum queue, which refuses `if-empty`, also one that
//! arrives between the last count and the delete); messages keep their properties and headers
//! but are published anew (a per-message TTL starts again, the `redelivered` flag is cleared);
//! the order of messages published during a migration is not kept; consumers of `Q` are
//! cancelled when it is deleted, so a migration does not start (or resume its first half) while
//! `Q` has consumers. Streams are not migrated.

use kombu::transport::amqp::{AmqpOptions, AmqpTransport};
use kombu::transport::{
    Confirmation, OutgoingMessage, PublishFlags, Transport as _, TransportChannel,
};
use serde_json::Value;

use crate::api::{enc, Api, Binding};
use crate::drift::queue_drift;

const SUFFIX: &str = ".kombu-migrate";

/// The temporary queue of `queue`'s migration.
pub(crate) fn temp_name(queue: &str) -> String {
    format!("{queue}{SUFFIX}")
}

/// The queue a temporary queue is migrating, if `name` is one.
pub(crate) fn migrated_name(name: &str) -> Option<&str> {
    name.strip_suffix(SUFFIX)
}

/// Messages taken from a queue before their copies' confirms are awaited.
const BATCH: usize = 500;

/// How often a queue is emptied again when deleting it found a message that arrived meanwhile.
const DELETE_ATTEMPTS: usize = 20;

/// An AMQP connection that moves messages from one queue to another.
pub(crate) struct Mover {
    runtime: tokio::runtime::Runtime,
    transport: AmqpTransport,
}

impl Mover {
    /// Connect to `url` (`amqp://user:pass@host:5672/vhost`).
    pub(crate) fn connect(url: &str) -> Result<Mover, crate::Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the AMQP runtime: {e}"))?;
        let urls = kombu::BrokerUrl::parse_many(url).map_err(|e| format!("--amqp: {e}"))?;
        let transport = runtime
            .block_on(AmqpTransport::connect(&urls, AmqpOptions::default()))
            .map_err(|e| format!("connecting to {}: {e:#}", redacted(url)))?;
        Ok(Mover { runtime, transport })
    }

    /// Move every message of `from` to `to`; returns how many moved. With `crash`, the
    /// process ends at once after the first batch is confirmed and before it is acknowledged
    /// (the worst moment to die: tests show it duplicates, never loses).
    fn move_all(&self, from: &str, to: &str, crash: bool) -> Result<u64, crate::Failure> {
        self.runtime
            .block_on(async {
                let channel = self.transport.open_channel().await?;
                let moved = move_all(channel.as_ref(), from, to, crash).await;
                // Closing sends the acks still queued; on failure the messages not acked
                // return to `from`, and their copies (if confirmed) stay in `to`.
                let closed = channel.close().await;
                let moved = moved?;
                closed.map(|()| moved)
            })
            .map_err(|e| format!("moving the messages of `{from}` to `{to}`: {e:#}"))
    }

    /// What `queue` itself answers to a passive declare: its ready messages and consumers
    /// (the management API's counts can be seconds old).
    fn status(&self, queue: &str) -> Result<kombu::QueueDeclared, crate::Failure> {
        self.runtime
            .block_on(async {
                let channel = self.transport.open_channel().await?;
                let declared = channel
                    .declare_queue(&kombu::Queue::new(queue).passive(true))
                    .await;
                let _ = channel.close().await;
                declared
            })
            .map_err(|e| format!("asking queue `{queue}` for its counts: {e:#}"))
    }

    /// Close the connection.
    pub(crate) fn close(self) {
        let _ = self.runtime.block_on(self.transport.close());
    }
}

fn redacted(url: &str) -> String {
    kombu::BrokerUrl::parse(url)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| "the AMQP broker".to_owned())
}

async fn move_all(
    channel: &dyn TransportChannel,
    from: &str,
    to: &str,
    crash: bool,
) -> kombu::Result<u64> {
    channel.confirm_select().await?;
    let mut moved = 0u64;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match channel.get(from, false).await? {
                Some(delivery) => batch.push(delivery),
                None => break,
            }
        }
        let Some(last) = batch.last().map(|d| d.delivery_tag) else {
            return Ok(moved);
        };
        let count = batch.len();
        let mut pending = Vec::with_capacity(count);
        for delivery in batch {
            let message = OutgoingMessage {
                body: delivery.body,
                properties: std::sync::Arc::unwrap_or_clone(delivery.properties),
            };
            // Mandatory: if `to` is gone the message comes back as an error, not dropped.
            let flags = PublishFlags { mandatory: true };
            pending.push(channel.publish("", to, message, flags).await?);
        }
        for confirm in pending {
            match confirm.await? {
                Confirmation::Ack => {}
                other => {
                    let answer = match other {
                        Confirmation::Nack => "it refused it (nack)",
                        _ => "no publisher confirm was requested",
                    };
                    return Err(kombu::Error::new(
                        kombu::ErrorKind::Nacked,
                        format!("the broker did not take a copy: {answer}; the original stays in `{from}`"),
                    ));
                }
            }
        }
        if crash {
            eprintln!("crashed after copying {count} message(s) of `{from}` to `{to}`, before acknowledging them (--stop-after)");
            std::process::exit(3);
        }
        // Every copy is confirmed: only now are the originals let go.
        channel.ack(last, true)?;
        moved += count as u64;
    }
}

/// What a migration did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Messages moved to the temporary queue.
    pub(crate) moved_out: u64,
    /// Messages moved back to the new queue.
    pub(crate) moved_back: u64,
    /// Bindings the new queue was given (as the old one had them).
    pub(crate) bindings: usize,
    /// Whether the queue was deleted (and declared again) in this run.
    pub(crate) deleted: bool,
}

/// Stops at a named state when asked (`--stop-after`, for tests of resuming).
fn reached(state: &str, stop_after: Option<&str>) -> Result<(), crate::Failure> {
    if stop_after == Some(state) {
        return Err(format!(
            "stopped after `{state}` (--stop-after); run apply again to resume"
        ));
    }
    Ok(())
}

/// The queue paths of the management API.
fn path(api: &Api, name: &str) -> String {
    format!("queues/{}/{}", enc(&api.vhost), enc(name))
}

/// Empty `from` into `to`, then delete `from` if it is empty (publishes may still reach it
/// through the default exchange: then empty it again).
fn drain_and_delete(
    api: &Api,
    mover: &Mover,
    from: &str,
    to: &str,
    (moving_state, moved_state): (&str, &str),
    stop_after: Option<&str>,
) -> Result<u64, crate::Failure> {
    let mut moved = 0;
    let mut last_error = String::new();
    let crash = stop_after == Some(moving_state);
    // Quorum queues refuse `if-empty` (RabbitMQ 3.10 and later answer 400).
    let quorum = api
        .queue(from)?
        .is_some_and(|q| q.get("type").and_then(Value::as_str) == Some("quorum"));
    for _ in 0..DELETE_ATTEMPTS {
        moved += mover.move_all(from, to, crash)?;
        reached(moved_state, stop_after)?;
        if quorum {
            // Counted by the queue itself, then deleted: a publish to its own name through the
            // default exchange between the two is the one that could be lost (bindings are
            // already on the other queue).
            let ready = mover.status(from)?.message_count;
            if ready == 0 {
                api.delete_opt(&path(api, from))?;
                return Ok(moved);
            }
            last_error = format!("{ready} message(s) arrived while it was emptied");
            continue;
        }
        match api.delete_opt(&format!("{}?if-empty=true", path(api, from))) {
            Ok(_) => return Ok(moved),
            Err(e) => last_error = e,
        }
    }
    Err(format!(
        "`{from}` kept receiving messages; it was not deleted ({last_error}); run apply again"
    ))
}

/// Declares a scratch queue with the new settings and deletes it: a declaration the broker
/// refuses (a quorum queue with a priority, say) stops the migration before anything moved.
fn probe(api: &Api, name: &str, body: &Value) -> Result<(), crate::Failure> {
    let probe = format!("{name}.kombu-probe");
    // One left by an apply that died here would hold other settings.
    api.delete_opt(&path(api, &probe))?;
    let declared = api.put(&path(api, &probe), body);
    api.delete_opt(&path(api, &probe))?;
    declared.map_err(|e| {
        format!("the broker refuses the new settings of queue `{name}`; nothing was changed: {e}")
    })
}

/// Recreate queue `name` with the settings `body` (as the management API takes them), moving
/// its messages and bindings through the temporary queue; resumes an interrupted migration.
pub(crate) fn migrate(
    api: &Api,
    mover: &Mover,
    name: &str,
    body: &Value,
    stop_after: Option<&str>,
) -> Result<Outcome, crate::Failure> {
    let temp = temp_name(name);
    let mut outcome = Outcome::default();
    let wanted = body.clone();
    let is_new = |q: &Value| queue_drift(&wanted, q).0.is_empty();
    let temp_exists = api.queue(&temp)?.is_some();
    let current = api.queue(name)?;
    if !temp_exists && current.as_ref().is_some_and(is_new) {
        return Ok(outcome); // Nothing to do.
    }
    // Out: while `Q` still has its old settings.
    if let Some(q) = current.as_ref().filter(|q| !is_new(q)) {
        // A stream is a log that consumers read from offsets: basic.get cannot empty it, and
        // deleting it drops its history.
        if q.get("type").and_then(Value::as_str) == Some("stream") {
            return Err(format!("queue `{name}` is a stream: apply does not recreate streams (its messages cannot be moved with basic.get, and deleting it drops its log); nothing was changed"));
        }
        // What a consumer holds unacknowledged when the queue is deleted is gone if it
        // requeues it: a migration that loses nothing starts only without consumers.
        let consumers = mover.status(name)?.consumer_count;
        if consumers > 0 {
            return Err(format!("queue `{name}` has {consumers} consumer(s): stop them, then run apply again (nothing of `{name}` was changed; its migration deletes it, and what they hold unacknowledged would be lost if they requeued it)"));
        }
        if !temp_exists {
            probe(api, name, body)?;
            // As safe as the queue it stands in for: a quorum queue's messages are replicated
            // and on disk whatever their delivery mode, so its stand-in is a quorum queue too.
            let arguments = if q.get("type").and_then(Value::as_str) == Some("quorum") {
                serde_json::json!({"x-queue-type": "quorum"})
            } else {
                serde_json::json!({})
            };
            api.put(
                &path(api, &temp),
                &serde_json::json!({"durable": true, "auto_delete": false, "arguments": arguments}),
            )?;
        }
        reached("temp-declared", stop_after)?;
        let bindings = api.queue_bindings(name)?;
        for b in &bindings {
            api.bind(&b.to(&temp))?;
        }
        reached("bound-temp", stop_after)?;
        for b in &bindings {
            api.unbind(b)?;
        }
        reached("switched-out", stop_after)?;
        outcome.moved_out = drain_and_delete(
            api,
            mover,
            name,
            &temp,
            ("moving-out", "moved-out"),
            stop_after,
        )?;
        outcome.deleted = true;
        reached("deleted", stop_after)?;
    }
    // Declared anew.
    if api.queue(name)?.is_none() {
        api.put(&path(api, name), body)?;
        outcome.deleted = true;
    }
    reached("recreated", stop_after)?;
    // Back: `Q` has the new settings.
    let bindings: Vec<Binding> = api.queue_bindings(&temp)?;
    for b in &bindings {
        api.bind(&b.to(name))?;
    }
    outcome.bindings = bindings.len();
    reached("bound-new", stop_after)?;
    for b in &bindings {
        api.unbind(b)?;
    }
    reached("switched-back", stop_after)?;
    outcome.moved_back = drain_and_delete(
        api,
        mover,
        &temp,
        name,
        ("moving-back", "moved-back"),
        stop_after,
    )?;
    Ok(outcome)
}

/// The AMQP URL beside a management URL: the same host and credentials, port 5672.
pub(crate) fn amqp_url(broker: &str, vhost: &str) -> String {
    let rest = broker.split_once("://").map_or(broker, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    let (creds, host) = match rest.rsplit_once('@') {
        Some((c, h)) => (format!("{c}@"), h),
        None => ("guest:guest@".to_owned(), rest),
    };
    let host = match host.rsplit_once(':') {
        // An IPv6 address in brackets has colons of its own.
        Some((h, port)) if !port.contains(']') => h,
        _ => host,
    };
    format!("amqp://{creds}{host}:5672/{}", enc(vhost))
}
