"""The job monitor with 1,000 jobs on a real server: first page, and per-row live updates.

The store is filled with ``JobStore.bulk_create`` before the server starts (all jobs in
terminal states, so nothing polls them). Prints ``monitor [...]`` lines (run with ``-s``):
the first page's render time, and 100 state changes applied to rows the way LiveJobs applies
them (``monitor._apply``) against 100 full redraws of the page. Plain timing: it runs the
same with and without ``--benchmark-disable``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import LiveServer, start_live_server

from jupyter_compute.client import Job
from jupyter_compute.models import Job as StoredJob
from jupyter_compute.models import JobSpec, JobState
from jupyter_compute.server.store import JobStore
from jupyter_compute.widgets import JobMonitor

JOBS = 1_000
PAGE = 25
UPDATES = 100
RENDER_RUNS = 5
MAX_FIRST_PAGE_S = 10.0
TERMINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT)


def stored_jobs(count: int) -> list[StoredJob]:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    jobs = []
    for i in range(count):
        state = TERMINAL[i % len(TERMINAL)]
        created = start + timedelta(seconds=30 * i)
        name = f"bench-{i:04d}"
        jobs.append(StoredJob(
            id=f"{i:032x}", backend="local", spec=JobSpec(name=name, command="true"), name=name,
            remote_id=f"remote-{i}", state=state, native_status=state.value.lower(),
            message="exited with code 1" if state is JobState.FAILED else "",
            created=created, updated=created + timedelta(seconds=5),
            started=created + timedelta(seconds=1), finished=created + timedelta(seconds=4),
        ))
    return jobs


async def fill_store(path: Path, jobs: list[StoredJob]) -> int:
    async with JobStore(path) as store:
        return await store.bulk_create(jobs)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    home = tmp_path_factory.mktemp("bench-monitor") / "jupyter"
    # live_server's layout: JUPYTER_DATA_DIR=home/data, the store at <data>/compute/jobs.sqlite
    assert asyncio.run(fill_store(home / "data" / "compute" / "jobs.sqlite", stored_jobs(JOBS))) == JOBS
    live = start_live_server(home)
    yield live
    live.stop()


def changed(job: Job, i: int) -> Job:
    """The job as an event after a state change would bring it (a newer ``updated``)."""
    state = TERMINAL[(TERMINAL.index(job.state) + 1 + i) % len(TERMINAL)]
    new = dataclasses.replace(job, state=state, native_status=state.value.lower(),
                              message=f"change {i}", updated=job.updated + timedelta(seconds=i + 1))
    new._client = job._client
    return new


def test_monitor_with_1000_jobs(server):
    with server.client() as client:
        assert client.jobs(limit=1).total == JOBS

        first_page = []
        for _ in range(RENDER_RUNS):
            started = time.perf_counter()
            monitor = JobMonitor(client, page_size=PAGE, namespace={})
            first_page.append(time.perf_counter() - started)
            assert monitor.page_text == f"1–{PAGE} of {JOBS}" and len(monitor.table.children) == PAGE
            monitor.close()
        first_ms = statistics.median(first_page) * 1000
        print(f"\nmonitor [first page of {PAGE} from {JOBS} jobs] median {first_ms:.1f} ms "
              f"(min {min(first_page) * 1000:.1f} ms, {RENDER_RUNS} runs)")
        assert first_ms < MAX_FIRST_PAGE_S * 1000

        # Live updates, without the event thread so only the code under test runs.
        monitor = JobMonitor(client, page_size=PAGE, namespace={}, live=False)
        page = [row.job for row in monitor.rows.values()]
        identities = {job_id: (row, row.cells, row.select_button) for job_id, row in monitor.rows.items()}
        events = [changed(page[i % PAGE], i) for i in range(UPDATES)]

        started = time.perf_counter()
        for job in events:
            monitor._apply(job)
        per_row = time.perf_counter() - started

        assert {job_id: (row, row.cells, row.select_button) for job_id, row in monitor.rows.items()} == identities
        assert list(monitor.table.children) == [identities[job.id][0] for job in page], "order kept"
        last = {job.id: job for job in events}
        for job_id, row in monitor.rows.items():
            assert row.job.state == last[job_id].state and f">{last[job_id].state.value}<" in row.cells.value

        # Baseline: redraw the whole page (new row widgets) for every one of the same changes.
        current = {job.id: job for job in page}
        started = time.perf_counter()
        for job in events:
            current[job.id] = job
            monitor._render_page(list(current.values()), monitor.total, reuse=False)
        redraw = time.perf_counter() - started
        monitor.close()

    ratio = redraw / per_row
    print(f"monitor [{UPDATES} state changes] per-row update {per_row * 1000:.1f} ms "
          f"({per_row / UPDATES * 1e6:.0f} µs each), full page redraw {redraw * 1000:.1f} ms "
          f"({redraw / UPDATES * 1000:.2f} ms each): per-row is {ratio:.1f}x faster")
    assert per_row < redraw, "updating one row must beat redrawing the page"
