#!/usr/bin/env bash
# Load run through a Redis outage: person requests (a new X-Anonymous-Id per request,
# so each one looks the person up: Redis, then the database) while Redis is up, while
# it is killed (connections refused), and while it is frozen (SIGSTOP: connections
# accepted, nothing answered, the case that used to hang requests ~9.5 s).
#
#   DATABASE=postgres bash loadtests/outage.sh   # PostgreSQL (database tailor_outage)
#   bash loadtests/outage.sh                     # SQLite
#
# Starts its own redis-server on REDIS_PORT (never the shared one). Prints requests/s,
# p50, p99 and non-2xx per phase, and p99 as a multiple of the phase with Redis up.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18092}
REDIS_PORT=${REDIS_PORT:-16392}
export TAILOR_WORKERS=${TAILOR_WORKERS:-1}
export TAILOR_METRICS_TOKEN=load-metrics-token-0123456789abcdef

source loadtests/lib.sh
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis=$!
trap 'kill -CONT $redis 2>/dev/null || true; kill -9 $redis 2>/dev/null || true; kill -TERM ${server:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
database_url tailor_outage
start_server "$url"
# start_server replaced the trap: stop Redis as well.
trap 'kill -CONT $redis 2>/dev/null || true; kill -9 $redis 2>/dev/null || true; kill -TERM ${server:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

phase() { # name → "<rps> <p50> <p99> <errors>"
  local line
  line=$(summary "$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s loadtests/new_visitor.lua "$base")")
  echo "$line"
}
ms() { # wrk latency ("812.00us", "1.20ms", "2.00s") → milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
report() { # name, rps, p50, p99, errors, baseline p99 (ms)
  printf '%-40s %10s req/s  p50 %-9s p99 %-9s (%5sx)  non-2xx %s\n' "$1" "$2" "$3" "$4" \
    "$(awk -v a="$(ms "$4")" -v b="$6" 'BEGIN { printf "%.2f", a / b }')" "$5"
}

echo "database ${DATABASE:-sqlite}, own Redis :$REDIS_PORT; wrk -t1 -c$CONNECTIONS -d$DURATION, server workers $TAILOR_WORKERS"
phase >/dev/null # warm-up
read -r rps p50 p99 errors < <(phase)
base_p99=$(ms "$p99")
report "Redis up" "$rps" "$p50" "$p99" "$errors" "$base_p99"

kill -STOP "$redis"
read -r rps p50 p99 errors < <(phase)
report "Redis frozen (SIGSTOP: accepts, no reply)" "$rps" "$p50" "$p99" "$errors" "$base_p99"
curl -s "$base/readyz"; echo

kill -9 "$redis"; kill -CONT "$redis" 2>/dev/null || true
wait "$redis" 2>/dev/null || true
read -r rps p50 p99 errors < <(phase)
report "Redis killed (connection refused)" "$rps" "$p50" "$p99" "$errors" "$base_p99"
curl -s "$base/readyz"; echo
curl -s -H "Authorization: Bearer $TAILOR_METRICS_TOKEN" "$base/metrics" | grep '^tailor_dependency_calls_total{dependency="redis"' || true
