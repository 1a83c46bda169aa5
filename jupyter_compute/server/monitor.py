"""Background refresh of every job that is not finished yet, with per-job backoff.

One asyncio task owns a schedule of due times. A job whose status did not change is
polled less and less often (up to its backend's ceiling); a change resets its interval.
Platform calls run concurrently under a bound, each with the backend's own timeouts,
so a slow platform never delays another one or the server's event loop.

The jobs of a backend that answers for many at once (``batch_status``) share one schedule, a cycle:
one ``status_many`` call asks for all of them, and the monitor keeps each job's record as last
seen, so a job whose status did not change costs no store read, no write and no event. Only a
changed job is read from the store, recorded and published; a job the listing left out is asked
for alone.

A periodic sweep of the store re-watches any unfinished job that is not watched, so no job can
be left stuck by a failure between recording and watching it (every ``SWEEP_INTERVAL_S``; less
often, up to ``SWEEP_MAX_INTERVAL_S``, while it finds nothing to do). A backend that ``discovers_jobs``
is asked every ``discover_interval_s`` (its config) for the jobs its platform started on its
own; each one is recorded once and then watched like the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend, config_positive
from ..errors import ComputeError, InvalidSpec, NotFound, public_reason
from ..models import Job, JobState, RemoteStatus, utcnow
from .service import CONFIRMING, JobService, status_changes

BACKOFF_FACTOR = 1.6
ERROR_RETRY_CEILING_S = 60.0
SWEEP_INTERVAL_S = 30.0
#: The sweep's interval doubles, up to this, while sweeps find every unfinished job watched (a sweep reads
#: all of them: with thousands running, that read is most of an idle server's work).
SWEEP_MAX_INTERVAL_S = 300.0
#: Waits between the look-ups of a job whose submission got no answer (then every 30 s).
CONFIRM_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0)
#: native_status of a job not found on its platform after its lost submission answer.
ANSWER_LOST = "submission answer lost"
#: How often a backend that ``discovers_jobs`` is asked for the jobs its platform started, unless its
#: config says otherwise (``discover_interval_s``).
DISCOVER_INTERVAL_S = 60.0
#: Seconds ``stop`` waits for its cancelled tasks.
STOP_WAIT_S = 10.0
#: Job ids a log line about a whole cycle names at most.
LOGGED_IDS = 10
#: Jobs a cycle compares with their records between two yields to the event loop.
YIELD_EVERY = 2000


@dataclass
class _Watch:
    backend: str
    due: float
    interval: float
    poked: bool = False  # a callback arrived while a refresh was in flight: refresh again at once


@dataclass
class _Cycle:
    """The schedule of the watched jobs of one ``batch_status`` backend, refreshed together; each
    job's record as last seen (what its fresh status is compared with)."""

    due: float
    interval: float
    jobs: dict[str, Job] = field(default_factory=dict)
    running: bool = False
    poked: bool = False  # refresh again as soon as the running cycle ends
    fresh: bool = False  # a job joined or was poked since the cycle began: back to the first interval


