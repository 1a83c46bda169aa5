"""The modelarts backend against the ModelArts sandbox over real HTTP on loopback, with OBS on a
real S3 server (moto): AK/SK signing and IAM tokens, clusters and pools, training jobs that really
run, logs, results into pandas, terminate/delete, bad specs refused before anything is created,
and no secret in any answer, error or log record. Pure parts (phase table, quantities) row by row."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, UTC
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from conftest import (
    MA_AK,
    MA_BUCKET,
    MA_OBS_KEY,
    MA_OBS_SECRET,
    MA_PROJECT,
    MA_SK,
    MA_TOKEN,
    read_result,
    run,
    s3_client,
    started,
    wait_status,
)

from jupyter_compute.backends.base import backend_class
from jupyter_compute.backends.modelarts import ModelArtsBackend
from jupyter_compute.backends.modelarts.capacity import Resources, accelerator_type, parse_quantity
from jupyter_compute.backends.modelarts.status import TRAINING_PHASES as STATUS
from jupyter_compute.backends.modelarts.training import job_status, log_slice
from jupyter_compute.backends.modelarts.storage import ObsStore, obs_path
from jupyter_compute.errors import AuthError, BackendError, InvalidSpec, NotFound
from jupyter_compute.forms import check_spec
from jupyter_compute.models import JobSpec, JobState
from jupyter_compute.results import read_frame

PROJECT, BUCKET = MA_PROJECT, MA_BUCKET
AK, SK, TOKEN, OBS_KEY, OBS_SECRET = MA_AK, MA_SK, MA_TOKEN, MA_OBS_KEY, MA_OBS_SECRET
SECRETS = (AK, SK, TOKEN, OBS_KEY, OBS_SECRET)
CPU_POOL, GPU_POOL, NPU_POOL = "pool-cpu-a1b2c3", "pool-gpu-d4e5f6", "pool-npu-g7h8i9"
MIXED_POOL = "pool-mix-j1k2l3"  # offers two flavors
CPU_FLAVOR = "modelarts.vm.cpu.8u"
CSV = "city,temp\nparis,21.5\nlyon,24.0\nparis,19.5\nnice,26.0\n"
#: Reads every CSV of --data_url, writes mean temperature per city to --train_url/metrics.csv.
BOOT = '''\
import argparse, csv, glob, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--data_url")
parser.add_argument("--train_url")
parser.add_argument("--scale", type=float, default=1.0)
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()
print("reading", os.path.basename(args.data_url.rstrip("/")), flush=True)
sums, counts = {}, {}
for path in sorted(glob.glob(os.path.join(args.data_url, "**", "*.csv"), recursive=True)):
    with open(path) as f:
        for row in csv.DictReader(f):
            sums[row["city"]] = sums.get(row["city"], 0.0) + float(row["temp"]) * args.scale
            counts[row["city"]] = counts.get(row["city"], 0) + 1
for i in range(int(args.sleep * 10)):
    print("tick", i, flush=True)
    time.sleep(0.1)
with open(os.path.join(args.train_url, "metrics.csv"), "w") as f:
    f.write("city,mean_temp,rows\\n")
    for city in sorted(sums):
        f.write(f"{city},{sums[city] / counts[city]},{counts[city]}\\n")
print("wrote metrics for", len(sums), "cities", flush=True)
'''


# --- pure parts: the phase table, quantities, OBS paths ----------------------------------------


@pytest.mark.parametrize(
    ("phase", "state"),
    [("Creating", JobState.QUEUED), ("Pending", JobState.QUEUED), ("Running", JobState.RUNNING),
     ("Completed", JobState.SUCCEEDED), ("Failed", JobState.FAILED), ("Abnormal", JobState.FAILED),
     ("Terminating", JobState.CANCELLED), ("Terminated", JobState.CANCELLED)],
)  # fmt: skip
def test_phase_table_row_by_row(phase: str, state: JobState) -> None:
    assert STATUS[phase] is state
    secondary = {"Failed": "CreateFailed", "Pending": "Queuing"}.get(phase, phase)
    status = job_status({"status": {"phase": phase, "secondary_phase": secondary, "start_time": 1700000000000,
                                    "duration": 61500}})  # fmt: skip
    assert status.state is state
    assert status.native_status == f"{phase} ({secondary})"
    assert status.started == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    if state.is_terminal:
        assert status.finished == datetime(2023, 11, 14, 22, 14, 21, 500000, tzinfo=UTC)
    else:
        assert status.finished is None


def test_phase_table_is_complete_and_unknown_phases_are_unknown() -> None:
    assert set(STATUS) == {"Creating", "Pending", "Running", "Completed", "Failed", "Abnormal", "Terminating",
                           "Terminated"}  # fmt: skip
    status = job_status({"status": {"phase": "Hibernating"}})
    assert status.state is JobState.UNKNOWN and "Hibernating" in status.message
    assert job_status({"status": {"phase": "Creating", "start_time": 0}}).started is None
    failed = job_status({"status": {"phase": "Failed", "secondary_phase": "Failed", "task_statuses": [
        {"task": "worker-0", "exit_code": 1, "message": "exited with code 1: ValueError: bad row"}]}})
    assert failed.state is JobState.FAILED and "ValueError: bad row" in failed.message


@pytest.mark.parametrize(
    ("text", "value"),
    [("3920m", 3.92), ("8", 8.0), ("191", 191.0), ("0", 0.0), ("0.5", 0.5), ("1e3", 1000.0),
     ("6270Mi", 6270 * 2**20), ("30Gi", 30 * 2**30), ("1G", 1e9), ("512Ki", 512 * 1024), ("2T", 2e12),
     ("1073741824", 2**30.0), (4, 4.0), (2.5, 2.5), ("250u", 0.00025)],
)  # fmt: skip
def test_parse_quantity(text: Any, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", "abc", "12Q", "-1", "1.2.3", "Mi", "5e", None, True, [], "1 Gi"])
def test_parse_quantity_refuses_what_is_not_a_quantity(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)


def test_node_resources_cpu_memory_gpu_and_npu() -> None:
    gpu = Resources.parse({"cpu": "7920m", "memory": "6270Mi", "nvidia.com/gpu": "1"})
    assert gpu.cpus == pytest.approx(7.92) and gpu.memory_gb == pytest.approx(6270 / 1024)
    assert gpu.accelerators == 1 and gpu.gpu_type == "NVIDIA GPU"
    npu = Resources.parse({"cpu": "191", "memory": "1500Gi", "huawei.com/ascend-snt9": "8"})
    assert (npu.cpus, npu.memory_gb, npu.accelerators, npu.gpu_type) == (191, 1500, 8, "Ascend snt9")
    snt3 = Resources.parse({"huawei.com/ascend-snt3": "4", "memory": "not-a-quantity"})
    assert (snt3.accelerators, snt3.gpu_type, snt3.memory_gb) == (4, "Ascend snt3", 0)
    assert accelerator_type("huawei.com/ascend-1980") == "Ascend 1980" and accelerator_type("cpu") is None


@pytest.mark.parametrize(
    "body",
    [{"error_code": "ModelArts.2775", "error_msg": "job not found"},
     {"errorCode": "ModelArts.2775", "errorMsg": "job not found"},
     {"code": "ModelArts.2775", "message": "job not found"}],
)  # fmt: skip
def test_platform_errors_in_every_spelling(body: dict[str, str]) -> None:
    from jupyter_compute.backends.modelarts.backend import platform_error

    response = httpx.Response(400, json=body, request=httpx.Request("GET", "http://127.0.0.1/x"))
    assert platform_error(response) == ("ModelArts.2775", "job not found")
    plain = httpx.Response(502, text="<html>bad gateway</html>", request=httpx.Request("GET", "http://127.0.0.1/x"))
    assert platform_error(plain) == ("", "<html>bad gateway</html>")


def test_log_slice_by_byte_offset_and_preview_tail() -> None:
    whole = "héllo\nworld\n"
    preview = {"content": whole, "current_size": len(whole.encode()), "full_size": len(whole.encode())}
    assert log_slice(preview, 0) == (whole, 13)
    assert log_slice(preview, 7) == ("world\n", 13)
    assert log_slice(preview, 13) == ("", 13)
    tail = {"content": "world\n", "current_size": 6, "full_size": 13}  # only the last bytes are kept
    assert log_slice(tail, 7) == ("world\n", 13)
    text, end = log_slice(tail, 2)
    assert end == 13 and text.startswith("[5 bytes of the log are older than its preview") and text.endswith("world\n")
    assert log_slice({}, 0) == ("", 0)


@pytest.mark.parametrize(
    ("text", "path"),
    [("obs://b1/data/in.csv", "b1/data/in.csv"), ("/b1/data/in.csv", "b1/data/in.csv"),
     ("obs://b1/out/", "b1/out/"), (" /b1/a//b/ ", "b1/a/b/")],
)  # fmt: skip
def test_obs_paths(text: str, path: str) -> None:
    assert obs_path(text, "inputs[0]") == path


@pytest.mark.parametrize("bad", ["s3://b1/x", "https://obs.example.com/b1/x", "b1/x", "obs://b1", "obs://b1/",
                                 "//b1/x", "obs://b1/../x", ""])  # fmt: skip
def test_non_obs_paths_name_the_field(bad: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        obs_path(bad, "inputs[2]")
    assert err.value.field == "inputs[2]"


# --- the sandbox, OBS and the backend -----------------------------------------------------------


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("MA_AK", AK), ("MA_SK", SK), ("MA_TOKEN", TOKEN), ("OBS_AK", OBS_KEY),
                        ("OBS_SK", OBS_SECRET)):  # fmt: skip
        monkeypatch.setenv(name, value)


def config(sb: Any, obs_endpoint: str, auth: str = "aksk", **extra: Any) -> dict[str, Any]:
    keys = {"token_env": "MA_TOKEN"} if auth == "token" else {"ak_env": "MA_AK", "sk_env": "MA_SK"}
    return {
        "endpoint": sb.base_url, "project_id": PROJECT, **keys, "obs_endpoint": obs_endpoint,
        "obs_ak_env": "OBS_AK", "obs_sk_env": "OBS_SK", "upload_root": f"obs://{BUCKET}/jupyter-compute/",
        "nodes_page_size": 2, "timeout_s": 20, **extra,
    }  # fmt: skip


def backend(sb: Any, obs_endpoint: str, auth: str = "aksk", *, roots: tuple[Path, ...] = (),
            **extra: Any) -> AbstractAsyncContextManager[ModelArtsBackend]:  # fmt: skip
    """The backend started; ``roots``: the folders its local files must lie in, as a server sets them."""
    made = ModelArtsBackend("ma", config(sb, obs_endpoint, auth, **extra))
    made.local_roots = tuple(r.resolve() for r in roots)
    return started(made)


def count_requests(b: ModelArtsBackend) -> list[tuple[str, str]]:
    """Give the backend an HTTP client that records every request it really sends: (method, path)."""
    sent: list[tuple[str, str]] = []

    async def record(request: httpx.Request) -> None:
        sent.append((request.method, request.url.path))

    b._http = httpx.AsyncClient(timeout=b.timeout, headers={"Accept": "application/json"},
                                event_hooks={"request": [record]})  # fmt: skip
    return sent


async def follow_logs(b: ModelArtsBackend, remote_id: str, limit: float = 30.0) -> tuple[str, int]:
    """Read the log by offset until it is complete: (all text, final offset)."""
    text, offset = "", 0
    deadline = time.monotonic() + limit
    while True:
        chunk = await b.logs(remote_id, offset)
        assert chunk.offset >= offset
        text, offset = text + chunk.text, chunk.offset
        if chunk.complete:
            return text, offset
        assert time.monotonic() < deadline, "the log never completed"
        await asyncio.sleep(0.1)


def code_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "train.py").write_text(BOOT)
    (folder / "helpers").mkdir()
    (folder / "helpers" / "README.txt").write_text("not run\n")
    return folder


def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "cities.csv"
    path.write_text(CSV)
    return path


def spec(**values: Any) -> JobSpec:
    return JobSpec(backend="ma", **values)


def metrics(frame: Any) -> dict[str, tuple[float, int]]:
    return {str(c): (float(m), int(r)) for c, m, r in zip(frame["city"], frame["mean_temp"], frame["rows"], strict=True)}


def assert_no_secret(*things: Any) -> None:
    for thing in things:
        texts = [repr(thing), str(thing)]
        data = thing.to_dict() if hasattr(thing, "to_dict") else getattr(thing, "__dict__", None)
        if data is not None:
            texts.append(json.dumps(data, default=str))
        for text in texts:
            for secret in SECRETS:
                assert secret not in text, f"a secret leaked into {type(thing).__name__}: {text[:300]}"


def assert_no_secret_held(b: ModelArtsBackend) -> None:
    """No secret in the reprs of what the backend holds: its attributes, its OBS store's, its credentials'."""
    stores = [v for v in vars(b).values() if isinstance(v, ObsStore)]
    assert stores, "the backend holds its OBS store"
    assert_no_secret(repr(vars(b)), repr(vars(b.auth)), *(repr(vars(store)) for store in stores))


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for secret in SECRETS:
            assert secret not in text, f"a secret was logged by {record.name}: {text[:300]}"


# --- config, capabilities, the form -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"region": "cn-north-4"}, "region"), ({"endpoint": None}, "endpoint"), ({"endpoint": "ftp://x"}, "endpoint"),
     ({"project_id": None}, "project_id"), ({"token_env": "T"}, "token_env"),
     ({"upload_root": "s3://b/x"}, "upload_root"),
     ({"nodes_page_size": 0}, "nodes_page_size"), ({"nodes_page_size": 501}, "nodes_page_size"),
     ({"search_page_size": 0}, "search_page_size"), ({"search_page_size": 51}, "search_page_size"),
     ({"timeout_s": -1}, "timeout_s"), ({"obs_endpoint": "obs.example.com"}, "obs_endpoint")],
)  # fmt: skip
def test_bad_config_names_the_key(changes: dict[str, Any], field: str) -> None:
    values = {"endpoint": "http://127.0.0.1:1", "project_id": PROJECT, "ak_env": "MA_AK", "sk_env": "MA_SK"}
    values.update(changes)
    with pytest.raises(InvalidSpec) as err:
        ModelArtsBackend("ma", {k: v for k, v in values.items() if v is not None})
    assert err.value.field == field


def test_kind_capabilities_and_form() -> None:
    assert backend_class("modelarts") is ModelArtsBackend
    aksk = ModelArtsBackend("ma", {"endpoint": "http://127.0.0.1:1", "project_id": PROJECT, "ak_env": "MA_AK",
                                   "sk_env": "MA_SK", "upload_root": "obs://b/root/"})  # fmt: skip
    caps = aksk.capabilities
    assert caps.can_cancel and caps.can_delete and caps.can_list and caps.has_logs and caps.has_results
    assert caps.has_environments and caps.has_clusters and aksk.batch_status
    assert not caps.can_proxy and aksk.api_base is None  # an AK/SK signature covers one request only
    token = ModelArtsBackend("ma", {"endpoint": "http://127.0.0.1:1/", "project_id": PROJECT, "token_env": "MA_TOKEN"})
    assert token.capabilities.can_proxy and token.api_base == "http://127.0.0.1:1/"
    headers = run(token.auth_headers)
    assert headers == {"X-Auth-Token": TOKEN, "X-Project-Id": PROJECT}
    assert_no_secret(aksk.describe(), token.describe())
    assert aksk.describe()["url"] == "http://127.0.0.1:1" and token.describe()["auth"] == "token"
    form = aksk.form()
    for name in ("script", "extra.code_dir", "extra.boot_file", "algorithm", "extra.image_url", "command",
                 "extra.engine", "environment", "cluster", "extra.node_count", "inputs", "params", "output"):
        assert form.has(name), name
    assert "obs://b/root/" in form.field("output").help
    with pytest.raises(InvalidSpec) as err:
        check_spec(form, {"script": "train.py", "extra": {"node_count": 0}})
    assert err.value.field == "extra.node_count"


def test_missing_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token nor keys: the backend cannot be made (the server lists it unavailable with this message);
    set ones are read again at every call, so a rotated token is used and a removed one is named."""
    monkeypatch.delenv("MA_SK")
    monkeypatch.delenv("MA_TOKEN")
    base = {"endpoint": "http://127.0.0.1:1", "project_id": PROJECT}
    for keys, names in (({"ak_env": "MA_AK", "sk_env": "MA_SK"}, ("MA_AK", "MA_SK")),
                        ({"token_env": "MA_TOKEN"}, ("MA_TOKEN",))):  # fmt: skip
        with pytest.raises(AuthError) as err:
            ModelArtsBackend("ma", {**base, **keys})
        assert all(name in err.value.message for name in names), err.value.message
        assert AK not in err.value.message
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "MODELARTS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AuthError) as err:  # nothing configured, none of the default variables set
        ModelArtsBackend("ma", base)
    assert all(n in err.value.message for n in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "MODELARTS_TOKEN"))

    monkeypatch.setenv("MA_TOKEN", "the-first-token-value")
    token = ModelArtsBackend("ma", {**base, "token_env": "MA_TOKEN"})
    monkeypatch.setenv("MA_TOKEN", TOKEN)  # rotated
    assert run(token.auth_headers)["X-Auth-Token"] == TOKEN
    monkeypatch.delenv("MA_TOKEN")

    async def removed() -> None:
        with pytest.raises(AuthError) as err:
            await token.status("some-job")
        assert "MA_TOKEN" in err.value.message
        await token.close()

    run(removed)


