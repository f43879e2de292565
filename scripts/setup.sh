#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: system packages, .venv/ at the repo root,
# and the semanticnn package with its Rust extension built in release mode.
# Usage: scripts/setup.sh [--dev]   (--dev adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# System packages (Debian): QEMU for the firmware, Debian's rustc-web with its
# library source for building core for thumbv7em, lld to link it, and what
# probe-rs needs to build; Mosquitto, the MQTT 5 broker of `semanticnn serve`.
apt_packages=(qemu-system-arm lld rustc-web cargo-web rust-web-src libudev-dev pkg-config mosquitto)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "apt: installing ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv"
    python3 -m venv .venv
fi
py=.venv/bin/python
"$py" -m pip install -q --upgrade pip "maturin>=1.7,<2"

extras=train,serial,edge,tflite
((dev)) && extras=$extras,dev
log "building the Rust extension and installing semanticnn[$extras]"
# `maturin develop` installs the package editable: python/ is imported from
# the checkout, the compiled _core lands beside it.
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop -q --release --extras "$extras"

# probe-rs flashes the firmware (`semanticnn flash`); the tests check the
# boards' chip names against it. Built from crates.io once, skipped when it runs.
if ((dev)) && ! probe-rs --version >/dev/null 2>&1 && ! "$HOME/.cargo/bin/probe-rs" --version >/dev/null 2>&1; then
    log "cargo install probe-rs-tools (once; takes a while)"
    cargo install probe-rs-tools --locked
fi
