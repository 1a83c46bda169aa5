"""The ocean backend through the Jupyter server: environments, a raw Python algorithm over the demo
dataset of the Ocean Provider sandbox, its output as a DataFrame and its log through the REST API;
stop and delete; bad specs refused with nothing recorded; a backend without its key listed as
unavailable while ``local`` still runs; one status request per monitor cycle for many running jobs;
the wallet key nowhere the server writes; and the demo notebook against a live server.
The key is Hardhat's account #0: a published test key that holds nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    HARDHAT_ADDRESSES,
    HARDHAT_KEYS,
    Deadline,
    Recorder,
    job_store_bytes,
    log_everything,
    run_demo_notebook,
    start_live_server,
    stored_notebook,
    until,
    wait_for_state,
)

from jupyter_compute.results import read_frame
from jupyter_compute.sandbox.ocean import (
    DEMO_DATASET_DID,
    DEMO_DATASET_SERVICE_ID,
    FREE_ENVIRONMENT_ID,
    PAID_ENVIRONMENT_ID,
    OceanProviderSandbox,
)

KEY, ADDRESS = HARDHAT_KEYS[0], HARDHAT_ADDRESSES[0]
KEY_ENV = "OCEAN_SERVER_TEST_KEY"
TX = "0x" + "7e" * 32  # the order's transaction (the sandbox has no chain)
DEMO = {"documentId": DEMO_DATASET_DID, "serviceId": DEMO_DATASET_SERVICE_ID, "transferTxId": TX}
FINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}

# Written for a C2D pod: reads the demo dataset from $INPUTS, writes each day in Fahrenheit to $OUTPUTS.
FAHRENHEIT_CODE = """\
import csv, json, os
from pathlib import Path

did = json.loads(os.environ["DIDS"])[0]
with (Path(os.environ.get("INPUTS", "/data/inputs")) / did / "0").open(newline="") as fh:
    rows = list(csv.DictReader(fh))
print(f"read {len(rows)} rows", flush=True)
with (Path(os.environ.get("OUTPUTS", "/data/outputs")) / "fahrenheit.csv").open("w", newline="") as fh:
    out = csv.writer(fh)
    out.writerow(["day", "fahrenheit"])
    for row in rows:
        out.writerow([row["day"], float(row["temperature"]) * 9 / 5 + 32])
mean = sum(float(r["temperature"]) for r in rows) / len(rows) * 9 / 5 + 32
print(f"mean {mean:.2f} F", flush=True)
"""
# Waits (in short sleeps, at most 60 s) for the file named in its custom data, then says so.
WAIT_CODE = """\
import json, os, time
from pathlib import Path

root = Path(os.environ.get("VOLUME", "/data"))
release = Path(json.loads((root / "inputs" / "algoCustomData.json").read_text())["release"])
print("waiting", flush=True)
for _ in range(6000):  # up to 10 minutes: a test releases it, or stops the job
    if release.exists():
        break
    time.sleep(0.1)
(root / "outputs" / "released.txt").write_text(str(release.exists()))
"""


def ocean_job(**fields: Any) -> dict[str, Any]:
    return {"backend": "ocean", "inputs": [DEMO], "code": FAHRENHEIT_CODE, **fields}


def waiting_job(release: Path, **fields: Any) -> dict[str, Any]:
    return ocean_job(code=WAIT_CODE, params={"release": str(release)}, **fields)


# --- the provider, the server's configuration ------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[OceanProviderSandbox]:
    with OceanProviderSandbox(step_delay_s=0.05) as sb:
        yield sb


@pytest.fixture
def consumer_key(request: pytest.FixtureRequest) -> str:
    """How the key is written in the server's environment (a test may ask for another spelling)."""
    return getattr(request, "param", KEY)


def ocean_config(url: str, **more: Any) -> dict[str, Any]:
    return {"kind": "ocean", "url": url, "private_key_env": KEY_ENV, "poll_interval_s": 0.1, **more}


