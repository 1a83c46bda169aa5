"""Workflow execution jobs on ModelArts (v2 workflows API): submit (checked against the workflow), status,
stop, delete, and the execution's events as the log. What a spec may hold is in :mod:`.workflows`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import BackendError, InvalidSpec, NotFound, NotSupported
from ...models import JobSpec, LogChunk, RemoteStatus
from ..base import DiscoveredJob, JobDetail, Submission
from .auth import segment
from .json_fields import as_list
from .workflows import (
    WORKFLOW,
    ExecutionPlan,
    action_values,
    check_against,
    create_body,
    event_lines,
    execution_ids,
    execution_remote_id,
    execution_facts,
    execution_status,
    is_execution,
    offered_actions,
    schedule_of,
    waiting_step,
)

if TYPE_CHECKING:
    from .backend import ModelArtsBackend

#: Executions asked for per page of a workflow's execution list (``offset`` is an item offset).
EXECUTION_PAGE = 100
#: Pages of a workflow's executions one status refresh reads at most (newest first).
STATUS_PAGES = 5


class WorkflowJobs:
    """The workflow execution job kind of one ModelArts backend."""

    def __init__(self, backend: ModelArtsBackend) -> None:
        self.backend = backend

    def _path(self, workflow_id: str, *parts: str) -> str:
        return self.backend._path("v2", "workflows", segment(workflow_id), *parts)

    async def workflow(self, workflow_id: str) -> dict[str, Any]:
        try:
            data = await self.backend._json("GET", self._path(workflow_id), what=f"reading workflow {workflow_id}")
        except NotFound:
            raise InvalidSpec(f"ModelArts has no workflow '{workflow_id}'", field="extra.workflow_id",
                              backend=self.backend.name) from None  # fmt: skip
        return data if isinstance(data, dict) else {}

    async def submit(self, plan: ExecutionPlan, job_id: str) -> Submission:
        """Check the spec against the workflow's declarations, then start an execution."""
        b = self.backend
        check_against(plan, await self.workflow(plan.workflow_id))
        data = await b._json("POST", self._path(plan.workflow_id, "executions"),
                             what=f"starting an execution of workflow {plan.workflow_id}",
                             json_body=create_body(plan, job_id),
                             field_hints=(("parameters", "params"), ("data_requirements", "inputs")))  # fmt: skip
        execution_id = data.get("execution_id") if isinstance(data, dict) else None
        if not isinstance(execution_id, str) or not execution_id:
            raise BackendError("ModelArts started the execution but answered no execution_id", backend=b.name)
        b.log.info("modelarts backend '%s': job %s is execution %s of workflow %s", b.name, job_id, execution_id,
                   plan.workflow_id)  # fmt: skip
        return Submission(execution_remote_id(plan.workflow_id, execution_id), execution_status(data, b._scrub))

    async def show(self, remote_id: str) -> dict[str, Any]:
        workflow_id, execution_id = execution_ids(remote_id)
        data = await self.backend._json("GET", self._path(workflow_id, "executions", segment(execution_id)),
                                        what=f"reading execution {execution_id}")  # fmt: skip
        if not isinstance(data, dict):
            raise BackendError(f"ModelArts answered execution {execution_id} with no execution object",
                               backend=self.backend.name)  # fmt: skip
        return data

    async def status(self, remote_id: str) -> RemoteStatus:
        return execution_status(await self.show(remote_id), self.backend._scrub)

    async def _executions(self, workflow_id: str, pages: int = STATUS_PAGES) -> list[dict[str, Any]]:
        """The newest executions of a workflow (at most ``pages`` pages)."""
        found: list[dict[str, Any]] = []
        for page in range(pages):
            data = await self.backend._json(
                "GET", self._path(workflow_id, "executions"), what=f"listing the executions of {workflow_id}",
                params=[("offset", page * EXECUTION_PAGE), ("limit", EXECUTION_PAGE)],
            )  # fmt: skip
            items = [i for i in as_list(data.get("items") if isinstance(data, dict) else None) if isinstance(i, dict)]
            found.extend(items)
            if len(items) < EXECUTION_PAGE:
                break
        return found

    async def status_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteStatus]:
        """One listing per workflow; an id left out is asked for alone by the monitor."""
        by_workflow: dict[str, set[str]] = defaultdict(set)
        for remote_id in remote_ids:
            workflow_id, execution_id = execution_ids(remote_id)
            by_workflow[workflow_id].add(execution_id)
        found: dict[str, RemoteStatus] = {}
        for workflow_id, wanted in by_workflow.items():
            for item in await self._executions(workflow_id):
                if item.get("execution_id") in wanted:
                    remote_id = execution_remote_id(workflow_id, item["execution_id"])
                    found[remote_id] = execution_status(item, self.backend._scrub)
        return found

    async def cancel(self, remote_id: str) -> None:
        workflow_id, execution_id = execution_ids(remote_id)
        await self.backend._call("POST", self._path(workflow_id, "executions", segment(execution_id), "actions"),
                                 what=f"stopping execution {execution_id}", json_body={"action_name": "stop"})

    async def delete(self, remote_id: str) -> None:
        """Stop a running execution first (the platform deletes finished ones only), then delete it."""
        if not (await self.status(remote_id)).state.is_terminal:
            await self.cancel(remote_id)
        workflow_id, execution_id = execution_ids(remote_id)
        await self.backend._call("DELETE", self._path(workflow_id, "executions", segment(execution_id)),
                                 what=f"deleting execution {execution_id}")  # fmt: skip

    async def logs(self, remote_id: str, offset: int = 0) -> LogChunk:
        """The execution's events from byte ``offset``; complete once it ended."""
        execution = await self.show(remote_id)
        data = self.backend._scrub(event_lines(execution)).encode()
        start = min(max(0, offset), len(data))
        done = execution_status(execution).state.is_terminal
        return LogChunk(data[start:].decode(errors="replace"), len(data), complete=done)

    async def output_folders(self, remote_id: str) -> dict[str, str]:
        """None: a workflow's steps keep their outputs themselves (the detail names the steps)."""
        return {}

    # detail and actions ----------------------------------------------------------------
    async def _schedules(self, workflow_id: str) -> list[dict[str, Any]]:
        data = await self.backend._json("GET", self._path(workflow_id, "schedules"),
                                        what=f"reading the schedules of workflow {workflow_id}")  # fmt: skip
        return [s for s in as_list(data.get("schedules") if isinstance(data, dict) else None) if isinstance(s, dict)]

    async def detail(self, remote_id: str) -> JobDetail:
        """The execution's steps, parameters, to-do item and its workflow's schedules; the actions it offers."""
        execution = await self.show(remote_id)
        workflow_id, _ = execution_ids(remote_id)
        facts = execution_facts(execution, await self._schedules(workflow_id))
        return JobDetail(facts, offered_actions(execution))

    async def act(self, remote_id: str, action: str, values: Mapping[str, Any]) -> RemoteStatus:
        """``continue`` a waiting step (with its missing inputs), ``rerun`` an ended execution, or set the
        workflow's ``schedule``."""
        execution = await self.show(remote_id)
        offered = {a.name: a for a in offered_actions(execution)}
        if action not in offered:
            raise NotSupported(f"execution {execution_ids(remote_id)[1]} offers no action '{action}' now "
                               f"(it offers: {', '.join(offered) or 'none'})", backend=self.backend.name)
        checked = action_values(offered[action], values)
        if action == "continue":
            await self._continue(remote_id, execution, checked)
        elif action == "rerun":
            await self._execution_action(remote_id, {"action_name": "rerun"})
        else:
            await self._set_schedule(execution_ids(remote_id)[0], checked)
        return await self.status(remote_id)

    async def _execution_action(self, remote_id: str, body: dict[str, Any]) -> None:
        workflow_id, execution_id = execution_ids(remote_id)
        await self.backend._call("POST", self._path(workflow_id, "executions", segment(execution_id), "actions"),
                                 what=f"{body['action_name']} of execution {execution_id}", json_body=body)

    async def _continue(self, remote_id: str, execution: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        step = waiting_step(execution)
        workflow_id, execution_id = execution_ids(remote_id)
        uuid = str((step or {}).get("uuid") or "")
        body: dict[str, Any] = {"action_name": "continue"}
        if values:
            body["parameters"] = [{"name": n, "value": v} for n, v in values.items()]
        await self.backend._call(
            "POST", self._path(workflow_id, "executions", segment(execution_id), "step-executions", segment(uuid),
                               "actions"),
            what=f"answering step {(step or {}).get('step_name')} of execution {execution_id}", json_body=body,
            field_hints=(("parameters", "values"),),
        )  # fmt: skip

    async def _set_schedule(self, workflow_id: str, values: Mapping[str, Any]) -> None:
        """Update the workflow's first schedule, or make one."""
        content = {"cron": values["cron"], "method": "fixed"}
        enable = bool(values.get("enable", True))
        hints = (("cron", "cron"),)
        existing = await self._schedules(workflow_id)
        if existing:
            uuid = str(existing[0].get("uuid") or "")
            await self.backend._call("PUT", self._path(workflow_id, "schedules", segment(uuid)),
                                     what=f"setting the schedule of workflow {workflow_id}",
                                     json_body={"content": content, "enable": enable}, field_hints=hints)
            return
        await self.backend._call("POST", self._path(workflow_id, "schedules"),
                                 what=f"making a schedule for workflow {workflow_id}", field_hints=hints,
                                 json_body={"type": "time", "content": content, "action": "run", "enable": enable})

    # discovery -------------------------------------------------------------------------
    async def discover(self, known: Collection[str], watched: Collection[str]) -> list[DiscoveredJob]:
        """Executions a schedule started (labelled so) in the workflows of ``known`` executions and
        ``watched`` workflows, not among ``known``."""
        workflows = {execution_ids(r)[0] for r in known if is_execution(r)} | set(watched)
        found = []
        for workflow_id in sorted(workflows):
            for item in await self._executions(workflow_id, pages=1):
                job = self._discovered(workflow_id, item)
                if job is not None and job.remote_id not in known:
                    found.append(job)
        return found

    def _discovered(self, workflow_id: str, item: Mapping[str, Any]) -> DiscoveredJob | None:
        """The execution as a job to record, when a schedule started it."""
        execution_id, schedule = item.get("execution_id"), schedule_of(item)
        if not schedule or not isinstance(execution_id, str):
            return None
        name = f"{item.get('workflow_name') or workflow_id} (scheduled)"
        spec = JobSpec(backend=self.backend.name, name=name, extra={"kind": WORKFLOW, "workflow_id": workflow_id})
        return DiscoveredJob(execution_remote_id(workflow_id, execution_id), name,
                             execution_status(item, self.backend._scrub), ["scheduled", f"schedule:{schedule}"], spec)
