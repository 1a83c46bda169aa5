"""Huawei's own Python SDK (``huaweicloudsdkmodelarts``, unchanged) against the ModelArts sandbox's
workflows over real HTTP on loopback, AK/SK-signed: it lists and shows workflows, creates an execution,
answers its waiting step, stops another, reads the to-do list, creates, reads and updates a schedule, and
receives refusals as ``ClientRequestException`` with the error code.

The client is built as ``tests/test_client_huawei_sdk.py`` builds it: the SDK's public builder with
``with_endpoint("http://127.0.0.1:PORT")`` and an ``HttpConfig`` with short timeouts and no retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import wait_for
from test_client_huawei_sdk import build_client, refusal
from huaweicloudsdkmodelarts.v1 import (
    CreateWorkflowExecutionRequest,
    CreateWorkflowExecutionsActionsRequest,
    CreateWorkflowScheduleRequest,
    CreateWorkflowStepExecutionsActionsRequest,
    DataRequirement,
    DeleteWorkflowExecutionRequest,
    DeleteWorkflowScheduleIdRequest,
    ExecutionAction,
    ListWorkflowExecutionsRequest,
    ListWorkflowsRequest,
    ListWorkflowStepExecutionRequest,
    ModelArtsClient,
    ShowWorkflowExecutionRequest,
    ShowWorkflowRequest,
    ShowWorkflowScheduleListRequest,
    ShowWorkflowScheduleRequest,
    ShowWorkflowsTodolistRequest,
    StepExecutionAction,
    UpdateWorkflowExecutionRequest,
    UpdateWorkflowScheduleRequest,
    WorkflowExecution,
    WorkflowParameter,
    WorkflowSchedule,
    WorkflowSchedulePolicies,
    WorkflowScheduleUpdate,
)

from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.sandbox.modelarts.workflows import QUICK_CHECK_ID, TRAIN_APPROVE_ID, TRAIN_APPROVE_NAME

FINISHED = {"completed", "stopped", "abnormal"}


@pytest.fixture(scope="module")
def client(modelarts: ModelArtsSandbox) -> Iterator[ModelArtsClient]:
    """Huawei's ModelArtsClient, AK/SK and project id, its endpoint the sandbox on loopback over http."""
    sdk = build_client(modelarts)
    yield sdk
    sdk.close()


def show(client: ModelArtsClient, workflow_id: str, execution_id: str) -> Any:
    return client.show_workflow_execution(ShowWorkflowExecutionRequest(workflow_id=workflow_id,
                                                                       execution_id=execution_id))


def wait_until(client: ModelArtsClient, workflow_id: str, execution_id: str, check: Callable[[Any], bool],
               what: str) -> Any:
    def probe() -> Any:
        view = show(client, workflow_id, execution_id)
        return view if check(view) else None

    return wait_for(probe, f"execution {execution_id} {what}", timeout=60)


def step_named(view: Any, name: str) -> Any:
    return next(s for s in view.steps_execution if s.step_name == name)


def create(client: ModelArtsClient, workflow_id: str, **fields: Any) -> Any:
    return client.create_workflow_execution(CreateWorkflowExecutionRequest(workflow_id=workflow_id,
                                                                           body=WorkflowExecution(**fields)))


def test_workflows_listed_and_shown(client: ModelArtsClient) -> None:
    every = client.list_workflows(ListWorkflowsRequest())
    page = client.list_workflows(ListWorkflowsRequest(offset="20", limit="10"))
    assert page.total == every.total
    assert page.count == len(page.items) == every.total - 20
    assert [w.workflow_id for w in page.items] == [w.workflow_id for w in every.items[20:30]]
    found = client.list_workflows(ListWorkflowsRequest(name="approve", search_type="contain"))
    assert [w.name for w in found.items] == [TRAIN_APPROVE_NAME]
    wf = client.show_workflow(ShowWorkflowRequest(workflow_id=TRAIN_APPROVE_ID))
    assert {p.name: p.type for p in wf.parameters}["learning_rate"] == "float"
    assert [s.name for s in wf.steps] == ["train", "release"]
    assert wf.data[0].type == "obs"


@pytest.fixture(scope="module")
def sdk_run(client: ModelArtsClient) -> dict[str, Any]:
    """An execution of train-then-approve made by the SDK: created, waiting (and the to-do list then),
    answered by a step action, done."""
    created = create(client, TRAIN_APPROVE_ID, description="sdk run", labels=["sdk", "owner:test"],
                     parameters=[WorkflowParameter(name="epochs", value=4),
                                 WorkflowParameter(name="learning_rate", value=0.2)],
                     data_requirements=[DataRequirement(name="training_data",
                                                        value={"obs_url": "obs://sdk-bucket/in/"})])
    eid = created.execution_id
    waiting = wait_until(client, TRAIN_APPROVE_ID, eid, lambda v: step_named(v, "release").status == "wait_inputs",
                         "waiting for inputs")
    todo = client.show_workflows_todolist(ShowWorkflowsTodolistRequest())
    answer = StepExecutionAction(action_name="continue",
                                 parameters=[WorkflowParameter(name="approved_model_name", value="sdk-model")])
    step = client.create_workflow_step_executions_actions(CreateWorkflowStepExecutionsActionsRequest(
        workflow_id=TRAIN_APPROVE_ID, execution_id=eid, step_execution_id=step_named(waiting, "release").uuid,
        body=answer))
    done = wait_until(client, TRAIN_APPROVE_ID, eid, lambda v: v.status in FINISHED, "finished")
    return {"created": created, "todo": [(t.step_name, t.status) for t in todo.items if t.execution_id == eid],
            "step": step, "done": done}


