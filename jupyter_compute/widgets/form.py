"""The submit form: any backend's declared fields, each rendered by the widget of its field type.

The server declares each backend's fields once (:mod:`jupyter_compute.forms`); this module
turns them into widgets (each field type's own, or a factory given to :func:`register_field_type`
for that type: dask-gateway's habit), runs
the same :func:`~jupyter_compute.forms.check_values` the server runs before anything is sent,
shows every message at its field, and submits through the client. "Copy as code" writes the
same submission as a ``Client().submit(...)`` call and as a ``%submit_job`` line.

A form whose ``refresh_on`` names fields follows them: when one of them changes, the form is fetched
again with the values chosen so far (in a background thread), its fields are rebuilt, and the values
already typed are kept in the fields that remain.

A field whose factory fails (a user's factory with a bug, a required choice without choices)
is shown as a text box with the failure under it; a field type this version does not know is
a text box too. Every submission of the same values carries the same idempotency key, so a
double click on Submit submits once; changing any value makes a new key.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import shlex
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import ipywidgets as W
import traitlets as T

from ..errors import ComputeError
from ..forms import Form, FormField, check_values, spec_from_values
from ._util import (
    close_tree,
    connect,
    error_html,
    html_table,
    log,
    one_line,
    start_thread,
    style_widget,
)
from .fields import (
    FIELD_WIDTH,
    INPUT_WIDTH,
    LABEL_WIDTH,
    NO_CHOICE,
    FieldControl,
    format_mapping,
    number_text,
    parse_mapping,
    parse_number,
    parse_tags,
    fit_labels,
    label_width,
    text_control,
)
from .file_picker import FilePicker
from .pickers import ClusterPicker, EnvironmentPicker
from .program_picker import PROGRAM_CSS, ProgramChoice, program_group

if TYPE_CHECKING:
    from ..client import Client, Job

__all__ = [
    "FIELD_WIDTH",
    "LABEL_WIDTH",
    "NO_CHOICE",
    "FieldControl",
    "SubmitForm",
    "field_control",
    "format_mapping",
    "number_text",
    "parse_mapping",
    "parse_number",
    "parse_tags",
    "register_field_type",
    "submit_code",
]

_TAGS = re.compile(r"<[^>]+>")


#: A factory turns a FormField into a FieldControl (or a plain widget whose ``value`` is the value).
FieldFactory = Callable[[FormField], FieldControl | W.Widget]
#: Widgets chosen in the notebook instead of a field type's own (by type name).
_REGISTRY: dict[str, FieldFactory] = {}


def register_field_type(type_name: str, factory: FieldFactory) -> None:
    """Render fields of ``type_name`` with ``factory`` instead of the type's own widget.

    ``factory(field)`` answers a :class:`FieldControl`, or any widget whose ``value`` is the
    field's value. The form adds the label's CSS class, the help line and the message line.
    (A new field type, checked by the server too, is a
    :class:`~jupyter_compute.forms.field_types.FieldType` subclass, which brings its widget.)
    """
    if not isinstance(type_name, str) or not type_name:
        raise ValueError("a field type needs a name")
    if not callable(factory):
        raise TypeError("the factory must be callable: factory(field) -> FieldControl or widget")
    _REGISTRY[type_name] = factory


def field_control(form_field: FormField) -> FieldControl:
    """The control of one field: from the factory registered for its type, else the type's own
    widget (a text box for a type this version does not know).

    Raises what the factory raises; :class:`SubmitForm` shows such a field as a text box.
    """
    factory = _REGISTRY.get(form_field.type) or form_field.field_type.widget
    made = factory(form_field)
    control = made if isinstance(made, FieldControl) else FieldControl(made)
    if form_field.default is not None:
        with contextlib.suppress(T.TraitError, ValueError, TypeError):  # a default it cannot show: left empty
            control.set(form_field.default)
    return control


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
#: The path fields the form offers a file browser for, and the files each lists (besides folders).
_FILE_SUFFIXES = {"script": (".py",), "notebook": (".ipynb",)}


def magic_line(spec: Mapping[str, Any]) -> str:
    """``%submit_job`` with the options of ``spec``; the ``%%submit_job`` cell form for code."""
    words = _magic_options(spec)
    missing = [k for k in spec if k not in {*dict(_MAGIC_OPTIONS), *_PROGRAMS, "params", "tags", "timeout_s"}]
    note = f"# %submit_job has no option for: {', '.join(missing)}\n" if missing else ""
    if spec.get("code") is not None:
        return note + " ".join(["%%submit_job", *words]) + "\n" + str(spec["code"])
    program = _magic_program(spec)
    if program is None:
        return MULTILINE_NOTE
    return note + " ".join(["%submit_job", *words, *program])


def _magic_options(spec: Mapping[str, Any]) -> list[str]:
    """The ``%submit_job`` options (quoted for the shell) saying what ``spec`` says besides its program."""
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
    return words


def _magic_program(spec: Mapping[str, Any]) -> list[str] | None:
    """The last words of a ``%submit_job`` line: the script, notebook or command of ``spec`` (a
    placeholder when it has none); None for a command of several lines, which no line can hold."""
    for key in ("script", "notebook"):
        if spec.get(key) is not None:
            return [shlex.quote(str(spec[key]))]
    if spec.get("command") is None:
        return ["<command | script.py | notebook.ipynb>"]
    command = str(spec["command"]).strip()
    if "\n" in command:
        return None  # (a heredoc, a loop, a line ending in \ or | ... cannot be joined safely)
    return ["--", command] if _needs_separator(command) else [command]


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


def _control_and_help(form_field: FormField) -> tuple[FieldControl, str]:
    """The control of a field and its help line; a text box, saying why, when its widget fails."""
    help_html = f'<span class="jc-muted">{html.escape(form_field.help)}</span>'
    try:
        return field_control(form_field), help_html
    except Exception as exc:  # noqa: BLE001 - one field must not break the form
        log.debug("jupyter-compute: the widget of field %r failed", form_field.name, exc_info=True)
        return text_control(form_field), error_html(f"shown as text ({one_line(exc)})") + " " + help_html


def fetch_form(client: Client, backend: str, values: Mapping[str, Any]) -> Form:
    """``backend``'s form for the values chosen so far (``GET backends/{b}/form?name=value…``)."""
    if not values:
        return client.form(backend)
    query = {name: json.dumps(value) if isinstance(value, bool) else str(value) for name, value in values.items()}
    return Form.from_dict(client._get(f"backends/{quote(backend, safe='')}/form", params=query))


