"""The ModelArts sandbox's workflows over real HTTP on loopback (token and AK/SK-signed calls): listings paged
by item offset and filtered by name, executions that wait for a person (a delayed parameter, a manual
confirmation) and go on once answered, stops, failures and reruns, the to-do list, refusals naming the
field, and schedules that start executions on their own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import MA_AK, MA_PROJECT, MA_SK, MA_TOKEN, wait_for
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.sandbox.modelarts.workflows import (
    QUICK_CHECK_ID,
    SCHEDULE_LABEL_PREFIX,
    TRAIN_APPROVE_ID,
    TRAIN_APPROVE_NAME,
    TRAIN_CONFIRM_ID,
    TRAIN_CONFIRM_NAME,
    filler_id,
)

FINISHED = {"completed", "stopped", "abnormal"}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def api(modelarts: ModelArtsSandbox) -> Iterator[httpx.Client]:
    """An HTTP client on the sandbox's project with the IAM token."""
    with httpx.Client(base_url=f"{modelarts.base_url}/v2/{MA_PROJECT}", headers={"X-Auth-Token": MA_TOKEN},
                      timeout=15) as client:
        yield client


def signed(sb: ModelArtsSandbox, method: str, path: str, query: list[tuple[str, Any]] | None = None,
           body: Any = None) -> httpx.Response:
    """A request signed by huaweicloudsdkcore's own Signer with MA_AK/MA_SK, sent by httpx."""
    request = SdkRequest(method=method, schema="http", host=f"{sb.host}:{sb.port}",
                         resource_path=f"/v2/{MA_PROJECT}{path}", query_params=list(query or []),
                         header_params={"Content-Type": "application/json", "X-Project-Id": MA_PROJECT},
                         body=json.dumps(body).encode() if body is not None else b"")
    request = Signer(BasicCredentials(MA_AK, MA_SK, MA_PROJECT)).sign(request)
    return httpx.request(method, request.url, headers=request.header_params, content=request.body, timeout=15)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def execution(api: httpx.Client, workflow_id: str, execution_id: str) -> dict[str, Any]:
    return ok(api.get(f"/workflows/{workflow_id}/executions/{execution_id}"))


