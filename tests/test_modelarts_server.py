"""The modelarts backend through the Jupyter server: clusters, pools (every ``continue`` page) and flavors
over REST; a training job from a local folder and an uploaded CSV that really runs on the ModelArts sandbox
(OBS on moto's S3) → its log by offsets → metrics.csv as a DataFrame; cancel and delete; bad specs refused
with nothing created anywhere; the same with an IAM token; no secret in any answer, log line or the job
store; and the demo notebook against a live server."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

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
from jupyter_compute.sandbox.modelarts import ModelArtsSandbox

PROJECT, BUCKET = MA_PROJECT, MA_BUCKET
# distinct, recognisable secret values: none may leave the server's memory
AK, SK, TOKEN, OBS_KEY, OBS_SECRET = MA_AK, MA_SK, MA_TOKEN, MA_OBS_KEY, MA_OBS_SECRET
SECRETS = (AK, SK, TOKEN, OBS_KEY, OBS_SECRET)
ENV = {"MA_AK": AK, "MA_SK": SK, "MA_TOKEN": TOKEN, "MA_OBS_AK": OBS_KEY, "MA_OBS_SK": OBS_SECRET}
ROOT = "jupyter-compute/"
CPU_POOL, GPU_POOL, NPU_POOL = "pool-cpu-a1b2c3", "pool-gpu-d4e5f6", "pool-npu-g7h8i9"
CPU_FLAVOR, GPU_FLAVOR, NPU_FLAVOR = "modelarts.vm.cpu.8u", "modelarts.vm.gpu.t4", "modelarts.bm.npu.arm.8snt9.d"
MIXED_POOL, MIXED_FLAVORS = "pool-mix-j1k2l3", ("modelarts.vm.cpu.2u", "modelarts.vm.cpu.4u")
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}
CSV = "station,temp\nparis,21.5\nlyon,24.0\nparis,19.5\nnice,26.0\nnice,25.0\n"
#: Mean temperature per station of every CSV under --data_url, times --scale, into --train_url/metrics.csv.
TRAIN = '''\
import argparse, csv, glob, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--data_url")
parser.add_argument("--train_url")
parser.add_argument("--scale", type=float, default=1.0)
parser.add_argument("--ticks", type=int, default=0)
args = parser.parse_args()
sums, counts = {}, {}
for path in sorted(glob.glob(os.path.join(args.data_url, "**", "*.csv"), recursive=True)):
    print("reading", os.path.basename(path), flush=True)
    with open(path) as f:
        for row in csv.DictReader(f):
            sums[row["station"]] = sums.get(row["station"], 0.0) + float(row["temp"]) * args.scale
            counts[row["station"]] = counts.get(row["station"], 0) + 1
for i in range(args.ticks):
    print("tick", i, flush=True)
    time.sleep(0.1)
with open(os.path.join(args.train_url, "metrics.csv"), "w") as f:
    f.write("station,mean_temp,rows\\n")
    for station in sorted(sums):
        f.write(f"{station},{sums[station] / counts[station]},{counts[station]}\\n")
print("wrote metrics for", len(sums), "stations", flush=True)
'''
#: A program that prints secrets and fails naming some: the platform's words must be scrubbed. (A job never
#: sees the server's environment, so the secrets are written into its code, which goes to OBS only.)
LEAK = (f"print('keys:', {SK!r}, {OBS_SECRET!r}, flush=True)\n"
        f"raise SystemExit('cannot log in with ' + {AK!r} + ' / ' + {OBS_KEY!r})\n")


# --- platform, OBS, the server's backends --------------------------------------------------------


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def backend_config(endpoint: str, obs_endpoint: str, *, auth: str = "aksk", bucket: str = BUCKET) -> dict[str, Any]:
    keys = {"token_env": "MA_TOKEN"} if auth == "token" else {"ak_env": "MA_AK", "sk_env": "MA_SK"}
    return {
        "kind": "modelarts", "endpoint": endpoint, "project_id": PROJECT, **keys, "obs_endpoint": obs_endpoint,
        "obs_ak_env": "MA_OBS_AK", "obs_sk_env": "MA_OBS_SK", "upload_root": f"obs://{bucket}/{ROOT}",
        "nodes_page_size": 2, "poll_interval_s": 0.1, "timeout_s": 20,
    }  # fmt: skip


@pytest.fixture
def compute_config(modelarts: ModelArtsSandbox, obs: str, secret_env: None, server_log: list[str]) -> dict[str, Any]:
    return {"backends": {"ma": backend_config(modelarts.base_url, obs),
                         "ma-token": backend_config(modelarts.base_url, obs, auth="token")}}


async def platform(sb: ModelArtsSandbox, method: str, path: str, body: Any = None) -> httpx.Response:
    """One call straight to the ModelArts sandbox with the IAM token (what the platform itself holds)."""
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.request(method, f"{sb.base_url}/v2/{PROJECT}/{path}", json=body,
                                  headers={"X-Auth-Token": TOKEN})  # fmt: skip


async def platform_v1(sb: ModelArtsSandbox, path: str) -> httpx.Response:
    """A v1 GET straight to the ModelArts sandbox with the IAM token."""
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.get(f"{sb.base_url}/v1/{PROJECT}/{path}", headers={"X-Auth-Token": TOKEN})


async def platform_job_count(sb: ModelArtsSandbox) -> int:
    reply = await platform(sb, "POST", "training-job-searches", {"limit": 1})
    assert reply.status_code == 200, reply.text
    return reply.json()["total"]


def uploaded_keys(obs_endpoint: str, prefix: str = ROOT) -> list[str]:
    listed = s3_client(obs_endpoint, OBS_KEY, OBS_SECRET).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


# --- the REST API, recorded ----------------------------------------------------------------------


async def upload_csv(rec: Recorder, text: str = CSV, name: str = "stations.csv") -> str:
    """A CSV stored on the server (``POST uploads``, as the client does with a DataFrame): its path there."""
    stored = await rec("POST", "uploads", params={"name": name}, raw_body=text.encode())
    assert stored.status == 201, stored.body
    return stored.body["path"]


def code_folder(root: Path) -> Path:
    """The training code in a folder under ``root`` (the server's root_dir: where it may read local files)."""
    folder = root / "code"
    folder.mkdir(exist_ok=True)
    (folder / "train.py").write_text(TRAIN)
    (folder / "lib").mkdir(exist_ok=True)
    (folder / "lib" / "README.txt").write_text("uploaded with the code, not run\n")
    return folder


async def submit(rec: Recorder, body: dict[str, Any]) -> dict[str, Any]:
    reply = await rec("POST", "jobs", body=body)
    assert reply.status == 201, reply.body
    return reply.body


async def read_log(rec: Recorder, job_id: str, offset: int) -> dict[str, Any]:
    reply = await rec("GET", "jobs", job_id, "logs", params={"offset": str(offset)})
    assert reply.status == 200, reply.body
    return reply.body


async def metrics_of(rec: Recorder, job_id: str) -> dict[str, tuple[float, int]]:
    """The job's results (metrics.csv only) → {station: (mean_temp, rows)} read from its bytes."""
    listing = await rec("GET", "jobs", job_id, "results")
    assert listing.status == 200, listing.body
    assert [(r["name"], r["kind"], r["media_type"]) for r in listing.body["results"]] == [
        ("metrics.csv", "output", "text/csv")], listing.body  # fmt: skip
    answer = await rec("GET", "jobs", job_id, "results", "metrics.csv")
    assert answer.status == 200, answer.body
    data = str(answer.body).encode()
    assert listing.body["results"][0]["size"] == len(data)
    frame = read_frame(data, "metrics.csv", "text/csv")
    return {str(s): (float(m), int(r)) for s, m, r in zip(frame["station"], frame["mean_temp"], frame["rows"], strict=True)}


# --- capacity --------------------------------------------------------------------------------------


async def test_clusters_pools_and_flavors(rec: Recorder, modelarts: ModelArtsSandbox, jp_serverapp: Any,
                                          caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="tornado.access")  # the sandbox logs every request it serves there
    reply = await rec("GET", "backends", "ma", "clusters")
    assert reply.status == 200, reply.body
    clusters = {c["id"]: c for c in reply.body["clusters"]}
    v1 = [c for c in clusters.values() if c["id"].startswith("cluster:")]
    assert sorted(c["status"] for c in v1) == ["abnormal", "concerning", "deploying", "running", "running"]
    small = clusters["cluster:ff8080817a1c2b3d017a1c2b9e010005"]
    assert (small["name"], small["nodes"], small["nodes_available"]) == ("analytics-small", 1, 1)
    assert (small["cpus_allocatable"], small["memory_gb_allocatable"], small["gpus_allocatable"]) == (3.5, 12.0, 0.5)

    def capacity(pool: str) -> tuple[Any, ...]:
        keys = ("name", "status", "nodes", "nodes_available", "cpus", "memory_gb", "gpus", "gpu_type")
        return tuple(clusters[f"pool:{pool}"][k] for k in keys)

    # all 7 CPU nodes (one Creating, one Abnormal), gathered over the continue pages of 2 nodes each
    assert capacity(CPU_POOL) == ("cpu-pool", "Running", 7, 5, pytest.approx(7 * 7.8), 210.0, 0, None)
    cpu = clusters[f"pool:{CPU_POOL}"]
    assert 0 < cpu["cpus_allocatable"] < cpu["cpus"] and 0 < cpu["memory_gb_allocatable"] < cpu["memory_gb"]
    assert capacity(GPU_POOL) == ("gpu-pool", "Running", 2, 2, pytest.approx(2 * 7.92),
                                  pytest.approx(2 * 6270 / 1024, abs=0.001), 2, "NVIDIA GPU")  # fmt: skip
    assert clusters[f"pool:{GPU_POOL}"]["gpus_allocatable"] == 1
    assert capacity(NPU_POOL) == ("npu-pool", "Running", 2, 1, 382.0, 3000.0, 16, "Ascend snt9")
    assert clusters[f"pool:{NPU_POOL}"]["gpus_allocatable"] == 6

    # (the in-process Jupyter server renames tornado's loggers, so the sandbox's lines are found by their text)
    node_list = f"200 GET /v2/{PROJECT}/pools/{CPU_POOL}/nodes?"
    deadline = time.monotonic() + 10  # the sandbox writes its access line just after answering

    def node_requests() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith(node_list)]

    while len(node_requests()) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    pages = node_requests()
    assert len(pages) == 4, pages  # 7 nodes, 2 a page
    assert sum("continue=" in p for p in pages) == 3, pages  # three continue tokens followed

    reply = await rec("GET", "backends", "ma", "environments")
    assert reply.status == 200, reply.body
    flavors = {e["id"]: e for e in reply.body["environments"]}
    assert set(flavors) == {CPU_FLAVOR, GPU_FLAVOR, NPU_FLAVOR, *MIXED_FLAVORS}
    assert all(flavors[f]["raw"]["pools"] == [f"pool:{MIXED_POOL}"] for f in MIXED_FLAVORS)
    assert (flavors[CPU_FLAVOR]["cpus"], flavors[CPU_FLAVOR]["memory_gb"], flavors[CPU_FLAVOR]["gpus"]) == (7.8, 30, 0)
    assert (flavors[GPU_FLAVOR]["gpus"], flavors[GPU_FLAVOR]["gpu_type"]) == (1, "NVIDIA GPU")
    assert (flavors[NPU_FLAVOR]["gpus"], flavors[NPU_FLAVOR]["gpu_type"]) == (8, "Ascend snt9")
    assert flavors[NPU_FLAVOR]["raw"]["pools"] == [f"pool:{NPU_POOL}"]
    rec.assert_free_of(SECRETS)


