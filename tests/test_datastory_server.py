"""The datastory backend through the Jupyter server: a DataFrame (or a CSV) in → an algorithm on the
Datastory sandbox → the result file out through the REST API, on HDFS (WebHdfsSandbox) and on CEPH
(moto's S3 server); bad specs refused with nothing submitted; no secret anywhere the server writes;
and the demo notebook against a live server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
from conftest import (
    THIRD_PARTY_WIRE_LOGGERS,
    Recorder,
    job_store_bytes,
    run_demo_notebook,
    s3_client,
    start_live_server,
    stored_notebook,
    wait_for_state,
)

from jupyter_compute.results import read_frame
from jupyter_compute.sandbox.datastory import DatastorySandbox
from jupyter_compute.sandbox.webhdfs import WebHdfsSandbox

# distinct, recognisable secret values: none may leave the server's memory
TOKEN = "ds-token-SECRET-7f3a91c2"
CEPH_KEY = "CEPHKEY-SECRET-5b2c88aa"
CEPH_SECRET = "ceph-secret-SECRET-9d4e0f17"
SECRETS = (TOKEN, CEPH_KEY, CEPH_SECRET)
EMAIL = "analyst@example.org"
FRAME = pd.DataFrame({"city": ["paris", "lyon", "nice", "lille"],
                      "population": [2100, 520, 340, 235],
                      "area_km2": [105.4, 47.87, 71.9, 34.8]})


# --- sandboxes ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform() -> Iterator[DatastorySandbox]:
    with DatastorySandbox(token=TOKEN) as sb:
        yield sb


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> tuple[str, int]:
    s3_client(s3_endpoint, CEPH_KEY, CEPH_SECRET).create_bucket(Bucket="lake")
    address = urlsplit(s3_endpoint)
    return address.hostname, address.port


def backend_config(platform: DatastorySandbox, hdfs: WebHdfsSandbox, s3: tuple[str, int]) -> dict[str, Any]:
    return {"kind": "datastory", "url": platform.url, "token_env": "DS_TOKEN",
            "poll_interval_s": 0.1,
            "storage": {
                "hdfs-main": {"type": "HDFS", "host": hdfs.host, "port": hdfs.port, "user": "alice"},
                "ceph": {"type": "CEPH", "host": s3[0], "port": s3[1], "bucket": "lake",
                         "access_key_env": "DS_CEPH_KEY", "secret_key_env": "DS_CEPH_SECRET"},
            }}


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_TOKEN", TOKEN)
    monkeypatch.setenv("DS_CEPH_KEY", CEPH_KEY)
    monkeypatch.setenv("DS_CEPH_SECRET", CEPH_SECRET)


@pytest.fixture
def compute_config(platform, hdfs, s3, secret_env, server_log) -> dict[str, Any]:
    return {"backends": {"datastory": backend_config(platform, hdfs, s3)}}


async def frame_input(rec: Recorder) -> str:
    """FRAME uploaded to the server as CSV (``POST uploads``, as the client does): its path there."""
    stored = await rec("POST", "uploads", params={"name": "cities.csv"},
                       raw_body=FRAME.to_csv(index=False).encode())
    assert stored.status == 201, stored.body
    return stored.body["path"]


async def round_trip(rec: Recorder, **extra: Any) -> pd.DataFrame:
    reply = await rec("POST", "jobs", body={
        "backend": "datastory", "algorithm": "column-summary", "inputs": [await frame_input(rec)],
        "name": "city summary", "extra": {"email": EMAIL, **extra}})
    assert reply.status == 201, reply.body
    job = await wait_for_state(rec, reply.body["id"], {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"})
    assert job["state"] == "SUCCEEDED", job
    listing = await rec("GET", "jobs", job["id"], "results")
    assert listing.status == 200, listing.body
    names = [r["name"] for r in listing.body["results"]]
    part = next(n for n in names if n.endswith("part-00000.csv"))
    answer = await rec("GET", "jobs", job["id"], "results", part)
    assert answer.status == 200, answer.body
    body = answer.body if isinstance(answer.body, str) else str(answer.body)
    return read_frame(body.encode(), "part-00000.csv")


def check_summary(summary: pd.DataFrame) -> None:
    summary = summary.set_index("column")
    assert list(summary.index) == ["city", "population", "area_km2"]
    assert summary.loc["city", "count"] == 4 and pd.isna(summary.loc["city", "mean"])
    assert summary.loc["population", "mean"] == pytest.approx(798.75)
    assert summary.loc["population", "min"] == 235 and summary.loc["population", "max"] == 2100
    assert summary.loc["area_km2", "max"] == pytest.approx(105.4)


# --- round trips -------------------------------------------------------------------------------


async def test_hdfs_round_trip_through_rest(rec, tmp_path, platform, hdfs, jp_serverapp) -> None:
    before = len(platform.submissions)
    check_summary(await round_trip(rec))  # the default profile is the first: HDFS
    sent = platform.submissions[before:]
    assert len(sent) == 1 and sent[0]["inputFileSystemInfo"]["fileSystemType"] == "HDFS"
    # the uploaded input really landed on the HDFS sandbox
    uploaded = sent[0]["inputFileSystemInfo"]["inputPath"]
    assert pd.read_csv(hdfs.local_path(uploaded)).equals(FRAME)


async def test_ceph_round_trip_through_rest(rec, tmp_path, platform, jp_serverapp) -> None:
    before = len(platform.submissions)
    check_summary(await round_trip(rec, storage="ceph"))
    sent = platform.submissions[before:]
    assert len(sent) == 1 and sent[0]["inputFileSystemInfo"]["fileSystemType"] == "CEPH"
    assert sent[0]["inputFileSystemInfo"]["inputPath"].startswith("lake#")


async def test_client_in_a_thread_takes_a_dataframe(api, platform, jp_serverapp, jp_http_port,
                                                    jp_base_url) -> None:
    # ``api`` (jp_fetch) makes the in-process server listen on jp_http_port
    from jupyter_compute.client import Client

    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    token = jp_serverapp.identity_provider.token

    def work() -> pd.DataFrame:
        with Client(url, token) as client:
            job = client.submit(backend="datastory", algorithm="column-summary", inputs=[FRAME],
                                extra={"email": EMAIL}, tags=["ds-client"])
            job.wait(timeout=60)
            assert job.state.value == "SUCCEEDED", job
            assert job.spec.inputs[0].endswith(".csv"), "the frame became a server-side path"
            return job.to_pandas()

    check_summary(await asyncio.to_thread(work))


# --- bad input: 400 naming the field, nothing submitted, nothing recorded -------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"extra": {}}, "extra.email"),
    ({"extra": {"email": "not-an-email"}}, "extra.email"),
    ({"extra": {"email": EMAIL, "storage": "no-such-profile"}}, "extra.storage"),
    ({"inputs": ["/definitely/not/here.csv"]}, "inputs"),
    ({"inputs": ["file:///definitely/not/here.csv"]}, "inputs"),
    ({"inputs": ["file:///proc/self/environ"]}, "inputs"),  # the server's own secrets: never uploaded
])
async def test_bad_specs_are_refused_before_reaching_the_platform(rec, tmp_path, platform, jp_serverapp,
                                                                 change, field) -> None:
    before_total = (await rec("GET", "jobs")).body["total"]
    before_sent = len(platform.submissions)
    body = {"backend": "datastory", "algorithm": "column-summary", "inputs": [await frame_input(rec)],
            "extra": {"email": EMAIL}, **change}
    reply = await rec("POST", "jobs", body=body)
    assert reply.status == 400, reply.body
    assert reply.body["error"].get("field") == field, reply.body
    assert len(platform.submissions) == before_sent, "nothing reached the platform"
    assert (await rec("GET", "jobs")).body["total"] == before_total, "no job recorded"


# --- secrets -----------------------------------------------------------------------------------


async def test_no_secret_in_answers_log_or_job_store(rec, tmp_path, platform, jp_serverapp, server_log,
                                                    caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in THIRD_PARTY_WIRE_LOGGERS:
        caplog.set_level(logging.INFO, logger=name)
    await round_trip(rec)
    await round_trip(rec, storage="ceph")
    # a failing task, a refused spec, an unknown result, the lists and backend descriptions
    failed = await rec("POST", "jobs", body={"backend": "datastory", "algorithm": "fail",
                                             "inputs": [await frame_input(rec)],
                                             "extra": {"email": EMAIL, "storage": "ceph"}})
    assert failed.status == 201, failed.body
    await wait_for_state(rec, failed.body["id"], {"FAILED"})
    assert (await rec("POST", "jobs", body={"backend": "datastory", "algorithm": "x",
                                            "inputs": ["/nope.csv"], "extra": {"email": EMAIL}})).status == 400
    assert (await rec("GET", "jobs", failed.body["id"], "results", "nope.csv")).status in (400, 404, 409)
    for path in (("jobs",), ("backends",), ("backends", "datastory", "form")):
        assert (await rec("GET", *path)).status == 200
    jobs = (await rec("GET", "jobs")).body["jobs"]
    assert len(jobs) >= 3
    for job in jobs:
        await rec("GET", "jobs", job["id"])
        await rec("GET", "jobs", job["id"], "results")

    store_bytes = job_store_bytes(jp_serverapp)
    log_text = "\n".join(server_log) + "\n" + caplog.text
    assert "compute/api/jobs" in log_text, "the capture sees the server's own log lines"
    assert "jupyter-compute: backends datastory" in log_text, "and the extension's, from its start"
    answers = "\n".join(rec.texts)
    assert "SUCCEEDED" in answers and "column-summary" in store_bytes.decode("latin-1")
    for secret in SECRETS:
        assert secret not in answers, f"{secret!r} in a REST answer"
        assert secret not in log_text, f"{secret!r} in the server log"
        assert secret.encode() not in store_bytes, f"{secret!r} in the job store"
    # and the platform never saw the CEPH secret in clear in what it keeps for tests
    assert CEPH_SECRET not in repr(platform.submissions)


# --- the demo notebook against a live server --------------------------------------------------


def test_datastory_notebook_is_stored_without_outputs() -> None:
    stored_notebook("datastory.ipynb")


def test_datastory_notebook_runs_against_a_server_configured_for_a_real_platform(tmp_path, platform, hdfs,
                                                                              s3) -> None:
    """A backend named as a user would, with an HDFS and a CEPH profile, on stand-ins the test runs."""
    # the secrets reach the server through its environment (the secret_env fixture)
    server = start_live_server(tmp_path / "jupyter", backends={"my-datastory": backend_config(platform, hdfs, s3)})
    try:
        _, text = run_demo_notebook("datastory.ipynb", server.kernel_env("DS_TOKEN", "DS_CEPH_KEY", "DS_CEPH_SECRET"))
        assert (f"Backend 'my-datastory': the Datastory platform at {platform.url}, storage profiles ceph, hdfs-main "
                "— a real Datastory platform, configured on the server") in text, text
        assert "population: mean 798.75 over 4 cities (hdfs-main)" in text, text
        assert "population: mean 798.75 over 4 cities (ceph)" in text, text
        assert "same answer as on hdfs-main: True" in text
        for secret in SECRETS:
            assert secret not in text
        with server.client() as client:
            jobs = client.jobs(tag="datastory-demo")
            assert {(j.name, j.state.value) for j in jobs} == {("city summary (hdfs-main)", "SUCCEEDED"),
                                                               ("city summary (ceph)", "SUCCEEDED")}
            for job in jobs:
                population = job.to_pandas().set_index("column").loc["population"]
                assert (population["count"], population["mean"], population["max"]) == (4, 798.75, 2100)
    finally:
        server.stop()
    server.checked_log(SECRETS)
