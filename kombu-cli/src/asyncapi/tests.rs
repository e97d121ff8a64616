//! Topology → AsyncAPI → topology, for the example and corpus topologies: exact with kombu's
//! extensions, and without them equal up to what AsyncAPI's own fields cannot hold (the list
//! `standard_only` applies, which docs/asyncapi.md states).

use std::path::{Path, PathBuf};

use kombu::topology::{Topology, TopologyModel};
use kombu::ExchangeKind;
use serde_json::Value;

use super::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every topology file the repository checks in as valid: the examples, the generator's
/// corpus (hostile names, recursion, tasks, quorum and stream queues) and the valid fixtures.
fn topologies() -> Vec<PathBuf> {
    let root = root();
    let mut files = vec![
        root.join("examples/media/topology.toml"),
        root.join("examples/feed/topology.toml"),
        root.join("examples/celery/topology.toml"),
    ];
    for dir in [
        "kombu-build-tests/corpus",
        "kombu/tests/fixtures/topology/valid",
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

fn document_of(topology: &Topology) -> Value {
    write::document(
        topology,
        &write::Info {
            title: "t",
            version: "1.0.0",
            vhost: "/",
            server: Some("amqp://broker.example:5672/"),
        },
    )
    .unwrap()
}

fn read_back(doc: &Value) -> (TopologyModel, Vec<String>) {
    // Through the text, as a user's file would go.
    let text = text(doc, Format::Yaml).unwrap();
    read::topology(&parse(&text).unwrap()).unwrap()
}

/// The models as TOML, and the lines where they differ.
fn differences(got: &TopologyModel, want: &TopologyModel) -> String {
    let got = got.to_toml_string().unwrap();
    let want = want.to_toml_string().unwrap();
    let mut out = String::new();
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    for i in 0..g.len().max(w.len()) {
        let (a, b) = (g.get(i).copied(), w.get(i).copied());
        if a != b {
            out.push_str(&format!("line {i}: got  {a:?}\n        want {b:?}\n"));
            if out.len() > 3000 {
                break;
            }
        }
    }
    out
}

#[test]
fn every_checked_in_topology_reads_back_as_it_was_written() {
    for file in topologies() {
        let topology = Topology::from_path(&file).unwrap();
        let doc = document_of(&topology);
        let (model, _) = read_back(&doc);
        let mut expected = topology.model().clone();
        expected.schema = None;
        assert!(
            model == expected,
            "{}: the topology read back differs:\n{}",
            file.display(),
            differences(&model, &expected)
        );
        Topology::from_model(model)
            .unwrap_or_else(|d| panic!("{}: {}", file.display(), d.render(false)));
    }
}

/// Removes every `x-kombu-*` key, as a tool that drops extensions would.
fn strip_extensions(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with("x-kombu-"));
            m.values_mut().for_each(strip_extensions);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_extensions),
        _ => {}
    }
}