# --- a training job ------------------------------------------------------------------------------------


async def test_training_job_round_trip(rec: Recorder, modelarts: ModelArtsSandbox, obs: str, jp_root_dir: Path,
                                       jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A local code folder and an uploaded CSV on a pool with a flavor and a parameter → SUCCEEDED → the
    log read by offsets → metrics.csv as the numbers the program computed. The job is planned once: the
    service's validation hands its plan to submit."""
    from jupyter_compute.backends.modelarts import backend as module

    plans = []
    real_plan_job = module.plan_job
    monkeypatch.setattr(module, "plan_job", lambda *a, **k: plans.append(1) or real_plan_job(*a, **k))
    code = code_folder(jp_root_dir)
    job = await submit(rec, {
        "backend": "ma", "script": str(code), "extra": {"boot_file": "train.py"}, "inputs": [await upload_csv(rec)],
        "cluster": f"pool:{CPU_POOL}", "environment": CPU_FLAVOR, "params": {"scale": 2}, "name": "station means"})
    assert len(plans) == 1, f"the job was planned {len(plans)} times"
    remote = modelarts.job(job["remote_id"])  # the training job the platform holds
    assert remote["metadata"]["name"] == "station-means"
    assert remote["spec"]["resource"] == {"node_count": 1, "flavor_id": CPU_FLAVOR, "pool_id": CPU_POOL}
    assert remote["algorithm"]["parameters"] == [{"name": "scale", "value": "2"}]
    assert set(uploaded_keys(obs, f"{ROOT}{job['id']}/")) == {
        f"{ROOT}{job['id']}/{p}" for p in ("code/train.py", "code/lib/README.txt", "inputs/data_url/stations.csv")}

    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "SUCCEEDED" and done["native_status"] == "Completed (Completed)", done
    assert done["started"] and done["finished"] and done["finished"] >= done["started"]
    assert await metrics_of(rec, job["id"]) == {"lyon": (48.0, 1), "nice": (51.0, 2), "paris": (41.0, 2)}
    assert (await rec("GET", "jobs", job["id"], "results", "nope.csv")).status == 404

    whole = await read_log(rec, job["id"], 0)
    assert whole["complete"] and "reading stations.csv" in whole["text"]
    assert "wrote metrics for 3 stations" in whole["text"]
    cut = len(whole["text"].encode()) // 2
    rest = await read_log(rec, job["id"], cut)  # from a byte offset: only what comes after it
    assert rest["offset"] == whole["offset"] and whole["text"].encode().endswith(rest["text"].encode())
    assert rest["text"] and len(rest["text"].encode()) == whole["offset"] - cut
    end = await read_log(rec, job["id"], whole["offset"])
    assert (end["text"], end["offset"], end["complete"]) == ("", whole["offset"], True)
    rec.assert_free_of(SECRETS)


async def test_cancel_then_delete(rec: Recorder, modelarts: ModelArtsSandbox, jp_root_dir: Path,
                                  jp_serverapp: Any) -> None:  # fmt: skip
    code = code_folder(jp_root_dir)
    job = await submit(rec, {"backend": "ma", "script": str(code / "train.py"), "inputs": [await upload_csv(rec)],
                             "environment": CPU_FLAVOR, "params": {"ticks": 600}})  # fmt: skip
    await wait_for_state(rec, job["id"], {"RUNNING"})
    deadline = time.monotonic() + 30
    log = await read_log(rec, job["id"], 0)
    while "tick" not in log["text"]:  # the program itself runs
        assert time.monotonic() < deadline, log
        await asyncio.sleep(0.1)
        log = await read_log(rec, job["id"], 0)
    assert not log["complete"]

    cancelled = await rec("POST", "jobs", job["id"], "cancel")
    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["state"] == "CANCELLED", cancelled.body
    while modelarts.job(job["remote_id"])["status"]["phase"] != "Terminated":
        assert time.monotonic() < deadline, modelarts.job(job["remote_id"])["status"]
        await asyncio.sleep(0.1)
    assert (await wait_for_state(rec, job["id"], {"CANCELLED"}))["state"] == "CANCELLED"

    gone = await rec("DELETE", "jobs", job["id"])
    assert gone.status in (200, 204), gone.body
    assert (await rec("GET", "jobs", job["id"])).status == 404
    assert job["id"] not in [j["id"] for j in (await rec("GET", "jobs", params={"limit": "500"})).body["jobs"]]
    answer = await platform(modelarts, "GET", f"training-jobs/{job['remote_id']}")
    assert answer.status_code == 400 and answer.json()["error_code"] == "ModelArts.2775", answer.text
    rec.assert_free_of(SECRETS)


# --- bad input: 400 naming the field, nothing created anywhere --------------------------------------------


BAD_SPECS = [
    pytest.param({"script": "{code}/train.py"}, "environment", id="no-flavor-nor-pool"),
    pytest.param({"script": "{code}", "environment": CPU_FLAVOR}, "extra.boot_file", id="folder-without-boot-file"),
    pytest.param({"script": "{code}", "extra": {"boot_file": "missing.py"}, "environment": CPU_FLAVOR},
                 "extra.boot_file", id="boot-file-not-in-folder"),
    pytest.param({"extra": {"code_dir": f"obs://{BUCKET}/code/v1/", "boot_file": "nope.py"},
                  "environment": CPU_FLAVOR}, "extra.boot_file", id="boot-file-not-on-obs"),
    pytest.param({"script": "{code}/train.py", "cluster": "pool:no-such-pool"}, "cluster", id="unknown-pool"),
    pytest.param({"script": "{code}/train.py", "cluster": f"pool:{MIXED_POOL}"}, "environment",
                 id="no-flavor-on-a-pool-of-several"),
    pytest.param({"script": "/proc/self/environ", "environment": CPU_FLAVOR}, "script", id="script-in-proc"),
    pytest.param({"script": "{code}/train.py", "environment": CPU_FLAVOR, "inputs": ["file:///proc/self/environ"]},
                 "inputs[0]", id="input-in-proc"),
    pytest.param({"script": "{outside}/train.py", "environment": CPU_FLAVOR}, "script",
                 id="script-outside-root-dir"),
    pytest.param({"script": "{code}/train.py", "environment": CPU_FLAVOR, "inputs": ["s3://bucket/data.csv"]},
                 "inputs[0]", id="input-not-obs"),
    pytest.param({"script": "{code}/train.py", "environment": CPU_FLAVOR, "output": "bucket/out/"}, "output",
                 id="output-not-obs"),
    pytest.param({"extra": {"code_dir": "https://obs.example.com/b/code/", "boot_file": "train.py"},
                  "environment": CPU_FLAVOR}, "extra.code_dir", id="code-dir-not-obs"),
    pytest.param({"script": "{code}/train.py", "environment": CPU_FLAVOR,
                  "inputs": [f"obs://{BUCKET}/no/such/data.csv"]}, "inputs[0]", id="input-missing-on-obs"),
]  # fmt: skip


def fill(value: Any, code: Path, outside: Path) -> Any:
    if isinstance(value, str):
        return value.format(code=code, outside=outside)
    if isinstance(value, dict):
        return {k: fill(v, code, outside) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, code, outside) for v in value]
    return value


