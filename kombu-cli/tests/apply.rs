//! `kombu apply --allow-destructive` against the real RabbitMQ: a recreate keeps every route
//! (bindings as source and as destination, the broker's own bindings), `plan` names the
//! collateral effects first, and a queue that must be recreated keeps every message, with
//! publishers running and when the migration is interrupted.
//!
//! Each test works in a virtual host of its own, deleted (with all it holds) when the test
//! ends, failed or not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{api, broker_available, Vhost};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kombu::{Connection, Exchange, ExchangeKind, FieldValue, Producer};

/// Publishes `bodies` to `exchange` with `key`, each confirmed, with a header `n`.
async fn publish(conn: &Connection, exchange: &str, key: &str, bodies: &[String]) {
    let channel = conn.channel().await.unwrap();
    let producer = Producer::new(&channel)
        .exchange(Exchange::new(exchange, ExchangeKind::Direct))
        .auto_declare(false)
        .confirm(true);
    for (i, body) in bodies.iter().enumerate() {
        producer
            .publish_body(body.clone())
            .routing_key(key)
            .header("n", FieldValue::I64(i as i64))
            .header(
                "nested",
                FieldValue::Table(
                    [("a".to_owned(), FieldValue::Bool(true))]
                        .into_iter()
                        .collect(),
                ),
            )
            .message_id(body.clone())
            .priority(3)
            .correlation_id("corr")
            .reply_to("replies")
            .timestamp(1_700_000_000)
            .kind("job")
            .app_id("tests")
            .expiration(std::time::Duration::from_secs(3600))
            .await
            .unwrap();
    }
    channel.close().await.unwrap();
}

/// Takes every message of `queue` (no ack): their bodies, in order, and the first's headers.
async fn drain(conn: &Connection, queue: &str) -> Vec<kombu::Message> {
    let channel = conn.channel().await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = channel.basic_get(queue, true).await.unwrap() {
        out.push(m);
    }
    channel.close().await.unwrap();
    out
}

