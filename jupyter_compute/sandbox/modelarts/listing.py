"""Listings of the ModelArts sandbox: v1 clusters (page-index paging), v2 pools (filters), the apps of
app authentication (item offset) and training-job searches (filters, stable sort, page index). Pure
functions; bad values raise ApiError."""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Any

from . import seed
from .jobs import E_BAD_PARAM, ApiError, Job, is_int

E_CLUSTER_PARAM = "ModelArts.0101"
E_POOL_BAD_REQUEST = "ModelArts.50004000"


def int_arg(value: str | None, name: str, default: int, low: int, high: int | None, code: str) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError(400, code, f"Invalid parameter {name}: {value!r} must be an integer {bounds}")
    return number


def list_clusters(clusters: list[dict[str, Any]], args: Mapping[str, str | None]) -> dict[str, Any]:
    """The v1 cluster listing: filters, sort, then a page (``offset`` is a page index)."""
    offset = int_arg(args.get("offset"), "offset", 0, 0, None, E_CLUSTER_PARAM)
    limit = int_arg(args.get("limit"), "limit", 1000, 1, None, E_CLUSTER_PARAM)
    sort_by = args.get("sort_by") or "created_at"
    order = args.get("order") or "desc"
    if sort_by not in ("created_at", "cluster_name"):
        raise ApiError(400, E_CLUSTER_PARAM, f"Invalid parameter sort_by: {sort_by!r} must be created_at or "
                                             "cluster_name")
    if order not in ("asc", "desc"):
        raise ApiError(400, E_CLUSTER_PARAM, f"Invalid parameter order: {order!r} must be asc or desc")
    rows = [c for c in clusters
            if (not args.get("cluster_name") or c["cluster_name"] == args["cluster_name"])
            and (not args.get("status") or c["status"] == args["status"])]
    rows.sort(key=lambda c: (c[sort_by], c["cluster_id"]), reverse=order == "desc")
    page = rows[offset * limit:(offset + 1) * limit]
    return {"total_count": len(rows), "count": len(page), "clusters": page}


_SELECTOR_OPS = (("!=", False), ("==", True), ("=", True))
_POOL_STATES = ("created", "failed", "creating")


def _selector_term(part: str, text: str) -> tuple[str, str, bool]:
    """``key=value``, ``key==value`` or ``key!=value`` → (key, value, whether equal is wanted)."""
    found = next(((op, equal) for op, equal in _SELECTOR_OPS if op in part), None)
    key, _, value = part.partition(found[0]) if found else ("", "", "")
    if found is None or not key.strip():
        raise ApiError(400, E_POOL_BAD_REQUEST, f"Bad request. invalid labelSelector {text!r}: each term "
                                                "must be key=value or key!=value")
    return key.strip(), value.strip(), found[1]


def _label_selector(text: str) -> list[tuple[str, str, bool]]:
    return [_selector_term(part.strip(), text) for part in text.split(",")]


def _pool_matches(pool: dict[str, Any], workspace: str | None, status: str | None,
                  terms: list[tuple[str, str, bool]]) -> bool:
    labels = pool["metadata"]["labels"]
    if workspace and labels.get("os.modelarts/workspace.id") != workspace:
        return False
    if status and seed.pool_state(pool) != status:
        return False
    return all((labels.get(k) == v) == equal for k, v, equal in terms)


def list_pools(pools: list[dict[str, Any]], args: Mapping[str, str | None]) -> dict[str, Any]:
    """The v2 pool listing with its three filters (no paging)."""
    status = args.get("status")
    if status and status not in _POOL_STATES:
        raise ApiError(400, E_POOL_BAD_REQUEST, f"Bad request. invalid status {status!r}: use created, "
                                                "failed or creating")
    selector = args.get("labelSelector")
    terms = _label_selector(selector) if selector else []
    items = [pool for pool in pools if _pool_matches(pool, args.get("workspaceId"), status, terms)]
    return {"apiVersion": "v2", "kind": "PoolList", "items": items}


def list_apps(apps: list[dict[str, Any]], args: Mapping[str, str | None]) -> dict[str, Any]:
    """``GET app-auth/apps``: filter by ``app_name``, sort, then ``limit`` apps from item ``offset``."""
    offset = int_arg(args.get("offset"), "offset", 0, 0, None, E_CLUSTER_PARAM)
    limit = int_arg(args.get("limit"), "limit", 1000, 1, None, E_CLUSTER_PARAM)
    sort_by = args.get("sort_by") or "created_at"
    order = args.get("order") or "desc"
    if sort_by not in ("app_name", "created_at", "updated_at"):
        raise ApiError(400, E_CLUSTER_PARAM, f"Invalid parameter sort_by: {sort_by!r} must be app_name, "
                                             "created_at or updated_at")
    if order not in ("asc", "desc"):
        raise ApiError(400, E_CLUSTER_PARAM, f"Invalid parameter order: {order!r} must be asc or desc")
    rows = [a for a in apps if not args.get("app_name") or a["app_name"] == args["app_name"]]
    rows.sort(key=lambda a: (a[sort_by], a["app_id"]), reverse=order == "desc")
    page = rows[offset:offset + limit]
    return {"apps": page, "count": len(page), "total_count": len(rows)}


