#!/usr/bin/env bash
# Set up .venv, check types and lint (scripts/lint.sh), then run the whole test suite (extra arguments go to
# pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/lint.sh
exec .venv/bin/python -m pytest "$@"