def _backend_to_show(wanted: str, names: list[str], broken: Mapping[str, str]) -> tuple[str, str]:
    """The backend whose form to show first, and why it is not ``wanted`` ("" when it is)."""
    if wanted in broken:
        notice = f"backend '{wanted}' is not available: {broken[wanted]}"
    elif wanted not in names:
        notice = f"no backend '{wanted}' on the server (there are: {', '.join(names) or 'none'})"
    else:
        return wanted, ""
    return (names[0] if names else wanted), notice


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
        #: The choice of program kind, when the form's fields hold alternative programs.
        self.program: ProgramChoice | None = None
        #: The file browser of each path field it serves (script, notebook), by field name.
        self.file_pickers: dict[str, FilePicker] = {}
        self._label_px = label_width([])
        self.client: Client | None = None
        self._backends: list[dict[str, Any]] = []
        self._idempotency_key = uuid.uuid4().hex
        self._lock = threading.RLock()
        self._form_seq = 0  # which fetch of the form the fields are (or will be) built from
        self._chosen: dict[str, Any] = {}  # the values of the refresh_on fields the shown form is for
        self._rebuilding = False
        self._make_widgets()
        try:
            self.client = connect(client)
            self._backends = self.client.backends()
        except Exception as exc:  # noqa: BLE001 — shown in the widget, never as a traceback
            self._form_error(one_line(exc))
            self.submit_button.disabled = self.code_button.disabled = True
            return
        self._start(backend)

    def _make_widgets(self) -> None:
        """The backend chooser, the box of fields, the buttons and the message lines."""
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
            W.HTML(f"<style>{PROGRAM_CSS}</style>", layout=W.Layout(display="none")),
            self.backend_select,
            self.hint,
            self.fields_box,
            W.HBox([self.submit_button, self.code_button, self.status]),
            self.error,
            self.code_area,
        ]
        self.submit_button.on_click(lambda _: self.submit())
        self.code_button.on_click(lambda _: self.copy_as_code())

    def _start(self, backend: str) -> None:
        """Offer the server's available backends and show the form of ``backend`` (or of the first
        one, saying why, when the server has no such backend or it is not available)."""
        broken = {b["name"]: b.get("message", "") for b in self._backends if b.get("available") is False}
        self._backends = [b for b in self._backends if b["name"] not in broken]
        names = [b["name"] for b in self._backends]
        self.backend_select.options = names
        backend, notice = _backend_to_show(backend, names, broken)
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
        """The value of every field, as the shared check and the spec take them (of the program fields, only
        the chosen kind's)."""
        values = {name: control.get() for name, control in self.controls.items()}
        return self.program.given(values) if self.program is not None else values

    def set_values(self, **values: Any) -> None:
        """Fill fields by name (``params.x`` style names as keyword ``**{"params.x": 1}``)."""
        for name, value in values.items():
            if name not in self.controls:
                raise KeyError(f"backend '{self.backend}' has no field '{name}'")
            self.controls[name].set(value)  # a program given is the kind chosen (_typed_program)

    def spec(self) -> dict[str, Any]:
        """The job spec the fields make now (``backend`` first), unchecked."""
        return {"backend": self.backend, **spec_from_values(self.form, self.values())}

    def check(self) -> dict[str, str]:
        """Run the shared check; show each message at its field; answer the problems."""
        problems = self._program_problem(check_values(self.form, self.values()))
        self._clear_messages()
        for name, message in problems.items():
            self._field_error(name, message)
        if problems:
            self._form_error(f"{len(problems)} field{'s' if len(problems) > 1 else ''} to fix before submitting")
        return problems

    def _program_problem(self, problems: dict[str, str]) -> dict[str, str]:
        """The problems, that of the program group (its own, or "give exactly one of …") said at the chosen
        kind's field, the only one shown (the kinds not chosen are empty: values() leaves them out)."""
        group = self.program.group if self.program is not None else ()
        said = [problems[name] for name in group if name in problems]
        if self.program is None or not said:
            return problems
        return {self.program.kind: said[0], **{n: m for n, m in problems.items() if n not in group}}

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
        with self._lock:
            self._form_seq += 1  # a refresh still on its way for the form shown before is dropped
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
        self.controls, self.messages, self.file_pickers = {}, {}, {}
        self._label_px = self._label_column()
        group = program_group(self.form)
        self.program = ProgramChoice(self.form, group, self._label_px) if group else None
        rows = self._rows(group)
        self._show_hint(group)
        self.fields_box.children = rows
        self._chosen = self._refresh_values()
        self._renew_key()
        keep = [picker for picker in (self.environment_picker, self.cluster_picker) if picker is not None]
        for widget in old:
            close_tree(widget, keep)

    def _label_column(self) -> int:
        """The width of the label column fitting every label of the form (the backend chooser's too)."""
        labels = [f.label + (" *" if f.required else "") for f in self.form.fields]
        width = label_width([*labels, "Program", "Backend"])
        fit_labels(self.backend_select, width)
        return width

    def _show_hint(self, program: tuple[str, ...]) -> None:
        """Say the form's groups of alternatives above the fields (the program's says itself: its selector)."""
        groups = [" or ".join(self.form.label(n) for n in g) for g in self.form.one_of if tuple(g) != program]
        self.hint.value = "".join(f'<div class="jc-muted">Give exactly one of: {html.escape(g)}.</div>'
                                  for g in groups)  # fmt: skip

    def _rows(self, group: tuple[str, ...]) -> list[W.Widget]:
        """Every field's row, the program selector before the first program field, one program shown."""
        rows: list[W.Widget] = []
        for form_field in self.form.fields:
            if self.program is not None and form_field.name in group and self.program.row not in rows:
                rows.append(self.program.row)
            rows.append(self._field_row(form_field))
        if self.program is not None:
            self.program.choose(self.program.first_given({n: self.controls[n].get() for n in group}))
            self.program.widget.observe(self._on_program, "value")
        return rows

    def _field_row(self, form_field: FormField) -> W.Widget:
        """The row of one field (its widget, help and message line), its control kept in ``controls``."""
        control, help_html = _control_and_help(form_field)
        control.widget.add_class(field_class(form_field.name))
        control.widget.add_class("jc-field")
        if control.widget.has_trait("value"):
            control.widget.observe(self._renew_key, "value")
            if form_field.name in self.form.refresh_on:
                if control.widget.has_trait("continuous_update"):
                    control.widget.continuous_update = False  # typed text: fetched once typed, not per key
                control.widget.observe(self._refresh_form, "value")
        fit_labels(control.widget, self._label_px)
        message = W.HTML()
        message.add_class("jc-field-error")
        helptext = W.HTML(help_html, layout=W.Layout(margin="0 0 0 8px", flex="1 1 auto"))
        self.controls[form_field.name] = control
        self.messages[form_field.name] = message
        picker = self._picker_for(form_field)
        row = W.VBox([W.HBox([control.widget, helptext]), message, *([picker] if picker is not None else [])])
        row.add_class("jc-field-row")
        if self.program is not None and form_field.name in self.program.group:
            self.program.rows[form_field.name] = row
            if control.widget.has_trait("value"):
                control.widget.observe(lambda _: self._typed_program(form_field.name), "value")
        return row

    def _typed_program(self, name: str) -> None:
        """A program given in a field (typed, set, picked): its kind is the one chosen."""
        control = self.controls.get(name)
        if self.program is not None and control is not None and control.get() is not None:
            self.program.choose(name)

    def _on_program(self, change: dict[str, Any]) -> None:
        """Another kind of program chosen: its field shows, the next Submit is a new submission."""
        self._renew_key()
        for name in self.program.group if self.program is not None else ():
            self.messages[name].value = ""

    # --- following the choices -----------------------------------------------------------------

    def _refresh_values(self) -> dict[str, Any]:
        """The values given now of the fields the form changes with."""
        values = {name: self.controls[name].get() for name in self.form.refresh_on if name in self.controls}
        return {name: value for name, value in values.items() if value not in (None, "")}

    def _refresh_form(self, _change: Any = None) -> None:
        """A field the form changes with changed: fetch the form for the values chosen now, in a thread."""
        if self.client is None:
            return
        with self._lock:  # a rebuild in another thread ends first; the rebuild's own changes are not choices
            values = self._refresh_values()
            if self._rebuilding or values == self._chosen:
                return
            self._chosen = values
            self._form_seq += 1
            seq, backend = self._form_seq, self.backend
        self._form_error("")
        start_thread(self._fetch_form, backend, values, seq, name="jupyter-compute-form",
                     on_error=lambda line: self._refresh_failed(seq, backend, line))  # fmt: skip

    def _fetch_form(self, backend: str, values: dict[str, Any], seq: int) -> None:
        assert self.client is not None
        form = fetch_form(self.client, backend, values)  # a failure goes to _refresh_failed
        with self._lock:
            if seq != self._form_seq or backend != self.backend:
                return  # another choice (or backend) came since: its own fetch shows its form
            typed = {name: value for name, value in self.values().items() if value is not None}
            self._rebuilding = True
            try:
                self.form = form
                self._build()
                self._keep(typed)
            finally:
                self._rebuilding = False
            self._chosen = values  # what the form is for (a choice made while it was built is then new)

    def _keep(self, typed: Mapping[str, Any]) -> None:
        """Put the values typed before back into the fields that remain (one the field cannot take is left)."""
        for name, value in typed.items():
            control = self.controls.get(name)
            if control is not None and control.get() != value:
                with contextlib.suppress(T.TraitError, ValueError, TypeError):
                    control.set(value)

    def _refresh_failed(self, seq: int, backend: str, line: str) -> None:
        with self._lock:
            if seq == self._form_seq and backend == self.backend:
                self._form_error(f"cannot load the form of '{backend}' for these choices: {line}")

    def _picker_for(self, form_field: FormField) -> W.Widget | None:
        """The picker bound to the environment or cluster field, when the backend has them, or the file
        browser of a script or notebook path."""
        if not self.with_pickers:
            return None
        if form_field.type == "path" and form_field.name in _FILE_SUFFIXES:
            return self._file_picker(form_field)
        picker = self._capacity_picker(form_field.name)
        if picker is None:
            return None
        control = self.controls[form_field.name]
        picker.choose(control.get())
        # the field follows the picker, and the picker the field
        control.widget.observe(lambda change: self._to_picker(picker, change["new"]), "value")
        what = "environments" if form_field.name == "environment" else "clusters"
        return self._folded(picker, f"Browse the {what}", f"jc-{form_field.name}-choice", wide=True)

    def _capacity_picker(self, name: str) -> EnvironmentPicker | ClusterPicker | None:
        """The environment or cluster picker (made once, then shown for this backend) for the field ``name``."""
        picker: EnvironmentPicker | ClusterPicker | None
        if name == "environment" and self._capability("has_environments"):
            picker = self.environment_picker
            if picker is None:
                picker = self.environment_picker = EnvironmentPicker(self.client, backend=self.backend)
                picker.observe(lambda change: self._from_picker("environment", change["new"]), "value")
            else:
                picker.backend = self.backend
                picker.refresh()
        elif name == "cluster" and self._capability("has_clusters"):
            picker = self.cluster_picker
            if picker is None:
                picker = self.cluster_picker = ClusterPicker(self.client, backend=self.backend)
                picker.observe(lambda change: self._from_picker("cluster", change["new"]), "value")
            else:
                picker.backend = self.backend
                picker.refresh()
        else:
            return None
        return picker

    def _folded(self, picker: W.Widget, title: str, css_class: str, *, wide: bool = False) -> W.Accordion:
        """A picker folded under its field (the form stays short; the field shows the choice anyway); a
        ``wide`` one (a table of many columns) takes the form's whole width."""
        layout = (W.Layout(margin="0 0 8px 0", width="100%") if wide
                  else W.Layout(margin=f"0 0 8px {self._label_px + 10}px", width=f"{INPUT_WIDTH - 8}px"))
        box = W.Accordion(children=[picker], titles=(title,), selected_index=None, layout=layout)
        box.add_class(css_class)
        return box

    def _file_picker(self, form_field: FormField) -> W.Accordion:
        """A browser of the server's folders whose pick fills the path field (which stays free to type in)."""
        folders = "folder" in form_field.help.lower()  # a field that takes a folder says so
        picker = FilePicker(self.client, suffixes=_FILE_SUFFIXES[form_field.name], folders=folders)
        self.file_pickers[form_field.name] = picker
        picker.observe(lambda change: self._from_picker(form_field.name, change["new"] or None), "value")
        what = "notebooks" if form_field.name == "notebook" else "scripts and folders" if folders else "scripts"
        return self._folded(picker, f"Browse the {what}", "jc-file-choice")

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
        if self.program is not None:
            name = self.program.target(name)  # a hidden kind's field: said at the shown one
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
        values = self.values()
        if self.program is not None:
            rows.append(["Program", "", "choice", self.form.label(self.program.kind), "the kind of program to run"])
        for form_field in self.form.fields:
            if self.program is not None and self.program.target(form_field.name) != form_field.name:
                continue  # a kind of program not chosen
            value = values.get(form_field.name)
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



