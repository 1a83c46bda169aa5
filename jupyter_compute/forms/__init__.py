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

A form may follow what the user chose: its ``refresh_on`` names the fields whose change makes the backend
answer another form (``Backend.form_for``, ``GET backends/{b}/form?extra.kind=…``); the panels fetch it
again, with the values chosen so far (:func:`refresh_values` reads them on the server).
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
    "refresh_values",
    "spec_from_values",
    "values_from_spec",
]

#: The built-in field types (:func:`field_type_names` lists those registered later too).
FIELD_TYPES = field_type_names()
#: The built-in types whose values are text (a type this version does not know is checked as text too).
TEXT_TYPES = ("string", "text", "code", "path", "open_choice")


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
    #: What a person reads for each of ``choices`` (same order and length); the value sent is the choice.
    choice_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not is_field_type(self.type):
            raise ValueError(f"unknown form field type '{self.type}' for '{self.name}'")
        if self.choice_labels is not None and len(self.choice_labels) != len(self.choices or ()):
            raise ValueError(f"field '{self.name}' needs one choice label per choice")

    def choice_label(self, choice: Any) -> str:
        """What a person reads for ``choice``: its label, or the choice itself as text."""
        for known, label in zip(self.choices or (), self.choice_labels or (), strict=False):
            if known == choice:
                return label
        return str(choice)

    @property
    def field_type(self) -> FieldType:
        """The type class serving this field (text for a type this version does not know)."""
        return field_type(self.type)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["choices"] = list(self.choices) if self.choices is not None else None
        data["choice_labels"] = list(self.choice_labels) if self.choice_labels is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FormField:
        """A field as the server describes it; a type this version does not know is kept as it
        is (a newer server may declare one): :func:`check_values` checks it as text and the
        panels render it as a text box."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("choices", "choice_labels"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        kind = values.get("type", "string")
        if is_field_type(kind):
            return cls(**values)
        made = cls(**{**values, "type": "string"})
        object.__setattr__(made, "type", str(kind))  # frozen: set past the check of __post_init__
        return made


@dataclass(frozen=True)
class Form:
    """A backend's submit form: its fields, the groups of which exactly one must be given, and the fields
    whose change makes it another form (``refresh_on``: fetch it again with the values chosen so far)."""

    fields: tuple[FormField, ...]
    one_of: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    refresh_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [f.to_dict() for f in self.fields], "one_of": [list(group) for group in self.one_of],
                "refresh_on": list(self.refresh_on)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Form:
        return cls(
            fields=tuple(FormField.from_dict(f) for f in data.get("fields", [])),
            one_of=tuple(tuple(group) for group in data.get("one_of", [])),
            refresh_on=tuple(data.get("refresh_on") or ()),
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
        value = values.get(form_field.name)
        if value is None and not form_field.required:  # most fields of a spec: not given
            continue
        message = _field_problem(form_field, value)
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


def _query_value(form: Form, name: str, text: str) -> Any:
    """A query parameter's text as the value of field ``name`` (a number or switch read as one; text that
    does not read as its type stays text, for the backend to refuse naming the field)."""
    kind = form.field(name).type if form.has(name) else "string"
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind in ("integer", "number"):
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if kind == "integer" and number.is_integer() else number
    return text


def refresh_values(form: Form, given: Mapping[str, str]) -> dict[str, Any]:
    """The values chosen so far, from query parameters (name → text), for ``Backend.form_for``: only the
    fields ``form.refresh_on`` names are taken (InvalidSpec naming another field of the form); blank ones are
    left out, and so are names that are no field of the form (a cache buster such as JupyterLab's ``?<time>``)."""
    fields = {f.name for f in form.fields}
    unknown = sorted(name for name in set(given) - set(form.refresh_on) if name in fields)
    if unknown:
        takes = ", ".join(form.refresh_on) or "none"
        raise InvalidSpec(f"the form does not change with {', '.join(unknown)} (it changes with: {takes})",
                          field=unknown[0])
    return {name: _query_value(form, name, text.strip()) for name, text in given.items()
            if text.strip() and name in form.refresh_on}


def check_spec(form: Form, spec: Mapping[str, Any]) -> None:
    """Raise InvalidSpec naming the first field of ``spec`` the form refuses (server side)."""
    problems = check_values(form, values_from_spec(spec))
    if problems:
        name, message = next(iter(problems.items()))
        raise InvalidSpec(message, field=name)
