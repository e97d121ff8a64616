#!/usr/bin/env bash
# The behaviour suite on stomp:// against RabbitMQ's STOMP plugin (61613) and, for the
# declarations STOMP cannot make, RabbitMQ over AMQP (5672). The tests listed in
# stomp_not_applicable.txt are skipped, with the reason given there; a listed name that is no
# test of the suite is an error.
#
#   bash kombu/tests/stomp_suite.sh
#
# It runs the binaries `cargo test --workspace --all-features` builds (scripts/test-suite.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 "$here/../../scripts/test-suite.py" --transport stomp \
  --not-applicable "$here/stomp_not_applicable.txt" \
  producer consumer concurrency message dead_letter qos simple_queue routing derive "$@"
