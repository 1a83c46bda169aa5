"""maap-py 5.1.0, MAAP's official client, unchanged, against the MAAP sandbox over real HTTP.

maap-py is pointed at the sandbox the way a user points it at any MAAP host: ``MAAP_API_HOST_SCHEME=http``
(it defaults to https) and ``MAAP(maap_host="127.0.0.1:PORT")``; it reads ``api/environment/config``
and builds every URL from that answer. The ticket goes in ``MAAP_PGT`` (sent as ``proxy-ticket``).
Covered: the config, queues, submit (the ``monitor`` link), status, the ``DPSJob`` helpers over the WPS
routes (``wait_for_completion``, ``retrieve_status``, ``retrieve_result``, ``retrieve_metrics``,
``cancel_job``), OGC results and metrics, cancel of a running and of a queued job (OGC and WPS), the
job list, the search-index lag, and an expired ticket (a 401 that maap-py returns without raising).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any, TypeVar

import httpx
import pytest
from conftest import wait_for
from maap.dps.dps_job import DPSJob
from maap.maap import MAAP
from maap.utils import requests_utils

from jupyter_compute.sandbox.maap import (
    EXPIRED_TOKEN,
    MSG_INVALID_SESSION,
    MSG_NO_CREDENTIALS,
    VALID_TOKEN,
    MaapSandbox,
)

T = TypeVar("T")
TREES = "sample-trees.csv"
QUEUE = "maap-dps-worker-8gb"
SOLO = "maap-dps-sandbox"  # one worker slot: a second job waits (accepted)
WAIT_S = 120.0
WPS = "{http://www.opengis.net/wps/2.0}"
#: The S3 console URL maap-api-nasa appends to every WPS product (bare: the sandbox here has no S3).
CONSOLE = "https://s3.console.aws.amazon.com/s3/buckets/"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[MaapSandbox]:
    with MaapSandbox() as sb:
        yield sb


def connect(sb: MaapSandbox, monkeypatch: pytest.MonkeyPatch, ticket: str | None = VALID_TOKEN) -> MAAP:
    """maap-py's client for the sandbox, configured through its own environment variables."""
    monkeypatch.setenv("MAAP_API_HOST_SCHEME", "http")
    if ticket is None:
        monkeypatch.delenv("MAAP_PGT", raising=False)
    else:
        monkeypatch.setenv("MAAP_PGT", ticket)
    return MAAP(maap_host=sb.base_url.split("://", 1)[1])


@pytest.fixture
def maap(sandbox: MaapSandbox, monkeypatch: pytest.MonkeyPatch) -> MAAP:
    return connect(sandbox, monkeypatch)


def bounded(call: Callable[[], T], timeout: float = WAIT_S) -> T:
    """``call()`` in a thread, failing the test if it has not returned within ``timeout`` seconds.

    maap-py's ``wait_for_completion`` retries on any exception for up to 48 hours: a wrong answer
    would otherwise hang the test instead of failing it."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"maap-py did not return within {timeout:g} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def submit(maap: MAAP, algorithm: int, inputs: dict[str, Any], queue: str = QUEUE, **extra: Any) -> str:
    """``maap.submit_job``; the job id read from the answer's ``monitor`` link."""
    r = maap.submit_job(process_id=algorithm, inputs=inputs, queue=queue, **extra)
    assert r.status_code == 202, r.text
    body = r.json()
    monitor = next(link for link in body["links"] if link["rel"] == "monitor")
    job_id = monitor["href"].rstrip("/").rsplit("/", 1)[-1]
    assert job_id == body["jobID"] and body["status"] == "accepted"
    return job_id


def dps_job(maap: MAAP, job_id: str) -> DPSJob:
    job = DPSJob(maap.config)
    job.id = job_id
    return job


def ogc_status(maap: MAAP, job_id: str) -> str:
    r = maap.get_job_status(job_id)
    assert r.status_code == 200, r.text
    return r.json()["status"]


def wait_ogc(maap: MAAP, job_id: str, statuses: set[str]) -> str:
    return wait_for(lambda: (s := ogc_status(maap, job_id)) in statuses and s, f"status in {statuses}",
                    timeout=WAIT_S)


def test_config_gives_every_endpoint(maap: MAAP, sandbox: MaapSandbox) -> None:
    config = maap.config
    root = f"{sandbox.base_url}/api/"
    assert config.maap_api_root == root
    assert config.jobs_ogc == root + "ogc/jobs" and config.processes_ogc == root + "ogc/processes"
    assert config.deployment_jobs_ogc == root + "ogc/deploymentJobs" and config.dps_job == root + "dps/job"
    assert config.mas_algo == root + "mas/algorithm" and config.algorithm_register == root + "mas/algorithm"
    endpoints = {name: value for name, value in vars(config).items() if isinstance(value, str) and "://" in value}
    assert len(endpoints) >= 15 and not [n for n, v in endpoints.items() if v.endswith("/None")], endpoints


