"""The common vocabulary shared by backends, the server, the client and the panels.

Plain dataclasses with ``to_dict``/``from_dict`` so the same objects travel as JSON over
the REST API. Nothing here imports the rest of the package.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any, ClassVar, TypeVar

from .errors import InvalidSpec


class JobState(str, enum.Enum):
    """One lifecycle for every platform; each backend maps its native statuses onto it."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    def __str__(self) -> str:
        return self.value


TERMINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT}
)


def map_native_status(table: Mapping[str, JobState], native: Any) -> JobState:
    """Look a platform's status up in a backend's mapping table (case-insensitive keys)."""
    if native is None:
        return JobState.UNKNOWN
    key = str(native)
    if key in table:
        return table[key]
    lowered = {str(k).lower(): v for k, v in table.items()}
    return lowered.get(key.lower(), JobState.UNKNOWN)


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(value: Any) -> datetime | None:
    """ISO text (or a datetime) to a timezone-aware UTC datetime; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


_RecordT = TypeVar("_RecordT", bound="_Record")


class _Record:
    """``to_dict``/``from_dict`` for the flat records (Environment, Cluster, ResultFile)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[_RecordT], data: Mapping[str, Any]) -> _RecordT:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Environment(_Record):
    """Where a job may run and at what size (a compute environment, a queue, a flavor)."""

    id: str
    name: str = ""
    backend: str = ""
    description: str = ""
    cpus: float | None = None
    gpus: int | None = None
    gpu_type: str | None = None
    memory_gb: float | None = None
    disk_gb: float | None = None
    price: float | None = None
    max_jobs: int | None = None
    running_jobs: int | None = None
    max_duration_s: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cluster(_Record):
    """A pool of machines with its capacity; ``*_allocatable`` is what is free now."""

    id: str
    name: str = ""
    backend: str = ""
    status: str = ""
    nodes: int | None = None
    nodes_available: int | None = None
    cpus: float | None = None
    cpus_allocatable: float | None = None
    memory_gb: float | None = None
    memory_gb_allocatable: float | None = None
    gpus: int | None = None
    gpus_allocatable: int | None = None
    gpu_type: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    #: What ``status`` means, by the backend's table: healthy, busy, failing or unknown.
    health: str = "unknown"


@dataclass
class ResultFile(_Record):
    """One file a job produced; its bytes are fetched through the server."""

    name: str
    size: int | None = None
    kind: str = "output"  # "output" or "log"
    media_type: str | None = None


#: The longest text each spec field takes (characters): programs may be long, names and references short.
#: Larger data belongs in an upload (``POST uploads``) that the spec names.
SPEC_TEXT_LIMITS: dict[str, int] = {
    "backend": 200, "name": 200, "environment": 1000, "cluster": 1000, "command": 256 * 1024,
    "script": 4096, "code": 256 * 1024, "notebook": 4096, "algorithm": 4096, "output": 4096,
}
#: The furthest log offset the REST API takes (1 TiB): no log is longer.
MAX_LOG_OFFSET = 2**40
#: The request header by which a client on the server's machine asks for a result's own file, and the header of
#: the server's answer naming that file (``GET jobs/{id}/results/{name}``).
LOCAL_FILE_HEADER = "X-Compute-Local-File"
#: The largest job spec the server takes (bytes of JSON; 413 beyond).
MAX_SPEC_BYTES = 1024 * 1024
#: The most items of the spec's lists, and the longest tag.
SPEC_LIST_LIMITS: dict[str, int] = {"inputs": 1000, "tags": 50}
MAX_TAG_CHARS = 100


#: In job lists and events a spec is summarised: text cut at this many characters, lists and objects at
#: this many items (``GET jobs/{id}`` has it whole).
SUMMARY_TEXT_CHARS = 500
SUMMARY_ITEMS = 20


