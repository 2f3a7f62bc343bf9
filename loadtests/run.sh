#!/usr/bin/env bash
# Load run: GET /v1/content/home.hero beside GET /healthz on the same server, same run.
#
#   bash loadtests/run.sh            # 10 s per endpoint, 32 connections, 1 wrk thread
#   DURATION=30s CONNECTIONS=64 bash loadtests/run.sh
#
# Starts a release build of `tailor serve` on a throw-away SQLite database (the embedded
# default), waits for /readyz, warms the caches, then runs wrk against each endpoint and
# prints requests/s and p99. Traffic goes to 127.0.0.1 only; wrk stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
# wrk takes one of the two cores, so one server worker is the fair set-up here.
export TAILOR_WORKERS=${TAILOR_WORKERS:-1}
# One load generator is one client network: no per-client limit on /v1/context.
export TAILOR_RATE_LIMITS__CONTEXT__PER_SECOND=0
PORT=${PORT:-18088}

source loadtests/lib.sh
start_server "sqlite://$work/load.db?mode=rwc"
headers=(-H "Accept-Language: fr-CA,fr;q=0.9,en;q=0.5"
         -H "User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148")
curl -fs "${headers[@]}" "$base/v1/content/home.hero" >/dev/null

run() { # name, path
  local rps p50 p99 errors
  read -r rps p50 p99 errors < <(summary "$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${headers[@]}" "$base$2")")
  printf '%-28s %12s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-0}"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores"
run "GET /healthz" "/healthz"
run "GET /v1/content/home.hero" "/v1/content/home.hero"
run "GET /v1/content (3 placements)" "/v1/content?placements=home.hero,checkout.banner,web.footer_promo"