def steps(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step_name"]: s for s in view["steps_execution"]}


def wait_execution(api: httpx.Client, workflow_id: str, execution_id: str, check: Any, what: str) -> dict[str, Any]:
    def probe() -> Any:
        view = execution(api, workflow_id, execution_id)
        return view if check(view) else None

    return wait_for(probe, f"execution {execution_id} {what}", timeout=60)


def wait_step(api: httpx.Client, workflow_id: str, execution_id: str, step: str, status: str) -> dict[str, Any]:
    return wait_execution(api, workflow_id, execution_id, lambda v: steps(v)[step]["status"] == status,
                          f"with step {step} {status}")


def start(api: httpx.Client, workflow_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return ok(api.post(f"/workflows/{workflow_id}/executions", json=body or {}), 201)


def step_action(api: httpx.Client, view: dict[str, Any], step: str, body: dict[str, Any]) -> httpx.Response:
    uuid = steps(view)[step]["uuid"]
    return api.post(f"/workflows/{view['workflow_id']}/executions/{view['execution_id']}/step-executions/{uuid}"
                    "/actions", json=body)


def todo(api: httpx.Client) -> list[dict[str, Any]]:
    answer = ok(api.get("/workflows/todolist"))
    assert answer["total"] == len(answer["items"])
    return answer["items"]


def status_sequence(events: list[str], step: str | None = None) -> list[str]:
    """The statuses an event list walks through (of the execution, or of ``step``)."""
    marker = f" step {step} change status from " if step else " change status from "
    lines = [e for e in events if marker in e and (step or " step " not in e)]
    return [lines[0].split(marker)[1].split(" to ")[0]] + [e.rsplit(" to ", 1)[1] for e in lines] if lines else []


# ---------------------------------------------------------------------- workflows
def test_workflows_listed_newest_first(api: httpx.Client) -> None:
    every = ok(api.get("/workflows"))
    assert every["total"] == every["count"] == len(every["items"]) >= 21
    ids = [w["workflow_id"] for w in every["items"]]
    assert len(set(ids)) == len(ids)
    assert {TRAIN_APPROVE_ID, TRAIN_CONFIRM_ID, QUICK_CHECK_ID, filler_id(20)} <= set(ids)
    created = [w["created_at"] for w in every["items"]]
    assert created == sorted(created, reverse=True)
    by_name = ok(api.get("/workflows", params={"sort_by": "name"}))["items"]
    assert [w["name"] for w in by_name] == sorted(w["name"] for w in every["items"])


def test_workflows_page_by_item_offset(api: httpx.Client, modelarts: ModelArtsSandbox) -> None:
    every = ok(api.get("/workflows"))
    ids = [w["workflow_id"] for w in every["items"]]
    pages = [ok(api.get("/workflows", params={"offset": n, "limit": 10})) for n in range(0, every["total"], 10)]
    assert [w["workflow_id"] for p in pages for w in p["items"]] == ids
    rows_20_29 = ok(signed(modelarts, "GET", "/workflows", [("limit", 10), ("offset", 20)]))
    assert (rows_20_29["total"], rows_20_29["count"]) == (every["total"], len(ids[20:30]))
    assert [w["workflow_id"] for w in rows_20_29["items"]] == ids[20:30]


def test_name_filter_equal_and_contain(api: httpx.Client) -> None:
    equal = ok(api.get("/workflows", params={"name": TRAIN_APPROVE_NAME, "search_type": "equal"}))
    assert [w["workflow_id"] for w in equal["items"]] == [TRAIN_APPROVE_ID]
    assert equal["total"] == 1
    assert ok(api.get("/workflows", params={"name": "train", "search_type": "equal"}))["total"] == 0
    contain = ok(api.get("/workflows", params={"name": "train", "search_type": "contain"}))
    assert {w["name"] for w in contain["items"]} == {TRAIN_APPROVE_NAME, TRAIN_CONFIRM_NAME}
    reports = ok(api.get("/workflows", params={"name": "REPORT", "search_type": "contain", "labels": "filler"}))
    assert reports["total"] == 20
    assert ok(api.get("/workflows", params={"labels": "demo,approval"}))["items"][0]["workflow_id"] == TRAIN_APPROVE_ID


def test_a_workflow_reads_as_the_sdk_model(api: httpx.Client) -> None:
    wf = ok(api.get(f"/workflows/{TRAIN_APPROVE_ID}"))
    assert (wf["name"], wf["workspace_id"], wf["user_name"]) == (TRAIN_APPROVE_NAME, "0", "sandbox-user")
    assert all(wf[key].endswith("+08:00") for key in ("created_at", "last_modified_at"))
    params = {p["name"]: (p["type"], p["default"], p["delay"], p["used_steps"]) for p in wf["parameters"]}
    assert params == {"learning_rate": ("float", 0.01, False, ["train"]), "epochs": ("int", 3, False, ["train"]),
                      "use_gpu": ("bool", False, False, ["train"]), "optimizer": ("str", "adam", False, ["train"]),
                      "approved_model_name": ("str", None, True, ["release"])}
    url = wf["data"][0]["value"]["obs_url"]
    assert wf["data"] == [{"name": "training_data", "type": "obs", "value": {"obs_url": url}, "used_steps": ["train"]}]
    assert [(s["name"], s["depend_steps"]) for s in wf["steps"]] == [("train", []), ("release", ["train"])]
    assert {"sub_graphs", "policy", "latest_execution", "run_count", "param_ready"} <= set(wf)


# ---------------------------------------------------------------------- executions
APPROVE_BODY = {"name": "approve-run", "description": "  kept as sent: ünïcode ", "labels": ["backend:42", "x y"],
                "parameters": [{"name": "learning_rate", "value": "0.05"}, {"name": "epochs", "value": 5},
                               {"name": "use_gpu", "value": True}],
                "data_requirements": [{"name": "training_data", "value": {"obs_url": "obs://my-bucket/data/"}}]}


@pytest.fixture(scope="module")
def approval(api: httpx.Client, modelarts: ModelArtsSandbox) -> dict[str, Any]:
    """A run of the two-step workflow (created AK/SK-signed), seen at each stage: created, waiting for
    ``approved_model_name`` (with the to-do list then), refused without it, answered, done."""
    created = ok(signed(modelarts, "POST", f"/workflows/{TRAIN_APPROVE_ID}/executions", body=APPROVE_BODY), 201)
    eid = created["execution_id"]
    waiting = wait_step(api, TRAIN_APPROVE_ID, eid, "release", "wait_inputs")
    todo_then = [t for t in todo(api) if t["execution_id"] == eid]
    refused = step_action(api, waiting, "release", {"action_name": "continue"})
    answered = ok(step_action(api, waiting, "release", {"action_name": "continue", "parameters": [
        {"name": "approved_model_name", "value": "churn-model"}]}), 201)
    done = wait_execution(api, TRAIN_APPROVE_ID, eid, lambda v: v["status"] in FINISHED, "finished")
    return {"created": created, "waiting": waiting, "todo": todo_then, "refused": refused, "answered": answered,
            "done": done, "todo_after": [t for t in todo(api) if t["execution_id"] == eid]}


def test_execution_created_as_asked(approval: dict[str, Any]) -> None:
    created = approval["created"]
    assert (created["status"], created["name"]) == ("init", "approve-run")
    assert (created["description"], created["labels"]) == (APPROVE_BODY["description"], APPROVE_BODY["labels"])


def test_step_two_waits_for_inputs_and_is_a_to_do(approval: dict[str, Any]) -> None:
    waiting = approval["waiting"]
    assert (waiting["status"], steps(waiting)["train"]["status"]) == ("running", "completed")
    values = {p["name"]: p.get("value") for p in waiting["parameters"]}
    assert values == {"learning_rate": 0.05, "epochs": 5, "use_gpu": True, "optimizer": "adam",
                      "approved_model_name": None}
    assert steps(waiting)["train"]["inputs"][0]["value"] == {"obs_url": "obs://my-bucket/data/"}
    assert [(t["status"], t["step_name"], t["workflow_id"], t["workflow_name"]) for t in approval["todo"]] == [
        ("wait_inputs", "release", TRAIN_APPROVE_ID, TRAIN_APPROVE_NAME)]
    assert approval["refused"].status_code == 400
    assert "approved_model_name" in approval["refused"].json()["error_msg"]


def test_answered_step_goes_on_to_completed(approval: dict[str, Any]) -> None:
    done = approval["done"]
    assert (approval["answered"]["step_name"], approval["answered"]["status"]) == ("release", "creating")
    assert (done["status"], approval["todo_after"]) == ("completed", [])
    assert (done["description"], done["labels"]) == (APPROVE_BODY["description"], APPROVE_BODY["labels"])
    assert steps(done)["release"]["properties"]["model_name"] == "churn-model"
    assert all(isinstance(d, int) for d in [done["duration"], *(s["duration"] for s in done["steps_execution"])])


def test_events_tell_the_status_sequences(approval: dict[str, Any]) -> None:
    events = approval["done"]["events"]
    assert status_sequence(events) == ["init", "running", "completed"]
    assert status_sequence(events, "train") == ["init", "creating", "created", "running", "completed"]
    assert status_sequence(events, "release") == ["init", "wait_inputs", "creating", "created", "running",
                                                  "completed"]


def test_the_run_is_found_by_label_and_in_the_workflow(api: httpx.Client, approval: dict[str, Any]) -> None:
    done = approval["done"]
    listed = ok(api.get(f"/workflows/{TRAIN_APPROVE_ID}/executions", params={"labels": "backend:42"}))
    assert [e["execution_id"] for e in listed["items"]] == [done["execution_id"]]
    latest = ok(api.get(f"/workflows/{TRAIN_APPROVE_ID}"))["latest_execution"]
    assert latest["execution_id"] == done["execution_id"] or latest["created_at"] > done["created_at"]
    step_runs = ok(api.get(f"/workflows/{TRAIN_APPROVE_ID}/step-executions", params={"limit": 50}))
    assert {s["uuid"] for s in done["steps_execution"]} <= {s["uuid"] for s in step_runs["items"]}


def test_held_step_goes_on_when_confirmed(api: httpx.Client) -> None:
    eid = start(api, TRAIN_CONFIRM_ID, {"labels": ["hold-test"]})["execution_id"]
    held = wait_step(api, TRAIN_CONFIRM_ID, eid, "deploy", "hold")
    assert [t["status"] for t in todo(api) if t["execution_id"] == eid] == ["hold"]
    ok(step_action(api, held, "deploy", {"action_name": "continue"}), 201)
    done = wait_execution(api, TRAIN_CONFIRM_ID, eid, lambda v: v["status"] in FINISHED, "finished")
    assert done["status"] == "completed"
    assert status_sequence(done["events"], "deploy")[:3] == ["init", "hold", "creating"]


def test_execution_update_supplies_the_delayed_value(api: httpx.Client) -> None:
    eid = start(api, TRAIN_APPROVE_ID)["execution_id"]
    wait_step(api, TRAIN_APPROVE_ID, eid, "release", "wait_inputs")
    path = f"/workflows/{TRAIN_APPROVE_ID}/executions/{eid}"
    refused = api.put(path, json={"parameters": [{"name": "epochs", "value": 9}]})
    assert refused.status_code == 400
    assert "epochs" in refused.json()["error_msg"]
    updated = ok(api.put(path, json={"description": "approved by the update",
                                     "parameters": [{"name": "approved_model_name", "value": "m-2"}]}))
    assert updated["description"] == "approved by the update"
    done = wait_execution(api, TRAIN_APPROVE_ID, eid, lambda v: v["status"] in FINISHED, "finished")
    assert done["status"] == "completed"


def test_stopped_while_waiting(api: httpx.Client) -> None:
    eid = start(api, TRAIN_APPROVE_ID)["execution_id"]
    wait_step(api, TRAIN_APPROVE_ID, eid, "release", "wait_inputs")
    actions = f"/workflows/{TRAIN_APPROVE_ID}/executions/{eid}/actions"
    stopped = ok(api.post(actions, json={"action_name": "stop"}), 201)
    assert stopped["status"] == "stopped"
    assert steps(stopped)["release"]["status"] == "stopped"
    assert not [t for t in todo(api) if t["execution_id"] == eid]
    again = api.post(actions, json={"action_name": "stop"})
    assert again.status_code == 400
    assert again.json()["error_code"] == "ModelArts.6106"
    assert "stopped" in again.json()["error_msg"]


def test_stopped_while_a_step_runs_goes_through_stopping(api: httpx.Client) -> None:
    eid = start(api, TRAIN_APPROVE_ID)["execution_id"]
    wait_execution(api, TRAIN_APPROVE_ID, eid, lambda v: steps(v)["train"]["status"] in ("creating", "created"),
                   "with train started")
    ok(api.post(f"/workflows/{TRAIN_APPROVE_ID}/executions/{eid}/actions", json={"action_name": "stop"}), 201)
    done = wait_execution(api, TRAIN_APPROVE_ID, eid, lambda v: v["status"] in FINISHED, "finished")
    assert done["status"] == "stopped"
    assert status_sequence(done["events"], "train")[-2:] == ["stopping", "stopped"]
    assert steps(done)["release"]["status"] == "init"


def test_failing_step_ends_abnormal_and_rerun_completes(api: httpx.Client) -> None:
    created = start(api, QUICK_CHECK_ID, {"parameters": [{"name": "fail_step", "value": True}]})
    eid = created["execution_id"]
    failed = wait_execution(api, QUICK_CHECK_ID, eid, lambda v: v["status"] in FINISHED, "finished")
    assert failed["status"] == "abnormal"
    assert steps(failed)["check"]["status"] == "failed"
    assert "fail_step" in steps(failed)["check"]["error_info"]["error_message"]
    actions = f"/workflows/{QUICK_CHECK_ID}/executions/{eid}/actions"
    rerun = ok(api.post(actions, json={"action_name": "rerun",
                                       "parameters": [{"name": "fail_step", "value": False}]}), 201)
    assert rerun["execution_id"] == eid
    assert rerun["status"] == "running"
    busy = api.post(actions, json={"action_name": "rerun"})
    assert busy.status_code == 400
    assert busy.json()["error_code"] == "ModelArts.6106"
    done = wait_execution(api, QUICK_CHECK_ID, eid, lambda v: v["status"] in FINISHED, "finished after the rerun")
    assert done["status"] == "completed"
    assert status_sequence(done["events"]) == ["init", "running", "abnormal", "running", "completed"]


def test_failed_step_retried(api: httpx.Client) -> None:
    eid = start(api, QUICK_CHECK_ID, {"parameters": [{"name": "fail_step", "value": "true"}]})["execution_id"]
    failed = wait_execution(api, QUICK_CHECK_ID, eid, lambda v: v["status"] in FINISHED, "finished")
    assert failed["status"] == "abnormal"
    retried = ok(step_action(api, failed, "check", {"action_name": "retry"}), 201)
    assert retried["status"] == "init"
    again = wait_execution(api, QUICK_CHECK_ID, eid, lambda v: v["status"] in FINISHED, "finished after the retry")
    assert again["status"] == "abnormal"  # still asked to fail


def test_delete_a_finished_execution(api: httpx.Client) -> None:
    eid = start(api, TRAIN_APPROVE_ID)["execution_id"]
    path = f"/workflows/{TRAIN_APPROVE_ID}/executions/{eid}"
    busy = api.delete(path)
    assert busy.status_code == 400
    assert busy.json()["error_code"] == "ModelArts.6106"
    ok(api.post(f"{path}/actions", json={"action_name": "stop"}), 201)
    wait_execution(api, TRAIN_APPROVE_ID, eid, lambda v: v["status"] in FINISHED, "finished")
    assert api.delete(path).status_code == 200
    gone = api.get(path)
    assert gone.status_code == 404
    assert gone.json()["error_code"] == "ModelArts.6103"


REFUSALS = [
    # (method, path under /workflows, json body or query, status, error code, the words the message names)
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"parameters": [{"name": "nope", "value": 1}]}, 400,
     "ModelArts.6101", "parameters[0].name"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"parameters": [{"name": "epochs", "value": "many"}]}, 400,
     "ModelArts.6101", "parameters[0].value"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"parameters": [{"name": "learning_rate", "value": True}]}, 400,
     "ModelArts.6101", "learning_rate"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"parameters": [{"name": "use_gpu", "value": 3}]}, 400,
     "ModelArts.6101", "use_gpu"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"parameters": [{"name": "optimizer", "value": "rmsprop"}]}, 400,
     "ModelArts.6101", "optimizer"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"parameters": [{"name": "epochs"}]}, 400, "ModelArts.6101",
     "parameters[0].value"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"parameters": {"epochs": 3}}, 400, "ModelArts.6101", "parameters"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"labels": "one"}, 400, "ModelArts.6101", "labels"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"description": 7}, 400, "ModelArts.6101", "description"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions",
     {"data_requirements": [{"name": "training_data", "value": {"obs_url": "s3://x/y"}}]}, 400, "ModelArts.6101",
     "data_requirements[0].value.obs_url"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"data_requirements": [{"name": "other", "value": {}}]}, 400,
     "ModelArts.6101", "data_requirements[0].name"),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions", {"workspace_id": "ws-other"}, 400, "ModelArts.6101", "workspace_id"),
    ("POST", f"/{UNKNOWN}/executions", {}, 404, "ModelArts.6102", UNKNOWN),
    ("GET", f"/{UNKNOWN}", None, 404, "ModelArts.6102", UNKNOWN),
    ("GET", f"/{TRAIN_APPROVE_ID}/executions/{UNKNOWN}", None, 404, "ModelArts.6103", UNKNOWN),
    ("POST", f"/{TRAIN_APPROVE_ID}/executions/{UNKNOWN}/actions", {"action_name": "stop"}, 404, "ModelArts.6103",
     UNKNOWN),
    ("GET", "", {"offset": "-1"}, 400, "ModelArts.6101", "offset"),
    ("GET", "", {"limit": "ten"}, 400, "ModelArts.6101", "limit"),
    ("GET", "", {"search_type": "fuzzy"}, 400, "ModelArts.6101", "search_type"),
    ("GET", "", {"sort_by": "colour"}, 400, "ModelArts.6101", "sort_by"),
    ("GET", "", {"status": "sleeping"}, 400, "ModelArts.6101", "status"),
    ("GET", f"/{TRAIN_APPROVE_ID}/executions", {"order": "up"}, 400, "ModelArts.6101", "order"),
    ("POST", f"/{QUICK_CHECK_ID}/schedules", {"content": {"cron": "0 0 * * *", "method": "fixed"}}, 400,
     "ModelArts.6101", "content.cron"),
    ("POST", f"/{QUICK_CHECK_ID}/schedules", {"content": {"cron": "0 0 0 * * Someday"}}, 400, "ModelArts.6101",
     "content.cron"),
    ("POST", f"/{QUICK_CHECK_ID}/schedules", {"content": {"cron": "* * * * * *", "method": "random"}}, 400,
     "ModelArts.6101", "content.method"),
    ("POST", f"/{QUICK_CHECK_ID}/schedules", {"type": "event", "content": {"cron": "* * * * * *"}}, 400,
     "ModelArts.6101", "type"),
    ("POST", f"/{QUICK_CHECK_ID}/schedules", {"content": {"cron": "* * * * * *"}, "enable": "yes"}, 400,
     "ModelArts.6101", "enable"),
    ("POST", f"/{QUICK_CHECK_ID}/schedules", {}, 400, "ModelArts.6101", "content"),
    ("GET", f"/{QUICK_CHECK_ID}/schedules/{UNKNOWN}", None, 404, "ModelArts.6105", UNKNOWN),
]


