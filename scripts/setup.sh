#!/usr/bin/env bash
# Set up .venv for the test suite: jupyter-compute with JupyterLab, the demos' stand-ins and the test tools
# (scripts/install.sh lab,test, which also builds the JupyterLab extension), and Debian's chromium for the
# UI tests (scripts/ui-deps.sh; needs root or sudo, skipped if neither). Quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh lab,test
# The browser for the UI tests (tests/ui): Debian's chromium, installed once if missing.
bash scripts/ui-deps.sh
