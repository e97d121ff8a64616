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

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::definitions::definitions;

/// A management API endpoint: base URL, credentials and virtual host.
pub(crate) struct Api {
    agent: ureq::Agent,
    base: String,
    auth: String,
    pub(crate) vhost: String,
}

pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The largest answer read from the management API (1 GiB).
const MAX_ANSWER: u64 = 1 << 30;

impl Api {
    /// `http://user:pass@host:15672` (guest/guest when no credentials are given).
    pub(crate) fn new(url: &str, vhost: &str) -> Result<Api, crate::Failure> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("--broker {url}: expected http://user:pass@host:15672"))?;
        let (creds, host) = match rest.rsplit_once('@') {
            Some((c, h)) => (c.to_owned(), h.to_owned()),
            None => ("guest:guest".to_owned(), rest.to_owned()),
        };
        let creds = percent_encoding::percent_decode_str(&creds)
            .decode_utf8_lossy()
            .into_owned();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Ok(Api {
            agent: ureq::Agent::new_with_config(config),
            base: format!("{scheme}://{}/api", host.trim_end_matches('/')),
            auth: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            ),
            vhost: vhost.to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// The status and body of an answer; an error only when there was no answer.
    fn answer(
        &self,
        what: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String), crate::Failure> {
        let mut response = response
            .map_err(|e| format!("{what}: {e} (is the rabbitmq_management plugin enabled?)"))?;
        let status = response.status().as_u16();
        // A broker with thousands of queues answers with tens of megabytes: read it all (ureq
        // stops at 10 MB unless told), and never mistake a cut-off answer for an empty one.
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| format!("{what}: reading the broker's answer: {e}"))?;
        Ok((status, body))
    }

    fn check(
        &self,
        what: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, crate::Failure> {
        let (status, body) = self.answer(what, response)?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(format!(
                "{what}: the broker answered {status}: {}",
                body.trim()
            ))
        }
    }

    /// `GET`, with `None` for 404 (the entity does not exist).
    pub(crate) fn get_opt(&self, path: &str) -> Result<Option<Value>, crate::Failure> {
        let what = format!("GET {path}");
        let (status, body) = self.answer(
            &what,
            self.agent
                .get(self.url(path))
                .header("Authorization", &self.auth)
                .call(),
        )?;
        match status {
            404 => Ok(None),
            200..=299 => serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| format!("{what}: {e}")),
            _ => Err(format!(
                "{what}: the broker answered {status}: {}",
                body.trim()
            )),
        }
    }

    /// `DELETE`, where 404 (already gone) counts as done: steps that resume repeat it.
    pub(crate) fn delete_opt(&self, path: &str) -> Result<bool, crate::Failure> {
        let what = format!("DELETE {path}");
        let (status, body) = self.answer(
            &what,
            self.agent
                .delete(self.url(path))
                .header("Authorization", &self.auth)
                .call(),
        )?;
        match status {
            404 => Ok(false),
            200..=299 => Ok(true),
            _ => Err(format!(
                "{what}: the broker answered {status}: {}",
                body.trim()
            )),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Result<Value, crate::Failure> {
        let body = self.check(
            &format!("GET {path}"),
            self.agent
                .get(self.url(path))
                .header("Authorization", &self.auth)
                .call(),
        )?;
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}"))
    }

    pub(crate) fn put(&self, path: &str, body: &Value) -> Result<(), crate::Failure> {
        self.check(
            &format!("PUT {path}"),
            self.agent
                .put(self.url(path))
                .header("Authorization", &self.auth)
                .send_json(body),
        )
        .map(|_| ())
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<(), crate::Failure> {
        self.check(
            &format!("POST {path}"),
            self.agent
                .post(self.url(path))
                .header("Authorization", &self.auth)
                .send_json(body),
        )
        .map(|_| ())
    }

    pub(crate) fn delete(&self, path: &str) -> Result<(), crate::Failure> {
        self.check(
            &format!("DELETE {path}"),
            self.agent
                .delete(self.url(path))
                .header("Authorization", &self.auth)
                .call(),
        )
        .map(|_| ())
    }

    pub(crate) fn list(&self, kind: &str) -> Result<Vec<Value>, crate::Failure> {
        // Without rates and per-node statistics (queue totals, which `apply` checks before it
        // replaces a queue, stay): the answer is a fraction of the size and much faster.
        let query = if kind == "queues" {
            "?disable_stats=true&enable_queue_totals=true"
        } else {
            "?disable_stats=true"
        };
        match self.get(&format!("{kind}/{}{query}", enc(&self.vhost)))? {
            Value::Array(items) => Ok(items),
            other => Err(format!("GET {kind}: unexpected answer {other}")),
        }
    }
}

/// The broker's exchanges, queues and bindings for `vhost`, shaped like a definitions export
/// but complete: internal exchanges included (which `rabbitmqctl export_definitions` leaves
/// out), exclusive queues left out (they belong to a connection).
pub(crate) fn fetch_definitions(broker: &str, vhost: &str) -> Result<Value, crate::Failure> {
    let api = Api::new(broker, vhost)?;
    let queues: Vec<Value> = api
        .list("queues")?
        .into_iter()
        .filter(|q| !q.get("exclusive").and_then(Value::as_bool).unwrap_or(false))
        .collect();
    Ok(serde_json::json!({
        "exchanges": api.list("exchanges")?,
        "queues": queues,
        "bindings": api.list("bindings")?,
        "policies": api.list("policies")?,
        "operator_policies": api.list("operator-policies")?,
    }))
}

/// One binding, as the management API and a definitions file spell it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Binding {
    pub(crate) source: String,
    pub(crate) destination: String,
    /// A queue, or else an exchange (an exchange-to-exchange binding).
    pub(crate) to_queue: bool,
    pub(crate) routing_key: String,
    pub(crate) arguments: Value,
}

