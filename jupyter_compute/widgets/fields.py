"""The widgets of form fields: :class:`FieldControl`, the controls the built-in field types
build, and the parsers between typed text and values.

The field types (:mod:`jupyter_compute.forms.field_types`) import this module when a form is
shown, so that the server, which checks forms too, never loads ipywidgets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as W

if TYPE_CHECKING:
    from ..forms import FormField

__all__ = [
    "FIELD_WIDTH",
    "INPUT_WIDTH",
    "LABEL_WIDTH",
    "NO_CHOICE",
    "FieldControl",
    "checkbox_control",
    "choice_control",
    "combo_control",
    "field_style",
    "fit_labels",
    "format_mapping",
    "none_if_blank",
    "number_text",
    "parse_mapping",
    "parse_number",
    "parse_tags",
    "tags_text",
    "text_control",
]

LABEL_WIDTH = "150px"
FIELD_WIDTH = "460px"
#: The width of a field's input beside its label (the label column fits the form's longest label).
INPUT_WIDTH = 310
#: About how wide a character of a label is (JupyterLab's 13px UI font), and the room around the text.
_LABEL_CHAR_PX = 7.6
_LABEL_PAD_PX = 14
#: The entry of a choice that leaves the field empty.
NO_CHOICE = "—"


def none_if_blank(value: Any) -> Any:
    """None for blank text, else ``value``."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class FieldControl:
    """A rendered form field: the widget shown, and how to read and write its value.

    ``get()`` answers the Python value for the spec (None when the field is empty; text that
    does not parse is answered as it is, so the shared check can name the problem).
    """

    def __init__(
        self,
        widget: W.Widget,
        get: Callable[[], Any] | None = None,
        set: Callable[[Any], None] | None = None,
    ) -> None:
        self.widget = widget
        self._get = get or (lambda: none_if_blank(widget.value))
        self._set = set or (lambda value: setattr(widget, "value", value))

    def get(self) -> Any:
        return self._get()

    def set(self, value: Any) -> None:
        self._set(value)


def field_style(form_field: FormField) -> dict[str, Any]:
    """The label, tooltip and sizes every field's widget takes."""
    label = form_field.label + (" *" if form_field.required else "")
    return {
        "description": label,
        "tooltip": form_field.help or form_field.label,
        "style": {"description_width": LABEL_WIDTH},
        "layout": W.Layout(width=FIELD_WIDTH),
    }


def set_text(widget: W.Widget, value: Any) -> None:
    """Show ``value`` as text in ``widget`` (nothing for None)."""
    widget.value = "" if value is None else str(value)


def _same(value: Any) -> Any:
    return value


def text_control(
    form_field: FormField,
    *,
    rows: int = 0,
    placeholder: str | None = None,
    css_class: str | None = None,
    parse: Callable[[str], Any] = none_if_blank,
    show: Callable[[Any], Any] = _same,
) -> FieldControl:
    """A text box (a text area of ``rows`` lines when rows > 0) whose text ``parse`` turns into the
    value, and which shows a value as ``show`` writes it."""
    options = {**field_style(form_field), **({"placeholder": placeholder} if placeholder is not None else {})}
    widget = W.Textarea(rows=rows, **options) if rows else W.Text(**options)
    if css_class:
        widget.add_class(css_class)
    return FieldControl(widget, lambda: parse(widget.value), lambda value: set_text(widget, show(value)))


def checkbox_control(form_field: FormField) -> FieldControl:
    """A checkbox: the value is True or False."""
    widget = W.Checkbox(value=False, indent=True, **field_style(form_field))
    return FieldControl(widget, lambda: bool(widget.value), lambda value: setattr(widget, "value", bool(value)))


