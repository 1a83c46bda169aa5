"""The MAAP DPS sandbox over real HTTP: the swagger flavour (three-call flow, validation, callbacks,
paging, failures, S3 upload, index lag) and the live OGC flavour (auth, queues, execute → follow →
results, dismiss rules, paging without total, dedup), and the older WPS routes (``dps/job``) as
maap-api-nasa answers them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jsonschema
import pytest
from conftest import s3_client, wait_for

from jupyter_compute.sandbox.maap import (
    EXPIRED_TOKEN,
    MSG_INVALID_SESSION,
    MSG_NO_CREDENTIALS,
    VALID_TOKEN,
    MaapSandbox,
)
from jupyter_compute.sandbox.maap.swagger import RESPONSE_SCHEMAS

CSV = "x,y,name\n1,10,a\n2,20,b\n3,60,c\n"
#: Every endpoint name maap-py 5.1's MaapConfig reads from ``maap_endpoint``.
CONFIG_ENDPOINTS = (
    "algorithm_register", "algorithm_build", "mas_algo", "dps_job", "processes_ogc", "deployment_jobs_ogc",
    "jobs_ogc", "member_dps_token", "requester_pays", "edc_credentials", "workspace_bucket_credentials",
    "s3_signed_url", "wmts", "member", "search_granule_url", "search_collection_url",
)
AUTH = {"proxy-ticket": VALID_TOKEN}
TERMINAL = {"SUCCESS", "ERROR", "TIMEOUT", "CANCELED"}
OGC_TERMINAL = {"successful", "failed", "dismissed", "deduped", "offline"}


def check(model: str, body: Any) -> None:
    jsonschema.Draft4Validator(RESPONSE_SCHEMAS[model]).validate(body)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[MaapSandbox]:
    with MaapSandbox(granules={"G-CSV": CSV, "G-TEXT": b"one two two three three three\n"}) as sb:
        yield sb


@pytest.fixture
def api(sandbox: MaapSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        yield client


def define(api: httpx.Client, algorithm: str, granules: list[dict[str, str]], name: str = "t") -> str:
    r = api.post("v1/jobs", json={"job_name": name, "algorithm_id": algorithm, "data_collection": granules,
                                  "status": "ACTIVE", "description": "test job"})
    assert r.status_code == 200, r.text
    check("Job", r.json())
    return r.json()["job_id"]


def submit(api: httpx.Client, job_id: str) -> str:
    r = api.post(f"v1/jobs/{job_id}/submit")
    assert r.status_code == 200, r.text
    check("SubmitJobResponse", r.json())
    return r.json()["entry_id"]


def run_entry(api: httpx.Client, entry_id: str, callback_uri: str = "") -> None:
    r = api.post(f"v1/jobentries/{entry_id}/run", json={"callback_uri": callback_uri})
    assert r.status_code == 204, r.text
    assert r.content == b""


def wait_entry(api: httpx.Client, entry_id: str, timeout: float = 15.0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body = api.get(f"v1/jobentries/{entry_id}").json()
        return body if body["status"] in TERMINAL else None

    entry = wait_for(probe, "the entry to end", timeout=timeout)
    check("JobEntry", entry)
    return entry


def run_algorithm(api: httpx.Client, algorithm: str, granules: list[dict[str, str]]) -> dict[str, Any]:
    entry_id = submit(api, define(api, algorithm, granules))
    run_entry(api, entry_id)
    return wait_entry(api, entry_id)


# ---------------------------------------------------------------------------------------- swagger
def test_swagger_three_call_flow_to_success(sandbox: MaapSandbox, api: httpx.Client) -> None:
    job_id = define(api, "row-stats", [{"granule_id": "G-CSV", "description": "a small table"}], "stats")
    job = api.get(f"v1/jobs/{job_id}").json()
    assert job == {"job_id": job_id, "job_name": "stats", "algorithm_id": "row-stats", "status": "ACTIVE",
                   "description": "test job",
                   "data_collection": [{"granule_id": "G-CSV", "description": "a small table"}]}
    assert job_id in [j["job_id"] for j in api.get("v1/jobs").json()]

    entry_id = submit(api, job_id)
    created = api.get(f"v1/jobentries/{entry_id}").json()
    check("JobEntry", created)
    assert created["status"] == "PENDING" and created["callback_uri"] == ""
    assert [(s["index"], s["description"], s["status"]) for s in created["steps"]] == [
        (0, "stage-in", "PENDING"), (1, "run algorithm", "PENDING"), (2, "stage-out", "PENDING")]
    time.sleep(0.2)
    assert api.get(f"v1/jobentries/{entry_id}").json()["status"] == "PENDING"  # created, not started

    run_entry(api, entry_id)
    entry = wait_entry(api, entry_id)
    assert entry["status"] == "SUCCESS"
    assert entry["job_id"] == job_id and entry["job_name"] == "stats" and entry["user_id"] == "sandbox-user"
    assert [s["status"] for s in entry["steps"]] == ["SUCCESS"] * 3
    for step in entry["steps"]:
        assert step["time_started"].endswith("Z") and step["time_ended"] >= step["time_started"]
    assert {"level": "WARN", "text": "column 'name' of G-CSV is not numeric"} in entry["steps"][1]["messages"]
    logs = {f["description"]: f["file_uri"] for f in entry["steps"][1]["files"]}
    assert set(logs) == {"log: stdout", "log: stderr"}
    assert "G-CSV: 3 columns" in httpx.get(logs["log: stdout"]).text

    files = entry["steps"][-1]["files"]
    assert [f["description"] for f in files] == ["output"]
    response = httpx.get(files[0]["file_uri"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = {r["column"]: r for r in csv.DictReader(io.StringIO(response.text))}
    assert rows["x"]["count"] == "3" and float(rows["x"]["mean"]) == 2.0
    assert float(rows["y"]["min"]) == 10 and float(rows["y"]["max"]) == 60 and float(rows["y"]["mean"]) == 30
    assert rows["name"]["count"] == "3" and rows["name"]["mean"] == ""
    assert httpx.get(f"{sandbox.base_url}/files/{entry_id}/nope.csv").status_code == 404


def test_swagger_validation_errors(sandbox: MaapSandbox, api: httpx.Client) -> None:
    def bad(method: str, path: str, expect: int, needle: str, **kw: Any) -> None:
        r = api.request(method, path, **kw)
        assert r.status_code == expect, (path, kw, r.text)
        body = r.json()
        check("ErrorResponse", body)
        assert set(body) == {"message"} and needle in body["message"], body

    bad("POST", "v1/jobs", 400, "'algorithm_id' is a required property", json={"job_name": "x"})
    bad("POST", "v1/jobs", 400, "job_name", json={"algorithm_id": "row-stats", "job_name": 5})
    bad("POST", "v1/jobs", 400, "data_collection", json={"algorithm_id": "row-stats", "data_collection": "G"})
    bad("POST", "v1/jobs", 400, "data_collection.0.granule_id",
        json={"algorithm_id": "row-stats", "data_collection": [{"granule_id": 7}]})
    bad("POST", "v1/jobs", 400, "status must be one of ACTIVE, DEPRECATED",
        json={"algorithm_id": "row-stats", "status": "RUNNING"})
    bad("POST", "v1/jobs", 400, "algorithm_id", json={"algorithm_id": 12})
    bad("POST", "v1/jobs", 400, "Unknown algorithm_id 'no-such-algo'", json={"algorithm_id": "no-such-algo"})
    bad("POST", "v1/jobs", 400, "not valid JSON", content=b"{nope", headers={"Content-Type": "application/json"})
    bad("POST", "v1/jobs", 400, "Missing request body")
    bad("POST", "v1/jobs", 400, "not of type 'object'", json=[1, 2])
    bad("GET", "v1/jobs/does-not-exist", 404, "not found")
    bad("POST", "v1/jobs/does-not-exist/submit", 404, "not found")
    bad("GET", "v1/jobentries/does-not-exist", 404, "not found")
    bad("POST", "v1/jobentries/does-not-exist/run", 404, "not found", json={"callback_uri": ""})
    bad("GET", "v1/nowhere", 404, "No such resource")
    bad("GET", "v1/jobentries?offset=-1", 400, "offset")
    bad("GET", "v1/jobentries?limit=ten", 400, "pagination")
    bad("DELETE", "v1/jobs", 405, "Method Not Allowed")

    entry_id = submit(api, define(api, "word-count", [{"granule_id": "G-TEXT"}]))
    bad("POST", f"v1/jobentries/{entry_id}/run", 400, "Missing request body")
    bad("POST", f"v1/jobentries/{entry_id}/run", 400, "callback_uri", json={"callback_uri": 3})
    bad("POST", f"v1/jobentries/{entry_id}/run", 400, "http(s) URL", json={"callback_uri": "ftp://x"})
    run_entry(api, entry_id)
    bad("POST", f"v1/jobentries/{entry_id}/run", 409, "already run", json={"callback_uri": ""})
    assert wait_entry(api, entry_id)["status"] == "SUCCESS"

    r = api.post("v1/jobs", json={"algorithm_id": "word-count", "status": "DEPRECATED"})
    bad("POST", f"v1/jobs/{r.json()['job_id']}/submit", 400, "DEPRECATED")


class _Receiver:
    """A loopback HTTP server that records JSON bodies POSTed to it."""

    def __init__(self) -> None:
        received: list[tuple[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_swagger_callbacks_in_order_and_failing_callback_harmless(sandbox: MaapSandbox, api: httpx.Client) -> None:
    receiver = _Receiver()
    try:
        entry_id = submit(api, define(api, "slow-steps", [{"description": "steps=2"}]))
        token_path = "/hook/entry-1-secret"
        run_entry(api, entry_id, receiver.url + token_path)
        entry = wait_entry(api, entry_id)
        assert entry["status"] == "SUCCESS" and entry["callback_uri"] == receiver.url + token_path
        posts = wait_for(lambda: receiver.received if len(receiver.received) >= 6 else None)
        time.sleep(0.2)
        assert len(receiver.received) == 6
        assert {path for path, _ in posts} == {token_path}
        for _, step in posts:
            check("JobStepResults", step)
            assert set(step) <= {"index", "description", "status", "messages", "time_started", "time_ended",
                                 "files"}
        assert [(s["index"], s["status"]) for _, s in posts] == [
            (0, "RUNNING"), (0, "SUCCESS"), (1, "RUNNING"), (1, "SUCCESS"), (2, "RUNNING"), (2, "SUCCESS")]
        assert posts[-1][1] == entry["steps"][2]
        assert posts[-1][1]["files"][0]["file_uri"].endswith("/steps.csv")
        assert "step,square\r\n1,1\r\n2,4" in httpx.get(posts[-1][1]["files"][0]["file_uri"]).text

        # An ERROR ends the callbacks with the failing step; later steps are never posted.
        receiver.received.clear()
        failing = submit(api, define(api, "fail", [{"description": "callback boom"}]))
        run_entry(api, failing, receiver.url + "/hook/2")
        assert wait_entry(api, failing)["status"] == "ERROR"
        posts = wait_for(lambda: receiver.received if len(receiver.received) >= 4 else None)
        time.sleep(0.2)
        assert [(s["index"], s["status"]) for _, s in receiver.received] == [
            (0, "RUNNING"), (0, "SUCCESS"), (1, "RUNNING"), (1, "ERROR")]
    finally:
        receiver.close()

    # A callback URI nobody listens on: the job still succeeds, the failure is logged.
    dead_port = receiver.server.server_address[1]
    entry_id = submit(api, define(api, "word-count", [{"granule_id": "G-TEXT"}]))
    run_entry(api, entry_id, f"http://127.0.0.1:{dead_port}/gone")
    assert wait_entry(api, entry_id)["status"] == "SUCCESS"
    attempts = wait_for(lambda: [a for a in sandbox.callback_log if a["entry_id"] == entry_id] or None)
    assert "error" in attempts[0]


def test_swagger_250_entries_paged_stably(sandbox: MaapSandbox, api: httpx.Client) -> None:
    job_id = define(api, "word-count", [{"granule_id": "G-TEXT"}], "many")
    created = [submit(api, job_id) for _ in range(250)]

    def all_pages(limit: int) -> list[str]:
        seen: list[str] = []
        offset = 0
        while True:
            page = api.get("v1/jobentries", params={"offset": offset, "limit": limit}).json()
            assert len(page) <= limit
            seen += [e["entry_id"] for e in page]
            if len(page) < limit:
                return seen
            offset += limit

    first = all_pages(50)
    assert len(first) == len(set(first))
    mine = [e for e in first if e in set(created)]
    assert mine == created  # creation order, every entry exactly once
    assert all_pages(37) == first  # same order whatever the page size
    default = api.get("v1/jobentries").json()
    assert [e["entry_id"] for e in default] == first[:50]
    assert api.get("v1/jobentries", params={"offset": len(first) + 10}).json() == []
    assert all(e["status"] == "PENDING" for e in api.get("v1/jobentries", params={"limit": 500}).json()
               if e["job_id"] == job_id)


def test_swagger_error_timeout_and_cancel_endings(sandbox: MaapSandbox, api: httpx.Client) -> None:
    failed = run_algorithm(api, "fail", [{"description": "the model diverged"}])
    assert failed["status"] == "ERROR"
    assert [s["status"] for s in failed["steps"]] == ["SUCCESS", "ERROR", "CANCELED"]
    messages = failed["steps"][1]["messages"]
    assert messages[-1]["level"] == "ERROR"
    assert "exited with code 1" in messages[-1]["text"] and "RuntimeError: the model diverged" in messages[-1]["text"]
    stderr = next(f["file_uri"] for f in failed["steps"][1]["files"] if f["description"] == "log: stderr")
    assert "Traceback (most recent call last)" in httpx.get(stderr).text
    assert "time_started" not in failed["steps"][2]

    missing = run_algorithm(api, "row-stats", [{"granule_id": "G-CSV"}, {"granule_id": "no-such-granule"}])
    assert missing["status"] == "ERROR"
    assert [s["status"] for s in missing["steps"]] == ["ERROR", "CANCELED", "CANCELED"]
    assert missing["steps"][0]["messages"] == [{"level": "ERROR", "text": "Granule 'no-such-granule' not found"}]

    sandbox.timeout_s = 1.0
    try:
        started = time.monotonic()
        timed_out = run_algorithm(api, "sleep", [{"description": "seconds=30"}])
    finally:
        sandbox.timeout_s = 300.0
    assert time.monotonic() - started < 8
    assert timed_out["status"] == "TIMEOUT"
    assert [s["status"] for s in timed_out["steps"]] == ["SUCCESS", "TIMEOUT", "CANCELED"]
    assert "Time limit of 1 s exceeded" in timed_out["steps"][1]["messages"][-1]["text"]

    entry_id = submit(api, define(api, "sleep", [{"description": "30"}]))
    run_entry(api, entry_id)
    wait_for(lambda: api.get(f"v1/jobentries/{entry_id}").json()["steps"][1]["status"] == "RUNNING")
    sandbox.cancel_entry(entry_id)
    canceled = wait_entry(api, entry_id, timeout=8)
    assert canceled["status"] == "CANCELED"
    assert [s["status"] for s in canceled["steps"]] == ["SUCCESS", "CANCELED", "CANCELED"]


@pytest.fixture(scope="module")
def moto_s3(s3_endpoint: str) -> str:
    return s3_endpoint


def test_outputs_uploaded_to_s3_swagger_and_wps(moto_s3: str, tmp_path: Any) -> None:
    import s3fs

    s3_client(moto_s3).create_bucket(Bucket="maap-ops")
    text = tmp_path / "words.txt"
    text.write_text("alpha beta beta\n")
    with MaapSandbox(granules={"W": text}, s3_endpoint_url=moto_s3, s3_bucket="maap-ops",
                     s3_access_key="testing", s3_secret_key="testing", user_id="jdoe") as sb, \
            httpx.Client(base_url=sb.url, timeout=10) as api:
        entry = run_algorithm(api, "word-count", [{"granule_id": "W"}])
        assert entry["status"] == "SUCCESS", entry
        files = entry["steps"][2]["files"]
        assert [f["description"] for f in files] == ["output", "output (s3)"]
        http_uri, s3_uri = files[0]["file_uri"], files[1]["file_uri"]
        prefix = "s3://s3.amazonaws.com:80/maap-ops/jdoe/dps_output/word-count/main/"
        assert s3_uri.startswith(prefix) and s3_uri.endswith(f"/{entry['entry_id']}/word_counts.csv")
        path = "maap-ops/" + s3_uri.split(":80/maap-ops/", 1)[1]  # MAAP style → s3://bucket/key
        fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=moto_s3,
                               client_kwargs={"region_name": "us-east-1"})
        with fs.open(path, "rb") as fh:
            data = fh.read().decode()
        assert data == httpx.get(http_uri).text
        assert data.splitlines() == ["word,count", "beta,2", "alpha,1"]

        job_id = execute(api, sb.algorithms["word-count"], {"granules": ["W"]})["jobID"]
        assert ogc_wait(api, job_id) == "successful"
        outputs = wps_outputs(api, job_id)  # an s3:// URL: the console URL names its bucket and key
        http_url, s3_url, console = outputs["word_counts.csv"]
        assert http_url == sb.file_url(job_id, "word_counts.csv") and s3_url.startswith(prefix)
        assert console == (CONSOLE + s3_url.split(":80/", 1)[1] + "/?region=us-east-1&tab=overview")
        assert outputs["_stdout.txt"][-1] == CONSOLE  # a log is http only: the bare console URL


def test_index_lag_answers_404_then_found() -> None:
    with MaapSandbox(index_lag_s=1.0) as sb, httpx.Client(base_url=sb.url, timeout=10) as api:
        entry_id = submit(api, define(api, "word-count", [{"granule_id": "sample-text.txt"}]))
        r = api.get(f"v1/jobentries/{entry_id}")
        assert r.status_code == 404 and set(r.json()) == {"message"}
        assert entry_id not in [e["entry_id"] for e in api.get("v1/jobentries").json()]
        run_entry(api, entry_id)  # running is not subject to the lag
        found = wait_for(lambda: api.get(f"v1/jobentries/{entry_id}").status_code == 200, timeout=5)
        assert found
        assert entry_id in [e["entry_id"] for e in api.get("v1/jobentries").json()]

        r = api.post("ogc/processes/2/execution", headers=AUTH,
                     json={"inputs": {"granules": ["sample-text.txt"]}, "queue": "maap-dps-worker-8gb"})
        job_id = r.json()["jobID"]
        missing = api.get(f"ogc/jobs/{job_id}", headers=AUTH)
        assert missing.status_code == 404 and missing.json()["type"].endswith("no-such-job")
        assert wps_status(api, job_id) == "Deleted"  # the WPS routes do not see it yet either
        assert api.delete(f"ogc/jobs/{job_id}", headers=AUTH).status_code == 404
        assert job_id not in [j["jobID"] for j in api.get("ogc/jobs", headers=AUTH).json()["jobs"]]
        assert wait_for(lambda: api.get(f"ogc/jobs/{job_id}", headers=AUTH).status_code == 200, timeout=5)


# ---------------------------------------------------------------------------------------- OGC
def ogc_wait(api: httpx.Client, job_id: str, statuses: set[str] = OGC_TERMINAL, timeout: float = 15) -> str:
    return wait_for(lambda: (s := api.get(f"ogc/jobs/{job_id}", headers=AUTH).json()["status"]) in statuses and s,
                    timeout)


def execute(api: httpx.Client, pid: int, inputs: dict[str, Any], queue: str = "maap-dps-worker-8gb",
            **extra: Any) -> dict[str, Any]:
    r = api.post(f"ogc/processes/{pid}/execution", headers=AUTH, json={"inputs": inputs, "queue": queue, **extra})
    assert r.status_code == 202, r.text
    return r.json()


def test_ogc_config_auth_and_queues(sandbox: MaapSandbox, api: httpx.Client) -> None:
    config = httpx.get(sandbox.base_url + "/api/environment/config").json()  # no auth
    assert config["service"]["maap_api_root"] == sandbox.base_url + "/api"
    assert config["maap_endpoint"]["mas_algo"] == "mas/algorithm"
    endpoints = config["maap_endpoint"]
    assert {k: endpoints[k] for k in ("dps_job", "processes_ogc", "deployment_jobs_ogc", "jobs_ogc")} == {
        "dps_job": "dps/job", "processes_ogc": "ogc/processes", "deployment_jobs_ogc": "ogc/deploymentJobs",
        "jobs_ogc": "ogc/jobs"}
    assert set(endpoints) == set(CONFIG_ENDPOINTS) and all(isinstance(v, str) and v for v in endpoints.values())
    assert set(config["service"]) == {"maap_api_root", "maap_token", "tiler_endpoint"}
    assert isinstance(config["service"]["maap_token"], str)
    assert isinstance(config["search"]["indexed_attributes"], list)

    def queues(headers: dict[str, str]) -> httpx.Response:
        return api.get("mas/algorithm/resource", headers=headers)

    invalid = {"message": "Invalid session or insufficient permissions.", "code": 401}
    assert invalid["message"] == MSG_INVALID_SESSION
    r = queues({})
    assert r.status_code == 401 and r.json() == {"message": MSG_NO_CREDENTIALS, "code": 401}
    for headers in ({"proxy-ticket": EXPIRED_TOKEN}, {"proxy-ticket": "unknown"}, {"cpticket": EXPIRED_TOKEN},
                    {"X-MAAP-API-Key": "nope"}, {"dps-token": "nope"},
                    # the first header present decides: a bad PGT is not rescued by a good Bearer
                    {"proxy-ticket": EXPIRED_TOKEN, "Authorization": f"Bearer {VALID_TOKEN}"},
                    {"Authorization": "Bearer unknown", "X-MAAP-API-Key": VALID_TOKEN}):
        r = queues(headers)
        assert r.status_code == 401 and r.json() == invalid, headers
    r = queues({"Authorization": VALID_TOKEN})
    assert r.status_code == 401 and r.json() == {"message": "Malformed Authorization header.", "code": 401}

    ok = {"code": 200, "message": "success",
          "queues": ["maap-dps-worker-8gb", "maap-dps-worker-32gb", "maap-dps-sandbox"]}
    for headers in (AUTH, {"cpticket": VALID_TOKEN}, {"Authorization": f"Bearer {VALID_TOKEN}"},
                    {"Authorization": f"Bearer {EXPIRED_TOKEN}"},  # the live server accepts expired JWTs
                    {"X-MAAP-API-Key": VALID_TOKEN},
                    {"proxy-ticket": VALID_TOKEN, "Authorization": "Bearer garbage"}):
        r = queues(headers)
        assert r.status_code == 200 and r.json() == ok, headers
    assert api.get("ogc/jobs").status_code == 401
    assert api.delete("ogc/jobs/x", headers={"proxy-ticket": EXPIRED_TOKEN}).json() == invalid
    r = api.get("nowhere", headers=AUTH)
    assert r.status_code == 404 and r.json()["code"] == 404


def test_ogc_execute_follow_results(sandbox: MaapSandbox, api: httpx.Client) -> None:
    procs = api.get("ogc/processes").json()["processes"]
    pid = next(p["processID"] for p in procs if p["id"] == "row-stats")
    assert pid == sandbox.algorithms["row-stats"] == 1

    accepted = execute(api, pid, {"granules": ["G-CSV"]}, tag="my-run")
    assert set(accepted) == {"jobID", "processID", "status", "created", "links"}
    assert accepted["status"] == "accepted" and accepted["processID"] == 1
    assert dt.datetime.fromisoformat(accepted["created"]).tzinfo is None  # naive server-local time
    job_id = accepted["jobID"]
    hrefs = [link["href"] for link in accepted["links"]]
    assert f"/ogc/jobs/{job_id}" in hrefs and all(not h.startswith("/api") for h in hrefs)
    rels = {link["rel"]: link for link in accepted["links"]}
    assert set(rels) == {"self", "monitor"}
    assert rels["monitor"]["href"] == f"/ogc/jobs/{job_id}" and rels["self"]["href"] == "/ogc/processes/1/execution"
    assert all(set(link) == {"href", "rel", "type", "hreflang", "title"} for link in accepted["links"])

    assert ogc_wait(api, job_id) == "successful"
    plain = api.get(f"ogc/jobs/{job_id}", headers=AUTH).json()
    assert plain == {"jobID": job_id, "processID": 1, "type": None, "status": "successful"}
    details = api.get(f"ogc/jobs/{job_id}", headers=AUTH, params={"getJobDetails": "true"}).json()
    for key in ("created", "started", "finished"):
        assert details[key].endswith("Z")
    assert details["created"] <= details["started"] <= details["finished"]
    assert details["job_queue"] == "maap-dps-worker-8gb" and details["tags"] == ["my-run"]
    assert details["products"] == f"{sandbox.base_url}/files/{job_id}/" and "inputs" not in details
    with_inputs = api.get(f"ogc/jobs/{job_id}", headers=AUTH, params={"fields": "inputs"}).json()
    assert with_inputs["inputs"] == {"granules": ["G-CSV"]}

    results = api.get(f"ogc/jobs/{job_id}/results", headers=AUTH).json()
    assert list(results) == ["additionalProp1", "additionalProp2", "additionalProp3"]
    assert [results[k]["id"] for k in results] == ["row_stats.csv", "_stdout.txt", "_stderr.txt"]
    table = httpx.get(results["additionalProp1"]["links"][0]["href"]).text
    rows = {r["column"]: r for r in csv.DictReader(io.StringIO(table))}
    assert float(rows["y"]["mean"]) == 30.0
    metrics = api.get(f"ogc/jobs/{job_id}/metrics", headers=AUTH).json()
    assert metrics["job_duration_seconds"] > 0 and metrics["directory_size"] > 0

    # Errors: a missing body or queue, a queue the user may not use, unknown process and job.
    r = api.post(f"ogc/processes/{pid}/execution", headers=AUTH)
    assert r.status_code == 400 and r.json()["status"] == 400
    r = api.post(f"ogc/processes/{pid}/execution", headers=AUTH, json={"inputs": {}})
    assert r.status_code == 400 and "queue" in r.json()["detail"]
    r = api.post(f"ogc/processes/{pid}/execution", headers=AUTH, json={"inputs": {}, "queue": "gpu-secret"})
    assert r.status_code == 400
    assert r.json()["detail"] == "FailedJobSubmit: User does not have access to gpu-secret"
    r = api.post("ogc/processes/999/execution", headers=AUTH, json={"inputs": {}, "queue": "maap-dps-sandbox"})
    assert r.status_code == 404 and r.json()["type"].endswith("no-such-process")
    r = api.get("ogc/jobs/not-a-job", headers=AUTH)
    assert r.status_code == 404
    body = r.json()
    assert set(body) == {"type", "title", "status", "detail", "instance"}
    assert body["type"].endswith("no-such-job") and body["status"] == 404
    assert api.get("ogc/jobs/not-a-job/results", headers=AUTH).status_code == 404

    # A failed job: the logs are staged, and the traceback is in `detail`.
    failed = execute(api, sandbox.algorithms["fail"], {"message": "bad input"})["jobID"]
    assert ogc_wait(api, failed) == "failed"
    results = api.get(f"ogc/jobs/{failed}/results", headers=AUTH).json()
    assert results["detail"].startswith("Job failed and traceback is ")
    assert "RuntimeError: bad input" in results["detail"]
    assert [results[k]["id"] for k in ("additionalProp1", "additionalProp2")] == ["_stdout.txt", "_stderr.txt"]


def test_ogc_dismiss_rules(sandbox: MaapSandbox, api: httpx.Client) -> None:
    sleep = sandbox.algorithms["sleep"]
    running = execute(api, sleep, {"seconds": 30}, queue="maap-dps-sandbox")["jobID"]  # one worker slot
    assert ogc_wait(api, running, {"running"}) == "running"
    queued = execute(api, sleep, {"seconds": 30}, queue="maap-dps-sandbox")["jobID"]
    time.sleep(0.2)
    assert api.get(f"ogc/jobs/{queued}", headers=AUTH).json()["status"] == "accepted"

    r = api.get(f"ogc/jobs/{queued}/results", headers=AUTH)
    assert r.status_code == 500 and r.json()["status"] == 500 and "detail" in r.json()
    r = api.get(f"ogc/jobs/{running}/results", headers=AUTH)
    assert r.status_code == 200 and r.json() == {}

    r = api.delete(f"ogc/jobs/{queued}", headers=AUTH)
    assert r.status_code == 202 and r.json() == {"jobID": queued, "type": "process", "status": "dismissed"}
    assert api.get(f"ogc/jobs/{queued}", headers=AUTH).status_code == 404  # purged, never "dismissed"

    r = api.delete(f"ogc/jobs/{running}", headers=AUTH)
    assert r.status_code == 202 and r.json()["status"] == "dismissed"
    assert ogc_wait(api, running, timeout=8) == "dismissed"
    assert api.get(f"ogc/jobs/{running}/results", headers=AUTH).json() == {}
    r = api.delete(f"ogc/jobs/{running}", headers=AUTH)
    assert r.status_code == 400 and r.json()["detail"] == "Not allowed to cancel job with status job-revoked"

    done = execute(api, sandbox.algorithms["word-count"], {"granules": ["G-TEXT"]}, queue="maap-dps-sandbox")
    assert ogc_wait(api, done["jobID"]) == "successful"
    r = api.delete(f"ogc/jobs/{done['jobID']}", headers=AUTH)
    assert r.status_code == 400
    assert r.json()["detail"] == "Not allowed to cancel job with status job-completed"

    lost = execute(api, sleep, {"seconds": 30}, queue="maap-dps-worker-32gb")["jobID"]
    assert ogc_wait(api, lost, {"running"}) == "running"
    sandbox.mark_offline(lost)
    assert ogc_wait(api, lost, timeout=8) == "offline"
    assert "worker went offline" in api.get(f"ogc/jobs/{lost}/results", headers=AUTH).json()["detail"]


def test_ogc_list_paging_without_total_and_dedup() -> None:
    with MaapSandbox(granules={"T1": "a b c\n", "T2": "d e\n"}) as sb, \
            httpx.Client(base_url=sb.url, timeout=10) as api:
        wc = sb.algorithms["word-count"]
        first = execute(api, wc, {"granules": ["T1"]}, tag="batch")["jobID"]
        assert ogc_wait(api, first) == "successful"
        dup = execute(api, wc, {"granules": ["T1"]}, dedup=True)["jobID"]
        assert ogc_wait(api, dup) == "deduped"
        assert api.get(f"ogc/jobs/{dup}/results", headers=AUTH).json() == {}
        no_dedup = execute(api, wc, {"granules": ["T1"]}, dedup=False)["jobID"]
        other = execute(api, wc, {"granules": ["T2"]}, dedup=True)["jobID"]
        assert ogc_wait(api, no_dedup) == "successful" and ogc_wait(api, other) == "successful"
        others = [execute(api, wc, {"granules": ["T2"]}, tag="batch", queue="maap-dps-worker-32gb")["jobID"]
                  for _ in range(3)]
        for job_id in others:
            ogc_wait(api, job_id)
        everything = [first, dup, no_dedup, other, *others][::-1]  # newest first

        def page(**params: Any) -> dict[str, Any]:
            r = api.get("ogc/jobs", headers=AUTH, params=params)
            assert r.status_code == 200
            body = r.json()
            assert set(body) == {"status", "jobs", "links"} and body["status"] == 200  # no total, no next
            assert all(link.get("rel") != "next" for link in body["links"])
            return body

        pages = [page(pageSize=3, offset=o) for o in (0, 3, 6)]
        assert [len(p["jobs"]) for p in pages] == [3, 3, 1]  # the end is a short page
        assert [j["jobID"] for p in pages for j in p["jobs"]] == everything
        item = pages[0]["jobs"][0]
        assert item == {"jobID": everything[0], "type": "process", "status": "successful",
                        "job_type": "job-word-count:main"}
        assert pages[0]["links"][0] == {"href": f"/ogc/job/{everything[0]}"}
        assert len(page(limit=2, pageSize=5)["jobs"]) == 2  # limit wins
        assert [j["jobID"] for j in page()["jobs"]] == everything  # default page of 100
        assert [j["jobID"] for j in page(status="DEDUPED")["jobs"]] == [dup]
        assert page(processID=999)["jobs"] == []
        assert len(page(processID=wc)["jobs"]) == 7
        assert {j["jobID"] for j in page(tag="batch")["jobs"]} == {first, *others}
        assert {j["jobID"] for j in page(queue="maap-dps-worker-32gb")["jobs"]} == set(others)
        detailed = page(getJobDetails="true", limit=1)["jobs"][0]
        assert detailed["jobID"] == everything[0] and detailed["job_queue"] == "maap-dps-worker-32gb"
        assert detailed["finished"].endswith("Z")


# ---------------------------------------------------------------------------------------- WPS (dps/job)
WPS = "{http://www.opengis.net/wps/2.0}"
OWS = "{http://www.opengis.net/ows/2.0}"
#: The S3 console URL maap-api-nasa appends to every product, bare when the product has no s3:// URL.
CONSOLE = "https://s3.console.aws.amazon.com/s3/buckets/"
XML_HEADERS = {**AUTH, "Content-Type": "application/xml"}
METRIC_NAMES = (
    "machine_type", "architecture", "machine_memory_size", "directory_size", "operating_system", "job_start_time",
    "job_end_time", "job_duration_seconds", "cpu_usage", "cache_usage", "mem_usage", "max_mem_usage", "swap_usage",
    "read_io_stats", "write_io_stats", "sync_io_stats", "async_io_stats", "total_io_stats",
)


def execute_xml(job_type: str, inputs: dict[str, str]) -> str:
    """A WPS Execute request, as maap-py's execute.xml template writes one."""
    items = "".join(f'<wps:Input id="{k}"><wps:Data><wps:LiteralValue><![CDATA[{v}]]></wps:LiteralValue>'
                    f"</wps:Data></wps:Input>" for k, v in inputs.items())
    return ('<wps:Execute xmlns:wps="http://www.opengis.net/wps/2.0" xmlns:ows="http://www.opengis.net/ows/2.0" '
            'service="WPS" version="2.0.0" response="document" mode="sync">'
            f"<ows:Identifier>{job_type}</ows:Identifier>{items}"
            '<wps:Output id="result" transmission="value"/></wps:Execute>')


