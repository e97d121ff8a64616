#!/usr/bin/env bash
# The behaviour suite on stomp:// against RabbitMQ's STOMP plugin (61613) and, for the
# declarations STOMP cannot make, RabbitMQ over AMQP (5672). The tests listed in
# stomp_not_applicable.txt are skipped, with the reason given there.
#
#   bash kombu/tests/stomp_suite.sh [extra cargo test arguments]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
names=()
while read -r name _; do
  names+=("$name")
done < <(grep -Ev '^[[:space:]]*(#|$)' "$here/stomp_not_applicable.txt")
suite=(--test producer --test consumer --test concurrency --test message --test dead_letter --test qos --test simple_queue --test routing --test derive)
# Every listed name must still be a test of the suite: a stale entry would hide nothing.
listed=$(KOMBU_TEST_TRANSPORT=stomp cargo test -q "$@" "${suite[@]}" -- --list 2>/dev/null | sed -n 's/: test$//p')
skips=()
for name in "${names[@]}"; do
  grep -qx "$name" <<<"$listed" || { echo "stomp_not_applicable.txt: \`$name\` is not a test of the suite" >&2; exit 1; }
  skips+=(--skip "$name")
done
echo "+ KOMBU_TEST_TRANSPORT=stomp cargo test ${suite[*]} $* -- ($(( ${#skips[@]} / 2 )) not applicable skipped)"
KOMBU_TEST_TRANSPORT=stomp cargo test "$@" "${suite[@]}" -- --exact "${skips[@]}"
