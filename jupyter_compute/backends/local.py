"""The ``local`` backend: runs jobs on this machine, and they survive a restart of the server.

Each job lives in ``<data_dir>/jobs/<job_id>/`` (layout in :mod:`.local_files`) and runs under a
detached runner process (:mod:`.local_runner`), never as a child task of the server: the backend
only writes folders, starts runners, and reads what they leave behind. At most ``max_jobs`` run
at once; the others wait as ``queued`` folders until a background task starts them.

Config keys: ``max_jobs`` (default: CPU count), ``default_timeout_s``, ``python`` (interpreter of
scripts and code, default ``sys.executable``), ``kernel_name`` (of notebooks, default
``python3``), ``cwd`` (where commands and scripts run and relative paths are resolved,
default the server's working directory) and ``hidden_env`` (names of environment variables the
jobs must not see, on top of the Jupyter tokens always hidden). Notebooks run in their own folder.
"""

from __future__ import annotations

import asyncio
import contextlib
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
import time
from collections.abc import AsyncIterator, Mapping
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
)
from . import local_files as files
from ..forms import Form, FormField
from .base import PROGRAM_FIELDS, COMMON_FIELDS, Backend, Capabilities, Submission, config_positive, one_program
from .local_notebook import prepare_notebook, read_notebook
from .local_procs import is_alive, kill_job, start_token
from .local_runner import GRACE_S

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
CHUNK_SIZE = 64 * 1024
LOG_READ_LIMIT = 1024 * 1024
#: A runner that has not recorded its pid this long after its launch is taken as lost.
STARTING_GRACE_S = 10.0
#: How often the background task looks at running jobs and fills free slots.
TICK_S = 0.25
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass
class _Active:
    """A job not finished yet, as the backend tracks it: queued, or launched under a runner."""

    job_id: str
    submitted: float
    launched: bool


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
    root = outputs.resolve()
    found = []
    for folder, dirs, names in os.walk(outputs):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            if _is_partial_write(name) or not path.resolve().is_relative_to(root):
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
        self._runners: dict[str, subprocess.Popen[bytes]] = {}
        self._schedule_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Re-attach to the jobs on disk, settle lost ones, fill free slots, start the monitor."""
        if self._task is not None:
            return
        for active in await asyncio.to_thread(self._scan):
            self._active[active.job_id] = active
        for job_id in [a.job_id for a in self._active.values() if a.launched]:
            await self._refresh(job_id)
        await self._schedule()
        self._task = asyncio.create_task(self._monitor(), name=f"local-backend-{self.name}")

    async def close(self) -> None:
        """Stop the monitor; running jobs keep running and a new instance picks them up."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # jobs -----------------------------------------------------------------------------
    def form(self) -> Form:
        """Program (exactly one of four kinds), parameters, environment, cluster and the common fields."""
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

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        """Create the job's folder (once per ``job_id``) and start it if a slot is free."""
        if not _JOB_ID.match(job_id):
            raise InvalidSpec(f"invalid job id '{job_id}'", field="job_id")
        spec = await self.validated(spec)
        await asyncio.to_thread(self._create_job, spec, job_id)
        active = await asyncio.to_thread(self._load_active, self.jobs_dir / job_id)
        if active is not None:
            self._active.setdefault(job_id, active)
        await self._schedule()
        return Submission(remote_id=job_id, status=await self.status(job_id))

    async def status(self, remote_id: str) -> RemoteStatus:
        """The job's status from its folder; a dead runner without a status is settled as lost."""
        status, ended = await asyncio.to_thread(self._read_status, remote_id, self._running_count())
        if ended:
            self._active.pop(remote_id, None)
        return status

    recover_is_certain = True  # a job is its folder: there or not

    async def recover(self, job_id: str) -> str | None:
        """``job_id`` itself if its folder was created before the server was interrupted."""
        return job_id if _JOB_ID.match(job_id) and (self.jobs_dir / job_id).is_dir() else None

    async def cancel(self, remote_id: str) -> None:
        """Stop a job (and all its processes) and wait briefly until it is recorded as cancelled."""
        job_dir = self._job_dir(remote_id)
        if (job_dir / files.STATUS).exists():
            return
        (job_dir / files.CANCEL).touch()
        if await asyncio.to_thread(self._cancel_if_queued, job_dir):
            self._active.pop(remote_id, None)
            return
        self._signal_runner(job_dir)
        deadline = time.monotonic() + GRACE_S + 3.0
        while time.monotonic() < deadline:
            if (await self.status(remote_id)).state.is_terminal:
                return
            await asyncio.sleep(0.1)
        self.log.warning("local job %s: still stopping after cancel", remote_id)

    async def delete(self, remote_id: str) -> None:
        """Cancel the job if it has not ended, then remove its folder."""
        job_dir = self._job_dir(remote_id)
        await self.cancel(remote_id)
        self._active.pop(remote_id, None)
        await asyncio.to_thread(shutil.rmtree, job_dir, True)

    async def logs(self, remote_id: str, offset: int = 0) -> LogChunk:
        """Log text from byte ``offset``; ``complete`` once the job ended and all was read."""
        if offset < 0:
            raise InvalidSpec("'offset' must not be negative", field="offset")
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

        An output named ``job.log`` takes that name; the log is then left out (see :meth:`logs`).
        """
        return await asyncio.to_thread(_list_results, self._job_dir(remote_id))

    def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        """Stream a result's bytes in 64 KiB chunks; ``job.log`` is the log unless an output."""
        return _stream_file(self._result_path(self._job_dir(remote_id), name))

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
                running_jobs=self._running_count(),
                max_duration_s=self.default_timeout_s,
                raw=_raw(machine),
            )
        ]

    async def clusters(self) -> list[Cluster]:
        """This machine as a one-node cluster; CPUs are allocatable minus one per running job."""
        machine = await asyncio.to_thread(self._machine)
        running = self._running_count()
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

    def _create_job(self, spec: JobSpec, job_id: str) -> None:
        """Fill a temporary folder and rename it into place, so a job folder is always whole."""
        final = self.jobs_dir / job_id
        if final.exists():
            return
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{job_id}-", dir=self.jobs_dir))
        try:
            self._fill_job_dir(tmp, final, spec, job_id)
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _fill_job_dir(self, tmp: Path, final: Path, spec: JobSpec, job_id: str) -> None:
        (tmp / files.OUTPUTS).mkdir()
        (tmp / files.LOG).touch()
        files.write_json(tmp / files.SPEC, spec.to_dict())
        files.write_json(tmp / files.PARAMS, spec.params)
        argv, cwd = self._program(tmp, final, spec)
        env = {
            "JUPYTER_COMPUTE_JOB_ID": job_id,
            "JUPYTER_COMPUTE_OUTPUT_DIR": str(final / files.OUTPUTS),
            "JUPYTER_COMPUTE_PARAMS": str(final / files.PARAMS),
        }
        for name, value in spec.params.items():
            env[param_env_name(name)] = value if isinstance(value, str) else json.dumps(value)
        plan = {
            "argv": argv,
            "cwd": str(cwd),
            "env": env,
            "timeout_s": spec.timeout_s or self.default_timeout_s,
            "submitted": time.time(),
        }
        files.write_json(tmp / files.PLAN, plan)

    def _program(self, tmp: Path, final: Path, spec: JobSpec) -> tuple[list[str], Path]:
        """The job's argv and working directory (paths as they will be once ``final``)."""
        if spec.command is not None:
            return ["/bin/sh", "-c", spec.command], self.cwd
        if spec.script is not None:
            return [self.python, spec.script], self.cwd
        if spec.code is not None:
            (tmp / files.SCRIPT).write_text(spec.code, encoding="utf-8")
            return [self.python, str(final / files.SCRIPT)], self.cwd
        notebook = Path(str(spec.notebook))
        prepare_notebook(notebook, tmp / files.NOTEBOOK_INPUT, spec.params)
        argv = [
            sys.executable, "-m", NOTEBOOK_MODULE,
            str(final / files.NOTEBOOK_INPUT),
            str(final / files.OUTPUTS / notebook.name),
            "--kernel", self.kernel_name,
            "--cwd", str(notebook.parent),
            "--error-file", str(final / files.ERROR),
        ]  # fmt: skip
        return argv, final

    def _load_active(self, job_dir: Path) -> _Active | None:
        """The tracking entry of an unfinished job folder; None if it ended or is no job."""
        plan = files.read_json(job_dir / files.PLAN)
        if plan is None or (job_dir / files.STATUS).exists():
            return None
        submitted = float(plan.get("submitted") or 0.0)
        return _Active(job_dir.name, submitted, (job_dir / files.LAUNCHED).exists())

    def _scan(self) -> list[_Active]:
        """The unfinished jobs on disk; also clears folders of submissions cut short long ago."""
        if not self.jobs_dir.is_dir():
            return []
        found = []
        for entry in self.jobs_dir.iterdir():
            if entry.name.startswith(".tmp-"):
                if time.time() - entry.stat().st_mtime > 3600:
                    shutil.rmtree(entry, ignore_errors=True)
            elif _JOB_ID.match(entry.name) and entry.is_dir():
                active = self._load_active(entry)
                if active is not None:
                    found.append(active)
        return found

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
    def _running_count(self) -> int:
        return sum(1 for active in self._active.values() if active.launched)

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
            status = files.final_status(
                "FAILED", "lost: runner vanished without status", started=started,
                native_status="lost",
            )  # fmt: skip
        files.write_json_once(job_dir / files.STATUS, status)
        return files.read_json(job_dir / files.STATUS) or status

    def _runner_env(self) -> dict[str, str]:
        """The server's environment without its credentials; the runner passes it to the job."""
        return {k: v for k, v in os.environ.items() if k not in self.hidden_env}

    def _spawn_runner(self, job_dir: Path) -> subprocess.Popen[bytes] | None:
        """Take the job's launch claim and start its detached runner; None if not started."""
        if not job_dir.is_dir() or not files.claim(job_dir):
            return None
        try:
            with open(job_dir / files.RUNNER_LOG, "ab") as out:
                runner = subprocess.Popen(
                    [sys.executable, "-m", RUNNER_MODULE, str(job_dir)],
                    cwd=job_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self._runner_env(),
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            status = files.final_status("FAILED", f"could not start the runner: {exc}")
            files.write_json_once(job_dir / files.STATUS, status)
            return None
        record = {"pid": runner.pid, "start_token": start_token(runner.pid)}
        files.write_json(job_dir / files.RUNNER, record)
        return runner

    async def _schedule(self) -> None:
        """Start queued jobs, oldest first, while fewer than ``max_jobs`` run."""
        async with self._schedule_lock:
            queued = sorted(
                (a for a in self._active.values() if not a.launched),
                key=lambda a: (a.submitted, a.job_id),
            )
            for active in queued:
                if self._running_count() >= self.max_jobs:
                    return
                job_dir = self.jobs_dir / active.job_id
                runner = await asyncio.to_thread(self._spawn_runner, job_dir)
                if runner is not None:
                    self._runners[active.job_id] = runner
                if (job_dir / files.STATUS).exists() or not job_dir.is_dir():
                    self._active.pop(active.job_id, None)
                else:
                    active.launched = True

    async def _refresh(self, job_id: str) -> None:
        try:
            await self.status(job_id)
        except NotFound:
            self._active.pop(job_id, None)

    def _reap(self) -> None:
        """Collect the runners this instance started once they exit (no zombies)."""
        for job_id, runner in list(self._runners.items()):
            if runner.poll() is not None:
                del self._runners[job_id]

    async def _monitor(self) -> None:
        while True:
            try:
                self._reap()
                for job_id in [a.job_id for a in self._active.values() if a.launched]:
                    await self._refresh(job_id)
                await self._schedule()
            except Exception:  # keep watching whatever one job did
                self.log.exception("local backend '%s': monitor tick failed", self.name)
            await asyncio.sleep(TICK_S)

    # statuses -------------------------------------------------------------------------
    def _read_status(self, remote_id: str, running: int) -> tuple[RemoteStatus, bool]:
        """The blocking part of :meth:`status` (a worker thread): the status, and whether it ended.

        ``running`` is the number of launched jobs, for the message of a queued one.
        """
        job_dir = self._job_dir(remote_id)
        done = files.read_json(job_dir / files.STATUS)
        if done is None:
            launched_at = files.claimed_at(job_dir)
            if launched_at is None:
                return self._queued_status(running), False
            if self._runner_alive(job_dir, launched_at):
                return self._running_status(job_dir), False
            done = self._settle_lost(job_dir)
        return self._final_status(done), True

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
