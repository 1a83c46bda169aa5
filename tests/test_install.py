"""The wheel, built as `pip install .` builds it, carries the prebuilt JupyterLab extension: installed in a
fresh virtual environment it enables the server extension and the lab extension with no other step.

The install uses the pip that `python -m venv` gives, never upgraded (what a user has): the old pip's
resolution of the plain package is checked here, that of the `[lab]` extra (and so `[sandbox]`, all it
adds) by tests/test_binder.py, which installs it so."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO

LABEXTENSION = "share/jupyter/labextensions/jupyter-compute"


def _listing(venv, command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([str(venv / "bin" / "jupyter"), *command], capture_output=True, text=True, env=env, timeout=120)
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert done.returncode == 0, output
    return output


@pytest.mark.timeout(1800)  # two pip runs against the registry, each allowed 900 s
def test_the_wheel_enables_the_server_and_lab_extensions(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"),
                            str(REPO)], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel, = (tmp_path / "dist").glob("jupyter_compute-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shared = f"jupyter_compute-0.1.0.data/data/{LABEXTENSION}"
    assert f"{shared}/package.json" in names, names
    assert f"{shared}/install.json" in names
    assert f"{shared}/schemas/jupyter-compute/plugin.json" in names
    assert any(re.fullmatch(rf"{re.escape(shared)}/static/remoteEntry\.\w+\.js", n) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # its own pip, not upgraded
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV"))}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "user-config")
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "user-data")
    servers = _listing(venv, ["server", "extension", "list"], env)
    assert re.search(r"^\s*jupyter_compute enabled\s*$", servers, re.M), servers
    assert re.search(r"^\s*jupyter_compute \S+ OK\s*$", servers, re.M), servers
    labs = _listing(venv, ["labextension", "list"], env)
    assert re.search(r"^\s*jupyter-compute v0\.1\.0 enabled OK \(python, jupyter-compute\)\s*$", labs, re.M), labs
