"""`pip install .` in a fresh virtual environment enables the server extension by itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import REPO


def test_pip_install_enables_the_server_extension(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(REPO)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV"))}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "user-config")
    listing = subprocess.run([str(venv / "bin" / "jupyter"), "server", "extension", "list"],
                             capture_output=True, text=True, env=env, timeout=120)
    output = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    assert listing.returncode == 0, output
    assert re.search(r"^\s*jupyter_compute enabled\s*$", output, re.M), output
    assert re.search(r"^\s*jupyter_compute \S+ OK\s*$", output, re.M), output
