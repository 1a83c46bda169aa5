"""The ModelArts sandbox's v1 inference services over real HTTP on loopback: batch services that really run
over OBS (moto), real-time services answering at their predict URL (IAM token, AK/SK, app signatures),
their auto-stop schedule, stop/start/delete, app-authentication listings, and the create body's refusals."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from botocore.config import Config
from conftest import MA_AK, MA_BUCKET, MA_OBS_KEY, MA_OBS_SECRET, MA_PROJECT, MA_SK, MA_TOKEN, s3_client, wait_for
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.sandbox.modelarts.service_runner import Service
from jupyter_compute.sandbox.modelarts.service_views import list_services
from jupyter_compute.sandbox.modelarts.services import (
    APP_AUTHED,
    FAILING_MODEL_ID,
    ROW_SUM_MODEL_ID,
    SLOW_ROW_SUM_MODEL_ID,
)

PREFIX = "svc-test"
OTHER_APP = "9b2d4f6a8c0e1a3c5e7a9c1e3a5c7e9a"
CLUSTER_RUNNING, CLUSTER_ABNORMAL = "ff8080817a1c2b3d017a1c2b9e010001", "ff8080817a1c2b3d017a1c2b9e010003"
RESTING = {"finished", "failed", "stopped"}
CSV_RULE = {"type": "object", "properties": {"data": {"type": "object", "properties": {"req_data": {
    "type": "array", "items": [{"type": "object", "properties": {
        "a": {"type": "number", "index": 0}, "b": {"type": "number", "index": 1},
        "label": {"type": "string", "index": 2}, "skipped": {"type": "number", "index": -1}}}]}}}}}


@pytest.fixture(scope="module")
def s3(obs: str) -> Any:
    client = s3_client(obs, MA_OBS_KEY, MA_OBS_SECRET, config=Config(request_checksum_calculation="when_required",
                                                                    response_checksum_validation="when_required"))
    client.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/csv/x.csv", Body=b"1,2,a\n3.5,4,b\n-1,10,c\n")
    client.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/csv/y.csv", Body=b"100,1,z\n")
    client.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/files/one.txt", Body=b"1 2 3\n")
    client.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/files/two.txt", Body=b"10,20\n")
    rows = "".join(f"{i},1,r\n" for i in range(200)).encode()
    client.put_object(Bucket=MA_BUCKET, Key=f"{PREFIX}/many/big.csv", Body=rows)
    return client


@pytest.fixture
def api(modelarts: ModelArtsSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=modelarts.base_url, headers={"X-Auth-Token": MA_TOKEN}, timeout=15) as client:
        yield client


def services_path(*rest: str) -> str:
    return "/".join([f"/v1/{MA_PROJECT}/services", *rest])


def batch_body(name: str, src: str, dest: str, *, model: str = ROW_SUM_MODEL_ID, mapping: str = "csv",
               **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"model_id": model, "specification": "modelarts.vm.cpu.2u", "instance_count": 1,
                              "src_path": src, "dest_path": dest, "req_uri": "/", "mapping_type": mapping}
    if mapping == "csv":
        config["mapping_rule"] = CSV_RULE
    return {"service_name": name, "description": "", "infer_type": "batch", "config": [config], **extra}


def realtime_body(name: str, **extra: Any) -> dict[str, Any]:
    return {"service_name": name, "infer_type": "real-time", "config": [
        {"model_id": ROW_SUM_MODEL_ID, "specification": "modelarts.vm.cpu.2u", "instance_count": 1, "weight": 100}],
        **extra}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create(api: httpx.Client, body: dict[str, Any]) -> str:
    r = api.post(services_path(), json=body)
    assert r.status_code == 200, r.text
    assert r.json()["resource_ids"]
    return r.json()["service_id"]


def show(api: httpx.Client, service_id: str) -> dict[str, Any]:
    r = api.get(services_path(service_id))
    assert r.status_code == 200, r.text
    return r.json()


def follow(api: httpx.Client, service_id: str, until: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Show the service until its status is in ``until``; the last view and the statuses seen, in order."""
    seen: list[str] = []

    def probe() -> Any:
        view = show(api, service_id)
        if not seen or seen[-1] != view["status"]:
            seen.append(view["status"])
        return view if view["status"] in until else None

    return wait_for(probe, f"service {service_id} in {sorted(until)}", timeout=60), seen


