#!/usr/bin/env bash
# Create .venv (if missing) and install jupyter-compute into it, editable, with the extras named as the
# argument (a comma list: `lab` for JupyterLab and the demos, `lab,test` for the test suite), after building
# the JupyterLab extension (scripts/build-labextension.sh: Node.js 20.19+ and npm, from PyPI if missing).
# Installs again only when pyproject.toml changed, or an extra not installed yet is asked for; rebuilds the
# extension only when its sources changed. Shared by scripts/lab.sh and scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:?which extras, e.g. lab or lab,test}

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
        echo "jupyter-compute needs Python 3.10 or newer; $("$PYTHON" --version 2>&1) found." >&2
        exit 1
    fi
    echo "Creating .venv with $("$PYTHON" --version 2>&1) ..."
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
# The extension first: the wheel's build hook then finds it built and runs no npm of its own.
bash scripts/build-labextension.sh

# The stamp: pyproject.toml's hash, then the extras installed with it.
stamp=.venv/.jupyter-compute-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
read -r installed_hash installed_extras 2>/dev/null < "$stamp" || true
missing=
if [ "${installed_hash:-}" = "$wanted" ]; then
    for extra in ${extras//,/ }; do
        [[ ",${installed_extras:-}," == *",$extra,"* ]] || missing=1
    done
fi
if [ "${installed_hash:-}" != "$wanted" ] || [ -n "$missing" ]; then
    echo "Installing jupyter-compute[$extras] and its dependencies into .venv (a minute or two the first time) ..."
    # (the wheel's npm hook is skipped: build-labextension.sh has just built the extension)
    HATCH_JUPYTER_BUILDER_SKIP_NPM=1 .venv/bin/python -m pip install --progress-bar off -e ".[$extras]" |
        grep -E '^(Successfully|ERROR)' || true
    modules=jupyter_compute,jupyterlab
    [[ ",$extras," == *,lab,* || ",$extras," == *,sandbox,* ]] && modules+=,moto.server,boto3
    [[ ",$extras," == *,test,* ]] && modules+=,pytest,playwright.sync_api
    .venv/bin/python -c "import $modules" || { echo "installation failed" >&2; exit 1; }
    if [ "${installed_hash:-}" = "$wanted" ]; then  # keep what was installed before for this pyproject.toml
        extras=$(echo "${installed_extras:-},$extras" | tr ',' '\n' | grep -v '^$' | sort -u | paste -sd,)
    fi
    echo "$wanted $extras" > "$stamp"
fi
# JupyterLab loads the extension from the checkout (as `jupyter labextension develop` does), so a
# rebuild shows on the next page load without reinstalling.
labextensions=.venv/share/jupyter/labextensions
if [ "$(readlink "$labextensions/jupyter-compute" 2>/dev/null)" != "$PWD/jupyter_compute/labextension" ]; then
    mkdir -p "$labextensions"
    rm -rf "$labextensions/jupyter-compute"
    ln -s "$PWD/jupyter_compute/labextension" "$labextensions/jupyter-compute"
fi
