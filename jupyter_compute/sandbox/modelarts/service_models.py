"""The models the sandbox's inference services can deploy, and how a request reaches them.

Three seeded models (ids fixed, so a test or a backend can name them):

- ``row-sum`` (``ROW_SUM_MODEL_ID``): answers ``{"sum": <sum of every number in the request>}``; for a
  whole file (``file`` mapping) the numbers are those in the file's text (separated by commas, spaces or
  new lines); a request without numbers answers ``{"sum": 0}``.
- ``slow-row-sum`` (``SLOW_ROW_SUM_MODEL_ID``): the same answers, each after ``step_delay_s`` of work, so a
  batch over many rows stays running long enough to be stopped.
- ``always-fails`` (``FAILING_MODEL_ID``): never starts: a service deploying it ends ``failed``.

A ``csv`` batch request is built from ``mapping_rule`` (a JSON-schema-like object: ``object`` nodes with
``properties``, ``array`` nodes with ``items`` (one schema or a list of them), and leaves of type
``string`` | ``number`` | ``integer`` | ``boolean`` carrying ``index``, the 0-based csv column; an index of
-1 leaves the field out).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ROW_SUM_MODEL_ID = "5d4f6a3e-7b21-4c0e-9a8d-1f2e3c4b5a60"
SLOW_ROW_SUM_MODEL_ID = "5d4f6a3e-7b21-4c0e-9a8d-1f2e3c4b5a61"
FAILING_MODEL_ID = "5d4f6a3e-7b21-4c0e-9a8d-1f2e3c4b5a62"

#: Flavors of the public inference pool (``custom`` needs ``custom_spec`` and a dedicated cluster).
SERVICE_FLAVORS = ("modelarts.vm.cpu.2u", "modelarts.vm.gpu.pnt004", "modelarts.vm.ai1.snt3", "custom")
LEAF_TYPES = ("string", "number", "integer", "boolean")
_NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class ModelError(Exception):
    """A model that cannot start or cannot answer; the message is the service's ``error_msg``."""


@dataclass(frozen=True)
class Model:
    """A seeded model (an "AI application")."""

    model_id: str
    model_name: str
    model_version: str
    slow: bool = False
    starts: bool = True


MODELS: dict[str, Model] = {m.model_id: m for m in (
    Model(ROW_SUM_MODEL_ID, "row-sum", "1.0.0"),
    Model(SLOW_ROW_SUM_MODEL_ID, "slow-row-sum", "1.0.0", slow=True),
    Model(FAILING_MODEL_ID, "always-fails", "0.0.1", starts=False),
)}


def check_start(model: Model) -> None:
    """Start the model's instance; a model that cannot start raises ModelError."""
    if not model.starts:
        raise ModelError(f"model {model.model_name} {model.model_version} failed to start: the model process "
                         "exited with code 1 (ImportError: no module named 'customize_service')")


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def predict(model: Model, request: Any) -> dict[str, Any]:
    """The model's answer to one JSON request."""
    return {"sum": sum(_numbers(request))}


def predict_file(model: Model, data: bytes) -> dict[str, Any]:
    """The model's answer to one whole file (``file`` mapping)."""
    text = data.decode("utf-8", errors="replace")
    return {"sum": sum(float(n) for n in _NUMBER_RE.findall(text))}


def rule_has_index(rule: Any) -> bool:
    """Whether a mapping rule maps at least one csv column."""
    if isinstance(rule, dict):
        if rule.get("type") in LEAF_TYPES and isinstance(rule.get("index"), int) and rule["index"] >= 0:
            return True
        return any(rule_has_index(v) for v in rule.values())
    if isinstance(rule, list):
        return any(rule_has_index(v) for v in rule)
    return False


def _leaf(rule: dict[str, Any], row: list[str]) -> Any:
    index = rule.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return _MISSING
    if index >= len(row):
        raise ModelError(f"the csv row has {len(row)} column(s); the mapping rule wants column {index}")
    text = row[index].strip()
    kind = rule["type"]
    try:
        if kind == "number":
            return float(text)
        if kind == "integer":
            return int(text)
    except ValueError:
        raise ModelError(f"column {index} value {text!r} is not a {kind}") from None
    if kind == "boolean":
        return text.lower() in ("true", "1", "yes")
    return text


_MISSING = object()


def build_request(rule: Any, row: list[str]) -> Any:
    """The request ``mapping_rule`` makes of one csv row (columns by ``index``)."""
    if not isinstance(rule, dict):
        return _MISSING
    kind = rule.get("type")
    if kind in LEAF_TYPES:
        return _leaf(rule, row)
    if kind == "array":
        return _array(rule.get("items"), row)
    props = rule.get("properties")
    built = {name: build_request(sub, row) for name, sub in props.items()} if isinstance(props, dict) else {}
    return {k: v for k, v in built.items() if v is not _MISSING}


def _array(items: Any, row: list[str]) -> list[Any]:
    parts = [build_request(item, row) for item in (items if isinstance(items, list) else [items])]
    return [p for p in parts if p is not _MISSING]


def json_line(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) + "\n"
