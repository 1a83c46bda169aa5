"""Training jobs of the ModelArts sandbox: the create-body check, the job record and the worker that runs it.

A job runs in its own worker thread, never on the server's loop: it downloads ``code_dir`` and every
input from OBS (S3) into a private folder, starts one process per node
(``python <boot_file> --<param>=<value> … --<input>=<dir> --<output>=<dir>``, cwd = the code folder,
an environment of its own as on the platform: ``PASSED_ENV`` of the host (what running Python needs,
nothing secret), the job's ``algorithm.environments``, ``VC_TASK_INDEX`` / ``MA_NUM_HOSTS``), captures
each process's stdout and stderr to its task's log, then uploads the output folders to their OBS urls.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .._procs import kill_group
from .obs import ObsPath, ObsStore, StageError

log = logging.getLogger(__name__)

# error codes (ModelArts.2775, .50015001 and .0105 are the platform's; the others are the sandbox's choice)
E_NOT_FOUND = "ModelArts.2775"
E_POOL_NOT_FOUND = "ModelArts.50015001"
E_BAD_PARAM = "ModelArts.2762"
E_BAD_FLAVOR = "ModelArts.2763"
E_BAD_OBS = "ModelArts.2791"
E_NO_ALGORITHM = "ModelArts.2755"
E_NOT_ALLOWED = "ModelArts.0105"

CAN_TERMINATE = frozenset({"Creating", "Pending", "Running"})
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
USER_NAME = "sandbox-user"
LOG_PREVIEW_MAX = 5 * 1024 * 1024
KILL_GRACE_S = 3.0
#: What a job's process may see of the host's environment: enough to run Python, nothing secret.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT",
              "PYTHONPATH", "PYTHONHOME", "PYTHONIOENCODING", "PYTHONUTF8")


def job_environment(plan: Plan, index: int, code_dir: Path) -> dict[str, str]:
    """The environment of task ``index``'s process: ``PASSED_ENV`` of the host, then the job's own."""
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(plan.environments)
    env.update(VC_TASK_INDEX=str(index), MA_NUM_HOSTS=str(plan.node_count), MA_JOB_DIR=str(code_dir))
    return env


class ApiError(Exception):
    """An answer that is an error: HTTP status, ModelArts error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(field_name: str, reason: str) -> ApiError:
    return ApiError(400, E_BAD_PARAM, f"Invalid parameter {field_name}: {reason}")


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_obs(value: Any, field_name: str) -> ObsPath:
    """``obs://bucket/path`` or ``/bucket/path`` → ObsPath; anything else is a 400 naming the field."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, E_BAD_OBS, f"Invalid OBS path in {field_name}: a non-empty string is required")
    text = value.strip()
    if text.startswith("obs://"):
        rest = text[len("obs://"):]
    elif text.startswith("/") and not text.startswith("//"):
        rest = text[1:]
    else:
        raise ApiError(400, E_BAD_OBS, f"Invalid OBS path in {field_name}: {text!r} must look like "
                                       "obs://bucket/path/ or /bucket/path/")
    bucket, _, key = rest.partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ApiError(400, E_BAD_OBS, f"Invalid OBS path in {field_name}: {bucket!r} is not a bucket name")
    if any(part in ("..", ".") for part in key.split("/")):
        raise ApiError(400, E_BAD_OBS, f"Invalid OBS path in {field_name}: '.' and '..' are not allowed")
    return ObsPath(bucket, key)


@dataclass
class Plan:
    """What the worker does, taken from a valid create body."""

    code: ObsPath | None
    boot_file: str | None  # relative to the code folder
    command: list[str] | None
    parameters: list[tuple[str, str]]
    inputs: list[tuple[str, ObsPath]]
    outputs: list[tuple[str, ObsPath]]
    environments: dict[str, str]
    node_count: int
    log_export: ObsPath | None


def _obj(body: dict[str, Any], key: str, where: str, required: bool = True) -> dict[str, Any]:
    value = body.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where}{key}", "an object is required" if value is None else "must be an object")
    return value


def _opt_str(body: dict[str, Any], key: str, where: str, max_len: int = 1024) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise _bad(f"{where}{key}", f"must be a string of at most {max_len} characters")
    return value


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def is_int(value: Any) -> bool:
    """An integer that is not a bool (JSON ``true`` is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _data_name(item: dict[str, Any], where: str, seen: set[str]) -> str:
    name = item.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise _bad(f"{where}.name", "is required: 1-64 letters, digits, '_' or '-'")
    if name in seen:
        raise _bad(f"{where}.name", f"{name!r} is used twice")
    seen.add(name)
    return name


def _remote_obs_url(item: dict[str, Any], where: str) -> Any:
    """The ``remote.obs.obs_url`` of an input or output, as sent."""
    remote = item.get("remote")
    obs = (remote.get("obs") or {}) if isinstance(remote, dict) else {}
    if not isinstance(obs, dict) or "obs_url" not in obs:
        raise _bad(f"{where}.remote.obs.obs_url", "is required")
    return obs["obs_url"]


def _data_item(key: str, where: str, item: Any, seen: set[str]) -> tuple[tuple[str, ObsPath], dict[str, Any]]:
    """One input or output: (name, OBS path) and its view."""
    if not isinstance(item, dict):
        raise _bad(where, "must be an object with name and remote.obs.obs_url")
    name = _data_name(item, where, seen)
    obs_url = _remote_obs_url(item, where)
    path = parse_obs(obs_url, f"{where}.remote.obs.obs_url")
    if key == "outputs":
        path = path.folder()
    view = {"name": name, "local_dir": item.get("local_dir") or f"/home/ma-user/modelarts/{key}/{name}_0",
            "remote": {"obs": {"obs_url": obs_url}}}
    if "access_method" in item:
        view["access_method"] = item["access_method"]
    return (name, path), view


def _data_list(algorithm: dict[str, Any], key: str) -> tuple[list[tuple[str, ObsPath]], list[dict[str, Any]]]:
    """``algorithm.inputs`` or ``algorithm.outputs``: (name, OBS path) pairs and their views."""
    raw = algorithm.get(key) or []
    if not isinstance(raw, list):
        raise _bad(f"algorithm.{key}", "must be a list")
    seen: set[str] = set()
    checked = [_data_item(key, f"algorithm.{key}[{i}]", item, seen) for i, item in enumerate(raw)]
    return [pair for pair, _ in checked], [view for _, view in checked]


#: (code folder, boot file inside it, command) of a job.
EntryPoint = tuple[ObsPath | None, str | None, list[str] | None]


def _with_stored_algorithm(algorithm: dict[str, Any], algorithms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``algorithm`` over the stored algorithm its ``id`` names (unchanged without an id)."""
    aid = algorithm.get("id")
    if aid is None:
        return algorithm
    if not isinstance(aid, str) or aid not in algorithms:
        raise ApiError(400, E_NO_ALGORITHM, f"Invalid parameter algorithm.id: algorithm {aid!r} does not exist")
    return {**algorithms[aid], **{k: v for k, v in algorithm.items() if k != "id"}, "id": aid}


def _engine(algorithm: dict[str, Any]) -> dict[str, Any]:
    engine = algorithm.get("engine")
    if engine is None:
        return {}
    if not isinstance(engine, dict):
        raise _bad("algorithm.engine", "must be an object")
    return engine


def _check_custom_image(engine: dict[str, Any], command_text: str | None) -> None:
    """A custom image (``engine.image_url``) needs a boot command."""
    image_url = engine.get("image_url")
    if image_url is None:
        return
    if not isinstance(image_url, str) or not image_url.strip():
        raise _bad("algorithm.engine.image_url", "must be a non-empty string")
    if not command_text or not command_text.strip():
        raise _bad("algorithm.command", "is required with engine.image_url (a custom image needs a boot command)")


def _command(command_text: str | None) -> list[str] | None:
    """``algorithm.command`` split into arguments (``python`` is this interpreter), or None when blank."""
    if not command_text or not command_text.strip():
        return None
    try:
        command = shlex.split(command_text)
    except ValueError as exc:
        raise _bad("algorithm.command", f"cannot be split into arguments: {exc}") from None
    if command and command[0] in ("python", "python3"):
        command[0] = sys.executable
    return command


def _boot_file(code: ObsPath | None, command: list[str] | None, boot_file: str | None) -> str | None:
    """The boot file relative to the code folder; None when a command starts the job."""
    if command is not None:
        return None
    if code is None:
        if boot_file:
            raise _bad("algorithm.code_dir", "is required with algorithm.boot_file")
        raise _bad("algorithm", "give algorithm.id, algorithm.code_dir + boot_file, or "
                                "engine.image_url + command")
    if not boot_file or not boot_file.strip():
        raise _bad("algorithm.boot_file", "is required with algorithm.code_dir")
    return _boot_relative(boot_file.strip(), code)


def _entry_point(algorithm: dict[str, Any], engine: dict[str, Any]) -> EntryPoint:
    """How the job starts: (code folder, boot file inside it, command); either a command or a boot file."""
    command_text = _opt_str(algorithm, "command", "algorithm.", 4096)
    boot_file = _opt_str(algorithm, "boot_file", "algorithm.")
    code_dir = algorithm.get("code_dir")
    code = parse_obs(code_dir, "algorithm.code_dir").folder() if code_dir is not None else None
    _check_custom_image(engine, command_text)
    command = _command(command_text)
    return code, _boot_file(code, command, boot_file), command


def _parameter(i: int, item: Any) -> tuple[str, str]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
        raise _bad(f"algorithm.parameters[{i}].name", "is required (a non-empty string)")
    value = _scalar(item.get("value", ""))
    if value is None:
        raise _bad(f"algorithm.parameters[{i}].value", "must be a string, number or boolean")
    return item["name"].strip(), value


def _parameters(algorithm: dict[str, Any]) -> list[tuple[str, str]]:
    """``algorithm.parameters`` as (name, value) pairs, values as text."""
    raw = algorithm.get("parameters") or []
    if not isinstance(raw, list):
        raise _bad("algorithm.parameters", "must be a list of {name, value}")
    return [_parameter(i, item) for i, item in enumerate(raw)]


def _merged(items: list[Any]) -> dict[str, Any]:
    """A list of environment objects as one object, later names winning."""
    merged: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict):
            raise _bad("algorithm.environments", "must be an object or a list of objects")
        merged.update(item)
    return merged


def _environments(algorithm: dict[str, Any]) -> dict[str, str]:
    """``algorithm.environments``, an object or a list of objects merged in order, values as text."""
    envs = algorithm.get("environments") or {}
    if isinstance(envs, list):
        envs = _merged(envs)
    if not isinstance(envs, dict) or any(_scalar(v) is None for v in envs.values()):
        raise _bad("algorithm.environments", "must map names to strings")
    return {str(k): _scalar(v) or "" for k, v in envs.items()}


def _algorithm(algorithm: dict[str, Any], algorithms: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], Plan]:
    """Check ``algorithm``; answer its view and a Plan without resources."""
    algorithm = _with_stored_algorithm(algorithm, algorithms)
    engine = _engine(algorithm)
    code, boot_rel, command = _entry_point(algorithm, engine)
    params = _parameters(algorithm)
    environments = _environments(algorithm)
    inputs, input_views = _data_list(algorithm, "inputs")
    outputs, output_views = _data_list(algorithm, "outputs")
    view = {k: v for k, v in algorithm.items() if k not in ("inputs", "outputs", "parameters")}
    view.update(engine=engine, parameters=[{"name": n, "value": v} for n, v in params],
                inputs=input_views, outputs=output_views)
    return view, Plan(code, boot_rel, command, params, inputs, outputs, environments, 1, None)


def _boot_relative(boot_file: str, code: ObsPath) -> str:
    if boot_file.startswith(("obs://", "/")):
        boot = parse_obs(boot_file, "algorithm.boot_file")
        if boot.bucket != code.bucket or not boot.key.startswith(code.key) or boot.is_folder:
            raise _bad("algorithm.boot_file", f"{boot_file!r} must be a file inside code_dir {code.url}")
        return boot.key[len(code.key):]
    rel = PurePosixPath(boot_file)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise _bad("algorithm.boot_file", f"{boot_file!r} must be a path inside code_dir")
    return rel.as_posix()


def _kind(body: dict[str, Any]) -> str:
    kind = body.get("kind")
    if kind is None:
        raise _bad("kind", "is required")
    if kind != "job":
        raise _bad("kind", f"{kind!r} is not supported (the sandbox runs kind 'job')")
    return kind


def _metadata(body: dict[str, Any]) -> dict[str, str]:
    """``metadata``: name, description and workspace (defaults filled in)."""
    metadata = _obj(body, "metadata", "")
    name = metadata.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _bad("metadata.name", "is required: 1-64 characters, only letters, digits, '_' and '-'")
    return {"name": name,
            "description": _opt_str(metadata, "description", "metadata.", 256) or "",
            "workspace_id": _opt_str(metadata, "workspace_id", "metadata.", 64) or "0"}


def _node_count(resource: dict[str, Any]) -> int:
    node_count = resource.get("node_count")
    if node_count is None:
        raise _bad("spec.resource.node_count", "is required")
    if not is_int(node_count) or node_count < 1:
        raise _bad("spec.resource.node_count", "must be an integer of at least 1")
    return int(node_count)


def _pool_limit(pools: dict[str, dict[str, Any]], pool_id: str, flavor_id: str | None) -> int:
    """Nodes of ``flavor_id`` (or of its largest flavor) in a dedicated pool."""
    pool = pools.get(pool_id)
    if pool is None:
        raise ApiError(404, E_POOL_NOT_FOUND, "pool not found")
    offered = {r["flavor"]: int(r["count"]) for r in pool["spec"]["resources"]}
    if flavor_id is not None and flavor_id not in offered:
        raise ApiError(400, E_BAD_FLAVOR, f"Invalid parameter spec.resource.flavor_id: flavor {flavor_id!r} "
                                          f"is not offered by pool {pool_id} (it offers {sorted(offered)})")
    return offered[flavor_id] if flavor_id else max(offered.values())


def _public_limit(public_flavors: list[dict[str, Any]], flavor_id: str | None) -> int:
    """The most nodes a job of ``flavor_id`` may have on the public pool."""
    if flavor_id is None:
        raise _bad("spec.resource.flavor_id", "is required when spec.resource.pool_id is not given "
                                              "(a job on the public pool needs a flavor)")
    flavor = next((f for f in public_flavors if f["flavor_id"] == flavor_id), None)
    if flavor is None:
        raise ApiError(400, E_BAD_FLAVOR, f"Invalid parameter spec.resource.flavor_id: flavor {flavor_id!r} "
                                          "is not offered by the public resource pool")
    return int(flavor["max_num"])


def _node_limit(resource: dict[str, Any], pools: dict[str, dict[str, Any]],
                public_flavors: list[dict[str, Any]]) -> int:
    """The most nodes the requested flavor (in the requested pool, or the public one) offers."""
    flavor_id = _opt_str(resource, "flavor_id", "spec.resource.", 128)
    pool_id = _opt_str(resource, "pool_id", "spec.resource.", 128)
    if pool_id is not None:
        return _pool_limit(pools, pool_id, flavor_id)
    return _public_limit(public_flavors, flavor_id)


def _log_export(spec: dict[str, Any]) -> ObsPath | None:
    """The OBS folder ``spec.log_export_path`` names, if any."""
    log_spec = spec.get("log_export_path")
    if log_spec is None:
        return None
    if not isinstance(log_spec, dict) or "obs_url" not in log_spec:
        raise _bad("spec.log_export_path.obs_url", "is required in spec.log_export_path")
    return parse_obs(log_spec["obs_url"], "spec.log_export_path.obs_url").folder()


def validate_create(body: Any, *, pools: dict[str, dict[str, Any]], public_flavors: list[dict[str, Any]],
                    algorithms: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], Plan]:
    """Check a create body like the platform; answer (normalised body, plan) or raise ApiError."""
    if not isinstance(body, dict):
        raise _bad("body", "the request body must be a JSON object")
    kind = _kind(body)
    metadata = _metadata(body)
    algorithm_view, plan = _algorithm(_obj(body, "algorithm", ""), algorithms)
    spec = _obj(body, "spec", "")
    resource = _obj(spec, "resource", "spec.")
    node_count = _node_count(resource)
    limit = _node_limit(resource, pools, public_flavors)
    if node_count > (limit or 1):
        raise _bad("spec.resource.node_count", f"{node_count} exceeds the {limit} node(s) available for this flavor")
    plan.node_count, plan.log_export = node_count, _log_export(spec)
    normal = {
        "kind": kind,
        "metadata": metadata,
        "algorithm": algorithm_view,
        "spec": {**spec, "resource": {**resource, "node_count": node_count}},
    }
    return normal, plan


@dataclass
class Job:
    """One training job and everything its worker changes (guarded by ``lock``)."""

    id: str
    seq: int
    body: dict[str, Any]
    plan: Plan
    dir: Path
    created_ms: int = field(default_factory=now_ms)
    phase: str = "Creating"
    secondary_phase: str = "Creating"
    start_ms: int | None = None
    end_ms: int | None = None
    task_statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False
    done: bool = False  # the worker has ended
    thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def tasks(self) -> list[str]:
        return [f"worker-{i}" for i in range(self.plan.node_count)]

    def log_path(self, task: str) -> Path:
        return self.dir / "logs" / f"{task}.log"

    def duration_ms(self) -> int:
        if self.start_ms is None:
            return 0
        return (self.end_ms or now_ms()) - self.start_ms

    def view(self) -> dict[str, Any]:
        """The job object the API answers (call with ``lock`` held)."""
        status: dict[str, Any] = {"phase": self.phase, "secondary_phase": self.secondary_phase,
                                  "duration": self.duration_ms(), "tasks": self.tasks,
                                  "node_count_metrics": [[self.created_ms, 0]]}
        if self.start_ms is not None:
            status["start_time"] = self.start_ms
            status["node_count_metrics"].append([self.start_ms, self.plan.node_count])
        if self.task_statuses:
            status["task_statuses"] = [dict(self.task_statuses[t]) for t in self.tasks if t in self.task_statuses]
        meta = self.body["metadata"]
        return {
            "kind": self.body["kind"],
            "metadata": {"id": self.id, "name": meta["name"], "description": meta["description"],
                         "create_time": self.created_ms, "workspace_id": meta["workspace_id"],
                         "user_name": USER_NAME, "annotations": {}},
            "status": status,
            "algorithm": _copy(self.body["algorithm"]),
            "spec": _copy(self.body["spec"]),
        }


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def read_log_tail(path: Path, limit: int = LOG_PREVIEW_MAX) -> tuple[str, int, int]:
    """(content, bytes returned, full size) of a task log: all of it, or its last ``limit`` bytes."""
    try:
        with open(path, "rb") as fh:
            full = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, full - limit))
            data = fh.read(limit)
    except FileNotFoundError:
        return "", 0, 0
    return data.decode("utf-8", errors="replace"), len(data), full


class Worker:
    """Runs one job to its end (in a thread); every state change goes through ``job.lock``."""

    def __init__(self, job: Job, store: ObsStore, step_delay: Callable[[], float]) -> None:
        self.job, self.store, self.step_delay = job, store, step_delay
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        self.job.thread = threading.Thread(target=self.run, name=f"modelarts-job-{self.job.id[:8]}", daemon=True)
        self.job.thread.start()

    # -------------------------------------------------------------- state
    def _set(self, phase: str, secondary: str | None = None) -> bool:
        """Move to ``phase`` unless a terminate came first; answer whether it moved."""
        with self.job.lock:
            if self.job.stop.is_set():
                return False
            self.job.phase, self.job.secondary_phase = phase, secondary or phase
            if phase == "Running" and self.job.start_ms is None:
                self.job.start_ms = now_ms()
            return True

    def _finish(self, phase: str, secondary: str | None = None) -> None:
        with self.job.lock:
            if self.job.stop.is_set():
                phase, secondary = "Terminated", "Terminated"
            self.job.phase, self.job.secondary_phase = phase, secondary or phase
            self.job.end_ms = now_ms()

    def _task_status(self, task: str, exit_code: int | None, message: str) -> None:
        with self.job.lock:
            self.job.task_statuses[task] = {"task": task, "exit_code": exit_code, "message": message}

    def _service_log(self, text: str, tasks: list[str] | None = None) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        for task in tasks or self.job.tasks:
            with open(self.job.log_path(task), "ab") as fh:
                fh.write(f"[ModelArts Service Log][{stamp}] {text}\n".encode())

    # -------------------------------------------------------------- run
    def run(self) -> None:
        job = self.job
        (job.dir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._run()
        except Exception as exc:  # an internal error fails the job, never the server
            log.exception("ModelArts sandbox: job %s failed internally", job.id)
            self._kill_all(signal.SIGKILL)
            self._service_log(f"sandbox internal error: {exc}\n{traceback.format_exc()}")
            for task in job.tasks:
                self._task_status(task, None, f"sandbox internal error: {exc}")
            self._finish("Failed")
        finally:
            with job.lock:
                job.done = True
                deleted = job.deleted
            if deleted:
                shutil.rmtree(job.dir, ignore_errors=True)

    def _run(self) -> None:
        job = self.job
        self._service_log(f"training job {job.name} ({job.id}) created; {job.plan.node_count} node(s)")
        if not self._advance("Pending", "Queuing") or not self._advance("Running"):
            return self._terminated_early()
        try:
            code_dir, input_dirs = self._stage_in()
        except StageError as exc:
            self._report_stage_error(exc, {})
            return self._finish("Failed", "CreateFailed")
        if job.stop.is_set():
            return self._terminated_early()
        output_dirs = self._start(code_dir, input_dirs)
        codes = self._wait()
        if job.stop.is_set():
            return self._report_terminated(codes)
        processes_failed = self._report_exits(codes)
        outputs_failed = not self._stage_out_reported(output_dirs, codes)
        self._export_logs()
        self._finish("Failed" if processes_failed or outputs_failed else "Completed")

    def _advance(self, phase: str, secondary: str | None = None) -> bool:
        """Wait one step, then move to ``phase``; False when a terminate came first."""
        return not self.job.stop.wait(self.step_delay()) and self._set(phase, secondary)

    def _report_stage_error(self, exc: StageError, codes: dict[str, int]) -> None:
        """A staging failure: in the service log and as every task's message."""
        self._service_log(f"ERROR: {exc}")
        for task in self.job.tasks:
            self._task_status(task, codes.get(task), str(exc))

    def _report_terminated(self, codes: dict[str, int]) -> None:
        for task, code in codes.items():
            self._task_status(task, code, "terminated by the user")
            self._service_log(f"process terminated (exit code {code})", [task])
        self._finish("Terminated")

    def _report_exits(self, codes: dict[str, int]) -> bool:
        """Record each task's exit; answer whether any process failed."""
        for task, code in codes.items():
            message = "completed" if code == 0 else f"exited with code {code}: {self._last_line(task)}"
            self._task_status(task, code, message)
            self._service_log(f"process exited with code {code}", [task])
        return any(code != 0 for code in codes.values())

    def _stage_out_reported(self, output_dirs: dict[str, dict[str, Path]], codes: dict[str, int]) -> bool:
        """Upload the outputs; answer whether that worked (a failure is reported)."""
        try:
            self._stage_out(output_dirs)
        except StageError as exc:
            self._report_stage_error(exc, codes)
            return False
        return True

    def _terminated_early(self) -> None:
        self._service_log("training job terminated before it ran")
        self._finish("Terminated")

    def _stage_in(self) -> tuple[Path, dict[str, Path]]:
        job, plan = self.job, self.job.plan
        code_dir = job.dir / "code"
        code_dir.mkdir(parents=True, exist_ok=True)
        if plan.code is not None:
            self._service_log(f"downloading code_dir {plan.code.url}")
            self.store.download(plan.code, code_dir, "code_dir")
            if plan.boot_file and not (code_dir / plan.boot_file).is_file():
                raise StageError(f"boot_file {plan.boot_file} not found in code_dir {plan.code.url}")
        inputs = {}
        for name, path in plan.inputs:
            self._service_log(f"downloading input {name} from {path.url}")
            target = job.dir / "inputs" / name
            files = self.store.download(path, target, f"input {name}")
            self._service_log(f"input {name}: {len(files)} file(s) in {target}")
            inputs[name] = target
        return code_dir, inputs

    def _start(self, code_dir: Path, input_dirs: dict[str, Path]) -> dict[str, dict[str, Path]]:
        """Start one process per task (unless terminated); answer each task's output folders."""
        job = self.job
        outputs: dict[str, dict[str, Path]] = {}
        for index, task in enumerate(job.tasks):
            outputs[task] = self._output_dirs(task)
            argv = self._argv(input_dirs, outputs[task])
            if job.stop.is_set():
                break
            self._spawn(task, argv, job_environment(job.plan, index, code_dir), code_dir)
        return outputs

    def _output_dirs(self, task: str) -> dict[str, Path]:
        """The (new) local folder of each output of ``task``."""
        out = {name: self.job.dir / "work" / task / "outputs" / name for name, _ in self.job.plan.outputs}
        for folder in out.values():
            folder.mkdir(parents=True, exist_ok=True)
        return out

    def _argv(self, input_dirs: dict[str, Path], output_dirs: dict[str, Path]) -> list[str]:
        """The command line: ``--<param>=<value>``, ``--<input>=<dir>``, ``--<output>=<dir>`` after the entry."""
        plan = self.job.plan
        args = [f"--{n}={v}" for n, v in plan.parameters]
        args += [f"--{n}={input_dirs[n]}" for n, _ in plan.inputs]
        args += [f"--{n}={output_dirs[n]}" for n, _ in plan.outputs]
        if plan.command:
            return [*plan.command, *args]
        return [sys.executable, plan.boot_file or "", *args]

    def _spawn(self, task: str, argv: list[str], env: dict[str, str], code_dir: Path) -> None:
        """Start ``task``'s process in a session of its own, its output going to the task's log."""
        self._service_log(f"starting: {shlex.join(argv)}", [task])
        with open(self.job.log_path(task), "ab") as logfile:
            try:
                self.procs[task] = subprocess.Popen(
                    argv, cwd=code_dir, stdin=subprocess.DEVNULL, stdout=logfile,
                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
            except OSError as exc:
                self._service_log(f"ERROR: cannot start the process: {exc}", [task])

    def _wait(self) -> dict[str, int]:
        """Wait for every process; on terminate, SIGTERM their groups, then SIGKILL after a grace time."""
        term_at: float | None = None
        while any(p.poll() is None for p in self.procs.values()):
            if self.job.stop.is_set():
                if term_at is None:
                    self._kill_all(signal.SIGTERM)
                    term_at = time.monotonic()
                elif time.monotonic() - term_at > KILL_GRACE_S:
                    self._kill_all(signal.SIGKILL)
                time.sleep(0.05)
            else:
                self.job.stop.wait(0.05)
        if term_at is not None:
            self._kill_all(signal.SIGKILL)  # leftovers of the process groups
        codes = {task: proc.returncode for task, proc in self.procs.items()}
        for task in self.job.tasks:
            codes.setdefault(task, -1)
        return codes

    def _kill_all(self, sig: int) -> None:
        for proc in self.procs.values():
            kill_group(proc.pid, sig)

    def _stage_out(self, output_dirs: dict[str, dict[str, Path]]) -> None:
        for name, path in self.job.plan.outputs:
            for task, dirs in output_dirs.items():
                count = self.store.upload(dirs[name], path, f"output {name}")
                self._service_log(f"output {name}: uploaded {count} file(s) to {path.url}", [task])

    def _export_logs(self) -> None:
        target = self.job.plan.log_export
        if target is None:
            return
        for task in self.job.tasks:
            try:
                self.store.upload_file(self.job.log_path(task), target, f"modelarts-job-{self.job.id}-{task}.log")
            except StageError as exc:
                self._service_log(f"WARNING: {exc}", [task])

    def _last_line(self, task: str) -> str:
        content, _, _ = read_log_tail(self.job.log_path(task), 8192)
        lines = [ln for ln in content.splitlines() if ln.strip() and not ln.startswith("[ModelArts Service Log]")]
        return lines[-1].strip() if lines else "no output"
