"""ModelArts inference services as jobs, through the Jupyter server's REST API against the ModelArts sandbox
(OBS on moto's S3): a batch service over a DataFrame sent as CSV → SUCCEEDED → its result as a DataFrame of
the model's answers; a real-time service that its auto-stop schedule ends (SUCCEEDED) and one that is
cancelled (CANCELLED) and deleted; service specs refused naming the field, with nothing created."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from conftest import MA_OBS_KEY, MA_OBS_SECRET, MA_PROJECT, Recorder, job_store_bytes, s3_client, wait_for_state
from test_modelarts_server import secret_env  # noqa: F401 — the autouse fixture of the secrets' variables
from test_modelarts_server import (
    BUCKET,
    ROOT,
    SECRETS,
    TERMINAL,
    backend_config,
    platform_v1,
    read_log,
    submit,
    upload_csv,
    uploaded_keys,
)

from jupyter_compute.results import read_frame
from jupyter_compute.sandbox.modelarts import ModelArtsSandbox, seed
from jupyter_compute.sandbox.modelarts.service_models import FAILING_MODEL_ID, ROW_SUM_MODEL_ID

FRAME_CSV = "a,b,label\n1,2,x\n3,4.5,y\n-1,0.25,z\n"
IN_FOLDER = f"obs://{BUCKET}/batch-in/"


@pytest.fixture
def compute_config(modelarts: ModelArtsSandbox, obs: str, secret_env: None, server_log: list[str]) -> dict[str, Any]:
    return {"backends": {"ma": backend_config(modelarts.base_url, obs)}}


async def service_count(sb: ModelArtsSandbox) -> int:
    reply = await platform_v1(sb, "services")
    assert reply.status_code == 200, reply.text
    return reply.json()["total_count"]


async def test_batch_service_over_a_dataframe(rec: Recorder, modelarts: ModelArtsSandbox, obs: str) -> None:
    """A CSV with a header (what the client sends for a DataFrame) → uploaded without its header, with a
    mapping rule made of its columns → the service ends SUCCEEDED → its result file loads into pandas, one
    row per input row, each the sum of the row's numbers."""
    path = await upload_csv(rec, FRAME_CSV, "frame.csv")
    job = await submit(rec, {"backend": "ma", "name": "row sums", "inputs": [path],
                             "extra": {"kind": "batch-service", "model_id": ROW_SUM_MODEL_ID}})  # fmt: skip
    assert job["remote_id"].startswith("service:")
    service = (await platform_v1(modelarts, f"services/{job['remote_id'].removeprefix('service:')}")).json()
    config = service["config"][0]
    assert service["infer_type"] == "batch" and config["mapping_type"] == "csv"
    row = config["mapping_rule"]["properties"]["data"]["properties"]["req_data"]["items"][0]["properties"]
    assert row == {"a": {"type": "number", "index": 0}, "b": {"type": "number", "index": 1},
                   "label": {"type": "string", "index": 2}}  # fmt: skip
    sent = s3_client(obs, MA_OBS_KEY, MA_OBS_SECRET).get_object(Bucket=BUCKET, Key=f"{ROOT}{job['id']}/inputs/frame.csv")
    assert sent["Body"].read().decode() == FRAME_CSV.split("\n", 1)[1]  # the rows, without the header

    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "SUCCEEDED" and done["native_status"] == "finished", done
    listing = await rec("GET", "jobs", job["id"], "results")
    assert listing.status == 200, listing.body
    names = sorted(r["name"] for r in listing.body["results"])
    assert names == ["frame.csv_result.txt", "infer-result-0.manifest"], names  # as ModelArts names them
    answer = await rec("GET", "jobs", job["id"], "results", "frame.csv_result.txt")
    assert answer.status == 200, answer.body
    data = answer.body if isinstance(answer.body, bytes) else str(answer.body).encode()
    frame = read_frame(data, "frame.csv_result.txt", None)  # JSON lines, one per input row
    assert frame["sum"].tolist() == [3.0, 7.5, -0.75]

    log = await read_log(rec, job["id"], 0)
    assert log["complete"] and "start to deploy service" in log["text"] and "batch task finished" in log["text"], log
    rec.assert_free_of(SECRETS)


