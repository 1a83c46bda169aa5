"""Reading ModelArts' JSON answers, where any value may be missing or of an unexpected type.

The readers here never raise: what is not there (or is not what it should be) reads as empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def dig(value: Any, *keys: str) -> Any:
    """``value[k1][k2]…``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
