#!/usr/bin/env bash
# Load run for identity: POST /v1/identify throughput (new people and attaches), then
# content requests that carry an identity token for a person (token check + cached
# person resolution + personal render) beside the same request without a person.
#
#   DATABASE=postgres bash loadtests/identify.sh   # PostgreSQL (database tailor_identity)
#   bash loadtests/identify.sh                     # SQLite
#
# Traffic goes to 127.0.0.1 only; wrk stops by itself after DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18090}
export TAILOR_WORKERS=${TAILOR_WORKERS:-1}
# The load uses one server key: measure identify, not the per-key limit.
export TAILOR_RATE_LIMITS__IDENTIFY_PER_KEY__PER_SECOND=0
export LOAD_SERVER_KEY=load-server-key-0123456789abcdef
export TAILOR_SERVER_API_KEYS="[\"$LOAD_SERVER_KEY\"]"
export TAILOR_DEV_MODE=true TAILOR_DEV_TOKEN_SECRET=load-dev-token-secret-0123456789abcdef

source loadtests/lib.sh
database_url tailor_identity
start_server "$url"

read -r rps p50 p99 errors < <(summary "$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s loadtests/identify.lua "$base")")
echo "database ${DATABASE:-sqlite}: wrk -t1 -c$CONNECTIONS -d$DURATION, server workers $TAILOR_WORKERS"
printf '%-44s %10s calls/s  p50 %-9s p99 %-9s non-2xx %s\n' "POST /v1/identify" "$rps" "$p50" "$p99" "$errors"

curl -fs -H "X-Api-Key: $LOAD_SERVER_KEY" -H 'Content-Type: application/json' \
  -d '{"identifiers":{"customer_id":"load-customer"},"traits":{"first_name":"Ada","tier":"gold","points":1250}}' \
  "$base/v1/identify" >/dev/null
token=$(./target/release/tailor token --customer load-customer)
path="/v1/content/home.hero?channel=push&locale=en"
read -r rps p50 p99 errors < <(summary "$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$base$path")")
printf '%-44s %10s req/s    p50 %-9s p99 %-9s non-2xx %s\n' "GET home.hero, no person" "$rps" "$p50" "$p99" "$errors"
read -r rps p50 p99 errors < <(summary "$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $token" "$base$path")")
printf '%-44s %10s req/s    p50 %-9s p99 %-9s non-2xx %s\n' "GET home.hero, identity token (cached person)" "$rps" "$p50" "$p99" "$errors"
