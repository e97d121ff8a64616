//! RabbitMQ's management HTTP API (the `rabbitmq_management` plugin) as the commands use it:
//! [`Api`] (lists, declarations, deletions, bindings of one virtual host, whole answers read
//! however large), [`Binding`] as the API and definitions files spell one, and
//! [`fetch_definitions`] (a broker's topology, shaped like a definitions export). What to do
//! with them is `management.rs` (plan), `apply.rs`, `migrate.rs` and `policies.rs`.

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

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
    /// The first of `urls` (`,`-separated, one per node of a cluster) whose management API
    /// answers; each is `http://user:pass@host:15672` (guest/guest when no credentials are
    /// given). With one URL, it is used without asking first.
    pub(crate) fn new(urls: &str, vhost: &str) -> Result<Api, crate::Failure> {
        let candidates: Vec<&str> = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        if let [one] = candidates.as_slice() {
            return Api::one(one, vhost);
        }
        let mut tried = Vec::new();
        for url in &candidates {
            let api = Api::one(url, vhost)?;
            match api.answer(
                "GET overview",
                api.agent
                    .get(api.url("overview"))
                    .header("Authorization", &api.auth)
                    .call(),
            ) {
                Ok((status, _)) if (200..300).contains(&status) => return Ok(api),
                Ok((status, body)) => {
                    tried.push(format!("{}: answered {status}: {}", api.base, body.trim()))
                }
                Err(e) => tried.push(format!("{}: {e}", api.base)),
            }
        }
        Err(format!(
            "--broker: no management API answered:\n  {}",
            tried.join("\n  ")
        ))
    }

    fn one(url: &str, vhost: &str) -> Result<Api, crate::Failure> {
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
            // A node that is down refuses at once; one cut off must not hang the command.
            .timeout_connect(Some(std::time::Duration::from_secs(5)))
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

pub(crate) fn field(v: &Value, key: &str) -> Value {
    v.get(key).cloned().unwrap_or(Value::Null)
}

pub(crate) fn args(v: &Value) -> Value {
    match v.get("arguments") {
        Some(Value::Object(m)) if !m.is_empty() => Value::Object(m.clone()),
        _ => Value::Object(Default::default()),
    }
}

pub(crate) fn s(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
