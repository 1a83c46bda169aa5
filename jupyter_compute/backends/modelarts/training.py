"""What a ModelArts training job is made of: the job spec checked and turned into a create body,
and a training-job answer turned into a status.

Pure functions (no network); :mod:`.modelarts` calls them. The program is one of:

- ``script``: a local file (it is the boot file) or folder (``extra.boot_file`` names the boot file
  in it), uploaded to OBS under ``upload_root`` first;
- ``extra.code_dir``: a code folder on OBS with ``extra.boot_file`` (relative to it, or its full path);
- ``algorithm``: the id of an algorithm registered on ModelArts;
- ``extra.image_url`` with ``command``: a custom image (optionally with code from the above).

``extra.engine`` chooses the engine of a code job: ``{"engine_id": …}`` or ``{"engine_name": …,
"engine_version": …}``. Inputs are OBS paths (``obs://bucket/path`` or ``/bucket/path``) or local
files/folders, each optionally named ``name=path``; which local paths count is the backend's to say
(a :data:`LocalResolver`, :meth:`Backend.local_source`: ``file://…``, or an existing path under the
folders the server shares), and every other path is an OBS path; unnamed inputs are ``data_url``,
``data_url_1``, … . The output folder is the job's output named ``train_url``. Every parameter, input
and output reaches the boot file as ``--name=value``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from ...errors import InvalidSpec
from ...models import JobSpec, JobState, RemoteStatus, map_native_status
from .capacity import CLUSTER_PREFIX, POOL_PREFIX
from .common import (
    DESCRIPTION_PREFIX,
    LocalResolver,
    from_ms,
    job_name,
    parameter_text,
    refuse_fields,
    refuse_unknown_extra,
    text_extra,
    whole_extra,
)
from .json_fields import as_mapping, dig
from .status import PHASE_WORDS, TRAINING_PHASES
from .storage import api_url, display_url, join, obs_path

EXTRA_KEYS = ("kind", "code_dir", "boot_file", "engine", "image_url", "node_count")
ENGINE_KEYS = ("engine_id", "engine_name", "engine_version")
PROGRAM_SOURCES = ("script", "extra.code_dir", "algorithm", "extra.image_url")
DEFAULT_INPUT = "data_url"
OUTPUT_NAME = "train_url"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_NAMED_INPUT = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]{0,63})=(.+)$", re.DOTALL)



@dataclass
class Source:
    """One input: its name, and either a local path (uploaded first) or an OBS path (``bucket/key``)."""

    name: str
    field: str
    local: Path | None = None
    obs: str | None = None


@dataclass
class Plan:
    """A checked spec, ready for the platform checks, the uploads and the create call."""

    name: str
    flavor: str | None
    pool: str | None
    node_count: int
    code_local: Path | None = None
    code_obs: str | None = None  # bucket/folder/
    boot_file: str | None = None  # relative to the code folder
    algorithm_id: str | None = None
    image_url: str | None = None
    command: str | None = None
    engine: dict[str, str] = field(default_factory=dict)
    parameters: list[dict[str, str]] = field(default_factory=list)
    inputs: list[Source] = field(default_factory=list)
    output: str | None = None  # bucket/folder/; None: under upload_root

    @property
    def needs_upload(self) -> bool:
        return self.code_local is not None or any(s.local is not None for s in self.inputs)


def pool_of(cluster: str | None) -> str | None:
    """``pool:<name>`` or ``<name>`` → the pool name; InvalidSpec for a v1 cluster or an empty name."""
    if cluster is None or not cluster.strip():
        return None
    value = cluster.strip()
    if value.startswith(CLUSTER_PREFIX):
        raise InvalidSpec(
            "v1 clusters serve inference services; training jobs run on a resource pool (pool:<name>)",
            field="cluster",
        )
    name = value[len(POOL_PREFIX) :] if value.startswith(POOL_PREFIX) else value
    if not name or "/" in name:
        raise InvalidSpec(f"not a pool name: '{value}'", field="cluster")
    return name


def _engine_fields(value: Mapping[Any, Any]) -> dict[str, str]:
    """The engine keys of ``extra.engine`` with their stripped texts; InvalidSpec for unknown keys or empty texts."""
    unknown = sorted(set(value) - set(ENGINE_KEYS))
    if unknown:
        raise InvalidSpec(f"unknown engine key '{unknown[0]}' (known: {', '.join(ENGINE_KEYS)})", field="extra.engine")
    engine = {}
    for key, text in value.items():
        if not isinstance(text, str) or not text.strip():
            raise InvalidSpec(f"engine '{key}' must be a non-empty string", field="extra.engine")
        engine[key] = text.strip()
    return engine


def _check_engine_choice(engine: Mapping[str, str]) -> None:
    """An engine is named either by its id alone or by its name (with its version)."""
    if "engine_id" in engine and len(engine) > 1:
        raise InvalidSpec("give either engine_id or engine_name with engine_version", field="extra.engine")
    if "engine_id" not in engine and "engine_name" not in engine:
        raise InvalidSpec("give the engine_name (with engine_version) or the engine_id", field="extra.engine")


def _engine(extra: Mapping[str, Any]) -> dict[str, str]:
    """``extra.engine`` as the create body's engine keys (empty when not given)."""
    value = extra.get("engine")
    if value is None:
        return {}
    if isinstance(value, str) and value.strip():
        return {"engine_id": value.strip()}
    if not isinstance(value, Mapping) or not value:
        raise InvalidSpec("'extra.engine' must be {engine_id} or {engine_name, engine_version}", field="extra.engine")
    engine = _engine_fields(value)
    _check_engine_choice(engine)
    return engine


