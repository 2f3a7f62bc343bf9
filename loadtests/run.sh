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
PORT=${PORT:-18088}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet

work=$(mktemp -d)
RUST_LOG=warn DATABASE_URL="sqlite://$work/load.db?mode=rwc" TAILOR_BIND="127.0.0.1:$PORT" \
  ./target/release/tailor serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT

for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

base="http://127.0.0.1:$PORT"
headers=(-H "Accept-Language: fr-CA,fr;q=0.9,en;q=0.5"
         -H "User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148")
curl -fs "${headers[@]}" "$base/v1/content/home.hero" >/dev/null

run() { # name, path
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${headers[@]}" "$base$2")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-28s %12s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-0}"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores"
run "GET /healthz" "/healthz"
run "GET /v1/content/home.hero" "/v1/content/home.hero"
run "GET /v1/content (3 placements)" "/v1/content?placements=home.hero,checkout.banner,web.footer_promo"