# --- over HTTP against the sandbox ---------------------------------------------------------------


def test_clusters_and_pools_with_aksk(modelarts: Any, obs: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jupyter_compute")

    async def scenario() -> None:
        async with backend(modelarts, obs) as b:
            sent = count_requests(b)
            clusters = {c.id: c for c in await b.clusters()}
            node_pages = [p for m, p in sent if m == "GET" and p == f"/v2/{PROJECT}/pools/{CPU_POOL}/nodes"]
            environments = {e.id: e for e in await b.environments()}
            assert_no_secret(*clusters.values(), *environments.values())
        v1 = [c for c in clusters.values() if c.id.startswith("cluster:")]
        assert len(v1) == 5 and all(c.backend == "ma" for c in v1)
        small = clusters["cluster:ff8080817a1c2b3d017a1c2b9e010005"]
        assert (small.name, small.status, small.nodes, small.nodes_available) == ("analytics-small", "running", 1, 1)
        assert small.cpus_allocatable == 3.5 and small.memory_gb_allocatable == 12.0 and small.gpus_allocatable == 0.5
        cpu = clusters[f"pool:{CPU_POOL}"]
        assert cpu.name == "cpu-pool" and cpu.status == "Running"
        assert cpu.nodes == 7 and cpu.nodes_available == 5  # every node, through the continue pages
        assert cpu.cpus == pytest.approx(7 * 7.8) and cpu.memory_gb == pytest.approx(7 * 30)
        assert 0 < cpu.cpus_allocatable < cpu.cpus and 0 < cpu.memory_gb_allocatable < cpu.memory_gb
        assert cpu.gpus == 0 and cpu.gpu_type is None
        gpu = clusters[f"pool:{GPU_POOL}"]
        assert (gpu.nodes, gpu.gpus, gpu.gpus_allocatable, gpu.gpu_type) == (2, 2, 1, "NVIDIA GPU")
        assert gpu.cpus == pytest.approx(2 * 7.92) and gpu.memory_gb == pytest.approx(2 * 6270 / 1024, abs=0.001)
        npu = clusters[f"pool:{NPU_POOL}"]
        assert (npu.nodes, npu.nodes_available, npu.gpus, npu.gpus_allocatable) == (2, 1, 16, 6)
        assert npu.gpu_type == "Ascend snt9" and npu.memory_gb == 3000
        assert len(node_pages) == 4  # 7 nodes, 2 a page: 3 continue tokens followed
        flavor = environments[CPU_FLAVOR]
        assert flavor.cpus == pytest.approx(7.8) and flavor.memory_gb == 30 and flavor.gpus == 0
        assert flavor.raw["pools"] == [f"pool:{CPU_POOL}"]
        t4 = environments["modelarts.vm.gpu.t4"]
        assert (t4.gpus, t4.gpu_type) == (1, "NVIDIA GPU")
        snt9 = environments["modelarts.bm.npu.arm.8snt9.d"]
        assert (snt9.gpus, snt9.gpu_type, snt9.cpus) == (8, "Ascend snt9", 191)

    run(scenario)
    assert_no_secret_logged(caplog)


def test_pools_of_one_workspace(modelarts: Any, obs: str) -> None:
    async def scenario() -> None:
        async with backend(modelarts, obs, workspace_id="ws-research-01") as b:
            pools = [c.id for c in await b.clusters() if c.id.startswith("pool:")]
            assert pools == [f"pool:{NPU_POOL}"]

    run(scenario)


def test_training_job_round_trip_with_aksk(modelarts: Any, obs: str, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """A local code folder and a local CSV (as an uploaded DataFrame arrives) → a job that really runs
    on the platform → metrics.csv on OBS → a DataFrame with the values the job computed."""
    caplog.set_level(logging.DEBUG, logger="jupyter_compute")
    code, data = code_folder(tmp_path), csv_file(tmp_path)
    job = spec(script=str(code), extra={"boot_file": "train.py"}, inputs=[str(data)], params={"scale": 2},
               environment=CPU_FLAVOR, cluster=f"pool:{CPU_POOL}", name="mean temps")  # fmt: skip

    async def scenario() -> None:
        async with backend(modelarts, obs, roots=(tmp_path,)) as b:
            assert b.validate(job) == job
            sub = await b.submit(job, "job-aksk-1")
            assert sub.status.state is JobState.QUEUED and sub.status.native_status.startswith("Creating")
            root = "jupyter-compute/job-aksk-1/"
            listed = s3_client(obs, OBS_KEY, OBS_SECRET).list_objects_v2(Bucket=BUCKET, Prefix=root).get("Contents", [])
            assert {o["Key"][len(root):] for o in listed} == {
                "code/train.py", "code/helpers/README.txt", "inputs/data_url/cities.csv"}  # fmt: skip
            created = modelarts.job(sub.remote_id)
            assert created["metadata"]["name"] == "mean-temps"
            assert created["spec"]["resource"] == {"node_count": 1, "flavor_id": CPU_FLAVOR, "pool_id": CPU_POOL}
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.SUCCEEDED, status.message
            assert status.native_status == "Completed (Completed)"
            assert status.started is not None and status.finished is not None and status.finished >= status.started
            results = await b.results(sub.remote_id)
            assert [(r.name, r.kind, r.media_type) for r in results] == [("metrics.csv", "output", "text/csv")]
            body = await read_result(b, sub.remote_id, "metrics.csv")
            assert results[0].size == len(body)
            frame = read_frame(body, "metrics.csv", results[0].media_type)
            assert metrics(frame) == {"lyon": (48.0, 1), "nice": (52.0, 1), "paris": (41.0, 2)}
            with pytest.raises(NotFound):
                await read_result(b, sub.remote_id, "no-such-file.csv")
            with pytest.raises(NotFound):
                await read_result(b, sub.remote_id, "../code/train.py")
            text, offset = await follow_logs(b, sub.remote_id)
            assert "reading data_url" in text and "wrote metrics for 3 cities" in text
            again = await b.logs(sub.remote_id, offset)
            assert again.text == "" and again.offset == offset and again.complete
            many = await b.status_many([sub.remote_id])
            assert many[sub.remote_id].state is JobState.SUCCEEDED
            listed = dict(await b.list_jobs())
            assert listed[sub.remote_id].native_status == "Completed (Completed)"
            assert await b.recover("job-aksk-1") == sub.remote_id
            assert_no_secret(sub, status, *results, many[sub.remote_id], b.describe())
            assert_no_secret_held(b)
        async with backend(modelarts, obs) as fresh:  # a restarted server finds the outputs from the job itself
            assert [r.name for r in await fresh.results(sub.remote_id)] == ["metrics.csv"]
            assert await read_result(fresh, sub.remote_id, "metrics.csv") == body

    run(scenario)
    assert_no_secret_logged(caplog)


def test_terminate_then_delete(modelarts: Any, obs: str, tmp_path: Path) -> None:
    code, data = code_folder(tmp_path), csv_file(tmp_path)

    async def scenario() -> None:
        async with backend(modelarts, obs, roots=(tmp_path,)) as b:
            job = spec(script=str(code / "train.py"), inputs=[f"data_url={data}"], params={"sleep": 60},
                       environment=CPU_FLAVOR)  # fmt: skip
            sub = await b.submit(job, "job-stop-1")
            await wait_status(b, sub.remote_id, {JobState.RUNNING})
            deadline = time.monotonic() + 30
            first = await b.logs(sub.remote_id)
            while "tick" not in first.text:  # the program itself runs
                assert time.monotonic() < deadline, first.text
                await asyncio.sleep(0.1)
                first = await b.logs(sub.remote_id)
            assert not first.complete
            second = await b.logs(sub.remote_id, first.offset)
            while not second.text:  # followed from the offset: only what came after
                assert time.monotonic() < deadline, second
                await asyncio.sleep(0.1)
                second = await b.logs(sub.remote_id, first.offset)
            assert not second.text.startswith(first.text)
            whole = await b.logs(sub.remote_id, 0)
            assert whole.text.startswith(first.text + second.text) and second.offset >= first.offset
            await b.cancel(sub.remote_id)
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.CANCELLED  # Terminating already counts as cancelled
            while not status.native_status.startswith("Terminated"):
                assert time.monotonic() < deadline, status
                await asyncio.sleep(0.1)
                status = await b.status(sub.remote_id)
            assert status.state is JobState.CANCELLED and status.native_status == "Terminated (Terminated)"
            assert (await follow_logs(b, sub.remote_id))[0].count("tick") < 60
            with pytest.raises(InvalidSpec) as err:  # the platform refuses to stop a finished job, in its words
                await b.cancel(sub.remote_id)
            assert "ModelArts.0105" in err.value.message
            await b.delete(sub.remote_id)
            with pytest.raises(NotFound) as gone:
                await b.status(sub.remote_id)
            assert "ModelArts.2775" in gone.value.message
            assert sub.remote_id not in await b.status_many([sub.remote_id])
            with pytest.raises(NotFound):
                await b.logs(sub.remote_id)

    run(scenario)


def test_token_flow_with_code_and_input_on_obs(modelarts: Any, obs: str, caplog: pytest.LogCaptureFixture) -> None:
    """The same flow with X-Auth-Token: code and data already on OBS, a pool with one flavor and no flavor
    given, the output folder chosen; then a wrong secret key is an AuthError with the platform's code."""
    caplog.set_level(logging.DEBUG, logger="jupyter_compute")
    s3 = s3_client(obs, OBS_KEY, OBS_SECRET)
    s3.put_object(Bucket=BUCKET, Key="code/v1/train.py", Body=BOOT.encode())
    s3.put_object(Bucket=BUCKET, Key="data/cities/part-0.csv", Body=CSV.encode())
    job = spec(extra={"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": f"/{BUCKET}/code/v1/train.py"},
               inputs=[f"/{BUCKET}/data/cities/"], cluster=CPU_POOL, output=f"obs://{BUCKET}/results/run-1/")

    async def scenario() -> None:
        async with backend(modelarts, obs, auth="token") as b:
            sent = count_requests(b)
            sub = await b.submit(job, "job-token-1")
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.SUCCEEDED, status.message
            assert ("POST", f"/v2/{PROJECT}/training-jobs") in sent
            results = await b.results(sub.remote_id)
            assert [r.name for r in results] == ["metrics.csv"]
            frame = read_frame(await read_result(b, sub.remote_id, "metrics.csv"), "metrics.csv")
            assert metrics(frame) == {"lyon": (24.0, 1), "nice": (26.0, 1), "paris": (20.5, 2)}
            assert s3.head_object(Bucket=BUCKET, Key="results/run-1/metrics.csv")["ContentLength"] > 0
            assert_no_secret(sub, status, *results)
        async with backend(modelarts, obs) as wrong:
            with mock.patch.dict(os.environ, {"MA_SK": "wrong-secret-key-0000"}), pytest.raises(AuthError) as err:
                await wrong.status(sub.remote_id)
            assert "APIGW.0301" in err.value.message and "MA_SK" in err.value.message
            assert "wrong-secret-key-0000" not in str(err.value) and SK not in str(err.value)
            assert_no_secret(err.value, err.value.to_dict())
        async with backend(modelarts, obs, auth="token") as expired:
            with mock.patch.dict(os.environ, {"MA_TOKEN": "expired-token-value"}), pytest.raises(AuthError) as err:
                await expired.clusters()
            assert "APIGW.0301" in err.value.message and "expired-token-value" not in str(err.value)

    run(scenario)
    assert_no_secret_logged(caplog)


BAD_SPECS = [
    (dict(script="{code}/train.py"), "environment"),  # no flavor and no pool
    (dict(extra={"code_dir": f"obs://{BUCKET}/code/v1/"}, environment=CPU_FLAVOR), "extra.boot_file"),
    (dict(script="{code}", environment=CPU_FLAVOR), "extra.boot_file"),  # a folder without its boot file
    (dict(script="{code}", extra={"boot_file": "missing.py"}, environment=CPU_FLAVOR), "extra.boot_file"),
    (dict(script="{code}/train.py", cluster="pool:no-such-pool"), "cluster"),
    (dict(script="{code}/train.py", cluster="cluster:ff8080817a1c2b3d017a1c2b9e010001"), "cluster"),
    (dict(script="{code}/train.py", cluster=GPU_POOL, environment=CPU_FLAVOR), "environment"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, inputs=["s3://bucket/data.csv"]), "inputs[0]"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, inputs=["{data}", "https://x.org/a.csv"]), "inputs[1]"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, inputs=[f"obs://{BUCKET}/no/such.csv"]), "inputs[0]"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, output="bucket/out/"), "output"),
    (dict(extra={"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": "nope.py"}, environment=CPU_FLAVOR),
     "extra.boot_file"),
    (dict(script="{code}/missing.py", environment=CPU_FLAVOR), "script"),
    (dict(script="/proc/self/environ", environment=CPU_FLAVOR), "script"),  # the server's own secrets
    (dict(script="file:///proc/self/environ", environment=CPU_FLAVOR), "script"),
    (dict(script="{outside}", environment=CPU_FLAVOR), "script"),  # a file the server does not share
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, inputs=["file:///proc/self/environ"]), "inputs[0]"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, inputs=["{data}", "file://{outside}"]), "inputs[1]"),
    (dict(script="{code}/train.py", cluster=MIXED_POOL), "environment"),  # a pool of two flavors: say which
    (dict(environment=CPU_FLAVOR), "script"),
    (dict(algorithm="algo-1", script="{code}/train.py", environment=CPU_FLAVOR), "algorithm"),
    (dict(extra={"image_url": "swr.example/img:1"}, environment=CPU_FLAVOR), "command"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, extra={"node_count": 0}), "extra.node_count"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, extra={"gpus": 1}), "extra.gpus"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, params={"train_url": "x"}), "params"),
    (dict(script="{code}/train.py", environment=CPU_FLAVOR, timeout_s=60), "timeout_s"),
    # refused by the platform itself (its words name the field)
    (dict(extra={"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": "train.py"}, environment="modelarts.vm.v100"),
     "environment"),
    (dict(extra={"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": "train.py", "node_count": 99},
          environment=CPU_FLAVOR), "extra.node_count"),
]  # fmt: skip