@pytest.mark.parametrize(("spec", "field"), BAD_SPECS)
async def test_bad_specs_are_refused_with_nothing_created(rec: Recorder, modelarts: ModelArtsSandbox, obs: str,
                                                          jp_root_dir: Path, tmp_path: Path, jp_serverapp: Any,
                                                          spec: dict[str, Any], field: str) -> None:  # fmt: skip
    s3_client(obs, OBS_KEY, OBS_SECRET).put_object(Bucket=BUCKET, Key="code/v1/train.py", Body=TRAIN.encode())
    code = code_folder(jp_root_dir)
    outside = code_folder(tmp_path)  # the same code, outside the server's root_dir (jp_root_dir is tmp_path/root_dir)
    body = {"backend": "ma", "inputs": [await upload_csv(rec)], **fill(spec, code, outside)}
    before = ((await rec("GET", "jobs")).body["total"], await platform_job_count(modelarts), uploaded_keys(obs))
    reply = await rec("POST", "jobs", body=body)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field, reply.body
    assert reply.body["error"]["message"], reply.body
    after = ((await rec("GET", "jobs")).body["total"], await platform_job_count(modelarts), uploaded_keys(obs))
    assert after == before, "no job recorded, no training job created, nothing uploaded"
    rec.assert_free_of(SECRETS)