def test_execution_created_answered_and_completed(sdk_run: dict[str, Any]) -> None:
    created, step, done = sdk_run["created"], sdk_run["step"], sdk_run["done"]
    assert (created.status, created.labels) == ("init", ["sdk", "owner:test"])
    assert sdk_run["todo"] == [("release", "wait_inputs")]
    assert (step.step_name, step.status) == ("release", "creating")
    assert (done.status, done.description, int(done.duration) >= 0) == ("completed", "sdk run", True)
    assert any("change status from running to completed" in e for e in done.events)
    values = {p.name: p.value for p in done.parameters}
    # the SDK reads JSON numbers with decimals as Decimal
    assert (values["epochs"], float(values["learning_rate"]), values["approved_model_name"]) == (4, 0.2, "sdk-model")


def test_completed_execution_listed_updated_deleted(client: ModelArtsClient, sdk_run: dict[str, Any]) -> None:
    done = sdk_run["done"]
    eid = done.execution_id
    listed = client.list_workflow_executions(ListWorkflowExecutionsRequest(workflow_id=TRAIN_APPROVE_ID,
                                                                           labels="owner:test"))
    assert [e.execution_id for e in listed.items] == [eid]
    step_runs = client.list_workflow_step_execution(ListWorkflowStepExecutionRequest(workflow_id=TRAIN_APPROVE_ID))
    assert step_named(done, "release").uuid in {s.uuid for s in step_runs.items}
    renamed = client.update_workflow_execution(UpdateWorkflowExecutionRequest(
        workflow_id=TRAIN_APPROVE_ID, execution_id=eid, body=WorkflowExecution(description="reviewed")))
    assert renamed.description == "reviewed"
    client.delete_workflow_execution(DeleteWorkflowExecutionRequest(workflow_id=TRAIN_APPROVE_ID, execution_id=eid))
    gone = refusal(lambda: show(client, TRAIN_APPROVE_ID, eid))
    assert (gone.status_code, gone.error_code) == (404, "ModelArts.6103")


def test_execution_stopped(client: ModelArtsClient) -> None:
    eid = create(client, TRAIN_APPROVE_ID).execution_id
    stopped = client.create_workflow_executions_actions(CreateWorkflowExecutionsActionsRequest(
        workflow_id=TRAIN_APPROVE_ID, execution_id=eid, body=ExecutionAction(action_name="stop")))
    assert stopped.execution_id == eid
    done = wait_until(client, TRAIN_APPROVE_ID, eid, lambda v: v.status in FINISHED, "finished")
    assert done.status == "stopped"
    again = refusal(lambda: client.create_workflow_executions_actions(CreateWorkflowExecutionsActionsRequest(
        workflow_id=TRAIN_APPROVE_ID, execution_id=eid, body=ExecutionAction(action_name="stop"))))
    assert (again.status_code, again.error_code) == (400, "ModelArts.6106")


def test_refusals_reach_the_sdk_with_their_code(client: ModelArtsClient) -> None:
    wrong = refusal(lambda: create(client, TRAIN_APPROVE_ID, parameters=[WorkflowParameter(name="epochs",
                                                                                            value="lots")]))
    assert (wrong.status_code, wrong.error_code) == (400, "ModelArts.6101")
    assert "parameters[0].value" in wrong.error_msg
    unknown = refusal(lambda: client.show_workflow(ShowWorkflowRequest(workflow_id="no-such-workflow")))
    assert (unknown.status_code, unknown.error_code) == (404, "ModelArts.6102")


def test_schedule_created_read_and_updated(client: ModelArtsClient) -> None:
    body = WorkflowSchedule(type="time", action="run", enable=False,
                            content={"cron": "0 0 0 * * Mon", "method": "fixed"},
                            policies=WorkflowSchedulePolicies(on_failure="retry", on_running="cancel"))
    created = client.create_workflow_schedule(CreateWorkflowScheduleRequest(workflow_id=QUICK_CHECK_ID, body=body))
    sid = created.uuid
    shown = client.show_workflow_schedule(ShowWorkflowScheduleRequest(workflow_id=QUICK_CHECK_ID, schedule_id=sid))
    assert (shown.type, shown.action, shown.enable, shown.workflow_id) == ("time", "run", False, QUICK_CHECK_ID)
    assert shown.content == {"cron": "0 0 0 * * Mon", "method": "fixed"}
    assert shown.policies.on_running == "cancel"
    update = WorkflowScheduleUpdate(content={"cron": "0 0 0 * * Thu,Tue", "method": "fixed"}, enable=True)
    updated = client.update_workflow_schedule(UpdateWorkflowScheduleRequest(workflow_id=QUICK_CHECK_ID,
                                                                            schedule_id=sid, body=update))
    assert updated.content["cron"] == "0 0 0 * * Thu,Tue"
    assert updated.enable is True
    listed = client.show_workflow_schedule_list(ShowWorkflowScheduleListRequest(workflow_id=QUICK_CHECK_ID))
    assert sid in [s.uuid for s in listed.schedules]
    bad = refusal(lambda: client.update_workflow_schedule(UpdateWorkflowScheduleRequest(
        workflow_id=QUICK_CHECK_ID, schedule_id=sid, body=WorkflowScheduleUpdate(content={"cron": "* * * * *"}))))
    assert (bad.status_code, bad.error_code) == (400, "ModelArts.6101")
    assert "content.cron" in bad.error_msg
    client.delete_workflow_schedule_id(DeleteWorkflowScheduleIdRequest(workflow_id=QUICK_CHECK_ID, schedule_id=sid))
    gone = refusal(lambda: client.show_workflow_schedule(ShowWorkflowScheduleRequest(workflow_id=QUICK_CHECK_ID,
                                                                                     schedule_id=sid)))
    assert (gone.status_code, gone.error_code) == (404, "ModelArts.6105")