impl Binding {
    /// From a binding of the management API or of [`definitions`].
    pub(crate) fn from_json(b: &Value) -> Binding {
        Binding {
            source: s(b, "source"),
            destination: s(b, "destination"),
            to_queue: s(b, "destination_type") == "queue",
            routing_key: s(b, "routing_key"),
            arguments: args(b),
        }
    }

    /// The same binding to another destination of the same kind.
    pub(crate) fn to(&self, destination: &str) -> Binding {
        Binding {
            destination: destination.to_owned(),
            ..self.clone()
        }
    }

    /// Whether `name` is its source or its destination exchange.
    pub(crate) fn touches_exchange(&self, name: &str) -> bool {
        self.source == name || (!self.to_queue && self.destination == name)
    }

    pub(crate) fn kind(&self) -> &'static str {
        if self.to_queue {
            "queue"
        } else {
            "exchange"
        }
    }
}

impl std::fmt::Display for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "binding `{}` → {} `{}` key `{}`",
            self.source,
            self.kind(),
            self.destination,
            self.routing_key
        )?;
        if let Some(m) = self.arguments.as_object().filter(|m| !m.is_empty()) {
            let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            write!(f, " arguments {}", pairs.join(", "))?;
        }
        Ok(())
    }
}

impl Api {
    fn pair(&self, b: &Binding) -> String {
        let d = if b.to_queue { "q" } else { "e" };
        format!(
            "bindings/{}/e/{}/{d}/{}",
            enc(&self.vhost),
            enc(&b.source),
            enc(&b.destination)
        )
    }

    /// Create a binding (creating one that exists changes nothing).
    pub(crate) fn bind(&self, b: &Binding) -> Result<(), crate::Failure> {
        self.post(
            &self.pair(b),
            &serde_json::json!({"routing_key": b.routing_key, "arguments": b.arguments}),
        )
    }

    /// Delete a binding; one that is already gone counts as deleted.
    pub(crate) fn unbind(&self, b: &Binding) -> Result<(), crate::Failure> {
        let pair = self.pair(b);
        let Some(Value::Array(list)) = self.get_opt(&pair)? else {
            return Ok(());
        };
        for found in list.iter().filter(|f| Binding::from_json(f) == *b) {
            self.delete_opt(&format!("{pair}/{}", enc(&s(found, "properties_key"))))?;
        }
        Ok(())
    }

    /// A queue as the management API shows it, or `None` when there is none by that name.
    pub(crate) fn queue(&self, name: &str) -> Result<Option<Value>, crate::Failure> {
        self.get_opt(&format!("queues/{}/{}", enc(&self.vhost), enc(name)))
    }

    /// The bindings that end at a queue (the default exchange's implicit one left out).
    pub(crate) fn queue_bindings(&self, name: &str) -> Result<Vec<Binding>, crate::Failure> {
        let path = format!("queues/{}/{}/bindings", enc(&self.vhost), enc(name));
        Ok(match self.get_opt(&path)? {
            Some(Value::Array(list)) => list
                .iter()
                .filter(|b| !s(b, "source").is_empty())
                .map(Binding::from_json)
                .collect(),
            _ => Vec::new(),
        })
    }

    /// The bindings an exchange is the source or the destination of.
    pub(crate) fn exchange_bindings(&self, name: &str) -> Result<Vec<Binding>, crate::Failure> {
        let mut out = Vec::new();
        for side in ["source", "destination"] {
            let path = format!(
                "exchanges/{}/{}/bindings/{side}",
                enc(&self.vhost),
                enc(name)
            );
            if let Some(Value::Array(list)) = self.get_opt(&path)? {
                for b in list.iter().map(Binding::from_json) {
                    // A binding of the exchange to itself is on both lists: once is enough.
                    if !out.contains(&b) {
                        out.push(b);
                    }
                }
            }
        }
        Ok(out)
    }
}

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

fn field(v: &Value, key: &str) -> Value {
    v.get(key).cloned().unwrap_or(Value::Null)
}

fn args(v: &Value) -> Value {
    match v.get("arguments") {
        Some(Value::Object(m)) if !m.is_empty() => Value::Object(m.clone()),
        _ => Value::Object(Default::default()),
    }
}

