#!/usr/bin/env bash
# Offline validation of Masthead's deployment artefacts:
#   * Helm chart k8s/masthead: strict lint (Helm v4 SDK), render, Kubernetes
#     1.30 schema validation, invariants, README coverage, negative checks;
#   * infra/docker-compose.yml, infra/Dockerfile, the Grafana dashboard.
# Needs only PyPI, and only on the first run (to fill infra/.tools/venv).
#
#   infra/scripts/validate-deploy.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
start=$SECONDS

venv="infra/.tools/venv"
requirements="k8s/tests/requirements.txt"
# Debian's interpreter, not whatever pyenv puts first on PATH, so the venv is
# the same on every machine of the fleet.
python="${MASTHEAD_VALIDATE_PYTHON:-/usr/bin/python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv with $python"
  "$python" -m venv "$venv"
fi
# Reinstall only when the pins change; later runs stay offline.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "installing $requirements into $venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet --requirement "$requirements"
  echo "$want" > "$stamp"
fi

status=0
results=()
run() {
  local name="$1"; shift
  if "$@"; then
    results+=("$name: ok")
  else
    results+=("$name: FAILED")
    status=1
  fi
}

export PYTHONDONTWRITEBYTECODE=1
run chart "$venv/bin/python" k8s/tests/validate_chart.py
run stack "$venv/bin/python" k8s/tests/validate_stack.py
run shell bash -n infra/scripts/validate-deploy.sh

elapsed=$((SECONDS - start))
echo
if [ "$status" -eq 0 ]; then
  echo "validate-deploy: PASSED (${results[*]}) in ${elapsed}s"
else
  echo "validate-deploy: FAILED (${results[*]}) in ${elapsed}s"
fi
exit "$status"
