#!/usr/bin/env bash
# Load run for POST /v1/events: batches of 50, sustained events/s and p99 of the 202,
# then the rows are counted so nothing acknowledged can have been lost.
#
#   bash loadtests/events.sh                    # SQLite (the embedded default)
#   DATABASE=postgres bash loadtests/events.sh  # PostgreSQL (127.0.0.1:5432, database tailor_load)
#
# Traffic goes to 127.0.0.1 only; wrk stops by itself after DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18089}
DATABASE=${DATABASE:-sqlite}
export TAILOR_WORKERS=${TAILOR_WORKERS:-1}
# One load generator is one client network: measure the writer, not the per-client limit.
export TAILOR_RATE_LIMITS__EVENTS__PER_SECOND=0

source loadtests/lib.sh
database_url tailor_load
case "$DATABASE" in
  sqlite)
    count_rows() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from events').fetchone()[0])" "$work/load.db"; }
    ;;
  postgres)
    count_rows() { psql -tA -h 127.0.0.1 -U postgres -d tailor_load -c "select count(*) from events"; }
    ;;
esac
start_server "$url"

TAILOR_TOKEN=$(curl -fs "http://127.0.0.1:$PORT/v1/content/home.hero?channel=web&locale=en" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tracking_token"])')
export TAILOR_TOKEN

out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s loadtests/events.lua "http://127.0.0.1:$PORT")
seconds=$(awk '/requests in/ {for (i = 1; i <= NF; i++) if ($i == "in") {print $(i + 1)}}' <<<"$out" | tr -d 's,')
batches=$(awk '/^batches/ {print $2}' <<<"$out")
failed=$(awk '/^batches/ {print $4}' <<<"$out")
sent=$(awk '/^batches/ {print $7}' <<<"$out")
p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
rows=$(count_rows)
rate=$(python3 -c "print(round($sent / $seconds))")  # acknowledged events only
echo "database $DATABASE: wrk -t1 -c$CONNECTIONS -d$DURATION, batches of 50, server workers $TAILOR_WORKERS"
echo "batches $batches (failed $failed), events acknowledged $sent, rows stored $rows"
echo "events/s $rate   p50 $p50   p99 $p99"
if [ "$rows" -lt "$sent" ]; then
  echo "LOST EVENTS: $((sent - rows))" >&2
  exit 1
fi
