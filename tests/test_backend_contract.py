"""Parts of the backend contract the server keeps for every backend: a backend that fails to start is
closed, and an unexpected error reaches users and subscribers named by its type, never by its text
(which may quote a setting)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_compute.backends.base import Backend, Submission
from jupyter_compute.models import JobSpec

SETTING = "https://user:SETTING-7f3a91@platform.example/api"
#: Names of the backends whose close() ran (this module is imported by the server as their kind).
CLOSED: list[str] = []


class FailingStartBackend(Backend):
    """Opens something at start, then fails; its close records that it ran."""

    kind = "failing-start"

    async def start(self) -> None:
        self.opened = True
        raise RuntimeError(f"cannot reach {SETTING}")

    async def close(self) -> None:
        CLOSED.append(self.name)
        await super().close()


class LeakySubmitBackend(Backend):
    """Its submit fails with a text that quotes a setting."""

    kind = "leaky-submit"

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        raise ValueError(f"bad url {SETTING}")


@pytest.fixture
def compute_config(server_log: list[str]) -> dict[str, Any]:
    return {"backends": {
        "local": {"kind": "local"},
        "broken": {"kind": "test_backend_contract:FailingStartBackend"},
        "leaky": {"kind": "test_backend_contract:LeakySubmitBackend"},
    }}


async def test_a_backend_that_fails_to_start_is_closed_and_says_why_by_type(api, jp_serverapp) -> None:
    assert "broken" in CLOSED, "what its start opened is closed"
    backends = {b["name"]: b for b in (await api("GET", "backends")).body["backends"]}
    assert backends["broken"]["available"] is False
    assert backends["broken"]["message"] == "it failed to start (RuntimeError)"
    assert backends["local"]["available"] is True


async def test_an_unexpected_submission_error_is_named_by_its_type_only(api, jp_serverapp,
                                                                      server_log: list[str]) -> None:
    reply = await api("POST", "jobs", body={"backend": "leaky", "command": "true", "name": "leaky"})
    assert reply.status == 502, reply.body
    assert reply.body["error"]["message"] == "submission failed (ValueError)"
    jobs = (await api("GET", "jobs", params={"backend": "leaky"})).body["jobs"]
    assert [(job["state"], job["message"]) for job in jobs] == [("FAILED", "submission failed (ValueError)")]
    everything = str(reply.body) + str(jobs) + str((await api("GET", "jobs", jobs[0]["id"])).body)
    assert "SETTING-7f3a91" not in everything
    assert any("submission failed (ValueError)" in line for line in server_log)
    assert not [line for line in server_log if "SETTING-7f3a91" in line], "nor in the server's log"
