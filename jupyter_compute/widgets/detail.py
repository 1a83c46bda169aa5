"""The detail pane of one job: its fields, its log followed while it runs, its results with
"Load as DataFrame" buttons, and Cancel / Delete actions that each ask for a confirming click.
For a backend with ``has_detail``: the facts its platform tells of the job (a table; nested values
as nested tables, nothing cut) and a button per action the job offers, whose form
(:class:`~jupyter_compute.widgets.actions.ActionBar`) opens under it; an action runs in a background
thread, a refusal shows as the pane's red line (and at the field it names), and the facts and
actions are fetched again after it (and whenever the job's status changes).

:class:`JobDetail` is shown beside the :class:`~jupyter_compute.widgets.monitor.JobMonitor`'s
table (its close button, ``jc-detail-close``, hides it again); it can be used on its own too
(``detail.show(job)``). Each tabular result's "Load as DataFrame" button has the box naming its
variable (``jc-df-name``) beside it. Every network call runs in a
background thread; server errors show as one red line, never a traceback.

The log is followed with :meth:`Client.follow_logs` in a background thread. The pane keeps
only the log's last ``LOG_TAIL_CHARS`` characters (``job.logs()`` returns all of it) and
sends them to the browser at most once a second, as one stream output.

CSS classes for browser tests and styling: ``jc-detail`` with ``jc-detail-fields``, ``jc-log``,
``jc-results``, ``jc-df-name``, ``jc-load-df``, ``jc-df-output``, ``jc-cancel``, ``jc-delete``,
``jc-confirm``, ``jc-confirm-yes``, ``jc-confirm-no``; ``jc-error`` for its error line; ``jc-read-only``
for the note on a job whose backend is not configured on the server (or cannot work); ``jc-facts``
(with its table ``jc-facts-table``), ``jc-actions``, ``jc-action`` and ``jc-action-<name>``,
``jc-action-form``, ``jc-action-run``.
"""

from __future__ import annotations

import html
import keyword
import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .. import results as results_module
from ..errors import ComputeError, NotFound, NotSupported
from ..formatting import program_text
from ..models import JobState
from ._util import (
    Raw,
    close_tree,
    error_html,
    format_size,
    format_when,
    html_table,
    log,
    one_line,
    set_hidden,
    start_thread,
    state_badge,
    state_colour,
)
from .actions import ActionBar
from .facts import actions_html, facts_html
from .job_table import badge_html, duration_seconds, duration_text

if TYPE_CHECKING:
    from ..client import Client, Job

__all__ = ["LOG_TAIL_CHARS", "JobDetail"]

#: How much of a log the pane keeps and shows (its end).
LOG_TAIL_CHARS = 100_000
#: The log view is sent to the browser at most this often (seconds).
LOG_FLUSH_S = 1.0
_LOG_POLL_S = 1.0
_LOG_RETRY_S = 3.0
_LOG_RETRIES = 5
_HEAD_ROWS = 10
_GREY = "#757575"


def _name_box(value: str) -> w.Text:
    """The box naming the variable a "Load as DataFrame" binds (beside its button)."""
    box = w.Text(value=value, description="as", tooltip="The variable the DataFrame is bound to",
                 style={"description_width": "initial"}, layout=w.Layout(width="9em"))
    return box.add_class("jc-df-name")


class LogTail:
    """The end of a log: at most ``limit`` characters, and how many came before them."""

    def __init__(self, limit: int = LOG_TAIL_CHARS) -> None:
        self.limit = limit
        self.text = ""
        self.dropped = 0

    def add(self, text: str) -> None:
        text = self.text + text
        cut = len(text) - self.limit
        if cut > 0:
            self.dropped += cut
            text = text[cut:]
        self.text = text

    @property
    def received(self) -> int:
        """Characters received in all."""
        return self.dropped + len(self.text)


def _unseen(texts: Iterable[str], skip: int) -> Iterator[str]:
    """``texts`` without their first ``skip`` characters (those read already, before a retry)."""
    for text in texts:
        if skip and len(text) <= skip:
            skip -= len(text)
            continue
        yield text[skip:]
        skip = 0


