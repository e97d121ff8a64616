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

Extra arguments after `--` go to cargo (`-- --release`, say). Exits non-zero on the first
failure; prints a total at the end.
"""

import argparse
import json
import os
import re
import subprocess
import sys


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

    passed = failed = 0
    for name, exe, cwd in runs:
        print(f"+ KOMBU_TEST_TRANSPORT={args.transport} {name}"
              + (f" ({len(skips)} not applicable skipped)" if skips else ""), flush=True)
        proc = subprocess.run([exe, *skip_args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(proc.stdout)
        for m in re.finditer(r"^test result: \w+\. (\d+) passed; (\d+) failed", proc.stdout, re.M):
            passed += int(m.group(1))
            failed += int(m.group(2))
        if proc.returncode != 0:
            print(f"{args.transport} suite: `{name}` failed", flush=True)
            sys.exit(proc.returncode)
    print(f"{args.transport} suite: {passed} passed, {failed} failed")


if __name__ == "__main__":
    main()
