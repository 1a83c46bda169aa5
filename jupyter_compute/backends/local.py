"""The ``local`` backend: runs jobs on this machine, and they survive a restart of the server.

Each job lives in ``<data_dir>/jobs/<job_id>/`` (layout in :mod:`.local_files`) and runs under a
detached runner process (:mod:`.local_runner`), never as a child task of the server: the backend
writes the queue journal, starts runners, and reads what they leave behind. At most ``max_jobs`` run at
once; the others wait, oldest first, in memory and as lines of the queue journal (:mod:`.local_journal`);
a runner makes its job's folder as it starts. The backend makes a folder itself only for a notebook job
(queued as a folder: its input is the notebook as it was submitted) and for a job settled before its
runner made it (cancelled, or lost).

A free slot is refilled the moment a runner exits (:mod:`.local_watch`: an event, not a tick); a
slow tick (``SAFETY_TICK_S``) only looks again at what runs, for runners no event covers. The
backend tells its changes itself to whoever attached a status sink (the server's job service): a
queued job costs no look at the disk, and once a sink is attached the monitor's polls of its jobs
are a rare safety net (``PUSHED_POLL_S``).

What each job costs the server while a queue drains: one hop to a worker thread, which starts the
next runner and reads the folders of the runners that exited (their final status and results, so
recording an end reads nothing again); the runner records its own pid. Changes are told in batches
(``PUSH_DELAY_S``), a job only once it has run ``TELL_RUNNING_AFTER_S`` (a short job: once, as ended).

Config keys: ``max_jobs`` (default: CPU count), ``default_timeout_s``, ``python`` (interpreter of
scripts and code, default ``sys.executable``), ``kernel_name`` (of notebooks, default
``python3``), ``cwd`` (where commands and scripts run and relative paths are resolved,
default the server's working directory) and ``hidden_env`` (names of environment variables the
jobs must not see, on top of the Jupyter tokens always hidden) and ``safety_tick_s`` (default
``SAFETY_TICK_S``). Notebooks run in their own folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import keyword
import logging
import mimetypes
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import psutil

from ..errors import InvalidSpec, NotFound
from ..models import (
    Cluster,
    Environment,
    JobSpec,
    JobState,
    LogChunk,
    RemoteStatus,
    ResultFile,
    map_native_status,
    parse_time,
    utcnow,
)
from . import local_files as files
from ..forms import Form, FormField
from .base import (
    PROGRAM_FIELDS, COMMON_FIELDS, Backend, Capabilities, StatusSink, Submission, config_positive, one_program,
)
from .local_journal import QueueJournal
from .local_notebook import prepare_notebook, read_notebook
from .local_procs import is_alive, kill_job
from .local_runner import FOLDER_TAKEN, GRACE_S, PLAN_ON_STDIN
from .local_watch import ExitWatch, open_pidfd

RUNNER_MODULE = "jupyter_compute.backends.local_runner"
NOTEBOOK_MODULE = "jupyter_compute.backends.local_notebook"
PARAM_ENV_PREFIX = "JUPYTER_COMPUTE_PARAM_"
#: Credentials of the Jupyter server, never passed on to a runner or its job.
ALWAYS_HIDDEN_ENV = frozenset({"JUPYTER_COMPUTE_TOKEN", "JUPYTER_TOKEN", "JPY_API_TOKEN"})
#: Media types mimetypes does not know (or gets wrong) for common result files.
MEDIA_TYPES: dict[str, str] = {
    ".parquet": "application/vnd.apache.parquet",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".ipynb": "application/x-ipynb+json",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".md": "text/markdown",
    ".arrow": "application/vnd.apache.arrow.file",
    ".feather": "application/vnd.apache.arrow.file",
    ".geojson": "application/geo+json",
}
CHUNK_SIZE = 1024 * 1024
LOG_READ_LIMIT = 1024 * 1024
#: A runner that has not recorded its pid (or, for a job from the queue journal, made its job's folder) this long
#: after its launch is taken as lost.
STARTING_GRACE_S = 10.0
#: How often the background task looks at running jobs without being told: a safety net, for runners no
#: exit event covers (adopted after a restart where the OS has no pidfd); slots are refilled on events.
SAFETY_TICK_S = 5.0
#: The monitor's poll interval of this backend's jobs once it pushes its changes to a status sink.
PUSHED_POLL_S = 120.0
#: How long changes gather before they are told: a job that ends meanwhile is told once, as ended.
PUSH_DELAY_S = 0.1
#: A launched job is told running once it has run this long: a shorter one is told once, as ended (most of
#: a queue of short jobs costs the status sink one record each, not two).
TELL_RUNNING_AFTER_S = 0.1
#: How long pushes wait after the status sink failed: the first delay doubles up to the last.
PUSH_RETRY_S = (0.5, 10.0)
#: Statuses told to the sink at once (concurrently: a store that batches its calls takes them in a few hops).
PUSH_BATCH = 100
#: The message of a job whose folder survived an OS crash without its plan (:func:`LocalBackend._load_active`).
INCOMPLETE_MESSAGE = "job folder incomplete (the machine stopped while it was written)"
#: Where the runners of jobs from the queue journal write until they made their folder (then: its runner.log).
RUNNERS_LOG = ".runners.log"
#: A RUNNERS_LOG this large is moved aside (to RUNNERS_LOG + ".1", replacing the one before) for a new one.
RUNNERS_LOG_MAX_BYTES = 1 << 20
#: What a pipe holds without its reader (Linux): a plan this long is written to a starting runner at once.
PIPE_BYTES = 65536
#: The message of a job from the queue journal whose runner ended before it made the job's folder.
NEVER_STARTED_MESSAGE = f"lost: its runner ended before it started the job (see {RUNNERS_LOG} or {RUNNERS_LOG}.1)"
#: The message of a job from the queue journal whose folder was not made ``STARTING_GRACE_S`` after its launch.
SLOW_START_MESSAGE = (f"lost: its runner did not start the job within {STARTING_GRACE_S:g} s "
                      f"(see {RUNNERS_LOG} or {RUNNERS_LOG}.1)")
#: Interpreter options of the runner, tried in this order in the background from ``start`` (the first that
#: imports it and psutil wins; the first launch waits for it): isolated (no PYTHON* variables, no user site)
#: and without ``site`` where the packages are reachable so.
RUNNER_FLAGS = (("-I", "-S"), ("-I",), ())
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


_runners_log_turn = threading.Lock()


def open_runners_log(jobs_dir: Path, logger: logging.Logger) -> int:
    """RUNNERS_LOG of ``jobs_dir`` open for appending (the caller closes it); one grown past RUNNERS_LOG_MAX_BYTES is
    moved aside first (runners still writing to it go on writing there)."""
    path = jobs_dir / RUNNERS_LOG
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    with _runners_log_turn:
        log = os.open(path, flags, 0o644)
        try:
            if os.fstat(log).st_size < RUNNERS_LOG_MAX_BYTES:
                return log
            os.replace(path, path.with_name(RUNNERS_LOG + ".1"))
        except OSError as exc:  # written on rather than fail the job (and every one after it)
            logger.warning("could not move %s aside: %s", path, exc)
            return log
        os.close(log)
        return os.open(path, flags, 0o644)


def _feed(runner: subprocess.Popen[bytes], plan: bytes) -> None:
    """Write a runner's plan to its stdin and close it (a runner that ended already, a broken pipe: its exit tells)."""
    assert runner.stdin is not None
    with contextlib.suppress(OSError):
        try:
            runner.stdin.write(plan)
        finally:
            runner.stdin.close()


@dataclass
class _Active:
    """A job not finished yet, as the backend tracks it: queued, or launched under a runner."""

    job_id: str
    submitted: float
    #: Claimed (launched, being launched, or cancelled): its status is read from its folder, not memory (a job from
    #: the queue journal whose runner has not made its folder yet: starting).
    status_on_disk: bool
    #: The plan of a job kept in the queue journal (:mod:`.local_journal`): its folder is made as it starts.
    plan: bytes | None = None
    #: When it was launched (epoch seconds; 0: not by this instance).
    launched_at: float = 0.0


