"""The Backend protocol every platform adapter implements, and its capability flags.

A backend is plain async Python: no Jupyter import, usable from a script. Methods a
platform cannot offer raise :class:`NotSupported`, and the matching capability flag is
``False`` so fronts can grey the action out instead of failing.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit
from typing import Any, ClassVar

from ..errors import InvalidSpec, NotSupported
from ..forms import Form, FormField
from ..models import Cluster, Environment, JobSpec, JobState, LogChunk, RemoteStatus, ResultFile


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do; served to the fronts with the backend list."""

    can_cancel: bool = False
    can_delete: bool = False
    can_list: bool = False
    has_logs: bool = False
    has_results: bool = False
    has_environments: bool = False
    has_clusters: bool = False
    has_webhooks: bool = False
    can_proxy: bool = False
    #: ``detail`` says more of a job than its status (and may offer actions beyond cancel and delete).
    has_detail: bool = False
    #: ``discover`` finds jobs the platform started on its own (e.g. by a schedule), to record them.
    discovers_jobs: bool = False

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)


@dataclass(frozen=True)
class JobAction:
    """An action a job offers beyond cancel and delete (e.g. run again, answer a step waiting for input):
    its name (the REST path segment), a label for a button, and the form of the values it takes."""

    name: str
    label: str
    fields: tuple[FormField, ...] = ()
    help: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "fields": [f.to_dict() for f in self.fields],
                "help": self.help}  # fmt: skip


@dataclass
class JobDetail:
    """What the platform says of one job beyond its status: ``facts`` (JSON values for people: texts,
    numbers, lists and objects of them; never a secret) and the ``actions`` it offers now."""

    facts: dict[str, Any]
    actions: list[JobAction]

    def to_dict(self) -> dict[str, Any]:
        return {"facts": self.facts, "actions": [a.to_dict() for a in self.actions]}


@dataclass
class DiscoveredJob:
    """A job the platform started on its own, not submitted through us: recorded with these tags."""

    remote_id: str
    name: str
    status: RemoteStatus
    tags: list[str]
    spec: JobSpec


@dataclass
class Submission:
    """What ``submit`` answers: the platform's id for the job and its first status."""

    remote_id: str
    status: RemoteStatus


#: Receives ``(remote_id, status)`` for every change of a job a backend sees (``Backend.attach_status_sink``);
#: ``remote_id`` is the job's remote id as the backend gave it at submission (``Submission.remote_id``).
StatusSink = Callable[[str, RemoteStatus], Awaitable[None]]

#: What a cluster's native status means, for the panels' colours: it takes jobs (healthy); it is changing or
#: has raised an alarm, so jobs may wait (busy); it cannot run jobs (failing); the backend does not know.
CLUSTER_MEANINGS = ("healthy", "busy", "failing", "unknown")


