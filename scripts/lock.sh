#!/usr/bin/env bash
# Writes requirements.lock: the exact version and hashes of every dependency and extra (test, dev,
# build), for every Python the project supports (3.11-3.13; per-Python pins such as PySide6's
# become environment markers) and every platform. scripts/setup.sh and packaging/build.sh install
# from it. Run this after changing dependencies in pyproject.toml; versions already in the lock are
# kept where they still fit (pass --upgrade, or --upgrade-package NAME, to move to newer ones).
# uv asks the index given by UV_INDEX_URL (default PyPI); no index URL is written into the lock.
# Usage: scripts/lock.sh [uv pip compile options]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

uv=.venv/bin/uv
[[ -x "$uv" ]] || uv="$(command -v uv)" || { echo "[lock] no uv: .venv/bin/pip install uv" >&2; exit 1; }
"$uv" pip compile pyproject.toml --universal --python-version 3.11 \
  --extra test --extra dev --extra build --generate-hashes \
  --custom-compile-command "scripts/lock.sh" --output-file requirements.lock "$@"
