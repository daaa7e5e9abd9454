#!/usr/bin/env bash
# Approvals under load, on PostgreSQL (issue 20's performance targets):
#   1. escalations created and resolved per second, end to end: workers that each ask for a
#      decision that escalates and approve it through the API, over and over;
#   2. deadline lag under that load: escalations with a 1 s SLA opened at a steady rate
#      alongside, each read back after its deadline fired (resolution time minus deadline),
#      on the same tenant (TIMER_TENANT=bench, the default: its policy routes counterparty
#      `Timers*` to the 1 s SLA) or on a second tenant (TIMER_TENANT=bench-timers, where fair
#      admission then holds `bench` to the other tenant's decisions in flight: see
#      host/server/src/decisions/admission.rs);
#   3. long-poll waiters: WAITERS waits parked on 100 pending requests, once on WAITERS HTTP/1.1
#      connections and once multiplexed on 100 HTTP/2 connections: the server's resident
#      memory, and the database's transactions per second while they wait, against the
#      same server idle (waiters are woken by changes, not by polling).
#
#   cargo xtask packs && cargo build --release -p warden-cli --bin warden -p warden-bench-load
#   bench/approvals.sh [SECONDS] [WORKERS] [TIMER_RATE] [WAITERS] [postgres|sqlite] [WARDEN_BINARY]
#
# WAITERS 0 skips the waiters. Needs PostgreSQL at 127.0.0.1:5432 (trust auth; WARDEN_TEST_PG
# overrides; for its statistics even on sqlite) and a file descriptor limit above WAITERS * 2
# (ulimit -n).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
WORKERS=${2:-64}
RATE=${3:-100}
WAITERS=${4:-10000}
BACKEND=${5:-postgres}
TIMER_TENANT=${TIMER_TENANT:-bench}
WARDEN=${6:-target/release/warden}
LOAD=target/release/warden-bench-load
PG_ADMIN=${WARDEN_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}
PG_BASE=${PG_ADMIN%/*}

sql() { psql "$PG_ADMIN" -Atqc "$1"; }
tmp=$(mktemp -d)
db=warden_approvals_$$
cleanup() {
  [ -n "${PID:-}" ] && kill -TERM "$PID" 2> /dev/null && wait "$PID" 2> /dev/null
  sql "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
DBARGS=()
if [ "$BACKEND" = postgres ]; then
  sql "CREATE DATABASE $db" > /dev/null
  DBARGS=(--database-url "$PG_BASE/$db")
fi
"$WARDEN" serve --listen 127.0.0.1:0 --builtin-packs target/packs --data-dir "$tmp/data" \
  "${DBARGS[@]}" > "$tmp/log" 2> "${BATCHLOG:-/dev/null}" &
PID=$!
until grep -q "warden listening on" "$tmp/log"; do
  kill -0 "$PID" 2> /dev/null || { cat "$tmp/log"; exit 1; }
  sleep 0.05
done
ADDR=$(sed -n 's/^warden listening on //p' "$tmp/log")
HOSTPORT=${ADDR#http://}
tok() { "$WARDEN" token issue --data-dir "$tmp/data" --ttl 2h "$@" | tail -1; }
ADMIN=$(tok --sub admin --tenant '*' --roles fleet-admin)
RUNTIME=$(tok --sub runtime --tenant '*' --roles runtime)
APPROVER=$(tok --sub bench-approver --tenant bench --roles approver)
api() { curl -sf -X "$1" "$ADDR$2" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' -d "$3" > /dev/null; }
for t in bench bench-timers; do
  api POST /v1/tenants "{\"id\": \"$t\"}"
  api PUT "/v1/tenants/$t/composition" \
    '{"version": 0, "composition": {"packs": [{"name": "treasury"}], "default_effect": "allow"}}'
done
api PUT /v1/tenants/bench/approval-policy '{"version": 0, "policy": {"default_policy": "p",
  "routes": [{"name": "timers", "match": {"counterparty": ["Timers*"]}, "policy": "t"}],
  "policies": {"p": {"steps": [{"approvers": [{"user": "bench-approver"}], "sla": "1h"}]},
               "t": {"steps": [{"approvers": [{"user": "nobody"}], "sla": "1s"}]}}}}'
api PUT /v1/tenants/bench-timers/approval-policy '{"version": 0, "policy": {"default_policy": "p",
  "policies": {"p": {"steps": [{"approvers": [{"user": "nobody"}], "sla": "1s"}]}}}}'
[ "$BACKEND" = postgres ] && sql "CHECKPOINT" > /dev/null

echo "# $(nproc) cores, $BACKEND; $SECS s, $WORKERS workers, deadlines at $RATE/s alongside on $TIMER_TENANT"
"$LOAD" throughput "$HOSTPORT" "$RUNTIME" "$APPROVER" 2 "$WORKERS" > /dev/null # warm-up
# Statistics as autovacuum keeps them on a live database: plans made while a
# table was empty (a sequential scan of `approvals` for every swap and read)
# are made again from them.
[ "$BACKEND" = postgres ] && sql "ANALYZE" > /dev/null
"$LOAD" timers "$HOSTPORT" "$RUNTIME" "$SECS" "$RATE" "$TIMER_TENANT" &
TIMERS=$!
"$LOAD" throughput "$HOSTPORT" "$RUNTIME" "$APPROVER" "$SECS" "$WORKERS"
wait "$TIMERS"
[ "$WAITERS" = 0 ] && exit 0

# SQLite has no such count: 0 there.
commits() {
  if [ "$BACKEND" = postgres ]; then
    sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$db'"
  else
    echo 0
  fi
}
rss() { awk '/VmRSS/{printf "%.0f MiB", $2 / 1024}' "/proc/$PID/status"; }
sleep 3
# PostgreSQL publishes a session's counts within 10 s of its last
# transaction: windows of 12 s, the same for both.
c0=$(commits); sleep 12; c1=$(commits)
echo "idle: resident $(rss), database $(( (c1 - c0) / 12 )) transactions/s"
# Each round starts from a fresh server on the same database: the memory
# the allocator keeps after the load above (the "idle" line) or after the
# other round would otherwise stay resident.
restart() {
  kill -TERM "$PID"; wait "$PID" || true
  "$WARDEN" serve --listen "$HOSTPORT" --builtin-packs target/packs --data-dir "$tmp/data" \
    "${DBARGS[@]}" > "$tmp/log2" 2>&1 &
  PID=$!
  until grep -q "warden listening on" "$tmp/log2"; do sleep 0.05; done
  rm -f "$tmp/log2"
  sleep 3
  echo "restarted: resident $(rss)"
}
for h2 in 0 100; do
  restart
  "$LOAD" waiters "$HOSTPORT" "$RUNTIME" "$APPROVER" "$WAITERS" 100 20 "$h2" > "$tmp/waiters" &
  WAIT=$!
  until grep -q HOLDING "$tmp/waiters"; do
    kill -0 "$WAIT" 2> /dev/null || { cat "$tmp/waiters"; exit 1; }
    sleep 0.2
  done
  sleep 2
  c0=$(commits); sleep 12; c1=$(commits)
  echo "$WAITERS waiters ($([ "$h2" = 0 ] && echo "one HTTP/1.1 connection each" || echo "on $h2 HTTP/2 connections")): resident $(rss), database $(( (c1 - c0) / 12 )) transactions/s"
  wait "$WAIT"
  grep -v HOLDING "$tmp/waiters"
done
