"""Ray job statuses in our words: the mapping table, and why a PENDING job waits.

A job's ``metadata`` carries what its entrypoint asked for (``ASKS_KEY``, JSON), so a job that waits can be
told apart: one asking for more than any node has (it waits for a node that may never come, then Ray's
start timeout ends it FAILED) from one waiting for resources other jobs hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, UTC
from typing import Any

from ...models import JobState, RemoteStatus, map_native_status

STATUS: Mapping[str, JobState] = {
    "PENDING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "STOPPED": JobState.CANCELLED,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
}
#: Metadata keys (Ray's metadata is text → text) of the jobs we submit.
JOB_ID_KEY = "jupyter_compute_job_id"
ASKS_KEY = "jupyter_compute_asks"
TIMEOUT_KEY = "jupyter_compute_timeout_s"
#: entry.py's exit code for a job stopped by its time limit.
TIMED_OUT_EXIT = 124
#: The longest failure message kept (Ray's carry whole pip or runtime logs; the job's log has them).
MAX_MESSAGE_CHARS = 400
#: Ray's default for how long a job may stay PENDING (``RAY_JOB_START_TIMEOUT_SECONDS``).
START_TIMEOUT_S = 900
#: Ray's names of resources → ours in words (others are custom resources, named as they are).
RESOURCE_WORDS = {"CPU": "CPU", "GPU": "GPU", "memory": "bytes of memory"}


def remote_status(info: Mapping[str, Any], nodes: Sequence[Mapping[str, float]] | None = None) -> RemoteStatus:
    """Our status of a job from Ray's job info; ``nodes`` (the alive nodes' total resources) lets a PENDING
    job's message say what it waits for. Ray's ``start_time`` is the submission's: a job that waits has not
    started."""
    native = str(info.get("status") or "")
    state = map_native_status(STATUS, native or None)
    message = str(info.get("message") or "").strip()
    if state is JobState.FAILED and _timed_out(info):
        state, message = JobState.TIMED_OUT, f"stopped by its time limit of {info['metadata'][TIMEOUT_KEY]} s"
    else:
        message = _MESSAGES.get(state, _same)(info, message, nodes)
    started = None if state is JobState.QUEUED else _time(info.get("start_time"))
    return RemoteStatus(state, native, message, started=started, finished=_time(info.get("end_time")))


def _same(info: Mapping[str, Any], message: str, nodes: Sequence[Mapping[str, float]] | None) -> str:
    return message


def _waiting(info: Mapping[str, Any], message: str, nodes: Sequence[Mapping[str, float]] | None) -> str:
    return pending_reason(asks_of(info), nodes) or message


def _unknown(info: Mapping[str, Any], message: str, nodes: Sequence[Mapping[str, float]] | None) -> str:
    native = info.get("status")
    return f"unknown Ray job status '{native}'" if native else "Ray gave no status"


def _failure(info: Mapping[str, Any], message: str, nodes: Sequence[Mapping[str, float]] | None) -> str:
    """Ray's reason for a failure, with its error type; the log's tail Ray appends is left to the log."""
    lines = [line.strip() for line in message.split(", last available logs", 1)[0].splitlines() if line.strip()]
    errors = [line for line in lines[1:] if line.startswith("ERROR")]
    head = " … ".join(lines[:1] + errors[-1:])[:MAX_MESSAGE_CHARS]
    kind = info.get("error_type")
    return f"{head} ({kind})" if kind and head else head or str(kind or "the job failed")


_MESSAGES = {JobState.QUEUED: _waiting, JobState.FAILED: _failure, JobState.UNKNOWN: _unknown}


def asks_of(info: Mapping[str, Any]) -> dict[str, float]:
    """What the job's entrypoint asked for (resource → amount), from our metadata; empty when not ours."""
    metadata = info.get("metadata")
    text = metadata.get(ASKS_KEY) if isinstance(metadata, Mapping) else None
    try:
        asks = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in asks.items() if isinstance(v, (int, float))} if isinstance(asks, dict) else {}


def pending_reason(asks: Mapping[str, float], nodes: Sequence[Mapping[str, float]] | None) -> str:
    """Why a job waits, in words; empty when it cannot be told (then Ray's own message stands)."""
    wanted = {name: amount for name, amount in asks.items() if amount > 0}
    if not wanted or nodes is None:
        return ""
    if any(all(node.get(name, 0.0) >= amount for name, amount in wanted.items()) for node in nodes):
        return f"waiting for {_amounts(wanted)} to be free on one node (other work holds them)"
    largest = {name: max((node.get(name, 0.0) for node in nodes), default=0.0) for name in wanted}
    return (f"it asks for {_amounts(wanted)} and no node of the cluster has that much (the most one node has: "
            f"{_amounts(largest)}): it waits for such a node to join; Ray ends it FAILED if none starts it "
            f"within its start timeout ({START_TIMEOUT_S // 60} min by default)")  # fmt: skip


def _amounts(resources: Mapping[str, float]) -> str:
    return ", ".join(f"{amount:g} {RESOURCE_WORDS.get(name, name)}" for name, amount in resources.items())


def _timed_out(info: Mapping[str, Any]) -> bool:
    metadata = info.get("metadata")
    return isinstance(metadata, Mapping) and TIMEOUT_KEY in metadata and info.get("driver_exit_code") == TIMED_OUT_EXIT


def _time(value: Any) -> datetime | None:
    """Ray's milliseconds since the epoch → an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)
