"""Minimal backends for the server's generic tests: one whose platform API is a real echo server (the
passthrough tests), one that reports through callbacks only, and one whose platform runs schedules (job
detail, actions and discovery)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from jupyter_compute.backends.base import Backend, Capabilities, DiscoveredJob, JobAction, JobDetail, Submission
from jupyter_compute.errors import BackendError, InvalidSpec, NotFound, NotSupported
from jupyter_compute.forms import Form, FormField, check_values
from jupyter_compute.models import JobSpec, JobState, RemoteStatus, map_native_status


class EchoBackend(Backend):
    """Passes through to ``config['url']`` with the API key named by ``api_key_env``; runs no jobs."""

    kind = "echo"
    capabilities = Capabilities(can_proxy=True)

    @property
    def api_base(self) -> str | None:
        return self.config["url"]

    async def auth_headers(self) -> dict[str, str]:
        from jupyter_compute.backends.secrets import read_secret

        return {"X-Api-Key": read_secret(self.config["api_key_env"]) or ""}


class CallbackBackend(Backend):
    """A platform that only reports through callbacks: ``{"status": "RUNNING"|"DONE"|"BROKEN"}``."""

    kind = "callback"
    capabilities = Capabilities(has_webhooks=True)
    status_map: ClassVar[dict[str, JobState]] = {"WAITING": JobState.QUEUED, "RUNNING": JobState.RUNNING, "DONE": JobState.SUCCEEDED,
                  "BROKEN": JobState.FAILED}
    poll_interval = 3600.0  # polling switched off: only callbacks move the jobs

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.callback_urls: dict[str, str] = {}
        self.statuses: dict[str, str] = {}

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        assert self.webhook_url is not None
        self.callback_urls[job_id] = self.webhook_url(job_id)
        self.statuses[job_id] = "WAITING"
        return Submission(job_id, RemoteStatus(JobState.QUEUED, "WAITING"))

    async def status(self, remote_id: str) -> RemoteStatus:
        native = self.statuses[remote_id]
        return RemoteStatus(map_native_status(self.status_map, native), native)

    async def handle_webhook(self, remote_id: str, body: Any) -> RemoteStatus | None:
        if not isinstance(body, dict) or body.get("status") not in self.status_map:
            raise InvalidSpec("a callback must be {'status': WAITING|RUNNING|DONE|BROKEN}", field="body")
        self.statuses[remote_id] = body["status"]
        return await self.status(remote_id)


class NeedsKeyBackend(Backend):
    """A backend that cannot be set up without ``NEEDS_KEY`` in the server's environment."""

    kind = "needs-key"
    capabilities = Capabilities(has_environments=True)
    secret_env_defaults: ClassVar[dict[str, str]] = {"key_env": "NEEDS_KEY"}

    async def environments(self):
        from jupyter_compute.backends.secrets import read_secret
        from jupyter_compute.models import Environment

        key = read_secret("NEEDS_KEY") or ""  # read at each call, as a token that may be renewed
        return [Environment(id="only", description=f"key of {len(key)} characters")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not os.environ.get("NEEDS_KEY"):
            from jupyter_compute.errors import AuthError

            raise AuthError("set NEEDS_KEY in the Jupyter server's environment to use this backend")


class HangingStartBackend(Backend):
    """A backend whose platform accepts connections at start but never answers."""

    kind = "hanging"

    async def start(self) -> None:
        import asyncio

        await asyncio.Event().wait()


#: A credential of the schedule platform: the text of its listing failures quotes it (no log line may).
SCHEDULE_SECRET = "sched-key-SECRET-5e1d07"

RERUN = JobAction("rerun", "Run again", (FormField("reason", "Reason", "string", required=True),),
                  help="Start the job's program again (its schedule stays as it is).")
NOTE = JobAction("note", "Add a note", (FormField("text", "Note", "string", required=True),))


class ScheduleBackend(Backend):
    """A platform that also starts jobs on its own, by schedule (:meth:`start_on_platform`), which
    ``discover`` finds. A job's detail tells its runs and notes, and offers 'rerun' once it ended and 'note'
    while it runs (values checked against the action's form). Jobs move only when a test sets ``statuses``.

    ``discover_failures``: how many discoveries fail next (with a text quoting SCHEDULE_SECRET);
    ``ignores_known``: discovery answers every scheduled job, recorded or not (a platform that cannot filter);
    ``gate``: when set, each discovery waits for it (to make discoveries overlap); ``outage``: the detail
    fails as a platform answering 503 does."""

    kind = "schedule"
    capabilities = Capabilities(can_cancel=True, has_detail=True, discovers_jobs=True)
    status_map: ClassVar[dict[str, JobState]] = {
        "WAITING": JobState.QUEUED, "RUNNING": JobState.RUNNING, "DONE": JobState.SUCCEEDED,
        "BROKEN": JobState.FAILED, "STOPPED": JobState.CANCELLED,
    }
    poll_interval = 0.05
    poll_max_interval = 0.2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statuses: dict[str, str] = {}
        self.runs: dict[str, int] = {}
        self.notes: dict[str, list[str]] = {}
        self.scheduled: dict[str, list[str]] = {}
        self.discover_calls = 0
        self.discover_waiting = 0
        self.discover_failures = 0
        self.ignores_known = False
        self.gate: asyncio.Event | None = None
        self.outage = False
        self._ids = itertools.count(1)

    def start_on_platform(self, remote_id: str, tags: list[str], status: str = "RUNNING") -> None:
        """The platform's schedule starts a job (no one submitted it through the server)."""
        self.statuses[remote_id] = status
        self.runs[remote_id] = 1
        self.scheduled[remote_id] = list(tags)

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        spec = await self.validated(spec)
        remote_id = f"run-{next(self._ids)}"
        self.statuses[remote_id] = "WAITING"
        self.runs[remote_id] = 1
        return Submission(remote_id, RemoteStatus(JobState.QUEUED, "WAITING"))

    async def status(self, remote_id: str) -> RemoteStatus:
        if remote_id not in self.statuses:
            raise NotFound(f"no job '{remote_id}' on the platform", backend=self.name)
        native = self.statuses[remote_id]
        return RemoteStatus(map_native_status(self.status_map, native), native)

    async def cancel(self, remote_id: str) -> None:
        self.statuses[remote_id] = "STOPPED"

    async def detail(self, remote_id: str) -> JobDetail:
        if self.outage:
            raise BackendError("the platform answered 503 (Service Unavailable)", status=503, backend=self.name)
        status = await self.status(remote_id)
        facts = {"runs": self.runs[remote_id], "notes": list(self.notes.get(remote_id, [])),
                 "schedule": "nightly" if remote_id in self.scheduled else None}
        return JobDetail(facts=facts, actions=[RERUN] if status.state.is_terminal else [NOTE])

    async def act(self, remote_id: str, action: str, values: Mapping[str, Any]) -> RemoteStatus:
        offered = {offer.name: offer for offer in (await self.detail(remote_id)).actions}
        if action not in offered:
            raise NotSupported(f"job {remote_id} does not offer '{action}' now (it offers: {', '.join(offered)})",
                               backend=self.name)
        problems = check_values(Form(fields=offered[action].fields), values)
        if problems:
            field, message = next(iter(problems.items()))
            raise InvalidSpec(message, field=field, backend=self.name)
        if action == "rerun":
            self.runs[remote_id] += 1
            self.statuses[remote_id] = "RUNNING"
        else:
            self.notes.setdefault(remote_id, []).append(values["text"])
        return await self.status(remote_id)

    async def discover(self, known: Collection[str]) -> list[DiscoveredJob]:
        self.discover_calls += 1
        if self.gate is not None:
            self.discover_waiting += 1
            await self.gate.wait()
        if self.discover_failures > 0:
            self.discover_failures -= 1
            raise RuntimeError(f"listing the schedules with key {SCHEDULE_SECRET} failed")
        return [
            DiscoveredJob(remote_id, f"nightly {remote_id}", await self.status(remote_id), list(tags),
                          JobSpec(backend=self.name, algorithm="nightly", params={"run": remote_id}))
            for remote_id, tags in self.scheduled.items() if self.ignores_known or remote_id not in known
        ]