class Monitor:
    """Keeps the store's view of running jobs current and pushes each change as an event."""

    def __init__(self, service: JobService, *, max_concurrency: int = 8, log: logging.Logger | None = None):
        self.service = service
        self.log = log or logging.getLogger("jupyter_compute.monitor")
        self._watches: dict[str, _Watch] = {}
        self._cycles: dict[str, _Cycle] = {}
        self._wake = asyncio.Event()
        self._asleep_until = -math.inf  # when the run loop wakes by itself (a due time past it needs no wake-up)
        self._limit = asyncio.Semaphore(max_concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._confirming: dict[str, asyncio.Task[None]] = {}
        service.on_submitted.append(self.watch)
        service.on_uncertain.append(self.confirm)
        service.on_acted.append(self.follow)
        service.on_deleted.append(self.unwatch)

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

    def watch(self, job: Job, *, soon: bool = False) -> None:
        """Poll this job until it ends; the first poll comes after the backend's first interval, or at once when
        ``soon`` (a job found unwatched: what it did meanwhile is not known)."""
        if job.is_terminal or job.backend not in self.service.backends:
            return
        backend = self.service.backend(job.backend)
        first = time.monotonic() + (0.0 if soon else backend.poll_interval)
        if backend.batch_status:
            self._join_cycle(backend, job, first)
        else:
            self._watches[job.id] = _Watch(job.backend, due=first, interval=backend.poll_interval)
        self._wake_by(first)

    def _join_cycle(self, backend: Backend, job: Job, first: float) -> None:
        """Watch ``job`` in its backend's cycle; the next cycle comes within the first interval."""
        cycle = self._cycles.get(backend.name)
        if cycle is None:
            self._cycles[backend.name] = _Cycle(due=first, interval=backend.poll_interval, jobs={job.id: job})
            return
        cycle.jobs[job.id] = job
        cycle.fresh = True
        cycle.interval = backend.poll_interval
        if not cycle.running:
            cycle.due = min(cycle.due, first)

    def follow(self, job: Job) -> None:
        """Refresh a job soon that something changed (an action): watch it if it is not watched (a finished
        job running again), else poke it."""
        cycle = self._cycles.get(job.backend)
        if cycle is not None and job.id in cycle.jobs:
            cycle.jobs[job.id] = job  # as the action left it
            self.poke(job.id)
        elif job.id in self._watches:
            self.poke(job.id)
        else:
            self.watch(job)

    def poke(self, job_id: str) -> None:
        """Refresh a watched job now, and often again (a callback or a stop request: it is changing)."""
        watch = self._watches.get(job_id)
        if watch is None:
            self._poke_cycle(job_id)
            return
        backend = self.service.backends.get(watch.backend)
        if backend is not None:
            watch.interval = backend.poll_interval
        if watch.due < 0:  # in flight: what it read may be older than the callback
            watch.poked = True
            return
        watch.due = time.monotonic()
        self._wake_by(watch.due)

    def unwatch(self, job_id: str) -> None:
        """Stop watching a job (deleted): a refresh in flight finds it gone and ends there."""
        self._watches.pop(job_id, None)
        for cycle in self._cycles.values():
            cycle.jobs.pop(job_id, None)

    def _poke_cycle(self, job_id: str) -> None:
        """Run the cycle of a batch-watched job now (after the one in flight), and often again."""
        for name, cycle in self._cycles.items():
            if job_id not in cycle.jobs:
                continue
            cycle.interval = self.service.backends[name].poll_interval
            if cycle.running:
                cycle.poked = cycle.fresh = True
            else:
                cycle.due = time.monotonic()
                self._wake_by(cycle.due)
            return

    @property
    def watched(self) -> set[str]:
        """The ids of the jobs being watched."""
        return set(self._watches).union(*(cycle.jobs for cycle in self._cycles.values()))

    async def sweep(self) -> int:
        """Watch every unfinished job of the store that is not watched yet; how many of a configured backend
        were not (watched now, or looked up when their submission's answer was lost)."""
        unwatched = 0
        for job in await self.service.store.active():
            if job.id in self._watches:
                continue
            cycle = self._cycles.get(job.backend)
            if cycle is not None and job.id in cycle.jobs:
                if not cycle.running:  # as recorded now: a change made elsewhere is not missed
                    cycle.jobs[job.id] = job
                continue
            unwatched += job.backend in self.service.backends
            try:
                await self._recover(job)
            except Exception as exc:  # noqa: BLE001 — one job must not stop the others being recovered
                self._log_failure(exc, f"job {job.id}", doing="re-attaching to")
        return unwatched

    async def _sweep_forever(self) -> None:
        interval, start_up = SWEEP_INTERVAL_S, True
        while True:
            soon = await self._sweep_once(start_up)
            interval = SWEEP_INTERVAL_S if soon else min(SWEEP_MAX_INTERVAL_S, interval * 2)
            start_up = False
            await asyncio.sleep(interval)

    async def _sweep_once(self, start_up: bool) -> bool:
        """One sweep; whether the next one should come soon: this one failed, found jobs left unwatched, or was
        the start-up sweep (which leaves the jobs whose submission may still have been under way to the next)."""
        try:
            unwatched = await self.sweep()
        except Exception as exc:  # noqa: BLE001 — e.g. the store briefly busy; try again next round
            self._log_failure(exc, "unfinished jobs", doing="sweeping")
            return True
        return start_up or bool(unwatched)

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
        """Look up, on its platform, a job whose submission got no answer: adopt it when it shows, else record it
        UNKNOWN after the backend's ``confirm_window_s`` (never FAILED: it may run). A platform that certainly
        lacks it (``recover_is_certain``) is sent it again, for as long as each answer is lost and the job is wanted."""
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
                again = await self._still_confirming(job.id)
                if again is None:
                    return
                job, deadline = again, time.monotonic() + backend.confirm_window_s  # its answer was lost again
                continue
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

    async def _still_confirming(self, job_id: str) -> Job | None:
        """The job if it is (again) waiting to be looked up on its platform; None if not, or ended (cancelled
        meanwhile), or deleted."""
        try:
            job = await self.service.store.get(job_id)
        except NotFound:
            return None
        return job if job.remote_id is None and job.native_status == CONFIRMING and not job.is_terminal else None

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
        self.watch(found, soon=True)  # what it did before it was found (a change its backend told) is not recorded

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
        self.watch(job, soon=True)

    async def _fail(self, job: Job, message: str) -> None:
        """Record the job FAILED with ``message`` (nothing to record when it was deleted meanwhile)."""
        try:
            job = await self.service.store.update(job.id, state=JobState.FAILED, finished=utcnow(), message=message)
        except NotFound:
            return
        self.service.publish(job)

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            self._spawn_due_refreshes(now)
            self._spawn_due_cycles(now)
            pending = [w.due for w in self._watches.values() if w.due >= 0]
            pending += [cycle.due for cycle in self._cycles.values() if not cycle.running]
            now = time.monotonic()
            delay = max(0.0, min(pending) - now) if pending else 3600.0
            self._asleep_until = now + delay
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._asleep_until = -math.inf

    def _wake_by(self, due: float) -> None:
        """Have the run loop look at its watches by ``due`` (each look goes over them all: not sooner than needed)."""
        if due < self._asleep_until:
            self._wake.set()

    def _spawn_due_refreshes(self, now: float) -> None:
        """Start a refresh for each due job of a backend that answers one job at a time."""
        for job_id in [job_id for job_id, w in self._watches.items() if 0 <= w.due <= now]:
            self._watches[job_id].due = -1  # in flight
            self._spawn(self._refresh(job_id), [job_id])

    def _spawn_due_cycles(self, now: float) -> None:
        """Start each due cycle: one platform call for all the watched jobs of its backend."""
        for name, cycle in self._cycles.items():
            if cycle.running or cycle.due > now:
                continue
            cycle.running, cycle.poked, cycle.fresh = True, False, False
            task = asyncio.create_task(self._run_cycle(name, cycle), name=f"jupyter-compute-cycle-{name}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

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

    async def _run_cycle(self, name: str, cycle: _Cycle) -> None:
        """One cycle, guarded: whatever fails is logged and no job is dropped; then the next one is scheduled."""
        changed: bool | None = None
        try:
            changed = await self._refresh_batch(name, cycle)
        except Exception as exc:  # noqa: BLE001 — the store or our own code failed: the next cycle tries again
            self._log_failure(exc, _jobs_text(name, list(cycle.jobs)))
        finally:
            self._end_cycle(name, cycle, changed)

    def _end_cycle(self, name: str, cycle: _Cycle, changed: bool | None) -> None:
        """Schedule the next cycle: soon after a change, later and later while nothing changes (``changed``
        None: the platform could not be asked); a backend left without watched jobs has no cycle."""
        cycle.running = False
        if not cycle.jobs:
            if self._cycles.get(name) is cycle:
                del self._cycles[name]
            return
        backend = self.service.backends[name]
        top = ERROR_RETRY_CEILING_S if changed is None else backend.poll_max_interval
        back_off = not (changed or cycle.fresh)
        cycle.interval = min(top, cycle.interval * BACKOFF_FACTOR) if back_off else backend.poll_interval
        cycle.due = time.monotonic() + (0.0 if cycle.poked else cycle.interval)
        cycle.poked = cycle.fresh = False
        self._wake_by(cycle.due)

    async def _refresh_batch(self, name: str, cycle: _Cycle) -> bool | None:
        """Ask for all the cycle's jobs with a single ``status_many`` call; record and publish the ones that
        changed. Whether any did; None when the platform could not be asked."""
        seen = self._askable(cycle)
        statuses = await self._statuses(name, seen) if seen else {}
        if statuses is None:
            return None
        changes, missing = await _changes(seen, statuses)
        changed = False
        for job_id, status in changes:
            changed = await self._apply_batched(cycle, job_id, seen[job_id], status) or changed
        for job_id in missing:  # not in the listing: asked for alone before it is called lost
            changed = await self._look_alone(cycle, job_id, seen[job_id]) or changed
        return changed

    def _askable(self, cycle: _Cycle) -> dict[str, Job]:
        """The cycle's jobs as last seen; the watch of one without a platform id (nothing to ask for) ends."""
        seen = {job_id: job for job_id, job in cycle.jobs.items() if job.remote_id}
        for job_id in cycle.jobs.keys() - seen.keys():
            self._forget(cycle, job_id, cycle.jobs[job_id])
        return seen

    async def _statuses(self, name: str, seen: dict[str, Job]) -> dict[str, RemoteStatus] | None:
        """The platform's answer for all of ``seen`` in one call; None (said in the log) when it failed."""
        try:
            async with self._limit:
                return await self.service.backends[name].status_many([job.remote_id or "" for job in seen.values()])
        except Exception as exc:  # noqa: BLE001 — an outage must not stop the watch
            self._log_failure(exc, _jobs_text(name, list(seen)))
            return None

    async def _current(self, cycle: _Cycle, job_id: str, seen: Job) -> Job | None:
        """The job as recorded now, when it is still to be watched; else None (its watch ended, or the store
        could not be read: then the next cycle tries again)."""
        try:
            job = await self.service.store.get(job_id)
        except NotFound:  # deleted meanwhile
            self._forget(cycle, job_id, seen)
            return None
        except Exception as exc:  # noqa: BLE001 — e.g. the store briefly busy: this one again next cycle
            self._log_failure(exc, f"job {job_id}")
            return None
        if job.is_terminal or not job.remote_id:
            self._forget(cycle, job_id, seen)
            return None
        return job

    async def _apply_batched(self, cycle: _Cycle, job_id: str, seen: Job, status: RemoteStatus) -> bool:
        """Record a changed status of a batch-watched job (read again first: it may have changed elsewhere)
        and publish it; whether the record changed."""
        job = await self._current(cycle, job_id, seen)
        if job is None:
            return False
        try:
            recorded = await self.service.apply_status(job, status)
        except NotFound:  # deleted meanwhile
            self._forget(cycle, job_id, seen)
            return False
        except Exception as exc:  # noqa: BLE001 — e.g. the store briefly busy: this one again next cycle
            self._log_failure(exc, f"job {job_id}")
            return False
        self._remember(cycle, job_id, seen, recorded)
        return recorded is not job

    async def _look_alone(self, cycle: _Cycle, job_id: str, seen: Job) -> bool:
        """Ask for one batch-watched job the listing left out; a job its platform does not know ends FAILED.
        Whether its record changed."""
        job = await self._current(cycle, job_id, seen)
        if job is None:
            return False
        try:
            async with self._limit:
                recorded = await self.service.refresh(job)
        except NotFound as exc:
            self._forget(cycle, job_id, seen)
            await self._fail(job, f"the platform no longer knows this job: {exc.message}")
            return True
        except Exception as exc:  # noqa: BLE001 — a platform outage or backend bug must not stop the watch
            self._log_failure(exc, f"job {job_id}")
            return False
        self._remember(cycle, job_id, seen, recorded)
        return recorded is not job

    @staticmethod
    def _forget(cycle: _Cycle, job_id: str, seen: Job) -> None:
        """End the batch watch of a job, unless it was watched anew meanwhile."""
        if cycle.jobs.get(job_id) is seen:
            del cycle.jobs[job_id]

    @staticmethod
    def _remember(cycle: _Cycle, job_id: str, seen: Job, recorded: Job) -> None:
        """Keep the job's record as now recorded (its watch ends once it finished), unless it was watched
        anew meanwhile."""
        if cycle.jobs.get(job_id) is not seen:
            return
        if recorded.is_terminal:
            del cycle.jobs[job_id]
        else:
            cycle.jobs[job_id] = recorded

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
        self._wake_by(watch.due)


async def _changes(seen: dict[str, Job], statuses: dict[str, RemoteStatus]) -> tuple[list[tuple[str, RemoteStatus]],
                                                                                  list[str]]:
    """The jobs of ``seen`` (id → record) whose fresh status differs from their record, with it; and the ids
    of those the platform's answer left out."""
    changes, missing = [], []
    for i, (job_id, job) in enumerate(seen.items(), 1):
        if i % YIELD_EVERY == 0:  # tens of thousands of unchanged jobs: let the loop breathe between them
            await asyncio.sleep(0)
        status = statuses.get(job.remote_id or "")
        if status is None:
            missing.append(job_id)
        elif status_changes(job, status):
            changes.append((job_id, status))
    return changes, missing


def _jobs_text(backend: str, job_ids: list[str]) -> str:
    """``jobs a, b, … and 12 more (backend x)``: the jobs of a cycle, for a log line of bounded length."""
    named = ", ".join(job_ids[:LOGGED_IDS])
    more = f" and {len(job_ids) - LOGGED_IDS} more" if len(job_ids) > LOGGED_IDS else ""
    return f"jobs {named}{more} (backend {backend})"
