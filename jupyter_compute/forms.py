"""Submit forms declared by the backends: the fields of a job spec, as JSON-able data.

A backend describes its fields once (name, label, type, required, default, choices,
min/max, help); the server serves the description, the notebook panels render it through a
type registry, and both run the same :func:`check_values` — in the kernel for a message at
the field before sending, and on the server, which is the authority.

A field's ``name`` is a path into the job spec: ``command``, ``timeout_s``, or
``params.<key>`` / ``extra.<key>`` for platform-specific values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import InvalidSpec

#: The field types a front end must know how to render.
FIELD_TYPES = ("string", "text", "code", "path", "integer", "number", "boolean", "choice", "mapping", "tags")
#: The types whose values are text (a type this version does not know is checked as text too).
TEXT_TYPES = ("string", "text", "code", "path")


#: The characters ``str.strip()`` removes (``str.isspace``), in ``\uXXXX`` escapes that Python and JavaScript
#: (and so JSON Schema) read alike: their ``\s`` differ. tests/test_forms.py checks the list.
_BLANK_CHARS = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: A white space character, and one that is not: text holding one of the latter is given (not blank).
BLANK = f"[{_BLANK_CHARS}]"
NON_BLANK = f"[^{_BLANK_CHARS}]"
#: A ``pattern`` for text that is not blank.
NOT_BLANK_TEXT = f"[\\s\\S]*{NON_BLANK}[\\s\\S]*"


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
        if self.type not in FIELD_TYPES:
            raise ValueError(f"unknown form field type '{self.type}' for '{self.name}'")

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
        if kind in FIELD_TYPES:
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


def _check_one(form_field: FormField, value: Any) -> str | None:
    """Why ``value`` does not fit ``form_field``, or None."""
    kind = form_field.type
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "must be a number"
        if kind == "integer" and not float(value).is_integer():
            return "must be a whole number"
        if form_field.min is not None and value < form_field.min:
            return f"must be at least {form_field.min:g}"
        if form_field.max is not None and value > form_field.max:
            return f"must be at most {form_field.max:g}"
    elif kind == "boolean" and not isinstance(value, bool):
        return "must be true or false"
    elif (kind in TEXT_TYPES or kind not in FIELD_TYPES) and not isinstance(value, str):
        return "must be text"
    elif kind == "mapping" and not isinstance(value, Mapping):
        return "must be a set of key=value pairs"
    elif kind == "tags" and not (
        isinstance(value, (list, tuple)) and all(isinstance(t, (str, Mapping)) for t in value)
    ):  # objects come through the API only (e.g. an Ocean dataset with its order); the panels give words
        return "must be a list of words"
    if any("\0" in text for text in _texts(value)):  # no program, path or name holds one
        return "must not contain a NUL character"
    if form_field.pattern is not None and not _matches(form_field, value):
        what = "has an item" if kind == "tags" else "is"
        return f"{what} not in the expected form: " + (form_field.help or form_field.pattern)
    if form_field.choices is not None and value not in form_field.choices:
        shown = ", ".join(str(c) for c in form_field.choices)
        return f"must be one of: {shown}"
    return None


def _texts(value: Any) -> list[str]:
    """The text of a value: itself, or the text items of a list."""
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, (list, tuple)) else []


def _matches(form_field: FormField, value: Any) -> bool:
    """Whether text ``value`` (every item of a tags value) matches the field's whole pattern."""
    items = value if form_field.type == "tags" else [value] if isinstance(value, str) else []
    return all(isinstance(item, str) and re.fullmatch(form_field.pattern or "", item) for item in items)


def check_values(form: Form, values: Mapping[str, Any]) -> dict[str, str]:
    """Every problem of ``values`` (keyed by field name) as a message for that field; {} if fine."""
    problems: dict[str, str] = {}
    for form_field in form.fields:
        value = values.get(form_field.name)
        if _is_empty(value):
            if form_field.required:
                problems[form_field.name] = f"{form_field.label} is required"
            continue
        reason = _check_one(form_field, value)
        if reason:
            problems[form_field.name] = f"{form_field.label} {reason}"
    for group in form.one_of:
        given = [name for name in group if not _is_empty(values.get(name))]
        if len(given) != 1:
            labels = " or ".join(form.label(n) for n in group)
            target = given[0] if given else group[0]
            problems.setdefault(target, f"give exactly one of {labels}")
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