@pytest.fixture
def compute_config(provider: OceanProviderSandbox, consumer_key: str, server_log: list[str],
                   monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(KEY_ENV, consumer_key)
    return {"backends": {"ocean": ocean_config(provider.base_url)}}


async def running_on_the_provider(rec: Recorder, provider: OceanProviderSandbox, job_id: str) -> str:
    """Wait until the job's algorithm runs (status 40 on the provider, RUNNING on the server); its jobId."""
    job = await wait_for_state(rec, job_id, {"RUNNING", *FINAL}, timeout=180)
    assert job["state"] == "RUNNING", job
    remote = job["remote_id"].split("|")[0]
    await until(lambda: provider.job(remote)["status"] == 40, what="status 40", timeout=120)
    return remote


async def warmed_up(rec: Recorder, backend: str = "ocean") -> None:
    """Wait until the backend's start, in the background, has read the provider's environments (its form
    then offers them as choices)."""

    async def choices() -> Any:
        form = await rec("GET", "backends", backend, "form")
        return next(f["choices"] for f in form.body["fields"] if f["name"] == "environment")

    deadline = Deadline(30, f"the environments of {backend} in its form")
    while not (found := await choices()):
        deadline.check(found)
        await asyncio.sleep(0.05)


def compute_gets(provider: OceanProviderSandbox, since: int) -> list[dict[str, str]]:
    return [q for m, p, q in provider.requests[since:] if m == "GET" and p == "/api/services/compute"]


# --- environments and a round trip ---------------------------------------------------------------


async def test_environments_are_listed_with_their_size_and_price(rec, jp_serverapp) -> None:
    reply = await rec("GET", "backends", "ocean", "environments")
    assert reply.status == 200, reply.body
    envs = {e["id"]: e for e in reply.body["environments"]}
    assert set(envs) == {FREE_ENVIRONMENT_ID, PAID_ENVIRONMENT_ID}
    free, paid = envs[FREE_ENVIRONMENT_ID], envs[PAID_ENVIRONMENT_ID]
    assert (free["price"], free["cpus"], free["gpus"], free["memory_gb"]) == (0, 2, 0, 4)
    assert (paid["price"], paid["cpus"], paid["gpus"], paid["memory_gb"]) == (1.5, 8, 1, 32)
    assert paid["gpu_type"] == "NVIDIA T4" and free["max_jobs"] == 8 and free["max_duration_s"] == 3600
    backends = {b["name"]: b for b in (await rec("GET", "backends")).body["backends"]}
    assert backends["ocean"]["available"] is True and backends["ocean"]["consumer_address"] == ADDRESS


async def test_raw_algorithm_round_trip_output_as_dataframe_and_log(rec, provider, jp_serverapp) -> None:
    reply = await rec("POST", "jobs", body=ocean_job(name="fahrenheit"))
    assert reply.status == 201, reply.body
    job = await wait_for_state(rec, reply.body["id"], FINAL)
    assert job["state"] == "SUCCEEDED", job
    assert job["native_status"] == "70 Job finished" and job["remote_id"].endswith("|" + DEMO_DATASET_DID)
    assert provider.job(job["remote_id"].split("|")[0])["environment"] == FREE_ENVIRONMENT_ID  # the free one

    listing = await rec("GET", "jobs", job["id"], "results")
    assert listing.status == 200, listing.body
    kinds = {r["name"]: r["kind"] for r in listing.body["results"]}
    assert kinds["fahrenheit.csv"] == "output" and kinds["algorithm.log"] == "log"

    answer = await rec("GET", "jobs", job["id"], "results", "fahrenheit.csv")
    assert answer.status == 200, answer.body
    frame = read_frame(str(answer.body).encode(), "fahrenheit.csv")
    assert list(frame["day"]) == list(range(1, 11))
    assert list(frame["fahrenheit"]) == [t * 9 / 5 + 32 for t in (12, 15, 11, 17, 14, 19, 13, 16, 18, 20)]

    log = await rec("GET", "jobs", job["id"], "logs")
    assert log.status == 200, log.body
    assert log.body["text"] == "read 10 rows\nmean 59.90 F\n" and log.body["complete"] is True


async def test_stop_a_running_job_then_delete_it(rec, provider, jp_serverapp, tmp_path) -> None:
    reply = await rec("POST", "jobs", body=waiting_job(tmp_path / "never", name="to stop"))
    assert reply.status == 201, reply.body
    remote = await running_on_the_provider(rec, provider, reply.body["id"])
    algorithm_log = Path(provider.job(remote)["folder"]) / "data" / "logs" / "algorithm.log"
    await until(lambda: algorithm_log.exists() and algorithm_log.read_text() == "waiting\n",
                what="the algorithm's first line", timeout=120)  # running, it may not have printed yet

    stopped = await rec("POST", "jobs", reply.body["id"], "cancel")
    assert stopped.status == 200, stopped.body
    job = await wait_for_state(rec, reply.body["id"], FINAL, timeout=180)  # the algorithm alone would wait 10 min
    assert job["state"] == "CANCELLED" and job["message"] == "stopped by the user", job
    assert provider.job(remote)["stopreq"] == 1
    log = await rec("GET", "jobs", job["id"], "logs")
    assert log.body["text"] == "waiting\n"

    gone = await rec("DELETE", "jobs", job["id"])
    assert gone.status == 204, gone.body
    assert (await rec("GET", "jobs", job["id"])).status == 404
    with pytest.raises(KeyError):
        provider.job(remote)  # deleted on the provider too


# --- refusals: 400 naming the field, nothing recorded ---------------------------------------------


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"inputs": [{"serviceId": DEMO_DATASET_SERVICE_ID, "transferTxId": TX}]}, "inputs[0].documentId", "documentId"),
    ({"code": None}, "algorithm", "give exactly one of"),
    ({"inputs": [DEMO_DATASET_DID]}, "extra.dataset.serviceId", "the Provider needs the order of the dataset"),
    ({"inputs": [{**DEMO, "transferTxId": ""}]}, "inputs[0].transferTxId", "the Provider needs the order"),
    ({"environment": "no-such-env"}, "environment", FREE_ENVIRONMENT_ID),
])
async def test_bad_specs_are_refused_before_reaching_the_provider(rec, provider, jp_serverapp, change, field,
                                                                 words) -> None:
    await warmed_up(rec)
    before_total = (await rec("GET", "jobs")).body["total"]
    before = len(provider.requests)
    body = {k: v for k, v in ocean_job(**change).items() if v is not None}
    reply = await rec("POST", "jobs", body=body)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field and words in reply.body["error"]["message"], reply.body
    assert not [r for r in provider.requests[before:] if r[0] == "POST"], "nothing reached the provider"
    assert (await rec("GET", "jobs")).body["total"] == before_total, "no job recorded"


