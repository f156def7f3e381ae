#!/usr/bin/env bash
# The static checks, with the tools of .venv (the lock's "dev" extra); settings in pyproject.toml.
# Fails on any finding. .ci/run runs it before the tests.
#   ruff check    lint rules ([tool.ruff]); not `ruff format`, which the code has not adopted yet
#   mypy          types of app/ ([tool.mypy]: strict by default, app/gui/ not checked)
#   lint-imports  the import contracts ([tool.importlinter]: the core never imports app.gui, ...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
run() { printf '[lint] %s\n' "$*" >&2; "$@" || status=1; }
run .venv/bin/ruff check .
run .venv/bin/mypy
run .venv/bin/lint-imports
exit $status