_SEARCH_SORT = {"create_time": lambda j: j.created_ms, "name": lambda j: j.name.lower(),
                "duration": lambda j: j.duration_ms()}


def _check_filter(i: int, item: Any) -> tuple[str, str, list[Any]]:
    where = f"filters[{i}]"
    if not isinstance(item, dict):
        raise ApiError(400, E_BAD_PARAM, f"Invalid parameter {where}: must be {{key, operator, value}}")
    key, op, value = item.get("key"), item.get("operator", "in"), item.get("value")
    allowed = {"name": ("like", "in", "not"), "phase": ("in", "not"), "create_time": ("between",)}
    if key not in allowed:
        raise ApiError(400, E_BAD_PARAM, f"Invalid parameter {where}.key: {key!r} must be one of {sorted(allowed)}")
    if op not in allowed[key]:
        raise ApiError(400, E_BAD_PARAM, f"Invalid parameter {where}.operator: {op!r} is not usable with {key} "
                                         f"(use {', '.join(allowed[key])})")
    if not isinstance(value, list) or not value:
        raise ApiError(400, E_BAD_PARAM, f"Invalid parameter {where}.value: a non-empty list is required")
    if key == "create_time" and (len(value) != 2 or not all(isinstance(v, int) for v in value)):
        raise ApiError(400, E_BAD_PARAM, f"Invalid parameter {where}.value: between needs [from_ms, to_ms]")
    return key, op, value


def _matches(job: Job, key: str, op: str, value: list[Any]) -> bool:
    if key == "name":
        words = [str(v).lower() for v in value]
        name = job.name.lower()
        hit = any(w in name for w in words) if op == "like" else name in words
        return not hit if op == "not" else hit
    if key == "phase":
        hit = job.phase.lower() in {str(v).lower() for v in value}
        return not hit if op == "not" else hit
    return value[0] <= job.created_ms <= value[1]


def _search_page(body: dict[str, Any]) -> tuple[int, int]:
    """(offset, limit) of a search: a page index and a page size of 1 to 50."""
    offset, limit = body.get("offset", 0), body.get("limit", 10)
    if not is_int(offset) or offset < 0:
        raise ApiError(400, E_BAD_PARAM, "Invalid parameter offset: must be a page index (an integer >= 0)")
    if not is_int(limit) or not 1 <= limit <= 50:
        raise ApiError(400, E_BAD_PARAM, "Invalid parameter limit: must be an integer from 1 to 50")
    return offset, limit


def _search_order(body: dict[str, Any]) -> tuple[str, str]:
    """(sort_by, order) of a search."""
    sort_by, order = body.get("sort_by") or "create_time", body.get("order") or "desc"
    if sort_by not in _SEARCH_SORT:
        raise ApiError(400, E_BAD_PARAM, f"Invalid parameter sort_by: {sort_by!r} must be one of "
                                         f"{sorted(_SEARCH_SORT)}")
    if order not in ("asc", "desc"):
        raise ApiError(400, E_BAD_PARAM, f"Invalid parameter order: {order!r} must be asc or desc")
    return sort_by, order


def _search_filters(body: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    filters = body.get("filters") or []
    if not isinstance(filters, list):
        raise ApiError(400, E_BAD_PARAM, "Invalid parameter filters: must be a list")
    return [_check_filter(i, f) for i, f in enumerate(filters)]


def _found(jobs: list[Job], workspace: Any, filters: list[tuple[str, str, list[Any]]]) -> list[Job]:
    """The jobs in ``workspace`` that pass every filter."""
    if workspace in (None, "") and not filters:
        return list(jobs)
    found = []
    for job in jobs:
        with job.lock:
            if workspace not in (None, "") and job.body["metadata"]["workspace_id"] != workspace:
                continue
            if all(_matches(job, k, op, v) for k, op, v in filters):
                found.append(job)
    return found


def _view(job: Job) -> dict[str, Any]:
    with job.lock:
        return job.view()


def search_jobs(jobs: list[Job], body: Any) -> dict[str, Any]:
    """``training-job-searches``: filter, sort (stable), then the page ``offset`` of ``limit`` jobs."""
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise ApiError(400, E_BAD_PARAM, "Invalid parameter body: the request body must be a JSON object")
    offset, limit = _search_page(body)
    sort_by, order = _search_order(body)
    found = _found(jobs, body.get("workspace_id"), _search_filters(body))
    # by (sort key, creation order) in two stable sorts: no tuple per job (thousands of them a page keep the
    # garbage collector busy)
    found.sort(key=attrgetter("seq"), reverse=order == "desc")
    found.sort(key=_SEARCH_SORT[sort_by], reverse=order == "desc")
    page = [_view(job) for job in found[offset * limit:(offset + 1) * limit]]  # only the page is shown
    return {"total": len(found), "count": len(page), "limit": limit, "offset": offset, "sort_by": sort_by,
            "order": order, "group_by": body.get("group_by") or "", "items": page}
