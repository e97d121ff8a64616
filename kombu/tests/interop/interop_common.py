"""What the interop scripts share: the documents both sides send, and `describe`, which turns
a decoded body into JSON the Rust driver (kombu/tests/interop.rs) compares exactly.

Every script takes the broker URL as its first argument and prints one JSON document on stdout;
diagnostics go to stderr.
"""

import json
import sys
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import kombu

# The compression codecs Python kombu has, by the alias used to publish (None: uncompressed).
CODECS = [None, "zlib", "bzip2", "lzma", "brotli", "zstd"]

# Everything a consumer in these scripts accepts (Rust cannot write pickle).
ACCEPT = ["json", "yaml", "msgpack", "application/data", "text/plain", "image/jpeg", "text/csv"]

# A document every serializer can carry.
DOC = {
    "text": "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c",
    "int": -42,
    "big": 9007199254740993,
    "float": 3.25,
    "flag": True,
    "none": None,
    "list": [1, "two", 3.5],
    "nested": {"deeper": {"k": []}},
}

# Values only Python kombu's JSON wrappers (`__type__`/`__value__`) carry.
SPECIAL = {
    "aware": datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2))),
    "utc": datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc),
    "naive": datetime(2024, 5, 1, 12, 30, 0),
    "day": date(2024, 5, 1),
    "clock": time(12, 30, 0, 500000),
    "price": Decimal("19.990"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "text_bytes": "abc \u2713".encode("utf-8"),
    "raw_bytes": b"\xff\x00\x80",
}

BLOB = b"\xff\x00\x80binary"
RAW = b"\x00\x01\xfe\xff raw \x80"
TEXT = "plain text \u2713 \u65e5\u672c"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
CSV = "a,b\n1,\u00e9\n"
LATIN1 = "caf\u00e9 cr\u00e8me"


def describe(v):
    """A decoded value as JSON: containers by kind, scalars as [type name, str(value)]."""
    if isinstance(v, dict):
        return {"dict": {str(k): describe(x) for k, x in v.items()}}
    if isinstance(v, (list, tuple)):
        return {type(v).__name__: [describe(x) for x in v]}
    return [type(v).__name__, str(v)]


def describe_message(message):
    """The properties and headers of a received message (not its body)."""
    props = dict(message.properties)
    headers = props.pop("application_headers", None)
    return {
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "headers": None if headers is None else {k: describe(v) for k, v in headers.items()},
        "properties": {k: v if isinstance(v, (int, str)) else str(v) for k, v in props.items()},
    }


def error_text(exc):
    return f"{type(exc).__name__}: {exc}"


def emit(report):
    report["kombu"] = kombu.__version__
    json.dump(report, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()
