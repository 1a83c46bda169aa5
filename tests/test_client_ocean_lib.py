"""ocean-lib's own client against the Ocean Provider sandbox, over real HTTP.

``DataServiceProvider`` of ocean-lib 3.1 (from PyPI, unchanged) does every compute call a consumer
makes: nonce, environments, start (a raw algorithm written for a real C2D pod: it reads ``$DIDS`` and
``$INPUTS`` and writes ``$OUTPUTS``), status, each result by index, stop, delete. Its pins clash with
ours, so it lives in a venv of its own, built once under the repo's ``.cache/client-venvs/`` and
reused; a driver script runs there and prints one JSON line per step, which the test reads.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import HARDHAT_ADDRESSES, HARDHAT_KEYS

from jupyter_compute.sandbox.ocean import (
    DEMO_DATASET_DID,
    DEMO_DATASET_SERVICE_ID,
    FREE_ENVIRONMENT_ID,
    OceanProviderSandbox,
)

REPO = Path(__file__).resolve().parent.parent
REQUIREMENT = "ocean-lib==3.1.*"
VENV = REPO / ".cache" / "client-venvs" / "ocean-lib-3.1"
READY = VENV / ".ready"  # written last: a venv without it is half-built and is built again
IMPORT_CHECK = "import ocean_lib.data_provider.data_service_provider"
BUILD_TIMEOUT_S = 1500
DRIVER_TIMEOUT_S = 600

# Written as for a real Compute-to-Data pod: nothing of the sandbox, only the pod's variables.
POD_ALGORITHM = """\
import csv, json, os
from pathlib import Path

inputs = Path(os.environ.get("INPUTS", "/data/inputs"))
outputs = Path(os.environ.get("OUTPUTS", "/data/outputs"))
for did in json.loads(os.environ["DIDS"]):
    with (inputs / did / "0").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    total = sum(float(row["temperature"]) for row in rows)
    (outputs / "total.json").write_text(json.dumps({"did": did, "rows": len(rows), "total": total}))
    print(f"read {len(rows)} rows of {did}")
"""
# Waits for a file nobody writes (bounded): only a stop ends it early.
WAITING_ALGORITHM = """\
import os, time
from pathlib import Path

print("waiting", flush=True)
for _ in range(1200):
    if (Path(os.environ["VOLUME"]) / "never").exists():
        break
    time.sleep(0.1)
