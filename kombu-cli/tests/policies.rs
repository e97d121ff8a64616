//! Policies in the `kombu` binary: `explain`, and (against the real broker) policy hints
//! that converge and policy plan/apply.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{broker_available, kombu, workspace};
use std::process::Command;

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

// ---- diff hints for the policy class --------------------------------------------------

/// The changes of `kombu diff OLD NEW --format json`.
fn diff_json(old: &str, new: &str) -> Vec<serde_json::Value> {
    // One directory per call: tests run in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kombu-hint-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("old.toml"), dir.join("new.toml"));
    std::fs::write(&a, old).unwrap();
    std::fs::write(&b, new).unwrap();
    let (code, out, err) = kombu(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_policy_that_cannot_reach_the_new_value_is_a_recreate_with_the_reason() {
    let old = "version = 1\n[exchanges.x]\n[queues.q]\nmax_length = 100\ndead_letter_exchange = \"x\"\nbindings = [{ exchange = \"x\", routing_key = \"q\" }]\n[exchanges.y]\n[queues.yq]\nbindings = [{ exchange = \"y\" }]\n";
    // Raising a limit: RabbitMQ takes the lesser of argument and policy on a classic queue.
    let raised = old.replace("max_length = 100", "max_length = 200");
    let c = &diff_json(old, &raised)[0];
    assert_eq!(c["class"], "recreate", "{c}");
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("the lesser of argument and policy wins"),
        "{c}"
    );
    // Another dead-letter exchange: the argument wins over a policy.
    let moved = old.replace(
        "dead_letter_exchange = \"x\"",
        "dead_letter_exchange = \"y\"",
    );
    let c = &diff_json(old, &moved)[0];
    assert_eq!(c["class"], "recreate", "{c}");
    assert!(
        c["hint"].as_str().unwrap().contains("the argument wins"),
        "{c}"
    );
    // Lowering it: one policy, for this queue only, that keeps the policy already there.
    let with_policy = format!(
        "{old}[policies.all]\npattern = \".*\"\napply_to = \"queues\"\ndefinition = {{ max-length-bytes = 1000 }}\n"
    );
    let lowered = with_policy.replace("max_length = 100", "max_length = 50");
    let c = &diff_json(&with_policy, &lowered)[0];
    assert_eq!(c["class"], "policy", "{c}");
    let hint = c["hint"].as_str().unwrap();
    assert!(hint.contains("keep `max_length = 100`"), "{hint}");
    assert!(hint.contains("outranks policy `all`"), "{hint}");
    let block = &hint[hint.find("[policies.").unwrap()..];
    let file =
        kombu::topology::Topology::from_toml_str(&format!("{with_policy}{block}\n")).unwrap();
    let e = file
        .effective("/", kombu::topology::EntityKind::Queue, "q")
        .unwrap();
    assert_eq!(e.policy.as_ref().unwrap().name, "q");
    assert_eq!(
        e.get("max-length").unwrap().value,
        kombu::topology::PolicyValue::Int(50)
    );
    assert_eq!(
        e.get("max-length-bytes").unwrap().value,
        kombu::topology::PolicyValue::Int(1000)
    );
    // It matches nothing else.
    assert!(file
        .effective("/", kombu::topology::EntityKind::Queue, "yq")
        .unwrap()
        .policy
        .is_some_and(|p| p.name == "all"));
}

// ---- against the real broker ----------------------------------------------------------

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-s", "-u", "guest:guest"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const API: &str = "http://127.0.0.1:15672/api";

/// Deletes every queue, exchange and policy whose name starts with the prefix, on drop (so
/// also when an assertion fails).
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for kind in ["policies", "operator-policies", "queues", "exchanges"] {
            let (_, list) = curl(&[&format!("{API}/{kind}/%2F")]);
            let items: serde_json::Value = serde_json::from_str(&list).unwrap_or_default();
            for item in items.as_array().into_iter().flatten() {
                let name = item["name"].as_str().unwrap_or_default();
                if name.starts_with(&self.0) {
                    curl(&["-X", "DELETE", &format!("{API}/{kind}/%2F/{name}")]);
                }
            }
        }
    }
}

