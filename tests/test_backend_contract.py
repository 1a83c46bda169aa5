"""Parts of the backend contract the server keeps for every backend: a backend that fails to start is
closed; an unexpected error reaches users and subscribers named by its type, never by its text (which
may quote a setting); a result stream is closed as soon as its reader goes away."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import until

from jupyter_compute.backends.base import Backend, Capabilities, Submission
from jupyter_compute.models import JobSpec, JobState, RemoteStatus, ResultFile

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


#: The threads ``CountingBackend.validate`` ran on, one entry per call.
VALIDATED_ON: list[str] = []


class CountingBackend(Backend):
    """Notes where each validation runs; its jobs finish at once."""

    kind = "counting"

    def validate(self, spec: JobSpec) -> JobSpec:
        VALIDATED_ON.append(threading.current_thread().name)
        return spec

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        spec = await self.validated(spec)
        return Submission(job_id, RemoteStatus(JobState.SUCCEEDED, "done"))

    async def status(self, remote_id: str) -> RemoteStatus:
        return RemoteStatus(JobState.SUCCEEDED, "done")


#: Remote ids whose result stream was closed (its generator's ``finally`` ran).
STREAMS_CLOSED: list[str] = []


class EndlessResultBackend(Backend):
    """A finished job whose one result never ends: the reader decides when to stop."""

    kind = "endless-result"
    capabilities = Capabilities(has_results=True)

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        return Submission(job_id, RemoteStatus(JobState.SUCCEEDED, "done"))

    async def status(self, remote_id: str) -> RemoteStatus:
        return RemoteStatus(JobState.SUCCEEDED, "done")

    async def results(self, remote_id: str) -> list[ResultFile]:
        return [ResultFile(name="endless.txt", size=None, media_type="text/plain")]

    async def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * 65536
                await asyncio.sleep(0.01)
        finally:
            STREAMS_CLOSED.append(remote_id)


@pytest.fixture
def compute_config(server_log: list[str]) -> dict[str, Any]:
    return {"backends": {
        "local": {"kind": "local"},
        "broken": {"kind": "test_backend_contract:FailingStartBackend"},
        "leaky": {"kind": "test_backend_contract:LeakySubmitBackend"},
        "endless": {"kind": "test_backend_contract:EndlessResultBackend"},
        "counting": {"kind": "test_backend_contract:CountingBackend"},
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


async def test_a_result_stream_is_closed_when_its_reader_goes_away(api, jp_serverapp, jp_http_port,
                                                                   jp_base_url) -> None:
    job = (await api("POST", "jobs", body={"backend": "endless", "command": "true"})).body
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}compute/api/jobs/{job['id']}/results/endless.txt"
    headers = {"Authorization": f"token {jp_serverapp.identity_provider.token}"}
    gc.disable()  # only the server's own closing counts, not a collection that happens to come by
    try:
        async with httpx.AsyncClient(timeout=60) as client, client.stream("GET", url, headers=headers) as answer:
            assert answer.status_code == 200
            async for _ in answer.aiter_bytes():
                break  # read the first bytes, then hang up
        await until(lambda: job["id"] in STREAMS_CLOSED, "the backend's stream to be closed", timeout=60)
    finally:
        gc.enable()


async def test_a_submission_is_validated_once_off_the_event_loop(api, jp_serverapp) -> None:
    VALIDATED_ON.clear()
    reply = await api("POST", "jobs", body={"backend": "counting", "command": "true"})
    assert reply.status == 201, reply.body
    assert len(VALIDATED_ON) == 1, f"validated {len(VALIDATED_ON)} times: the service's check is reused by submit"
    assert VALIDATED_ON[0] != threading.main_thread().name, "validate runs in a thread, never on the event loop"
