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

# One build, kept small: incremental caches only help the next edit, and
# CI builds once. The dev profile (Cargo.toml) keeps line tables only.
export CARGO_INCREMENTAL=0
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -lt $((4 * 1024 * 1024)) ] && [ ! -d target/debug ]; then
  echo "missing: disk space. A fresh build of the tests takes about 3 GB under $(pwd)/target, and the tests write temporary stores besides: 4096 MB free are needed, $((free_kb / 1024)) MB are free." >&2
  exit 1
fi

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
binaries="$(mktemp)"
trap 'rm -f "$results" "$binaries"' EXIT
cargo test --workspace --no-run --quiet --message-format=json >"$binaries"
cargo test --workspace --quiet -- --test-threads=4 2>&1 | tee "$results"
# Runs the executables that build made for PACKAGE[:TARGET]... again (see
# infra/scripts/test-binaries.py), each from its package's directory as cargo
# runs it, with the test arguments given after `--`.
run_built() {
  local packages=()
  while [ "$1" != -- ]; do packages+=("$1"); shift; done
  shift
  /usr/bin/python3 infra/scripts/test-binaries.py "${packages[@]}" <"$binaries" |
    while IFS=$'\t' read -r dir exe; do
      (cd "$dir" && CARGO_MANIFEST_DIR="$dir" "$exe" --quiet "$@" </dev/null) 2>&1 | tee -a "$results"
    done
}
# The MongoDB store contract needs a server, which these machines cannot
# run: its cases are ignored (and say so) unless one is configured.
if [ -n "${MASTHEAD_TEST_MONGODB_URI:-}" ]; then
  run_built masthead-projections:contract -- --include-ignored mongodb
else
  echo "MongoDB contract cases SKIPPED: set MASTHEAD_TEST_MONGODB_URI to a MongoDB server to run them"
fi
# The event store, the consumers and the whole system once more on the
# oldest supported server: nothing may rely on what only 2.14 does.
step "the event store, consumers and system tests on nats-server 2.10"
MASTHEAD_NATS_SERVER="$MASTHEAD_NATS_SERVER_2_10" run_built masthead-jetstream masthead-matching \
  masthead-projections masthead-addresses masthead-audit masthead:system -- --test-threads=4
passed=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$results" | awk '{s+=$4} END {print s+0}')

step "deployment checks (Helm chart, compose, Dockerfile, dashboard)"
infra/scripts/validate-deploy.sh

echo
echo "all checks passed: $passed Rust tests, plus deployment validation"
echo "$passed passed, 0 failed"
