#!/usr/bin/env bash
# The noisy neighbour (issue 17): the quiet tenant `demo` (three built-in
# packs) alone, then while tenant `noisy` floods the server with calls into
# a pack that loops until its 50 ms deadline. Both runs on one server
# (SQLite), in one sitting; the breaker's thresholds are noisy's defaults
# unless QUARANTINE (a JSON object) says otherwise.
#
#   cargo xtask packs && cargo build -p warden-testkit \
#     && cargo build --release -p warden-cli --bin warden
#   bench/noisy.sh [DURATION_S] [QUIET_CONNS] [NOISY_CONNS]
#
# Needs wrk (Debian: apt-get install wrk) and target/wasm-build/out/hostile.wasm
# (built by the warden-testkit build script).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
QUIET=${2:-4}
NOISY=${3:-16}
QUARANTINE=${QUARANTINE:-null}
WARDEN=${WARDEN:-target/release/warden}
HOSTILE=target/wasm-build/out/hostile.wasm
tmp=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null; rm -rf "$tmp"' EXIT

"$WARDEN" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --builtin-packs target/packs \
  --seed-demo > "$tmp/log" 2>&1 &
PID=$!
until grep -q "warden listening on" "$tmp/log"; do
  kill -0 $PID 2>/dev/null || { cat "$tmp/log"; exit 1; }
  sleep 0.01
done
ADDR=$(sed -n 's/^warden listening on //p' "$tmp/log")
DEMO=$(grep -A1 '^demo tenant token' "$tmp/log" | tail -1 | tr -d ' ')
ADMIN=$(grep -A1 '^fleet admin token' "$tmp/log" | tail -1 | tr -d ' ')
NOISY_TOKEN=$("$WARDEN" token issue --data-dir "$tmp/data" --sub bench --tenant noisy \
  --roles runtime,operator --ttl 1h)
api() { curl -sf -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' "$@"; }
if [ "$QUARANTINE" = null ]; then settings='{}'; else settings="{\"quarantine\": $QUARANTINE}"; fi
api -d "{\"id\": \"noisy\", \"settings\": $settings}" "$ADDR/v1/tenants" > /dev/null
curl -sf -H "Authorization: Bearer $ADMIN" -H 'content-type: application/wasm' \
  --data-binary @"$HOSTILE" "$ADDR/v1/tenants/noisy/packs" > /dev/null
api -X PUT -d '{"version": 0, "composition": {"default_effect": "allow",
  "packs": [{"name": "hostile", "source": "tenant"}]}}' "$ADDR/v1/tenants/noisy/composition" > /dev/null

quiet() { # quiet LABEL
  TOKEN=$DEMO wrk -t2 -c"$QUIET" -d"${DURATION}s" --latency -s bench/evaluate.lua \
    "$ADDR/v1/tenants/demo/evaluate" > "$tmp/quiet"
  echo "== $1: quiet tenant, wrk -t2 -c$QUIET -d${DURATION}s"
  grep -E "Requests/sec|Latency |50%|99%|Non-2xx" "$tmp/quiet"
}

TOKEN=$DEMO wrk -t1 -c"$QUIET" -d3s -s bench/evaluate.lua "$ADDR/v1/tenants/demo/evaluate" > /dev/null
quiet "alone"
TOKEN=$NOISY_TOKEN wrk -t1 -c"$NOISY" -d"$((DURATION + 4))s" --latency -s bench/noisy.lua \
  "$ADDR/v1/tenants/noisy/evaluate" > "$tmp/noisy" &
FLOOD=$!
sleep 2
quiet "beside noisy (-c$NOISY looping)"
wait $FLOOD
echo "== noisy tenant during the run"
grep -E "Requests/sec|Latency |99%|Non-2xx" "$tmp/noisy"
echo "== noisy's breakers at the end"
curl -s -H "Authorization: Bearer $ADMIN" "$ADDR/v1/tenants/noisy/quarantine"; echo
