"""The job service: what the REST handlers call. Records, submits, cancels and reads jobs.

Handlers stay thin (parse, call, serialise); backends stay free of Jupyter; the store
is the single record of every job. Every change is published on the event hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ..backends.base import Backend, Capabilities, DiscoveredJob, JobDetail, Submission
from ..errors import BackendError, ComputeError, InvalidSpec, NotFound, NotSupported, Unavailable, public_reason
from ..forms import check_spec
from ..models import Cluster, Environment, Job, JobSpec, JobState, LogChunk, RemoteStatus, ResultFile, utcnow
from .events import EventHub
from .store import JobStore, PageText

MAX_IDEMPOTENCY_KEY = 200
#: native_status of a job whose submission got no answer: the platform may have it (the monitor looks).
CONFIRMING = "confirming submission"
#: native_status of a job whose submission certainly never reached the platform (a retry sends it again).
NOT_SUBMITTED = "not submitted"
UPLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
#: The one key an action request body takes.
ACTION_BODY_KEYS = frozenset({"values"})


def discovered_key(backend: str, remote_id: str) -> str:
    """The idempotency key of a job found on its platform: the store records each such job once."""
    return f"discovered:{backend}:{remote_id}"


def action_values(body: Any) -> dict[str, Any]:
    """The form values of an action request, ``{"values": {...}}`` (``values`` may be left out);
    InvalidSpec naming the field that is wrong."""
    if not isinstance(body, dict):
        raise InvalidSpec('the request body must be a JSON object: {"values": {...}}', field="body")
    unknown = sorted(set(body) - ACTION_BODY_KEYS)
    if unknown:
        raise InvalidSpec(f"unknown field '{unknown[0]}': an action request takes only 'values'", field=unknown[0])
    values = body.get("values", {})
    if not isinstance(values, dict):
        raise InvalidSpec("'values' must be an object: the values of the action's form, by field name",
                          field="values")
    return values


def default_job_name(spec: JobSpec) -> str:
    """A readable name when the user gave none: the program's file name or command."""
    for path in (spec.notebook, spec.script):
        if path:
            return PurePosixPath(path).name
    if spec.command:
        return spec.command.strip().split("\n")[0][:60]
    if spec.algorithm:
        return spec.algorithm
    if spec.code:
        return "inline code"
    return "job"


def status_changes(job: Job, status: RemoteStatus) -> dict[str, Any]:
    """The store fields that differ between a recorded job and a backend's fresh status."""
    fresh = {
        "state": status.state,
        "native_status": status.native_status,
        "message": status.message,
        "started": status.started or job.started,
        "finished": status.finished or job.finished,
    }
    if status.state.is_terminal and fresh["finished"] is None:
        fresh["finished"] = utcnow()
    return {key: value for key, value in fresh.items() if getattr(job, key) != value}


def _cancelled_while_submitted(recorded: Job, submission: Submission) -> bool:
    """The job was cancelled here while the platform took it, and runs there: it must be stopped there."""
    return recorded.state is JobState.CANCELLED and not submission.status.state.is_terminal