def _relative_boot_file(boot: str, code_obs: str | None) -> str:
    """``extra.boot_file`` relative to the code folder (a full OBS path inside ``code_obs`` is accepted)."""
    if code_obs and boot.startswith(("obs://", "/")):
        full = obs_path(boot, "extra.boot_file")
        if not full.startswith(code_obs):
            raise InvalidSpec(f"the boot file must be inside the code folder {display_url(code_obs)}",
                              field="extra.boot_file")  # fmt: skip
        boot = full[len(code_obs) :]
    parts = PurePosixPath(boot.replace("\\", "/")).parts
    if not parts or boot.startswith("/") or any(p in (".", "..") for p in parts):
        raise InvalidSpec(f"the boot file must be a path inside the code folder: '{boot}'", field="extra.boot_file")
    return "/".join(parts)


def _check_one_program(spec: JobSpec, extra: Mapping[str, Any], image: str | None) -> None:
    """Exactly one of script / extra.code_dir / algorithm, or none of them with a custom image."""
    given = [name for name, value in (
        ("script", spec.script), ("extra.code_dir", extra.get("code_dir")), ("algorithm", spec.algorithm),
    ) if value is not None]  # fmt: skip
    if len(given) > 1:
        raise InvalidSpec(f"give only one of {' / '.join(given)}", field=given[1])
    if not given and not image:
        raise InvalidSpec(
            "give the program: a local script or folder (script), an OBS code folder (extra.code_dir) with "
            "its boot file, an algorithm id (algorithm), or an image (extra.image_url) with a command",
            field="script",
        )


def _algorithm(plan: Plan, algorithm: str, *, image: str | None, boot: str | None, command: str | None) -> None:
    """A registered algorithm: it brings its own code, engine and command."""
    if not algorithm.strip():
        raise InvalidSpec("the algorithm id must not be empty", field="algorithm")
    for name, value in (("extra.image_url", image), ("extra.boot_file", boot), ("command", command)):
        if value:
            raise InvalidSpec("a registered algorithm brings its own code and engine", field=name)
    if plan.engine:
        raise InvalidSpec("a registered algorithm brings its own engine", field="extra.engine")
    plan.algorithm_id = algorithm.strip()


