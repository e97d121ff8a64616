//! A Celery-like deployment on the real RabbitMQ, taken through the workflow of
//! docs/topology.md ("Changing a deployment"): `import --broker` leaves the per-worker entities
//! out, `check` and `fmt --check` are clean, each edit is classed rightly by `diff`, the policy
//! hints are followed, and `apply --allow-destructive` converges (`plan` empty) with a publisher
//! running: zero messages lost, no binding dropped, the workers' own bindings kept.
//!
//! The test works in a virtual host of its own, deleted with all it holds when it ends, failed
//! or not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{broker_available, kombu, Vhost};
use kombu::{Connection, Exchange, ExchangeKind, FieldValue, Producer};
use serde_json::Value;

/// A Celery worker's event receiver, and the reply queue of a `celery inspect`.
const EVENTS_UUID: &str = "6a1d2c8e-4a52-4b7e-9a3e-2f9c6c1b7d10";
const REPLY_UUID: &str = "3f0e1b6a-0c9d-4c51-8e0b-7b1f0d7e9a21";
const WORKER_PIDBOX: &str = "celery@w1.celery.pidbox";

fn events_queue() -> String {
    format!("celeryev.{EVENTS_UUID}")
}

fn reply_queue() -> String {
    format!("{REPLY_UUID}.reply.celery.pidbox")
}

