"""What a job spec means on Ray: the checks (each refusal names its field) and the plan of the submission.

A job is a command, a script, inline code or a notebook. Its files (the script, the code, the notebook with
its parameters injected, ``extra.working_dir``'s folder, local inputs under ``inputs/``) go into the job's
``working_dir`` package; the program runs under :mod:`.entry`, which applies the time limit and copies
the outputs to the results location. ``extra`` takes Ray's own names: ``entrypoint_num_cpus``,
``entrypoint_num_gpus``, ``entrypoint_memory`` (bytes), ``entrypoint_resources``, ``pip``, ``env_vars``,
and ``working_dir`` (a local folder).
"""

from __future__ import annotations

import json
import shlex
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InvalidSpec
from ...models import JobSpec
from ..base import one_program
from ..local import param_env_name
from ..local_notebook import prepare_notebook
from .package import check_files

RESOURCE_KEYS = {"entrypoint_num_cpus": "CPU", "entrypoint_num_gpus": "GPU", "entrypoint_memory": "memory"}
EXTRA_KEYS = frozenset({*RESOURCE_KEYS, "entrypoint_resources", "pip", "env_vars", "working_dir"})
CODE_FILE = "_jupyter_compute_code.py"
#: The entrypoint and its plan, added to every package (:mod:`.entry`).
ENTRY_FILE = "_jupyter_compute_entry.py"
PLAN_FILE = "_jupyter_compute_plan.json"
RESERVED_FILES = (ENTRY_FILE, PLAN_FILE)
PARAMS_FILE = "_jupyter_compute_params.json"
#: Variables the job's run sets itself; a spec's ``env_vars`` may not replace them.
OWN_PREFIX = "JUPYTER_COMPUTE_"

#: Resolves a spec's local file or folder (``Backend.local_source``): text, field, required → path or None.
LocalSource = Callable[..., Path | None]


@dataclass
class RayPlan:
    """What the submission sends: the program's command line, the package's files, the runtime
    environment's variables and pip packages, and the entrypoint's resources (Ray's body keys)."""

    command: str
    files: dict[str, bytes | Path] = field(default_factory=dict)
    env_vars: dict[str, str] = field(default_factory=dict)
    pip: list[str] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def asks(self) -> dict[str, float]:
        """What the entrypoint asks for, by Ray's resource names."""
        asks = {RESOURCE_KEYS[key]: float(value) for key, value in self.resources.items() if key in RESOURCE_KEYS}
        asks.update({str(k): float(v) for k, v in self.resources.get("entrypoint_resources", {}).items()})
        return asks


def check_spec(spec: JobSpec, local_source: LocalSource) -> None:
    """Refuse what Ray cannot run, naming the field. Blocking (looks at local files)."""
    files = plan_job(spec, local_source, python="python").files
    taken = sorted(set(files) & set(RESERVED_FILES))
    if taken:
        raise InvalidSpec(f"'{taken[0]}' is a name jupyter-compute gives a file of its own", field="script")
    check_files({**files, **dict.fromkeys(RESERVED_FILES, b"")})


def plan_job(spec: JobSpec, local_source: LocalSource, *, python: str) -> RayPlan:
    """The plan of a checked spec. Blocking: reads the local files it names."""
    _refuse_unused(spec)
    program = one_program(spec)
    plan = RayPlan(command="")
    plan.command = _program_command(spec, program, local_source, plan.files, python)
    _add_params(spec, program, plan)
    _add_inputs(spec, local_source, plan)
    _add_extra(spec.extra, local_source, plan)
    return plan


def _refuse_unused(spec: JobSpec) -> None:
    if spec.algorithm is not None:
        raise InvalidSpec("Ray runs a command, script, code or notebook, not an algorithm", field="algorithm")
    if spec.environment is not None:
        raise InvalidSpec("Ray places a job by the resources it asks for (extra.entrypoint_num_cpus, "
                          "extra.entrypoint_num_gpus, extra.entrypoint_memory, extra.entrypoint_resources), "
                          "not by an environment", field="environment")  # fmt: skip
    if spec.output is not None:
        raise InvalidSpec("a Ray job writes its outputs to $JUPYTER_COMPUTE_OUTPUT_DIR; where they are kept "
                          "is the backend's results_url", field="output")  # fmt: skip
    unknown = sorted(set(spec.extra) - EXTRA_KEYS)
    if unknown:
        raise InvalidSpec(f"Ray takes no '{unknown[0]}' (it takes: {', '.join(sorted(EXTRA_KEYS))})",
                          field=f"extra.{unknown[0]}")  # fmt: skip


