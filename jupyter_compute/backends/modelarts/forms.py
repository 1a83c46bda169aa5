"""The ModelArts submit form as it is for what the user chose so far (``Backend.form_for``).

The form changes with ``extra.kind``, ``extra.workflow_id`` and ``cluster`` (:data:`REFRESH_ON`):

- ``training``: the training fields of the backend's full form, the pools offered for ``cluster`` and the
  flavors of the pool chosen (of every pool, before one is) for ``environment``, each with free text too;
- ``batch-service`` / ``real-time-service``: only what that kind takes (:data:`.services.EXTRA_KEYS`, and the
  spec fields :func:`.services.plan_service` reads), the specification offered as a choice;
- ``workflow``: the project's workflows to choose from (every page of ``GET /v2/{project_id}/workflows``, an
  item offset, at most ``WORKFLOW_PAGES`` pages); once one is chosen, one field per declared parameter
  (``params.<name>``, typed, with its default and description) and its data as ``inputs`` (``name=obs://…``).

The fields are taken from the backend's full form by name (one wording for both), a kind's qualifier
("(services)") dropped from their labels.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ...errors import ComputeError, InvalidSpec
from ...forms import Form, FormField
from .capacity import POOL_PREFIX, pool_display_name, pool_flavors, pool_name
from .json_fields import as_list, as_mapping
from .services import BATCH, DEFAULT_SPECIFICATION, EXTRA_KEYS, REAL_TIME
from .workflows import FIELD_TYPES, WORKFLOW

if TYPE_CHECKING:
    from .backend import ModelArtsBackend

#: The fields whose change makes the form another one.
REFRESH_ON = ("extra.kind", "extra.workflow_id", "cluster")
#: Workflows asked for per page of the listing, and the pages read at most.
WORKFLOW_PAGE = 50
WORKFLOW_PAGES = 40
#: The specifications a service may run on (``custom`` takes ``extra.custom_spec``, in a dedicated cluster).
SPECIFICATIONS = (DEFAULT_SPECIFICATION, "modelarts.vm.gpu.pnt004", "modelarts.vm.ai1.snt3", "custom")
SPECIFICATION_LABELS = ("CPU, 2 vCPUs (default)", "GPU, NVIDIA P4", "Ascend 310", "custom (extra.custom_spec)")
TRAINING_FIELDS = ("extra.kind", "script", "extra.code_dir", "extra.boot_file", "algorithm", "extra.image_url",
                   "command", "extra.engine", "environment", "cluster", "extra.node_count", "inputs", "params",
                   "output")  # fmt: skip
#: The spec fields besides ``extra`` that a service of each kind reads.
SERVICE_SPEC_FIELDS = {BATCH: ("environment", "cluster", "params", "inputs", "output"),
                       REAL_TIME: ("environment", "cluster", "params")}
COMMON = ("name", "tags")
_KIND_QUALIFIER = re.compile(r" \((training|services|batch|real-time|workflow)\)$")

#: What a service form says of its fields beyond the full form's wording.
SERVICE_FIELDS: dict[str, FormField] = {
    "environment": FormField(
        "environment", "Specification", "choice", default=DEFAULT_SPECIFICATION, choices=SPECIFICATIONS,
        choice_labels=SPECIFICATION_LABELS,
        help=f"The service specification: {', '.join(SPECIFICATIONS[:-1])} or custom (give extra.custom_spec; "
        "a dedicated cluster only). Default " + DEFAULT_SPECIFICATION + "."),
    "extra.custom_spec": FormField("extra.custom_spec", "Custom specification", "mapping",
                                   help="cpu, memory (MB), gpu_p4, ascend_a310: for the 'custom' specification."),
    "cluster": FormField("cluster", "Dedicated cluster", "string", pattern=r"cluster:\S+",
                         help="cluster:<cluster_id> (optional; pools are for training)."),
    "params": FormField("params", "Environment variables", "mapping",
                        help="The model's environment variables, NAME=value, one per line."),
}  # fmt: skip
BATCH_FIELDS: dict[str, FormField] = {
    "inputs": FormField("inputs", "Input folder", "tags", required=True,
                        help="One OBS folder (obs://bucket/path/), or a file or folder in the server's folders "
                        "(uploaded first; a CSV's header row makes the csv mapping)."),
    "output": FormField("output", "Output folder (OBS)", "path",
                        help="obs://bucket/path/ where the answers go (the job's results); default under the "
                        "backend's upload root."),
}  # fmt: skip


def _plain(form_field: FormField) -> FormField:
    """The field without its kind's qualifier in the label."""
    return dataclasses.replace(form_field, label=_KIND_QUALIFIER.sub("", form_field.label))


