"""Huawei's own Python SDK (``huaweicloudsdkmodelarts``, unchanged) against the ModelArts sandbox over real
HTTP on loopback: AK/SK-signed calls for pools, node pages, training jobs from create to delete, a wrong
secret, and token requests.

The SDK is pointed at the sandbox only through its public builder: ``with_endpoint("http://127.0.0.1:PORT")``
(an endpoint that starts with ``http`` is kept as it is) and an ``HttpConfig`` with short timeouts and no
retries. Where the SDK has no call (the v1 ``clusters`` listing, a task's ``logs/url``) the request is built
as an ``SdkRequest`` and signed and sent by the SDK core's own machinery (the client's credentials and HTTP
client). The SDK has no token credential: a token request swaps ``X-Auth-Token`` in through the SDK's
``HttpHandler`` request hook.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from botocore.config import Config
from conftest import (
    MA_AK,
    MA_BUCKET,
    MA_OBS_KEY,
    MA_OBS_SECRET,
    MA_PROJECT,
    MA_SK,
    MA_TOKEN,
    pid_alive,
    s3_client,
    wait_for,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkmodelarts.v1 import (
    CreateTrainingJobRequest,
    DeleteTrainingJobRequest,
    Filter,
    Input,
    InputDataInfo,
    InputDataInfoObs,
    Job,
    JobActionType,
    JobAlgorithm,
    JobEngine,
    JobMetadata,
    JobSearches,
    ListPoolNodesRequest,
    ListPoolsRequest,
    ListTrainingJobsRequest,
    ModelArtsClient,
    Output,
    Parameters,
    Remote,
    RemoteObs,
    ShowPoolRequest,
    ShowTrainingJobDetailsRequest,
    ShowTrainingJobFlavorsRequest,
    ShowTrainingJobLogsPreviewRequest,
    Spec,
    SpecResource,
    StopTrainingJobRequest,
)

from jupyter_compute.sandbox.modelarts import ModelArtsSandbox

CPU_POOL, GPU_POOL, NPU_POOL, MIXED_POOL = "pool-cpu-a1b2c3", "pool-gpu-d4e5f6", "pool-npu-g7h8i9", "pool-mix-j1k2l3"
FINISHED = {"Completed", "Failed", "Terminated", "Abnormal"}
PREFIX = "sdk-test"

TRAIN_PY = """\
import argparse, csv, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--data_url")
parser.add_argument("--train_url")
parser.add_argument("--scale", type=float, default=1.0)
args = parser.parse_args()
rows = []
for path in sorted(pathlib.Path(args.data_url).glob("*.csv")):
    with open(path, newline="") as fh:
        rows += list(csv.DictReader(fh))
