"""The local queue (max_jobs=2) draining 1,000 short jobs, against bare runner processes, same run.

The anchor is a bare loop: 1,000 job folders made as the backend makes them (command ``true``), each
run by the runner exactly as the backend starts it (:func:`local.runner_argv`, same interpreter
flags), two at a time, each started as soon as the previous one of its lane exited.

Ours: a real ``jupyter server`` (without the test suite's loop watch, as in production) whose two slots are held by two gated jobs while 1,000 ``true`` jobs
are submitted over REST (all queued); the gate then opens and the drain is timed until every job's
runner has left its final status (read from the job folders, so the clock costs the server
nothing), with the server's CPU time (psutil, all its threads) over the same span. Then the store
must hold all 1,000, every one SUCCEEDED.

Prints ``bench:`` lines: the runner's import time (``-X importtime``), both drain rates and their
ratio, the server's share of a core; asserts the goals (ratio ≥ ``GOAL_RATIO``, CPU ≤ ``MAX_CPU``).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import LiveServer, start_live_server

from jupyter_compute.backends import local
from jupyter_compute.backends import local_files as files
from jupyter_compute.models import JobSpec
from jupyter_compute.server import loop_watch

JOBS = 1_000
SLOTS = 2
GOAL_RATIO = 0.8
MAX_CPU = 0.10
SUBMIT_CONCURRENCY = 8
TIMEOUT_S = 300.0


def runner_import_ms(flags: tuple[str, ...]) -> float:
    """The runner module's cumulative import time in a fresh interpreter (best of 5), in ms."""
    best = float("inf")
    for _ in range(5):
        out = subprocess.run([sys.executable, *flags, "-X", "importtime", "-c", f"import {local.RUNNER_MODULE}"],
                             capture_output=True, text=True, check=True).stderr
        match = re.search(r"\|\s*(\d+) \| " + re.escape(local.RUNNER_MODULE) + "$", out, re.M)
        assert match, out[-2000:]
        best = min(best, int(match.group(1)) / 1000)
    return best


def bare_drain(count: int, flags: tuple[str, ...]) -> float:
    """Jobs per second of the bare loop: ``count`` runners of ``true`` jobs, ``SLOTS`` at a time."""
    data = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    backend = local.LocalBackend("bare", {}, data_dir=data)
    dirs = []
    for i in range(count):
        backend._create_job(JobSpec(command="true"), f"bare-{i:04d}")
        dirs.append(backend.jobs_dir / f"bare-{i:04d}")
    todo = iter(dirs)
    lock = threading.Lock()

    def lane() -> None:
        while True:
            with lock:
                job_dir = next(todo, None)
            if job_dir is None:
                return
            subprocess.run(local.runner_argv(job_dir, flags), cwd=job_dir, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True, check=True)

    started = time.perf_counter()
    lanes = [threading.Thread(target=lane) for _ in range(SLOTS)]
    for thread in lanes:
        thread.start()
    for thread in lanes:
        thread.join()
    wall = time.perf_counter() - started
    states = {(files.read_json(d / files.STATUS) or {}).get("state") for d in dirs}
    assert states == {"SUCCEEDED"}, states
    return count / wall


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("bench-queue") / "jupyter"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(loop_watch.ENV_REPORT, raising=False)  # measured as run in production
        live = start_live_server(home, backends={"local": {"kind": "local", "max_jobs": SLOTS}})
    yield live
    live.stop()


async def submit_all(server: LiveServer, bodies: list[dict]) -> list[str]:
    """POST every body (``SUBMIT_CONCURRENCY`` at a time); the job ids in the order of ``bodies``."""
    todo = iter(enumerate(bodies))
    ids = [""] * len(bodies)
    headers = {"Authorization": f"token {server.token}"}
    async with httpx.AsyncClient(timeout=120, headers=headers) as client:

        async def worker() -> None:
            for i, body in todo:
                reply = await client.post(server.url + "compute/api/jobs", json=body)
                assert reply.status_code == 201, reply.text
                ids[i] = reply.json()["id"]

        await asyncio.gather(*(worker() for _ in range(SUBMIT_CONCURRENCY)))
    return ids