def test_bad_specs_are_refused_before_anything_is_created(modelarts: Any, obs: str, tmp_path: Path) -> None:
    code, data = code_folder(tmp_path), csv_file(tmp_path)
    s3_client(obs, OBS_KEY, OBS_SECRET).put_object(Bucket=BUCKET, Key="code/v1/train.py", Body=BOOT.encode())

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(code=code, data=data, outside=Path(__file__).resolve())
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    async def scenario() -> None:
        async with backend(modelarts, obs, roots=(tmp_path,)) as b:
            before = len(await b.list_jobs())
            for i, (values, field) in enumerate(BAD_SPECS):
                bad = spec(**{k: fill(v) for k, v in values.items()})
                with pytest.raises(InvalidSpec) as err:
                    await b.submit(bad, f"job-bad-{i}")
                assert err.value.field == field, (values, err.value)
                assert_no_secret(err.value)
                if values.get("extra", {}).get("node_count") == 99 or values.get("environment") == "modelarts.vm.v100":
                    assert "ModelArts.276" in err.value.message  # the platform's error code is kept
            assert len(await b.list_jobs()) == before  # nothing created on the platform
        listed = s3_client(obs, OBS_KEY, OBS_SECRET).list_objects_v2(Bucket=BUCKET, Prefix="jupyter-compute/job-bad-")
        assert listed.get("KeyCount", 0) == 0  # and nothing uploaded

    run(scenario)


