#!/usr/bin/env bash
# Set up .venv, check types and lint (scripts/lint.sh), then run the whole test suite (extra arguments go to
# pytest), its tests shared among one worker per core, four at most (pytest-xdist; `-n 0` runs them in one process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/lint.sh
exec .venv/bin/python -m pytest -n auto --maxprocesses=4 "$@"
