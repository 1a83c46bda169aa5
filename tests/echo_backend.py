"""A minimal backend whose platform API is a real echo server (for the passthrough tests)."""

from __future__ import annotations

from jupyter_compute.backends.base import Backend, Capabilities


class EchoBackend(Backend):
    """Passes through to ``config['url']`` with an API key header; runs no jobs."""

    kind = "echo"
    capabilities = Capabilities(can_proxy=True)

    @property
    def api_base(self) -> str | None:
        return self.config["url"]

    async def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.config["api_key"]}