@pytest.mark.parametrize(("change", "field", "said"), [
    ({"environment": PAID_ENVIRONMENT_ID, "inputs": [{**DEMO, "transferTxId": "an order without the fee"}]},
     "inputs", "dataset: fees_not_paid"),
    ({"inputs": [{**DEMO, "serviceId": "no-such-service"}]}, "inputs", "dataset.serviceId: not_found"),
    ({"inputs": [{**DEMO, "documentId": "did:op:" + "00" * 32}]}, "inputs",
     "dataset.documentId: did_not_found (the provider knows no asset with this DID)"),
])
async def test_a_provider_refusal_is_answered_in_its_own_words(rec, provider, jp_serverapp, change, field,
                                                             said) -> None:
    before_total = (await rec("GET", "jobs")).body["total"]
    before = len(provider.requests)
    reply = await rec("POST", "jobs", body=ocean_job(**change))
    assert reply.status == 400, reply.body
    error = reply.body["error"]
    assert error["field"] == field and said in error["message"] and "the Ocean Provider refused" in error["message"]
    assert [r[1] for r in provider.requests[before:] if r[0] == "POST"] == ["/api/services/compute"]
    assert (await rec("GET", "jobs")).body["total"] == before_total, "no job recorded"


async def refused(rec: Recorder, provider: OceanProviderSandbox, body: dict[str, Any], field: str) -> dict[str, Any]:
    """POST the job: a 400 naming ``field``, no job recorded, nothing sent to the provider; the error."""
    before_total = (await rec("GET", "jobs")).body["total"]
    before = len(provider.requests)
    reply = await rec("POST", "jobs", body={k: v for k, v in body.items() if v is not None})
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field, reply.body
    assert not [r for r in provider.requests[before:] if r[0] != "GET"], "nothing was sent to the provider"
    assert (await rec("GET", "jobs")).body["total"] == before_total, "no job recorded"
    return reply.body["error"]


