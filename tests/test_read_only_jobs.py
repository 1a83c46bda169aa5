"""A job whose backend is no longer configured stays listed and readable, with its backend named, and
every action on it is refused with a clear reason (REST, the Python client, the notebook widgets).
Configured again, the backend serves the job as before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, start_live_server
from conftest import wait_for as poll

from jupyter_compute.errors import NotSupported
from jupyter_compute.widgets import JobMonitor

OLD = {"kind": "local", "max_jobs": 2}
ONLY_LOCAL = {"local": {"kind": "local"}}
MAKE_CSV = "printf 'x,y\\n1,a\\n' > \"$JUPYTER_COMPUTE_OUTPUT_DIR/table.csv\"; echo made the table"


@dataclass
class Jobs:
    home: Path
    server: LiveServer
    finished: str
    running: str
    tag: str


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    """Two jobs of backend 'old' (one finished with a table, one still running), then a server that
    no longer has 'old' configured."""
    home = tmp_path_factory.mktemp("read-only") / "jupyter"
    tag = uuid.uuid4().hex[:8]
    first = start_live_server(home, backends={"old": OLD, **ONLY_LOCAL})
    try:
        with first.client() as client:
            finished = client.submit(backend="old", command=MAKE_CSV, name=f"{tag}-table", tags=[tag])
            finished.wait(timeout=120, progress=False)
            running = client.submit(backend="old", command="sleep 25", name=f"{tag}-sleeper", tags=[tag])
            poll(lambda: client.job(running.id).state == "RUNNING", "the sleeper to run", timeout=120)
    finally:
        first.kill()  # its job keeps running, recorded RUNNING
    found = Jobs(home, start_live_server(home, backends=ONLY_LOCAL), finished.id, running.id, tag)
    yield found
    found.server.stop()  # the server a test started in its place, if it did


def call(server: LiveServer, method: str, path: str) -> httpx.Response:
    return httpx.request(method, f"{server.url}compute/api/{path}",
                         headers={"Authorization": f"token {server.token}"}, timeout=30)


def test_the_jobs_stay_listed_and_readable(jobs: Jobs) -> None:
    listed = call(jobs.server, "GET", f"jobs?q={jobs.tag}").json()["jobs"]
    assert {(job["id"], job["backend"]) for job in listed} == {(jobs.finished, "old"), (jobs.running, "old")}
    running = call(jobs.server, "GET", f"jobs/{jobs.running}")
    assert running.status_code == 200 and running.json()["state"] == "RUNNING", "shown as last recorded"
    results = call(jobs.server, "GET", f"jobs/{jobs.finished}/results")
    assert results.status_code == 200
    assert {r["name"] for r in results.json()["results"]} == {"table.csv", "job.log"}, "the recorded result files"
    backends = [b["name"] for b in call(jobs.server, "GET", "backends").json()["backends"]]
    assert backends == ["local"]


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "jobs/{running}/cancel"),
    ("DELETE", "jobs/{running}"),
    ("DELETE", "jobs/{finished}"),
    ("GET", "jobs/{finished}/logs"),
    ("GET", "jobs/{finished}/results/table.csv"),
])
def test_every_action_is_refused_naming_the_backend(jobs: Jobs, method: str, path: str) -> None:
    reply = call(jobs.server, method, path.format(running=jobs.running, finished=jobs.finished))
    assert reply.status_code == 405, reply.text
    error = reply.json()["error"]
    assert error["type"] == "NotSupported" and error["backend"] == "old"
    assert "backend 'old', which is not configured on this server (configured: local)" in error["message"]
    assert "read-only" in error["message"]
    assert call(jobs.server, "GET", f"jobs/{jobs.finished}").status_code == 200, "nothing was lost"
    assert call(jobs.server, "GET", f"jobs/{jobs.running}").json()["state"] == "RUNNING", "nothing changed"


def test_the_python_client_says_why(jobs: Jobs) -> None:
    with jobs.server.client() as client:
        job = client.job(jobs.running)
        with pytest.raises(NotSupported, match="backend 'old', which is not configured on this server"):
            job.cancel()
        with pytest.raises(NotSupported, match="not configured"):
            client.delete(jobs.finished)
    jobs.server.checked_log()  # no traceback
    assert "belongs to backend 'old', which is not configured" in jobs.server.log_path.read_text()


def test_the_notebook_monitor_shows_them_read_only(jobs: Jobs) -> None:
    with jobs.server.client() as client:
        monitor = JobMonitor(client, q=jobs.tag, namespace={})
        try:
            rows = poll(lambda: monitor.rows if len(monitor.rows) == 2 else None, "both rows")
            for row in rows.values():
                assert "old (read-only)" in row.cells.value
                assert "is not configured on this server" in row.cells.value, "the reason, as the cell's title"

            rows[jobs.finished].select_button.click()
            detail = monitor.detail
            assert detail.job_id == jobs.finished
            note = detail.read_only_note.value
            assert "Read-only: the backend 'old' is not configured on this server" in note
            assert detail.cancel_button.disabled and detail.delete_button.disabled
            assert "not configured" in detail.delete_button.tooltip
            load = detail.load_buttons["table.csv"]
            assert load.disabled, "the recorded table is named, but cannot be fetched"
            assert "the log is kept by old" in detail.log_status.value

            rows[jobs.running].select_button.click()
            assert detail.job_id == jobs.running
            assert detail.cancel_button.disabled, "a running job of an unconfigured backend has no Cancel"
            assert detail.read_only_note.value

            local = client.submit(command="sleep 60", name=f"{jobs.tag}-local")
            row = poll(lambda: monitor.rows.get(local.id), "the local job's row")
            assert "(read-only)" not in row.cells.value
            row.select_button.click()
            assert detail.read_only_note.value == ""
            poll(lambda: not detail.cancel_button.disabled, "Cancel on for a job of a configured backend")
            local.cancel()
        finally:
            monitor.close()


def test_configured_again_the_backend_serves_them(jobs: Jobs) -> None:
    jobs.server.stop()
    again = start_live_server(jobs.home, backends={"old": OLD, **ONLY_LOCAL})
    jobs.server = again
    logs = call(again, "GET", f"jobs/{jobs.finished}/logs")
    assert logs.status_code == 200 and "made the table" in logs.json()["text"]
    table = call(again, "GET", f"jobs/{jobs.finished}/results/table.csv")
    assert table.status_code == 200 and table.text == "x,y\n1,a\n"
    with again.client() as client:
        poll(lambda: client.job(jobs.running).is_terminal, "the sleeper to end, watched again", timeout=120)
