#!/usr/bin/env bash
# Durable decisions through POST /v1/tenants/demo/evaluate on PostgreSQL or
# SQLite: throughput and latency (wrk), CPU per decision (the whole machine,
# warden, PostgreSQL), WAL per decision, and afterwards a check that every
# answered decision is in the tenant's chain and that the chain verifies.
#
#   cargo xtask packs && cargo build --release -p warden-cli --bin warden
#   bench/durable.sh [DURATION_S] [CONNECTIONS] [RUNS] [postgres|sqlite] [WARDEN_BINARY]
#
# Each run starts a fresh server on a fresh database, warms up for 3 s, then
# loads it for DURATION_S. Prints one line per run. PERF_RECORD=FILE also
# records a CPU profile of the server over each run (perf, into FILE.RUN);
# PERF_STAT=1 prints the server's system calls (all, futex) and page faults
# per decision. DELAY_MS=N makes each connection wait N ms between requests
# (bench/evaluate.lua): a load of about CONNECTIONS / (N ms + latency) per
# second, to compare builds' CPU per decision at one rate. Needs wrk (Debian:
# apt-get install wrk) and, for PostgreSQL, the local server at
# 127.0.0.1:5432 (trust auth; override with WARDEN_TEST_PG).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
RUNS=${3:-1}
BACKEND=${4:-postgres}
WARDEN=${5:-target/release/warden}
PACKS=target/packs
PG_ADMIN=${WARDEN_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}
PG_BASE=${PG_ADMIN%/*}
TCK=$(getconf CLK_TCK)

sql() { psql "$PG_ADMIN" -Atqc "$1"; }
# utime+stime (clock ticks) of one process, and of every process of the postgres user.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_ticks() {
  local t=0 p
  for p in $(pgrep -u postgres || true); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(ticks "$p" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
# Context switches (voluntary + involuntary) of every thread of one process.
switches() { cat /proc/"$1"/task/*/status 2> /dev/null | awk '/ctxt_switches/{n += $2} END {print n + 0}'; }
# busy and total ticks of the whole machine.
machine() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

