"""One workflow execution as a state machine: its steps run one after another, one status transition per
``tick`` (the owner calls ``tick`` every ``step_delay_s`` on the sandbox's loop while it answers True);
a step whose delayed parameter has no value waits (``wait_inputs``), a step marked ``manual_confirm``
holds (``hold``), until a person answers. No I/O: the steps are simulated."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .workflow_common import bad, iso, not_allowed, stamp
from .workflow_params import ExecutionInput
from .workflow_seed import FAILS_IF, MANUAL_CONFIRM

RUNNING = frozenset({"init", "running"})
ACTIVE = frozenset({"creating", "created", "running"})
WAITING = frozenset({"wait_inputs", "hold"})
_NEXT = {"creating": "created", "created": "running"}


@dataclass
class StepRun:
    """One step of one execution."""

    spec: dict[str, Any]
    created_at: float
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "init"
    updated_at: float = 0.0
    started: float | None = None
    ended: float | None = None
    waiting_since: float | None = None
    confirmed: bool = False
    instance_id: str = ""
    error: dict[str, str] | None = None
    events: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def set(self, status: str, now: float) -> str:
        """Move to ``status``; answer the transition's words for the events."""
        words = f"change status from {self.status} to {status}"
        self.events.append(f"{stamp(now)} {words}")
        if self.started is None:
            self.started = now
        self.waiting_since = now if status in WAITING else None
        self.ended = now if status in ("completed", "failed", "stopped") else None
        self.status, self.updated_at = status, now
        if status == "created":
            self.instance_id = str(uuid.uuid4())
        return words

    def reset(self, now: float) -> None:
        self.events.append(f"{stamp(now)} rerun: change status from {self.status} to init")
        self.status, self.updated_at, self.started, self.ended = "init", now, None, None
        self.waiting_since, self.confirmed, self.error, self.instance_id = None, False, None, ""

    def duration(self, now: float) -> int:
        return 0 if self.started is None else int((self.ended or now) - self.started)


