//! Differential routing test: the in-memory broker (`memory://`) against a real RabbitMQ.
//!
//! Each scenario declares the same exchanges, queues and bindings on both brokers, publishes the
//! same messages (the body is the publish's index), drains every queue and compares, queue by
//! queue, which messages arrived and how many copies of each. RabbitMQ is the reference: any
//! difference is a routing bug in the memory broker and fails the test.
//!
//! RabbitMQ is expected at 127.0.0.1:5672 (guest/guest). When it cannot be reached the tests
//! print a skip notice and pass, unless `KOMBU_REQUIRE_BROKER=1`, which makes that a failure.
//!
//! `KOMBU_ROUTING_DUMP=1` prints, per queue, the messages each broker delivered.
//!
//! Every run names its exchanges and queues with a per-run prefix; queues are exclusive (gone
//! with the connection) and exchanges are deleted at the end, so reruns never collide.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kombu::{
    Binding, Connection, Decimal, Exchange, ExchangeKind, FieldTable, FieldValue, Producer, Queue,
};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeBindOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, LongString};
use lapin::{BasicProperties, ConnectionProperties};

const RABBITMQ_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const MEMORY_URL: &str = "memory://routing-diff";
/// Channels used side by side for declaring and draining on RabbitMQ.
const PARALLEL: usize = 4;
/// How many differing (queue, message) pairs a failure prints.
const SHOW: usize = 20;

// ---- scenario description ---------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

/// An exchange; names are suffixes of the per-run prefix.
struct XDecl {
    name: String,
    kind: Kind,
    alternate: Option<String>,
}

/// A queue binding: queue index, source exchange (suffix), key, arguments.
struct QBind {
    queue: usize,
    exchange: String,
    key: String,
    args: FieldTable,
}

/// An exchange-to-exchange binding (names are suffixes).
struct XBind {
    destination: String,
    source: String,
    key: String,
}

/// One message to publish.
struct Pub {
    /// Exchange suffix; `None` is the default exchange `""`.
    exchange: Option<String>,
    key: String,
    /// The routing key is a queue suffix (for the default exchange): prefix it.
    key_is_queue: bool,
    headers: Option<FieldTable>,
}

struct Scenario {
    name: &'static str,
    exchanges: Vec<XDecl>,
    /// Queue suffixes.
    queues: Vec<String>,
    queue_bindings: Vec<QBind>,
    exchange_bindings: Vec<XBind>,
    publishes: Vec<Pub>,
}

impl Scenario {
    fn new(name: &'static str) -> Self {
        Scenario {
            name,
            exchanges: Vec::new(),
            queues: Vec::new(),
            queue_bindings: Vec::new(),
            exchange_bindings: Vec::new(),
            publishes: Vec::new(),
        }
    }

    fn exchange(&mut self, name: &str, kind: Kind, alternate: Option<&str>) {
        self.exchanges.push(XDecl {
            name: name.to_owned(),
            kind,
            alternate: alternate.map(str::to_owned),
        });
    }

    /// Add a queue; returns its index.
    fn queue(&mut self, name: &str) -> usize {
        self.queues.push(name.to_owned());
        self.queues.len() - 1
    }

    fn bind(&mut self, queue: usize, exchange: &str, key: &str, args: FieldTable) {
        self.queue_bindings.push(QBind {
            queue,
            exchange: exchange.to_owned(),
            key: key.to_owned(),
            args,
        });
    }

    fn bind_exchange(&mut self, destination: &str, source: &str, key: &str) {
        self.exchange_bindings.push(XBind {
            destination: destination.to_owned(),
            source: source.to_owned(),
            key: key.to_owned(),
        });
    }

    fn publish(&mut self, exchange: &str, key: &str, headers: Option<FieldTable>) {
        self.publishes.push(Pub {
            exchange: Some(exchange.to_owned()),
            key: key.to_owned(),
            key_is_queue: false,
            headers,
        });
    }

    /// Publish to the default exchange; `queue` is a queue suffix (or a name no queue has).
    fn publish_default(&mut self, queue: &str, key_is_queue: bool) {
        self.publishes.push(Pub {
            exchange: None,
            key: queue.to_owned(),
            key_is_queue,
            headers: None,
        });
    }

    fn exchange_name(prefix: &str, suffix: &str) -> String {
        format!("{prefix}{suffix}")
    }

    fn publish_target(&self, prefix: &str, p: &Pub) -> (String, String) {
        let exchange = p
            .exchange
            .as_deref()
            .map(|x| Self::exchange_name(prefix, x))
            .unwrap_or_default();
        let key = if p.key_is_queue {
            format!("{prefix}{}", p.key)
        } else {
            p.key.clone()
        };
        (exchange, key)
    }

    fn describe_queue(&self, queue: usize) -> String {
        let bindings: Vec<String> = self
            .queue_bindings
            .iter()
            .filter(|b| b.queue == queue)
            .map(|b| {
                if b.args.is_empty() {
                    format!("{} key {:?}", b.exchange, b.key)
                } else {
                    format!("{} key {:?} args {:?}", b.exchange, b.key, b.args)
                }
            })
            .collect();
        format!("queue {} [{}]", self.queues[queue], bindings.join("; "))
    }

