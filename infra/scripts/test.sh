#!/usr/bin/env bash
# Runs every test of Masthead: formatting, lints, the Rust test suites
# (unit, real nats-server, real SMTP, headless Chromium) and the deployment
# checks (Helm lint/render/schema validation, compose and Dockerfile checks).
# Installs what it can (nats-server 2.14 and 2.10 into infra/.tools; Chromium and
# chromedriver from Debian when run as root) and says exactly what is missing
# otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

step() { printf '\n==> %s\n' "$*"; }

step "nats-server 2.14 (the production line) and 2.10 (the oldest supported)"
MASTHEAD_NATS_SERVER="$(infra/scripts/ensure-nats.sh)"
MASTHEAD_NATS_SERVER_2_10="$(infra/scripts/ensure-nats.sh 2.10)"
export MASTHEAD_NATS_SERVER MASTHEAD_NATS_SERVER_2_10
"$MASTHEAD_NATS_SERVER" --version
"$MASTHEAD_NATS_SERVER_2_10" --version

step "headless Chromium for the browser tests"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "missing: chromium and chromedriver. Install them (Debian: sudo apt-get install chromium chromium-driver) and run again." >&2
    exit 1
  fi
fi
chromium --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "production code size (files <= 700 lines, functions <= 80)"
/usr/bin/python3 infra/scripts/check-code-size.py

step "cargo test (workspace)"
# Two test binaries at a time: each test starts its own nats-server, and CI
# has two cores.
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
cargo test --workspace --quiet -- --test-threads=4 2>&1 | tee "$results"
# The MongoDB store contract needs a server, which these machines cannot
# run: its cases are ignored (and say so) unless one is configured.
if [ -n "${MASTHEAD_TEST_MONGODB_URI:-}" ]; then
  cargo test -p masthead-projections --test contract --quiet -- --include-ignored mongodb 2>&1 | tee -a "$results"
else
  echo "MongoDB contract cases SKIPPED: set MASTHEAD_TEST_MONGODB_URI to a MongoDB server to run them"
fi
# The event store, the consumers and the whole system once more on the
# oldest supported server: nothing may rely on what only 2.14 does.
MASTHEAD_NATS_SERVER="$MASTHEAD_NATS_SERVER_2_10" cargo test --quiet \
  -p masthead-jetstream -p masthead-matching -p masthead-projections -p masthead-addresses -p masthead-audit \
  -- --test-threads=4 2>&1 | tee -a "$results"
MASTHEAD_NATS_SERVER="$MASTHEAD_NATS_SERVER_2_10" cargo test --quiet -p masthead --test system \
  -- --test-threads=4 2>&1 | tee -a "$results"
passed=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$results" | awk '{s+=$4} END {print s+0}')

step "deployment checks (Helm chart, compose, Dockerfile, dashboard)"
infra/scripts/validate-deploy.sh

echo
echo "all checks passed: $passed Rust tests, plus deployment validation"
echo "$passed passed, 0 failed"
