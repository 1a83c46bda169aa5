"""The Ocean Provider's wire data as our vocabulary: job statuses, environments, result lists.

Every mapping is a data table (tested row by row). Both the provider's code-true shapes and the
shapes of the Ocean docs are read: ``cpuNumber``/``nCPU``, epoch-second or ISO dates,
environments as a dict keyed by chain id or as a flat list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import Any

from ..models import Environment, JobState, RemoteStatus, ResultFile, parse_time
from .maap_storage import media_type


@dataclass(frozen=True)
class StatusRow:
    """What one native status code means."""

    state: JobState
    message: str = ""


DATA_FAILED = ("data provisioning failed: the provider could not fetch the dataset (check its DID, its service "
               "id and the order's transferTxId)")
ALGORITHM_FAILED = ("algorithm provisioning failed: the provider could not fetch or build the algorithm (check its "
                    "DID or raw code, its container image and its order)")

NO_OUTPUT = ("finished without output files: the algorithm may have failed, or wrote nothing to $OUTPUTS — read its "
             "log (jobs/{id}/logs)")

#: Native status code → state and words. A code missing here is UNKNOWN.
STATUS_TABLE: Mapping[int, StatusRow] = {
    1: StatusRow(JobState.QUEUED, "warming up"),
    10: StatusRow(JobState.RUNNING, "job started"),
    20: StatusRow(JobState.RUNNING, "configuring volumes"),
    30: StatusRow(JobState.RUNNING, "provisioning done"),
    31: StatusRow(JobState.FAILED, DATA_FAILED),
    32: StatusRow(JobState.FAILED, ALGORITHM_FAILED),
    40: StatusRow(JobState.RUNNING, "running the algorithm"),
    50: StatusRow(JobState.RUNNING, "filtering the results"),
    60: StatusRow(JobState.RUNNING, "publishing the results"),
    70: StatusRow(JobState.SUCCEEDED, ""),
    7: StatusRow(JobState.CANCELLED, "stopped"),
    8: StatusRow(JobState.CANCELLED, "deleted from the provider"),
}

#: A finished (70) job's ``stopreq`` → what really ended it.
STOP_REQUESTS: Mapping[int, StatusRow] = {
    1: StatusRow(JobState.CANCELLED, "stopped by the user"),
    2: StatusRow(JobState.TIMED_OUT, "stopped: the environment's time limit (maxJobDuration) was exceeded"),
}

#: ``map_native_status`` table (native code as text → state).
STATUS_MAP: Mapping[str, JobState] = {str(code): row.state for code, row in STATUS_TABLE.items()}

FINISHED = 70
LOG_TYPES = ("algorithmLog", "configrationLog", "configurationLog", "filteringLog", "publishLog")


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_date(value: Any) -> datetime | None:
    """Epoch seconds (a number or its text, as the provider sends) or ISO text (as the docs show)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    seconds = _float(value)
    if seconds is not None:
        return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None
    try:
        return parse_time(value)
    except (TypeError, ValueError):
        return None


def job_status(job: Mapping[str, Any]) -> RemoteStatus:
    """One provider status object → RemoteStatus (``native_status`` = ``"<code> <statusText>"``)."""
    code = _int(job.get("status"))
    native = _native_status(job, code)
    row = _status_row(code, _int(job.get("stopreq")) or 0, native)
    message = NO_OUTPUT if _succeeded_without_output(job, code, row) else row.message
    finished = parse_date(job.get("dateFinished"))
    return RemoteStatus(
        state=row.state, native_status=native, message=message, started=parse_date(job.get("dateCreated")),
        finished=finished if row.state.is_terminal else None,
    )  # fmt: skip


def _native_status(job: Mapping[str, Any], code: int | None) -> str:
    """``"<code> <statusText>"``, either part left out when the provider sent none."""
    shown = str(code) if code is not None else str(job.get("status", ""))
    text = str(job.get("statusText") or "").strip()
    return " ".join(part for part in (shown, text) if part)


def _status_row(code: int | None, stopreq: int, native: str) -> StatusRow:
    """What a status code means, and what the job's stop request changes about it."""
    row = STATUS_TABLE.get(code) if code is not None else None
    if row is None:
        row = StatusRow(JobState.UNKNOWN, f"unknown Ocean status {native or '(none)'}")
    if code == FINISHED and stopreq in STOP_REQUESTS:
        return STOP_REQUESTS[stopreq]
    if stopreq == 1 and not row.state.is_terminal:
        return StatusRow(row.state, "stopping (requested by the user)")
    return row


