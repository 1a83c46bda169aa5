"""The ModelArts stand-in's workflows (v2): workflows, their executions, steps waiting for a person (the
to-do list) and schedules that start executions on their own.

Follows ``shared/specs/modelarts.md`` ("Workflows", "Workflow executions") and the request/response models
of Huawei's SDK (``huaweicloudsdkmodelarts.v1``: ListWorkflows, ShowWorkflow, ShowWorkflowsTodolist,
Create/List/Show/Update/DeleteWorkflowExecution, CreateWorkflowExecutionsActions,
CreateWorkflowStepExecutionsActions, ListWorkflowStepExecution, Create/Show/Update/DeleteWorkflowSchedule(Id),
ShowWorkflowScheduleList); ``tests/test_client_huawei_sdk_workflows.py`` proves the SDK, unchanged, works.
Everything runs on the sandbox's loop (timers, no threads, no I/O): the steps are simulated, one status
transition every ``sb.step_delay_s``.

Routes (behind the gateway's checks, see ``server``; times are ISO 8601 at +08:00)
----------------------------------------------------------------------------------
- ``GET /v2/{project_id}/workflows?name&description&status&labels&template_id&limit&offset&sort_by&search_type``
  → ``{total, count, items: [Workflow]}``. ``offset`` is an ITEM offset (rows 20-29: offset=20, limit=10;
  no limit: every row); ``search_type`` equal (default) | contain says how ``name`` matches (contain: case
  blind); ``description`` matches by containing; ``status`` is the latest execution's; ``labels`` a comma list
  (each wanted); ``sort_by`` create_time (default, newest first) | last_modified_time | name (a-z).
- ``GET …/workflows/{workflow_id}`` → Workflow: ``workflow_id, name, description, created_at,
  last_modified_at, user_name, workspace_id ("0"), labels, data [{name, type "obs", value {obs_url},
  used_steps}], data_requirements, parameters [{name, type bool|str|int|float, format, description, example,
  default, value, delay, enum, used_steps, constraint}], steps [WorkflowStep: name, type, title, inputs,
  outputs, properties, depend_steps, conditions, policy…], sub_graphs, policy, source_workflow_id,
  latest_execution {execution_id, created_at, status, duration (s), running_steps, current_steps} (null before
  the first run), run_count, param_ready`` and the SDK's other fields.
- ``GET …/workflows/todolist?workspace_id`` → ``{total, items: [{time, duration (s waiting), workflow_id,
  workflow_name, execution_id, step_name, step_title, status: wait_inputs | hold}]}``.
- ``POST …/workflows/{workflow_id}/executions`` (WorkflowExecution: ``name?`` (default execution-NNN),
  ``description?``, ``labels?`` [str], ``workspace_id?``, ``parameters?`` [{name, value}],
  ``data_requirements?`` [{name, value: {obs_url}}]; other fields are the service's and ignored) → 201 with
  the execution (status init). Parameter values are checked against their type (numbers and booleans may
  come as text: "0.01", "true") and enum; missing ones take their default; a delayed one may be left out.
  ``description`` and ``labels`` are kept exactly as sent.
- ``GET …/executions?workspace_id&limit&offset&sort_by&order&labels&status&scene_id`` → ``{total, count,
  items}`` (item offset; sort_by create_time | name | status | duration, order desc (default) | asc).
- ``GET …/executions/{execution_id}`` → WorkflowExecution: ``execution_id, name, description, labels,
  status, created_at, duration (s, int), workspace_id, workflow_id, workflow_name, scene_id, scene_name,
  steps_execution [StepExecution], sub_graphs, events, data_requirements, parameters (with the run's
  values), policies``. ``events`` are lines ``"2024-03-01 09:00:01 step train change status from init to
  creating"`` (and ``"… change status from init to running"`` for the execution itself): the log.
  StepExecution: ``step_name, step_title, uuid`` (the step execution id of the step actions; the step's
  name is taken there too), ``step_uuid, execution_uuid, execution_name, name, type, status, created_at,
  updated_at, duration, instance_id, inputs (with values), outputs, properties (parameters resolved),
  events, error_info {error_code, error_message} (failed only), policy, conditions``.
- ``PUT …/executions/{execution_id}`` (WorkflowExecution: ``name?, description?, labels?, parameters?``)
  → 200 with the execution. Only delayed parameters may be given (the others are fixed once it exists);
  a step in wait_inputs that has all its values then goes on.
- ``DELETE …/executions/{execution_id}`` → 200, empty (a finished execution only).
- ``POST …/executions/{execution_id}/actions`` ``{"action_name": "stop" | "rerun", "policies"?:
  {"rerun_steps": [names]}, "parameters"?, "data_requirements"?}`` → 201 with the execution. ``stop``: an
  init or running execution; ``rerun``: a stopped, abnormal or completed one — the same execution (same id)
  runs again from its first step not completed (or the earliest of ``rerun_steps``); ``parameters`` and
  ``data_requirements`` given with it replace the run's values (checked as on create).
- ``POST …/executions/{execution_id}/step-executions/{step_execution_id}/actions`` ``{"action_name":
  "continue" | "stop" | "retry", "parameters"?: [{name, value}]}`` → 201 with the StepExecution.
  ``continue`` answers a step in wait_inputs (``parameters`` gives its delayed values) or hold (a
  confirmation); ``stop`` stops the execution at this step; ``retry`` runs a failed step (and those after
  it) again.
- ``GET …/workflows/{workflow_id}/step-executions?limit&offset&order&sort_by`` → ``{total, count, items
  [StepExecution], default_order, compare_columns}``.
- ``POST …/workflows/{workflow_id}/schedules`` (WorkflowSchedule: ``type "time"``, ``content {cron,
  method "fixed"}``, ``action "run"``, ``policies? {on_failure, on_running}`` (default retry / cancel),
  ``enable?`` (default true)) → 201 with ``{created_at, uuid, type, content, action, policies, workflow_id,
  user_id, enable}``; ``GET …/schedules`` → ``{"schedules": [...]}``; ``GET|PUT|DELETE
  …/schedules/{schedule_id}`` (PUT: ``{"content"?: {"cron", "method"}, "enable"?}`` → 200; DELETE → 200,
  empty). The cron has SIX fields, seconds first (``"0 0 0 * * Thu,Tue"``, ``"*/3 * * * * *"``), read at
  +08:00 (croniter). While enabled, the sandbox starts an execution (default values) at each time the cron
  names, unless the last one it started is still init or running (``on_running: cancel``). Such an
  execution has the label ``SCHEDULE_LABEL_PREFIX + schedule uuid`` (``"schedule:<uuid>"``; the SDK's
  execution model has no trigger field) and its first event says ``"started by schedule <uuid>"``.

Status sequences
----------------
Execution: init → running → completed | stopped | abnormal (a step failed); ``rerun`` (or a step
``retry``) takes a finished one back to running. Steps run one after another; each one goes
init → creating → created → running → completed, with these detours: init → wait_inputs (a delayed
parameter it uses has no value) or init → hold (step property ``manual_confirm`` "true"), then, once
answered, → creating → …; running → failed (step property ``fails_if`` names a bool parameter that is
true; the execution ends abnormal); on ``stop`` a creating/created/running step goes stopping → stopped, a
waiting one stopped at once, and the execution ends stopped. ``instance_id`` is set at created (a made-up
id, no training job behind it).

Errors (``{"error_code", "error_msg"}``; the codes are the sandbox's choice, the manual names none)
---------------------------------------------------------------------------------------------------
::

    what                                                          answer
    ------------------------------------------------------------  ---------------------------------
    a bad query value (limit, offset, sort_by, order, status,       400 ModelArts.6101 naming it
      search_type)
    a body field missing or ill-typed, a parameter not of the       400 ModelArts.6101 naming the field
      workflow / of the wrong type / not in its enum / required      (parameters[i].name, parameters[i].value,
      and missing, a bad obs_url, a bad action_name, a cron that     parameters[<name>], data_requirements[i]…,
      is not six fields, a type other than "time"…                   action_name, content.cron, type…)
    an unknown workflow                                             404 ModelArts.6102
    an unknown execution (or one of another workflow)               404 ModelArts.6103
    an unknown step execution                                       404 ModelArts.6104
    an unknown schedule                                             404 ModelArts.6105
    an action the state does not allow (stop a finished one,        400 ModelArts.6106
      rerun a running one, continue a step not waiting, delete a
      running execution)

Seeds (``workflow_seed``; ids fixed)
------------------------------------
- ``TRAIN_APPROVE_ID`` "train-then-approve": step ``train`` (job; parameters ``learning_rate`` float 0.01,
  ``epochs`` int 3, ``use_gpu`` bool false, ``optimizer`` str adam|sgd; data ``training_data`` obs
  ``/sandbox-workflows/data/train/``), then ``release`` (model) which waits in wait_inputs for the delayed
  str parameter ``approved_model_name``.
- ``TRAIN_CONFIRM_ID`` "train-then-confirm": ``train``, then ``deploy`` (service) which holds for a
  confirmation.
- ``QUICK_CHECK_ID`` "quick-check": one step ``check``; parameter ``fail_step`` (bool, default false) true
  makes it fail; ``threshold`` float 0.5.
- twenty one-step fillers "nightly-report-01" … "-20" (``filler_id(n)``), label "filler": 23 in all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from .workflow_common import (
    E_EXECUTION_NOT_FOUND,
    E_SCHEDULE_NOT_FOUND,
    E_STEP_NOT_FOUND,
    E_WF_NOT_FOUND,
    bad,
    iso,
    item_list,
    not_allowed,
    obj,
    opt_str,
    str_list,
)
from .jobs import ApiError
from .workflow_cron import Schedule, new_schedule, next_fire
from .workflow_handlers import routes as _routes
from .workflow_listing import list_executions, list_step_executions, list_workflows
from .workflow_params import create_input, data_values, parameter_values
from .workflow_runner import RUNNING, Execution
from .workflow_seed import (
    QUICK_CHECK_ID,
    QUICK_CHECK_NAME,
    TRAIN_APPROVE_ID,
    TRAIN_APPROVE_NAME,
    TRAIN_CONFIRM_ID,
    TRAIN_CONFIRM_NAME,
    filler_id,
    workflows,
)

if TYPE_CHECKING:
    from .server import ModelArtsSandbox

__all__ = ["QUICK_CHECK_ID", "QUICK_CHECK_NAME", "SCHEDULE_LABEL_PREFIX", "TRAIN_APPROVE_ID", "TRAIN_APPROVE_NAME",
           "TRAIN_CONFIRM_ID", "TRAIN_CONFIRM_NAME", "Workflows", "filler_id"]

SCHEDULE_LABEL_PREFIX = "schedule:"
log = logging.getLogger(__name__)


def _brief(execution: Execution, now: float) -> dict[str, Any]:
    """A workflow's ``latest_execution`` (ExecutionBrief)."""
    current = execution.current()
    return {"execution_id": execution.id, "created_at": iso(execution.created_at), "status": execution.status,
            "duration": execution.duration(now),
            "running_steps": [s.name for s in execution.steps if s.status == "running"],
            "current_steps": [] if current is None or execution.status not in RUNNING else [current.name]}