def test_validate_alone_names_the_field_without_the_platform(tmp_path: Path) -> None:
    code = code_folder(tmp_path)
    b = ModelArtsBackend("ma", {"endpoint": "http://127.0.0.1:1", "project_id": PROJECT, "ak_env": "MA_AK",
                                "sk_env": "MA_SK"})  # fmt: skip
    with pytest.raises(InvalidSpec) as err:  # without upload_root, a local script has nowhere to go
        b.validate(spec(script=str(code / "train.py"), environment=CPU_FLAVOR, output=f"obs://{BUCKET}/o/"))
    assert err.value.field == "script"
    with pytest.raises(InvalidSpec) as err:
        b.validate(spec(extra={"code_dir": f"/{BUCKET}/c/", "boot_file": "t.py"}, environment=CPU_FLAVOR))
    assert err.value.field == "output"
    ok = spec(extra={"code_dir": f"/{BUCKET}/c/", "boot_file": f"obs://{BUCKET}/c/t.py"}, environment=CPU_FLAVOR,
              output=f"obs://{BUCKET}/o/", inputs=[f"train=obs://{BUCKET}/d/x.csv"])  # fmt: skip
    assert b.validate(ok) == ok
    with pytest.raises(InvalidSpec) as err:
        b.validate(ok.replace(extra={"code_dir": f"/{BUCKET}/c/", "boot_file": f"obs://{BUCKET}/other/t.py"}))
    assert err.value.field == "extra.boot_file"