def runner_argv(job_dir: Path, flags: tuple[str, ...] = ()) -> list[str]:
    """The command that starts the runner of the job in ``job_dir``."""
    return [sys.executable, *flags, "-m", RUNNER_MODULE, str(job_dir)]


def probe_runner_flags() -> tuple[str, ...]:
    """The first of ``RUNNER_FLAGS`` with which this interpreter imports the runner and psutil, which the
    runner imports only when it needs it (blocking)."""
    for flags in RUNNER_FLAGS[:-1]:
        probe = [sys.executable, *flags, "-c", f"import psutil, {RUNNER_MODULE}"]
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0:
                return flags
    return RUNNER_FLAGS[-1]


def param_env_name(name: str) -> str:
    """The environment variable carrying parameter ``name`` to a command, script or code job."""
    return PARAM_ENV_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def media_type(name: str) -> str | None:
    """The media type of a result file, from its extension."""
    suffix = PurePosixPath(name).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0]


def _config_number(config: Mapping[str, Any], key: str, default: Any, kind: type) -> Any:
    value = config_positive(config, key, None, kind="local")
    return default if value is None else kind(value)


def _config_names(config: Mapping[str, Any], key: str) -> frozenset[str]:
    value = config.get(key)
    if value is None:
        return frozenset()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidSpec(f"local backend config '{key}' must be a list of strings", field=key)
    return frozenset(value)


def _check_no_nul(field: str, value: str, what: str) -> None:
    if "\0" in value:
        raise InvalidSpec(f"{what} must not contain a NUL byte", field=field)


def complete_utf8(data: bytes) -> bytes:
    """``data`` without a UTF-8 sequence cut at its end (it is read whole next time)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte or ASCII, not a continuation
            need = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


def _read_from(path: Path, offset: int, limit: int) -> tuple[bytes, int]:
    """Up to ``limit`` bytes of ``path`` from ``offset``, and the file's size."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset >= size:
                return b"", size
            f.seek(offset)
            return f.read(limit), size
    except FileNotFoundError:
        return b"", 0


def _is_partial_write(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _list_outputs(outputs: Path) -> list[ResultFile]:
    root: Path | None = None  # resolved once there is a file to check against it
    found = []
    for folder, dirs, names in os.walk(outputs):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            if _is_partial_write(name):
                continue
            root = root or outputs.resolve()
            if not path.resolve().is_relative_to(root):
                continue
            with contextlib.suppress(OSError):
                relative = path.relative_to(outputs).as_posix()
                found.append(
                    ResultFile(relative, path.stat().st_size, "output", media_type(relative))
                )
    return found


def _list_results(job_dir: Path) -> list[ResultFile]:
    """The job's outputs, then its log as ``job.log`` unless an output took that name."""
    found = _list_outputs(job_dir / files.OUTPUTS)
    if all(result.name != files.LOG for result in found):
        with contextlib.suppress(FileNotFoundError):
            size = (job_dir / files.LOG).stat().st_size
            found.append(ResultFile(files.LOG, size, "log", "text/plain"))
    return found


def _raw(machine: Mapping[str, Any]) -> dict[str, Any]:
    """The facts about this machine that have no normalised field."""
    keys = ("hostname", "platform", "python", "kernel_name", "load_average")
    return {k: machine[k] for k in keys}


async def _stream_file(path: Path) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK_SIZE):
            yield chunk
    finally:
        f.close()


