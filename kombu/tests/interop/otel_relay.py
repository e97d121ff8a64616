"""Rust -> Python -> Rust trace context: a pika consumer instrumented by OpenTelemetry relays one
message and reports the spans it recorded.

    otel_relay.py URL QUEUE REPLY_QUEUE

Consumes one message (20 s at most) from QUEUE (declared by the Rust driver) through pika with
`opentelemetry-instrumentation-pika` (PikaInstrumentor) and the OpenTelemetry SDK recording into
an in-memory exporter. The instrumentation extracts the W3C trace context from the message's
application headers (`traceparent`, `tracestate`) and opens its consumer span as a child of it;
inside the callback this script publishes a JSON message to REPLY_QUEUE (default exchange)
through the same instrumented channel, so the instrumentation opens a producer span (a child of
the consumer span) and injects its own `traceparent` into the reply's headers. The reply carries
the original body (decoded as text) and the original message id as its correlation id.

Prints {"received": ..., "published": ..., "spans": [...], "versions": ...}: the trace headers
that arrived and that were sent (value and Python type: pika hands AMQP long strings over as
str), and every finished span (name, kind, trace id, span id, parent span id, whether the parent
was remote, attributes), in the order they ended; {"error": ...} too when nothing arrived in
time. Compare chains of parent span ids, not span counts: with a BlockingConnection the
instrumentation wraps both the blocking channel and the channel under it, so one publish makes
two nested producer spans ("<queue> send"), and the traceparent sent is the inner one's.
"""

import json
import sys
import uuid
from urllib.parse import unquote, urlparse

import pika
from opentelemetry import trace
from opentelemetry.instrumentation.pika import PikaInstrumentor
from opentelemetry.instrumentation.pika.version import __version__ as pika_instrumentation_version
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.version import __version__ as sdk_version
from opentelemetry.trace import format_span_id, format_trace_id

from interop_common import emit

TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
WAIT_SECONDS = 20


def connection_parameters(url):
    """pika parameters for a kombu-style URL (`amqp://guest:guest@host:5672//`: vhost `/`)."""
    parts = urlparse(url)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return pika.ConnectionParameters(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5672,
        virtual_host=vhost or "/",
        credentials=pika.PlainCredentials(
            unquote(parts.username or "guest"), unquote(parts.password or "guest")
        ),
        connection_attempts=3,
        retry_delay=1,
    )


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def trace_headers(headers):
    """The trace context headers present in an AMQP headers table, with their Python types."""
    headers = headers or {}
    return {
        k: {"type": type(headers[k]).__name__, "value": text(headers[k])}
        for k in TRACE_HEADERS
        if k in headers
    }


def describe_span(span):
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format_trace_id(ctx.trace_id),
        "span_id": format_span_id(ctx.span_id),
        "trace_flags": f"{int(ctx.trace_flags):02x}",
        "trace_state": ctx.trace_state.to_header() if ctx.trace_state else None,
        "parent_span_id": format_span_id(parent.span_id) if parent else None,
        "parent_trace_id": format_trace_id(parent.trace_id) if parent else None,
        "parent_is_remote": parent.is_remote if parent else None,
        "attributes": {k: text(v) if not isinstance(v, tuple) else list(v)
                       for k, v in (span.attributes or {}).items()},
        "links": [
            {"trace_id": format_trace_id(link.context.trace_id),
             "span_id": format_span_id(link.context.span_id)}
            for link in span.links
        ],
        "status": span.status.status_code.name,
    }


def main():
    url, queue, reply_queue = sys.argv[1], sys.argv[2], sys.argv[3]

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # The global propagator is the default: OTEL_PROPAGATORS=tracecontext,baggage.
    PikaInstrumentor().instrument(tracer_provider=provider)

    report = {}
    connection = pika.BlockingConnection(connection_parameters(url))
    channel = connection.channel()  # instrumented: publish injects, consumer callbacks extract

    def on_message(ch, method, properties, body):
        if "received" in report:  # one message only; leave any other for the broker
            ch.basic_nack(method.delivery_tag, requeue=True)
            return
        report["received"] = {
            "headers": trace_headers(properties.headers),
            "message_id": properties.message_id,
            "exchange": method.exchange,
            "routing_key": method.routing_key,
            "delivery_tag": method.delivery_tag,
            # The span the instrumentation made current for this callback.
            "current_span_id": format_span_id(trace.get_current_span().get_span_context().span_id),
        }
        reply = {"relayed_by": "python", "body": body.decode("utf-8", "replace")}
        props = pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            message_id=str(uuid.uuid4()),
            correlation_id=properties.message_id,
            headers={},
        )
        ch.basic_publish(exchange="", routing_key=reply_queue,
                         body=json.dumps(reply).encode("utf-8"), properties=props)
        report["published"] = {
            "headers": trace_headers(props.headers),
            "message_id": props.message_id,
            "routing_key": reply_queue,
        }
        ch.basic_ack(method.delivery_tag)
        ch.stop_consuming()

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=queue, on_message_callback=on_message)
    connection.call_later(WAIT_SECONDS, channel.stop_consuming)
    channel.start_consuming()
    connection.close()

    provider.force_flush()
    if "received" not in report:
        report["error"] = f"no message on {queue} within {WAIT_SECONDS} s"
    report["spans"] = [describe_span(s) for s in exporter.get_finished_spans()]
    report["versions"] = {
        "pika": pika.__version__,
        "opentelemetry-sdk": sdk_version,
        "opentelemetry-instrumentation-pika": pika_instrumentation_version,
    }
    emit(report)


if __name__ == "__main__":
    main()