async def test_real_time_service_ends_by_its_schedule(rec: Recorder, modelarts: ModelArtsSandbox) -> None:
    """A real-time service with an auto-stop schedule runs (RUNNING while deployed) until the schedule stops
    it: a planned end, SUCCEEDED, said in words."""
    modelarts.services.time_unit_s["MINUTES"] = 3.0
    job = await submit(rec, {"backend": "ma", "name": "predictor", "params": {"THRESHOLD": 0.5},
                             "extra": {"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID, "duration": 1,
                                       "time_unit": "MINUTES"}})  # fmt: skip
    service = (await platform_v1(modelarts, f"services/{job['remote_id'].removeprefix('service:')}")).json()
    assert service["schedule"] == [{"type": "stop", "time_unit": "MINUTES", "duration": 1}]
    assert service["config"][0]["envs"] == {"THRESHOLD": "0.5"}
    running = await wait_for_state(rec, job["id"], {"RUNNING", *TERMINAL})
    assert running["state"] == "RUNNING", running
    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "SUCCEEDED" and done["native_status"] == "stopped", done
    assert "schedule" in done["message"], done
    rec.assert_free_of(SECRETS)


async def test_real_time_service_cancelled_then_deleted(rec: Recorder, modelarts: ModelArtsSandbox) -> None:
    job = await submit(rec, {"backend": "ma", "name": "to-cancel",
                             "extra": {"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID}})  # fmt: skip
    await wait_for_state(rec, job["id"], {"RUNNING", *TERMINAL})
    cancelled = await rec("POST", "jobs", job["id"], "cancel")
    assert cancelled.status == 200, cancelled.body
    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "CANCELLED", done
    service_path = f"services/{job['remote_id'].removeprefix('service:')}"
    assert (await rec("DELETE", "jobs", job["id"])).status == 204
    assert (await rec("GET", "jobs", job["id"])).status == 404
    deadline = time.monotonic() + 60
    while (await platform_v1(modelarts, service_path)).status_code != 404:  # deleting, then gone
        assert time.monotonic() < deadline, "the service is still on the platform 60 s after the delete"
        await asyncio.sleep(0.1)


async def test_a_failing_model_ends_failed_with_the_platform_words(rec: Recorder, obs: str) -> None:
    path = await upload_csv(rec, FRAME_CSV, "frame.csv")
    job = await submit(rec, {"backend": "ma", "inputs": [path],
                             "extra": {"kind": "batch-service", "model_id": FAILING_MODEL_ID}})  # fmt: skip
    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "FAILED" and "failed to start" in done["message"], done


BAD_SERVICE_SPECS = [
    pytest.param({"extra": {"kind": "batch-service"}, "inputs": [IN_FOLDER]}, "extra.model_id", id="no model"),
    pytest.param({"extra": {"kind": "batch-service", "model_id": "no-such-model"}, "inputs": [IN_FOLDER]},
                 "extra.model_id", id="unknown model (the platform's 404)"),
    pytest.param({"extra": {"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID},
                  "cluster": "cluster:no-such-cluster"}, "cluster", id="unknown cluster (the platform's refusal)"),
    pytest.param({"extra": {"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID, "duration": 0}},
                 "extra.duration", id="duration 0"),
    pytest.param({"extra": {"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID, "time_unit": "WEEKS",
                            "duration": 1}}, "extra.time_unit", id="unknown time unit"),
    pytest.param({"extra": {"kind": "batch-service", "model_id": ROW_SUM_MODEL_ID}}, "inputs", id="no input"),
    pytest.param({"extra": {"kind": "batch-service", "model_id": ROW_SUM_MODEL_ID, "mapping_type": "csv"},
                  "inputs": [IN_FOLDER]}, "extra.mapping_rule", id="csv mapping of OBS files without a rule"),
    pytest.param({"extra": {"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID}, "script": "x.py"},
                 "script", id="a script"),
    pytest.param({"extra": {"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID}, "cluster": "pool:p"},
                 "cluster", id="a pool"),
    pytest.param({"extra": {"kind": "batch-service", "model_id": ROW_SUM_MODEL_ID, "node_count": 2},
                  "inputs": [IN_FOLDER]}, "extra.node_count", id="a training key"),
    pytest.param({"extra": {"kind": "inference"}}, "extra.kind", id="unknown kind"),
    pytest.param({"extra": {"kind": "batch-service", "model_id": ROW_SUM_MODEL_ID},
                  "inputs": [f"obs://{BUCKET}/no-such-folder/"]}, "inputs[0]", id="an OBS input folder that is missing"),
]


@pytest.mark.parametrize(("spec", "field"), BAD_SERVICE_SPECS)
async def test_bad_service_specs_are_refused_naming_the_field(rec: Recorder, modelarts: ModelArtsSandbox, obs: str,
                                                              spec: dict[str, Any], field: str) -> None:  # fmt: skip
    s3_client(obs, MA_OBS_KEY, MA_OBS_SECRET).put_object(Bucket=BUCKET, Key="batch-in/rows.csv", Body=b"1,2\n")
    before = await service_count(modelarts)
    reply = await rec("POST", "jobs", body={"backend": "ma", **spec})
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field, reply.body
    assert reply.body["error"]["message"], reply.body
    assert await service_count(modelarts) == before, "no service created"
    assert (await rec("GET", "jobs")).body["total"] == 0, "no job recorded"


async def test_a_refused_service_leaves_no_upload_behind(rec: Recorder, modelarts: ModelArtsSandbox, obs: str) -> None:
    """A DataFrame input is uploaded before the service is asked for; the platform refusing the service
    (an unknown model) removes the upload, and no job is recorded."""
    path = await upload_csv(rec, FRAME_CSV, "frame.csv")
    before = uploaded_keys(obs)
    reply = await rec("POST", "jobs", body={"backend": "ma", "inputs": [path],
                                            "extra": {"kind": "batch-service", "model_id": "no-such-model"}})
    assert reply.status == 400 and reply.body["error"]["field"] == "extra.model_id", reply.body
    assert uploaded_keys(obs) == before
    assert (await rec("GET", "jobs")).body["total"] == 0


@pytest.mark.parametrize(("text", "said"), [
    pytest.param("a,b\n", "at least one row", id="a header only"),
    pytest.param("", "header row", id="empty"),
])  # fmt: skip
async def test_a_csv_input_without_rows_is_refused(rec: Recorder, text: str, said: str) -> None:
    path = await upload_csv(rec, text, "empty.csv")
    reply = await rec("POST", "jobs", body={"backend": "ma", "inputs": [path],
                                            "extra": {"kind": "batch-service", "model_id": ROW_SUM_MODEL_ID}})
    assert reply.status == 400 and reply.body["error"]["field"] == "inputs[0]", reply.body
    assert said in reply.body["error"]["message"]


async def test_a_real_time_service_detail_shows_its_apps_and_no_app_secret(
        rec: Recorder, modelarts: ModelArtsSandbox, jp_serverapp: Any, server_log: list[str],
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """The job's detail names the predict URL, its auth type and the apps allowed to call it; no app's
    secret (nor its whole key) is in any REST answer, the server's log, or the job store."""
    caplog.set_level(logging.DEBUG)
    app_secrets = [s for app in seed.apps(MA_PROJECT) for s in (app["app_secret"], app["app_key"])]
    job = await submit(rec, {"backend": "ma", "name": "with-apps",
                             "extra": {"kind": "real-time-service", "model_id": ROW_SUM_MODEL_ID}})  # fmt: skip
    await wait_for_state(rec, job["id"], {"RUNNING", *TERMINAL})
    reply = await rec("GET", "jobs", job["id"], "detail")
    assert reply.status == 200, reply.body
    facts = reply.body["detail"]["facts"]
    assert facts["predict URL"].startswith(modelarts.base_url), facts
    [api] = facts["app authentication"]
    assert (api["auth_type"], api["app"]["app_name"], api["app"]["app_secret"]) == ("APP", "infer-clients", "••••••••")
    assert reply.body["detail"]["actions"] == []
    offered_none = await rec("POST", "jobs", job["id"], "actions", "rerun", body={"values": {}})
    assert offered_none.status == 405 and "offers no action 'rerun'" in offered_none.body["error"]["message"]
    assert (await rec("POST", "jobs", job["id"], "cancel")).status == 200
    await wait_for_state(rec, job["id"], TERMINAL)
    rec.assert_free_of([*app_secrets, *SECRETS])
    logged = "\n".join(server_log) + caplog.text
    stored = job_store_bytes(jp_serverapp)
    for secret in app_secrets:
        assert secret not in logged
        assert secret.encode() not in stored