def test_status_many_walks_the_search_once(modelarts: Any, obs: str) -> None:
    s3_client(obs, OBS_KEY, OBS_SECRET).put_object(Bucket=BUCKET, Key="code/v1/train.py", Body=BOOT.encode())
    s3_client(obs, OBS_KEY, OBS_SECRET).put_object(Bucket=BUCKET, Key="data/cities/part-0.csv", Body=CSV.encode())

    async def scenario() -> None:
        async with backend(modelarts, obs) as b:
            ids = []
            for i in range(3):
                job = spec(extra={"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": "train.py"},
                           inputs=[f"obs://{BUCKET}/data/cities/"], environment=CPU_FLAVOR)  # fmt: skip
                ids.append((await b.submit(job, f"job-many-{i}")).remote_id)
            sent = count_requests(b)
            statuses = await b.status_many([*ids, "00000000-0000-0000-0000-000000000000"])
            assert set(statuses) == set(ids)  # the unknown id is absent: the platform does not know it
            assert sent == [("POST", f"/v2/{PROJECT}/training-job-searches")]  # one walk, no per-job reads
            for remote_id in ids:
                final = await wait_status(b, remote_id)
                assert final.state is JobState.SUCCEEDED, final.message
            sent.clear()
            statuses = await b.status_many(ids)
            assert {s.state for s in statuses.values()} == {JobState.SUCCEEDED} and len(sent) == 1
            assert await b.status_many([]) == {} and len(sent) == 1

    run(scenario)


