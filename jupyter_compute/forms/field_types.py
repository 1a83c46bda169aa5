"""The types of form fields: each one a class owning its check, its JSON Schema and its widget.

A :class:`FieldType` subclass with a ``name`` of its own registers itself under that name when
it is defined, and a :class:`~jupyter_compute.forms.FormField` of that ``type`` is then checked
(on the server and in the kernel), described in the OpenAPI document and rendered in the
notebook panels by it alone. The widgets import ipywidgets only when a form is shown: the server
never loads it.

A type this version does not know (declared by a newer server) is treated as text. A new
type, for instance::

    class PercentType(FieldType):
        name = "percent"

        def type_problem(self, value, form_field):
            return None if isinstance(value, int) and 0 <= value <= 100 else "must be a percentage"

        def value_schema(self, form_field, *, given):
            return {"type": "integer", "minimum": 0, "maximum": 100}

        def widget(self, form_field):
            import ipywidgets as W  # in the kernel only

            return W.IntSlider(description=form_field.label)  # its value is the field's value

is then accepted as ``FormField(..., type="percent")`` wherever the module defining it is imported
(on the server, to check and describe it; in the kernel, to render it).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .text import NO_NUL, full_match, text_schema, with_patterns

if TYPE_CHECKING:
    from ipywidgets import Widget

    from ..widgets.fields import FieldControl
    from . import FormField

__all__ = [
    "BooleanType",
    "ChoiceType",
    "CodeType",
    "FieldType",
    "IntegerType",
    "MappingType",
    "NumberType",
    "NumericType",
    "OpenChoiceType",
    "PathType",
    "StringType",
    "TagsType",
    "TextType",
    "field_type",
    "field_type_names",
    "is_field_type",
]

#: Every field type by name, filled as the classes are defined.
_TYPES: dict[str, type[FieldType]] = {}


class FieldType(ABC):
    """What a form field of one type accepts, how JSON Schema says it, and which widget edits it.

    Subclasses set ``name`` (the ``type`` of the fields they serve) and implement
    :meth:`type_problem`, :meth:`value_schema` and :meth:`widget`; defining the class registers
    it (a later class of the same name replaces the earlier one).
    """

    #: The ``type`` of the form fields this class serves.
    name: ClassVar[str]
    #: How a problem of the field's pattern reads: "<label> is not in the expected form: ...".
    pattern_subject: ClassVar[str] = "is"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls):  # a base class without a name of its own serves no fields
            if not cls.name:
                raise TypeError(f"field type {cls.__name__} needs a non-empty name")
            _TYPES[cls.name] = cls

    # --- the check ------------------------------------------------------------------------------

    def check(self, value: Any, form_field: FormField) -> str | None:
        """Why a given (not empty) ``value`` does not fit ``form_field``, or None."""
        return (
            self.type_problem(value, form_field)
            or _nul_problem(value)
            or self._pattern_problem(value, form_field)
            or _choice_problem(value, form_field)
        )

    @abstractmethod
    def type_problem(self, value: Any, form_field: FormField) -> str | None:
        """Why ``value`` is not a value of this type (for ``form_field``'s bounds), or None."""

    def pattern_items(self, value: Any) -> list[Any]:
        """The items that must each match the field's ``pattern``: the text itself."""
        return [value] if isinstance(value, str) else []

    def _pattern_problem(self, value: Any, form_field: FormField) -> str | None:
        pattern = form_field.pattern
        if pattern is None or all(
            isinstance(item, str) and re.fullmatch(pattern, item) for item in self.pattern_items(value)
        ):
            return None
        return f"{self.pattern_subject} not in the expected form: " + (form_field.help or pattern)

    # --- JSON Schema ----------------------------------------------------------------------------

    def schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        """The JSON Schema of a value ``form_field`` accepts; ``given``: one that counts as given
        (:func:`~jupyter_compute.forms.check_values` finds it not empty). Listed choices are an enum."""
        if form_field.choices:
            return {"enum": list(form_field.choices)}
        return self.value_schema(form_field, given=given)

    @abstractmethod
    def value_schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        """The JSON Schema of this type's values (with a ``type``), for a field without choices."""

    # --- the widget -----------------------------------------------------------------------------

    @abstractmethod
    def widget(self, form_field: FormField) -> FieldControl | Widget:
        """The control editing ``form_field`` in the notebook panels (imports ipywidgets itself); a
        plain widget whose ``value`` is the field's value will do too."""


def field_type(name: str) -> FieldType:
    """The field type called ``name``; text for a type this version does not know."""
    return _TYPES.get(name, StringType)()


def is_field_type(name: str) -> bool:
    """Whether a field type called ``name`` is registered."""
    return name in _TYPES


def field_type_names() -> tuple[str, ...]:
    """The names of every registered field type."""
    return tuple(_TYPES)


def _texts(value: Any) -> list[str]:
    """The text of a value: itself, or the text items of a list."""
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, (list, tuple)) else []


def _nul_problem(value: Any) -> str | None:
    if any("\0" in text for text in _texts(value)):  # no program, path or name holds one
        return "must not contain a NUL character"
    return None


def _choice_problem(value: Any, form_field: FormField) -> str | None:
    if form_field.choices is None or value in form_field.choices:
        return None
    return "must be one of: " + ", ".join(str(choice) for choice in form_field.choices)


# --- text ---------------------------------------------------------------------------------------


