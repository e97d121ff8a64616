//! What kombu shows of itself while it runs: `tracing` spans named and attributed by
//! OpenTelemetry's semantic conventions for messaging, counters and histograms through the
//! `metrics` facade, and, with the `opentelemetry` feature, W3C trace context carried in the
//! message headers. The rest of the crate calls the functions here; the names live here only.
//!
//! # Spans
//!
//! | span | level | `otel.kind` | around |
//! |---|---|---|---|
//! | `connect` | info | client | opening a connection |
//! | `declare` | debug | client | one exchange, queue or binding declaration |
//! | `publish` | info | producer | one publish, up to its confirm when the producer confirms |
//! | `process` | info | consumer | one delivery handed to a handler, up to its settling |
//!
//! Each carries `otel.name` (`publish orders:created`, `process orders`), `messaging.system =
//! "rabbitmq"`, `messaging.operation.type` and `messaging.operation.name`,
//! `messaging.destination.name` (`exchange:routing_key` on publish, `exchange:routing_key:queue`
//! on delivery, with empty or repeated parts left out, as the conventions say), the routing key
//! (`messaging.rabbitmq.destination.routing_key`), the delivery tag, `messaging.message.id`,
//! `messaging.message.conversation_id` (the correlation id), the body size, and `error.type` when
//! it failed. `tracing-opentelemetry` turns them into OpenTelemetry spans as they are. Per message
//! events (delivered, settled) are at debug level; a message rejected or dead-lettered is logged at
//! warn level with the consumer, the queue and the delivery tag.
//!
//! # Metrics
//!
//! Through the [`metrics`](https://docs.rs/metrics) facade (nothing is recorded until the
//! application installs a recorder, e.g. a Prometheus or OpenTelemetry exporter):
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `messaging.client.sent.messages` | counter | `messaging.destination.name` (the exchange), `error.type` on failure |
//! | `messaging.client.operation.duration` | histogram, seconds | publish to confirm; same labels |
//! | `kombu.publish.confirmed`, `kombu.publish.nacked` | counter | exchange |
//! | `messaging.client.consumed.messages` | counter | `messaging.destination.name` (the queue) |
//! | `kombu.delivery.redelivered` | counter | queue |
//! | `kombu.delivery.acked`, `kombu.delivery.rejected`, `kombu.delivery.requeued` | counter | |
//! | `messaging.process.duration` | histogram, seconds | handler time, by consumer and queue |
//! | `kombu.handlers.in_flight` | gauge | consumer |
//!
//! Every metric also has `messaging.system = "rabbitmq"` and `messaging.operation.name`.
//!
//! # Trace context (feature `opentelemetry`)
//!
//! A publish writes the W3C `traceparent` (and `tracestate`) of its span into the message's
//! headers as strings (never byte arrays, which Python's instrumentations cannot read), unless
//! the application set them itself; a delivery's `process` span continues the trace those headers
//! name (as its parent, as Python's `opentelemetry-instrumentation-pika` and `-celery` do). This
//! goes through OpenTelemetry's global propagator: install one, e.g.
//! `opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new())` from
//! `opentelemetry_sdk` 0.32 or later (earlier versions refuse the trace flags `03` that Python's
//! SDK writes), and a `tracing-opentelemetry` layer.

use std::time::Duration;

use tracing::field::Empty;

use crate::field::FieldTable;
use crate::transport::Delivery;

/// `messaging.system`.
const SYSTEM: &str = "rabbitmq";

/// `messaging.destination.name` of a publish: `exchange:routing_key`, the one that is not
/// empty, or `amq.default` for the default exchange without a key.
pub(crate) fn publish_destination(exchange: &str, routing_key: &str) -> String {
    match (exchange.is_empty(), routing_key.is_empty()) {
        (false, false) => format!("{exchange}:{routing_key}"),
        (false, true) => exchange.to_owned(),
        (true, false) => routing_key.to_owned(),
        (true, true) => "amq.default".to_owned(),
    }
}

/// `messaging.destination.name` of a delivery: `exchange:routing_key:queue` with empty parts
/// left out, and the queue left out when the routing key is its name.
pub(crate) fn delivery_destination(exchange: &str, routing_key: &str, queue: &str) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(3);
    for part in [exchange, routing_key, queue] {
        if !part.is_empty() && parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    if parts.is_empty() {
        "amq.default".to_owned()
    } else {
        parts.join(":")
    }
}

/// The span of opening a connection.
pub(crate) fn connect_span(host: &str, port: u16) -> tracing::Span {
    tracing::info_span!(
        "connect",
        otel.name = "connect",
        otel.kind = "client",
        messaging.system = SYSTEM,
        server.address = host,
        server.port = port,
        error.type = Empty,
    )
}

