#!/usr/bin/env bash
# Create .venv (if missing) and install jupyter-compute with JupyterLab and the test tools,
# and Debian's chromium for the UI tests (scripts/ui-deps.sh; needs root or sudo, skipped if neither).
# Installs again only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "jupyter-compute needs Python 3.10 or newer; $("$PYTHON" --version 2>&1) found." >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$PYTHON" --version 2>&1) ..."
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.jupyter-compute-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "Installing jupyter-compute and its dependencies into .venv (about a minute the first time) ..."
    .venv/bin/python -m pip install --progress-bar off -e ".[lab,test]" | grep -E '^(Successfully|ERROR)' || true
    .venv/bin/python -c 'import jupyter_compute, jupyterlab, pytest, playwright.sync_api' || { echo "installation failed" >&2; exit 1; }
    echo "$wanted" > "$stamp"
fi
# The browser for the UI tests (tests/ui): Debian's chromium, installed once if missing.
bash scripts/ui-deps.sh