/// What a topology keeps through AsyncAPI's own fields: this is the list of what travels only
/// in `x-kombu-*` extensions (docs/asyncapi.md, "What needs the extensions").
fn standard_only(model: &TopologyModel) -> TopologyModel {
    let mut m = model.clone();
    m.schema = None;
    m.tasks.clear();
    m.policies.clear();
    m.operator_policies.clear();
    for x in m.exchanges.values_mut() {
        let kind = match &x.kind {
            ExchangeKind::Custom(_) => ExchangeKind::Direct,
            k => k.clone(),
        };
        *x = kombu::topology::ExchangeDef {
            description: x.description.clone(),
            kind,
            durable: x.durable,
            auto_delete: x.auto_delete,
            ..Default::default()
        };
    }
    for q in m.queues.values_mut() {
        *q = kombu::topology::QueueDef {
            description: q.description.clone(),
            durable: q.durable,
            exclusive: q.exclusive,
            auto_delete: q.auto_delete,
            ..Default::default()
        };
    }
    // `bytes` is the JSON of `list<u8>`; only kombu's mark tells them apart.
    let unmark = |f: &mut kombu::topology::At<kombu::topology::FieldDef>| {
        let mut def = f.get().clone();
        def.ty = def
            .ty
            .split_inclusive(['<', '>'])
            .map(|part| match part {
                "bytes" => "list<u8>".to_owned(),
                "bytes>" => "list<u8>>".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        *f = def.into();
    };
    for msg in m.messages.values_mut() {
        msg.fields
            .iter_mut()
            .flat_map(|f| f.values_mut())
            .for_each(unmark);
        for v in msg.variants.iter_mut().flat_map(|v| v.values_mut()) {
            v.fields.values_mut().for_each(unmark);
        }
        msg.rust_name = None;
        msg.compatibility = None;
        // An existing Rust type's schema says nothing of its fields: any JSON value.
        if msg.rust.is_some() {
            msg.rust = Some("::kombu::Value".into());
        }
    }
    for p in m.producers.values_mut() {
        let producer_key = p.routing_key.take();
        for method in p.methods.values_mut() {
            method.routing_key = method.routing_key.take().or(producer_key.clone());
            method.variant = None;
            method.headers.clear();
        }
        p.description = None;
        p.rust_name = None;
        p.serializer = "json".to_owned();
        p.compression = None;
        p.confirm = Default::default();
    }
    for c in m.consumers.values_mut() {
        for q in c.queues.values_mut() {
            let mut consume = q.get().clone();
            consume.ordered = false;
            consume.offset = None;
            *q = consume.into();
        }
        c.description = None;
        c.rust_name = None;
        c.prefetch = kombu::Consumer::DEFAULT_PREFETCH;
        c.concurrency = 1;
        c.on_failure = Default::default();
        c.accept.clear();
    }
    m
}

#[test]
fn without_its_extensions_a_document_keeps_what_asyncapi_can_say() {
    for file in topologies() {
        let topology = Topology::from_path(&file).unwrap();
        let mut doc = document_of(&topology);
        strip_extensions(&mut doc);
        let (model, _) = read_back(&doc);
        let mut expected = standard_only(topology.model());
        // Producer and consumer names come back from operation ids (`producer.method`,
        // `consumer.channel`) where the ids kept them: not where a name is not an id
        // (`orders:v1`), or two operations would have had one id.
        let mut wanted: Vec<String> = Vec::new();
        for (p, def) in &topology.model().producers {
            for m in def.methods.keys() {
                wanted.push(format!("{p}.{}", m.as_str()));
            }
        }
        for (c, def) in &topology.model().consumers {
            for q in def.queues.keys() {
                let channel = doc["channels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .find(|(_, ch)| {
                        ch["bindings"]["amqp"]["queue"]["name"].as_str() == Some(q.as_str())
                    })
                    .map(|(id, _)| id.clone())
                    .unwrap_or_default();
                wanted.push(format!("{c}.{channel}"));
            }
        }
        let mut got: Vec<String> = doc["operations"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        got.sort();
        wanted.sort();
        let names_survive = got == wanted;
        if !names_survive {
            eprintln!(
                "{}: producer and consumer names are not all ids",
                file.display()
            );
        }
        if !names_survive {
            expected.producers = model.producers.clone();
            expected.consumers = model.consumers.clone();
        }
        assert!(
            model == expected,
            "{}: what AsyncAPI holds on its own differs:\n{}",
            file.display(),
            differences(&model, &expected)
        );
    }
}

#[test]
fn channel_ids_are_component_keys_and_unique() {
    let topology = Topology::from_toml_str(
        r##"
version = 1
[exchanges."orders"]
type = "topic"
[exchanges."orders:v1"]
[queues."orders"]
bindings = [{ exchange = "orders", routing_key = "#" }]
[queues."orders v1"]
bindings = [{ exchange = "orders:v1", routing_key = "x" }]
"##,
    )
    .unwrap();
    let doc = document_of(&topology);
    let ids: Vec<&String> = doc["channels"].as_object().unwrap().keys().collect();
    assert_eq!(ids, ["orders", "orders_v1", "orders-2", "orders_v1-2"]);
    assert_eq!(doc["channels"]["orders-2"]["address"], "orders");
    assert_eq!(doc["channels"]["orders_v1-2"]["address"], "orders v1");
    let (model, _) = read_back(&doc);
    assert_eq!(&model, topology.model());
}

#[test]
fn edge_types_and_names_read_back() {
    let topology = Topology::from_toml_str(
        r##"
version = 1
[exchanges."amq.topic"]
type = "topic"
[queues.q]
bindings = [{ exchange = "amq.topic", routing_key = "#" }]
[messages.holder]
fields.any = "map<json>"
fields.small = "list<u8>"
fields.raw = "bytes"
fields.maybe = "optional<optional<u8>>"
fields.empty = "empty"
fields.later = "optional<list<empty>>"
[messages.empty]
fields = {}
[producers.p]
exchange = "amq.topic"
routing_key = "k"
methods.send = { message = "holder" }
methods.other = { message = "holder", routing_key = "k" }
[consumers.c]
queues.q = "holder"
"##,
    )
    .unwrap();
    let (model, notes) = read_back(&document_of(&topology));
    assert!(
        model == *topology.model(),
        "{}",
        differences(&model, topology.model())
    );
    assert!(notes.iter().all(|n| n.starts_with("servers")), "{notes:?}");
}