def _custom_image(plan: Plan, image: str | None, command: str | None) -> None:
    """A custom image with the command it runs; without an image, no command may be given."""
    if not image:
        if command is not None:
            raise InvalidSpec("a command runs in a custom image (extra.image_url); a code job runs its boot file",
                              field="command")  # fmt: skip
        return
    if plan.engine:
        raise InvalidSpec("a custom image replaces the engine: give one of them", field="extra.engine")
    text = (command or "").strip()
    if not text:
        raise InvalidSpec("a custom image (extra.image_url) needs the command to run", field="command")
    plan.image_url, plan.command = image, text


def _script_file(plan: Plan, local: Path, boot: str | None) -> None:
    """A local script: it is the boot file."""
    if boot and boot != local.name:
        raise InvalidSpec(f"the script {local.name} is the boot file; leave extra.boot_file out",
                          field="extra.boot_file")  # fmt: skip
    plan.code_local, plan.boot_file = local, local.name


def _script_folder(plan: Plan, local: Path, boot: str | None, image: str | None) -> None:
    """A local code folder with its boot file (which a custom image's command may replace)."""
    plan.code_local = local
    if not boot:
        if not image:
            raise InvalidSpec(f"name the boot file in the folder {local.name}", field="extra.boot_file")
        return
    plan.boot_file = _relative_boot_file(boot, None)
    if not (local / plan.boot_file).is_file():
        raise InvalidSpec(f"the folder {local} has no boot file {plan.boot_file}", field="extra.boot_file")


def _local_code(plan: Plan, script: str, resolve: LocalResolver, *, boot: str | None, image: str | None) -> None:
    """``script``: a local file or folder, uploaded to OBS before the job is created."""
    text = script.strip()
    if text.startswith("obs://"):
        raise InvalidSpec("'script' is a local file or folder; give code on OBS as extra.code_dir", field="script")
    local = resolve(text, field="script", required=True) if text else None
    if local is None:
        raise InvalidSpec("'script' must name a local file or folder", field="script")
    if local.is_file():
        _script_file(plan, local, boot)
    else:
        _script_folder(plan, local, boot, image)


def _obs_code(plan: Plan, code_dir: Any, *, boot: str | None, image: str | None) -> None:
    """``extra.code_dir``: a code folder on OBS with its boot file (which a custom image's command may replace)."""
    plan.code_obs = obs_path(code_dir, "extra.code_dir", folder=True)
    if boot:
        plan.boot_file = _relative_boot_file(boot, plan.code_obs)
    elif not image:
        raise InvalidSpec("name the boot file in the code folder", field="extra.boot_file")


def _code(spec: JobSpec, extra: Mapping[str, Any], plan: Plan, resolve: LocalResolver) -> None:
    """Fill the program of ``plan`` from the spec; InvalidSpec naming the field."""
    image = text_extra(extra, "image_url")
    boot = text_extra(extra, "boot_file")
    _check_one_program(spec, extra, image)
    plan.engine = _engine(extra)
    if spec.algorithm is not None:
        _algorithm(plan, spec.algorithm, image=image, boot=boot, command=spec.command)
        return
    _custom_image(plan, image, spec.command)
    if spec.script is not None:
        _local_code(plan, spec.script, resolve, boot=boot, image=image)
    elif extra.get("code_dir") is not None:
        _obs_code(plan, extra["code_dir"], boot=boot, image=image)
    elif boot:
        raise InvalidSpec("a boot file needs its code: give script or extra.code_dir", field="extra.boot_file")


def _input_name(index: int) -> str:
    """The name of the ``index``-th input when it is not named: data_url, data_url_1, …"""
    return DEFAULT_INPUT if index == 0 else f"{DEFAULT_INPUT}_{index}"


