"""Background refresh of every job that is not finished yet, with per-job backoff.

One asyncio task owns a schedule of due times. A job whose status did not change is
polled less and less often (up to its backend's ceiling); a change resets its interval.
Platform calls run concurrently under a bound, each with the backend's own timeouts,
so a slow platform never delays another one or the server's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from ..errors import ComputeError, NotFound
from ..models import Job, JobState, utcnow
from .service import JobService

BACKOFF_FACTOR = 1.6
ERROR_RETRY_CEILING_S = 60.0


@dataclass
class _Watch:
    backend: str
    due: float
    interval: float


class Monitor:
    """Keeps the store's view of running jobs current and pushes each change as an event."""

    def __init__(self, service: JobService, *, max_concurrency: int = 8, log: logging.Logger | None = None):
        self.service = service
        self.log = log or logging.getLogger("jupyter_compute.monitor")
        self._watches: dict[str, _Watch] = {}
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(max_concurrency)
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        service.on_submitted.append(self.watch)

    async def start(self) -> None:
        """Re-attach to the jobs recorded as unfinished (after a restart) and start polling."""
        for job in await self.service.store.active():
            await self._recover(job)
        self._task = asyncio.create_task(self._run(), name="jupyter-compute-monitor")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, *self._inflight, return_exceptions=True)
            self._task = None

    def watch(self, job: Job) -> None:
        """Poll this job until it ends; the first poll comes after the backend's first interval."""
        if job.is_terminal or job.backend not in self.service.backends:
            return
        interval = self.service.backend(job.backend).poll_interval
        self._watches[job.id] = _Watch(job.backend, due=time.monotonic() + interval, interval=interval)
        self._wake.set()

    def poke(self, job_id: str) -> None:
        """Refresh a watched job now (a webhook said it changed)."""
        watch = self._watches.get(job_id)
        if watch:
            watch.due = time.monotonic()
            self._wake.set()

    @property
    def watched(self) -> set[str]:
        return set(self._watches)

    async def _recover(self, job: Job) -> None:
        if job.backend not in self.service.backends:
            self.log.warning("job %s belongs to backend '%s', which is no longer configured", job.id, job.backend)
            return
        if job.remote_id is None:
            remote_id = await self.service.backend(job.backend).recover(job.id)
            if remote_id is None:
                job = await self.service.store.update(
                    job.id, state=JobState.FAILED, finished=utcnow(),
                    message="the server stopped before the job reached the platform",
                )
                self.service.publish(job)
                return
            job = await self.service.store.update(job.id, remote_id=remote_id)
        self.watch(job)

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            due = [job_id for job_id, w in self._watches.items() if w.due <= now and w.due >= 0]
            for job_id in due:
                self._watches[job_id].due = -1  # in flight
                task = asyncio.create_task(self._refresh(job_id))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            pending = [w.due for w in self._watches.values() if w.due >= 0]
            delay = max(0.0, min(pending) - time.monotonic()) if pending else 3600.0
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass

    async def _refresh(self, job_id: str) -> None:
        watch = self._watches.get(job_id)
        if watch is None:
            return
        try:
            async with self._limit:
                job = await self.service.store.get(job_id)
                before = (job.state, job.native_status, job.message)
                job = await self.service.refresh(job)
            changed = (job.state, job.native_status, job.message) != before
        except NotFound:
            self._watches.pop(job_id, None)
            return
        except (ComputeError, OSError) as exc:
            self.log.warning("refreshing job %s failed: %s", job_id, exc)
            self._reschedule(job_id, watch, changed=False, ceiling=ERROR_RETRY_CEILING_S)
            return
        except Exception:  # noqa: BLE001 — a backend bug must not stop the monitor
            self.log.exception("unexpected error refreshing job %s", job_id)
            self._reschedule(job_id, watch, changed=False, ceiling=ERROR_RETRY_CEILING_S)
            return
        if job.is_terminal:
            self._watches.pop(job_id, None)
            return
        self._reschedule(job_id, watch, changed=changed)

    def _reschedule(self, job_id: str, watch: _Watch, *, changed: bool, ceiling: float | None = None) -> None:
        if job_id not in self._watches:
            return
        backend = self.service.backends[watch.backend]
        first, top = backend.poll_interval, ceiling or backend.poll_max_interval
        watch.interval = first if changed else min(top, watch.interval * BACKOFF_FACTOR)
        watch.due = time.monotonic() + watch.interval
        self._wake.set()

