"""The job monitor: a live, paged table of jobs with a detail pane.

``JobMonitor(client=None, backend=None, state=None, page_size=25)`` shows one page of the jobs
the server knows, newest first, and keeps it current from the server's pushed events
(:class:`~jupyter_compute.widgets.live.LiveJobs`): a change of a job rewrites only that job's
row widget; a new job matching the filters appears at the top of page 1. Nothing ever needs a
refresh button, and no network call or wait happens on the kernel's main thread except the
ones a click asks for (paging, filtering).

Selecting a row (its ``▸`` button) opens :class:`JobDetail`: the job's fields, its log followed
while it runs, its results with "Load as DataFrame" buttons, and Cancel / Delete actions that
each ask for a confirming click. Server errors show as one red line, never a traceback.

CSS classes for browser tests and styling: ``jc-monitor`` (the whole panel), ``jc-filter-bar``,
``jc-filter-backend``, ``jc-filter-state``, ``jc-search``, ``jc-prev``, ``jc-next``,
``jc-page-label``, ``jc-error``, ``jc-table``; every row ``jc-job-row`` and
``jc-state-<STATE>`` (plus ``jc-selected``), its select button ``jc-row-select``; the detail
pane ``jc-detail`` with ``jc-detail-fields``, ``jc-log``, ``jc-results``, ``jc-df-name``,
``jc-load-df``, ``jc-df-output``, ``jc-cancel``, ``jc-delete``, ``jc-confirm``,
``jc-confirm-yes``, ``jc-confirm-no``.
"""

from __future__ import annotations

import html
import keyword
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

import ipywidgets as w

from .. import results as results_module
from ..client import Client, Job
from ..errors import InvalidSpec, NotFound, NotSupported
from ..models import JobState
from ._util import (
    Raw,
    elapsed_seconds,
    error_html,
    format_duration,
    format_size,
    format_when,
    html_table,
    one_line,
    state_badge,
    state_colour,
    text_table,
)
from .live import LiveJobs

__all__ = ["JobDetail", "JobMonitor", "JobRow"]

ALL = ""
_GRID = "grid-template-columns:minmax(9em,2fr) minmax(6em,1fr) 7.5em minmax(6em,1fr) 6.5em minmax(8em,3fr)"
_CELL = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:0 6px"
_COLUMNS = ("name", "backend", "state", "native status", "elapsed", "message")
_LOG_POLL_S = 1.0
_LOG_SHOWN_MAX = 512 * 1024
_TICK_S = 5.0
_HEAD_ROWS = 10

log = logging.getLogger(__name__)


# --- rows ---------------------------------------------------------------------------------------


def _message_html(job: Job) -> str:
    colour = state_colour(job.state) if job.state in (JobState.FAILED, JobState.TIMED_OUT) else "#616161"
    message = html.escape(job.message)
    return f'<span style="{_CELL};color:{colour}" title="{message}">{message}</span>'


def row_html(job: Job) -> str:
    """The cells of one job's row (a CSS grid lined up with the header)."""
    name = html.escape(job.name or "(unnamed)")
    return (
        f'<div class="jc-row-cells" style="display:grid;{_GRID};align-items:center">'
        f'<span style="{_CELL}" title="{html.escape(job.id)}">{name}'
        f' <span style="color:#9e9e9e;font-size:85%">{html.escape(job.id[:8])}</span></span>'
        f'<span style="{_CELL}">{html.escape(job.backend)}</span>'
        f'<span style="{_CELL}">{state_badge(job.state)}</span>'
        f'<span style="{_CELL}" title="{html.escape(job.native_status)}">{html.escape(job.native_status)}</span>'
        f'<span style="{_CELL}">{html.escape(format_duration(elapsed_seconds(job)))}</span>'
        f"{_message_html(job)}</div>"
    )


def _header_html() -> str:
    cells = "".join(f'<span style="{_CELL};font-weight:600">{html.escape(c)}</span>' for c in _COLUMNS)
    return f'<div style="display:grid;{_GRID};border-bottom:1px solid #ccc">{cells}</div>'


