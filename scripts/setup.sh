#!/usr/bin/env bash
# Create .venv (if missing) and install jupyter-compute with JupyterLab and the test tools, build the
# JupyterLab extension (scripts/build-labextension.sh: Node.js 20.19+ and npm, from PyPI if missing), and install Debian's chromium
# for the UI tests (scripts/ui-deps.sh; needs root or sudo, skipped if neither).
# Installs again only when pyproject.toml changed since the last install; rebuilds the extension only
# when its sources changed.
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
# The extension first: the wheel's build hook then finds it built and runs no npm of its own.
bash scripts/build-labextension.sh
stamp=.venv/.jupyter-compute-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "Installing jupyter-compute and its dependencies into .venv (about a minute the first time) ..."
    # (the wheel's npm hook is skipped: build-labextension.sh has just built the extension)
    HATCH_JUPYTER_BUILDER_SKIP_NPM=1 .venv/bin/python -m pip install --progress-bar off -e ".[lab,test]" | grep -E '^(Successfully|ERROR)' || true
    .venv/bin/python -c 'import jupyter_compute, jupyterlab, pytest, playwright.sync_api' || { echo "installation failed" >&2; exit 1; }
    echo "$wanted" > "$stamp"
fi
# JupyterLab loads the extension from the checkout (as `jupyter labextension develop` does), so a
# rebuild shows on the next page load without reinstalling.
labextensions=.venv/share/jupyter/labextensions
if [ "$(readlink "$labextensions/jupyter-compute" 2>/dev/null)" != "$PWD/jupyter_compute/labextension" ]; then
    mkdir -p "$labextensions"
    rm -rf "$labextensions/jupyter-compute"
    ln -s "$PWD/jupyter_compute/labextension" "$labextensions/jupyter-compute"
fi
# The browser for the UI tests (tests/ui): Debian's chromium, installed once if missing.
bash scripts/ui-deps.sh