def test_platform_texts_are_scrubbed(modelarts: Any, obs: str, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """A program that prints the keys it finds and fails with one in its message: the failure keeps the
    platform's words, and neither the status, the log nor our log records carry a secret."""
    caplog.set_level(logging.DEBUG, logger="jupyter_compute")
    leak = tmp_path / "leak.py"  # a job never sees the server's environment: the secrets are in its code
    leak.write_text(f"print('keys:', {SK!r}, {OBS_SECRET!r}, flush=True)\n"
                    f"raise SystemExit('cannot log in with ' + {AK!r} + ' / ' + {OBS_KEY!r})\n")

    async def scenario() -> None:
        async with backend(modelarts, obs, roots=(tmp_path,)) as b:
            sub = await b.submit(spec(script=str(leak), environment=CPU_FLAVOR), "job-leak-1")
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.FAILED and status.native_status == "Failed (Failed)"
            assert "worker-0: exited with code 1: cannot log in with ***" in status.message
            text, _ = await follow_logs(b, sub.remote_id)
            assert "keys: *** ***" in text
            many = await b.status_many([sub.remote_id])
            listed = dict(await b.list_jobs())
            assert_no_secret(status, text, many[sub.remote_id], listed[sub.remote_id])

    run(scenario)
    assert_no_secret_logged(caplog)


# --- local files, the job search's bound, the capacity walk, OBS timeouts -------------------------------


def test_the_servers_own_files_are_never_uploaded(modelarts: Any, obs: str, tmp_path: Path) -> None:
    """``/proc/self/environ`` (the server's environment, secrets and all) as the script or as a
    ``file://`` input is refused naming the field, with or without shared folders, and nothing reaches OBS."""
    code = code_folder(tmp_path)
    cases = [(spec(script="/proc/self/environ", environment=CPU_FLAVOR), "script"),
             (spec(script=str(code / "train.py"), inputs=["file:///proc/self/environ"], environment=CPU_FLAVOR),
              "inputs[0]")]  # fmt: skip

    async def scenario() -> None:
        for roots in ((tmp_path,), ()):  # as a server sets it up, and as a script uses the backend
            async with backend(modelarts, obs, roots=roots) as b:
                for i, (job, field) in enumerate(cases):
                    with pytest.raises(InvalidSpec) as err:
                        await b.submit(job, f"job-proc-{len(roots)}-{i}")
                    assert err.value.field == field, err.value
                    assert_no_secret(err.value)
        listed = s3_client(obs, OBS_KEY, OBS_SECRET).list_objects_v2(Bucket=BUCKET, Prefix="jupyter-compute/job-proc-")
        assert listed.get("KeyCount", 0) == 0

    run(scenario)


def test_a_path_outside_the_shared_folders_is_an_obs_path(modelarts: Any, obs: str, tmp_path: Path) -> None:
    """``/tmp/…/cities.csv`` outside the server's folders is read as ``/bucket/key`` on OBS even though
    such a local file exists: the job computes from the OBS object, and the local file is not uploaded."""
    shared = tmp_path / "shared"
    shared.mkdir()
    outside = tmp_path / "outside" / "cities.csv"
    outside.parent.mkdir()
    outside.write_text("city,temp\nlocal-only,99\n")
    bucket, key = outside.parts[1], "/".join(outside.parts[2:])  # /tmp/… is bucket tmp, key …
    s3 = s3_client(obs, OBS_KEY, OBS_SECRET)
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"city,temp\nbergen,12\nbergen,14\n")
    s3.put_object(Bucket=BUCKET, Key="code/v1/train.py", Body=BOOT.encode())
    job = spec(extra={"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": "train.py"}, inputs=[str(outside)],
               environment=CPU_FLAVOR)  # fmt: skip

    async def scenario() -> None:
        async with backend(modelarts, obs, roots=(shared,)) as b:
            sub = await b.submit(job, "job-outside-1")
            inputs = modelarts.job(sub.remote_id)["algorithm"]["inputs"]
            assert [i["remote"]["obs"]["obs_url"] for i in inputs] == [str(outside)]
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.SUCCEEDED, status.message
            frame = read_frame(await read_result(b, sub.remote_id, "metrics.csv"), "metrics.csv")
            assert metrics(frame) == {"bergen": (13.0, 2)}
            listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="jupyter-compute/job-outside-1/inputs/")
            assert listed.get("KeyCount", 0) == 0, "nothing local was uploaded"

    run(scenario)


