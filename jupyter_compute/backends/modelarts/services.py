"""What a ModelArts inference service job is made of: the spec checked and turned into a v1 service create
body, and a service answer turned into a status. Pure functions (no network); :mod:`.backend` calls them.

Two job kinds (``extra.kind``):

- ``batch-service``: runs a model over every file of one input folder and writes the answers to the
  output folder (the job's results). The input is an OBS folder, or a local file or folder (a DataFrame
  sent from a notebook arrives as a CSV file) that is uploaded first; a local CSV is uploaded without
  its header row, and when no ``extra.mapping_rule`` is given one is made of its columns (numbers where
  every sampled value is a number, else text), each row becoming ``{"data": {"req_data": [{column:
  value, …}]}}``.
- ``real-time-service``: deploys a model behind a predict URL. It is a long-running job: RUNNING while
  deployed, ended by its auto-stop schedule (``extra.duration`` in ``extra.time_unit``) or by cancel.

Both take ``extra.model_id`` (required), ``environment`` (the specification, default
``modelarts.vm.cpu.2u``; ``custom`` with ``extra.custom_spec``), ``extra.instance_count`` (default 1), a
dedicated ``cluster`` (``cluster:<cluster_id>``) and ``params`` (the model's environment variables).
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InvalidSpec
from ...models import JobSpec, JobState, RemoteStatus, map_native_status
from .capacity import CLUSTER_PREFIX
from .json_fields import as_list, as_mapping
from .status import SERVICE_STATUS, SERVICE_WORDS
from .storage import api_url, obs_path
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

SERVICE_PREFIX = "service:"
BATCH, REAL_TIME = "batch-service", "real-time-service"
INFER_TYPES = {BATCH: "batch", REAL_TIME: "real-time"}
DEFAULT_SPECIFICATION = "modelarts.vm.cpu.2u"
COMMON_EXTRA = ("kind", "model_id", "instance_count", "custom_spec")
EXTRA_KEYS = {BATCH: (*COMMON_EXTRA, "req_uri", "mapping_type", "mapping_rule"),
              REAL_TIME: (*COMMON_EXTRA, "duration", "time_unit")}
TIME_UNITS = ("MINUTES", "HOURS", "DAYS")
MAPPING_TYPES = ("file", "csv")
#: Rows of a local CSV read to tell its number columns from its text columns.
SAMPLE_ROWS = 1000


@dataclass
class ServicePlan:
    """A checked service job: what the create body needs, and what must be uploaded first."""

    kind: str
    name: str
    model_id: str
    specification: str
    instance_count: int
    custom_spec: dict[str, Any] | None = None
    cluster_id: str | None = None
    envs: dict[str, str] = field(default_factory=dict)
    schedule: list[dict[str, Any]] | None = None
    source_obs: str | None = None  # the input folder on OBS, or
    source_local: Path | None = None  # a local file or folder uploaded there first
    output: str | None = None  # None: the default under upload_root
    req_uri: str = "/"
    mapping_type: str = "file"
    mapping_rule: dict[str, Any] | None = None

    #: A local CSV file whose header row is dropped (and made the mapping rule) on upload.
    csv_from_local: bool = False


def is_service(remote_id: str) -> bool:
    return remote_id.startswith(SERVICE_PREFIX)


def service_remote_id(service_id: str) -> str:
    return f"{SERVICE_PREFIX}{service_id}"


def service_id_of(remote_id: str) -> str:
    return remote_id.removeprefix(SERVICE_PREFIX)


def _refuse_unsupported(spec: JobSpec, kind: str) -> None:
    refuse_fields(spec, ("script", "notebook", "code", "command", "algorithm"),
                  lambda f: f"a ModelArts {kind} deploys a model (extra.model_id), not a {f}")
    refuse_fields(spec, ("timeout_s",),
                  lambda f: "a ModelArts service takes no time limit here (a real-time one has extra.duration)")
    refuse_unknown_extra(spec, EXTRA_KEYS[kind], f"a {kind}")


def _cluster_id(cluster: str | None) -> str | None:
    text = (cluster or "").strip()
    if not text:
        return None
    if not text.startswith(CLUSTER_PREFIX) or not text[len(CLUSTER_PREFIX):].strip():
        raise InvalidSpec("a service runs on a dedicated cluster: cluster:<cluster_id> (pools are for training)",
                          field="cluster")  # fmt: skip
    return text[len(CLUSTER_PREFIX):].strip()


def _specification(spec: JobSpec) -> tuple[str, dict[str, Any] | None]:
    flavor = (spec.environment or "").strip() or DEFAULT_SPECIFICATION
    custom = spec.extra.get("custom_spec")
    if flavor == "custom":
        if not isinstance(custom, Mapping) or not custom:
            raise InvalidSpec("the custom specification needs extra.custom_spec ({cpu, memory, …})",
                              field="extra.custom_spec")  # fmt: skip
        return flavor, dict(custom)
    if custom is not None:
        raise InvalidSpec("extra.custom_spec is for the 'custom' specification only", field="extra.custom_spec")
    return flavor, None


def _envs(params: Mapping[str, Any]) -> dict[str, str]:
    envs = {}
    for key, value in params.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise InvalidSpec(f"'{key}' is not an environment variable name (letters, digits and _)", field="params")
        envs[key] = parameter_text(key, value)
    return envs


def _schedule(extra: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    duration = whole_extra(extra, "duration", None)
    unit = (text_extra(extra, "time_unit", "HOURS") or "HOURS").upper()
    if unit not in TIME_UNITS:
        raise InvalidSpec(f"'extra.time_unit' must be one of {', '.join(TIME_UNITS)}", field="extra.time_unit")
    if duration is None:
        if "time_unit" in extra:
            raise InvalidSpec("extra.time_unit needs extra.duration", field="extra.duration")
        return None
    return [{"type": "stop", "time_unit": unit, "duration": duration}]


def _batch_source(spec: JobSpec, plan: ServicePlan, resolve: LocalResolver) -> None:
    if len(spec.inputs) != 1 or not isinstance(spec.inputs[0], str) or not spec.inputs[0].strip():
        raise InvalidSpec("a batch service reads one input: an OBS folder, or a local file or folder",
                          field="inputs")  # fmt: skip
    text = spec.inputs[0].strip()
    local = None if text.startswith("obs://") else resolve(text, field="inputs[0]")
    if local is None:
        plan.source_obs = obs_path(text, "inputs[0]", folder=True)
    else:
        plan.source_local = local


def _mapping_type(extra: Mapping[str, Any], local_csv: bool) -> str:
    mapping = text_extra(extra, "mapping_type", "csv" if local_csv else "file") or "file"
    if mapping not in MAPPING_TYPES:
        raise InvalidSpec(f"'extra.mapping_type' must be 'file' or 'csv', not '{mapping}'", field="extra.mapping_type")
    return mapping


def _mapping_rule(extra: Mapping[str, Any], mapping: str, local_csv: bool) -> dict[str, Any] | None:
    rule = extra.get("mapping_rule")
    if rule is not None and (mapping != "csv" or not isinstance(rule, Mapping)):
        raise InvalidSpec("extra.mapping_rule is an object, for the csv mapping only", field="extra.mapping_rule")
    if mapping == "csv" and rule is None and not local_csv:
        raise InvalidSpec("a csv mapping of files on OBS needs extra.mapping_rule (columns by index)",
                          field="extra.mapping_rule")  # fmt: skip
    return dict(rule) if isinstance(rule, Mapping) else None


def _mapping(spec: JobSpec, plan: ServicePlan) -> None:
    plan.req_uri = text_extra(spec.extra, "req_uri", "/") or "/"
    local_csv = plan.source_local is not None and plan.source_local.suffix.lower() == ".csv"
    plan.mapping_type = _mapping_type(spec.extra, local_csv)
    plan.mapping_rule = _mapping_rule(spec.extra, plan.mapping_type, local_csv)
    plan.csv_from_local = plan.mapping_type == "csv" and plan.source_local is not None and plan.source_local.is_file()


def _model_id(spec: JobSpec, kind: str) -> str:
    model_id = text_extra(spec.extra, "model_id")
    if model_id is None:
        raise InvalidSpec(f"a {kind} needs the model to deploy: extra.model_id", field="extra.model_id")
    return model_id


def _plan_batch(spec: JobSpec, plan: ServicePlan, upload_root: str | None, resolve: LocalResolver) -> None:
    _batch_source(spec, plan, resolve)
    _mapping(spec, plan)
    plan.output = obs_path(spec.output, "output", folder=True) if spec.output is not None else None
    if (plan.output is None or plan.source_local is not None) and upload_root is None:
        raise InvalidSpec("this backend has no upload_root: give an OBS input folder and output folder",
                          field="output" if plan.output is None else "inputs[0]")  # fmt: skip


def plan_service(spec: JobSpec, kind: str, *, upload_root: str | None, resolve: LocalResolver) -> ServicePlan:
    """Check a service job's spec; InvalidSpec naming the field."""
    _refuse_unsupported(spec, kind)
    flavor, custom = _specification(spec)
    plan = ServicePlan(kind=kind, name=job_name(spec), model_id=_model_id(spec, kind), specification=flavor,
                       custom_spec=custom, instance_count=whole_extra(spec.extra, "instance_count", 1) or 1,
                       cluster_id=_cluster_id(spec.cluster), envs=_envs(spec.params))  # fmt: skip
    if kind == BATCH:
        _plan_batch(spec, plan, upload_root, resolve)
    elif spec.inputs or spec.output:
        raise InvalidSpec("a real-time service reads no inputs and writes no output folder",
                          field="inputs" if spec.inputs else "output")  # fmt: skip
    else:
        plan.schedule = _schedule(spec.extra)
    return plan


