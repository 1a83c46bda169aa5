"""ModelArts workflow executions as jobs, through the Jupyter server's REST API against the ModelArts
sandbox: an execution with typed parameters and data goes through its steps, waits for input (said in the
job's message, as a to-do item), continues once a person answers on the platform and ends SUCCEEDED with
its events as the log; another is stopped (CANCELLED) and deleted; a failing step ends FAILED with its
words; parameters the workflow does not declare, or of the wrong type, are refused naming the field."""

from __future__ import annotations

from typing import Any

import asyncio

import httpx
import pytest
from conftest import MA_PROJECT, MA_TOKEN, Recorder, wait_for_job, wait_for_state
from test_modelarts_server import BUCKET, SECRETS, TERMINAL, backend_config, read_log, submit
from test_modelarts_server import secret_env  # noqa: F401 — the autouse fixture of the secrets' variables

from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.sandbox.modelarts.workflows import QUICK_CHECK_ID, TRAIN_APPROVE_ID, TRAIN_CONFIRM_ID


@pytest.fixture
def compute_config(modelarts: ModelArtsSandbox, obs: str, secret_env: None, server_log: list[str]) -> dict[str, Any]:
    return {"backends": {"ma": {**backend_config(modelarts.base_url, obs), "discover_interval_s": 0.5}}}


async def on_platform(sb: ModelArtsSandbox, method: str, path: str, body: Any = None) -> Any:
    """A call straight to the sandbox's workflows API, as a person in the ModelArts console makes it."""
    async with httpx.AsyncClient(timeout=20) as http:
        reply = await http.request(method, f"{sb.base_url}/v2/{MA_PROJECT}/workflows/{path}", json=body,
                                   headers={"X-Auth-Token": MA_TOKEN})  # fmt: skip
    assert reply.is_success, reply.text
    return reply.json() if reply.content else None


async def waiting(rec: Recorder, job_id: str) -> dict[str, Any]:
    return await wait_for_job(rec, job_id, lambda job: "waiting for input" in (job.get("message") or "")
                              or job["state"] in TERMINAL, "waiting for input", 60)  # fmt: skip


async def test_an_execution_waits_for_input_and_goes_on_once_answered(rec: Recorder, modelarts: ModelArtsSandbox) -> None:
    job = await submit(rec, {"backend": "ma", "name": "approve run", "params": {"learning_rate": 0.05, "epochs": 2},
                             "inputs": [f"training_data=obs://{BUCKET}/data/train/"],
                             "extra": {"kind": "workflow", "workflow_id": TRAIN_APPROVE_ID}})  # fmt: skip
    workflow_id, _, execution_id = job["remote_id"].removeprefix("execution:").partition("/")
    assert workflow_id == TRAIN_APPROVE_ID
    execution = await on_platform(modelarts, "GET", f"{workflow_id}/executions/{execution_id}")
    assert {p["name"]: p.get("value") for p in execution["parameters"]}["learning_rate"] in (0.05, "0.05")
    assert execution["description"] == f"jupyter-compute job {job['id']}"

    held = await waiting(rec, job["id"])
    assert held["state"] == "RUNNING" and "release" in held["message"], held
    todo = await on_platform(modelarts, "GET", "todolist")
    assert execution_id in [item["execution_id"] for item in todo["items"]]

    await on_platform(modelarts, "PUT", f"{workflow_id}/executions/{execution_id}",
                      {"parameters": [{"name": "approved_model_name", "value": "model-v2"}]})  # a person answers
    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "SUCCEEDED" and done["native_status"] == "completed", done
    assert "train: completed" in done["message"] and "release: completed" in done["message"], done
    log = await read_log(rec, job["id"], 0)
    assert log["complete"] and "step train change status" in log["text"], log
    rec.assert_free_of(SECRETS)


async def test_an_execution_is_stopped_then_deleted(rec: Recorder, modelarts: ModelArtsSandbox) -> None:
    job = await submit(rec, {"backend": "ma", "extra": {"kind": "workflow", "workflow_id": TRAIN_CONFIRM_ID}})
    held = await waiting(rec, job["id"])
    assert held["state"] == "RUNNING" and "hold" in held["message"], held
    assert (await rec("POST", "jobs", job["id"], "cancel")).status == 200
    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "CANCELLED" and done["native_status"] == "stopped", done
    assert (await rec("DELETE", "jobs", job["id"])).status == 204
    workflow_id, _, execution_id = job["remote_id"].removeprefix("execution:").partition("/")
    async with httpx.AsyncClient(timeout=20) as http:
        gone = await http.get(f"{modelarts.base_url}/v2/{MA_PROJECT}/workflows/{workflow_id}/executions/"
                              f"{execution_id}", headers={"X-Auth-Token": MA_TOKEN})  # fmt: skip
    assert gone.status_code == 404, gone.text