class Execution:
    """A run of ``workflow`` with the checked ``inp`` (``trigger``: the schedule that started it, if any)."""

    def __init__(self, workflow: dict[str, Any], inp: ExecutionInput, name: str, now: float,
                 trigger: str | None = None) -> None:
        self.id = str(uuid.uuid4())
        self.workflow, self.name, self.trigger = workflow, name, trigger
        self.description, self.labels, self.workspace_id = inp.description, inp.labels, inp.workspace_id
        self.params, self.data = inp.params, inp.data
        self.created_at = now
        self.finished_at: float | None = None
        self.status = "init"
        self.events: list[str] = []
        self.steps = [StepRun(spec=s, created_at=now, updated_at=now) for s in workflow["steps"]]
        if trigger:
            self.events.append(f"{stamp(now)} started by schedule {trigger}")

    # ------------------------------------------------------------------ transitions
    def tick(self, now: float) -> bool:
        """One transition; True while another tick is due (False: finished, or waiting for a person)."""
        if self.status == "init":
            self._set_status("running", now)
            return True
        if self.status != "running":
            return False
        stopping = next((s for s in self.steps if s.status == "stopping"), None)
        if stopping is not None:
            self._step_set(stopping, "stopped", now)
            return self._finish("stopped", now)
        step = self.current()
        if step is None:
            return self._finish("completed", now)
        return self._advance(step, now)

    def _advance(self, step: StepRun, now: float) -> bool:
        if step.status == "init":
            gate = self._gate(step)
            self._step_set(step, gate or "creating", now)
            return gate is None
        if step.status in _NEXT:
            self._step_set(step, _NEXT[step.status], now)
            return True
        if step.status == "running" and self._fails(step):
            step.error = {"error_code": "ModelArts.6200", "error_message": f"step {step.name} failed: parameter "
                                                                           f"{step.spec['properties'][FAILS_IF]} "
                                                                           "is true"}
            self._step_set(step, "failed", now)
            return self._finish("abnormal", now)
        if step.status == "running":
            self._step_set(step, "completed", now)
            return True
        return False

    def _gate(self, step: StepRun) -> str | None:
        if self.missing_inputs(step):
            return "wait_inputs"
        if step.spec["properties"].get(MANUAL_CONFIRM) == "true" and not step.confirmed:
            return "hold"
        return None

    def missing_inputs(self, step: StepRun) -> list[str]:
        """The delayed parameters ``step`` uses that have no value yet."""
        return [p["name"] for p in self.workflow["parameters"]
                if p.get("delay") and step.name in p["used_steps"] and self.params.get(p["name"]) is None]

    def _fails(self, step: StepRun) -> bool:
        flag = step.spec["properties"].get(FAILS_IF)
        return bool(flag) and self.params.get(flag) is True

    def current(self) -> StepRun | None:
        """The first step not completed (or skipped)."""
        return next((s for s in self.steps if s.status not in ("completed", "skipped")), None)

    def _step_set(self, step: StepRun, status: str, now: float) -> None:
        self.events.append(f"{stamp(now)} step {step.name} {step.set(status, now)}")

    def _set_status(self, status: str, now: float) -> None:
        self.events.append(f"{stamp(now)} change status from {self.status} to {status}")
        self.status = status

    def _finish(self, status: str, now: float) -> bool:
        self._set_status(status, now)
        self.finished_at = now
        return False

    # ------------------------------------------------------------------ what people ask
    def stop(self, now: float) -> bool:
        """Stop (execution action ``stop``, or step action ``stop``); True when a tick must finish it."""
        if self.status not in RUNNING:
            raise not_allowed(f"execution {self.id} is {self.status}; only init or running executions can be "
                              "stopped")
        step = self.current() if self.status == "running" else None
        if step is not None and step.status in ACTIVE:
            self._step_set(step, "stopping", now)
            return True
        if step is not None and step.status in WAITING:
            self._step_set(step, "stopped", now)
        return self._finish("stopped", now)

    def rerun(self, now: float, rerun_steps: list[str] | None) -> bool:
        """Run again from the first step not completed (or the earliest of ``rerun_steps``)."""
        if self.status in RUNNING:
            raise not_allowed(f"execution {self.id} is {self.status}; only stopped, abnormal or completed "
                              "executions can be rerun")
        names = [s.name for s in self.steps]
        for name in rerun_steps or []:
            if name not in names:
                raise bad("policies.rerun_steps", f"{name!r} is not a step of workflow {self.workflow['name']} "
                                                  f"(steps: {', '.join(names)})")
        pending = self.current()
        start = min((names.index(n) for n in rerun_steps), default=0) if rerun_steps else \
            (names.index(pending.name) if pending is not None else 0)
        self._restart(start, now)
        return True

    def retry(self, step: StepRun, now: float) -> bool:
        """Step action ``retry``: a failed step (and those after it) run again."""
        if step.status != "failed":
            raise not_allowed(f"step {step.name} is {step.status}; only a failed step can be retried")
        self._restart(self.steps.index(step), now)
        return True

    def _restart(self, start: int, now: float) -> None:
        for step in self.steps[start:]:
            step.reset(now)
        self.finished_at = None
        self._set_status("running", now)

    def answer(self, step: StepRun, values: dict[str, Any], now: float) -> bool:
        """Step action ``continue``: delayed values for a waiting step, or the confirmation of a held one."""
        if step.status not in WAITING or self.status != "running":
            raise not_allowed(f"step {step.name} is {step.status}; only a step in wait_inputs or hold can be "
                              "continued")
        self.set_delayed(values)
        missing = self.missing_inputs(step)
        if missing:
            raise bad("parameters", f"step {step.name} needs a value for {', '.join(missing)} to continue")
        step.confirmed = True
        self._step_set(step, "creating", now)
        return True

    def set_delayed(self, values: dict[str, Any]) -> None:
        """Values for delayed parameters (the only ones that can change once an execution exists)."""
        delayed = {p["name"] for p in self.workflow["parameters"] if p.get("delay")}
        for name in values:
            if name not in delayed:
                raise bad("parameters", f"{name} is not a delayed parameter: it cannot change once the "
                                        "execution exists")
        self.params.update(values)

    def resume_if_answered(self, now: float) -> bool:
        """After new delayed values (execution update): a step waiting only for them goes on."""
        step = self.current()
        if self.status != "running" or step is None or step.status != "wait_inputs" or self.missing_inputs(step):
            return False
        self._step_set(step, "creating", now)
        return True

    # ------------------------------------------------------------------ views
    def duration(self, now: float) -> int:
        return int((self.finished_at or now) - self.created_at)

    def step(self, step_execution_id: str) -> StepRun | None:
        return next((s for s in self.steps if step_execution_id in (s.uuid, s.name)), None)

    def view(self, now: float) -> dict[str, Any]:
        """The execution as the API shows it (WorkflowExecution)."""
        wf = self.workflow
        return {"created_at": iso(self.created_at), "name": self.name, "execution_id": self.id,
                "description": self.description, "status": self.status, "workspace_id": self.workspace_id,
                "workflow_id": wf["workflow_id"], "workflow_name": wf["name"], "scene_id": "", "scene_name": "",
                "steps_execution": [self.step_view(s, now) for s in self.steps], "sub_graphs": wf["sub_graphs"],
                "duration": self.duration(now), "events": list(self.events), "labels": list(self.labels),
                "data_requirements": [{**d, "value": self.data.get(d["name"], d["value"])}
                                      for d in wf["data_requirements"]],
                "parameters": [self._param_view(p) for p in wf["parameters"]], "policies": {"use_cache": False}}

    def _param_view(self, param: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in param.items() if k != "value"}
        if self.params.get(param["name"]) is not None:
            view["value"] = self.params[param["name"]]
        return view

    def _input_view(self, item: dict[str, Any]) -> dict[str, Any]:
        ref = str(item.get("data", ""))
        name = ref.rsplit("/", 1)[-1]
        outputs = [o for s in self.steps for o in s.spec["outputs"] if o["name"] == name]
        value = self.data.get(name) if ref.startswith("$ref/data_requirements/") else \
            (outputs[0]["config"] if outputs else None)
        return {**item, "value": value}

    def step_view(self, step: StepRun, now: float) -> dict[str, Any]:
        """One step as the API shows it (StepExecution)."""
        spec = step.spec
        view: dict[str, Any] = {
            "step_name": step.name, "execution_name": self.name, "name": f"{self.name}-{step.name}",
            "uuid": step.uuid, "execution_uuid": self.id, "created_at": iso(step.created_at),
            "updated_at": iso(step.updated_at), "duration": step.duration(now), "type": spec["type"],
            "instance_id": step.instance_id, "status": step.status,
            "inputs": [self._input_view(i) for i in spec["inputs"]], "outputs": spec["outputs"],
            "step_uuid": f"{self.workflow['workflow_id']}-{step.name}",
            "properties": {k: self._resolve(v) for k, v in spec["properties"].items()},
            "events": list(step.events), "policy": {}, "step_title": spec["title"], "conditions": []}
        if step.error:
            view["error_info"] = dict(step.error)
        return view

    def _resolve(self, value: str) -> str:
        if value.startswith("$ref/parameters/"):
            found = self.params.get(value.removeprefix("$ref/parameters/"))
            return "" if found is None else str(found)
        return value

    def todo_items(self, now: float) -> list[dict[str, Any]]:
        """The to-do entries of this execution: its steps waiting for a person."""
        return [{"time": iso(s.waiting_since or now), "duration": int(now - (s.waiting_since or now)),
                 "workflow_id": self.workflow["workflow_id"], "workflow_name": self.workflow["name"],
                 "execution_id": self.id, "step_name": s.name, "step_title": s.spec["title"], "status": s.status}
                for s in self.steps if s.status in WAITING]