def _pick(full: Form, names: Iterable[str], own: Mapping[str, FormField] = {}) -> tuple[FormField, ...]:
    """The fields called ``names``: a kind's own wording when it has one, else the full form's."""
    return tuple(own[name] if name in own else _plain(full.field(name)) for name in names)


def _service_form(full: Form, kind: str) -> Form:
    extra = [f"extra.{key}" for key in EXTRA_KEYS[kind]]
    names = [*extra, *SERVICE_SPEC_FIELDS[kind], *COMMON]
    own = {**SERVICE_FIELDS, "extra.model_id": dataclasses.replace(_plain(full.field("extra.model_id")),
                                                                   required=True)}  # fmt: skip
    if kind == BATCH:
        own.update(BATCH_FIELDS)
    return Form(fields=_pick(full, names, own), refresh_on=REFRESH_ON)


# --- workflows ----------------------------------------------------------------------------------------------


async def list_workflows(backend: ModelArtsBackend, page_size: int = WORKFLOW_PAGE,
                         pages: int = WORKFLOW_PAGES) -> tuple[list[dict[str, Any]], bool]:  # fmt: skip
    """The project's workflows, page by page (``offset`` is an item offset), and whether more were left
    unread after ``pages`` pages."""
    found: dict[str, dict[str, Any]] = {}
    for page in range(pages):
        data = as_mapping(await backend._json(
            "GET", backend._path("v2", "workflows"), what="listing the workflows",
            params=[("offset", page * page_size), ("limit", page_size), ("search_type", "contain"),
                    ("sort_by", "name")],
        ))  # fmt: skip
        items = as_list(data.get("items"))
        for item in items:
            workflow_id = as_mapping(item).get("workflow_id")
            if isinstance(workflow_id, str) and workflow_id:
                found.setdefault(workflow_id, dict(item))
        total = data.get("total")
        if len(items) < page_size or (isinstance(total, int) and (page + 1) * page_size >= total):
            return list(found.values()), False
    return list(found.values()), True


def _workflow_label(workflow: Mapping[str, Any]) -> str:
    return f"{workflow.get('name') or '(no name)'} — {workflow.get('workflow_id')}"


def workflow_field(workflows: list[dict[str, Any]], cut: bool, chosen: Mapping[str, Any] | None) -> FormField:
    """``extra.workflow_id`` as a choice of the workflows (ids), labelled "name — id"; the chosen one
    offered even when the listing did not reach it."""
    shown = list(workflows)
    if chosen is not None and chosen.get("workflow_id") not in {w.get("workflow_id") for w in shown}:
        shown.append(dict(chosen))
    more = f" Only the first {len(workflows)} are listed; others can be given by id." if cut else ""
    return FormField(
        "extra.workflow_id", "Workflow", "choice", required=True,
        choices=tuple(str(w["workflow_id"]) for w in shown), choice_labels=tuple(_workflow_label(w) for w in shown),
        help="The workflow to run; its parameters and data show once it is chosen." + more,
    )  # fmt: skip


def parameter_field(parameter: Mapping[str, Any]) -> FormField:
    """A declared workflow parameter as ``params.<name>``: typed, its enum a choice, required when it has no
    default and is not delayed (a person gives a delayed one when its step asks)."""
    name = str(parameter.get("name"))
    enum = parameter.get("enum")
    choices = tuple(enum) if isinstance(enum, list) and enum else None
    default = parameter.get("default")
    delayed = bool(parameter.get("delay"))
    said = str(parameter.get("description") or "")
    if delayed:
        said = (said + "; " if said else "") + "may be left for a person to give when its step asks"
    kind = "choice" if choices else FIELD_TYPES.get(str(parameter.get("type") or "str"), "string")
    return FormField(f"params.{name}", name, kind, required=default is None and not delayed, default=default,
                     choices=choices, help=said)  # fmt: skip


def _obs_text(url: Any) -> str:
    text = str(url or "")
    return text if text.startswith("obs://") or not text else "obs://" + text.lstrip("/")


