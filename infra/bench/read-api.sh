#!/usr/bin/env bash
# Paging the address list over HTTP at N base addresses (default 1M), with
# wrk, beside the machine's HTTP ceiling (/healthz under the same tool) in
# the same run. Also reports the import rate of the same N rows.
#   infra/bench/read-api.sh [N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
n="${1:-1000000}"
command -v wrk >/dev/null || { echo "needs wrk (Debian: apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p masthead
bin=target/release/masthead
nats="$(infra/scripts/ensure-nats.sh)"
work="$(mktemp -d)"; port=18471; nport=14471
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$nats" -js -a 127.0.0.1 -p $nport -sd "$work/nats" >/dev/null 2>&1 &
export MASTHEAD_NATS_URL=nats://127.0.0.1:$nport MASTHEAD_DATA_DIR="$work" MASTHEAD_HTTP_ADDR=127.0.0.1:$port MASTHEAD_LOG_FORMAT=json RUST_LOG=warn
python3 infra/bench/gen_addresses.py "$n" > "$work/base.csv"
echo "== import of $n rows"
"$bin" addresses import "$work/base.csv" 2>/dev/null | tail -1
"$bin" up >"$work/up.log" 2>&1 &
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.5; done
echo "== waiting for the projector to apply every address"
start=$(date +%s)
until [ "$(curl -s "http://127.0.0.1:$port/api/v1/stats" | python3 -c 'import sys,json; s=json.load(sys.stdin); p=[c for c in s["consumers"] if c["consumer"]=="projector"][0]; print(p["pending"]==0 and p["ack_pending"]==0)' 2>/dev/null)" = "True" ]; do sleep 1; done
echo "projected in $(( $(date +%s) - start )) s"
base="http://127.0.0.1:$port"
cursor=""
for i in $(seq 1 2000); do  # walk 2,000 pages of 100 to reach a deep cursor
  cursor=$(curl -s "$base/api/v1/addresses?limit=100${cursor:+&cursor=$cursor}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["next_cursor"] or "")')
  [ -n "$cursor" ] || break
done
run() {
  printf '%-34s' "$1"
  wrk -t2 -c32 -d8s --latency "$2" 2>/dev/null | awk '/Requests\/sec/{rps=$2} /^ +99%/{p99=$2} /^ +50%/{p50=$2} END{printf "%10s req/s   p50 %8s   p99 %8s\n", rps, p50, p99}'
}
echo "== wrk, 32 connections, 8 s each"
run "GET /healthz (ceiling)" "$base/healthz"
run "addresses, first page" "$base/api/v1/addresses"
run "addresses, page past 200k" "$base/api/v1/addresses?cursor=$cursor"
run "addresses?postal_code=" "$base/api/v1/addresses?postal_code=10115"
run "addresses?city=Utrecht" "$base/api/v1/addresses?city=Utrecht"
run "addresses?q=kerk" "$base/api/v1/addresses?q=kerk"