/// Polls `check` until it holds or 20 seconds pass (the management API reports a queue's
/// policy with its statistics, a little after the change).
fn eventually(what: &str, mut check: impl FnMut() -> Option<String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match check() {
            None => return,
            Some(why) if std::time::Instant::now() > deadline => panic!("{what}: {why}"),
            Some(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// One key of the policy class: the old and new declaration of the entity, the policy key and
/// the value the broker must end with.
struct Case {
    key: &'static str,
    exchange: bool,
    old: &'static str,
    new: &'static str,
    want: serde_json::Value,
}

#[test]
fn policy_hints_converge_on_rabbitmq() {
    if !broker_available() {
        return;
    }
    let prefix = format!("kombu-hint-{}-", std::process::id());
    let _cleanup = Cleanup(prefix.clone());
    let cases = [
        Case {
            key: "message-ttl",
            exchange: false,
            old: "message_ttl = \"60s\"",
            new: "message_ttl = \"30s\"",
            want: json(30000),
        },
        Case {
            key: "expires",
            exchange: false,
            old: "expires = \"1h\"",
            new: "expires = \"30m\"",
            want: json(1_800_000),
        },
        Case {
            key: "max-length",
            exchange: false,
            old: "max_length = 100",
            new: "max_length = 50",
            want: json(50),
        },
        Case {
            key: "max-length-bytes",
            exchange: false,
            old: "max_length_bytes = 100000",
            new: "max_length_bytes = 5000",
            want: json(5000),
        },
        Case {
            key: "overflow",
            exchange: false,
            old: "",
            new: "overflow = \"reject-publish\"",
            want: json("reject-publish"),
        },
        Case {
            key: "dead-letter-exchange",
            exchange: false,
            old: "",
            new: "dead_letter_exchange = \"DLX\"",
            want: json("DLX"),
        },
        Case {
            key: "dead-letter-routing-key",
            exchange: false,
            old: "",
            new: "dead_letter_routing_key = \"dead\"",
            want: json("dead"),
        },
        Case {
            key: "alternate-exchange",
            exchange: true,
            old: "",
            new: "alternate_exchange = \"DLX\"",
            want: json("DLX"),
        },
    ];
    let dir = std::env::temp_dir().join(format!("kombu-hint-broker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for case in &cases {
        let name = format!("{prefix}{}", case.key);
        let dlx = format!("{prefix}dlx");
        let entity = |settings: &str| {
            let body = if case.exchange {
                format!("[exchanges.\"{name}\"]\n{settings}\n[queues.\"{name}\"]\nbindings = [{{ exchange = \"{name}\", routing_key = \"k\" }}]\n")
            } else {
                format!("[exchanges.\"{name}-x\"]\n[queues.\"{name}\"]\n{settings}\nbindings = [{{ exchange = \"{name}-x\", routing_key = \"k\" }}]\n")
            };
            format!(
                "version = 1\n[exchanges.\"{dlx}\"]\ntype = \"fanout\"\n[queues.\"{dlx}-q\"]\nbindings = [{{ exchange = \"{dlx}\" }}]\n{}",
                body.replace("DLX", &dlx)
            )
        };
        let old = entity(case.old);
        let new = entity(case.new);
        let changes = diff_json(&old, &new);
        let c = changes
            .iter()
            .find(|c| c["class"] == "policy")
            .unwrap_or_else(|| panic!("{}: no policy change in {changes:?}", case.key));
        let hint = c["hint"].as_str().unwrap();
        let block = &hint[hint.find("[policies.").unwrap()..];
        // The old file on the broker, then the file the hint says to write.
        let old_file = dir.join(format!("{}-old.toml", case.key));
        std::fs::write(&old_file, &old).unwrap();
        let (code, out, err) = kombu(&["apply", old_file.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {out}{err}", case.key);
        let hinted = dir.join(format!("{}-hint.toml", case.key));
        std::fs::write(&hinted, format!("{old}{block}\n")).unwrap();
        let (code, out, err) = kombu(&["apply", hinted.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {out}{err}", case.key);
        assert!(out.contains("created policy"), "{}: {out}", case.key);
        // The broker's effective value is the new one.
        let kind = if case.exchange { "exchanges" } else { "queues" };
        let want = case
            .want
            .as_str()
            .map_or_else(|| case.want.clone(), |s| json(s.replace("DLX", &dlx)));
        eventually(&format!("{}: effective value", case.key), || {
            let (_, body) = curl(&[&format!("{API}/{kind}/%2F/{name}")]);
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let effective = if case.exchange {
                // Exchanges name their policy; its definition is what applies.
                let policy = v["policy"].as_str().unwrap_or_default().to_owned();
                let (_, p) = curl(&[&format!("{API}/policies/%2F/{policy}")]);
                let p: serde_json::Value = serde_json::from_str(&p).unwrap_or_default();
                p["definition"][case.key].clone()
            } else {
                v["effective_policy_definition"][case.key].clone()
            };
            (effective != want).then(|| format!("broker has {effective}, want {want}: {v}"))
        });
        // Plan is empty, and a redeclare of the file succeeds (no 406).
        let (code, plan, err) = kombu(&["plan", hinted.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(
            plan.contains(
                "0 to create, 0 to recreate (the broker would refuse a redeclare), 0 to remove"
            ),
            "{}: {plan}",
            case.key
        );
        assert!(
            plan.contains("policies: 0 to create, 0 to update in place, 1 unchanged"),
            "{}: {plan}",
            case.key
        );
        let (code, defs, err) = kombu(&["export", hinted.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let defs: serde_json::Value = serde_json::from_str(&defs).unwrap();
        for (kind, list) in [
            ("exchanges", &defs["exchanges"]),
            ("queues", &defs["queues"]),
        ] {
            for item in list.as_array().unwrap() {
                let n = item["name"].as_str().unwrap();
                let (ok, answer) = curl(&[
                    "-o",
                    "/dev/stderr",
                    "-w",
                    "%{http_code}",
                    "-X",
                    "PUT",
                    "-H",
                    "content-type: application/json",
                    "-d",
                    &item.to_string(),
                    &format!("{API}/{kind}/%2F/{n}"),
                ]);
                assert!(
                    ok && answer.starts_with('2'),
                    "{}: redeclare of {kind} {n} answered {answer}",
                    case.key
                );
            }
        }
    }
}

fn json(v: impl Into<serde_json::Value>) -> serde_json::Value {
    v.into()
}

#[test]
fn plan_and_apply_create_and_update_policies_in_place() {
    if !broker_available() {
        return;
    }
    let prefix = format!("kombu-papply-{}-", std::process::id());
    let _cleanup = Cleanup(prefix.clone());
    let file = std::env::temp_dir().join(format!("{prefix}topology.toml"));
    let text = format!(
        "version = 1\n[exchanges.\"{prefix}x\"]\n[queues.\"{prefix}q\"]\nbindings = [{{ exchange = \"{prefix}x\", routing_key = \"k\" }}]\n[policies.\"{prefix}limits\"]\npattern = \"^{prefix}q$\"\napply_to = \"queues\"\ndefinition = {{ max-length = 10 }}\n[operator_policies.\"{prefix}cap\"]\npattern = \"^{prefix}q$\"\napply_to = \"queues\"\ndefinition = {{ message-ttl = \"1h\" }}\n"
    );
    std::fs::write(&file, &text).unwrap();
    let f = file.to_str().unwrap();
    let (_, plan, _) = kombu(&["plan", f]);
    assert!(
        plan.contains(&format!("create  policy `{prefix}limits`")),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("create  operator policy `{prefix}cap`")),
        "{plan}"
    );
    let (code, out, err) = kombu(&["apply", f]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, plan, _) = kombu(&["plan", f]);
    assert!(
        plan.contains("policies: 0 to create, 0 to update in place, 2 unchanged"),
        "{plan}"
    );
    // A changed definition is put in place.
    std::fs::write(&file, text.replace("max-length = 10", "max-length = 20")).unwrap();
    let (_, plan, _) = kombu(&["plan", f]);
    assert!(
        plan.contains(&format!("update  policy `{prefix}limits`: definition")),
        "{plan}"
    );
    let (code, out, err) = kombu(&["apply", f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("updated policy `{prefix}limits`")),
        "{out}"
    );
    let (_, plan, _) = kombu(&["plan", f]);
    assert!(
        plan.contains("policies: 0 to create, 0 to update in place, 2 unchanged"),
        "{plan}"
    );
    eventually("effective definition", || {
        let (_, body) = curl(&[&format!("{API}/queues/%2F/{prefix}q")]);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let d = &v["effective_policy_definition"];
        (d["max-length"] != 20 || d["message-ttl"] != 3_600_000).then(|| v.to_string())
    });
    let _ = std::fs::remove_file(&file);
}

#[test]
fn diff_shows_added_changed_and_removed_policies_with_what_they_apply_to() {
    let old = "version = 1\n[exchanges.x]\n[queues.q]\nbindings = [{ exchange = \"x\", routing_key = \"q\" }]\n[policies.limits]\npattern = \"^q$\"\napply_to = \"queues\"\ndefinition = { max-length = 10 }\n[policies.gone]\npattern = \"^x$\"\napply_to = \"exchanges\"\ndefinition = { alternate-exchange = \"x\" }\n";
    let new = old
        .replace("max-length = 10", "max-length = 20")
        .replace("[policies.gone]\npattern = \"^x$\"\napply_to = \"exchanges\"\ndefinition = { alternate-exchange = \"x\" }\n", "[operator_policies.cap]\npattern = \".*\"\napply_to = \"queues\"\ndefinition = { message-ttl = \"1h\" }\n");
    let changes = diff_json(old, &new);
    let text: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{} [{}]: {}",
                c["entity"].as_str().unwrap(),
                c["class"].as_str().unwrap(),
                c["change"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        text,
        [
            "policy `limits` [policy]: changed in place: definition { max-length = 10 } → { max-length = 20 }; applies to queue `q`",
            "policy `gone` [policy]: removed: it stops applying to exchange `x`",
            "operator policy `cap` [policy]: added: applies to queue `q`",
        ],
        "{changes:?}"
    );
    assert!(changes[1]["hint"]
        .as_str()
        .unwrap()
        .contains("rabbitmqctl clear_policy gone"));
}

#[test]
fn import_from_a_live_broker_reads_policies_and_operator_policies() {
    if !broker_available() {
        return;
    }
    let prefix = format!("kombu-pimport-{}-", std::process::id());
    let _cleanup = Cleanup(prefix.clone());
    let body = |definition: &str| {
        format!(
            "{{\"pattern\":\"^{prefix}q$\",\"apply-to\":\"queues\",\"priority\":3,\"definition\":{definition}}}"
        )
    };
    for (kind, definition) in [
        ("policies", "{\"max-length\":7,\"message-ttl\":2000}"),
        ("operator-policies", "{\"expires\":60000}"),
    ] {
        let (ok, answer) = curl(&[
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-d",
            &body(definition),
            &format!("{API}/{kind}/%2F/{prefix}p"),
        ]);
        assert!(ok && answer.is_empty(), "{kind}: {answer}");
    }
    let (code, toml, err) = kombu(&["import", "--broker", "http://guest:guest@127.0.0.1:15672"]);
    assert_eq!(code, 0, "{err}");
    // The broker holds whatever other tests left; read the policy tables only (they come
    // last in the file).
    let policies = &toml[toml.find("[policies.").unwrap()..];
    let t = kombu::topology::Topology::from_toml_str(&format!("version = 1\n{policies}"))
        .unwrap_or_else(|d| panic!("{d}"));
    let p = &t.model().policies[&format!("{prefix}p")];
    assert_eq!(p.priority, 3);
    assert_eq!(p.definition.max_length, Some(7));
    assert_eq!(
        p.definition.message_ttl,
        Some(std::time::Duration::from_millis(2000))
    );
    let op = &t.model().operator_policies[&format!("{prefix}p")];
    assert_eq!(
        op.definition.expires,
        Some(std::time::Duration::from_secs(60))
    );
}

#[test]
fn plan_and_apply_name_the_policies_of_other_vhosts_instead_of_skipping_them() {
    if !common::broker_available() {
        return;
    }
    let vhost = common::Vhost::new("policies-elsewhere");
    let file = vhost.file(
        "topology.toml",
        &format!(
            r#"version = 1

[queues.jobs]

[policies.here]
pattern = "^jobs$"
apply_to = "queues"
vhost = "{}"
definition = {{ max-length = 10 }}

[policies.there]
pattern = "^jobs$"
apply_to = "queues"
vhost = "accounting"
definition = {{ max-length = 20 }}
"#,
            vhost.name
        ),
    );
    let (code, plan, err) = vhost.kombu(&["plan", &file]);
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains("create  policy `here`"), "{plan}");
    assert!(
        plan.contains("not compared here") && plan.contains("policy `there` (vhost `accounting`)"),
        "{plan}"
    );
    let (code, json, err) = vhost.kombu(&["plan", &file, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["policies"]["other_vhosts"],
        serde_json::json!([{"kind": "policy", "name": "there", "vhost": "accounting"}])
    );
    let (code, out, err) = vhost.kombu(&["apply", &file]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("policy `there` (vhost `accounting`)"), "{out}");
    // Only this vhost's policy was put in place.
    let policies = vhost.api("GET", "policies", "", None);
    let names: Vec<&str> = policies
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["here"]);
}
