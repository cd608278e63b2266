#!/usr/bin/env bash
# Runs the peer on every evaluation set; outputs land in ./out/
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
E="${EVAL_DIR:-$HERE/../../../target/eval}"
PY="${PY:-$HERE/../../../infra/.tools/venv-splink/bin/python}"
T="${THREADS:-2}"
mkdir -p "$HERE/out"
run() {  # name, args...
  local name="$1"; shift
  /usr/bin/time -v "$PY" "$HERE/peer.py" --threads "$T" "$@" --out "$HERE/out/$name.csv" \
      > "$HERE/out/$name.log" 2>&1
  echo "== $name (exit $?)"
  grep -E "^(variant|chosen|calib blocking|report blocking|== |timings)" "$HERE/out/$name.log"
  grep -E "Maximum resident|Elapsed \(wall" "$HERE/out/$name.log"
}
run report-90k --calib "$E/calib-90k" --report "$E/report-90k"
run report-1m  --calib "$E/calib-90k" --report "$E/report-1m"
run gbus-90k   --calib "$E/calib-90k" --report "$E/gbus-90k"
run gbus-90k-split --split --report "$E/gbus-90k"
run febrl-split    --split --report "$E/febrl"