def _fits_summary(value: Any) -> bool:
    """Whether a JSON value has nothing a summary would cut (a loop over items, as this runs for every event)."""
    if isinstance(value, str):
        return len(value) <= SUMMARY_TEXT_CHARS
    if not isinstance(value, (list, dict)):
        return True
    if len(value) > SUMMARY_ITEMS:
        return False
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, str):
            if len(item) > SUMMARY_TEXT_CHARS:
                return False
        elif isinstance(item, (list, dict)) and not _fits_summary(item):
            return False
    return True


def summarised(value: Any) -> tuple[Any, bool]:
    """A JSON value with long text and long lists or objects cut (a copy; the value itself when nothing is
    cut); and whether anything was."""
    if _fits_summary(value):
        return value, False
    if isinstance(value, str):
        return _summarised_text(value)
    if isinstance(value, list):
        return _summarised_list(value)
    if isinstance(value, dict):
        return _summarised_dict(value)
    return value, False


def _summarised_text(text: str) -> tuple[str, bool]:
    if len(text) > SUMMARY_TEXT_CHARS:
        return text[:SUMMARY_TEXT_CHARS] + "…", True
    return text, False


def _summarised_list(items: list[Any]) -> tuple[list[Any], bool]:
    kept = [summarised(item) for item in items[:SUMMARY_ITEMS]]
    cut = len(items) > SUMMARY_ITEMS or any(item_cut for _, item_cut in kept)
    return [item for item, _ in kept], cut


def _summarised_dict(mapping: dict[Any, Any]) -> tuple[dict[Any, Any], bool]:
    kept = [(key, summarised(item)) for key, item in list(mapping.items())[:SUMMARY_ITEMS]]
    cut = len(mapping) > SUMMARY_ITEMS or any(item_cut for _, (_, item_cut) in kept)
    return {key: item for key, (item, _) in kept}, cut


def _check_type(name: str, value: Any, kinds: tuple[type, ...], label: str) -> None:
    if isinstance(value, bool) and bool not in kinds:
        raise InvalidSpec(f"'{name}' must be {label}, not a boolean", field=name)
    if not isinstance(value, kinds):
        raise InvalidSpec(f"'{name}' must be {label}, not {type(value).__name__}", field=name)


def _check_size(name: str, value: Any) -> None:
    """A spec field's text or list within its limit (see ``SPEC_TEXT_LIMITS``, ``SPEC_LIST_LIMITS``)."""
    limit = SPEC_TEXT_LIMITS.get(name)
    if limit is not None and len(value) > limit:
        raise InvalidSpec(f"'{name}' is longer than {limit:,} characters; give large data as an upload "
                          "(POST uploads) instead", field=name)
    limit = SPEC_LIST_LIMITS.get(name)
    if limit is not None and len(value) > limit:
        raise InvalidSpec(f"'{name}' has more than {limit:,} items", field=name)


def _check_tags(tags: list[Any]) -> None:
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag:
            raise InvalidSpec("tags must be non-empty strings", field=f"tags[{i}]")
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidSpec(f"a tag is at most {MAX_TAG_CHARS} characters", field=f"tags[{i}]")


def _check_param_names(params: dict[Any, Any]) -> None:
    if not all(isinstance(key, str) and key for key in params):
        raise InvalidSpec("parameter names must be non-empty strings", field="params")


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not (0 < timeout < math.inf):
        raise InvalidSpec("'timeout_s' must be a finite number greater than 0", field="timeout_s")


