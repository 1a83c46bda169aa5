"""The submit form: any backend's declared fields, rendered through a registry of field types.

The server declares each backend's fields once (:mod:`jupyter_compute.forms`); this module
turns them into widgets with :func:`register_field_type` factories (dask-gateway's habit), runs
the same :func:`~jupyter_compute.forms.check_values` the server runs before anything is sent,
shows every message at its field, and submits through the client. "Copy as code" writes the
same submission as a ``Client().submit(...)`` call and as a ``%submit_job`` line.

A field whose factory fails (a user's factory with a bug, a required choice without choices)
is shown as a text box with the failure under it; a field type this version does not know is
a text box too. Every submission of the same values carries the same idempotency key, so a
double click on Submit submits once; changing any value makes a new key.
"""

from __future__ import annotations

import html
import json
import math
import re
import shlex
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import traitlets as T

from ..errors import ComputeError
from ..forms import FIELD_TYPES, Form, FormField, check_values, spec_from_values
from ._util import (
    close_tree,
    connect,
    error_html,
    html_table,
    log,
    one_line,
    style_widget,
)
from .pickers import ClusterPicker, EnvironmentPicker

if TYPE_CHECKING:
    from ..client import Client, Job

__all__ = ["FieldControl", "SubmitForm", "field_control", "register_field_type", "submit_code"]

_TAGS = re.compile(r"<[^>]+>")
LABEL_WIDTH = "150px"
FIELD_WIDTH = "460px"


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
        self._get = get or (lambda: _none_if_blank(widget.value))
        self._set = set or (lambda value: setattr(widget, "value", value))

    def get(self) -> Any:
        return self._get()

    def set(self, value: Any) -> None:
        self._set(value)


#: A factory turns a FormField into a FieldControl (or a plain widget whose ``value`` is the value).
FieldFactory = Callable[[FormField], FieldControl | W.Widget]
_REGISTRY: dict[str, FieldFactory] = {}


def register_field_type(type_name: str, factory: FieldFactory) -> None:
    """Render fields of ``type_name`` with ``factory`` (replacing the built-in one, if any).

    ``factory(field)`` answers a :class:`FieldControl`, or any widget whose ``value`` is the
    field's value. The form adds the label's CSS class, the help line and the message line.
    """
    if not isinstance(type_name, str) or not type_name:
        raise ValueError("a field type needs a name")
    if not callable(factory):
        raise TypeError("the factory must be callable: factory(field) -> FieldControl or widget")
    _REGISTRY[type_name] = factory


def field_control(form_field: FormField) -> FieldControl:
    """The control of one field, from the factory registered for its type (text if none).

    Raises what the factory raises; :class:`SubmitForm` shows such a field as a text box.
    """
    factory = _REGISTRY.get(form_field.type, _text_factory)
    made = factory(form_field)
    control = made if isinstance(made, FieldControl) else FieldControl(made)
    if form_field.default is not None:
        try:
            control.set(form_field.default)
        except (T.TraitError, ValueError, TypeError):
            pass
    return control


# --- built-in field types -----------------------------------------------------------------------


def _none_if_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _common(form_field: FormField) -> dict[str, Any]:
    label = form_field.label + (" *" if form_field.required else "")
    return {
        "description": label,
        "tooltip": form_field.help or form_field.label,
        "style": {"description_width": LABEL_WIDTH},
        "layout": W.Layout(width=FIELD_WIDTH),
    }


def _text_factory(form_field: FormField) -> FieldControl:
    widget = W.Text(**_common(form_field))
    return FieldControl(widget, lambda: _none_if_blank(widget.value), lambda v: _set_text(widget, v))


def _set_text(widget: W.Widget, value: Any) -> None:
    widget.value = "" if value is None else str(value)


def _textarea_factory(form_field: FormField) -> FieldControl:
    widget = W.Textarea(rows=2, **_common(form_field))
    return FieldControl(widget, lambda: _none_if_blank(widget.value), lambda v: _set_text(widget, v))


