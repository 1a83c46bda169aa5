#!/usr/bin/env bash
# Set up .venv with only what JupyterLab and the demo notebooks need (scripts/install.sh lab: the package
# with its [lab] extra and the JupyterLab extension; no test tools, no browser), then start JupyterLab on
# notebooks/quickstart.ipynb (the URL it prints opens there). Every platform's local stand-in runs beside
# it (ComputeApp.sandbox), so all the demo notebooks work. Extra arguments go to `jupyter lab`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh lab
args=()
[ "$(id -u)" = "0" ] && args+=(--allow-root)
exec .venv/bin/jupyter lab --ServerApp.root_dir="$PWD" --LabApp.default_url=/lab/tree/notebooks/quickstart.ipynb \
    --ComputeApp.sandbox=True "${args[@]}" "$@"