def _named_input(item: Any, where: str, index: int) -> tuple[str, str]:
    """(name, path) of the ``index``-th input, given as ``path`` or ``name=path``."""
    if not isinstance(item, str) or not item.strip():
        raise InvalidSpec("an input must be an OBS path or a local file (name=path to name it)", field=where)
    text = item.strip()
    named = _NAMED_INPUT.match(text)
    if named:
        return named.group(1), named.group(2).strip()
    return _input_name(index), text


def _input(item: Any, index: int, earlier: Sequence[Source], resolve: LocalResolver) -> Source:
    """The ``index``-th input: a local file or folder (uploaded first) or an OBS path."""
    where = f"inputs[{index}]"
    name, text = _named_input(item, where, index)
    if name == OUTPUT_NAME or any(s.name == name for s in earlier):
        raise InvalidSpec(f"two inputs (or an input and the output) are named '{name}'", field=where)
    local = None if text.startswith("obs://") else resolve(text, field=where)
    if local is not None:
        return Source(name, where, local=local)
    return Source(name, where, obs=obs_path(text, where))


def _inputs(spec: JobSpec, resolve: LocalResolver) -> list[Source]:
    sources: list[Source] = []
    for index, item in enumerate(spec.inputs):
        sources.append(_input(item, index, sources, resolve))
    return sources


def _parameters(params: Mapping[str, Any], inputs: Sequence[Source]) -> list[dict[str, str]]:
    """The spec's parameters as ``{name, value}`` texts; their names must not be those of inputs or the output."""
    taken = {OUTPUT_NAME, *(s.name for s in inputs)}
    parameters = []
    for key, value in params.items():
        if not _NAME.match(key):
            raise InvalidSpec(f"parameter name '{key}' must be letters, digits, _ and -", field="params")
        if key in taken:
            raise InvalidSpec(f"parameter '{key}' has the name of an input or the output", field="params")
        parameters.append({"name": key, "value": parameter_text(key, value)})
    return parameters


def _refuse_unsupported(spec: JobSpec) -> None:
    """What ModelArts training jobs cannot take: a notebook, inline code, a time limit, unknown extras."""
    refuse_fields(spec, ("notebook", "code"),
                  lambda f: f"ModelArts runs code from OBS, an algorithm or an image, not a {f}")
    refuse_fields(spec, ("timeout_s",), lambda f: "ModelArts training jobs take no time limit here")
    refuse_unknown_extra(spec, EXTRA_KEYS, "a training job")


def _flavor(environment: str | None, pool: str | None) -> str | None:
    """The flavor named by ``environment``; one of it and a pool is needed."""
    flavor = (environment or "").strip() or None
    if flavor is None and pool is None:
        raise InvalidSpec("give the flavor to run on (environment), or a dedicated pool (cluster)",
                          field="environment")  # fmt: skip
    return flavor


def _output(output: str | None, upload_root: str | None) -> str | None:
    """The output folder given, or None for the default under ``upload_root`` (which must then exist)."""
    if output is not None:
        return obs_path(output, "output", folder=True)
    if upload_root is None:
        raise InvalidSpec("give the OBS output folder (this backend has no upload_root for a default)",
                          field="output")  # fmt: skip
    return None


def _check_uploads(plan: Plan, upload_root: str | None) -> None:
    """Local code or inputs need an ``upload_root`` to go to."""
    if plan.needs_upload and upload_root is None:
        where = "script" if plan.code_local is not None else next(s.field for s in plan.inputs if s.local)
        raise InvalidSpec("local files cannot be uploaded: this backend has no upload_root", field=where)


def plan_job(spec: JobSpec, *, upload_root: str | None, resolve: LocalResolver) -> Plan:
    """Check a spec's meaning on ModelArts; InvalidSpec naming the field.

    ``resolve`` says which values name local files (it may look at the server's files).
    """
    _refuse_unsupported(spec)
    pool = pool_of(spec.cluster)
    flavor = _flavor(spec.environment, pool)
    plan = Plan(name=job_name(spec), flavor=flavor, pool=pool, node_count=whole_extra(spec.extra, "node_count", 1) or 1)
    _code(spec, spec.extra, plan, resolve)
    plan.inputs = _inputs(spec, resolve)
    plan.parameters = _parameters(spec.params, plan.inputs)
    plan.output = _output(spec.output, upload_root)
    _check_uploads(plan, upload_root)
    return plan


