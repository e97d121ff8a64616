//! The generated-code corpus (`corpus/*.toml`, compiled by `build.rs`): every file `kombu check`
//! accepts generates code that compiles, and its items are usable under the names the
//! generator documents. Names from many scripts, keywords, names the generator uses itself,
//! recursive messages and every field type; each test below uses what one file generates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use kombu::{Connection, Disposition, Message};
use kombu_build_tests::corpus::{collisions, fields, keywords, rabbitmq_names, recursion, scripts};
use serde::de::DeserializeOwned;
use serde::Serialize;

const WAIT: Duration = Duration::from_secs(5);

/// Serializes to JSON and back, and checks that nothing changed.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> String {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value);
    json
}

async fn channel(test: &str) -> (Connection, kombu::Channel) {
    let conn = Connection::connect(&format!("memory://kombu-build-tests-corpus-{test}"))
        .await
        .unwrap();
    let channel = conn.channel().await.unwrap();
    (conn, channel)
}

#[test]
fn a_name_without_letter_case_gets_a_constant_beside_its_function() {
    assert_eq!(scripts::queues::名前_, "名前");
    assert_eq!(scripts::queues::名前().name, "名前");
    assert_eq!(scripts::exchanges::注文_, "注文");
    assert_eq!(scripts::exchanges::注文().name, "注文");
    assert_eq!(scripts::queues::ЗАКАЗ, "заказ");
    assert_eq!(scripts::queues::ΠΑΡΑΓΓΕΛΊΑ, "παραγγελία");
    assert_eq!(scripts::queues::STRASSE, "straße");
    assert_eq!(scripts::queues::طلب_, "طلب");
    assert_eq!(scripts::queues::הזמנה_, "הזמנה");
    assert_eq!(scripts::queues::주문_, "주문");
}