"""

# The driver runs in ocean-lib's venv (Python of this test run). One JSON line per step on stdout.
DRIVER = r'''
import json, sys, time, types, typing

# ocean-lib 3.1 pins enforce-typing 1.0.0.post1, which skips a parameter typed `Any` only because on
# Python <= 3.10 `typing.Any` is a `typing._SpecialForm`; on 3.11+ it is not, and every @enforce_types
# function with an `Any` parameter raises TypeError ("typing.Any cannot be used with isinstance()").
# Restore the 3.10 behaviour in this venv: the decorator's `typing` sees Any's class as a special form too.
import enforce_typing.decorator as _decorator
_decorator.typing = types.SimpleNamespace(**{**vars(typing), "_SpecialForm": (typing._SpecialForm, type(typing.Any))})

from eth_account import Account
from ocean_lib.assets.ddo import DDO
from ocean_lib.data_provider.data_service_provider import DataServiceProvider
from ocean_lib.exceptions import DataProviderException
from ocean_lib.models.compute_input import ComputeInput
from ocean_lib.services.service import Service
from ocean_lib.structures.algorithm_metadata import AlgorithmMetadata

cfg = json.loads(sys.argv[1])
url = cfg["url"]


def report(step, **values):
    print(json.dumps({"step": step, **values}), flush=True)


consumer = Account.from_key(cfg["key"])
service = Service(service_id=cfg["service_id"], service_type="compute", service_endpoint=url, datatoken=None,
                  files=None, timeout=0)
dataset = ComputeInput(DDO(did=cfg["did"], chain_id=cfg["chain_id"]), service, transfer_tx_id=cfg["tx"])


def meta(code):
    return AlgorithmMetadata({"rawcode": code, "language": "python", "format": "docker-image", "version": "0.1",
                              "container": {"entrypoint": "python $ALGO", "image": "python", "tag": "3.11"}})


def start(code):
    return DataServiceProvider.start_compute_job(service, consumer, dataset, cfg["environment"],
                                                 algorithm_meta=meta(code))


def wait(job_id, until):
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = DataServiceProvider.compute_job_status(cfg["did"], job_id, service, consumer)
        if until(job):
            return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not get there in 180 s: {job}")


method, nonce_url = DataServiceProvider.build_endpoint("nonce", url, {"userAddress": consumer.address})
report("nonce", value=DataServiceProvider._http_method(method, url=nonce_url).json()["nonce"])
report("provider", address=DataServiceProvider.get_provider_address(url, cfg["chain_id"]))
envs = DataServiceProvider.get_c2d_environments(url, cfg["chain_id"])
report("environments", ids=[env["id"] for env in envs], free=[env["id"] for env in envs if env["priceMin"] == 0])

first = start(cfg["algorithm"])
report("start", job=first)
job = wait(first["jobId"], lambda j: j["dateFinished"])
report("status", job=job)
for index, entry in enumerate(job["results"]):
    data = DataServiceProvider.compute_job_result(first["jobId"], index, service, consumer)
    report("result", index=index, type=entry["type"], filename=entry["filename"], text=data.decode("utf-8"))

second = start(cfg["waiting_algorithm"])
wait(second["jobId"], lambda j: j["status"] == 40)
stopped = DataServiceProvider.stop_compute_job(cfg["did"], second["jobId"], service, consumer)
report("stop", job=stopped)
report("stopped", job=wait(second["jobId"], lambda j: j["dateFinished"]))

unknown = ComputeInput(DDO(did=cfg["unknown_did"], chain_id=cfg["chain_id"]), service, transfer_tx_id=cfg["tx"])
try:
    DataServiceProvider.start_compute_job(service, consumer, unknown, cfg["environment"],
                                          algorithm_meta=meta(cfg["algorithm"]))
    report("refused", error=None)
except DataProviderException as exc:
    report("refused", error=str(exc))

for job_id in (first["jobId"], second["jobId"]):
    answer = DataServiceProvider.delete_compute_job(cfg["did"], job_id, service, consumer)
    report("delete", job_id=job_id, answer=answer)
method, status_url = DataServiceProvider.build_endpoint("computeStatus", url, {"consumerAddress": consumer.address})
report("after_delete", jobs=DataServiceProvider._http_method(method, url=status_url).json())
method, nonce_url = DataServiceProvider.build_endpoint("nonce", url, {"userAddress": consumer.address})
report("nonce", value=DataServiceProvider._http_method(method, url=nonce_url).json()["nonce"])
'''


def _build_venv() -> float:
    """Build ocean-lib's venv (seconds taken; 0 when a complete one is there). Holds a lock while building."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / ".ocean-lib-3.1.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = str(VENV / "bin" / "python")
        if READY.is_file() and READY.read_text() == REQUIREMENT and _imports(python):
            return 0.0
        began = time.monotonic()
        shutil.rmtree(VENV, ignore_errors=True)  # half-built (no READY) or broken: built again from scratch
        _step([sys.executable, "-m", "venv", str(VENV)], 300)
        _step([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", REQUIREMENT], BUILD_TIMEOUT_S)
        _step([python, "-c", IMPORT_CHECK], 300)
        READY.write_text(REQUIREMENT)
        return time.monotonic() - began


def _imports(python: str) -> bool:
    """Whether the venv's Python runs and imports ocean-lib's provider client."""
    try:
        return subprocess.run([python, "-c", IMPORT_CHECK], capture_output=True, timeout=300).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _step(argv: list[str], timeout: float) -> None:
    """One build command; its output is shown only when it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        pytest.fail(f"building ocean-lib's venv failed: {' '.join(argv)} (exit {done.returncode})\n"
                    f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


@pytest.fixture(scope="module")
def ocean_lib_python() -> Path:
    """The Python of a venv with ocean-lib 3.1 (built on first use, minutes; reused afterwards)."""
    took = _build_venv()
    print(f"ocean-lib venv: {f'built in {took:.0f} s' if took else 'reused'} at {VENV}")
    return VENV / "bin" / "python"


def run_driver(python: Path, sb: OceanProviderSandbox) -> list[dict[str, Any]]:
    cfg = {"url": sb.base_url, "key": HARDHAT_KEYS[1], "chain_id": sb.chain_id, "did": DEMO_DATASET_DID,
           "service_id": DEMO_DATASET_SERVICE_ID, "tx": "0x" + "3c" * 32, "environment": FREE_ENVIRONMENT_ID,
           "algorithm": POD_ALGORITHM, "waiting_algorithm": WAITING_ALGORITHM, "unknown_did": "did:op:" + "0" * 64}
    done = subprocess.run([str(python), "-c", DRIVER, json.dumps(cfg)], capture_output=True, text=True,
                          timeout=DRIVER_TIMEOUT_S)
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"step"')]
    for step in steps:  # shown with -s, and with a failure
        print("ocean-lib:", json.dumps(step)[:300])
    assert done.returncode == 0, f"driver failed after {[s['step'] for s in steps]}:\n{done.stderr[-4000:]}"
    return steps


@pytest.mark.timeout(BUILD_TIMEOUT_S + DRIVER_TIMEOUT_S + 300)
def test_ocean_lib_data_service_provider_runs_a_pod_algorithm_end_to_end(ocean_lib_python: Path) -> None:
    with OceanProviderSandbox(step_delay_s=0.05) as sb:
        steps = run_driver(ocean_lib_python, sb)
        by_step: dict[str, list[dict[str, Any]]] = {}
        for step in steps:
            by_step.setdefault(step["step"], []).append(step)
        address = HARDHAT_ADDRESSES[1]

        first_nonce, last_nonce = (s["value"] for s in by_step["nonce"])
        assert first_nonce == 0 and last_nonce == sb.nonce_of(address) > 0, "each signed call stored its nonce"
        assert by_step["provider"][0]["address"] == sb.provider_address
        assert by_step["environments"][0]["free"] == [FREE_ENVIRONMENT_ID]

        started = by_step["start"][0]["job"]
        assert (started["status"], started["owner"], started["algoDID"]) == (1, address, "raw")
        finished = by_step["status"][0]["job"]
        assert (finished["status"], finished["statusText"], finished["stopreq"]) == (70, "Job finished", 0)
        assert [(r["type"], r["filename"]) for r in finished["results"]] == [
            ("output", "total.json"), ("algorithmLog", "algorithm.log"), ("configrationLog", "configure.log")]

        results = by_step["result"]
        assert [r["index"] for r in results] == [0, 1, 2]
        total = json.loads(results[0]["text"])
        assert total == {"did": DEMO_DATASET_DID, "rows": 10, "total": 155.0}, "the pod algorithm read $INPUTS"
        assert results[1]["text"] == f"read 10 rows of {DEMO_DATASET_DID}\n"
        assert "provisioning success" in results[2]["text"]

        assert by_step["stop"][0]["job"]["stopreq"] == 1
        stopped = by_step["stopped"][0]["job"]
        assert (stopped["status"], stopped["stopreq"]) == (70, 1)
        assert by_step["refused"][0]["error"] == "computeStartEndpoint failed: {'dataset.documentId': 'did_not_found'}"
        assert [d["answer"] for d in by_step["delete"]] == ["", ""], "the Provider's code answers an empty body"
        assert by_step["after_delete"][0]["jobs"] == []