def wps_submit(api: httpx.Client, job_type: str, inputs: dict[str, str]) -> str:
    r = api.post("dps/job", headers=XML_HEADERS, content=execute_xml(job_type, inputs))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml"), r.text
    root = ET.fromstring(r.content)
    assert root.tag == f"{WPS}StatusInfo" and root.findtext(f"{WPS}Status") == "Accepted"
    return root.findtext(f"{WPS}JobID")


def wps_status(api: httpx.Client, job_id: str) -> str:
    r = api.get(f"dps/job/{job_id}/status")  # no auth
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag == f"{WPS}StatusInfo" and root.findtext(f"{WPS}JobID") == job_id
    return root.findtext(f"{WPS}Status")


def wps_wait(api: httpx.Client, job_id: str, statuses: set[str], timeout: float = 30) -> str:
    return wait_for(lambda: (s := wps_status(api, job_id)) in statuses and s, f"WPS status in {statuses}",
                    timeout=timeout)


def wps_outputs(api: httpx.Client, job_id: str) -> dict[str, list[str]]:
    r = api.get(f"dps/job/{job_id}")
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag == f"{WPS}Result" and root.findtext(f"{WPS}JobID") == job_id
    return {o.get("id"): [d.text for d in o.findall(f"{WPS}Data")] for o in root.findall(f"{WPS}Output")}