def _read_only_note(backend: str, reason: str) -> str:
    """The note on a job whose backend is not configured (or cannot work): why, and what that means."""
    return (
        f'<span style="color:{_GREY}">Read-only: {html.escape(reason, quote=False)}. The job is shown as '
        "last recorded; it cannot be cancelled, deleted or loaded, and its log and result files cannot be "
        f"fetched, until '{html.escape(backend, quote=False)}' is configured again.</span>"
    )


def _cancel_tooltip(job: Job, can_cancel: bool) -> str:
    if can_cancel:
        return "Stop this job"
    if job.is_terminal:
        return "The job has finished"
    return f"Backend '{job.backend}' cannot cancel jobs"


class JobDetail(w.VBox):
    """Fields, followed log, results and actions of one job (shown beside the monitor's table).

    ``namespace`` is where "Load as DataFrame" binds its variable: the IPython user namespace
    by default (when IPython runs), or any dict given (for tests and scripts). ``on_change``
    gets the job a Cancel answered with; ``on_deleted`` the id of a job deleted here; ``on_close`` is
    called by the pane's close button (without it the button is not shown).
    """

    def __init__(
        self,
        client: Client | None,
        *,
        capabilities: Callable[[str], dict[str, bool]] | None = None,
        read_only: Callable[[str], str | None] | None = None,
        namespace: MutableMapping[str, Any] | None = None,
        on_change: Callable[[Job], None] | None = None,
        on_deleted: Callable[[str], None] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.job: Job | None = None
        self._capabilities = capabilities or (lambda backend: {})
        self._read_only = read_only or (lambda backend: None)
        self._namespace = namespace
        self._on_change = on_change
        self._on_deleted = on_deleted
        self._name_boxes: dict[str, w.Text] = {}  # the variable name box of each tabular result
        self._lock = threading.RLock()
        # Each show()/hide() starts a new generation: a background thread of an older one
        # (log follower, DataFrame load, cancel) writes nothing into the pane.
        self._generation = 0
        self._load_seq = 0
        self._follow_stop = threading.Event()
        self._follow_state = "idle"  # "running", then "complete" or "ended" (gave up)
        self._pending: str | None = None
        self._deleted = False
        self._tail = LogTail()
        self._log_flushed = 0.0
        self._flush_pending = False
        self._shown_results: tuple[tuple[str, int | None, str], ...] | None = None
        self._detail_seq = 0
        self._detail_of: tuple[str, JobState, str] | None = None  # the job status the detail was asked at

        self.title = w.HTML(layout=w.Layout(flex="1 1 auto"))
        self.close_button = w.Button(icon="times", tooltip="Close the job's detail",
                                     layout=w.Layout(width="32px", flex="none"), disabled=on_close is None)
        self.close_button.add_class("jc-detail-close")
        self.fields = w.HTML().add_class("jc-detail-fields")
        self.error = w.HTML().add_class("jc-error")
        self.read_only_note = w.HTML().add_class("jc-read-only")
        self.facts = w.HTML().add_class("jc-facts")
        self.action_bar = ActionBar(self._run_action)
        self.cancel_button = w.Button(description="Cancel", icon="stop").add_class("jc-cancel")
        self.delete_button = w.Button(description="Delete", icon="trash").add_class("jc-delete")
        self.confirm_label = w.HTML()
        self.confirm_yes = w.Button(description="Yes", button_style="danger").add_class("jc-confirm-yes")
        self.confirm_no = w.Button(description="No").add_class("jc-confirm-no")
        self.confirm = w.HBox([self.confirm_label, self.confirm_yes, self.confirm_no]).add_class("jc-confirm")
        set_hidden(self.confirm, True)
        self.df_name = _name_box("df")
        self.results_box = w.VBox().add_class("jc-results")
        self.df_status = w.HTML()
        self.df_output = w.Output().add_class("jc-df-output")
        self.log_view = w.Output(layout=w.Layout(max_height="24em", overflow="auto",
                                                 border="1px solid var(--jp-border-color2)"))
        self.log_view.add_class("jc-log")
        self.log_status = w.HTML()
        actions = w.HBox([self.cancel_button, self.delete_button, self.confirm])
        super().__init__(
            [
                w.HBox([self.title, self.close_button], layout=w.Layout(align_items="center")),
                self.fields,
                self.facts,
                self.read_only_note,
                actions,
                self.action_bar,
                self.error,
                w.HTML("<b>Results</b>"),
                self.results_box,
                self.df_status,
                self.df_output,
                w.HTML("<b>Log</b>"),
                self.log_status,
                self.log_view,
            ],
            layout=w.Layout(border="1px solid var(--jp-border-color1)", padding="4px 8px", margin="0 0 0 8px",
                            overflow="hidden"),
        )
        self.add_class("jc-detail")
        if on_close is not None:
            self.close_button.on_click(lambda _b: on_close())
        else:
            set_hidden(self.close_button, True)
        self.cancel_button.on_click(lambda _b: self._ask("cancel"))
        self.delete_button.on_click(lambda _b: self._ask("delete"))
        self.confirm_yes.on_click(lambda _b: self._confirmed())
        self.confirm_no.on_click(lambda _b: self._ask(None))
        set_hidden(self, True)

    def __repr__(self) -> str:
        job = self.job
        return f"<JobDetail {job.id[:8]} {job.state.value}>" if job is not None else "<JobDetail (none shown)>"

    @property
    def job_id(self) -> str | None:
        job = self.job
        return job.id if job is not None else None

    @property
    def log_text(self) -> str:
        """The end of the log received so far (at most ``LOG_TAIL_CHARS`` characters)."""
        return self._tail.text

    # --- showing a job ------------------------------------------------------------------------

    def show(self, job: Job) -> None:
        """Show ``job`` (replacing any other) and follow its log in the background."""
        with self._lock:
            self._generation += 1
            self.job = job
            self._deleted = False
            self._shown_results = None
            self.df_output.outputs = ()
            self.df_status.value = ""
            self.error.value = ""
            self.facts.value = ""
            self._detail_of = None
            self.action_bar.show([])
            self._ask(None)
            self._render(job)
            set_hidden(self, False)
            self._start_following(job)

    def update(self, job: Job) -> None:
        """The shown job changed (from the server's events); older news than shown is ignored."""
        with self._lock:
            current = self.job
            if current is None or job.id != current.id or self._deleted:
                return
            if job.updated < current.updated:
                return  # e.g. a cancel reply that arrives after a newer pushed event
            self.job = job
            self._render(job)
            if job.state != current.state and self._follow_state == "ended":
                self._start_following(job)  # it gave up (no log yet, say): try again

    def refresh_elapsed(self) -> None:
        """Rewrite the fields of a running job (its elapsed time moves on)."""
        with self._lock:
            job = self.job
            if job is not None and job.state is JobState.RUNNING and not self._deleted:
                self._render(job, results=False)

    def hide(self) -> None:
        with self._lock:
            self._generation += 1
            self._follow_stop.set()
            self._follow_state = "idle"
            self.job = None
            set_hidden(self, True)

    def show_deleted(self, job_id: str) -> None:
        """The shown job was deleted (here or elsewhere)."""
        with self._lock:
            if self.job is None or self.job.id != job_id or self._deleted:
                return
            self._deleted = True
            self._follow_stop.set()
            self._ask(None)
            self.title.value = self.title.value + f' <span style="color:{_GREY}">(deleted)</span>'
            self.cancel_button.disabled = self.delete_button.disabled = True
            self.action_bar.disable("The job was deleted")
            for button in self.load_buttons.values():
                button.disabled = True

    def _render(self, job: Job, *, results: bool = True) -> None:
        name = html.escape(job.name or "(unnamed)")
        title = f"<b>{name}</b> {badge_html(job.state, job.native_status)}"
        if title != self.title.value:
            self.title.value = title
        failed = job.state in (JobState.FAILED, JobState.TIMED_OUT)
        rows: list[tuple[str, Any]] = [
            ("id", job.id),
            ("backend", job.backend),
            ("remote id", job.remote_id or ""),
            ("state", state_badge(job.state)),
            ("native status", job.native_status),
            ("message", Raw(f'<span style="color:{state_colour(job.state)}">{html.escape(job.message)}</span>')
             if failed else job.message),
            ("created", format_when(job.created)),
            ("started", format_when(job.started)),
            ("finished", format_when(job.finished)),
            ("duration", duration_text(duration_seconds(job))),
            ("tags", ", ".join(job.tags)),
        ]
        program = program_text(job.spec)
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

    def read_only_reason(self, job: Job) -> str | None:
        """Why ``job`` can only be read here (its backend is not configured, or cannot work); None if not."""
        return self._read_only(job.backend)

    def _update_actions(self, job: Job) -> None:
        """Show the read-only note (if any), and which of Cancel, Delete and the job's own actions can be
        clicked, and why; fetch the facts and actions again when the job's status moved."""
        if (job.id, job.state, job.native_status) != self._detail_of:
            self._load_detail(job)
        reason = self.read_only_reason(job)
        note = "" if reason is None else _read_only_note(job.backend, reason)
        if note != self.read_only_note.value:
            self.read_only_note.value = note
        if reason is not None:
            for button in (self.cancel_button, self.delete_button):
                button.disabled = True
                button.tooltip = f"Read-only: {reason}"
            self._ask(None)
            self.action_bar.disable(f"Read-only: {reason}")
            return
        self._update_buttons(job)
        self.action_bar.disable("The job was deleted" if self._deleted else None)

    def _update_buttons(self, job: Job) -> None:
        """Enable Cancel and Delete as the backend's capabilities and the job's state allow."""
        caps = self._capabilities(job.backend)
        allowed = {
            "cancel": bool(caps.get("can_cancel")) and not job.is_terminal and not self._deleted,
            "delete": bool(caps.get("can_delete")) and not self._deleted,
        }
        self.cancel_button.disabled = not allowed["cancel"]
        self.cancel_button.tooltip = _cancel_tooltip(job, allowed["cancel"])
        self.delete_button.disabled = not allowed["delete"]
        self.delete_button.tooltip = (
            "Forget this job" if allowed["delete"] else f"Backend '{job.backend}' cannot delete jobs"
        )
        if self._pending is not None and not allowed[self._pending]:
            self._ask(None)  # the confirmation asked for no longer applies

    def _render_results(self, job: Job) -> None:
        shown = tuple((r.name, r.size, r.kind) for r in job.results)
        if shown == self._shown_results:
            return  # same names, sizes and kinds: keep the widgets (and a click in progress)
        self._shown_results = shown
        old = self.results_box.children
        rows: list[w.Widget] = []
        old_boxes, self._name_boxes = self._name_boxes, {}
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
                reason = self.read_only_reason(job)
                if reason is not None:
                    button.disabled, button.tooltip = True, f"Read-only: {reason}"

                button.on_click(lambda _b, name=result.name: self.load_dataframe(name, wait=False))
                box = self._name_box_for(result.name, old_boxes)
                # one box: the name and its button never wrap apart
                parts.append(w.HBox([box, button], layout=w.Layout(align_items="center", flex="none")))
            rows.append(w.HBox(parts, layout=w.Layout(align_items="center", flex_flow="row wrap")))
        if not rows:
            rows.append(w.HTML(f'<span style="color:{_GREY}">no results yet</span>'))
        self.results_box.children = rows
        for box in old:
            close_tree(box, keep=[self.df_name, *self._name_boxes.values()])

    def _name_box_for(self, result: str, old: dict[str, w.Text]) -> w.Text:
        """The variable name box beside ``result``'s button: ``df_name`` for the first tabular result,
        its own box (``df2``, ``df3``, ...) for the others."""
        if not self._name_boxes:
            box = self.df_name
        else:
            box = old.get(result) if old.get(result) is not self.df_name else None
            box = box or _name_box(f"df{len(self._name_boxes) + 1}")
        self._name_boxes[result] = box
        return box

    @property
    def load_buttons(self) -> dict[str, w.Button]:
        """The "Load as DataFrame" buttons by result name."""
        found = {}
        # Without results the box holds one "no results yet" line: zip stops at the shorter.
        for box, result in zip(self.results_box.children, self.job.results if self.job else [], strict=False):
            for child in getattr(box, "children", ()):
                for widget in getattr(child, "children", ()):
                    if isinstance(widget, w.Button):
                        found[result.name] = widget
        return found

    # --- the log ------------------------------------------------------------------------------

    def _start_following(self, job: Job) -> None:
        """(Under the lock.) Follow ``job``'s log from its start in a new thread."""
        self._follow_stop.set()
        self._follow_stop = stop = threading.Event()
        self._follow_state = "running"
        self._tail = LogTail()
        self._log_flushed = 0.0
        self.log_view.outputs = ()
        self.log_status.value = ""
        reason = self.read_only_reason(job)
        if reason is not None:
            self._follow_state = "complete"
            self.log_status.value = (f'<span style="color:{_GREY}">the log is kept by {html.escape(job.backend)}, '
                                     f"and {html.escape(reason, quote=False)}</span>")
            return
        if self.client is None:
            self._follow_state = "ended"
            return
        generation = self._generation
        start_thread(
            self._follow, generation, job.id, stop, name="jupyter-compute-log",
            on_error=lambda line: self._log_ended(generation, stop, "cannot follow the log: " + line,
                                                  complete=False, error=True),
        )

    def _follow(self, generation: int, job_id: str, stop: threading.Event) -> None:
        """Follow the log; a read error is retried a few times (going on where it was)."""
        assert self.client is not None
        received = 0
        failures = 0
        while not stop.is_set():
            try:
                # A retry reads from the start again: skip what came already.
                for text in _unseen(self.client.follow_logs(job_id, poll=_LOG_POLL_S, stop=stop), received):
                    received += len(text)
                    failures = 0
                    self._log_arrived(generation, stop, text)
            except (NotFound, NotSupported) as exc:
                self._log_ended(generation, stop, one_line(exc), complete=False)
                return
            except Exception as exc:  # noqa: BLE001 - shown as one line, then retried
                failures += 1
                if self._gives_up_reading(generation, stop, exc, failures):
                    return
            else:
                if not stop.is_set():
                    self._log_ended(generation, stop, "", complete=True)
                return

    def _gives_up_reading(self, generation: int, stop: threading.Event, exc: Exception, failures: int) -> bool:
        """A read of the log failed (the ``failures``-th in a row): say so; True when not to retry
        (too many failures, or stopped while pausing before the retry)."""
        message = "cannot read the log: " + one_line(exc)
        if failures >= _LOG_RETRIES:
            self._log_ended(generation, stop, message, complete=False, error=True)
            return True
        self._log_note(generation, stop, message + " (trying again)", error=True)
        return stop.wait(_LOG_RETRY_S)

    def _current_log(self, generation: int, stop: threading.Event) -> bool:
        return generation == self._generation and not stop.is_set()

    def _log_arrived(self, generation: int, stop: threading.Event, text: str) -> None:
        with self._lock:
            if not self._current_log(generation, stop):
                return
            self._tail.add(text)
            if self.log_status.value and self._follow_state == "running":
                self.log_status.value = ""
            wait = self._log_flushed + LOG_FLUSH_S - time.monotonic()
            if wait <= 0:
                self._flush_log_locked()
            elif not self._flush_pending:
                self._flush_pending = True
                timer = threading.Timer(wait, self._flush_log, args=(generation,))
                timer.daemon = True
                timer.name = "jupyter-compute-log-flush"
                timer.start()

    def _flush_log(self, generation: int) -> None:
        try:
            with self._lock:
                self._flush_pending = False
                if generation == self._generation:
                    self._flush_log_locked()
        except Exception:  # noqa: BLE001 - cosmetic; the next flush tries again
            log.debug("jupyter-compute: showing the log failed", exc_info=True)

    def _flush_log_locked(self) -> None:
        """Send the log's tail to the browser (one stream output, plus a note when cut)."""
        self._log_flushed = time.monotonic()
        tail = self._tail
        outputs: tuple[dict[str, Any], ...] = ()
        if tail.dropped:
            note = f"[{tail.dropped:,} earlier characters not shown here; job.logs() returns the whole log]\n"
            outputs += ({"output_type": "stream", "name": "stderr", "text": note},)
        if tail.text:
            outputs += ({"output_type": "stream", "name": "stdout", "text": tail.text},)
        if outputs != self.log_view.outputs:
            self.log_view.outputs = outputs

    def _log_note(self, generation: int, stop: threading.Event, text: str, *, error: bool = False) -> None:
        with self._lock:
            if not self._current_log(generation, stop):
                return
            if error:
                self.log_status.value = error_html(text)
            else:
                self.log_status.value = f'<span style="color:{_GREY}">{html.escape(text)}</span>' if text else ""

    def _log_ended(
        self, generation: int, stop: threading.Event, text: str, *, complete: bool, error: bool = False
    ) -> None:
        """The follower stopped: show all that came, and why it stopped (unless complete)."""
        with self._lock:
            if not self._current_log(generation, stop):
                return
            self._follow_state = "complete" if complete else "ended"
            self._flush_log_locked()
            if not text and not self._tail.received:
                text = "the log is empty"
        self._log_note(generation, stop, text, error=error)

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
        Only the last load asked for in the pane finishes: switching the job or clicking
        again makes an earlier one drop its frame.
        """
        with self._lock:
            job = self.job
            if job is None or self.client is None:
                return
            variable = self._name_boxes.get(name, self.df_name).value.strip()
            if not variable.isidentifier() or keyword.iskeyword(variable):
                self.df_status.value = error_html(f"'{variable}' is not a valid Python variable name")
                return
            self._load_seq += 1
            token = (self._generation, self._load_seq)
            self.df_status.value = f'<span style="color:{_GREY}">loading {html.escape(name)} …</span>'
        thread = start_thread(
            self._load, job.id, name, variable, token, name="jupyter-compute-load",
            on_error=lambda line: self._load_failed(token, name, line),
        )
        if wait:
            thread.join()

    def _load_current(self, token: tuple[int, int]) -> bool:
        return token == (self._generation, self._load_seq)

    def _load_failed(self, token: tuple[int, int], name: str, line: str) -> None:
        with self._lock:
            if self._load_current(token):
                self.df_status.value = error_html(f"cannot load {name}: {line}")

    def _load(self, job_id: str, name: str, variable: str, token: tuple[int, int]) -> None:
        assert self.client is not None
        frame = self.client.to_pandas(job_id, name)  # a failure goes to _load_failed
        with self._lock:
            if not self._load_current(token):
                return  # another job is shown now, or a newer load was asked for
            namespace = self.namespace()
            rows, columns = frame.shape
            shape = f"{rows:,} rows × {columns:,} columns"
            if namespace is not None:
                namespace[variable] = frame
                status = f"<code>{html.escape(variable)}</code> = {html.escape(name)} ({shape})"
            else:
                status = f"{html.escape(name)} ({shape}); not bound to a variable: no IPython session"
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

    # --- facts and actions --------------------------------------------------------------------

    def _load_detail(self, job: Job) -> None:
        """(Under the lock.) Fetch the job's facts and actions in a new thread, for a backend that has them."""
        self._detail_of = (job.id, job.state, job.native_status)
        self._detail_seq += 1
        if (self.client is None or self._deleted or self.read_only_reason(job) is not None
                or not self._capabilities(job.backend).get("has_detail")):
            self.facts.value = ""
            self.action_bar.show([])
            return
        token = (self._generation, self._detail_seq)
        start_thread(self._fetch_detail, job.id, token, name="jupyter-compute-detail",
                     on_error=lambda line: self._detail_failed(token, line))  # fmt: skip

    def _detail_current(self, token: tuple[int, int]) -> bool:
        return token == (self._generation, self._detail_seq) and not self._deleted

    def _fetch_detail(self, job_id: str, token: tuple[int, int]) -> None:
        assert self.client is not None
        detail = self.client.job_detail(job_id)  # a failure goes to _detail_failed
        with self._lock:
            if not self._detail_current(token):
                return  # another job is shown now, or its status moved on (a newer fetch is on its way)
            shown = facts_html(detail["facts"])
            if shown != self.facts.value:
                self.facts.value = shown
            self.action_bar.show(detail["actions"], disabled="The job was deleted" if self._deleted else None)

    def _detail_failed(self, token: tuple[int, int], line: str) -> None:
        with self._lock:
            if self._detail_current(token):
                self.facts.value = error_html(f"cannot read what the platform says of this job: {line}")

    def refresh_detail(self) -> None:
        """Fetch the shown job's facts and actions again (in the background)."""
        with self._lock:
            if self.job is not None:
                self._load_detail(self.job)

    def _run_action(self, name: str, values: dict[str, Any]) -> None:
        """Run action ``name`` (the action bar checked ``values``) on the shown job, in a new thread."""
        with self._lock:
            job, generation = self.job, self._generation
            if job is None or self.client is None:
                return
            self.error.value = ""
            what = f'"{self.action_bar.actions.get(name, {}).get("label") or name}" on job {job.id[:8]}'
        start_thread(self._act_with, name, values, job, generation, what, name=f"jupyter-compute-action-{name}")

    def _act_with(self, name: str, values: dict[str, Any], job: Job, generation: int, what: str) -> None:
        """Ask the server to run the action; then show its answer and fetch facts and actions again."""
        assert self.client is not None
        try:
            changed = self.client.act(job.id, name, **values)
        except Exception as exc:  # noqa: BLE001 - shown as the pane's red line, never a traceback
            with self._lock:
                if generation == self._generation:
                    self.error.value = error_html(f"cannot run {what}: {one_line(exc)}")
                    self.action_bar.finished(name, exc if isinstance(exc, ComputeError) else ComputeError(str(exc)))
            return
        with self._lock:
            if generation == self._generation:
                self.action_bar.finished(name)
        if self._on_change is not None:
            self._on_change(changed)
        else:
            self.update(changed)
        with self._lock:
            if generation == self._generation and self.job is not None:
                self._load_detail(self.job)

    # --- cancel and delete --------------------------------------------------------------------

    def _ask(self, action: str | None) -> None:
        """Show the confirmation for ``action`` ("cancel"/"delete"), or hide it (None)."""
        self._pending = action
        if action is None:
            set_hidden(self.confirm, True)
            return
        what = "cancel" if action == "cancel" else "delete"
        self.confirm_label.value = f"<b>Confirm {what}?</b>&nbsp;"
        set_hidden(self.confirm, False)

    def _confirmed(self) -> None:
        with self._lock:
            action, job, generation = self._pending, self.job, self._generation
            self._ask(None)
            if action is None or job is None or self.client is None:
                return
            self.error.value = ""

        def failed(line: str) -> None:
            with self._lock:
                if generation == self._generation:
                    self.error.value = error_html(f"cannot {action} job {job.id[:8]}: {line}")

        start_thread(self._act, action, job, name=f"jupyter-compute-{action}", on_error=failed)

    def _act(self, action: str, job: Job) -> None:
        assert self.client is not None
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

    # --- static fallback ------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        """The pane as static HTML (where widgets are not rendered): title, fields, facts, actions, error."""
        if self.job is None:
            return '<div class="jc-detail">(no job shown)</div>'
        actions = actions_html(list(self.action_bar.actions.values()))
        return (f'<div class="jc-detail">{self.title.value}{self.fields.value}{self.facts.value}{actions}'
                f"{self.error.value}</div>")  # fmt: skip

    def close(self) -> None:
        """Stop following the log; close the pane and its widgets."""
        with self._lock:
            self._generation += 1
            self._follow_stop.set()
        for child in self.children:
            close_tree(child)
        self.df_name.close()  # not in the tree while no result is tabular
        super().close()
