//! What a service sees of kombu at run time: the `publish` and `process` spans with
//! OpenTelemetry's messaging attributes, the warning for a rejected message, the metrics
//! through the `metrics` facade, and (feature `opentelemetry`) the trace context carried in
//! the headers from a publish to the handler of the message, as one trace.
//!
//! On the in-memory broker (the spans and metrics are the transport's callers'); the trace that
//! crosses into Python and back runs in the interop suite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kombu::{Connection, Consumer, Disposition, Producer, Queue, RunOptions, Shutdown};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// An event's level and fields.
type SeenEvent = (tracing::Level, BTreeMap<String, String>);

/// The spans and events a run produced: names and fields.
#[derive(Default, Clone)]
struct Seen {
    spans: Arc<Mutex<Vec<SeenSpan>>>,
    events: Arc<Mutex<Vec<SeenEvent>>>,
}

#[derive(Debug, Clone)]
struct SeenSpan {
    id: u64,
    name: String,
    fields: BTreeMap<String, String>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.spans.lock().unwrap().push(SeenSpan {
            id: id.into_u64(),
            name: attrs.metadata().name().to_owned(),
            fields,
        });
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some(span) = spans.iter_mut().find(|s| s.id == id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields));
    }
}

impl Seen {
    fn spans(&self, name: &str) -> Vec<SeenSpan> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }
}

/// The tests install their subscriber or recorder on their own thread; tracing caches each
/// callsite's interest process-wide, and a callsite first reached on a thread without a
/// subscriber while another test installs one can be cached as uninteresting. One at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Publishes `n` numbers to a fresh queue and handles them with `Consumer::run`; number 1 is
/// rejected by its handler.
async fn publish_and_handle(url: &str, n: usize) {
    let conn = Connection::connect(url).await.unwrap();
    let channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&channel, [Queue::new("telemetry.jobs")]);
    consumer.consume().await.unwrap();
    let producer = Producer::new(&channel)
        .exchange(kombu::Exchange::new(
            "telemetry",
            kombu::ExchangeKind::Direct,
        ))
        .routing_key("jobs")
        .confirm(true);
    channel
        .declare_queue(&Queue::new("telemetry.jobs").bind_to(
            kombu::Exchange::new("telemetry", kombu::ExchangeKind::Direct),
            "jobs",
        ))
        .await
        .unwrap();
    for i in 0..n {
        producer
            .publish(&json!({ "n": i }))
            .message_id(format!("m-{i}"))
            .correlation_id("conversation-7")
            .await
            .unwrap();
    }
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let done = std::sync::atomic::AtomicUsize::new(0);
    consumer
        .run(
            RunOptions::new()
                .name("telemetry-worker")
                .concurrency(2)
                .shutdown(shutdown.clone()),
            async |message| {
                if done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == n {
                    shutdown.token().cancel();
                }
                let number = message
                    .payload()
                    .unwrap()
                    .get("n")
                    .unwrap()
                    .as_i64()
                    .unwrap();
                if number == 1 {
                    Disposition::Reject
                } else {
                    Disposition::Ack
                }
            },
        )
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[test]
fn publish_and_process_spans_carry_the_messaging_conventions() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry().with(seen.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(publish_and_handle("memory://telemetry-spans", 3));
    });

    let publishes = seen.spans("publish");
    assert_eq!(publishes.len(), 3, "one publish span per message");
    let p = &publishes[0].fields;
    assert_eq!(p["otel.name"], "publish telemetry:jobs");
    assert_eq!(p["otel.kind"], "producer");
    assert_eq!(p["messaging.system"], "rabbitmq");
    assert_eq!(p["messaging.operation.type"], "send");
    assert_eq!(p["messaging.destination.name"], "telemetry:jobs");
    assert_eq!(p["messaging.rabbitmq.destination.routing_key"], "jobs");
    assert_eq!(p["messaging.message.id"], "m-0");
    assert_eq!(p["messaging.message.conversation_id"], "conversation-7");
    assert!(
        !p.contains_key("error.type"),
        "a publish that worked has no error.type"
    );

    let processes = seen.spans("process");
    assert_eq!(processes.len(), 3, "one process span per delivery");
    let mut tags: Vec<String> = processes
        .iter()
        .map(|s| s.fields["messaging.rabbitmq.message.delivery_tag"].clone())
        .collect();
    tags.sort();
    assert_eq!(tags, ["1", "2", "3"]);
    let d = &processes[0].fields;
    assert_eq!(d["otel.name"], "process telemetry:jobs:telemetry.jobs");
    assert_eq!(d["otel.kind"], "consumer");
    assert_eq!(d["messaging.operation.type"], "process");
    assert_eq!(d["kombu.consumer"], "telemetry-worker");

    let declares = seen.spans("declare");
    assert!(
        declares
            .iter()
            .any(|s| s.fields["kombu.entity"] == "queue"
                && s.fields["kombu.name"] == "telemetry.jobs"),
        "declarations have spans: {declares:?}"
    );
    assert_eq!(seen.spans("connect").len(), 1);

    let events = seen.events.lock().unwrap();
    let rejected: Vec<_> = events
        .iter()
        .filter(|(level, f)| {
            *level == tracing::Level::WARN
                && f.get("message")
                    .is_some_and(|m| m.starts_with("message rejected"))
        })
        .collect();
    assert_eq!(
        rejected.len(),
        1,
        "the rejected message is logged at warn level once"
    );
    let fields = &rejected[0].1;
    assert_eq!(fields["consumer"], "telemetry-worker");
    assert_eq!(fields["queue"], "telemetry.jobs");
    assert_eq!(fields["delivery_tag"], "2");
    assert!(
        events
            .iter()
            .any(|(level, f)| *level == tracing::Level::DEBUG
                && f.get("message").map(String::as_str) == Some("message delivered")),
        "deliveries are debug events"
    );
}