class Backend:
    """Base class of the platform adapters. Subclasses override what their platform offers."""

    kind: ClassVar[str] = ""
    status_map: ClassVar[Mapping[str, JobState]] = {}
    #: Native cluster status (lower case; matched without case) → one of CLUSTER_MEANINGS. A status the
    #: table does not list means "unknown".
    cluster_status_meanings: ClassVar[Mapping[str, str]] = {}
    # The attributes below without ClassVar are defaults that a backend may set per instance.
    capabilities: Capabilities = Capabilities()
    #: How often the monitor refreshes a running job: first interval and the backoff ceiling.
    poll_interval: float = 2.0
    poll_max_interval: float = 30.0
    #: How long a job whose submission got no answer is looked for with ``recover`` before it is
    #: recorded UNKNOWN (a platform whose job list lags behind needs a while to show a new job).
    confirm_window_s: float = 120.0
    #: True when ``recover`` answering None means the platform certainly has no such job: the job's
    #: submission is then sent again at once instead of being looked for.
    recover_is_certain: ClassVar[bool] = False
    #: True when ``status_many`` asks the platform once for many jobs: the monitor then refreshes
    #: all of this backend's watched jobs together, with one ``status_many`` call per cycle.
    batch_status: ClassVar[bool] = False
    #: Config keys naming a secret's environment variable → the variable read when the key is not
    #: given. The server hides all of them from local jobs.
    secret_env_defaults: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        data_dir: Path | str | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.config = dict(config or {})
        self.data_dir = Path(data_dir) if data_dir else None
        self.log = log or logging.getLogger(f"jupyter_compute.{self.kind or 'backend'}.{name}")
        self._validated: weakref.WeakValueDictionary[int, JobSpec] = weakref.WeakValueDictionary()
        window = config_positive(self.config, "confirm_window_s", None, kind=self.kind or "backend")
        if window is not None:
            self.confirm_window_s = float(window)

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open clients and background tasks; called once by the server."""

    async def close(self) -> None:
        """Release clients and tasks; jobs on the platform keep running."""

    def describe(self) -> dict[str, Any]:
        """Public description for the REST API (never any credential)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "capabilities": self.capabilities.to_dict(),
        }

    # jobs -----------------------------------------------------------------------------
    def form(self) -> Form:
        """The fields of this platform's job spec, for the submit panels and the server's check."""
        return Form(fields=COMMON_FIELDS)

    async def form_for(self, values: Mapping[str, Any]) -> Form:
        """The form for the values chosen so far (field name → value, only fields the form's ``refresh_on``
        names), e.g. ``{"extra.kind": "workflow"}``. It may ask the platform (with this backend's timeouts);
        InvalidSpec naming the field for a value it cannot follow. Default: :meth:`form`."""
        return self.form()

    def validate(self, spec: JobSpec) -> JobSpec:
        """Check the spec means something on this platform; raise InvalidSpec naming the field.

        It may read files and parse them: callers run it through :meth:`validated`, off the event loop.
        """
        return spec

    async def validated(self, spec: JobSpec) -> JobSpec:
        """``spec`` as :meth:`validate` makes it, checked in a thread, once: a spec this backend has already
        validated comes back as is. The service validates every submission before ``submit``, and
        ``submit`` calls this too, so a script calling ``submit`` directly gets its spec checked as well."""
        if self._validated.get(id(spec)) is spec:
            return spec
        checked = await asyncio.to_thread(self.validate, spec)
        self._validated[id(checked)] = checked
        return checked

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        """Start the job on the platform. ``job_id`` is ours, usable as a client token.

        Implementations start with ``spec = await self.validated(spec)`` (no second check when the
        service has validated it)."""
        raise NotSupported(f"backend '{self.name}' cannot submit jobs", backend=self.name)

    async def status(self, remote_id: str) -> RemoteStatus:
        raise NotSupported(f"backend '{self.name}' cannot report status", backend=self.name)

    async def status_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteStatus]:
        """Statuses of several jobs; an id missing from the answer is one the platform does not know."""
        return {remote_id: await self.status(remote_id) for remote_id in remote_ids}

    async def cancel(self, remote_id: str) -> None:
        raise NotSupported(f"backend '{self.name}' cannot cancel jobs", backend=self.name)

    async def delete(self, remote_id: str) -> None:
        """Remove the job from the platform, stopping it first if it still runs."""
        raise NotSupported(f"backend '{self.name}' cannot delete jobs", backend=self.name)

    async def recover(self, job_id: str) -> str | None:
        """Find the platform's job for our ``job_id`` when its submission's answer was lost (a timeout, a
        reset, a 5xx, the server killed mid-call): its remote id, or None when the platform shows none.

        A backend whose platform keeps nothing of ours to look a job up by keeps this default and says
        why in its docstring: such a job then ends UNKNOWN with words, never FAILED."""
        return None

    async def list_jobs(self) -> list[tuple[str, RemoteStatus]]:
        """Every job of the account on the platform, all pages: (remote id, status). ``can_list`` says
        whether a backend offers it."""
        raise NotSupported(f"backend '{self.name}' cannot list the platform's jobs", backend=self.name)

    async def detail(self, remote_id: str) -> JobDetail:
        """More of the job than its status (``has_detail``); facts must hold no secret."""
        raise NotSupported(f"backend '{self.name}' offers no job detail", backend=self.name)

    async def act(self, remote_id: str, action: str, values: Mapping[str, Any]) -> RemoteStatus:
        """Run one of the actions ``detail`` offers, with the values of its form; the job's status after it.
        InvalidSpec naming the field for bad values; NotSupported for an action the job does not offer."""
        raise NotSupported(f"backend '{self.name}' offers no job actions", backend=self.name)

    async def discover(self, known: Collection[str]) -> list[DiscoveredJob]:
        """Jobs the platform started on its own that are not among ``known`` remote ids (``discovers_jobs``)."""
        return []

    async def logs(self, remote_id: str, offset: int = 0) -> LogChunk:
        raise NotSupported(f"backend '{self.name}' offers no logs", backend=self.name)

    async def results(self, remote_id: str) -> list[ResultFile]:
        raise NotSupported(f"backend '{self.name}' offers no results", backend=self.name)

    def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        """Stream one result's bytes. Raise NotFound for an unknown name."""
        raise NotSupported(f"backend '{self.name}' offers no results", backend=self.name)

    # callbacks ------------------------------------------------------------------------
    #: Set by the server when it can receive platform callbacks: our job id → the callback URL
    #: to hand to the platform (an unguessable token is in it). None: the jobs are polled only.
    webhook_url: Callable[[str], str] | None = None

    #: Set by the server: the folders a spec's local files must lie in (its root_dir and uploads
    #: folder). Empty (a backend used from a script): any path but the system's own.
    local_roots: tuple[Path, ...] = ()

    def local_source(self, text: str, *, field: str, required: bool = False) -> Path | None:
        """The local file or folder a spec value names, or None when it names none (a platform path).

        ``file://…`` always means a local path; any other text is local when it exists under
        ``local_roots``. With ``required`` (the value can only be local) or ``file://``, a path
        outside them (or hidden in them), in ``/proc``, ``/sys`` or ``/dev``, on another host, or missing is
        refused naming ``field``:
        reading any server file would let a spec hand out the server's own secrets.
        """
        explicit = text.startswith("file://")
        raw = _local_path_text(text, field) if explicit else text
        if not raw.strip():
            return None
        resolved = self._resolve_local(raw)
        allowed = self._shares(resolved)
        if allowed and resolved.exists():
            return resolved
        if not (explicit or required):
            return None
        if not allowed:
            where = " or ".join(str(root) for root in self.local_roots) or "the server's own files"
            raise InvalidSpec(
                f"'{text}' is not a file this server shares: local files must lie under {where}, outside hidden "
                "folders", field=field,
            )
        raise InvalidSpec(f"the local file or folder '{text}' does not exist", field=field)

    def _resolve_local(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        if not path.is_absolute() and self.local_roots:
            path = self.local_roots[0] / path
        return path.resolve()

    def _shares(self, resolved: Path) -> bool:
        """Whether a spec may name this file: not the system's own, and under ``local_roots`` when set."""
        if any(resolved.is_relative_to(root) for root in SYSTEM_ROOTS):
            return False
        return not self.local_roots or any(_shared_under(resolved, root) for root in self.local_roots)

    def attach_status_sink(self, sink: StatusSink) -> None:
        """Have the backend tell ``sink`` each status change it sees by itself (the job monitor's polls become
        a safety net), naming the job by the remote id its submission answered (for ``local``: our job id).
        A backend that learns of changes only when asked ignores it."""

    def proxy_refusal(self, path: str) -> str | None:
        """Why the passthrough must not forward to this API path (relative, decoded), or None."""
        return None

    async def handle_webhook(self, remote_id: str, body: Any) -> RemoteStatus | None:
        """Read a platform callback about one job: its fresh status, or None to have it polled now.

        Raise InvalidSpec when the body is not what the platform sends (the job stays untouched).
        """
        raise NotSupported(f"backend '{self.name}' takes no callbacks", backend=self.name)

    # capacity -------------------------------------------------------------------------
    async def environments(self) -> list[Environment]:
        raise NotSupported(f"backend '{self.name}' has no environments", backend=self.name)

    async def clusters(self) -> list[Cluster]:
        raise NotSupported(f"backend '{self.name}' has no clusters", backend=self.name)

    def cluster_meaning(self, status: str) -> str:
        """What a native cluster status means (one of CLUSTER_MEANINGS), by ``cluster_status_meanings``."""
        return self.cluster_status_meanings.get((status or "").strip().lower(), "unknown")

    def with_health(self, clusters: list[Cluster]) -> list[Cluster]:
        """The clusters with ``health`` set from their status by this backend's table (the service applies it
        to what :meth:`clusters` answers)."""
        for cluster in clusters:
            cluster.health = self.cluster_meaning(cluster.status)
        return clusters

    # passthrough ----------------------------------------------------------------------
    @property
    def api_base(self) -> str | None:
        """The platform API the passthrough may forward to, or None."""
        return None

    async def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a passthrough request (added on the server only)."""
        return {}


#: The program kinds of backends that run code they are given (local, ray): a spec names exactly one.
PROGRAM_FIELDS = ("command", "script", "code", "notebook")


def one_program(spec: JobSpec) -> str:
    """The one program field a spec gives (command, script, code or notebook), non-empty and without NUL
    bytes; InvalidSpec naming the field otherwise."""
    given = [name for name in PROGRAM_FIELDS if getattr(spec, name) is not None]
    if not given:
        raise InvalidSpec("give one of command, script, code or notebook", field="command")
    if len(given) > 1:
        raise InvalidSpec(f"give only one of {', '.join(given)}", field=given[0])
    program = given[0]
    value = getattr(spec, program)
    if not value.strip():
        raise InvalidSpec(f"'{program}' must not be empty", field=program)
    if "\0" in value:
        raise InvalidSpec(f"'{program}' must not contain a NUL byte", field=program)
    return program


def config_known(config: Mapping[str, Any], known: Collection[str], *, kind: str) -> None:
    """Refuse a backend config with a key not in ``known`` (InvalidSpec naming the first such key)."""
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise InvalidSpec(
            f"unknown {kind} backend config key '{unknown[0]}' (known: {', '.join(sorted(known))})", field=unknown[0]
        )


def config_text(config: Mapping[str, Any], key: str, default: str | None, *, kind: str) -> str | None:
    """A non-empty string setting of a backend's config (stripped), or ``default``."""
    value = config.get(key, default)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidSpec(f"{kind} backend config '{key}' must be a non-empty string", field=key)
    return value.strip() if isinstance(value, str) else None


def config_positive(config: Mapping[str, Any], key: str, default: Any, *, kind: str) -> Any:
    """A positive number setting of a backend's config (as given), or ``default``."""
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidSpec(f"{kind} backend config '{key}' must be a positive number", field=key)
    return value


def public_url(url: str) -> str:
    """``url`` as it may be shown (``describe``): without a user, password, query or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _local_path_text(url_text: str, field: str) -> str:
    """The path of a ``file://`` URL; one naming another host is refused."""
    url = urlsplit(url_text)
    if url.netloc not in ("", "localhost"):
        raise InvalidSpec(f"'{url_text}' names a file on another host ({url.netloc})", field=field)
    return unquote(url.path)


def _shared_under(path: Path, root: Path) -> bool:
    """``path`` lies under ``root`` and in no hidden folder of it (as Jupyter's file browser shares files)."""
    return path.is_relative_to(root) and not any(part.startswith(".") for part in path.relative_to(root).parts)


#: Folders whose files describe the server process itself, never a user's input.
SYSTEM_ROOTS: tuple[Path, ...] = (Path("/proc"), Path("/sys"), Path("/dev"))

#: Fields every backend's form starts with.
COMMON_FIELDS: tuple[FormField, ...] = (
    FormField("name", "Job name", "string", help="A name to find the job by; defaults to the program's name."),
    FormField("tags", "Tags", "tags", help="Words to filter the job list by."),
    FormField("timeout_s", "Time limit (s)", "number", min=1, help="Stop the job after this many seconds."),
)

#: Built-in backend kinds; a ``kind`` may also be a ``module:Class`` path to a third-party backend.
BUILTIN_KINDS: dict[str, str] = {
    "local": "jupyter_compute.backends.local:LocalBackend",
    "maap": "jupyter_compute.backends.maap:MaapBackend",
    "datastory": "jupyter_compute.backends.datastory:DatastoryBackend",
    "modelarts": "jupyter_compute.backends.modelarts:ModelArtsBackend",
    "ocean": "jupyter_compute.backends.ocean:OceanBackend",
    "ray": "jupyter_compute.backends.ray:RayBackend",
}


def backend_class(kind: str) -> type[Backend]:
    """Resolve a backend kind (built-in name or ``module:Class``) to its class."""
    target = BUILTIN_KINDS.get(kind, kind)
    if ":" not in target:
        known = ", ".join(sorted(BUILTIN_KINDS))
        raise InvalidSpec(f"unknown backend kind '{kind}' (known: {known})", field="kind")
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise InvalidSpec(f"backend kind '{kind}' cannot be loaded: {exc}", field="kind") from exc
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise InvalidSpec(f"backend kind '{kind}' is not a Backend subclass", field="kind")
    return cls
