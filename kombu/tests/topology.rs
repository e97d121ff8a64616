//! Topology files: loading TOML, YAML and JSON into one model, the errors and warnings every
//! rule gives (snapshot-tested), the JSON Schema, round trips, routing and `declare_all`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "topology")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kombu::topology::{Code, Severity, Topology, TopologyModel};
use kombu::{FieldTable, FieldValue, Producer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Paths relative to the crate, so that messages (and snapshots) are the same everywhere.
fn fixtures(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/topology").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    out.sort();
    out
}

/// Every topology file under `examples/` (`examples/<name>/topology.{toml,yaml}`).
fn examples() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root().join("../examples")).unwrap() {
        let dir = dir.unwrap().path();
        for ext in ["toml", "yaml", "json"] {
            let file = dir.join(format!("topology.{ext}"));
            if file.exists() {
                out.push(file);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 4, "{out:?}");
    out
}

fn load(path: &Path) -> Result<Topology, kombu::topology::Diagnostics> {
    let _cwd = root();
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(path))
            .unwrap()
            .map(|e| path.join(e.unwrap().file_name()))
            .collect();
        files.sort();
        Topology::from_paths(files.iter().map(|f| root().join(f)))
    } else {
        Topology::from_path(root().join(path))
    }
}

/// The rendered diagnostics with the machine-specific crate root removed.
fn render(text: String) -> String {
    text.replace(&format!("{}/", root().display()), "")
}

fn stem(path: &Path) -> String {
    path.file_name()
        .unwrap()
        .to_string_lossy()
        .replace('.', "_")
}

fn expected_code(path: &Path) -> Code {
    let name = path.file_name().unwrap().to_string_lossy();
    Code::from_code(&name[..4]).unwrap_or_else(|| panic!("{name} does not start with a code"))
}

#[test]
fn toml_and_yaml_versions_of_the_examples_load_to_equal_models() {
    for name in ["media", "feed"] {
        let dir = root().join("../examples").join(name);
        let toml = Topology::from_path(dir.join("topology.toml")).unwrap();
        let yaml = Topology::from_path(dir.join("topology.yaml")).unwrap();
        assert_eq!(toml.model(), yaml.model(), "{name}: TOML and YAML differ");
        assert!(toml.warnings().is_empty(), "{:?}", toml.warnings());
        assert!(!toml.model().messages.is_empty());
    }
}

#[test]
fn examples_compose_into_one_topology() {
    let t = Topology::from_paths(
        examples()
            .iter()
            .filter(|p| p.extension().unwrap() == "toml"),
    )
    .unwrap();
    let names: BTreeSet<&str> = t.model().exchanges.keys().map(String::as_str).collect();
    assert_eq!(names, ["feed", "media", "media-dlx"].into());
    // The same files again (the YAML twins) repeat every entity identically: no conflict.
    let all = Topology::from_paths(examples()).unwrap();
    assert_eq!(all.model(), t.model());
}

#[test]
fn composed_files_in_three_formats() {
    let t = load(Path::new("tests/fixtures/topology/valid/composed")).unwrap();
    assert_eq!(
        t.route("orders", "order.paid", None),
        ["shipping".to_owned()].into()
    );
    let loc = t
        .origin(kombu::topology::EntityKind::Exchange, "orders")
        .unwrap();
    assert!(
        loc.file.ends_with("billing.json"),
        "first declaration wins: {loc}"
    );
    assert!(t.warnings().is_empty(), "{:?}", t.warnings());
}

fn round_trip(model: &TopologyModel) {
    let toml = model.to_toml_string().unwrap();
    let back = Topology::from_toml_str(&toml).unwrap_or_else(|d| panic!("{d}\n{toml}"));
    assert_eq!(back.model(), model, "TOML round trip:\n{toml}");
    let yaml = model.to_yaml_string().unwrap();
    let back = Topology::from_yaml_str(&yaml).unwrap_or_else(|d| panic!("{d}\n{yaml}"));
    assert_eq!(back.model(), model, "YAML round trip:\n{yaml}");
    let json = model.to_json_string().unwrap();
    let back = Topology::from_json_str(&json).unwrap_or_else(|d| panic!("{d}\n{json}"));
    assert_eq!(back.model(), model, "JSON round trip:\n{json}");
}

#[test]
fn models_round_trip_through_toml_yaml_and_json() {
    for path in examples() {
        round_trip(Topology::from_path(&path).unwrap().model());
    }
    for path in fixtures("valid") {
        round_trip(load(&path).unwrap().model());
    }
}

