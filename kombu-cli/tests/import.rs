//! `kombu import` adopts what is topology: ephemeral entities (per connection, per worker
//! process) stay out unless asked for and are listed on stderr, and durations are written with
//! their unit, which topology files require.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::kombu;

const CELERY: &str = "kombu-cli/tests/fixtures/celery_definitions.json";

/// Writes `text` to a file of this test's own and returns its path.
fn file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("kombu-cli-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const EPHEMERAL: [&str; 8] = [
    "celeryev.6a1d2c8e-4a52-4b7e-9a3e-2f9c6c1b7d10",
    "worker1@host-a.celery.pidbox",
    "3f0e1b6a-0c9d-3c51-8e0b-7b1f0d7e9a21.reply.celery.pidbox",
    "9b2f4e1c7a6d4b8e9f0a1b2c3d4e5f60",
    "session.cache",
    "tmp.fanout",
    "celery.pidbox",
    "amq.gen-Jz3kq8b1HfYx2T0cW4a9mA",
];

#[test]
fn import_leaves_celery_and_kombu_per_worker_queues_out_and_lists_them() {
    let (code, toml, err) = kombu(&["import", CELERY]);
    assert_eq!(code, 0, "{err}");
    for name in EPHEMERAL {
        assert!(!toml.contains(name), "{name} imported:\n{toml}");
        assert!(
            err.contains(&format!("`{name}`")),
            "{name} not listed:\n{err}"
        );
    }
    assert!(toml.contains("[queues.celery]"), "{toml}");
    assert!(toml.contains("[queues.\"nc.celery.dead\"]"), "{toml}");
    insta::assert_snapshot!("import_celery_left_out", err);
    // What is left is a topology check accepts, and no binding points at what was left out.
    let path = file("celery.toml", &toml);
    let (code, out, _) = kombu(&["check", &path]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn include_ephemeral_keeps_them_except_server_named_queues() {
    let (code, toml, err) = kombu(&["import", CELERY, "--include-ephemeral"]);
    assert_eq!(code, 0, "{err}");
    for name in &EPHEMERAL[..7] {
        assert!(toml.contains(name), "{name} left out:\n{toml}");
    }
    // RabbitMQ refuses to declare `amq.` names: a server-named queue is never a topology.
    assert!(!toml.contains("amq.gen-"), "{toml}");
    assert!(
        err.contains("`amq.gen-Jz3kq8b1HfYx2T0cW4a9mA`: server-named"),
        "{err}"
    );
    assert!(toml.contains("auto_delete = true"), "{toml}");
    let path = file("celery_all.toml", &toml);
    let (code, out, _) = kombu(&["check", &path]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn ttls_import_with_their_unit() {
    let (_, toml, _) = kombu(&["import", CELERY]);
    // x-message-ttl: 2000 is 2000 ms, written so that nobody reads it as seconds.
    assert!(toml.contains("message_ttl = \"2000ms\""), "{toml}");
    assert!(toml.contains("message_ttl = \"7d\""), "{toml}");
    assert!(!toml.contains("message_ttl = 2\n"), "{toml}");
    let (_, toml, _) = kombu(&["import", CELERY, "--include-ephemeral"]);
    assert!(toml.contains("expires = \"30m\""), "{toml}");
    assert!(toml.contains("expires = \"10000ms\""), "{toml}");
}

#[test]
fn a_duration_without_a_unit_is_an_error_showing_both_readings() {
    let path = file(
        "bare.toml",
        "version = 1\n\n[exchanges.x]\ntype = \"fanout\"\n\n[queues.q]\nmessage_ttl = 2000\nbindings = [{ exchange = \"x\" }]\n",
    );
    let (code, out, _) = kombu(&["check", &path]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error[E003]"), "{out}");
    assert!(out.contains("duration 2000 has no unit"), "{out}");
    assert!(
        out.contains(r#"= help: 2000 would be 2000 ms or 2000 s: write "2000ms" or "2000s""#),
        "{out}"
    );
    assert!(out.contains("bare.toml:7:15"), "{out}");
    let fixed = file(
        "unit.toml",
        "version = 1\n\n[exchanges.x]\ntype = \"fanout\"\n\n[queues.q]\nmessage_ttl = \"2000ms\"\nbindings = [{ exchange = \"x\" }]\n",
    );
    let (code, out, _) = kombu(&["check", &fixed]);
    assert_eq!(code, 0, "{out}");
}
