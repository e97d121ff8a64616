//! Policies and operator policies: the file model, and the effective configuration of queues
//! and exchanges computed by RabbitMQ's per-key rules (see `kombu::topology::effective`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kombu::topology::{EntityKind, PolicyValue, SettingSource, Topology};

fn load(text: &str) -> Topology {
    Topology::from_toml_str(text).unwrap_or_else(|d| panic!("{d}"))
}

fn setting(t: &Topology, kind: EntityKind, name: &str, key: &str) -> (PolicyValue, SettingSource) {
    let e = t.effective("/", kind, name).expect("entity");
    let s = e
        .get(key)
        .unwrap_or_else(|| panic!("{key} unset on {name}: {e:?}"));
    (s.value.clone(), s.source.clone())
}

fn policy(name: &str) -> SettingSource {
    SettingSource::Policy(name.to_owned())
}

const BASE: &str = r#"
version = 1
[exchanges.tasks]
[exchanges.dlx]
type = "fanout"
[queues.dead]
bindings = [{ exchange = "dlx" }]
"#;

#[test]
fn classic_queues_take_the_lesser_of_argument_and_policy_for_limits() {
    let t = load(&format!(
        r#"{BASE}
[queues.small]
max_length = 10
message_ttl = "2s"
bindings = [{{ exchange = "tasks", routing_key = "small" }}]
[queues.big]
max_length = 1000000
bindings = [{{ exchange = "tasks", routing_key = "big" }}]
[policies.limits]
pattern = "^(small|big)$"
apply_to = "queues"
definition = {{ max-length = 500, message-ttl = "1m" }}
"#
    ));
    assert_eq!(
        setting(&t, EntityKind::Queue, "small", "max-length"),
        (PolicyValue::Int(10), SettingSource::Argument)
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "small", "message-ttl"),
        (PolicyValue::Int(2000), SettingSource::Argument)
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "big", "max-length"),
        (PolicyValue::Int(500), policy("limits"))
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "big", "message-ttl"),
        (PolicyValue::Int(60000), policy("limits"))
    );
}

#[test]
fn the_argument_wins_for_the_dead_letter_exchange_and_classic_overflow() {
    let t = load(&format!(
        r#"{BASE}
[exchanges.other]
type = "fanout"
[queues.other-dead]
bindings = [{{ exchange = "other" }}]
[queues.work]
dead_letter_exchange = "dlx"
overflow = "drop-head"
bindings = [{{ exchange = "tasks", routing_key = "work" }}]
[policies.work]
pattern = "^work$"
definition = {{ dead-letter-exchange = "other", overflow = "reject-publish" }}
"#
    ));
    assert_eq!(
        setting(&t, EntityKind::Queue, "work", "dead-letter-exchange"),
        (PolicyValue::Str("dlx".into()), SettingSource::Argument)
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "work", "overflow"),
        (
            PolicyValue::Str("drop-head".into()),
            SettingSource::Argument
        )
    );
    let codes: Vec<&str> = t.warnings().iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["W221", "W221"], "{:?}", t.warnings());
}

#[test]
fn quorum_queues_let_the_policy_win_for_overflow_and_expires() {
    let t = load(&format!(
        r#"{BASE}
[queues.orders]
type = "quorum"
overflow = "drop-head"
expires = "1h"
max_length = 50
bindings = [{{ exchange = "tasks", routing_key = "orders" }}]
[policies.orders]
pattern = "^orders$"
apply_to = "quorum_queues"
definition = {{ overflow = "reject-publish", expires = "2h", max-length = 100, delivery-limit = 3 }}
"#
    ));
    assert_eq!(
        setting(&t, EntityKind::Queue, "orders", "overflow"),
        (PolicyValue::Str("reject-publish".into()), policy("orders"))
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "orders", "expires"),
        (PolicyValue::Int(7_200_000), policy("orders"))
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "orders", "max-length"),
        (PolicyValue::Int(50), SettingSource::Argument)
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "orders", "delivery-limit"),
        (PolicyValue::Int(3), policy("orders"))
    );
}

#[test]
fn a_policy_with_a_key_the_queue_type_does_not_support_does_not_apply() {
    // `delivery-limit` is among the classic queue type's unsupported policies, so the whole
    // policy skips classic queues (rabbit_queue_type:is_policy_applicable/2), and the
    // lower-priority one applies instead.
    let t = load(&format!(
        r#"{BASE}
[queues.classic]
bindings = [{{ exchange = "tasks", routing_key = "c" }}]
[policies.quorum-style]
pattern = ".*"
apply_to = "queues"
priority = 5
definition = {{ delivery-limit = 3, max-length = 10 }}
[policies.fallback]
pattern = "^classic$"
apply_to = "queues"
definition = {{ max-length = 20 }}
"#
    ));
    let e = t.effective("/", EntityKind::Queue, "classic").unwrap();
    assert_eq!(e.policy.as_ref().map(|p| p.name.as_str()), Some("fallback"));
    assert_eq!(
        setting(&t, EntityKind::Queue, "classic", "max-length"),
        (PolicyValue::Int(20), policy("fallback"))
    );
}