total = sum(float(r["value"]) for r in rows) * args.scale
(pathlib.Path(args.train_url) / "total.txt").write_text(f"{total}\\n")
print(f"processed {len(rows)} rows; total={total}")
"""
LOOP_PY = """\
import os, time
print(f"pid={os.getpid()}", flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    time.sleep(0.05)
"""
QUICK_PY = "print('quick job done')\n"


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def code(obs: str) -> Any:
    """The jobs' code and data in OBS (moto); the S3 client."""
    s3 = s3_client(obs, MA_OBS_KEY, MA_OBS_SECRET, config=Config(request_checksum_calculation="when_required",
                                                                  response_checksum_validation="when_required"))
    for name, text in {"train.py": TRAIN_PY, "loop.py": LOOP_PY, "quick.py": QUICK_PY}.items():
        s3.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/code/{name}", Body=text.encode())
    s3.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/data/a.csv", Body=b"id,value\n1,1.5\n2,2.5\n")
    s3.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/data/b.csv", Body=b"id,value\n3,4\n")
    return s3


def build_client(sb: ModelArtsSandbox, ak: str = MA_AK, sk: str = MA_SK,
                 handler: HttpHandler | None = None) -> ModelArtsClient:
    """Huawei's ModelArtsClient, AK/SK and project id, its endpoint the sandbox on loopback over http."""
    builder = (ModelArtsClient.new_builder()
               .with_credentials(BasicCredentials(ak, sk, MA_PROJECT))
               .with_endpoint(sb.base_url)
               .with_http_config(HttpConfig(timeout=(5, 30), retry_times=0)))
    if handler is not None:
        builder = builder.with_http_handler(handler)
    return builder.build()


@pytest.fixture(scope="module")
def client(modelarts: ModelArtsSandbox) -> Iterator[ModelArtsClient]:
    sdk = build_client(modelarts)
    yield sdk
    sdk.close()


def refusal(call: Callable[[], Any]) -> ClientRequestException:
    """The SDK's exception for a call the sandbox refuses."""
    with pytest.raises(ClientRequestException) as info:
        call()
    return info.value


def with_token(token: str) -> HttpHandler:
    """An SDK request hook that sends ``X-Auth-Token`` instead of the AK/SK signature (the SDK has no token
    credential; its HttpHandler sees each request just before it is sent)."""
    def swap(request: SdkRequest, **_: Any) -> None:
        request.header_params.pop("Authorization", None)
        request.header_params["X-Auth-Token"] = token

    return HttpHandler().add_request_handler(swap)


def job_body(name: str, boot: str, *, inputs: dict[str, str] | None = None, outputs: dict[str, str] | None = None,
             params: dict[str, str] | None = None) -> Job:
    """A training job on the CPU pool, in the SDK's own request models."""
    return Job(
        kind="job",
        metadata=JobMetadata(name=name, description="created by Huawei's SDK"),
        algorithm=JobAlgorithm(
            code_dir=f"obs://{MA_BUCKET}/{PREFIX}/code/", boot_file=boot,
            engine=JobEngine(engine_name="PyTorch", engine_version="pytorch_2.1.0-cuda_12.1-py_3.10"),
            parameters=[Parameters(name=k, value=v) for k, v in (params or {}).items()],
            inputs=[Input(name=k, remote=InputDataInfo(obs=InputDataInfoObs(obs_url=v)))
                    for k, v in (inputs or {}).items()],
            outputs=[Output(name=k, remote=Remote(obs=RemoteObs(obs_url=v))) for k, v in (outputs or {}).items()],
        ),
        spec=Spec(resource=SpecResource(pool_id=CPU_POOL, node_count=1)),
    )


def show(client: ModelArtsClient, job_id: str) -> Any:
    return client.show_training_job_details(ShowTrainingJobDetailsRequest(training_job_id=job_id))


def wait_phase(client: ModelArtsClient, job_id: str, phases: set[str] = FINISHED) -> Any:
    """Show the job until its phase is one of ``phases``; answer that view."""
    return wait_for(lambda: (job := show(client, job_id)).status.phase in phases and job,
                    f"training job {job_id} in {sorted(phases)}", timeout=120)


def log_of(client: ModelArtsClient, job_id: str) -> str:
    request = ShowTrainingJobLogsPreviewRequest(training_job_id=job_id, task_id="worker-0")
    return client.show_training_job_logs_preview(request).content


def signed_get(client: ModelArtsClient, sb: ModelArtsSandbox, path: str, query: list[tuple[str, Any]]) -> Any:
    """GET ``path`` signed and sent by the SDK core (its credentials' signer, its HTTP client); the JSON answer.

    Used where huaweicloudsdkmodelarts has no call: the v1 dedicated-cluster listing and the log link."""
    request = SdkRequest(method="GET", schema="http", host=f"{sb.host}:{sb.port}", resource_path=path,
                         query_params=query, header_params={"Content-Type": "application/json"}, body="")
    signed = client.get_credentials().process_auth_request(request, client.get_http_client()).result()
    return client.get_http_client().do_request_sync(signed).json()


# ---------------------------------------------------------------------- resources
def test_clusters_pages_by_the_sdk_signer(client: ModelArtsClient, modelarts: ModelArtsSandbox) -> None:
    path = f"/v1/{MA_PROJECT}/clusters"
    every = signed_get(client, modelarts, path, [])
    assert every["total_count"] == every["count"] == len(every["clusters"]) == 5
    pages = [signed_get(client, modelarts, path, [("limit", 2), ("offset", n), ("sort_by", "cluster_name"),
                                                  ("order", "asc")]) for n in range(3)]
    names = [c["cluster_name"] for p in pages for c in p["clusters"]]
    assert [p["count"] for p in pages] == [2, 2, 1] and names == sorted(c["cluster_name"] for c in every["clusters"])
    running = signed_get(client, modelarts, path, [("status", "running")])
    assert running["total_count"] == 2 and {c["status"] for c in running["clusters"]} == {"running"}


def test_pools_listed_filtered_and_shown(client: ModelArtsClient) -> None:
    listing = client.list_pools(ListPoolsRequest())
    assert listing.kind == "PoolList"
    assert [p.metadata.name for p in listing.items] == [CPU_POOL, GPU_POOL, NPU_POOL, MIXED_POOL]
    research = client.list_pools(ListPoolsRequest(workspace_id="ws-research-01"))
    assert [p.metadata.name for p in research.items] == [NPU_POOL]
    gpu = client.list_pools(ListPoolsRequest(label_selector="os.modelarts/name=gpu-pool"))
    assert [p.metadata.name for p in gpu.items] == [GPU_POOL]
    assert len(client.list_pools(ListPoolsRequest(status="created")).items) == 4
    assert client.list_pools(ListPoolsRequest(status="creating")).items == []

    pool = client.show_pool(ShowPoolRequest(pool_name=CPU_POOL))
    assert pool.metadata.labels.os_modelarts_name == "cpu-pool" and pool.status.phase == "Running"
    assert pool.spec.resources[0].flavor == "modelarts.vm.cpu.8u" and pool.spec.resources[0].count == 7
    # status.resources buckets are lists; the SDK's model declares one object, so read them raw (see the spec)
    raw = json.loads(pool.raw_content)["status"]["resources"]
    assert raw["available"][0]["count"] == 5 and raw["creating"][0]["count"] == 1

    missing = refusal(lambda: client.show_pool(ShowPoolRequest(pool_name="pool-nope")))
    assert missing.status_code == 404 and missing.error_code == "ModelArts.50015001"


def test_node_pages_follow_continue(client: ModelArtsClient) -> None:
    whole = client.list_pool_nodes(ListPoolNodesRequest(pool_name=CPU_POOL))
    assert len(whole.items) == 7 and whole.metadata._continue == "" and whole.metadata.remaining_item_count == 0
    names, token, remaining = [], None, []
    for _ in range(10):  # bounded: 7 nodes in pages of 3
        page = client.list_pool_nodes(ListPoolNodesRequest(pool_name=CPU_POOL, limit=3, _continue=token))
        names += [n.metadata.name for n in page.items]
        remaining.append(page.metadata.remaining_item_count)
        token = page.metadata._continue
        if not token:
            break
    assert names == [n.metadata.name for n in whole.items] and remaining == [4, 1, 0]
    phases = {n.metadata.name: n.status.phase for n in whole.items}
    assert phases["os-node-created-p0x7v"] == "Creating" and phases["os-node-created-r5y1u"] == "Abnormal"
    assert whole.items[0].status.private_ip == "192.168.0.11" and whole.items[0].status.resources.cpu == "7800m"

    bad = refusal(lambda: client.list_pool_nodes(ListPoolNodesRequest(pool_name=CPU_POOL, _continue="forged")))
    assert bad.status_code == 400 and bad.error_code == "ModelArts.50004000"
    bad = refusal(lambda: client.list_pool_nodes(ListPoolNodesRequest(pool_name=GPU_POOL, limit=501)))
    assert bad.status_code == 400 and "limit" in bad.error_msg


def test_public_pool_flavors(client: ModelArtsClient) -> None:
    cpu = client.show_training_job_flavors(ShowTrainingJobFlavorsRequest(flavor_type="CPU"))
    assert cpu.total_count == 2 and {f.flavor_id for f in cpu.flavors} == {"modelarts.vm.cpu.2u",
                                                                           "modelarts.vm.cpu.8u"}


# ---------------------------------------------------------------------- training jobs
def test_training_job_from_create_to_delete(client: ModelArtsClient, modelarts: ModelArtsSandbox, code: Any) -> None:
    name, out = f"sdk-train-{uuid.uuid4().hex[:6]}", f"{PREFIX}/out-{uuid.uuid4().hex[:6]}/"
    body = job_body(name, "train.py", inputs={"data_url": f"obs://{MA_BUCKET}/{PREFIX}/data/"},
                    outputs={"train_url": f"obs://{MA_BUCKET}/{out}"}, params={"scale": "2"})
    created = client.create_training_job(CreateTrainingJobRequest(body=body))
    job_id = created.metadata.id
    assert created.status_code == 201 and created.metadata.name == name
    assert created.status.phase == "Creating" and created.status.tasks == ["worker-0"]

    final = wait_phase(client, job_id)
    assert final.status.phase == "Completed", log_of(client, job_id)
    assert final.status.task_statuses[0].exit_code == 0 and final.status.duration > 0
    assert final.algorithm.parameters[0].name == "scale"
    assert code.get_object(Bucket=MA_BUCKET, Key=f"{out}total.txt")["Body"].read() == b"16.0\n"
    assert "processed 3 rows; total=16.0" in log_of(client, job_id)
    # the temporary log link: no call for it in the SDK, so signed and sent by the SDK core
    link = signed_get(client, modelarts, f"/v2/{MA_PROJECT}/training-jobs/{job_id}/tasks/worker-0/logs/url", [])
    assert "processed 3 rows; total=16.0" in httpx.get(link["obs_url"], timeout=15).text

    search = client.list_training_jobs(ListTrainingJobsRequest(body=JobSearches(
        offset=0, limit=10, filters=[Filter(key="name", operator="in", value=[name])])))
    assert search.total == 1 and [j.metadata.id for j in search.items] == [job_id]
    assert search.items[0].status.phase == "Completed"

    deleted = client.delete_training_job(DeleteTrainingJobRequest(training_job_id=job_id))
    assert deleted.status_code == 202
    gone = refusal(lambda: show(client, job_id))
    assert gone.status_code == 400 and gone.error_code == "ModelArts.2775"


def test_training_job_stopped_then_deleted(client: ModelArtsClient, code: Any) -> None:
    job_id = client.create_training_job(CreateTrainingJobRequest(
        body=job_body(f"sdk-loop-{uuid.uuid4().hex[:6]}", "loop.py"))).metadata.id
    text = wait_for(lambda: "pid=" in (t := log_of(client, job_id)) and t, "the loop's pid in its log", timeout=120)
    pid = int(text.split("pid=")[1].split()[0])
    assert show(client, job_id).status.phase == "Running"

    stopping = client.stop_training_job(StopTrainingJobRequest(training_job_id=job_id,
                                                               body=JobActionType(action_type="terminate")))
    assert stopping.status_code == 202 and stopping.status.phase == "Terminating"
    assert wait_phase(client, job_id).status.phase == "Terminated"
    assert not pid_alive(pid)
    again = refusal(lambda: client.stop_training_job(StopTrainingJobRequest(
        training_job_id=job_id, body=JobActionType(action_type="terminate"))))
    assert again.status_code == 400 and again.error_code == "ModelArts.0105"

    client.delete_training_job(DeleteTrainingJobRequest(training_job_id=job_id))
    assert refusal(lambda: show(client, job_id)).error_code == "ModelArts.2775"


def test_searches_page_by_page_index(client: ModelArtsClient, code: Any) -> None:
    prefix = f"sdk-page-{uuid.uuid4().hex[:6]}"
    ids = [client.create_training_job(CreateTrainingJobRequest(body=job_body(f"{prefix}-{i}", "quick.py")))
           .metadata.id for i in range(3)]
    for job_id in ids:
        assert wait_phase(client, job_id).status.phase == "Completed"
    like = [Filter(key="name", operator="like", value=[prefix])]
    pages = [client.list_training_jobs(ListTrainingJobsRequest(body=JobSearches(offset=n, limit=2, filters=like)))
             for n in range(2)]
    assert [p.count for p in pages] == [2, 1] and all(p.total == 3 for p in pages)
    assert [j.metadata.id for p in pages for j in p.items] == list(reversed(ids))  # newest first
    for job_id in ids:
        client.delete_training_job(DeleteTrainingJobRequest(training_job_id=job_id))


# ---------------------------------------------------------------------- credentials
def test_a_wrong_secret_or_access_key_is_refused(modelarts: ModelArtsSandbox) -> None:
    for ak, sk, words in [(MA_AK, "not-the-secret", "verify aksk signature fail"),
                          ("NOSUCHAK", MA_SK, "ak NOSUCHAK not exist")]:
        sdk = build_client(modelarts, ak, sk)
        try:
            refused = refusal(lambda: sdk.list_pools(ListPoolsRequest()))  # noqa: B023 - called at once
        finally:
            sdk.close()
        assert refused.status_code == 401 and refused.error_code == "APIGW.0301", refused.error_msg
        assert words in refused.error_msg and MA_SK not in refused.error_msg
        assert "not-the-secret" not in refused.error_msg and refused.request_id


def test_token_requests(client: ModelArtsClient, modelarts: ModelArtsSandbox) -> None:
    """``X-Auth-Token`` alone (the SDK's request hook swaps it in for the signature), and a token sent beside
    an AK/SK signature (the SDK invoker's ``add_header``), which must then be valid too."""
    sdk = build_client(modelarts, "UNUSEDAK", "unused-secret", handler=with_token(MA_TOKEN))
    try:
        assert next(p.metadata.name for p in sdk.list_pools(ListPoolsRequest()).items) == CPU_POOL
    finally:
        sdk.close()
    sdk = build_client(modelarts, "UNUSEDAK", "unused-secret", handler=with_token("forged-token"))
    try:
        refused = refusal(lambda: sdk.list_pools(ListPoolsRequest()))
    finally:
        sdk.close()
    assert refused.status_code == 401 and refused.error_code == "APIGW.0301" and "token" in refused.error_msg

    both = client.list_pools_invoker(ListPoolsRequest()).add_header("X-Auth-Token", MA_TOKEN).invoke()
    assert len(both.items) == 4
    refused = refusal(lambda: client.list_pools_invoker(ListPoolsRequest())
                      .add_header("X-Auth-Token", "forged-token").invoke())
    assert refused.status_code == 401 and "decrypt token fail" in refused.error_msg
    assert MA_TOKEN not in refused.error_msg
