//! `kombu check` and names: every name RabbitMQ accepts is accepted, what RabbitMQ refuses is
//! refused, and Rust identifiers are code generation's business: check runs the generator's
//! naming step, so a file it accepts generates, and a file it refuses for a name is one the
//! generator refuses too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{broker_available, kombu};

/// Writes `text` to a file of this test's own and returns its path.
fn file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("kombu-cli-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn check_accepts_names_that_are_not_rust_identifiers() {
    // The corpus file is also compiled by kombu-build-tests: what check accepts generates
    // code that compiles, under the identifiers the tests there use.
    let (code, out, err) = kombu(&["check", "kombu-build-tests/corpus/rabbitmq_names.toml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: 2 exchanges, 8 queues"), "{out}");
    let path = file(
        "legal.toml",
        "version = 1\n\n[exchanges.auth]\ntype = \"fanout\"\n\n[queues.2fa-codes]\nbindings = [{ exchange = \"auth\" }]\n\n[queues.self]\nbindings = [{ exchange = \"auth\" }]\n\n[queues.Orders]\nbindings = [{ exchange = \"auth\" }]\n\n[queues.orders]\nbindings = [{ exchange = \"auth\" }]\n",
    );
    let (code, out, err) = kombu(&["check", &path]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "ok: 1 exchanges, 4 queues, 0 messages, 0 producers, 0 consumers, 0 tasks"
    );
}

#[test]
fn check_refuses_amq_prefixes_as_rabbitmq_does() {
    let path = file(
        "amq.toml",
        "version = 1\n\n[queues.\"amq.gen-x\"]\nbindings = [{ exchange = \"amq.topic\", routing_key = \"#\" }]\n",
    );
    let (code, out, _) = kombu(&["check", &path]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "error[E110]: queue `amq.gen-x` starts with `amq.`, which RabbitMQ reserves for itself"
        ),
        "{out}"
    );
    assert!(out.contains("403 ACCESS_REFUSED"), "{out}");
    assert!(out.contains("for example `gen-x`"), "{out}");
    // The predeclared exchange it binds to is not refused.
    assert!(!out.contains("`amq.topic`"), "{out}");
}

#[test]
fn check_reports_the_generators_collisions_at_both_entities() {
    let path = file(
        "collision.toml",
        "version = 1\n\n[queues.media]\n\n[messages.media_producer]\nfields.name = \"string\"\n\n[producers.media]\nexchange = \"\"\nmethods.send = { message = \"media_producer\", routing_key = \"media\" }\n",
    );
    let (code, out, _) = kombu(&["check", &path]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error[E108]: message `media_producer` and producer `media` would both be the Rust identifier `MediaProducer`"),
        "{out}"
    );
    assert!(out.contains("collision.toml:8:12"), "{out}");
    assert!(out.contains("collision.toml:5:11"), "{out}");
    assert!(out.contains("give one of them a `rust_name`"), "{out}");
    let (_, json, _) = kombu(&["check", &path, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["code"], "E108");
    assert_eq!(json[0]["line"], 8);
    assert_eq!(json[0]["related"][0]["line"], 5);
}

#[test]
fn rust_name_resolves_a_collision_and_must_be_an_identifier() {
    let fixed = file(
        "fixed.toml",
        "version = 1\n\n[queues.media]\n\n[messages.media_producer]\nfields.name = \"string\"\n\n[producers.media]\nrust_name = \"Media2\"\nexchange = \"\"\nmethods.send = { message = \"media_producer\", routing_key = \"media\" }\n",
    );
    let (code, out, err) = kombu(&["check", &fixed]);
    assert_eq!(code, 0, "{out}{err}");
    let bad = file(
        "bad_rust_name.toml",
        "version = 1\n\n[queues.codes]\nrust_name = \"2fa-codes\"\n",
    );
    let (code, out, _) = kombu(&["check", &bad]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error[E107]: `rust_name` `2fa-codes` of queue `codes` is not a Rust identifier (it would be `_2fa_codes`)"),
        "{out}"
    );
    assert!(out.contains("bad_rust_name.toml:4:13"), "{out}");
}

/// The rules check applies are RabbitMQ's: the names it accepts are declared, and an `amq.`
/// name it refuses is refused by RabbitMQ with 403.
#[tokio::test]
async fn rabbitmq_takes_what_check_accepts_and_refuses_amq_names() {
    if !broker_available() {
        return;
    }
    let conn = kombu::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f")
        .await
        .unwrap();
    let channel = conn.channel().await.unwrap();
    let run = std::process::id();
    for name in [
        format!("2fa-codes-{run}"),
        format!("Orders-{run}"),
        format!("orders-{run}"),
        format!("注文-{run}"),
        format!("{run}-{}", "é".repeat(120)),
    ] {
        kombu::Queue::new(name.as_str())
            .exclusive(true)
            .attach(&channel)
            .declare()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let e = kombu::Queue::new(format!("amq.gen-x-{run}").as_str())
        .exclusive(true)
        .attach(&channel)
        .declare()
        .await
        .unwrap_err();
    assert!(e.is_access_refused(), "{e}");
    let _ = conn.close().await;
}