def test_status_many_reads_a_bounded_number_of_pages(modelarts: Any, obs: str) -> None:
    """With one job a page, ``status_many`` reads the pages its jobs fill, newest first, and at most
    STATUS_PAGES more: a job further back is left out (the monitor asks for it alone), still known to ``status``."""
    from jupyter_compute.backends.modelarts.backend import STATUS_PAGES

    s3_client(obs, OBS_KEY, OBS_SECRET).put_object(Bucket=BUCKET, Key="code/v1/train.py", Body=BOOT.encode())
    job = spec(extra={"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": "train.py"},
               output=f"obs://{BUCKET}/results/paged/", environment=CPU_FLAVOR)  # fmt: skip

    async def scenario() -> None:
        async with backend(modelarts, obs, search_page_size=1, workspace_id="ws-paged-01") as b:
            ids = [(await b.submit(job, f"job-paged-{i}")).remote_id for i in range(STATUS_PAGES + 3)]
            sent = count_requests(b)
            assert set(await b.status_many(ids)) == set(ids), "every job, one a page"
            assert sent == [("POST", f"/v2/{PROJECT}/training-job-searches")] * len(ids)
            sent.clear()
            assert await b.status_many(ids[:1]) == {}, "the oldest job lies beyond its page and STATUS_PAGES more"
            assert sent == [("POST", f"/v2/{PROJECT}/training-job-searches")] * (1 + STATUS_PAGES)
            assert (await b.status(ids[0])).state is not JobState.UNKNOWN
            assert len(await b.list_jobs()) == len(ids), "a full listing still walks every page"

    run(scenario)