async def test_a_script_is_read_only_from_the_servers_shared_folders(rec, provider, jp_serverapp, jp_root_dir,
                                                                    tmp_path, server_log) -> None:
    outside = tmp_path / "outside.py"  # jp_root_dir is tmp_path/root_dir: this is not under it
    outside.write_text("print('outside')\n")
    for script in ("/proc/self/environ", "file:///proc/self/environ", str(outside), "../outside.py"):
        error = await refused(rec, provider, ocean_job(code=None, script=script), "script")
        assert "not a file this server shares" in error["message"], error
        assert str(jp_root_dir.resolve()) in error["message"], error
    hex_key = KEY[2:]
    rec.assert_free_of([hex_key, hex_key.upper()])
    assert not [line for line in server_log if hex_key in line.lower()]


@pytest.mark.parametrize("written", [KEY, KEY[2:], KEY[2:].upper()], ids=["0x", "bare", "upper"])
async def test_raw_code_carrying_the_wallet_key_is_refused_without_repeating_it(rec, provider, jp_serverapp,
                                                                               jp_root_dir, server_log,
                                                                               written) -> None:
    (jp_root_dir / "leak.py").write_text(f"print({written!r})\n")
    for body, field in ((ocean_job(code=f"print({written!r})"), "code"),
                        (ocean_job(code=None, script="leak.py"), "script"),
                        (ocean_job(code=None, script=str(jp_root_dir / "leak.py")), "script")):  # fmt: skip
        error = await refused(rec, provider, body, field)
        assert "private key" in error["message"], error
    hex_key = KEY[2:]
    rec.assert_free_of([hex_key, hex_key.upper(), hex_key[:24], hex_key[-24:]])
    assert not [line for line in server_log if hex_key[:24] in line.lower() or hex_key[-24:] in line.lower()]


async def test_a_dataframe_or_a_local_file_is_refused_as_a_dataset(rec, provider, jp_serverapp,
                                                                   jp_root_dir) -> None:
    upload = await rec("POST", "uploads", params={"name": "input-0.csv"}, raw_body=b"day,temperature\n1,12\n")
    assert upload.status == 201, upload.body  # what the client does with a DataFrame given as an input
    (jp_root_dir / "rain.csv").write_text("day,rain\n1,0.5\n")
    for dataset in (upload.body["path"], "rain.csv", str(jp_root_dir / "rain.csv")):
        order = {"serviceId": DEMO_DATASET_SERVICE_ID, "transferTxId": TX}
        error = await refused(rec, provider, ocean_job(inputs=[dataset], extra={"dataset": order}), "inputs[0]")
        assert error["message"] == ("Ocean computes only on published datasets: give the dataset's DID (did:op:…); "
                                    "local files and DataFrames cannot be sent to a Provider"), error


# --- a backend without its key ----------------------------------------------------------------


class TestWithoutAKey:
    @pytest.fixture(params=["unset", "malformed"])
    def compute_config(self, request, provider, monkeypatch) -> dict[str, Any]:
        if request.param == "unset":
            monkeypatch.delenv(KEY_ENV, raising=False)
        else:
            monkeypatch.setenv(KEY_ENV, "0x" + KEY[2:-1] + "g")  # one digit wrong: not a key
        return {"backends": {"ocean": ocean_config(provider.base_url), "local": {"kind": "local"}}}

    async def test_ocean_is_listed_unavailable_and_local_still_runs(self, rec, provider, jp_serverapp) -> None:
        backends = {b["name"]: b for b in (await rec("GET", "backends")).body["backends"]}
        ocean = backends["ocean"]
        assert ocean["available"] is False and ocean["kind"] == "ocean"
        assert KEY_ENV in ocean["message"] and "private key" in ocean["message"]
        assert KEY[2:-1] not in ocean["message"]

        before = len(provider.requests)
        refused = await rec("POST", "jobs", body=ocean_job())
        assert refused.status == 503 and KEY_ENV in refused.body["error"]["message"], refused.body
        assert (await rec("GET", "backends", "ocean", "environments")).status == 503
        assert (await rec("GET", "jobs")).body["total"] == 0 and provider.requests[before:] == []

        job = await rec("POST", "jobs", body={"backend": "local", "command": "echo still fine", "name": "fine"})
        assert job.status == 201, job.body
        assert (await wait_for_state(rec, job.body["id"], FINAL))["state"] == "SUCCEEDED"