def _config(plan: ServicePlan, source: str | None, output: str | None,
            mapping_rule: Mapping[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    config: dict[str, Any] = {"model_id": plan.model_id, "specification": plan.specification,
                              "instance_count": plan.instance_count}  # fmt: skip
    if plan.custom_spec is not None:
        config["custom_spec"] = plan.custom_spec
    if plan.envs:
        config["envs"] = dict(plan.envs)
    if plan.kind != BATCH:
        config["weight"] = 100
        return config
    config.update(src_path=api_url(source or ""), dest_path=api_url(output or ""), req_uri=plan.req_uri,
                  mapping_type=plan.mapping_type)  # fmt: skip
    if plan.mapping_type == "csv":
        config["mapping_rule"] = dict(mapping_rule or plan.mapping_rule or {})
    return config


def create_body(plan: ServicePlan, *, job_id: str, source: str | None, output: str | None,
                mapping_rule: Mapping[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    """The ``POST /v1/{project_id}/services`` body (OBS folders as ``bucket/key/``)."""
    body: dict[str, Any] = {"service_name": plan.name, "description": f"{DESCRIPTION_PREFIX}{job_id}",
                            "infer_type": INFER_TYPES[plan.kind],
                            "config": [_config(plan, source, output, mapping_rule)]}  # fmt: skip
    if plan.cluster_id:
        body["cluster_id"] = plan.cluster_id
    if plan.schedule:
        body["schedule"] = plan.schedule
    return body


def _column_type(values: Sequence[str]) -> str:
    try:
        for value in values:
            float(value)
    except ValueError:
        return "string"
    return "number"


def mapping_rule_for(header: Sequence[str], sample: Sequence[Sequence[str]]) -> dict[str, Any]:
    """A csv mapping rule making each row ``{"data": {"req_data": [{column: value, …}]}}``."""
    columns = {name: {"type": _column_type([row[i] for row in sample if i < len(row)]), "index": i}
               for i, name in enumerate(header)}  # fmt: skip
    row = {"type": "object", "properties": columns}
    req = {"type": "object", "properties": {"req_data": {"type": "array", "items": [row]}}}
    return {"type": "object", "properties": {"data": req}}


def _split_csv(local: Path, body_path: Path) -> dict[str, Any]:
    with local.open(newline="", encoding="utf-8") as source, body_path.open("w", newline="", encoding="utf-8") as out:
        reader = csv.reader(source)
        header = next(reader, None)
        writer = csv.writer(out, lineterminator="\n")
        sample: list[list[str]] = []
        for row in reader:
            if len(sample) < SAMPLE_ROWS:
                sample.append(row)
            writer.writerow(row)
    if not header or not sample:
        raise InvalidSpec(f"the input {local.name} needs a header row naming its columns and at least one row",
                          field="inputs[0]")  # fmt: skip
    return mapping_rule_for(header, sample)


def split_csv_to_temp(local: Path) -> tuple[Path, dict[str, Any]]:
    """``local`` without its header row, in a new temporary folder (the caller removes it), and the mapping
    rule its columns make. Blocking: call it in a thread."""
    folder = Path(tempfile.mkdtemp(prefix="modelarts-input-"))
    body = folder / local.name
    try:
        return body, _split_csv(local, body)
    except (UnicodeDecodeError, csv.Error) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise InvalidSpec(f"the input {local.name} is not a UTF-8 CSV file: {exc}", field="inputs[0]") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def stopped_by_schedule(events: Sequence[Any]) -> bool:
    """Whether the service's events (oldest first) say its auto-stop schedule stopped it since it last ran."""
    by_schedule = False
    for event in as_list(events):
        info = str(as_mapping(event).get("event_info") or "").lower()
        if "schedule" in info and "stop" in info:
            by_schedule = True
        elif "running" in info:
            by_schedule = False
    return by_schedule


def service_status(service: Mapping[str, Any], scrub: Callable[[Any], str] = str, *,
                   by_schedule: bool = False) -> RemoteStatus:  # fmt: skip
    """A service (show / list answer) as a RemoteStatus. A stopped real-time service that its schedule stopped
    (``by_schedule``) ended as planned: SUCCEEDED."""
    native = str(service.get("status") or "")
    state = map_native_status(SERVICE_STATUS, native or None)
    said = str(service.get("error_msg") or "").strip()
    words = SERVICE_WORDS.get(native, f"unknown ModelArts service status '{native}'" if native else "no status")
    if by_schedule and native == "stopped":
        state, words = JobState.SUCCEEDED, "stopped by its auto-stop schedule"
    message = said if said and state in (JobState.FAILED, JobState.QUEUED, JobState.RUNNING) else words
    started = from_ms(service.get("publish_at"))
    finished = from_ms(service.get("update_time")) if state.is_terminal else None
    return RemoteStatus(state=state, native_status=scrub(native), message=scrub(message), started=started,
                        finished=finished)  # fmt: skip


def service_description(service: Mapping[str, Any]) -> str | None:
    value = service.get("description")
    return value if isinstance(value, str) else None


#: An OBS folder written as a virtual-host URL, as the platform's examples do.
_OBS_URL = re.compile(r"^https?://(?P<bucket>[a-z0-9][a-z0-9.-]*[a-z0-9])\.obs\.[^/]+(?P<key>/.*)?$")


def obs_folder_of(text: str, field: str) -> str:
    """``https://<bucket>.obs.<region>.myhuaweicloud.com/key/``, ``obs://bucket/key/`` or ``/bucket/key/`` →
    ``bucket/key/``."""
    match = _OBS_URL.match(text.strip())
    if match:
        text = f"/{match['bucket']}{match['key'] or '/'}"
    return obs_path(text, field, folder=True)


def dest_path(service: Mapping[str, Any]) -> str | None:
    """The batch service's output folder (``bucket/key/``), from its first config entry."""
    for entry in as_list(service.get("config")):
        path = as_mapping(entry).get("dest_path")
        if isinstance(path, str) and path.strip():
            return obs_folder_of(path, "dest_path")
    return None


def event_lines(events: Sequence[Any]) -> str:
    """The service's events as log lines: ``<time> <type> <info>``, oldest first."""
    lines = []
    for event in as_list(events):
        entry = as_mapping(event)
        when = from_ms(entry.get("occur_time"))
        stamp = when.strftime("%Y-%m-%d %H:%M:%S") if when else "-"
        lines.append(f"{stamp} {entry.get('event_type') or 'event'}: {entry.get('event_info') or ''}\n")
    return "".join(lines)


def _when(value: Any) -> str | None:
    moment = from_ms(value)
    return moment.isoformat() if moment else None


def _schedule_words(schedule: Any) -> str | None:
    for rule in as_list(schedule):
        entry = as_mapping(rule)
        if entry.get("type") == "stop" and entry.get("duration"):
            return f"stops after {entry.get('duration')} {str(entry.get('time_unit') or '').lower()}"
    return None


def service_facts(service: Mapping[str, Any]) -> dict[str, Any]:
    """What a service's answer tells people (its config's first model), leaving out what it does not say."""
    config = as_mapping(next(iter(as_list(service.get("config"))), {}))
    model = " ".join(str(config[k]) for k in ("model_name", "model_version") if config.get(k)) or config.get("model_id")
    facts: dict[str, Any] = {
        "service": service.get("service_name"), "service id": service.get("service_id"),
        "kind": service.get("infer_type"), "status": service.get("status"), "progress": service.get("progress"),
        "model": model, "specification": config.get("specification"), "instances": config.get("instance_count"),
        "cluster": service.get("cluster_id"), "predict URL": service.get("access_address"),
        "auto-stop": _schedule_words(service.get("schedule")), "stops at": _when(service.get("due_time")),
        "input": config.get("src_path"), "output": config.get("dest_path"), "mapping": config.get("mapping_type"),
        "calls": service.get("invocation_times"), "error": service.get("error_msg") or None,
    }  # fmt: skip
    return {name: value for name, value in facts.items() if value not in (None, "")}
