"""The ModelArts sandbox over real HTTP on loopback: APIG authentication (IAM token, AK/SK signatures
cross-checked with Huawei's own SDK signer), clusters, pools and node paging, and training jobs that
really run against an S3 server (moto) standing in for OBS."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from botocore.config import Config
from conftest import pid_alive, s3_client, wait_for
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from jupyter_compute.sandbox.modelarts import DEFAULT_CREDENTIALS, DEFAULT_TOKEN, ModelArtsSandbox

AK, SK = next(iter(DEFAULT_CREDENTIALS.items()))
BUCKET = "ma-sandbox-test"
FINISHED = {"Completed", "Failed", "Terminated", "Abnormal"}
PHASE_ORDER = ["Creating", "Pending", "Running", "Terminating", "Completed", "Failed", "Terminated"]

TRAIN_PY = """\
import argparse, csv, os, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--data_url")
parser.add_argument("--train_url")
parser.add_argument("--scale", type=float, default=1.0)
args = parser.parse_args()
rows = []
for path in sorted(pathlib.Path(args.data_url).glob("*.csv")):
    with open(path, newline="") as fh:
        rows += list(csv.DictReader(fh))
values = [float(r["value"]) * args.scale for r in rows]
with open(pathlib.Path(args.train_url) / "metrics.csv", "w") as fh:
    fh.write("metric,value\\n")
    fh.write(f"count,{len(values)}\\n")
    fh.write(f"sum,{sum(values)}\\n")
    fh.write(f"max,{max(values)}\\n")
print(f"processed {len(values)} rows; sum={sum(values)}; "
      f"task {os.environ['VC_TASK_INDEX']} of {os.environ['MA_NUM_HOSTS']}")