@pytest.mark.parametrize(("method", "path", "payload", "status", "code", "named"), REFUSALS,
                         ids=[f"{r[0]} {r[1][-12:] or '/workflows'} {r[5]}" for r in REFUSALS])
def test_refusals_name_the_field(api: httpx.Client, method: str, path: str, payload: Any, status: int, code: str,
                                 named: str) -> None:
    query = payload if method == "GET" else None
    body = payload if method != "GET" else None
    response = api.request(method, f"/workflows{path}", params=query, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    assert named in response.json()["error_msg"]


def test_action_refusals(api: httpx.Client) -> None:
    view = start(api, TRAIN_APPROVE_ID)
    eid = view["execution_id"]
    base = f"/workflows/{TRAIN_APPROVE_ID}/executions/{eid}"
    bad_action = api.post(f"{base}/actions", json={"action_name": "pause"})
    assert bad_action.status_code == 400
    assert "action_name" in bad_action.json()["error_msg"]
    waiting = wait_step(api, TRAIN_APPROVE_ID, eid, "release", "wait_inputs")
    not_waiting = step_action(api, waiting, "train", {"action_name": "continue"})
    assert not_waiting.status_code == 400
    assert not_waiting.json()["error_code"] == "ModelArts.6106"
    no_step = api.post(f"{base}/step-executions/{UNKNOWN}/actions", json={"action_name": "continue"})
    assert no_step.status_code == 404
    assert no_step.json()["error_code"] == "ModelArts.6104"
    wrong_type = step_action(api, waiting, "release", {"action_name": "continue", "parameters": [
        {"name": "approved_model_name", "value": 5}]})
    assert wrong_type.status_code == 400
    assert "parameters[0].value" in wrong_type.json()["error_msg"]
    ok(step_action(api, waiting, "release", {"action_name": "stop"}), 201)
    assert execution(api, TRAIN_APPROVE_ID, eid)["status"] == "stopped"


# ---------------------------------------------------------------------- schedules
def scheduled_runs(api: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    return ok(api.get(f"/workflows/{QUICK_CHECK_ID}/executions",
                      params={"labels": SCHEDULE_LABEL_PREFIX + schedule_id}))["items"]


@pytest.fixture(scope="module")
def schedule(api: httpx.Client, modelarts: ModelArtsSandbox) -> dict[str, Any]:
    """A schedule of quick-check every two seconds, created AK/SK-signed."""
    body = {"type": "time", "action": "run", "enable": True, "content": {"cron": "*/2 * * * * *", "method": "fixed"}}
    return ok(signed(modelarts, "POST", f"/workflows/{QUICK_CHECK_ID}/schedules", body=body), 201)


def test_schedule_reads_as_created(api: httpx.Client, schedule: dict[str, Any]) -> None:
    base = f"/workflows/{QUICK_CHECK_ID}/schedules"
    assert (schedule["type"], schedule["action"], schedule["workflow_id"]) == ("time", "run", QUICK_CHECK_ID)
    assert (schedule["policies"], bool(schedule["user_id"])) == ({"on_failure": "retry", "on_running": "cancel"}, True)
    assert ok(api.get(f"{base}/{schedule['uuid']}")) == schedule
    assert schedule["uuid"] in [s["uuid"] for s in ok(api.get(base))["schedules"]]


def test_schedule_starts_executions_on_its_own(api: httpx.Client, schedule: dict[str, Any]) -> None:
    sid = schedule["uuid"]
    runs: list[dict[str, Any]] = wait_for(lambda: (r := scheduled_runs(api, sid))[1:] and r,
                                          "two scheduled executions", timeout=60)
    first = runs[-1]
    assert first["events"][0].endswith(f"started by schedule {sid}")
    assert SCHEDULE_LABEL_PREFIX + sid in first["labels"]
    wait_execution(api, QUICK_CHECK_ID, first["execution_id"], lambda v: v["status"] == "completed", "completed")
    manual = start(api, QUICK_CHECK_ID)
    assert not [label for label in manual["labels"] if label.startswith(SCHEDULE_LABEL_PREFIX)]


def test_disabled_schedule_starts_nothing(api: httpx.Client, schedule: dict[str, Any]) -> None:
    path, sid = f"/workflows/{QUICK_CHECK_ID}/schedules/{schedule['uuid']}", schedule["uuid"]
    wait_for(lambda: scheduled_runs(api, sid), "a scheduled execution", timeout=60)
    disabled = ok(api.put(path, json={"content": {"cron": "*/1 * * * * *", "method": "fixed"}, "enable": False}))
    assert (disabled["enable"], disabled["content"]["cron"]) == (False, "*/1 * * * * *")
    count = len(scheduled_runs(api, sid))
    time.sleep(3.5)  # over three times the cron's period: a schedule still enabled would have started more
    assert len(scheduled_runs(api, sid)) == count


def test_schedule_updated_refused_and_deleted(api: httpx.Client, schedule: dict[str, Any]) -> None:
    path = f"/workflows/{QUICK_CHECK_ID}/schedules/{schedule['uuid']}"
    updated = ok(api.put(path, json={"content": {"cron": "0 0 0 * * Thu,Tue", "method": "fixed"}, "enable": True}))
    assert (updated["content"]["cron"], updated["enable"]) == ("0 0 0 * * Thu,Tue", True)
    bad_cron = api.put(path, json={"content": {"cron": "every day"}})
    assert (bad_cron.status_code, bad_cron.json()["error_code"]) == (400, "ModelArts.6101")
    assert "content.cron" in bad_cron.json()["error_msg"]
    assert api.delete(path).status_code == 200
    assert api.get(path).status_code == 404
