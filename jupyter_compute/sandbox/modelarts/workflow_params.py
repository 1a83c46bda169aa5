"""The checks of an execution's inputs against its workflow: typed parameters (``parameters``: [{name,
value}]), OBS data (``data_requirements``: [{name, value: {obs_url}}]) and the create body. Pure
functions; a refusal is an ApiError naming the field."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .workflow_common import bad, item_list, obj, opt_str, str_list

_TRUE, _FALSE = ("true", "True"), ("false", "False")


@dataclass
class ExecutionInput:
    """What a create body asks for, checked."""

    name: str | None
    description: str
    labels: list[str]
    workspace_id: str
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return True if value in _TRUE else False if value in _FALSE else None


_COERCE = {"int": _as_int, "float": _as_float, "bool": _as_bool,
           "str": lambda v: v if isinstance(v, str) else None}
_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def coerce(param: dict[str, Any], value: Any, where: str) -> Any:
    """``value`` as the parameter's type (numbers and booleans may come as their text); else a 400."""
    typ = param["type"]
    typed = _COERCE[typ](value)
    if typed is None:
        raise bad(where, f"{param['name']} is of type {typ} and must be {_TYPE_WORDS[typ]}, not {value!r}")
    if param.get("enum") and typed not in param["enum"]:
        raise bad(where, f"{param['name']} must be one of {param['enum']}, not {value!r}")
    return typed


def parameter_values(items: Any, workflow: dict[str, Any], where: str = "parameters") -> dict[str, Any]:
    """[{name, value}] → {name: typed value}; unknown names, repeats and ill-typed values are refused."""
    known = {p["name"]: p for p in workflow["parameters"]}
    values: dict[str, Any] = {}
    for i, item in enumerate(item_list(items, where)):
        name = item.get("name")
        if not isinstance(name, str) or name not in known:
            raise bad(f"{where}[{i}].name", f"{name!r} is not a parameter of workflow {workflow['name']} "
                                            f"(parameters: {', '.join(known) or 'none'})")
        if name in values:
            raise bad(f"{where}[{i}].name", f"{name!r} is given twice")
        if "value" not in item or item["value"] is None:
            raise bad(f"{where}[{i}].value", f"a value for {name} is required")
        values[name] = coerce(known[name], item["value"], f"{where}[{i}].value")
    return values


def _obs_url(item: dict[str, Any], where: str) -> str:
    url = obj(item.get("value"), f"{where}.value", required=True).get("obs_url")
    path = None
    if isinstance(url, str) and url.startswith(("obs://", "/")):
        path = url.removeprefix("obs://").removeprefix("/")
    if not path or not path.split("/")[0]:
        raise bad(f"{where}.value.obs_url", f"{url!r} must be an OBS path: obs://bucket/path/ or /bucket/path/")
    return str(url)


def data_values(items: Any, workflow: dict[str, Any], where: str = "data_requirements") -> dict[str, dict[str, Any]]:
    """[{name, value: {obs_url}}] → {name: value}; unknown names and bad OBS paths are refused."""
    known = {d["name"] for d in workflow["data"]}
    values: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(item_list(items, where)):
        name = item.get("name")
        if not isinstance(name, str) or name not in known:
            raise bad(f"{where}[{i}].name", f"{name!r} is not a data input of workflow {workflow['name']} "
                                            f"(data: {', '.join(sorted(known)) or 'none'})")
        values[name] = {**item["value"], "obs_url": _obs_url(item, f"{where}[{i}]")}
    return values


def with_defaults(workflow: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The given values, then each parameter's default; a missing required one (not delayed) is refused."""
    merged = dict(params)
    for param in workflow["parameters"]:
        if param["name"] in merged:
            continue
        if param.get("default") is not None:
            merged[param["name"]] = param["default"]
        elif not param.get("delay"):
            raise bad(f"parameters[{param['name']}]", f"the parameter {param['name']} of workflow "
                                                      f"{workflow['name']} has no default and is required")
    return merged


def data_with_defaults(workflow: dict[str, Any], data: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged = dict(data)
    for item in workflow["data"]:
        if item["name"] not in merged:
            if not item.get("value"):
                raise bad(f"data_requirements[{item['name']}]", "this data input has no default and is required")
            merged[item["name"]] = dict(item["value"])
    return merged


def create_input(body: Any, workflow: dict[str, Any]) -> ExecutionInput:
    """The create body (WorkflowExecution: name, description, labels, workspace_id, parameters,
    data_requirements; the rest is the service's) checked against ``workflow``."""
    body = obj(body, "body")
    labels = str_list(body.get("labels"), "labels") or []
    workspace = opt_str(body, "workspace_id", "workspace_id", 64) or workflow["workspace_id"]
    if workspace != workflow["workspace_id"]:
        raise bad("workspace_id", f"{workspace!r} is not the workspace of workflow {workflow['name']} "
                                  f"({workflow['workspace_id']!r})")
    params = with_defaults(workflow, parameter_values(body.get("parameters"), workflow))
    data = data_with_defaults(workflow, data_values(body.get("data_requirements"), workflow))
    return ExecutionInput(name=_name(body), description=opt_str(body, "description", "description") or "",
                          labels=labels, workspace_id=workspace, params=params, data=data)


def _name(body: dict[str, Any]) -> str | None:
    name = opt_str(body, "name", "name", 64)
    if name is not None and (not name or not name[0].isalpha()):
        raise bad("name", f"{name!r} must be 1-64 characters starting with a letter")
    return name
