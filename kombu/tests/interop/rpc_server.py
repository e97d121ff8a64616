"""Rust requests, Python replies with kombu.common.send_reply.

    rpc_server.py URL REQUEST_QUEUE COUNT

Consumes COUNT requests (20 s at most) from REQUEST_QUEUE (declared by the Rust driver), answers
each with send_reply through the default exchange, and prints {"requests": [...]}: what each
request looked like on arrival.
"""

import socket
import sys
import time

from kombu import Connection, Consumer, Producer, Queue
from kombu.common import send_reply

from interop_common import describe, describe_message, emit


def main():
    url, request_queue, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    requests = []
    with Connection(url) as conn:
        channel = conn.channel()
        producer = Producer(channel)

        def on_request(body, message):
            entry = describe_message(message)
            entry["body"] = describe(body)
            requests.append(entry)
            args = body.get("args", [])
            send_reply(
                "", message,
                {"result": sum(args), "echo": body, "from": "python"},
                producer=producer,
            )
            message.ack()

        consumer = Consumer(
            channel, queues=[Queue(request_queue, no_declare=True)],
            accept=["json", "msgpack", "yaml"], callbacks=[on_request],
        )
        deadline = time.monotonic() + 20
        with consumer:
            while len(requests) < count and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except socket.timeout:
                    pass
    emit({"requests": requests})


if __name__ == "__main__":
    main()