def test_queues(maap: MAAP, sandbox: MaapSandbox) -> None:
    r = maap.get_queues()
    assert r.status_code == 200 and r.json() == {"code": 200, "message": "success", "queues": list(sandbox.queues)}


def test_submit_wait_status_results_and_metrics(maap: MAAP, sandbox: MaapSandbox) -> None:
    job_id = submit(maap, sandbox.algorithms["row-stats"], {"granules": [TREES]}, tag="maap-py-run")
    assert ogc_status(maap, job_id) in {"accepted", "running", "successful"}

    job = dps_job(maap, job_id)
    assert bounded(lambda: job.wait_for_completion(initial_delay_seconds=0)) is job
    assert job.status == "Succeeded" and job.retrieve_status() == "Succeeded"
    assert ogc_status(maap, job_id) == "successful"

    outputs = job.retrieve_result()
    table_url = sandbox.file_url(job_id, "row_stats.csv")
    assert outputs == [table_url, CONSOLE, sandbox.file_url(job_id, "_stdout.txt"), CONSOLE,
                       sandbox.file_url(job_id, "_stderr.txt"), CONSOLE]
    rows = {r["column"]: r for r in csv.DictReader(io.StringIO(httpx.get(table_url).text))}
    assert int(rows["height_m"]["count"]) == 6 and float(rows["height_m"]["max"]) == 30.0

    metrics = job.retrieve_metrics()
    assert float(metrics["job_duration_seconds"]) > 0 and int(job.directory_size) > 0
    assert job.job_start_time.endswith("Z") and job.job_end_time >= job.job_start_time
    assert int(job.max_mem_usage) > 0 and job.machine_type == "sandbox-local"

    results = maap.get_job_result(job_id).json()
    assert [results[k]["id"] for k in results] == ["row_stats.csv", "_stdout.txt", "_stderr.txt"]
    assert results["additionalProp1"]["links"] == [{"href": table_url}]
    ogc_metrics = maap.get_job_metrics(job_id).json()
    assert ogc_metrics["job_duration_seconds"] > 0 and ogc_metrics["directory_size"] > 0


def test_a_failed_job_shows_its_traceback(maap: MAAP, sandbox: MaapSandbox) -> None:
    job_id = submit(maap, sandbox.algorithms["fail"], {"message": "no plots given"})
    job = bounded(lambda: dps_job(maap, job_id).wait_for_completion(initial_delay_seconds=0))
    assert job.status == "Failed"
    assert any("RuntimeError: no plots given" in (text or "") for text in job.retrieve_result())
    assert "RuntimeError: no plots given" in maap.get_job_result(job_id).json()["detail"]


def test_cancel_a_running_and_a_queued_job(maap: MAAP, sandbox: MaapSandbox) -> None:
    sleep = sandbox.algorithms["sleep"]
    for how in ("ogc", "wps"):
        running = submit(maap, sleep, {"seconds": 60}, queue=SOLO)
        assert wait_ogc(maap, running, {"running"}) == "running"
        queued = submit(maap, sleep, {"seconds": 60}, queue=SOLO)
        assert ogc_status(maap, queued) == "accepted"
        # the WPS result of a job no worker has started is a 500 ows:ExceptionReport: maap-py finds no outputs
        assert dps_job(maap, queued).retrieve_result() == [] and dps_job(maap, running).retrieve_result() == []
        if how == "ogc":
            r = maap.cancel_job(queued)
            assert r.status_code == 202 and r.json() == {"jobID": queued, "type": "process", "status": "dismissed"}
            r = maap.cancel_job(running)
            assert r.status_code == 202 and r.json()["status"] == "dismissed"
        else:
            for job_id in (queued, running):
                answer = ET.fromstring(dps_job(maap, job_id).cancel_job())
                assert answer.tag == f"{WPS}StatusInfo" and answer.findtext(f"{WPS}JobID") == job_id
                assert answer.findtext(f"{WPS}Status") == "Accepted"  # as maap-api-nasa: job-queued
        assert maap.get_job_status(queued).status_code == 404  # a queued job is purged
        assert dps_job(maap, queued).retrieve_status() == "Deleted"
        job = bounded(lambda: dps_job(maap, running).wait_for_completion(initial_delay_seconds=0))  # noqa: B023 — called at once
        assert job.status == "Dismissed" and ogc_status(maap, running) == "dismissed"
        refused = maap.cancel_job(running)
        assert refused.status_code == 400
        assert refused.json()["detail"] == "Not allowed to cancel job with status job-revoked"


