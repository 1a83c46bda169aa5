"""Secrets named by environment variable, and how the server keeps them from its children.

Kernels and local jobs inherit the server's environment. When the server starts, it moves every
backend secret out of ``os.environ`` into this process's memory (:func:`withhold`); backends read
them with :func:`read_secret`, which looks in the environment first (a backend used from a script)
and then in what was withheld.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_withheld: dict[str, str] = {}


def read_secret(name: str | None) -> str | None:
    """The value of the secret held in variable ``name``, or None when it is not set."""
    if not name:
        return None
    value = os.environ.get(name)
    if value is None:
        value = _withheld.get(name)
    return value or None


def withhold(names: Iterable[str]) -> list[str]:
    """Move these variables out of the environment children inherit; the names that were set."""
    moved = []
    for name in names:
        value = os.environ.pop(name, None)
        if value is not None:
            _withheld[name] = value
            moved.append(name)
    return moved


def forget(names: Iterable[str]) -> None:
    """Drop withheld secrets (the server stops); they are not put back into the environment."""
    for name in names:
        _withheld.pop(name, None)
