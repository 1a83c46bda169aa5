"""Submit forms declared by the backends: the fields of a job spec, as JSON-able data.

A backend describes its fields once (name, label, type, required, default, choices,
min/max, help); the server serves the description, the notebook panels render it, and both
run the same :func:`check_values` — in the kernel for a message at the field before sending,
and on the server, which is the authority.

A field's ``type`` names a :class:`~jupyter_compute.forms.field_types.FieldType` class, which
owns the check, the JSON Schema and the widget of the fields of that type; a new type is one
subclass (see :mod:`jupyter_compute.forms.field_types`).

A field's ``name`` is a path into the job spec: ``command``, ``timeout_s``, or
``params.<key>`` / ``extra.<key>`` for platform-specific values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidSpec
from .field_types import FieldType, field_type, field_type_names, is_field_type
from .text import BLANK, NON_BLANK, NOT_BLANK_TEXT

__all__ = [
    "BLANK",
    "FIELD_TYPES",
    "NON_BLANK",
    "NOT_BLANK_TEXT",
    "TEXT_TYPES",
    "FieldType",
    "Form",
    "FormField",
    "check_spec",
    "check_values",
    "field_type",
    "field_type_names",
    "is_field_type",
    "spec_from_values",
    "values_from_spec",
]

#: The built-in field types (:func:`field_type_names` lists those registered later too).
FIELD_TYPES = field_type_names()
#: The built-in types whose values are text (a type this version does not know is checked as text too).
TEXT_TYPES = ("string", "text", "code", "path")


@dataclass(frozen=True)
class FormField:
    """One input of a submit form."""

    name: str
    label: str
    type: str = "string"
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    help: str = ""
    #: A regular expression the whole text must match (for tags: every item is text that does), in the
    #: syntax Python and JavaScript share.
    pattern: str | None = None

    def __post_init__(self) -> None:
        if not is_field_type(self.type):
            raise ValueError(f"unknown form field type '{self.type}' for '{self.name}'")

    @property
    def field_type(self) -> FieldType:
        """The type class serving this field (text for a type this version does not know)."""
        return field_type(self.type)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["choices"] = list(self.choices) if self.choices is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FormField:
        """A field as the server describes it; a type this version does not know is kept as it
        is (a newer server may declare one): :func:`check_values` checks it as text and the
        panels render it as a text box."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if values.get("choices") is not None:
            values["choices"] = tuple(values["choices"])
        kind = values.get("type", "string")
        if is_field_type(kind):
            return cls(**values)
        made = cls(**{**values, "type": "string"})
        object.__setattr__(made, "type", str(kind))  # frozen: set past the check of __post_init__
        return made


@dataclass(frozen=True)
class Form:
    """A backend's submit form: its fields and the groups of which exactly one must be given."""

    fields: tuple[FormField, ...]
    one_of: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [f.to_dict() for f in self.fields], "one_of": [list(group) for group in self.one_of]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Form:
        return cls(
            fields=tuple(FormField.from_dict(f) for f in data.get("fields", [])),
            one_of=tuple(tuple(group) for group in data.get("one_of", [])),
        )

    def field(self, name: str) -> FormField:
        for form_field in self.fields:
            if form_field.name == name:
                return form_field
        raise KeyError(name)

    def has(self, name: str) -> bool:
        """Whether the form has a field called ``name``."""
        return any(form_field.name == name for form_field in self.fields)

    def label(self, name: str) -> str:
        """The label of field ``name`` (the name itself when there is no such field)."""
        return self.field(name).label if self.has(name) else name


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    return value is None


def _field_problem(form_field: FormField, value: Any) -> str | None:
    """The message for ``value`` in ``form_field`` (missing, or not fitting its type), or None."""
    if _is_empty(value):
        return f"{form_field.label} is required" if form_field.required else None
    reason = form_field.field_type.check(value, form_field)
    return f"{form_field.label} {reason}" if reason else None


def _group_problems(form: Form, values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """For each group of which not exactly one field is given: the field to show it at, and the message."""
    for group in form.one_of:
        given = [name for name in group if not _is_empty(values.get(name))]
        if len(given) != 1:
            labels = " or ".join(form.label(n) for n in group)
            yield (given[0] if given else group[0]), f"give exactly one of {labels}"


def check_values(form: Form, values: Mapping[str, Any]) -> dict[str, str]:
    """Every problem of ``values`` (keyed by field name) as a message for that field; {} if fine."""
    problems: dict[str, str] = {}
    for form_field in form.fields:
        message = _field_problem(form_field, values.get(form_field.name))
        if message:
            problems[form_field.name] = message
    for name, message in _group_problems(form, values):
        problems.setdefault(name, message)
    return problems


def values_from_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a job spec dict into form values (``params.x``/``extra.x`` paths included)."""
    values = {k: v for k, v in spec.items() if k not in ("params", "extra")}
    for container in ("params", "extra"):
        for key, value in (spec.get(container) or {}).items():
            values[f"{container}.{key}"] = value
        values[container] = spec.get(container) or {}
    return values


def spec_from_values(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """The job spec dict for filled-in form values (empty fields left out)."""
    spec: dict[str, Any] = {}
    for form_field in form.fields:
        value = values.get(form_field.name)
        if _is_empty(value):
            continue
        container, _, key = form_field.name.partition(".")
        if key and container in ("params", "extra"):
            spec.setdefault(container, {})[key] = value
        else:
            spec[form_field.name] = value
    return spec


def check_spec(form: Form, spec: Mapping[str, Any]) -> None:
    """Raise InvalidSpec naming the first field of ``spec`` the form refuses (server side)."""
    problems = check_values(form, values_from_spec(spec))
    if problems:
        name, message = next(iter(problems.items()))
        raise InvalidSpec(message, field=name)