#[test]
fn metrics_count_publishes_deliveries_and_settlements() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(publish_and_handle("memory://telemetry-metrics", 4));
    });
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    let mut histograms: BTreeMap<String, usize> = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let name = key.key().name().to_owned();
        match value {
            DebugValue::Counter(n) => *counters.entry(name).or_default() += n,
            DebugValue::Histogram(samples) => *histograms.entry(name).or_default() += samples.len(),
            DebugValue::Gauge(_) => {}
        }
    }
    assert_eq!(counters["messaging.client.sent.messages"], 4);
    assert_eq!(counters["kombu.publish.confirmed"], 4);
    assert_eq!(counters["messaging.client.consumed.messages"], 4);
    assert_eq!(counters["kombu.delivery.acked"], 3);
    assert_eq!(counters["kombu.delivery.rejected"], 1);
    assert_eq!(histograms["messaging.client.operation.duration"], 4);
    assert_eq!(histograms["messaging.process.duration"], 4);
}

#[cfg(feature = "opentelemetry")]
#[test]
fn the_trace_context_travels_in_the_headers_from_publish_to_process() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    use opentelemetry::trace::{SpanKind, TracerProvider as _};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("kombu-test");
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let headers = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let conn = Connection::connect("memory://telemetry-otel")
                .await
                .unwrap();
            let channel = conn.channel().await.unwrap();
            let mut consumer = Consumer::new(&channel, [Queue::new("otel.jobs")]);
            consumer.consume().await.unwrap();
            Producer::new(&channel)
                .routing_key("otel.jobs")
                .publish(&json!({ "n": 1 }))
                .await
                .unwrap();
            // A message whose traceparent came from Python's SDK (flags 03: sampled, random).
            Producer::new(&channel)
                .routing_key("otel.jobs")
                .publish(&json!({ "n": 2 }))
                .header(
                    "traceparent",
                    "00-3f6a33ca2211c2b6be3bbfac45ee8b9e-a68c0a0aa1ee319c-03",
                )
                .header("tracestate", "py=1")
                .await
                .unwrap();
            let shutdown = Shutdown::new(Duration::from_secs(5));
            let seen = Mutex::new(Vec::new());
            consumer
                .run(
                    RunOptions::new().shutdown(shutdown.clone()),
                    async |message| {
                        let mut seen = seen.lock().unwrap();
                        seen.push(message.headers().cloned().unwrap_or_default());
                        if seen.len() == 2 {
                            shutdown.token().cancel();
                        }
                        Disposition::Ack
                    },
                )
                .await
                .unwrap();
            conn.close().await.unwrap();
            seen.into_inner().unwrap()
        })
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();

    // The first message: kombu wrote its publish span's context, as a string header.
    let traceparent = match headers[0].get("traceparent") {
        Some(kombu::FieldValue::String(s)) => s.clone(),
        other => panic!("traceparent is written as a string header, got {other:?}"),
    };
    let publish = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Producer)
        .expect("a producer span");
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            publish.span_context.trace_id(),
            publish.span_context.span_id()
        )
    );
    let processes: Vec<_> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Consumer)
        .collect();
    assert_eq!(processes.len(), 2);
    let first = processes
        .iter()
        .find(|s| s.span_context.trace_id() == publish.span_context.trace_id())
        .expect("the process span continues the publish's trace");
    assert_eq!(first.parent_span_id, publish.span_context.span_id());

    // The second: the application's own traceparent was kept, and continued.
    assert_eq!(
        headers[1].get("traceparent").and_then(|v| v.as_str()),
        Some("00-3f6a33ca2211c2b6be3bbfac45ee8b9e-a68c0a0aa1ee319c-03")
    );
    let second = processes
        .iter()
        .find(|s| s.span_context.trace_id().to_string() == "3f6a33ca2211c2b6be3bbfac45ee8b9e")
        .expect("a trace Python's SDK started (flags 03) is continued");
    assert_eq!(second.parent_span_id.to_string(), "a68c0a0aa1ee319c");
    assert_eq!(second.span_context.trace_state().header(), "py=1");
}