def events(api: httpx.Client, service_id: str) -> list[str]:
    r = api.get(services_path(service_id, "events"), params={"order": "asc"})
    assert r.status_code == 200, r.text
    return [e["event_info"] for e in r.json()["events"]]


def read(s3: Any, key: str) -> bytes:
    return s3.get_object(Bucket=MA_BUCKET, Key=key)["Body"].read()


# ---------------------------------------------------------------------- batch
def test_csv_batch_sums_each_row(api: httpx.Client, s3: Any) -> None:
    out = f"{PREFIX}/out-{uuid.uuid4().hex[:6]}/"
    src = f"https://{MA_BUCKET}.obs.cn-north-4.myhuaweicloud.com/{PREFIX}/csv/"
    service_id = create(api, batch_body(unique("csv"), src, f"obs://{MA_BUCKET}/{out}"))
    final, _ = follow(api, service_id, RESTING)
    assert final["status"] == "finished", final
    assert final["config"][0]["mapping_type"] == "csv" and final["config"][0]["finished_time"] >= \
        final["config"][0]["start_time"]
    frame = pd.read_json(io.BytesIO(read(s3, f"{out}x.csv_result.txt")), lines=True)
    assert frame["sum"].tolist() == [3.0, 7.5, 9.0]
    assert json.loads(read(s3, f"{out}y.csv_result.txt")) == {"sum": 101.0}
    manifest = [json.loads(line) for line in read(s3, f"{out}infer-result-0.manifest").splitlines()]
    assert [m["result"] for m in manifest] == ["SUCCESSFUL", "SUCCESSFUL"]
    assert manifest[0]["source"].endswith("/csv/x.csv") and manifest[0]["inference-loc"].endswith("x.csv_result.txt")
    log = events(api, service_id)
    assert log[0] == "start to deploy service" and "batch task finished" in log[-1]


def test_file_batch_answers_once_per_file(api: httpx.Client, s3: Any) -> None:
    out = f"{PREFIX}/out-{uuid.uuid4().hex[:6]}/"
    service_id = create(api, batch_body(unique("file"), f"/{MA_BUCKET}/{PREFIX}/files/", f"obs://{MA_BUCKET}/{out}",
                                        mapping="file"))
    assert follow(api, service_id, RESTING)[0]["status"] == "finished"
    assert json.loads(read(s3, f"{out}one.txt_result.txt")) == {"sum": 6.0}
    assert json.loads(read(s3, f"{out}two.txt_result.txt")) == {"sum": 30.0}


def test_a_model_that_does_not_start_fails_the_service(api: httpx.Client, s3: Any) -> None:
    body = batch_body(unique("fails"), f"obs://{MA_BUCKET}/{PREFIX}/csv/", f"obs://{MA_BUCKET}/{PREFIX}/never/",
                      model=FAILING_MODEL_ID)
    service_id = create(api, body)
    final, _ = follow(api, service_id, RESTING)
    assert final["status"] == "failed" and "failed to start" in final["error_msg"]
    r = api.get(services_path(service_id, "events"), params={"event_type": "abnormal"})
    assert r.json()["count"] == 1 and "failed to start" in r.json()["events"][0]["event_info"]


def test_a_missing_src_path_fails_the_service(api: httpx.Client, s3: Any) -> None:
    body = batch_body(unique("nosrc"), f"obs://{MA_BUCKET}/{PREFIX}/nothing-here/", f"obs://{MA_BUCKET}/{PREFIX}/o/")
    final, _ = follow(api, create(api, body), RESTING)
    assert final["status"] == "failed"
    assert "nothing-here" in final["error_msg"] and "does not exist or is empty" in final["error_msg"]


