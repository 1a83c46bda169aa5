"""Background refresh of every job that is not finished yet, with per-job backoff.

One asyncio task owns a schedule of due times. A job whose status did not change is
polled less and less often (up to its backend's ceiling); a change resets its interval.
Platform calls run concurrently under a bound, each with the backend's own timeouts,
so a slow platform never delays another one or the server's event loop. A periodic
sweep of the store re-watches any unfinished job that is not watched, so no job can be
left stuck by a failure between recording and watching it. A backend that ``discovers_jobs``
is asked every ``discover_interval_s`` (its config) for the jobs its platform started on its
own; each one is recorded once and then watched like the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..backends.base import Backend, config_positive
from ..errors import ComputeError, InvalidSpec, NotFound, public_reason
from ..models import Job, JobState, RemoteStatus, utcnow
from .service import CONFIRMING, JobService

BACKOFF_FACTOR = 1.6
ERROR_RETRY_CEILING_S = 60.0
SWEEP_INTERVAL_S = 30.0
#: Waits between the look-ups of a job whose submission got no answer (then every 30 s).
CONFIRM_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0)
#: native_status of a job not found on its platform after its lost submission answer.
ANSWER_LOST = "submission answer lost"
#: How often a backend that ``discovers_jobs`` is asked for the jobs its platform started, unless its
#: config says otherwise (``discover_interval_s``).
DISCOVER_INTERVAL_S = 60.0
#: Seconds ``stop`` waits for its cancelled tasks.
STOP_WAIT_S = 10.0


@dataclass
class _Watch:
    backend: str
    due: float
    interval: float
    poked: bool = False  # a callback arrived while a refresh was in flight: refresh again at once


class Monitor:
    """Keeps the store's view of running jobs current and pushes each change as an event."""

    def __init__(self, service: JobService, *, max_concurrency: int = 8, log: logging.Logger | None = None):
        self.service = service
        self.log = log or logging.getLogger("jupyter_compute.monitor")
        self._watches: dict[str, _Watch] = {}
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(max_concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._confirming: dict[str, asyncio.Task[None]] = {}
        service.on_submitted.append(self.watch)
        service.on_uncertain.append(self.confirm)
        service.on_acted.append(self.follow)

    async def start(self) -> None:
        """Start polling, then re-attach to the jobs recorded as unfinished (after a restart), and look for
        the jobs the platforms start on their own."""
        self._tasks = [
            asyncio.create_task(self._run(), name="jupyter-compute-monitor"),
            asyncio.create_task(self._sweep_forever(), name="jupyter-compute-sweep"),
            *(asyncio.create_task(self._discover_forever(name), name=f"jupyter-compute-discover-{name}")
              for name, backend in self.service.backends.items() if backend.capabilities.discovers_jobs),
        ]

    async def stop(self) -> None:
        """Stop polling at once; calls in flight are cancelled (the jobs are not). A task that has not ended
        ``STOP_WAIT_S`` after its cancel is left behind, said in the log: the server's shutdown goes on."""
        self._stopped = True
        tasks = [*self._tasks, *self._inflight, *self._confirming.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
            for task in pending:
                self.log.warning("jupyter-compute: %s did not stop within %g s of its cancel", task.get_name(),
                                 STOP_WAIT_S)
        self._tasks = []

    def watch(self, job: Job) -> None:
        """Poll this job until it ends; the first poll comes after the backend's first interval."""
        if job.is_terminal or job.backend not in self.service.backends:
            return
        interval = self.service.backend(job.backend).poll_interval
        self._watches[job.id] = _Watch(job.backend, due=time.monotonic() + interval, interval=interval)
        self._wake.set()

    def follow(self, job: Job) -> None:
        """Refresh a job soon that something changed (an action): watch it if it is not watched (a finished
        job running again), else poke it."""
        if job.id in self._watches:
            self.poke(job.id)
        else:
            self.watch(job)

    def poke(self, job_id: str) -> None:
        """Refresh a watched job now, and often again (a callback or a stop request: it is changing)."""
        watch = self._watches.get(job_id)
        if watch is None:
            return
        backend = self.service.backends.get(watch.backend)
        if backend is not None:
            watch.interval = backend.poll_interval
        if watch.due < 0:  # in flight: what it read may be older than the callback
            watch.poked = True
            return
        watch.due = time.monotonic()
        self._wake.set()

    @property
    def watched(self) -> set[str]:
        return set(self._watches)

    async def sweep(self) -> None:
        """Watch every unfinished job of the store that is not watched yet."""
        for job in await self.service.store.active():
            if job.id in self._watches:
                continue
            try:
                await self._recover(job)
            except Exception as exc:  # noqa: BLE001 — one job must not stop the others being recovered
                self._log_failure(exc, f"job {job.id}", doing="re-attaching to")

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # noqa: BLE001 — e.g. the store briefly busy; try again next round
                self._log_failure(exc, "unfinished jobs", doing="sweeping")
            await asyncio.sleep(SWEEP_INTERVAL_S)

    def discover_interval(self, backend: Backend) -> float:
        """Seconds between two discoveries of ``backend``: its config's ``discover_interval_s``, or the default
        (said in the log when that setting is not a positive number)."""
        try:
            interval = config_positive(backend.config, "discover_interval_s", DISCOVER_INTERVAL_S,
                                       kind=backend.kind or "backend")
        except InvalidSpec as exc:
            self.log.warning("backend '%s': %s; it is asked for new jobs every %g s", backend.name, exc.message,
                             DISCOVER_INTERVAL_S)
            return DISCOVER_INTERVAL_S
        return float(interval)

    async def discover(self, name: str) -> list[Job]:
        """One discovery of backend ``name``: the jobs its platform started on its own that no record has yet,
        recorded, published and watched; the new records. Cycles may overlap: the store keeps one record
        of each remote id (see :meth:`JobService.record_discovered`)."""
        backend = self.service.backends.get(name)
        if backend is None or not backend.capabilities.discovers_jobs:
            return []
        known = await self.service.remote_ids(name)
        recorded: list[Job] = []
        for found in await backend.discover(frozenset(known)):
            if found.remote_id in known:
                continue
            job = await self.service.record_discovered(backend, found)
            known.add(found.remote_id)
            if job is not None:
                self.log.info("job %s found on %s as %s (started there): recorded", job.id, name, found.remote_id)
                self.watch(job)
                recorded.append(job)
        return recorded

    async def _discover_forever(self, name: str) -> None:
        backend = self.service.backends.get(name)
        if backend is None:
            return
        interval = self.discover_interval(backend)
        while not self._stopped:
            try:
                await self.discover(name)
            except Exception as exc:  # noqa: BLE001 — an outage or a backend bug: try again next interval
                self._log_failure(exc, f"jobs of backend '{name}'", doing="discovering")
            await asyncio.sleep(interval)

    def confirm(self, job: Job) -> None:
        """Look up, on its platform, a job whose submission got no answer: adopt it when it shows,
        else record it UNKNOWN after the backend's ``confirm_window_s`` (never FAILED: it may run)."""
        if job.id in self._confirming or job.backend not in self.service.backends:
            return
        task = asyncio.create_task(self._confirm_guarded(job), name=f"jupyter-compute-confirm-{job.id}")
        self._confirming[job.id] = task
        task.add_done_callback(lambda _: self._confirming.pop(job.id, None))

    async def _confirm_guarded(self, job: Job) -> None:
        try:
            await self._confirm(job)
        except Exception as exc:  # noqa: BLE001 — the job stays CONFIRMING: the next sweep looks for it again
            self._log_failure(exc, f"job {job.id}", doing="looking up")

    async def _confirm(self, job: Job) -> None:
        backend = self.service.backend(job.backend)
        deadline = time.monotonic() + backend.confirm_window_s
        for delay in itertools.chain(CONFIRM_DELAYS_S, itertools.repeat(SWEEP_INTERVAL_S)):
            await asyncio.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            try:
                remote_id = await backend.recover(job.id)
            except ComputeError as exc:  # an outage: look again at the next step (anything else: the next sweep)
                self._log_failure(exc, f"job {job.id} on {job.backend}", doing="looking up")
                remote_id = None
            if remote_id:
                await self._adopt(job, remote_id)
                return
            if backend.recover_is_certain:  # the platform certainly has no such job: send it again
                await self.service.resend(job)
                return
            if time.monotonic() >= deadline:
                break
        try:
            lost = await self.service.store.update(
                job.id, state=JobState.UNKNOWN, native_status=ANSWER_LOST,
                message=f"the submission's answer was lost (or the server stopped during it) and the job was not "
                        f"found on the platform within {backend.confirm_window_s:g} s; it may still show up there (it "
                        f"is looked for again every {SWEEP_INTERVAL_S:g} s)",
            )
        except NotFound:  # deleted meanwhile
            return
        self.service.publish(lost)

    async def _adopt(self, job: Job, remote_id: str) -> None:
        """A job found on its platform after its submission's answer was lost: record it and watch it."""
        try:
            found = await self.service.store.update(job.id, remote_id=remote_id, state=JobState.QUEUED,
                                                    native_status="submitted", message="")
        except NotFound:  # deleted meanwhile
            return
        self.log.info("job %s found on %s as %s after its submission's answer was lost", job.id, job.backend,
                      remote_id)
        self.service.publish(found)
        self.watch(found)

    async def _recover(self, job: Job) -> None:
        if job.backend not in self.service.backends:
            self.log.warning("job %s belongs to backend '%s', which is not configured", job.id, job.backend)
            return
        if job.remote_id is None and job.native_status == CONFIRMING:
            self.confirm(job)  # e.g. after a restart
            return
        if job.remote_id is None and job.native_status == ANSWER_LOST:
            remote_id = await self.service.backend(job.backend).recover(job.id)
            if remote_id:
                await self._adopt(job, remote_id)
            return
        if job.remote_id is None:
            if time.time() - job.created.timestamp() < SWEEP_INTERVAL_S:
                return  # its submission may still be under way
            self.confirm(job)  # the server stopped during its submission: looked up like a lost answer
            return
        self.watch(job)

    async def _fail(self, job: Job, message: str) -> None:
        """Record the job FAILED with ``message`` (nothing to record when it was deleted meanwhile)."""
        try:
            job = await self.service.store.update(job.id, state=JobState.FAILED, finished=utcnow(), message=message)
        except NotFound:
            return
        self.service.publish(job)

    async def _run(self) -> None:
        while True:
            batched = self._spawn_due_refreshes()
            for name in batched:  # one platform call for all of its watched jobs, due or not
                job_ids = [job_id for job_id, w in self._watches.items() if w.backend == name and w.due >= 0]
                for job_id in job_ids:
                    self._watches[job_id].due = -1
                self._spawn(self._refresh_batch(name, job_ids), job_ids)
            pending = [w.due for w in self._watches.values() if w.due >= 0]
            delay = max(0.0, min(pending) - time.monotonic()) if pending else 3600.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def _spawn_due_refreshes(self) -> set[str]:
        """Start a refresh for each due job of a backend that answers one job at a time; the names of
        the backends with a due job that answer for many at once."""
        now = time.monotonic()
        batched: set[str] = set()
        for job_id in [job_id for job_id, w in self._watches.items() if 0 <= w.due <= now]:
            watch = self._watches[job_id]
            backend = self.service.backends.get(watch.backend)
            if backend is not None and backend.batch_status:
                batched.add(watch.backend)
                continue
            watch.due = -1  # in flight
            self._spawn(self._refresh(job_id), [job_id])
        return batched

    def _spawn(self, refresh: Any, job_ids: list[str]) -> None:
        task = asyncio.create_task(self._guarded(refresh, job_ids))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _guarded(self, refresh: Any, job_ids: list[str]) -> None:
        """Run one refresh so that no error drops a job: whatever fails is logged with each job's id,
        and every job still marked in flight afterwards is looked at again, with the error backoff."""
        try:
            await refresh
        except Exception as exc:  # noqa: BLE001 — the store or our own code failed: retry later
            for job_id in job_ids:
                self._log_failure(exc, f"job {job_id}")
        finally:
            for job_id in job_ids:
                watch = self._watches.get(job_id)
                if watch is not None and watch.due < 0:
                    self._reschedule(job_id, watch, changed=False, ceiling=ERROR_RETRY_CEILING_S)

    async def _refresh_batch(self, backend_name: str, job_ids: list[str]) -> None:
        """Refresh several jobs of one backend with a single ``status_many`` call."""
        live = await self._live_jobs(job_ids)
        if not live:
            return
        backend = self.service.backends[backend_name]
        try:
            async with self._limit:
                statuses = await backend.status_many([job.remote_id for job in live.values() if job.remote_id])
        except Exception as exc:  # noqa: BLE001 — an outage must not stop the watch
            for job_id in live:
                self._log_failure(exc, f"job {job_id} (backend {backend_name})")
                self._retry(job_id)
            return
        for job_id, job in live.items():
            status = statuses.get(job.remote_id or "")
            if status is None:  # not in the listing: ask for it alone before calling it lost
                await self._refresh(job_id)
            else:
                await self._apply(job_id, job, status)

    async def _live_jobs(self, job_ids: list[str]) -> dict[str, Job]:
        """The recorded jobs among ``job_ids`` still running on their platform; the watch of each one
        deleted or finished ends, and one the store could not read is tried again later."""
        live: dict[str, Job] = {}
        for job_id in job_ids:
            try:
                job = await self.service.store.get(job_id)
            except NotFound:  # deleted meanwhile
                self._watches.pop(job_id, None)
                continue
            except Exception as exc:  # noqa: BLE001 — e.g. the store briefly busy: this one again later
                self._log_failure(exc, f"job {job_id}")
                self._retry(job_id)
                continue
            if job.remote_id and not job.is_terminal:
                live[job_id] = job
            else:
                self._watches.pop(job_id, None)
        return live

    async def _apply(self, job_id: str, job: Job, status: RemoteStatus) -> None:
        watch = self._watches.get(job_id)
        if watch is None:
            return
        before = (job.state, job.native_status, job.message)
        try:
            job = await self.service.apply_status(job, status)
        except NotFound:  # deleted meanwhile
            self._watches.pop(job_id, None)
            return
        except Exception as exc:  # noqa: BLE001 — e.g. the store briefly busy: try again later
            self._log_failure(exc, f"job {job_id}")
            self._reschedule(job_id, watch, changed=False, ceiling=ERROR_RETRY_CEILING_S)
            return
        self._settle(job_id, watch, job, before)

    async def _refresh(self, job_id: str) -> None:
        watch = self._watches.get(job_id)
        if watch is None:
            return
        try:
            job = await self.service.store.get(job_id)
        except NotFound:  # deleted meanwhile
            self._watches.pop(job_id, None)
            return
        except Exception as exc:  # noqa: BLE001 — e.g. the store briefly busy: try again later
            self._log_failure(exc, f"job {job_id}")
            self._reschedule(job_id, watch, changed=False, ceiling=ERROR_RETRY_CEILING_S)
            return
        before = (job.state, job.native_status, job.message)
        try:
            async with self._limit:
                job = await self.service.refresh(job)
        except NotFound as exc:
            self._watches.pop(job_id, None)
            await self._fail(job, f"the platform no longer knows this job: {exc.message}")
            return
        except Exception as exc:  # noqa: BLE001 — a platform outage or backend bug must not stop the watch
            self._log_failure(exc, f"job {job_id}")
            self._reschedule(job_id, watch, changed=False, ceiling=ERROR_RETRY_CEILING_S)
            return
        self._settle(job_id, watch, job, before)

    def _retry(self, job_id: str) -> None:
        watch = self._watches.get(job_id)
        if watch is not None:
            self._reschedule(job_id, watch, changed=False, ceiling=ERROR_RETRY_CEILING_S)

    def _log_failure(self, exc: BaseException, what: str, *, doing: str = "refreshing") -> None:
        """A step that failed and will be tried again, worded by the one rule for error text
        (:func:`~jupyter_compute.errors.public_reason`: another error's text may carry a secret)."""
        self.log.warning("%s %s failed: %s", doing, what, public_reason(exc, "it will be tried again"))

    def _settle(self, job_id: str, watch: _Watch, job: Job, before: tuple[object, ...]) -> None:
        """After a refresh: stop watching a finished job, else schedule the next look."""
        if job.is_terminal:
            self._watches.pop(job_id, None)
            return
        self._reschedule(job_id, watch, changed=(job.state, job.native_status, job.message) != before)

    def _reschedule(self, job_id: str, watch: _Watch, *, changed: bool, ceiling: float | None = None) -> None:
        if self._watches.get(job_id) is not watch:
            return
        backend = self.service.backends[watch.backend]
        first, top = backend.poll_interval, ceiling or backend.poll_max_interval
        watch.interval = first if changed else min(top, watch.interval * BACKOFF_FACTOR)
        watch.due = time.monotonic() + (0.0 if watch.poked else watch.interval)
        watch.poked = False
        self._wake.set()