class JobRow(w.HBox):
    """One job's row: a select button and its cells. Changes of the job update it in place."""

    def __init__(self, job: Job, on_select: Callable[[str], None]) -> None:
        self.job = job
        self.select_button = w.Button(
            description="▸", tooltip="Show the job's details, log and results", layout=w.Layout(width="2.6em")
        )
        self.select_button.add_class("jc-row-select")
        self.cells = w.HTML(row_html(job), layout=w.Layout(flex="1 1 auto", overflow="hidden"))
        super().__init__([self.select_button, self.cells], layout=w.Layout(align_items="center"))
        self._dom_classes = ["jc-job-row", f"jc-state-{job.state.value}"]
        self.select_button.on_click(lambda _button: on_select(self.job.id))

    def __repr__(self) -> str:
        return f"<JobRow {self.job.id[:8]} {self.job.name!r} {self.job.state.value}>"

    @property
    def job_id(self) -> str:
        return self.job.id

    @property
    def state(self) -> str:
        """The state shown, e.g. ``"RUNNING"``."""
        return self.job.state.value

    def update(self, job: Job) -> bool:
        """Show ``job``'s current fields; True when anything visible changed."""
        old, self.job = self.job, job
        changed = False
        if old.state != job.state:
            classes = [c for c in self._dom_classes if not c.startswith("jc-state-")]
            self._dom_classes = [*classes, f"jc-state-{job.state.value}"]
            changed = True
        value = row_html(job)
        if value != self.cells.value:
            self.cells.value = value
            changed = True
        return changed

    def set_selected(self, selected: bool) -> None:
        if selected:
            self.add_class("jc-selected")
            self.select_button.button_style = "info"
        else:
            self.remove_class("jc-selected")
            self.select_button.button_style = ""

    def close(self) -> None:
        self.select_button.close()
        self.cells.close()
        super().close()


# --- the detail pane ----------------------------------------------------------------------------


def _hidden(widget: w.DOMWidget, hidden: bool) -> None:
    widget.layout.display = "none" if hidden else None


