//! The `kombu` binary as a reviewer and a CI job run it: every command and format, with
//! snapshot output; `plan` and `apply` against the real RabbitMQ's management API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::{broker_available, kombu, workspace};
use std::process::Command;

const INVALID: &str = "kombu/tests/fixtures/topology/invalid/E101_undeclared_exchange.toml";
const WARNINGS: &str = "kombu/tests/fixtures/topology/warnings/W207_unrouted.toml";
const MEDIA: &str = "examples/media/topology.toml";
const BILLING: &str = "kombu/tests/fixtures/topology/valid/headers_and_e2e.toml";

#[test]
fn check_exit_codes() {
    assert_eq!(kombu(&["check", MEDIA]).0, 0);
    assert_eq!(kombu(&["check", INVALID]).0, 1);
    assert_eq!(kombu(&["check", WARNINGS]).0, 0);
    assert_eq!(kombu(&["check", WARNINGS, "--deny-warnings"]).0, 1);
    let (code, _, err) = kombu(&["check", "no/such.toml"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn check_formats() {
    insta::assert_snapshot!("check_human", kombu(&["check", INVALID]).1);
    insta::assert_snapshot!(
        "check_json",
        kombu(&["check", WARNINGS, "--format", "json"]).1
    );
    insta::assert_snapshot!(
        "check_github",
        kombu(&["check", INVALID, "--format", "github"]).1
    );
    let json: serde_json::Value =
        serde_json::from_str(&kombu(&["check", INVALID, "--format", "json"]).1).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);
    assert_eq!(json[0]["code"], "E101");
}

#[test]
fn diff_classes_every_change() {
    let old = "kombu-cli/tests/fixtures/media_old.toml";
    let new = "kombu-cli/tests/fixtures/media_new.toml";
    let (code, human, _) = kombu(&["diff", old, new]);
    assert_eq!(code, 0);
    assert!(
        human.contains("exchange `media` [recreate]: type: direct → topic"),
        "{human}"
    );
    assert!(human.contains("[policy]: message_ttl"), "{human}");
    assert!(human.contains("[destructive]: binding removed"), "{human}");
    assert!(human.contains("[safe]: binding added"), "{human}");
    insta::assert_snapshot!("diff_human", human);
    insta::assert_snapshot!(
        "diff_markdown",
        kombu(&["diff", old, new, "--format", "markdown"]).1
    );
    let json_text = kombu(&["diff", old, new, "--format", "json"]).1;
    insta::assert_snapshot!("diff_json", json_text);
    let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let classes: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    for class in ["safe", "policy", "recreate", "destructive"] {
        assert!(classes.contains(&class), "{classes:?}");
    }
    assert_eq!(kombu(&["diff", old, old]).1, "no changes\n");
}

#[test]
fn diff_against_a_git_revision() {
    // The file at HEAD against the work tree: the same (CI runs on a clean clone).
    let (code, out, err) = kombu(&["diff", "--git", "HEAD", MEDIA]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "no changes\n");
    // Two revisions (`A..B`; here the same one twice): nothing changed between them.
    let (code, out, err) = kombu(&["diff", "--git", "HEAD..HEAD", MEDIA]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "no changes\n");
    let (code, _, err) = kombu(&["diff", "--git", "no-such-revision", MEDIA]);
    assert_eq!(code, 2);
    assert!(err.contains("git show"), "{err}");
}

#[test]
fn graph_formats() {
    insta::assert_snapshot!("graph_mermaid", kombu(&["graph", MEDIA]).1);
    insta::assert_snapshot!("graph_dot", kombu(&["graph", BILLING, "--format", "dot"]).1);
}

#[test]
fn route_shows_the_path() {
    let (code, out, _) = kombu(&[
        "route",
        BILLING,
        "--exchange",
        "events",
        "--key",
        "billing.invoice",
        "--header",
        "kind=invoice",
        "--header",
        "region=eu",
    ]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("route_headers", out);
    let (_, out, _) = kombu(&["route", MEDIA, "--exchange", "media", "--key", "audio"]);
    assert!(out.contains("reaches no queue"), "{out}");
    let (code, _, err) = kombu(&["route", MEDIA, "--exchange", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no exchange `nope`"));
}

#[test]
fn export_and_import() {
    let (code, out, _) = kombu(&["export", MEDIA]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("export_media", out);
    let (code, toml, err) = kombu(&["import", "kombu-cli/tests/fixtures/definitions.json"]);
    assert_eq!(code, 0);
    assert!(
        err.contains("left out the binding from `internal.only`"),
        "{err}"
    );
    insta::assert_snapshot!("import_toml", toml);
    // What import writes, check accepts; in YAML too.
    let dir = std::env::temp_dir().join(format!("kombu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("imported.toml");
    std::fs::write(&file, &toml).unwrap();
    assert_eq!(kombu(&["check", file.to_str().unwrap()]).0, 0);
    let (_, yaml, _) = kombu(&[
        "import",
        "kombu-cli/tests/fixtures/definitions.json",
        "--format",
        "yaml",
    ]);
    insta::assert_snapshot!("import_yaml", yaml);
    let file = dir.join("imported.yaml");
    std::fs::write(&file, &yaml).unwrap();
    assert_eq!(kombu(&["check", file.to_str().unwrap()]).0, 0);
    // Another virtual host's entities stay out.
    assert!(!toml.contains("elsewhere"));
}

// ---- against the real broker ----------------------------------------------------------

/// The media topology under names unique to this run.
fn unique_media(tag: &str) -> (PathBuf, String) {
    let prefix = format!("kombu-cli-{tag}-{}", std::process::id());
    let text = std::fs::read_to_string(workspace().join(MEDIA))
        .unwrap()
        .replace("media", &format!("{prefix}-media"))
        .replace("[queues.video]", &format!("[queues.{prefix}-video]"))
        .replace("[queues.image]", &format!("[queues.{prefix}-image]"))
        .replace("queues.video =", &format!("queues.{prefix}-video ="))
        .replace("queues.image =", &format!("queues.{prefix}-image ="))
        .replace("#:schema ../../schemas", "#:schema schemas");
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("topology.toml");
    std::fs::write(&file, text).unwrap();
    (file, prefix)
}

fn cleanup(prefix: &str) {
    for kind in ["queues", "exchanges"] {
        let list = Command::new("curl")
            .args([
                "-s",
                "-u",
                "guest:guest",
                &format!("http://127.0.0.1:15672/api/{kind}/%2F"),
            ])
            .output()
            .unwrap();
        let items: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap_or_default();
        for item in items.as_array().into_iter().flatten() {
            let name = item["name"].as_str().unwrap_or_default();
            if name.starts_with(prefix) {
                let _ = Command::new("curl")
                    .args([
                        "-s",
                        "-X",
                        "DELETE",
                        "-u",
                        "guest:guest",
                        &format!("http://127.0.0.1:15672/api/{kind}/%2F/{name}"),
                    ])
                    .output();
            }
        }
    }
}

#[test]
fn plan_and_apply_against_rabbitmq() {
    if !broker_available() {
        return;
    }
    let (file, prefix) = unique_media("apply");
    let file = file.to_str().unwrap();
    let (code, plan, err) = kombu(&["plan", file]);
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains("8 to create, 0 to recreate"), "{plan}");
    let (code, out, err) = kombu(&["apply", file]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, plan, _) = kombu(&["plan", file]);
    assert!(plan.contains("0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove, 8 unchanged"), "{plan}");

    // Argument drift: the file changes a TTL; the broker would refuse the redeclare.
    let changed = std::fs::read_to_string(file)
        .unwrap()
        .replace("message_ttl = \"7d\"", "message_ttl = \"3d\"");
    std::fs::write(file, changed).unwrap();
    let (_, plan, _) = kombu(&["plan", file]);
    assert!(
        plan.contains("argument x-message-ttl: broker 604800000, file 259200000"),
        "{plan}"
    );
    let (code, out, _) = kombu(&["apply", file]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs --allow-destructive"), "{out}");
    // Allowed, an empty queue is recreated with the new settings.
    let (code, out, err) = kombu(&["apply", file, "--allow-destructive"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, plan, _) = kombu(&["plan", file]);
    assert!(
        plan.contains("0 to recreate") && plan.contains("0 to remove"),
        "{plan}"
    );

    // A queue holding messages is recreated with its messages moved through a temporary
    // queue and back (tests/apply.rs covers migrations in depth).
    let queue = format!("{prefix}-media-failed");
    let publish = serde_json::json!({"properties": {}, "routing_key": queue, "payload": "kept", "payload_encoding": "string"});
    let out = Command::new("curl")
        .args([
            "-s",
            "-u",
            "guest:guest",
            "-H",
            "content-type: application/json",
            "-d",
            &publish.to_string(),
            "http://127.0.0.1:15672/api/exchanges/%2F/amq.default/publish",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"routed\":true"));
    let changed = std::fs::read_to_string(file)
        .unwrap()
        .replace("message_ttl = \"3d\"", "message_ttl = \"1d\"");
    std::fs::write(file, changed).unwrap();
    let (code, out, err) = kombu(&["apply", file, "--allow-destructive"]);
    let (_, plan, _) = kombu(&["plan", file]);
    cleanup(&prefix);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 moved to temporary queues and 1 moved back"),
        "{out}"
    );
    assert!(plan.contains("0 to recreate"), "{plan}");
}

#[test]
fn export_then_import_definitions_then_plan_shows_no_change() {
    if !broker_available() {
        return;
    }
    let (file, prefix) = unique_media("roundtrip");
    let (code, defs, _) = kombu(&["export", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    let defs_file = file.with_file_name("definitions.json");
    std::fs::write(&defs_file, defs).unwrap();
    let out = Command::new("rabbitmqctl")
        .args(["import_definitions", defs_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The import is asynchronous: wait for the plan to settle.
    let mut plan = String::new();
    for _ in 0..40 {
        plan = kombu(&["plan", file.to_str().unwrap()]).1;
        if plan.contains("0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove, 8 unchanged") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(plan.contains("0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove, 8 unchanged"), "{plan}");
    cleanup(&prefix);
}

#[test]
fn fmt_writes_one_canonical_layout_and_keeps_the_meaning() {
    let dir = std::env::temp_dir().join(format!("kombu-cli-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (source, name) in [
        (BILLING, "billing.toml"),
        ("examples/feed/topology.yaml", "feed.yaml"),
    ] {
        let file = dir.join(name);
        let original = std::fs::read_to_string(workspace().join(source)).unwrap();
        // Body comments are refused (they would be lost); the header block is kept.
        let header_only: String = original
            .lines()
            .enumerate()
            .filter(|(i, l)| *i < 3 || !l.trim_start().starts_with('#'))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        std::fs::write(&file, &header_only).unwrap();
        let f = file.to_str().unwrap();
        assert_eq!(kombu(&["fmt", "--check", f]).0, 1);
        assert_eq!(kombu(&["fmt", f]).0, 0);
        assert_eq!(kombu(&["fmt", "--check", f]).0, 0);
        let formatted = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            formatted.lines().next(),
            original.lines().next(),
            "the schema header stays"
        );
        let a = kombu::topology::Topology::from_path(workspace().join(source)).unwrap();
        let b = kombu::topology::Topology::from_path(&file).unwrap();
        let mut sorted = a.model().clone();
        sorted.exchanges.sort_keys();
        sorted.queues.sort_keys();
        sorted.messages.sort_keys();
        sorted.producers.sort_keys();
        sorted.consumers.sort_keys();
        assert_eq!(b.model(), &sorted);
    }
    let file = dir.join("commented.toml");
    std::fs::write(&file, "version = 1\n\n# about media\n[exchanges.media]\n").unwrap();
    let (code, _, err) = kombu(&["fmt", file.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("would be lost"), "{err}");
}

fn by_name(mut v: Vec<kombu::Exchange>) -> Vec<kombu::Exchange> {
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn by_name_q(mut v: Vec<kombu::Queue>) -> Vec<kombu::Queue> {
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

#[test]
fn importing_a_broker_export_gives_a_topology_that_checks() {
    if !broker_available() {
        return;
    }
    // A virtual host of its own, so that nothing else on the broker is in the export; the
    // guard deletes it (and the folder) also when an assertion fails.
    let guard = common::Vhost::new("cli-import");
    let (vhost, dir) = (guard.name.clone(), guard.dir.clone());
    let (code, out, err) = kombu(&["apply", MEDIA, "--vhost", &vhost]);
    assert_eq!(code, 0, "{out}{err}");
    let export = dir.join("definitions.json");
    // To standard output: the node, not this process, would write a file. An export that
    // races with another test deleting its vhost can come out as an Erlang error term; ask
    // again then.
    let mut exported = Vec::new();
    for _ in 0..5 {
        let status = Command::new("rabbitmqctl")
            .args(["-q", "export_definitions", "-"])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        exported = status.stdout;
        if serde_json::from_slice::<serde_json::Value>(&exported).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    std::fs::write(&export, &exported).unwrap();
    let (code, toml, err) = kombu(&["import", export.to_str().unwrap(), "--vhost", &vhost]);
    assert_eq!(code, 0, "{err}");
    let file = dir.join("imported.toml");
    std::fs::write(&file, &toml).unwrap();
    let (code, out, _) = kombu(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{toml}");
    // And the imported file plans no change against the broker it came from.
    let (_, plan, _) = kombu(&["plan", file.to_str().unwrap(), "--vhost", &vhost]);
    assert!(plan.contains("0 to create, 0 to recreate"), "{plan}");
    let imported = kombu::topology::Topology::from_path(&file).unwrap();
    let original = kombu::topology::Topology::from_path(workspace().join(MEDIA)).unwrap();
    assert_eq!(by_name(imported.exchanges()), by_name(original.exchanges()));
    assert_eq!(by_name_q(imported.queues()), by_name_q(original.queues()));
}

#[test]
fn importing_from_a_live_broker_includes_internal_exchanges() {
    if !broker_available() {
        return;
    }
    let guard = common::Vhost::new("cli-live");
    let (vhost, dir) = (guard.name.clone(), guard.dir.clone());
    // Headers routing, an internal alternate exchange, exchange-to-exchange bindings.
    let (code, out, err) = kombu(&["apply", BILLING, "--vhost", &vhost]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, toml, err) = kombu(&[
        "import",
        "--broker",
        "http://guest:guest@127.0.0.1:15672",
        "--vhost",
        &vhost,
    ]);
    assert_eq!(code, 0, "{err}");
    let file = dir.join("imported.toml");
    std::fs::write(&file, &toml).unwrap();
    let (code, out, _) = kombu(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{toml}");
    let imported = kombu::topology::Topology::from_path(&file).unwrap();
    let original = kombu::topology::Topology::from_path(workspace().join(BILLING)).unwrap();
    assert_eq!(by_name(imported.exchanges()), by_name(original.exchanges()));
    // The exclusive queue belongs to a connection and is not imported; the others are.
    let wanted: Vec<kombu::Queue> = original
        .queues()
        .into_iter()
        .filter(|q| !q.exclusive)
        .collect();
    assert_eq!(by_name_q(imported.queues()), by_name_q(wanted));
}

// ---- a gate for CI ---------------------------------------------------------------------

/// A scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kombu-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn diff_deny_exits_1_on_a_denied_class_only() {
    let old = "kombu-cli/tests/fixtures/media_old.toml";
    let new = "kombu-cli/tests/fixtures/media_new.toml";
    let (code, out, err) = kombu(&["diff", old, new, "--deny", "destructive,recreate"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("[destructive]"),
        "the changes are still shown: {out}"
    );
    assert!(
        err.starts_with("error: the change holds denied changes (2 destructive, 1 recreate"),
        "{err}"
    );
    // The same change, gated on a class it does not hold; and no change at all.
    let (code, _, err) = kombu(&["diff", MEDIA, MEDIA, "--deny", "destructive,recreate"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(kombu(&["diff", old, new, "--deny", "safe"]).0, 1);
    // The JSON output gates the same way.
    assert_eq!(
        kombu(&["diff", old, new, "--format", "json", "--deny", "recreate"]).0,
        1
    );
    // An unknown class is a usage error, with a did-you-mean.
    let (code, _, err) = kombu(&["diff", old, new, "--deny", "destructve"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: invalid value 'destructve'"),
        "{err}"
    );
    assert!(
        err.contains("a similar value exists: 'destructive'"),
        "{err}"
    );
}

#[test]
fn diff_classes_only_what_rabbitmq_compares_on_a_redeclare_as_a_recreate() {
    let dir = scratch("redeclare");
    let old = write(
        &dir,
        "old.toml",
        r#"version = 1
[exchanges.e]
type = "topic"
arguments = { x-team = "billing" }
[queues.plain]
bindings = [{ exchange = "e", routing_key = "k" }]
[queues.ha]
arguments = { x-ha-policy = "all" }
bindings = [{ exchange = "e", routing_key = "k" }]
[queues.lazy]
bindings = [{ exchange = "e", routing_key = "k" }]
"#,
    );
    // `type = "classic"` is the default written out; `x-ha-policy` and `x-team` are not compared
    // by RabbitMQ (a redeclare with or without them succeeds); `x-queue-mode` is.
    let new = write(
        &dir,
        "new.toml",
        r#"version = 1
[exchanges.e]
type = "topic"
[queues.plain]
type = "classic"
bindings = [{ exchange = "e", routing_key = "k" }]
[queues.ha]
bindings = [{ exchange = "e", routing_key = "k" }]
[queues.lazy]
arguments = { x-queue-mode = "lazy" }
bindings = [{ exchange = "e", routing_key = "k" }]
"#,
    );
    let (code, json, err) = kombu(&["diff", &old, &new, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let changes: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let summary: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c["entity"].as_str().unwrap(), c["class"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("exchange `e`", "safe"),
            ("queue `ha`", "safe"),
            ("queue `lazy`", "recreate")
        ],
        "{changes:#?}"
    );
    assert!(
        changes[1]["hint"]
            .as_str()
            .unwrap()
            .contains("RabbitMQ does not compare `x-ha-policy` when the queue is declared again"),
        "{changes:#?}"
    );
    // A recreate says that apply migrates the queue.
    assert!(
        changes[2]["hint"]
            .as_str()
            .unwrap()
            .contains("`kombu apply --allow-destructive` recreates it without losing a message"),
        "{changes:#?}"
    );
}

#[test]
fn route_headers_are_typed_and_tell_1_from_the_string_1() {
    let dir = scratch("typed-headers");
    let file = write(
        &dir,
        "headers.toml",
        r#"version = 1

[exchanges.h]
type = "headers"

[queues.by-int]
bindings = [{ exchange = "h", headers = { n = 1 } }]

[queues.by-str]
bindings = [{ exchange = "h", headers = { n = "1" } }]

[queues.by-bool]
bindings = [{ exchange = "h", headers = { flag = true } }]
"#,
    );
    let route = |header: &str| {
        let (code, out, err) = kombu(&[
            "route",
            &file,
            "--exchange",
            "h",
            "--header",
            header,
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let queues: Vec<String> = json["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["queue"].as_str().unwrap().to_owned())
            .collect();
        (queues, json["headers"].clone())
    };
    let (queues, headers) = route("n=1");
    assert_eq!(queues, ["by-int"]);
    assert_eq!(headers, serde_json::json!({"n": 1}));
    let (queues, headers) = route("n=\"1\"");
    assert_eq!(queues, ["by-str"]);
    assert_eq!(headers, serde_json::json!({"n": "1"}));
    assert_eq!(route("flag=true").0, ["by-bool"]);
    assert!(route("flag=\"true\"").0.is_empty());
    // The human output writes values as a topology file does.
    let (_, out, _) = kombu(&["route", &file, "--exchange", "h", "--header", "n=\"1\""]);
    assert!(out.contains("headers n=\"1\""), "{out}");
    assert!(out.contains("(binding `headers n=\"1\" (all)`)"), "{out}");
    let (_, out, _) = kombu(&["route", &file, "--exchange", "h", "--header", "n=1"]);
    assert!(out.contains("(binding `headers n=1 (all)`)"), "{out}");
    // A mistyped exchange gets a did-you-mean.
    let (code, _, err) = kombu(&["route", &file, "--exchange", "hh"]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        "error: the topology has no exchange `hh`; did you mean `h`?"
    );
    let (code, _, err) = kombu(&["route", &file, "--exchange", "h", "--header", "novalue"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: --header `novalue`"), "{err}");
}

#[test]
fn renames_are_one_change_with_their_migration() {
    let dir = scratch("renames");
    let old = write(
        &dir,
        "old.toml",
        r##"version = 1

[exchanges.orders]
type = "topic"

[queues.orders-eu]
durable = true
bindings = [{ exchange = "orders", routing_key = "eu.#" }]

[queues.audit]
bindings = [{ exchange = "orders", routing_key = "#" }]
"##,
    );
    let new = write(
        &dir,
        "new.toml",
        r##"version = 1

[exchanges.purchases]
type = "topic"

[queues.purchases-eu]
durable = true
bindings = [{ exchange = "purchases", routing_key = "eu.#" }]

[queues.audit]
bindings = [{ exchange = "purchases", routing_key = "#" }]
"##,
    );
    let (code, out, err) = kombu(&["diff", &old, &new]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(
        lines,
        [
            "exchange `orders` [recreate]: renamed to `purchases` (same settings and bindings)",
            "queue `orders-eu` [recreate]: renamed to `purchases-eu` (same settings and bindings)",
        ],
        "{out}"
    );
    assert!(
        out.contains(
            "bind queue `purchases-eu` (key `eu.#`), queue `audit` (key `#`) to `purchases`"
        ),
        "the exchange rename says which bindings move: {out}"
    );
    assert!(
        out.contains("\"src-queue\":\"orders-eu\"")
            && out.contains("\"dest-queue\":\"purchases-eu\""),
        "the queue rename says how its messages move: {out}"
    );
    // A removal beside an addition with other settings is not a rename.
    let other = write(
        &dir,
        "other.toml",
        "version = 1\n\n[exchanges.orders]\ntype = \"topic\"\n\n[queues.audit]\nbindings = [{ exchange = \"orders\", routing_key = \"#\" }]\n\n[queues.purchases-eu]\ndurable = false\n",
    );
    let (_, out, _) = kombu(&["diff", &old, &other]);
    assert!(out.contains("queue `purchases-eu` [safe]: added"), "{out}");
    assert!(
        out.contains("queue `orders-eu` [destructive]: removed"),
        "{out}"
    );
    // Many look-alikes come and go: none is a rename (which one became which is a guess),
    // and finding that out stays linear (3,000 removed and 3,000 added exchanges).
    let many = |prefix: &str| {
        let mut text = String::from("version = 1\n");
        for i in 0..3000 {
            text.push_str(&format!("\n[exchanges.{prefix}{i}]\ntype = \"fanout\"\n"));
        }
        text
    };
    let old = write(&dir, "many_old.toml", &many("a"));
    let new = write(&dir, "many_new.toml", &many("b"));
    let (code, out, err) = kombu(&["diff", &old, &new]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("renamed"), "{}", &out[..500]);
    assert_eq!(out.matches("[safe]: added").count(), 3000);
}

#[test]
fn diff_writes_values_as_a_topology_file_does() {
    let dir = scratch("values");
    let old = write(
        &dir,
        "old.toml",
        "version = 1\n\n[exchanges.x]\ntype = \"fanout\"\narguments = { x-a = 5 }\n\n[queues.q]\nbindings = [{ exchange = \"x\" }]\narguments = { x-b = \"s\" }\n",
    );
    let new = write(
        &dir,
        "new.toml",
        "version = 1\n\n[exchanges.x]\ntype = \"fanout\"\narguments = { x-a = 6 }\n\n[queues.q]\ntype = \"quorum\"\nmax_length = 5\nbindings = [{ exchange = \"x\" }]\n",
    );
    let (code, out, err) = kombu(&["diff", &old, &new]);
    assert_eq!(code, 0, "{err}");
    for debug in ["I32(", "I64(", "Some(", "None", "Quorum", "String("] {
        assert!(!out.contains(debug), "{debug} in {out}");
    }
    assert!(
        out.contains("arguments: { x-a = 5 } → { x-a = 6 }"),
        "{out}"
    );
    assert!(out.contains("arguments: { x-b = \"s\" } → none"), "{out}");
    assert!(
        out.contains("queue type: classic (the default) → quorum"),
        "{out}"
    );
    assert!(out.contains("max_length: none → 5"), "{out}");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    use std::process::Stdio;
    for args in [
        &[
            "diff",
            "kombu-cli/tests/fixtures/media_old.toml",
            "kombu-cli/tests/fixtures/media_new.toml",
        ][..],
        &["graph", MEDIA][..],
        &["export", MEDIA][..],
        &["check", WARNINGS][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kombu"))
            .args(args)
            .current_dir(workspace())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before (or while) the command writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("failed printing"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn errors_start_with_error_and_exit_codes_are_documented() {
    let (code, _, err) = kombu(&["difff"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: unrecognized subcommand 'difff'"),
        "{err}"
    );
    assert!(err.contains("a similar subcommand exists: 'diff'"), "{err}");
    let (code, _, err) = kombu(&["graph", MEDIA, "--format", "mermiad"]);
    assert_eq!(code, 2);
    assert!(err.contains("a similar value exists: 'mermaid'"), "{err}");
    let (code, _, err) = kombu(&["diff", MEDIA]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: "), "{err}");
    let (code, _, err) = kombu(&["route", MEDIA, "--exchange", "medai"]);
    assert_eq!(code, 2);
    assert!(err.ends_with("did you mean `media`?\n"), "{err}");
    let (code, _, err) = kombu(&["route", "no/such.toml", "--exchange", "x"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error"), "{err}");
    // Piped, nothing is coloured.
    assert!(!err.contains('\x1b'), "{err:?}");
    let (code, help, _) = kombu(&["--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("2  the command could not run"), "{help}");
    let (_, help, _) = kombu(&["route", "--help"]);
    assert!(help.contains("n='\"1\"'"), "{help}");
}

#[test]
fn fmt_refuses_a_file_whose_comments_it_would_lose() {
    let dir = scratch("fmt-comments");
    for (name, text, line) in [
        ("trailing.toml", "version = 1\n\n[exchanges.a] # comment\n", 3),
        (
            "in-string.toml",
            "version = 1\n\n[exchanges.a]\ndescription = \"not # a comment\"\n\n[queues.q] # but this is\nbindings = [{ exchange = \"a\" }]\n",
            6,
        ),
        ("trailing.yaml", "version: 1\nexchanges:\n  a: {} # comment\n", 3),
        (
            "body.yaml",
            "# header\nversion: 1\nexchanges:\n  a:\n    description: \"a # b\"\n  # about b\n  b: {}\n",
            6,
        ),
    ] {
        let file = write(&dir, name, text);
        let (code, _, err) = kombu(&["fmt", &file]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}:{line}: the comment")) && err.contains("would be lost"),
            "{name}: {err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "{name}: untouched");
    }
    // A `#` in a string is no comment, and the header block is kept.
    let text = "# header\nversion = 1\n\n[exchanges.a]\ndescription = \"not # a comment\"\n";
    let file = write(&dir, "string-only.toml", text);
    let (code, _, err) = kombu(&["fmt", &file]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .starts_with("# header\n"));
}

#[test]
fn diff_classes_celery_task_changes_for_senders_and_workers_side_by_side() {
    let dir = scratch("tasks");
    let old = write(
        &dir,
        "old.toml",
        r#"version = 1
[tasks.add]
name = "tasks.add"
args = { x = "i64", y = "i64" }
result = "i64"

[tasks.resize]
queue = "images"
args = { path = "string", width = "u32" }
kwargs = { quality = "u8" }

[tasks.ping]

[tasks.pong]

[tasks.old_report]
name = "reports.old"
"#,
    );
    let new = write(
        &dir,
        "new.toml",
        r#"version = 1
[tasks.add]
name = "math.add"
args = { y = "i64", x = "i64" }
result = "f64"
time_limit = "10s"

[tasks.resize]
queue = "images-v2"
args = { width = "u64", height = "u32" }
kwargs = { format = "optional<string>", path = "string" }

[tasks.ping]
acks_late = true
ignore_result = true

[tasks.pong]
time_limit = "5s"

[tasks.report]
"#,
    );
    let (code, out, err) = kombu(&["diff", &old, &new]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "task `add` [destructive]: Celery name `tasks.add` → `math.add`",
        "task `add` [destructive]: positional parameter `y` moved from place 2 to 1",
        "task `add` [destructive]: positional parameter `x` moved from place 1 to 2",
        "task `add` [destructive]: result `i64` → `f64`",
        "task `resize` [destructive]: queue `images` → `images-v2`",
        "task `resize` [destructive]: parameter `width` retyped `u32` → `u64`",
        "task `resize` [destructive]: required parameter `height` added",
        "task `resize` [destructive]: optional parameter `format` added",
        "task `resize` [destructive]: parameter `path` moved from `args` to `kwargs`",
        "task `ping` [destructive]: ignore_result turned on",
        "task `resize` [destructive]: parameter `quality` removed",
        "task `pong` [safe]: options changed",
        "task `report` [safe]: added",
        "task `old_report` [destructive]: removed",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    // Unchanged tasks give no line.
    assert_eq!(kombu(&["diff", &old, &old]).1, "no changes\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_against_the_deployed_version_refuses_breaking_message_changes() {
    let dir = scratch("against");
    let old = write(
        &dir,
        "old.toml",
        r#"version = 1
[messages.video]
fields = { url = "string", codec = "string" }

[messages.order]
compatibility = "forward"
fields = { id = "u64" }
"#,
    );
    let new = write(
        &dir,
        "new.toml",
        r#"version = 1
[messages.video]
fields = { url = "string", codec = "string", width = "u32" }

[messages.order]
compatibility = "forward"
fields = { id = "u64", note = "string" }
"#,
    );
    let (code, out, err) = kombu(&["check", &new, "--against", &old]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("error[E114]: message `video` (backward compatibility): required field `width` added breaks backward compatibility"),
        "{out}"
    );
    assert!(out.contains("new.toml:3:"), "placed at the field: {out}");
    assert!(
        !out.contains("message `order`"),
        "forward allows a field added: {out}"
    );
    // The same files without --against, or against themselves, pass.
    assert_eq!(kombu(&["check", &new]).0, 0);
    assert_eq!(kombu(&["check", &new, "--against", &new]).0, 0);
    // A broken old version is an error of its own.
    let (code, _, err) = kombu(&["check", &new, "--against", "no/such.toml"]);
    assert_eq!(
        code, 2,
        "a version that cannot be compared is not a finding"
    );
    assert!(err.contains("--against"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