    fn describe_publish(&self, index: usize) -> String {
        let p = &self.publishes[index];
        let exchange = p.exchange.as_deref().unwrap_or("(default)");
        let key = if p.key_is_queue {
            format!("<prefix>{}", p.key)
        } else {
            format!("{:?}", p.key)
        };
        match &p.headers {
            Some(h) => format!("message #{index} to {exchange} key {key} headers {h:?}"),
            None => format!("message #{index} to {exchange} key {key} no headers"),
        }
    }
}

/// Per queue index: the indices of the messages it received, sorted (duplicates kept).
type Observed = BTreeMap<usize, Vec<usize>>;

fn run_prefix(scenario: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("kdiff-{}-{nanos}-{scenario}-", std::process::id())
}

// ---- RabbitMQ side (lapin) --------------------------------------------------------------

fn to_amqp(v: &FieldValue) -> AMQPValue {
    match v {
        FieldValue::Bool(b) => AMQPValue::Boolean(*b),
        FieldValue::I8(i) => AMQPValue::ShortShortInt(*i),
        FieldValue::U8(i) => AMQPValue::ShortShortUInt(*i),
        FieldValue::I16(i) => AMQPValue::ShortInt(*i),
        FieldValue::U16(i) => AMQPValue::ShortUInt(*i),
        FieldValue::I32(i) => AMQPValue::LongInt(*i),
        FieldValue::U32(i) => AMQPValue::LongUInt(*i),
        FieldValue::I64(i) => AMQPValue::LongLongInt(*i),
        FieldValue::F32(f) => AMQPValue::Float(*f),
        FieldValue::F64(f) => AMQPValue::Double(*f),
        FieldValue::Decimal(d) => AMQPValue::DecimalValue(DecimalValue {
            scale: d.scale,
            value: d.value,
        }),
        FieldValue::String(s) => AMQPValue::LongString(LongString::from(s.clone())),
        FieldValue::Bytes(b) => AMQPValue::ByteArray(ByteArray::from(b.clone())),
        FieldValue::Timestamp(t) => AMQPValue::Timestamp(*t),
        FieldValue::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(to_amqp).collect::<Vec<_>>(),
        )),
        FieldValue::Table(t) => AMQPValue::FieldTable(to_amqp_table(t)),
        FieldValue::Void => AMQPValue::Void,
    }
}

fn to_amqp_table(t: &FieldTable) -> lapin::types::FieldTable {
    let mut out = lapin::types::FieldTable::default();
    for (k, v) in t {
        out.insert(k.as_str().into(), to_amqp(v));
    }
    out
}

fn lapin_kind(kind: Kind) -> lapin::ExchangeKind {
    match kind {
        Kind::Direct => lapin::ExchangeKind::Direct,
        Kind::Fanout => lapin::ExchangeKind::Fanout,
        Kind::Topic => lapin::ExchangeKind::Topic,
        Kind::Headers => lapin::ExchangeKind::Headers,
    }
}

/// Connect to RabbitMQ, or decide to skip (`None`) / fail (with `KOMBU_REQUIRE_BROKER=1`).
async fn rabbitmq() -> Option<lapin::Connection> {
    let attempt = tokio::time::timeout(
        Duration::from_secs(30),
        lapin::Connection::connect(RABBITMQ_URL, ConnectionProperties::default()),
    )
    .await;
    let why = match attempt {
        Ok(Ok(conn)) => return Some(conn),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 30 s".to_owned(),
    };
    if std::env::var("KOMBU_REQUIRE_BROKER").as_deref() == Ok("1") {
        panic!("RabbitMQ not reachable at 127.0.0.1:5672 ({why}) and KOMBU_REQUIRE_BROKER=1");
    }
    println!(
        "skipped: RabbitMQ not reachable at 127.0.0.1:5672 (set KOMBU_REQUIRE_BROKER=1 to make this a failure)"
    );
    None
}

/// One queue to declare on RabbitMQ with its bindings: (index, name, [(exchange, key, args)]).
type QueueSetup = (
    usize,
    String,
    Vec<(String, String, lapin::types::FieldTable)>,
);