#[test]
fn the_checked_in_schema_is_current() {
    let path = root().join("../schemas/topology.schema.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == kombu::topology::json_schema(),
        "{} is stale: run `cargo run -p kombu --example topology_schema`",
        path.display()
    );
}

fn as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    match path.extension().unwrap().to_str().unwrap() {
        "toml" => serde_json::to_value(toml::from_str::<toml::Value>(&text).unwrap()).unwrap(),
        "yaml" | "yml" => serde_norway::from_str(&text).unwrap(),
        "json" => serde_json::from_str(&text).unwrap(),
        other => panic!("unexpected extension {other}"),
    }
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn examples_and_valid_fixtures_validate_against_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(&kombu::topology::json_schema()).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let mut files = examples();
    all_files(&root().join("tests/fixtures/topology/valid"), &mut files);
    all_files(&root().join("tests/fixtures/topology/warnings"), &mut files);
    assert!(files.len() >= 14);
    for path in files {
        let doc = as_json(&path);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    // And the schema rejects what the loader rejects for shape.
    let bad = as_json(&root().join("tests/fixtures/topology/invalid/E002_unknown_keys.toml"));
    assert!(!validator.is_valid(&bad));
}

#[test]
fn every_example_carries_the_editor_schema_header() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        match path.extension().unwrap().to_str().unwrap() {
            "toml" => assert_eq!(first, "#:schema ../../schemas/topology.schema.json"),
            "yaml" => assert_eq!(
                first,
                "# yaml-language-server: $schema=../../schemas/topology.schema.json"
            ),
            other => panic!("unexpected example {other}"),
        }
    }
}

#[test]
fn invalid_fixtures_report_their_code_with_file_line_and_column() {
    let mut cases = fixtures("invalid");
    assert!(cases.len() >= 18);
    for path in cases.drain(..) {
        let code = expected_code(&path);
        let diagnostics = match load(&path) {
            Ok(_) => panic!("{} loaded", path.display()),
            Err(d) => d,
        };
        assert!(
            diagnostics.errors().any(|d| d.code == code),
            "{}: no {code} in\n{diagnostics}",
            path.display()
        );
        for d in diagnostics.iter() {
            let loc = d
                .location
                .as_ref()
                .unwrap_or_else(|| panic!("{d} has no place"));
            assert!(loc.file.contains("fixtures/topology/invalid"), "{loc}");
            assert!(loc.line >= 1 && loc.column >= 1);
            assert!(!loc.source_line.is_empty(), "{d}");
        }
        insta::assert_snapshot!(
            format!("invalid_{}", stem(&path)),
            render(diagnostics.to_string())
        );
    }
}

#[test]
fn warning_fixtures_load_with_their_warning() {
    for path in fixtures("warnings") {
        let code = expected_code(&path);
        assert_eq!(code.severity(), Severity::Warning);
        let t = load(&path).unwrap_or_else(|d| panic!("{}: {d}", path.display()));
        assert!(
            t.warnings().iter().any(|d| d.code == code),
            "{}: {:?}",
            path.display(),
            t.warnings()
        );
        let text: Vec<String> = t.warnings().iter().map(|d| d.to_string()).collect();
        insta::assert_snapshot!(format!("warnings_{}", stem(&path)), render(text.join("\n")));
    }
}

#[test]
fn every_code_has_a_fixture_and_an_explanation() {
    let mut covered: BTreeSet<Code> = BTreeSet::new();
    for path in fixtures("invalid").into_iter().chain(fixtures("warnings")) {
        covered.insert(expected_code(&path));
    }
    covered.insert(Code::Io); // unreadable_files_are_reported
                              // A `rust_name` that is not an identifier is found by code generation's check (kombu-build,
                              // run by `kombu check`): kombu-build-tests/corpus/refused/rust_name_not_an_identifier.toml.
    covered.insert(Code::NotAnIdentifier);
    // An incompatible message change needs two versions: compatibility_modes_on_each_kind_of_change.
    covered.insert(Code::IncompatibleMessageChange);
    let docs = std::fs::read_to_string(root().join("../docs/topology.md")).unwrap();
    for code in Code::ALL {
        assert!(covered.contains(code), "no fixture for {code}");
        assert_eq!(Code::from_code(code.as_str()), Some(*code));
        assert!(
            code.explanation().len() > 80,
            "{code} needs a real explanation"
        );
        assert!(
            docs.contains(code.as_str()),
            "docs/topology.md does not list {code}"
        );
    }
}

