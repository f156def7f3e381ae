#!/usr/bin/env bash
# Sets up (first time) and starts the station. Any ingest-station arguments pass through:
#   scripts/run-station.sh                 the window (or headless when there is no display)
#   scripts/run-station.sh --no-gui        headless
#   scripts/run-station.sh detector ...    any subcommand
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
exec "$root/.venv/bin/ingest-station" "$@"