async fn run_rabbitmq(conn: &lapin::Connection, s: &Scenario, prefix: &str) -> Observed {
    let channel = conn.create_channel().await.unwrap();
    for x in &s.exchanges {
        let mut args = lapin::types::FieldTable::default();
        if let Some(alt) = &x.alternate {
            args.insert(
                "alternate-exchange".into(),
                AMQPValue::LongString(Scenario::exchange_name(prefix, alt).into()),
            );
        }
        channel
            .exchange_declare(
                Scenario::exchange_name(prefix, &x.name).as_str().into(),
                lapin_kind(x.kind),
                ExchangeDeclareOptions::default(),
                args,
            )
            .await
            .unwrap();
    }

    // Queues and their bindings, spread over a few channels.
    let mut setups: Vec<QueueSetup> = s
        .queues
        .iter()
        .enumerate()
        .map(|(i, q)| (i, format!("{prefix}{q}"), Vec::new()))
        .collect();
    for b in &s.queue_bindings {
        setups[b.queue].2.push((
            Scenario::exchange_name(prefix, &b.exchange),
            b.key.clone(),
            to_amqp_table(&b.args),
        ));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in chunks(setups) {
        let ch = conn.create_channel().await.unwrap();
        tasks.spawn(async move {
            for (_, name, bindings) in chunk {
                ch.queue_declare(
                    name.as_str().into(),
                    QueueDeclareOptions {
                        exclusive: true,
                        ..QueueDeclareOptions::default()
                    },
                    lapin::types::FieldTable::default(),
                )
                .await
                .unwrap();
                for (exchange, key, args) in bindings {
                    ch.queue_bind(
                        name.as_str().into(),
                        exchange.as_str().into(),
                        key.as_str().into(),
                        QueueBindOptions::default(),
                        args,
                    )
                    .await
                    .unwrap();
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    for b in &s.exchange_bindings {
        channel
            .exchange_bind(
                Scenario::exchange_name(prefix, &b.destination)
                    .as_str()
                    .into(),
                Scenario::exchange_name(prefix, &b.source).as_str().into(),
                b.key.as_str().into(),
                ExchangeBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .unwrap();
    }

    // Publish everything with confirms, then wait for every confirm: once a message is
    // confirmed it sits in every queue it was routed to.
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut confirms = Vec::with_capacity(s.publishes.len());
    for (i, p) in s.publishes.iter().enumerate() {
        let (exchange, key) = s.publish_target(prefix, p);
        let mut properties = BasicProperties::default();
        if let Some(h) = &p.headers {
            properties = properties.with_headers(to_amqp_table(h));
        }
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                i.to_string().as_bytes(),
                properties,
            )
            .await
            .unwrap();
        confirms.push(confirm);
    }
    for (i, confirm) in confirms.into_iter().enumerate() {
        let confirmation = confirm.await.unwrap();
        assert!(
            confirmation.is_ack(),
            "RabbitMQ did not ack {}",
            s.describe_publish(i)
        );
    }

    // Drain every queue.
    let names: Vec<(usize, String)> = s
        .queues
        .iter()
        .enumerate()
        .map(|(i, q)| (i, format!("{prefix}{q}")))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in chunks(names) {
        let ch = conn.create_channel().await.unwrap();
        tasks.spawn(async move {
            let mut got = Vec::new();
            for (index, name) in chunk {
                let mut received = Vec::new();
                while let Some(msg) = ch
                    .basic_get(name.as_str().into(), BasicGetOptions { no_ack: true })
                    .await
                    .unwrap()
                {
                    received.push(parse_body(&msg.delivery.data));
                    if msg.message_count == 0 {
                        break;
                    }
                }
                got.push((index, received));
            }
            got
        });
    }
    let mut observed = Observed::new();
    while let Some(done) = tasks.join_next().await {
        for (index, mut received) in done.unwrap() {
            received.sort_unstable();
            observed.insert(index, received);
        }
    }

    for x in &s.exchanges {
        channel
            .exchange_delete(
                Scenario::exchange_name(prefix, &x.name).as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await
            .unwrap();
    }
    channel.close(200, "done".into()).await.unwrap();
    observed
}

/// Split work into `PARALLEL` interleaved chunks.
fn chunks<T>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..PARALLEL).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        out[i % PARALLEL].push(item);
    }
    out
}

fn parse_body(body: &[u8]) -> usize {
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected message body {body:?}"))
}

// ---- memory side (kombu's public API) ---------------------------------------------------

fn kombu_kind(kind: Kind) -> ExchangeKind {
    match kind {
        Kind::Direct => ExchangeKind::Direct,
        Kind::Fanout => ExchangeKind::Fanout,
        Kind::Topic => ExchangeKind::Topic,
        Kind::Headers => ExchangeKind::Headers,
    }
}

async fn run_memory(s: &Scenario, prefix: &str) -> Observed {
    let conn = Connection::connect(MEMORY_URL).await.unwrap();
    let channel = conn.channel().await.unwrap();
    let mut exchanges = BTreeMap::new();
    for x in &s.exchanges {
        let mut e = Exchange::new(Scenario::exchange_name(prefix, &x.name), kombu_kind(x.kind))
            .durable(false);
        if let Some(alt) = &x.alternate {
            e = e.alternate_exchange(Scenario::exchange_name(prefix, alt));
        }
        channel.declare_exchange(&e).await.unwrap();
        exchanges.insert(x.name.clone(), e);
    }
    let mut queues = Vec::with_capacity(s.queues.len());
    for (i, q) in s.queues.iter().enumerate() {
        let mut decl = Queue::new(format!("{prefix}{q}"))
            .durable(false)
            .exclusive(true);
        for b in s.queue_bindings.iter().filter(|b| b.queue == i) {
            let mut binding = Binding::new(exchanges[&b.exchange].clone(), b.key.clone());
            for (k, v) in &b.args {
                binding = binding.argument(k.clone(), v.clone());
            }
            decl = decl.binding(binding);
        }
        channel.declare_queue(&decl).await.unwrap();
        queues.push(decl);
    }
    for b in &s.exchange_bindings {
        exchanges[&b.destination]
            .attach(&channel)
            .bind_to(
                &Scenario::exchange_name(prefix, &b.source),
                &b.key,
                &FieldTable::new(),
            )
            .await
            .unwrap();
    }

    let producer = Producer::new(&channel).confirm(true);
    for (i, p) in s.publishes.iter().enumerate() {
        let (exchange, key) = s.publish_target(prefix, p);
        let mut publish = producer
            .publish_body(i.to_string())
            .exchange(exchange)
            .routing_key(key);
        if let Some(h) = &p.headers {
            publish = publish.headers(h.clone());
        }
        publish.await.unwrap();
    }

    let mut observed = Observed::new();
    for (i, q) in queues.iter().enumerate() {
        let bound = q.attach(&channel);
        let mut received = Vec::new();
        while let Some(msg) = bound.get(true).await.unwrap() {
            received.push(parse_body(msg.body()));
        }
        received.sort_unstable();
        observed.insert(i, received);
    }

    for e in exchanges.values() {
        e.attach(&channel).delete(false).await.unwrap();
    }
    conn.close().await.unwrap();
    observed
}

// ---- comparison -------------------------------------------------------------------------

fn copies(observed: &Observed, queue: usize, message: usize) -> usize {
    observed
        .get(&queue)
        .map_or(0, |v| v.iter().filter(|&&m| m == message).count())
}

/// Run a scenario on both brokers and fail on any difference.
async fn differential(conn: &lapin::Connection, s: &Scenario) {
    let started = Instant::now();
    let prefix = run_prefix(s.name);
    let rabbit = run_rabbitmq(conn, s, &prefix).await;
    let memory = run_memory(s, &prefix).await;

    let mut diffs = Vec::new();
    for queue in 0..s.queues.len() {
        for message in 0..s.publishes.len() {
            let (r, m) = (
                copies(&rabbit, queue, message),
                copies(&memory, queue, message),
            );
            if r != m {
                diffs.push((queue, message, r, m));
            }
        }
    }
    if std::env::var("KOMBU_ROUTING_DUMP").as_deref() == Ok("1") {
        for (queue, received) in &rabbit {
            println!(
                "  {}: RabbitMQ {received:?}, memory {:?}",
                s.describe_queue(*queue),
                memory.get(queue)
            );
        }
    }
    let deliveries: usize = rabbit.values().map(Vec::len).sum();
    println!(
        "{}: {} queues, {} bindings, {} exchange bindings, {} messages, {} (queue, message) pairs, {} deliveries on RabbitMQ, {} differences, {:.2?}",
        s.name,
        s.queues.len(),
        s.queue_bindings.len(),
        s.exchange_bindings.len(),
        s.publishes.len(),
        s.queues.len() * s.publishes.len(),
        deliveries,
        diffs.len(),
        started.elapsed(),
    );
    if diffs.is_empty() {
        return;
    }
    let mut report = String::new();
    for (queue, message, r, m) in diffs.iter().take(SHOW) {
        let _ = writeln!(
            report,
            "  {} / {}: RabbitMQ delivered {r}, memory delivered {m}",
            s.describe_queue(*queue),
            s.describe_publish(*message),
        );
    }
    panic!(
        "{}: {} routing differences between RabbitMQ and the memory broker (first {}):\n{report}",
        s.name,
        diffs.len(),
        diffs.len().min(SHOW),
    );
}

// ---- topic ------------------------------------------------------------------------------

/// splitmix64: a small deterministic generator, so every run tests the same keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Keys that must be in both lists.
const SPECIAL_KEYS: &[&str] = &[
    "",
    ".",
    "..",
    "...",
    "a..b",
    "#",
    "*",
    "#.#",
    "*.*",
    "a.#.b",
    "#.a",
    "a.*.#",
    "a",
    "a.b",
    "a.b.c",
    "a.#",
    "a.*",
    "*.a",
    "#.*",
    "*.#",
    "#.#.#",
    "*.*.*",
    "#.*.#",
    "*.#.*",
    "a.*.b",
    "a.#.#.b",
    "#.a.#",
    "a.",
    ".a",
    "*.",
    ".*",
    "#.",
    ".#",
    "a*",
    "#a",
    "a#",
    "*a",
    "a.b*",
    "a.*b",
    "usd.stock",
    "eur.stock.db",
    "stock.nasdaq",
    "*.stock.#",
    "a.b.c.d.e.f",
    "#.b.#",
    "a.#.c",
    "a.*.*.b",
    "#.#.a.#.#",
    "..a..",
    "a.b.",
];

fn push_unique(keys: &mut Vec<String>, seen: &mut HashSet<String>, key: String) {
    if seen.insert(key.clone()) {
        keys.push(key);
    }
}

fn topic_binding_keys() -> Vec<String> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    for k in SPECIAL_KEYS {
        push_unique(&mut keys, &mut seen, (*k).to_owned());
    }
    // `*` and `#` in every position of keys of 1 to 5 words, around literal and empty words.
    for len in 1..=5 {
        for pos in 0..len {
            for wild in ["*", "#"] {
                for filler in ["a", "", "b"] {
                    let mut words = vec![filler; len];
                    words[pos] = wild;
                    push_unique(&mut keys, &mut seen, words.join("."));
                }
            }
        }
    }
    let mut rng = Rng(0x6b6f_6d62_7530_0001);
    const WORDS: &[&str] = &[
        "a", "a", "a", "b", "b", "", "", "*", "*", "#", "#", "c", "a*",
    ];
    while keys.len() < 640 {
        let len = 1 + rng.below(5);
        let words: Vec<&str> = (0..len).map(|_| rng.pick(WORDS)).collect();
        push_unique(&mut keys, &mut seen, words.join("."));
    }
    keys
}

fn topic_routing_keys() -> Vec<String> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    for k in SPECIAL_KEYS {
        push_unique(&mut keys, &mut seen, (*k).to_owned());
    }
    let mut rng = Rng(0x6b6f_6d62_7530_0002);
    const WORDS: &[&str] = &["a", "a", "a", "b", "b", "", "", "c", "*", "#", "a*", "d"];
    while keys.len() < 520 {
        let len = rng.below(7);
        let words: Vec<&str> = (0..len).map(|_| rng.pick(WORDS)).collect();
        push_unique(&mut keys, &mut seen, words.join("."));
    }
    keys
}

fn topic_scenario() -> Scenario {
    let mut s = Scenario::new("topic");
    s.exchange("t", Kind::Topic, None);
    let binding_keys = topic_binding_keys();
    let routing_keys = topic_routing_keys();
    assert!(binding_keys.len() >= 500 && routing_keys.len() >= 500);
    for (n, key) in binding_keys.iter().enumerate() {
        let q = s.queue(&format!("diff-t-{n}"));
        s.bind(q, "t", key, FieldTable::new());
    }
    // One queue with overlapping bindings: one copy per message whatever matches.
    let q = s.queue("diff-t-multi");
    for key in ["#", "a.#", "#.a", "*.*", "a.*.#", ""] {
        s.bind(q, "t", key, FieldTable::new());
    }
    for key in &routing_keys {
        s.publish("t", key, None);
    }
    s
}

// ---- headers ----------------------------------------------------------------------------

fn table(pairs: &[(&str, FieldValue)]) -> FieldTable {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn text(v: &str) -> FieldValue {
    FieldValue::String(v.to_owned())
}

fn headers_bindings() -> Vec<FieldTable> {
    use FieldValue::{Bool, Bytes, Table, Void, F32, F64, I16, I32, I64, I8, U32, U8};
    let dec = |scale, value| FieldValue::Decimal(Decimal { scale, value });
    vec![
        // Match modes with nothing to compare.
        table(&[]),
        table(&[("x-match", text("all"))]),
        table(&[("x-match", text("any"))]),
        table(&[("x-match", text("all-with-x"))]),
        table(&[("x-match", text("any-with-x"))]),
        // Plain string matching; absent x-match is all.
        table(&[("format", text("pdf"))]),
        table(&[("format", text("pdf")), ("type", text("report"))]),
        table(&[
            ("x-match", text("all")),
            ("format", text("pdf")),
            ("type", text("report")),
        ]),
        table(&[
            ("x-match", text("any")),
            ("format", text("pdf")),
            ("type", text("report")),
        ]),
        table(&[("x-match", text("all")), ("format", text("PDF"))]),
        table(&[
            ("x-match", text("any")),
            ("format", text("zip")),
            ("size", I64(2)),
        ]),
        // Integers of every width, strings, floats and booleans against each other.
        table(&[("x-match", text("all")), ("size", I32(1))]),
        table(&[("x-match", text("all")), ("size", I64(1))]),
        table(&[("x-match", text("all")), ("size", I8(1))]),
        table(&[("x-match", text("any")), ("size", U8(1))]),
        table(&[
            ("x-match", text("all")),
            ("size", I16(1)),
            ("format", text("pdf")),
        ]),
        table(&[("x-match", text("all")), ("size", text("1"))]),
        table(&[("x-match", text("all")), ("size", F64(1.0))]),
        table(&[("x-match", text("all")), ("size", F32(1.0))]),
        table(&[("x-match", text("all")), ("big", I64(1 << 40))]),
        table(&[("x-match", text("all")), ("neg", I8(-1))]),
        table(&[("x-match", text("all")), ("u", U32(7))]),
        table(&[("x-match", text("all")), ("ratio", F64(0.5))]),
        table(&[("x-match", text("all")), ("ratio", F64(0.1))]),
        table(&[("x-match", text("all")), ("flag", Bool(true))]),
        table(&[("x-match", text("all")), ("flag", I32(1))]),
        table(&[("x-match", text("any")), ("flag", Bool(false))]),
        table(&[("x-match", text("all")), ("empty", text(""))]),
        // Void: presence only.
        table(&[("x-match", text("all")), ("format", Void)]),
        table(&[("x-match", text("any")), ("format", Void), ("size", Void)]),
        table(&[("x-match", text("any")), ("void", I32(0))]),
        // x- arguments: ignored unless *-with-x.
        table(&[("x-match", text("all")), ("x-tag", text("v"))]),
        table(&[("x-match", text("any")), ("x-tag", text("v"))]),
        table(&[("x-tag", text("v")), ("format", text("pdf"))]),
        table(&[("x-match", text("all-with-x")), ("x-tag", text("v"))]),
        table(&[
            ("x-match", text("all-with-x")),
            ("x-tag", text("v")),
            ("format", text("pdf")),
        ]),
        table(&[
            ("x-match", text("any-with-x")),
            ("x-tag", text("v")),
            ("format", text("zip")),
        ]),
        table(&[("x-match", text("any-with-x")), ("x-tag", text("w"))]),
        // Other types.
        table(&[("x-match", text("all")), ("name", Bytes(b"pdf".to_vec()))]),
        table(&[("x-match", text("all")), ("name", text("pdf"))]),
        table(&[("x-match", text("all")), ("dec", dec(1, 10))]),
        table(&[
            ("x-match", text("all")),
            ("nested", Table(table(&[("k", I32(1))]))),
        ]),
    ]
}

fn headers_messages() -> Vec<Option<FieldTable>> {
    use FieldValue::{Bool, Bytes, Table, Void, F32, F64, I16, I32, I64, I8, U16, U32};
    let dec = |scale, value| FieldValue::Decimal(Decimal { scale, value });
    let kitchen_sink = table(&[
        ("format", text("pdf")),
        ("type", text("report")),
        ("size", I32(1)),
        ("flag", Bool(true)),
        ("x-tag", text("v")),
        ("name", text("pdf")),
        ("empty", text("")),
    ]);
    vec![
        None,
        Some(table(&[])),
        Some(table(&[("format", text("pdf"))])),
        Some(table(&[("format", text("pdf")), ("type", text("report"))])),
        Some(table(&[("format", text("zip")), ("type", text("report"))])),
        Some(table(&[("format", text("PDF"))])),
        Some(table(&[("format", I32(1))])),
        Some(table(&[("size", I32(1))])),
        Some(table(&[("size", I64(1))])),
        Some(table(&[("size", I8(1))])),
        Some(table(&[("size", U16(1))])),
        Some(table(&[("size", I16(1)), ("format", text("pdf"))])),
        Some(table(&[("size", text("1"))])),
        Some(table(&[("size", F64(1.0))])),
        Some(table(&[("size", F32(1.0))])),
        Some(table(&[("size", I32(2))])),
        Some(table(&[("big", I64(1 << 40))])),
        Some(table(&[("big", F64(1_099_511_627_776.0))])),
        Some(table(&[("neg", I64(-1))])),
        Some(table(&[("u", I32(7))])),
        Some(table(&[("u", U32(7))])),
        Some(table(&[("ratio", F32(0.5))])),
        Some(table(&[("ratio", F32(0.1))])),
        Some(table(&[("ratio", F64(0.1))])),
        Some(table(&[("flag", Bool(true))])),
        Some(table(&[("flag", I32(1))])),
        Some(table(&[("flag", Bool(false))])),
        Some(table(&[("format", Void)])),
        Some(table(&[("void", Void)])),
        Some(table(&[("void", I32(0))])),
        Some(table(&[("x-tag", text("v"))])),
        Some(table(&[("x-tag", text("v")), ("format", text("pdf"))])),
        Some(table(&[("x-tag", text("w")), ("format", text("zip"))])),
        Some(table(&[("x-match", text("any")), ("format", text("zip"))])),
        Some(table(&[("name", text("pdf"))])),
        Some(table(&[("name", Bytes(b"pdf".to_vec()))])),
        Some(table(&[("empty", text(""))])),
        Some(table(&[("dec", dec(1, 10))])),
        Some(table(&[("dec", dec(0, 1))])),
        Some(table(&[("dec", I32(1))])),
        Some(table(&[("nested", Table(table(&[("k", I32(1))])))])),
        Some(table(&[("nested", Table(table(&[("k", I64(1))])))])),
        Some(kitchen_sink),
    ]
}

/// Arrays and timestamps, where RabbitMQ 3.10 compares differently from plain values: array
/// elements are compared with their AMQP types (`[I32 1]` is not `[I64 1]`, a string element is
/// not a byte-array element, `1` is not `1.0`), while a top-level timestamp is a plain integer
/// (`Timestamp(1700000000)` equals `I64(1700000000)` and `F64(1.7e9)`). The memory router's
/// `header_value_eq` compares the same way.
fn typed_value_bindings() -> Vec<FieldTable> {
    use FieldValue::{Array, Bytes, Timestamp, F64, I32, I64};
    let all = |key: &str, v: FieldValue| table(&[("x-match", text("all")), (key, v)]);
    vec![
        all("arr", Array(vec![I32(1), text("a")])),
        all("arr", Array(vec![I64(1), text("a")])),
        all("arr", Array(vec![F64(1.0), text("a")])),
        all("arr", Array(vec![I32(1), Bytes(b"a".to_vec())])),
        all("arr", Array(vec![])),
        all("ts", Timestamp(1_700_000_000)),
        all("ts", I64(1_700_000_000)),
        all("ts", F64(1_700_000_000.0)),
    ]
}

fn typed_value_messages() -> Vec<Option<FieldTable>> {
    use FieldValue::{Array, Bytes, Timestamp, F64, I32, I64};
    let one = |key: &str, v: FieldValue| Some(table(&[(key, v)]));
    vec![
        None,
        one("arr", Array(vec![I32(1), text("a")])),
        one("arr", Array(vec![I64(1), text("a")])),
        one("arr", Array(vec![F64(1.0), text("a")])),
        one("arr", Array(vec![I32(1), Bytes(b"a".to_vec())])),
        one("arr", Array(vec![I32(1), text("a"), I32(2)])),
        one("arr", Array(vec![])),
        one("arr", I32(1)),
        one("ts", Timestamp(1_700_000_000)),
        one("ts", I64(1_700_000_000)),
        one("ts", I32(1_700_000_000)),
        one("ts", F64(1_700_000_000.0)),
        one("ts", text("1700000000")),
    ]
}

fn headers_scenario(
    name: &'static str,
    bindings: Vec<FieldTable>,
    messages: Vec<Option<FieldTable>>,
) -> Scenario {
    let mut sc = Scenario::new(name);
    sc.exchange("h", Kind::Headers, None);
    for (n, args) in bindings.into_iter().enumerate() {
        let q = sc.queue(&format!("diff-h-{n}"));
        // The routing key is ignored by a headers exchange; give it one to show that.
        sc.bind(q, "h", "ignored", args);
    }
    // Two bindings to one queue that can both match: one copy.
    let q = sc.queue("diff-h-two");
    sc.bind(
        q,
        "h",
        "",
        table(&[("x-match", text("any")), ("format", text("pdf"))]),
    );
    sc.bind(
        q,
        "h",
        "",
        table(&[("x-match", text("any")), ("type", text("report"))]),
    );
    for (n, headers) in messages.into_iter().enumerate() {
        sc.publish("h", &format!("k{n}"), headers);
    }
    sc
}

// ---- direct, fanout, default exchange -----------------------------------------------------

fn direct_fanout_default_scenario() -> Scenario {
    let mut s = Scenario::new("direct-fanout-default");
    s.exchange("d", Kind::Direct, None);
    s.exchange("f", Kind::Fanout, None);
    let none = FieldTable::new;

    // Direct: shared keys, a duplicate binding, several keys on one queue, literal wildcards.
    let d0 = s.queue("d0");
    s.bind(d0, "d", "k1", none());
    let d1 = s.queue("d1");
    s.bind(d1, "d", "k1", none());
    let d2 = s.queue("d2");
    s.bind(d2, "d", "k2", none());
    let d3 = s.queue("d3");
    s.bind(d3, "d", "k1", none());
    s.bind(d3, "d", "k1", none());
    let d4 = s.queue("d4");
    s.bind(d4, "d", "k1", none());
    s.bind(d4, "d", "k2", none());
    let d5 = s.queue("d5");
    s.bind(d5, "d", "", none());
    let d6 = s.queue("d6");
    s.bind(d6, "d", "K1", none());
    let d7 = s.queue("d7");
    s.bind(d7, "d", "#", none());
    s.bind(d7, "d", "*", none());
    let d8 = s.queue("d8");
    s.bind(d8, "d", "k1.x", none());
    s.bind(d8, "d", "k1 ", none());
    // A direct binding with arguments is still keyed by the routing key.
    let d9 = s.queue("d9");
    s.bind(d9, "d", "k2", table(&[("x-match", text("any"))]));
    for key in [
        "k1", "k2", "", "K1", "k3", "#", "*", "k1.x", "k1.*", "k1 ", " k1", "k",
    ] {
        s.publish("d", key, None);
    }
    // Sender-selected distribution: CC and BCC add routing keys.
    let keys = |names: &[&str]| FieldValue::Array(names.iter().map(|n| text(n)).collect());
    for (header, extra) in [
        ("CC", keys(&["k1"])),
        ("BCC", keys(&["k2"])),
        ("CC", keys(&["k1", "k2"])),
        ("CC", keys(&["nope", "k1.x"])),
        ("CC", keys(&[])),
    ] {
        s.publish("d", "k3", Some(table(&[(header, extra)])));
    }
    s.publish(
        "d",
        "k2",
        Some(table(&[("CC", keys(&["k2"])), ("BCC", keys(&["K1"]))])),
    );

    // Fanout: every queue once, whatever the keys.
    let f0 = s.queue("f0");
    s.bind(f0, "f", "x", none());
    let f1 = s.queue("f1");
    s.bind(f1, "f", "", none());
    let f2 = s.queue("f2");
    s.bind(f2, "f", "a", none());
    s.bind(f2, "f", "b", none());
    s.bind(f2, "f", "a", none());
    for key in ["", "x", "y", "#"] {
        s.publish("f", key, None);
    }

    // Default exchange: every queue by its own name, nothing else.
    for queue in ["d0", "d3", "f2", "f1"] {
        s.publish_default(queue, true);
    }
    s.publish_default("no-such-queue", true);
    s.publish_default("", false);
    s.publish_default("d0", false);
    s
}

// ---- exchange-to-exchange and alternate exchanges ---------------------------------------

fn chains_scenario() -> Scenario {
    let mut s = Scenario::new("chains");
    let none = FieldTable::new;

    // x1 (topic) -> x2 (direct) and x1 -> x3 (fanout) -> x2: a diamond; x2 -> x1: a cycle.
    s.exchange("x1", Kind::Topic, None);
    s.exchange("x2", Kind::Direct, None);
    s.exchange("x3", Kind::Fanout, None);
    s.bind_exchange("x2", "x1", "a.*");
    s.bind_exchange("x3", "x1", "a.#");
    s.bind_exchange("x2", "x3", "whatever");
    s.bind_exchange("x1", "x2", "a.b");
    let e0 = s.queue("e0");
    s.bind(e0, "x2", "a.b", none());
    let e1 = s.queue("e1");
    s.bind(e1, "x1", "#", none());
    let e2 = s.queue("e2");
    s.bind(e2, "x3", "", none());
    let e3 = s.queue("e3");
    s.bind(e3, "x2", "a", none());
    s.bind(e3, "x1", "a", none());
    for key in ["a.b", "a.c", "a", "b", "a.b.c", "", "a.b.b"] {
        s.publish("x1", key, None);
    }
    for key in ["a.b", "a", "c"] {
        s.publish("x2", key, None);
    }
    s.publish("x3", "anything", None);

    // Alternate exchanges: m (direct, AE ae) -> q a1 on "k"; m -> inner (fanout, no queues) on
    // "to-inner": routed to an exchange counts as routed, so the AE is not used.
    s.exchange("ae", Kind::Fanout, None);
    s.exchange("inner", Kind::Fanout, None);
    s.exchange("m", Kind::Direct, Some("ae"));
    let a0 = s.queue("a0");
    s.bind(a0, "ae", "", none());
    let a1 = s.queue("a1");
    s.bind(a1, "m", "k", none());
    s.bind_exchange("inner", "m", "to-inner");
    for key in ["k", "other", "to-inner", ""] {
        s.publish("m", key, None);
    }
    // A chain of alternates: m3 (AE ae2) -> ae2 (direct, AE ae) -> ae.
    s.exchange("ae2", Kind::Direct, Some("ae"));
    s.exchange("m3", Kind::Direct, Some("ae2"));
    let a2 = s.queue("a2");
    s.bind(a2, "ae2", "z", none());
    let a3 = s.queue("a3");
    s.bind(a3, "m3", "k", none());
    for key in ["k", "z", "q"] {
        s.publish("m3", key, None);
    }
    // An alternate exchange that does not exist: the message is dropped.
    s.exchange("m4", Kind::Topic, Some("missing"));
    let a4 = s.queue("a4");
    s.bind(a4, "m4", "k.#", none());
    for key in ["k.x", "nope"] {
        s.publish("m4", key, None);
    }
    // An exchange reached through a binding whose own bindings select nothing uses its AE.
    s.exchange("src", Kind::Fanout, None);
    s.exchange("mid", Kind::Direct, Some("ae"));
    s.bind_exchange("mid", "src", "");
    let a5 = s.queue("a5");
    s.bind(a5, "mid", "hit", none());
    for key in ["hit", "miss"] {
        s.publish("src", key, None);
    }
    s
}

// ---- tests ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_routing_matches_rabbitmq() {
    let Some(conn) = rabbitmq().await else {
        return;
    };
    differential(&conn, &topic_scenario()).await;
    conn.close(200, "done".into()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_routing_matches_rabbitmq() {
    let Some(conn) = rabbitmq().await else {
        return;
    };
    let (bindings, messages) = (headers_bindings(), headers_messages());
    assert!(bindings.len() >= 30 && messages.len() >= 30);
    differential(&conn, &headers_scenario("headers", bindings, messages)).await;
    conn.close(200, "done".into()).await.unwrap();
}

/// Array elements compare with their types, timestamps as integers (see
/// [`typed_value_bindings`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_arrays_and_timestamps_match_rabbitmq() {
    let Some(conn) = rabbitmq().await else {
        return;
    };
    let scenario = headers_scenario(
        "headers-typed",
        typed_value_bindings(),
        typed_value_messages(),
    );
    differential(&conn, &scenario).await;
    conn.close(200, "done".into()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_fanout_and_default_routing_match_rabbitmq() {
    let Some(conn) = rabbitmq().await else {
        return;
    };
    differential(&conn, &direct_fanout_default_scenario()).await;
    conn.close(200, "done".into()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_chains_and_alternates_match_rabbitmq() {
    let Some(conn) = rabbitmq().await else {
        return;
    };
    differential(&conn, &chains_scenario()).await;
    conn.close(200, "done".into()).await.unwrap();
}

/// The generated key sets are what the brief promises (no broker needed).
#[test]
fn generated_topic_keys_cover_the_cases() {
    let bindings = topic_binding_keys();
    let routing = topic_routing_keys();
    assert!(bindings.len() >= 500, "{} binding keys", bindings.len());
    assert!(routing.len() >= 500, "{} routing keys", routing.len());
    for special in [
        "", ".", "..", "a..b", "#", "*", "#.#", "*.*", "a.#.b", "#.a", "a.*.#",
    ] {
        assert!(bindings.iter().any(|k| k == special), "{special:?}");
        assert!(routing.iter().any(|k| k == special), "{special:?}");
    }
    for pos in 0..5 {
        for wild in ["*", "#"] {
            assert!(
                bindings.iter().any(|k| k.split('.').nth(pos) == Some(wild)),
                "{wild} at word {pos}"
            );
        }
    }
    assert_eq!(topic_binding_keys(), bindings, "deterministic");
}
