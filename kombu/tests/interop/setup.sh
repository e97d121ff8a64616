#!/usr/bin/env bash
# Create (or refresh) the virtualenv with Python kombu for the interop suite
# (kombu/tests/interop.rs), with pika and OpenTelemetry for otel_relay.py and Celery for the
# Celery suite (kombu/tests/celery.rs), and print the path of its python.
#
#   kombu/tests/interop/setup.sh            # venv at <workspace>/target/interop-venv
#   KOMBU_INTEROP_VENV=/some/dir setup.sh   # venv elsewhere
#
# Idempotent: pip runs only when the requirements (or the base python) changed since the last
# successful install, which a stamp file in the venv records.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${KOMBU_INTEROP_VENV:-$root/target/interop-venv}"
requirements="$here/requirements.txt"
base_python="${PYTHON:-python3}"

command -v "$base_python" >/dev/null || { echo "setup.sh: $base_python not found" >&2; exit 1; }

want="$( { cat "$requirements"; "$base_python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
stamp="$venv/.kombu-interop-requirements.sha256"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "interop venv is up to date: $venv" >&2
else
  if [ ! -x "$venv/bin/python" ]; then
    echo "+ $base_python -m venv $venv" >&2
    "$base_python" -m venv "$venv"
  fi
  rm -f "$stamp"
  echo "+ $venv/bin/python -m pip install -r $requirements" >&2
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements" >&2
  "$venv/bin/python" -c 'import kombu, msgpack, yaml, brotli, zstandard' \
    || { echo "setup.sh: the venv cannot import kombu and its codecs" >&2; exit 1; }
  "$venv/bin/python" -c 'import pika, opentelemetry.sdk.trace, opentelemetry.instrumentation.pika' \
    || { echo "setup.sh: the venv cannot import pika and OpenTelemetry (otel_relay.py)" >&2; exit 1; }
  "$venv/bin/python" -c 'import celery' \
    || { echo "setup.sh: the venv cannot import celery (kombu/tests/celery.rs)" >&2; exit 1; }
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
