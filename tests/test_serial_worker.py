"""The store's worker thread: calls made together go over in one hop, grouped writes share one transaction
with a savepoint each, and a failure reaches only its own caller."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jupyter_compute.errors import ComputeError, NotFound
from jupyter_compute.models import Job, JobSpec, JobState
from jupyter_compute.server.serial_worker import SerialWorker
from jupyter_compute.server.store import JobStore

def new_job(name: str, key: str | None = None, job_id: str | None = None) -> Job:
    return Job(id=job_id or uuid.uuid4().hex, backend="local", spec=JobSpec(backend="local", command="true"),
               name=name, state=JobState.QUEUED, idempotency_key=key)


def test_calls_made_together_run_in_order_on_one_thread_in_one_hop() -> None:
    async def main() -> None:
        groups: list[int] = []
        seen: list[tuple[int, str]] = []

        @contextmanager
        def group() -> Iterator[None]:
            groups.append(len(seen))
            yield

        worker = SerialWorker("test-worker", group=group)
        try:
            def record(i: int) -> int:
                seen.append((i, threading.current_thread().name))
                return i * i

            results = await asyncio.gather(*(worker.run(record, i, grouped=True) for i in range(20)))
            assert results == [i * i for i in range(20)]
            assert [i for i, _ in seen] == list(range(20))
            assert {name for _, name in seen} != {threading.current_thread().name}
            assert len({name for _, name in seen}) == 1
            assert len(groups) < 20, "calls made together should share a group"
        finally:
            worker.shutdown()

    asyncio.run(main())

def test_an_error_reaches_only_its_caller_and_a_cancelled_call_does_not_run() -> None:
    async def main() -> None:
        worker = SerialWorker("test-worker")
        ran: list[str] = []
        gate = threading.Event()
        try:
            def step(name: str) -> str:
                if name == "first":
                    gate.wait(30)
                if name == "bad":
                    raise ValueError("bad input")
                ran.append(name)
                return name

            first = asyncio.ensure_future(worker.run(step, "first"))
            await asyncio.sleep(0.05)  # the first call holds the thread; the next ones wait together
            bad = asyncio.ensure_future(worker.run(step, "bad"))
            dropped = asyncio.ensure_future(worker.run(step, "dropped"))
            good = asyncio.ensure_future(worker.run(step, "good"))
            await asyncio.sleep(0)
            dropped.cancel()
            gate.set()
            assert await first == "first"
            with pytest.raises(ValueError, match="bad input"):
                await bad
            assert await good == "good"
            assert ran == ["first", "good"]
        finally:
            gate.set()
            worker.shutdown()

    asyncio.run(main())

def test_a_group_that_cannot_close_fails_every_call_in_it() -> None:
    async def main() -> None:
        @contextmanager
        def failing_group() -> Iterator[None]:
            yield
            raise sqlite3.OperationalError("disk I/O error")

        worker = SerialWorker("test-worker", group=failing_group)
        try:
            gate = threading.Event()
            first = asyncio.ensure_future(worker.run(gate.wait, 30))
            await asyncio.sleep(0.05)
            calls = [asyncio.ensure_future(worker.run(lambda i=i: i, grouped=True)) for i in range(3)]
            gate.set()
            await first
            for call in calls:
                with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
                    await call
        finally:
            worker.shutdown()

    asyncio.run(main())

def test_concurrent_writes_share_a_commit_but_a_refused_one_undoes_only_itself(tmp_path: Path) -> None:
    async def main() -> None:
        async with JobStore(tmp_path / "jobs.sqlite") as store:
            taken = new_job("taken")
            await store.create(taken)
            jobs = [new_job(f"job-{i}") for i in range(10)]
            outcomes = await asyncio.gather(
                *(store.create(job) for job in jobs[:5]),
                store.create(new_job("same id", job_id=taken.id)),  # refused: the id is taken
                store.update("no-such-job", state=JobState.RUNNING),  # refused: no such job
                *(store.create(job) for job in jobs[5:]),
                store.update(taken.id, state=JobState.RUNNING, native_status="running"),
                return_exceptions=True,
            )
            assert [outcome[1] for outcome in outcomes[:5] + outcomes[7:12]] == [True] * 10
            assert isinstance(outcomes[5], ComputeError) and "already exists" in str(outcomes[5])
            assert isinstance(outcomes[6], NotFound)
            assert outcomes[12].state is JobState.RUNNING
            assert {job.id for job in (await store.list(limit=100))[0]} == {taken.id, *(job.id for job in jobs)}
            assert (await store.get(taken.id)).name == "taken"
        async with JobStore(tmp_path / "jobs.sqlite") as reopened:  # all of it was committed
            assert (await reopened.list(limit=100))[1] == 11
            assert (await reopened.get(taken.id)).state is JobState.RUNNING

    asyncio.run(main())


def test_a_write_that_fails_in_a_group_leaves_nothing_of_itself(tmp_path: Path) -> None:
    """A one-statement write fails whole (SQLite undoes the statement); a write of several statements that fails
    after its first one is undone by its savepoint. The other writes of the group are kept."""
    async def main() -> None:
        async with JobStore(tmp_path / "jobs.sqlite") as store:
            first, last = new_job("first"), new_job("last")
            nameless = new_job("nameless")
            nameless.name = None  # type: ignore[assignment]  # refused by the table: NOT NULL
            bad_tag = new_job("bad tag")
            bad_tag.tags = ["fine", None]  # type: ignore[list-item]  # the job's row is written, then its tags fail
            outcomes = await asyncio.gather(store.create(first), store.create(nameless), store.create(bad_tag),
                                            store.create(last), return_exceptions=True)
            assert [type(outcome) for outcome in outcomes] == [tuple, sqlite3.IntegrityError,
                                                               sqlite3.IntegrityError, tuple]
            assert {job.name for job in (await store.list(limit=100))[0]} == {"first", "last"}
            for refused in (nameless, bad_tag):
                with pytest.raises(NotFound):
                    await store.get(refused.id)
            assert (await store.list(tag="fine"))[1] == 0

    asyncio.run(main())


def test_calls_from_two_loops_and_after_the_stop() -> None:
    """Each caller's loop gets its own outcome (a store opened in one ``asyncio.run`` and used in another); the
    calls made before ``shutdown`` still run, and a call after it fails at once instead of waiting for ever."""
    worker = SerialWorker("test-worker")
    ran: list[int] = []
    assert asyncio.run(worker.run(lambda: ran.append(1) or "first loop")) == "first loop"

    async def second_loop() -> None:
        before = asyncio.ensure_future(worker.run(lambda: ran.append(2) or "before the stop"))
        await asyncio.sleep(0)  # sent to the worker
        worker.shutdown()
        assert await before == "before the stop"
        with pytest.raises(RuntimeError, match="stopped"):
            await worker.run(lambda: ran.append(3))

    asyncio.run(second_loop())
    assert ran == [1, 2]
