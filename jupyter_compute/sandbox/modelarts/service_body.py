"""The create body of a v1 inference service, checked field by field (``POST /v1/{project_id}/services``).

``check_create`` answers the normalised body or raises ApiError naming the field. Error codes are the
platform's (ModelArts API reference, "Error Codes"): ``ModelArts.0101`` invalid argument,
``ModelArts.3507`` (404) model does not exist, ``ModelArts.3516`` the same model twice,
``ModelArts.3518`` a service type not enabled (edge), ``ModelArts.3547`` cluster does not exist,
``ModelArts.3572`` invalid OBS URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .jobs import ApiError
from .obs import ObsPath
from .service_models import MODELS, SERVICE_FLAVORS, rule_has_index

E_INVALID = "ModelArts.0101"
E_MODEL_NOT_FOUND = "ModelArts.3507"
E_SAME_MODEL = "ModelArts.3516"
E_NOT_ENABLED = "ModelArts.3518"
E_NO_CLUSTER = "ModelArts.3547"
E_BAD_OBS_URL = "ModelArts.3572"

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DESCRIPTION_FORBIDDEN = set('!<>+&"\'')
TIME_UNITS = ("DAYS", "HOURS", "MINUTES")
INFER_TYPES = ("real-time", "batch", "edge")
USABLE_CLUSTER_STATES = ("running", "concerning")
_OBS_HOST_RE = re.compile(r"^https?://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.obs\.[A-Za-z0-9.-]+(?::\d+)?"
                          r"(?P<key>/.*)?$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def int_in(value: Any, low: int, high: int | None = None) -> int | None:
    """``value`` when it is an integer (not a bool) from ``low`` to ``high``, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high):
        return value
    return None