def _code_factory(form_field: FormField) -> FieldControl:
    widget = W.Textarea(rows=5, placeholder="print('hello')", **_common(form_field))
    widget.add_class("jc-code-input")
    return FieldControl(widget, lambda: _none_if_blank(widget.value), lambda v: _set_text(widget, v))


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


def _number_factory(form_field: FormField) -> FieldControl:
    integer = form_field.type == "integer"
    bounds = []
    if form_field.min is not None:
        bounds.append(f"≥ {form_field.min:g}")
    if form_field.max is not None:
        bounds.append(f"≤ {form_field.max:g}")
    hint = ("whole number" if integer else "number") + (f", {' and '.join(bounds)}" if bounds else "")
    widget = W.Text(placeholder=hint, **_common(form_field))
    widget.add_class("jc-number")
    return FieldControl(
        widget, lambda: parse_number(widget.value, integer), lambda v: _set_text(widget, number_text(v))
    )


def number_text(value: Any) -> str:
    """A number as typed back into a field: ``3``, ``0.5``, ``1e+20`` (full precision)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, (int, float)) else str(value)


def _boolean_factory(form_field: FormField) -> FieldControl:
    common = _common(form_field)
    widget = W.Checkbox(value=False, indent=True, **common)
    return FieldControl(widget, lambda: bool(widget.value), lambda v: setattr(widget, "value", bool(v)))


NO_CHOICE = "—"


def _choice_factory(form_field: FormField) -> FieldControl:
    choices = list(form_field.choices or ())
    options: list[tuple[str, Any]] = [(str(c), c) for c in choices]
    if not form_field.required or form_field.default is None:
        options.insert(0, (NO_CHOICE, None))
    if not options:
        raise ValueError(f"the server lists no choices for '{form_field.label}'")
    widget = W.Dropdown(options=options, value=options[0][1], **_common(form_field))

    def set_choice(value: Any) -> None:
        if value is not None and value not in [v for _, v in widget.options]:
            # a value the server did not list (e.g. a picker's choice): offer it, the check decides
            widget.options = [*widget.options, (str(value), value)]
        widget.value = value

    return FieldControl(widget, lambda: widget.value, set_choice)


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
        raw = raw.strip()
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if isinstance(value, float) and not math.isfinite(value):
            value = raw
        result[key.strip()] = value
    return result or None


def format_mapping(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "" if value is None else str(value)
    lines = []
    for key, item in value.items():
        text = item if isinstance(item, str) and parse_mapping(f"k={item}") == {"k": item} else json.dumps(item)
        lines.append(f"{key}={text}")
    return "\n".join(lines)


def _mapping_factory(form_field: FormField) -> FieldControl:
    widget = W.Textarea(rows=3, placeholder="name=value, one per line", **_common(form_field))
    widget.add_class("jc-mapping")
    return FieldControl(widget, lambda: parse_mapping(widget.value), lambda v: _set_text(widget, format_mapping(v)))


def parse_tags(text: str) -> list[str] | None:
    tags = [t.strip() for t in text.split(",") if t.strip()]
    return tags or None


def _tags_factory(form_field: FormField) -> FieldControl:
    widget = W.Text(placeholder="comma-separated", **_common(form_field))
    return FieldControl(
        widget,
        lambda: parse_tags(widget.value),
        lambda v: _set_text(widget, ", ".join(v) if isinstance(v, (list, tuple)) else v),
    )


for _name, _factory in {
    "string": _text_factory,
    "text": _textarea_factory,
    "code": _code_factory,
    "path": _text_factory,
    "integer": _number_factory,
    "number": _number_factory,
    "boolean": _boolean_factory,
    "choice": _choice_factory,
    "mapping": _mapping_factory,
    "tags": _tags_factory,
}.items():
    register_field_type(_name, _factory)
assert set(FIELD_TYPES) <= set(_REGISTRY), "every declared field type needs a built-in widget"


def field_class(name: str) -> str:
    """The CSS class of a field's widget: ``jc-field-<name with dots as dashes>``."""
    return "jc-field-" + name.replace(".", "-")


