#!/usr/bin/env bash
# Build the JupyterLab extension (labextension/ → jupyter_compute/labextension/) when its sources
# changed since the last build: `npm ci` from package-lock.json, then tsc and @jupyter/builder (Rspack).
# Needs Node.js 18+ with npm; nothing is fetched but npm packages.
set -euo pipefail
cd "$(dirname "$0")/../labextension"

if ! command -v npm >/dev/null; then
    echo "Building the JupyterLab extension needs Node.js (18 or newer) with npm; none is on PATH." >&2
    echo "On Debian: apt-get install nodejs npm" >&2
    exit 1
fi
hash_of() { cat "$@" | sha256sum | cut -c1-64; }

deps=$(hash_of package.json package-lock.json)
if [ "$(cat node_modules/.jupyter-compute-deps 2>/dev/null)" != "$deps" ]; then
    echo "Installing the JupyterLab extension's npm packages (npm ci, about a minute the first time) ..."
    npm ci --no-audit --no-fund --loglevel=error
    echo "$deps" > node_modules/.jupyter-compute-deps
fi
sources=$(hash_of package.json tsconfig.json install.json $(find src style schema -type f | LC_ALL=C sort))
stamp=lib/.jupyter-compute-sources
if [ "$(cat "$stamp" 2>/dev/null)" != "$sources" ] || [ ! -f ../jupyter_compute/labextension/static/style.js ]; then
    echo "Building the JupyterLab extension ..."
    log=$(mktemp)
    npm run --silent build >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; echo "the JupyterLab extension failed to build" >&2; exit 1; }
    rm -f "$log"
    echo "$sources" > "$stamp"
fi
