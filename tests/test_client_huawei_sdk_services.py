"""Huawei's own SDK (unchanged) against the sandbox's v1 inference services, over real HTTP on loopback.

``huaweicloudsdkmodelarts`` 3.1.x has no calls for the v1 service API (its ``*_infer_service*`` calls are
the v2 API), so each request is built as an ``SdkRequest`` and signed (AK/SK) and sent by the SDK core's
own machinery, the client's credentials and HTTP client, as ``test_client_huawei_sdk`` does for the
cluster listing; a refusal comes back as the SDK's ``ClientRequestException``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from conftest import MA_BUCKET, MA_OBS_KEY, MA_OBS_SECRET, MA_PROJECT, s3_client, wait_for
from test_client_huawei_sdk import build_client, refusal
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkmodelarts.v1 import ModelArtsClient

from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.sandbox.modelarts.services import ROW_SUM_MODEL_ID

PREFIX = "sdk-svc"


@pytest.fixture(scope="module")
def client(modelarts: ModelArtsSandbox) -> Iterator[ModelArtsClient]:
    """Huawei's ModelArtsClient, AK/SK and project id, its endpoint the sandbox on loopback over http."""
    sdk = build_client(modelarts)
    yield sdk
    sdk.close()


@pytest.fixture(scope="module")
def s3(obs: str) -> Any:
    s3 = s3_client(obs, MA_OBS_KEY, MA_OBS_SECRET, config=Config(request_checksum_calculation="when_required",
                                                                  response_checksum_validation="when_required"))
    s3.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/in/rows.csv", Body=b"1,2\n3,4\n")
    return s3


def call(client: ModelArtsClient, sb: ModelArtsSandbox, method: str, path: str,
         query: list[tuple[str, Any]] | None = None, body: Any = None) -> Any:
    """``method`` on ``/v1/{project_id}/<path>``, signed and sent by the SDK core; the JSON answer."""
    request = SdkRequest(method=method, schema="http", host=f"{sb.host}:{sb.port}",
                         resource_path=f"/v1/{MA_PROJECT}/{path}", query_params=list(query or []),
                         header_params={"Content-Type": "application/json", "X-Project-Id": MA_PROJECT},
                         body=json.dumps(body) if body is not None else "")
    signed = client.get_credentials().process_auth_request(request, client.get_http_client()).result()
    return client.get_http_client().do_request_sync(signed).json()


def status_of(client: ModelArtsClient, sb: ModelArtsSandbox, service_id: str, wanted: set[str]) -> Any:
    return wait_for(lambda: (view := call(client, sb, "GET", f"services/{service_id}"))["status"] in wanted and view,
                    f"service {service_id} in {sorted(wanted)}", timeout=60)


def test_batch_service_by_the_sdk(client: ModelArtsClient, modelarts: ModelArtsSandbox, s3: Any) -> None:
    name = f"sdk-batch-{uuid.uuid4().hex[:6]}"
    out = f"{PREFIX}/out-{uuid.uuid4().hex[:6]}/"
    created = call(client, modelarts, "POST", "services", body={
        "service_name": name, "infer_type": "batch", "config": [{
            "model_id": ROW_SUM_MODEL_ID, "specification": "modelarts.vm.cpu.2u", "instance_count": 1,
            "src_path": f"https://{MA_BUCKET}.obs.cn-north-4.myhuaweicloud.com/{PREFIX}/in/",
            "dest_path": f"https://{MA_BUCKET}.obs.cn-north-4.myhuaweicloud.com/{out}", "req_uri": "/",
            "mapping_type": "csv", "mapping_rule": {"type": "object", "properties": {
                "x": {"type": "number", "index": 0}, "y": {"type": "number", "index": 1}}}}]})
    service_id = created["service_id"]
    final = status_of(client, modelarts, service_id, {"finished", "failed"})
    assert final["status"] == "finished", final["error_msg"]
    lines = s3.get_object(Bucket=MA_BUCKET, Key=f"{out}rows.csv_result.txt")["Body"].read().splitlines()
    assert [json.loads(line) for line in lines] == [{"sum": 3.0}, {"sum": 7.0}]

    listing = call(client, modelarts, "GET", "services", [("service_name", name)])
    assert listing["count"] == 1 and listing["services"][0]["status"] == "finished"
    log = call(client, modelarts, "GET", f"services/{service_id}/events", [("order", "asc")])
    assert log["service_name"] == name and log["events"][0]["event_info"] == "start to deploy service"
    assert "finished" in log["events"][-1]["event_info"] and log["total_count"] == log["count"]


def test_real_time_service_stopped_and_deleted_by_the_sdk(client: ModelArtsClient, modelarts: ModelArtsSandbox) -> None:
    created = call(client, modelarts, "POST", "services", body={
        "service_name": f"sdk-rt-{uuid.uuid4().hex[:6]}", "infer_type": "real-time", "config": [{
            "model_id": ROW_SUM_MODEL_ID, "specification": "modelarts.vm.cpu.2u", "instance_count": 1,
            "weight": "100"}]})
    service_id = created["service_id"]
    assert status_of(client, modelarts, service_id, {"running"})["access_address"].endswith(service_id)
    assert call(client, modelarts, "PUT", f"services/{service_id}", body={"status": "stopped"}) == {}
    assert status_of(client, modelarts, service_id, {"stopped"})["status"] == "stopped"
    assert call(client, modelarts, "DELETE", f"services/{service_id}") == {}
    gone: Any = wait_for(lambda: _missing(client, modelarts, service_id), "the service gone")
    assert gone.status_code == 404 and gone.error_code == "ModelArts.3502"


def _missing(client: ModelArtsClient, sb: ModelArtsSandbox, service_id: str) -> ClientRequestException | None:
    try:
        call(client, sb, "GET", f"services/{service_id}")
    except ClientRequestException as exc:
        return exc
    return None


def test_refusals_are_client_request_exceptions(client: ModelArtsClient, modelarts: ModelArtsSandbox) -> None:
    bad = refusal(lambda: call(client, modelarts, "POST", "services", body={
        "service_name": "sdk-bad", "infer_type": "real-time", "config": [{
            "model_id": ROW_SUM_MODEL_ID, "specification": "modelarts.vm.cpu.2u", "instance_count": 0,
            "weight": 100}]}))
    assert bad.status_code == 400 and bad.error_code == "ModelArts.0101" and "instance_count" in bad.error_msg
    unknown = refusal(lambda: call(client, modelarts, "POST", "services", body={
        "service_name": "sdk-bad", "infer_type": "batch", "config": [{"model_id": "nope"}]}))
    assert unknown.status_code == 404 and unknown.error_code == "ModelArts.3507"
