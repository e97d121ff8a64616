//! `kombu asyncapi` and `kombu import --asyncapi` as a user runs them. The documents kombu
//! writes are validated against the official AsyncAPI JSON Schema (the `@asyncapi/specs`
//! package, through `scripts/asyncapi/validate.mjs`), beside real projects' documents (the
//! examples `@asyncapi/cli` ships: Slack's, Gitter's, Kraken's and Adeo's APIs, an AMQP RPC
//! server and client), which pass the same validation and are read by the import.
//!
//! The validator and the documents come from `scripts/asyncapi/setup.sh`
//! (`KOMBU_ASYNCAPI_DIR`, else `<workspace>/target/asyncapi`). Without them these tests are
//! skipped, unless `KOMBU_REQUIRE_BROKER=1` (CI), where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{kombu, workspace};

/// The validator's directory, when it is installed.
fn validator() -> Option<PathBuf> {
    let dir = std::env::var_os("KOMBU_ASYNCAPI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/asyncapi"));
    let ready = dir.join("validate.mjs").is_file()
        && dir.join("node_modules/@asyncapi/specs").is_dir()
        && dir.join("examples/rpc-server-asyncapi.yml").is_file();
    if ready {
        return Some(dir);
    }
    let problem = format!(
        "no AsyncAPI validator at {} (run scripts/asyncapi/setup.sh)",
        dir.display()
    );
    assert!(
        std::env::var("KOMBU_REQUIRE_BROKER").as_deref() != Ok("1"),
        "the AsyncAPI validator is required (KOMBU_REQUIRE_BROKER=1): {problem}"
    );
    eprintln!("skipped: {problem}");
    None
}

