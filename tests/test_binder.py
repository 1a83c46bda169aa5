"""Binder, offline: binder/ set up as repo2docker sets it up, then used as a Binder user uses it.

A fresh virtual environment with the pip that `python -m venv` gives (never upgraded: this is also the
old-pip resolution of `.[lab]`, and so of `[sandbox]` and `[ray]`, what `[lab]` adds), `pip install -r
binder/requirements.txt` from the repository's root, `bash binder/postBuild` in a HOME of its own;
then a `jupyter server` of that environment, given nothing on its command line but where to listen,
runs every platform's stand-in (and a local two-node Ray cluster), and each demo notebook runs top to bottom
against it in a kernel of that environment.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO, free_port

PLATFORM_BACKENDS = {"local", "maap", "maap-ogc", "datastory", "modelarts", "ocean", "ray"}
NOTEBOOKS = ["quickstart.ipynb", "maap.ipynb", "datastory.ipynb", "modelarts.ipynb", "ocean.ipynb", "ray.ipynb",
             "panels.ipynb"]

#: Run in the Binder environment's own Python: each notebook in a `python3` kernel (the environment's
#: ipykernel), with nbclient; one JSON line per notebook.
RUNNER = r"""
import json, sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

workdir, *paths = sys.argv[1:]
probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
NotebookClient(probe, timeout=120, kernel_name="python3").execute()
print(json.dumps({"kernel_prefix": probe.cells[0].outputs[0]["text"].strip()}), flush=True)
for path in paths:
    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": workdir}}).execute()
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        failure = "\n".join(f"{o['ename']}: {o['evalue']}" for o in errors)
    except CellExecutionError as exc:
        failure = str(exc)[-4000:]
    print(json.dumps({"notebook": Path(path).name, "failure": failure}), flush=True)
"""


def test_the_lab_extra_is_the_sandbox_extra_and_more() -> None:
    """What the install below proves for `[lab]` holds for `[sandbox]` too."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "jupyter-compute[sandbox,ray]" in extras["lab"], extras["lab"]
    assert (REPO / "binder" / "requirements.txt").read_text().splitlines()[-1] == "-e .[lab]"
    assert (REPO / "binder" / "runtime.txt").read_text().strip() == "python-3.11"


def _clean_env(home: Path, venv: Path) -> dict[str, str]:
    """This machine's environment as a Binder container would have it: HOME of its own, the Binder
    environment first on PATH, none of our Jupyter, virtualenv or jupyter-compute variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "VIRTUAL_ENV", "XDG_", "IPYTHON", "PYTHON", "OCEAN_", "MAAP_",
                                "DATASTORY_", "MODELARTS_", "OBS_", "WEBHDFS_"))}  # fmt: skip
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}")
    # pip keeps this user's cache (wheels, index pages), so that a run after the first downloads little
    env.setdefault("PIP_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pip"))
    return env


@pytest.mark.timeout(1800)  # one install with the old pip (most of it), then seven notebooks
def test_binder_set_up_runs_every_demo_notebook(tmp_path: Path) -> None:
    venv, home = tmp_path / "venv", tmp_path / "home"
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = _clean_env(home, venv)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off",
                          "-r", "binder/requirements.txt"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=1200)  # fmt: skip
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]

    # postBuild merges into a jupyter_server_config.json already there, and may run twice.
    config = home / ".jupyter" / "jupyter_server_config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"ComputeApp": {"monitor_concurrency": 4}, "ServerApp": {"port_retries": 0}}))
    for _ in range(2):
        post = subprocess.run(["bash", "binder/postBuild"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert post.returncode == 0, post.stdout + post.stderr
    assert json.loads(config.read_text()) == {"ComputeApp": {"monitor_concurrency": 4, "sandbox": True},
                                              "ServerApp": {"port_retries": 0}}  # fmt: skip
    labs = subprocess.run([str(venv / "bin" / "jupyter"), "labextension", "list"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    listing = re.sub(r"\x1b\[[0-9;]*m", "", labs.stdout + labs.stderr)
    assert re.search(r"^\s*jupyter-compute v\S+ enabled OK", listing, re.M), listing

    port, token = free_port(), secrets.token_hex(16)
    root = home / "work"
    root.mkdir()
    log_path = tmp_path / "server.log"
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            [str(venv / "bin" / "jupyter"), "server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
             f"--IdentityProvider.token={token}", "--ServerApp.base_url=/binder/", f"--ServerApp.root_dir={root}",
             "--allow-root"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/binder/compute/api/backends"
        backends = _wait_for_backends(server, url, token, log_path)
        assert set(backends) >= PLATFORM_BACKENDS, (sorted(backends), log_path.read_text()[-3000:])
        assert all(backends[name]["available"] for name in PLATFORM_BACKENDS), backends

        run = subprocess.run([str(venv / "bin" / "python"), "-c", RUNNER, str(root),
                              *(str(REPO / "notebooks" / name) for name in NOTEBOOKS)],
                             cwd=root, env=env, capture_output=True, text=True, timeout=1500)  # fmt: skip
        lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        assert run.returncode == 0 and len(lines) == len(NOTEBOOKS) + 1, run.stdout[-3000:] + run.stderr[-3000:]
        assert Path(lines[0]["kernel_prefix"]).resolve() == venv.resolve(), "the kernel is of the Binder environment"
        failed = {line["notebook"]: line["failure"] for line in lines[1:] if line["failure"]}
        assert not failed, "\n\n".join(f"{name}:\n{failure}" for name, failure in failed.items())
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def _wait_for_backends(server: subprocess.Popen, url: str, token: str, log_path: Path) -> dict[str, dict]:
    """The server's backends by name, once it answers (it starts every stand-in first)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"jupyter server exited: {log_path.read_text()[-3000:]}")
        try:
            reply = httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=5)
            if reply.status_code == 200:
                return {b["name"]: b for b in reply.json()["backends"]}
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"jupyter server did not answer in 180 s: {log_path.read_text()[-3000:]}")