#[test]
fn the_highest_priority_wins_and_keys_are_not_merged_across_policies() {
    let t = load(&format!(
        r#"{BASE}
[queues.q]
bindings = [{{ exchange = "tasks", routing_key = "q" }}]
[queues.r]
bindings = [{{ exchange = "tasks", routing_key = "r" }}]
[policies.low]
pattern = ".*"
apply_to = "queues"
definition = {{ message-ttl = "1m" }}
[policies.high]
pattern = "^q$"
apply_to = "queues"
priority = 10
definition = {{ max-length = 5 }}
"#
    ));
    let e = t.effective("/", EntityKind::Queue, "q").unwrap();
    assert_eq!(e.policy.as_ref().map(|p| p.name.as_str()), Some("high"));
    assert!(e.get("message-ttl").is_none(), "{e:?}");
    // `low` still wins on `r`, so it is not shadowed.
    assert!(t.warnings().is_empty(), "{:?}", t.warnings());
}

#[test]
fn operator_policies_cap_numeric_limits_and_override_the_rest() {
    let t = load(&format!(
        r#"{BASE}
[queues.q]
bindings = [{{ exchange = "tasks", routing_key = "q" }}]
[policies.user]
pattern = "^q$"
apply_to = "queues"
definition = {{ max-length = 1000, message-ttl = "10s", overflow = "reject-publish" }}
[operator_policies.cap]
pattern = ".*"
apply_to = "queues"
definition = {{ max-length = 100, message-ttl = "1m", overflow = "drop-head" }}
"#
    ));
    assert_eq!(
        setting(&t, EntityKind::Queue, "q", "max-length"),
        (
            PolicyValue::Int(100),
            SettingSource::OperatorPolicy("cap".into())
        )
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "q", "message-ttl"),
        (PolicyValue::Int(10_000), policy("user"))
    );
    assert_eq!(
        setting(&t, EntityKind::Queue, "q", "overflow"),
        (
            PolicyValue::Str("drop-head".into()),
            SettingSource::OperatorPolicy("cap".into())
        )
    );
}

#[test]
fn exchange_policies_set_the_alternate_exchange_unless_the_argument_does() {
    let t = load(&format!(
        r#"{BASE}
[exchanges.plain]
[exchanges.declared]
alternate_exchange = "dlx"
[queues.q]
bindings = [{{ exchange = "plain", routing_key = "q" }}, {{ exchange = "declared", routing_key = "q" }}, {{ exchange = "tasks", routing_key = "q" }}]
[policies.ae]
pattern = "^(plain|declared)$"
apply_to = "exchanges"
definition = {{ alternate-exchange = "tasks" }}
"#
    ));
    assert_eq!(
        setting(&t, EntityKind::Exchange, "plain", "alternate-exchange"),
        (PolicyValue::Str("tasks".into()), policy("ae"))
    );
    assert_eq!(
        setting(&t, EntityKind::Exchange, "declared", "alternate-exchange"),
        (PolicyValue::Str("dlx".into()), SettingSource::Argument)
    );
    // A queue policy does not apply to exchanges.
    assert!(t
        .effective("/", EntityKind::Queue, "q")
        .unwrap()
        .policy
        .is_none());
}

#[test]
fn policies_of_another_vhost_do_not_apply() {
    let t = load(&format!(
        r#"{BASE}
[queues.q]
bindings = [{{ exchange = "tasks", routing_key = "q" }}]
[policies.elsewhere]
pattern = ".*"
vhost = "staging"
definition = {{ max-length = 1 }}
"#
    ));
    assert!(t
        .effective("/", EntityKind::Queue, "q")
        .unwrap()
        .policy
        .is_none());
    assert!(t
        .effective("staging", EntityKind::Queue, "q")
        .unwrap()
        .policy
        .is_some());
}

#[test]
fn policies_round_trip_through_toml_yaml_and_json() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/topology/valid/policies.toml"),
    )
    .unwrap();
    let t = load(&text);
    let model = t.model();
    assert_eq!(model.policies.len(), 3);
    assert_eq!(model.operator_policies.len(), 1);
    let toml = model.to_toml_string().unwrap();
    assert_eq!(
        Topology::from_toml_str(&toml).unwrap().model(),
        model,
        "{toml}"
    );
    let yaml = model.to_yaml_string().unwrap();
    assert_eq!(
        Topology::from_yaml_str(&yaml).unwrap().model(),
        model,
        "{yaml}"
    );
    let json = model.to_json_string().unwrap();
    assert_eq!(
        Topology::from_json_str(&json).unwrap().model(),
        model,
        "{json}"
    );
}

#[test]
fn a_policy_asking_for_the_value_the_argument_gives_is_not_flagged() {
    let t = load(&format!(
        r#"{BASE}
[queues.q]
max_length = 10
bindings = [{{ exchange = "tasks", routing_key = "q" }}]
[policies.same]
pattern = "^q$"
apply_to = "queues"
definition = {{ max-length = 10 }}
"#
    ));
    assert!(t.warnings().is_empty(), "{:?}", t.warnings());
}