def job_folder(upload_root: str, job_id: str, *parts: str) -> str:
    """``<upload_root>/<job_id>/<parts>/`` as ``bucket/key/``."""
    return join(upload_root, job_id, *parts) + "/"


def create_body(plan: Plan, *, job_id: str, code_obs: str | None, inputs: Mapping[str, str], output: str,
                workspace_id: str | None) -> dict[str, Any]:  # fmt: skip
    """The ``POST training-jobs`` body. ``inputs``: name → ``bucket/key``; folders as ``bucket/key/``."""
    algorithm: dict[str, Any] = {}
    if plan.algorithm_id:
        algorithm["id"] = plan.algorithm_id
    if code_obs:
        algorithm["code_dir"] = api_url(code_obs)
        if plan.boot_file:
            algorithm["boot_file"] = api_url(join(code_obs, plan.boot_file))
    if plan.image_url:
        algorithm["engine"] = {"image_url": plan.image_url}
        algorithm["command"] = plan.command
    elif plan.engine:
        algorithm["engine"] = dict(plan.engine)
    algorithm["parameters"] = list(plan.parameters)
    algorithm["inputs"] = [{"name": n, "remote": {"obs": {"obs_url": api_url(p)}}} for n, p in inputs.items()]
    algorithm["outputs"] = [{"name": OUTPUT_NAME, "remote": {"obs": {"obs_url": api_url(output)}}}]
    metadata: dict[str, Any] = {"name": plan.name, "description": f"{DESCRIPTION_PREFIX}{job_id}"}
    if workspace_id:
        metadata["workspace_id"] = workspace_id
    return {"kind": "job", "metadata": metadata, "algorithm": algorithm, "spec": {"resource": _resource(plan)}}


def _resource(plan: Plan) -> dict[str, Any]:
    """The create body's ``spec.resource``: how many nodes, of which flavor, in which pool."""
    resource: dict[str, Any] = {"node_count": plan.node_count}
    if plan.flavor:
        resource["flavor_id"] = plan.flavor
    if plan.pool:
        resource["pool_id"] = plan.pool
    return resource


# --- answers --------------------------------------------------------------------------------


def job_id_of(job: Mapping[str, Any]) -> str:
    """The training job's id (``metadata.id``); empty when it has none."""
    return str(dig(job, "metadata", "id") or "")


def job_description(job: Mapping[str, Any]) -> str | None:
    """The training job's ``metadata.description`` (which names our job id), if it is a text."""
    description = dig(job, "metadata", "description")
    return description if isinstance(description, str) else None


def _task_problems(status: Mapping[str, Any]) -> list[str]:
    """``worker-0: exited with code 1: …`` for every task that ended badly (``task_statuses``)."""
    problems = []
    for item in status.get("task_statuses") or []:
        entry = as_mapping(item)
        task, code, said = entry.get("task"), entry.get("exit_code"), entry.get("message")
        if code != 0 and isinstance(said, str) and said.strip():
            problems.append(f"{task}: {said.strip()}" if task else said.strip())
    return problems


def _native_status(phase: str, secondary: str) -> str:
    """``Running (Downloading)``, or whichever of the two phases is given."""
    return f"{phase} ({secondary})" if phase and secondary else phase or secondary


def _finished(state: JobState, started: datetime | None, duration: Any) -> datetime | None:
    """When a job that ended finished: its start plus its ``duration`` (ms); None while it runs."""
    if not state.is_terminal or started is None or not isinstance(duration, (int, float)):
        return None
    return started + timedelta(milliseconds=max(0.0, float(duration)))


