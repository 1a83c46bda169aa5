"""What the workflow modules share: their error codes, the service's clock (ISO 8601 times at +08:00, as
the platform writes them) and the field checks every body uses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .jobs import ApiError

# The sandbox's choice of codes (the manual excerpt names none for workflows); documented in workflows.py.
E_WF_PARAM = "ModelArts.6101"
E_WF_NOT_FOUND = "ModelArts.6102"
E_EXECUTION_NOT_FOUND = "ModelArts.6103"
E_STEP_NOT_FOUND = "ModelArts.6104"
E_SCHEDULE_NOT_FOUND = "ModelArts.6105"
E_WF_NOT_ALLOWED = "ModelArts.6106"

SERVICE_TZ = dt.timezone(dt.timedelta(hours=8))
USER_NAME = "sandbox-user"
USER_ID = "5a1d0e3c9b7f4e2a8c6d4b2a0e8f6c4d"


def bad(field: str, reason: str) -> ApiError:
    """A 400 naming ``field``."""
    return ApiError(400, E_WF_PARAM, f"Invalid parameter {field}: {reason}")


def not_allowed(reason: str) -> ApiError:
    """A 400 for an action the object's state does not allow."""
    return ApiError(400, E_WF_NOT_ALLOWED, f"The operation is not allowed: {reason}")


def iso(ts: float) -> str:
    """``ts`` (epoch seconds) as the service writes times: ``2022-10-28T15:31:43.409368+08:00``."""
    return dt.datetime.fromtimestamp(ts, SERVICE_TZ).isoformat(timespec="microseconds")


def stamp(ts: float) -> str:
    """``ts`` as an event line starts: ``2022-06-16 23:12:49`` (service time)."""
    return dt.datetime.fromtimestamp(ts, SERVICE_TZ).strftime("%Y-%m-%d %H:%M:%S")


def obj(value: Any, field: str, *, required: bool = False) -> dict[str, Any]:
    """``value`` when it is a JSON object ({} when absent and not required); else a 400 naming ``field``."""
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise bad(field, "must be an object" if value is not None else "is required")
    return value


def opt_str(body: dict[str, Any], key: str, field: str, max_len: int = 256) -> str | None:
    """``body[key]`` when it is a string of at most ``max_len`` characters, None when absent."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise bad(field, f"must be a string of at most {max_len} characters")
    return value


def opt_bool(body: dict[str, Any], key: str, field: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise bad(field, f"must be true or false, not {value!r}")
    return value


def str_list(value: Any, field: str) -> list[str] | None:
    """A list of strings (None when absent), else a 400 naming ``field``."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(field, "must be a list of strings")
    return list(value)


def item_list(value: Any, field: str) -> list[dict[str, Any]]:
    """A list of objects ([] when absent), else a 400 naming ``field`` or ``field[i]``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad(field, "must be a list")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise bad(f"{field}[{i}]", "must be an object")
    return value
