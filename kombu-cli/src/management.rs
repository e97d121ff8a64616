//! `kombu plan` and `kombu apply`: a topology against a live broker, through RabbitMQ's
//! management HTTP API (the `rabbitmq_management` plugin).
//!
//! The plan compares declared settings and arguments (so argument drift shows, which the
//! Kubernetes operator cannot see), classes each difference like `kombu diff`, and leaves
//! everything the topology does not name alone. `apply` creates what is missing; a change the
//! broker would refuse (406) or that drops routes is refused unless `--allow-destructive`, and
//! even then a queue that holds messages is never deleted.

use std::path::PathBuf;

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::definitions::definitions;

/// A management API endpoint: base URL, credentials and virtual host.
struct Api {
    agent: ureq::Agent,
    base: String,
    auth: String,
    vhost: String,
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The largest answer read from the management API (1 GiB).
const MAX_ANSWER: u64 = 1 << 30;

impl Api {
    /// `http://user:pass@host:15672` (guest/guest when no credentials are given).
    fn new(url: &str, vhost: &str) -> Result<Api, crate::Failure> {
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

    fn check(
        &self,
        what: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, crate::Failure> {
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
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(format!(
                "{what}: the broker answered {status}: {}",
                body.trim()
            ))
        }
    }

    fn get(&self, path: &str) -> Result<Value, crate::Failure> {
        let body = self.check(
            &format!("GET {path}"),
            self.agent
                .get(self.url(path))
                .header("Authorization", &self.auth)
                .call(),
        )?;
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}"))
    }

    fn put(&self, path: &str, body: &Value) -> Result<(), crate::Failure> {
        self.check(
            &format!("PUT {path}"),
            self.agent
                .put(self.url(path))
                .header("Authorization", &self.auth)
                .send_json(body),
        )
        .map(|_| ())
    }

    fn post(&self, path: &str, body: &Value) -> Result<(), crate::Failure> {
        self.check(
            &format!("POST {path}"),
            self.agent
                .post(self.url(path))
                .header("Authorization", &self.auth)
                .send_json(body),
        )
        .map(|_| ())
    }

    fn delete(&self, path: &str) -> Result<(), crate::Failure> {
        self.check(
            &format!("DELETE {path}"),
            self.agent
                .delete(self.url(path))
                .header("Authorization", &self.auth)
                .call(),
        )
        .map(|_| ())
    }

