"""The tornado handlers of the workflows API: thin (parse, call ``sb.workflows``, answer). Routes are in
``routes``; the behaviour is documented in ``workflows``."""

from __future__ import annotations

from typing import Any

from .handlers import Api

_WF_QUERY = ("name", "description", "status", "labels", "template_id", "limit", "offset", "sort_by", "search_type")
_EXEC_QUERY = ("workspace_id", "limit", "sort_by", "offset", "labels", "status", "scene_id", "order")


class WorkflowsHandler(Api):
    def get(self, _project: str) -> None:
        self.send(200, self.sb.workflows.list_workflows(self.args(*_WF_QUERY)))


class WorkflowHandler(Api):
    def get(self, _project: str, workflow_id: str) -> None:
        self.send(200, self.sb.workflows.show_workflow(workflow_id))


class TodoHandler(Api):
    def get(self, _project: str) -> None:
        self.send(200, self.sb.workflows.todolist(self.get_query_argument("workspace_id", None)))


class ExecutionsHandler(Api):
    def get(self, _project: str, workflow_id: str) -> None:
        self.send(200, self.sb.workflows.list_executions(workflow_id, self.args(*_EXEC_QUERY)))

    def post(self, _project: str, workflow_id: str) -> None:
        self.send(201, self.sb.workflows.create_execution(workflow_id, self.json_body()))


class ExecutionHandler(Api):
    def get(self, _project: str, workflow_id: str, execution_id: str) -> None:
        self.send(200, self.sb.workflows.show_execution(workflow_id, execution_id))

    def put(self, _project: str, workflow_id: str, execution_id: str) -> None:
        self.send(200, self.sb.workflows.update_execution(workflow_id, execution_id, self.json_body()))

    def delete(self, _project: str, workflow_id: str, execution_id: str) -> None:
        self.sb.workflows.delete_execution(workflow_id, execution_id)
        self.send(200)


class ExecutionActionsHandler(Api):
    def post(self, _project: str, workflow_id: str, execution_id: str) -> None:
        self.send(201, self.sb.workflows.execution_action(workflow_id, execution_id, self.json_body()))


class StepActionsHandler(Api):
    def post(self, _project: str, workflow_id: str, execution_id: str, step_id: str) -> None:
        self.send(201, self.sb.workflows.step_action(workflow_id, execution_id, step_id, self.json_body()))


class StepExecutionsHandler(Api):
    def get(self, _project: str, workflow_id: str) -> None:
        self.send(200, self.sb.workflows.list_step_executions(workflow_id,
                                                              self.args("limit", "offset", "order", "sort_by")))


class SchedulesHandler(Api):
    def get(self, _project: str, workflow_id: str) -> None:
        self.send(200, self.sb.workflows.list_schedules(workflow_id))

    def post(self, _project: str, workflow_id: str) -> None:
        self.send(201, self.sb.workflows.create_schedule(workflow_id, self.json_body()))


class ScheduleHandler(Api):
    def get(self, _project: str, workflow_id: str, schedule_id: str) -> None:
        self.send(200, self.sb.workflows.show_schedule(workflow_id, schedule_id))

    def put(self, _project: str, workflow_id: str, schedule_id: str) -> None:
        self.send(200, self.sb.workflows.update_schedule(workflow_id, schedule_id, self.json_body()))

    def delete(self, _project: str, workflow_id: str, schedule_id: str) -> None:
        self.sb.workflows.delete_schedule(workflow_id, schedule_id)
        self.send(200)


def routes(handler_args: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The workflows API's routes (``/workflows/todolist`` before ``/workflows/{id}``)."""
    p, rid = r"([^/]+)", r"([^/]+)"
    wf = rf"/v2/{p}/workflows"
    ex = rf"{wf}/{rid}/executions"
    return [
        (rf"{wf}/?", WorkflowsHandler, handler_args),
        (rf"{wf}/todolist/?", TodoHandler, handler_args),
        (rf"{wf}/{rid}/?", WorkflowHandler, handler_args),
        (rf"{ex}/?", ExecutionsHandler, handler_args),
        (rf"{ex}/{rid}/?", ExecutionHandler, handler_args),
        (rf"{ex}/{rid}/actions/?", ExecutionActionsHandler, handler_args),
        (rf"{ex}/{rid}/step-executions/{rid}/actions/?", StepActionsHandler, handler_args),
        (rf"{wf}/{rid}/step-executions/?", StepExecutionsHandler, handler_args),
        (rf"{wf}/{rid}/schedules/?", SchedulesHandler, handler_args),
        (rf"{wf}/{rid}/schedules/{rid}/?", ScheduleHandler, handler_args),
    ]