@pytest.mark.parametrize(("change", "field", "said"), [
    pytest.param({"extra": {"node_count": 99}}, "extra.node_count",
                 "ModelArts.2762: Invalid parameter spec.resource.node_count: 99 exceeds the 16 node(s) available",
                 id="too-many-nodes"),
    pytest.param({"environment": "modelarts.vm.v100"}, "environment",
                 "ModelArts.2763: Invalid parameter spec.resource.flavor_id: flavor 'modelarts.vm.v100' is not "
                 "offered by the public resource pool", id="flavor-not-offered"),
])  # fmt: skip
async def test_a_platform_refusal_keeps_its_code_and_words(rec: Recorder, modelarts: ModelArtsSandbox, obs: str,
                                                           jp_root_dir: Path, jp_serverapp: Any, change: dict[str, Any],
                                                           field: str, said: str) -> None:  # fmt: skip
    code = code_folder(jp_root_dir)
    body = {"backend": "ma", "script": str(code / "train.py"), "inputs": [await upload_csv(rec)],
            "environment": CPU_FLAVOR, **change}  # fmt: skip
    before = ((await rec("GET", "jobs")).body["total"], await platform_job_count(modelarts), uploaded_keys(obs))
    reply = await rec("POST", "jobs", body=body)
    assert reply.status == 400, reply.body
    assert said in reply.body["error"]["message"] and reply.body["error"]["field"] == field, reply.body
    after = ((await rec("GET", "jobs")).body["total"], await platform_job_count(modelarts), uploaded_keys(obs))
    assert after == before, "no job recorded, no training job created, what was uploaded removed again"
    rec.assert_free_of(SECRETS)


