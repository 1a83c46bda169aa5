"""What a ModelArts workflow execution job is made of (``extra.kind = "workflow"``): the spec checked against
the workflow's declared parameters and data, the execution create body, and an execution turned into a
status. Pure functions (no network); :mod:`.workflow_jobs` makes the calls.

The spec names the workflow (``extra.workflow_id``); ``params`` are the workflow's parameters (each must be
declared, of its type: bool, int, float or str, and in its enum); ``inputs`` are ``name=obs://bucket/path``
for the workflow's data. A step waiting for a person (``wait_inputs``, ``hold``) shows in the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ...errors import InvalidSpec
from ...forms import Form, FormField, check_values
from ...models import JobSpec, JobState, RemoteStatus, map_native_status, parse_time
from ..base import JobAction
from .json_fields import as_list, as_mapping
from .status import EXECUTION_STATUS, STEP_WORDS, WAITING_STEPS
from .storage import api_url, obs_path
from .common import DESCRIPTION_PREFIX, job_name, refuse_fields, refuse_unknown_extra

WORKFLOW = "workflow"
EXECUTION_PREFIX = "execution:"
SCHEDULE_LABEL_PREFIX = "schedule:"
EXTRA_KEYS = ("kind", "workflow_id")
_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]{0,63})=(.+)$", re.DOTALL)


@dataclass
class ExecutionPlan:
    """A checked workflow execution job."""

    workflow_id: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)  # data name → OBS path (bucket/key)


def is_execution(remote_id: str) -> bool:
    return remote_id.startswith(EXECUTION_PREFIX)


def execution_remote_id(workflow_id: str, execution_id: str) -> str:
    return f"{EXECUTION_PREFIX}{workflow_id}/{execution_id}"


def execution_ids(remote_id: str) -> tuple[str, str]:
    """(workflow id, execution id) of a remote id."""
    workflow_id, _, execution_id = remote_id.removeprefix(EXECUTION_PREFIX).partition("/")
    return workflow_id, execution_id


def _refuse_unsupported(spec: JobSpec) -> None:
    refuse_fields(spec, ("script", "notebook", "code", "command", "algorithm", "output", "environment", "cluster"),
                  lambda f: f"a workflow execution runs the workflow's own steps; it takes no {f}")
    refuse_fields(spec, ("timeout_s",), lambda f: "a workflow execution takes no time limit here")
    refuse_unknown_extra(spec, EXTRA_KEYS, "a workflow")


def _data(inputs: list[Any]) -> dict[str, str]:
    data = {}
    for index, item in enumerate(inputs):
        match = _NAMED.match(item.strip()) if isinstance(item, str) else None
        if match is None:
            raise InvalidSpec("a workflow's data is given as name=obs://bucket/path", field=f"inputs[{index}]")
        data[match[1]] = obs_path(match[2], f"inputs[{index}]")
    return data


def plan_execution(spec: JobSpec) -> ExecutionPlan:
    """Check what can be checked without the platform; InvalidSpec naming the field."""
    _refuse_unsupported(spec)
    workflow_id = spec.extra.get("workflow_id")
    if not isinstance(workflow_id, str) or not workflow_id.strip():
        raise InvalidSpec("a workflow execution needs the workflow: extra.workflow_id", field="extra.workflow_id")
    name = spec.name if spec.name else "jupyter-compute"
    return ExecutionPlan(workflow_id.strip(), job_name(spec.replace(name=name)), dict(spec.params), _data(spec.inputs))


def _typed(name: str, value: Any, declared: Mapping[str, Any]) -> Any:
    """The value as the declared type asks; InvalidSpec naming ``params`` when it is not of it."""
    kind = str(declared.get("type") or "str")
    checks: dict[str, Callable[[Any], bool]] = {
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
    }
    check = checks.get(kind, lambda v: isinstance(v, (str, int, float, bool)))
    if not check(value):
        raise InvalidSpec(f"parameter '{name}' must be of type {kind}, not {value!r}", field="params")
    enum = declared.get("enum")
    if isinstance(enum, list) and enum and value not in enum:
        raise InvalidSpec(f"parameter '{name}' must be one of {', '.join(map(str, enum))}", field="params")
    return value


def check_against(plan: ExecutionPlan, workflow: Mapping[str, Any]) -> None:
    """The spec's params and data are the workflow's own, of their types."""
    declared = {str(p.get("name")): p for p in map(as_mapping, as_list(workflow.get("parameters")))}
    for name, value in plan.params.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise InvalidSpec(f"the workflow has no parameter '{name}' (its parameters: {known})", field="params")
        _typed(name, value, declared[name])
    data_names = {str(as_mapping(d).get("name")) for d in as_list(workflow.get("data"))}
    for name in plan.data:
        if name not in data_names:
            known = ", ".join(sorted(data_names)) or "none"
            raise InvalidSpec(f"the workflow has no data '{name}' (its data: {known})", field="inputs")


def create_body(plan: ExecutionPlan, job_id: str) -> dict[str, Any]:
    """The ``POST …/workflows/{id}/executions`` body."""
    return {
        "name": plan.name, "description": f"{DESCRIPTION_PREFIX}{job_id}",
        "parameters": [{"name": n, "value": v} for n, v in plan.params.items()],
        "data_requirements": [{"name": n, "value": {"obs_url": api_url(p)}} for n, p in plan.data.items()],
    }  # fmt: skip


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _waiting_message(steps: list[Mapping[str, Any]]) -> str | None:
    for step in steps:
        status = str(step.get("status") or "")
        if status in WAITING_STEPS:
            title = step.get("step_title") or step.get("step_name") or "a step"
            return f"waiting for input: step '{title}' ({status}) is a to-do item"
    return None


def _failure(steps: list[Mapping[str, Any]]) -> str | None:
    for step in steps:
        info = as_mapping(step.get("error_info"))
        if step.get("status") in ("failed", "create_failed", "timeout"):
            said = info.get("error_message") or STEP_WORDS.get(str(step.get("status")), "failed")
            return f"step '{step.get('step_name')}': {said}"
    return None


def step_summary(steps: list[Mapping[str, Any]]) -> str:
    """``train: completed, release: waiting for input``."""
    return ", ".join(f"{s.get('step_name')}: {STEP_WORDS.get(str(s.get('status')), s.get('status'))}" for s in steps)


def _message(state: JobState, native: str, steps: list[Mapping[str, Any]]) -> str:
    failure = _failure(steps) if state is JobState.FAILED else None
    said = failure or _waiting_message(steps)
    if said:
        return said
    return step_summary(steps) if steps else (native or "no status")


def _finished(state: JobState, started: datetime | None, duration: Any) -> datetime | None:
    if not state.is_terminal or started is None or isinstance(duration, bool) or not isinstance(duration, (int, float)):
        return None
    return started + timedelta(seconds=max(0.0, float(duration)))


def execution_status(execution: Mapping[str, Any], scrub: Callable[[Any], str] = str) -> RemoteStatus:
    """An execution (show / list answer) as a RemoteStatus; the steps' states in the message."""
    native = str(execution.get("status") or "")
    state = map_native_status(EXECUTION_STATUS, native or None)
    steps = [as_mapping(s) for s in as_list(execution.get("steps_execution"))]
    started = _time(execution.get("created_at"))
    return RemoteStatus(state=state, native_status=scrub(native), message=scrub(_message(state, native, steps)),
                        started=started, finished=_finished(state, started, execution.get("duration")))  # fmt: skip


