#!/usr/bin/env bash
# The figures behind README's failure table: two release nodes on this script's own
# PostgreSQL and Redis (spare ports; the shared servers are never touched), each
# dependency killed, frozen or stopped under them, and what clients and operators see.
#
#   bash loadtests/faults.sh                 # release build, then about a minute
#   SERVER_BIN=path/to/tailor bash loadtests/faults.sh
#
# Times are curl's time_total for single requests: "worst of N" over N requests.
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_PORT=${REDIS_PORT:-16393}
PG_PORT=${PG_PORT:-15433}
PORT_A=${PORT_A:-18094}
PORT_B=$((PORT_A + 1))
PORT_C=$((PORT_A + 2))
N=${N:-50}
if [ -z "${SERVER_BIN:-}" ]; then
  cargo build --release --quiet
  SERVER_BIN=./target/release/tailor
fi
SERVER_BIN=$(realpath "$SERVER_BIN")

work=$(mktemp -d)
chmod 755 "$work"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_postgres "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
pg_start() { as_postgres "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-p $PG_PORT -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null; }
pg_stop() { as_postgres "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true; }
redis=
redis_start() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
  redis=$!
  until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
}
nodes=()
cleanup() {
  set +e
  [ -n "$redis" ] && { kill -CONT "$redis" 2>/dev/null; kill -9 "$redis" 2>/dev/null; }
  for pid in "${nodes[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
pg_start
redis_start

export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export TAILOR_DEV_MODE=true TAILOR_DEV_TOKEN_SECRET=fault-dev-token-secret-0123456789abcdef
export TAILOR_METRICS_TOKEN=load-metrics-token-0123456789abcdef
export SERVER_KEY=fault-server-key-0123456789abcdef
export TAILOR_SERVER_API_KEYS="[\"$SERVER_KEY\"]"
export TAILOR_WORKERS=1 RUST_LOG=${RUST_LOG:-warn}

start_node() { # port, log → pid
  TAILOR_BIND="127.0.0.1:$1" "$SERVER_BIN" serve >"$2" 2>&1 &
  echo $!
}
wait_ready() { # base
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz?strict=true")" = 200 ] && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2
  cat "$work"/*.log >&2
  exit 1
}
ms_of() { awk '{ printf "%.1f", $1 * 1000 }'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

a="http://127.0.0.1:$PORT_A"
b="http://127.0.0.1:$PORT_B"
nodes+=("$(start_node "$PORT_A" "$work/a.log")")
nodes+=("$(start_node "$PORT_B" "$work/b.log")")
wait_ready "$a"
wait_ready "$b"
for node in "$a" "$b"; do # a node drops its cached people on subscribing: cache after
  until [ "$(curl -s -H "Authorization: Bearer $TAILOR_METRICS_TOKEN" "$node/metrics" | grep -c '^tailor_redis_subscribed{.*} 1')" = 2 ]; do sleep 0.05; done
done
hero="/v1/content/home.hero?channel=web&locale=en"
sms="/v1/content/sms.order_shipped?channel=sms&locale=en"
token=$("$SERVER_BIN" token --customer C-fault)
identify() { # body → "status seconds"
  curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "X-Api-Key: $SERVER_KEY" \
    -H 'Content-Type: application/json' -d "$1" "$a/v1/identify"
}
identify '{"identifiers":{"customer_id":"C-fault"},"consents":{"sms":true}}' >/dev/null
# Its announcement goes out twice, 0.5 s apart, and each drops B's copy: cache after both.
until [ "$(curl -s -H "Authorization: Bearer $TAILOR_METRICS_TOKEN" "$a/metrics" | awk '/^tailor_people_changes_sent_total/ { print $2 }')" = 2 ]; do sleep 0.05; done
cached=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$b$sms") # node B caches C-fault
[ "$cached" = 200 ] || { echo "node B answered $cached for C-fault's SMS" >&2; exit 1; }
tracking=$(curl -s "$a$hero" | grep -o '"tracking_token":"[^"]*"' | cut -d'"' -f4)

# worst of N person requests on node A, each from a visitor nobody has seen:
# "<worst ms> <statuses> <degraded count>"
people() {
  local worst=0 statuses="" degraded=0 line code time
  for i in $(seq 1 "$N"); do
    line=$(curl -s -D "$work/h" -o /dev/null -w '%{http_code} %{time_total}' \
      -H "X-Anonymous-Id: visitor-$1-$i" "$a$hero")
    read -r code time <<<"$line"
    grep -qi '^tailor-degraded' "$work/h" && degraded=$((degraded + 1))
    statuses="$statuses $code"
    worst=$(awk -v a="$worst" -v b="$time" 'BEGIN { print (b > a) ? b : a }')
  done
  echo "$(ms_of <<<"$worst") $(tr ' ' '\n' <<<"$statuses" | sort | uniq -c | awk 'NF { printf "%s×%s ", $1, $2 }')$degraded"
}
readyz() { # → "<status> <ms> <body>"
  local out
  out=$(curl -s -w ' %{http_code} %{time_total}' "$a/readyz")
  echo "$(awk '{ print $(NF-1) }' <<<"$out") $(awk '{ print $NF }' <<<"$out" | ms_of) $(sed -E 's/ [0-9]+ [0-9.]+$//' <<<"$out" | grep -o '"status":"[a-z]*"' | head -1)"
}
events() { # id → "<status> <ms> <retry-after>"
  local out
  out=$(curl -s -D "$work/eh" -o /dev/null -w '%{http_code} %{time_total}' -H 'Content-Type: application/json' \
    -d "{\"events\":[{\"event_id\":\"fault-$1\",\"type\":\"impression\",\"tracking_token\":\"$tracking\"}]}" "$a/v1/events")
  echo "$(awk '{ print $1 }' <<<"$out") $(awk '{ print $2 }' <<<"$out" | ms_of) retry-after=$(grep -i '^retry-after' "$work/eh" | tr -d '\r' | awk '{ print $2 }')"
}
phase() { # name, tag, readiness status to wait for (after the person requests)
  local fault=$(now_ms)
  printf '\n== %s\n' "$1"
  printf '  person requests from the moment of the fault (worst of %s ms, statuses, degraded): %s\n' "$N" "$(people "$2")"
  until curl -s "$a/readyz" | grep -q "\"status\":\"$3\""; do
    (($(now_ms) - fault > 10000)) && { echo "readiness never said $3" >&2; exit 1; }
    sleep 0.01
  done
  printf '  /readyz said %s %s ms after the fault\n' "$3" "$(($(now_ms) - fault))"
  printf '  /readyz (status ms body): %s\n' "$(readyz)"
  printf '  POST /v1/events (status ms): %s\n' "$(events "$2")"
  printf '  POST /v1/identify (status s): %s\n' "$(identify "{\"identifiers\":{\"anonymous_id\":\"id-$2\"}}")"
}

phase "all up" up ready

kill -9 "$redis"; wait "$redis" 2>/dev/null || true
phase "Redis killed (connections refused)" killed degraded
# A person change made on A while Redis is down: how long until B serves it after Redis returns?
identify '{"identifiers":{"customer_id":"C-fault"},"consents":{"sms":false}}' >/dev/null
printf '  node B during the outage, after the change on A (200: it cannot know yet): %s\n' \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$b$sms")"
redis_start
back=$(now_ms)
until [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$b$sms")" = 204 ]; do
  (($(now_ms) - back > 30000)) && { echo "node B never caught up" >&2; exit 1; }
  sleep 0.02
done
printf '  a person change made on A during the outage served by B %s ms after Redis returned\n' "$(($(now_ms) - back))"
[ -n "${SHOW_B_LOG:-}" ] && cat "$work/b.log"
wait_ready "$a" # Redis back as far as node A's probe is concerned

kill -STOP "$redis"
phase "Redis frozen (SIGSTOP: accepts, never answers)" frozen degraded
kill -CONT "$redis"
sleep 1

# Frozen: the server and its backends stopped (SIGSTOP): connections hang, nothing answers.
postgres_pids() { pgrep -f "$work/pg/data" || true; pgrep -P "$(pgrep -f "$work/pg/data" | head -1)" || true; }
# shellcheck disable=SC2046
kill -STOP $(postgres_pids)
phase "PostgreSQL frozen (SIGSTOP)" dbfrozen degraded
# shellcheck disable=SC2046
kill -CONT $(postgres_pids)
wait_ready "$a"

pg_stop
phase "PostgreSQL stopped" dbdown degraded
printf '  GET /v1/context for a visitor not cached (status): %s\n' \
  "$(curl -s -o /dev/null -w '%{http_code} %{time_total}s' -H 'X-Anonymous-Id: ctx-dbdown' "$a/v1/context")"
pg_start
wait_ready "$a"

printf '\n== start-up\n'
started=$(now_ms)
c="http://127.0.0.1:$PORT_C"
nodes+=("$(REDIS_URL="redis://127.0.0.1:1" start_node "$PORT_C" "$work/c.log")")
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$c/readyz")" = 200 ]; do sleep 0.01; done
serving=$(($(now_ms) - started))
until curl -s "$c/readyz" | grep -q '"status":"degraded"'; do sleep 0.01; done
printf '  with Redis unreachable: serving after %s ms; /readyz said degraded (redis down) after %s ms\n' \
  "$serving" "$(($(now_ms) - started))"
started=$(now_ms)
set +e
DATABASE_URL="postgres://postgres@127.0.0.1:1/postgres" TAILOR_RESILIENCE__DATABASE_START_TIMEOUT_SECS=5 \
  TAILOR_BIND="127.0.0.1:0" "$SERVER_BIN" serve >"$work/d.log" 2>&1
code=$?
set -e
printf '  with PostgreSQL unreachable (database_start_timeout_secs=5): exit %s after %s ms, %s attempts logged\n' \
  "$code" "$(($(now_ms) - started))" "$(grep -c 'database not reachable at start' "$work/d.log")"
