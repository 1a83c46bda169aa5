"""Workflow schedules: the checked body (WorkflowSchedule / WorkflowScheduleUpdate) and the cron's next
firing time. The cron has six fields, seconds first (``0 0 0 * * Thu,Tue``), read in the service's time
zone (+08:00) by croniter."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from .workflow_common import SERVICE_TZ, USER_ID, bad, iso, obj, opt_bool

METHODS = ("fixed",)
DEFAULT_POLICIES = {"on_failure": "retry", "on_running": "cancel"}


def check_cron(value: Any) -> str:
    """A six-field cron (seconds first), else a 400 naming ``content.cron``."""
    if not isinstance(value, str) or len(value.split()) != 6 or not croniter.is_valid(value,
                                                                                       second_at_beginning=True):
        raise bad("content.cron", f"{value!r} is not a cron of six fields, seconds first "
                                  "(e.g. '0 0 0 * * Thu,Tue')")
    return " ".join(value.split())


def next_fire(cron: str, after: float) -> float:
    """The first time (epoch seconds) strictly after ``after`` that ``cron`` names."""
    start = dt.datetime.fromtimestamp(after, SERVICE_TZ)
    return float(croniter(cron, start, second_at_beginning=True).get_next(float))


def _content(value: Any, base: dict[str, str] | None) -> dict[str, str]:
    given = obj(value, "content", required=base is None)
    merged = {**(base or {}), **given}
    method = merged.get("method", "fixed")
    if method not in METHODS:
        raise bad("content.method", f"{method!r} must be one of {', '.join(METHODS)}")
    return {"cron": check_cron(merged.get("cron")), "method": method}


def _policies(value: Any) -> dict[str, str]:
    given = obj(value, "policies")
    for key, item in given.items():
        if key not in DEFAULT_POLICIES or not isinstance(item, str):
            raise bad(f"policies.{key}", "must be on_failure or on_running, a string")
    return {**DEFAULT_POLICIES, **given}


def _fixed(body: dict[str, Any], key: str, allowed: str) -> str:
    value = body.get(key, allowed)
    if value != allowed:
        raise bad(key, f"{value!r} is not supported: only {allowed!r}")
    return allowed


@dataclass
class Schedule:
    """One schedule of one workflow."""

    workflow_id: str
    content: dict[str, str]
    policies: dict[str, str]
    enable: bool
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = field(default_factory=time.time)

    def view(self) -> dict[str, Any]:
        return {"created_at": iso(self.created_at), "uuid": self.uuid, "type": "time",
                "content": dict(self.content), "action": "run", "policies": dict(self.policies),
                "workflow_id": self.workflow_id, "user_id": USER_ID, "enable": self.enable}

    def update(self, body: Any) -> None:
        """Apply a WorkflowScheduleUpdate body ({content?, enable?}); checked before anything changes."""
        body = obj(body, "body", required=True)
        content = _content(body["content"], self.content) if body.get("content") is not None else self.content
        enable = opt_bool(body, "enable", "enable")
        self.content = content
        if enable is not None:
            self.enable = enable


def new_schedule(body: Any, workflow_id: str) -> Schedule:
    """A schedule from a create body (type "time", content {cron, method}, action "run", policies, enable)."""
    body = obj(body, "body", required=True)
    _fixed(body, "type", "time")
    _fixed(body, "action", "run")
    enable = opt_bool(body, "enable", "enable")
    return Schedule(workflow_id=workflow_id, content=_content(body.get("content"), None),
                    policies=_policies(body.get("policies")), enable=True if enable is None else enable)
