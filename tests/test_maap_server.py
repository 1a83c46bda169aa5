"""MAAP (swagger flavour) through the Jupyter server: REST submit → the three DPS calls → SUCCEEDED
driven by the platform's callbacks alone, or by polling alone when no callback can reach us."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import urlsplit
from collections.abc import Iterator

import pytest

from test_backend_maap import access_log

from jupyter_compute.results import read_frame
from jupyter_compute.sandbox.maap import MaapSandbox

TREES = "sample-trees.csv"


@pytest.fixture
def sandbox() -> Iterator[MaapSandbox]:
    with MaapSandbox() as sb:
        yield sb


async def wait_state(api, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = (await api("GET", "jobs", job_id)).body
        if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"):
            return job
        assert time.monotonic() < deadline, f"still {job['state']}: {job}"
        await asyncio.sleep(0.1)


async def dps_posts(log, count: int, timeout: float = 5.0) -> list[str]:
    """The first ``count`` swagger POSTs in the sandbox's access log (it logs just after answering)."""
    deadline = time.monotonic() + timeout
    while True:
        posts = [line for line in log.lines if line.startswith("POST /api/v1/")]
        if len(posts) >= count or time.monotonic() > deadline:
            return posts
        await asyncio.sleep(0.02)


async def submit_and_finish(api, sandbox) -> dict:
    with access_log() as log:
        reply = await api("POST", "jobs", body={"backend": "maap", "algorithm": "row-stats", "inputs": [TREES],
                                                "name": "tree stats"})
        assert reply.status == 201, reply.body
        posts = await dps_posts(log, 3)
    assert len(posts) == 3 and posts[0] == "POST /api/v1/jobs", posts
    assert re.fullmatch(r"POST /api/v1/jobs/[^/]+/submit", posts[1]), posts
    assert re.fullmatch(r"POST /api/v1/jobentries/[^/]+/run", posts[2]), posts
    job = await wait_state(api, reply.body["id"])
    assert job["state"] == "SUCCEEDED", job
    frame = read_frame((await api("GET", "jobs", job["id"], "results", "row_stats.csv")).body.encode(),
                       "row_stats.csv")
    height = frame.set_index("column").loc["height_m"]
    assert height["count"] == 6 and height["max"] == 30.0
    return job


class TestCallbacksOnly:
    @pytest.fixture
    def compute_config(self, sandbox):
        # polling switched off: only the platform's callbacks can move the job
        return {"backends": {"maap": {"kind": "maap", "flavor": "swagger", "url": sandbox.url,
                                      "poll_interval_s": 1e6}}}

    async def test_webhooks_drive_the_job(self, api, sandbox, jp_serverapp):
        await submit_and_finish(api, sandbox)
        answered = [record.get("status") for record in sandbox.callback_log]
        assert answered and set(answered) == {204}, sandbox.callback_log


    async def test_a_body_that_is_not_a_step_is_refused(self, api, sandbox, jp_serverapp, http_server_client):
        job = await submit_and_finish(api, sandbox)
        url = jp_serverapp.web_app.settings["jupyter_compute"].callback_url("maap", job["id"])
        for body in (b'{"index": "first", "status": "DONE"}', b"[]", b"not json"):
            refused = await http_server_client.fetch(urlsplit(url).path, method="POST", body=body, raise_error=False)
            assert refused.code == 400, body
        after = (await api("GET", "jobs", job["id"])).body
        assert (after["state"], after["updated"]) == (job["state"], job["updated"]), "the job is untouched"


class TestPollingOnly:
    @pytest.fixture
    def compute_config(self, sandbox):
        # callbacks go nowhere (a closed port): polling alone must finish the job
        return {"webhook_base_url": "http://127.0.0.1:9/",
                "backends": {"maap": {"kind": "maap", "flavor": "swagger", "url": sandbox.url}}}

    async def test_polling_finishes_the_job(self, api, sandbox, jp_serverapp):
        await submit_and_finish(api, sandbox)
        assert sandbox.callback_log and all("error" in record for record in sandbox.callback_log)
