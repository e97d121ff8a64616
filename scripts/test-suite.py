#!/usr/bin/env python3
"""Run some of the workspace's test binaries again, against another transport.

    python3 scripts/test-suite.py --transport amqp producer consumer ...
    python3 scripts/test-suite.py --transport stomp --not-applicable kombu/tests/stomp_not_applicable.txt producer ...

The binaries are the ones `cargo test --workspace --all-features` built (asked for with
`--no-run`, the same selection, so nothing is compiled again): selecting them with
`cargo test --test NAME` instead resolves features for fewer targets and rebuilds the
workspace, which costs minutes and gigabytes of disk in CI. Each runs in its package's folder
with `KOMBU_TEST_TRANSPORT` set, as `cargo test` would run it. With `--not-applicable FILE`,
the tests that file names (one per line, a reason after the name) are skipped, and a name that
is no test of the suite is an error, so a stale entry hides nothing.

Each binary gets a run id of its own in `KOMBU_TEST_RUN_ID`, which the tests put in the name of
every queue and exchange they declare (`kombu/tests/common`); once it has run, the queues and
exchanges whose names hold that id are deleted through the management API (on 127.0.0.1:15672,
or `KOMBU_TEST_MANAGEMENT_URL`), so the suite leaves the broker as it found it, and the count
is printed.

Extra arguments after `--` go to cargo (`-- --release`, say). Exits non-zero on the first
failure; prints a total at the end.
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def management(method, path):
    base = os.environ.get("KOMBU_TEST_MANAGEMENT_URL", "http://127.0.0.1:15672/api")
    auth = "Basic " + base64.b64encode(b"guest:guest").decode()
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": auth})
    with urllib.request.urlopen(request, timeout=30) as reply:
        body = reply.read()
    return json.loads(body) if body else None


def delete_run(run_id, transport):
    """Deletes the queues and exchanges of vhost / whose names hold `run_id`; how many."""
    if transport == "memory":
        return 0
    deleted = 0
    try:
        for kind in ("queues", "exchanges"):
            for entity in management("GET", f"/{kind}/%2F?disable_stats=true&columns=name"):
                name = entity["name"]
                if run_id not in name:
                    continue
                try:
                    management("DELETE", f"/{kind}/%2F/{urllib.parse.quote(name, safe='')}")
                    deleted += 1
                except urllib.error.HTTPError as e:
                    if e.code != 404:  # gone already (auto-delete)
                        raise
    except (urllib.error.URLError, OSError) as e:
        print(f"cannot clean up run {run_id} through the management API: {e}", flush=True)
    return deleted


def binaries(cargo_args):
    cmd = ["cargo", "test", "--workspace", "--all-features", "--no-run",
           "--message-format=json-render-diagnostics", *cargo_args]
    print("+ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        target = msg["target"]
        if "test" not in target["kind"]:
            continue
        found.setdefault(target["name"], []).append(
            (msg["executable"], os.path.dirname(msg["manifest_path"])))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", required=True)
    parser.add_argument("--not-applicable")
    parser.add_argument("tests", nargs="+")
    args, cargo_args = parser.parse_known_args()
    cargo_args = [a for a in cargo_args if a != "--"]

    skips = []
    if args.not_applicable:
        with open(args.not_applicable) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    skips.append(line.split()[0])

    found = binaries(cargo_args)
    env = dict(os.environ, KOMBU_TEST_TRANSPORT=args.transport)
    runs = []
    for name in args.tests:
        places = found.get(name)
        if not places:
            sys.exit(f"no test binary `{name}` was built by cargo test --workspace --all-features")
        if len(places) > 1:
            sys.exit(f"more than one test binary is called `{name}`: {places}")
        runs.append((name, *places[0]))

    listed = set()
    for name, exe, cwd in runs:
        out = subprocess.run([exe, "--list"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                             check=True, text=True).stdout
        listed.update(l[: -len(": test")] for l in out.splitlines() if l.endswith(": test"))
    for skip in skips:
        if skip not in listed:
            sys.exit(f"{args.not_applicable}: `{skip}` is not a test of the suite")
    skip_args = [a for s in skips for a in ("--skip", s)]
    if skips:
        skip_args.insert(0, "--exact")

    passed = failed = left = 0
    for index, (name, exe, cwd) in enumerate(runs):
        print(f"+ KOMBU_TEST_TRANSPORT={args.transport} {name}"
              + (f" ({len(skips)} not applicable skipped)" if skips else ""), flush=True)
        run_id = f"s{os.getpid():x}{index:x}{int(time.time() * 1000) % (1 << 32):x}"
        proc = subprocess.run([exe, *skip_args], cwd=cwd,
                              env=dict(env, KOMBU_TEST_RUN_ID=run_id), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(proc.stdout)
        left += delete_run(run_id, args.transport)
        for m in re.finditer(r"^test result: \w+\. (\d+) passed; (\d+) failed", proc.stdout, re.M):
            passed += int(m.group(1))
            failed += int(m.group(2))
        if proc.returncode != 0:
            print(f"{args.transport} suite: `{name}` failed", flush=True)
            sys.exit(proc.returncode)
    print(f"{args.transport} suite: {passed} passed, {failed} failed; "
          f"{left} queues and exchanges of the tests deleted")


if __name__ == "__main__":
    main()
