"""The OpenAPI document says what the server does: schemathesis runs over every operation of a live
server (the local backend, and MAAP through its stand-in, which has a passthrough) with a valid token,
a fixed seed and all its checks, and finds nothing — no 5xx, no schema-valid request refused, no
schema-violating request accepted, no answer the document does not describe.

The seed is fixed and schemathesis keeps no example database, so every run makes the same requests. The
stateful phase (submit a job, then read, cancel or delete it, by the links schemathesis infers from the
new job's ``Location``) is kept: what it meets depends on how far a job got (cancelling one that has just
ended), and every such answer must conform too; it has found races no other test had.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from conftest import LiveServer, start_live_server
from jupyter_compute.sandbox.maap import VALID_TOKEN, MaapSandbox
from jupyter_compute.server.routes import ROUTES, handler_methods

SEED = 20261206
#: Test cases per operation in the fuzzing phase (the coverage phase makes its own, deterministic set).
MAX_EXAMPLES = 10
TESTS = Path(__file__).resolve().parent

#: The run's settings, each for something the document cannot hold:
#: - the hooks (openapi_hooks.py) put real files and algorithms in the specs the run expects accepted;
#: - a job's logs, results and cancellation answer 405 when its backend's platform cannot do that (MAAP
#:   keeps no logs): the document says so for these routes, but which job is whose is not in the request;
#: - the event stream never ends: one second of it is read.
CONFIG = """\
hooks = "openapi_hooks"

[[operations]]
include-path-regex = "^/api/jobs/\\\\{job_id\\\\}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "405", "409", "429", "5xx"]

[[operations]]
include-path = "/api/events"
request-timeout = 1
"""


@pytest.fixture
def maap_sandbox() -> Iterator[MaapSandbox]:
    with MaapSandbox() as sandbox:
        yield sandbox


def job_files(folder: Path) -> Path:
    """The local jobs' folder, with the script and the notebook that openapi_hooks names."""
    folder.mkdir(parents=True)
    (folder / "job.py").write_text("pass\n")
    nbformat.write(nbformat.v4.new_notebook(), folder / "job.ipynb")
    return folder


def delete_all_jobs(server: LiveServer) -> None:
    """Forget every job (stopping those still running), so nothing outlives the test."""
    headers = {"Authorization": f"token {server.token}"}
    with httpx.Client(base_url=server.url + "compute/api/", headers=headers, timeout=30) as client:
        for _ in range(20):
            jobs = client.get("jobs", params={"limit": 1000}).json()["jobs"]
            if not jobs:
                return
            for job in jobs:
                client.delete(f"jobs/{job['id']}")


@pytest.fixture
def server(tmp_path: Path, maap_sandbox: MaapSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("MAAP_PGT", VALID_TOKEN)
    backends = {
        "local": {"kind": "local", "cwd": str(job_files(tmp_path / "jobs")), "max_jobs": 2},
        "maap": {"kind": "maap", "flavor": "ogc", "url": maap_sandbox.url, "token_env": "MAAP_PGT"},
    }
    live = start_live_server(tmp_path / "home", backends=backends)
    try:
        yield live
    finally:
        try:
            delete_all_jobs(live)
        finally:
            live.stop()


def schemathesis(server: LiveServer, workdir: Path) -> subprocess.CompletedProcess[str]:
    """``st run`` over every operation with all checks; its report on stdout."""
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", server.url + "compute/api/openapi.json", "--header", f"Authorization: token {server.token}",
        "--include-path-regex", "^/",  # every operation: schemathesis leaves the document's own out unless named
        "--checks", "all", "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
        "--generation-database", "none", "--report", "junit", "--report-dir", str(workdir / "report"),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=150)


@pytest.mark.timeout(180)
def test_schemathesis_finds_no_mismatch(server: LiveServer, tmp_path: Path) -> None:
    done = schemathesis(server, tmp_path)
    report = done.stdout + done.stderr
    print(report)
    assert done.returncode == 0, report[-30000:]
    operations = sum(len(handler_methods(handler)) for _, handler in ROUTES)
    assert re.search(rf"Tested:\s+{operations}\b", report), report[-5000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts and counts.group(1) == counts.group(2), report[-5000:]
    server.checked_log()