def inputs_field(data: list[Any]) -> FormField:
    """The workflow's data as ``inputs``: ``name=obs://…`` each; the help names each data and its default."""
    declared = [as_mapping(d) for d in data]
    said = "; ".join(f"{d.get('name')} (default {_obs_text(as_mapping(d.get('value')).get('obs_url')) or 'none'})"
                     for d in declared)  # fmt: skip
    return FormField("inputs", "Data", "tags", pattern=r"[A-Za-z_][A-Za-z0-9_-]{0,63}=obs://\S+",
                     help=f"name=obs://bucket/path for the workflow's data: {said}. Left out: its default.")


async def _workflow_form(backend: ModelArtsBackend, full: Form, workflow_id: Any) -> Form:
    workflows, cut = await list_workflows(backend)
    chosen = None
    if isinstance(workflow_id, str) and workflow_id:
        chosen = await backend.workflows.workflow(workflow_id)  # InvalidSpec naming extra.workflow_id if unknown
    fields = [_plain(full.field("extra.kind")), workflow_field(workflows, cut, chosen)]
    if chosen is not None:
        fields += [parameter_field(as_mapping(p)) for p in as_list(chosen.get("parameters"))]
        data = as_list(chosen.get("data"))
        if data:
            fields.append(inputs_field(data))
    fields += _pick(full, COMMON)
    return Form(fields=tuple(fields), refresh_on=REFRESH_ON)


async def form_for(backend: ModelArtsBackend, values: Mapping[str, Any]) -> Form:
    """The form of the kind ``values["extra.kind"]`` names (training when none), with the field of that kind
    set as chosen; InvalidSpec naming ``extra.kind`` or ``extra.workflow_id`` for one it does not know."""
    full = backend.form()
    kinds = full.field("extra.kind").choices or ()
    kind = values.get("extra.kind") or full.field("extra.kind").default
    if kind not in kinds:
        raise InvalidSpec(f"'extra.kind' must be one of {', '.join(map(str, kinds))}, not {kind!r}",
                          field="extra.kind", backend=backend.name)  # fmt: skip
    if kind == WORKFLOW:
        form = await _workflow_form(backend, full, values.get("extra.workflow_id"))
    elif kind in (BATCH, REAL_TIME):
        form = _service_form(full, kind)
    else:
        form = await _training_form(backend, full, values.get("cluster"))
    return _with_kind(form, kind)


async def _training_form(backend: ModelArtsBackend, full: Form, cluster: Any) -> Form:
    """The training fields, the pools and the chosen pool's flavors offered (a pool list that cannot be read
    leaves both free text)."""
    try:
        pools = await backend._pools()
    except ComputeError as exc:
        backend.log.info("modelarts backend '%s': no pools for the form: %s", backend.name, exc.message)
        pools = []
    offered = {"cluster": pool_field(full.field("cluster"), pools),
               "environment": flavor_field(full.field("environment"), pools, cluster)}
    return Form(fields=_pick(full, (*TRAINING_FIELDS, *COMMON), offered), refresh_on=REFRESH_ON)


def pool_field(field: FormField, pools: list[dict[str, Any]]) -> FormField:
    """``cluster`` offering the pools (``pool:<name>``, shown by the name people gave them)."""
    if not pools:
        return field
    return dataclasses.replace(field, type="open_choice", choices=tuple(POOL_PREFIX + pool_name(p) for p in pools),
                               choice_labels=tuple(f"{pool_display_name(p)} ({POOL_PREFIX}{pool_name(p)})"
                                                   for p in pools))  # fmt: skip


def flavor_field(field: FormField, pools: list[dict[str, Any]], cluster: Any) -> FormField:
    """``environment`` offering the flavors of the pool ``cluster`` names (of every pool when it names none)."""
    wanted = str(cluster or "").strip().removeprefix(POOL_PREFIX)
    chosen = [p for p in pools if wanted in (pool_name(p), pool_display_name(p))] if wanted else []
    flavors = list(dict.fromkeys(f for p in chosen or pools for f in pool_flavors(p)))
    if not flavors:
        return field
    whose = f"the flavors of pool {pool_display_name(chosen[0])}" if chosen else "the pools' flavors"
    return dataclasses.replace(field, type="open_choice", choices=tuple(flavors),
                               help=f"{field.help} Offered: {whose}; another may be typed.")


def _with_kind(form: Form, kind: str) -> Form:
    """The form whose kind field defaults to ``kind`` (a panel fetching it again keeps the choice)."""
    fields = tuple(dataclasses.replace(f, default=kind) if f.name == "extra.kind" else f for f in form.fields)
    return dataclasses.replace(form, fields=fields)