class Workflows:
    """State and routes of the workflows API; one per sandbox. Its methods run on the sandbox's loop."""

    def __init__(self, sb: ModelArtsSandbox) -> None:
        self.sb = sb
        self._workflows = {w["workflow_id"]: w for w in workflows()}
        self._executions: dict[str, Execution] = {}
        self._numbers: dict[str, int] = {}
        self._schedules: dict[str, Schedule] = {}
        self._last_scheduled: dict[str, Execution] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._stopped = False

    def routes(self, handler_args: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The tornado routes this part serves."""
        return _routes(handler_args)

    def stop(self) -> None:
        """Cancel every timer (called on the sandbox's loop at shutdown)."""
        self._stopped = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def join(self, timeout_s: float) -> None:
        """Nothing to wait for: no threads."""

    # ------------------------------------------------------------------ timers
    def _arm(self, key: str, delay: float, callback: Any, *args: Any) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        if not self._stopped:
            self._timers[key] = asyncio.get_running_loop().call_later(max(0.0, delay), callback, *args)

    def _disarm(self, key: str) -> None:
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _follow(self, execution: Execution, go_on: bool) -> None:
        """Tick ``execution`` after a step delay when ``go_on``; else no tick is due."""
        if go_on and execution.id in self._executions:
            self._arm(execution.id, self.sb.step_delay_s, self._tick, execution)
        elif not go_on:
            self._disarm(execution.id)

    def _tick(self, execution: Execution) -> None:
        self._timers.pop(execution.id, None)
        self._follow(execution, execution.tick(time.time()))

    def _arm_schedule(self, schedule: Schedule) -> None:
        if not schedule.enable:
            return self._disarm(schedule.uuid)
        when = next_fire(schedule.content["cron"], time.time())
        self._arm(schedule.uuid, when - time.time(), self._fire, schedule, when)

    def _fire(self, schedule: Schedule, when: float) -> None:
        self._timers.pop(schedule.uuid, None)
        if self._schedules.get(schedule.uuid) is not schedule or not schedule.enable:
            return
        last = self._last_scheduled.get(schedule.uuid)
        if last is None or last.status not in RUNNING or schedule.policies.get("on_running") != "cancel":
            self._run_scheduled(schedule)
        wait = next_fire(schedule.content["cron"], max(when, time.time())) - time.time()
        self._arm(schedule.uuid, wait, self._fire, schedule, time.time() + wait)

    def _run_scheduled(self, schedule: Schedule) -> None:
        try:
            self._last_scheduled[schedule.uuid] = self._start(self._workflow(schedule.workflow_id), {},
                                                              trigger=schedule.uuid)
        except ApiError as exc:  # e.g. a parameter with neither default nor value: this time is skipped
            log.warning("schedule %s of workflow %s started nothing: %s", schedule.uuid, schedule.workflow_id,
                        exc.message)

    # ------------------------------------------------------------------ workflows
    def _workflow(self, workflow_id: str) -> dict[str, Any]:
        workflow = self._workflows.get(workflow_id)
        if workflow is None:
            raise ApiError(404, E_WF_NOT_FOUND, f"The workflow {workflow_id} does not exist.")
        return workflow

    def _workflow_view(self, workflow: dict[str, Any], now: float) -> dict[str, Any]:
        runs = [e for e in self._executions.values() if e.workflow is workflow]
        latest = max(runs, key=lambda e: e.created_at, default=None)
        brief = None if latest is None else _brief(latest, now)
        return {**workflow, "latest_execution": brief, "run_count": self._numbers.get(workflow["workflow_id"], 0),
                "param_ready": all(p.get("default") is not None or p.get("delay") for p in workflow["parameters"])}

    def list_workflows(self, args: dict[str, str | None]) -> dict[str, Any]:
        now = time.time()
        return list_workflows([self._workflow_view(w, now) for w in self._workflows.values()], args)

    def show_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._workflow_view(self._workflow(workflow_id), time.time())

    def todolist(self, workspace_id: str | None) -> dict[str, Any]:
        now = time.time()
        items = [item for e in self._executions.values() if not workspace_id or e.workspace_id == workspace_id
                 for item in e.todo_items(now)]
        return {"total": len(items), "items": items}

    # ------------------------------------------------------------------ executions
    def _start(self, workflow: dict[str, Any], body: Any, trigger: str | None = None) -> Execution:
        inp = create_input(body, workflow)
        number = self._numbers.get(workflow["workflow_id"], 0) + 1
        if trigger:
            inp.labels = [*inp.labels, SCHEDULE_LABEL_PREFIX + trigger]
        execution = Execution(workflow, inp, inp.name or f"execution-{number:03d}", time.time(), trigger)
        self._numbers[workflow["workflow_id"]] = number
        self._executions[execution.id] = execution
        self._follow(execution, True)
        return execution

    def create_execution(self, workflow_id: str, body: Any) -> dict[str, Any]:
        return self._start(self._workflow(workflow_id), body).view(time.time())

    def _execution(self, workflow_id: str, execution_id: str) -> Execution:
        workflow = self._workflow(workflow_id)
        execution = self._executions.get(execution_id)
        if execution is None or execution.workflow is not workflow:
            raise ApiError(404, E_EXECUTION_NOT_FOUND, f"The execution {execution_id} of workflow {workflow_id} "
                                                       "does not exist.")
        return execution

    def show_execution(self, workflow_id: str, execution_id: str) -> dict[str, Any]:
        return self._execution(workflow_id, execution_id).view(time.time())

    def list_executions(self, workflow_id: str, args: dict[str, str | None]) -> dict[str, Any]:
        workflow, now = self._workflow(workflow_id), time.time()
        return list_executions([e.view(now) for e in self._executions.values() if e.workflow is workflow], args)

    def list_step_executions(self, workflow_id: str, args: dict[str, str | None]) -> dict[str, Any]:
        workflow, now = self._workflow(workflow_id), time.time()
        views = [e.step_view(s, now) for e in self._executions.values() if e.workflow is workflow for s in e.steps]
        return list_step_executions(views, args)

    def update_execution(self, workflow_id: str, execution_id: str, body: Any) -> dict[str, Any]:
        execution = self._execution(workflow_id, execution_id)
        body = obj(body, "body", required=True)
        name, description = opt_str(body, "name", "name", 64), opt_str(body, "description", "description")
        labels = str_list(body.get("labels"), "labels")
        values = parameter_values(body.get("parameters"), execution.workflow)
        execution.set_delayed(values)
        execution.name = name or execution.name
        execution.description = execution.description if description is None else description
        execution.labels = execution.labels if labels is None else labels
        now = time.time()
        self._follow(execution, execution.resume_if_answered(now) or execution.id in self._timers)
        return execution.view(now)

    def delete_execution(self, workflow_id: str, execution_id: str) -> None:
        execution = self._execution(workflow_id, execution_id)
        if execution.status in RUNNING:
            raise not_allowed(f"execution {execution_id} is {execution.status}; stop it before deleting it")
        self._disarm(execution.id)
        del self._executions[execution.id]

    def execution_action(self, workflow_id: str, execution_id: str, body: Any) -> dict[str, Any]:
        execution = self._execution(workflow_id, execution_id)
        body = obj(body, "body", required=True)
        action, now = body.get("action_name"), time.time()
        if action == "stop":
            self._follow(execution, execution.stop(now))
        elif action == "rerun":
            self._rerun(execution, body, now)
        else:
            raise bad("action_name", f"{action!r} must be stop or rerun")
        return execution.view(now)

    def _rerun(self, execution: Execution, body: dict[str, Any], now: float) -> None:
        params = parameter_values(body.get("parameters"), execution.workflow)
        data = data_values(body.get("data_requirements"), execution.workflow)
        steps = str_list(obj(body.get("policies"), "policies").get("rerun_steps"), "policies.rerun_steps")
        go_on = execution.rerun(now, steps)
        execution.params.update(params)
        execution.data.update(data)
        self._follow(execution, go_on)

    def step_action(self, workflow_id: str, execution_id: str, step_id: str, body: Any) -> dict[str, Any]:
        execution = self._execution(workflow_id, execution_id)
        step = execution.step(step_id)
        if step is None:
            raise ApiError(404, E_STEP_NOT_FOUND, f"The step execution {step_id} of execution {execution_id} "
                                                  "does not exist.")
        body = obj(body, "body", required=True)
        action, now = body.get("action_name"), time.time()
        if action == "continue":
            item_list(body.get("data_requirements"), "data_requirements")
            go_on = execution.answer(step, parameter_values(body.get("parameters"), execution.workflow), now)
        elif action == "stop":
            go_on = execution.stop(now)
        elif action == "retry":
            go_on = execution.retry(step, now)
        else:
            raise bad("action_name", f"{action!r} must be continue, stop or retry")
        self._follow(execution, go_on)
        return execution.step_view(step, now)

    # ------------------------------------------------------------------ schedules
    def _schedule(self, workflow_id: str, schedule_id: str) -> Schedule:
        self._workflow(workflow_id)
        schedule = self._schedules.get(schedule_id)
        if schedule is None or schedule.workflow_id != workflow_id:
            raise ApiError(404, E_SCHEDULE_NOT_FOUND, f"The schedule {schedule_id} of workflow {workflow_id} "
                                                      "does not exist.")
        return schedule

    def create_schedule(self, workflow_id: str, body: Any) -> dict[str, Any]:
        self._workflow(workflow_id)
        schedule = new_schedule(body, workflow_id)
        self._schedules[schedule.uuid] = schedule
        self._arm_schedule(schedule)
        return schedule.view()

    def list_schedules(self, workflow_id: str) -> dict[str, Any]:
        self._workflow(workflow_id)
        return {"schedules": [s.view() for s in self._schedules.values() if s.workflow_id == workflow_id]}

    def show_schedule(self, workflow_id: str, schedule_id: str) -> dict[str, Any]:
        return self._schedule(workflow_id, schedule_id).view()

    def update_schedule(self, workflow_id: str, schedule_id: str, body: Any) -> dict[str, Any]:
        schedule = self._schedule(workflow_id, schedule_id)
        schedule.update(body)
        self._arm_schedule(schedule)
        return schedule.view()

    def delete_schedule(self, workflow_id: str, schedule_id: str) -> None:
        schedule = self._schedule(workflow_id, schedule_id)
        self._disarm(schedule.uuid)
        del self._schedules[schedule.uuid]
