"""The job monitor with 1,000 jobs on a real server: first page, per-row live updates, and
events through the real event path.

The store is filled with ``JobStore.bulk_create`` before the server starts (all jobs in
terminal states, so nothing polls them). Prints ``monitor [...]`` lines (run with ``-s``):

- the first page's render time;
- 100 state changes applied to rows (``monitor._apply``) against 100 full redraws of the page
  (every row widget made anew: the baseline, built here);
- events through LiveJobs' thread (a scripted event stream in place of the server's, so the
  jobs can be changed at will): 100 changes of jobs on page 1, 100 of jobs far off it, and a
  burst of events for 5 new jobs; the time from the first event until the monitor is quiet
  (everything shown, no reload pending) and the number of page queries it made;
- 5 jobs submitted and followed through the server's own event stream until their rows show
  SUCCEEDED, with the page queries that took.

Plain timing: it runs the same with and without ``--benchmark-disable``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest
from conftest import LiveServer, start_live_server

from jupyter_compute.client import Job
from jupyter_compute.errors import ComputeError
from jupyter_compute.models import Job as StoredJob
from jupyter_compute.models import JobSpec, JobState
from jupyter_compute.server.store import JobStore
from jupyter_compute.widgets import JobMonitor, LiveJobs
from jupyter_compute.widgets.monitor import JobRow

JOBS = 1_000
PAGE = 25
UPDATES = 100
RENDER_RUNS = 5
MAX_FIRST_PAGE_S = 10.0
NEW_JOBS = 5
TIMEOUT = 60.0
TERMINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT)


def stored_jobs(count: int) -> list[StoredJob]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
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


def redraw_page(monitor: JobMonitor, jobs: list[Job]) -> None:
    """A full redraw: every row widget closed and made anew (what per-row updates avoid)."""
    for row in monitor.rows.values():
        row.close()
    monitor.rows = {job.id: JobRow(job, monitor.select) for job in jobs}
    monitor.table.children = tuple(monitor.rows.values())


def wait_for(predicate: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


class ScriptedEvents:
    """Stands in for ``client.events()``: the events put in ``feed``, through LiveJobs' thread."""

    def __init__(self) -> None:
        self.feed: queue.Queue[dict | None] = queue.Queue()
        self.taken = 0

    def __call__(self) -> Iterator[dict]:
        def stream() -> Iterator[dict]:
            while True:
                event = self.feed.get()
                if event is None:
                    raise ComputeError("the scripted stream ended")
                yield event
                self.taken += 1

        return stream()


def job_event(job: Job) -> dict:
    return {"event": "job", "data": job.to_dict()}


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
            redraw_page(monitor, list(current.values()))
        redraw = time.perf_counter() - started
        monitor.close()

    ratio = redraw / per_row
    print(f"monitor [{UPDATES} state changes] per-row update {per_row * 1000:.1f} ms "
          f"({per_row / UPDATES * 1e6:.0f} µs each), full page redraw {redraw * 1000:.1f} ms "
          f"({redraw / UPDATES * 1000:.2f} ms each): per-row is {ratio:.1f}x faster")
    assert per_row < redraw, "updating one row must beat redrawing the page"


def test_monitor_events_through_the_live_path(server):
    with server.client() as client, server.client() as other:
        events = ScriptedEvents()
        client.events = events  # type: ignore[method-assign]
        monitor = JobMonitor(client, page_size=PAGE, namespace={})
        live = LiveJobs.for_client(client)
        assert live.wait_connected(TIMEOUT)
        wait_for(lambda: monitor._load_seq >= 2 and monitor._reloader is None, "the resync after connecting")
        page = [row.job for row in monitor.rows.values()]
        far = list(client.jobs(limit=PAGE, offset=500))  # jobs far off page 1
        new_jobs = [other.submit(command="true", name=f"bench-new-{i}") for i in range(NEW_JOBS)]
        script = []
        for i in range(UPDATES):
            script.append(job_event(changed(page[i % PAGE], i)))
            script.append(job_event(changed(far[i % PAGE], i)))
            if i % (UPDATES // NEW_JOBS) == 0:  # each new job's first event, spread among the others
                script.append(job_event(new_jobs[i // (UPDATES // NEW_JOBS)]))
        last = {event["data"]["id"]: event["data"]["message"] for event in script}
        queries = monitor.page_queries

        def quiet() -> bool:
            rows = monitor.rows
            return (
                events.taken == len(script) and monitor._reloader is None
                and all(job.id in rows for job in new_jobs)
                and all(rows[job.id].job.message == last[job.id] for job in page if job.id in rows)
            )

        started = time.perf_counter()
        for event in script:
            events.feed.put(event)
        wait_for(quiet, "the monitor to show every event")
        took = time.perf_counter() - started
        made = monitor.page_queries - queries
        assert next(iter(monitor.rows)) == new_jobs[-1].id, "the newest job on top"
        assert all(row.job.id not in {job.id for job in far} for row in monitor.rows.values())
        monitor.close()
        live.close()
        events.feed.put(None)

        # The same through the server's own event stream: submitted jobs followed to SUCCEEDED.
        with server.client() as watched:
            monitor = JobMonitor(watched, page_size=PAGE, namespace={})
            assert LiveJobs.for_client(watched).wait_connected(TIMEOUT)
            wait_for(lambda: monitor._reloader is None, "the monitor to settle")
            real_queries = monitor.page_queries
            started = time.perf_counter()
            submitted = [other.submit(command="true", name=f"bench-live-{i}") for i in range(NEW_JOBS)]
            wait_for(lambda: all(job.id in monitor.rows and monitor.rows[job.id].state == "SUCCEEDED"
                                 for job in submitted), "the submitted jobs to show SUCCEEDED")
            real_took = time.perf_counter() - started
            wait_for(lambda: monitor._reloader is None, "the reloads to end")
            real_made = monitor.page_queries - real_queries
            monitor.close()

    print(f"\nmonitor [live path: {len(script)} events ({UPDATES} on page 1, {UPDATES} off it, {NEW_JOBS} new "
          f"jobs) through LiveJobs] events→quiet {took * 1000:.1f} ms, {made} page queries")
    print(f"monitor [server events: {NEW_JOBS} jobs submitted until their rows show SUCCEEDED] "
          f"{real_took * 1000:.1f} ms, {real_made} page queries")
    assert made <= NEW_JOBS, "off-page changes make no query, and a burst of new jobs few"
    assert real_made <= 3 * NEW_JOBS