# --- the docs variant, beside the code-true one ------------------------------------------------


@pytest.fixture(scope="module")
def docs_provider() -> Iterator[OceanProviderSandbox]:
    with OceanProviderSandbox(variant="docs", step_delay_s=0.05) as sb:
        yield sb


class TestDocsVariant:
    @pytest.fixture
    def compute_config(self, provider, docs_provider, monkeypatch) -> dict[str, Any]:
        monkeypatch.setenv(KEY_ENV, KEY)
        return {"backends": {"ocean": ocean_config(provider.base_url),
                             "ocean-docs": ocean_config(docs_provider.base_url)}}  # fmt: skip

    async def test_a_script_runs_to_success_on_a_docs_variant_provider(self, rec, docs_provider, jp_serverapp,
                                                                     jp_root_dir) -> None:
        reply = await rec("GET", "backends", "ocean-docs", "environments")
        assert reply.status == 200, reply.body
        envs = {e["id"]: e for e in reply.body["environments"]}  # a flat list, nCPU/nGPU, numbers as text
        assert (envs[PAID_ENVIRONMENT_ID]["cpus"], envs[PAID_ENVIRONMENT_ID]["gpus"]) == (8, 1)
        assert (envs[FREE_ENVIRONMENT_ID]["price"], envs[FREE_ENVIRONMENT_ID]["max_duration_s"]) == (0, 3600)

        (jp_root_dir / "algorithms").mkdir()
        (jp_root_dir / "algorithms" / "fahrenheit.py").write_text(FAHRENHEIT_CODE)
        job = {"backend": "ocean-docs", "inputs": [DEMO], "script": "algorithms/fahrenheit.py", "name": "docs"}
        reply = await rec("POST", "jobs", body=job)
        assert reply.status == 201, reply.body
        done = await wait_for_state(rec, reply.body["id"], FINAL)
        assert done["state"] == "SUCCEEDED" and done["native_status"] == "70 Job completed", done
        assert docs_provider.job(done["remote_id"].split("|")[0])["environment"] == FREE_ENVIRONMENT_ID
        answer = await rec("GET", "jobs", done["id"], "results", "fahrenheit.csv")
        assert answer.status == 200, answer.body
        frame = read_frame(str(answer.body).encode(), "fahrenheit.csv")
        assert list(frame["fahrenheit"]) == [t * 9 / 5 + 32 for t in (12, 15, 11, 17, 14, 19, 13, 16, 18, 20)]
        log = await rec("GET", "jobs", done["id"], "logs")
        assert (log.body["text"], log.body["complete"]) == ("read 10 rows\nmean 59.90 F\n", True)


# --- the monitor ------------------------------------------------------------------------------


async def test_the_monitor_reads_many_running_jobs_with_one_request_per_cycle(rec, provider, jp_serverapp,
                                                                             tmp_path) -> None:
    release = tmp_path / "release"
    since = len(provider.requests)
    ids = []
    for i in range(3):
        reply = await rec("POST", "jobs", body=waiting_job(release, name=f"waiting {i}"))
        assert reply.status == 201, reply.body
        ids.append(reply.body["id"])
    try:
        for job_id in ids:
            await running_on_the_provider(rec, provider, job_id)
        seen = len(compute_gets(provider, since))
        await until(lambda: len(compute_gets(provider, since)) >= seen + 3, what="three more monitor cycles")
        gets = compute_gets(provider, since)
        assert gets and all(q == {"consumerAddress": ADDRESS} for q in gets), gets  # never one job's status
    finally:
        release.write_text("go")
    for job_id in ids:
        assert (await wait_for_state(rec, job_id, FINAL))["state"] == "SUCCEEDED"


# --- the key stays in the server's memory ----------------------------------------------------