def test_clusters_and_environments_share_one_bounded_walk(modelarts: Any, obs: str) -> None:
    async def scenario() -> None:
        async with backend(modelarts, obs) as b:
            sent = count_requests(b)
            clusters, environments, again = await asyncio.gather(b.clusters(), b.environments(), b.clusters())
            assert [c.id for c in clusters] == [c.id for c in again]
            assert {e.id for e in environments} >= {CPU_FLAVOR, "modelarts.vm.cpu.2u", "modelarts.vm.cpu.4u"}
            assert sent.count(("GET", f"/v2/{PROJECT}/pools")) == 1
            cpu_pages = [p for m, p in sent if p == f"/v2/{PROJECT}/pools/{CPU_POOL}/nodes"]
            assert len(cpu_pages) == 4, "7 nodes, 2 a page, read once for all three calls"
            await b.environments()
            assert sent.count(("GET", f"/v2/{PROJECT}/pools")) == 1, "a call soon after is answered from the walk"

    run(scenario)


@pytest.fixture
def silent_obs() -> Iterator[str]:
    """An endpoint that takes connections and never answers (a stuck OBS): its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # connections complete in the backlog; nothing ever reads or writes them
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_stuck_obs_is_an_error_not_a_hang(silent_obs: str) -> None:
    """Every OBS request has a read timeout and a bounded number of attempts (from ``timeout_s``)."""
    b = ModelArtsBackend("ma", {"endpoint": "http://127.0.0.1:1", "project_id": PROJECT, "ak_env": "MA_AK",
                                "sk_env": "MA_SK", "obs_endpoint": silent_obs, "obs_ak_env": "OBS_AK",
                                "obs_sk_env": "OBS_SK", "timeout_s": 0.2})  # fmt: skip
    job = spec(extra={"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": "train.py"},
               output=f"obs://{BUCKET}/results/stuck/", environment=CPU_FLAVOR)  # fmt: skip

    async def scenario() -> None:
        with pytest.raises(BackendError) as err:  # the generous deadline only keeps a hang from stalling the suite
            await asyncio.wait_for(b.submit(job, "job-stuck-1"), 120)
        message = err.value.message
        assert "checking the boot file failed" in message and "timeout" in message.lower(), message
        assert_no_secret(err.value)
        await b.close()

    run(scenario)


def test_a_folder_upload_never_follows_a_symbolic_link(obs: str, tmp_path: Path) -> None:
    from conftest import MA_BUCKET, MA_OBS_KEY, MA_OBS_SECRET

    from jupyter_compute.backends.modelarts.storage import KeyPair, ObsStore

    code, outside = tmp_path / "code", tmp_path / "outside.txt"
    (code / "lib").mkdir(parents=True)
    (code / "train.py").write_text("print('train')\n")
    (code / "lib" / "util.py").write_text("X = 1\n")
    outside.write_text("not shared\n")
    (code / "env.txt").symlink_to("/proc/self/environ")
    (code / "lib" / "leak.txt").symlink_to(outside)
    (code / "linked-dir").symlink_to(tmp_path)
    store = ObsStore(obs, KeyPair(MA_OBS_KEY, MA_OBS_SECRET))
    written = store.upload(code, f"{MA_BUCKET}/symlinks/code/")
    assert sorted(written) == [f"{MA_BUCKET}/symlinks/code/lib/util.py", f"{MA_BUCKET}/symlinks/code/train.py"]
    assert sorted(store.list_files(f"{MA_BUCKET}/symlinks/code/")) == ["lib/util.py", "train.py"]