def _number_at_least(value: Any, low: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low


def bad(field: str, reason: str) -> ApiError:
    """A 400 naming the field."""
    return ApiError(400, E_INVALID, f"Invalid Argument: {field} {reason}")


def obs_folder(value: Any, field: str) -> ObsPath:
    """An OBS folder URL: ``https://<bucket>.obs.<region>.myhuaweicloud.com/path/``, ``obs://bucket/path/``
    or ``/bucket/path/``."""
    text = value.strip() if isinstance(value, str) else ""
    match = _OBS_HOST_RE.match(text)
    if match:
        bucket, key = match["bucket"], (match["key"] or "/")[1:]
    elif text.startswith("obs://"):
        bucket, _, key = text[len("obs://"):].partition("/")
    elif text.startswith("/") and not text.startswith("//"):
        bucket, _, key = text[1:].partition("/")
    else:
        bucket, key = "", ""
    if not _BUCKET_RE.match(bucket) or any(p in (".", "..") for p in key.split("/")):
        raise ApiError(400, E_BAD_OBS_URL, f"Invalid OBS URL {text!r} in {field}: use "
                                           "https://<bucket>.obs.<region>.myhuaweicloud.com/<path>/, "
                                           "obs://<bucket>/<path>/ or /<bucket>/<path>/")
    return ObsPath(bucket, key).folder()


def _name(body: Mapping[str, Any]) -> str:
    name = body.get("service_name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise bad("service_name", "is required: 1 to 64 characters, letters, digits, '-' and '_'")
    return name


def _description(body: Mapping[str, Any]) -> str:
    text = body.get("description", "")
    if text is None:
        return ""
    if not isinstance(text, str) or len(text) > 100 or DESCRIPTION_FORBIDDEN & set(text):
        raise bad("description", "must be a string of at most 100 characters without any of !<>+&\"'")
    return text


def _infer_type(body: Mapping[str, Any]) -> str:
    kind = body.get("infer_type")
    if kind not in INFER_TYPES:
        raise bad("infer_type", f"is required: real-time, batch or edge (got {kind!r})")
    if kind == "edge":
        raise ApiError(400, E_NOT_ENABLED, "The edge service has not been enabled or authorized: infer_type edge "
                                           "needs IEF edge nodes, which the sandbox does not have")
    return kind


def check_cluster(value: Any, field: str, clusters: list[dict[str, Any]]) -> str | None:
    """An optional dedicated cluster id: a seeded v1 cluster that is running (or concerning)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad(field, "must be a string")
    cluster = next((c for c in clusters if c["cluster_id"] == value), None)
    if cluster is None:
        raise ApiError(400, E_NO_CLUSTER, f"Cluster {value} does not exist ({field}).")
    if cluster["status"] not in USABLE_CLUSTER_STATES:
        raise bad(field, f"names cluster {value} which is {cluster['status']}: a service needs a running cluster")
    return value


def _schedule_item(i: int, item: Any) -> dict[str, Any]:
    where = f"schedule[{i}]"
    if not isinstance(item, dict) or item.get("type") != "stop":
        raise bad(f"{where}.type", "must be 'stop'")
    if item.get("time_unit") not in TIME_UNITS:
        raise bad(f"{where}.time_unit", "must be DAYS, HOURS or MINUTES")
    duration = int_in(item.get("duration"), 1)
    if duration is None:
        raise bad(f"{where}.duration", "must be a positive integer")
    return {"type": "stop", "time_unit": item["time_unit"], "duration": duration}


def check_schedule(value: Any, kind: str) -> list[dict[str, Any]]:
    """``schedule``: at most one ``{"type": "stop", "time_unit", "duration"}``, real-time services only."""
    if value is None:
        return []
    if kind != "real-time":
        raise bad("schedule", "can be configured only for real-time services")
    if not isinstance(value, list) or len(value) > 1:
        raise bad("schedule", "must be a list of at most one {type, time_unit, duration}")
    return [_schedule_item(i, item) for i, item in enumerate(value)]


def _custom_spec(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    spec = item.get("custom_spec")
    if not isinstance(spec, dict):
        raise bad(f"{where}.custom_spec", "is required with specification custom: {cpu, memory, gpu_p4?}")
    if not _number_at_least(spec.get("cpu"), 0.01):
        raise bad(f"{where}.custom_spec.cpu", "must be a number of at least 0.01")
    if int_in(spec.get("memory"), 1) is None:
        raise bad(f"{where}.custom_spec.memory", "must be a positive integer (MB)")
    if not _number_at_least(spec.get("gpu_p4", 0), 0):
        raise bad(f"{where}.custom_spec.gpu_p4", "must be a number of at least 0")
    return dict(spec)


def _weight(item: Mapping[str, Any], where: str) -> int:
    weight = item.get("weight")
    if isinstance(weight, str) and weight.strip().isdigit():
        weight = int(weight)
    checked = int_in(weight, 0, 100)
    if checked is None:
        raise bad(f"{where}.weight", "is required for real-time services: an integer from 0 to 100")
    return checked


def _envs(item: Mapping[str, Any], where: str) -> dict[str, str]:
    envs = item.get("envs") or {}
    if not isinstance(envs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in envs.items()):
        raise bad(f"{where}.envs", "must map names to strings")
    return dict(envs)


def _batch_fields(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("src_path", "dest_path"):
        if item.get(key) is None:
            raise bad(f"{where}.{key}", "is required for batch services (an OBS folder URL)")
        obs_folder(item[key], f"{where}.{key}")
        out[key] = item[key]
    req_uri = item.get("req_uri")
    if not isinstance(req_uri, str) or not req_uri.startswith("/"):
        raise bad(f"{where}.req_uri", "is required for batch services: the model's inference path, e.g. '/'")
    mapping = item.get("mapping_type")
    if mapping not in ("file", "csv"):
        raise bad(f"{where}.mapping_type", f"is required for batch services: file or csv (got {mapping!r})")
    out.update(req_uri=req_uri, mapping_type=mapping)
    if mapping == "csv":
        rule = item.get("mapping_rule")
        if not isinstance(rule, dict) or not rule_has_index(rule):
            raise bad(f"{where}.mapping_rule", "is required with mapping_type csv: an object whose leaf "
                                               "properties carry the csv column as index")
        out["mapping_rule"] = rule
    return out


def _model(item: Mapping[str, Any], where: str) -> str:
    model_id = item.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise bad(f"{where}.model_id", "is required")
    if model_id not in MODELS:
        raise ApiError(404, E_MODEL_NOT_FOUND, f"Model {model_id} does not exist ({where}.model_id).")
    return model_id


def _instance_count(item: Mapping[str, Any], where: str) -> int:
    count = int_in(item.get("instance_count"), 1, 128)
    if count is None:
        raise bad(f"{where}.instance_count", "is required: an integer from 1 to 128")
    return count


def _config_item(item: Any, where: str, kind: str, cluster: str | None,
                 clusters: list[dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad(where, "must be an object")
    model_id = _model(item, where)
    spec = item.get("specification")
    if spec not in SERVICE_FLAVORS:
        raise bad(f"{where}.specification", f"must be one of {', '.join(SERVICE_FLAVORS)} (got {spec!r})")
    own_cluster = check_cluster(item.get("cluster_id"), f"{where}.cluster_id", clusters) or cluster
    model = MODELS[model_id]
    out: dict[str, Any] = {"model_id": model_id, "model_name": model.model_name,
                           "model_version": model.model_version, "specification": spec,
                           "instance_count": _instance_count(item, where), "envs": _envs(item, where)}
    if spec == "custom":
        if own_cluster is None:
            raise bad(f"{where}.specification", "custom is available only in a dedicated cluster (cluster_id)")
        out["custom_spec"] = _custom_spec(item, where)
    if own_cluster:
        out["cluster_id"] = own_cluster
    if kind == "real-time":
        out["weight"] = _weight(item, where)
    else:
        out.update(_batch_fields(item, where))
    return out


def _config(body: Mapping[str, Any], kind: str, cluster: str | None,
            clusters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = body.get("config")
    if not isinstance(items, list) or not items:
        raise bad("config", "is required: a non-empty list, one entry per model")
    if kind == "batch" and len(items) != 1:
        raise bad("config", "of a batch service must hold exactly one model")
    config = [_config_item(item, f"config[{i}]", kind, cluster, clusters) for i, item in enumerate(items)]
    _check_models_and_weights(config, kind)
    return config


def _check_models_and_weights(config: list[dict[str, Any]], kind: str) -> None:
    ids = [c["model_id"] for c in config]
    if len(set(ids)) != len(ids):
        raise ApiError(400, E_SAME_MODEL, "Failed to deploy services because the version of the model that is "
                                          "used for deploying services is the same (config[].model_id).")
    if kind == "real-time" and sum(c["weight"] for c in config) != 100:
        raise bad("config[].weight", "values must add up to 100")


def check_create(body: Any, clusters: list[dict[str, Any]]) -> dict[str, Any]:
    """The create body, checked and normalised (raises ApiError naming the first bad field)."""
    if not isinstance(body, dict):
        raise bad("body", "must be a JSON object")
    name = _name(body)
    kind = _infer_type(body)
    cluster = check_cluster(body.get("cluster_id"), "cluster_id", clusters)
    return {"service_name": name, "description": _description(body), "infer_type": kind,
            "workspace_id": str(body.get("workspace_id") or "0"), "cluster_id": cluster,
            "schedule": check_schedule(body.get("schedule"), kind),
            "config": _config(body, kind, cluster, clusters)}


def check_description(value: Any) -> str:
    """A description in an update body."""
    return _description({"description": value})
