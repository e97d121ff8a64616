#!/usr/bin/env python3
"""Delete what the broker tests left on a RabbitMQ, through the management API: queues and
exchanges of vhost /, and the virtual hosts some tests create for themselves.

    python3 scripts/test-broker-cleanup.py snapshot FILE   # before the tests: what exists
    python3 scripts/test-broker-cleanup.py clean FILE      # after: delete what is new

Only queues, exchanges and vhosts absent from the snapshot are deleted, so what the broker held before
(a developer's own queues) is left alone. CI runs it around the tests; run it yourself after a
local `cargo test` against a broker you keep. Prints how many it deleted.
"""
import base64
import json
import sys
import urllib.parse
import urllib.request

API = "http://127.0.0.1:15672/api"
AUTH = "Basic " + base64.b64encode(b"guest:guest").decode()


def call(method, path):
    request = urllib.request.Request(API + path, method=method, headers={"Authorization": AUTH})
    with urllib.request.urlopen(request, timeout=30) as reply:
        body = reply.read()
    return json.loads(body) if body else None


def entities():
    queues = call("GET", "/queues/%2F?disable_stats=true&columns=name")
    exchanges = call("GET", "/exchanges/%2F?disable_stats=true&columns=name")
    vhosts = call("GET", "/vhosts?disable_stats=true&columns=name")
    return (
        {("queues", q["name"]) for q in queues}
        | {("exchanges", x["name"]) for x in exchanges if x["name"] and not x["name"].startswith("amq.")}
        | {("vhosts", v["name"]) for v in vhosts}
    )


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("snapshot", "clean"):
        sys.exit(__doc__)
    command, file = sys.argv[1], sys.argv[2]
    if command == "snapshot":
        with open(file, "w") as f:
            json.dump(sorted(entities()), f)
        return
    with open(file) as f:
        before = {tuple(e) for e in json.load(f)}
    new = sorted(entities() - before)
    for kind, name in new:
        quoted = urllib.parse.quote(name, safe="")
        try:
            call("DELETE", f"/vhosts/{quoted}" if kind == "vhosts" else f"/{kind}/%2F/{quoted}")
        except urllib.error.HTTPError as e:
            if e.code != 404:  # gone already (auto-delete)
                raise
    count = {kind: sum(k == kind for k, _ in new) for kind in ("queues", "exchanges", "vhosts")}
    print(f"deleted {count['queues']} queues, {count['exchanges']} exchanges and "
          f"{count['vhosts']} virtual hosts the tests left")


if __name__ == "__main__":
    main()