# --- copy as code -------------------------------------------------------------------------------


def submit_code(spec: Mapping[str, Any]) -> str:
    """The Python call submitting ``spec``, then the ``%submit_job`` line (or cell) doing the same
    (or, for a command of several lines, which no magic line can hold, a note saying so)."""
    args = "".join(f"    {key}={value!r},\n" for key, value in spec.items())
    python = f"from jupyter_compute import Client\n\njob = Client().submit(\n{args})\n"
    return f"# Python\n{python}\n# IPython magic (%load_ext jupyter_compute)\n{magic_line(spec)}\n"


MULTILINE_NOTE = (
    "# %submit_job cannot run a shell command of several lines (joining them could change what\n"
    "# they do); use the Python call above, or put the command into a script."
)


_MAGIC_OPTIONS = (("backend", "--backend"), ("environment", "--env"), ("cluster", "--cluster"), ("name", "--name"))
_PROGRAMS = ("command", "script", "notebook", "code")


def magic_line(spec: Mapping[str, Any]) -> str:
    """``%submit_job`` with the options of ``spec``; the ``%%submit_job`` cell form for code."""
    words: list[str] = []
    for key, option in _MAGIC_OPTIONS:
        if spec.get(key):
            words += [option, shlex.quote(str(spec[key]))]
    for key, value in (spec.get("params") or {}).items():
        text = value if isinstance(value, str) and _param_text_survives(value) else json.dumps(value)
        words += ["--param", shlex.quote(f"{key}={text}")]
    for tag in spec.get("tags") or ():
        words += ["--tag", shlex.quote(tag)]
    if spec.get("timeout_s") is not None:
        words += ["--timeout", number_text(spec["timeout_s"])]
    missing = [k for k in spec if k not in {*dict(_MAGIC_OPTIONS), *_PROGRAMS, "params", "tags", "timeout_s"}]
    note = f"# %submit_job has no option for: {', '.join(missing)}\n" if missing else ""
    if spec.get("code") is not None:
        return note + " ".join(["%%submit_job", *words]) + "\n" + str(spec["code"])
    if spec.get("script") is not None:
        program = [shlex.quote(str(spec["script"]))]
    elif spec.get("notebook") is not None:
        program = [shlex.quote(str(spec["notebook"]))]
    elif spec.get("command") is not None:
        command = str(spec["command"]).strip()
        if "\n" in command:
            return MULTILINE_NOTE  # (a heredoc, a loop, a line ending in \ or | ... cannot be joined safely)
        program = ["--", command] if _needs_separator(command) else [command]
    else:
        program = ["<command | script.py | notebook.ipynb>"]
    return note + " ".join(["%submit_job", *words, *program])


def _param_text_survives(value: str) -> bool:
    """Whether ``--param k=value`` reads back as the text ``value`` (not as a JSON number etc.)."""
    try:
        json.loads(value)
    except ValueError:
        return value == value.strip() and value != ""
    return False


def _needs_separator(command: str) -> bool:
    """Whether the command must follow ``--``: %submit_job takes options only before the
    program, so only a command whose first word looks like an option needs it."""
    words = command.split()
    return bool(words) and words[0].startswith("-")


# --- the form -----------------------------------------------------------------------------------