# --- the same with an IAM token --------------------------------------------------------------------------


async def test_token_backend_round_trip(rec: Recorder, modelarts: ModelArtsSandbox, obs: str, jp_root_dir: Path,
                                        jp_serverapp: Any, jp_base_url: str, jp_auth_header: Any,
                                        http_server_client: Any) -> None:  # fmt: skip
    from jupyter_server.utils import url_path_join

    backends = {b["name"]: b for b in (await rec("GET", "backends")).body["backends"]}
    assert backends["ma-token"]["auth"] == "token" and backends["ma"]["auth"] == "access keys"
    assert backends["ma-token"]["capabilities"]["can_proxy"] and not backends["ma"]["capabilities"]["can_proxy"]
    code = code_folder(jp_root_dir)
    job = await submit(rec, {"backend": "ma-token", "script": str(code / "train.py"), "inputs": [await upload_csv(rec)],
                             "cluster": CPU_POOL, "params": {"scale": 10}})  # fmt: skip
    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "SUCCEEDED", done
    assert (await metrics_of(rec, job["id"]))["paris"] == (205.0, 2)
    assert "wrote metrics for 3 stations" in (await read_log(rec, job["id"], 0))["text"]
    # the passthrough adds the token on the way to the platform, and only there
    url = url_path_join(jp_base_url, "compute/proxy/ma-token") + f"/v2/{PROJECT}/pools/{CPU_POOL}"
    proxied = await http_server_client.fetch(url, headers=dict(jp_auth_header), raise_error=False)
    assert proxied.code == 200 and json.loads(proxied.body)["metadata"]["name"] == CPU_POOL
    assert all(secret not in proxied.body.decode() + repr(dict(proxied.headers)) for secret in SECRETS)
    rec.assert_free_of(SECRETS)


