# Shared by the load scripts: build, start `tailor serve` on a throw-away database,
# wait for /readyz, and stop it (and clean up) when the script exits.
#
#   source loadtests/lib.sh
#   start_server "$database_url"     # sets $base, $server, $work; extra env is inherited
#   SERVER_BIN=/path/to/tailor ...   # a given server binary instead of a fresh release build

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

# Pinned: the server on one core, wrk on the other, so they do not fight for the two
# cores and the ratios between paths of one run mean something. SERVER_CPU / WRK_CPU
# move them; an empty value leaves that side unpinned.
SERVER_CPU=${SERVER_CPU-0}
WRK_CPU=${WRK_CPU-1}
pinned() { # cpu, command...
  local cpu=$1; shift
  if [ -n "$cpu" ]; then taskset -c "$cpu" "$@"; else "$@"; fi
}
WRK_BIN=$(type -P wrk)
wrk() { pinned "$WRK_CPU" "$WRK_BIN" "$@"; }
# SERVER_BIN runs another build of the server (e.g. an older commit's, to compare;
# not a TAILOR_ variable: the server refuses unknown ones).
if [ -z "${SERVER_BIN:-}" ]; then
  cargo build --release --quiet
  SERVER_BIN=./target/release/tailor
fi
work=$(mktemp -d)

# DATABASE=sqlite|postgres → $url (PostgreSQL: a fresh database named $1).
database_url() {
  case "${DATABASE:-sqlite}" in
    sqlite) url="sqlite://$work/load.db?mode=rwc" ;;
    postgres)
      export PGPASSWORD=${PGPASSWORD:-postgres}
      psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
      url="postgres://postgres:postgres@127.0.0.1:5432/$1"
      ;;
    *) echo "DATABASE is sqlite or postgres" >&2; exit 2 ;;
  esac
}

start_server() {
  # taskset execs the server, so $! is the server itself (the trap stops the right one).
  local command=("$SERVER_BIN" serve)
  [ -n "$SERVER_CPU" ] && command=(taskset -c "$SERVER_CPU" "${command[@]}")
  RUST_LOG=${RUST_LOG:-warn} DATABASE_URL="$1" TAILOR_BIND="127.0.0.1:$PORT" \
    "${command[@]}" >"$work/server.log" 2>&1 &
  server=$!
  trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; [ -n "${KEEP_LOG:-}" ] && cp "$work/server.log" "$KEEP_LOG"; rm -rf "$work"' EXIT
  base="http://127.0.0.1:$PORT"
  for _ in $(seq 1 100); do
    curl -fs "$base/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server did not become ready:" >&2
  cat "$work/server.log" >&2
  exit 1
}

# wrk's summary of a run: "<req/s> <p50> <p99> <non-2xx>".
summary() {
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$1")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$1")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$1")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$1")
  echo "$rps $p50 $p99 ${errors:-0}"
}
