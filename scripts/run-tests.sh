#!/usr/bin/env bash
# Sets up (first time) and runs the whole test suite. Arguments go to pytest.
# Postgres and external-Redis tests need INGEST_TEST_PG_URL / INGEST_TEST_REDIS_URL (.ci/run sets them).
#
#   scripts/run-tests.sh --days-ahead N [pytest args]
# runs it with the wall clock N days ahead (N may be negative) for every process the tests start
# (stations, Detectors, redis-server, SQLite), through libfaketime: the suite must not depend on
# today's date. The monotonic clock is left alone, so timeouts and sleeps keep their length.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
if [[ "${1:-}" == "--days-ahead" ]]; then
  days="${2:?--days-ahead needs a number of days}"
  [[ "$days" =~ ^-?[0-9]+$ ]] || { echo "--days-ahead: not a whole number of days: $days" >&2; exit 2; }
  shift 2
  # The preload and its settings as the libfaketime package gives them (its own build of the library).
  eval "$(.venv/bin/python - <<'PY'
import shlex
from libfaketime import get_reload_information
_, env = get_reload_information()
for key, value in env.items():
    print(f"export {key}={shlex.quote(value)}")
PY
)"
  export FAKETIME="${days}d" FAKETIME_DONT_FAKE_MONOTONIC=1
  [[ "$days" == -* ]] || FAKETIME="+$FAKETIME"
  # A preload that does not load (another CPU's build) only warns: make sure the clock moved.
  moved_s=$(( $(date +%s) - $(env -u LD_PRELOAD date +%s) ))
  off_s=$(( moved_s - days * 86400 ))
  if (( off_s < -60 || off_s > 60 )); then
    echo "[tests] --days-ahead: the clock did not move (${moved_s} s); libfaketime does not work here" >&2
    exit 2
  fi
  echo "[tests] wall clock moved ${FAKETIME}: $(date -u "+%Y-%m-%d %H:%M UTC")" >&2
fi
# In parallel (pytest-xdist): the tests mostly wait on stations, Detectors and sockets, so three
# workers on two cores take about half the time of one. `-n 0` (or your own -n N) runs them otherwise.
parallel=(-n "${INGEST_TEST_WORKERS:-3}")
for arg in "$@"; do
  case "$arg" in -n|-n*|--numprocesses*|no:xdist) parallel=() ;; esac
done
exec .venv/bin/python -m pytest "${parallel[@]}" "$@"
