"""Python kombu's side of benches/amqp_clients.rs: one workload, timed here, seconds on stdout.

Usage: amqp_bench.py WORKLOAD URL QUEUE N SAMPLE_JSON
WORKLOAD is publish, publish-confirms, consume-ack or consume-multiple. Bodies are SAMPLE_JSON
with its sequence number set per message, serialized by kombu's json serializer.
"""

import json
import sys
import time

import kombu


def body(sample, i):
    if "n" in sample:
        sample["n"] = 1_000_000_000 + i
    elif "id" in sample:
        sample["id"] = i
    else:
        sample["reading"]["id"] = i
    return sample


def publish(url, queue, n, sample, confirms):
    options = {"confirm_publish": True} if confirms else {}
    with kombu.Connection(url, transport_options=options) as conn:
        channel = conn.channel()
        producer = kombu.Producer(channel, routing_key=queue, serializer="json")
        start = time.perf_counter()
        for i in range(n):
            producer.publish(body(sample, i), delivery_mode=2, priority=0)
        if not confirms:
            # One round trip on the publishing channel: the broker has every message.
            channel.queue_declare(queue=queue, passive=True)
        return time.perf_counter() - start


def consume(url, queue, n, multiple):
    seen = 0

    def handle(decoded, message):
        nonlocal seen
        seen += 1
        if not multiple:
            message.ack()
        elif seen % 100 == 0 or seen == n:
            message.ack(multiple=True)

    with kombu.Connection(url) as conn:
        channel = conn.channel()
        q = kombu.Queue(queue, no_declare=True)
        consumer = kombu.Consumer(
            channel, [q], callbacks=[handle], accept=["json"], prefetch_count=256
        )
        consumer.consume()
        start = time.perf_counter()
        while seen < n:
            conn.drain_events(timeout=30)
        consumer.cancel()
        return time.perf_counter() - start


def main():
    workload, url, queue, n, sample = sys.argv[1:6]
    n = int(n)
    sample = json.loads(sample)
    if workload == "publish":
        elapsed = publish(url, queue, n, sample, False)
    elif workload == "publish-confirms":
        elapsed = publish(url, queue, n, sample, True)
    elif workload == "consume-ack":
        elapsed = consume(url, queue, n, False)
    elif workload == "consume-multiple":
        elapsed = consume(url, queue, n, True)
    else:
        sys.exit(f"unknown workload {workload}")
    print(elapsed)


if __name__ == "__main__":
    main()