def _phase_message(phase: str, secondary: str, state: JobState) -> str:
    """What the phase means in words (with the secondary phase where it tells why a job waits or failed)."""
    if phase not in PHASE_WORDS:
        return f"unknown ModelArts phase '{phase}'" if phase else "ModelArts reported no phase"
    words = PHASE_WORDS[phase]
    if secondary and secondary != phase and state in (JobState.FAILED, JobState.QUEUED):
        return f"{words} ({secondary})"
    return words


def job_status(job: Mapping[str, Any], scrub: Callable[[Any], str] = str) -> RemoteStatus:
    """A training job (show / search / create answer) as a RemoteStatus; ``scrub`` cleans its texts."""
    status = as_mapping(job.get("status"))
    phase = str(status.get("phase") or "")
    secondary = str(status.get("secondary_phase") or "")
    state = map_native_status(TRAINING_PHASES, phase or None)
    started = from_ms(status.get("start_time"))
    problems = _task_problems(status) if state is JobState.FAILED else []
    message = "; ".join(problems) if problems else _phase_message(phase, secondary, state)
    return RemoteStatus(state=state, native_status=scrub(_native_status(phase, secondary)), message=scrub(message),
                        started=started, finished=_finished(state, started, status.get("duration")))  # fmt: skip


def task_names(job: Mapping[str, Any]) -> list[str]:
    """The job's task names (``worker-0`` …), whether given as names or as objects."""
    names = []
    for task in as_mapping(job.get("status")).get("tasks") or []:
        name = task if isinstance(task, str) else as_mapping(task).get("task") or as_mapping(task).get("name")
        if isinstance(name, str) and name:
            names.append(name)
    return names


def _byte_count(value: Any) -> int | None:
    """A size in bytes as the platform gives it (a whole number ≥ 0), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def log_slice(preview: Mapping[str, Any], offset: int) -> tuple[str, int]:
    """(text after byte ``offset`` of the whole log, the log's size) from a log preview answer.

    A preview holds the last ``current_size`` bytes of a log of ``full_size`` bytes; when ``offset``
    lies before them, the text says how much of the log the preview no longer holds.
    """
    content = preview.get("content")
    raw = content.encode("utf-8") if isinstance(content, str) else b""
    full, current = _byte_count(preview.get("full_size")), _byte_count(preview.get("current_size"))
    start = max(0, full - current) if full is not None and current is not None else 0
    end = start + len(raw)
    offset = max(0, int(offset))
    if offset >= end:
        return "", offset
    if offset < start:
        note = f"[{start - offset} bytes of the log are older than its preview; the full log is on OBS]\n"
        return note + raw.decode("utf-8", errors="replace"), end
    return raw[offset - start :].decode("utf-8", errors="replace"), end


def output_folders(job: Mapping[str, Any]) -> dict[str, str]:
    """The job's OBS outputs: name → ``bucket/key/`` (unreadable ones are left out)."""
    folders: dict[str, str] = {}
    for item in as_mapping(job.get("algorithm")).get("outputs") or []:
        url = dig(item, "remote", "obs", "obs_url")
        try:
            folders[str(as_mapping(item).get("name") or OUTPUT_NAME)] = obs_path(url, "outputs", folder=True)
        except InvalidSpec:
            continue
    return folders


def training_facts(job: Mapping[str, Any]) -> dict[str, Any]:
    """What a training job's answer tells people beyond its status."""
    status, resource = as_mapping(job.get("status")), as_mapping(dig(job, "spec", "resource"))
    facts: dict[str, Any] = {
        "training job": dig(job, "metadata", "name"), "training job id": dig(job, "metadata", "id"),
        "phase": status.get("phase"), "secondary phase": status.get("secondary_phase"),
        "flavor": resource.get("flavor_id"), "pool": resource.get("pool_id"), "nodes": resource.get("node_count"),
        "tasks": task_names(job) or None, "outputs": output_folders(job) or None,
    }  # fmt: skip
    return {name: value for name, value in facts.items() if value not in (None, "")}
