"""Workflow execution jobs on ModelArts (v2 workflows API): submit (checked against the workflow), status,
stop, delete, and the execution's events as the log. What a spec may hold is in :mod:`.workflows`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import BackendError, InvalidSpec, NotFound
from ...models import LogChunk, RemoteStatus
from ..base import Submission
from .auth import segment
from .json_fields import as_list
from .workflows import (
    ExecutionPlan,
    check_against,
    create_body,
    event_lines,
    execution_ids,
    execution_remote_id,
    execution_status,
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

    async def _executions(self, workflow_id: str) -> list[dict[str, Any]]:
        """The newest executions of a workflow (at most ``STATUS_PAGES`` pages)."""
        found: list[dict[str, Any]] = []
        for page in range(STATUS_PAGES):
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
