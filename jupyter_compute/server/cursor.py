"""Keyset cursors of the job list: where the next page starts, as an opaque string.

A cursor holds the sort value and ``seq`` of the last row of a page, the position of the row after
it (the ``offset`` its page answers) and a fingerprint of the query (filters and sort) it belongs
to, so that a cursor given to another query is refused rather than misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidSpec

VERSION = 1
#: The longest cursor text read (a job's name, the longest sort value, is far shorter).
MAX_CHARS = 65536
#: Sort keys whose column holds integer microseconds (the others hold text).
INTEGER_KEYS = frozenset({"created", "updated", "started", "finished"})
#: Sort keys whose column may be NULL.
NULLABLE_KEYS = frozenset({"started", "finished"})


@dataclass(frozen=True)
class Cursor:
    """The last row of a page (its sort value and seq) and the position of the row after it."""

    value: int | str | None
    seq: int
    position: int


def fingerprint(query: Any) -> str:
    """A short digest of a JSON-able description of a query (its filters and sort)."""
    text = json.dumps(query, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(cursor: Cursor, query_print: str) -> str:
    """The opaque text of ``cursor`` for the query of fingerprint ``query_print``."""
    text = json.dumps([VERSION, query_print, cursor.value, cursor.seq, cursor.position], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(text: str, query_print: str, key: str) -> Cursor:
    """The cursor in ``text``; InvalidSpec naming ``cursor`` if it is malformed or of another query."""
    if len(text) > MAX_CHARS:
        raise _refused("is not a cursor this server gave")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        version, printed, value, seq, position = json.loads(raw)
    except (ValueError, TypeError, RecursionError, binascii.Error):
        raise _refused("is not a cursor this server gave") from None
    if version != VERSION or not isinstance(printed, str):
        raise _refused("is not a cursor this server gave")
    if printed != query_print:
        raise _refused("belongs to another query (other filters or sort); start again without it")
    if not (_is_int(seq) and _is_int(position) and position >= 0 and _fits(value, key)):
        raise _refused("is not a cursor this server gave")
    return Cursor(value, seq, position)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fits(value: Any, key: str) -> bool:
    """Whether ``value`` is of the type the column of sort key ``key`` holds."""
    if value is None:
        return key in NULLABLE_KEYS
    return _is_int(value) if key in INTEGER_KEYS else isinstance(value, str)


def _refused(why: str) -> InvalidSpec:
    return InvalidSpec(f"'cursor' {why}", field="cursor")


def after(key: str, descending: bool, cursor: Cursor) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) of the rows after ``cursor`` in the order
    ``key`` (then ``seq``), ascending or descending. SQLite sorts NULL before every value."""
    op = "<" if descending else ">"
    if cursor.value is None:
        if descending:  # NULLs come last: only NULLs with a smaller seq remain
            return f"({key} IS NULL AND seq < ?)", [cursor.seq]
        return f"({key} IS NOT NULL OR seq > ?)", [cursor.seq]
    condition = f"({key}, seq) {op} (?, ?)"
    if descending and key in NULLABLE_KEYS:
        condition = f"({condition} OR {key} IS NULL)"
    return condition, [cursor.value, cursor.seq]
