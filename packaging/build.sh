#!/usr/bin/env bash
# Builds the one-file binary dist/ingest-station with the project's .venv (made by
# scripts/setup.sh) and prints its size and the build time.
# Usage: packaging/build.sh            (Linux or macOS; Windows: see packaging/BUILDING.md)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf '[build] %s\n' "$*" >&2; }

# The .venv at requirements.lock (PyInstaller included); setup.sh does nothing when it already is.
scripts/setup.sh
.venv/bin/python -c 'import PyInstaller' 2>/dev/null || { say "no PyInstaller in .venv: is it in requirements.lock?"; exit 1; }

start=$(date +%s)
.venv/bin/python -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/ingest-station.spec
seconds=$(( $(date +%s) - start ))

binary=dist/ingest-station
[[ -x "$binary" ]] || { say "no $binary after the build"; exit 1; }
bytes=$(stat -c %s "$binary" 2>/dev/null || stat -f %z "$binary")
say "built $binary: $(( bytes / 1024 / 1024 )) MiB ($bytes bytes) in ${seconds} s"