def exception_text(r: httpx.Response) -> tuple[str, str]:
    """(exceptionCode, text) of an ows:ExceptionReport answer."""
    root = ET.fromstring(r.content)
    assert root.tag == f"{OWS}ExceptionReport", r.text
    exception = root.find(f"{OWS}Exception")
    return exception.get("exceptionCode"), exception.findtext(f"{OWS}ExceptionText")


def test_wps_execute_status_result_metrics(sandbox: MaapSandbox, api: httpx.Client) -> None:
    job_id = wps_submit(api, "job-row-stats:main", {"granules": '["G-CSV"]', "queue": "maap-dps-worker-8gb",
                                                    "identifier": "wps-run"})
    assert sandbox._ogc[job_id].tag == "wps-run"  # one job store: the OGC routes see it too
    assert wps_wait(api, job_id, {"Succeeded", "Failed"}) == "Succeeded"
    assert api.get(f"ogc/jobs/{job_id}", headers=AUTH).json()["status"] == "successful"
    outputs = wps_outputs(api, job_id)
    assert list(outputs) == ["row_stats.csv", "_stdout.txt", "_stderr.txt"]
    assert outputs["row_stats.csv"] == [sandbox.file_url(job_id, "row_stats.csv"), CONSOLE]
    assert outputs["_stdout.txt"] == [sandbox.file_url(job_id, "_stdout.txt"), CONSOLE]  # no S3: bare console
    table = httpx.get(outputs["row_stats.csv"][0]).text
    assert float({r["column"]: r for r in csv.DictReader(io.StringIO(table))}["y"]["mean"]) == 30.0

    r = api.get(f"dps/job/{job_id}/metrics")
    root = ET.fromstring(r.content)
    metrics = {e.tag: e.text for e in root}
    assert root.tag == "metrics" and tuple(metrics) == METRIC_NAMES
    assert float(metrics["job_duration_seconds"]) > 0 and int(metrics["directory_size"]) > 0
    assert metrics["job_start_time"].endswith("Z") and int(metrics["max_mem_usage"]) > 0

    for path in ("dps/job/not-a-job/status", "dps/job/not-a-job", "dps/job/not-a-job/metrics"):
        r = api.get(path)  # an unknown id: 200 "Deleted", no auth needed
        assert r.status_code == 200 and ET.fromstring(r.content).findtext(f"{WPS}Status") == "Deleted", path

    failed = wps_submit(api, "job-fail:main", {"message": "bad wps input"})  # no queue: the first one
    assert sandbox._ogc[failed].queue == "maap-dps-worker-8gb"
    assert wps_wait(api, failed, {"Succeeded", "Failed"}) == "Failed"
    outputs = wps_outputs(api, failed)
    assert list(outputs) == ["_stdout.txt", "_stderr.txt", "traceback"]
    assert outputs["_stderr.txt"][-1] == CONSOLE and len(outputs["traceback"]) == 1
    assert "RuntimeError: bad wps input" in outputs["traceback"][0]


