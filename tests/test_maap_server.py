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
from test_sandbox_maap import PRODUCT_FOLDER, register_folder_algorithm

from jupyter_compute.client import Client
from jupyter_compute.results import read_frame
from jupyter_compute.sandbox.maap import VALID_TOKEN, MaapSandbox

TREES = "sample-trees.csv"
QUEUE = "maap-dps-worker-8gb"


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


class TestOgcLagAndProductFolders:
    """The OGC flavour through the server, with MAAP's search-index lag: a cancel in the first seconds
    cancels (never a failure while the job runs on); a product folder's CSV loads with ``to_pandas``."""

    @pytest.fixture
    def sandbox(self):
        with MaapSandbox(index_lag_s=2.0) as sb:
            yield sb

    @pytest.fixture
    def folder_pid(self, sandbox, tmp_path):
        return register_folder_algorithm(sandbox, tmp_path)

    @pytest.fixture
    def compute_config(self, sandbox, monkeypatch):
        monkeypatch.setenv("MAAP_PGT", VALID_TOKEN)
        return {"backends": {"maap": {"kind": "maap", "flavor": "ogc", "url": sandbox.url}}}

    async def test_cancel_right_after_submit(self, api, sandbox, jp_serverapp):
        reply = await api("POST", "jobs", body={"backend": "maap", "algorithm": "4", "inputs": [TREES],
                                                "environment": QUEUE, "params": {"seconds": 60}})
        assert reply.status == 201, reply.body
        cancelled = await api("POST", "jobs", reply.body["id"], "cancel")
        assert cancelled.status == 200, cancelled.body
        job = await wait_state(api, reply.body["id"])
        assert (job["state"], job["native_status"]) == ("CANCELLED", "dismissed"), job

    async def test_a_product_folder_loads_as_a_frame(self, api, folder_pid, jp_serverapp, jp_http_port, jp_base_url):
        reply = await api("POST", "jobs", body={"backend": "maap", "algorithm": str(folder_pid),
                                                "inputs": [TREES], "environment": QUEUE})
        assert reply.status == 201, reply.body
        job = await wait_state(api, reply.body["id"])
        assert job["state"] == "SUCCEEDED", job
        names = {r["name"] for r in (await api("GET", "jobs", job["id"], "results")).body["results"]}
        assert {f"{PRODUCT_FOLDER}/biomass.csv", f"{PRODUCT_FOLDER}/extra/notes.txt", "summary.txt"} <= names

        def load():
            with Client(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token) as c:
                return c.to_pandas(job["id"]), c.to_pandas(job["id"], f"{PRODUCT_FOLDER}/")

        only, folder = await asyncio.to_thread(load)
        assert only.to_dict("list") == {"plot": [1, 2, 3], "biomass": [10.5, 20.5, 30.5]}
        assert folder.equals(only)