#[test]
fn unreadable_files_are_reported() {
    let err = Topology::from_paths(["no/such/topology.toml", "topology.ini"]).unwrap_err();
    let codes: Vec<Code> = err.errors().map(|d| d.code).collect();
    assert_eq!(codes, [Code::Io, Code::Io]);
    let text = err.to_string();
    assert!(text.contains("no/such/topology.toml"), "{text}");
    assert!(text.contains("unknown topology file format"), "{text}");
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let d = load(Path::new(
        "tests/fixtures/topology/invalid/E003_invalid_values.toml",
    ))
    .unwrap_err();
    // Several bad values in one queue, and more in a consumer: every one is reported.
    assert_eq!(d.errors().count(), 7, "{d}");
    let d = load(Path::new(
        "tests/fixtures/topology/invalid/E002_unknown_keys.toml",
    ))
    .unwrap_err();
    assert_eq!(d.errors().count(), 5, "{d}");
    assert!(d.to_string().contains("did you mean `durable`?"));
    assert!(d.to_string().contains("did you mean `routing_key`?"));
}

#[test]
fn a_diagnostic_shows_the_offending_line_with_a_caret() {
    let d = Topology::from_toml_str("version = 1\n\n[queues.video]\nmax_priority = \"high\"\n")
        .unwrap_err();
    assert_eq!(
        d.to_string(),
        "error[E003]: queue `video`: invalid type: string \"high\", expected u8\n --> <toml>:4:16\n  |\n4 | max_priority = \"high\"\n  |                ^^^^^^\n\n1 error and 0 warnings"
    );
    let err: kombu::Error = d.into();
    assert_eq!(err.kind(), kombu::ErrorKind::InvalidTopology);
}

#[test]
fn routing_follows_rabbitmq_rules() {
    let t = load(Path::new(
        "tests/fixtures/topology/valid/headers_and_e2e.toml",
    ))
    .unwrap();
    let headers: FieldTable = [
        ("kind".to_owned(), FieldValue::from("invoice")),
        ("region".to_owned(), FieldValue::from("eu")),
    ]
    .into();
    let set = |items: &[&str]| {
        items
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<String>>()
    };
    // topic → exchange-to-exchange → headers (all must match), plus the catch-all `#`.
    assert_eq!(
        t.route("events", "billing.invoice", Some(&headers)),
        set(&["audit", "invoices"])
    );
    let us: FieldTable = [
        ("kind".to_owned(), FieldValue::from("invoice")),
        ("region".to_owned(), FieldValue::from("us")),
    ]
    .into();
    assert_eq!(t.route("billing", "", Some(&us)), set(&[]));
    // Predeclared exchanges and the default exchange are known.
    assert_eq!(t.route("", "invoices", None), set(&["invoices"]));
    assert_eq!(t.route("amq.topic", "x", None), set(&[]));
}

#[test]
fn the_model_converts_to_runtime_declarations() {
    let t = load(Path::new(
        "tests/fixtures/topology/valid/headers_and_e2e.toml",
    ))
    .unwrap();
    let invoices = t.queue("invoices").unwrap();
    let args = invoices.declare_arguments();
    assert_eq!(args["x-queue-type"], FieldValue::from("quorum"));
    assert_eq!(args["x-overflow"], FieldValue::from("reject-publish"));
    assert_eq!(args["x-delivery-limit"], FieldValue::I32(5));
    assert_eq!(invoices.bindings[0].exchange.name, "billing");
    assert_eq!(
        invoices.bindings[0].arguments["x-match"],
        FieldValue::from("all")
    );
    let billing = t.exchange("billing").unwrap();
    assert_eq!(billing.kind, kombu::ExchangeKind::Headers);
    assert_eq!(billing.bindings[0].exchange.name, "events");
    assert_eq!(billing.bindings[0].routing_key, "billing.#");
    let events = t.exchange("events").unwrap();
    assert_eq!(
        events.arguments["alternate-exchange"],
        FieldValue::from("unrouted")
    );
    // Settings come as the arguments the broker receives, the form generated code has too.
    let unrouted = t.queue("unrouted").unwrap();
    assert_eq!(unrouted.message_ttl, None);
    assert_eq!(
        unrouted.arguments["x-message-ttl"],
        FieldValue::I32(3_600_000)
    );
    assert_eq!(t.exchanges().len(), 3);
    assert_eq!(t.queues().len(), 3);
}

/// The media example with names unique to this run, so it can be declared on a shared broker.
fn media_topology(test: &str) -> (Topology, String, String) {
    let exchange = common::name(test, "media");
    let queue = common::name(test, "video");
    let text = format!(
        r#"
version = 1
[exchanges."{exchange}"]
type = "direct"
durable = false
auto_delete = true
[exchanges."{exchange}-dlx"]
type = "fanout"
durable = false
auto_delete = true
[queues."{queue}"]
durable = false
auto_delete = true
dead_letter_exchange = "{exchange}-dlx"
max_priority = 5
bindings = [{{ exchange = "{exchange}", routing_key = "video" }}]
[queues."{queue}-failed"]
durable = false
auto_delete = true
bindings = [{{ exchange = "{exchange}-dlx" }}]
"#
    );
    (Topology::from_toml_str(&text).unwrap(), exchange, queue)
}