def test_wps_cancel_running_and_queued(sandbox: MaapSandbox, api: httpx.Client) -> None:
    sleep = {"seconds": "30", "queue": "maap-dps-sandbox"}  # one worker slot
    running = wps_submit(api, "job-sleep:main", sleep)
    assert wps_wait(api, running, {"Running"}) == "Running"
    queued = wps_submit(api, "job-sleep:main", sleep)
    assert wps_status(api, queued) == "Accepted"
    assert wps_outputs(api, running) == {}  # running: nothing staged yet, the JobID only
    r = api.get(f"dps/job/{queued}/metrics")
    assert r.status_code == 500 and exception_text(r)[0] == "FailedGetMetrics"

    def cancel(job_id: str) -> None:
        """maap-api-nasa answers a queued and a running job alike: 202, the job's id, Status Accepted."""
        r = api.post(f"dps/job/cancel/{job_id}", headers=AUTH)
        assert r.status_code == 202 and r.headers["content-type"].startswith("text/xml"), r.text
        root = ET.fromstring(r.content)
        assert root.tag == f"{WPS}StatusInfo"
        assert [(e.tag, e.text) for e in root] == [(f"{WPS}JobID", job_id), (f"{WPS}Status", "Accepted")]

    cancel(queued)
    assert wps_status(api, queued) == "Deleted"  # purged
    cancel(running)
    assert wps_wait(api, running, {"Dismissed"}, timeout=10) == "Dismissed"
    r = api.post(f"dps/job/cancel/{running}", headers=AUTH)
    assert r.status_code == 400
    assert exception_text(r) == ("FailedJobCancel", "Not allowed to cancel job with status job-revoked")


