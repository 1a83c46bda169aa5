"""A minimal backend whose platform API is a real echo server (for the passthrough tests)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from jupyter_compute.backends.base import Backend, Capabilities, Submission
from jupyter_compute.errors import InvalidSpec
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