def event_lines(execution: Mapping[str, Any]) -> str:
    """The execution's events, one per line (they carry their own times)."""
    return "".join(f"{line}\n" for line in as_list(execution.get("events")) if isinstance(line, str))


#: Workflow parameter types → form field types of an action's fields.
FIELD_TYPES = {"bool": "boolean", "int": "integer", "float": "number", "str": "string"}


def steps_of(execution: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [as_mapping(s) for s in as_list(execution.get("steps_execution"))]


def waiting_step(execution: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first step waiting for a person, if any."""
    return next((s for s in steps_of(execution) if s.get("status") in WAITING_STEPS), None)


def schedule_of(execution: Mapping[str, Any]) -> str | None:
    """The schedule that started the execution (its label says so), if one did."""
    for label in as_list(execution.get("labels")):
        if isinstance(label, str) and label.startswith(SCHEDULE_LABEL_PREFIX):
            return label.removeprefix(SCHEDULE_LABEL_PREFIX)
    return None


def missing_inputs(execution: Mapping[str, Any], step: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The delayed parameters ``step`` uses that have no value yet (what answering it must give)."""
    name = step.get("step_name")
    return [p for p in map(as_mapping, as_list(execution.get("parameters")))
            if p.get("delay") and name in as_list(p.get("used_steps")) and p.get("value") in (None, "")]  # fmt: skip


def execution_facts(execution: Mapping[str, Any], schedules: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What an execution's answer tells people: its workflow, steps, parameters, to-do item and schedules."""
    waiting = waiting_step(execution)
    facts: dict[str, Any] = {
        "workflow": execution.get("workflow_name"), "workflow id": execution.get("workflow_id"),
        "execution id": execution.get("execution_id"), "status": execution.get("status"),
        "started by": f"schedule {schedule_of(execution)}" if schedule_of(execution) else None,
        "duration (s)": execution.get("duration"),
        "to-do": (f"step '{waiting.get('step_title') or waiting.get('step_name')}' is {waiting.get('status')}"
                  if waiting else None),
        "steps": [{"step": s.get("step_name"), "title": s.get("step_title"),
                   "status": STEP_WORDS.get(str(s.get("status")), s.get("status"))} for s in steps_of(execution)],
        "parameters": {str(p.get("name")): p.get("value")
                       for p in map(as_mapping, as_list(execution.get("parameters")))},
        "schedules": [{"id": s.get("uuid"), "cron": as_mapping(s.get("content")).get("cron"),
                       "enabled": s.get("enable")} for s in schedules],
    }  # fmt: skip
    return {name: value for name, value in facts.items() if value not in (None, "", [], {})}


def _input_field(parameter: Mapping[str, Any]) -> FormField:
    kind = str(parameter.get("type") or "str")
    enum = parameter.get("enum")
    choices = tuple(enum) if isinstance(enum, list) and enum else None
    return FormField(str(parameter.get("name")), str(parameter.get("name")), "choice" if choices else
                     FIELD_TYPES.get(kind, "string"), required=True, choices=choices,
                     help=str(parameter.get("description") or ""))  # fmt: skip


SCHEDULE_ACTION = JobAction("schedule", "Schedule the workflow", (
    FormField("cron", "Cron (seconds first)", "string", required=True,
              help="Six fields, seconds first, e.g. '0 0 2 * * *' for 02:00 every day."),
    FormField("enable", "Enabled", "boolean", default=True),
), help="Runs of the whole workflow at the cron's times; they appear in the job list, tagged 'scheduled'.")


def offered_actions(execution: Mapping[str, Any]) -> list[JobAction]:
    """What can be done with the execution now: answer its waiting step, run it again, schedule its workflow."""
    actions = []
    step = waiting_step(execution)
    if step is not None:
        title = step.get("step_title") or step.get("step_name")
        fields = tuple(_input_field(p) for p in missing_inputs(execution, step))
        actions.append(JobAction("continue", f"Answer step '{title}'", fields,
                                 help="Give the inputs the step waits for" if fields else "Confirm, so it goes on"))
    if map_native_status(EXECUTION_STATUS, execution.get("status")).is_terminal:
        actions.append(JobAction("rerun", "Run again", (), help="From its first step not completed."))
    actions.append(SCHEDULE_ACTION)
    return actions


def action_values(action: JobAction, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values an action's form takes (defaults filled in); InvalidSpec naming the first bad field."""
    form = Form(fields=action.fields)
    unknown = sorted(set(values) - {f.name for f in action.fields})
    if unknown:
        raise InvalidSpec(f"'{action.name}' takes no value '{unknown[0]}'", field=unknown[0])
    filled = {f.name: values.get(f.name, f.default) for f in action.fields}
    problems = check_values(form, filled)
    if problems:
        name, message = next(iter(problems.items()))
        raise InvalidSpec(message, field=name)
    return {name: value for name, value in filled.items() if value is not None}