/// Runs the validator over `files`: each file's verdict line, and whether all were valid.
fn validate(dir: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new("node")
        .arg(dir.join("validate.mjs"))
        .args(files)
        .output()
        .expect("node runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kombu-asyncapi-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every topology the repository checks in as valid.
fn topologies() -> Vec<String> {
    let mut files = vec![
        "examples/media/topology.toml".to_owned(),
        "examples/media/topology.yaml".to_owned(),
        "examples/feed/topology.toml".to_owned(),
        "examples/celery/topology.toml".to_owned(),
    ];
    for dir in [
        "kombu-build-tests/corpus",
        "kombu/tests/fixtures/topology/valid",
    ] {
        let mut found: Vec<String> = std::fs::read_dir(workspace().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_str().unwrap()))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

#[test]
fn the_documents_kombu_writes_validate_against_the_official_schema() {
    let Some(dir) = validator() else { return };
    let out = scratch("validate");
    let mut written = Vec::new();
    for (i, file) in topologies().iter().enumerate() {
        for format in ["yaml", "json"] {
            let (code, doc, err) = kombu(&[
                "asyncapi",
                file,
                "--format",
                format,
                "--server",
                "amqp://rabbitmq.internal:5672/billing",
                "--vhost",
                "billing",
            ]);
            assert_eq!(code, 0, "{file}: {err}");
            let path = out.join(format!("{i}.{format}"));
            std::fs::write(&path, doc).unwrap();
            written.push(path);
        }
    }
    // What a reviewer reads, for the example a README shows.
    let (_, media, _) = kombu(&["asyncapi", "examples/media/topology.toml"]);
    insta::assert_snapshot!("asyncapi_media", media);
    let (ok, report) = validate(&dir, &written);
    assert!(ok, "{report}");
    assert_eq!(report.matches("valid ").count(), written.len(), "{report}");

    // The validator is not vacuous: a document with an AMQP binding AsyncAPI does not allow
    // (an exchange on a queue channel) and an operation sending a message its channel does
    // not carry is refused, with both problems named.
    let (_, doc, _) = kombu(&[
        "asyncapi",
        "examples/media/topology.toml",
        "--format",
        "json",
    ]);
    let mut doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    doc["channels"]["video"]["bindings"]["amqp"]["exchange"] = serde_json::json!({"name": "x"});
    doc["operations"]["media.publish_video"]["messages"][0]["$ref"] =
        "#/channels/image/messages/image".into();
    let broken = out.join("broken.json");
    std::fs::write(&broken, serde_json::to_string(&doc).unwrap()).unwrap();
    let (ok, report) = validate(&dir, &[broken]);
    assert!(!ok, "{report}");
    assert!(report.contains("/channels/video/bindings/amqp"), "{report}");
    assert!(
        report.contains("is not a message of its channel #/channels/media"),
        "{report}"
    );
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn real_projects_documents_pass_the_same_validation() {
    let Some(dir) = validator() else { return };
    let examples = dir.join("examples");
    let files: Vec<PathBuf> = [
        "slack-rtm-asyncapi.yml",
        "gitter-streaming-asyncapi.yml",
        "kraken-websocket-request-reply-multiple-channels-asyncapi.yml",
        "adeo-kafka-request-reply-asyncapi.yml",
        "rpc-server-asyncapi.yml",
        "rpc-client-asyncapi.yml",
    ]
    .iter()
    .map(|f| examples.join(f))
    .chain([workspace().join("kombu-cli/tests/fixtures/asyncapi/shipping-2.6.yaml")])
    .collect();
    let (ok, report) = validate(&dir, &files);
    assert!(ok, "{report}");
    assert_eq!(report.matches("valid ").count(), files.len(), "{report}");
}

#[test]
fn an_amqp_rpc_document_imports_into_a_topology_that_checks() {
    let Some(dir) = validator() else { return };
    let out = scratch("rpc");
    for (doc, expect) in [
        (
            "rpc-server-asyncapi.yml",
            // The server consumes `rpc_queue` (not durable) with the `sum` message.
            [
                "[queues.rpc_queue]\ndurable = false",
                "[messages.sum.fields]\nnumbers = \"optional<list<f64>>\"",
                "[consumers.sum.queues]\nrpc_queue = \"sum\"",
            ],
        ),
        (
            "rpc-client-asyncapi.yml",
            // The client sends `requestSum` to `rpc_queue` through the default exchange.
            [
                "[producers.default_exchange]\nexchange = \"\"",
                "message = \"requestSum\"\nrouting_key = \"rpc_queue\"",
                "[messages.receiveSumResult.fields]\nresult = \"optional<f64>\"",
            ],
        ),
    ] {
        let file = dir.join("examples").join(doc);
        let (code, topology, notes) = kombu(&["import", "--asyncapi", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{doc}: {notes}");
        for e in expect {
            assert!(topology.contains(e), "{doc}: no `{e}` in\n{topology}");
        }
        // The reply queue's address is chosen at run time: listed, not declared.
        assert!(
            notes.contains("channel `queue`: its address ({queue}) is chosen at run time"),
            "{doc}: {notes}"
        );
        assert!(notes.contains("its `correlationId`"), "{doc}: {notes}");
        let path = out.join(doc.replace(".yml", ".toml"));
        std::fs::write(&path, &topology).unwrap();
        let (code, _, err) = kombu(&["check", path.to_str().unwrap()]);
        assert_eq!(
            code, 0,
            "{doc}: the imported topology does not check: {err}"
        );
    }
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn a_document_without_rabbitmq_channels_imports_its_message_types_and_says_what_it_left() {
    let Some(dir) = validator() else { return };
    let file = dir.join("examples/slack-rtm-asyncapi.yml");
    let (code, topology, notes) = kombu(&["import", "--asyncapi", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{notes}");
    assert!(
        notes.contains("channel `root`: no AMQP binding and no AMQP server"),
        "{notes}"
    );
    assert!(notes.contains("security schemes"), "{notes}");
    // Its 50-odd message types are there, nested objects as message types of their own.
    assert!(topology.contains("[messages.hello.fields]"), "{topology}");
    assert!(
        topology.contains("bot = \"optional<botAdded_bot>\""),
        "{topology}"
    );
    assert!(!topology.contains("[exchanges."), "{topology}");
}

#[test]
fn an_asyncapi_2_6_document_imports_with_its_routes_and_types() {
    let file = "kombu-cli/tests/fixtures/asyncapi/shipping-2.6.yaml";
    let (code, topology, notes) = kombu(&["import", "--asyncapi", file]);
    assert_eq!(code, 0, "{notes}");
    insta::assert_snapshot!("import_asyncapi_2_6", topology);
    for note in [
        "the AMQP `priority` (a producer method has no such setting)",
        "servers production",
        "list their allowed values",
    ] {
        assert!(notes.contains(note), "no `{note}` in {notes}");
    }
    // `subscribe` (the service sends) is a producer method with the channel's address as
    // its routing key; `publish` (it receives) a consumer.
    assert!(
        topology.contains("message = \"dispatched\"\nrouting_key = \"shipment.dispatched\""),
        "{topology}"
    );
    assert!(
        topology.contains("[consumers.handleCommand.queues]\n\"shipping.commands\" = \"command\""),
        "{topology}"
    );
}

#[test]
fn asyncapi_then_import_gives_back_the_topology() {
    let out = scratch("roundtrip");
    for file in topologies() {
        let (code, doc, err) = kombu(&["asyncapi", &file]);
        assert_eq!(code, 0, "{file}: {err}");
        let doc_path = out.join("doc.yaml");
        std::fs::write(&doc_path, doc).unwrap();
        let (code, back, err) = kombu(&["import", "--asyncapi", doc_path.to_str().unwrap()]);
        assert_eq!(code, 0, "{file}: {err}");
        assert!(
            err.is_empty(),
            "{file}: a kombu document lost something: {err}"
        );
        let back_path = out.join("back.toml");
        std::fs::write(&back_path, back).unwrap();
        // `kombu diff` finds no change between the file and what came back.
        let (code, diff, err) = kombu(&["diff", &file, back_path.to_str().unwrap()]);
        assert_eq!(code, 0, "{file}: {err}");
        assert!(
            diff.to_lowercase().contains("no changes"),
            "{file}:\n{diff}"
        );
    }
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn bad_input_gets_a_clear_error() {
    let out = scratch("bad");
    for (name, text, expect) in [
        ("not.yaml", "asyncapi: [", "not YAML"),
        ("old.yaml", "asyncapi: 1.2.0\ninfo: {}", "only 2.x and 3.x documents are read"),
        ("none.yaml", "openapi: 3.0.0", "not an AsyncAPI document"),
        (
            "badqueue.yaml",
            "asyncapi: 3.0.0\ninfo: {title: t, version: '1'}\nchannels:\n  q:\n    address: q\n    bindings:\n      amqp:\n        is: queue\n        queue: {name: q}\n        x-kombu-queue: {max_length: -1}\n",
            "channel `q`: the queue `q`",
        ),
    ] {
        let path = out.join(name);
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = kombu(&["import", "--asyncapi", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(expect), "{name}: {err}");
    }
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn every_example_document_imports_into_a_topology_that_checks() {
    let Some(dir) = validator() else { return };
    let out = scratch("every");
    let mut docs: Vec<PathBuf> = std::fs::read_dir(dir.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 20, "{docs:?}");
    for doc in docs {
        let (code, topology, notes) = kombu(&["import", "--asyncapi", doc.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {notes}", doc.display());
        let path = out.join("imported.toml");
        std::fs::write(&path, &topology).unwrap();
        let (code, report, _) = kombu(&["check", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {report}\n{topology}", doc.display());
    }
    std::fs::remove_dir_all(out).unwrap();
}

/// A 3.0 document with these component schemas and one message whose payload is `payload`.
fn document(schemas: serde_json::Value, payload: serde_json::Value) -> String {
    serde_json::json!({
        "asyncapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "channels": {"q": {"address": "q", "messages": {"m": {"$ref": "#/components/messages/m"}},
            "bindings": {"amqp": {"is": "queue", "queue": {"name": "q"}}}}},
        "operations": {"c.q": {"action": "receive", "channel": {"$ref": "#/channels/q"},
            "messages": [{"$ref": "#/channels/q/messages/m"}]}},
        "components": {"messages": {"m": {"payload": payload}}, "schemas": schemas}
    })
    .to_string()
}

fn import_text(name: &str, text: &str) -> (i32, String, String) {
    let dir = scratch(name);
    let path = dir.join("doc.json");
    std::fs::write(&path, text).unwrap();
    let out = kombu(&["import", "--asyncapi", path.to_str().unwrap()]);
    if out.0 == 0 {
        // What the import prints checks.
        let file = dir.join("imported.toml");
        std::fs::write(&file, &out.1).unwrap();
        let (code, report, _) = kombu(&["check", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {report}\n{}", out.1);
    }
    std::fs::remove_dir_all(dir).unwrap();
    out
}

#[test]
fn hostile_documents_are_read_or_refused_without_crashing() {
    use serde_json::json;
    // Cycles through arrays, maps and nullable wrappers: any JSON value, noted.
    for (name, schema) in [
        (
            "array",
            json!({"type": "array", "items": {"$ref": "#/components/schemas/a"}}),
        ),
        (
            "map",
            json!({"type": "object", "additionalProperties": {"$ref": "#/components/schemas/a"}}),
        ),
        (
            "nullable",
            json!({"anyOf": [{"$ref": "#/components/schemas/a"}, {"type": "null"}]}),
        ),
    ] {
        let doc = document(
            json!({ "a": schema }),
            json!({"type": "object", "properties": {"x": {"$ref": "#/components/schemas/a"}}}),
        );
        let (code, _, err) = import_text(name, &doc);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(err.contains("too deeply"), "{name}: {err}");
    }
    // A chain of 3,000 referenced messages (kombu's own output for a long chain looks so):
    // read one after the other, not by recursion.
    let mut schemas = serde_json::Map::new();
    for i in 0..3000 {
        let next = if i + 1 < 3000 {
            json!({"$ref": format!("#/components/schemas/s{}", i + 1)})
        } else {
            json!({"type": "string"})
        };
        schemas.insert(
            format!("s{i}"),
            json!({"type": "object", "properties": {"next": next}, "required": ["next"]}),
        );
    }
    let doc = document(
        serde_json::Value::Object(schemas),
        json!({"$ref": "#/components/schemas/s0"}),
    );
    let (code, topology, err) = import_text("chain", &doc);
    assert_eq!(code, 0, "{err}");
    assert!(topology.contains("[messages.s2999.fields]"), "{err}");
    // An operation without messages takes every message of its channel: 300 operations on a
    // channel of 300 messages would be 90,000 methods, which is refused.
    let mut messages = serde_json::Map::new();
    let mut operations = serde_json::Map::new();
    for i in 0..300 {
        messages.insert(
            format!("m{i}"),
            json!({"payload": {"type": "object", "properties": {}}}),
        );
        operations.insert(
            format!("p.o{i}"),
            json!({"action": "send", "channel": {"$ref": "#/channels/x"}}),
        );
    }
    let doc = json!({
        "asyncapi": "3.0.0", "info": {"title": "t", "version": "1"},
        "channels": {"x": {"address": "x", "messages": messages,
            "bindings": {"amqp": {"is": "routingKey", "exchange": {"name": "x", "type": "topic"}}}}},
        "operations": operations
    });
    let (code, _, err) = import_text("amplified", &doc.to_string());
    assert_eq!(code, 2);
    assert!(err.contains("more than 50000"), "{err}");
    // 5,000 messages of one name get 5,000 names.
    let mut messages = serde_json::Map::new();
    for i in 0..5000 {
        messages.insert(
            format!("m{i}"),
            json!({"name": "same", "payload": {"type": "object", "properties": {}}}),
        );
    }
    let doc = json!({"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"}, "components": {"messages": messages}});
    let (code, topology, err) = import_text("same", &doc.to_string());
    assert_eq!(code, 0, "{err}");
    assert!(
        topology.contains("[messages.same_5000.fields]"),
        "{}",
        &topology[topology.len() - 300..]
    );
}

#[test]
fn names_references_and_predeclared_exchanges_from_real_world_documents() {
    use serde_json::json;
    // Schema titles and keys that are not names, and one that is a type's name.
    let doc = document(
        json!({
            "com.example.Line": {"title": "Order Line", "type": "object", "properties": {"sku": {"type": "string"}}},
            "s": {"title": "string", "type": "object", "properties": {"n": {"type": "integer"}}},
            "base": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
        }),
        json!({"type": "object",
        "allOf": [{"$ref": "#/components/schemas/base"}, {"properties": {"extra": {"description": "anything"}}}],
        "properties": {
            "line": {"$ref": "#/components/schemas/com.example.Line"},
            "s": {"$ref": "#/components/schemas/s"},
            "any": {"type": "object", "additionalProperties": {}}
        }}),
    );
    let (code, topology, err) = import_text("names", &doc);
    assert_eq!(code, 0, "{err}");
    for want in [
        "line = \"optional<Order_Line>\"",
        "s = \"optional<string_message>\"",
        // allOf's parts are merged: `id` required from `base`, `extra` optional any value.
        "id = \"string\"",
        "[messages.m.fields.extra]\ntype = \"optional<json>\"",
        "any = \"optional<map<json>>\"",
    ] {
        assert!(topology.contains(want), "no `{want}` in\n{topology}");
    }
    // Receiving from `amq.topic` binds with `#`; from the default exchange by a queue's name
    // reads that queue.
    let doc = json!({
        "asyncapi": "3.0.0", "info": {"title": "t", "version": "1"},
        "channels": {
            "events": {"address": "amq.topic", "messages": {"e": {"payload": {"type": "object", "properties": {}}}},
                "bindings": {"amqp": {"is": "routingKey", "exchange": {"name": "amq.topic", "type": "topic"}}}},
            "tasks": {"address": "tasks", "messages": {"t": {"payload": {"type": "object", "properties": {}}}},
                "bindings": {"amqp": {"is": "routingKey", "exchange": {"type": "default"}}}},
            "order placed": {"address": "order placed", "messages": {"o": {"payload": {"type": "object", "properties": {}}}},
                "bindings": {"amqp": {"is": "queue", "queue": {"name": "order placed"}}}}
        },
        "operations": {
            "listen": {"action": "receive", "channel": {"$ref": "#/channels/events"}},
            "work": {"action": "receive", "channel": {"$ref": "#/channels/tasks"}},
            "ship": {"action": "receive", "channel": {"$ref": "#/channels/order%20placed"},
                "messages": [{"$ref": "#/channels/order%20placed/messages/o"}]}
        }
    });
    let (code, topology, err) = import_text("predeclared", &doc.to_string());
    assert_eq!(code, 0, "{err}");
    for want in [
        "[[queues.listen.bindings]]\nexchange = \"amq.topic\"\nrouting_key = \"#\"",
        "[consumers.work.queues]\ntasks = \"t\"",
        "[consumers.ship.queues]\n\"order placed\" = \"o\"",
    ] {
        assert!(topology.contains(want), "no `{want}` in\n{topology}");
    }
    assert!(!topology.contains("[exchanges"), "{topology}");
}
