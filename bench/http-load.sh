#!/usr/bin/env bash
# Decisions per second and latency through POST /v1/tenants/demo/evaluate,
# with wrk on loopback, on SQLite and on PostgreSQL; and the service's cold
# start with and without the compiled-pack cache.
#
#   cargo xtask packs && cargo build --release -p warden-cli --bin warden
#   bench/http-load.sh [DURATION_S] [CONNECTIONS]
#
# Needs wrk (Debian: apt-get install wrk) and, for the PostgreSQL run, the
# local server at 127.0.0.1:5432 (trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
CONNS=${2:-32}
WARDEN=target/release/warden
PACKS=target/packs
PG_ADMIN=${WARDEN_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}
PG_BASE=${PG_ADMIN%/*}

start() { # start DATADIR [ARGS...]: sets MS (startup time), PID, ADDR, TOKEN
  local data=$1; shift
  local log=$data.log
  local t0; t0=$(date +%s%N)
  "$WARDEN" serve --listen 127.0.0.1:0 --data-dir "$data" --builtin-packs "$PACKS" --seed-demo "$@" > "$log" 2>&1 &
  PID=$!
  until grep -q "warden listening on" "$log"; do
    kill -0 $PID 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.005
  done
  local t1; t1=$(date +%s%N)
  ADDR=$(sed -n 's/^warden listening on //p' "$log")
  TOKEN=$(grep -A1 '^demo tenant token' "$log" | tail -1 | tr -d ' ')
  MS=$(( (t1 - t0) / 1000000 ))
}

stop() { kill -TERM "$PID"; wait "$PID" || true; }

load() { # load LABEL
  local label=$1
  # Warm up: compiles nothing (packs are loaded), fills instance pools.
  TOKEN=$TOKEN wrk -t2 -c"$CONNS" -d3s -s bench/evaluate.lua "$ADDR/v1/tenants/demo/evaluate" > /dev/null
  echo "== $label: wrk -t2 -c$CONNS -d${DURATION}s"
  TOKEN=$TOKEN wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s bench/evaluate.lua \
    "$ADDR/v1/tenants/demo/evaluate" | grep -E "Requests/sec|Latency|50%|90%|99%|requests in|Non-2xx"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== cold start (SQLite, 3 built-in packs)"
start "$tmp/sqlite"; echo "first start (compiles the packs): ${MS} ms"; stop
start "$tmp/sqlite"; echo "second start (compiled cache):     ${MS} ms"
curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d @host/engine/examples/requests/02-large-payment.json "$ADDR/v1/tenants/demo/evaluate"
load "SQLite"
stop

db=warden_bench_$$
psql "$PG_ADMIN" -qc "CREATE DATABASE $db" > /dev/null
trap 'psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null; rm -rf "$tmp"' EXIT
start "$tmp/pg" --database-url "$PG_BASE/$db"; echo "== PostgreSQL start: ${MS} ms"
load "PostgreSQL"
stop