fn bodies(messages: &[kombu::Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect()
}

const ROUTES_V1: &str = r##"
version = 1
[exchanges.in]
type = "direct"
[exchanges.mid]
type = "fanout"
bindings = [{ exchange = "in", routing_key = "k" }]
[exchanges.out]
type = "fanout"
bindings = [{ exchange = "mid", routing_key = "k" }]
[exchanges.dlx]
type = "fanout"
[queues.via-mid]
bindings = [{ exchange = "mid", routing_key = "k" }]
[queues.via-out]
bindings = [{ exchange = "out" }]
[queues.work]
dead_letter_exchange = "dlx"
bindings = [{ exchange = "in", routing_key = "work" }]
[queues.dead]
bindings = [{ exchange = "dlx", routing_key = "#" }]
"##;

/// The same routes; `mid` and `dlx` change type, so both must be recreated.
fn routes_v2() -> String {
    ROUTES_V1
        .replace(
            "[exchanges.mid]\ntype = \"fanout\"",
            "[exchanges.mid]\ntype = \"direct\"",
        )
        .replace(
            "[exchanges.dlx]\ntype = \"fanout\"",
            "[exchanges.dlx]\ntype = \"topic\"",
        )
}

/// Applies the first version, adds a worker's own queue bound to `mid` (as Celery's pidbox
/// queues are), and writes the second version.
fn routes(vhost: &Vhost) -> (String, String) {
    let v1 = vhost.file("v1.toml", ROUTES_V1);
    let v2 = vhost.file("v2.toml", &routes_v2());
    let (code, out, err) = vhost.kombu(&["apply", &v1]);
    assert_eq!(code, 0, "{out}{err}");
    let v = &vhost.name;
    api("PUT", &format!("queues/{v}/worker.pidbox"), Some("{}"));
    api(
        "POST",
        &format!("bindings/{v}/e/mid/q/worker.pidbox"),
        Some(r#"{"routing_key":"k"}"#),
    );
    (v1, v2)
}

#[test]
fn plan_lists_a_foreign_binding_that_a_recreate_would_drop() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-plan");
    let (_, v2) = routes(&vhost);
    let (code, plan, err) = vhost.kombu(&["plan", &v2]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains("recreate  exchange `mid`: type: broker \"fanout\", file \"direct\""),
        "{plan}"
    );
    assert!(plan.contains("collateral effects"), "{plan}");
    assert!(
        plan.contains("binding `mid` → queue `worker.pidbox` key `k` is on the broker, not in the file: the recreate of `mid` deletes it"),
        "{plan}"
    );
    assert!(
        plan.contains("exchange `mid` is deleted and declared again: what is published to it meanwhile reaches no queue; its 3 binding(s) from the file are created again"),
        "{plan}"
    );
    // Plan changes nothing.
    assert!(vhost
        .bindings()
        .contains(&("mid".into(), "worker.pidbox".into(), "k".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreating_exchanges_keeps_every_route() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-routes");
    let (_, v2) = routes(&vhost);
    let before: BTreeSet<_> = vhost.bindings().into_iter().collect();
    let (code, out, err) = vhost.kombu(&["apply", &v2, "--allow-destructive"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("deleted: exchange `mid`, exchange `dlx`")
            || out.contains("deleted: exchange `dlx`, exchange `mid`"),
        "{out}"
    );
    assert!(
        out.contains("exchange `mid` (3 binding(s) from the file, 1 from the broker put back)"),
        "{out}"
    );
    assert!(
        out.contains("exchange `dlx` (1 binding(s) from the file, 0 from the broker put back)"),
        "{out}"
    );
    // Every binding is back: as source (mid → out, mid → via-mid, mid → worker.pidbox), as
    // destination (in → mid), the dead-letter one (dlx → dead).
    let after: BTreeSet<_> = vhost.bindings().into_iter().collect();
    assert_eq!(before, after);
    let (_, plan, _) = vhost.kombu(&["plan", &v2]);
    assert!(
        plan.contains(
            "0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove"
        ),
        "{plan}"
    );

    // And they route: through in → mid → {via-mid, worker.pidbox, out → via-out}.
    let conn = Connection::connect(&vhost.amqp()).await.unwrap();
    let sent: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    publish(&conn, "in", "k", &sent).await;
    for queue in ["via-mid", "via-out", "worker.pidbox"] {
        assert_eq!(bodies(&drain(&conn, queue).await), sent, "{queue}");
    }
    // Dead letters reach `dead` through the recreated `dlx`.
    publish(&conn, "in", "work", &["doomed".to_owned()]).await;
    let channel = conn.channel().await.unwrap();
    let m = channel.basic_get("work", false).await.unwrap().unwrap();
    m.reject().unwrap();
    channel.close().await.unwrap();
    assert_eq!(bodies(&drain(&conn, "dead").await), ["doomed"]);
    conn.close().await.unwrap();
}

const MIGRATE_V1: &str = r#"
version = 1
[exchanges.jobs]
type = "direct"
[queues.work]
max_priority = 5
bindings = [{ exchange = "jobs", routing_key = "work" }, { exchange = "jobs", routing_key = "urgent" }]
"#;

/// The queue becomes a quorum queue: a recreate with messages in it.
fn migrate_v2() -> String {
    MIGRATE_V1.replace("max_priority = 5", "type = \"quorum\"")
}

/// The queue becomes a quorum queue with a setting RabbitMQ refuses and `kombu check` passes.
fn refused_v2() -> String {
    MIGRATE_V1.replace(
        "max_priority = 5",
        "type = \"quorum\"\narguments = { x-max-length = \"ten\" }",
    )
}

/// What arrived against what was confirmed: (lost, duplicates).
fn count(expected: &[String], arrived: &[String]) -> (Vec<String>, usize) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for a in arrived {
        *seen.entry(a).or_default() += 1;
    }
    let lost = expected
        .iter()
        .filter(|e| !seen.contains_key(e.as_str()))
        .cloned()
        .collect();
    let duplicates = seen.values().map(|n| n - 1).sum();
    (lost, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_a_queue_under_load_loses_no_confirmed_message() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-load");
    let v1 = vhost.file("v1.toml", MIGRATE_V1);
    let v2 = vhost.file("v2.toml", &migrate_v2());
    let (code, out, err) = vhost.kombu(&["apply", &v1]);
    assert_eq!(code, 0, "{out}{err}");
    let conn = Connection::connect(&vhost.amqp()).await.unwrap();
    let initial: Vec<String> = (0..5000).map(|i| format!("initial-{i}")).collect();
    publish(&conn, "jobs", "work", &initial).await;

    let (_, plan, _) = vhost.kombu(&["plan", &v2]);
    assert!(
        plan.contains("queue `work` is deleted and declared again: its")
            && plan.contains("move to `work.kombu-migrate` and back, none dropped"),
        "{plan}"
    );

    // A publisher that keeps publishing to the exchange, through both bindings, with
    // confirms, until told to stop; it keeps what the broker confirmed.
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let confirmed = Arc::new(Mutex::new(Vec::new()));
    let publisher = {
        let (stop, published, confirmed) = (stop.clone(), published.clone(), confirmed.clone());
        let conn = Connection::connect(&vhost.amqp()).await.unwrap();
        tokio::spawn(async move {
            let channel = conn.channel().await.unwrap();
            let producer = Producer::new(&channel)
                .exchange(Exchange::new("jobs", ExchangeKind::Direct))
                .auto_declare(false)
                .confirm(true);
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let body = format!("live-{n}");
                let key = if n.is_multiple_of(2) {
                    "work"
                } else {
                    "urgent"
                };
                let result = producer.publish_body(body.clone()).routing_key(key).await;
                if result.is_ok() {
                    confirmed.lock().unwrap().push(body);
                }
                n += 1;
                published.store(n, Ordering::SeqCst);
            }
            conn.close().await.unwrap();
        })
    };
    // The publisher is running before apply starts, and still after it ends.
    let wait_for = |target: u64| {
        let published = published.clone();
        async move {
            while published.load(Ordering::SeqCst) < target {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(100).await;
    let at_start = published.load(Ordering::SeqCst);
    let apply = {
        let v2 = v2.clone();
        let name = vhost.name.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_kombu"))
                .args(["apply", &v2, "--allow-destructive", "--vhost", &name])
                .output()
                .unwrap()
        })
    };
    let out = apply.await.unwrap();
    let during = published.load(Ordering::SeqCst) - at_start;
    wait_for(published.load(Ordering::SeqCst) + 100).await;
    stop.store(true, Ordering::SeqCst);
    publisher.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");

    let arrived = drain(&conn, "work").await;
    let sample = arrived
        .iter()
        .find(|m| m.body() == b"initial-7")
        .expect("initial-7 arrived");
    assert_eq!(sample.header("n"), Some(&FieldValue::I64(7)));
    assert_eq!(sample.properties().priority, Some(3));
    assert_eq!(sample.properties().message_id.as_deref(), Some("initial-7"));
    assert_eq!(sample.content_type(), Some("text/plain"));
    let p = sample.properties();
    assert_eq!(
        (
            p.correlation_id.as_deref(),
            p.reply_to.as_deref(),
            p.timestamp,
            p.kind.as_deref(),
            p.app_id.as_deref()
        ),
        (
            Some("corr"),
            Some("replies"),
            Some(1_700_000_000),
            Some("job"),
            Some("tests")
        )
    );
    assert_eq!(p.expiration, Some(std::time::Duration::from_secs(3600)));
    assert!(
        matches!(sample.header("nested"), Some(FieldValue::Table(t)) if t.get("a") == Some(&FieldValue::Bool(true))),
        "{:?}",
        sample.header("nested")
    );
    let arrived = bodies(&arrived);
    conn.close().await.unwrap();
    let mut expected = initial.clone();
    expected.extend(confirmed.lock().unwrap().iter().cloned());
    let (lost, duplicates) = count(&expected, &arrived);
    eprintln!(
        "migration under load: {} initial + {} confirmed live messages ({during} published while apply ran), {} arrived, {} lost, {duplicates} duplicates\n{stdout}",
        initial.len(),
        expected.len() - initial.len(),
        arrived.len(),
        lost.len(),
    );
    assert!(
        lost.is_empty(),
        "lost {}: {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert!(during > 0, "the publisher published while apply ran");
    assert!(stdout.contains("recreated: queue `work`"), "{stdout}");
    assert!(
        !vhost.queues().contains(&"work.kombu-migrate".to_owned()),
        "the temporary queue is gone"
    );
    let (_, plan, _) = vhost.kombu(&["plan", &v2]);
    assert!(plan.contains("0 to create, 0 to recreate"), "{plan}");
    let bindings: BTreeSet<_> = vhost.bindings().into_iter().collect();
    assert_eq!(
        bindings,
        BTreeSet::from([
            ("jobs".into(), "work".into(), "urgent".into()),
            ("jobs".into(), "work".into(), "work".into()),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_the_broker_refuses_stop_the_migration_before_it_starts() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-refused");
    let v1 = vhost.file("v1.toml", MIGRATE_V1);
    // RabbitMQ refuses a length that is not a number (400, invalid arg 'x-max-length'), given
    // as a raw argument that `kombu check` does not interpret.
    let v2 = vhost.file("v2.toml", &refused_v2());
    let (code, out, err) = vhost.kombu(&["apply", &v1]);
    assert_eq!(code, 0, "{out}{err}");
    let conn = Connection::connect(&vhost.amqp()).await.unwrap();
    let sent: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    publish(&conn, "jobs", "work", &sent).await;
    let bindings_before = vhost.bindings();
    let (code, out, err) = vhost.kombu(&["apply", &v2, "--allow-destructive"]);
    let queues = vhost.queues();
    let arrived = bodies(&drain(&conn, "work").await);
    conn.close().await.unwrap();
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("the broker refuses the new settings of queue `work`; nothing was changed"),
        "{err}"
    );
    assert!(out.contains("deleted: nothing"), "{out}");
    assert_eq!(queues, ["work"]);
    assert_eq!(vhost.bindings(), bindings_before);
    assert_eq!(arrived, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_with_consumers_is_not_migrated_until_they_stop() {
    use kombu::transport::{ConsumeOptions, Transport as _};
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-consumers");
    let v1 = vhost.file("v1.toml", MIGRATE_V1);
    let v2 = vhost.file("v2.toml", &migrate_v2());
    let (code, out, err) = vhost.kombu(&["apply", &v1]);
    assert_eq!(code, 0, "{out}{err}");
    let urls = kombu::BrokerUrl::parse_many(&vhost.amqp()).unwrap();
    let transport = kombu::transport::amqp::AmqpTransport::connect(&urls, Default::default())
        .await
        .unwrap();
    let channel = transport.open_channel().await.unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    channel
        .consume("work", "worker", &ConsumeOptions::default(), tx)
        .await
        .unwrap();
    let (code, out, err) = vhost.kombu(&["apply", &v2, "--allow-destructive"]);
    transport.close().await.unwrap();
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("queue `work` has 1 consumer(s): stop them, then run apply again"),
        "{err}"
    );
    assert!(out.contains("deleted: nothing"), "{out}");
    assert_eq!(vhost.queues(), ["work"]);
    // Stopped, it migrates.
    let (code, out, err) = vhost.kombu(&["apply", &v2, "--allow-destructive"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("recreated: queue `work`"), "{out}");
}

#[test]
fn a_stream_is_not_recreated() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-stream");
    let v1 = r#"
version = 1
[exchanges.jobs]
type = "direct"
[queues.log]
type = "stream"
max_length_bytes = 1000000
bindings = [{ exchange = "jobs", routing_key = "log" }]
"#;
    let v2 = vhost.file("v2.toml", &v1.replace("1000000", "2000000"));
    let v1 = vhost.file("v1.toml", v1);
    let (code, out, err) = vhost.kombu(&["apply", &v1]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, plan, _) = vhost.kombu(&["plan", &v2]);
    assert!(
        plan.contains("queue `log` is a stream: apply refuses to recreate it"),
        "{plan}"
    );
    let (code, out, err) = vhost.kombu(&["apply", &v2, "--allow-destructive"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("queue `log` is a stream"), "{err}");
    assert!(out.contains("deleted: nothing"), "{out}");
    assert_eq!(vhost.queues(), ["log"]);
    assert_eq!(
        vhost.bindings(),
        [("jobs".into(), "log".into(), "log".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_queue_migrates_through_a_quorum_queue() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-quorum");
    let quorum = vhost.file("quorum.toml", &migrate_v2());
    let classic = vhost.file("classic.toml", MIGRATE_V1);
    let (code, out, err) = vhost.kombu(&["apply", &quorum]);
    assert_eq!(code, 0, "{out}{err}");
    let conn = Connection::connect(&vhost.amqp()).await.unwrap();
    let sent: Vec<String> = (0..200).map(|i| format!("q{i}")).collect();
    publish(&conn, "jobs", "work", &sent).await;
    let (code, _, err) = vhost.kombu(&[
        "apply",
        &classic,
        "--allow-destructive",
        "--stop-after",
        "temp-declared",
    ]);
    assert_eq!(code, 2, "{err}");
    let temp: serde_json::Value = serde_json::from_str(&api(
        "GET",
        &format!("queues/{}/work.kombu-migrate", vhost.name),
        None,
    ))
    .unwrap();
    assert_eq!(temp["type"], "quorum");
    let (code, out, err) = vhost.kombu(&["apply", &classic, "--allow-destructive"]);
    assert_eq!(code, 0, "{out}{err}");
    let arrived = bodies(&drain(&conn, "work").await);
    conn.close().await.unwrap();
    assert_eq!(arrived, sent);
}

/// The states a migration can be interrupted after, and the two moves it can be killed in the
/// middle of (see `kombu-cli/src/migrate.rs`).
const STATES: &[&str] = &[
    "temp-declared",
    "bound-temp",
    "switched-out",
    "moving-out",
    "moved-out",
    "deleted",
    "recreated",
    "bound-new",
    "switched-back",
    "moving-back",
    "moved-back",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_migration_resumes_and_loses_nothing() {
    if !broker_available() {
        return;
    }
    for state in STATES {
        let vhost = Vhost::new(&format!("apply-resume-{state}"));
        let v1 = vhost.file("v1.toml", MIGRATE_V1);
        let v2 = vhost.file("v2.toml", &migrate_v2());
        let (code, out, err) = vhost.kombu(&["apply", &v1]);
        assert_eq!(code, 0, "{out}{err}");
        let conn = Connection::connect(&vhost.amqp()).await.unwrap();
        let first: Vec<String> = (0..300).map(|i| format!("first-{i}")).collect();
        publish(&conn, "jobs", "work", &first).await;

        let (code, out, err) =
            vhost.kombu(&["apply", &v2, "--allow-destructive", "--stop-after", state]);
        if state.starts_with("moving") {
            // Killed in the middle of a move: copies confirmed, originals not acknowledged.
            assert_eq!(code, 3, "{state}: {out}{err}");
            assert!(err.contains("before acknowledging them"), "{err}");
        } else {
            assert_eq!(code, 2, "{state}: {out}{err}");
            assert!(err.contains(&format!("stopped after `{state}`")), "{err}");
        }
        assert!(
            vhost.queues().contains(&"work.kombu-migrate".to_owned()),
            "{state}: the temporary queue stays"
        );
        // Publishes while it stands still arrive too.
        let between: Vec<String> = (0..50).map(|i| format!("between-{i}")).collect();
        publish(&conn, "jobs", "urgent", &between).await;
        let (_, plan, _) = vhost.kombu(&["plan", &v2]);
        assert!(
            plan.contains("a migration was interrupted; apply resumes it"),
            "{state}: {plan}"
        );

        let (code, out, err) = vhost.kombu(&["apply", &v2, "--allow-destructive"]);
        assert_eq!(code, 0, "{state}: {out}{err}");
        let arrived = bodies(&drain(&conn, "work").await);
        conn.close().await.unwrap();
        let mut expected = first.clone();
        expected.extend(between);
        let (lost, duplicates) = count(&expected, &arrived);
        eprintln!(
            "interrupted after {state}: {} sent, {} arrived, {} lost, {duplicates} duplicates",
            expected.len(),
            arrived.len(),
            lost.len()
        );
        assert!(lost.is_empty(), "{state}: lost {lost:?}");
        assert!(!vhost.queues().contains(&"work.kombu-migrate".to_owned()));
        let (_, plan, _) = vhost.kombu(&["plan", &v2]);
        assert!(
            plan.contains("0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove, 4 unchanged"),
            "{state}: {plan}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_the_old_file_rolls_an_interrupted_migration_back() {
    if !broker_available() {
        return;
    }
    // Before the queue is deleted, and after it was declared with the new settings.
    for state in ["switched-out", "recreated"] {
        let vhost = Vhost::new(&format!("apply-rollback-{state}"));
        let v1 = vhost.file("v1.toml", MIGRATE_V1);
        let v2 = vhost.file("v2.toml", &migrate_v2());
        let (code, out, err) = vhost.kombu(&["apply", &v1]);
        assert_eq!(code, 0, "{out}{err}");
        let conn = Connection::connect(&vhost.amqp()).await.unwrap();
        let sent: Vec<String> = (0..200).map(|i| format!("r{i}")).collect();
        publish(&conn, "jobs", "work", &sent).await;
        let (code, _, err) =
            vhost.kombu(&["apply", &v2, "--allow-destructive", "--stop-after", state]);
        assert_eq!(code, 2, "{state}: {err}");
        // The old file again: the queue ends as it was, with every message.
        let (code, out, err) = vhost.kombu(&["apply", &v1, "--allow-destructive"]);
        assert_eq!(code, 0, "{state}: {out}{err}");
        let arrived = bodies(&drain(&conn, "work").await);
        conn.close().await.unwrap();
        let (lost, duplicates) = count(&sent, &arrived);
        eprintln!(
            "rolled back after {state}: {} sent, {} lost, {duplicates} duplicates",
            sent.len(),
            lost.len()
        );
        assert!(lost.is_empty(), "{state}: lost {lost:?}");
        assert_eq!(vhost.queues(), ["work"], "{state}");
        let (_, plan, _) = vhost.kombu(&["plan", &v1]);
        assert!(
            plan.contains("0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove, 4 unchanged"),
            "{state}: {plan}"
        );
    }
}

/// `kombu ARGS --format json` in `vhost`: the exit code and the parsed object.
fn json_of(vhost: &Vhost, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out, err) = vhost.kombu(&all);
    let value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}:\n{out}\n{err}"));
    (code, value)
}

#[test]
fn plan_and_apply_write_one_json_object() {
    use serde_json::json;
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-json");
    let v1 = vhost.file("v1.toml", ROUTES_V1);
    let (code, plan) = json_of(&vhost, &["plan", &v1]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["vhost"], vhost.name.as_str());
    assert_eq!(plan["up_to_date"], false);
    assert_eq!(
        plan["counts"],
        json!({"create": 14, "recreate": 0, "remove": 0, "unchanged": 0})
    );
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 14);
    assert_eq!(
        steps[0],
        json!({"action": "create", "subject": {"kind": "exchange", "name": "in"}, "detail": "direct exchange"})
    );
    assert!(steps.contains(&json!({
        "action": "create",
        "subject": {
            "kind": "binding",
            "source": "in",
            "destination": "mid",
            "destination_type": "exchange",
            "routing_key": "k",
            "arguments": {}
        },
        "detail": null
    })));
    assert_eq!(plan["collateral"], json!([]));
    assert_eq!(
        plan["policies"],
        json!({"other_vhosts": [], "steps": [], "counts": {"create": 0, "update": 0, "unchanged": 0}, "left_alone": 0})
    );
    assert_eq!(plan["left_alone"], json!({"exchanges": 0, "queues": 0}));

    // The second version recreates two exchanges; a worker's binding is on one of them.
    let (_, v2) = routes(&vhost);
    let (code, refused) = json_of(&vhost, &["apply", &v2]);
    assert_eq!(code, 1, "{refused}");
    assert_eq!(refused["refused"], 2);
    assert_eq!(refused["deleted"], json!([]));
    assert_eq!(refused["error"], json!(null));
    for step in refused["steps"].as_array().unwrap() {
        assert_eq!(step["action"], "recreate", "{step}");
        assert_eq!(step["outcome"], "refused", "{step}");
        assert_eq!(step["note"], "needs --allow-destructive", "{step}");
    }
    let (code, applied) = json_of(&vhost, &["apply", &v2, "--allow-destructive"]);
    assert_eq!(code, 0, "{applied}");
    assert_eq!(applied["vhost"], vhost.name.as_str());
    assert_eq!(applied["error"], json!(null));
    assert_eq!(applied["refused"], 0);
    assert!(applied["collateral"]
        .as_array()
        .unwrap()
        .contains(&json!("binding `mid` → queue `worker.pidbox` key `k` is on the broker, not in the file: the recreate of `mid` deletes it; apply puts it back after")));
    let mut recreated = applied["recreated"].as_array().unwrap().clone();
    recreated.sort_by_key(|r| r["subject"]["name"].as_str().unwrap().to_owned());
    assert_eq!(
        recreated,
        [
            json!({"subject": {"kind": "exchange", "name": "dlx"}, "bindings_from_file": 1, "bindings_put_back": 0}),
            json!({"subject": {"kind": "exchange", "name": "mid"}, "bindings_from_file": 3, "bindings_put_back": 1}),
        ]
    );
    assert_eq!(applied["deleted"].as_array().unwrap().len(), 2);
    assert_eq!(applied["created"], json!([]));
    assert_eq!(
        applied["bindings"],
        json!({"created": 0, "removed": 0, "put_back": 1})
    );
    assert_eq!(
        applied["messages"],
        json!({"moved_out": 0, "moved_back": 0})
    );
    for step in applied["steps"].as_array().unwrap() {
        assert_eq!(step["outcome"], "applied", "{step}");
    }
    let (code, plan) = json_of(&vhost, &["plan", &v2]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["up_to_date"], true, "{plan}");
    assert_eq!(plan["steps"], json!([]));
    assert_eq!(plan["counts"]["unchanged"], 14);
}

#[test]
fn apply_json_says_why_it_stopped() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-json-error");
    let v1 = vhost.file("v1.toml", MIGRATE_V1);
    let v2 = vhost.file("v2.toml", &refused_v2());
    let (code, out, err) = vhost.kombu(&["apply", &v1]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, applied) = json_of(&vhost, &["apply", &v2, "--allow-destructive"]);
    assert_eq!(code, 2, "{applied}");
    let error = applied["error"].as_str().unwrap();
    assert!(
        error.contains("the broker refuses the new settings of queue `work`; nothing was changed"),
        "{error}"
    );
    assert_eq!(applied["deleted"], serde_json::json!([]));
    assert_eq!(applied["recreated"], serde_json::json!([]));
}

#[test]
fn a_binding_from_an_exchange_the_file_does_not_name_is_never_removed() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-foreign-source");
    let (_, v2) = routes(&vhost);
    // An application's own auto-delete exchange (which `kombu import` leaves out), bound into
    // the file's `mid` (recreated by v2) and `work`: the file cannot declare these bindings,
    // so they are not the file's to remove.
    let v = &vhost.name;
    api(
        "PUT",
        &format!("exchanges/{v}/app.tmp"),
        Some(r#"{"type":"fanout","durable":false,"auto_delete":true}"#),
    );
    for to in ["e/mid", "q/work"] {
        api(
            "POST",
            &format!("bindings/{v}/e/app.tmp/{to}"),
            Some(r#"{"routing_key":"x"}"#),
        );
    }
    let before: BTreeSet<_> = vhost.bindings().into_iter().collect();
    let (code, plan, err) = vhost.kombu(&["plan", &v2]);
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains("0 to remove"), "{plan}");
    assert!(
        plan.contains("binding `app.tmp` → exchange `mid` key `x` is on the broker, not in the file: the recreate of `mid` deletes it; apply puts it back after"),
        "{plan}"
    );
    let (code, out, err) = vhost.kombu(&["apply", &v2, "--allow-destructive"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("exchange `mid` (3 binding(s) from the file, 2 from the broker put back)"),
        "{out}"
    );
    let after: BTreeSet<_> = vhost.bindings().into_iter().collect();
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_finishes_its_work_when_its_stdout_is_closed() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("apply-closed-stdout");
    let v1 = vhost.file("v1.toml", MIGRATE_V1);
    let v2 = vhost.file("v2.toml", &migrate_v2());
    let (code, out, err) = vhost.kombu(&["apply", &v1]);
    assert_eq!(code, 0, "{out}{err}");
    let conn = Connection::connect(&vhost.amqp()).await.unwrap();
    let sent: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
    publish(&conn, "jobs", "work", &sent).await;
    // `kombu apply ... | head -1`: the reader is gone before apply writes its first line. A
    // closed stdout ends `diff` or `graph` quietly, but apply must not stop halfway (and say
    // 0) in the middle of a migration.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_kombu"))
        .args(["apply", &v2, "--allow-destructive", "--vhost", &vhost.name])
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (_, plan, _) = vhost.kombu(&["plan", &v2]);
    assert!(
        plan.contains(
            "0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove"
        ),
        "{plan}"
    );
    let arrived = bodies(&drain(&conn, "work").await);
    conn.close().await.unwrap();
    assert_eq!(arrived, sent);
}

/// Several management URLs (the nodes of a cluster): a node that is down is skipped and the
/// first that answers is used; when none answers, the error lists each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_apply_use_the_first_management_url_that_answers() {
    if !broker_available() {
        return;
    }
    let vhost = Vhost::new("several-urls");
    let v1 = vhost.file("v1.toml", MIGRATE_V1);
    // Port 1 refuses connections, as a stopped node's does.
    let urls = "http://guest:guest@127.0.0.1:1,http://guest:guest@127.0.0.1:15672";
    let (code, out, err) = vhost.kombu(&["apply", &v1, "--broker", urls]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = vhost.kombu(&["plan", &v1, "--broker", urls]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 to create"), "{out}");
    let (code, out, err) = vhost.kombu(&[
        "plan",
        &v1,
        "--broker",
        "http://127.0.0.1:1,http://127.0.0.1:2",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no management API answered"), "{err}");
    assert!(
        err.contains("127.0.0.1:1") && err.contains("127.0.0.1:2"),
        "{err}"
    );
}