def _program_command(spec: JobSpec, program: str, local_source: LocalSource, files: dict[str, bytes | Path],
                     python: str) -> str:  # fmt: skip
    """The program's command line in the working directory; its files added to ``files``."""
    if program == "command":
        return str(spec.command)
    if program == "code":
        files[CODE_FILE] = str(spec.code).encode()
        return f"{python} {CODE_FILE}"
    path = _local_file(str(getattr(spec, program)), program, local_source)
    if program == "script":
        files[path.name] = path
        return f"{python} {shlex.quote(path.name)}"
    if path.suffix != ".ipynb":
        raise InvalidSpec(f"a notebook must be an .ipynb file: '{spec.notebook}'", field="notebook")
    files[path.name] = _notebook_with_params(path, spec.params)
    name = shlex.quote(path.name)
    return (f"{python} -m jupyter nbconvert --to notebook --execute {name} "
            f'--output-dir "$JUPYTER_COMPUTE_OUTPUT_DIR" --output {name}')  # fmt: skip


def _local_file(text: str, field_name: str, local_source: LocalSource) -> Path:
    path = local_source(text, field=field_name, required=True)
    if path is None or not path.is_file():
        raise InvalidSpec(f"'{text}' is not a file", field=field_name)
    return path


def _notebook_with_params(source: Path, params: Mapping[str, Any]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="jupyter-compute-ray-") as folder:
        target = Path(folder, source.name)
        prepare_notebook(source, target, params)
        return target.read_bytes()


def _add_params(spec: JobSpec, program: str, plan: RayPlan) -> None:
    """Parameters as a JSON file and one variable each (notebooks get them injected too)."""
    if not spec.params:
        return
    try:
        plan.files[PARAMS_FILE] = json.dumps(spec.params).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidSpec(f"parameters must be JSON values: {exc}", field="params") from exc
    names = {param_env_name(name): value for name, value in spec.params.items()}
    if len(names) != len(spec.params):
        raise InvalidSpec("two parameter names map to the same environment variable", field="params")
    plan.env_vars.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in names.items()})
    plan.env_vars["JUPYTER_COMPUTE_PARAMS"] = PARAMS_FILE


def _add_inputs(spec: JobSpec, local_source: LocalSource, plan: RayPlan) -> None:
    """Local inputs (files, folders, uploaded DataFrames) go under ``inputs/``; the job finds the list of
    its inputs (those paths, or the text given) as JSON in $JUPYTER_COMPUTE_INPUTS."""
    seen: list[str] = []
    for index, item in enumerate(spec.inputs):
        if not isinstance(item, str) or not item.strip():
            raise InvalidSpec(f"input {index + 1} must be a path or a URL", field="inputs")
        local = local_source(item, field="inputs")
        if local is None:
            seen.append(item)
            continue
        name = f"inputs/{index}-{local.name}" if f"inputs/{local.name}" in plan.files else f"inputs/{local.name}"
        plan.files[name] = local
        seen.append(name)
    if seen:
        plan.env_vars["JUPYTER_COMPUTE_INPUTS"] = json.dumps(seen)


def _add_extra(extra: Mapping[str, Any], local_source: LocalSource, plan: RayPlan) -> None:
    for key in RESOURCE_KEYS:
        if key in extra:
            plan.resources[key] = _amount(extra[key], f"extra.{key}")
    if "entrypoint_resources" in extra:
        plan.resources["entrypoint_resources"] = _custom_resources(extra["entrypoint_resources"])
    plan.pip = _texts(extra.get("pip", []), "extra.pip")
    plan.env_vars.update(_env_vars(extra.get("env_vars", {})))
    if "working_dir" in extra:
        plan.files[""] = _local_folder(extra["working_dir"], local_source)


def _env_vars(env_vars: Any) -> dict[str, str]:
    if not isinstance(env_vars, Mapping) or not all(isinstance(v, str) for v in env_vars.values()):
        raise InvalidSpec("give the variables as name → text", field="extra.env_vars")
    taken = sorted(name for name in env_vars if str(name).startswith(OWN_PREFIX))
    if taken:
        raise InvalidSpec(f"'{taken[0]}' is set by jupyter-compute itself", field="extra.env_vars")
    return {str(k): v for k, v in env_vars.items()}


def _local_folder(value: Any, local_source: LocalSource) -> Path:
    folder = local_source(value, field="extra.working_dir", required=True) if isinstance(value, str) else None
    if folder is None or not folder.is_dir():
        raise InvalidSpec(f"'{value}' is not a folder of the server", field="extra.working_dir")
    return folder


def _amount(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidSpec("must be a number, 0 or more", field=field_name)
    return value


def _custom_resources(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise InvalidSpec("give the resources as name → amount", field="extra.entrypoint_resources")
    return {str(name): _amount(amount, f"extra.entrypoint_resources.{name}") for name, amount in value.items()}


def _texts(value: Any, field_name: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidSpec("give a list of texts", field=field_name)
    return [v.strip() for v in value]