def _succeeded_without_output(job: Mapping[str, Any], code: int | None, row: StatusRow) -> bool:
    """A job that finished well but lists no output file (its algorithm may have failed quietly)."""
    if code != FINISHED or row.state is not JobState.SUCCEEDED:
        return False
    return not any(entry.type == "output" for entry in result_entries(job))


def is_finished(job: Mapping[str, Any]) -> bool:
    """Whether the provider is done with the job (it sets ``dateFinished``, also after 31/32)."""
    return parse_date(job.get("dateFinished")) is not None or job_status(job).state.is_terminal


@dataclass(frozen=True)
class ResultEntry:
    """One file of a job's ``results`` array; ``index`` is what ``computeResult`` asks for."""

    name: str
    index: int
    type: str
    size: int | None

    def to_result_file(self) -> ResultFile:
        kind = "output" if self.type == "output" else "log"
        return ResultFile(name=self.name, size=self.size, kind=kind, media_type=media_type(self.name))


def result_entries(job: Mapping[str, Any]) -> list[ResultEntry]:
    """The job's result files (``results`` is ``""`` when there are none). A repeated file name is
    told apart by its type (``algorithmLog/out.txt``), then by its index."""
    results = job.get("results")
    if not isinstance(results, list):
        return []
    entries: list[ResultEntry] = []
    taken: set[str] = set()
    for index, item in enumerate(results):
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type") or "output")
        base = str(item.get("filename") or f"result-{index}").strip().lstrip("/") or f"result-{index}"
        name = base
        for candidate in (base, f"{kind}/{base}", f"{index}/{base}"):
            if candidate not in taken:
                name = candidate
                break
        taken.add(name)
        entries.append(ResultEntry(name, index, kind, _int(item.get("filesize"))))
    return entries


# --- environments -----------------------------------------------------------------------------

#: Environment field → (provider keys, code spelling first; conversion).
ENV_FIELDS: Mapping[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "description": (("desc", "description"), lambda v: _text(v) or ""),
    "cpus": (("cpuNumber", "nCPU"), _float),
    "gpus": (("gpuNumber", "nGPU"), _int),
    "gpu_type": (("gpuType",), _text),
    "memory_gb": (("ramGB",), _float),
    "disk_gb": (("diskGB",), _float),
    "price": (("priceMin",), _float),
    "max_jobs": (("maxJobs",), _int),
    "running_jobs": (("currentJobs",), _int),
    "max_duration_s": (("maxJobDuration",), _float),
}


def environment_list(data: Any, chain_id: int | None) -> list[dict[str, Any]]:
    """The raw environments of one chain, from a dict keyed by chain id or a flat list."""
    found = _chain_entries(data, chain_id)
    if not isinstance(found, list):
        return []
    return [env for env in found if isinstance(env, dict) and _text(env.get("id"))]


def _chain_entries(data: Any, chain_id: int | None) -> Any:
    """What ``data`` holds for ``chain_id`` (its first chain when None); a flat list is every chain's."""
    if not isinstance(data, dict):
        return data
    if chain_id is None:
        return next(iter(data.values()), [])
    return data.get(str(chain_id), data.get(chain_id, []))


def normalise_environment(raw: Mapping[str, Any], backend: str) -> Environment:
    """One provider environment → Environment (numbers sent as text are read as numbers)."""
    values: dict[str, Any] = {}
    for name, (keys, convert) in ENV_FIELDS.items():
        given = next((raw[key] for key in keys if raw.get(key) not in (None, "")), None)
        values[name] = convert(given)
    env_id = str(raw.get("id")).strip()
    cpu_type = _text(raw.get("cpuType"))
    if not values["description"]:
        values["description"] = "Ocean compute environment" + (f" ({cpu_type})" if cpu_type else "")
    name = _text(raw.get("name")) or env_id
    return Environment(id=env_id, name=name, backend=backend, raw=dict(raw), **values)


def is_free(environment: Environment) -> bool:
    """An environment whose minimum price is 0 (no provider fee to pay)."""
    return environment.price == 0
