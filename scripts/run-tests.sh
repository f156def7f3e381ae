#!/usr/bin/env bash
# Sets up (first time) and runs the whole test suite. Arguments go to pytest.
# Postgres and external-Redis tests need INGEST_TEST_PG_URL / INGEST_TEST_REDIS_URL (.ci/run sets them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec .venv/bin/python -m pytest "$@"