/// Runs one declaration (`what` is `exchange`, `queue` or `binding`) in its span, marking the
/// span failed when the broker refuses it.
pub(crate) async fn declaring<T>(
    what: &'static str,
    name: &str,
    declaration: impl std::future::Future<Output = crate::Result<T>>,
) -> crate::Result<T> {
    let span = declare_span(what, name);
    let outcome = tracing::Instrument::instrument(declaration, span.clone()).await;
    if let Err(e) = &outcome {
        failed(&span, e.kind());
    }
    outcome
}

fn declare_span(what: &'static str, name: &str) -> tracing::Span {
    tracing::debug_span!(
        "declare",
        otel.name = %format_args!("declare {name}"),
        otel.kind = "client",
        messaging.system = SYSTEM,
        kombu.entity = what,
        kombu.name = name,
        error.type = Empty,
    )
}

/// The span of one publish (to its confirm).
pub(crate) fn publish_span(
    exchange: &str,
    routing_key: &str,
    properties: &crate::Properties,
    body_size: usize,
) -> tracing::Span {
    tracing::info_span!(
        "publish",
        otel.name = %format_args!("publish {}", publish_destination(exchange, routing_key)),
        otel.kind = "producer",
        messaging.system = SYSTEM,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = %publish_destination(exchange, routing_key),
        messaging.rabbitmq.destination.routing_key = routing_key,
        messaging.message.id = properties.message_id.as_deref(),
        messaging.message.conversation_id = properties.correlation_id.as_deref(),
        messaging.message.body.size = body_size,
        error.type = Empty,
    )
}

/// The span of one delivery handed to a handler: it continues the trace the message's headers
/// carry (feature `opentelemetry`).
pub(crate) fn process_span(
    consumer: &str,
    queue: Option<&str>,
    delivery: &Delivery,
    delivery_tag: u64,
) -> tracing::Span {
    let queue = queue.unwrap_or("");
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {}", delivery_destination(&delivery.exchange, &delivery.routing_key, queue)),
        otel.kind = "consumer",
        messaging.system = SYSTEM,
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %delivery_destination(&delivery.exchange, &delivery.routing_key, queue),
        messaging.rabbitmq.destination.routing_key = &*delivery.routing_key,
        messaging.rabbitmq.message.delivery_tag = delivery_tag,
        messaging.message.id = delivery.properties.message_id.as_deref(),
        messaging.message.conversation_id = delivery.properties.correlation_id.as_deref(),
        messaging.message.body.size = delivery.body.len(),
        kombu.consumer = consumer,
        kombu.redelivered = delivery.redelivered,
        error.type = Empty,
    );
    #[cfg(feature = "opentelemetry")]
    if !span.is_disabled() {
        trace_context::continue_from(&span, delivery.properties.headers.as_ref());
    }
    span
}

/// Marks `span` failed with `kind` (`error.type`).
pub(crate) fn failed(span: &tracing::Span, kind: crate::ErrorKind) {
    failed_as(span, kind.code());
}

/// Marks `span` failed with `error_type`.
pub(crate) fn failed_as(span: &tracing::Span, error_type: &'static str) {
    span.record("error.type", error_type);
}

