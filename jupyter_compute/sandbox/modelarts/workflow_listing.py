"""Listings of the workflows API: workflows (name filter equal/contain), executions and step executions.
``offset`` is an ITEM offset (rows 20-29 are offset=20, limit=10); no limit means every row. Pure
functions over views; a bad query value is a 400 naming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .listing import int_arg
from .workflow_common import E_WF_PARAM, bad

EXECUTION_STATES = ("init", "running", "completed", "stopped", "abnormal")
_WORKFLOW_SORTS = {"create_time": "created_at", "name": "name", "last_modified_time": "last_modified_at"}
_EXECUTION_SORTS = {"create_time": "created_at", "name": "name", "status": "status", "duration": "duration"}
_STEP_SORTS = {"create_time": "created_at", "step_name": "step_name", "status": "status", "duration": "duration"}


def _page(rows: list[dict[str, Any]], args: Mapping[str, str | None]) -> dict[str, Any]:
    offset = int_arg(args.get("offset"), "offset", 0, 0, None, E_WF_PARAM)
    limit = int_arg(args.get("limit"), "limit", 0, 1, None, E_WF_PARAM)
    page = rows[offset:offset + limit] if limit else rows[offset:]
    return {"total": len(rows), "count": len(page), "items": page}


def _choice(args: Mapping[str, str | None], key: str, choices: Any, default: str) -> str:
    value = args.get(key) or default
    if value not in choices:
        raise bad(key, f"{value!r} must be one of {', '.join(choices)}")
    return value


def _labels(args: Mapping[str, str | None]) -> set[str]:
    return {x.strip() for x in (args.get("labels") or "").split(",") if x.strip()}


def _sorted(rows: list[dict[str, Any]], key: str, id_key: str, descending: bool) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r[key], r[id_key]), reverse=descending)


def _name_matches(name: str, wanted: str | None, how: str) -> bool:
    return not wanted or (wanted == name if how == "equal" else wanted.lower() in name.lower())


def _status_arg(args: Mapping[str, str | None]) -> str | None:
    status = args.get("status")
    if status and status not in EXECUTION_STATES:
        raise bad("status", f"{status!r} must be one of {', '.join(EXECUTION_STATES)}")
    return status


def _workflow_matches(w: dict[str, Any], args: Mapping[str, str | None], how: str, status: str | None,
                      labels: set[str]) -> bool:
    return (_name_matches(w["name"], args.get("name"), how)
            and (args.get("description") or "") in w["description"]
            and (not status or (w["latest_execution"] or {}).get("status") == status)
            and labels <= set(w["labels"])
            and (not args.get("template_id") or w["exeml_template_id"] == args["template_id"]))


def list_workflows(views: list[dict[str, Any]], args: Mapping[str, str | None]) -> dict[str, Any]:
    """GET /workflows: filters name (``search_type`` equal | contain, default equal), description (contains),
    status (of the latest execution), labels (comma-separated, all wanted), template_id; sort, page."""
    how = _choice(args, "search_type", ("equal", "contain"), "equal")
    sort_by = _choice(args, "sort_by", _WORKFLOW_SORTS, "create_time")
    status, labels = _status_arg(args), _labels(args)
    rows = [w for w in views if _workflow_matches(w, args, how, status, labels)]
    return _page(_sorted(rows, _WORKFLOW_SORTS[sort_by], "workflow_id", sort_by != "name"), args)


def _execution_matches(e: dict[str, Any], args: Mapping[str, str | None], status: str | None,
                       labels: set[str]) -> bool:
    return ((not status or e["status"] == status) and labels <= set(e["labels"])
            and (not args.get("workspace_id") or e["workspace_id"] == args["workspace_id"])
            and (not args.get("scene_id") or e["scene_id"] == args["scene_id"]))


def list_executions(views: list[dict[str, Any]], args: Mapping[str, str | None]) -> dict[str, Any]:
    """GET /workflows/{id}/executions: filters status, labels (all wanted), workspace_id, scene_id; sort_by
    create_time | name | status | duration, order desc | asc (default desc); page."""
    sort_by = _choice(args, "sort_by", _EXECUTION_SORTS, "create_time")
    order = _choice(args, "order", ("desc", "asc"), "desc")
    status, labels = _status_arg(args), _labels(args)
    rows = [e for e in views if _execution_matches(e, args, status, labels)]
    return _page(_sorted(rows, _EXECUTION_SORTS[sort_by], "execution_id", order == "desc"), args)


def list_step_executions(views: list[dict[str, Any]], args: Mapping[str, str | None]) -> dict[str, Any]:
    """GET /workflows/{id}/step-executions: every step of every execution; sort, order, page."""
    sort_by = _choice(args, "sort_by", _STEP_SORTS, "create_time")
    order = _choice(args, "order", ("desc", "asc"), "desc")
    answer = _page(_sorted(views, _STEP_SORTS[sort_by], "uuid", order == "desc"), args)
    return {**answer, "default_order": "desc", "compare_columns": {"parameters": [], "metrics": []}}