/// The deployment, declared through the management API as Celery and an operator would have
/// left it: what is topology, two policies, and what belongs to running workers.
fn deploy(vhost: &Vhost) {
    let put = |kind: &str, name: &str, body: &str| {
        let answer = vhost.api("PUT", kind, &percent(name), Some(body));
        assert!(answer.is_null(), "PUT {kind} {name}: {answer}");
    };
    let bind = |source: &str, to: &str, dest: &str, body: &str| {
        let rest = format!("e/{}/{to}/{}", percent(source), percent(dest));
        let answer = vhost.api("POST", "bindings", &rest, Some(body));
        assert!(answer.is_null(), "bind {source} → {dest}: {answer}");
    };
    // Topology.
    put(
        "exchanges",
        "unrouted",
        r#"{"type":"fanout","durable":true}"#,
    );
    put(
        "exchanges",
        "celery",
        r#"{"type":"direct","durable":true,"arguments":{"alternate-exchange":"unrouted"}}"#,
    );
    put(
        "exchanges",
        "celeryev",
        r#"{"type":"topic","durable":true}"#,
    );
    put(
        "exchanges",
        "celery.dlx",
        r#"{"type":"fanout","durable":true}"#,
    );
    put(
        "exchanges",
        "reports",
        r#"{"type":"headers","durable":true}"#,
    );
    put("exchanges", "audit", r#"{"type":"fanout","durable":true}"#);
    put(
        "queues",
        "celery",
        r#"{"durable":true,"arguments":{"x-dead-letter-exchange":"celery.dlx","x-max-length":100000}}"#,
    );
    // Declared by an old Celery with `x-ha-policy`, an argument RabbitMQ has ignored since 3.0.
    put(
        "queues",
        "celery.dead",
        r#"{"durable":true,"arguments":{"x-ha-policy":"all"}}"#,
    );
    put("queues", "celery.low", r#"{"durable":false}"#);
    put("queues", "video", r#"{"durable":true}"#);
    put("queues", "emails", r#"{"durable":true}"#);
    put(
        "queues",
        "results",
        r#"{"durable":true,"arguments":{"x-message-ttl":3600000}}"#,
    );
    put(
        "queues",
        "critical",
        r#"{"durable":true,"arguments":{"x-queue-type":"quorum","x-delivery-limit":5}}"#,
    );
    put("queues", "pdf-reports", r#"{"durable":true}"#);
    put("queues", "audit.log", r#"{"durable":true}"#);
    put("queues", "unrouted", r#"{"durable":true}"#);
    bind("celery", "q", "celery", r#"{"routing_key":"celery"}"#);
    bind("celery.dlx", "q", "celery.dead", r#"{"routing_key":""}"#);
    bind("celery", "q", "celery.low", r#"{"routing_key":"low"}"#);
    bind("celery", "q", "video", r#"{"routing_key":"video"}"#);
    bind("amq.topic", "q", "video", r#"{"routing_key":"video.#"}"#);
    bind("celery", "q", "emails", r#"{"routing_key":"emails"}"#);
    bind("celery", "q", "results", r#"{"routing_key":"results"}"#);
    bind("celery", "q", "critical", r#"{"routing_key":"critical"}"#);
    bind(
        "reports",
        "q",
        "pdf-reports",
        r#"{"routing_key":"","arguments":{"x-match":"all","format":"pdf","version":2}}"#,
    );
    bind("celeryev", "e", "audit", r#"{"routing_key":"task.#"}"#);
    bind("audit", "q", "audit.log", r#"{"routing_key":""}"#);
    bind("unrouted", "q", "unrouted", r#"{"routing_key":""}"#);
    put(
        "policies",
        "dead-letters",
        r#"{"pattern":"^celery\\.dead$","apply-to":"queues","priority":1,"definition":{"max-length":10000,"overflow":"reject-publish"}}"#,
    );
    put(
        "policies",
        "audit-ttl",
        r#"{"pattern":"^audit\\.","apply-to":"queues","definition":{"message-ttl":86400000}}"#,
    );
    // What running workers declare for themselves: kombu's pidbox (remote control) exchanges
    // and queues, and an event receiver bound to `celeryev`.
    put(
        "exchanges",
        "celery.pidbox",
        r#"{"type":"fanout","durable":false}"#,
    );
    put(
        "exchanges",
        "reply.celery.pidbox",
        r#"{"type":"direct","durable":false}"#,
    );
    put(
        "queues",
        &events_queue(),
        r#"{"durable":false,"auto_delete":true,"arguments":{"x-message-ttl":600000,"x-expires":600000}}"#,
    );
    bind("celeryev", "q", &events_queue(), r##"{"routing_key":"#"}"##);
    put(
        "queues",
        WORKER_PIDBOX,
        r#"{"durable":false,"auto_delete":true,"arguments":{"x-message-ttl":300000,"x-expires":600000}}"#,
    );
    bind("celery.pidbox", "q", WORKER_PIDBOX, r#"{"routing_key":""}"#);
    // An application's own auto-delete exchange, feeding the `celery` queue: import leaves it
    // out, and its binding to a queue of the file must survive apply all the same.
    put(
        "exchanges",
        "tmp.fanout",
        r#"{"type":"fanout","durable":false,"auto_delete":true}"#,
    );
    bind("tmp.fanout", "q", "celery", r#"{"routing_key":""}"#);
    put(
        "queues",
        &reply_queue(),
        r#"{"durable":false,"auto_delete":true,"arguments":{"x-expires":600000}}"#,
    );
    bind(
        "reply.celery.pidbox",
        "q",
        &reply_queue(),
        &format!(r#"{{"routing_key":"{REPLY_UUID}"}}"#),
    );
}

fn percent(name: &str) -> String {
    name.replace('%', "%25")
        .replace('@', "%40")
        .replace('#', "%23")
}

/// Every binding on the broker (the default exchange's left out), with its arguments.
fn bindings(vhost: &Vhost) -> BTreeSet<(String, String, String, String)> {
    vhost
        .api("GET", "bindings", "", None)
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["source"] != "")
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap().to_owned();
            let to = format!("{} {}", s("destination_type"), s("destination"));
            (
                s("source"),
                to,
                s("routing_key"),
                b["arguments"].to_string(),
            )
        })
        .collect()
}

/// Publishes each body with confirms; every one must be routed to a queue.
async fn publish(
    conn: &Connection,
    exchange: &str,
    kind: ExchangeKind,
    key: &str,
    headers: &[(&str, FieldValue)],
    bodies: &[String],
) {
    let channel = conn.channel().await.unwrap();
    let producer = Producer::new(&channel)
        .exchange(Exchange::new(exchange, kind))
        .auto_declare(false)
        .confirm(true);
    for body in bodies {
        let mut publish = producer
            .publish_body(body.clone())
            .routing_key(key)
            .mandatory(true);
        for (name, value) in headers {
            publish = publish.header(*name, value.clone());
        }
        publish
            .await
            .unwrap_or_else(|e| panic!("{exchange}/{key}: {e}"));
    }
    channel.close().await.unwrap();
}

/// Takes every message of `queue` (acknowledged as taken): their bodies.
async fn drain(conn: &Connection, queue: &str) -> Vec<String> {
    let channel = conn.channel().await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = channel.basic_get(queue, true).await.unwrap() {
        out.push(String::from_utf8_lossy(m.body()).into_owned());
    }
    channel.close().await.unwrap();
    out
}

fn bodies(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Replaces `from` (which must occur exactly once) with `to`.
fn edit(text: &mut String, from: &str, to: &str) {
    assert_eq!(text.matches(from).count(), 1, "`{from}` in:\n{text}");
    *text = text.replacen(from, to, 1);
}

/// The one change of `diff --format json` for `entity` whose text starts with `change`.
fn class_of<'a>(changes: &'a [Value], entity: &str, change: &str) -> &'a str {
    let found: Vec<&Value> = changes
        .iter()
        .filter(|c| c["entity"] == entity && c["change"].as_str().unwrap().starts_with(change))
        .collect();
    assert_eq!(found.len(), 1, "{entity}: {change} in {changes:#?}");
    found[0]["class"].as_str().unwrap()
}

/// Polls `check` until it holds or 20 seconds pass (the management API shows a queue's
/// policy with its statistics, a moment after the change).
fn eventually(what: &str, mut check: impl FnMut() -> Option<String>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match check() {
            None => return,
            Some(why) if std::time::Instant::now() > deadline => panic!("{what}: {why}"),
            Some(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_celery_deployment_round_trips_and_migrates_without_losing_a_message() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("deployment");
    deploy(&vhost);

    // Messages everywhere, through every kind of route: direct, topic, the alternate
    // exchange, a headers binding, an exchange-to-exchange binding, the pidbox fanout.
    let conn = Connection::connect(&vhost.amqp()).await.unwrap();
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let direct = ExchangeKind::Direct;
    for (queue, key) in [
        ("celery", "celery"),
        ("celery.low", "low"),
        ("video", "video"),
        ("emails", "emails"),
        ("results", "results"),
        ("critical", "critical"),
    ] {
        let sent = bodies(queue, 50);
        publish(&conn, "celery", direct.clone(), key, &[], &sent).await;
        expected.entry(queue.to_owned()).or_default().extend(sent);
    }
    let sent = bodies("video-topic", 20);
    publish(
        &conn,
        "amq.topic",
        ExchangeKind::Topic,
        "video.hd",
        &[],
        &sent,
    )
    .await;
    expected.entry("video".to_owned()).or_default().extend(sent);
    let sent = bodies("unrouted", 10);
    publish(&conn, "celery", direct.clone(), "nobody", &[], &sent).await;
    expected.insert("unrouted".to_owned(), sent);
    let sent = bodies("report", 10);
    let headers = [
        ("format", FieldValue::String("pdf".to_owned())),
        ("version", FieldValue::I64(2)),
    ];
    publish(&conn, "reports", ExchangeKind::Headers, "", &headers, &sent).await;
    expected.insert("pdf-reports".to_owned(), sent);
    let sent = bodies("event", 10);
    publish(
        &conn,
        "celeryev",
        ExchangeKind::Topic,
        "task.sent",
        &[],
        &sent,
    )
    .await;
    expected.insert("audit.log".to_owned(), sent.clone());
    expected.insert(events_queue(), sent);
    let sent = bodies("dead", 10);
    publish(&conn, "celery.dlx", ExchangeKind::Fanout, "", &[], &sent).await;
    expected.insert("celery.dead".to_owned(), sent);
    let sent = bodies("broadcast", 10);
    publish(&conn, "tmp.fanout", ExchangeKind::Fanout, "", &[], &sent).await;
    expected.get_mut("celery").unwrap().extend(sent);
    let sent = bodies("ping", 5);
    publish(&conn, "celery.pidbox", ExchangeKind::Fanout, "", &[], &sent).await;
    expected.insert(WORKER_PIDBOX.to_owned(), sent);
    let before = bindings(&vhost);

    // 1. Import from the live broker: the workers' own entities stay out, and are listed.
    let broker = "http://guest:guest@127.0.0.1:15672";
    let (code, imported, err) = vhost.kombu(&["import", "--broker", broker]);
    assert_eq!(code, 0, "{err}");
    for name in [
        events_queue(),
        reply_queue(),
        WORKER_PIDBOX.to_owned(),
        "celery.pidbox".to_owned(),
        "reply.celery.pidbox".to_owned(),
        "tmp.fanout".to_owned(),
    ] {
        assert!(!imported.contains(&name), "{name} imported:\n{imported}");
        assert!(
            err.contains(&format!("`{name}`")),
            "{name} not listed:\n{err}"
        );
    }
    for entity in [
        "[exchanges.celery]",
        "[exchanges.celeryev]",
        "[exchanges.\"celery.dlx\"]",
        "[exchanges.reports]",
        "[[exchanges.audit.bindings]]",
        "[queues.celery]",
        "[queues.critical]",
        "[[queues.pdf-reports.bindings]]",
        "[policies.dead-letters]",
        "[policies.audit-ttl]",
    ] {
        assert!(imported.contains(entity), "{entity} missing:\n{imported}");
    }
    assert!(
        imported.contains("alternate_exchange = \"unrouted\""),
        "{imported}"
    );
    assert!(imported.contains("delivery_limit = 5"), "{imported}");
    assert!(imported.contains("message_ttl = \"1h\""), "{imported}");
    assert!(imported.contains("x-ha-policy = \"all\""), "{imported}");
    let old = vhost.file("old.toml", &imported);
    // The imported file routes as the broker did with the messages above: through the
    // exchange-to-exchange binding, the alternate exchange and the typed headers binding
    // (the integer 2, not the string "2").
    let route = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["route", old.as_str(), "--format", "json"];
        all.extend(args);
        let (code, out, err) = kombu(&all);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        v["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["queue"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        route(&["--exchange", "celeryev", "--key", "task.sent"]),
        ["audit.log"]
    );
    assert_eq!(
        route(&["--exchange", "celery", "--key", "nobody"]),
        ["unrouted"]
    );
    let pdf = ["--exchange", "reports", "--header", "format=pdf"];
    assert_eq!(
        route(&[&pdf[..], &["--header", "version=2"]].concat()),
        ["pdf-reports"]
    );
    assert!(route(&[&pdf[..], &["--header", "version=\"2\""]].concat()).is_empty());

    // 2. check is clean but for the old Celery's `x-ha-policy` (W212: RabbitMQ ignores it,
    // the queue is not replicated), fmt is clean, and the file is what the broker has.
    let (code, out, err) = kombu(&["check", &old]);
    assert_eq!(code, 0, "{out}{err}");
    let warnings: Vec<&str> = out
        .lines()
        .chain(err.lines())
        .filter(|l| l.starts_with("warning["))
        .collect();
    assert_eq!(
        warnings,
        ["warning[W212]: queue `celery.dead` asks for mirroring with the argument `x-ha-policy`, which RabbitMQ has ignored since 3.0: the queue lives on one node"],
        "{out}{err}"
    );
    let (code, out, err) = kombu(&["fmt", "--check", &old]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, plan, err) = vhost.kombu(&["plan", &old]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains(
            "0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("policies: 0 to create, 0 to update in place, 2 unchanged"),
        "{plan}"
    );

    // 3. Edit: rename a queue, make one durable, add a binding, shorten a TTL, lower a
    // max-length, and make a classic queue that holds messages a quorum queue. Also drop the
    // obsolete `x-ha-policy` and write one queue's classic type out: RabbitMQ compares neither
    // on a redeclare, so neither may recreate a queue.
    let mut text = imported.clone();
    edit(
        &mut text,
        "[[queues.emails.bindings]]",
        "[[queues.mail.bindings]]",
    );
    edit(
        &mut text,
        "[queues.\"celery.low\"]\ndurable = false\n\n",
        "",
    );
    edit(
        &mut text,
        "routing_key = \"critical\"\n",
        "routing_key = \"critical\"\n\n[[queues.critical.bindings]]\nexchange = \"celery\"\nrouting_key = \"urgent\"\n",
    );
    edit(&mut text, "message_ttl = \"1h\"", "message_ttl = \"30m\"");
    edit(&mut text, "max_length = 100000", "max_length = 50000");
    edit(
        &mut text,
        "[queues.\"celery.dead\".arguments]\nx-ha-policy = \"all\"\n\n",
        "",
    );
    edit(
        &mut text,
        "[[queues.unrouted.bindings]]",
        "[queues.unrouted]\ntype = \"classic\"\n\n[[queues.unrouted.bindings]]",
    );
    edit(
        &mut text,
        "[[queues.video.bindings]]\nexchange = \"amq.topic\"",
        "[queues.video]\ntype = \"quorum\"\n\n[[queues.video.bindings]]\nexchange = \"amq.topic\"",
    );
    let new = vhost.file("new.toml", &text);
    let (code, out, err) = kombu(&["check", &new, "--deny-warnings"]);
    assert_eq!(code, 0, "{out}{err}");

    // 4. diff classes each change.
    let (code, json, err) = kombu(&["diff", &old, &new, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let changes: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(changes.len(), 7, "{changes:#?}");
    let classes = [
        (
            "queue `celery.dead`",
            "arguments: { x-ha-policy = \"all\" } → none",
            "safe",
        ),
        ("queue `emails`", "renamed to `mail`", "recreate"),
        ("queue `celery.low`", "durable: false → true", "recreate"),
        (
            "queue `critical`",
            "binding added from `celery` with key `urgent`",
            "safe",
        ),
        ("queue `results`", "message_ttl: 1h → 30m", "policy"),
        ("queue `celery`", "max_length: 100000 → 50000", "policy"),
        (
            "queue `video`",
            "queue type: classic (the default) → quorum",
            "recreate",
        ),
    ];
    for (entity, change, class) in classes {
        assert_eq!(
            class_of(&changes, entity, change),
            class,
            "{entity}: {change}"
        );
    }
    // A recreate's hint is the migration apply runs, not a hand-made rename.
    let low = changes
        .iter()
        .find(|c| c["entity"] == "queue `celery.low`")
        .unwrap();
    assert!(
        low["hint"].as_str().unwrap().contains(
            "`kombu apply --allow-destructive` recreates it without losing a message: its messages and bindings move to `celery.low.kombu-migrate` and back"
        ),
        "{low}"
    );
    let (code, _, _) = kombu(&["diff", &old, &new, "--deny", "destructive"]);
    assert_eq!(code, 0, "nothing in the change drops messages or routes");
    let (code, _, err) = kombu(&["diff", &old, &new, "--deny", "destructive,recreate"]);
    assert_eq!(code, 1, "{err}");

    // 5. Follow the policy hints: the arguments stay as the broker has them, and each hint's
    // policy goes into the file; fmt puts it in order.
    edit(&mut text, "message_ttl = \"30m\"", "message_ttl = \"1h\"");
    edit(&mut text, "max_length = 50000", "max_length = 100000");
    for c in changes.iter().filter(|c| c["class"] == "policy") {
        let hint = c["hint"].as_str().unwrap();
        assert!(hint.contains("matches `"), "{hint}");
        text.push('\n');
        text.push_str(&hint[hint.find("[policies.").unwrap()..]);
        text.push('\n');
    }
    let edited = vhost.file("edited.toml", &text);
    let (code, out, err) = kombu(&["fmt", &edited]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = kombu(&["fmt", "--check", &edited]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = kombu(&["check", &edited, "--deny-warnings"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, json, err) = kombu(&["diff", &old, &edited, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let changes: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(changes.len(), 7, "{changes:#?}");
    for (entity, change, class) in [
        ("queue `emails`", "renamed to `mail`", "recreate"),
        ("queue `celery.low`", "durable: false → true", "recreate"),
        ("queue `critical`", "binding added", "safe"),
        ("queue `video`", "queue type", "recreate"),
        ("queue `celery.dead`", "arguments", "safe"),
        (
            "policy `celery`",
            "added: applies to queue `celery`",
            "policy",
        ),
        (
            "policy `results`",
            "added: applies to queue `results`",
            "policy",
        ),
    ] {
        assert_eq!(
            class_of(&changes, entity, change),
            class,
            "{entity}: {change}"
        );
    }
    // The effective values are the new ones, from the hinted policies (the arguments, kept,
    // are overridden: RabbitMQ takes the lesser of the two).
    let hinted = [
        ("celery", "max-length", 50_000),
        ("results", "message-ttl", 1_800_000),
    ];
    for (queue, key, value) in hinted {
        let (code, out, err) = vhost.kombu(&["explain", queue, &edited, "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        let explained: Vec<Value> = serde_json::from_str(&out).unwrap();
        let setting = explained[0]["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("{queue}: no {key} in {out}"));
        assert_eq!(
            (&setting["from"], &setting["name"], &setting["value"]),
            (&"policy".into(), &queue.into(), &value.into()),
            "{queue}: {out}"
        );
    }

    // 6. plan says what apply will do, and what it takes with it.
    let (code, plan, err) = vhost.kombu(&["plan", &edited]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "recreate  queue `celery.low`: durable: broker false, file true",
        "recreate  queue `video`: argument x-queue-type: broker null, file \"quorum\"",
        "create  queue `mail`",
        "create  binding `celery` → queue `critical` key `urgent`",
        "create  binding `celery` → queue `mail` key `emails`",
        "create  policy `celery`",
        "create  policy `results`",
        "3 to create, 2 to recreate (the broker would refuse a redeclare), 0 to remove",
        "move to `video.kombu-migrate` and back, none dropped",
        "queue `celery.dead`: argument x-ha-policy: broker \"all\", file null: RabbitMQ does not compare it",
    ] {
        assert!(plan.contains(line), "{line}:\n{plan}");
    }
    assert!(!plan.contains("queue `unrouted`"), "{plan}");

    // 7. apply, with a publisher running through the queues that migrate.
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let confirmed: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let publisher = {
        let (stop, published, confirmed) = (stop.clone(), published.clone(), confirmed.clone());
        let conn = Connection::connect(&vhost.amqp()).await.unwrap();
        tokio::spawn(async move {
            let channel = conn.channel().await.unwrap();
            let producer = Producer::new(&channel)
                .exchange(Exchange::new("celery", ExchangeKind::Direct))
                .auto_declare(false)
                .confirm(true);
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                // Into both queues that migrate (`video` also through `amq.topic`, a binding
                // the migration moves too), and one that does not.
                let (exchange, queue, key) = match n % 4 {
                    0 => ("celery", "video", "video"),
                    1 => ("celery", "celery.low", "low"),
                    2 => ("amq.topic", "video", "video.live"),
                    _ => ("celery", "celery", "celery"),
                };
                let body = format!("live-{n}");
                if producer
                    .publish_body(body.clone())
                    .exchange(exchange)
                    .routing_key(key)
                    .await
                    .is_ok()
                {
                    confirmed.lock().unwrap().push((queue.to_owned(), body));
                }
                n += 1;
                published.store(n, Ordering::SeqCst);
            }
            conn.close().await.unwrap();
        })
    };
    let wait_for = |target: u64| {
        let published = published.clone();
        async move {
            while published.load(Ordering::SeqCst) < target {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(100).await;
    let at_start = published.load(Ordering::SeqCst);
    let apply = {
        let (edited, name) = (edited.clone(), vhost.name.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_kombu"))
                .args(["apply", &edited, "--allow-destructive", "--vhost", &name])
                .output()
                .unwrap()
        })
    };
    let out = apply.await.unwrap();
    let during = published.load(Ordering::SeqCst) - at_start;
    wait_for(published.load(Ordering::SeqCst) + 100).await;
    stop.store(true, Ordering::SeqCst);
    publisher.await.unwrap();
    let applied = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{applied}{stderr}");
    assert!(during > 0, "the publisher published while apply ran");
    assert!(applied.contains("created: queue `mail`"), "{applied}");
    assert!(applied.contains("created policy `celery`"), "{applied}");
    assert!(applied.contains("created policy `results`"), "{applied}");
    // Neither `celery` nor `results` was recreated: their change went through a policy.
    for line in applied.lines().filter(|l| l.starts_with("deleted:")) {
        assert!(
            line == "deleted: queue `celery.low`, queue `video`"
                || line == "deleted: queue `video`, queue `celery.low`",
            "{applied}"
        );
    }
    for (queue, _) in confirmed.lock().unwrap().iter() {
        assert!(expected.contains_key(queue));
    }
    for (queue, body) in confirmed.lock().unwrap().drain(..) {
        expected.get_mut(&queue).unwrap().push(body);
    }

    // 8. It converged: plan is empty, and a service declaring the file gets no 406.
    let (code, plan, err) = vhost.kombu(&["plan", &edited]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains(
            "0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("policies: 0 to create, 0 to update in place, 4 unchanged"),
        "{plan}"
    );
    let (code, plan, err) = vhost.kombu(&["plan", &edited, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["up_to_date"], true, "{plan:#}");
    assert_eq!(plan["steps"], serde_json::json!([]), "{plan:#}");
    assert_eq!(plan["collateral"], serde_json::json!([]), "{plan:#}");
    // What a redeclare does not compare stays as the broker has it, and is said.
    assert_eq!(
        plan["notes"],
        serde_json::json!(["queue `celery.dead`: argument x-ha-policy: broker \"all\", file null: RabbitMQ does not compare it when the queue is declared again, so the broker keeps its value until the queue is recreated"]),
        "{plan:#}"
    );
    assert_eq!(
        plan["left_alone"],
        serde_json::json!({"exchanges": 3, "queues": 4}),
        "the workers' pidbox exchanges and queues, `tmp.fanout`, and `emails`, renamed: {plan:#}"
    );
    // Applying again does nothing.
    let (code, again, err) =
        vhost.kombu(&["apply", &edited, "--allow-destructive", "--format", "json"]);
    assert_eq!(code, 0, "{again}{err}");
    let again: Value = serde_json::from_str(&again).unwrap();
    for key in [
        "policies",
        "steps",
        "created",
        "deleted",
        "recreated",
        "warnings",
    ] {
        assert_eq!(again[key], serde_json::json!([]), "{key}: {again:#}");
    }
    let topology = kombu::topology::Topology::from_path(&edited).unwrap();
    let channel = conn.channel().await.unwrap();
    topology.declare_all(&channel).await.unwrap();
    channel.close().await.unwrap();
    let queue = |name: &str| vhost.api("GET", "queues", &percent(name), None);
    assert_eq!(queue("video")["type"], "quorum");
    assert_eq!(queue("celery.low")["durable"], true);
    // The broker applies the hinted policies, as explain said.
    for (name, key, value) in hinted {
        eventually(
            &format!("policy `{name}` applies to queue `{name}`"),
            || {
                let q = queue(name);
                let effective = &q["effective_policy_definition"][key];
                (q["policy"] != name || *effective != value)
                    .then(|| format!("policy {}, {key} {effective}", q["policy"]))
            },
        );
    }

    // No binding dropped: the broker has every one it had, the two added, and the workers'
    // own (to their pidbox and event queues) among them.
    let after = bindings(&vhost);
    let added: BTreeSet<_> = after.difference(&before).cloned().collect();
    let dropped: BTreeSet<_> = before.difference(&after).collect();
    assert!(dropped.is_empty(), "dropped: {dropped:#?}");
    let added: Vec<(&str, &str, &str)> = added
        .iter()
        .map(|(s, d, k, _)| (s.as_str(), d.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        added,
        [
            ("celery", "queue critical", "urgent"),
            ("celery", "queue mail", "emails"),
        ]
    );
    for foreign in [
        ("celery.pidbox", format!("queue {WORKER_PIDBOX}")),
        ("celeryev", format!("queue {}", events_queue())),
        ("reply.celery.pidbox", format!("queue {}", reply_queue())),
        ("tmp.fanout", "queue celery".to_owned()),
    ] {
        assert!(
            after
                .iter()
                .any(|(s, d, _, _)| s == foreign.0 && *d == foreign.1),
            "{foreign:?}"
        );
    }

    // Zero lost: every message that was in a queue, or confirmed to it during the migration,
    // is in it now.
    let mut lost = BTreeMap::new();
    let mut counts = Vec::new();
    for (queue, want) in &expected {
        let got: BTreeSet<String> = drain(&conn, queue).await.into_iter().collect();
        let missing: Vec<&String> = want.iter().filter(|b| !got.contains(*b)).collect();
        counts.push(format!(
            "{queue}: {} of {}",
            want.len() - missing.len(),
            want.len()
        ));
        if !missing.is_empty() {
            lost.insert(queue.clone(), missing.len());
        }
    }
    conn.close().await.unwrap();
    eprintln!(
        "deployment: {during} published while apply ran; {}\n{applied}",
        counts.join(", ")
    );
    assert!(lost.is_empty(), "lost: {lost:?}");
    let queues = vhost.api("GET", "queues", "", None);
    for q in queues.as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        assert!(!name.contains(".kombu-"), "{name} left behind");
    }
}