class JobDetail(w.VBox):
    """Fields, followed log, results and actions of one job (shown under the monitor's table).

    ``namespace`` is where "Load as DataFrame" binds its variable: the IPython user namespace
    by default (when IPython runs), or any dict given (for tests and scripts).
    """

    def __init__(
        self,
        client: Client,
        *,
        capabilities: Callable[[str], dict[str, bool]] | None = None,
        namespace: MutableMapping[str, Any] | None = None,
        on_change: Callable[[Job], None] | None = None,
        on_deleted: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.job: Job | None = None
        self.log_text = ""
        self.loaded: dict[str, Any] = {}
        self._capabilities = capabilities or (lambda backend: {})
        self._namespace = namespace
        self._on_change = on_change
        self._on_deleted = on_deleted
        self._lock = threading.RLock()
        self._follow_stop = threading.Event()
        self._pending: str | None = None
        self._deleted = False
        self._shown_log = 0

        self.title = w.HTML()
        self.fields = w.HTML().add_class("jc-detail-fields")
        self.error = w.HTML().add_class("jc-error")
        self.cancel_button = w.Button(description="Cancel", icon="stop").add_class("jc-cancel")
        self.delete_button = w.Button(description="Delete", icon="trash").add_class("jc-delete")
        self.confirm_label = w.HTML()
        self.confirm_yes = w.Button(description="Yes", button_style="danger").add_class("jc-confirm-yes")
        self.confirm_no = w.Button(description="No").add_class("jc-confirm-no")
        self.confirm = w.HBox([self.confirm_label, self.confirm_yes, self.confirm_no]).add_class("jc-confirm")
        _hidden(self.confirm, True)
        self.df_name = w.Text(value="df", description="variable", layout=w.Layout(width="16em"))
        self.df_name.add_class("jc-df-name")
        self.results_box = w.VBox().add_class("jc-results")
        self.df_status = w.HTML()
        self.df_output = w.Output().add_class("jc-df-output")
        self.log_view = w.Output(layout=w.Layout(max_height="24em", overflow="auto", border="1px solid #e0e0e0"))
        self.log_view.add_class("jc-log")
        self.log_status = w.HTML()
        actions = w.HBox([self.cancel_button, self.delete_button, self.confirm])
        super().__init__(
            [
                self.title,
                self.fields,
                actions,
                self.error,
                w.HTML("<b>Results</b>"),
                self.results_box,
                self.df_name,
                self.df_status,
                self.df_output,
                w.HTML("<b>Log</b>"),
                self.log_status,
                self.log_view,
            ],
            layout=w.Layout(border="1px solid #ccc", padding="4px 8px", margin="6px 0 0 0"),
        )
        self.add_class("jc-detail")
        self.cancel_button.on_click(lambda _b: self._ask("cancel"))
        self.delete_button.on_click(lambda _b: self._ask("delete"))
        self.confirm_yes.on_click(lambda _b: self._confirmed())
        self.confirm_no.on_click(lambda _b: self._ask(None))
        _hidden(self, True)

    @property
    def job_id(self) -> str | None:
        return self.job.id if self.job is not None else None

    # --- showing a job ------------------------------------------------------------------------

    def show(self, job: Job) -> None:
        """Show ``job`` (replacing any other) and follow its log in the background."""
        with self._lock:
            self._follow_stop.set()
            self._follow_stop = stop = threading.Event()
            self.job = job
            self._deleted = False
            self.log_text = ""
            self._shown_log = 0
            self.log_view.outputs = ()
            self.log_status.value = ""
            self.df_output.outputs = ()
            self.df_status.value = ""
            self.error.value = ""
            self._ask(None)
            self._render(job)
            _hidden(self, False)
        threading.Thread(target=self._follow, args=(job.id, stop), daemon=True, name="jupyter-compute-log").start()

    def update(self, job: Job) -> None:
        """The shown job changed (from the server's events)."""
        with self._lock:
            if self.job is None or job.id != self.job.id or self._deleted:
                return
            had_results = [r.name for r in self.job.results]
            self.job = job
            self._render(job, results=[r.name for r in job.results] != had_results)

    def hide(self) -> None:
        with self._lock:
            self._follow_stop.set()
            self.job = None
            _hidden(self, True)

    def show_deleted(self, job_id: str) -> None:
        """The shown job was deleted (here or elsewhere)."""
        with self._lock:
            if self.job is None or self.job.id != job_id or self._deleted:
                return
            self._deleted = True
            self._follow_stop.set()
            self._ask(None)
            self.title.value = self.title.value + ' <span style="color:#757575">(deleted)</span>'
            self.cancel_button.disabled = self.delete_button.disabled = True
            for child in self.results_box.children:
                for widget in getattr(child, "children", ()):
                    if isinstance(widget, w.Button):
                        widget.disabled = True

    def _render(self, job: Job, *, results: bool = True) -> None:
        name = html.escape(job.name or "(unnamed)")
        self.title.value = f"<b>{name}</b> {state_badge(job.state)}"
        rows: list[tuple[str, Any]] = [
            ("id", job.id),
            ("backend", job.backend),
            ("remote id", job.remote_id or ""),
            ("state", state_badge(job.state)),
            ("native status", job.native_status),
            ("message", Raw(f'<span style="color:{state_colour(job.state)}">{html.escape(job.message)}</span>')
             if job.state in (JobState.FAILED, JobState.TIMED_OUT) else job.message),
            ("created", format_when(job.created)),
            ("started", format_when(job.started)),
            ("finished", format_when(job.finished)),
            ("elapsed", format_duration(elapsed_seconds(job))),
            ("tags", ", ".join(job.tags)),
        ]
        program = next(
            (f"{k}: {v}" for k, v in (("command", job.spec.command), ("script", job.spec.script),
                                      ("notebook", job.spec.notebook), ("algorithm", job.spec.algorithm),
                                      ("code", job.spec.code)) if v),
            "",
        )
        if program:
            rows.append(("runs", program))
        if job.spec.environment:
            rows.append(("environment", job.spec.environment))
        if job.spec.cluster:
            rows.append(("cluster", job.spec.cluster))
        table = html_table(("field", "value"), rows, css_class="jc-fields")
        if table != self.fields.value:
            self.fields.value = table
        self._update_actions(job)
        if results:
            self._render_results(job)

    def _update_actions(self, job: Job) -> None:
        caps = self._capabilities(job.backend)
        can_cancel = bool(caps.get("can_cancel")) and not job.is_terminal and not self._deleted
        self.cancel_button.disabled = not can_cancel
        self.cancel_button.tooltip = (
            "Stop this job" if can_cancel
            else "The job has finished" if job.is_terminal
            else f"Backend '{job.backend}' cannot cancel jobs"
        )
        can_delete = bool(caps.get("can_delete")) and not self._deleted
        self.delete_button.disabled = not can_delete
        self.delete_button.tooltip = "Forget this job" if can_delete else f"Backend '{job.backend}' cannot delete jobs"
        if self._pending == "cancel" and not can_cancel or self._pending == "delete" and not can_delete:
            self._ask(None)

    def _render_results(self, job: Job) -> None:
        old = self.results_box.children
        rows: list[w.Widget] = []
        for result in job.results:
            label = w.HTML(
                f"<code>{html.escape(result.name)}</code> "
                f'<span style="color:#616161">{html.escape(format_size(result.size))}'
                f"{' · ' + html.escape(result.kind) if result.kind != 'output' else ''}</span>"
            )
            parts: list[w.Widget] = [label]
            if result.kind == "output" and results_module.is_tabular(result.name, result.media_type):
                button = w.Button(description="Load as DataFrame", icon="table", layout=w.Layout(width="auto"))
                button.add_class("jc-load-df")
                button.on_click(lambda _b, name=result.name: self.load_dataframe(name, wait=False))
                parts.append(button)
            rows.append(w.HBox(parts, layout=w.Layout(align_items="center")))
        if not rows:
            rows.append(w.HTML('<span style="color:#757575">no results yet</span>'))
        self.results_box.children = rows
        for box in old:
            for child in getattr(box, "children", ()):
                child.close()
            box.close()

    @property
    def load_buttons(self) -> dict[str, w.Button]:
        """The "Load as DataFrame" buttons by result name."""
        found = {}
        for box, result in zip(self.results_box.children, self.job.results if self.job else []):
            for child in getattr(box, "children", ()):
                if isinstance(child, w.Button):
                    found[result.name] = child
        return found

    # --- the log ------------------------------------------------------------------------------

    def _follow(self, job_id: str, stop: threading.Event) -> None:
        """Read the log from the start, then every second until it is complete."""
        offset = 0
        idle_after_end = 0
        while not stop.is_set():
            try:
                chunk = self.client.logs(job_id, offset)
            except (NotFound, NotSupported) as exc:
                self._log_note(stop, one_line(exc))
                return
            except Exception as exc:  # noqa: BLE001 - shown as one line, then retried
                self._log_note(stop, "cannot read the log: " + one_line(exc), error=True)
                if stop.wait(_LOG_POLL_S * 3):
                    return
                continue
            if chunk.text:
                self._append_log(stop, chunk.text)
            advanced = chunk.offset > offset
            offset = max(offset, chunk.offset)
            job = self.job
            finished = job is not None and job.id == job_id and job.is_terminal
            if chunk.complete:
                self._log_note(stop, "" if self.log_text else "the log is empty")
                return
            if finished and not advanced:
                idle_after_end += 1
                if idle_after_end >= 3:
                    self._log_note(stop, "" if self.log_text else "the log is empty")
                    return
            if chunk.text and advanced:
                continue  # there may be more already
            if stop.wait(_LOG_POLL_S):
                return

    def _log_note(self, stop: threading.Event, text: str, *, error: bool = False) -> None:
        with self._lock:
            if stop.is_set():
                return
            if error:
                self.log_status.value = error_html(text)
            else:
                self.log_status.value = f'<span style="color:#757575">{html.escape(text)}</span>' if text else ""

    def _append_log(self, stop: threading.Event, text: str) -> None:
        with self._lock:
            if stop.is_set():
                return
            self.log_text += text
            self.log_status.value = ""
            if self._shown_log + len(text) <= _LOG_SHOWN_MAX:
                self._shown_log += len(text)
                self.log_view.append_stdout(text)
                return
            # Re-sending an ever longer log on every poll would choke the browser: show its end.
            tail = self.log_text[-_LOG_SHOWN_MAX:]
            cut = len(self.log_text) - len(tail)
            note = f"[{cut:,} earlier characters not shown here; job.logs() returns the whole log]\n"
            self._shown_log = len(tail)
            self.log_view.outputs = (
                {"output_type": "stream", "name": "stderr", "text": note},
                {"output_type": "stream", "name": "stdout", "text": tail},
            )

    # --- results as DataFrames ----------------------------------------------------------------

    def namespace(self) -> MutableMapping[str, Any] | None:
        """Where loaded frames are bound: the given namespace, else IPython's user namespace."""
        if self._namespace is not None:
            return self._namespace
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - ipywidgets needs IPython
            return None
        shell = get_ipython()
        return getattr(shell, "user_ns", None)

    def load_dataframe(self, name: str, *, wait: bool = True) -> None:
        """Read result ``name`` into a DataFrame bound to the variable named in the text field.

        The button runs this in a background thread (``wait=False``) so the kernel stays free.
        """
        job = self.job
        if job is None:
            return
        variable = self.df_name.value.strip()
        if not variable.isidentifier() or keyword.iskeyword(variable):
            self.df_status.value = error_html(f"'{variable}' is not a valid Python variable name")
            return
        self.df_status.value = f'<span style="color:#757575">loading {html.escape(name)} …</span>'
        thread = threading.Thread(target=self._load, args=(job.id, name, variable), daemon=True)
        thread.start()
        if wait:
            thread.join()

    def _load(self, job_id: str, name: str, variable: str) -> None:
        try:
            frame = self.client.to_pandas(job_id, name)
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self.df_status.value = error_html(f"cannot load {name}: {one_line(exc)}")
            return
        namespace = self.namespace()
        rows, columns = frame.shape
        shape = f"{rows:,} rows × {columns:,} columns"
        if namespace is not None:
            namespace[variable] = frame
            status = f"<code>{html.escape(variable)}</code> = {html.escape(name)} ({shape})"
        else:
            status = f"{html.escape(name)} ({shape}); not bound to a variable: no IPython session"
        self.loaded[variable] = frame
        head = frame.head(_HEAD_ROWS)
        shown = f"first {min(rows, _HEAD_ROWS)} of {rows:,} rows" if rows > _HEAD_ROWS else "all rows"
        self.df_status.value = f'<span style="color:#2e7d32">{status}</span> — {shown}'
        self.df_output.outputs = (
            {
                "output_type": "display_data",
                "data": {"text/html": head.to_html(max_cols=50), "text/plain": head.to_string(max_cols=50)},
                "metadata": {},
            },
        )

    # --- cancel and delete --------------------------------------------------------------------

    def _ask(self, action: str | None) -> None:
        """Show the confirmation for ``action`` ("cancel"/"delete"), or hide it (None)."""
        self._pending = action
        if action is None:
            _hidden(self.confirm, True)
            return
        what = "cancel" if action == "cancel" else "delete"
        self.confirm_label.value = f"<b>Confirm {what}?</b>&nbsp;"
        _hidden(self.confirm, False)

    def _confirmed(self) -> None:
        action, job = self._pending, self.job
        self._ask(None)
        if action is None or job is None:
            return
        self.error.value = ""
        threading.Thread(target=self._act, args=(action, job), daemon=True).start()

    def _act(self, action: str, job: Job) -> None:
        try:
            if action == "cancel":
                changed = self.client.cancel(job.id)
                if self._on_change is not None:
                    self._on_change(changed)
                else:
                    self.update(changed)
            else:
                self.client.delete(job.id)
                self.show_deleted(job.id)
                if self._on_deleted is not None:
                    self._on_deleted(job.id)
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self.error.value = error_html(f"cannot {action} job {job.id[:8]}: {one_line(exc)}")

    def close(self) -> None:
        self._follow_stop.set()
        _close_tree(self, include_self=False)
        super().close()


def _close_tree(widget: w.Widget, *, include_self: bool = True) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    if include_self:
        widget.close()


# --- the monitor --------------------------------------------------------------------------------


class JobMonitor(w.VBox):
    """A live, paged table of jobs with filters and a detail pane (see the module doc).

    ``namespace`` is where "Load as DataFrame" binds variables when IPython is not running
    (tests, scripts); ``live=False`` skips the pushed updates (a static snapshot).
    """

    def __init__(
        self,
        client: Client | None = None,
        backend: str | None = None,
        state: str | JobState | None = None,
        page_size: int = 25,
        *,
        q: str | None = None,
        namespace: MutableMapping[str, Any] | None = None,
        live: bool = True,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be 1 or more")
        self.client = client if client is not None else Client()
        self.page_size = page_size
        self.offset = 0
        self.total = 0
        self.rows: dict[str, JobRow] = {}
        self.selected: str | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._quiet = False
        self._capabilities: dict[str, dict[str, bool]] = {}

        state_value = state.value if isinstance(state, JobState) else (str(state).upper() if state else ALL)
        if state_value and state_value not in JobState.__members__:
            allowed = ", ".join(s.value for s in JobState)
            raise InvalidSpec(f"unknown state '{state}' (one of {allowed})", field="state")
        self.backend_filter = w.Dropdown(
            options=[("all", ALL)], value=ALL, description="backend", layout=w.Layout(width="14em")
        ).add_class("jc-filter-backend")
        self.state_filter = w.Dropdown(
            options=[("all", ALL)] + [(s.value, s.value) for s in JobState],
            value=state_value,
            description="state",
            layout=w.Layout(width="13em"),
        ).add_class("jc-filter-state")
        self.search = w.Text(
            value=q or "", placeholder="search name, id, message", continuous_update=False,
            layout=w.Layout(width="16em"),
        ).add_class("jc-search")
        self.prev_button = w.Button(description="Prev", icon="chevron-left", layout=w.Layout(width="6em"))
        self.prev_button.add_class("jc-prev")
        self.next_button = w.Button(description="Next", icon="chevron-right", layout=w.Layout(width="6em"))
        self.next_button.add_class("jc-next")
        self.page_label = w.HTML().add_class("jc-page-label")
        self.error = w.HTML().add_class("jc-error")
        self.header = w.HTML(_header_html(), layout=w.Layout(margin="0 0 0 2.8em"))
        self.table = w.VBox().add_class("jc-table")
        self.detail = JobDetail(
            self.client,
            capabilities=self.capabilities,
            namespace=namespace,
            on_change=self._apply,
            on_deleted=self.on_deleted,
        )
        bar = w.HBox(
            [self.backend_filter, self.state_filter, self.search, self.prev_button, self.page_label, self.next_button],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        ).add_class("jc-filter-bar")
        super().__init__([bar, self.error, self.header, self.table, self.detail])
        self.add_class("jc-monitor")

        self._load_backends(backend)
        for control in (self.backend_filter, self.state_filter, self.search):
            control.observe(self._on_filter, names="value")
        self.prev_button.on_click(lambda _b: self.prev_page())
        self.next_button.on_click(lambda _b: self.next_page())

        self._live: LiveJobs | None = None
        if live:  # listen first, then load: nothing falls between the page and the stream
            self._live = LiveJobs.for_client(self.client)
            self._live.add_listener(self)
        self._load_page()
        if live:
            _Ticker(self).start()

    # --- filters and paging -------------------------------------------------------------------

    @property
    def filters(self) -> dict[str, str | None]:
        """The current filters: ``backend``, ``state`` and ``q`` (None when not filtering)."""
        return {
            "backend": self.backend_filter.value or None,
            "state": self.state_filter.value or None,
            "q": self.search.value.strip() or None,
        }

    def set_filters(self, *, backend: str | None = None, state: str | None = None, q: str | None = None) -> None:
        """Filter by backend, state and text at once (None or "" for all); back to page 1."""
        self._quiet = True
        try:
            if backend and backend not in [value for _label, value in self.backend_filter.options]:
                self._add_backend_option(backend)
            self.backend_filter.value = backend or ALL
            self.state_filter.value = (state.value if isinstance(state, JobState) else str(state).upper()) if state else ALL
            self.search.value = q or ""
        finally:
            self._quiet = False
        self.offset = 0
        self._load_page()

    def next_page(self) -> None:
        if self.offset + self.page_size < self.total:
            self.offset += self.page_size
            self._load_page()

    def prev_page(self) -> None:
        if self.offset > 0:
            self.offset = max(0, self.offset - self.page_size)
            self._load_page()

    @property
    def page_text(self) -> str:
        """``"1–25 of 1000"`` (``"0 of 0"`` when nothing matches)."""
        count = len(self.rows)
        if not count:
            return f"0 of {self.total}"
        return f"{self.offset + 1}–{self.offset + count} of {self.total}"

    def _on_filter(self, _change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self.offset = 0
        self._load_page()

    # --- backends -----------------------------------------------------------------------------

    def capabilities(self, backend: str) -> dict[str, bool]:
        """The capability flags the server reported for ``backend`` (empty when unknown)."""
        return self._capabilities.get(backend, {})

    def _load_backends(self, selected: str | None) -> None:
        try:
            backends = self.client.backends()
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self._show_error(f"cannot list the backends: {one_line(exc)}")
            backends = []
        self._capabilities = {b["name"]: dict(b.get("capabilities") or {}) for b in backends if "name" in b}
        self.backend_filter.options = [("all", ALL)] + [(name, name) for name in self._capabilities]
        if selected:
            if selected not in self._capabilities:
                self._add_backend_option(selected)
            self.backend_filter.value = selected

    def _add_backend_option(self, name: str) -> None:
        self.backend_filter.options = [*self.backend_filter.options, (name, name)]

    # --- loading a page -----------------------------------------------------------------------

    def _load_page(self) -> None:
        """Query the current page and show it, reusing the widgets of rows still on it."""
        with self._lock:
            if self._closed:
                return
            filters = self.filters
            try:
                page = self.client.jobs(**filters, limit=self.page_size, offset=self.offset)
                if not page and self.offset and page.total:  # jobs went away under our feet
                    self.offset = (page.total - 1) // self.page_size * self.page_size
                    page = self.client.jobs(**filters, limit=self.page_size, offset=self.offset)
            except Exception as exc:  # noqa: BLE001 - shown as one line
                self._show_error(f"cannot list the jobs: {one_line(exc)}")
                return
            self._show_error("")
            self._render_page(page, page.total)

    def _render_page(self, jobs: Iterable[Job], total: int, *, reuse: bool = True) -> None:
        """Show ``jobs`` as the table. ``reuse=False`` builds every row anew (the benchmark's
        baseline of a full redraw); normally rows still on the page keep their widget."""
        with self._lock:
            old = self.rows if reuse else {}
            if not reuse:
                for row in self.rows.values():
                    row.close()
            rows: dict[str, JobRow] = {}
            for job in jobs:
                row = old.pop(job.id, None)
                if row is None:
                    row = JobRow(job, self.select)
                    row.set_selected(job.id == self.selected)
                elif job.updated >= row.job.updated:
                    row.update(job)
                rows[job.id] = row
            for row in old.values():
                row.close()
            self.rows = rows
            children = tuple(rows.values())
            if children != self.table.children:
                self.table.children = children
            self.total = total
            self.page_label.value = f"&nbsp;{html.escape(self.page_text)}&nbsp;"
            self.prev_button.disabled = self.offset <= 0
            self.next_button.disabled = self.offset + self.page_size >= total
            if self.detail.job is not None and self.detail.job_id in rows:
                self.detail.update(rows[self.detail.job_id].job)

    # --- live updates (called from LiveJobs' thread) ------------------------------------------

    def on_job(self, job: Job) -> None:
        self._apply(job)

    def on_deleted(self, job_id: str) -> None:
        self.detail.show_deleted(job_id)
        if job_id in self.rows:
            self._load_page()

    def on_resync(self) -> None:
        self._load_page()

    def _apply(self, job: Job) -> None:
        """One job changed: update its row (and the detail pane) in place.

        A job not on the page that matches the filters is new (or newly matching): page 1 is
        re-queried so it shows at the top. A row that stops matching reloads the page.
        """
        with self._lock:
            if self._closed:
                return
            if self.detail.job_id == job.id:
                self.detail.update(job)
            row = self.rows.get(job.id)
            if row is not None:
                if job.updated < row.job.updated:
                    return  # an older event than what is shown
                row.update(job)
                if not self._matches(job):
                    self._load_page()
                return
            if self.offset == 0 and self._matches(job):
                self._load_page()

    def _matches(self, job: Job) -> bool:
        """Whether ``job`` passes the filters (the server's rules: ``q`` is a substring of the
        name, id, remote id, native status or message, ignoring ASCII case)."""
        filters = self.filters
        if filters["backend"] and job.backend != filters["backend"]:
            return False
        if filters["state"] and job.state.value != filters["state"]:
            return False
        q = filters["q"]
        if q:
            fields = (job.name, job.id, job.remote_id or "", job.native_status, job.message)
            return any(q.lower() in (field or "").lower() for field in fields)
        return True

    def _tick(self) -> None:
        """Keep the elapsed time of running jobs current."""
        with self._lock:
            for row in self.rows.values():
                if row.job.state is JobState.RUNNING:
                    row.update(row.job)

    # --- selection ----------------------------------------------------------------------------

    def select(self, job_id: str | None) -> None:
        """Show the detail pane of ``job_id`` (None hides it)."""
        with self._lock:
            if self.selected in self.rows:
                self.rows[self.selected].set_selected(False)
            self.selected = job_id
            if job_id is None:
                self.detail.hide()
                return
            row = self.rows.get(job_id)
            if row is not None:
                row.set_selected(True)
                job = row.job
            else:
                try:
                    job = self.client.job(job_id)
                except Exception as exc:  # noqa: BLE001 - shown as one line
                    self._show_error(f"cannot show job {job_id[:8]}: {one_line(exc)}")
                    return
            self.detail.show(job)

    # --- errors, text and HTML ------------------------------------------------------------------

    def _show_error(self, error: BaseException | str) -> None:
        value = error_html(error) if error else ""
        if value != self.error.value:
            self.error.value = value

    @property
    def error_text(self) -> str:
        """The error line shown (plain text), ``""`` when all is well."""
        return html.unescape(_strip_tags(self.error.value))

    def _table_rows(self) -> list[tuple[Any, ...]]:
        return [
            (job.id[:8], job.name, job.backend, state_badge(job.state), job.native_status,
             format_duration(elapsed_seconds(job)), job.message)
            for job in (row.job for row in self.rows.values())
        ]

    def _caption(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.filters.items() if v)
        return f"Jobs {self.page_text}" + (f" ({shown})" if shown else "")

    def _repr_html_(self) -> str:
        headers = ("id", "name", "backend", "state", "native status", "elapsed", "message")
        table = html_table(headers, self._table_rows(), caption=self._caption(), css_class="jc-monitor-static")
        error = self.error.value
        return (f"<div>{error}</div>" if error else "") + table

    def __repr__(self) -> str:
        if "page_label" not in self.__dict__:  # not built yet (an error in __init__)
            return "<JobMonitor>"
        headers = ("id", "name", "backend", "state", "native status", "elapsed", "message")
        rows = [(*cells[:3], job.state.value, *cells[4:])
                for cells, job in zip(self._table_rows(), (row.job for row in self.rows.values()))]
        lines = [self._caption(), text_table(headers, rows)]
        if self.error_text:
            lines.insert(0, "error: " + self.error_text)
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = repr(self)
        data["text/html"] = self._repr_html_()
        return data

    # --- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening and following logs; close every widget of the panel."""
        with self._lock:
            self._closed = True
        if self._live is not None:
            self._live.remove_listener(self)
        self.detail.close()
        for row in self.rows.values():
            row.close()
        self.rows = {}
        _close_tree(self, include_self=False)
        super().close()


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


class _Ticker(threading.Thread):
    """Refreshes running rows' elapsed time every few seconds; holds the monitor weakly."""

    def __init__(self, monitor: JobMonitor) -> None:
        super().__init__(daemon=True, name="jupyter-compute-monitor-ticker")
        self._monitor = weakref.ref(monitor)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(_TICK_S):
            monitor = self._monitor()
            if monitor is None or monitor._closed:
                return
            try:
                monitor._tick()
            except Exception:  # cosmetic; never ends in a traceback
                log.debug("jupyter-compute: updating elapsed times failed", exc_info=True)
            del monitor
