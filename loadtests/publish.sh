#!/usr/bin/env bash
# Publish → live on another node. Two servers share one PostgreSQL database and Redis;
# node A publishes a new version of a variant ROUNDS times (save, submit, approve,
# publish, each by its role), and each time node B is polled until it serves the new
# text. Prints how long B took after A answered the publish, the publish call itself,
# and the latency of a preview (3 locales, unpublished versions included).
#
#   bash loadtests/publish.sh            # needs PostgreSQL and Redis on 127.0.0.1
#
# Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-30}
PORT=${PORT:-18091}
PORT_B=$((PORT + 1))
export DATABASE=postgres
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export TAILOR_WORKERS=1
export TAILOR_DEV_MODE=true TAILOR_DEV_TOKEN_SECRET=load-dev-token-secret-0123456789abcdef

source loadtests/lib.sh
database_url tailor_publish
start_server "$url"
base_a=$base
RUST_LOG=warn DATABASE_URL="$url" TAILOR_BIND="127.0.0.1:$PORT_B" \
  ./target/release/tailor serve >"$work/server-b.log" 2>&1 &
server_b=$!
trap 'kill -TERM $server $server_b 2>/dev/null; wait $server $server_b 2>/dev/null; rm -rf "$work"' EXIT
base_b="http://127.0.0.1:$PORT_B"
for _ in $(seq 1 100); do
  curl -fs "$base_b/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

token() { ./target/release/tailor token --role "$1" --subject "$2"; }
marketer=$(token marketer ann)
reviewer=$(token reviewer rob)
publisher=$(token publisher pat)
variant="$base_a/v1/admin/variants/home-hero-default"
content="/v1/content/home.hero?channel=sms&device=mobile&locale=en"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

lags=()
publishes=()
for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then title=home-hero-spring-title; text="Spring is calling"; else title=home-hero-default-title; text="Built for the trail"; fi
  saved=$(curl -fs -X PUT -H "Authorization: Bearer $marketer" -H 'Content-Type: application/json' \
    -d "{\"weight\":70,\"fields\":{\"title\":{\"message\":\"$title\"},\"body\":{\"message\":\"home-hero-default-body\"}}}" \
    "$variant")
  version=$(grep -o '"latest":{"version":[0-9]*' <<<"$saved" | grep -o '[0-9]*$')
  step() { curl -fs -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "{\"version\":$version}" "$variant/$2" >/dev/null; }
  step "$marketer" submit
  step "$reviewer" approve
  started=$(now_ms)
  step "$publisher" publish
  answered=$(now_ms)
  until curl -fs "$base_b$content" | grep -q "\"title\":\"$text\""; do
    if (($(now_ms) - answered > 5000)); then echo "round $round: node B never served it" >&2; exit 1; fi
  done
  lags+=($(($(now_ms) - answered)))
  publishes+=($((answered - started)))
done

stats() { sort -n | awk '{a[NR]=$1} END {printf "p50 %d ms, p95 %d ms, max %d ms", a[int(NR*0.5+0.5)], a[int(NR*0.95+0.5)], a[NR]}'; }
echo "$ROUNDS publishes on node A, PostgreSQL + Redis, 1 worker per node"
echo "publish call (A):              $(printf '%s\n' "${publishes[@]}" | stats)"
echo "A answered → B serves it:      $(printf '%s\n' "${lags[@]}" | stats)"

# Preview: a catalog compiled for the request, selection explained, 3 locales rendered.
previews=()
for _ in $(seq 1 "$ROUNDS"); do
  seconds=$(curl -fs -o /dev/null -w '%{time_total}' -X POST -H "Authorization: Bearer $marketer" \
    -H 'Content-Type: application/json' \
    -d '{"placement":"home.hero","channel":"sms","locales":["fr","ja","de"],"traits":{"tier":"gold","points":120},"include_unpublished":true}' \
    "$base_a/v1/admin/preview")
  previews+=($(awk -v s="$seconds" 'BEGIN {printf "%d", s * 1000}'))
done
echo "POST /v1/admin/preview:        $(printf '%s\n' "${previews[@]}" | stats)"
