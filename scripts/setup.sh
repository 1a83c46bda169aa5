#!/usr/bin/env bash
# Create .venv (if missing) and install jupyter-compute with JupyterLab and the test tools.
# Safe to run again: it only adds what is missing.
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
fi
echo "Installing jupyter-compute and its dependencies into .venv ..."
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[lab,test]"
