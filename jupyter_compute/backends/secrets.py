"""Secrets named by environment variable, and how the server keeps them from its children.

Kernels and local jobs inherit the server's environment. When the server starts, it moves every
backend secret out of ``os.environ`` into this process's memory (:func:`withhold`); backends read
them with :func:`read_secret`, which looks in the environment first (a backend used from a script)
and then in what was withheld.
"""

from __future__ import annotations

import ctypes
import os
import sys
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


def scrub(text: object, secrets: Iterable[str | None]) -> str:
    """``text`` with each secret (of 3 characters or more; longest first) replaced by ``***``."""
    said = str(text)
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        said = said.replace(secret, "***")
    return said


def withhold(names: Iterable[str]) -> list[str]:
    """Move these variables out of the environment children inherit; the names that were set."""
    moved = []
    for name in names:
        value = os.environ.get(name)
        if value is None:
            continue
        _withheld[name] = value
        _blank_in_start_block(name)
        del os.environ[name]
        moved.append(name)
    return moved


def _blank_in_start_block(name: str) -> None:
    """Overwrite the variable's value where the C library holds it.

    ``/proc/<pid>/environ`` shows the block the process started with, which ``unsetenv`` leaves
    untouched; any process of the same user (a kernel, a job) could read the secret there.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        entries = ctypes.POINTER(ctypes.c_void_p).in_dll(ctypes.CDLL(None), "environ")
    except (OSError, ValueError):
        return
    prefix = name.encode() + b"="
    index = 0
    while entries[index]:
        address = entries[index]
        entry = ctypes.string_at(address)
        if entry.startswith(prefix):
            ctypes.memset(address + len(prefix), ord("x"), len(entry) - len(prefix))
        index += 1


def forget(names: Iterable[str]) -> None:
    """Drop withheld secrets once the server has stopped (they are not put back into the environment)."""
    for name in names:
        _withheld.pop(name, None)