#[tokio::test]
async fn declare_all_declares_what_the_file_says() {
    let test = common::test_name!();
    let (conn, channel) = common::open(test).await;
    let (t, exchange, queue) = media_topology(test);
    t.declare_all(&channel).await.unwrap();
    // Declared as the file says: a passive declare finds it, and an unequal redeclare is refused.
    let video = t.queue(&queue).unwrap().attach(&channel);
    assert_eq!(video.status().await.unwrap().message_count, 0);
    // Routing works through what was declared.
    let producer = Producer::new(&channel).exchange(t.exchange(&exchange).unwrap());
    producer
        .publish(&serde_json::json!({"name": "a.avi"}))
        .routing_key("video")
        .await
        .unwrap();
    let m = common::get_one(&video).await;
    assert_eq!(common::str_field(&m, "name"), "a.avi");
    // Rejecting dead-letters to the declared fanout exchange and on to the failed queue.
    m.reject().unwrap();
    let failed = t
        .queue(&format!("{queue}-failed"))
        .unwrap()
        .attach(&channel);
    let dead = common::get_one(&failed).await;
    assert_eq!(common::str_field(&dead, "name"), "a.avi");
    dead.ack().unwrap();
    // declare_all is idempotent.
    t.declare_all(&channel).await.unwrap();
    video.delete(false, false).await.unwrap();
    failed.delete(false, false).await.unwrap();
    drop(conn);
}

#[tokio::test]
async fn declare_all_reports_a_refused_declaration_with_the_broker_reply() {
    let test = common::test_name!();
    let (_conn, channel) = common::open(test).await;
    let (t, _, queue) = media_topology(test);
    // Someone declared the queue with other settings first.
    let mut other = kombu::Queue::new(queue.clone())
        .durable(false)
        .auto_delete(true)
        .attach(&channel);
    other.declare().await.unwrap();
    let err = t.declare_all(&channel).await.unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert!(err.to_string().contains(&queue), "{err}");
    let channel = _conn.channel().await.unwrap();
    kombu::Queue::new(queue)
        .attach(&channel)
        .delete(false, false)
        .await
        .unwrap();
}

#[test]
fn valid_fixtures_and_examples_load_without_warnings() {
    for path in fixtures("valid").into_iter().chain(examples()) {
        let t = load(&path).unwrap_or_else(|d| panic!("{}: {d}", path.display()));
        assert!(
            t.warnings().is_empty(),
            "{}: {:?}",
            path.display(),
            t.warnings()
        );
    }
}

