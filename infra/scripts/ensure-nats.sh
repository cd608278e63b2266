#!/usr/bin/env bash
# Makes a nats-server >= 2.10 available and prints its path on stdout.
#
# Order of preference: $MASTHEAD_NATS_SERVER, a project-local copy under
# infra/.tools, a nats-server on PATH that is new enough, and finally Debian
# trixie's 2.10.27 package unpacked into infra/.tools. The download touches no
# system apt source: it uses a throw-away apt configuration, so it works on
# bookworm (whose own 2.9.10 cannot create KV buckets with async-nats 0.51).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$here/.tools"
local_bin="$tools/nats-server/usr/sbin/nats-server"
want_pkg="nats-server=2.10.27-1+b2"

version_ok() {
  # nats-server prints "nats-server: v2.10.27"
  local v
  v="$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')" || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

if [ -n "${MASTHEAD_NATS_SERVER:-}" ]; then
  if version_ok "$MASTHEAD_NATS_SERVER"; then echo "$MASTHEAD_NATS_SERVER"; exit 0; fi
  echo "MASTHEAD_NATS_SERVER=$MASTHEAD_NATS_SERVER is not a nats-server >= 2.10" >&2
  exit 1
fi
if [ -x "$local_bin" ] && version_ok "$local_bin"; then echo "$local_bin"; exit 0; fi
if command -v nats-server >/dev/null 2>&1 && version_ok "$(command -v nats-server)"; then
  command -v nats-server; exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  cat >&2 <<MSG
masthead needs nats-server 2.10 or newer and could not install it (no apt-get/dpkg-deb).
Install it from https://github.com/nats-io/nats-server/releases (or your package manager),
put it on PATH or point MASTHEAD_NATS_SERVER at the binary, then run this again.
MSG
  exit 1
fi

echo "fetching $want_pkg from Debian trixie into $tools (no system change)" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc/preferences.d" "$work/etc/apt.conf.d"
cat > "$work/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
SRC
touch "$work/status"
opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/none"
      -o "Dir::Etc::Preferences=$work/none" -o "Dir::Etc::PreferencesParts=$work/etc/preferences.d"
      -o "Dir::State::Lists=$work/lists" -o "Dir::State::Status=$work/status"
      -o "Dir::Cache=$work/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
apt-get "${opts[@]}" -qq update >&2
( cd "$work" && apt-get "${opts[@]}" -qq download "$want_pkg" >&2 )
mkdir -p "$tools/nats-server"
dpkg-deb -x "$work"/nats-server_*.deb "$tools/nats-server"
version_ok "$local_bin" || { echo "unpacked nats-server does not run" >&2; exit 1; }
echo "$local_bin"
