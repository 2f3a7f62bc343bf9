#!/usr/bin/env bash
# Runs schemathesis (every check) against a Tailor it starts on its own SQLite database:
# once anonymously and once with an admin token. Exits non-zero on any failure.
#   bash tests/schemathesis/run.sh [MAX_EXAMPLES]     (default 50)
# Needs the `tailor` binary built (SERVER_BIN, default target/debug/tailor; not a
# TAILOR_ variable: the service refuses unknown ones) and
# schemathesis (pip install schemathesis).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
max_examples=${1:-50}
bin=${SERVER_BIN:-$root/target/debug/tailor}
work=$(mktemp -d)
port=${SCHEMATHESIS_PORT:-18181}
export DATABASE_URL="sqlite://$work/tailor.db?mode=rwc"
export TAILOR_DEV_MODE=true
export TAILOR_DEV_TOKEN_SECRET=schemathesis-dev-token-secret-0123456789
export TAILOR_SERVER_API_KEYS='["schemathesis-server-key-0123456789"]'
export TAILOR_METRICS_TOKEN=schemathesis-metrics-token-0123456789
export TAILOR_GOVERNANCE_EVALUATE_SECS=0
# Schemathesis sends hundreds of requests a second from one address.
export TAILOR_RATE_LIMITS__EVENTS__PER_SECOND=0 TAILOR_RATE_LIMITS__LINKS__PER_SECOND=0 \
  TAILOR_RATE_LIMITS__CONTEXT__PER_SECOND=0 TAILOR_RATE_LIMITS__IDENTIFY_PER_SOURCE__PER_SECOND=0
export RUST_LOG=${RUST_LOG:-error}
cd "$root"
"$bin" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
admin=$("$bin" token --role admin --scope identify)
status=0
for who in anonymous admin; do
  echo "schemathesis: $who, at most $max_examples examples per operation"
  headers=()
  if [ "$who" = admin ]; then headers=(-H "Authorization: Bearer $admin"); fi
  (cd "$here" && schemathesis --config-file "$here/schemathesis.toml" run \
    "http://127.0.0.1:$port/openapi.json" --checks all --max-examples "$max_examples" \
    --seed 1 --workers 1 "${headers[@]}") || status=1
done
exit $status
