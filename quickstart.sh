#!/usr/bin/env bash
# provdc quick start on a fresh Debian 12 machine, as root. Idempotent.
#   bash quickstart.sh demo   set up, then run the main job on the built-in local lab
#   bash quickstart.sh test   set up, then run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

# System packages: Python venv, the lab (mmdebstrap, systemd-nspawn, iproute2; QEMU for
# the lab's virtual-machine hosts), traffic measurement (iperf3) and the SSH client every
# engine uses.
APT_PACKAGES=(python3-venv python3-dev gcc git ca-certificates mmdebstrap debootstrap
  systemd-container iproute2 iperf3 openssh-client zstd uidmap arch-test nftables
  netcat-openbsd qemu-system-x86 qemu-utils)
# Only the test suite needs these: a headless browser that proves the network diagram renders.
TEST_APT_PACKAGES=(chromium)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

setup_system() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

setup_python() {
  # Reinstall only when pyproject.toml changed since the last install.
  local stamp=.venv/.provdc-installed sum
  sum=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv"
    python3 -m venv .venv
  fi
  if [[ ! -f $stamp || $(cat "$stamp") != "$sum" ]]; then
    log "pip install -e '.[dev]' (pinned versions)"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev]'
    echo "$sum" >"$stamp"
  fi
}

case "${1:-}" in
  demo)
    setup_system "${APT_PACKAGES[@]}"
    setup_python
    export PATH="$PWD/.venv/bin:$PATH"
    exec bash modules/provdc/demo.sh
    ;;
  test)
    setup_system "${APT_PACKAGES[@]}" "${TEST_APT_PACKAGES[@]}"
    setup_python
    export PATH="$PWD/.venv/bin:$PATH"
    shift
    if (($#)); then exec pytest "$@"; fi
    exec python3 tests/run_suites.py
    ;;
  *)
    echo "usage: bash quickstart.sh demo|test" >&2
    exit 64
    ;;
esac
