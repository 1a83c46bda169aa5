"""A minimal backend whose platform API is a real echo server (for the passthrough tests)."""

from __future__ import annotations

import os

from jupyter_compute.backends.base import Backend, Capabilities


class EchoBackend(Backend):
    """Passes through to ``config['url']`` with the API key named by ``api_key_env``; runs no jobs."""

    kind = "echo"
    capabilities = Capabilities(can_proxy=True)

    @property
    def api_base(self) -> str | None:
        return self.config["url"]

    async def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": os.environ[self.config["api_key_env"]]}