#[test]
fn fields_named_in_other_scripts_keep_their_wire_names() {
    let order = scripts::Заказ {
        сумма: 12.5,
        товары: BTreeMap::from([("чай".to_owned(), 2)]),
    };
    assert_eq!(round_trip(&order), r#"{"сумма":12.5,"Товары":{"чай":2}}"#);
    let new = scripts::طلب::جديد { رقم: 7 };
    assert_eq!(round_trip(&new), r#"{"نوع":"جديد","رقم":7}"#);
}

#[derive(Default)]
struct 作業者 {
    seen: Mutex<Vec<String>>,
}

impl scripts::作業者Handler for 作業者 {
    async fn 名前(&self, message: scripts::注文, _: &Message) -> Disposition {
        self.seen.lock().unwrap().push(format!(
            "{} {} {:?}",
            message.番号, message.名前, message.品目
        ));
        Disposition::Ack
    }

    async fn заказ(&self, _: scripts::Заказ, _: &Message) -> Disposition {
        Disposition::Ack
    }

    async fn παραγγελία(
        &self, _: scripts::Παραγγελία, _: &Message
    ) -> Disposition {
        Disposition::Ack
    }
}

#[tokio::test]
async fn a_message_sent_by_a_method_named_in_japanese_reaches_its_handler() {
    let (conn, channel) = channel("scripts").await;
    scripts::declare_all(&channel).await.unwrap();
    let mut consumer = scripts::作業者Consumer::start(&channel, 作業者::default())
        .await
        .unwrap();
    scripts::注文Producer::new(&channel)
        .送る(&scripts::注文 {
            番号: 1,
            名前: "茶".to_owned(),
            品目: vec!["緑茶".to_owned()],
        })
        .await
        .unwrap();
    assert_eq!(consumer.handle_next(WAIT).await.unwrap(), Disposition::Ack);
    assert_eq!(
        *consumer.handler().seen.lock().unwrap(),
        ["1 茶 [\"緑茶\"]"]
    );
    conn.close().await.unwrap();
}

#[derive(Default)]
struct Impl {
    seen: Mutex<Vec<String>>,
}

impl Impl {
    fn saw(&self, what: String) -> Disposition {
        self.seen.lock().unwrap().push(what);
        Disposition::Ack
    }
}

impl keywords::ImplHandler for Impl {
    async fn r#async(&self, message: keywords::Type, _: &Message) -> Disposition {
        self.saw(format!("async {} {:?}", message.r#type, message.r#async))
    }

    async fn r#await(&self, message: keywords::H, _: &Message) -> Disposition {
        self.saw(format!("await {}", message.r#gen))
    }

    async fn r#try(&self, message: keywords::Option, _: &Message) -> Disposition {
        self.saw(format!("try {:?}", message.some))
    }

    async fn r#dyn(&self, message: keywords::Result, _: &Message) -> Disposition {
        self.saw(format!("dyn {}", message.ok))
    }

    async fn r#loop(
        &self,
        delivery_: String,
        handler_: String,
        message: u32,
        crate_name: bool,
        delivery: &Message,
    ) -> Disposition {
        self.saw(format!(
            "loop {delivery_} {handler_} {message} {crate_name} on {}",
            delivery.routing_key()
        ))
    }

    async fn new(&self, r#while: i8, _: &Message) -> Disposition {
        self.saw(format!("new {}", r#while))
    }

    async fn fn_on_failure(&self, _: &Message) -> Disposition {
        self.saw("on_failure variant".to_owned())
    }

    async fn r#gen(&self, message: keywords::String, _: &Message) -> Disposition {
        self.saw(format!("gen {}", message.value))
    }

    async fn on_failure(&self, error: kombu::Error, _: &Message) -> Disposition {
        self.seen.lock().unwrap().push(format!("failed: {error}"));
        Disposition::Reject
    }
}

#[tokio::test]
async fn keywords_and_the_generators_own_names_are_items_of_their_own() {
    assert_eq!(keywords::exchanges::TYPE, "type");
    assert_eq!(keywords::exchanges::r#type().name, "type");
    assert_eq!(keywords::queues::r#gen().name, "gen");
    assert_eq!(keywords::queues::GEN, "gen");
    let (conn, channel) = channel("keywords").await;
    keywords::declare_all(&channel).await.unwrap();
    let mut consumer = keywords::ImplConsumer::start(&channel, Impl::default())
        .await
        .unwrap();
    // The producer's own `new`, then the topology's methods `new`, `publish`, `exchange`,
    // `declare`, `producer` and `from_connection`, which meet the producer's own and get `_`.
    let producer = keywords::TypeProducer::new(&channel);
    assert_eq!(keywords::TypeProducer::exchange().name, "type");
    producer
        .new_(&keywords::Type {
            r#type: "t".to_owned(),
            r#async: Some(1),
            r#fn: vec![],
            r#match: true,
            r#struct: BTreeMap::new(),
        })
        .await
        .unwrap();
    producer.publish_(&keywords::H { r#gen: 2 }).await.unwrap();
    producer
        .exchange_(&keywords::Option { some: None })
        .await
        .unwrap();
    producer
        .declare_(&keywords::Result { ok: true })
        .await
        .unwrap();
    producer
        .producer_("d".to_owned(), "h".to_owned(), 3, true)
        .await
        .unwrap();
    producer.from_connection_(-4).await.unwrap();
    producer.r#async().await.unwrap();
    keywords::MatchProducer::new(&channel)
        .string(&keywords::String {
            value: "s".to_owned(),
        })
        .await
        .unwrap();
    for _ in 0..8 {
        assert_eq!(consumer.handle_next(WAIT).await.unwrap(), Disposition::Ack);
    }
    let mut seen = consumer.handler().seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            "async t Some(1)",
            "await 2",
            "dyn true",
            "gen s",
            "loop d h 3 true on fn",
            "new -4",
            "on_failure variant",
            "try None",
        ]
    );
    conn.close().await.unwrap();
}

#[test]
fn a_variant_field_named_like_a_handler_parameter_keeps_its_wire_name() {
    let command = keywords::Command::Loop {
        delivery: "d".to_owned(),
        handler: "h".to_owned(),
        message: 1,
        crate_name: false,
    };
    assert_eq!(
        round_trip(&command),
        r#"{"type":"loop","delivery":"d","handler":"h","message":1,"crate_name":false}"#
    );
}

#[derive(Default)]
struct Orders {
    seen: Mutex<Vec<String>>,
}

impl collisions::OrderCreatedHandler for Orders {
    async fn order_created(&self, _: collisions::OrderCreated, _: &Message) -> Disposition {
        Disposition::Ack
    }

    async fn a_x(&self, n: u8, _: &Message) -> Disposition {
        self.seen.lock().unwrap().push(format!("a_x {n}"));
        Disposition::Ack
    }

    async fn a_y(&self, _: &Message) -> Disposition {
        Disposition::Ack
    }

    async fn b_x(&self, n: u8, _: &Message) -> Disposition {
        self.seen.lock().unwrap().push(format!("b_x {n}"));
        Disposition::Ack
    }

    async fn b_y(&self, _: &Message) -> Disposition {
        Disposition::Ack
    }

    async fn a_x_2(&self, message: collisions::AX, _: &Message) -> Disposition {
        self.seen
            .lock()
            .unwrap()
            .push(format!("a_x_2 {}", message.v2));
        Disposition::Ack
    }

    async fn v2(&self, _: collisions::AX, _: &Message) -> Disposition {
        Disposition::Ack
    }
}

#[tokio::test]
async fn handlers_whose_names_meet_are_told_apart() {
    assert_eq!(collisions::exchanges::ORDER_CREATED, "order-created");
    assert_eq!(collisions::queues::ORDER_CREATED, "order_created");
    let (conn, channel) = channel("collisions").await;
    collisions::declare_all(&channel).await.unwrap();
    let mut consumer = collisions::OrderCreatedConsumer::start(&channel, Orders::default())
        .await
        .unwrap();
    let producer = collisions::OrderCreatedProducer::new(&channel);
    producer.a_x(1).await.unwrap();
    producer.b_x(2).await.unwrap();
    producer
        .a_x_2(&collisions::AX { v2: "v".to_owned() })
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(consumer.handle_next(WAIT).await.unwrap(), Disposition::Ack);
    }
    let mut seen = consumer.handler().seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["a_x 1", "a_x_2 v", "b_x 2"]);
    conn.close().await.unwrap();
}

#[test]
fn a_message_that_contains_itself_is_boxed() {
    let list = recursion::Node {
        value: 1,
        next: Some(Box::new(recursion::Node {
            value: 2,
            next: None,
        })),
    };
    assert_eq!(round_trip(&list), r#"{"value":1,"next":{"value":2}}"#);
    // A list or a map already holds its elements on the heap: no box there.
    let leaf = recursion::Tree {
        label: "leaf".to_owned(),
        children: vec![],
        by_name: BTreeMap::new(),
        parent: None,
        root: recursion::Node {
            value: 0,
            next: None,
        },
    };
    let tree = recursion::Tree {
        label: "root".to_owned(),
        children: vec![leaf.clone()],
        by_name: BTreeMap::from([("leaf".to_owned(), leaf.clone())]),
        parent: Some(Some(Box::new(leaf))),
        root: list,
    };
    round_trip(&tree);
}

#[test]
fn messages_that_contain_each_other_are_boxed() {
    let ping = recursion::Ping {
        pong: Box::new(recursion::Pong {
            ping: None,
            pings: vec![],
        }),
    };
    let pong = recursion::Pong {
        ping: Some(Box::new(ping.clone())),
        pings: vec![ping],
    };
    assert_eq!(
        round_trip(&pong),
        r#"{"ping":{"pong":{"pings":[]}},"pings":[{"pong":{"pings":[]}}]}"#
    );
    let x = recursion::X {
        y: Box::new(recursion::Y {
            z: Box::new(recursion::Z {
                x: None,
                leaf: recursion::Leaf { value: 3 },
            }),
        }),
    };
    assert_eq!(round_trip(&x), r#"{"y":{"z":{"leaf":{"value":3}}}}"#);
}

#[test]
fn an_enum_that_contains_itself_is_boxed() {
    use recursion::Expr;
    let expr = Expr::Add {
        left: Box::new(Expr::Num { value: 1 }),
        right: Some(Box::new(Expr::Neg {
            inner: Box::new(Expr::Sum {
                terms: vec![Expr::Num { value: 2 }],
            }),
        })),
    };
    assert_eq!(
        round_trip(&expr),
        r#"{"op":"add","left":{"op":"num","value":1},"right":{"op":"neg","inner":{"op":"sum","terms":[{"op":"num","value":2}]}}}"#
    );
    let wrapped = Expr::Wrap {
        statement: Box::new(recursion::Statement {
            expr: Some(Box::new(expr)),
            next: None,
        }),
    };
    round_trip(&wrapped);
}

#[tokio::test]
async fn a_producer_method_takes_a_recursive_variants_boxed_fields() {
    let (conn, channel) = channel("recursion").await;
    recursion::declare_all(&channel).await.unwrap();
    let exprs = recursion::queues::exprs().attach(&channel);
    recursion::TreesProducer::new(&channel)
        .neg(Box::new(recursion::Expr::Num { value: 5 }))
        .await
        .unwrap();
    let mut got = None;
    for _ in 0..100 {
        got = exprs.get(false).await.unwrap();
        if got.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let message = got.unwrap();
    assert_eq!(
        message.decode::<recursion::Expr>().unwrap(),
        recursion::Expr::Neg {
            inner: Box::new(recursion::Expr::Num { value: 5 })
        }
    );
    message.ack().unwrap();
    conn.close().await.unwrap();
}

#[test]
fn every_field_type_round_trips() {
    let inner = fields::Inner { n: 1 };
    let all = fields::All {
        string: "s".to_owned(),
        bool: true,
        i8: -8,
        i16: -16,
        i32: -32,
        i64: -64,
        u8: 8,
        u16: 16,
        u32: 32,
        u64: 64,
        f32: 0.5,
        f64: 0.25,
        bytes: vec![0, 255],
        timestamp: "2024-01-02T03:04:05Z".to_owned(),
        uuid: "67e55044-10b1-426f-9247-bb680e5fe0c8".to_owned(),
        json: serde_json::json!({"any": [1, "thing"]}),
        optional: Some("o".to_owned()),
        list: vec![1, 2],
        map: BTreeMap::from([("k".to_owned(), false)]),
        message: inner.clone(),
        optional_message: None,
        list_message: vec![inner.clone()],
        map_message: BTreeMap::from([("m".to_owned(), inner.clone())]),
        external: kombu_build_tests::corpus::External { id: 9 },
        optional_external: None,
        nested: vec![None, Some(BTreeMap::from([("t".to_owned(), vec![])]))],
        deep: BTreeMap::from([("d".to_owned(), vec![Some(inner.clone()), None])]),
    };
    round_trip(&all);
    round_trip(&fields::Variants::Empty);
    round_trip(&fields::Variants::Primitives {
        bytes: vec![1],
        json: serde_json::Value::Null,
        uuid: None,
    });
    round_trip(&fields::Variants::Messages {
        inner,
        all: Some(all),
        external: vec![],
    });
}

#[test]
fn names_rabbitmq_accepts_get_the_identifiers_the_generator_derives() {
    use rabbitmq_names::{exchanges, queues};
    assert_eq!(queues::_2FA_CODES, "2fa-codes");
    assert_eq!(queues::_2fa_codes().name, "2fa-codes");
    assert_eq!(queues::SELF_, "self");
    assert_eq!(queues::self_().name, "self");
    assert_eq!(queues::crate_().name, "crate");
    // `orders` is written as its conversion and keeps it; `Orders` is numbered.
    assert_eq!(queues::orders().name, "orders");
    assert_eq!(queues::orders_2().name, "Orders");
    assert_eq!((queues::ORDERS, queues::ORDERS_2), ("orders", "Orders"));
    assert_eq!(exchanges::orders_2().name, "Orders");
    assert_eq!(queues::order_created().name, "order-created");
    assert_eq!(queues::__().name, "🎉");
    let message = rabbitmq_names::Self_ {
        super_: "s".to_owned(),
        _2fa: 2,
    };
    assert_eq!(round_trip(&message), r#"{"super":"s","2fa":2}"#);
    let both = rabbitmq_names::Self2 {
        self_2: true,
        self_: false,
    };
    assert_eq!(round_trip(&both), r#"{"Self":true,"self":false}"#);
}

#[test]
fn rust_name_replaces_the_derived_identifier() {
    assert_eq!(rabbitmq_names::queues::created().name, "order_created");
    assert_eq!(rabbitmq_names::queues::CREATED, "order_created");
    assert_eq!(
        round_trip(&rabbitmq_names::Purchase { id: 7 }),
        r#"{"id":7}"#
    );
    assert_eq!(rabbitmq_names::ShopProducer::exchange().name, "Orders");
    assert_eq!(
        rabbitmq_names::WarehouseConsumer::<Warehouse>::NAME,
        "crate"
    );
}

#[derive(Default)]
struct Warehouse;

impl rabbitmq_names::WarehouseHandler for Warehouse {
    async fn crate_(&self, _: rabbitmq_names::Self2, _: &Message) -> Disposition {
        Disposition::Ack
    }

    async fn order_created(&self, _: rabbitmq_names::Self2, _: &Message) -> Disposition {
        Disposition::Ack
    }

    async fn created(&self, _: rabbitmq_names::Self2, _: &Message) -> Disposition {
        Disposition::Ack
    }
}

#[derive(Default)]
struct SelfWorker {
    seen: Mutex<Vec<String>>,
}

impl SelfWorker {
    fn saw(&self, what: String) -> Disposition {
        self.seen.lock().unwrap().push(what);
        Disposition::Ack
    }
}

impl rabbitmq_names::SelfHandler for SelfWorker {
    async fn _2fa_codes(&self, m: rabbitmq_names::_2faCode, d: &Message) -> Disposition {
        self.saw(format!("{} {}", d.routing_key(), m.code))
    }

    async fn self_(&self, m: rabbitmq_names::Self_, d: &Message) -> Disposition {
        self.saw(format!("{} {}", d.routing_key(), m._2fa))
    }

    async fn orders_2(&self, m: rabbitmq_names::Purchase, d: &Message) -> Disposition {
        self.saw(format!("{} {}", d.routing_key(), m.id))
    }

    async fn orders(&self, m: rabbitmq_names::Purchase, d: &Message) -> Disposition {
        self.saw(format!("{} {}", d.routing_key(), m.id))
    }
}

#[tokio::test]
async fn queues_named_2fa_codes_self_and_orders_beside_orders_carry_messages() {
    let (conn, channel) = channel("rabbitmq-names").await;
    rabbitmq_names::declare_all(&channel).await.unwrap();
    let mut consumer = rabbitmq_names::SelfConsumer::start(&channel, SelfWorker::default())
        .await
        .unwrap();
    let producer = rabbitmq_names::_2faProducer::new(&channel);
    producer
        .send(&rabbitmq_names::_2faCode {
            code: "123456".to_owned(),
        })
        .await
        .unwrap();
    producer
        .self_(&rabbitmq_names::Self_ {
            super_: String::new(),
            _2fa: 2,
        })
        .await
        .unwrap();
    producer
        .orders_2(&rabbitmq_names::Purchase { id: 1 })
        .await
        .unwrap();
    producer
        .orders(&rabbitmq_names::Purchase { id: 2 })
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(consumer.handle_next(WAIT).await.unwrap(), Disposition::Ack);
    }
    let mut seen = consumer.handler().seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["2fa 123456", "Orders 1", "orders 2", "self 2"]);
    conn.close().await.unwrap();
}

/// Generated structs deserialize through kombu's shared visitor rather than serde's derive
/// (a fraction of the code to compile); what they accept and refuse, and the wording of the
/// refusal, are serde's derive's.
#[test]
fn generated_structs_decode_as_serde_derive_would() {
    // A serde-derived twin of `fields::Inner` and of a message with an optional field.
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Twin {
        n: u8,
    }
    fn same(json: &str) {
        let ours = serde_json::from_str::<fields::Inner>(json).map(|i| i.n);
        let derived = serde_json::from_str::<Twin>(json).map(|t| t.n);
        match (ours, derived) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{json}"),
            (Err(a), Err(b)) => assert_eq!(
                a.to_string().replace("struct Inner", "struct Twin"),
                b.to_string(),
                "{json}"
            ),
            (a, b) => panic!("{json}: generated {a:?}, derived {b:?}"),
        }
    }
    for json in [
        r#"{"n": 7}"#,
        r#"{"other": [1, {"x": null}], "n": 7, "more": "x"}"#,
        r#"{}"#,
        r#"{"n": 1, "n": 2}"#,
        r#"{"n": 300}"#,
        r#"{"n": "7"}"#,
        r#"[7]"#,
        r#"[]"#,
        r#"7"#,
        r#"null"#,
    ] {
        same(json);
    }
    // More than 12 fields (the partial struct is grouped), an optional field left out, every
    // field type, and the error for a required one left out.
    let mut all = serde_json::to_value(fields::All {
        string: "s".to_owned(),
        bool: false,
        i8: 0,
        i16: 0,
        i32: 0,
        i64: 0,
        u8: 0,
        u16: 0,
        u32: 0,
        u64: u64::MAX,
        f32: 0.0,
        f64: 0.0,
        bytes: vec![],
        timestamp: String::new(),
        uuid: String::new(),
        json: serde_json::Value::Null,
        optional: None,
        list: vec![],
        map: BTreeMap::new(),
        message: fields::Inner { n: 3 },
        optional_message: Some(fields::Inner { n: 4 }),
        list_message: vec![],
        map_message: BTreeMap::new(),
        external: kombu_build_tests::corpus::External { id: 1 },
        optional_external: None,
        nested: vec![],
        deep: BTreeMap::new(),
    })
    .unwrap();
    assert!(all.get("optional").is_none(), "None is left out");
    let back: fields::All = serde_json::from_value(all.clone()).unwrap();
    assert_eq!(back.u64, u64::MAX);
    assert_eq!(back.optional_message, Some(fields::Inner { n: 4 }));
    all.as_object_mut().unwrap().remove("deep");
    assert_eq!(
        serde_json::from_value::<fields::All>(all)
            .unwrap_err()
            .to_string(),
        "missing field `deep`"
    );
}

/// Quorum queues and streams with every typed setting: the generated declarations carry
/// RabbitMQ's arguments, and both the in-memory broker and RabbitMQ (when reachable; required
/// with `KOMBU_REQUIRE_BROKER=1`) accept them. What is declared on RabbitMQ is deleted.
#[tokio::test]
async fn quorum_and_stream_settings_are_declared_as_rabbitmq_takes_them() {
    use kombu::FieldValue;
    use kombu_build_tests::corpus::replicated::{self, exchanges, queues};
    let jobs = queues::jobs().declare_arguments();
    for (key, value) in [
        ("x-queue-type", FieldValue::from("quorum")),
        ("x-delivery-limit", FieldValue::from(5i32)),
        ("x-quorum-initial-group-size", FieldValue::from(1i32)),
        ("x-queue-leader-locator", FieldValue::from("client-local")),
        ("x-dead-letter-strategy", FieldValue::from("at-least-once")),
        ("x-overflow", FieldValue::from("reject-publish")),
    ] {
        assert_eq!(
            jobs.get(key).and_then(FieldValue::as_i64),
            value.as_i64(),
            "{key}"
        );
        assert_eq!(
            jobs.get(key).and_then(FieldValue::as_str),
            value.as_str(),
            "{key}"
        );
    }
    let log = queues::job_log().declare_arguments();
    assert_eq!(
        log.get("x-max-age").and_then(FieldValue::as_str),
        Some("7D")
    );
    assert_eq!(
        log.get("x-initial-cluster-size")
            .and_then(FieldValue::as_i64),
        Some(1)
    );
    assert_eq!(
        log.get("x-stream-max-segment-size-bytes")
            .and_then(FieldValue::as_i64),
        Some(100_000_000)
    );

    let _turn = REPLICATED.lock().await;
    for url in broker_urls("replicated") {
        let conn = Connection::connect(&url).await.unwrap();
        let channel = conn.channel().await.unwrap();
        replicated::declare_all(&channel)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e:#}"));
        for q in [queues::jobs(), queues::jobs_failed(), queues::job_log()] {
            q.attach(&channel).delete(false, false).await.unwrap();
        }
        for x in [exchanges::jobs(), exchanges::jobs_dlx()] {
            x.attach(&channel).delete(false).await.unwrap();
        }
        conn.close().await.unwrap();
    }
}

/// A typed stream consumer starts where the topology's `offset` says (`first`), saves the
/// offset of each message its handler finished in its offset store, and started again with
/// the same store resumes after the last one saved: nothing handled twice, nothing skipped,
/// even what was published while it was stopped. On `memory://` and on RabbitMQ (when
/// reachable; required with `KOMBU_REQUIRE_BROKER=1`), deleting what it declares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_stream_consumer_resumes_after_the_offset_its_store_holds() {
    use kombu::{MemoryOffsets, Shutdown};
    use kombu_build_tests::corpus::replicated::{
        self, exchanges, queues, Job, JobAuditorConsumer, JobAuditorHandler, JobsProducer,
    };
    use std::sync::Arc;
    use std::time::Instant;

    struct Auditor {
        seen: Arc<Mutex<Vec<u64>>>,
    }
    impl JobAuditorHandler for Auditor {
        async fn job_log(&self, job: Job, _: &Message) -> Disposition {
            self.seen.lock().unwrap().push(job.id);
            Disposition::Ack
        }
    }
    /// Starts the consumer (with `store`, or without one), runs it until its handler has seen
    /// `until` messages and half a second more (for any extra to show), shuts it down, and
    /// returns what the handler saw.
    async fn audit(
        channel: &kombu::Channel,
        store: Option<&MemoryOffsets>,
        until: usize,
    ) -> Vec<u64> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let auditor = Auditor {
            seen: Arc::clone(&seen),
        };
        let mut consumer = match store {
            Some(store) => {
                JobAuditorConsumer::start_with_offsets(channel, auditor, store.clone()).await
            }
            None => JobAuditorConsumer::start(channel, auditor).await,
        }
        .unwrap();
        let shutdown = Shutdown::new(Duration::from_secs(5));
        let stop = async {
            let deadline = Instant::now() + Duration::from_secs(30);
            while seen.lock().unwrap().len() < until && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            shutdown.token().cancel();
        };
        let (ran, ()) = tokio::join!(consumer.run_until(&shutdown), stop);
        ran.unwrap();
        let seen = seen.lock().unwrap().clone();
        seen
    }

    let _turn = REPLICATED.lock().await;
    for url in broker_urls("replicated-offsets") {
        let conn = Connection::connect(&url).await.unwrap();
        let channel = conn.channel().await.unwrap();
        // (A run that failed half-way on a shared broker leaves the stream behind.)
        queues::job_log()
            .attach(&channel)
            .delete(false, false)
            .await
            .unwrap();
        replicated::declare_all(&channel).await.unwrap();
        let producer = JobsProducer::new(&channel);
        for id in 0..10 {
            producer.submit(&Job { id }).await.unwrap();
        }
        let store = MemoryOffsets::new();

        // First start: no stored offset, so from the topology's `first`.
        let seen = audit(&channel, Some(&store), 10).await;
        assert_eq!(seen, (0..10).collect::<Vec<_>>(), "{url}");
        let saved = store.get("job-auditor", "job-log");
        assert!(saved.is_some(), "{url}: an offset was saved");

        // Stopped: more is published; started again with the store, it resumes.
        for id in 10..15 {
            producer.submit(&Job { id }).await.unwrap();
        }
        let seen = audit(&channel, Some(&store), 5).await;
        assert_eq!(seen, (10..15).collect::<Vec<_>>(), "{url}");
        assert!(store.get("job-auditor", "job-log") > saved, "{url}");

        // Without a store it starts from the topology's `first` again.
        let seen = audit(&channel, None, 15).await;
        assert_eq!(seen, (0..15).collect::<Vec<_>>(), "{url}");

        for q in [queues::jobs(), queues::jobs_failed(), queues::job_log()] {
            q.attach(&channel).delete(false, false).await.unwrap();
        }
        for x in [exchanges::jobs(), exchanges::jobs_dlx()] {
            x.attach(&channel).delete(false).await.unwrap();
        }
        conn.close().await.unwrap();
    }
}

/// The replicated corpus has fixed names: on a shared RabbitMQ its tests take turns.
static REPLICATED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `memory://NAME`, and RabbitMQ on 127.0.0.1 when it answers (it must with
/// `KOMBU_REQUIRE_BROKER=1`).
fn broker_urls(name: &str) -> Vec<String> {
    let mut urls = vec![format!("memory://kombu-build-tests-{name}")];
    if std::net::TcpStream::connect("127.0.0.1:5672").is_ok() {
        urls.push("amqp://guest:guest@127.0.0.1:5672//".to_owned());
    } else {
        assert!(
            std::env::var("KOMBU_REQUIRE_BROKER").as_deref() != Ok("1"),
            "RabbitMQ is required (KOMBU_REQUIRE_BROKER=1) but not reachable"
        );
    }
    urls
}
