"""Rust publishes, Python consumes: decode every message and report what arrived.

    consume.py URL QUEUE COUNT

Consumes COUNT messages (or until 20 s pass) with an explicit accept list, acks each one, and
prints {"messages": [...]} in arrival order: properties, headers, and the decoded body described
by type name and str(value), or the error Python kombu raised.
"""

import socket
import sys
import time

from kombu import Connection, Consumer, Queue

from interop_common import ACCEPT, describe, describe_message, emit, error_text


def main():
    url, queue, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    report = []

    def on_message(message):
        entry = describe_message(message)
        try:
            entry["body"] = describe(message.decode())
        except Exception as exc:  # reported, compared by the Rust driver
            entry["error"] = error_text(exc)
        report.append(entry)
        message.ack()

    def on_decode_error(message, exc):
        # Decompression failures land here (kombu keeps them in message.errors).
        entry = describe_message(message)
        entry["error"] = error_text(exc)
        report.append(entry)
        message.ack()

    with Connection(url) as conn:
        consumer = Consumer(
            conn.channel(), queues=[Queue(queue, no_declare=True)], accept=ACCEPT,
            on_message=on_message, on_decode_error=on_decode_error,
        )
        deadline = time.monotonic() + 20
        with consumer:
            while len(report) < count and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except socket.timeout:
                    pass
    emit({"messages": report})


if __name__ == "__main__":
    main()
