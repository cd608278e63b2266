#!/usr/bin/env bash
# Runs the whole of Masthead locally on embedded defaults: a local
# nats-server (installed into infra/.tools if missing), the embedded
# projection store and the mail outbox, all under ./.masthead.
# Open http://127.0.0.1:8080/ once it says "masthead is up".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
MASTHEAD_NATS_SERVER="$(infra/scripts/ensure-nats.sh)"
export MASTHEAD_NATS_SERVER
exec cargo run --release --quiet -p masthead -- up "$@"
