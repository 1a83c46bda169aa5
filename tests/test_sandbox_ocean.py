"""The Ocean Provider sandbox over real HTTP: discovery, nonces, environments, signed calls exactly as
the Provider checks them, jobs that really compute (steps, stop, delete, failures), results only to
their owner, and the docs variant's shapes. Signing is done here with eth-account, not by our code."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import pid_alive, wait_for
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address

from jupyter_compute.sandbox.ocean import (
    DEMO_ALGORITHM_DID,
    DEMO_DATASET_DID,
    DEMO_DATASET_SERVICE_ID,
    FREE_ENVIRONMENT_ID,
    PAID_ENVIRONMENT_ID,
    OceanProviderSandbox,
)

STEP = 0.05
CODE_TEXTS = {1: "Warming up", 20: "Configuring volumes", 30: "Provisioning success", 40: "Running algorithm ",
              60: "Publishing results", 70: "Job finished"}
ENV_FIELDS = {"id", "cpuNumber", "cpuType", "gpuNumber", "gpuType", "ramGB", "diskGB", "priceMin", "desc",
              "currentJobs", "maxJobs", "consumerAddress", "storageExpiry", "maxJobDuration", "lastSeen", "feeToken"}
# The sandbox has no chain: an order's transferTxId is any text (a transaction hash pays a paid environment),
# bound at its first use to its consumer and asset: each wallet here orders with its own (Wallet.order).
ALGO_ORDER = {"serviceId": "access", "transferTxId": "0x" + "a1" * 32}
STATUS_FIELDS = {"agreementId", "jobId", "owner", "status", "statusText", "dateCreated", "dateFinished", "results",
                 "stopreq", "removed", "algoDID", "inputDID"}

# Written for a real C2D pod: reads the dataset CSV from $INPUTS, writes per-column sums and means to $OUTPUTS.
SUMMARY_CODE = """
import csv, json, os
from pathlib import Path
did = json.loads(os.environ["DIDS"])[0]
with open(Path(os.environ["INPUTS"]) / did / "0", newline="") as fh:
    rows = list(csv.DictReader(fh))
