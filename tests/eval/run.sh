#!/usr/bin/env bash
# The blind matching evaluation, end to end (services/matching/README.md, "Blind evaluation"):
#   1. the sets a helper wrote from the issue's text alone (blind/make-sets.sh),
#   2. the Splink 5 peer on each set, trained and thresholded on the calibration side only,
#   3. `masthead-bench blind`: the engine calibrated on calib-90k, reported on every other set
#      beside Splink's predictions and the replaced rule, in the same run.
# Usage: tests/eval/run.sh [EVAL_DIR]   (default target/eval; existing sets and predictions are reused)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
E=${1:-$ROOT/target/eval}
cd "$ROOT"

if [ ! -f "$E/report-1m/queries.csv" ]; then
  tests/eval/blind/make-sets.sh "$E"
fi

SPLINK_VENV=$ROOT/infra/.tools/venv-splink
if [ ! -x "$SPLINK_VENV/bin/python" ]; then
  /usr/bin/python3 -m venv "$SPLINK_VENV"
fi
"$SPLINK_VENV/bin/pip" install -q --disable-pip-version-check -r tests/eval/splink/requirements.txt

# Splink's output per set -> the set's splink-predictions.csv, which the bench reads.
declare -A PEER=([report-90k]=report-90k [report-1m]=report-1m [gbus-90k]=gbus-90k [febrl]=febrl-split)
missing=0
for set in "${!PEER[@]}"; do
  [ -f "$E/$set/splink-predictions.csv" ] || missing=1
done
if [ "$missing" = 1 ]; then
  EVAL_DIR=$E PY=$SPLINK_VENV/bin/python tests/eval/splink/run_all.sh
  for set in "${!PEER[@]}"; do
    cp "tests/eval/splink/out/${PEER[$set]}.csv" "$E/$set/splink-predictions.csv"
  done
fi

cargo build --release -p masthead-bench
target/release/masthead-bench blind \
  --calibrate "$E/calib-90k" --write-config "$E/calibrated.json" \
  --report "$E/report-90k" --report "$E/gbus-90k" --report "$E/febrl" --report "$E/report-1m" \
  | tee "$E/blind-report.txt"
echo "report: $E/blind-report.txt; calibrated configuration: $E/calibrated.json"
echo "(the shipped one is services/matching/src/calibrated.json: copy it there to ship a new calibration)"