class LocalBackend(Backend):
    """Runs command, script, code and notebook jobs as processes of this machine."""

    kind: ClassVar[str] = "local"
    capabilities = Capabilities(
        can_cancel=True,
        can_delete=True,
        has_logs=True,
        has_results=True,
        has_environments=True,
        has_clusters=True,
    )
    status_map: ClassVar[Mapping[str, JobState]] = {
        "queued": JobState.QUEUED,
        "running": JobState.RUNNING,
        "succeeded": JobState.SUCCEEDED,
        "failed": JobState.FAILED,
        "cancelled": JobState.CANCELLED,
        "timed_out": JobState.TIMED_OUT,
        "lost": JobState.FAILED,
    }
    poll_interval = 0.3
    poll_max_interval = 2.0
    environment_id: ClassVar[str] = "local"
    cluster_id: ClassVar[str] = "localhost"
    cluster_status_meanings: ClassVar[Mapping[str, str]] = {"running": "healthy"}

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        data_dir: Path | str | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        super().__init__(name, config, data_dir=data_dir, log=log)
        if self.data_dir is None:
            from jupyter_core.paths import jupyter_data_dir

            self.data_dir = Path(jupyter_data_dir()) / "compute" / name
        self.jobs_dir: Path = self.data_dir / "jobs"
        self.max_jobs: int = _config_number(self.config, "max_jobs", os.cpu_count() or 1, int)
        self.default_timeout_s: float | None = _config_number(
            self.config, "default_timeout_s", None, float
        )
        self.python = str(self.config.get("python") or sys.executable)
        self.kernel_name = str(self.config.get("kernel_name") or "python3")
        self.cwd = Path(self.config.get("cwd") or os.getcwd()).expanduser().resolve()
        self.hidden_env: frozenset[str] = ALWAYS_HIDDEN_ENV | _config_names(
            self.config, "hidden_env"
        )
        self._active: dict[str, _Active] = {}
        self._queue: list[tuple[float, str]] = []  # heap of the queued jobs (stale entries skipped)
        self._launched: set[str] = set()  # jobs whose runner runs (or may: adopted, not yet looked at)
        self._gone: set[str] = set()  # jobs whose runner was seen to exit: no status on disk now means lost
        self._exited: list[str] = []  # jobs whose runner exited, their folder not read since
        self._runners: dict[str, subprocess.Popen[bytes]] = {}
        self._exit_waiters: dict[str, asyncio.Event] = {}  # set when the runner of that job exits
        self._spawning: dict[str, asyncio.Event] = {}  # set when the launch of that job has started its runner or not
        self._exits = ExitWatch()
        self._schedule_lock = asyncio.Lock()
        self._kick = asyncio.Event()  # a slot may be free: fill it
        self._tasks: list[asyncio.Task[None]] = []
        self._chores: set[asyncio.Task[None]] = set()
        self._to_prepare: list[tuple[JobSpec, str, asyncio.Future[_Active | None]]] = []
        self._preparer: asyncio.Task[None] | None = None
        self._form: Form | None = None
        self._journal = QueueJournal(self.jobs_dir)
        self._scanned = False  # the journal and the folders were read (start)
        self._scan_task: asyncio.Future[None] | None = None
        self._runner_flags: tuple[str, ...] | None = None  # probed once, before the first spawn
        self._probe: asyncio.Task[tuple[str, ...]] | None = None
        self._sink: StatusSink | None = None
        self._unpushed: dict[str, RemoteStatus] = {}  # the latest status of each job not told yet
        self._not_before: dict[str, float] = {}  # when an unpushed status may be told (monotonic), if not at once
        self._held: set[str] = set()  # jobs being submitted: their status goes back as submit's answer
        #: The results of jobs whose end is being told, listed with their final status (one look at the disk):
        #: the sink's recording of that end asks for them next.
        self._ended_results: dict[str, list[ResultFile]] = {}
        self._pushes = asyncio.Event()
        #: How often the background task looks at running jobs unprompted (see ``SAFETY_TICK_S``).
        self.safety_tick_s: float = _config_number(self.config, "safety_tick_s", SAFETY_TICK_S, float)
        #: What the backend did: ``status`` calls, ``status_reads`` (those that read the disk),
        #: ``status_queued`` (answered from memory), ``spawns``, ``exits`` (seen as events), ``pushes``,
        #: ``ticks`` (safety looks).
        self.counters: Counter[str] = Counter()

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Re-attach to the jobs on disk, settle lost ones, watch running ones, fill free slots."""
        if self._tasks:
            return
        # The tasks first: a start cut short (the server's start timeout) still leaves a working backend.
        self._tasks = [
            asyncio.create_task(self._fill_slots(), name=f"local-backend-{self.name}"),
            asyncio.create_task(self._push_changes(), name=f"local-backend-{self.name}-push"),
        ]
        if self._probe is None and self._runner_flags is None:
            self._probe = asyncio.create_task(asyncio.to_thread(probe_runner_flags))
        # Shielded: a start cut short still tracks what the scan found (the journal's jobs are known nowhere else).
        self._scan_task = asyncio.ensure_future(self._scan_and_track())
        self._tasks.append(self._scan_task)
        await asyncio.shield(self._scan_task)
        for job_id in list(self._launched):
            await self._refresh(job_id)
        for job_id in list(self._launched):
            await self._adopt(job_id)
        await self._schedule()

    async def _scan_and_track(self) -> None:
        for active in await asyncio.to_thread(self._scan):
            if active.job_id not in self._active:  # not submitted while this scan ran
                self._track(active)
        self._scanned = True
        self._kick.set()

    async def close(self) -> None:
        """Stop the background tasks; running jobs keep running and a new instance picks them up."""
        tasks: list[asyncio.Task[Any]] = [*self._tasks, *self._chores]
        self._tasks = []
        if self._probe is not None and self._runner_flags is None:
            tasks.append(self._probe)
            self._probe = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._exits.close()
        self._journal.close()

    def attach_status_sink(self, sink: StatusSink) -> None:
        """Tell ``sink`` every status change from now on (and those not told yet); the monitor's polls
        of this backend's jobs then become a rare safety net (``PUSHED_POLL_S``)."""
        if self._sink is sink:
            return
        self._sink = sink
        self.poll_interval = self.poll_max_interval = PUSHED_POLL_S
        self._pushes.set()

    # jobs -----------------------------------------------------------------------------
    def form(self) -> Form:
        """Program (exactly one of four kinds), parameters, environment, cluster and the common fields (the same
        for every job: built once, as every submission is checked against it)."""
        if self._form is None:
            self._form = self._build_form()
        return self._form

    def _build_form(self) -> Form:
        fields = (
            FormField("command", "Shell command", "text", help="Run with /bin/sh -c in the server's folder."),
            FormField("script", "Python script", "path", help="Path of a .py file on the server."),
            FormField("code", "Python code", "code", help="Inline Python source to run."),
            FormField("notebook", "Notebook", "path",
                      help="Path of an .ipynb file; parameters go after its cell tagged 'parameters'."),
            FormField("params", "Parameters", "mapping",
                      help="name=value pairs: JUPYTER_COMPUTE_PARAM_<NAME> for programs, variables for notebooks."),
            FormField("environment", "Environment", "choice", default=self.environment_id,
                      choices=(self.environment_id,), help="This machine."),
            FormField("cluster", "Cluster", "choice", default=self.cluster_id, choices=(self.cluster_id,)),
            *COMMON_FIELDS,
        )
        return Form(fields=fields, one_of=(PROGRAM_FIELDS,))

    def validate(self, spec: JobSpec) -> JobSpec:
        """Check program, environment, cluster and params; make script/notebook paths absolute.

        Reads the script's and the notebook's file: call it from a worker thread.
        """
        if spec.algorithm is not None:
            raise InvalidSpec(
                "the local backend runs a command, script, code or notebook, not an algorithm",
                field="algorithm",
            )
        program = one_program(spec)
        self._check_choice("environment", spec.environment, self.environment_id)
        self._check_choice("cluster", spec.cluster, self.cluster_id)
        self._check_params(spec.params, for_notebook=program == "notebook")
        if program in ("script", "notebook"):
            path = self._existing_file(program, getattr(spec, program))
            if program == "notebook":
                read_notebook(path)
            return spec.replace(**{program: str(path)})
        return spec

    async def validated(self, spec: JobSpec) -> JobSpec:
        """As :meth:`Backend.validated`, but a spec with no file to read (a command or code) is checked at
        once, on the loop: that check is quick, and a worker thread would cost a submission more."""
        if spec.script is not None or spec.notebook is not None or self._validated.get(id(spec)) is spec:
            return await super().validated(spec)
        checked = self.validate(spec)
        self._validated[id(checked)] = checked
        return checked

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        """Queue the job (once per ``job_id``: a line of the queue journal, or a notebook job's folder) and start it
        if a slot is free.

        Its changes meanwhile are told to the status sink only after this returns (in its answer).
        """
        if not _JOB_ID.match(job_id):
            raise InvalidSpec(f"invalid job id '{job_id}'", field="job_id")
        spec = await self.validated(spec)
        self._held.add(job_id)
        try:
            active = await self._prepare_in_turn(spec, job_id)
            if active is not None and job_id not in self._active:
                self._track(active)
            await self._schedule()
            status = self._known_status(job_id) or await self.status(job_id)
        finally:
            self._held.discard(job_id)
        later = self._unpushed.pop(job_id, None)
        if later is not None and later != status:  # it changed after the answer was read
            self._tell(job_id, later)
        return Submission(remote_id=job_id, status=status)

    async def status(self, remote_id: str) -> RemoteStatus:
        """The job's status: a queued one from memory, else from its folder (a dead runner without a
        status is settled as lost)."""
        self.counters["status"] += 1
        active = self._active.get(remote_id)
        if active is not None and not active.status_on_disk:
            self.counters["status_queued"] += 1
            return self._queued_status(len(self._launched))
        self.counters["status_reads"] += 1
        try:
            looked = await asyncio.to_thread(self._read_status, *self._look(remote_id))
        except FileNotFoundError:  # deleted while it was read
            self._job_dir(remote_id)  # NotFound, unless the folder is there after all
            raise
        return self._looked(remote_id, looked)

    def _look(self, remote_id: str) -> tuple[str, int, bool, bool]:
        """The arguments of :meth:`_read_status` for a job whose folder is to be read now."""
        told = remote_id in self._active and self._sink is not None and remote_id not in self._held  # if it ended
        return remote_id, len(self._launched), told, remote_id in self._gone

    def _looked(self, remote_id: str, looked: tuple[RemoteStatus, bool, list[ResultFile] | None]) -> RemoteStatus:
        """Take in what :meth:`_read_status` found: a job that ended frees its slot and its end is told."""
        status, ended, results = looked
        if ended:
            self._gone.discard(remote_id)
            if results is not None and remote_id in self._active:
                self._ended_results[remote_id] = results
            self._ended(remote_id, status)
        return status

    recover_is_certain = True  # a job is its journal line or its folder: there or not

    async def recover(self, job_id: str) -> str | None:
        """``job_id`` itself if its folder or its queue journal line was written before the server was interrupted."""
        if not _JOB_ID.match(job_id):
            return None
        if (self.jobs_dir / job_id).is_dir():
            return job_id
        if not self._scanned:  # asked before start read the journal (a slow start): it is read now
            return job_id if await asyncio.to_thread(self._journal.__contains__, job_id) else None
        return job_id if job_id in self._journal else None

    async def _scan_done(self) -> None:
        """Wait until start's scan has tracked the jobs on disk: a job of the queue journal is known only then, and
        a request for it may come while the scan runs (it failing is start's to tell)."""
        if self._scan_task is not None and not self._scan_task.done():
            await asyncio.wait([self._scan_task])

    async def cancel(self, remote_id: str) -> None:
        """Stop a job (and all its processes) and wait briefly until it is recorded as cancelled."""
        await self._scan_done()
        if await self._cancel_from_journal(remote_id):
            return
        job_dir = self._job_dir(remote_id)
        if (job_dir / files.STATUS).exists():
            return
        (job_dir / files.CANCEL).touch()
        if await asyncio.to_thread(self._cancel_if_queued, job_dir):
            active = self._active.get(remote_id)
            if active is not None:
                active.status_on_disk = True  # claimed: its status is on disk now (no slot taken)
            await self._refresh(remote_id)
            return
        self._signal_runner(job_dir)
        deadline = time.monotonic() + GRACE_S + 3.0
        while time.monotonic() < deadline:
            if (await self.status(remote_id)).state.is_terminal:
                return
            await asyncio.sleep(0.1)
        self.log.warning("local job %s: still stopping after cancel", remote_id)

    async def _cancel_from_journal(self, remote_id: str) -> bool:
        """Settle as cancelled a job from the queue journal whose folder is not made yet, by making it (which takes
        its launch claim); False if it is no such job."""
        plan = self._pending_plan(remote_id)
        if plan is None:
            return False
        active = self._active[remote_id]
        launched = active.status_on_disk
        active.status_on_disk = True  # claimed: not launched now (a runner launched meanwhile finds it taken)
        status = files.final_status("CANCELLED", "cancelled before it started")
        try:
            made = await asyncio.to_thread(files.materialize, self.jobs_dir / remote_id, plan, status=status)
        except BaseException:
            if not launched:
                active.status_on_disk = False
                heapq.heappush(self._queue, (active.submitted, remote_id))
            raise
        if not made:  # its runner made it first: it runs, and is stopped as any other
            return False
        await self._refresh(remote_id)
        return True

    async def delete(self, remote_id: str) -> None:
        """Cancel the job if it has not ended, then remove its folder (and its queue journal line)."""
        await self._scan_done()
        if self._pending_plan(remote_id) is None:
            self._job_dir(remote_id)  # NotFound
        await self.cancel(remote_id)
        await self._runner_exit(remote_id)
        job_dir = self._job_dir(remote_id)
        self._forget(remote_id)
        await asyncio.to_thread(self._remove, remote_id, job_dir)

    async def _runner_exit(self, job_id: str) -> None:
        """Wait (a bounded time) until the runner this instance started (or is starting) for the job exited: one
        still starting would make the job's folder again once it is removed, and run it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STARTING_GRACE_S + GRACE_S):
                spawning = self._spawning.get(job_id)
                if spawning is not None:  # its launch is under way: the runner may be about to start
                    await spawning.wait()
                if job_id in self._runners:
                    await self._exit_waiters.setdefault(job_id, asyncio.Event()).wait()

    def _remove(self, remote_id: str, job_dir: Path) -> None:
        self._journal.drop(remote_id)  # first: a folder left by a crash here is read as what it says
        files.remove_job_folder(job_dir)

    def _pending_plan(self, remote_id: str) -> bytes | None:
        """The plan of a job from the queue journal whose folder is not made yet; None for any other."""
        active = self._active.get(remote_id)
        if active is None or active.plan is None or (self.jobs_dir / remote_id).is_dir():
            return None
        return active.plan

    async def logs(self, remote_id: str, offset: int = 0) -> LogChunk:
        """Log text from byte ``offset``; ``complete`` once the job ended and all was read."""
        if offset < 0:
            raise InvalidSpec("'offset' must not be negative", field="offset")
        await self._scan_done()
        if self._pending_plan(remote_id) is not None:  # not started: nothing logged yet
            return LogChunk("", offset, False)
        job_dir = self._job_dir(remote_id)
        ended = (job_dir / files.STATUS).exists()
        log = job_dir / files.LOG
        data, size = await asyncio.to_thread(_read_from, log, offset, LOG_READ_LIMIT)
        at_end = offset + len(data) >= size
        if not (ended and at_end):
            data = complete_utf8(data)
        next_offset = offset + len(data)
        return LogChunk(
            data.decode("utf-8", errors="replace"), next_offset, ended and next_offset >= size
        )

    async def results(self, remote_id: str) -> list[ResultFile]:
        """Every file under the job's ``outputs/`` (posix relative names), then its log.

        An output named ``job.log`` takes that name; the log is then left out (see :meth:`logs`). For a job
        whose end is being told, as listed when its end was read (nothing changes them once it ended).
        """
        listed = self._ended_results.get(remote_id)
        if listed is not None:
            return list(listed)
        await self._scan_done()
        if self._pending_plan(remote_id) is not None:  # not started: no results yet
            return []
        return await asyncio.to_thread(_list_results, self._job_dir(remote_id))

    def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        """Stream a result's bytes in 1 MiB chunks; ``job.log`` is the log unless an output."""
        return _stream_file(self._result_path(self._results_dir(remote_id, name), name))

    # capacity -------------------------------------------------------------------------
    async def environments(self) -> list[Environment]:
        """This machine, as the one environment jobs can run in."""
        machine = await asyncio.to_thread(self._machine)
        return [
            Environment(
                id=self.environment_id,
                name="This machine",
                backend=self.name,
                description=f"jobs run as processes on {machine['hostname']}",
                cpus=machine["cpus"],
                memory_gb=machine["memory_gb"],
                disk_gb=machine["disk_gb"],
                max_jobs=self.max_jobs,
                running_jobs=len(self._launched),
                max_duration_s=self.default_timeout_s,
                raw=_raw(machine),
            )
        ]

    async def clusters(self) -> list[Cluster]:
        """This machine as a one-node cluster; CPUs are allocatable minus one per running job."""
        machine = await asyncio.to_thread(self._machine)
        running = len(self._launched)
        return [
            Cluster(
                id=self.cluster_id,
                name=machine["hostname"],
                backend=self.name,
                status="running",
                nodes=1,
                nodes_available=1 if running < self.max_jobs else 0,
                cpus=machine["cpus"],
                cpus_allocatable=max(machine["cpus"] - running, 0),
                memory_gb=machine["memory_gb"],
                memory_gb_allocatable=machine["memory_gb_available"],
                raw=_raw(machine),
            )
        ]

    # validation helpers ---------------------------------------------------------------
    def _check_choice(self, field: str, value: str | None, only: str) -> None:
        if value is not None and value != only:
            raise InvalidSpec(
                f"unknown {field} '{value}': the local backend has only '{only}'", field=field
            )

    def _check_params(self, params: Mapping[str, Any], *, for_notebook: bool) -> None:
        try:
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise InvalidSpec(f"parameters must be JSON values: {exc}", field="params") from exc
        for name, value in params.items():
            _check_no_nul("params", name, f"parameter name {name!r}")
            if isinstance(value, str):
                _check_no_nul("params", value, f"the value of parameter {name!r}")
        if for_notebook:
            for name in params:
                if not name.isidentifier() or keyword.iskeyword(name):
                    raise InvalidSpec(
                        f"notebook parameter '{name}' is not a Python name", field="params"
                    )
        elif len({param_env_name(n) for n in params}) != len(params):
            raise InvalidSpec(
                "two parameter names map to the same environment variable", field="params"
            )

    def _existing_file(self, field: str, value: str) -> Path:
        path = Path(value).expanduser()
        path = (path if path.is_absolute() else self.cwd / path).resolve()
        if not path.is_file():
            raise InvalidSpec(f"no such {field} file: '{value}'", field=field)
        if field == "notebook" and path.suffix != ".ipynb":
            raise InvalidSpec(f"a notebook must be an .ipynb file: '{value}'", field=field)
        return path

    # job folders ----------------------------------------------------------------------
    def _job_dir(self, remote_id: str) -> Path:
        job_dir = self.jobs_dir / remote_id
        if not _JOB_ID.match(remote_id) or not job_dir.is_dir():
            raise NotFound(f"no local job '{remote_id}'", backend=self.name, job_id=remote_id)
        return job_dir

    async def _prepare_in_turn(self, spec: JobSpec, job_id: str) -> _Active | None:
        """:meth:`_prepare_job` in a worker thread, with the folders of the submissions that come meanwhile:
        one thread hop for many concurrent submissions."""
        done: asyncio.Future[_Active | None] = asyncio.get_running_loop().create_future()
        self._to_prepare.append((spec, job_id, done))
        if self._preparer is None or self._preparer.done():
            self._preparer = asyncio.create_task(self._prepare_pending())
        return await done

    async def _prepare_pending(self) -> None:
        while self._to_prepare:
            batch, self._to_prepare = self._to_prepare, []
            outcomes = await asyncio.to_thread(self._prepare_jobs, [(spec, job_id) for spec, job_id, _ in batch])
            for (_, _, done), outcome in zip(batch, outcomes, strict=True):
                if done.done():
                    continue
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)

    def _prepare_jobs(self, batch: list[tuple[JobSpec, str]]) -> list[_Active | Exception | None]:
        """:meth:`_prepare_job` of each (worker thread); the queue journal is written once for them all."""
        outcomes: list[_Active | Exception | None] = []
        journaled: dict[str, bytes] = {}
        for spec, job_id in batch:
            try:
                outcomes.append(self._prepare_job(spec, job_id, journaled))
            except Exception as exc:  # noqa: BLE001 — raised by that job's own submit
                outcomes.append(exc)
        if journaled:
            try:
                self._journal.append(list(journaled.items()))
            except OSError as exc:  # e.g. the disk is full: none of them is submitted
                return [exc if isinstance(outcome, _Active) and outcome.job_id in journaled else outcome
                        for outcome in outcomes]
        return outcomes

    def _prepare_job(self, spec: JobSpec, job_id: str, journaled: dict[str, bytes]) -> _Active | None:
        """The blocking part of :meth:`submit`: the job's line for the queue journal (added to ``journaled``) or,
        for a notebook (its input is the notebook as it is now), its folder; its entry unless it ended. None if
        it was submitted before and is tracked already."""
        final = self.jobs_dir / job_id
        if job_id in journaled or job_id in self._journal:
            return None
        if spec.notebook is None and not final.exists():
            plan = self._plan(final, spec, job_id)
            journaled[job_id] = json.dumps(plan, separators=(",", ":")).encode("utf-8")
            return _Active(job_id, plan["submitted"], False, journaled[job_id])
        submitted = self._create_job(spec, job_id)
        if submitted is None:  # submitted before: as its folder says
            return self._load_active(final)
        return _Active(job_id, submitted, False)

    def _create_job(self, spec: JobSpec, job_id: str) -> float | None:
        """Fill a temporary folder and rename it into place, so a job folder is always whole.

        When it was submitted (epoch seconds); None if the folder was there already.
        """
        final = self.jobs_dir / job_id
        if final.exists():
            return None
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{job_id}-", dir=self.jobs_dir))
        except FileNotFoundError:  # the first job, or its parent was removed
            self.jobs_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{job_id}-", dir=self.jobs_dir))
        try:
            submitted = self._fill_job_dir(tmp, final, spec, job_id)
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not final.exists():
                raise
            return None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return submitted

    def _fill_job_dir(self, tmp: Path, final: Path, spec: JobSpec, job_id: str) -> float:
        """Write the plan, the files it names and a notebook's input (the runner makes the rest at its start)."""
        plan = self._plan(final, spec, job_id)
        if spec.notebook is not None:
            prepare_notebook(Path(spec.notebook), tmp / files.NOTEBOOK_INPUT, spec.params)
        for name, text in plan.get("files", {}).items():
            files.write_fresh(tmp / name, text.encode("utf-8"))
        files.write_fresh(tmp / files.PLAN, plan)
        return float(plan["submitted"])

    def _plan(self, final: Path, spec: JobSpec, job_id: str) -> dict[str, Any]:
        """What the runner starts: argv, cwd, env, timeout, the spec, and the files to write beside it (paths as
        they are once the job's folder is ``final``)."""
        argv, cwd, extra = self._program(final, spec)
        env = {
            "JUPYTER_COMPUTE_JOB_ID": job_id,
            "JUPYTER_COMPUTE_OUTPUT_DIR": str(final / files.OUTPUTS),
            "JUPYTER_COMPUTE_PARAMS": str(final / files.PARAMS),
        }
        for name, value in spec.params.items():
            env[param_env_name(name)] = value if isinstance(value, str) else json.dumps(value)
        plan: dict[str, Any] = {
            "argv": argv,
            "cwd": str(cwd),
            "env": env,
            "timeout_s": spec.timeout_s or self.default_timeout_s,
            "submitted": time.time(),
            "spec": spec.to_dict(),
        }
        if extra:
            plan["files"] = extra
        return plan

    def _program(self, final: Path, spec: JobSpec) -> tuple[list[str], Path, dict[str, str]]:
        """The job's argv, working directory and the files of its folder that the plan names (a notebook's input
        aside: see :meth:`_fill_job_dir`)."""
        if spec.command is not None:
            return ["/bin/sh", "-c", spec.command], self.cwd, {}
        if spec.script is not None:
            return [self.python, spec.script], self.cwd, {}
        if spec.code is not None:
            return [self.python, str(final / files.SCRIPT)], self.cwd, {files.SCRIPT: spec.code}
        notebook = Path(str(spec.notebook))
        argv = [
            sys.executable, "-m", NOTEBOOK_MODULE,
            str(final / files.NOTEBOOK_INPUT),
            str(final / files.OUTPUTS / notebook.name),
            "--kernel", self.kernel_name,
            "--cwd", str(notebook.parent),
            "--error-file", str(final / files.ERROR),
        ]  # fmt: skip
        return argv, final, {}

    def _load_active(self, job_dir: Path) -> _Active | None:
        """The tracking entry of an unfinished job folder; None if it ended or is no job.

        A folder with no launch claim and no readable plan is settled as failed (see :mod:`.local_files`).
        """
        if (job_dir / files.STATUS).exists():
            return None
        plan = files.read_json(job_dir / files.PLAN)
        if plan is None:  # if claimed already, its runner (or the lack of one) settles it
            return None if self._settle_incomplete(job_dir) else _Active(job_dir.name, 0.0, True)
        submitted = float(plan.get("submitted") or 0.0)
        return _Active(job_dir.name, submitted, (job_dir / files.LAUNCHED).exists())

    def _settle_incomplete(self, job_dir: Path) -> bool:
        """Record a job whose folder lost its plan before it was launched as failed; False if it was
        launched (its runner reports the missing plan itself)."""
        if not files.claim(job_dir):
            return False
        status = files.final_status("FAILED", INCOMPLETE_MESSAGE)
        files.write_json_once(job_dir / files.STATUS, status, durable=True)
        return True

    def _scan(self) -> list[_Active]:
        """The unfinished jobs on disk, in their folders and in the queue journal; also clears folders of
        submissions cut short long ago."""
        if not self.jobs_dir.is_dir():
            return []
        found = []
        folders = []
        for entry in self.jobs_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):  # e.g. a submission's folder renamed meanwhile
                if entry.name.startswith(".tmp-"):
                    if time.time() - entry.stat().st_mtime > 3600:
                        shutil.rmtree(entry, ignore_errors=True)
                elif _JOB_ID.match(entry.name) and entry.is_dir():
                    folders.append(entry.name)
                    active = self._load_active(entry)
                    if active is not None:
                        found.append(active)
        for job_id, plan in self._journal.load(has_folder=folders).items():
            job_dir = self.jobs_dir / job_id
            if job_dir.is_dir():  # made since the folders were listed (a runner of before the restart)
                active = self._load_active(job_dir)
            else:
                active = _Active(job_id, float(json.loads(plan).get("submitted") or 0.0), False, plan)
            if active is not None:
                found.append(active)
        return found

    def result_file(self, remote_id: str, name: str) -> tuple[Path, Path]:
        """The job's folder and the file of its result ``name``, both resolved (blocking: a worker thread);
        NotFound or InvalidSpec as :meth:`open_result` would raise."""
        job_dir = self._results_dir(remote_id, name).resolve()
        return job_dir, self._result_path(job_dir, name).resolve()

    def _results_dir(self, remote_id: str, name: str) -> Path:
        """The folder of the job whose result ``name`` is asked for; NotFound if it has none (yet)."""
        if self._pending_plan(remote_id) is not None:
            raise NotFound(f"no result '{name}' (the job has not started)", field="name", backend=self.name)
        return self._job_dir(remote_id)

    def _result_path(self, job_dir: Path, name: str) -> Path:
        """The file of result ``name``: an output, else the log for ``job.log``."""
        relative = PurePosixPath(name)
        odd = not name or "\\" in name or "\0" in name
        if odd or relative.is_absolute() or ".." in relative.parts:
            raise InvalidSpec(f"invalid result name '{name}'", field="name")
        outputs = (job_dir / files.OUTPUTS).resolve()
        path = (outputs / relative).resolve()
        if path.is_relative_to(outputs) and path.is_file() and not _is_partial_write(path.name):
            return path
        if name == files.LOG:
            return job_dir / files.LOG
        raise NotFound(f"no result '{name}'", field="name", backend=self.name)

    # running jobs ---------------------------------------------------------------------
    def _runner_alive(self, job_dir: Path, launched_at: float) -> bool:
        runner = files.read_json(job_dir / files.RUNNER)
        if runner is None:  # being started right now, or its starter died before recording it
            return time.time() - launched_at < STARTING_GRACE_S
        return is_alive(int(runner["pid"]), runner.get("start_token"))

    def _signal_runner(self, job_dir: Path) -> None:
        runner = files.read_json(job_dir / files.RUNNER)
        if runner is not None and is_alive(int(runner["pid"]), runner.get("start_token")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(runner["pid"]), signal.SIGTERM)

    def _cancel_if_queued(self, job_dir: Path) -> bool:
        """Record a job that never started as cancelled; False if it was launched already."""
        if not files.claim(job_dir):
            return False
        status = files.final_status("CANCELLED", "cancelled before it started")
        files.write_json_once(job_dir / files.STATUS, status)
        return True

    def _settle_lost(self, job_dir: Path) -> dict[str, Any]:
        """End what is left of a job whose runner died without a status, and record it."""
        done = files.read_json(job_dir / files.STATUS)
        if done is not None:  # the runner finished in the meantime
            return done
        process = files.read_json(job_dir / files.PROCESS) or {}
        if "pid" in process:
            kill_job(int(process["pid"]), process.get("start_token"), GRACE_S)
        started = process.get("started")
        if (job_dir / files.CANCEL).exists():
            status = files.final_status("CANCELLED", "cancelled", started=started)
        else:
            status = files.final_status("FAILED", self._lost_reason(job_dir), started=started, native_status="lost")
        files.write_json_once(job_dir / files.STATUS, status)
        return files.read_json(job_dir / files.STATUS) or status

    @staticmethod
    def _lost_reason(job_dir: Path) -> str:
        if files.read_json(job_dir / files.RUNNER) is None:
            return f"lost: its runner was never recorded (it failed to start; see {files.RUNNER_LOG})"
        return "lost: runner vanished without status"

    def _runner_env(self) -> dict[str, str]:
        """The server's environment without its credentials; the runner passes it to the job."""
        return {k: v for k, v in os.environ.items() if k not in self.hidden_env}

    def _spawn_runner(
        self, job_dir: Path, flags: tuple[str, ...], plan: bytes | None = None
    ) -> tuple[subprocess.Popen[bytes] | None, int | None]:
        """Take the job's launch claim and start its detached runner (worker thread): the runner and a
        pidfd of it (None where the OS has none); no runner if the claim was taken or it failed to start.
        A job from the queue journal (``plan``) whose folder is not made yet: its runner makes it."""
        if plan is not None and not job_dir.is_dir():
            return self._spawn_folder_maker(job_dir, flags, plan)
        if not job_dir.is_dir() or not files.claim(job_dir):
            return None, None
        try:
            with open(job_dir / files.RUNNER_LOG, "ab") as out:
                runner = self._popen_runner(runner_argv(job_dir, flags), job_dir, subprocess.DEVNULL, out.fileno())
        except OSError as exc:
            status = files.final_status("FAILED", f"could not start the runner: {exc}")
            files.write_json_once(job_dir / files.STATUS, status)
            return None, None
        # The runner records its pid itself (runner.json) as it starts; meanwhile the launch claim's grace covers it.
        return runner, open_pidfd(runner.pid, None)  # our unreaped child: its pid is ours

    def _popen_runner(self, argv: list[str], cwd: Path, stdin: int, out: int) -> subprocess.Popen[bytes]:
        """A detached runner (a session of its own), its output and errors to ``out``."""
        return subprocess.Popen(argv, cwd=cwd, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                env=self._runner_env(), start_new_session=True, close_fds=True)

    def _spawn_folder_maker(
        self, job_dir: Path, flags: tuple[str, ...], plan: bytes
    ) -> tuple[subprocess.Popen[bytes] | None, int | None]:
        """Start the runner of a job from the queue journal with its plan on stdin: making the job's folder takes
        the launch claim (a cancel that made it first wins, and the runner exits with ``FOLDER_TAKEN``)."""
        try:
            log = open_runners_log(self.jobs_dir, self.log)  # per spawn: a spawn thread outliving close() holds its own
            try:
                runner = self._popen_runner([*runner_argv(job_dir, flags), PLAN_ON_STDIN], self.jobs_dir,
                                            subprocess.PIPE, log)
            finally:
                os.close(log)
        except OSError as exc:
            files.materialize(job_dir, plan, status=files.final_status("FAILED", f"could not start the runner: {exc}"))
            return None, None
        if len(plan) <= PIPE_BYTES:
            _feed(runner, plan)
        else:  # it waits for the runner to read it: not in the launch (a runner slow to start would hold the queue)
            threading.Thread(target=_feed, args=(runner, plan), name=f"local-runner-stdin-{job_dir.name}",
                             daemon=True).start()
        return runner, open_pidfd(runner.pid, None)  # our unreaped child: its pid is ours

    def _track(self, active: _Active) -> None:
        self._active[active.job_id] = active
        if active.status_on_disk:
            self._launched.add(active.job_id)
        else:
            heapq.heappush(self._queue, (active.submitted, active.job_id))

    def _forget(self, job_id: str) -> None:
        self._active.pop(job_id, None)
        if job_id in self._launched:
            self._launched.discard(job_id)
            self._kick.set()
        self._unpushed.pop(job_id, None)
        self._not_before.pop(job_id, None)
        self._gone.discard(job_id)
        self._ended_results.pop(job_id, None)

    def _known_status(self, job_id: str) -> RemoteStatus | None:
        """The status of a job this instance queued or started, from memory; None if it has to look."""
        active = self._active.get(job_id)
        if active is None:
            return None
        if not active.status_on_disk:
            return self._queued_status(len(self._launched))
        return self._unpushed.get(job_id)

    def _tell(self, job_id: str, status: RemoteStatus, not_before: float | None = None) -> None:
        """Keep ``status`` as the job's latest, for the status sink (if any, or the answer of submit); the sink
        is told it from ``not_before`` (monotonic time) on, unless a newer one replaced it by then."""
        if self._sink is None and job_id not in self._held:
            return
        self._unpushed[job_id] = status
        if not_before is None:
            self._not_before.pop(job_id, None)
        else:
            self._not_before[job_id] = not_before
        if job_id not in self._held:
            self._pushes.set()

    def _ended(self, job_id: str, status: RemoteStatus) -> None:
        """The job ended: its slot is free, and its end is told."""
        if self._active.pop(job_id, None) is None:
            return
        if job_id in self._launched:
            self._launched.discard(job_id)
            self._kick.set()
        self._tell(job_id, status)

    async def _schedule(self) -> None:
        """Start queued jobs, oldest first, while fewer than ``max_jobs`` run."""
        async with self._schedule_lock:
            while self._queue and len(self._launched) < self.max_jobs:
                _, job_id = heapq.heappop(self._queue)
                active = self._active.get(job_id)
                if active is None or active.status_on_disk:
                    continue  # cancelled or deleted meanwhile
                await self._launch(active)

    async def _launch(self, active: _Active) -> None:
        """Start the runner of a queued job; from here on its folder tells its status, whatever happens. The
        folders of the jobs whose runner exited are read in the same hop to a worker thread."""
        job_id = active.job_id
        active.status_on_disk = True
        active.launched_at = time.time()
        self._launched.add(job_id)
        spawning = self._spawning[job_id] = asyncio.Event()
        try:
            await self._start_runner(active)
        finally:
            del self._spawning[job_id]
            spawning.set()

    async def _start_runner(self, active: _Active) -> None:
        job_id = active.job_id
        runner: subprocess.Popen[bytes] | None = None
        pidfd: int | None = None
        failed: BaseException | None = None
        try:
            flags = await self._flags()
            active.launched_at = time.time()  # the probe of the runner's options (once) is not its start
            exited = self._take_exited()
            try:
                runner, pidfd, failed, looked = await asyncio.to_thread(
                    self._spawn_and_read, self.jobs_dir / job_id, flags, active.plan, exited
                )
            except BaseException:
                self._exited[:0] = [look[0] for look in exited]  # read later, with the next launch or alone
                raise
            self._read_exited(exited, looked)
        except Exception as exc:  # noqa: BLE001 — whatever it was, the job's folder says what came of it
            failed = exc
        if failed is not None:  # e.g. the folder is not writable
            self.log.error("local backend '%s': starting the runner of %s failed", self.name, job_id, exc_info=failed)
            self._look_later(STARTING_GRACE_S + 1.0, job_id)  # a runner started but not recorded: lost by then
        if runner is None:  # cancelled meanwhile, or the runner could not start: as its folder says
            self._launched.discard(job_id)
            await self._refresh(job_id)
            if failed is None and job_id in self._active:  # its runner started before a restart of the server
                self._launched.add(job_id)
                await self._adopt(job_id)
            return
        self.counters["spawns"] += 1
        self._runners[job_id] = runner
        self._watch(job_id, runner, pidfd)
        running = RemoteStatus(JobState.RUNNING, "running", "starting", started=utcnow())
        self._tell(job_id, running, not_before=time.monotonic() + TELL_RUNNING_AFTER_S)

    async def _flags(self) -> tuple[str, ...]:
        """The runner's interpreter options, probed once (in the background from :meth:`start`)."""
        if self._runner_flags is None:
            if self._probe is None:
                self._probe = asyncio.create_task(asyncio.to_thread(probe_runner_flags))
            self._runner_flags = await self._probe
        return self._runner_flags

    def _look_later(self, delay: float, job_id: str) -> None:
        """Look at the job's folder again after ``delay`` seconds; watch its runner if it runs then."""
        async def look() -> None:
            await asyncio.sleep(delay)
            await self._refresh(job_id)
            if job_id in self._active and await self._adopt(job_id):
                self._launched.add(job_id)

        self._chore(look())

    def _watch(self, job_id: str, runner: subprocess.Popen[bytes] | None, pidfd: int | None) -> None:
        def exited() -> None:
            self._runner_exited(job_id)

        if pidfd is not None:
            self._exits.add_pidfd(pidfd, exited)
        elif runner is not None:
            self._exits.add_child(runner, exited)

    def _runner_exited(self, job_id: str) -> None:
        """A runner ended (an event): reap it, give its slot to the next job, then tell its status (its folder
        is read with the next launch, or alone when none comes). One that found its job's folder made by another
        (``FOLDER_TAKEN``) keeps the slot until that folder is read."""
        self.counters["exits"] += 1
        runner = self._runners.pop(job_id, None)
        waiter = self._exit_waiters.pop(job_id, None)
        if waiter is not None:
            waiter.set()
        if runner is not None and runner.poll() == FOLDER_TAKEN:
            # It did nothing: the job is whoever's made its folder (a cancel, or a runner started before a restart
            # of the server). It keeps its slot until that folder is read: ended, or running and watched.
            active = self._active.get(job_id)
            if active is not None:
                active.plan = None
            self._look_later(0.0, job_id)
            return
        self._gone.add(job_id)
        self._launched.discard(job_id)
        self._exited.append(job_id)
        self._kick.set()

    def _take_exited(self) -> list[tuple[str, int, bool, bool]]:
        """The :meth:`_look` of each job whose runner exited since the last take (and that has not ended)."""
        exited, self._exited = self._exited, []
        self._gone.difference_update(job_id for job_id in exited if job_id not in self._active)  # ended already
        return [self._look(job_id) for job_id in exited if job_id in self._active]

    def _read_statuses(
        self, looks: list[tuple[str, int, bool, bool]]
    ) -> list[tuple[RemoteStatus, bool, list[ResultFile] | None] | Exception]:
        """:meth:`_read_status` of each of ``looks`` (worker thread); what one of them raised in its place."""
        looked: list[tuple[RemoteStatus, bool, list[ResultFile] | None] | Exception] = []
        for look in looks:
            try:
                looked.append(self._read_status(*look))
            except Exception as exc:  # noqa: BLE001 — that job is looked at again alone
                looked.append(exc)
        return looked

    def _spawn_and_read(
        self, job_dir: Path, flags: tuple[str, ...], plan: bytes | None, looks: list[tuple[str, int, bool, bool]]
    ) -> tuple[subprocess.Popen[bytes] | None, int | None, Exception | None, list[Any]]:
        """:meth:`_spawn_runner` (what it raised, in place), then :meth:`_read_statuses` (worker thread)."""
        try:
            runner, pidfd = self._spawn_runner(job_dir, flags, plan)
        except Exception as exc:  # noqa: BLE001 — raised by the caller once the statuses are taken in
            return None, None, exc, self._read_statuses(looks)
        return runner, pidfd, None, self._read_statuses(looks)

    def _read_exited(self, looks: list[tuple[str, int, bool, bool]], looked: list[Any]) -> None:
        """Take in the statuses read for ``looks``; a job whose read failed is looked at again alone."""
        for look, outcome in zip(looks, looked, strict=True):
            self.counters["status"] += 1
            self.counters["status_reads"] += 1
            if isinstance(outcome, Exception):
                self._chore(self._refresh(look[0]))
            else:
                self._looked(look[0], outcome)

    async def _read_all_exited(self) -> None:
        """Read the folders of the jobs whose runner exited and that no launch took along, in one hop."""
        exited = self._take_exited()
        if exited:
            self._read_exited(exited, await asyncio.to_thread(self._read_statuses, exited))

    def _chore(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task of this backend (cancelled by :meth:`close`)."""
        task = asyncio.create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _adopt(self, job_id: str) -> bool:
        """Watch the runner of a job this instance did not start, where the OS allows; True if it does."""
        record = await asyncio.to_thread(files.read_json, self.jobs_dir / job_id / files.RUNNER)
        if record is None or "pid" not in record:
            return False
        pidfd = await asyncio.to_thread(open_pidfd, int(record["pid"]), record.get("start_token"))
        if pidfd is None:
            return False
        self._watch(job_id, None, pidfd)
        return True

    async def _refresh(self, job_id: str) -> None:
        try:
            await self.status(job_id)
        except NotFound:
            self._forget(job_id)

    def _reap(self) -> None:
        """Collect the runners this instance started once they exit (no zombies)."""
        for job_id, runner in list(self._runners.items()):
            if runner.poll() not in (None, FOLDER_TAKEN):  # that one is read when its exit is seen (_runner_exited)
                del self._runners[job_id]

    async def _fill_slots(self) -> None:
        """Fill free slots when told (a runner exited); look at what runs every ``safety_tick_s``."""
        while True:
            try:
                async with asyncio.timeout(self.safety_tick_s):  # not wait_for: it may swallow a cancel
                    await self._kick.wait()
            except TimeoutError:
                await self._look_again()
            self._kick.clear()
            try:
                await self._schedule()
                await self._read_all_exited()
            except Exception:  # keep going whatever one job did
                self.log.exception("local backend '%s': filling slots failed", self.name)

    async def _look_again(self) -> None:
        self.counters["ticks"] += 1
        try:
            self._reap()
            for job_id in list(self._launched):
                await self._refresh(job_id)
        except Exception:  # keep watching whatever one job did
            self.log.exception("local backend '%s': safety look failed", self.name)

    async def _push_changes(self) -> None:
        """Tell the status sink each job's latest status, in batches (held jobs: once submitted); what it
        failed to take is told again after a delay that doubles while it fails (``PUSH_RETRY_S``)."""
        delay = PUSH_DELAY_S
        while True:
            await self._pushes.wait()
            await asyncio.sleep(delay)
            self._pushes.clear()
            sink = self._sink
            if sink is None:
                continue
            if await self._push_all(sink):
                delay = PUSH_DELAY_S
                continue
            first, most = PUSH_RETRY_S
            delay = first if delay < first else min(delay * 2, most)
            self._pushes.set()

    async def _push_all(self, sink: StatusSink) -> bool:
        """Tell ``sink`` the statuses not told yet, ``PUSH_BATCH`` jobs at once; False if it failed to take some
        (they are kept). A status not to be told yet waits for a later round."""
        ready = self._ready_to_tell()
        told = True
        for start in range(0, len(ready), PUSH_BATCH):
            batch = ready[start:start + PUSH_BATCH]
            self.counters["pushes"] += len(batch)
            outcomes = await asyncio.gather(*(sink(job_id, status) for job_id, status in batch),
                                            return_exceptions=True)
            for (job_id, status), outcome in zip(batch, outcomes, strict=True):
                told = self._was_told(job_id, status, outcome) and told
        return told

    def _ready_to_tell(self) -> list[tuple[str, RemoteStatus]]:
        """The statuses to tell now, taken out of those not told yet (held jobs' and early ones stay)."""
        now = time.monotonic()
        ready = []
        for job_id in [j for j in self._unpushed if j not in self._held]:
            if self._not_before.get(job_id, now) > now:
                self._pushes.set()  # a later round tells it
                continue
            self._not_before.pop(job_id, None)
            ready.append((job_id, self._unpushed.pop(job_id)))
        return ready

    def _was_told(self, job_id: str, status: RemoteStatus, outcome: BaseException | None) -> bool:
        """Whether the sink took ``status`` (``outcome``: what telling it raised); kept to be told again if not."""
        if outcome is None:
            if status.state.is_terminal:
                self._ended_results.pop(job_id, None)
            return True
        if not isinstance(outcome, Exception):
            raise outcome
        # e.g. the store is busy: told again later, unless a newer status came meanwhile
        self._unpushed.setdefault(job_id, status)
        self.log.error("local backend '%s': telling the status of %s failed", self.name, job_id, exc_info=outcome)
        return False

    # statuses -------------------------------------------------------------------------
    def _read_status(
        self, remote_id: str, running: int, with_results: bool = False, gone: bool = False
    ) -> tuple[RemoteStatus, bool, list[ResultFile] | None]:
        """The blocking part of :meth:`status` (a worker thread): the status, whether it ended, and (if it
        ended and ``with_results``) its results.

        ``running`` is the number of launched jobs, for the message of a queued one; ``gone``: its runner was
        seen to exit (it writes the final status before it exits: none on disk means it is lost).
        """
        status, ended = self._look_up_status(remote_id, running, gone)
        return status, ended, _list_results(self.jobs_dir / remote_id) if ended and with_results else None

    def _status_without_folder(self, remote_id: str, running: int, gone: bool) -> tuple[RemoteStatus, bool] | None:
        """The status of a job from the queue journal whose folder is not made yet, also one queued before a restart
        that the start's scan has not tracked yet (worker thread: this may read the journal); None for the others."""
        plan = self._pending_plan(remote_id)
        if plan is not None:
            return self._unstarted_status(remote_id, plan, running, gone)
        if not self._scanned and remote_id in self._journal and not (self.jobs_dir / remote_id).is_dir():
            return self._queued_status(running), False
        return None

    def _look_up_status(self, remote_id: str, running: int, gone: bool) -> tuple[RemoteStatus, bool]:
        unstarted = self._status_without_folder(remote_id, running, gone)
        if unstarted is not None:
            return unstarted
        job_dir = self._job_dir(remote_id)
        done = files.read_json(job_dir / files.STATUS)
        if done is None:
            launched_at = files.claimed_at(job_dir)
            if launched_at is None:
                incomplete = files.read_json(job_dir / files.PLAN) is None and self._settle_incomplete(job_dir)
                if not incomplete:
                    return self._queued_status(running), False
                done = files.read_json(job_dir / files.STATUS) or {}
            elif not gone and self._runner_alive(job_dir, launched_at):
                return self._running_status(job_dir), False
            else:
                done = self._settle_lost(job_dir)
        return self._final_status(done), True

    def _unstarted_status(
        self, remote_id: str, plan: bytes, running: int, gone: bool
    ) -> tuple[RemoteStatus, bool] | None:
        """The status of a job from the queue journal whose folder is not made: queued, or starting; None once
        the folder is there to be read (a runner that ended without making it leaves it made here, as lost)."""
        active = self._active.get(remote_id)
        if active is None:  # forgotten meanwhile (deleted): there is nothing to settle
            return None
        if not active.status_on_disk:
            return self._queued_status(running), False
        if not gone and time.time() - active.launched_at < STARTING_GRACE_S:
            return RemoteStatus(JobState.RUNNING, "running", "starting"), False
        message = NEVER_STARTED_MESSAGE if gone else SLOW_START_MESSAGE
        files.materialize(self.jobs_dir / remote_id, plan, status=files.final_status("FAILED", message,
                                                                                    native_status="lost"))
        return None

    def _queued_status(self, running: int) -> RemoteStatus:
        message = f"waiting for a free slot ({running} of {self.max_jobs} running)"
        return RemoteStatus(JobState.QUEUED, "queued", message)

    def _running_status(self, job_dir: Path) -> RemoteStatus:
        process = files.read_json(job_dir / files.PROCESS) or {}
        message = f"running as pid {process['pid']}" if "pid" in process else "starting"
        started = parse_time(process.get("started"))
        return RemoteStatus(JobState.RUNNING, "running", message, started)

    def _final_status(self, done: Mapping[str, Any]) -> RemoteStatus:
        native = str(done.get("native_status") or str(done.get("state", "")).lower())
        return RemoteStatus(
            state=map_native_status(self.status_map, native),
            native_status=native,
            message=str(done.get("message") or ""),
            started=parse_time(done.get("started")),
            finished=parse_time(done.get("finished")),
        )

    def _machine(self) -> dict[str, Any]:
        """Facts about this machine (psutil), for environments and clusters."""
        disk_root = next(p for p in (self.jobs_dir, *self.jobs_dir.parents) if p.exists())
        memory = psutil.virtual_memory()
        return {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "python": self.python,
            "kernel_name": self.kernel_name,
            "cpus": float(os.cpu_count() or 1),
            "memory_gb": round(memory.total / 2**30, 2),
            "memory_gb_available": round(memory.available / 2**30, 2),
            "disk_gb": round(psutil.disk_usage(str(disk_root)).total / 2**30, 2),
            "load_average": list(os.getloadavg()),
        }