async def test_the_passthrough_refuses_the_app_auth_paths(modelarts: ModelArtsSandbox, jp_serverapp: Any,
                                                         jp_base_url: str, jp_auth_header: Any,
                                                         http_server_client: Any) -> None:  # fmt: skip
    """The app-auth answers carry each app's app_secret: the passthrough refuses those paths (403, saying
    why) however they are spelled, while ordinary paths still pass with the server's token."""
    from jupyter_server.utils import url_path_join

    direct = await platform_v1(modelarts, "app-auth/apps")  # what the platform would hand out
    assert direct.status_code == 200 and direct.json()["apps"][0]["app_secret"], direct.text
    app_secrets = [a["app_secret"] for a in direct.json()["apps"]]
    base = url_path_join(jp_base_url, "compute/proxy/ma-token")

    async def proxy(path: str) -> Any:
        return await http_server_client.fetch(f"{base}/{path}", headers=dict(jp_auth_header), raise_error=False)

    for path in (f"v1/{PROJECT}/app-auth/apps", f"v1/{PROJECT}/%61pp-auth/apps", f"v1/{PROJECT}/App-Auth/apps",
                 f"v1/{PROJECT}/app-auth/apps/{direct.json()['apps'][0]['app_id']}/auth-apis",
                 f"v1/{PROJECT}/services/s-1/app-auth-apis/a-1/api-auths"):  # fmt: skip
        refused = await proxy(path)
        assert refused.code == 403, (path, refused.code, refused.body)
        error = json.loads(refused.body)["error"]
        assert "app_secret" in error["message"] and error["type"] == "AuthError", error
        assert not any(secret in refused.body.decode() for secret in app_secrets)
    for path in (f"v1/{PROJECT}/clusters", f"v2/{PROJECT}/pools"):
        passed = await proxy(path)
        assert passed.code == 200, (path, passed.body)
        assert all(secret not in passed.body.decode() for secret in SECRETS)