def test_stopping_a_running_batch(api: httpx.Client, s3: Any) -> None:
    body = batch_body(unique("slow"), f"obs://{MA_BUCKET}/{PREFIX}/many/", f"obs://{MA_BUCKET}/{PREFIX}/slow-out/",
                      model=SLOW_ROW_SUM_MODEL_ID)
    service_id = create(api, body)
    follow(api, service_id, {"running"})
    r = api.put(services_path(service_id), json={"status": "stopped"})
    assert r.status_code == 200 and r.json() == {}
    follow(api, service_id, {"stopped"})
    log = events(api, service_id)
    assert "batch task started" in " ".join(log) and log[-2:] == ["stopping service", "service stopped"]
    again = api.put(services_path(service_id), json={"status": "stopped"})
    assert again.status_code == 400 and again.json()["error_code"] == "ModelArts.3519"
    assert "stopped" in again.json()["error_msg"]
    assert s3.list_objects_v2(Bucket=MA_BUCKET, Prefix=f"{PREFIX}/slow-out/").get("KeyCount", 0) == 0


# ---------------------------------------------------------------------- real-time
def app_signed(sb: ModelArtsSandbox, url: str, body: dict[str, Any], key: str, secret: str) -> SdkRequest:
    """A predict request signed as APIG's app authentication signs it (the SDK-HMAC-SHA256 signer, app key
    and secret)."""
    parsed = httpx.URL(url)
    request = SdkRequest(method="POST", schema="http", host=f"{parsed.host}:{parsed.port}",
                         resource_path=parsed.path, query_params=[], header_params={"Content-Type": "application/json"},
                         body=json.dumps(body).encode())
    return Signer(BasicCredentials(key, secret)).sign(request)


def send(request: SdkRequest) -> httpx.Response:
    return httpx.request(request.method, request.url, headers=request.header_params, content=request.body, timeout=15)


def app(sb: ModelArtsSandbox, app_id: str) -> dict[str, Any]:
    return next(a for a in sb._apps if a["app_id"] == app_id)


def refused(r: httpx.Response, status: int, code: str) -> bool:
    """Whether ``r`` is a refusal with this status and error code."""
    return r.status_code == status and r.json()["error_code"] == code


PAYLOAD = {"data": {"req_data": [{"a": 1, "b": 2.5}, {"a": 4}]}}


def predicts_with_each_credential(sb: ModelArtsSandbox, url: str, service_id: str) -> None:
    """An IAM token, an AK/SK signature and the authorised app's signature all get the model's answer."""
    by_token = httpx.post(url, json=PAYLOAD, headers={"X-Auth-Token": MA_TOKEN}, timeout=15)
    assert by_token.status_code == 200
    assert by_token.json() == {"sum": 7.5}
    signed = Signer(BasicCredentials(MA_AK, MA_SK)).sign(SdkRequest(
        method="POST", schema="http", host=f"{sb.host}:{sb.port}", resource_path=f"/v1/infers/{service_id}/predict",
        query_params=[], header_params={"Content-Type": "application/json"}, body=json.dumps(PAYLOAD).encode()))
    assert send(signed).json() == {"sum": 7.5}
    authed = app(sb, APP_AUTHED)
    assert send(app_signed(sb, url, PAYLOAD, authed["app_key"], authed["app_secret"])).json() == {"sum": 7.5}


def predict_refusals(sb: ModelArtsSandbox, url: str) -> list[httpx.Response]:
    """An app not authorised for the API, a wrong app secret, no credentials, an unknown app code."""
    authed, other = app(sb, APP_AUTHED), app(sb, OTHER_APP)
    answers = [send(app_signed(sb, url, PAYLOAD, other["app_key"], other["app_secret"])),
               send(app_signed(sb, url, PAYLOAD, authed["app_key"], "not-the-app-secret")),
               httpx.post(url, json=PAYLOAD, timeout=15),
               httpx.post(url, json=PAYLOAD, headers={"X-Apig-AppCode": "not-a-code"}, timeout=15)]
    assert refused(answers[0], 403, "APIG.0302")
    assert all(refused(r, 401, "APIGW.0301") for r in answers[1:])
    return answers


def stop_then_start(api: httpx.Client, service_id: str, url: str) -> None:
    assert api.put(services_path(service_id), json={"status": "stopped"}).status_code == 200
    stopped, _ = follow(api, service_id, {"stopped"})
    assert "access_address" not in stopped
    assert events(api, service_id)[-2:] == ["stopping service", "service stopped"]
    assert refused(httpx.post(url, json=PAYLOAD, headers={"X-Auth-Token": MA_TOKEN}, timeout=15), 503,
                   "ModelArts.4503")
    assert api.put(services_path(service_id), json={"status": "running"}).status_code == 200
    assert follow(api, service_id, {"running"})[0]["access_address"] == url
    assert httpx.post(url, json=PAYLOAD, headers={"X-Auth-Token": MA_TOKEN}, timeout=15).json() == {"sum": 7.5}
    assert refused(api.put(services_path(service_id), json={"status": "running"}), 400, "ModelArts.3519")


