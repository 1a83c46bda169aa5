"""What every ModelArts job kind's spec checks share: names, texts, numbers, refusals, times."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from ...errors import InvalidSpec
from ...models import JobSpec

#: The description of everything we create on ModelArts starts so, and ends with our job id (to find it again).
DESCRIPTION_PREFIX = "jupyter-compute job "
#: ``resolve(text, field=…, required=…)``: the local file or folder a spec value names, or None when
#: it names none; InvalidSpec naming the field for a path the server must not read (or a missing one).
LocalResolver = Callable[..., Path | None]


def parameter_text(name: str, value: Any) -> str:
    """A parameter's value as the text ModelArts takes (booleans lower-case, other values as JSON)."""
    if value is None:
        raise InvalidSpec(f"parameter '{name}' has no value", field="params")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidSpec(f"parameter '{name}' must be a JSON value", field="params") from None


def text_extra(extra: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    """``extra[key]`` as stripped text (``default`` when absent); InvalidSpec naming it when empty or not text."""
    value = extra.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidSpec(f"'extra.{key}' must be a non-empty string", field=f"extra.{key}")
    return value.strip()


def whole_extra(extra: Mapping[str, Any], key: str, default: int | None) -> int | None:
    """``extra[key]`` as a whole number ≥ 1 (``default`` when absent); InvalidSpec naming it otherwise."""
    value = extra.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSpec(f"'extra.{key}' must be a whole number ≥ 1", field=f"extra.{key}")
    return value


def refuse_fields(spec: JobSpec, fields: Collection[str], why: Callable[[str], str]) -> None:
    """InvalidSpec naming the first of ``fields`` the spec gives (``why(field)`` says why it cannot)."""
    for name in fields:
        if getattr(spec, name) is not None:
            raise InvalidSpec(why(name), field=name)


def refuse_unknown_extra(spec: JobSpec, known: Collection[str], what: str) -> None:
    """InvalidSpec naming the first ``extra`` key not in ``known`` (``what``: the job kind, for the words)."""
    unknown = sorted(set(spec.extra) - set(known))
    if unknown:
        raise InvalidSpec(f"unknown extra key '{unknown[0]}' for {what} (known: {', '.join(known)})",
                          field=f"extra.{unknown[0]}")  # fmt: skip


def job_name(spec: JobSpec) -> str:
    """A name ModelArts accepts (letters, digits, - and _, at most 64) from the spec."""
    raw = spec.name or (Path(spec.script).stem if spec.script else "") or spec.algorithm or "jupyter-compute"
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", raw).strip("-_")[:64]
    return name or "jupyter-compute"


def from_ms(value: Any) -> datetime | None:
    """An epoch in milliseconds → an aware UTC datetime; None when absent, zero or unreadable."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number <= 0:
        return None
    return datetime.fromtimestamp(number / 1000, tz=UTC)