def wait_until(probe: Callable[[], bool], what: str, timeout: float = TIMEOUT_S, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def recorded_states(server: LiveServer) -> dict[str, str]:
    jobs: dict[str, str] = {}
    with httpx.Client(timeout=60, headers={"Authorization": f"token {server.token}"}) as client:
        while True:
            page = client.get(server.url + "compute/api/jobs",
                              params={"limit": 1000, "offset": len(jobs), "sort": "created"}).json()
            jobs.update({job["id"]: job["state"] for job in page["jobs"]})
            if len(jobs) >= page["total"] or not page["jobs"]:
                return jobs


def wait_recorded(server: LiveServer, ids: list[str]) -> dict[str | None, int]:
    """Wait (bounded) until the store holds every job SUCCEEDED; the count of each recorded state."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        states = recorded_states(server)
        ours = [states.get(job_id) for job_id in ids]
        if all(state == "SUCCEEDED" for state in ours) or time.monotonic() > deadline:
            counts: dict[str | None, int] = {}
            for state in ours:
                counts[state] = counts.get(state, 0) + 1
            return counts
        time.sleep(1.0)


def test_local_queue_drain_against_bare_runners(server: LiveServer, tmp_path: Path) -> None:
    flags = local.probe_runner_flags()
    import_ms = runner_import_ms(flags)
    print(f"\nbench: runner start-up, `python {' '.join(flags)} -X importtime -c 'import {local.RUNNER_MODULE}'`: "
          f"{import_ms:.1f} ms (best of 5)")
    bare = bare_drain(JOBS, flags)

    jobs_dir = Path(server.env["JUPYTER_DATA_DIR"]) / "compute" / "backends" / "local" / "jobs"
    gate = tmp_path / "gate"
    gated = [{"backend": "local", "name": f"gate-{i}", "command": f'while [ ! -e "{gate}" ]; do sleep 0.01; done'}
             for i in range(SLOTS)]
    gate_ids = asyncio.run(submit_all(server, gated))
    wait_until(lambda: all((jobs_dir / job_id / files.PROCESS).exists() for job_id in gate_ids), "the gates to run")
    bodies = [{"backend": "local", "name": f"q-{i:04d}", "command": "true"} for i in range(JOBS)]
    ids = asyncio.run(submit_all(server, bodies))
    assert len(set(ids)) == JOBS
    assert not any((jobs_dir / job_id / files.LAUNCHED).exists() for job_id in ids), "a job ran past the gates"
    time.sleep(2.0)  # the submissions' own work settles before the clock starts

    process = psutil.Process(server.process.pid)
    cpu_before = sum(process.cpu_times()[:2])
    started = time.perf_counter()
    gate.touch()
    # Newest first: the queue runs oldest first, so until the end this is one look at one file.
    wait_until(lambda: all((jobs_dir / job_id / files.STATUS).exists() for job_id in reversed(ids)),
               "the queue to drain")
    wall = time.perf_counter() - started
    cpu = (sum(process.cpu_times()[:2]) - cpu_before) / wall
    ours = JOBS / wall
    ratio = ours / bare
    print(f"bench: local queue, {JOBS} jobs of `true`, max_jobs={SLOTS}: ours {ours:.1f} jobs/s, bare runners "
          f"{bare:.1f} jobs/s, ratio {ratio:.2f} (goal ≥ {GOAL_RATIO}); server CPU while draining "
          f"{cpu * 100:.1f} % of a core (goal ≤ {MAX_CPU * 100:.0f} %) [{os.cpu_count()} cores]")

    counts = wait_recorded(server, ids)
    print(f"bench: local queue, recorded states of the {JOBS} jobs: {counts}")
    assert counts == {"SUCCEEDED": JOBS}
    assert ratio >= GOAL_RATIO
    assert cpu <= MAX_CPU
