"""Python requests, Rust replies (Producer::reply): Python collects the replies with
kombu.common.collect_replies.

    rpc_client.py URL REQUEST_QUEUE REPLY_QUEUE CORRELATION_PREFIX SERIALIZER[,SERIALIZER...]

Declares REPLY_QUEUE, sends one request per serializer (correlation id PREFIX-SERIALIZER,
reply_to REPLY_QUEUE) to REQUEST_QUEUE through the default exchange, then collects as many
replies (20 s at most) and prints {"replies": [...]}.
"""

import sys

from kombu import Connection, Producer, Queue
from kombu.common import collect_replies

from interop_common import describe, describe_message, emit


def main():
    url, request_queue, reply_queue, prefix, serializers = sys.argv[1:6]
    serializers = serializers.split(",")
    replies = []
    with Connection(url) as conn:
        channel = conn.channel()
        replies_to = Queue(reply_queue, exclusive=True, auto_delete=True)
        replies_to(channel).declare()
        producer = Producer(channel)
        for n, serializer in enumerate(serializers):
            producer.publish(
                {"op": "add", "args": [n, 40], "from": "python", "serializer": serializer},
                routing_key=request_queue, serializer=serializer,
                reply_to=reply_queue, correlation_id=f"{prefix}-{serializer}",
            )
        print(f"sent {len(serializers)} requests", file=sys.stderr, flush=True)

        def capture(body, message):
            entry = describe_message(message)
            entry["body"] = describe(body)
            replies.append(entry)

        # Each drain waits up to 2 s; at most 10 rounds.
        for _ in collect_replies(conn, channel, replies_to, limit=10, timeout=2,
                                 callbacks=[capture], accept=serializers):
            if len(replies) >= len(serializers):
                break
    emit({"replies": replies})


if __name__ == "__main__":
    main()
