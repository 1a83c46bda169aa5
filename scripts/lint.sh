#!/usr/bin/env bash
# Types and lint (issue 17): ruff with the rule set in pyproject.toml, mypy on the package, the complexity
# gate. Run by scripts/test.sh before the tests; needs the [test] extras in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "lint: ruff"
.venv/bin/ruff check jupyter_compute tests scripts
echo "lint: mypy"
.venv/bin/mypy
echo "lint: complexity"
.venv/bin/python scripts/complexity.py | tail -n 1
