"""What the v1 services API answers: a service's detail and list views, its events, and the app-auth
listings (pure functions over ``Service`` records; bad query values raise ApiError ``ModelArts.0101``)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from .jobs import ApiError
from .listing import int_arg
from .service_body import E_INVALID
from .service_runner import Service

TENANT, OWNER = "sandbox-tenant", "sandbox-owner"
_CONFIG_STATUS = {"deploying": "notReady", "stopping": "notReady", "deleting": "notReady",
                  "pending": "notReady", "waiting": "notReady"}


def _common(svc: Service, project: str) -> dict[str, Any]:
    body = svc.body
    view: dict[str, Any] = {
        "service_id": svc.id, "service_name": svc.name, "description": body["description"],
        "tenant": TENANT, "project": project, "owner": OWNER, "publish_at": svc.created_ms,
        "infer_type": svc.kind, "workspace_id": body["workspace_id"], "status": svc.status,
        "invocation_times": svc.invocation_times, "failed_times": svc.failed_times, "is_shared": False,
        "shared_count": 0, "transition_at": svc.transition_at, "operation_time": svc.update_time,
        "is_free": False, "additional_properties": {},
    }
    if svc.status == "deploying":
        view["progress"] = svc.progress
    if body["schedule"]:
        view["schedule"] = copy.deepcopy(body["schedule"])
    if svc.due_time is not None and svc.status == "running":
        view["due_time"] = svc.due_time
    return view


def detail(svc: Service, project: str) -> dict[str, Any]:
    """``GET …/services/{service_id}`` (call with ``svc.lock`` held)."""
    view = _common(svc, project)
    view.update(update_time=svc.update_time, error_msg=svc.error_msg if svc.status == "failed" else "",
                config=[_config_view(svc, c) for c in svc.body["config"]])
    view["progress"] = svc.progress
    if svc.body["cluster_id"]:
        view["cluster_id"] = svc.body["cluster_id"]
    if svc.kind == "real-time" and svc.status in ("running", "concerning"):
        view["access_address"] = svc.predict_url
    return view


def _config_view(svc: Service, config: dict[str, Any]) -> dict[str, Any]:
    view = copy.deepcopy(config)
    view.update(status=_CONFIG_STATUS.get(svc.status, svc.status), scaling=False, support_debug=False,
                additional_properties={})
    if svc.kind == "batch":
        if svc.start_time is not None:
            view["start_time"] = svc.start_time
        if svc.finished_time is not None:
            view["finished_time"] = svc.finished_time
    return view


def summary(svc: Service, project: str) -> dict[str, Any]:
    """One row of ``GET …/services`` (call with ``svc.lock`` held)."""
    view = _common(svc, project)
    view["is_opened_sample_collection"] = "false"
    if svc.kind == "batch":
        if svc.start_time is not None:
            view["start_time"] = svc.start_time
        if svc.finished_time is not None:
            view["finished_time"] = svc.finished_time
    return view


def _order(args: Mapping[str, str | None], allowed: tuple[str, ...], default_sort: str,
           default_order: str) -> tuple[str, bool]:
    sort_by = args.get("sort_by") or default_sort
    order = args.get("order") or default_order
    if sort_by not in allowed:
        raise ApiError(400, E_INVALID, f"Invalid Argument: sort_by {sort_by!r} must be one of {', '.join(allowed)}")
    if order not in ("asc", "desc"):
        raise ApiError(400, E_INVALID, f"Invalid Argument: order {order!r} must be asc or desc")
    return sort_by, order == "desc"


def _page(rows: list[Any], args: Mapping[str, str | None]) -> list[Any]:
    """``offset`` is a page index, ``limit`` the page size (default 1000)."""
    offset = int_arg(args.get("offset"), "offset", 0, 0, None, E_INVALID)
    limit = int_arg(args.get("limit"), "limit", 1000, 1, None, E_INVALID)
    return rows[offset * limit:(offset + 1) * limit]


_SERVICE_FILTERS: dict[str, Callable[[dict[str, Any], Service], Any]] = {
    "service_id": lambda v, s: v["service_id"],
    "service_name": lambda v, s: v["service_name"],
    "infer_type": lambda v, s: v["infer_type"],
    "status": lambda v, s: v["status"],
    "workspace_id": lambda v, s: v["workspace_id"],
}


def list_services(rows: list[tuple[dict[str, Any], Service]], args: Mapping[str, str | None]) -> dict[str, Any]:
    """``GET …/services``: filters, sort, page. ``rows`` are (summary view, service) pairs."""
    sort_by, desc = _order(args, ("publish_at", "service_name", "transition_at"), "publish_at", "desc")
    kept = [(v, s) for v, s in rows
            if all(not args.get(k) or get(v, s) == args[k] for k, get in _SERVICE_FILTERS.items())
            and (not args.get("model_id") or any(c["model_id"] == args["model_id"] for c in s.body["config"]))]
    kept.sort(key=lambda pair: (pair[0][sort_by], pair[1].created_seq), reverse=desc)
    page = _page([v for v, _ in kept], args)
    return {"total_count": len(kept), "count": len(page), "services": page}


def _time_arg(args: Mapping[str, str | None], name: str) -> int | None:
    value = args.get(name)
    return None if value in (None, "") else int_arg(value, name, 0, 0, None, E_INVALID)


def _event_filter(args: Mapping[str, str | None]) -> Callable[[dict[str, Any]], bool]:
    kind, info = args.get("event_type"), args.get("event_info")
    if kind and kind not in ("normal", "abnormal"):
        raise ApiError(400, E_INVALID, f"Invalid Argument: event_type {kind!r} must be normal or abnormal")
    start, end = _time_arg(args, "start_time"), _time_arg(args, "end_time")
    low, high = start if start is not None else 0, end if end is not None else 2 ** 63

    def keep(event: dict[str, Any]) -> bool:
        return ((not kind or event["event_type"] == kind) and (not info or info in event["event_info"])
                and low <= event["occur_time"] <= high)

    return keep


def list_events(svc: Service, args: Mapping[str, str | None]) -> dict[str, Any]:
    """``GET …/services/{service_id}/events`` (call with ``svc.lock`` held)."""
    _, desc = _order(args, ("occur_time",), "occur_time", "desc")
    keep = _event_filter(args)
    ordered = sorted(enumerate(svc.events), key=lambda p: (p[1]["occur_time"], p[0]), reverse=desc)
    rows = [dict(e) for _, e in ordered if keep(e)]
    page = _page(rows, args)
    return {"service_id": svc.id, "service_name": svc.name, "total_count": len(rows), "count": len(page),
            "events": page}


def api_view(svc: Service) -> dict[str, Any]:
    """The APIG API of a real-time service (app authentication)."""
    return {"api_id": svc.api_id, "api_name": f"infer_{svc.name}".replace("-", "_"), "api_method": "ANY",
            "api_remark": f"inference API of service {svc.name}", "auth_type": "APP",
            "predict_url": svc.predict_url, "service_id": svc.id, "service_name": svc.name,
            "support_app_code": True}


def list_auth_apis(apis: list[dict[str, Any]], args: Mapping[str, str | None]) -> dict[str, Any]:
    """``GET app-auth/apps/{app_id}/auth-apis``: ``service_name`` matches a part, page by page index."""
    _order(args, ("app_name", "created_at", "updated_at", "name"), "name", "asc")
    part = args.get("service_name")
    rows = sorted((a for a in apis if not part or part in a["service_name"]),
                  key=lambda a: (a["api_name"], a["api_id"]), reverse=(args.get("order") == "desc"))
    page = _page(rows, args)
    return {"apis": page, "count": len(page), "total_count": len(rows)}


def list_api_auths(apps: list[dict[str, Any]], authed: set[str], args: Mapping[str, str | None]) -> dict[str, Any]:
    """``GET …/app-auth-apis/{api_id}/api-auths``: every visible app and whether it may call the API."""
    sort_by, desc = _order(args, ("app_name", "created_at", "updated_at"), "app_name", "asc")
    show_only = args.get("show_only")
    if show_only and show_only not in ("AUTH", "UNAUTH"):
        raise ApiError(400, E_INVALID, f"Invalid Argument: show_only {show_only!r} must be AUTH or UNAUTH")
    part = args.get("app_name")
    visible = sorted((a for a in apps if not part or part in a["app_name"]),
                     key=lambda a: (a[sort_by], a["app_id"]), reverse=desc)
    rows = [{"app": dict(a), "authed": a["app_id"] in authed} for a in visible
            if not show_only or (a["app_id"] in authed) == (show_only == "AUTH")]
    page = _page(rows, args)
    return {"auths": page, "count": len(page), "total_count": len(rows)}
