"""A submission's outcome is a state, not a guess: with a fault-injecting proxy in front of the MAAP
stand-in (OGC flavour, which finds a job by the tag carrying our id), a lost answer leaves the job
queued while the server looks it up on the platform and adopts it; a request that never reached the
platform fails, and a retry with the same Idempotency-Key sends it again; a job the platform does not
show ends UNKNOWN with words, never FAILED. The stand-in's own job list is the judge (the campaign of
many submissions with mixed faults is in campaigns/test_fault_campaign.py, run by scripts/bench.sh)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import free_port, wait_for_job
from fault_proxy import FaultProxy
from platform_views import maap_jobs_tagged, maap_process_id
from jupyter_compute.sandbox.maap import VALID_TOKEN, MaapSandbox

TREES = "sample-trees.csv"
QUEUE = "maap-dps-worker-8gb"
FINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}


@pytest.fixture
def sandbox() -> Iterator[MaapSandbox]:
    with MaapSandbox() as sb:
        yield sb


@pytest.fixture
def faults() -> dict[str, str]:
    """What the proxy does with the next job submission (``POST …/execution``); everything else passes."""
    return {"execution": "pass"}


@pytest.fixture
def proxy_port() -> int:
    return free_port()


@pytest.fixture
def compute_config(sandbox, faults, proxy_port, monkeypatch):
    monkeypatch.setenv("MAAP_PGT", VALID_TOKEN)
    return {"backends": {"maap": {"kind": "maap", "flavor": "ogc", "url": f"http://127.0.0.1:{proxy_port}/api/",
                                  "token_env": "MAAP_PGT", "confirm_window_s": 4}}}


def start_proxy(sandbox: MaapSandbox, faults: dict[str, str], port: int) -> FaultProxy:
    def plan(method: str, path: str) -> str:
        if method == "POST" and path.endswith("/execution"):
            action, faults["execution"] = faults["execution"], "pass"  # one fault, then the platform behaves
            return action
        return "pass"

    return FaultProxy(sandbox.base_url, plan, port=port).__enter__()


def spec(sandbox: MaapSandbox, name: str) -> dict:
    return {"backend": "maap", "algorithm": maap_process_id(sandbox, "row-stats"), "inputs": [TREES], "environment": QUEUE, "name": name}


@pytest.mark.parametrize("fault", ["lose-answer", "fail-after"])
async def test_a_lost_answer_is_looked_up_and_the_job_adopted(api, jp_serverapp, sandbox, faults, proxy_port, fault):
    proxy = start_proxy(sandbox, faults, proxy_port)
    try:
        faults["execution"] = fault
        reply = await api("POST", "jobs", body=spec(sandbox, f"answer {fault}"))
        assert reply.status == 201, reply.body
        assert reply.body["state"] == "QUEUED" and reply.body["native_status"] == "confirming submission", reply.body
        assert "looking the job up" in reply.body["message"]
        job = await wait_for_job(api, reply.body["id"], lambda j: j["state"] in FINAL, "the adopted job to finish")
        assert job["state"] == "SUCCEEDED", job
        assert maap_jobs_tagged(sandbox, job["id"]) == [job["remote_id"]], "one platform job, the one adopted"
    finally:
        proxy.__exit__()


async def test_a_request_that_never_reached_the_platform_is_sent_again_on_retry(api, jp_serverapp, sandbox, faults,
                                                                                 proxy_port):
    body = {**spec(sandbox, "platform down"), "idempotency_key": "retry-me"}
    down = await api("POST", "jobs", body=body)  # nothing listens on the proxy's port: connection refused
    assert down.status == 502, down.body
    first = (await api("GET", "jobs", down.body["error"]["job_id"])).body
    assert first["state"] == "FAILED" and first["native_status"] == "not submitted", first

    proxy = start_proxy(sandbox, faults, proxy_port)  # the platform is back
    try:
        again = await api("POST", "jobs", body=body)
        assert again.status == 201 and again.body["id"] == first["id"], again.body
        job = await wait_for_job(api, first["id"], lambda j: j["state"] in FINAL, "the re-sent job to finish")
        assert job["state"] == "SUCCEEDED", (job["native_status"], job["message"], job["started"], job["finished"])
        assert maap_jobs_tagged(sandbox, job["id"]) == [job["remote_id"]]
        twice = await api("POST", "jobs", body=body)
        assert twice.status == 200 and twice.body["id"] == first["id"], "a finished job is not sent a third time"
    finally:
        proxy.__exit__()


async def test_a_lost_request_the_platform_never_saw_ends_unknown_with_words(api, jp_serverapp, sandbox, faults,
                                                                             proxy_port):
    proxy = start_proxy(sandbox, faults, proxy_port)
    try:
        faults["execution"] = "drop"  # the connection breaks before the platform sees the request
        reply = await api("POST", "jobs", body=spec(sandbox, "never arrived"))
        assert reply.status == 201 and reply.body["native_status"] == "confirming submission", reply.body
        job = await wait_for_job(api, reply.body["id"], lambda j: j["state"] != "QUEUED", "the look-up to give up")
        assert job["state"] == "UNKNOWN" and job["native_status"] == "submission answer lost", job
        assert "not found on the platform within 4 s" in job["message"], job
        assert maap_jobs_tagged(sandbox, job["id"]) == []
    finally:
        proxy.__exit__()