@dataclass
class JobSpec:
    """What to run, where. Checked for shape here; each backend checks the meaning."""

    backend: str = "local"
    name: str = ""
    environment: str | None = None
    cluster: str | None = None
    command: str | None = None
    script: str | None = None
    code: str | None = None
    notebook: str | None = None
    algorithm: str | None = None
    inputs: list[Any] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    tags: list[str] = field(default_factory=list)
    timeout_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    #: Each field's accepted JSON types, and how an error names them.
    _TYPES: ClassVar[dict[str, tuple[tuple[type, ...], str]]] = {
        "backend": ((str,), "a string"),
        "name": ((str,), "a string"),
        "environment": ((str,), "a string"),
        "cluster": ((str,), "a string"),
        "command": ((str,), "a string"),
        "script": ((str,), "a string"),
        "code": ((str,), "a string"),
        "notebook": ((str,), "a string"),
        "algorithm": ((str,), "a string"),
        "inputs": ((list,), "a list"),
        "params": ((dict,), "an object"),
        "output": ((str,), "a string"),
        "tags": ((list,), "a list of strings"),
        "timeout_s": ((int, float), "a number of seconds"),
        "extra": ((dict,), "an object"),
    }

    @classmethod
    def from_dict(cls, data: Any) -> JobSpec:
        """Build a spec from JSON, naming the first field that is unknown or of the wrong type."""
        if not isinstance(data, Mapping):
            raise InvalidSpec("the job spec must be a JSON object", field="spec")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in cls._TYPES:
                raise InvalidSpec(f"unknown field '{name}'", field=str(name))
            if value is not None:
                kinds, label = cls._TYPES[name]
                _check_type(name, value, kinds, label)
                _check_size(name, value)
                values[name] = value
        _check_tags(values.get("tags", []))
        _check_param_names(values.get("params", {}))
        _check_timeout(values.get("timeout_s"))
        if not values.get("backend", "local"):
            raise InvalidSpec("'backend' must not be empty", field="backend")
        return cls(**values)

    @classmethod
    def from_known_fields(cls, data: Mapping[str, Any]) -> JobSpec:
        """A spec from trusted JSON (our own records), ignoring fields a newer version added."""
        return cls(**{k: v for k, v in data.items() if k in cls._TYPES})

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._TYPES}

    def replace(self, **changes: Any) -> JobSpec:
        return dataclasses.replace(self, **changes)


@dataclass
class LogChunk:
    """A piece of a job's log; pass ``offset`` back to read what came after it."""

    text: str
    offset: int
    complete: bool = False


@dataclass
class RemoteStatus:
    """What a backend reports about one job on its platform."""

    state: JobState
    native_status: str = ""
    message: str = ""
    started: datetime | None = None
    finished: datetime | None = None


@dataclass
class Job:
    """A job as recorded by the server: our stable id plus the platform's view of it."""

    id: str
    backend: str
    spec: JobSpec
    name: str = ""
    remote_id: str | None = None
    state: JobState = JobState.QUEUED
    native_status: str = ""
    message: str = ""
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    started: datetime | None = None
    finished: datetime | None = None
    tags: list[str] = field(default_factory=list)
    results: list[ResultFile] = field(default_factory=list)
    idempotency_key: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def to_dict(self, *, summary: bool = False) -> dict[str, Any]:
        """The job as JSON; ``summary``: its spec summarised (see :func:`summarised`), as lists and events
        carry it, with ``spec_summarised`` saying whether anything was cut."""
        # The stored page summaries (store.SUMMARY_FORMAT) follow this shape: raise that number when it changes.
        data = self._fields()
        if summary:
            data["spec"], data["spec_summarised"] = summarised(data["spec"])
        return data

    def _fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "backend": self.backend,
            "name": self.name,
            "remote_id": self.remote_id,
            "state": self.state.value,
            "native_status": self.native_status,
            "message": self.message,
            "created": format_time(self.created),
            "updated": format_time(self.updated),
            "started": format_time(self.started),
            "finished": format_time(self.finished),
            "tags": list(self.tags),
            "results": [r.to_dict() for r in self.results],
            "spec": self.spec.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        return cls(
            id=data["id"],
            backend=data["backend"],
            name=data.get("name", ""),
            remote_id=data.get("remote_id"),
            state=JobState(data.get("state", "UNKNOWN")),
            native_status=data.get("native_status") or "",
            message=data.get("message") or "",
            created=parse_time(data.get("created")) or utcnow(),
            updated=parse_time(data.get("updated")) or utcnow(),
            started=parse_time(data.get("started")),
            finished=parse_time(data.get("finished")),
            tags=list(data.get("tags") or []),
            results=[ResultFile.from_dict(r) for r in data.get("results") or []],
            spec=JobSpec.from_known_fields(data.get("spec") or {"backend": data["backend"]}),
        )
