"""JSON Schemas of job specs: the shape every spec has, and what each backend's form accepts.

The server checks a submitted spec three times: its shape (:meth:`JobSpec.from_dict`: field
types, lengths, list sizes), the backend's form (:func:`jupyter_compute.forms.check_spec`:
required fields, types, choices, bounds, the groups of which exactly one is given) and the
backend's own ``validate``. This module says the first two in JSON Schema (2020-12, the dialect
of OpenAPI 3.1) so the OpenAPI document describes ``POST jobs`` as the server checks it: one
branch per configured backend, with only the fields of that backend's form. What each field
takes is said by its field type (:meth:`~jupyter_compute.forms.field_types.FieldType.schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..forms import Form, FormField
from ..models import MAX_TAG_CHARS, SPEC_LIST_LIMITS, SPEC_TEXT_LIMITS
from .service import MAX_IDEMPOTENCY_KEY


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also takes null (a spec field set to null counts as not given)."""
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    kind = schema["type"]
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


def shape(name: str) -> dict[str, Any]:
    """The limits every spec puts on field ``name``, whatever the backend (see JobSpec.from_dict)."""
    if name in SPEC_TEXT_LIMITS:
        return {"type": "string", "maxLength": SPEC_TEXT_LIMITS[name]}
    if name == "tags":
        return {"type": "array", "maxItems": SPEC_LIST_LIMITS["tags"],
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS}}
    if name in SPEC_LIST_LIMITS:
        return {"type": "array", "maxItems": SPEC_LIST_LIMITS[name]}
    if name == "params":
        return {"type": "object", "propertyNames": {"minLength": 1}}
    if name == "timeout_s":
        return {"type": "number", "exclusiveMinimum": 0}
    return {"type": "object"}  # extra


_IDEMPOTENCY_KEY = {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY}

#: The fields of every job spec, as the server keeps and answers them (``Job.spec``).
SPEC_FIELDS = (*SPEC_TEXT_LIMITS, "inputs", "params", "tags", "timeout_s", "extra")


def spec_schema(*, request: bool = False) -> dict[str, Any]:
    """The shape of any job spec: as the server answers it (``Job.spec``, where ``backend``, ``name`` and
    the lists are always there) or, with ``request``, as it takes one (null is the same as leaving a field
    out, and an idempotency key may come with it)."""
    always = () if request else ("backend", "name", "inputs", "params", "tags", "extra")
    properties = {name: shape(name) if name in always else _nullable(shape(name)) for name in SPEC_FIELDS}
    if request:
        properties["idempotency_key"] = _IDEMPOTENCY_KEY
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _value(form_field: FormField, *, given: bool) -> dict[str, Any]:
    """A value ``form_field`` accepts (as its field type says); ``given``: one that counts as given."""
    return form_field.field_type.schema(form_field, given=given)


def field_schema(form_field: FormField) -> dict[str, Any]:
    """What ``form_field`` takes: a given value when it is required; else also null or an empty value."""
    words = {"title": form_field.label, **({"description": form_field.help} if form_field.help else {})}
    if form_field.required:
        return {**_value(form_field, given=True), **words}
    return {**_nullable(_value(form_field, given=False)), **words}


def _with_shape(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A top-level field's form schema with the limits every spec has (for items too)."""
    if name not in SPEC_FIELDS:
        return schema
    limits = {key: value for key, value in shape(name).items() if key != "type"}
    if "items" in limits and "items" in schema:
        limits["items"] = {**schema["items"], **limits["items"]}
    return {**schema, **limits}


def _one_of(form: Form, group: tuple[str, ...]) -> dict[str, Any]:
    """Exactly one field of ``group`` is given; the others are left out or null (the backends take a
    blank one as a second choice)."""
    def chosen(name: str) -> dict[str, Any]:
        others = {other: {"type": "null"} for other in group if other != name}
        return {"required": [name], "properties": {name: _value(form.field(name), given=True), **others}}

    return {"oneOf": [chosen(name) for name in group]}


def _place(properties: dict[str, Any], required: list[str], form_field: FormField) -> None:
    """Put ``form_field``'s schema in ``properties`` (``params.x``/``extra.x`` inside their object)."""
    container, _, key = form_field.name.partition(".")
    schema = field_schema(form_field)
    if not (key and container in ("params", "extra")):
        properties[form_field.name] = _with_shape(form_field.name, schema)
        required.extend([form_field.name] if form_field.required else [])
        return
    outer = properties.setdefault(container, _nullable(shape(container)))
    outer.setdefault("properties", {})[key] = schema
    if form_field.required:
        outer.setdefault("required", []).append(key)
        outer["type"] = "object"
        required.append(container)


def backend_schema(name: str, form: Form, *, is_default: bool) -> dict[str, Any]:
    """The body of ``POST jobs`` that backend ``name`` (with this form) accepts."""
    properties: dict[str, Any] = {
        "backend": {"enum": [name, None]} if is_default else {"enum": [name]},
        "idempotency_key": _IDEMPOTENCY_KEY,
        "extra": _nullable(shape("extra")),
    }
    required = [] if is_default else ["backend"]
    for form_field in sorted(form.fields, key=lambda f: "." in f.name):  # top-level fields first
        _place(properties, required, form_field)
    schema: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "properties": properties,
        "required": sorted(set(required)),
        "description": f"A job for backend '{name}': the fields of its form (GET backends/{name}/form).",
    }
    groups = [_one_of(form, group) for group in form.one_of]
    if len(groups) == 1:
        schema.update(groups[0])
    elif groups:
        schema["allOf"] = groups
    return schema


def submit_schemas(forms: Mapping[str, Form], default: str = "local") -> dict[str, dict[str, Any]]:
    """One ``POST jobs`` body schema per backend (by name), from each backend's form."""
    return {name: backend_schema(name, form, is_default=name == default) for name, form in forms.items()}