/// `check_compatibility` (`kombu check --against`): each kind of message-type change under
/// each mode, refused exactly when it breaks the direction the mode protects.
#[test]
fn compatibility_modes_on_each_kind_of_change() {
    use kombu::topology::check_compatibility;

    // (what, old message body, new message body, breaks backward, breaks forward)
    let cases: &[(&str, &str, &str, bool, bool)] = &[
        (
            "optional field added",
            r#"fields = { a = "string" }"#,
            r#"fields = { a = "string", b = "optional<u32>" }"#,
            false,
            false,
        ),
        (
            "required field added",
            r#"fields = { a = "string" }"#,
            r#"fields = { a = "string", b = "u32" }"#,
            true,
            false,
        ),
        (
            "optional field removed",
            r#"fields = { a = "string", b = "optional<u32>" }"#,
            r#"fields = { a = "string" }"#,
            false,
            false,
        ),
        (
            "required field removed",
            r#"fields = { a = "string", b = "u32" }"#,
            r#"fields = { a = "string" }"#,
            false,
            true,
        ),
        (
            "retyped",
            r#"fields = { a = "string" }"#,
            r#"fields = { a = "bool" }"#,
            true,
            true,
        ),
        (
            "widened",
            r#"fields = { a = "u32" }"#,
            r#"fields = { a = "u64" }"#,
            false,
            true,
        ),
        (
            "narrowed",
            r#"fields = { a = "i64" }"#,
            r#"fields = { a = "i32" }"#,
            true,
            false,
        ),
        (
            "made optional",
            r#"fields = { a = "string" }"#,
            r#"fields = { a = "optional<string>" }"#,
            false,
            true,
        ),
        (
            "made required",
            r#"fields = { a = "optional<string>" }"#,
            r#"fields = { a = "string" }"#,
            true,
            false,
        ),
        (
            "list element widened",
            r#"fields = { a = "list<i32>" }"#,
            r#"fields = { a = "list<i64>" }"#,
            false,
            true,
        ),
        (
            "variant added",
            "tag = \"kind\"\nvariants = { a = {} }",
            "tag = \"kind\"\nvariants = { a = {}, b = {} }",
            false,
            true,
        ),
        (
            "variant removed",
            "tag = \"kind\"\nvariants = { a = {}, b = {} }",
            "tag = \"kind\"\nvariants = { a = {} }",
            true,
            false,
        ),
        (
            "variant field added",
            "tag = \"kind\"\nvariants = { a = { fields = { x = \"u8\" } } }",
            "tag = \"kind\"\nvariants = { a = { fields = { x = \"u8\", y = \"u8\" } } }",
            true,
            false,
        ),
        (
            "tag renamed",
            "tag = \"kind\"\nvariants = { a = {} }",
            "tag = \"type\"\nvariants = { a = {} }",
            true,
            true,
        ),
        (
            "struct became an enum",
            r#"fields = { a = "string" }"#,
            "tag = \"kind\"\nvariants = { a = {} }",
            true,
            true,
        ),
        (
            "rust path changed",
            r#"rust = "crate::A""#,
            r#"rust = "crate::B""#,
            true,
            true,
        ),
        (
            "optional became json (a required field)",
            r#"fields = { a = "optional<string>" }"#,
            r#"fields = { a = "json" }"#,
            true,
            true,
        ),
        (
            "json became optional json",
            r#"fields = { a = "json" }"#,
            r#"fields = { a = "optional<json>" }"#,
            false,
            true,
        ),
        (
            "description only",
            r#"fields = { a = "string" }"#,
            "description = \"now documented\"\nfields = { a = \"string\" }",
            false,
            false,
        ),
    ];
    let file = |body: &str, mode: &str| {
        let mode = if mode.is_empty() {
            String::new()
        } else {
            format!("compatibility = \"{mode}\"\n")
        };
        format!("version = 1\n[messages.m]\n{mode}{body}\n")
    };
    for (what, old, new, backward, forward) in cases {
        let old = Topology::from_toml_str(&file(old, "")).unwrap_or_else(|d| panic!("{what}: {d}"));
        for (mode, refused) in [
            ("", *backward),
            ("backward", *backward),
            ("forward", *forward),
            ("full", *backward || *forward),
            ("none", false),
        ] {
            let new =
                Topology::from_toml_str(&file(new, mode)).unwrap_or_else(|d| panic!("{what}: {d}"));
            let found = check_compatibility(old.model(), &new);
            assert_eq!(
                !found.is_empty(),
                refused,
                "{what}, mode `{mode}`: {found:?}"
            );
            for d in &found {
                assert_eq!(d.code, Code::IncompatibleMessageChange);
                assert!(d.location.is_some(), "{d}");
                let rule = if mode.is_empty() { "backward" } else { mode };
                assert!(
                    d.message.contains(&format!("({rule} compatibility)")),
                    "{d}"
                );
            }
        }
    }
    // A type only in one version is not compared; an unchanged one gives nothing.
    let old = Topology::from_toml_str(&file(r#"fields = { a = "string" }"#, "")).unwrap();
    let other =
        Topology::from_toml_str("version = 1\n[messages.n]\nfields = { a = \"u8\" }\n").unwrap();
    assert!(check_compatibility(old.model(), &other).is_empty());
    assert!(check_compatibility(old.model(), &old).is_empty());
}

/// A message held in another's field is checked with the holder's mode too: dropping a
/// required field of a `line_item` breaks the `full` `order` that lists them, whatever
/// `line_item`'s own mode.
#[test]
fn a_held_message_is_checked_with_its_holders_mode() {
    use kombu::topology::check_compatibility;

    let old = Topology::from_toml_str(
        r#"version = 1
[messages.order]
compatibility = "full"
fields = { id = "u64", items = "list<line_item>" }
[messages.line_item]
fields = { sku = "string", qty = "u32" }
"#,
    )
    .unwrap();
    let new = Topology::from_toml_str(
        r#"version = 1
[messages.order]
compatibility = "full"
fields = { id = "u64", items = "list<line_item>" }
[messages.line_item]
fields = { sku = "string" }
"#,
    )
    .unwrap();
    let found = check_compatibility(old.model(), &new);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.contains(
            "message `line_item` (full compatibility, from message `order`, which holds it): required field `qty` removed breaks forward compatibility"
        ),
        "{}",
        found[0]
    );
}