async def test_a_failing_step_ends_failed_naming_the_step(rec: Recorder) -> None:
    job = await submit(rec, {"backend": "ma", "params": {"fail_step": True},
                             "extra": {"kind": "workflow", "workflow_id": QUICK_CHECK_ID}})  # fmt: skip
    done = await wait_for_state(rec, job["id"], TERMINAL)
    assert done["state"] == "FAILED" and done["native_status"] == "abnormal", done
    assert "step 'check'" in done["message"], done


@pytest.mark.parametrize(("spec", "field"), [
    pytest.param({"params": {"learning_rat": 0.1}}, "params", id="a parameter the workflow does not declare"),
    pytest.param({"params": {"epochs": "three"}}, "params", id="a parameter of the wrong type"),
    pytest.param({"params": {"optimizer": "adagrad"}}, "params", id="a value outside the enum"),
    pytest.param({"inputs": ["validation=obs://b/v/"]}, "inputs", id="data the workflow does not declare"),
    pytest.param({"inputs": ["obs://b/v/"]}, "inputs[0]", id="data without a name"),
    pytest.param({"extra": {"kind": "workflow", "workflow_id": "no-such-workflow"}}, "extra.workflow_id",
                 id="an unknown workflow"),
    pytest.param({"extra": {"kind": "workflow"}}, "extra.workflow_id", id="no workflow"),
    pytest.param({"environment": "modelarts.vm.cpu.2u"}, "environment", id="a flavor"),
])  # fmt: skip
async def test_bad_execution_specs_are_refused_naming_the_field(rec: Recorder, modelarts: ModelArtsSandbox,
                                                                spec: dict[str, Any], field: str) -> None:  # fmt: skip
    before = (await on_platform(modelarts, "GET", f"{TRAIN_APPROVE_ID}/executions"))["total"]
    body = {"backend": "ma", "extra": {"kind": "workflow", "workflow_id": TRAIN_APPROVE_ID}, **spec}
    reply = await rec("POST", "jobs", body=body)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field, reply.body
    assert (await on_platform(modelarts, "GET", f"{TRAIN_APPROVE_ID}/executions"))["total"] == before
    assert (await rec("GET", "jobs")).body["total"] == 0, "no job recorded"


async def test_a_finished_execution_runs_again_through_its_action(rec: Recorder) -> None:
    job = await submit(rec, {"backend": "ma", "extra": {"kind": "workflow", "workflow_id": QUICK_CHECK_ID}})
    assert (await wait_for_state(rec, job["id"], TERMINAL))["state"] == "SUCCEEDED"
    detail = (await rec("GET", "jobs", job["id"], "detail")).body["detail"]
    assert "rerun" in [a["name"] for a in detail["actions"]], detail
    again = await rec("POST", "jobs", job["id"], "actions", "rerun", body={"values": {}})
    assert again.status == 200 and again.body["state"] in ("QUEUED", "RUNNING"), again.body
    done = await wait_for_state(rec, job["id"], TERMINAL)  # the monitor follows it again to its new end
    assert done["state"] == "SUCCEEDED", done


async def test_a_scheduled_execution_appears_in_the_job_list(rec: Recorder, modelarts: ModelArtsSandbox) -> None:
    """A schedule set through a job's action starts executions on the platform; each appears in our job list,
    tagged as scheduled, and is followed to its end; disabling the schedule stops new ones."""
    job = await submit(rec, {"backend": "ma", "name": "nightly check",
                             "extra": {"kind": "workflow", "workflow_id": QUICK_CHECK_ID}})  # fmt: skip
    bad = await rec("POST", "jobs", job["id"], "actions", "schedule", body={"values": {"cron": "daily"}})
    assert bad.status == 400 and bad.body["error"]["field"] == "cron", bad.body
    set_up = await rec("POST", "jobs", job["id"], "actions", "schedule", body={"values": {"cron": "*/2 * * * * *"}})
    assert set_up.status == 200, set_up.body
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not (scheduled := (await rec("GET", "jobs", params={"tag": "scheduled"})).body["jobs"]):
            assert asyncio.get_running_loop().time() < deadline, "no scheduled execution recorded after 60 s"
            await asyncio.sleep(0.2)
        first = scheduled[0]
        assert first["backend"] == "ma" and first["remote_id"].startswith(f"execution:{QUICK_CHECK_ID}/")
        assert first["id"] != job["id"] and first["name"] == "quick-check (scheduled)", first
        done = await wait_for_state(rec, first["id"], TERMINAL)
        assert done["state"] == "SUCCEEDED", done
        facts = (await rec("GET", "jobs", first["id"], "detail")).body["detail"]["facts"]
        assert facts["started by"].startswith("schedule "), facts
    finally:
        off = await rec("POST", "jobs", job["id"], "actions", "schedule",
                        body={"values": {"cron": "*/2 * * * * *", "enable": False}})  # fmt: skip
        assert off.status == 200, off.body
    listed = await rec("GET", "jobs", params={"tag": "scheduled", "limit": "500"})
    remote_ids = [j["remote_id"] for j in listed.body["jobs"]]
    assert len(remote_ids) == len(set(remote_ids)), "each scheduled execution is recorded once"
