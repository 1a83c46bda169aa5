"""The monitor polls unfinished jobs with backoff, survives platform errors, and publishes changes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, UTC
from pathlib import Path
from typing import Any

from jupyter_compute.backends.base import Backend, Capabilities, Submission
from jupyter_compute.errors import BackendError, InvalidSpec, NotFound
from jupyter_compute.models import Job, JobSpec, JobState, RemoteStatus, ResultFile
from jupyter_compute.server.events import EventHub
from jupyter_compute.server.monitor import Monitor
from jupyter_compute.server.service import JobService
from jupyter_compute.server.store import JobStore



async def poll(probe: Callable[[], Any], *, tries: int = 1000, every: float = 0.01) -> None:
    """Call ``probe`` (awaiting what it gives, if that is awaitable) until it gives something true, at most ``tries``
    times ``every`` seconds apart; the assertions after it say what went wrong."""
    for _ in range(tries):
        found = probe()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return
        await asyncio.sleep(every)


async def ended(store: JobStore, job_id: str) -> bool:
    return (await store.get(job_id)).is_terminal

class ScriptedBackend(Backend):
    """A platform whose answers follow a script: each status call takes the next entry."""

    kind = "scripted"
    capabilities = Capabilities(has_results=True, can_cancel=True)
    poll_interval = 0.01
    poll_max_interval = 0.08

    def __init__(self, script: list[RemoteStatus | Exception], submit_delay: float = 0.0) -> None:
        super().__init__("scripted")
        self.script = script
        self.calls = 0
        self.submit_delay = submit_delay
        self.cancelled: list[str] = []
        self.hold: asyncio.Event | None = None  # when set by a test, each status call waits for it

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        await asyncio.sleep(self.submit_delay)
        return Submission(remote_id=f"remote-{job_id}", status=RemoteStatus(JobState.QUEUED, "PENDING"))

    async def cancel(self, remote_id: str) -> None:
        self.cancelled.append(remote_id)

    async def status(self, remote_id: str) -> RemoteStatus:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if self.hold is not None:
            await self.hold.wait()
        if isinstance(step, Exception):
            raise step
        return step

    async def results(self, remote_id: str) -> list[ResultFile]:
        return [ResultFile("out.csv", 10)]


async def run_until_terminal(tmp_path: Path, backend: ScriptedBackend):
    store = JobStore(tmp_path / "jobs.sqlite")
    await store.open()
    hub = EventHub()
    events = hub.subscribe()
    service = JobService(store, {"scripted": backend}, hub)
    monitor = Monitor(service)
    intervals: list[float] = []
    await monitor.start()
    try:
        job, _ = await service.submit({"backend": "scripted", "algorithm": "a"})
        for _ in range(2000):
            watch = monitor._watches.get(job.id)
            if watch is None:
                break
            if not intervals or intervals[-1] != watch.interval:
                intervals.append(watch.interval)
            await asyncio.sleep(0.005)
        final = await store.get(job.id)
        seen = []
        while (event := await events.next(timeout=0.01)) is not None:
            seen.append(event["data"]["state"])
        return final, intervals, seen, monitor
    finally:
        await monitor.stop()
        await store.close()


def test_backoff_until_terminal_then_results(tmp_path: Path) -> None:
    running = RemoteStatus(JobState.RUNNING, "RUNNING", "step 1")
    done = RemoteStatus(JobState.SUCCEEDED, "SUCCESS", "all steps done")
    backend = ScriptedBackend([running] * 8 + [done])
    final, intervals, seen, monitor = asyncio.run(run_until_terminal(tmp_path, backend))

    assert final.state is JobState.SUCCEEDED and final.native_status == "SUCCESS"
    assert final.results == [ResultFile("out.csv", 10)] and final.finished is not None
    assert intervals == sorted(intervals), "an unchanged status is polled less and less often"
    assert intervals[-1] == backend.poll_max_interval
    assert backend.calls == 9, "no poll after the job ended"
    assert monitor.watched == set()
    assert seen[0] == "QUEUED" and "RUNNING" in seen and seen[-1] == "SUCCEEDED"


def test_platform_errors_do_not_stop_the_watch(tmp_path: Path) -> None:
    flaky = BackendError("503 from the platform")
    backend = ScriptedBackend([flaky, RuntimeError("bug"), flaky, RemoteStatus(JobState.FAILED, "ERROR", "boom")])
    final, _, _, _ = asyncio.run(run_until_terminal(tmp_path, backend))
    assert final.state is JobState.FAILED and final.message == "boom"
    assert backend.calls == 4


def test_a_job_the_platform_forgot_ends_failed(tmp_path: Path) -> None:
    backend = ScriptedBackend([RemoteStatus(JobState.RUNNING, "RUNNING"), NotFound("no such job entry")])
    final, _, seen, monitor = asyncio.run(run_until_terminal(tmp_path, backend))
    assert final.state is JobState.FAILED and "no longer knows" in final.message
    assert seen[-1] == "FAILED" and monitor.watched == set()


def test_restart_reattaches_and_one_bad_job_does_not_block_the_rest(tmp_path: Path) -> None:
    class Recovering(ScriptedBackend):
        confirm_window_s = 0.5

        async def recover(self, job_id: str) -> str | None:
            if job_id == "broken":
                raise RuntimeError("platform exploded")
            return f"remote-{job_id}" if job_id == "found" else None

    async def scenario():
        store = JobStore(tmp_path / "jobs.sqlite")
        await store.open()
        old = datetime.now(UTC) - timedelta(minutes=5)
        spec = JobSpec(backend="scripted", algorithm="a")
        for job_id, remote_id in [("running", "remote-running"), ("broken", None), ("found", None), ("lost", None)]:
            await store.create(Job(id=job_id, backend="scripted", spec=spec, remote_id=remote_id,
                                   state=JobState.RUNNING, created=old))
        backend = Recovering([RemoteStatus(JobState.SUCCEEDED, "SUCCESS")])
        monitor = Monitor(JobService(store, {"scripted": backend}, EventHub()))
        await monitor.start()
        try:
            states: dict[str, JobState] = {}

            async def settled() -> bool:
                states.update({j: (await store.get(j)).state for j in ("running", "found", "lost")})
                return states["running"].is_terminal and states["found"].is_terminal and states["lost"] is JobState.UNKNOWN

            await poll(settled)
            return states, await store.get("broken"), await store.get("lost")
        finally:
            await monitor.stop()
            await store.close()

    states, broken, lost = asyncio.run(scenario())
    assert states["running"] is JobState.SUCCEEDED and states["found"] is JobState.SUCCEEDED
    # Not found, and the platform cannot say for sure it has no such job: UNKNOWN with words, never FAILED.
    assert lost.state is JobState.UNKNOWN and "server stopped during it" in lost.message, lost
    assert broken.state is JobState.RUNNING, "left for the next sweep, not lost"


def test_a_job_its_platform_certainly_lacks_after_a_restart_is_sent_again(tmp_path: Path) -> None:
    class Certain(ScriptedBackend):
        recover_is_certain = True  # e.g. the local backend: a job is its folder, there or not

        async def recover(self, job_id: str) -> str | None:
            return None

    async def scenario():
        store = JobStore(tmp_path / "jobs.sqlite")
        await store.open()
        old = datetime.now(UTC) - timedelta(minutes=5)
        await store.create(Job(id="cut", backend="scripted", spec=JobSpec(backend="scripted", algorithm="a"),
                               state=JobState.QUEUED, native_status="submitting", created=old))
        backend = Certain([RemoteStatus(JobState.SUCCEEDED, "SUCCESS")])
        monitor = Monitor(JobService(store, {"scripted": backend}, EventHub()))
        await monitor.start()
        try:
            await poll(lambda: ended(store, "cut"))
            return await store.get("cut")
        finally:
            await monitor.stop()
            await store.close()

    job = asyncio.run(scenario())
    assert job.state is JobState.SUCCEEDED and job.remote_id == "remote-cut", job


class RestartingPlatform(ScriptedBackend):
    """A platform that knows our ids for certain and refuses its first ``refusals`` submissions with a 5xx (it may
    have taken them, as Ray answers while its head restarts), finding no such job when asked."""

    recover_is_certain = True

    def __init__(self, refusals: int) -> None:
        super().__init__([RemoteStatus(JobState.SUCCEEDED, "SUCCESS")])
        self.refusals = refusals
        self.sent = 0

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        self.sent += 1
        if self.sent <= self.refusals:
            raise BackendError("No available agent to submit job, please try again later.", status=500,
                               uncertain=True)
        return await super().submit(spec, job_id)

    async def recover(self, job_id: str) -> str | None:
        return None


def test_a_resent_job_whose_answer_is_lost_again_is_looked_up_again(tmp_path: Path, monkeypatch) -> None:
    """The job is sent again, and again while each answer is lost, not left waiting for the next sweep."""
    from jupyter_compute.server import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "CONFIRM_DELAYS_S", (0.01,) * 5)
    backend = RestartingPlatform(refusals=3)

    async def scenario():
        async with monitored(tmp_path, backend) as (store, service, _):
            job, _ = await service.submit({"backend": "scripted", "algorithm": "a"})
            assert job.native_status == "confirming submission", job
            await poll(lambda: ended(store, job.id))
            return await store.get(job.id)

    job = asyncio.run(scenario())
    assert backend.sent == 4
    assert job.state is JobState.SUCCEEDED and job.remote_id == f"remote-{job.id}", job


def test_a_confirming_job_cancelled_meanwhile_is_not_sent_again(tmp_path: Path, monkeypatch) -> None:
    from jupyter_compute.server import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "CONFIRM_DELAYS_S", (0.05,) * 5)
    backend = RestartingPlatform(refusals=1_000_000)

    async def scenario():
        async with monitored(tmp_path, backend) as (_, service, monitor):
            job, _ = await service.submit({"backend": "scripted", "algorithm": "a"})
            await poll(lambda: backend.sent >= 3)
            cancelled = await service.cancel(job.id)
            await poll(lambda: job.id not in monitor._confirming)
            return cancelled, job.id in monitor._confirming

    cancelled, still_confirming = asyncio.run(scenario())
    assert cancelled.state is JobState.CANCELLED
    assert not still_confirming, f"the cancelled job is still being sent again ({backend.sent} sends)"


class CertainBackend(ScriptedBackend):
    """A platform that knows our job ids for certain (like the local backend and Ray)."""

    recover_is_certain = True


def test_a_certain_backends_answer_comes_before_its_record_and_reads_after_it_see_it(tmp_path: Path) -> None:
    """Its submission is answered as the platform answered, the record follows without holding the answer up:
    a read made after the answer sees it (a cancel made at once finds the platform's job to stop), and the
    event of the recorded job follows."""
    async def scenario():
        store = JobStore(tmp_path / "jobs.sqlite")
        await store.open()
        hub = EventHub()
        events = hub.subscribe()
        backend = CertainBackend([RemoteStatus(JobState.RUNNING, "RUNNING")])
        service = JobService(store, {"scripted": backend}, hub)
        try:
            job, created = await service.submit({"backend": "scripted", "algorithm": "a"})
            recorded = await store.get(job.id)
            published = [await events.next(timeout=10) for _ in range(2)]
            cancelled, _ = await service.submit({"backend": "scripted", "algorithm": "b"})
            await service.cancel(cancelled.id)  # made in the answer's turn: it finds the job recorded
            await poll(lambda: backend.cancelled)
            return job, created, recorded, published, backend.cancelled, await store.get(cancelled.id)
        finally:
            await store.close()

    job, created, recorded, published, stopped, cancelled = asyncio.run(scenario())
    assert cancelled.remote_id is not None
    assert created and (job.remote_id, job.state, job.native_status) == (f"remote-{job.id}", JobState.QUEUED, "PENDING")
    assert (recorded.remote_id, recorded.state, recorded.native_status) == (job.remote_id, JobState.QUEUED, "PENDING")
    assert [(e["data"]["native_status"], e["data"].get("remote_id")) for e in published] == [
        ("submitting", None), ("PENDING", job.remote_id)]
    assert stopped == [cancelled.remote_id]


def test_cancel_during_submission_stops_the_platform_job(tmp_path: Path) -> None:
    async def scenario():
        store = JobStore(tmp_path / "jobs.sqlite")
        await store.open()
        backend = ScriptedBackend([RemoteStatus(JobState.RUNNING, "RUNNING")], submit_delay=0.3)
        service = JobService(store, {"scripted": backend}, EventHub())
        submitting = asyncio.create_task(service.submit({"backend": "scripted", "algorithm": "a"}))
        await asyncio.sleep(0.1)
        (job,), _ = await store.list()
        await service.cancel(job.id)
        final, _ = await submitting
        await store.close()
        return final, backend

    final, backend = asyncio.run(scenario())
    assert final.state is JobState.CANCELLED and final.remote_id == backend.cancelled[0]


class ListingBackend(ScriptedBackend):
    """A platform whose status call lists every job at once (like Ocean's status endpoint)."""

    batch_status = True

    def __init__(self, rounds_running: int) -> None:
        super().__init__([NotFound("no such job")])
        self.rounds_running = rounds_running
        self.forget: set[str] = set()
        self.listings: list[list[str]] = []

    async def status_many(self, remote_ids):
        self.listings.append(sorted(remote_ids))
        state = JobState.RUNNING if len(self.listings) <= self.rounds_running else JobState.SUCCEEDED
        return {rid: RemoteStatus(state, state.value) for rid in remote_ids if rid not in self.forget}


@contextlib.asynccontextmanager
async def monitored(tmp_path: Path, backend: Backend) -> AsyncIterator[tuple[JobStore, JobService, Monitor]]:
    """A store, a service with ``backend`` as "scripted", and a started monitor; stopped and closed after."""
    store = JobStore(tmp_path / "jobs.sqlite")
    await store.open()
    service = JobService(store, {"scripted": backend}, EventHub())
    monitor = Monitor(service)
    await monitor.start()
    try:
        yield store, service, monitor
    finally:
        await monitor.stop()
        await store.close()


def run_jobs(tmp_path: Path, backend: ListingBackend, count: int) -> list[Job]:
    async def scenario():
        async with monitored(tmp_path, backend) as (store, service, monitor):
            ids = [(await service.submit({"backend": "scripted", "algorithm": "a"}))[0].id for _ in range(count)]
            for _ in range(2000):
                if not monitor.watched:
                    break
                await asyncio.sleep(0.005)
            return [await store.get(job_id) for job_id in ids]

    return asyncio.run(scenario())


def test_a_listing_backend_is_asked_once_per_cycle_for_all_its_jobs(tmp_path: Path) -> None:
    backend = ListingBackend(rounds_running=3)
    jobs = run_jobs(tmp_path, backend, count=6)
    assert all(job.state is JobState.SUCCEEDED for job in jobs)
    remote_ids = sorted(job.remote_id for job in jobs)
    assert backend.calls == 0, "no per-job status call"
    assert backend.listings[-1] == remote_ids, "the last cycle asked about all six jobs in one call"
    assert len(backend.listings) <= 3 + 6, "about one call per cycle, not one per job per cycle"
    assert sum(len(ids) for ids in backend.listings) >= 4 * 6 - 5


def test_a_job_missing_from_the_listing_is_asked_alone_then_ends_failed(tmp_path: Path) -> None:
    class Forgetful(ListingBackend):
        async def submit(self, spec, job_id):
            submission = await super().submit(spec, job_id)
            if not self.forget:
                self.forget = {submission.remote_id}
            return submission

    backend = Forgetful(rounds_running=2)
    lost, kept = run_jobs(tmp_path, backend, count=2)
    assert lost.state is JobState.FAILED and "no longer knows" in lost.message
    assert backend.calls >= 1, "the missing job was asked about alone before being given up"
    assert kept.state is JobState.SUCCEEDED


def test_a_poke_refreshes_now_and_restarts_the_backoff(tmp_path: Path) -> None:
    async def scenario():
        store = JobStore(tmp_path / "jobs.sqlite")
        await store.open()
        backend = ScriptedBackend([RemoteStatus(JobState.RUNNING, "RUNNING")])
        backend.poll_max_interval = 3600.0
        service = JobService(store, {"scripted": backend}, EventHub())
        monitor = Monitor(service)
        await monitor.start()
        try:
            job, _ = await service.submit({"backend": "scripted", "algorithm": "a"})
            def watch():  # looked up each time: the start-up sweep may have begun watching the job anew
                return monitor._watches[job.id]

            while watch().interval < 1.0:  # unchanged answers: polled less and less often
                await asyncio.sleep(0.01)
            calls = backend.calls
            backend.hold = asyncio.Event()  # the poked refresh waits, so no later poll changes the interval
            monitor.poke(job.id)
            while backend.calls == calls:
                await asyncio.sleep(0.01)
            interval = watch().interval
            backend.hold.set()
            return interval, backend.poll_interval
        finally:
            await monitor.stop()
            await store.close()

    interval, first = asyncio.run(scenario())
    # the first interval again (one step more if a poll was in flight when the poke came)
    assert interval <= first * 1.6, "back to frequent polls after the poke"


def test_a_job_deleted_while_its_platform_is_asked_is_let_go(tmp_path: Path) -> None:
    """The platform forgets a job because it is being deleted: nothing is left to record, and no error."""

    class Deleting(ScriptedBackend):
        async def status(self, remote_id: str) -> RemoteStatus:
            await store.delete(remote_id.removeprefix("remote-"))
            raise NotFound("no such job entry")

    async def scenario():
        await store.open()
        service = JobService(store, {"scripted": Deleting([])}, EventHub())
        monitor = Monitor(service)
        try:
            job, _ = await service.submit({"backend": "scripted", "algorithm": "a"})
            await monitor._refresh(job.id)
            return monitor.watched
        finally:
            await store.close()

    store = JobStore(tmp_path / "jobs.sqlite")
    assert asyncio.run(scenario()) == set()


def test_cancel_of_a_job_that_just_ended_answers_the_job(tmp_path: Path) -> None:
    """The platform refuses to cancel a job it has finished since the last look: the answer is that job."""

    class Finished(ScriptedBackend):
        async def cancel(self, remote_id: str) -> None:
            raise InvalidSpec("cannot cancel: the job has already failed")

    async def scenario():
        store = JobStore(tmp_path / "jobs.sqlite")
        await store.open()
        service = JobService(store, {"scripted": Finished([RemoteStatus(JobState.FAILED, "failed", "boom")])},
                             EventHub())
        try:
            job, _ = await service.submit({"backend": "scripted", "algorithm": "a"})
            return await service.cancel(job.id)
        finally:
            await store.close()

    job = asyncio.run(scenario())
    assert job.state is JobState.FAILED and job.message == "boom"


def test_a_deleted_job_leaves_its_backends_listing(tmp_path: Path) -> None:
    """A job deleted on a platform that can neither cancel nor delete is no longer asked about."""

    class Keeping(ListingBackend):
        capabilities = Capabilities(has_results=True)  # no cancel, no delete: the platform keeps the job

    async def scenario():
        backend = Keeping(rounds_running=10**9)
        async with monitored(tmp_path, backend) as (_, service, monitor):
            kept, _ = await service.submit({"backend": "scripted", "algorithm": "a"})
            gone, _ = await service.submit({"backend": "scripted", "algorithm": "a"})
            while not any(gone.remote_id in listing for listing in backend.listings):
                await asyncio.sleep(0.01)
            await service.delete(gone.id)
            asked = len(backend.listings)
            while len(backend.listings) < asked + 2:  # a cycle begun before the delete, then one after it
                await asyncio.sleep(0.01)
            return backend.listings[-1], monitor.watched, kept

    last, watched, kept = asyncio.run(scenario())
    assert last == [kept.remote_id], "the deleted job is not in the listing asked for"
    assert watched == {kept.id}


def test_a_job_found_unwatched_is_polled_at_once(tmp_path: Path) -> None:
    """After a restart the sweep polls each unfinished job at once, not after the backend's (long) interval."""

    async def scenario():
        store = JobStore(tmp_path / "jobs.sqlite")
        await store.open()
        spec = JobSpec(backend="scripted", algorithm="a")
        await store.create(Job(id="j", backend="scripted", spec=spec, remote_id="remote-j", state=JobState.RUNNING))
        backend = ScriptedBackend([RemoteStatus(JobState.SUCCEEDED, "SUCCESS")])
        backend.poll_interval = backend.poll_max_interval = 3600.0
        monitor = Monitor(JobService(store, {"scripted": backend}, EventHub()))
        await monitor.start()
        try:
            while not (await store.get("j")).is_terminal:
                await asyncio.sleep(0.01)
            return await store.get("j")
        finally:
            await monitor.stop()
            await store.close()

    assert asyncio.run(asyncio.wait_for(scenario(), 120)).state is JobState.SUCCEEDED