    fn list(&self, kind: &str) -> Result<Vec<Value>, crate::Failure> {
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
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Unchanged,
    Create,
    Recreate,
    Remove,
}

struct Step {
    action: Action,
    what: String,
    detail: String,
    /// For `apply`: the request that carries it out.
    run: Option<Request>,
}

#[derive(Clone)]
enum Request {
    PutExchange(String, Value),
    PutQueue(String, Value),
    Bind(String, String, bool, Value),
    Unbind(String, String, bool, String),
    RecreateQueue(String, Value, u64),
    RecreateExchange(String, Value),
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
fn drift(wanted: &Value, actual: &Value, keys: &[&str]) -> Vec<String> {
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

fn plan_steps(api: &Api, files: &[PathBuf]) -> Result<(Vec<Step>, String), crate::Failure> {
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
    let mut steps = Vec::new();
    for x in want["exchanges"].as_array().into_iter().flatten() {
        let name = x["name"].as_str().unwrap_or_default().to_owned();
        let body = serde_json::json!({"type": x["type"], "durable": x["durable"], "auto_delete": x["auto_delete"], "internal": x["internal"], "arguments": x["arguments"]});
        match by_name(&exchanges, &name) {
            None => steps.push(Step {
                action: Action::Create,
                what: format!("exchange `{name}`"),
                detail: format!("{} exchange", x["type"].as_str().unwrap_or("direct")),
                run: Some(Request::PutExchange(name, body)),
            }),
            Some(actual) => {
                let d = drift(x, &actual, &["type", "durable", "auto_delete", "internal"]);
                if d.is_empty() {
                    steps.push(Step {
                        action: Action::Unchanged,
                        what: format!("exchange `{name}`"),
                        detail: String::new(),
                        run: None,
                    });
                } else {
                    steps.push(Step {
                        action: Action::Recreate,
                        what: format!("exchange `{name}`"),
                        detail: d.join("; "),
                        run: Some(Request::RecreateExchange(name, body)),
                    });
                }
            }
        }
    }
    for q in want["queues"].as_array().into_iter().flatten() {
        let name = q["name"].as_str().unwrap_or_default().to_owned();
        let body = serde_json::json!({"durable": q["durable"], "auto_delete": q["auto_delete"], "arguments": q["arguments"]});
        match by_name(&queues, &name) {
            None => steps.push(Step {
                action: Action::Create,
                what: format!("queue `{name}`"),
                detail: String::new(),
                run: Some(Request::PutQueue(name, body)),
            }),
            Some(actual) => {
                let d = drift(q, &actual, &["durable", "auto_delete"]);
                let messages = actual.get("messages").and_then(Value::as_u64).unwrap_or(0);
                if d.is_empty() {
                    steps.push(Step {
                        action: Action::Unchanged,
                        what: format!("queue `{name}`"),
                        detail: String::new(),
                        run: None,
                    });
                } else {
                    steps.push(Step {
                        action: Action::Recreate,
                        what: format!("queue `{name}`"),
                        detail: format!("{} ({messages} messages in it)", d.join("; ")),
                        run: Some(Request::RecreateQueue(name, body, messages)),
                    });
                }
            }
        }
    }
    let managed: Vec<(String, String)> = want["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            (
                "queue".to_owned(),
                q["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .chain(want["exchanges"].as_array().into_iter().flatten().map(|x| {
            (
                "exchange".to_owned(),
                x["name"].as_str().unwrap_or_default().to_owned(),
            )
        }))
        .collect();
    let key_of = |b: &Value| {
        (
            s(b, "source"),
            s(b, "destination"),
            s(b, "destination_type"),
            s(b, "routing_key"),
            args(b),
        )
    };
    let wanted_bindings: Vec<Value> = want["bindings"].as_array().cloned().unwrap_or_default();
    for b in &wanted_bindings {
        let exists = bindings.iter().any(|a| key_of(a) == key_of(b));
        let what = format!(
            "binding `{}` → {} `{}` key `{}`",
            s(b, "source"),
            s(b, "destination_type"),
            s(b, "destination"),
            s(b, "routing_key")
        );
        if exists {
            steps.push(Step {
                action: Action::Unchanged,
                what,
                detail: String::new(),
                run: None,
            });
        } else {
            let to_queue = s(b, "destination_type") == "queue";
            steps.push(Step { action: Action::Create, what, detail: String::new(), run: Some(Request::Bind(s(b, "source"), s(b, "destination"), to_queue, serde_json::json!({"routing_key": b["routing_key"], "arguments": b["arguments"]}))) });
        }
    }
    for a in &bindings {
        let dest = (s(a, "destination_type"), s(a, "destination"));
        if s(a, "source").is_empty() || !managed.contains(&dest) {
            continue;
        }
        if !wanted_bindings.iter().any(|b| key_of(a) == key_of(b)) {
            let to_queue = dest.0 == "queue";
            steps.push(Step {
                action: Action::Remove,
                what: format!(
                    "binding `{}` → {} `{}` key `{}`",
                    s(a, "source"),
                    dest.0,
                    dest.1,
                    s(a, "routing_key")
                ),
                detail: "on the broker, not in the file".to_owned(),
                run: Some(Request::Unbind(
                    s(a, "source"),
                    dest.1,
                    to_queue,
                    s(a, "properties_key"),
                )),
            });
        }
    }
    // What the broker has and the files do not name: left alone, and said so.
    let named = |kind: &str, name: &str| managed.iter().any(|(k, n)| k == kind && n == name);
    let other_exchanges = exchanges
        .iter()
        .filter(|x| {
            let n = s(x, "name");
            !n.is_empty() && !n.starts_with("amq.") && !named("exchange", &n)
        })
        .count();
    let other_queues = queues
        .iter()
        .filter(|q| {
            let n = s(q, "name");
            !n.starts_with("amq.gen-") && !named("queue", &n)
        })
        .count();
    let left = format!(
        "left alone: {other_exchanges} exchange(s) and {other_queues} queue(s) on the broker that the files do not name"
    );
    Ok((steps, left))
}

fn s(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn print(steps: &[Step]) {
    let count = |a: Action| steps.iter().filter(|s| s.action == a).count();
    for s in steps.iter().filter(|s| s.action != Action::Unchanged) {
        let word = match s.action {
            Action::Create => "create",
            Action::Recreate => "recreate",
            Action::Remove => "remove",
            Action::Unchanged => "unchanged",
        };
        if s.detail.is_empty() {
            println!("{word:>9}  {}", s.what);
        } else {
            println!("{word:>9}  {}: {}", s.what, s.detail);
        }
    }
    println!(
        "{} to create, {} to recreate (the broker would refuse a redeclare), {} to remove, {} unchanged",
        count(Action::Create),
        count(Action::Recreate),
        count(Action::Remove),
        count(Action::Unchanged)
    );
}

pub(crate) fn plan(files: &[PathBuf], broker: &str, vhost: &str) -> Result<u8, crate::Failure> {
    let api = Api::new(broker, vhost)?;
    let (steps, left) = plan_steps(&api, files)?;
    print(&steps);
    println!("{left}");
    Ok(0)
}

pub(crate) fn apply(
    files: &[PathBuf],
    broker: &str,
    vhost: &str,
    allow_destructive: bool,
) -> Result<u8, crate::Failure> {
    let api = Api::new(broker, vhost)?;
    let (mut steps, _) = plan_steps(&api, files)?;
    steps.sort_by_key(|s| match s.run {
        Some(Request::PutExchange(..)) | Some(Request::RecreateExchange(..)) => 0,
        Some(Request::PutQueue(..)) | Some(Request::RecreateQueue(..)) => 1,
        Some(Request::Unbind(..)) => 2,
        _ => 3,
    });
    let v = enc(vhost);
    let mut refused = 0;
    for step in &steps {
        let Some(run) = &step.run else { continue };
        let destructive = matches!(step.action, Action::Recreate | Action::Remove);
        if destructive && !allow_destructive {
            println!(
                "  refused  {}: {} (needs --allow-destructive)",
                step.what, step.detail
            );
            refused += 1;
            continue;
        }
        match run {
            Request::PutExchange(name, body) => {
                api.put(&format!("exchanges/{v}/{}", enc(name)), body)?
            }
            Request::PutQueue(name, body) => api.put(&format!("queues/{v}/{}", enc(name)), body)?,
            Request::Bind(source, dest, to_queue, body) => {
                let d = if *to_queue { "q" } else { "e" };
                api.post(
                    &format!("bindings/{v}/e/{}/{d}/{}", enc(source), enc(dest)),
                    body,
                )?
            }
            Request::Unbind(source, dest, to_queue, props) => {
                let d = if *to_queue { "q" } else { "e" };
                api.delete(&format!(
                    "bindings/{v}/e/{}/{d}/{}/{}",
                    enc(source),
                    enc(dest),
                    enc(props)
                ))?
            }
            Request::RecreateQueue(name, body, messages) => {
                if *messages > 0 {
                    println!("  refused  {}: it holds {messages} messages; drain it first (never deleted with messages in it)", step.what);
                    refused += 1;
                    continue;
                }
                api.delete(&format!("queues/{v}/{}?if-empty=true", enc(name)))?;
                api.put(&format!("queues/{v}/{}", enc(name)), body)?;
            }
            Request::RecreateExchange(name, body) => {
                api.delete(&format!("exchanges/{v}/{}", enc(name)))?;
                api.put(&format!("exchanges/{v}/{}", enc(name)), body)?;
            }
        }
        println!(
            "  applied  {}{}",
            step.what,
            if step.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", step.detail)
            }
        );
    }
    if refused > 0 {
        // A recreated exchange lost its bindings; the next plan shows them again.
        println!("{refused} change(s) refused; nothing was deleted");
        return Ok(1);
    }
    Ok(0)
}