"""
FAIL_PY = """\
print("about to fail")
raise ValueError("bad input: column 'value' is missing")
"""
LOOP_PY = """\
import os, pathlib, time
print(f"pid={os.getpid()}", flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline and not pathlib.Path("never-created").exists():
    time.sleep(0.05)
"""
QUICK_PY = "print('hello from', __file__)\n"
BIG_LOG_PY = """\
import sys
line = "x" * 99 + "\\n"
for _ in range(62_000):  # about 6 MB
    sys.stdout.write(line)
print("THE-END")
"""


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> Any:
    client = s3_client(s3_endpoint, "test", "test", config=Config(request_checksum_calculation="when_required",
                                                                  response_checksum_validation="when_required"))
    client.create_bucket(Bucket=BUCKET)
    for name, text in {"train.py": TRAIN_PY, "fail.py": FAIL_PY, "loop.py": LOOP_PY, "quick.py": QUICK_PY,
                       "big_log.py": BIG_LOG_PY}.items():
        client.put_object(Bucket=BUCKET, Key=f"code/{name}", Body=text.encode())
    client.put_object(Bucket=BUCKET, Key="data/part-1.csv", Body=b"id,value\n1,1.5\n2,2.5\n")
    client.put_object(Bucket=BUCKET, Key="data/part-2.csv", Body=b"id,value\n3,4\n")
    return client


@pytest.fixture(scope="module")
def sandbox(s3_endpoint: str) -> Iterator[ModelArtsSandbox]:
    with ModelArtsSandbox(s3_endpoint=s3_endpoint, s3_key="test", s3_secret="test", step_delay_s=0.05) as sb:
        yield sb


@pytest.fixture
def api(sandbox: ModelArtsSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, headers={"X-Auth-Token": DEFAULT_TOKEN}, timeout=15) as client:
        yield client


def v1(sb: ModelArtsSandbox, path: str) -> str:
    return f"/v1/{sb.project_id}/{path}"


def v2(sb: ModelArtsSandbox, path: str) -> str:
    return f"/v2/{sb.project_id}/{path}"


def sdk_signed(sb: ModelArtsSandbox, method: str, path: str, *, query: list[tuple[str, Any]] | None = None,
               body: Any = None, ak: str = AK, sk: str = SK, date: str | None = None, project: str | None = None,
               extra: dict[str, str] | None = None, signer: type[Signer] = Signer) -> SdkRequest:
    """A request signed by huaweicloudsdkcore's own Signer (the reference client); ``extra`` headers are
    signed too, ``project`` is the ``X-Project-Id`` (default the sandbox's)."""
    headers = {"Content-Type": "application/json", "X-Project-Id": project or sb.project_id, **(extra or {})}
    if date is not None:
        headers["X-Sdk-Date"] = date
    request = SdkRequest(method=method, schema="http", host=f"{sb.host}:{sb.port}", resource_path=path,
                         query_params=list(query or []), header_params=headers,
                         body=json.dumps(body).encode() if body is not None else b"")
    return signer(BasicCredentials(ak, sk, sb.project_id)).sign(request)


class SignerWithoutHost(Signer):
    """The SDK's signer, but ``host`` left out of SignedHeaders (the signature is right for what it lists)."""

    @classmethod
    def _process_signed_headers(cls, request: SdkRequest) -> list[str]:
        return [name for name in super()._process_signed_headers(request) if name != "host"]


class SignerUnsorted(Signer):
    """The SDK's signer, but SignedHeaders in reverse order (the signature is right for that order)."""

    @classmethod
    def _process_signed_headers(cls, request: SdkRequest) -> list[str]:
        return sorted(super()._process_signed_headers(request), reverse=True)


class SignerWithoutDate(Signer):
    """The SDK's signer, but ``x-sdk-date`` left out of SignedHeaders."""

    @classmethod
    def _process_signed_headers(cls, request: SdkRequest) -> list[str]:
        return [name for name in super()._process_signed_headers(request) if name != "x-sdk-date"]


def send(request: SdkRequest, body: bytes | None = None, drop: tuple[str, ...] = ()) -> httpx.Response:
    headers = {k: v for k, v in request.header_params.items() if k.lower() not in drop}
    return httpx.request(request.method, request.url, headers=headers,
                         content=request.body if body is None else body, timeout=15)


def job_body(name: str, boot: str, *, inputs: list[tuple[str, str]] = (), outputs: list[tuple[str, str]] = (),
             params: list[tuple[str, Any]] = (), resource: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": "job",
        "metadata": {"name": name, "description": "sandbox test"},
        "algorithm": {
            "code_dir": f"obs://{BUCKET}/code/", "boot_file": boot,
            "engine": {"engine_name": "PyTorch", "engine_version": "pytorch_2.1.0-cuda_12.1-py_3.10"},
            "parameters": [{"name": n, "value": v} for n, v in params],
            "inputs": [{"name": n, "remote": {"obs": {"obs_url": u}}} for n, u in inputs],
            "outputs": [{"name": n, "remote": {"obs": {"obs_url": u}}} for n, u in outputs],
        },
        "spec": {"resource": resource or {"pool_id": "pool-cpu-a1b2c3", "node_count": 1}},
    }


def create(api: httpx.Client, sb: ModelArtsSandbox, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post(v2(sb, "training-jobs"), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def follow(api: httpx.Client, sb: ModelArtsSandbox, job_id: str, until: set[str] = FINISHED) -> tuple[dict, list]:
    """Poll the job until its phase is in ``until``; answer the last view and the phases seen, in order."""
    seen: list[str] = []

    def probe() -> dict | None:
        r = api.get(v2(sb, f"training-jobs/{job_id}"))
        assert r.status_code == 200, r.text
        phase = r.json()["status"]["phase"]
        if not seen or seen[-1] != phase:
            seen.append(phase)
        return r.json() if phase in until else None

    return wait_for(probe), seen


def preview(api: httpx.Client, sb: ModelArtsSandbox, job_id: str, task: str = "worker-0") -> dict[str, Any]:
    r = api.get(v2(sb, f"training-jobs/{job_id}/tasks/{task}/logs/preview"))
    assert r.status_code == 200, r.text
    return r.json()


def assert_in_order(phases: list[str]) -> None:
    ranks = [PHASE_ORDER.index(p) for p in phases]
    assert ranks == sorted(ranks), phases


# ---------------------------------------------------------------------- authentication
def test_requests_signed_by_the_sdk_signer_pass(sandbox: ModelArtsSandbox) -> None:
    query = [("limit", 2), ("sort_by", "cluster_name"), ("order", "asc")]
    r = send(sdk_signed(sandbox, "GET", v1(sandbox, "clusters"), query=query))
    assert r.status_code == 200, r.text
    assert [c["cluster_name"] for c in r.json()["clusters"]] == ["analytics-small", "ascend-serving"]
    assert r.headers["X-Request-Id"]

    body = {"offset": 0, "limit": 5, "filters": [{"key": "name", "operator": "like", "value": ["no-such-job"]}]}
    r = send(sdk_signed(sandbox, "POST", v2(sandbox, "training-job-searches"), body=body))
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 0

    r = send(sdk_signed(sandbox, "GET", v2(sandbox, "pools/pool-gpu-d4e5f6/nodes"), query=[("limit", 1)]))
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1

    # the server canonicalises what it receives: query order and percent-encoding do not matter
    signed = sdk_signed(sandbox, "GET", v1(sandbox, "clusters"), query=query)
    reordered = f"{sandbox.base_url}{v1(sandbox, 'clusters')}?order=asc&sort_by=cluster_name&limit=2"
    assert reordered != signed.url
    r = httpx.get(reordered, headers=signed.header_params, timeout=15)
    assert r.status_code == 200, r.text
    r = send(sdk_signed(sandbox, "GET", v2(sandbox, "pools/my%20pool~1")))
    assert r.status_code == 404 and r.json()["error_code"] == "ModelArts.50015001", r.text


def _search_request(sb: ModelArtsSandbox, **signing: Any) -> SdkRequest:
    return sdk_signed(sb, "POST", v2(sb, "training-job-searches"), body={"offset": 0, "limit": 5}, **signing)


def _sdk_date(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ")


def _with_header(request: SdkRequest, name: str, value: str) -> httpx.Response:
    headers = {k: v for k, v in request.header_params.items() if k.lower() != name.lower()}
    return httpx.request(request.method, request.url, headers={**headers, name: value}, content=request.body,
                         timeout=15)


def _query_changed(sb: ModelArtsSandbox) -> httpx.Response:
    signed = sdk_signed(sb, "GET", v1(sb, "clusters"), query=[("limit", 2)])
    return httpx.get(str(httpx.URL(signed.url).copy_set_param("limit", "3")), headers=signed.header_params, timeout=15)


def _path_changed(sb: ModelArtsSandbox) -> SdkRequest:
    signed = sdk_signed(sb, "GET", v2(sb, "pools/pool-cpu-a1b2c3"))
    signed.uri = v2(sb, "pools/pool-gpu-d4e5f6")
    return signed


def _upper_case_names(sb: ModelArtsSandbox) -> httpx.Response:
    signed = _search_request(sb)
    auth = signed.header_params["Authorization"].replace("content-type;host", "Content-Type;Host")
    return _with_header(signed, "Authorization", auth)


#: Each gateway rule (the table in the sandbox's docstring) → a request that breaks only that rule, and
#: words of the error_msg that name it. Every signature here is right for what it signs, unless the rule
#: is the signature itself.
GATEWAY_REFUSALS: dict[str, tuple[Callable[[ModelArtsSandbox], httpx.Response], str]] = {
    "no credentials": (lambda sb: httpx.get(sb.base_url + v1(sb, "clusters"), timeout=15), "x-auth-token not found"),
    "unknown token": (lambda sb: httpx.get(sb.base_url + v1(sb, "clusters"), headers={"X-Auth-Token": "forged"},
                                           timeout=15), "decrypt token fail"),
    "malformed Authorization": (lambda sb: httpx.post(sb.base_url + v2(sb, "training-job-searches"), json={},
                                                      headers={"Authorization": "SDK-HMAC-SHA256 garbage"},
                                                      timeout=15), "is not of the form"),
    "SignedHeaders without host": (lambda sb: send(_search_request(sb, signer=SignerWithoutHost)),
                                   "host must be a signed header"),
    "SignedHeaders not sorted": (lambda sb: send(_search_request(sb, signer=SignerUnsorted)), "must be sorted"),
    "SignedHeaders not lower-case": (_upper_case_names, "lower-case"),
    "no X-Sdk-Date": (lambda sb: send(_search_request(sb), drop=("x-sdk-date",)), "x-sdk-date not found"),
    "X-Sdk-Date not signed": (lambda sb: send(_search_request(sb, signer=SignerWithoutDate)),
                              "x-sdk-date must be a signed header"),
    "X-Sdk-Date malformed": (lambda sb: _with_header(_search_request(sb), "X-Sdk-Date", "2026-01-01T00:00:00Z"),
                             "YYYYMMDDTHHMMSSZ"),
    "X-Sdk-Date 20 minutes old": (lambda sb: send(_search_request(sb, date=_sdk_date(-20))), "15 minutes"),
    "X-Sdk-Date 20 minutes ahead": (lambda sb: send(_search_request(sb, date=_sdk_date(20))), "15 minutes"),
    "unknown access key": (lambda sb: send(_search_request(sb, ak="NOSUCHAK")), "ak NOSUCHAK not exist"),
    "wrong secret": (lambda sb: send(_search_request(sb, sk="not-the-secret")), "verify aksk signature fail"),
    "body changed after signing": (lambda sb: send(_search_request(sb), body=b'{"offset": 1, "limit": 5}'),
                                   "verify aksk signature fail"),
    "query changed after signing": (_query_changed, "verify aksk signature fail"),
    "path changed after signing": (lambda sb: send(_path_changed(sb)), "verify aksk signature fail"),
    "signed header changed after signing": (
        lambda sb: _with_header(_search_request(sb), "Content-Type", "application/json;charset=UTF-8"),
        "verify aksk signature fail"),
    "X-Sdk-Content-Sha256 not the body's": (
        lambda sb: send(_search_request(sb, extra={"X-Sdk-Content-Sha256": hashlib.sha256(b"other").hexdigest()})),
        "does not match the body"),
    "wrong X-Auth-Token beside a signature (signed)": (
        lambda sb: send(_search_request(sb, extra={"X-Auth-Token": "forged-token"})), "decrypt token fail"),
    "wrong X-Auth-Token beside a signature (added)": (
        lambda sb: _with_header(_search_request(sb), "X-Auth-Token", "forged-token"), "decrypt token fail"),
}


@pytest.mark.parametrize("rule", list(GATEWAY_REFUSALS))
def test_gateway_refuses(sandbox: ModelArtsSandbox, rule: str) -> None:
    """401 APIGW.0301 for each authentication fault, naming it, never echoing a secret or a token."""
    make, words = GATEWAY_REFUSALS[rule]
    r = make(sandbox)
    assert r.status_code == 401, r.text
    assert r.json()["error_code"] == "APIGW.0301", r.json()
    assert r.json()["error_msg"].startswith("Incorrect IAM authentication information: "), r.json()
    assert words in r.json()["error_msg"], r.json()
    assert r.json()["request_id"] == r.headers["X-Request-Id"]
    assert SK not in r.text and "not-the-secret" not in r.text and DEFAULT_TOKEN not in r.text


def test_a_valid_token_beside_a_signature_passes(sandbox: ModelArtsSandbox) -> None:
    r = send(_search_request(sandbox, extra={"X-Auth-Token": DEFAULT_TOKEN}))
    assert r.status_code == 200, r.text


def test_x_project_id_must_name_the_project_of_the_url(sandbox: ModelArtsSandbox) -> None:
    """403 ModelArts.0203 when X-Project-Id (signed or beside a token) names another project than the path."""
    r = send(_search_request(sandbox, project="another-project"))
    assert r.status_code == 403, r.text
    assert r.json()["error_code"] == "ModelArts.0203"
    assert "X-Project-Id" in r.json()["error_msg"] and "another-project" in r.json()["error_msg"]
    r = httpx.get(sandbox.base_url + v1(sandbox, "clusters"), timeout=15,
                  headers={"X-Auth-Token": DEFAULT_TOKEN, "X-Project-Id": "another-project"})
    assert r.status_code == 403 and r.json()["error_code"] == "ModelArts.0203", r.text
    r = httpx.get(sandbox.base_url + v1(sandbox, "clusters"), timeout=15,
                  headers={"X-Auth-Token": DEFAULT_TOKEN, "X-Project-Id": sandbox.project_id})
    assert r.status_code == 200, r.text
    # credentials first: a bad signature with a wrong project is a 401
    r = send(_search_request(sandbox, project="another-project", sk="not-the-secret"))
    assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301", r.text


def test_token_auth_project_check_and_unknown_routes(sandbox: ModelArtsSandbox, api: httpx.Client) -> None:
    assert api.get(v1(sandbox, "clusters")).status_code == 200
    with httpx.Client(base_url=sandbox.base_url, timeout=15) as anonymous:
        r = anonymous.get(v1(sandbox, "clusters"))
        assert r.status_code == 401
        assert r.json()["error_code"] == "APIGW.0301" and "x-auth-token" in r.json()["error_msg"]
        r = anonymous.get(v1(sandbox, "clusters"), headers={"X-Auth-Token": "expired-or-forged"})
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
    r = api.get("/v1/another-project/clusters")
    assert r.status_code == 403
    assert r.json()["error_code"] == "ModelArts.0203" and "another-project" in r.json()["error_msg"]
    r = api.get(v2(sandbox, "no-such-api"))
    assert r.status_code == 404 and r.json()["error_code"] == "APIGW.0101"
    r = api.put(v2(sandbox, "pools"))
    assert r.status_code == 404 and r.json()["error_code"] == "APIGW.0101"


def test_app_auth_apps_carry_their_secrets(sandbox: ModelArtsSandbox, api: httpx.Client) -> None:
    """The app-auth listing answers each app's key and secret, as the platform does (what a passthrough
    of the server must therefore never hand out)."""
    r = api.get(v1(sandbox, "app-auth/apps"))
    assert r.status_code == 200, r.text
    listing = r.json()
    assert listing["count"] == listing["total_count"] == len(listing["apps"]) == 2
    first = listing["apps"][0]
    assert first["app_name"] == "batch-callers"  # newest first
    assert first["app_secret"].startswith("sandbox-app-secret-") and first["app_key"]
    assert first["app_type"] == "DEDICATE_APIG" and first["project_id"] == sandbox.project_id
    named = api.get(v1(sandbox, "app-auth/apps"), params={"app_name": "infer-clients", "order": "asc"}).json()
    assert [a["app_name"] for a in named["apps"]] == ["infer-clients"] and named["total_count"] == 1
    second = api.get(v1(sandbox, "app-auth/apps"), params={"offset": 1, "limit": 1}).json()
    assert [a["app_name"] for a in second["apps"]] == ["infer-clients"] and second["total_count"] == 2
    r = api.get(v1(sandbox, "app-auth/apps"), params={"sort_by": "secret"})
    assert r.status_code == 400 and "sort_by" in r.json()["error_msg"]
    with httpx.Client(base_url=sandbox.base_url, timeout=15) as anonymous:
        assert anonymous.get(v1(sandbox, "app-auth/apps")).status_code == 401


# ---------------------------------------------------------------------- clusters, pools, nodes
def test_clusters_filters_sort_and_page_index(sandbox: ModelArtsSandbox, api: httpx.Client) -> None:
    every = api.get(v1(sandbox, "clusters")).json()
    assert every["total_count"] == every["count"] == len(every["clusters"]) >= 4
    created = [c["created_at"] for c in every["clusters"]]
    assert created == sorted(created, reverse=True)  # created_at desc by default
    assert {"running", "deploying", "abnormal", "concerning"} <= {c["status"] for c in every["clusters"]}
    first = every["clusters"][0]
    assert first["created_at"] > 10**12 and set(first["nodes"]) == {"specification", "count", "available_count"}
    assert {"allocatable_cpu_cores", "allocatable_memory", "allocatable_gpus"} <= set(first)

    by_name = api.get(v1(sandbox, "clusters"), params={"sort_by": "cluster_name", "order": "asc"}).json()
    names = [c["cluster_name"] for c in by_name["clusters"]]
    assert names == sorted(names)

    running = api.get(v1(sandbox, "clusters"), params={"status": "running"}).json()
    assert running["total_count"] == 2 and {c["status"] for c in running["clusters"]} == {"running"}
    one = api.get(v1(sandbox, "clusters"), params={"cluster_name": "edge-gateway"}).json()
    assert [c["status"] for c in one["clusters"]] == ["abnormal"]

    pages = [api.get(v1(sandbox, "clusters"), params={"limit": 2, "offset": n}).json() for n in range(4)]
    assert [p["count"] for p in pages] == [2, 2, 1, 0]
    assert all(p["total_count"] == every["total_count"] for p in pages)
    assert [c["cluster_id"] for p in pages for c in p["clusters"]] == [c["cluster_id"] for c in every["clusters"]]

    for params, field in [({"limit": 0}, "limit"), ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset"),
                          ({"sort_by": "status"}, "sort_by"), ({"order": "up"}, "order")]:
        r = api.get(v1(sandbox, "clusters"), params=params)
        assert r.status_code == 400, params
        assert r.json()["error_code"].startswith("ModelArts.") and field in r.json()["error_msg"], r.json()


def test_pools_filters_objects_and_not_found(sandbox: ModelArtsSandbox, api: httpx.Client) -> None:
    listing = api.get(v2(sandbox, "pools")).json()
    assert listing["kind"] == "PoolList" and listing["apiVersion"] == "v2"
    names = {p["metadata"]["name"]: p["metadata"]["labels"]["os.modelarts/name"] for p in listing["items"]}
    assert names == {"pool-cpu-a1b2c3": "cpu-pool", "pool-gpu-d4e5f6": "gpu-pool", "pool-npu-g7h8i9": "npu-pool",
                     "pool-mix-j1k2l3": "mixed-pool"}

    cpu = api.get(v2(sandbox, "pools/pool-cpu-a1b2c3")).json()
    assert cpu["kind"] == "Pool" and cpu["spec"]["type"] == "Dedicate"
    assert cpu["spec"]["scope"] == ["Train", "Infer"]
    assert cpu["spec"]["resources"] == [{"flavor": "modelarts.vm.cpu.8u", "count": 7}]
    buckets = cpu["status"]["resources"]
    assert all(isinstance(b, list) for b in buckets.values())
    assert buckets["available"][0]["count"] == 5 and buckets["available"][0]["flavor"] == "modelarts.vm.cpu.8u"
    assert buckets["creating"][0]["count"] == 1 and buckets["abnormal"][0]["count"] == 1
    mixed = api.get(v2(sandbox, "pools/pool-mix-j1k2l3")).json()  # a pool offering two flavors
    assert mixed["spec"]["resources"] == [{"flavor": "modelarts.vm.cpu.2u", "count": 1},
                                          {"flavor": "modelarts.vm.cpu.4u", "count": 1}]
    assert [e["flavor"] for e in mixed["status"]["resources"]["available"]] == ["modelarts.vm.cpu.2u",
                                                                                "modelarts.vm.cpu.4u"]

    research = api.get(v2(sandbox, "pools"), params={"workspaceId": "ws-research-01"}).json()["items"]
    assert [p["metadata"]["name"] for p in research] == ["pool-npu-g7h8i9"]
    selected = api.get(v2(sandbox, "pools"), params={"labelSelector": "os.modelarts/name=gpu-pool"}).json()
    assert [p["metadata"]["name"] for p in selected["items"]] == ["pool-gpu-d4e5f6"]
    assert len(api.get(v2(sandbox, "pools"), params={"labelSelector": "os.modelarts/name!=gpu-pool"})
               .json()["items"]) == 3
    assert len(api.get(v2(sandbox, "pools"), params={"status": "created"}).json()["items"]) == 4
    assert api.get(v2(sandbox, "pools"), params={"status": "creating"}).json()["items"] == []
    r = api.get(v2(sandbox, "pools"), params={"status": "Running"})
    assert r.status_code == 400 and "status" in r.json()["error_msg"]

    r = api.get(v2(sandbox, "pools/pool-nope"))
    assert r.status_code == 404
    assert r.json() == {"error_code": "ModelArts.50015001", "error_msg": "pool not found"}


def test_nodes_continue_tokens_across_pages(sandbox: ModelArtsSandbox, api: httpx.Client) -> None:
    url = v2(sandbox, "pools/pool-cpu-a1b2c3/nodes")
    pages, token = [], None
    while True:
        params = {"limit": 2, **({"continue": token} if token else {})}
        body = api.get(url, params=params).json()
        assert body["kind"] == "NodeList"
        pages.append(body)
        token = body["metadata"]["continue"]
        if not token:
            break
        assert len(pages) < 10
    assert len(pages) == 4
    assert [p["metadata"]["remainingItemCount"] for p in pages] == [5, 3, 1, 0]
    names = [n["metadata"]["name"] for p in pages for n in p["items"]]
    assert len(names) == len(set(names)) == 7
    assert names == [n["metadata"]["name"] for n in api.get(url).json()["items"]]
    phases = [n["status"]["phase"] for p in pages for n in p["items"]]
    assert phases.count("Available") == 5 and "Creating" in phases and "Abnormal" in phases
    node = pages[0]["items"][0]
    assert node["status"]["resources"]["cpu"].endswith("m") and node["status"]["resources"]["memory"] == "30Gi"

    gpu = api.get(v2(sandbox, "pools/pool-gpu-d4e5f6/nodes")).json()["items"]
    assert [n["status"]["resources"]["nvidia.com/gpu"] for n in gpu] == ["1", "1"]
    npu = api.get(v2(sandbox, "pools/pool-npu-g7h8i9/nodes")).json()["items"]
    assert [n["status"]["resources"]["huawei.com/ascend-snt9"] for n in npu] == ["8", "8"]

    for params in ({"continue": "not-a-token"}, {"continue": pages[0]["metadata"]["continue"] + "x"},
                   {"limit": 501}, {"limit": "all"}):
        r = api.get(url, params=params)
        assert r.status_code == 400, params
        assert r.json()["error_code"] == "ModelArts.50004000"
    foreign = api.get(v2(sandbox, "pools/pool-gpu-d4e5f6/nodes"), params={"limit": 1}).json()["metadata"]["continue"]
    assert api.get(url, params={"continue": foreign}).status_code == 400
    assert api.get(v2(sandbox, "pools/pool-nope/nodes")).status_code == 404


# ---------------------------------------------------------------------- training jobs
def test_training_job_computes_metrics_from_its_input(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any) -> None:
    out = f"out-{uuid.uuid4().hex[:8]}"
    body = job_body("csv-metrics", "train.py", params=[("scale", 2)],
                    inputs=[("data_url", f"/{BUCKET}/data/")], outputs=[("train_url", f"obs://{BUCKET}/{out}/")])
    created = create(api, sandbox, body)
    assert created["kind"] == "job" and created["status"]["phase"] == "Creating"
    job_id = created["metadata"]["id"]
    assert str(uuid.UUID(job_id)) == job_id and created["metadata"]["create_time"] > 10**12
    assert created["metadata"]["name"] == "csv-metrics" and created["status"]["tasks"] == ["worker-0"]
    assert created["algorithm"]["inputs"][0]["remote"]["obs"]["obs_url"] == f"/{BUCKET}/data/"

    final, seen = follow(api, sandbox, job_id)
    assert final["status"]["phase"] == "Completed", preview(api, sandbox, job_id)["content"]
    assert_in_order(seen)
    status = final["status"]
    assert status["start_time"] >= final["metadata"]["create_time"] and status["duration"] > 0
    assert status["task_statuses"] == [{"task": "worker-0", "exit_code": 0, "message": "completed"}]

    metrics = s3.get_object(Bucket=BUCKET, Key=f"{out}/metrics.csv")["Body"].read().decode()
    assert metrics.splitlines() == ["metric,value", "count,3", "sum,16.0", "max,8.0"]
    log = preview(api, sandbox, job_id)
    assert "processed 3 rows; sum=16.0; task 0 of 1" in log["content"]
    assert log["current_size"] == log["full_size"] == len(log["content"].encode())
    assert sandbox.job(job_id)["status"]["phase"] == "Completed"
    assert api.get(v2(sandbox, f"training-jobs/{job_id}")).json()["status"]["duration"] == status["duration"]


def test_two_nodes_run_one_process_each_from_a_file_input(sandbox: ModelArtsSandbox, api: httpx.Client,
                                                          s3: Any) -> None:
    out = f"out-{uuid.uuid4().hex[:8]}"
    body = job_body("two-nodes", f"obs://{BUCKET}/code/train.py", inputs=[("data_url", f"obs://{BUCKET}/data/part-2.csv")],
                    outputs=[("train_url", f"/{BUCKET}/{out}")],
                    resource={"pool_id": "pool-cpu-a1b2c3", "flavor_id": "modelarts.vm.cpu.8u", "node_count": 2})
    job_id = create(api, sandbox, body)["metadata"]["id"]
    final, _ = follow(api, sandbox, job_id)
    assert final["status"]["phase"] == "Completed"
    assert final["status"]["tasks"] == ["worker-0", "worker-1"]
    assert "task 0 of 2" in preview(api, sandbox, job_id, "worker-0")["content"]
    assert "task 1 of 2" in preview(api, sandbox, job_id, "worker-1")["content"]
    metrics = s3.get_object(Bucket=BUCKET, Key=f"{out}/metrics.csv")["Body"].read().decode()
    assert "count,1" in metrics and "sum,4.0" in metrics


ENV_PY = """\
import os, sys
print("host-only:", os.environ.get("MA_HOST_ONLY_SECRET"))
print("job-setting:", os.environ.get("JOB_SETTING"))
print("task:", os.environ.get("VC_TASK_INDEX"), "python:", bool(os.environ.get("PATH")), sys.version_info[0])
"""


def test_a_job_sees_its_own_environment_not_the_hosts(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A job's process gets what running Python needs and its algorithm.environments, never the rest of
    the host's variables (a real platform runs it on another machine)."""
    monkeypatch.setenv("MA_HOST_ONLY_SECRET", "host-secret-4f1e")
    s3.put_object(Bucket=BUCKET, Key="code/env.py", Body=ENV_PY.encode())
    body = job_body("env-check", "env.py")
    body["algorithm"]["environments"] = {"JOB_SETTING": "from-the-job"}
    job_id = create(api, sandbox, body)["metadata"]["id"]
    final, _ = follow(api, sandbox, job_id)
    content = preview(api, sandbox, job_id)["content"]
    assert final["status"]["phase"] == "Completed", content
    assert "host-only: None" in content and "host-secret-4f1e" not in content
    assert "job-setting: from-the-job" in content and "task: 0 python: True 3" in content


def test_failing_script_ends_failed_with_its_traceback(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any) -> None:
    job_id = create(api, sandbox, job_body("fails", "fail.py"))["metadata"]["id"]
    final, seen = follow(api, sandbox, job_id)
    assert final["status"]["phase"] == "Failed" and final["status"]["secondary_phase"] == "Failed"
    assert_in_order(seen)
    task = final["status"]["task_statuses"][0]
    assert task["exit_code"] == 1 and "ValueError: bad input" in task["message"]
    content = preview(api, sandbox, job_id)["content"]
    assert "about to fail" in content and "Traceback (most recent call last)" in content
    assert "ValueError: bad input: column 'value' is missing" in content


def test_missing_input_fails_with_a_readable_reason(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any) -> None:
    body = job_body("no-input", "train.py", inputs=[("data_url", f"obs://{BUCKET}/nothing-here/")])
    job_id = create(api, sandbox, body)["metadata"]["id"]
    final, _ = follow(api, sandbox, job_id)
    assert final["status"]["phase"] == "Failed" and final["status"]["secondary_phase"] == "CreateFailed"
    reason = final["status"]["task_statuses"][0]["message"]
    assert "input data_url" in reason and f"obs://{BUCKET}/nothing-here/" in reason and "does not exist" in reason
    assert reason in preview(api, sandbox, job_id)["content"]


def test_terminate_stops_the_process(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any) -> None:
    job_id = create(api, sandbox, job_body("long-loop", "loop.py"))["metadata"]["id"]
    content = wait_for(lambda: (c := preview(api, sandbox, job_id)["content"]) and "pid=" in c and c)
    pid = int(content.split("pid=")[1].split()[0])
    assert pid_alive(pid)
    assert api.get(v2(sandbox, f"training-jobs/{job_id}")).json()["status"]["phase"] == "Running"

    r = api.post(v2(sandbox, f"training-jobs/{job_id}/actions"), json={"action_type": "terminate"})
    assert r.status_code == 202, r.text
    assert r.json()["status"]["phase"] == "Terminating"
    final, _ = follow(api, sandbox, job_id)
    assert final["status"]["phase"] == "Terminated"
    assert not pid_alive(pid)
    assert final["status"]["task_statuses"][0]["exit_code"] != 0

    again = api.post(v2(sandbox, f"training-jobs/{job_id}/actions"), json={"action_type": "terminate"})
    assert again.status_code == 400 and again.json()["error_code"] == "ModelArts.0105"
    bad = api.post(v2(sandbox, f"training-jobs/{job_id}/actions"), json={"action_type": "pause"})
    assert bad.status_code == 400 and "action_type" in bad.json()["error_msg"]


def test_delete_terminates_then_show_answers_2775(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any) -> None:
    job_id = create(api, sandbox, job_body("to-delete", "loop.py"))["metadata"]["id"]
    content = wait_for(lambda: (c := preview(api, sandbox, job_id)["content"]) and "pid=" in c and c)
    pid = int(content.split("pid=")[1].split()[0])
    r = api.delete(v2(sandbox, f"training-jobs/{job_id}"))
    assert r.status_code == 202 and r.content == b""
    r = api.get(v2(sandbox, f"training-jobs/{job_id}"))
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.2775"
    wait_for(lambda: not pid_alive(pid))
    for method in ("GET", "DELETE"):
        r = api.request(method, v2(sandbox, f"training-jobs/{uuid.uuid4()}"))
        assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.2775"


def test_searches_page_by_page_index(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any) -> None:
    prefix = f"srch-{uuid.uuid4().hex[:6]}"
    ids = [create(api, sandbox, job_body(f"{prefix}-{i}", "quick.py"))["metadata"]["id"] for i in range(5)]
    for job_id in ids:
        follow(api, sandbox, job_id)
    like = [{"key": "name", "operator": "like", "value": [prefix]}]
    url = v2(sandbox, "training-job-searches")
    pages = [api.post(url, json={"offset": n, "limit": 2, "filters": like}).json() for n in range(3)]
    assert [p["count"] for p in pages] == [2, 2, 1] and all(p["total"] == 5 for p in pages)
    assert [p["offset"] for p in pages] == [0, 1, 2] and pages[0]["limit"] == 2
    assert pages[0]["sort_by"] == "create_time" and pages[0]["order"] == "desc"
    found = [item["metadata"]["id"] for p in pages for item in p["items"]]
    assert found == list(reversed(ids))  # newest first, each job once

    asc = api.post(url, json={"limit": 50, "order": "asc", "filters": like}).json()
    assert [i["metadata"]["id"] for i in asc["items"]] == ids
    exact = [{"key": "name", "operator": "in", "value": [f"{prefix}-3"]},
             {"key": "phase", "operator": "in", "value": ["Completed"]}]
    assert [i["metadata"]["id"] for i in api.post(url, json={"filters": exact}).json()["items"]] == [ids[3]]

    for body, field in [({"limit": 51}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset"),
                        ({"sort_by": "owner"}, "sort_by"),
                        ({"filters": [{"key": "colour", "operator": "in", "value": ["x"]}]}, "filters[0].key"),
                        ({"filters": [{"key": "phase", "operator": "like", "value": ["R"]}]}, "filters[0].operator")]:
        r = api.post(url, json=body)
        assert r.status_code == 400, body
        assert field in r.json()["error_msg"], r.json()


def test_bad_create_bodies_name_the_field(sandbox: ModelArtsSandbox, api: httpx.Client) -> None:
    def body_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        body = job_body("bad-body", "train.py", inputs=[("data_url", f"obs://{BUCKET}/data/")])
        change(body)
        return body

    cases: list[tuple[Callable[[dict[str, Any]], None], int, str, str]] = [
        (lambda b: b.pop("kind"), 400, "ModelArts.2762", "kind"),
        (lambda b: b["spec"]["resource"].pop("node_count"), 400, "ModelArts.2762", "spec.resource.node_count"),
        (lambda b: b["spec"]["resource"].update(node_count="two"), 400, "ModelArts.2762", "spec.resource.node_count"),
        (lambda b: b["metadata"].update(name="has spaces"), 400, "ModelArts.2762", "metadata.name"),
        (lambda b: b["algorithm"].pop("boot_file"), 400, "ModelArts.2762", "algorithm.boot_file"),
        (lambda b: [b["algorithm"].pop("boot_file"), b["algorithm"].pop("code_dir")], 400, "ModelArts.2762",
         "algorithm"),
        (lambda b: b["algorithm"].update(code_dir="https://example.org/code/"), 400, "ModelArts.2791",
         "algorithm.code_dir"),
        (lambda b: b["algorithm"]["inputs"][0]["remote"]["obs"].pop("obs_url"), 400, "ModelArts.2762",
         "algorithm.inputs[0].remote.obs.obs_url"),
        (lambda b: b["algorithm"]["engine"].update(image_url="swr.example/img:1"), 400, "ModelArts.2762",
         "algorithm.command"),
        (lambda b: b["algorithm"].update(id="no-such-algorithm"), 400, "ModelArts.2755", "algorithm.id"),
        (lambda b: b["spec"]["resource"].update(pool_id="pool-nope"), 404, "ModelArts.50015001", "pool not found"),
        (lambda b: b["spec"]["resource"].update(flavor_id="modelarts.vm.gpu.t4"), 400, "ModelArts.2763",
         "spec.resource.flavor_id"),
        (lambda b: b["spec"].update(resource={"node_count": 1}), 400, "ModelArts.2762", "spec.resource.flavor_id"),
        (lambda b: b["spec"].update(resource={"node_count": 1, "flavor_id": "modelarts.vm.gpu.a100"}), 400,
         "ModelArts.2763", "spec.resource.flavor_id"),
        (lambda b: b["spec"].update(resource={"node_count": 9, "pool_id": "pool-gpu-d4e5f6"}), 400,
         "ModelArts.2762", "spec.resource.node_count"),
    ]
    for change, status, code, field in cases:
        r = api.post(v2(sandbox, "training-jobs"), json=body_with(change))
        assert r.status_code == status, (field, r.text)
        assert r.json()["error_code"] == code, (field, r.json())
        assert field in r.json()["error_msg"], (field, r.json())
    r = api.post(v2(sandbox, "training-jobs"), content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "body" in r.json()["error_msg"]
    r = api.post(v2(sandbox, "training-jobs"), json=[1, 2])
    assert r.status_code == 400 and "body" in r.json()["error_msg"]

    public = body_with(lambda b: b["spec"].update(resource={"node_count": 1, "flavor_id": "modelarts.vm.cpu.2u"}))
    r = api.post(v2(sandbox, "training-jobs"), json=public)
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["resource"] == {"node_count": 1, "flavor_id": "modelarts.vm.cpu.2u"}


def test_log_preview_and_log_link(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any) -> None:
    job_id = create(api, sandbox, job_body("logs", "quick.py"))["metadata"]["id"]
    follow(api, sandbox, job_id)
    r = api.get(v2(sandbox, f"training-jobs/{job_id}/tasks/worker-7/logs/preview"))
    assert r.status_code == 404 and "worker-7" in r.json()["error_msg"]
    link = api.get(v2(sandbox, f"training-jobs/{job_id}/tasks/worker-0/logs/url")).json()["obs_url"]
    downloaded = httpx.get(link, timeout=15)
    assert downloaded.status_code == 200
    assert downloaded.text == preview(api, sandbox, job_id)["content"] and "hello from" in downloaded.text
    forged = httpx.get(link.replace("Signature=", "Signature=0"), timeout=15)
    assert forged.status_code == 403


def test_log_preview_keeps_the_last_5_mb(sandbox: ModelArtsSandbox, api: httpx.Client, s3: Any) -> None:
    job_id = create(api, sandbox, job_body("big-log", "big_log.py"))["metadata"]["id"]
    final, _ = follow(api, sandbox, job_id)
    assert final["status"]["phase"] == "Completed"
    log = preview(api, sandbox, job_id)
    assert log["full_size"] > 6_000_000 and log["current_size"] == 5 * 1024 * 1024
    assert "THE-END" in log["content"] and "training job big-log" not in log["content"]
