"""The local queue is driven by events: a slot is refilled when a runner exits (not on a tick), queued
jobs cost no status call, and a restarted server still runs what was queued and running.

The first two run in the in-process server (real HTTP on loopback) and read the local backend's own
counters; the safety tick is set to an hour there, so nothing that happens within a test comes from it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Deadline, start_live_server, wait_for_state

from jupyter_compute.backends.local import LocalBackend

HOUR = 3600.0
QUEUED = 12
FINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}


@pytest.fixture
def compute_config() -> dict[str, Any]:
    return {"backends": {"local": {"kind": "local", "max_jobs": 1, "safety_tick_s": HOUR}}}


def local_backend(jp_serverapp: Any) -> LocalBackend:
    backend = jp_serverapp.web_app.settings["jupyter_compute"].service.backends["local"]
    assert isinstance(backend, LocalBackend) and backend.safety_tick_s == HOUR
    return backend


def gated(gate: Path) -> str:
    return f'while [ ! -e "{gate}" ]; do sleep 0.02; done'


async def submit(api: Any, name: str, command: str) -> dict:
    reply = await api("POST", "jobs", body={"backend": "local", "name": name, "command": command})
    assert reply.status == 201, reply.body
    return reply.body


async def test_a_queued_job_starts_when_the_running_one_exits(api, jp_serverapp, tmp_path: Path) -> None:
    backend = local_backend(jp_serverapp)
    gate = tmp_path / "gate"
    first = await submit(api, "first", gated(gate))
    second = await submit(api, "second", "true")
    assert first["state"] == "RUNNING" and second["state"] == "QUEUED", (first, second)
    assert backend.counters["spawns"] == 1

    gate.touch()
    done = await wait_for_state(api, second["id"], FINAL, timeout=120)
    assert done["state"] == "SUCCEEDED", done
    ended = await wait_for_state(api, first["id"], FINAL, timeout=120)
    assert ended["state"] == "SUCCEEDED", ended
    # The second started once the first ended, told by the first runner's exit: no tick ran meanwhile.
    assert done["started"] >= ended["finished"]
    assert backend.counters["exits"] >= 1 and backend.counters["spawns"] == 2
    assert backend.counters["ticks"] == 0


async def test_queued_jobs_cost_no_status_call(api, jp_serverapp, tmp_path: Path) -> None:
    backend = local_backend(jp_serverapp)
    gate = tmp_path / "gate"
    running = await submit(api, "holder", gated(gate))
    queued = [await submit(api, f"queued-{i}", "true") for i in range(QUEUED)]
    assert running["state"] == "RUNNING" and {job["state"] for job in queued} == {"QUEUED"}

    gate.touch()
    for job in [running, *queued]:
        ended = await wait_for_state(api, job["id"], FINAL, timeout=120)
        assert ended["state"] == "SUCCEEDED", ended
    # Every job was queued for a while and ended recorded: what recorded it was told by the backend,
    # and no status call was answered for a queued job (nor read the disk for one).
    assert backend.counters["status_queued"] == 0, backend.counters
    assert backend.counters["status_reads"] <= QUEUED + 1, backend.counters  # one look per runner exit
    assert backend.counters["pushes"] >= QUEUED + 1, backend.counters
    assert backend.counters["ticks"] == 0


def all_jobs(url: str, token: str) -> dict[str, dict]:
    reply = httpx.get(url + "compute/api/jobs", params={"limit": 100}, headers={"Authorization": f"token {token}"},
                      timeout=60)
    reply.raise_for_status()
    return {job["name"]: job for job in reply.json()["jobs"]}


def wait_all_ended(url: str, token: str) -> dict[str, dict]:
    deadline = Deadline(120, "every job to end after the restart")
    while True:
        jobs = all_jobs(url, token)
        states = {name: job["state"] for name, job in jobs.items()}
        if set(states.values()) <= FINAL:
            return jobs
        deadline.check(states)
        time.sleep(0.2)


def test_a_restarted_server_runs_what_was_queued_and_running(tmp_path: Path) -> None:
    home = tmp_path / "jupyter"
    gate = tmp_path / "gate"
    backends = {"local": {"kind": "local", "max_jobs": 1}}
    first = start_live_server(home, backends=backends)
    try:
        with first.client() as client:
            holder = client.submit(command=gated(gate), name="holder")
            queued = [client.submit(command="true", name=f"queued-{i}") for i in range(3)]
            assert client.job(holder.id).state.value == "RUNNING"
            assert {client.job(job.id).state.value for job in queued} == {"QUEUED"}
    finally:
        first.kill()

    second = start_live_server(home, token=first.token, backends=backends)
    try:
        jobs = all_jobs(second.url, second.token)
        assert jobs["holder"]["state"] == "RUNNING" and {jobs[f"queued-{i}"]["state"] for i in range(3)} == {"QUEUED"}
        gate.touch()
        jobs = wait_all_ended(second.url, second.token)
        states = {name: job["state"] for name, job in jobs.items()}
        assert states == {"holder": "SUCCEEDED", **{f"queued-{i}": "SUCCEEDED" for i in range(3)}}
        started = sorted((jobs[f"queued-{i}"]["started"], i) for i in range(3))
        assert [i for _, i in started] == [0, 1, 2], "the queue ran out of order"
    finally:
        second.stop()


async def test_a_job_whose_runner_start_fails_is_recorded_ended(api, jp_serverapp, tmp_path: Path) -> None:
    """The server cannot record the runner of a queued job when its turn comes (a folder holds the record's
    name): the job is settled from its folder and the server records its end (no safety tick runs here). A
    notebook job: it is queued as a folder."""
    backend = local_backend(jp_serverapp)
    gate = tmp_path / "gate"
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    holder = await submit(api, "holder", gated(gate))
    reply = await api("POST", "jobs", body={"backend": "local", "name": "blocked", "notebook": str(notebook)})
    assert reply.status == 201, reply.body
    blocked = reply.body
    assert blocked["state"] == "QUEUED", blocked
    (backend.jobs_dir / blocked["remote_id"] / "runner.json").mkdir()
    gate.touch()
    ended = await wait_for_state(api, blocked["id"], FINAL, timeout=120)
    assert ended["state"] == "FAILED" and ended["message"], ended
    assert (await wait_for_state(api, holder["id"], FINAL, timeout=120))["state"] == "SUCCEEDED"