/// Writes the trace context of `span` into `headers` (feature `opentelemetry`; otherwise
/// nothing). Headers the application set itself are kept.
pub(crate) fn inject(span: &tracing::Span, headers: &mut FieldTable) {
    #[cfg(feature = "opentelemetry")]
    if !span.is_disabled() {
        trace_context::inject(span, headers);
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = (span, headers);
}

/// A publish ended: counted, timed, and its confirm (or refusal) counted.
pub(crate) fn published(
    exchange: &str,
    elapsed: Duration,
    outcome: Result<bool, crate::ErrorKind>,
) {
    let destination = if exchange.is_empty() {
        "amq.default"
    } else {
        exchange
    };
    match outcome {
        // The common case, once per message: keys made once per destination.
        Ok(confirmed) => keys::with(keys::Kind::Publish, destination, "", |keys| {
            metrics::with_recorder(|recorder| {
                if confirmed {
                    recorder
                        .register_counter(&keys[1], &keys::METADATA)
                        .increment(1);
                }
                recorder
                    .register_counter(&keys[0], &keys::METADATA)
                    .increment(1);
                recorder
                    .register_histogram(&keys[2], &keys::METADATA)
                    .record(elapsed.as_secs_f64());
            });
        }),
        Err(kind) => {
            let mut labels = keys::publish_labels(destination);
            if kind == crate::ErrorKind::Nacked {
                metrics::counter!("kombu.publish.nacked", labels.iter()).increment(1);
            }
            labels.push(metrics::Label::from_static_parts("error.type", kind.code()));
            metrics::counter!("messaging.client.sent.messages", labels.iter()).increment(1);
            metrics::histogram!("messaging.client.operation.duration", labels.iter())
                .record(elapsed.as_secs_f64());
        }
    }
}

/// A delivery reached the consumer.
pub(crate) fn delivered(queue: &str, delivery: &Delivery, delivery_tag: u64) {
    tracing::debug!(
        queue,
        delivery_tag = delivery_tag,
        redelivered = delivery.redelivered,
        exchange = &*delivery.exchange,
        routing_key = &*delivery.routing_key,
        body_size = delivery.body.len(),
        "message delivered"
    );
    keys::with(keys::Kind::Delivery, queue, "", |keys| {
        metrics::with_recorder(|recorder| {
            recorder
                .register_counter(&keys[0], &keys::METADATA)
                .increment(1);
            if delivery.redelivered {
                recorder
                    .register_counter(&keys[1], &keys::METADATA)
                    .increment(1);
            }
        });
    });
}

/// A delivery was settled (`outcome`: `ack`, `reject` or `requeue`).
pub(crate) fn settled(delivery_tag: u64, outcome: &'static str) {
    tracing::debug!(delivery_tag, outcome, "message settled");
    keys::with(keys::Kind::Settle, outcome, "", |keys| {
        metrics::with_recorder(|recorder| {
            recorder
                .register_counter(&keys[0], &keys::METADATA)
                .increment(1);
        });
    });
}

/// A handler finished after `elapsed`.
pub(crate) fn handled(consumer: &str, queue: &str, elapsed: Duration) {
    keys::with(keys::Kind::Handled, queue, consumer, |keys| {
        metrics::with_recorder(|recorder| {
            recorder
                .register_histogram(&keys[0], &keys::METADATA)
                .record(elapsed.as_secs_f64());
        });
    });
}

/// How many handlers of `consumer` run now.
pub(crate) fn in_flight(consumer: &str, n: usize) {
    keys::with(keys::Kind::InFlight, consumer, "", |keys| {
        metrics::with_recorder(|recorder| {
            #[allow(clippy::cast_precision_loss)]
            recorder
                .register_gauge(&keys[0], &keys::METADATA)
                .set(n as f64);
        });
    });
}

mod keys {
    //! Metric keys (name and labels) made once per destination and kept per thread: recording a
    //! metric per message then costs the recorder's lookup, not building its labels. The
    //! recorder itself is asked each time, so a local recorder (tests) sees every value.

    use std::cell::RefCell;
    use std::rc::Rc;

    use metrics::{Key, Label, Level, Metadata};

    use crate::fxhash::FxHashMap;

    use super::SYSTEM;

    /// What the `metrics` macros pass for kombu's metrics.
    pub(super) static METADATA: Metadata<'static> =
        Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

    /// A thread keeps the keys of at most this many destinations; past it, it starts over (a
    /// service with a reply queue per request would otherwise grow without bound).
    const MAX_CACHED: usize = 1024;

    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    pub(super) enum Kind {
        /// sent, confirmed, operation duration
        Publish,
        /// consumed, redelivered
        Delivery,
        /// the settle counter of an outcome
        Settle,
        /// process duration of (queue, consumer)
        Handled,
        /// handlers in flight of a consumer
        InFlight,
    }

    /// The keys by `kind`, `a` and `b` joined in one string, and a buffer to join them in, so
    /// that a lookup allocates nothing.
    #[derive(Default)]
    struct Cache {
        scratch: String,
        keys: FxHashMap<String, Rc<Vec<Key>>>,
    }

    thread_local! {
        static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    }

    pub(super) fn publish_labels(destination: &str) -> Vec<Label> {
        vec![
            Label::from_static_parts("messaging.system", SYSTEM),
            Label::from_static_parts("messaging.operation.name", "publish"),
            Label::from_static_parts("messaging.operation.type", "send"),
            Label::new("messaging.destination.name", destination.to_owned()),
        ]
    }

    fn make(kind: Kind, a: &str, b: &str) -> Vec<Key> {
        match kind {
            Kind::Publish => {
                let labels = publish_labels(a);
                [
                    "messaging.client.sent.messages",
                    "kombu.publish.confirmed",
                    "messaging.client.operation.duration",
                ]
                .into_iter()
                .map(|name| Key::from_parts(name, labels.clone()))
                .collect()
            }
            Kind::Delivery => {
                let labels = vec![
                    Label::from_static_parts("messaging.system", SYSTEM),
                    Label::from_static_parts("messaging.operation.name", "process"),
                    Label::new("messaging.destination.name", a.to_owned()),
                ];
                [
                    "messaging.client.consumed.messages",
                    "kombu.delivery.redelivered",
                ]
                .into_iter()
                .map(|name| Key::from_parts(name, labels.clone()))
                .collect()
            }
            Kind::Settle => {
                let name = match a {
                    "ack" => "kombu.delivery.acked",
                    "reject" => "kombu.delivery.rejected",
                    _ => "kombu.delivery.requeued",
                };
                let labels = vec![
                    Label::from_static_parts("messaging.system", SYSTEM),
                    Label::new("messaging.operation.name", a.to_owned()),
                    Label::from_static_parts("messaging.operation.type", "settle"),
                ];
                vec![Key::from_parts(name, labels)]
            }
            Kind::Handled => vec![Key::from_parts(
                "messaging.process.duration",
                vec![
                    Label::from_static_parts("messaging.system", SYSTEM),
                    Label::from_static_parts("messaging.operation.name", "process"),
                    Label::new("messaging.destination.name", a.to_owned()),
                    Label::new("kombu.consumer", b.to_owned()),
                ],
            )],
            Kind::InFlight => vec![Key::from_parts(
                "kombu.handlers.in_flight",
                vec![
                    Label::from_static_parts("messaging.system", SYSTEM),
                    Label::new("kombu.consumer", a.to_owned()),
                ],
            )],
        }
    }

    /// Run `f` with the keys of `kind` for (`a`, `b`), made on first use.
    pub(super) fn with<R>(kind: Kind, a: &str, b: &str, f: impl FnOnce(&[Key]) -> R) -> R {
        let keys = CACHE.with(|cache| {
            let mut guard = cache.borrow_mut();
            let Cache { scratch, keys } = &mut *guard;
            scratch.clear();
            scratch.push(char::from(b'0' + kind as u8));
            scratch.push_str(a);
            scratch.push('\0');
            scratch.push_str(b);
            if let Some(found) = keys.get(scratch.as_str()) {
                return Rc::clone(found);
            }
            if keys.len() >= MAX_CACHED {
                keys.clear();
            }
            let made = Rc::new(make(kind, a, b));
            keys.insert(scratch.clone(), Rc::clone(&made));
            made
        });
        f(&keys)
    }
}

#[cfg(feature = "opentelemetry")]
mod trace_context {
    //! W3C trace context in AMQP headers, through the global OpenTelemetry propagator.

    use opentelemetry::propagation::{Extractor, Injector};
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use crate::field::{FieldTable, FieldValue};

    struct Inject<'a> {
        headers: &'a mut FieldTable,
        /// Keys the application had set: kept as they are.
        kept: Vec<String>,
    }

    impl Injector for Inject<'_> {
        fn set(&mut self, key: &str, value: String) {
            if !self.kept.iter().any(|k| k == key) {
                // Strings (`S`), never byte arrays: Python's instrumentations fail on bytes.
                self.headers
                    .insert(key.to_owned(), FieldValue::String(value));
            }
        }
    }

    struct Extract<'a>(&'a FieldTable);

    impl Extractor for Extract<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match self.0.get(key)? {
                FieldValue::String(s) => Some(s),
                FieldValue::Bytes(b) => std::str::from_utf8(b).ok(),
                _ => None,
            }
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(String::as_str).collect()
        }
    }

    pub(super) fn inject(span: &tracing::Span, headers: &mut FieldTable) {
        let kept = ["traceparent", "tracestate"]
            .into_iter()
            .filter(|k| headers.contains_key(*k))
            .map(str::to_owned)
            .collect();
        let context = span.context();
        let mut injector = Inject { headers, kept };
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&context, &mut injector)
        });
    }

    pub(super) fn continue_from(span: &tracing::Span, headers: Option<&FieldTable>) {
        let Some(headers) = headers else { return };
        let parent =
            opentelemetry::global::get_text_map_propagator(|p| p.extract(&Extract(headers)));
        use opentelemetry::trace::TraceContextExt;
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_follow_the_conventions() {
        assert_eq!(
            publish_destination("direct_logs", "warning"),
            "direct_logs:warning"
        );
        assert_eq!(publish_destination("logs", ""), "logs");
        assert_eq!(publish_destination("", "orders"), "orders");
        assert_eq!(publish_destination("", ""), "amq.default");
        assert_eq!(
            delivery_destination("direct_logs", "warning", "my_queue"),
            "direct_logs:warning:my_queue"
        );
        assert_eq!(delivery_destination("", "orders", "orders"), "orders");
        assert_eq!(delivery_destination("logs", "", "q"), "logs:q");
        assert_eq!(delivery_destination("", "", ""), "amq.default");
    }
}