class JobService:
    """Glue between the store, the configured backends and the event hub."""

    def __init__(
        self,
        store: JobStore,
        backends: Mapping[str, Backend],
        hub: EventHub,
        log: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.backends = dict(backends)
        self.hub = hub
        self.log = log or logging.getLogger("jupyter_compute.service")
        self.uploads_dir: Path | None = None
        #: Backends configured but unable to work: name → {"kind", "message"}.
        self.unavailable: dict[str, dict[str, str]] = {}
        #: Called with each job that reached its platform (the monitor watches them).
        self.on_submitted: list[Callable[[Job], None]] = []
        #: Called with each job whose submission got no answer (the monitor looks it up on the platform).
        self.on_uncertain: list[Callable[[Job], None]] = []
        #: Called with each job an action left unfinished (the monitor follows it, a finished job run again too).
        self.on_acted: list[Callable[[Job], None]] = []
        #: Called with the id of each deleted job (the monitor stops watching it).
        self.on_deleted: list[Callable[[str], None]] = []
        self._background: set[asyncio.Future[None]] = set()  # work started from callbacks, kept until it ends
        for backend in self.backends.values():
            backend.attach_status_sink(self._record_pushed_status)

    # backends -------------------------------------------------------------------------
    def backend(self, name: str) -> Backend:
        if name in self.unavailable:
            reason = self.unavailable[name]["message"]
            raise Unavailable(f"backend '{name}' is not available: {reason}", backend=name, field="backend")
        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none"
            raise NotFound(f"unknown backend '{name}' (configured: {known})", field="backend") from None

    def is_configured(self, name: str) -> bool:
        """Whether this server has backend ``name`` configured (working or not)."""
        return name in self.backends or name in self.unavailable

    def job_backend(self, job: Job) -> Backend:
        """The backend that serves ``job``. A job whose backend is no longer configured is read-only."""
        if not self.is_configured(job.backend):
            known = ", ".join(sorted(self.backends)) or "none"
            raise NotSupported(
                f"job {job.id} belongs to backend '{job.backend}', which is not configured on this server "
                f"(configured: {known}); the job is kept read-only: it can be read, not changed, and its logs "
                "and result files cannot be fetched",
                backend=job.backend, job_id=job.id,
            )
        return self.backend(job.backend)

    def describe_backends(self) -> list[dict[str, Any]]:
        """Every configured backend; those that cannot work say why (``available`` False, ``message``)."""
        working = [{**backend.describe(), "available": True} for backend in self.backends.values()]
        broken = [
            {"name": name, "kind": info["kind"], "capabilities": Capabilities().to_dict(), "available": False,
             "message": info["message"]}
            for name, info in self.unavailable.items()
        ]
        return working + broken

    def mark_unavailable(self, name: str, kind: str, reason: Exception | str) -> None:
        """Keep a backend that cannot work listed, with the reason (never its credential) as the message."""
        self.backends.pop(name, None)
        # Only our own errors are worded for users; anything else may quote a setting, so name its type only.
        message = reason if isinstance(reason, str) else public_reason(reason, "it failed to start")
        self.unavailable[name] = {"kind": kind, "message": message}

    async def environments(self, name: str) -> list[Environment]:
        return await self.backend(name).environments()

    async def clusters(self, name: str) -> list[Cluster]:
        backend = self.backend(name)
        return backend.with_health(await backend.clusters())  # by the backend's own table

    # jobs -----------------------------------------------------------------------------
    def publish(self, job: Job) -> None:
        """Tell the event stream's listeners of the job as it is now (nothing is built when none listens)."""
        if self.hub.subscriber_count:
            self.hub.publish("job", job.to_dict(summary=True))

    async def submit(self, body: Any) -> tuple[Job, bool]:
        """Validate, record, then submit. Returns the job and whether it is new.

        A request whose idempotency key was seen before returns the first job unchanged.
        """
        if not isinstance(body, dict):
            raise InvalidSpec("the request body must be a JSON object (the job spec)", field="body")
        body = dict(body)
        key = body.pop("idempotency_key", None)
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY):
            raise InvalidSpec(
                f"'idempotency_key' must be a string of 1 to {MAX_IDEMPOTENCY_KEY} characters",
                field="idempotency_key",
            )
        spec = JobSpec.from_dict(body)
        backend = self.backend(spec.backend)
        check_spec(backend.form(), spec.to_dict())
        spec = await backend.validated(spec)
        job = Job(
            id=uuid.uuid4().hex,
            backend=backend.name,
            spec=spec,
            name=spec.name or default_job_name(spec),
            tags=list(spec.tags),
            state=JobState.QUEUED,
            native_status="submitting",
            idempotency_key=key,
        )
        job, created = await self.store.create(job)
        if not created:
            # A first try that never reached the platform: this retry of the same key sends it again.
            reopened = await self.store.reopen(job.id, NOT_SUBMITTED) if job.native_status == NOT_SUBMITTED else None
            if reopened is None:
                return job, False
            self.publish(reopened)
            return await self._send(self.job_backend(reopened), reopened.spec, reopened)
        self.publish(job)
        return await self._send(backend, spec, job)

    async def resend(self, job: Job) -> None:
        """Send again a recorded job that its platform certainly does not have (its outcome is recorded)."""
        self.log.info("job %s is not on %s: sending it again", job.id, job.backend)
        try:
            await self._send(self.job_backend(job), job.spec, job)
        except ComputeError as exc:
            self.log.warning("job %s could not be sent again: %s", job.id, exc)

    async def _send(self, backend: Backend, spec: JobSpec, job: Job) -> tuple[Job, bool]:
        """Hand a recorded job to its platform; record what came of it."""
        try:
            submission = await backend.submit(spec, job.id)
        except InvalidSpec:
            await self.store.delete(job.id)
            self.hub.publish("job_deleted", {"id": job.id})
            raise
        except Exception as exc:  # every failure is recorded on the job, then raised as one of ours
            error = exc if isinstance(exc, ComputeError) else BackendError(public_reason(exc, "submission failed"))
            if isinstance(error, BackendError) and error.may_have_acted:
                return await self._await_confirmation(backend, job, error), True
            await self._record_failed_submission(backend, job, error)
            if error is exc:
                raise
            raise error from exc
        if backend.recover_is_certain:
            return self._record_after_answer(backend, job, submission), True
        return await self._record_submission(backend, job, submission), True

    def _record_after_answer(self, backend: Backend, job: Job, submission: Submission) -> Job:
        """Record the platform's job without holding up the answer, which gives the job as it is being recorded.
        Only for a backend that finds its jobs by our ids for certain: should the server stop before this write,
        the job (recorded as being submitted) is looked up there and adopted, like a lost answer."""
        changes = {"remote_id": submission.remote_id, **status_changes(job, submission.status)}
        update = self.store.update_in_turn(job.id, **changes)  # a read made after the answer sees it
        update.add_done_callback(functools.partial(self._recorded, backend, submission))
        return dataclasses.replace(job, **changes)

    def _recorded(self, backend: Backend, submission: Submission, update: asyncio.Future[Job]) -> None:
        """What :meth:`_record_submission` does once the record is written, for a record written after the answer."""
        if update.cancelled():
            return
        error = update.exception()
        if error is not None:
            if isinstance(error, NotFound):  # deleted meanwhile: do not leave it running
                self._spawn(self._abandon(backend, submission.remote_id))
            else:
                self.log.warning("a submitted job could not be recorded (it is looked up again at the next sweep): "
                                 "%s", public_reason(error, "the job store failed"))
            return
        recorded = update.result()
        if _cancelled_while_submitted(recorded, submission):
            self._spawn(self._abandon(backend, submission.remote_id))
        self._announce_submitted(recorded)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, kept until it ends."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record_submission(self, backend: Backend, job: Job, submission: Submission) -> Job:
        """Record the platform's job; stop it there when ours was deleted or cancelled meanwhile."""
        try:
            recorded = await self.store.update(
                job.id, remote_id=submission.remote_id, **status_changes(job, submission.status)
            )
        except NotFound:  # deleted while the platform call was under way: do not leave it running
            await self._abandon(backend, submission.remote_id)
            raise
        if _cancelled_while_submitted(recorded, submission):
            await self._abandon(backend, submission.remote_id)
        self._announce_submitted(recorded)
        return recorded

    def _announce_submitted(self, recorded: Job) -> None:
        """Tell the clients and the ``on_submitted`` callbacks (the monitor) of a job whose submission is recorded."""
        self.publish(recorded)
        for callback in self.on_submitted:
            callback(recorded)

    async def _record_pushed_status(self, remote_id: str, status: RemoteStatus) -> None:
        """Record a status change a backend told by itself (one whose remote ids are our job ids). A job whose
        submission is not recorded yet is left alone: the backend tells only what came after its answer."""
        try:
            job = await self.store.get(remote_id)
        except NotFound:  # deleted meanwhile
            return
        if job.remote_id == remote_id and not job.is_terminal:
            await self.apply_status(job, status)

    async def _await_confirmation(self, backend: Backend, job: Job, error: BackendError) -> Job:
        """The answer was lost, not the job: it stays queued while the monitor looks it up."""
        self.log.warning("submission of job %s to %s got no answer: %s", job.id, backend.name, error)
        confirming = await self.store.update(
            job.id, native_status=CONFIRMING,
            message=f"the platform's answer was lost ({error.message}); looking the job up there",
        )
        self.publish(confirming)
        for callback in self.on_uncertain:
            callback(confirming)
        return confirming

    async def _record_failed_submission(self, backend: Backend, job: Job, error: ComputeError) -> None:
        self.log.warning("submission of job %s to %s failed: %s", job.id, backend.name, error)
        reached = not isinstance(error, BackendError) or error.reached
        failed = await self.store.update(
            job.id, state=JobState.FAILED, native_status="submission failed" if reached else NOT_SUBMITTED,
            message=error.message, finished=utcnow(),
        )
        self.publish(failed)
        error.job_id, error.backend = job.id, backend.name

    async def _abandon(self, backend: Backend, remote_id: str) -> None:
        """Stop a platform job nobody wants any more (best effort, logged)."""
        try:
            if backend.capabilities.can_cancel:
                await backend.cancel(remote_id)
        except ComputeError as exc:
            self.log.warning("could not stop abandoned job %s on %s: %s", remote_id, backend.name, exc)

    async def get(self, job_id: str) -> Job:
        return await self.store.get(job_id)

    async def list_jobs(self, **query: Any) -> PageText:
        """One page of recorded jobs as JSON text, the total that match, and the next page's cursor
        (``query``: the filters, sort, limit and offset or cursor of :meth:`JobStore.page`)."""
        return await self.store.page(**query)

    async def apply_status(self, job: Job, status: RemoteStatus) -> Job:
        """Record a fresh platform status (and the results once terminal); publish if changed."""
        changes = status_changes(job, status)
        if not changes:
            return job
        if status.state.is_terminal:
            changes["results"] = await self._final_results(job)
        job = await self.store.update(job.id, **changes)
        self.publish(job)
        return job

    async def _final_results(self, job: Job) -> list[ResultFile]:
        backend = self.job_backend(job)
        if not backend.capabilities.has_results or not job.remote_id:
            return job.results
        try:
            return await backend.results(job.remote_id)
        except ComputeError as exc:
            self.log.warning("could not list results of job %s: %s", job.id, exc)
            return job.results

    async def refresh(self, job: Job) -> Job:
        """Ask the platform for the job's status now."""
        if job.remote_id is None or job.is_terminal:
            return job
        status = await self.job_backend(job).status(job.remote_id)
        return await self.apply_status(job, status)

    async def detail(self, job_id: str) -> JobDetail:
        """What the job's platform says of it beyond its status, and the actions it offers now. Nothing (no
        facts, no actions) for a job not on its platform, a read-only job, or a backend without ``has_detail``."""
        job = await self.store.get(job_id)
        if job.remote_id is None or not self.is_configured(job.backend):
            return JobDetail(facts={}, actions=[])
        backend = self.job_backend(job)
        if not backend.capabilities.has_detail:
            return JobDetail(facts={}, actions=[])
        return await backend.detail(job.remote_id)

    async def act(self, job_id: str, action: str, values: Mapping[str, Any]) -> Job:
        """Run one of the job's actions on its platform with its form's ``values``; record the status it leaves
        the job in (a finished job may run again) and publish it."""
        job = await self.store.get(job_id)
        backend = self.job_backend(job)
        if job.remote_id is None:
            raise NotSupported(f"job {job.id} is not on its platform: it offers no actions", backend=job.backend,
                               job_id=job.id)
        status = await backend.act(job.remote_id, action, values)
        job = await self.store.get(job.id)  # as it is now: the monitor may have refreshed it meanwhile
        if job.is_terminal and not status.state.is_terminal:
            job = await self._reopen_finished(job, status)
        else:
            job = await self.apply_status(job, status)
        if not job.is_terminal:
            for callback in self.on_acted:
                callback(job)
        return job

    async def _reopen_finished(self, job: Job, status: RemoteStatus) -> Job:
        """Record a finished job running again (an action such as "run again"), and publish it."""
        job = await self.store.reactivate(
            job.id, state=status.state, native_status=status.native_status, message=status.message,
            started=status.started or job.started, finished=status.finished,
        )  # fmt: skip
        self.publish(job)
        return job

    async def remote_ids(self, backend: str) -> set[str]:
        """The platform ids of every job recorded for ``backend`` (finished ones too)."""
        return await self.store.remote_ids(backend)

    async def record_discovered(self, backend: Backend, found: DiscoveredJob) -> Job | None:
        """Record (and publish) a job the platform started on its own; None when it is recorded already.

        Its idempotency key is made of the backend and the remote id, so the store keeps one record of it
        whichever discovery cycle finds it (concurrent ones, or after a restart)."""
        spec = found.spec if found.spec.backend == backend.name else dataclasses.replace(found.spec,
                                                                                         backend=backend.name)
        status = found.status
        job = Job(
            id=uuid.uuid4().hex, backend=backend.name, spec=spec, name=found.name or default_job_name(spec),
            remote_id=found.remote_id, tags=list(dict.fromkeys([*found.tags, *spec.tags])),
            idempotency_key=discovered_key(backend.name, found.remote_id),
            state=status.state, native_status=status.native_status, message=status.message,
            started=status.started, finished=status.finished,
        )
        if status.state.is_terminal and job.finished is None:
            job.finished = utcnow()
        job, created = await self.store.create(job)
        if not created:
            return None
        if job.is_terminal:
            job = await self.store.update(job.id, results=await self._final_results(job))
        self.publish(job)
        return job

    async def store_upload(self, name: str, data: bytes) -> Path:
        """Keep uploaded bytes under the uploads folder, in a folder of their own; their path."""
        if not UPLOAD_NAME.fullmatch(name or "") or name in (".", ".."):
            raise InvalidSpec("'name' must be a plain file name (letters, digits, '.', '-', '_')", field="name")
        if self.uploads_dir is None:
            raise NotSupported("this server keeps no uploads")
        folder = self.uploads_dir / uuid.uuid4().hex
        path = folder / name

        def write() -> None:
            folder.mkdir(parents=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)
        return path

    async def webhook(self, job: Job, body: Any) -> bool:
        """Apply a platform callback about ``job``; True when the job should be polled now instead."""
        if job.remote_id is None:
            return False
        status = await self.job_backend(job).handle_webhook(job.remote_id, body)  # checks the body
        if job.is_terminal:
            return False
        if status is None:
            return True
        await self.apply_status(job, status)
        return False

    async def cancel(self, job_id: str) -> Job:
        """Ask the platform to stop the job; a finished job is returned unchanged."""
        job = await self.store.get(job_id)
        if job.is_terminal:
            return job
        backend = self.job_backend(job)
        if job.remote_id is not None:
            try:
                await backend.cancel(job.remote_id)
            except InvalidSpec:  # e.g. it ended on the platform since we last looked: then that is the answer
                ended = await self.refresh(job)
                if not ended.is_terminal:
                    raise
                return ended
            return await self.refresh(job)
        job = await self.store.update(job.id, state=JobState.CANCELLED, finished=utcnow(),
                                      message="cancelled before it reached the platform")
        self.publish(job)
        return job

    async def delete(self, job_id: str) -> None:
        """Forget the job (and remove it from the platform where it can be removed)."""
        job = await self.store.get(job_id)
        backend = self.job_backend(job)
        if job.remote_id is not None:
            if backend.capabilities.can_delete:
                with contextlib.suppress(NotFound):
                    await backend.delete(job.remote_id)
            elif not job.is_terminal:
                await self._abandon(backend, job.remote_id)
        await self.store.delete(job.id)
        for callback in self.on_deleted:
            callback(job.id)
        self.hub.publish("job_deleted", {"id": job.id})

    async def logs(self, job_id: str, offset: int = 0) -> LogChunk:
        job = await self.store.get(job_id)
        if job.remote_id is None:
            return LogChunk(text="", offset=0, complete=job.is_terminal)
        return await self.job_backend(job).logs(job.remote_id, offset)

    async def results(self, job_id: str) -> list[ResultFile]:
        """The job's result files; for a read-only job (backend no longer configured), those recorded."""
        job = await self.store.get(job_id)
        if job.remote_id is None:
            return []
        if not self.is_configured(job.backend):
            return job.results
        return await self.job_backend(job).results(job.remote_id)

    @contextlib.asynccontextmanager
    async def open_result(self, job_id: str, name: str) -> AsyncIterator[tuple[ResultFile, AsyncIterator[bytes]]]:
        """The result's description and a stream of its bytes, closed as the block ends, whether the reader
        finished, failed or went away (never left for the garbage collector to close)."""
        result, chunks = await self._result_stream(job_id, name)
        try:
            yield result, chunks
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _result_stream(self, job_id: str, name: str) -> tuple[ResultFile, AsyncIterator[bytes]]:
        job = await self.store.get(job_id)
        for result in await self.results(job_id):
            if result.name == name and job.remote_id is not None:
                return result, self.job_backend(job).open_result(job.remote_id, name)
        raise NotFound(f"job {job_id} has no result named '{name}'", field="name", job_id=job_id)
