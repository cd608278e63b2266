#!/usr/bin/env bash
# Paging the address list over HTTP at N base addresses (default 1M), with
# wrk, beside the machine's HTTP ceiling (/healthz under the same tool) in
# the same run, against the embedded store.
#   infra/bench/read-api.sh [N] [connections]
#
# The N synthetic addresses are written straight into a redb generation by
# `masthead-bench paging --keep` (~70 s at 1M; the import path has its own
# benchmark),
# and `masthead api` serves that generation pinned, so nothing else (matcher,
# projector, mailer) competes for the two cores while wrk runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
n="${1:-1000000}"
conns="${2:-32}"
command -v wrk >/dev/null || { echo "needs wrk (Debian: apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p masthead -p masthead-bench
bin=target/release/masthead
nats="$(infra/scripts/ensure-nats.sh)"
work="$(mktemp -d)"; port=18471; nport=14471
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$nats" -js -a 127.0.0.1 -p $nport -sd "$work/nats" >/dev/null 2>&1 &
echo "== loading $n addresses into the embedded store"
target/release/masthead-bench paging --addresses "$n" --keep "$work/projections/bench.redb"
export MASTHEAD_NATS_URL=nats://127.0.0.1:$nport MASTHEAD_DATA_DIR="$work" MASTHEAD_HTTP_ADDR=127.0.0.1:$port \
  MASTHEAD_PROJECTION_GENERATION=bench MASTHEAD_LOG_FORMAT=json RUST_LOG=warn
"$bin" api >"$work/api.log" 2>&1 &
api=$!
base="http://127.0.0.1:$port"
until curl -sf "$base/healthz" >/dev/null; do sleep 0.5; done
# The address list needs the viewer role: a token signed with the local
# secret the api created in the data dir.
token="$("$bin" token issue --role viewer --subject read-api-bench --ttl 2h)"
export TOKEN="$token"
# A postal code and city that exist, and a cursor half way through the list
# (5 000 pages of 100 on one keep-alive connection).
read -r postal city deep < <(python3 - "$base" "$n" <<'PY'
import http.client, json, os, sys, urllib.parse
base, n = sys.argv[1], int(sys.argv[2])
u = urllib.parse.urlsplit(base)
c = http.client.HTTPConnection(u.hostname, u.port)
def get(path):
    c.request("GET", path, headers={"Authorization": "Bearer " + os.environ["TOKEN"]})
    return json.loads(c.getresponse().read())
first = get("/api/v1/addresses?limit=1")["items"][0]["lines"]
cursor = ""
for _ in range(n // 200):
    cursor = get("/api/v1/addresses?limit=100" + ("&cursor=" + cursor if cursor else ""))["next_cursor"] or ""
    if not cursor:
        break
print(urllib.parse.quote(first["postal_code"]), urllib.parse.quote(first["city"]), cursor)
PY
)
# CPU time of the api process in 10 ms ticks (utime + stime): per request
# it moves much less than req/s when other work shares the cores.
ticks() { awk '{print $14 + $15}' "/proc/$api/stat"; }
run() {
  printf '%-34s' "$1"
  local t0 out
  t0=$(ticks)
  out=$(wrk -t2 -c"$conns" -d8s --latency -H "Authorization: Bearer $token" "$2" 2>/dev/null)
  echo "$out" | awk -v cpu=$(( $(ticks) - t0 )) '/requests in/{n=$1} /Requests\/sec/{rps=$2} /^ +99%/{p99=$2} /^ +50%/{p50=$2} END{printf "%10s req/s   p50 %8s   p99 %8s   api CPU %6.1f µs/request\n", rps, p50, p99, cpu * 10000 / n}'
}
echo "== wrk, $conns connections, 8 s each, $n addresses; $(uptime | sed 's/.*load/load/')"
run "GET /healthz (ceiling)" "$base/healthz"
run "addresses, first page" "$base/api/v1/addresses"
run "addresses, page past $((n / 2))" "$base/api/v1/addresses?cursor=$deep"
run "addresses?postal_code=" "$base/api/v1/addresses?postal_code=$postal"
run "addresses?city=" "$base/api/v1/addresses?city=$city"
run "addresses?q=kerk" "$base/api/v1/addresses?q=kerk"
run "GET /healthz (ceiling, again)" "$base/healthz"
echo "$(uptime | sed 's/.*load/load/')"