tmp=$(mktemp -d)
db=""
cleanup() {
  [ -n "${PID:-}" ] && kill -TERM "$PID" 2> /dev/null && wait "$PID" 2> /dev/null
  [ -n "$db" ] && sql "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

for run in $(seq 1 "$RUNS"); do
  data="$tmp/data-$run"
  args=(--data-dir "$data")
  if [ "$BACKEND" = postgres ]; then
    db=warden_bench_$$_$run
    sql "CREATE DATABASE $db" > /dev/null
    args+=(--database-url "$PG_BASE/$db")
  fi
  "$WARDEN" serve --listen 127.0.0.1:0 --builtin-packs "$PACKS" --seed-demo "${args[@]}" > "$tmp/log" 2>&1 &
  PID=$!
  until grep -q "warden listening on" "$tmp/log"; do
    kill -0 "$PID" 2> /dev/null || { cat "$tmp/log"; exit 1; }
    sleep 0.05
  done
  ADDR=$(sed -n 's/^warden listening on //p' "$tmp/log")
  export TOKEN
  TOKEN=$(grep -A1 '^demo tenant token' "$tmp/log" | tail -1 | tr -d ' ')
  URL="$ADDR/v1/tenants/demo/evaluate"
  # A new database's files (its catalog, the migrated schema) would all be
  # flushed by the first checkpoint inside the run: flush them now.
  [ "$BACKEND" = postgres ] && sql "CHECKPOINT"
  warm=$(wrk -t2 -c"$CONNS" -d3s -s bench/evaluate.lua "$URL" | awk '/requests in/{print $1}')

  [ "$BACKEND" = postgres ] && lsn0=$(sql "SELECT pg_current_wal_lsn()")
  read -r busy0 total0 < <(machine)
  w0=$(ticks "$PID")
  p0=$(pg_ticks)
  s0=$(switches "$PID")
  # PERF_RECORD=FILE: a CPU profile of the server over the measured run.
  PERF=""
  if [ -n "${PERF_RECORD:-}" ]; then
    perf record -q -e cpu-clock -F 2999 -g -p "$PID" -o "$PERF_RECORD.$run" 2> /dev/null &
    PERF=$!
  fi
  if [ -n "${PERF_STAT:-}" ]; then
    perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_futex,page-faults \
      -p "$PID" -o "$tmp/stat" 2> /dev/null &
    STAT=$!
  fi
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s bench/evaluate.lua "$URL")
  read -r busy1 total1 < <(machine)
  w1=$(ticks "$PID")
  p1=$(pg_ticks)
  s1=$(switches "$PID")
  [ -n "${PERF:-}" ] && kill -INT "$PERF" && wait "$PERF" || true
  stat=""
  if [ -n "${STAT:-}" ]; then
    kill -INT "$STAT" && wait "$STAT" || true
    stat=$(awk -F, -v r="$(awk '/requests in/{print $1}' <<< "$out")" \
      '$3 != "" {printf "%s %.2f/decision, ", $3, $1 / r}' "$tmp/stat")
  fi
  wal=0
  [ "$BACKEND" = postgres ] && wal=$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
  kill -TERM "$PID"
  wait "$PID" || true
  PID=""

  # Every answered decision must be in the chain, and the chain must verify.
  if [ "$BACKEND" = postgres ]; then
    store=(--database-url "$PG_BASE/$db")
    decisions=$(psql "$PG_BASE/$db" -Atqc \
      "SELECT count(*) FROM trace_events WHERE tenant = 'demo' AND kind = 'decision'")
  else
    store=(--data-dir "$data")
    decisions=$(sqlite3 "$data/warden.db" \
      "SELECT count(*) FROM trace_events WHERE tenant = 'demo' AND kind = 'decision'" 2> /dev/null || echo "?")
  fi
  if "$WARDEN" trace verify --no-cache --tenant demo "${store[@]}" > "$tmp/verify" 2>&1; then
    verified=ok
  else
    verified="FAILED: $(head -c 300 "$tmp/verify")"
  fi

  reqs=$(awk '/requests in/{print $1}' <<< "$out")
  # wrk counts answered requests; a request in flight when a wrk run ends
  # may be recorded but not counted, at most CONNECTIONS per wrk run.
  answered=$((warm + reqs))
  if [ "$decisions" -ge "$answered" ] 2> /dev/null && [ "$decisions" -le $((answered + 2 * CONNS)) ]; then
    complete="all $answered answered decisions in the chain ($decisions)"
  else
    complete="MISSING: $answered answered, $decisions decisions in the chain"
  fi
  errors=$(awk '/Non-2xx|Socket errors/{print}' <<< "$out" | tr '\n' ' ')
  awk -v run="$run" -v r="$reqs" -v rps="$(awk '/Requests\/sec/{print $2}' <<< "$out")" \
    -v p50="$(awk '$1=="50%"{print $2}' <<< "$out")" -v p99="$(awk '$1=="99%"{print $2}' <<< "$out")" \
    -v busy=$((busy1 - busy0)) -v total=$((total1 - total0)) -v w=$((w1 - w0)) -v p=$((p1 - p0)) -v sw=$((s1 - s0)) \
    -v tck="$TCK" -v wal="$wal" -v complete="$complete" -v ok="$verified" -v err="$errors" \
    -v backend="$BACKEND" -v stat="$stat" \
    'BEGIN {
       printf "%s run %d: %.0f/s p50 %s p99 %s | CPU/decision: total %.0f us, warden %.0f us, postgres %.0f us, idle %.0f%% | warden context switches %.1f/decision | WAL %.0f B/decision | %s%s; verify %s %s\n",
         backend, run, rps, p50, p99, busy / tck / r * 1e6, w / tck / r * 1e6, p / tck / r * 1e6,
         (1 - busy / total) * 100, sw / r, wal / r, stat, complete, ok, err
     }'
  if [ "$BACKEND" = postgres ]; then
    sql "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null
    db=""
  fi
done
