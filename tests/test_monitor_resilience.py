"""The monitor never drops a job: any error in a refresh (store or backend, expected or not) is
logged with the job's id and the job is looked at again, with backoff, until it ends (issue 17)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from jupyter_compute.models import JobState, RemoteStatus
from jupyter_compute.server.store import JobStore
from tests.test_monitor import ListingBackend, ScriptedBackend, monitored

JOBS = 4


class FlakyBackend(ScriptedBackend):
    """Runs a few rounds, then succeeds; its status call raises an unexpected error now and then."""

    def __init__(self, failures: int) -> None:
        super().__init__([RemoteStatus(JobState.RUNNING, "RUNNING")])
        self.failures = failures
        self.rounds: dict[str, int] = {}

    async def status(self, remote_id: str) -> RemoteStatus:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("backend bug")
        self.rounds[remote_id] = self.rounds.get(remote_id, 0) + 1
        state = JobState.RUNNING if self.rounds[remote_id] <= 2 else JobState.SUCCEEDED
        return RemoteStatus(state, state.value)


class FlakyListingBackend(ListingBackend):
    def __init__(self, failures: int) -> None:
        super().__init__(rounds_running=2)
        self.failures = failures

    async def status_many(self, remote_ids):
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("backend bug")
        return await super().status_many(remote_ids)


def inject_store_faults(store: JobStore, method: str, count: int) -> None:
    """The store's ``method`` raises sqlite3.OperationalError on its first ``count`` calls from the monitor."""
    real = getattr(store, method)
    left = {"n": count}

    async def flaky(*args, **kwargs):
        if left["n"] > 0 and _from_monitor():
            left["n"] -= 1
            raise sqlite3.OperationalError("database is locked")
        return await real(*args, **kwargs)

    setattr(store, method, flaky)


def _from_monitor() -> bool:
    import inspect
    return any(frame.filename.endswith("monitor.py") for frame in inspect.stack()[2:6])


def run(tmp_path: Path, backend, faults: dict[str, int], caplog) -> tuple[list, list[str]]:
    unretrieved: list[str] = []

    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: unretrieved.append(ctx.get("message", "")))
        async with monitored(tmp_path, backend) as (store, service, _monitor):
            ids = [(await service.submit({"backend": "scripted", "algorithm": "a"}))[0].id for _ in range(JOBS)]
            for method, count in faults.items():
                inject_store_faults(store, method, count)
            for _ in range(1000):  # generous: up to ~20 s (polls are every 0.01-0.08 s)
                jobs = [await JobStore.get(store, job_id) for job_id in ids]
                if all(job.is_terminal for job in jobs):
                    break
                await asyncio.sleep(0.02)
            return jobs

    import gc
    with caplog.at_level(logging.INFO, logger="jupyter_compute.monitor"):
        jobs = asyncio.run(scenario())
        gc.collect()
    return jobs, unretrieved


@pytest.mark.parametrize("faults", [{"get": 2 * JOBS}, {"update": 2 * JOBS}, {"get": JOBS, "update": JOBS}])
def test_store_errors_in_single_refresh_do_not_drop_jobs(tmp_path: Path, faults, caplog) -> None:
    jobs, unretrieved = run(tmp_path, FlakyBackend(failures=0), faults, caplog)
    assert [job.state for job in jobs] == [JobState.SUCCEEDED] * JOBS
    assert not unretrieved
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "OperationalError" in logged
    assert "database is locked" not in logged  # the error's type, not its text


def test_unexpected_backend_errors_in_single_refresh_do_not_drop_jobs(tmp_path: Path, caplog) -> None:
    jobs, unretrieved = run(tmp_path, FlakyBackend(failures=2 * JOBS), {"get": JOBS}, caplog)
    assert [job.state for job in jobs] == [JobState.SUCCEEDED] * JOBS
    assert not unretrieved
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and "backend bug" not in logged
    for job in jobs:
        assert job.id in logged


@pytest.mark.parametrize("faults", [{"get": 2 * JOBS}, {"update": 2 * JOBS}])
def test_errors_in_batched_refresh_do_not_drop_jobs(tmp_path: Path, faults, caplog) -> None:
    jobs, unretrieved = run(tmp_path, FlakyListingBackend(failures=2), faults, caplog)
    assert [job.state for job in jobs] == [JobState.SUCCEEDED] * JOBS
    assert not unretrieved
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "OperationalError" in logged and "RuntimeError" in logged
    for job in jobs:
        assert job.id in logged