def test_list_jobs(maap: MAAP, sandbox: MaapSandbox) -> None:
    word_count = sandbox.algorithms["word-count"]
    ids = [submit(maap, word_count, {"granules": ["sample-text.txt"]}, tag="maap-py-list") for _ in range(3)]
    for job_id in ids:
        wait_ogc(maap, job_id, {"successful"})
    r = maap.list_jobs(tag="maap-py-list")  # getJobDetails=True, pageSize=10
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == 200 and [j["jobID"] for j in body["jobs"]] == ids[::-1]  # newest first
    assert all(j["job_queue"] == QUEUE and j["status"] == "successful" for j in body["jobs"])
    brief = maap.list_jobs(process_id=word_count, get_job_details=False, page_size=2).json()["jobs"]
    assert [j["jobID"] for j in brief] == ids[:0:-1]
    assert set(brief[0]) == {"jobID", "type", "status", "job_type"}
    assert maap.list_jobs(process_id=999).json()["jobs"] == []


def test_execute_with_maap_py_wps_template(maap: MAAP, sandbox: MaapSandbox) -> None:
    """maap-py 5.1 ships the WPS Execute template (``maap/dps/execute.xml``) but no method sends it:
    its own request helper sends it here."""
    templates = resources.files("maap.dps")
    one_input = (templates / "execute_inputs.xml").read_text()
    inputs = "".join(one_input.format(name=k, value=v) for k, v in
                     {"granules": f'["{TREES}"]', "queue": QUEUE, "identifier": "maap-py-wps"}.items())
    xml = (templates / "execute.xml").read_text().format(algo_id="row-stats", version="main", other_inputs=inputs)
    answer = requests_utils.make_dps_request(maap.config.dps_job, maap.config, content_type="application/xml",
                                             request_type=requests_utils.POST, data=xml)
    root = ET.fromstring(answer)
    assert root.tag == f"{WPS}StatusInfo" and root.findtext(f"{WPS}Status") == "Accepted"
    job_id = root.findtext(f"{WPS}JobID")
    job = bounded(lambda: dps_job(maap, job_id).wait_for_completion(initial_delay_seconds=0))
    assert job.status == "Succeeded" and job.retrieve_result()[0] == sandbox.file_url(job_id, "row_stats.csv")
    tags = maap.list_jobs(tag="maap-py-wps").json()["jobs"]
    assert [j["jobID"] for j in tags] == [job_id]


def test_a_fresh_job_is_not_found_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search-index lag: for a few seconds the OGC routes answer 404 and the WPS status "Deleted";
    maap-py's wait treats "Deleted" as not finished and waits it out."""
    with MaapSandbox(index_lag_s=2.0) as sb:
        maap = connect(sb, monkeypatch)
        job_id = submit(maap, sb.algorithms["word-count"], {"granules": ["sample-text.txt"]})
        r = maap.get_job_status(job_id)
        assert r.status_code == 404 and r.json()["type"].endswith("no-such-job")
        job = dps_job(maap, job_id)
        assert job.retrieve_status() == "Deleted"
        assert bounded(lambda: job.wait_for_completion(initial_delay_seconds=0)).status == "Succeeded"


def test_an_expired_ticket_is_refused(sandbox: MaapSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    done = submit(connect(sandbox, monkeypatch), sandbox.algorithms["word-count"], {"granules": ["sample-text.txt"]})
    maap = connect(sandbox, monkeypatch, ticket=EXPIRED_TOKEN)
    invalid = {"message": MSG_INVALID_SESSION, "code": 401}
    for r in (maap.get_queues(), maap.submit_job(process_id=1, inputs={"granules": [TREES]}, queue=QUEUE),
              maap.get_job_status(done), maap.get_job_result(done), maap.get_job_metrics(done),
              maap.list_jobs(), maap.cancel_job(done)):
        assert (r.status_code, r.json()) == (401, invalid), r.request.url  # returned, not raised (maap-py)
    assert json.loads(dps_job(maap, done).cancel_job()) == invalid
    assert dps_job(maap, done).retrieve_status() in {"Accepted", "Running", "Succeeded"}  # WPS GETs need no ticket

    unset = connect(sandbox, monkeypatch, ticket=None)
    r = unset.get_queues()
    assert (r.status_code, r.json()) == (401, {"message": MSG_NO_CREDENTIALS, "code": 401})
