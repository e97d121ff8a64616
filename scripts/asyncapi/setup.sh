#!/usr/bin/env bash
# Installs the AsyncAPI validator (validate.mjs with the official schemas from
# @asyncapi/specs, by package-lock.json) and real AsyncAPI documents to test it and
# `kombu import --asyncapi` with (the examples the @asyncapi/cli package ships: Slack's,
# Gitter's, Kraken's and Adeo's APIs, an AMQP RPC server and client), and prints the directory.
#
#   scripts/asyncapi/setup.sh             # into <workspace>/target/asyncapi
#   KOMBU_ASYNCAPI_DIR=/some/dir setup.sh
#
# Idempotent: npm runs only when package-lock.json changed since the last successful install.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="${KOMBU_ASYNCAPI_DIR:-$root/target/asyncapi}"
# The release of @asyncapi/cli whose bundled examples the tests read.
cli_version=4.1.1

command -v node >/dev/null || { echo "setup.sh: node not found (the AsyncAPI validator runs on Node.js)" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm not found" >&2; exit 1; }

want="$( { cat "$here/package.json" "$here/package-lock.json" "$here/validate.mjs"; echo "$cli_version"; node --version; } | sha256sum | cut -d' ' -f1)"
stamp="$dir/.kombu-asyncapi.sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "AsyncAPI validator is up to date: $dir" >&2
else
  rm -rf "$dir"
  mkdir -p "$dir/examples"
  cp "$here/package.json" "$here/package-lock.json" "$here/validate.mjs" "$dir/"
  echo "+ npm ci (in $dir)" >&2
  (cd "$dir" && npm ci --silent --no-audit --no-fund >&2)
  echo "+ npm pack @asyncapi/cli@$cli_version (its example documents)" >&2
  (cd "$dir" && npm pack --silent "@asyncapi/cli@$cli_version" >/dev/null \
    && tar xzf asyncapi-cli-$cli_version.tgz --strip-components=3 -C examples package/assets/examples \
    && rm asyncapi-cli-$cli_version.tgz)
  ls "$dir/examples/rpc-server-asyncapi.yml" "$dir/examples/slack-rtm-asyncapi.yml" >/dev/null \
    || { echo "setup.sh: the example documents are missing" >&2; exit 1; }
  echo "$want" >"$stamp"
fi
echo "$dir"