class SubmitForm(W.VBox):
    """A backend chooser, that backend's submit fields, and Submit / Copy as code buttons.

    ``last_job`` is the job last submitted (observe it to follow submissions).
    """

    backend = T.Unicode("local", help="the backend whose form is shown")
    last_job = T.Any(None, allow_none=True, help="the Job last submitted from this form")

    def __init__(
        self,
        client: Client | None = None,
        backend: str = "local",
        *,
        pickers: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.add_class("jc-submit-form")
        self.with_pickers = pickers
        self.form: Form = Form(fields=())
        self.controls: dict[str, FieldControl] = {}
        self.messages: dict[str, W.HTML] = {}
        self.environment_picker: EnvironmentPicker | None = None
        self.cluster_picker: ClusterPicker | None = None
        self._backends: list[dict[str, Any]] = []
        self._idempotency_key = uuid.uuid4().hex

        self.backend_select = W.Dropdown(description="Backend", options=[], style={"description_width": LABEL_WIDTH},
                                         layout=W.Layout(width=FIELD_WIDTH))
        self.backend_select.add_class("jc-backend")
        self.hint = W.HTML()
        self.hint.add_class("jc-form-hint")
        self.fields_box = W.VBox()
        self.fields_box.add_class("jc-fields")
        self.submit_button = W.Button(description="Submit", button_style="primary", icon="play")
        self.submit_button.add_class("jc-submit")
        self.code_button = W.Button(description="Copy as code", icon="code")
        self.code_button.add_class("jc-copy-code")
        self.status = W.HTML()
        self.status.add_class("jc-submit-status")
        self.error = W.HTML()
        self.error.add_class("jc-form-error")
        self.code_area = W.Textarea(rows=12, layout=W.Layout(width="100%", display="none"))
        self.code_area.add_class("jc-code")
        self.children = [
            style_widget(),
            self.backend_select,
            self.hint,
            self.fields_box,
            W.HBox([self.submit_button, self.code_button, self.status]),
            self.error,
            self.code_area,
        ]
        self.submit_button.on_click(lambda _: self.submit())
        self.code_button.on_click(lambda _: self.copy_as_code())

        self.client: Client | None = None
        try:
            self.client = connect(client)
            self._backends = self.client.backends()
        except Exception as exc:  # noqa: BLE001 — shown in the widget, never as a traceback
            self._form_error(one_line(exc))
            self.submit_button.disabled = self.code_button.disabled = True
            return
        broken = {b["name"]: b.get("message", "") for b in self._backends if b.get("available") is False}
        self._backends = [b for b in self._backends if b["name"] not in broken]
        names = [b["name"] for b in self._backends]
        self.backend_select.options = names
        notice = ""
        if backend in broken:
            notice = f"backend '{backend}' is not available: {broken[backend]}"
            backend = names[0] if names else backend
        elif backend not in names:
            notice = f"no backend '{backend}' on the server (there are: {', '.join(names) or 'none'})"
            backend = names[0] if names else backend
        self.backend_select.observe(lambda change: setattr(self, "backend", change["new"]), "value")
        if backend == self.backend:
            self._load(backend)  # the trait does not change: load the form here
        if backend in names:
            self.backend_select.value = backend
        self.backend = backend
        if notice:
            self._form_error(notice)

    # --- public -------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The value of every field, as the shared check and the spec take them."""
        return {name: control.get() for name, control in self.controls.items()}

    def set_values(self, **values: Any) -> None:
        """Fill fields by name (``params.x`` style names as keyword ``**{"params.x": 1}``)."""
        for name, value in values.items():
            if name not in self.controls:
                raise KeyError(f"backend '{self.backend}' has no field '{name}'")
            self.controls[name].set(value)

    def spec(self) -> dict[str, Any]:
        """The job spec the fields make now (``backend`` first), unchecked."""
        return {"backend": self.backend, **spec_from_values(self.form, self.values())}

    def check(self) -> dict[str, str]:
        """Run the shared check; show each message at its field; answer the problems."""
        problems = check_values(self.form, self.values())
        self._clear_messages()
        for name, message in problems.items():
            self._field_error(name, message)
        if problems:
            self._form_error(f"{len(problems)} field{'s' if len(problems) > 1 else ''} to fix before submitting")
        return problems

    def submit(self) -> Job | None:
        """Check, then submit: answers the job, or None when a field (or the server) refused it."""
        self.status.value = ""
        if self.client is None:
            return None
        if self.check():
            return None
        self.submit_button.disabled = True
        try:
            job = self.client.submit(**self.spec(), idempotency_key=self._idempotency_key)
        except ComputeError as exc:
            self._show_server_error(exc)
            return None
        except Exception as exc:  # noqa: BLE001
            self._form_error(one_line(exc))
            return None
        finally:
            self.submit_button.disabled = False
        again = self.last_job is not None and self.last_job.id == job.id
        self.status.value = (
            f"Submitted job <code>{html.escape(job.id[:8])}</code> {html.escape(repr(job.name))}: "
            f"<b>{html.escape(job.state.value)}</b>"
        ) + (' <span class="jc-muted">(already; change a field to submit another)</span>' if again else "")
        self.last_job = job
        return job

    @property
    def error_text(self) -> str:
        """The form's error line as plain text (``""`` when there is none)."""
        return html.unescape(_TAGS.sub("", self.error.value))

    def code(self) -> str:
        """The current submission as Python and as a ``%submit_job`` line."""
        return submit_code(self.spec())

    def copy_as_code(self) -> str:
        """Show the code in the text area below the buttons (checked first: problems are shown)."""
        problems = self.check()
        text = self.code()
        if problems:
            text = "# the form has problems; fix them before running this\n" + text
        self.code_area.value = text
        self.code_area.layout.display = None
        return text

    # --- building -----------------------------------------------------------------------------

    def _renew_key(self, _change: Any = None) -> None:
        """A value changed: the next Submit is a new submission (the same values resubmitted,
        e.g. by a double click, carry the same key and give the same job)."""
        self._idempotency_key = uuid.uuid4().hex

    @T.observe("backend")
    def _on_backend(self, change: dict[str, Any]) -> None:
        if self.client is None:
            return
        if self.backend_select.value != change["new"] and change["new"] in self.backend_select.options:
            self.backend_select.value = change["new"]
        self._load(change["new"])

    def _load(self, backend: str) -> None:
        self._form_error("")
        self.status.value = ""
        self.code_area.layout.display = "none"
        try:
            self.form = self.client.form(backend)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001
            self.form = Form(fields=())
            self._build()
            self._form_error(f"cannot load the form of '{backend}': {one_line(exc)}")
            return
        self._build()

    def _capability(self, name: str) -> bool:
        info = next((b for b in self._backends if b.get("name") == self.backend), {})
        return bool((info.get("capabilities") or {}).get(name))

    def _build(self) -> None:
        old = self.fields_box.children
        self.controls, self.messages = {}, {}
        rows: list[W.Widget] = []
        for form_field in self.form.fields:
            help_html = f'<span class="jc-muted">{html.escape(form_field.help)}</span>'
            try:
                control = field_control(form_field)
            except Exception as exc:  # noqa: BLE001 - one field must not break the form
                log.debug("jupyter-compute: the widget of field %r failed", form_field.name, exc_info=True)
                control = _text_factory(form_field)
                help_html = error_html(f"shown as text ({one_line(exc)})") + " " + help_html
            control.widget.add_class(field_class(form_field.name))
            control.widget.add_class("jc-field")
            if control.widget.has_trait("value"):
                control.widget.observe(self._renew_key, "value")
            message = W.HTML()
            message.add_class("jc-field-error")
            helptext = W.HTML(help_html, layout=W.Layout(margin="0 0 0 8px", flex="1 1 auto"))
            self.controls[form_field.name] = control
            self.messages[form_field.name] = message
            row = W.VBox([W.HBox([control.widget, helptext]), message])
            row.add_class("jc-field-row")
            rows.append(row)
            picker = self._picker_for(form_field)
            if picker is not None:
                rows.append(picker)
        groups = [
            " or ".join(self.form.label(n) for n in group)
            for group in self.form.one_of
        ]
        self.hint.value = "".join(
            f'<div class="jc-muted">Give exactly one of: {html.escape(g)}.</div>' for g in groups
        )
        self.fields_box.children = rows
        self._renew_key()
        keep = [picker for picker in (self.environment_picker, self.cluster_picker) if picker is not None]
        for widget in old:
            close_tree(widget, keep)

    def _picker_for(self, form_field: FormField) -> W.Widget | None:
        """The picker bound to the environment or cluster field, when the backend has them."""
        if not self.with_pickers:
            return None
        if form_field.name == "environment" and self._capability("has_environments"):
            picker = self.environment_picker
            if picker is None:
                picker = self.environment_picker = EnvironmentPicker(self.client, backend=self.backend)
                picker.observe(lambda change: self._from_picker("environment", change["new"]), "value")
            else:
                picker.backend = self.backend
                picker.refresh()
        elif form_field.name == "cluster" and self._capability("has_clusters"):
            picker = self.cluster_picker
            if picker is None:
                picker = self.cluster_picker = ClusterPicker(self.client, backend=self.backend)
                picker.observe(lambda change: self._from_picker("cluster", change["new"]), "value")
            else:
                picker.backend = self.backend
                picker.refresh()
        else:
            return None
        control = self.controls[form_field.name]
        picker.choose(control.get())
        # the field follows the picker, and the picker the field
        control.widget.observe(lambda change: self._to_picker(picker, change["new"]), "value")
        # folded by default: the form stays short, the field shows the choice anyway
        what = "environments" if form_field.name == "environment" else "clusters"
        box = W.Accordion(children=[picker], titles=(f"Browse the {what} of {self.backend}",), selected_index=None,
                          layout=W.Layout(margin=f"0 0 8px {LABEL_WIDTH}", width="auto"))
        box.add_class(f"jc-{form_field.name}-choice")
        return box

    def _from_picker(self, name: str, value: str | None) -> None:
        control = self.controls.get(name)
        if control is not None and control.get() != value:
            control.set(value)

    @staticmethod
    def _to_picker(picker: EnvironmentPicker | ClusterPicker, value: Any) -> None:
        value = value if isinstance(value, str) and value else None
        if picker.value != value:
            picker.choose(value)

    # --- messages -----------------------------------------------------------------------------

    def _clear_messages(self) -> None:
        for message in self.messages.values():
            message.value = ""
        self._form_error("")

    def _field_error(self, name: str, message: str) -> bool:
        target = self.messages.get(name)
        if target is None:
            container = name.split(".", 1)[0].split("[", 1)[0]
            target = self.messages.get(container)
        if target is None:
            return False
        target.value = error_html(message)
        return True

    def _form_error(self, message: str) -> None:
        self.error.value = error_html(message)

    def _show_server_error(self, exc: ComputeError) -> None:
        """A refusal at the field it names (or as a form-level line)."""
        if exc.field and self._field_error(exc.field, exc.message):
            self._form_error(f"the server refused the job: {exc.message}")
        else:
            self._form_error(one_line(exc))

    def close(self) -> None:
        """Close the form, its fields and its pickers."""
        for picker in (self.environment_picker, self.cluster_picker):
            if picker is not None:
                picker.close()
        for child in self.children:
            close_tree(child)
        super().close()

    # --- static fallbacks -----------------------------------------------------------------------

    def _repr_html_(self) -> str:
        rows = []
        for form_field in self.form.fields:
            control = self.controls.get(form_field.name)
            value = control.get() if control is not None else None
            rows.append([
                form_field.label + (" *" if form_field.required else ""),
                form_field.name,
                form_field.type,
                "" if value is None else str(value),
                form_field.help,
            ])
        table = html_table(["field", "name", "type", "value", "help"], rows, css_class="jc-static")
        return (
            f'<div class="jc-submit-form"><b>Submit a job to {html.escape(self.backend)}</b>{self.hint.value}'
            f"{table}{self.status.value}{self.error.value}</div>"
        )

    def __repr__(self) -> str:
        filled = sorted(k for k, v in self.values().items() if v not in (None, "", [], {}))
        return f"<SubmitForm {self.backend}: {len(self.form.fields)} fields, filled {', '.join(filled) or 'none'}>"



