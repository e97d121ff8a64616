//! Policies in the `kombu` binary: `explain`, and (against the real broker) policy hints
//! that converge and policy plan/apply.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `kombu ARGS` in the workspace root; returns (exit code, stdout, stderr).
fn kombu(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kombu"))
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const POLICIES: &str = "kombu/tests/fixtures/topology/valid/policies.toml";

#[test]
fn explain_names_the_source_of_each_setting() {
    let (code, out, err) = kombu(&["explain", "celery", POLICIES]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "queue celery (classic)
  policy: celery (priority 1)
  operator policy: cap (priority 0)
  message-ttl = 3600000ms  (policy celery)
  expires = 604800000ms  (operator policy cap)
  max-length = 100000  (policy celery); operator policy cap asks 500000
  overflow = \"reject-publish\"  (policy celery)
"
    );
}

#[test]
fn explain_json_and_exchanges() {
    let (code, out, err) = kombu(&["explain", "tasks", POLICIES, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["kind"], "exchange");
    assert_eq!(v[0]["policy"]["name"], "tasks-ae");
    assert_eq!(v[0]["settings"][0]["key"], "alternate-exchange");
    assert_eq!(v[0]["settings"][0]["from"], "policy");
    assert_eq!(v[0]["settings"][0]["value"], "unroutable");
}

#[test]
fn explain_an_unknown_name_fails() {
    let (code, _, err) = kombu(&["explain", "nope", POLICIES]);
    assert_eq!(code, 2);
    assert!(err.contains("no queue or exchange named `nope`"), "{err}");
}

#[test]
fn export_import_and_fmt_keep_policies() {
    let (code, defs, err) = kombu(&["export", POLICIES]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&defs).unwrap();
    let celery = v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "celery")
        .unwrap();
    assert_eq!(celery["pattern"], "^celery$");
    assert_eq!(celery["apply-to"], "queues");
    assert_eq!(celery["priority"], 1);
    assert_eq!(celery["definition"]["message-ttl"], 3_600_000);
    assert_eq!(v["parameters"][0]["component"], "operator_policy");
    assert_eq!(
        v["parameters"][0]["value"]["definition"]["max-length"],
        500_000
    );

    let dir = std::env::temp_dir().join(format!("kombu-policies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("definitions.json");
    std::fs::write(&json, &defs).unwrap();
    let (code, toml, err) = kombu(&["import", json.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let imported = kombu::topology::Topology::from_toml_str(&toml).unwrap();
    let original = kombu::topology::Topology::from_path(workspace().join(POLICIES)).unwrap();
    // Definitions have no place for a description; everything else comes back.
    let mut without_descriptions = original.model().policies.clone();
    for p in without_descriptions.values_mut() {
        p.description = None;
    }
    assert_eq!(imported.model().policies, without_descriptions);
    assert_eq!(
        imported.model().operator_policies,
        original.model().operator_policies
    );

    let file = dir.join("topology.toml");
    std::fs::write(&file, &toml).unwrap();
    let (code, _, err) = kombu(&["fmt", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = kombu(&["fmt", "--check", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let formatted = kombu::topology::Topology::from_path(&file).unwrap();
    assert_eq!(formatted.model().policies, without_descriptions);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn graph_draws_which_policy_applies_to_which_entity() {
    let (code, out, err) = kombu(&["graph", POLICIES]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(">\"policy celery\"]"), "{out}");
    assert!(out.contains(">\"operator policy cap\"]"), "{out}");
    assert!(out.contains("-.->|\"applies\"| q"), "{out}");
    let (code, out, err) = kombu(&["graph", POLICIES, "--format", "dot"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("label=\"policy tasks-ae\", shape=note"),
        "{out}"
    );
}

#[test]
fn explain_suggests_a_near_name() {
    let (code, _, err) = kombu(&["explain", "celry", POLICIES]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `celery`?"), "{err}");
}