with open(Path(os.environ["OUTPUTS"]) / "summary.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["column", "sum", "mean"])
    for col in rows[0]:
        values = [float(r[col]) for r in rows]
        w.writerow([col, sum(values), sum(values) / len(values)])
print("summarised", len(rows), "rows")
"""
# Waits (in short sleeps) for a file nobody writes: only a kill ends it early.
WAIT_CODE = """
import os, time
from pathlib import Path
root = Path(os.environ["VOLUME"])
(root / "outputs" / "pid.txt").write_text(str(os.getpid()))
print("waiting for a file that never comes", flush=True)
for _ in range(600):
    if (root / "never").exists():
        break
    time.sleep(0.1)
print("gave up waiting", flush=True)
"""
# Runs until the test drops a "go" file, so the test can see status 40 for sure.
GO_CODE = """
import os, time
from pathlib import Path
root = Path(os.environ["VOLUME"])
for _ in range(600):
    if (root / "go").exists():
        break
    time.sleep(0.05)
(root / "outputs" / "went.txt").write_text("went")
"""
BROKEN_CODE = 'print("about to divide")\nprint(1 / 0)\n'
# Shows what the algorithm can see: its environment, its custom data and its input files.
ENV_DUMP_CODE = """
import json, os
from pathlib import Path
inputs = Path(os.environ["INPUTS"])
dids = json.loads(os.environ["DIDS"])
report = {
    "env": {k: v for k, v in os.environ.items() if k not in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")},
    "cwd": os.getcwd(),
    "custom": json.loads((inputs / "algoCustomData.json").read_text()),
    "inputs": {did: (inputs / did / "0").read_text() for did in dids},
}
(Path(os.environ["OUTPUTS"]) / "seen.json").write_text(json.dumps(report))
"""
# Found in the wild: no variable but VOLUME, with the pod's default; results in a sub-folder of outputs.
VOLUME_DEFAULT_CODE = """
import os
from pathlib import Path
out = Path(os.environ.get("VOLUME", "/data")) / "outputs" / "nested"
out.mkdir(parents=True, exist_ok=True)
(out / "hello.txt").write_text("hello from the pod")
"""


# ---------------------------------------------------------------------- helpers
class Wallet:
    """A consumer key that signs exactly as ocean.py / the Provider expect."""

    def __init__(self) -> None:
        self.account = Account.create()
        self.address: str = self.account.address
        self._last = 0

    def nonce(self) -> int:
        self._last = max(self._last + 1, int(time.time() * 1000))
        return self._last

    def sign(self, message: str) -> str:
        return Account.sign_message(encode_defunct(primitive=keccak(text=message)), self.account.key).signature.hex()

    def signed(self, prefix: str) -> tuple[int, str]:
        nonce = self.nonce()
        return nonce, self.sign(prefix + str(nonce))

    def order(self, did: str) -> str:
        """This wallet's order of ``did``: a transaction hash of its own (an order binds to one consumer)."""
        return "0x" + keccak(text=f"{self.address}/{did}").hex()


def raw_algorithm(code: str, **extra: Any) -> dict[str, Any]:
    return {"meta": {"rawcode": code, "language": "python",
                     "container": {"entrypoint": "python $ALGO", "image": "python", "tag": "3.11"}}, **extra}


def published(did: str = DEMO_ALGORITHM_DID, **extra: Any) -> dict[str, Any]:
    """A published algorithm (``start_body`` adds the wallet's order of it unless given)."""
    return {"documentId": did, "serviceId": ALGO_ORDER["serviceId"], **extra}


def start_body(wallet: Wallet, algorithm: dict[str, Any], dataset: str = DEMO_DATASET_DID,
               environment: str = FREE_ENVIRONMENT_ID, service_id: str = DEMO_DATASET_SERVICE_ID,
               tx: str | None = None, **extra: Any) -> dict[str, Any]:
    tx = tx or wallet.order(dataset)
    if "documentId" in algorithm and "transferTxId" not in algorithm:
        algorithm = {**algorithm, "transferTxId": wallet.order(algorithm["documentId"])}
    nonce, signature = wallet.signed(wallet.address + dataset)
    return {"consumerAddress": wallet.address, "nonce": nonce, "signature": signature, "environment": environment,
            "dataset": {"documentId": dataset, "serviceId": service_id, "transferTxId": tx}, "algorithm": algorithm,
            **extra}


def start(client: httpx.Client, wallet: Wallet, algorithm: dict[str, Any], **kw: Any) -> dict[str, Any]:
    r = client.post("/api/services/compute", json=start_body(wallet, algorithm, **kw))
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    return body[0]


def status(client: httpx.Client, owner: str, job_id: str) -> list[dict[str, Any]]:
    r = client.get("/api/services/compute", params={"consumerAddress": owner, "jobId": job_id})
    assert r.status_code == 200, r.text
    return r.json()


def wait_final(client: httpx.Client, wallet: Wallet, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        jobs = status(client, wallet.address, job_id)
        return jobs[0] if jobs and jobs[0]["dateFinished"] else None

    return wait_for(probe, "the job to finish", timeout=timeout)


def fetch_result(client: httpx.Client, wallet: Wallet, job_id: str, index: int | str) -> httpx.Response:
    nonce, signature = wallet.signed(f"{wallet.address}{job_id}{index}")
    return client.get("/api/services/computeResult", params={
        "jobId": job_id, "index": index, "consumerAddress": wallet.address, "nonce": nonce, "signature": signature})


def result_of(client: httpx.Client, wallet: Wallet, job: dict[str, Any], kind: str) -> str:
    index = next(i for i, r in enumerate(job["results"]) if r["type"] == kind)
    r = fetch_result(client, wallet, job["jobId"], index)
    assert r.status_code == 200, r.text
    return r.text


def signed_query(wallet: Wallet, job_id: str, document_id: str = "") -> dict[str, Any]:
    nonce, signature = wallet.signed(f"{wallet.address}{job_id}{document_id}")
    query = {"consumerAddress": wallet.address, "jobId": job_id, "nonce": nonce, "signature": signature}
    if document_id:
        query["documentId"] = document_id
    return query


@pytest.fixture(scope="module")
def sb() -> Iterator[OceanProviderSandbox]:
    with OceanProviderSandbox(step_delay_s=STEP) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: OceanProviderSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sb.base_url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def docs_sb() -> Iterator[OceanProviderSandbox]:
    with OceanProviderSandbox(variant="docs", step_delay_s=STEP) as sandbox:
        yield sandbox


@pytest.fixture
def wallet() -> Wallet:
    return Wallet()


# ---------------------------------------------------------------------- discovery, nonce, environments
def test_discovery_code_variant_lists_endpoints_and_provider_addresses(sb: OceanProviderSandbox,
                                                                       client: httpx.Client) -> None:
    body = client.get("/").json()
    assert body["chainIds"] == [8996]
    assert body["providerAddresses"] == {"8996": sb.provider_address}
    assert sb.provider_address == to_checksum_address(sb.provider_address)
    assert "providerAddress" not in body and body["version"]
    assert body["serviceEndpoints"] == {
        "nonce": ["GET", "/api/services/nonce"],
        "computeEnvironments": ["GET", "/api/services/computeEnvironments"],
        "computeStart": ["POST", "/api/services/compute"],
        "computeStatus": ["GET", "/api/services/compute"],
        "computeStop": ["PUT", "/api/services/compute"],
        "computeDelete": ["DELETE", "/api/services/compute"],
        "computeResult": ["GET", "/api/services/computeResult"],
    }
    method, path = body["serviceEndpoints"]["nonce"]
    assert client.request(method, path, params={"userAddress": sb.provider_address}).status_code == 200


def test_discovery_docs_variant_sends_one_provider_address(docs_sb: OceanProviderSandbox) -> None:
    body = httpx.get(docs_sb.base_url + "/", timeout=10).json()
    assert body["providerAddress"] == docs_sb.provider_address
    assert "providerAddresses" not in body
    assert body["serviceEndpoints"]["computeResult"] == ["GET", "/api/services/computeResult"]


def test_nonce_endpoint_answers_the_stored_nonce(sb: OceanProviderSandbox, client: httpx.Client,
                                                 wallet: Wallet) -> None:
    assert client.get("/api/services/nonce", params={"userAddress": wallet.address}).json() == {"nonce": 0}
    missing = client.get("/api/services/nonce")
    assert missing.status_code == 400
    assert missing.json() == {"message": "Validation error", "success": False,
                              "errors": {"userAddress": ["The userAddress field is required."]}}
    body = start_body(wallet, published())
    assert client.post("/api/services/compute", json=body).status_code == 200
    assert client.get("/api/services/nonce", params={"userAddress": wallet.address}).json() == {"nonce": body["nonce"]}
    assert sb.nonce_of(wallet.address) == body["nonce"]


def test_environments_code_shape_is_keyed_by_chain(client: httpx.Client) -> None:
    for params in ({}, {"chainId": "8996"}):
        body = client.get("/api/services/computeEnvironments", params=params).json()
        assert list(body) == ["8996"]
        envs = {e["id"]: e for e in body["8996"]}
        assert set(envs) == {FREE_ENVIRONMENT_ID, PAID_ENVIRONMENT_ID}
        for env in envs.values():
            assert set(env) == ENV_FIELDS
            assert env["consumerAddress"] == to_checksum_address(env["consumerAddress"])
            assert isinstance(env["ramGB"], int) and env["maxJobs"] > 0
        assert envs[FREE_ENVIRONMENT_ID]["priceMin"] == 0
        assert envs[PAID_ENVIRONMENT_ID]["priceMin"] > 0 and envs[PAID_ENVIRONMENT_ID]["gpuNumber"] >= 1


def test_environments_docs_shape_is_a_flat_list_with_strings(docs_sb: OceanProviderSandbox) -> None:
    body = httpx.get(docs_sb.base_url + "/api/services/computeEnvironments", timeout=10).json()
    assert isinstance(body, list) and {e["id"] for e in body} == {FREE_ENVIRONMENT_ID, PAID_ENVIRONMENT_ID}
    for env in body:
        assert "nCPU" in env and "nGPU" in env and "cpuNumber" not in env and "gpuNumber" not in env
        assert isinstance(env["ramGB"], str) and int(env["ramGB"]) > 0
    free = next(e for e in body if e["id"] == FREE_ENVIRONMENT_ID)
    assert float(free["priceMin"]) == 0


# ---------------------------------------------------------------------- jobs that compute
def test_raw_algorithm_computes_and_its_output_downloads(sb: OceanProviderSandbox, client: httpx.Client,
                                                         wallet: Wallet) -> None:
    first = start(client, wallet, raw_algorithm(SUMMARY_CODE))
    assert set(first) == STATUS_FIELDS
    assert uuid.UUID(hex=first["jobId"]).version == 4 and len(first["jobId"]) == 32
    assert (first["status"], first["statusText"], first["results"], first["dateFinished"]) == (1, "Warming up", "", None)
    assert (first["owner"], first["algoDID"], first["inputDID"]) == (wallet.address, "raw", [DEMO_DATASET_DID])
    assert (first["stopreq"], first["removed"]) == (0, 0)

    job = wait_final(client, wallet, first["jobId"])
    assert (job["status"], job["statusText"], job["stopreq"]) == (70, "Job finished", 0)
    assert isinstance(job["dateCreated"], str) and isinstance(job["dateFinished"], str)
    assert float(job["dateFinished"]) >= float(job["dateCreated"])
    assert [(r["type"], r["filename"]) for r in job["results"]] == [
        ("output", "summary.csv"), ("algorithmLog", "algorithm.log"), ("configrationLog", "configure.log")]

    r = fetch_result(client, wallet, job["jobId"], 0)
    assert r.status_code == 200
    assert r.headers["content-disposition"] == "attachment;filename=summary.csv"
    assert len(r.content) == job["results"][0]["filesize"]
    rows = {row["column"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert float(rows["temperature"]["sum"]) == 155 and float(rows["temperature"]["mean"]) == 15.5
    assert float(rows["rainfall"]["sum"]) == 15 and float(rows["day"]["mean"]) == 5.5
    assert "summarised 10 rows" in result_of(client, wallet, job, "algorithmLog")


def test_status_steps_come_in_order(sb: OceanProviderSandbox, client: httpx.Client, wallet: Wallet) -> None:
    job_id = start(client, wallet, raw_algorithm(GO_CODE))["jobId"]
    seen: dict[int, str] = {}

    def running() -> bool:
        job = status(client, wallet.address, job_id)[0]
        seen.setdefault(job["status"], job["statusText"])
        return job["status"] == 40

    wait_for(running)
    assert list(seen) == sorted(seen) and set(seen) <= {1, 20, 30, 40}
    (Path(sb.job(job_id)["folder"]) / "data" / "go").write_text("go")

    def finished() -> bool:
        job = status(client, wallet.address, job_id)[0]
        seen.setdefault(job["status"], job["statusText"])
        return job["status"] == 70

    wait_for(finished)
    assert list(seen) == sorted(seen) and seen[40] == "Running algorithm " and seen[70] == "Job finished"
    assert all(CODE_TEXTS[code] == text for code, text in seen.items())
    assert sb.job(job_id)["history"] == [1, 20, 30, 40, 60, 70]


def test_registered_demo_algorithm_summarises_the_demo_dataset(client: httpx.Client, wallet: Wallet) -> None:
    first = start(client, wallet, published())
    assert first["algoDID"] == DEMO_ALGORITHM_DID
    job = wait_final(client, wallet, first["jobId"])
    assert job["status"] == 70 and job["results"][0]["filename"] == "summary.csv"
    rows = {r["column"]: r for r in csv.DictReader(io.StringIO(result_of(client, wallet, job, "output")))}
    assert {k: rows["temperature"][k] for k in ("count", "sum", "mean", "min", "max")} == {
        "count": "10", "sum": "155", "mean": "15.5", "min": "11", "max": "20"}
    assert {k: rows["rainfall"][k] for k in ("sum", "mean", "min", "max")} == {
        "sum": "15", "mean": "1.5", "min": "0", "max": "4.5"}
    assert rows["day"]["dataset"] == DEMO_DATASET_DID


def test_algorithm_sees_the_pods_variables_folders_and_custom_data(sb: OceanProviderSandbox,
                                                                   client: httpx.Client, wallet: Wallet,
                                                                   tmp_path: Path) -> None:
    second = "did:op:" + "ab" * 32
    (tmp_path / "second.csv").write_text("a,b\n1,2\n")
    sb.register_dataset(second, tmp_path / "second.csv")
    algo_did = "did:op:" + "cd" * 32
    sb.register_algorithm(algo_did, ENV_DUMP_CODE)

    first = start(client, wallet, published(algo_did, algocustomdata={"k": [1, 2], "label": "x"}),
                  additionalDatasets=[{"documentId": second, "serviceId": "compute",
                                       "transferTxId": wallet.order(second)}])
    assert first["inputDID"] == [DEMO_DATASET_DID, second]
    job = wait_final(client, wallet, first["jobId"])
    assert job["status"] == 70, job
    seen = json.loads(result_of(client, wallet, job, "output"))
    data = Path(sb.job(job["jobId"])["folder"]) / "data"
    env = seen["env"]
    assert {k: Path(env[k]) for k in ("VOLUME", "INPUTS", "OUTPUTS", "LOGS")} == {
        "VOLUME": data, "INPUTS": data / "inputs", "OUTPUTS": data / "outputs", "LOGS": data / "logs"}
    assert json.loads(env["DIDS"]) == [DEMO_DATASET_DID, second]
    assert env["TRANSFORMATION_DID"] == algo_did
    assert Path(env["ALGO"]) == data / "transformations" / "algorithm"
    assert not {"DATA_ROOT", "ROOT_FOLDER"} & set(env), "only the pod's own names"
    assert Path(seen["cwd"]).resolve() == data.parent.resolve()
    assert seen["custom"] == {"k": [1, 2], "label": "x"}
    assert seen["inputs"][second] == "a,b\n1,2\n"
    assert seen["inputs"][DEMO_DATASET_DID].startswith("day,temperature,rainfall\n")

    plain = wait_final(client, wallet, start(client, wallet, raw_algorithm(ENV_DUMP_CODE))["jobId"])
    seen = json.loads(result_of(client, wallet, plain, "output"))
    assert seen["custom"] == {} and seen["env"]["TRANSFORMATION_DID"] == "raw"


def test_an_algorithm_using_only_volume_publishes_what_it_writes_under_outputs(client: httpx.Client,
                                                                               wallet: Wallet) -> None:
    job = wait_final(client, wallet, start(client, wallet, raw_algorithm(VOLUME_DEFAULT_CODE))["jobId"])
    assert (job["status"], job["stopreq"]) == (70, 0)
    assert next((r["type"], r["filename"]) for r in job["results"]) == ("output", "nested/hello.txt")
    assert result_of(client, wallet, job, "output") == "hello from the pod"


def test_broken_algorithm_ends_70_with_its_traceback_in_the_log(sb: OceanProviderSandbox, client: httpx.Client,
                                                                wallet: Wallet) -> None:
    # As in the operator engine: no status says "failed"; a job without outputs and its log do.
    job = wait_final(client, wallet, start(client, wallet, raw_algorithm(BROKEN_CODE))["jobId"])
    assert (job["status"], job["stopreq"]) == (70, 0)
    assert [r["type"] for r in job["results"]] == ["algorithmLog", "configrationLog"]
    text = result_of(client, wallet, job, "algorithmLog")
    assert "about to divide" in text and "Traceback (most recent call last)" in text
    assert "ZeroDivisionError: division by zero" in text
    assert sb.job(job["jobId"])["note"] == "the algorithm exited with code 1"


def test_an_algorithm_reading_a_fixed_data_folder_fails_visibly(client: httpx.Client, wallet: Wallet) -> None:
    # Ignores the variables: the stand-in has no /data, so it fails, and shows it as the pod would.
    code = "import json, os\nprint(open('/data/inputs/' + json.loads(os.environ['DIDS'])[0] + '/0').read())\n"
    job = wait_final(client, wallet, start(client, wallet, raw_algorithm(code))["jobId"])
    assert (job["status"], job["stopreq"]) == (70, 0)
    assert not [r for r in job["results"] if r["type"] == "output"]
    text = result_of(client, wallet, job, "algorithmLog")
    assert "FileNotFoundError" in text and f"/data/inputs/{DEMO_DATASET_DID}/0" in text


def test_a_dataset_whose_file_has_gone_ends_31(sb: OceanProviderSandbox, client: httpx.Client, wallet: Wallet,
                                               tmp_path: Path) -> None:
    did = "did:op:" + "31" * 32
    (tmp_path / "gone.csv").write_text("x\n1\n")
    sb.register_dataset(did, tmp_path / "gone.csv")
    (tmp_path / "gone.csv").unlink()
    first = start(client, wallet, raw_algorithm(SUMMARY_CODE), dataset=did)
    assert first["status"] == 1 and first["inputDID"] == [did]
    job = wait_final(client, wallet, first["jobId"])
    assert (job["status"], job["statusText"], job["results"]) == (31, "Data provisioning failed", "")
    assert float(job["dateFinished"]) >= float(job["dateCreated"])
    assert sb.job(job["jobId"])["history"] == [1, 20, 31]


def test_an_algorithm_this_sandbox_cannot_run_ends_32(client: httpx.Client, wallet: Wallet) -> None:
    algorithm = raw_algorithm("console.log(1)")
    algorithm["meta"]["container"] = {"entrypoint": "node $ALGO", "image": "node", "tag": "20"}
    job = wait_final(client, wallet, start(client, wallet, algorithm)["jobId"])
    assert (job["status"], job["statusText"], job["results"]) == (32, "Algorithm provisioning failed", "")
    assert job["dateFinished"] is not None


def test_stop_kills_a_long_running_algorithm_and_the_job_still_ends_70(wallet: Wallet) -> None:
    with OceanProviderSandbox(step_delay_s=STEP) as own, httpx.Client(base_url=own.base_url, timeout=10) as client:
        job_id = start(client, wallet, raw_algorithm(WAIT_CODE))["jobId"]
        pid_file = Path(own.job(job_id)["folder"]) / "data" / "outputs" / "pid.txt"
        wait_for(lambda: status(client, wallet.address, job_id)[0]["status"] == 40 and pid_file.exists()
                 and pid_file.read_text())
        pid = int(pid_file.read_text())
        envs = {e["id"]: e for e in client.get("/api/services/computeEnvironments").json()["8996"]}
        assert envs[FREE_ENVIRONMENT_ID]["currentJobs"] == 1
        early = fetch_result(client, wallet, job_id, 0)
        assert (early.status_code, early.json()) == (404, {"error": f"No results for job {job_id}"})

        r = client.put("/api/services/compute", params=signed_query(wallet, job_id))
        assert r.status_code == 200, r.text
        assert [(j["jobId"], j["stopreq"]) for j in r.json()] == [(job_id, 1)]

        job = wait_final(client, wallet, job_id, timeout=30)  # the algorithm alone would wait 60 s
        assert (job["status"], job["statusText"], job["stopreq"]) == (70, "Job finished", 1)
        assert not pid_alive(pid)
        text = result_of(client, wallet, job, "algorithmLog")
        assert "waiting for a file that never comes" in text and "gave up" not in text
        envs = {e["id"]: e for e in client.get("/api/services/computeEnvironments").json()["8996"]}
        assert envs[FREE_ENVIRONMENT_ID]["currentJobs"] == 0


def test_stops_racing_the_start_of_the_algorithm_always_end_the_job(wallet: Wallet) -> None:
    # No step delay: each stop lands somewhere between "warming up" and the algorithm's first lines.
    with OceanProviderSandbox(step_delay_s=0) as own, httpx.Client(base_url=own.base_url, timeout=10) as client:
        stopped: list[tuple[str, int]] = []
        for _ in range(8):
            job_id = start(client, wallet, raw_algorithm(WAIT_CODE))["jobId"]
            r = client.put("/api/services/compute", params=signed_query(wallet, job_id))
            assert r.status_code == 200, r.text
            stopped.append((job_id, r.json()[0]["status"]))
        for job_id, status_at_stop in stopped:
            job = wait_final(client, wallet, job_id, timeout=30)  # the algorithm alone would wait 60 s
            assert (job["status"], job["stopreq"]) == (70, 1), own.job(job_id)
            seen = own.job(job_id)
            if status_at_stop < 40:  # stopped before the algorithm started: it never starts
                assert seen["pid"] is None, seen
            if seen["pid"] is not None:
                assert not pid_alive(seen["pid"])


def test_delete_removes_finished_and_running_jobs(sb: OceanProviderSandbox, client: httpx.Client,
                                                  wallet: Wallet) -> None:
    done = wait_final(client, wallet, start(client, wallet, published())["jobId"])
    folder = Path(sb.job(done["jobId"])["folder"])
    r = client.delete("/api/services/compute", params=signed_query(wallet, done["jobId"], DEMO_DATASET_DID))
    assert r.status_code == 200 and r.json() == ""
    assert status(client, wallet.address, done["jobId"]) == []
    with pytest.raises(KeyError):
        sb.job(done["jobId"])
    wait_for(lambda: not folder.exists())

    running = start(client, wallet, raw_algorithm(WAIT_CODE))["jobId"]
    folder = Path(sb.job(running)["folder"])
    pid_file = folder / "data" / "outputs" / "pid.txt"
    wait_for(lambda: pid_file.exists() and pid_file.read_text())
    pid = int(pid_file.read_text())
    assert client.delete("/api/services/compute", params=signed_query(wallet, running)).status_code == 200
    assert status(client, wallet.address, running) == []
    wait_for(lambda: not pid_alive(pid) and not folder.exists())


# ---------------------------------------------------------------------- signatures and nonces
def test_signing_the_raw_text_is_rejected(sb: OceanProviderSandbox, client: httpx.Client, wallet: Wallet) -> None:
    body = start_body(wallet, published())
    message = f"{wallet.address}{DEMO_DATASET_DID}{body['nonce']}"
    body["signature"] = Account.sign_message(encode_defunct(text=message), wallet.account.key).signature.hex()
    r = client.post("/api/services/compute", json=body)
    assert r.status_code == 400
    answer = r.json()
    assert (answer["message"], answer["success"], list(answer["errors"])) == ("Validation error", False, ["signature"])
    assert answer["errors"]["signature"][0].startswith("Invalid signature provided.")
    assert sb.nonce_of(wallet.address) == 0


def test_v_as_0_or_1_with_or_without_0x_is_accepted(client: httpx.Client, wallet: Wallet) -> None:
    for prefix in ("0x", ""):
        body = start_body(wallet, published())
        raw = bytes.fromhex(body["signature"].removeprefix("0x"))
        assert raw[64] in (27, 28)
        body["signature"] = prefix + (raw[:64] + bytes([raw[64] - 27])).hex()
        r = client.post("/api/services/compute", json=body)
        assert r.status_code == 200, r.text
        assert r.json()[0]["status"] == 1


def test_a_signature_by_another_key_is_rejected(sb: OceanProviderSandbox, client: httpx.Client,
                                                wallet: Wallet) -> None:
    other = Wallet()
    body = start_body(wallet, published())
    body["signature"] = other.sign(f"{wallet.address}{DEMO_DATASET_DID}{body['nonce']}")
    r = client.post("/api/services/compute", json=body)
    assert r.status_code == 400
    assert r.json()["errors"]["signature"][0].startswith("Invalid signature provided.")
    assert other.address in r.json()["errors"]["signature"][0]
    assert sb.nonce_of(wallet.address) == 0 and status_all(client, wallet) == []


def test_lower_case_consumer_address_is_rejected(sb: OceanProviderSandbox, client: httpx.Client,
                                                 wallet: Wallet) -> None:
    lower = wallet.address.lower()
    nonce = wallet.nonce()
    body = start_body(wallet, published())
    body.update(consumerAddress=lower, nonce=nonce, signature=wallet.sign(f"{lower}{DEMO_DATASET_DID}{nonce}"))
    r = client.post("/api/services/compute", json=body)
    assert r.status_code == 400
    assert r.json()["errors"]["signature"][0].startswith("Invalid signature provided.")
    assert sb.nonce_of(wallet.address) == 0


def test_a_nonce_not_above_the_stored_one_is_refused_with_the_providers_words(sb: OceanProviderSandbox,
                                                                               client: httpx.Client,
                                                                               wallet: Wallet) -> None:
    body = start_body(wallet, published())
    assert client.post("/api/services/compute", json=body).status_code == 200
    stored = body["nonce"]
    for nonce in (stored, stored - 5):
        body.update(nonce=nonce, signature=wallet.sign(f"{wallet.address}{DEMO_DATASET_DID}{nonce}"))
        r = client.post("/api/services/compute", json=body)
        assert r.status_code == 400
        assert r.json() == {"message": "Validation error", "success": False, "errors": {"signature": [
            f"Invalid signature expected nonce ({stored}) > current nonce ({nonce})."]}}
    assert sb.nonce_of(wallet.address) == stored


def test_status_is_unsigned_and_ignores_signature_and_nonce(sb: OceanProviderSandbox, client: httpx.Client,
                                                            wallet: Wallet) -> None:
    first = start(client, wallet, published())
    second = start(client, wallet, published())
    stored = sb.nonce_of(wallet.address)
    r = client.get("/api/services/compute", params={
        "consumerAddress": wallet.address, "jobId": first["jobId"], "documentId": DEMO_DATASET_DID,
        "signature": "0xdeadbeef", "nonce": stored + 10**6})
    assert r.status_code == 200 and [j["jobId"] for j in r.json()] == [first["jobId"]]
    assert sb.nonce_of(wallet.address) == stored
    every = client.get("/api/services/compute", params={"consumerAddress": wallet.address}).json()
    assert [j["jobId"] for j in every] == [first["jobId"], second["jobId"]]
    missing = client.get("/api/services/compute")
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"consumerAddress": ["The consumerAddress field is required."]}


# ---------------------------------------------------------------------- results and ownership
def test_results_and_control_only_for_the_owner(client: httpx.Client, wallet: Wallet) -> None:
    job = wait_final(client, wallet, start(client, wallet, published())["jobId"])
    other = Wallet()
    r = fetch_result(client, other, job["jobId"], 0)
    assert (r.status_code, r.json()) == (404, {"error": f"Owner {other.address} mismatch for job {job['jobId']}"})
    assert status(client, other.address, job["jobId"]) == []
    stop = client.put("/api/services/compute", params=signed_query(other, job["jobId"]))
    assert (stop.status_code, stop.json()) == (200, [])
    gone = client.delete("/api/services/compute", params=signed_query(other, job["jobId"]))
    assert gone.status_code == 200
    assert status(client, wallet.address, job["jobId"])[0]["stopreq"] == 0
    assert fetch_result(client, wallet, job["jobId"], 0).status_code == 200


def test_compute_result_errors(client: httpx.Client, wallet: Wallet) -> None:
    job = wait_final(client, wallet, start(client, wallet, published())["jobId"])
    for index, text in ((99, "No such index 99 in this compute job"), (-1, "Negative index")):
        r = fetch_result(client, wallet, job["jobId"], index)
        assert (r.status_code, r.json()) == (404, {"error": text})
    r = fetch_result(client, wallet, "f" * 32, 0)
    assert (r.status_code, r.json()) == (404, {"error": f"No results for job {'f' * 32}"})
    nonce, signature = wallet.signed(f"{wallet.address}{job['jobId']}1")  # signed for index 1, asks for 0
    r = client.get("/api/services/computeResult", params={
        "jobId": job["jobId"], "index": 0, "consumerAddress": wallet.address, "nonce": nonce, "signature": signature})
    assert r.status_code == 400 and r.json()["errors"]["signature"][0].startswith("Invalid signature provided.")
    r = client.get("/api/services/computeResult", params={"consumerAddress": wallet.address})
    assert r.status_code == 400
    assert set(r.json()["errors"]) == {"jobId", "index", "nonce"}


# ---------------------------------------------------------------------- start validation
def test_missing_fields_are_named_in_the_validation_error(client: httpx.Client) -> None:
    body = {"algorithm": published(**ALGO_ORDER), "environment": FREE_ENVIRONMENT_ID}
    r = client.post("/api/services/compute", json=body)
    assert r.status_code == 400
    answer = r.json()
    assert (answer["message"], answer["success"]) == ("Validation error", False)
    assert answer["errors"] == {
        "consumerAddress": ["The consumerAddress field is required."],
        "dataset.documentId": ["The dataset.documentId field is required."],
        "dataset.serviceId": ["The dataset.serviceId field is required."],
        "dataset.transferTxId": ["The dataset.transferTxId field is required."],
        "nonce": ["The nonce field is required."],
    }


@pytest.mark.parametrize(("change", "errors"), [
    (lambda b: b["dataset"].pop("serviceId"), {"dataset.serviceId": ["The dataset.serviceId field is required."]}),
    (lambda b: b["dataset"].update(transferTxId=""),
     {"dataset.transferTxId": ["The dataset.transferTxId field is required."]}),
    (lambda b: b.update(algorithm={"documentId": DEMO_ALGORITHM_DID}), {
        "algorithm.serviceId": ["The algorithm.serviceId field is required when algorithm.documentId is present."],
        "algorithm.transferTxId": [
            "The algorithm.transferTxId field is required when algorithm.documentId is present."]}),
    (lambda b: b.update(algorithm={**raw_algorithm("print(1)"), **ALGO_ORDER}), {
        "algorithm.documentId": ["The algorithm.documentId field is required when algorithm.serviceId, "
                                 "algorithm.transferTxId are present."]}),
    (lambda b: b.update(algorithm={}), {
        "algorithm.documentId": ["The algorithm.documentId field is required when algorithm.meta is not present."],
        "algorithm.meta": ["The algorithm.meta field is required when algorithm.documentId is not present."]}),
    (lambda b: b.update(additionalDatasets=[{"documentId": DEMO_DATASET_DID}]), {
        "additionalDatasets.0.serviceId": ["The additionalDatasets.0.serviceId field is required."],
        "additionalDatasets.0.transferTxId": ["The additionalDatasets.0.transferTxId field is required."]}),
])
def test_the_order_of_every_asset_is_required(sb: OceanProviderSandbox, client: httpx.Client, wallet: Wallet,
                                              change: Callable[[dict[str, Any]], Any],
                                              errors: dict[str, list[str]]) -> None:
    body = start_body(wallet, published())
    change(body)
    before = client.get("/api/services/compute", params={"consumerAddress": wallet.address}).json()
    r = client.post("/api/services/compute", json=body)
    assert (r.status_code, r.json()) == (400, {"message": "Validation error", "errors": errors, "success": False})
    assert sb.nonce_of(wallet.address) == 0, "a refused request spends no nonce"
    assert client.get("/api/services/compute", params={"consumerAddress": wallet.address}).json() == before == []


def refused(client: httpx.Client, body: dict[str, Any]) -> tuple[int, Any]:
    r = client.post("/api/services/compute", json=body)
    return r.status_code, r.json()


def test_a_service_the_dataset_does_not_have_is_refused(sb: OceanProviderSandbox, client: httpx.Client,
                                                        wallet: Wallet, tmp_path: Path) -> None:
    body = start_body(wallet, raw_algorithm(SUMMARY_CODE), service_id="0")
    assert refused(client, body) == (400, {"error": {"dataset.serviceId": "not_found"}})
    other = "did:op:" + "5e" * 32
    (tmp_path / "other.csv").write_text("v\n2\n")
    sb.register_dataset(other, tmp_path / "other.csv", service_id="c2d-1")
    body = start_body(wallet, raw_algorithm(SUMMARY_CODE), additionalDatasets=[
        {"documentId": other, "serviceId": DEMO_DATASET_SERVICE_ID, "transferTxId": wallet.order(other)}])
    assert refused(client, body) == (400, {"error": {"datasets[1].serviceId": "not_found"}})
    assert client.get("/api/services/compute", params={"consumerAddress": wallet.address}).json() == []
    job = wait_final(client, wallet, start(client, wallet, raw_algorithm(SUMMARY_CODE), dataset=other,
                                           service_id="c2d-1", tx="any non-empty text")["jobId"])
    assert (job["status"], job["agreementId"]) == (70, "any non-empty text")


def test_an_unknown_dataset_did_is_refused(sb: OceanProviderSandbox, client: httpx.Client, wallet: Wallet) -> None:
    unknown = "did:op:" + "0" * 64
    body = start_body(wallet, raw_algorithm(SUMMARY_CODE), dataset=unknown)
    assert refused(client, body) == (400, {"error": {"dataset.documentId": "did_not_found"}})
    body = start_body(wallet, raw_algorithm(SUMMARY_CODE), additionalDatasets=[
        {"documentId": unknown, "serviceId": "compute", "transferTxId": wallet.order(unknown)}])
    assert refused(client, body) == (400, {"error": {"datasets[1].documentId": "did_not_found"}})
    assert status_all(client, wallet) == []


def test_an_unknown_algorithm_did_or_a_dataset_as_algorithm_is_refused(client: httpx.Client,
                                                                       wallet: Wallet) -> None:
    body = start_body(wallet, published("did:op:" + "9" * 64))
    assert refused(client, body) == (400, {"error": {"algorithm": "did_not_found"}})
    body = start_body(wallet, published(DEMO_DATASET_DID))
    assert refused(client, body) == (400, {"error": {"algorithm": "not_algo"}})
    assert status_all(client, wallet) == []


def test_a_raw_algorithm_without_code_is_refused(client: httpx.Client, wallet: Wallet) -> None:
    for code in ("", "   "):
        body = start_body(wallet, raw_algorithm(code))
        assert refused(client, body) == (400, {"error": {"algorithm": "meta_oneof_url_rawcode_remote"}})
    body = start_body(wallet, {"meta": {"language": "python", "container": {"entrypoint": "python $ALGO"}}})
    assert refused(client, body) == (400, {"error": {"algorithm": "meta_oneof_url_rawcode_remote"}})
    assert status_all(client, wallet) == []


def test_an_order_serves_only_its_consumer_and_its_asset(sb: OceanProviderSandbox, client: httpx.Client,
                                                         wallet: Wallet, tmp_path: Path) -> None:
    mine = wallet.order(DEMO_DATASET_DID)
    start(client, wallet, published(), tx=mine)
    start(client, wallet, published(), tx=mine)  # the same consumer may use its order again
    thief = Wallet()
    assert refused(client, start_body(thief, published(), tx=mine)) == (400, {"error": {"dataset": "order_invalid"}})
    other = "did:op:" + "0e" * 32
    (tmp_path / "other.csv").write_text("v\n2\n")
    sb.register_dataset(other, tmp_path / "other.csv")
    body = start_body(wallet, published(), dataset=other, tx=mine)  # an order of the demo dataset
    assert refused(client, body) == (400, {"error": {"dataset": "order_invalid"}})
    body = start_body(wallet, published(), additionalDatasets=[
        {"documentId": other, "serviceId": "compute", "transferTxId": mine}])
    assert refused(client, body) == (400, {"error": {"datasets[1]": "order_invalid"}})
    algo_order = {"transferTxId": wallet.order(DEMO_ALGORITHM_DID)}
    body = start_body(thief, published(**algo_order))
    assert refused(client, body) == (400, {"error": {"algorithm": "in_use_or_not_on_chain"}})
    assert status_all(client, thief) == [] and len(status_all(client, wallet)) == 2


def status_all(client: httpx.Client, wallet: Wallet) -> list[dict[str, Any]]:
    return client.get("/api/services/compute", params={"consumerAddress": wallet.address}).json()


def test_unknown_environment_and_unpaid_paid_environment_are_refused(sb: OceanProviderSandbox,
                                                                     client: httpx.Client, wallet: Wallet) -> None:
    r = client.post("/api/services/compute", json=start_body(wallet, published(), environment="no-such-env"))
    assert (r.status_code, r.json()) == (400, {"error": "Environment invalid or does not exist"})
    r = client.post("/api/services/compute", json=start_body(wallet, published(), environment=PAID_ENVIRONMENT_ID,
                                                             tx="an order that paid no provider fee"))
    assert (r.status_code, r.json()) == (400, {"error": {"dataset": "fees_not_paid"}})
    r = client.post("/api/services/compute", json=start_body(wallet, published(), environment=PAID_ENVIRONMENT_ID,
                                                             tx="0x" + "12" * 32))
    assert r.status_code == 200 and r.json()[0]["agreementId"] == "0x" + "12" * 32
    assert sb.job(r.json()[0]["jobId"])["environment"] == PAID_ENVIRONMENT_ID


def test_dataset_rules_refuse_raw_and_untrusted_algorithms(sb: OceanProviderSandbox, client: httpx.Client,
                                                           wallet: Wallet, tmp_path: Path) -> None:
    guarded = "did:op:" + "ee" * 32
    (tmp_path / "guarded.csv").write_text("x\n1\n")
    sb.register_dataset(guarded, tmp_path / "guarded.csv", allow_raw_algorithm=False,
                        trusted_algorithms=[DEMO_ALGORITHM_DID])
    other_algo = "did:op:" + "ef" * 32
    sb.register_algorithm(other_algo, "print('hi')\n")
    r = client.post("/api/services/compute", json=start_body(wallet, raw_algorithm(SUMMARY_CODE), dataset=guarded))
    assert (r.status_code, r.json()) == (400, {"error": {"dataset": "no_raw_algo_allowed"}})
    r = client.post("/api/services/compute", json=start_body(wallet, published(other_algo), dataset=guarded))
    assert (r.status_code, r.json()) == (400, {"error": {"dataset": "not_trusted_algo"}})
    job = wait_final(client, wallet, start(client, wallet, published(), dataset=guarded)["jobId"])
    assert job["status"] == 70


# ---------------------------------------------------------------------- docs variant, routes, CLI
def test_docs_variant_iso_dates_texts_and_delete_answer(docs_sb: OceanProviderSandbox, wallet: Wallet) -> None:
    with httpx.Client(base_url=docs_sb.base_url, timeout=10) as client:
        job_id = start(client, wallet, raw_algorithm(GO_CODE))["jobId"]
        running = wait_for(lambda: next((j for j in status(client, wallet.address, job_id) if j["status"] == 40), None))
        assert running["statusText"] == "Running algorith"
        (Path(docs_sb.job(job_id)["folder"]) / "data" / "go").write_text("go")
        job = wait_final(client, wallet, job_id)
        assert (job["status"], job["statusText"]) == (70, "Job completed")
        for key in ("dateCreated", "dateFinished"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", job[key])
            dt.datetime.strptime(job[key], "%Y-%m-%dT%H:%M:%SZ")
        r = client.delete("/api/services/compute", params=signed_query(wallet, job["jobId"]))
        assert r.status_code == 200
        assert [(j["jobId"], j["status"]) for j in r.json()] == [(job["jobId"], 8)]
        assert status(client, wallet.address, job["jobId"]) == []


def test_unknown_routes_are_404_and_requests_are_recorded(sb: OceanProviderSandbox, client: httpx.Client,
                                                          wallet: Wallet) -> None:
    r = client.get("/api/services/nothing-here", params={"a": "1"})
    assert r.status_code == 404 and "error" in r.json()
    client.get("/api/services/compute", params={"consumerAddress": wallet.address})
    recorded = sb.requests
    assert ("GET", "/api/services/nothing-here", {"a": "1"}) in recorded
    assert recorded[-1] == ("GET", "/api/services/compute", {"consumerAddress": wallet.address})


def test_module_runs_in_the_foreground_and_prints_its_url() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_compute.sandbox.ocean", "--port", "0",
                             "--step-delay-s", "0.05"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        body = httpx.get(match.group(0) + "/", timeout=10).json()
        assert body["chainIds"] == [8996]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def test_every_row_of_the_refusal_table_names_a_test_here() -> None:
    doc = sys.modules[OceanProviderSandbox.__module__].__doc__ or ""
    table = doc.split("What it refuses", 1)[1].split("\n\n")[1]  # the block after the heading and legend
    rows = table.splitlines()[3:-1]  # between the header's rules and the closing one
    names = [n for line in rows if len(line) > 96 for n in line[96:].replace(",", " ").split()]
    tests = [name for name in globals() if name.startswith("test_")]
    assert len(names) >= 18, names
    for name in names:
        assert len([t for t in tests if name in t]) == 1, (name, "no single test of that name")