def delete_until_gone(api: httpx.Client, service_id: str) -> None:
    assert api.delete(services_path(service_id)).status_code == 200
    gone: Any = wait_for(lambda: (r := api.get(services_path(service_id))).status_code == 404 and r,
                         "the service gone")
    assert refused(gone, 404, "ModelArts.3502")
    assert service_id in gone.json()["error_msg"]
    assert api.get(services_path(service_id, "events")).status_code == 404
    assert service_id not in [s["service_id"] for s in api.get(services_path()).json()["services"]]


def test_real_time_service_predicts_stops_starts_and_is_deleted(api: httpx.Client, modelarts: ModelArtsSandbox,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    service_id = create(api, realtime_body(unique("rt")))
    running, _ = follow(api, service_id, {"running", "failed"})
    assert running["status"] == "running"
    assert running["progress"] == 100
    assert events(api, service_id)[0] == "start to deploy service"
    url = running["access_address"]
    assert url == f"{modelarts.base_url}/v1/infers/{service_id}"

    predicts_with_each_credential(modelarts, url, service_id)
    answers = predict_refusals(modelarts, url)
    assert show(api, service_id)["invocation_times"] == 3
    stop_then_start(api, service_id, url)
    delete_until_gone(api, service_id)
    secrets = [a["app_secret"] for a in modelarts._apps] + ["not-the-app-secret", MA_TOKEN, MA_SK]
    for secret in secrets:
        assert secret not in caplog.text
        assert all(secret not in r.text for r in answers)


def test_the_schedule_stops_a_real_time_service(api: httpx.Client, modelarts: ModelArtsSandbox) -> None:
    modelarts.services.time_unit_s["MINUTES"] = 2
    try:
        service_id = create(api, realtime_body(unique("sched"), schedule=[
            {"type": "stop", "time_unit": "MINUTES", "duration": 1}]))
        running, _ = follow(api, service_id, {"running"})
        assert running["schedule"] == [{"type": "stop", "time_unit": "MINUTES", "duration": 1}]
        assert running["due_time"] > running["transition_at"] - 1
        stopped, _ = follow(api, service_id, {"stopped"})
        assert "due_time" not in stopped
        log = events(api, service_id)
        assert "stopped by its schedule (stop after 1 MINUTES)" in log[-2] and log[-1] == "service stopped"
    finally:
        modelarts.services.time_unit_s["MINUTES"] = 60


# ---------------------------------------------------------------------- listings
def test_services_created_in_the_same_millisecond_are_listed_newest_first() -> None:
    made = [Service(id=str(uuid.uuid4()), body={"config": []}, api_id="api", predict_url="", created_ms=1)
            for _ in range(20)]
    listed = list_services([({"publish_at": s.created_ms, "service_id": s.id}, s) for s in made], {})
    assert [view["service_id"] for view in listed["services"]] == [s.id for s in reversed(made)]


def test_listing_filters_sorts_and_pages(api: httpx.Client, s3: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = [create(api, realtime_body(f"list-{tag}-{i}")) for i in range(3)]
    for service_id in ids:
        follow(api, service_id, {"running"})
    everything = api.get(services_path()).json()
    assert everything["total_count"] == everything["count"] >= 3
    mine = [s for s in everything["services"] if s["service_name"].startswith(f"list-{tag}")]
    assert [s["service_id"] for s in mine] == list(reversed(ids))  # newest first
    one = api.get(services_path(), params={"service_name": f"list-{tag}-1"}).json()
    assert [(r["service_id"], r["infer_type"], r["status"]) for r in one["services"]] == [
        (ids[1], "real-time", "running")]
    pages = [api.get(services_path(), params={"limit": 2, "offset": n, "sort_by": "service_name", "order": "asc"}
                     ).json() for n in range(2)]
    assert (pages[0]["count"], pages[0]["total_count"]) == (2, everything["total_count"])
    names = [s["service_name"] for s in pages[0]["services"] + pages[1]["services"]]
    assert names == sorted(names)
    batch = api.get(services_path(), params={"infer_type": "batch", "model_id": ROW_SUM_MODEL_ID}).json()
    assert {s["infer_type"] for s in batch["services"]} <= {"batch"}
    bad = api.get(services_path(), params={"sort_by": "nope"})
    assert refused(bad, 400, "ModelArts.0101")
    assert "sort_by" in bad.text
    assert [api.delete(services_path(service_id)).status_code for service_id in ids] == [200] * 3


def test_app_auth_listings(api: httpx.Client, modelarts: ModelArtsSandbox) -> None:
    name = unique("auth")
    service_id = create(api, realtime_body(name))
    apis = api.get(f"/v1/{MA_PROJECT}/app-auth/apps/{APP_AUTHED}/auth-apis", params={"service_name": name}).json()
    assert apis["count"] == apis["total_count"] == 1
    entry = apis["apis"][0]
    assert (entry["service_id"], entry["auth_type"], entry["api_method"]) == (service_id, "APP", "ANY")
    assert (entry["predict_url"], entry["support_app_code"]) == (f"{modelarts.base_url}/v1/infers/{service_id}", True)
    assert api.get(f"/v1/{MA_PROJECT}/app-auth/apps/{OTHER_APP}/auth-apis",
                   params={"service_name": name}).json()["count"] == 0
    missing = api.get(f"/v1/{MA_PROJECT}/app-auth/apps/no-such-app/auth-apis")
    assert refused(missing, 404, "ModelArts.0102")

    auths_path = services_path(service_id, "app-auth-apis", entry["api_id"], "api-auths")
    auths = api.get(auths_path).json()
    assert auths["total_count"] == 2
    assert {a["app"]["app_id"]: a["authed"] for a in auths["auths"]} == {APP_AUTHED: True, OTHER_APP: False}
    only = api.get(auths_path, params={"show_only": "AUTH"}).json()
    assert [a["app"]["app_name"] for a in only["auths"]] == ["infer-clients"]
    assert api.get(auths_path, params={"show_only": "UNAUTH"}).json()["auths"][0]["app"]["app_id"] == OTHER_APP
    bad = api.get(auths_path, params={"show_only": "SOME"})
    assert refused(bad, 400, "ModelArts.0101")
    assert "show_only" in bad.json()["error_msg"]
    assert api.get(services_path(service_id, "app-auth-apis", "nope", "api-auths")).status_code == 404
    api.delete(services_path(service_id))


# ---------------------------------------------------------------------- refusals
def _rt(**change: Any) -> dict[str, Any]:
    body = realtime_body(unique("bad"))
    body["config"][0].update(change.pop("config", {}))
    body.update(change)
    return body


def _batch(**change: Any) -> dict[str, Any]:
    body = batch_body(unique("bad"), f"obs://{MA_BUCKET}/in/", f"obs://{MA_BUCKET}/out/")
    body["config"][0].update(change.pop("config", {}))
    for key in change.pop("drop", ()):
        body["config"][0].pop(key)
    body.update(change)
    return body


#: create bodies the sandbox refuses: (body, status, error_code, words of error_msg naming the field)
REFUSALS = {
    "no service_name": (lambda: {k: v for k, v in _rt().items() if k != "service_name"}, 400, "ModelArts.0101",
                        "service_name"),
    "service_name with a space": (lambda: _rt(service_name="my service"), 400, "ModelArts.0101", "service_name"),
    "description with <": (lambda: _rt(description="<b>"), 400, "ModelArts.0101", "description"),
    "infer_type unknown": (lambda: _rt(infer_type="stream"), 400, "ModelArts.0101", "infer_type"),
    "infer_type edge": (lambda: _rt(infer_type="edge"), 400, "ModelArts.3518", "edge"),
    "unknown cluster_id": (lambda: _rt(cluster_id="no-such-cluster"), 400, "ModelArts.3547", "cluster_id"),
    "abnormal cluster": (lambda: _rt(cluster_id=CLUSTER_ABNORMAL), 400, "ModelArts.0101", "cluster_id"),
    "no config": (lambda: _rt() | {"config": []}, 400, "ModelArts.0101", "config"),
    "unknown model_id": (lambda: _rt(config={"model_id": "no-such-model"}), 404, "ModelArts.3507", "model_id"),
    "specification unknown": (lambda: _rt(config={"specification": "huge"}), 400, "ModelArts.0101", "specification"),
    "custom without a cluster": (lambda: _rt(config={"specification": "custom", "custom_spec": {"cpu": 1, "memory": 1}}),
                                 400, "ModelArts.0101", "specification"),
    "custom_spec without memory": (lambda: _rt(cluster_id=CLUSTER_RUNNING, config={
        "specification": "custom", "custom_spec": {"cpu": 1.5}}), 400, "ModelArts.0101", "custom_spec.memory"),
    "instance_count 0": (lambda: _rt(config={"instance_count": 0}), 400, "ModelArts.0101", "instance_count"),
    "weight missing": (lambda: _rt(config={"weight": None}), 400, "ModelArts.0101", "weight"),
    "weights not 100": (lambda: _rt(config={"weight": 60}), 400, "ModelArts.0101", "weight"),
    "envs not strings": (lambda: _rt(config={"envs": {"A": 1}}), 400, "ModelArts.0101", "envs"),
    "schedule time_unit": (lambda: _rt(schedule=[{"type": "stop", "time_unit": "WEEKS", "duration": 1}]),
                           400, "ModelArts.0101", "time_unit"),
    "schedule duration": (lambda: _rt(schedule=[{"type": "stop", "time_unit": "HOURS", "duration": 0}]),
                          400, "ModelArts.0101", "duration"),
    "schedule on a batch": (lambda: _batch(schedule=[{"type": "stop", "time_unit": "HOURS", "duration": 1}]),
                            400, "ModelArts.0101", "schedule"),
    "two models in a batch": (lambda: _batch() | {"config": _batch()["config"] * 2}, 400, "ModelArts.0101", "config"),
    "the same model twice": (lambda: _rt() | {"config": [dict(_rt()["config"][0], weight=50)] * 2},
                             400, "ModelArts.3516", "model"),
    "batch without src_path": (lambda: _batch(drop=("src_path",)), 400, "ModelArts.0101", "src_path"),
    "dest_path not OBS": (lambda: _batch(config={"dest_path": "ftp://host/out/"}), 400, "ModelArts.3572", "dest_path"),
    "req_uri without /": (lambda: _batch(config={"req_uri": "predict"}), 400, "ModelArts.0101", "req_uri"),
    "mapping_type unknown": (lambda: _batch(config={"mapping_type": "json"}), 400, "ModelArts.0101", "mapping_type"),
    "csv without mapping_rule": (lambda: _batch(drop=("mapping_rule",)), 400, "ModelArts.0101", "mapping_rule"),
    "mapping_rule without an index": (lambda: _batch(config={"mapping_rule": {"type": "object", "properties": {
        "a": {"type": "number"}}}}), 400, "ModelArts.0101", "mapping_rule"),
    "body not an object": (lambda: [1, 2], 400, "ModelArts.0101", "body"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_create_refusals_name_the_field(api: httpx.Client, case: str) -> None:
    make, status, code, words = REFUSALS[case]
    r = api.post(services_path(), json=make())
    assert r.status_code == status, r.text
    assert r.json()["error_code"] == code and words in r.json()["error_msg"]


def test_a_name_twice_is_a_conflict_and_unknown_services_are_404(api: httpx.Client) -> None:
    body = realtime_body(unique("twice"))
    service_id = create(api, body)
    again = api.post(services_path(), json=body)
    assert again.status_code == 409 and again.json()["error_code"] == "ModelArts.3503"
    api.delete(services_path(service_id))
    for call in (lambda: api.get(services_path("nope")), lambda: api.put(services_path("nope"), json={"status": "stopped"}),
                 lambda: api.delete(services_path("nope")), lambda: api.get(services_path("nope", "events"))):
        r = call()
        assert r.status_code == 404 and r.json()["error_code"] == "ModelArts.3502"
    assert api.get(services_path(), headers={"X-Auth-Token": "forged"}).status_code == 401