class TestABackendWithoutCredentials:
    """Neither a token nor keys in the server's environment: listed unavailable, saying what to set."""

    @pytest.fixture
    def compute_config(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        for name in ("MA_UNSET_AK", "MA_UNSET_SK", "MA_UNSET_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        keys = backend_config("http://127.0.0.1:9", "http://127.0.0.1:9")
        keys.update(ak_env="MA_UNSET_AK", sk_env="MA_UNSET_SK")
        token = dict(backend_config("http://127.0.0.1:9", "http://127.0.0.1:9", auth="token").items())
        token.update(token_env="MA_UNSET_TOKEN")
        return {"backends": {"ma-keys": keys, "ma-token": token, "local": {"kind": "local"}}}

    async def test_it_is_listed_unavailable_with_the_variables_to_set(self, rec: Recorder, jp_serverapp: Any) -> None:
        backends = {b["name"]: b for b in (await rec("GET", "backends")).body["backends"]}
        assert backends["local"]["available"] is True
        keys, token = backends["ma-keys"], backends["ma-token"]
        assert keys["available"] is False and token["available"] is False
        assert "MA_UNSET_AK" in keys["message"] and "MA_UNSET_SK" in keys["message"], keys
        assert "MA_UNSET_TOKEN" in token["message"], token
        refused = await rec("POST", "jobs", body={"backend": "ma-keys", "script": "train.py",
                                                  "environment": CPU_FLAVOR})  # fmt: skip
        assert refused.status == 503 and "MA_UNSET_AK" in refused.body["error"]["message"], refused.body
        rec.assert_free_of(SECRETS)


# --- secrets -----------------------------------------------------------------------------------------------


async def test_no_secret_in_answers_log_or_job_store(rec: Recorder, modelarts: ModelArtsSandbox, obs: str,
                                                     jp_root_dir: Path, jp_serverapp: Any, server_log: list[str],
                                                     caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    for name in THIRD_PARTY_WIRE_LOGGERS:
        caplog.set_level(logging.INFO, logger=name)
    code = code_folder(jp_root_dir)
    (jp_root_dir / "leak.py").write_text(LEAK)
    ok = await submit(rec, {"backend": "ma", "script": str(code), "extra": {"boot_file": "train.py"},
                            "inputs": [await upload_csv(rec)], "cluster": CPU_POOL, "tags": ["secrets"]})
    by_token = await submit(rec, {"backend": "ma-token", "script": str(code / "train.py"),
                                  "inputs": [await upload_csv(rec)], "environment": CPU_FLAVOR, "tags": ["secrets"]})
    leak = await submit(rec, {"backend": "ma", "script": str(jp_root_dir / "leak.py"), "environment": CPU_FLAVOR,
                              "tags": ["secrets"]})  # fmt: skip
    for job in (ok, by_token):
        assert (await wait_for_state(rec, job["id"], TERMINAL))["state"] == "SUCCEEDED"
    failed = await wait_for_state(rec, leak["id"], TERMINAL)
    assert failed["state"] == "FAILED" and "cannot log in with *** / ***" in failed["message"], failed
    assert "keys: *** ***" in (await read_log(rec, leak["id"], 0))["text"]
    # refusals of every kind, unknown things, every listing; the server's own environment is never read
    assert (await rec("POST", "jobs", body={"backend": "ma", "script": str(code)})).status == 400
    before = uploaded_keys(obs)
    for bad in ({"script": "/proc/self/environ"}, {"script": "file:///proc/self/environ"},
                {"script": str(code / "train.py"), "inputs": ["file:///proc/self/environ"]},
                {"script": str(code / "train.py"), "inputs": ["/proc/self/environ"]}):  # an OBS path: not there
        reply = await rec("POST", "jobs", body={"backend": "ma", "environment": CPU_FLAVOR, **bad})
        assert reply.status == 400 and reply.body["error"]["field"] in ("script", "inputs[0]"), reply.body
    assert uploaded_keys(obs) == before, "nothing of /proc reached OBS"
    assert (await rec("POST", "jobs", body={"backend": "ma", "script": str(code / "train.py"),
                                            "environment": "modelarts.vm.v100"})).status == 400
    assert (await rec("GET", "jobs", ok["id"], "results", "nope.csv")).status == 404
    for path in (("backends",), ("backends", "ma", "clusters"), ("backends", "ma-token", "environments"),
                 ("backends", "ma", "form"), ("jobs",)):  # fmt: skip
        assert (await rec("GET", *path)).status == 200, path
    for job in (await rec("GET", "jobs", params={"tag": "secrets"})).body["jobs"]:
        await rec("GET", "jobs", job["id"])
        await rec("GET", "jobs", job["id"], "results")
        await rec("GET", "jobs", job["id"], "logs")
    await rec("POST", "jobs", ok["id"], "cancel")
    assert (await rec("DELETE", "jobs", by_token["id"])).status in (200, 204)

    store_bytes = job_store_bytes(jp_serverapp)
    log_text = "\n".join(server_log) + "\n" + caplog.text
    assert "compute/api/jobs" in log_text, "the capture sees the server's own log lines"
    assert "jupyter-compute: backends ma, ma-token" in log_text, "and the extension's, from its start"
    assert "modelarts backend 'ma': POST" in log_text, "the capture sees the backend's debug lines"
    assert f"/v2/{PROJECT}/training-jobs" in log_text, "the capture sees the sandbox's access lines"
    answers = "\n".join(rec.texts)
    assert "SUCCEEDED" in answers and "station" in answers and "train.py" in store_bytes.decode("latin-1")
    held = held_reprs(jp_serverapp, "ma", "ma-token")
    for secret in SECRETS:
        assert secret not in answers, f"{secret!r} in a REST answer"
        assert secret not in log_text, f"{secret!r} in the server log"
        assert secret.encode() not in store_bytes, f"{secret!r} in the job store"
        assert secret not in held, f"{secret!r} in the repr of what a backend holds"


def held_reprs(jp_serverapp: Any, *names: str) -> str:
    """The reprs of what the server's backends hold: their attributes, credentials and OBS stores."""
    from jupyter_compute.backends.modelarts.storage import ObsStore

    backends = jp_serverapp.web_app.settings["jupyter_compute"].service.backends
    texts = []
    for name in names:
        backend = backends[name]
        stores = [v for v in vars(backend).values() if isinstance(v, ObsStore)]
        assert stores, f"backend {name} has used OBS"
        texts += [repr(vars(backend)), repr(vars(backend.auth)), *(repr(vars(store)) for store in stores)]
    return "\n".join(texts)


# --- the demo notebook against a live server ------------------------------------------------------------


def test_modelarts_notebook_is_stored_without_outputs() -> None:
    stored_notebook("modelarts.ipynb")


def test_modelarts_notebook_runs_against_a_server_configured_for_a_real_platform(
        tmp_path: Path, modelarts: ModelArtsSandbox, obs: str) -> None:
    """A backend named as a user would, on a ModelArts and an OBS the test runs (stand-ins it takes for real ones)."""
    # the secrets reach the server through its environment only (the secret_env fixture)
    server = start_live_server(tmp_path / "jupyter", backends={"my-modelarts": backend_config(modelarts.base_url, obs)})
    try:
        nb, text = run_demo_notebook("modelarts.ipynb", server.kernel_env(*ENV), timeout=180)
        outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
        assert not [o for o in outputs if o.get("name") == "stderr"], "nothing written to stderr"
        assert (f"Backend 'my-modelarts': ModelArts at {modelarts.base_url} — a real ModelArts platform, configured "
                "on the server") in text, text
        assert "the server signs its ModelArts calls with its access keys" in text
        assert "pool: cpu-pool (pool:pool-cpu-a1b2c3) | flavor: modelarts.vm.cpu.8u" in text, text
        assert "munich: 4 days, mean 19.25 kWh, 2 above 20.0" in text, "the log was followed"
        assert "best site: valencia, mean 31.25 kWh/day over 4 days" in text, text
        for secret in SECRETS:
            assert secret not in text
        assert "predict URL: " + modelarts.base_url in text, text
        assert "app infer-clients may call it; its secret reads ••••••••" in text, text
        assert "SUCCEEDED | train: completed, release: completed" in text, text
        assert "sandbox-app-secret" not in text
        with server.client() as client:
            jobs = {j.name: j for j in client.jobs(tag="modelarts-demo")}
            assert {name: (j.backend, j.state.value) for name, j in jobs.items()} == {
                "solar-site-metrics": ("my-modelarts", "SUCCEEDED"), "kwh-sums": ("my-modelarts", "SUCCEEDED"),
                "kwh-predictor": ("my-modelarts", "CANCELLED"), "train-and-approve": ("my-modelarts", "SUCCEEDED")}
            job = jobs["solar-site-metrics"]
            metrics = job.to_pandas("metrics.csv").set_index("site")
        assert metrics["mean_kwh"].to_dict() == {"munich": 19.25, "oslo": 8.75, "valencia": 31.25}
        assert metrics["days_above"].to_dict() == {"munich": 2, "oslo": 0, "valencia": 4}
    finally:
        server.stop()
    server.checked_log(SECRETS)