@pytest.mark.parametrize("consumer_key", [KEY, KEY[2:]], indirect=True, ids=["0x", "bare"])
async def test_the_key_is_in_no_answer_log_line_or_stored_record(rec, provider, jp_serverapp, server_log, caplog,
                                                                 tmp_path, consumer_key) -> None:
    log_everything()
    caplog.set_level(logging.DEBUG)
    done = await rec("POST", "jobs", body=ocean_job(name="secret check"))
    assert done.status == 201, done.body
    assert (await wait_for_state(rec, done.body["id"], FINAL))["state"] == "SUCCEEDED"
    for path in (("results",), ("results", "fahrenheit.csv"), ("logs",), ("results", "nope.csv")):
        await rec("GET", "jobs", done.body["id"], *path)
    running = await rec("POST", "jobs", body=waiting_job(tmp_path / "never"))
    await running_on_the_provider(rec, provider, running.body["id"])
    assert (await rec("POST", "jobs", running.body["id"], "cancel")).status == 200
    await wait_for_state(rec, running.body["id"], FINAL)
    assert (await rec("DELETE", "jobs", running.body["id"])).status == 204
    assert (await rec("POST", "jobs", body=ocean_job(inputs=[DEMO_DATASET_DID]))).status == 400
    assert (await rec("POST", "jobs", body=ocean_job(inputs=[{**DEMO, "serviceId": "x"}]))).status == 400
    for path in (("jobs",), ("backends",), ("backends", "ocean", "form"), ("backends", "ocean", "environments")):
        assert (await rec("GET", *path)).status == 200

    store = job_store_bytes(jp_serverapp)
    assert b"secret check" in store
    log_text = "\n".join(server_log) + "\n" + caplog.text
    answers = "\n".join(rec.texts)
    assert "compute/api/jobs" in log_text and ADDRESS in answers and "SUCCEEDED" in answers
    assert f"ComputeApp INFO ocean backend 'ocean': job {done.body['id']}" in log_text, "the extension's own lines"
    assert "HTTP Request: POST" in log_text, "the HTTP client's lines"
    assert "ComputeApp INFO jupyter-compute: backends ocean" in log_text, "the lines of the server's start"
    hex_key = KEY[2:]
    for where, text in (("a REST answer", answers), ("the server log", log_text),
                        ("the job store", store.decode("latin-1"))):
        assert hex_key not in text.lower(), f"the key is in {where}"
        assert hex_key[:24] not in text.lower() and hex_key[-24:] not in text.lower(), f"part of the key in {where}"


# --- the demo notebook against a live server -------------------------------------------------


def test_ocean_notebook_is_stored_without_outputs() -> None:
    import nbformat

    assert KEY[2:] not in nbformat.writes(stored_notebook("ocean.ipynb"))


def test_ocean_notebook_runs_against_a_server_configured_for_a_real_provider(
        tmp_path, provider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend named as a user would, on a Provider the test runs (a stand-in the server takes for a real one)."""
    import nbformat

    config = {"kind": "ocean", "url": provider.base_url, "private_key_env": "OCEAN_PRIVATE_KEY", "poll_interval_s": 0.2}
    monkeypatch.setenv("OCEAN_PRIVATE_KEY", KEY)  # the server's environment only
    server = start_live_server(tmp_path / "jupyter", backends={"my-ocean": config})
    try:
        assert "OCEAN_PRIVATE_KEY" in server.env
        env = server.kernel_env("OCEAN_PRIVATE_KEY", KEY_ENV)  # the kernel holds no key
        nb, text = run_demo_notebook("ocean.ipynb", env)
        assert (f"Backend 'my-ocean': the Ocean Provider at {provider.base_url} (chain 8996) — a real Ocean "
                "Provider, configured on the server") in text, text
        assert f"consumer wallet: {ADDRESS}" in text
        assert "mean temperature: 59.90 °F over 10 days" in text, text
        assert "read 10 rows" in text and f"using environment {FREE_ENVIRONMENT_ID}" in text
        assert KEY[2:] not in nbformat.writes(nb).lower()
        with server.client() as client:
            jobs = client.jobs(tag="ocean-demo")
            assert jobs.total == 1 and (jobs[0].backend, jobs[0].state.value) == ("my-ocean", "SUCCEEDED")
            frame = jobs[0].to_pandas("fahrenheit.csv")
        assert frame["temperature"].tolist()[:3] == [12.0, 15.0, 11.0] and frame.loc[0, "fahrenheit"] == 53.6
        assert round(frame["fahrenheit"].mean(), 2) == 59.9
    finally:
        server.stop()
    log = server.checked_log()
    assert KEY[2:] not in log.lower()