/// What differs between a wanted declaration and the broker's, key by key.
pub(crate) fn drift(wanted: &Value, actual: &Value, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        let (w, a) = (field(wanted, k), field(actual, k));
        if w != a {
            out.push(format!("{k}: broker {a}, file {w}"));
        }
    }
    let (wa, aa) = (args(wanted), args(actual));
    if wa != aa {
        let mut names: Vec<&String> = wa
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        names.extend(aa.as_object().into_iter().flatten().map(|(k, _)| k));
        names.sort();
        names.dedup();
        for n in names {
            let (w, a) = (
                wa.get(n.as_str()).cloned().unwrap_or(Value::Null),
                aa.get(n.as_str()).cloned().unwrap_or(Value::Null),
            );
            if w != a {
                out.push(format!("argument {n}: broker {a}, file {w}"));
            }
        }
    }
    out
}

/// The settings of a queue that a redeclare must match (the others are statistics).
pub(crate) const QUEUE_KEYS: &[&str] = &["durable", "auto_delete"];

/// The queue arguments RabbitMQ compares when a queue is declared again: the union, over the
/// queue types and the versions from 3.10 on, of each type's `queue_arguments` capability
/// (`rabbit_classic_queue`, `rabbit_quorum_queue`, `rabbit_stream_queue`). Another argument
/// (`x-ha-policy`, a client's own key) is not compared: a redeclare with another value of it
/// succeeds, and the queue keeps the value it was first declared with. Erring on the side of
/// listing a key only costs a recreate that was not needed; missing one would let a 406 through.
const COMPARED_QUEUE_ARGUMENTS: &[&str] = &[
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-delivery-limit",
    "x-expires",
    "x-initial-cluster-size",
    "x-max-age",
    "x-max-in-memory-bytes",
    "x-max-in-memory-length",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-message-ttl",
    "x-overflow",
    "x-queue-leader-locator",
    "x-queue-master-locator",
    "x-queue-mode",
    "x-queue-type",
    "x-queue-version",
    "x-quorum-initial-group-size",
    "x-quorum-target-group-size",
    "x-single-active-consumer",
    "x-stream-filter-size-bytes",
    "x-stream-max-segment-size-bytes",
];

/// The exchange types whose declarations RabbitMQ compares by `alternate-exchange` alone
/// (`rabbit_exchange:assert_args_equivalence`); a plugin's type may compare more, so its
/// arguments are all compared here.
const BUILT_IN_EXCHANGE_TYPES: &[&str] = &["direct", "fanout", "topic", "headers"];

/// Whether RabbitMQ refuses to declare a queue again with another value of argument `key`.
pub(crate) fn compared_queue_argument(key: &str) -> bool {
    COMPARED_QUEUE_ARGUMENTS.contains(&key)
}

/// Whether RabbitMQ refuses to declare an exchange of type `kind` again with another value of
/// argument `key`.
pub(crate) fn compared_exchange_argument(kind: &str, key: &str) -> bool {
    key == "alternate-exchange" || !BUILT_IN_EXCHANGE_TYPES.contains(&kind)
}

/// `v` with only the arguments for which `keep` holds.
fn with_arguments(v: &Value, keep: impl Fn(&str) -> bool) -> Value {
    let mut v = v.clone();
    let mut a = args(&v);
    if let Some(m) = a.as_object_mut() {
        m.retain(|k, _| keep(k));
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("arguments".to_owned(), a);
    }
    v
}

/// What differs between a wanted declaration and the broker's, split as RabbitMQ compares them
/// on a redeclare: `(refused, not compared)`. The first are changes only a recreate makes; the
/// second stay as the broker has them, and a redeclare still succeeds.
pub(crate) fn redeclare_drift(
    wanted: &Value,
    actual: &Value,
    keys: &[&str],
    compared: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<String>) {
    // A classic queue may be declared with `x-queue-type: classic` or without it: the broker
    // takes the two as the same.
    let classic = |v: &Value| {
        let mut v = v.clone();
        let is_classic =
            v.pointer("/arguments/x-queue-type").and_then(Value::as_str) == Some("classic");
        if let Some(m) = v
            .get_mut("arguments")
            .and_then(Value::as_object_mut)
            .filter(|_| is_classic)
        {
            m.remove("x-queue-type");
        }
        v
    };
    let (wanted, actual) = (classic(wanted), classic(actual));
    let refused = drift(
        &with_arguments(&wanted, &compared),
        &with_arguments(&actual, &compared),
        keys,
    );
    let ignored = drift(
        &with_arguments(&wanted, |k| !compared(k)),
        &with_arguments(&actual, |k| !compared(k)),
        &[],
    );
    (refused, ignored)
}

/// [`redeclare_drift`] of a queue.
pub(crate) fn queue_drift(wanted: &Value, actual: &Value) -> (Vec<String>, Vec<String>) {
    redeclare_drift(wanted, actual, QUEUE_KEYS, compared_queue_argument)
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

pub(crate) fn s(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
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