# ---------------------------------------------------------------------------------------- product folders
PRODUCT_FOLDER = "output-2026-05-26T18.39.14.381083"  # a DPS product: a folder, its name with dots
FOLDER_PROGRAM = f'''
import json, os, sys
job = json.load(open(sys.argv[1]))
folder = os.path.join(job["output_dir"], "{PRODUCT_FOLDER}")
os.makedirs(os.path.join(folder, "extra"), exist_ok=True)
with open(os.path.join(folder, "biomass.csv"), "w") as fh:
    fh.write("plot,biomass\\n1,10.5\\n2,20.5\\n3,30.5\\n")
with open(os.path.join(folder, "extra", "notes.txt"), "w") as fh:
    fh.write("three plots\\n")
with open(os.path.join(job["output_dir"], "summary.txt"), "w") as fh:
    fh.write("done\\n")
'''


def register_folder_algorithm(sb: MaapSandbox, folder: Any) -> int:
    program = folder / "folder_product.py"
    program.write_text(FOLDER_PROGRAM)
    return sb.register_algorithm("folder-product", program)


def test_a_product_folder_is_one_product_with_an_index(sandbox: MaapSandbox, api: httpx.Client,
                                                        tmp_path: Any) -> None:
    pid = register_folder_algorithm(sandbox, tmp_path)
    job_id = execute(api, pid, {})["jobID"]
    assert ogc_wait(api, job_id) == "successful"
    results = api.get(f"ogc/jobs/{job_id}/results", headers=AUTH).json()
    products = {p["id"]: [link["href"] for link in p["links"]] for p in results.values()}
    assert list(products) == [PRODUCT_FOLDER, "summary.txt", "_stdout.txt", "_stderr.txt"]
    folder_url = products[PRODUCT_FOLDER][0]
    assert folder_url == f"{sandbox.base_url}/files/{job_id}/{PRODUCT_FOLDER}/"
    page = httpx.get(folder_url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="biomass.csv"' in page.text and 'href="extra/notes.txt"' in page.text
    assert httpx.get(folder_url + "extra/notes.txt").text == "three plots\n"
    assert httpx.get(folder_url.rstrip("/")).status_code in (200, 301, 302)
    assert list(wps_outputs(api, job_id)) == [PRODUCT_FOLDER, "summary.txt", "_stdout.txt", "_stderr.txt"]


# ---------------------------------------------------------------------------------------- refusals
def test_refusals(sandbox: MaapSandbox, api: httpx.Client) -> None:
    """One check per row of the refusal table in the sandbox's server docstring (row 18: the swagger
    test above)."""
    no_credentials = {"message": MSG_NO_CREDENTIALS, "code": 401}
    invalid = {"message": MSG_INVALID_SESSION, "code": 401}
    wc = sandbox.algorithms["word-count"]
    body = {"inputs": {"granules": ["G-TEXT"]}, "queue": "maap-dps-worker-8gb"}
    protected = [("GET", "mas/algorithm/resource", {}), ("GET", "ogc/jobs", {}), ("GET", "ogc/jobs/x", {}),
                 ("DELETE", "ogc/jobs/x", {}), ("GET", "ogc/jobs/x/results", {}), ("GET", "ogc/jobs/x/metrics", {}),
                 ("POST", f"ogc/processes/{wc}/execution", {"json": body}),
                 ("POST", "dps/job", {"content": execute_xml("job-word-count:main", {})}),
                 ("POST", "dps/job/cancel/x", {})]
    for method, path, kw in protected:  # 1
        r = api.request(method, path, **kw)
        assert (r.status_code, r.json()) == (401, no_credentials), path
    for header in ("proxy-ticket", "cpticket", "X-MAAP-API-Key", "cas-authorization", "dps-token"):  # 2, 3
        for token in (EXPIRED_TOKEN, "unknown-ticket"):
            for method, path, kw in protected:
                r = api.request(method, path, headers={header: token}, **kw)
                assert (r.status_code, r.json()) == (401, invalid), (header, token, path)
    r = api.get("ogc/jobs", headers={"Authorization": "Bearer unknown"})
    assert (r.status_code, r.json()) == (401, invalid)  # 3
    assert api.get("ogc/jobs", headers={"Authorization": f"Bearer {EXPIRED_TOKEN}"}).status_code == 200
    r = api.get("ogc/jobs", headers={"proxy-ticket": EXPIRED_TOKEN, "Authorization": f"Bearer {VALID_TOKEN}"})
    assert (r.status_code, r.json()) == (401, invalid)  # 4
    r = api.get("ogc/jobs", headers={"Authorization": VALID_TOKEN})
    assert (r.status_code, r.json()["message"]) == (401, "Malformed Authorization header.")  # 5

    def ogc(r: httpx.Response, status: int) -> str:
        assert r.status_code == status, r.text
        assert set(r.json()) == {"type", "title", "status", "detail", "instance"} and r.json()["status"] == status
        return r.json()["detail"]

    execution = f"ogc/processes/{wc}/execution"
    ogc(api.post(execution, headers=AUTH), 400)  # 6
    ogc(api.post(execution, headers=AUTH, json={"inputs": {}}), 400)
    assert ogc(api.post(execution, headers=AUTH, json={**body, "queue": "gpu-secret"}), 400) == (
        "FailedJobSubmit: User does not have access to gpu-secret")  # 7
    assert ogc(api.post(execution, headers=AUTH, json={**body, "inputs": [1]}), 400).startswith("FailedJobSubmit")  # 8
    assert ogc(api.post(execution, headers=AUTH, json={**body, "inputs": {"granules": [3]}}), 400).startswith(
        "FailedJobSubmit")
    r = api.post("ogc/processes/999/execution", headers=AUTH, json=body)
    ogc(r, 404)
    assert r.json()["type"].endswith("no-such-process")  # 9
    for method, path in (("GET", "ogc/jobs/nope"), ("DELETE", "ogc/jobs/nope"), ("GET", "ogc/jobs/nope/results"),
                         ("GET", "ogc/jobs/nope/metrics")):  # 10 (the lag: test_index_lag_answers_404_then_found)
        r = api.request(method, path, headers=AUTH)
        ogc(r, 404)
        assert r.json()["type"].endswith("no-such-job")
    for params in ({"limit": "-1"}, {"offset": "x"}, {"pageSize": "ten"}):  # 13
        assert api.get("ogc/jobs", headers=AUTH, params=params).status_code == 400, params

    sleep = sandbox.algorithms["sleep"]
    running = execute(api, sleep, {"seconds": 30}, queue="maap-dps-sandbox")["jobID"]
    assert ogc_wait(api, running, {"running"}) == "running"
    queued = execute(api, sleep, {"seconds": 30}, queue="maap-dps-sandbox")["jobID"]
    r = api.get(f"ogc/jobs/{queued}/results", headers=AUTH)
    assert r.status_code == 500 and set(r.json()) == {"status", "detail"}  # 11
    r = api.get(f"dps/job/{queued}/metrics")
    assert r.status_code == 500 and exception_text(r)[0] == "FailedGetMetrics"  # 17
    r = api.get(f"dps/job/{queued}")
    assert r.status_code == 500 and exception_text(r) == ("FailedGetResult", (
        f"Failed to get job result of job with id: {queued}. 'NoneType' object has no attribute 'get'. "
        "If you don't see expected results, please contact administrator of DPS"))
    for job_id in (queued, running):
        assert api.delete(f"ogc/jobs/{job_id}", headers=AUTH).status_code == 202
    assert ogc_wait(api, running, {"dismissed"}) == "dismissed"
    assert ogc(api.delete(f"ogc/jobs/{running}", headers=AUTH), 400) == (
        "Not allowed to cancel job with status job-revoked")  # 12

    r = api.post("dps/job", headers=XML_HEADERS, content="<not-xml")  # 14
    assert r.status_code == 500 and exception_text(r)[0] == "FailedJobSubmit"
    r = api.post("dps/job", headers=XML_HEADERS, content="<wps:GetStatus xmlns:wps='http://www.opengis.net/wps/2.0'/>")
    assert r.status_code == 500 and exception_text(r)[0] == "FailedJobSubmit"
    r = api.post("dps/job", headers=XML_HEADERS, content=execute_xml("job-no-such-algo:main", {}))
    assert r.status_code == 500 and "job-no-such-algo:main" in exception_text(r)[1]
    r = api.post("dps/job", headers=XML_HEADERS, content=execute_xml("job-sleep:main", {"queue": "gpu-secret"}))
    assert r.status_code == 400  # 15
    code, text = exception_text(r)
    assert code == "FailedJobSubmit" and text.startswith("User does not have access to gpu-secret. Valid queues:")
    r = api.post(f"dps/job/cancel/{running}", headers=AUTH)  # 16
    assert r.status_code == 400 and exception_text(r)[0] == "FailedJobCancel"
    r = api.post("dps/job/cancel/nope", headers=AUTH)
    assert r.status_code == 500 and "Failed to dismiss job nope" in exception_text(r)[1]