class StringType(FieldType):
    """One line of text (and what any type this version does not know is taken as)."""

    name = "string"

    def type_problem(self, value: Any, form_field: FormField) -> str | None:
        return None if isinstance(value, str) else "must be text"

    def value_schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        return text_schema(form_field.pattern, given=given)

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import text_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        return text_control(form_field)


class TextType(StringType):
    """Text of a few lines."""

    name = "text"

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import text_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        return text_control(form_field, rows=2)


class CodeType(StringType):
    """Python code."""

    name = "code"

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import text_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        return text_control(form_field, rows=5, placeholder="print('hello')", css_class="jc-code-input")


class PathType(StringType):
    """A path to a file (a script, a notebook), as text."""

    name = "path"


# --- numbers and switches -----------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    """A finite int or float (True and False are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bounds_problem(value: float, form_field: FormField) -> str | None:
    if form_field.min is not None and value < form_field.min:
        return f"must be at least {form_field.min:g}"
    if form_field.max is not None and value > form_field.max:
        return f"must be at most {form_field.max:g}"
    return None


class NumericType(FieldType):
    """A finite number within the field's ``min`` and ``max`` (the base of integer and number)."""

    #: Whether only whole numbers fit.
    whole: ClassVar[bool] = False

    def type_problem(self, value: Any, form_field: FormField) -> str | None:
        if not _is_number(value):
            return "must be a number"
        if self.whole and not float(value).is_integer():
            return "must be a whole number"
        return _bounds_problem(value, form_field)

    def value_schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        bounds = {"minimum": form_field.min, "maximum": form_field.max}
        return {"type": self.name, **{key: value for key, value in bounds.items() if value is not None}}

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import number_text, parse_number, text_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        whole = self.whole
        return text_control(
            form_field,
            placeholder=self._hint(form_field),
            css_class="jc-number",
            parse=lambda text: parse_number(text, whole),
            show=number_text,
        )

    def _hint(self, form_field: FormField) -> str:
        """The placeholder: what number the field takes (``whole number, ≥ 1 and ≤ 8``)."""
        bounds = [f"{sign} {bound:g}" for sign, bound in (("≥", form_field.min), ("≤", form_field.max))
                  if bound is not None]
        what = "whole number" if self.whole else "number"
        return what + (f", {' and '.join(bounds)}" if bounds else "")


class IntegerType(NumericType):
    """A whole number within the field's ``min`` and ``max``."""

    name = "integer"
    whole = True


class NumberType(NumericType):
    """A finite number within the field's ``min`` and ``max``."""

    name = "number"


class BooleanType(FieldType):
    """True or false."""

    name = "boolean"

    def type_problem(self, value: Any, form_field: FormField) -> str | None:
        return None if isinstance(value, bool) else "must be true or false"

    def value_schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        return {"type": "boolean"}

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import checkbox_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        return checkbox_control(form_field)


class ChoiceType(FieldType):
    """One of the field's ``choices`` (the check of every type refuses a value not listed)."""

    name = "choice"

    def type_problem(self, value: Any, form_field: FormField) -> str | None:
        return None

    def value_schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        return text_schema(form_field.pattern, given=given)  # no choices listed: a name, as text

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import choice_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        return choice_control(form_field)


class OpenChoiceType(StringType):
    """Text, one of the field's ``choices`` or any other: the choices are what the platform listed (its
    algorithms, environments, flavors), offered with a free-text fallback for one not listed."""

    name = "open_choice"

    def check(self, value: Any, form_field: FormField) -> str | None:
        return self.type_problem(value, form_field) or _nul_problem(value) or self._pattern_problem(value, form_field)

    def schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        return self.value_schema(form_field, given=given)  # the choices are suggestions, not an enum

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import combo_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        return combo_control(form_field)


# --- collections --------------------------------------------------------------------------------


class MappingType(FieldType):
    """``key=value`` pairs (a JSON object)."""

    name = "mapping"

    def type_problem(self, value: Any, form_field: FormField) -> str | None:
        return None if isinstance(value, Mapping) else "must be a set of key=value pairs"

    def value_schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        return {"type": "object", **({"minProperties": 1} if given else {})}

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import format_mapping, parse_mapping, text_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        return text_control(form_field, rows=3, placeholder="name=value, one per line", css_class="jc-mapping",
                            parse=parse_mapping, show=format_mapping)


class TagsType(FieldType):
    """A list of words; every one fits the field's ``pattern``.

    Without a pattern an item may also be an object: those come through the API only (e.g. an
    Ocean dataset with its order); the panels give words.
    """

    name = "tags"
    pattern_subject = "has an item"

    def type_problem(self, value: Any, form_field: FormField) -> str | None:
        if isinstance(value, (list, tuple)) and all(isinstance(item, (str, Mapping)) for item in value):
            return None
        return "must be a list of words"

    def pattern_items(self, value: Any) -> list[Any]:
        return list(value)

    def value_schema(self, form_field: FormField, *, given: bool) -> dict[str, Any]:
        own = form_field.pattern
        items = (with_patterns({"type": "string"}, [NO_NUL, full_match(own)]) if own is not None
                 else {"type": ["string", "object"], "pattern": NO_NUL})
        return {"type": "array", "items": items, **({"minItems": 1} if given else {})}

    def widget(self, form_field: FormField) -> FieldControl:
        from ..widgets.fields import parse_tags, tags_text, text_control  # noqa: PLC0415 - ipywidgets only where a form is shown

        return text_control(form_field, placeholder="comma-separated", parse=parse_tags, show=tags_text)
