#!/usr/bin/env bash
# Set up .venv, then open JupyterLab with the extension on the quickstart notebook; every
# platform's local stand-in runs beside it (ComputeApp.sandbox), so all the demo notebooks work.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
args=()
[ "$(id -u)" = "0" ] && args+=(--allow-root)
exec .venv/bin/jupyter lab --ServerApp.root_dir="$PWD" --ComputeApp.sandbox=True notebooks/quickstart.ipynb "${args[@]}" "$@"