def choice_control(form_field: FormField) -> FieldControl:
    """A dropdown of the field's choices, each shown by its label (and of no choice, unless one is required
    and has a default)."""
    options: list[tuple[str, Any]] = [(form_field.choice_label(choice), choice) for choice in form_field.choices or ()]
    if not form_field.required or form_field.default is None:
        options.insert(0, (NO_CHOICE, None))
    if not options:
        raise ValueError(f"the server lists no choices for '{form_field.label}'")
    widget = W.Dropdown(options=options, value=options[0][1], **field_style(form_field))

    def set_choice(value: Any) -> None:
        if value is not None and value not in [v for _, v in widget.options]:
            # a value the server did not list (e.g. a picker's choice): offer it, the check decides
            widget.options = [*widget.options, (str(value), value)]
        widget.value = value

    return FieldControl(widget, lambda: widget.value, set_choice)


def combo_control(form_field: FormField) -> FieldControl:
    """A text box offering the field's choices (by their labels) and taking any other text: a listed label
    reads as its choice, other text as itself."""
    labels = {form_field.choice_label(choice): choice for choice in form_field.choices or ()}
    widget = W.Combobox(options=tuple(labels), ensure_option=False, placeholder="choose or type",
                        **field_style(form_field))
    widget.add_class("jc-combo")

    def get_choice() -> Any:
        text = none_if_blank(widget.value)
        return labels.get(text.strip(), text.strip()) if isinstance(text, str) else text

    def set_choice(value: Any) -> None:
        shown = next((label for label, choice in labels.items() if choice == value), value)
        set_text(widget, shown)

    return FieldControl(widget, get_choice, set_choice)


def label_width(labels: list[str]) -> int:
    """The width in pixels of a label column holding every one of ``labels`` uncut."""
    longest = max((len(label) for label in labels), default=0)
    return max(100, round(longest * _LABEL_CHAR_PX) + _LABEL_PAD_PX)


def fit_labels(widget: W.Widget, width: int) -> None:
    """Give a field's widget a label column ``width`` pixels wide (and its input the same width as every
    other field's)."""
    if "description_width" in getattr(getattr(widget, "style", None), "keys", ()):
        widget.style.description_width = f"{width}px"
        widget.layout.width = f"{width + INPUT_WIDTH}px"
        widget.layout.flex = "0 0 auto"  # as wide beside a long help text as beside a short one


# --- text to values and back --------------------------------------------------------------------


def parse_number(text: str, integer: bool = False) -> Any:
    """A typed number: None when blank, the number when it parses, else the text as it is."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    if integer and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def number_text(value: Any) -> str:
    """A number as typed back into a field: ``3``, ``0.5``, ``1e+20`` (full precision)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, (int, float)) else str(value)


def _mapping_item(raw: str) -> Any:
    """The value of a ``key=value`` line: JSON when it reads as JSON (but no NaN or infinity), else the text."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return raw if isinstance(value, float) and not math.isfinite(value) else value


def parse_mapping(text: str) -> Any:
    """``key=value`` lines to a dict (values read as JSON when they are); None when blank.

    Blank lines and ``#`` comments are skipped. A line without ``=`` makes the answer the text
    itself, which the shared check reports as not being key=value pairs.
    """
    result: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        if not sep or not key.strip():
            return text
        result[key.strip()] = _mapping_item(raw.strip())
    return result or None


def format_mapping(value: Any) -> str:
    """A mapping as the ``key=value`` lines :func:`parse_mapping` reads back."""
    if not isinstance(value, Mapping):
        return "" if value is None else str(value)
    lines = []
    for key, item in value.items():
        text = item if isinstance(item, str) and parse_mapping(f"k={item}") == {"k": item} else json.dumps(item)
        lines.append(f"{key}={text}")
    return "\n".join(lines)


def parse_tags(text: str) -> list[str] | None:
    """Comma-separated words to a list (None when there are none)."""
    tags = [t.strip() for t in text.split(",") if t.strip()]
    return tags or None


def tags_text(value: Any) -> Any:
    """A list of words as comma-separated text (anything else as it is)."""
    return ", ".join(value) if isinstance(value, (list, tuple)) else value
