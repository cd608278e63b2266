#!/usr/bin/env bash
# Regenerate every blind evaluation set:  make-sets.sh OUTDIR
# -> OUTDIR/{calib-90k,report-90k,report-1m,gbus-90k,febrl}/{base,queries}.csv and OUTDIR/CHECK.txt
set -euo pipefail
OUT=${1:?usage: make-sets.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VENV=${VENV:-$ROOT/infra/.tools/venv-gen}
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
PY="$VENV/bin/python"
mkdir -p "$OUT"
"$PY" "$HERE/generate.py" --set calib  --base 90000   --queries 20000 --seed 11 --out "$OUT/calib-90k"
"$PY" "$HERE/generate.py" --set report --base 90000   --queries 20000 --seed 12 --out "$OUT/report-90k"
"$PY" "$HERE/generate.py" --set report --base 1000000 --queries 20000 --seed 13 --out "$OUT/report-1m"
"$PY" "$HERE/generate.py" --set gbus   --base 90000   --queries 20000 --seed 14 --out "$OUT/gbus-90k"
"$PY" "$HERE/febrl.py" --out "$OUT/febrl"
"$PY" "$HERE/check.py" "$OUT/calib-90k" "$OUT/report-90k" "$OUT/report-1m" "$OUT/gbus-90k" "$OUT/febrl" > "$OUT/CHECK.txt"
echo "done: $OUT (sanity report in $OUT/CHECK.txt)"
