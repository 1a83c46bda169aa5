"""Shared helpers of the MAAP sandbox's built-in algorithm programs (stdlib only).

Every program is started as ``python <program> <job.json>`` with the run folder as working
directory. ``job.json`` holds ``algorithm_id``, ``input_dir``, ``output_dir``, ``params`` (a dict)
and ``granules`` ([{"granule_id", "description", "path"}]; ``path`` is null for a parameter-only
item). A program writes its products into ``output_dir``; lines it prints to stdout that start with
``WARNING:`` become WARN messages of the "run algorithm" step; a non-zero exit is a failure whose
last stderr line becomes the ERROR message.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any


def load_job() -> dict[str, Any]:
    with open(sys.argv[1], encoding="utf-8") as fh:
        return json.load(fh)


def number_param(job: dict[str, Any], name: str, default: float) -> float:
    """A number from params[name], else the first number in a granule description, else default."""
    value = job.get("params", {}).get(name)
    if value is not None:
        return float(value)
    for granule in job.get("granules", []):
        text = granule.get("description") or ""
        match = re.search(rf"{re.escape(name)}\s*=\s*(-?\d+(?:\.\d+)?)", text)
        if match:
            return float(match.group(1))
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*", text)
        if match:
            return float(match.group(1))
    return default


def data_granules(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for g in job.get("granules", []) if g.get("path")]
