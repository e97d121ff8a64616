"""Python publishes, Rust consumes: the serializer x compression matrix and the properties.

    publish.py URL MAIN_QUEUE PICKLE_QUEUE REFUSE_QUEUE

The queues exist already (the Rust driver declared them). Publishes through the default
exchange and prints the manifest: for each queue, the case names in publish order.
"""

import sys

from kombu import Connection, Producer

from interop_common import (BLOB, CODECS, CSV, DOC, JPEG, LATIN1, RAW, SPECIAL, TEXT, emit)


def body_of(kind):
    """(body, publish options) of one kind of message."""
    if kind == "json":
        return dict(DOC, **SPECIAL), {"serializer": "json"}
    if kind == "yaml":
        return DOC, {"serializer": "yaml"}
    if kind == "msgpack":
        return dict(DOC, blob=BLOB), {"serializer": "msgpack"}
    if kind == "pickle":
        return dict(DOC, blob=BLOB, pair=(1, "a")), {"serializer": "pickle"}
    if kind == "raw":
        return RAW, {}
    if kind == "text":
        return TEXT, {}
    if kind == "jpeg":
        return JPEG, {"content_type": "image/jpeg"}
    if kind == "csv":
        return CSV, {"content_type": "text/csv"}
    if kind == "latin1":
        return LATIN1, {"content_type": "text/csv", "content_encoding": "latin-1"}
    if kind == "empty":
        return b"", {}
    raise ValueError(kind)


MAIN_KINDS = ["json", "yaml", "msgpack", "raw", "text", "jpeg", "csv", "latin1", "empty"]
REFUSE_KINDS = ["pickle", "yaml", "msgpack", "jpeg", "csv", "json", "raw", "text"]


def main():
    url, main_queue, pickle_queue, refuse_queue = sys.argv[1:5]
    manifest = {"main": [], "pickle": [], "refuse": []}
    with Connection(url) as conn:
        producer = Producer(conn.channel())

        def publish(queue, key, case, body, headers=None, **options):
            if headers is None:
                headers = {"x-case": case}
            producer.publish(body, routing_key=queue, headers=headers, **options)
            manifest[key].append(case)

        # What a plain publish puts on the wire: no headers given at all.
        producer.publish({"plain": True}, routing_key=main_queue)
        manifest["main"].append("plain")
        publish(
            main_queue, "main", "properties", {"op": "properties"},
            headers={
                "x-case": "properties", "x-str": "value \u2713", "x-int": 42,
                "x-neg": -7, "x-big": 2 ** 40, "x-bool": True, "x-float": 1.5,
                "x-list": [1, "a"], "x-table": {"k": "v"},
            },
            priority=7, expiration=120, reply_to="reply.queue",
            correlation_id="corr-123", message_id="msg-456",
        )
        for codec in CODECS:
            suffix = codec or "none"
            for kind in MAIN_KINDS:
                body, options = body_of(kind)
                publish(main_queue, "main", f"{kind}+{suffix}", body, compression=codec, **options)
            body, options = body_of("pickle")
            publish(pickle_queue, "pickle", f"pickle+{suffix}", body, compression=codec, **options)
        for kind in REFUSE_KINDS:
            body, options = body_of(kind)
            publish(refuse_queue, "refuse", f"{kind}+none", body, **options)
            if kind == "pickle":
                publish(refuse_queue, "refuse", "pickle+zlib", body, compression="zlib", **options)
    emit(manifest)


if __name__ == "__main__":
    main()
