"""The job monitor: a live, paged, sortable table of jobs with the detail of one beside it.

``JobMonitor(client=None, backend=None, state=None, page_size=25, sort="-created")`` shows one page
of the jobs the server knows, newest first, and keeps it current from the server's pushed events
(:class:`~jupyter_compute.widgets.live.LiveJobs`): a change of a job rewrites only that job's
row widgets' values; a new job matching the filters appears where it belongs on the page (the
page is queried again, at most once per ``RELOAD_DELAY_S`` however many events come, and only for
a job that can belong on it). Nothing ever needs a refresh button, and no network call or wait
happens on the kernel's main thread except the ones a click asks for (paging, filtering, sorting,
selecting a job that is not shown). Network calls never hold the monitor's lock, so a click never
waits for the event thread's query.

The table (:mod:`~jupyter_compute.widgets.job_table`): name, backend, state badge (the platform's own
status on hover), created, started, duration and message, in fixed-width columns. A header click
sorts by its column (``sort_by``; again to reverse): the server sorts by name, backend, state,
created and started; the duration sorts the page shown (of the newest jobs). Running jobs'
durations move on each second (one ticker thread for all monitors, which rewrites only those
cells); an ended job's duration is frozen at finished - started; a queued one shows ``—``. With no
job to show, the table says what to do next.

Monitors made without a client share one client (:func:`~jupyter_compute.widgets._util.default_client`)
and so one event thread.

Selecting a row (its ``▸`` button; again to close) opens :class:`~jupyter_compute.widgets.detail.JobDetail`
beside the list (which then leaves out its backend, started and message columns): the job's fields,
its log followed while it runs, its results with "Load as DataFrame" buttons, and Cancel / Delete
actions that each ask for a confirming click. Server errors show as one red line (``error_text``),
never a traceback; so do live updates that stopped ("live updates paused: …").

CSS classes for browser tests and styling: ``jc-monitor`` (the whole panel; ``jc-split`` while a
detail is shown), ``jc-filter-bar``, ``jc-filter-backend``, ``jc-filter-state``, ``jc-search``,
``jc-prev``, ``jc-next``, ``jc-page-label``, ``jc-error``, ``jc-jt-body`` (list and detail),
``jc-jt-list``, ``jc-table``, ``jc-jt-empty``; the header's and rows' classes are listed in
:mod:`~jupyter_compute.widgets.job_table`; the detail pane ``jc-detail`` with ``jc-detail-fields``,
``jc-log``, ``jc-results``, ``jc-df-name``, ``jc-load-df``, ``jc-df-output``, ``jc-cancel``,
``jc-delete``, ``jc-confirm``, ``jc-confirm-yes``, ``jc-confirm-no``, ``jc-detail-close``.
"""

from __future__ import annotations

import html
import re
import threading
import weakref
from collections.abc import Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import InvalidSpec
from ..models import JobState
from ..models import utcnow
from ._util import (
    Raw,
    close_tree,
    connect,
    error_html,
    html_table,
    log,
    one_line,
    start_thread,
    text_table,
)
from .detail import JobDetail
from .job_table import (
    DEFAULT_SORT,
    SERVER_SORT_KEYS,
    TABLE_CSS,
    JobRow,
    SortHeader,
    badge_html,
    duration_seconds,
    duration_text,
    empty_html,
    local_time,
    sort_jobs,
    sort_value,
    split_sort,
)
from .live import LiveJobs

if TYPE_CHECKING:
    from ..client import Client, Job, JobPage

__all__ = ["JobDetail", "JobMonitor", "JobRow"]

ALL = ""
#: Events arriving within this many seconds of each other cause one page query.
RELOAD_DELAY_S = 0.2
#: The columns of the monitor's static table (its ``_repr_html_`` and ``repr``).
_TABLE_HEADERS = ("id", "name", "backend", "state", "created", "started", "duration", "message")
#: Running jobs' durations move on this often (seconds).
_TICK_S = 1.0
_SEEN_MAX = 100_000
#: The error line shows the first of these that has a message.
_ERROR_SLOTS = ("page", "backends", "select", "live", "event")


# --- filters ------------------------------------------------------------------------------------


def _state_value(state: str | JobState | None) -> str:
    """The state filter's value for ``state``: its name in capitals, ``ALL`` for none."""
    if isinstance(state, JobState):
        return state.value
    return str(state).upper() if state else ALL


def _checked_state(state: str | JobState | None) -> str:
    """Like :func:`_state_value`, refusing a state that does not exist."""
    value = _state_value(state)
    if value and value not in JobState.__members__:
        allowed = ", ".join(s.value for s in JobState)
        raise InvalidSpec(f"unknown state '{state}' (one of {allowed})", field="state")
    return value


def _checked_sort(sort: str) -> str:
    """``sort`` if the table can sort by it (a column, ``-`` first for descending), else InvalidSpec."""
    key, _descending = split_sort(sort)
    if key not in {*SERVER_SORT_KEYS, "duration"}:
        keys = ", ".join(sorted({*SERVER_SORT_KEYS, "duration"}))
        raise InvalidSpec(f"cannot sort by '{sort}' (one of {keys}, '-' first for descending)", field="sort")
    return sort


def _server_sort(sort: str) -> str:
    """The order the server lists the pages in: ``sort``, or newest first for a column sorted here."""
    return sort if split_sort(sort)[0] in SERVER_SORT_KEYS else DEFAULT_SORT


# --- the monitor --------------------------------------------------------------------------------


class JobMonitor(w.VBox):
    """A live, paged table of jobs with filters and a detail pane (see the module doc).

    ``namespace`` is where "Load as DataFrame" binds variables when IPython is not running
    (tests, scripts); ``live=False`` skips the pushed updates (a static snapshot).
    ``page_queries`` counts the page queries made so far.
    """

    def __init__(
        self,
        client: Client | None = None,
        backend: str | None = None,
        state: str | JobState | None = None,
        page_size: int = 25,
        *,
        q: str | None = None,
        sort: str = DEFAULT_SORT,
        namespace: MutableMapping[str, Any] | None = None,
        live: bool = True,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be 1 or more")
        state_value = _checked_state(state)
        self.sort = _checked_sort(sort)
        self.client: Client | None = None
        self.page_size = page_size
        self.offset = 0
        self.total = 0
        self.rows: dict[str, JobRow] = {}
        self.selected: str | None = None
        self.page_queries = 0
        self._lock = threading.RLock()
        self._closed = False
        self._quiet = False
        self._capabilities: dict[str, dict[str, bool]] = {}
        #: The server's backends by name (None until listed, or when they could not be).
        self._backends: dict[str, dict[str, Any]] | None = None
        self._errors = dict.fromkeys(_ERROR_SLOTS, "")
        self._live: LiveJobs | None = None
        self._load_seq = 0  # page loads started
        self._shown_seq = 0  # the load whose answer is shown (an older answer is dropped)
        self._reload_wanted = False
        self._reloader: threading.Thread | None = None
        self._closing = threading.Event()
        self._seen: set[str] = set()  # ids of jobs known to exist (for new-job detection)

        bar = self._build_controls(state_value, q)
        try:
            self.client = connect(client)
        except Exception as exc:  # noqa: BLE001 - no server: one red line, the controls greyed out
            self._build_unconnected(bar, exc)
            return
        self.detail = JobDetail(
            self.client,
            capabilities=self.capabilities,
            read_only=self.read_only_reason,
            namespace=namespace,
            on_change=self._apply,
            on_deleted=self.on_deleted,
            on_close=lambda: self.select(None),
        )
        super().__init__(self._layout(bar))
        self.add_class("jc-monitor")
        self._start(backend, live)

    def _layout(self, bar: w.HBox) -> list[w.Widget]:
        """The panel's children: styles, filter bar, error line, and the list with the detail beside it."""
        self.list_box = w.VBox([self.header, self.table, self.empty],
                               layout=w.Layout(flex="1 1 520px", min_width="0", overflow_x="auto"))
        self.list_box.add_class("jc-jt-list")
        self.detail.layout.flex = "1 1 320px"
        self.detail.layout.min_width = "320px"
        self.detail.layout.max_height = "80vh"  # scrolls on its own: the list stays in sight beside it
        self.detail.layout.overflow = "auto"
        self.body = w.HBox([self.list_box, self.detail],
                           layout=w.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"))
        self.body.add_class("jc-jt-body")
        style = w.HTML(TABLE_CSS, layout=w.Layout(display="none"))
        return [style, bar, self.error, self.body]

    def _build_controls(self, state_value: str, q: str | None) -> w.HBox:
        """Make the filters, paging buttons, error line, header and table; answer the filter bar."""
        self.backend_filter = w.Dropdown(
            options=[("all", ALL)], value=ALL, description="backend", layout=w.Layout(width="14em")
        ).add_class("jc-filter-backend")
        self.state_filter = w.Dropdown(
            options=[("all", ALL)] + [(s.value, s.value) for s in JobState],
            value=state_value,
            description="state",
            layout=w.Layout(width="16em"),
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
        self.header = SortHeader(self.sort, self.sort_by)
        self.table = w.VBox().add_class("jc-table")
        self.empty = w.HTML(layout=w.Layout(display="none")).add_class("jc-jt-empty-box")
        return w.HBox(
            [self.backend_filter, self.state_filter, self.search, self.prev_button, self.page_label, self.next_button],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        ).add_class("jc-filter-bar")

    def _build_unconnected(self, bar: w.HBox, exc: Exception) -> None:
        """The panel without a server: the reason in one red line, every control greyed out."""
        self.detail = JobDetail(None)
        super().__init__(self._layout(bar))
        self.add_class("jc-monitor")
        self._set_error("page", f"cannot show the jobs: {one_line(exc)}")
        for control in (self.backend_filter, self.state_filter, self.search, self.prev_button, self.next_button):
            control.disabled = True
        self.page_label.value = "&nbsp;0 of 0&nbsp;"
        self._closed = True

    def _start(self, backend: str | None, live: bool) -> None:
        """List the backends, wire the controls, and show the first page (kept current when ``live``)."""
        assert self.client is not None
        self._load_backends(backend)
        for control in (self.backend_filter, self.state_filter, self.search):
            control.observe(self._on_filter, names="value")
        self.prev_button.on_click(lambda _b: self.prev_page())
        self.next_button.on_click(lambda _b: self.next_page())

        if live:  # listen first, then load: nothing falls between the page and the stream
            self._live = LiveJobs.for_client(self.client)
            self._live.add_listener(self)
        self._load_page()
        if live:
            _TICKER.add(self)

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
            if backend:
                self._offer_backend(backend)
            self.backend_filter.value = backend or ALL
            self.state_filter.value = _state_value(state)
            self.search.value = q or ""
        finally:
            self._quiet = False
        with self._lock:
            self.offset = 0
        self._load_page()

    def sort_by(self, column: str) -> None:
        """Sort by ``column`` (what a header click does): a second time reverses the order; a new column
        starts descending for times and the duration, ascending for text. Back to page 1."""
        key, descending = split_sort(self.sort)
        if column == key:
            self.set_sort(column if descending else f"-{column}")
        else:
            self.set_sort(f"-{column}" if column in ("created", "started", "duration") else column)

    def set_sort(self, sort: str) -> None:
        """Sort the table by ``sort`` (``"name"``, ``"-created"``, ...); back to page 1. The server sorts by
        name, backend, state, created and started; the duration sorts the page shown (newest jobs)."""
        with self._lock:
            self.sort = _checked_sort(sort)
            self.offset = 0
        self.header.show_sort(self.sort)
        self._load_page()

    def next_page(self) -> None:
        with self._lock:
            if self.offset + self.page_size >= self.total:
                return
            self.offset += self.page_size
        self._load_page()

    def prev_page(self) -> None:
        with self._lock:
            if self.offset <= 0:
                return
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
        with self._lock:
            self.offset = 0
        self._load_page()

    # --- backends -----------------------------------------------------------------------------

    def capabilities(self, backend: str) -> dict[str, bool]:
        """The capability flags the server reported for ``backend`` (empty when unknown)."""
        return self._capabilities.get(backend, {})

    def read_only_reason(self, backend: str) -> str | None:
        """Why jobs of ``backend`` can only be read here: it is not configured on the server, or cannot
        work. None when they can be acted on, or when the backends could not be listed."""
        if self._backends is None:
            return None
        info = self._backends.get(backend)
        if info is None:
            return f"the backend '{backend}' is not configured on this server"
        if info.get("available") is False:
            return f"the backend '{backend}' is unavailable: {info.get('message') or 'no reason given'}"
        return None

    def _load_backends(self, selected: str | None) -> None:
        """List the server's backends (their capabilities, the filter's options); select ``selected``."""
        backends = self._list_backends()
        self._capabilities = {b["name"]: dict(b.get("capabilities") or {}) for b in backends}
        self.backend_filter.options = [("all", ALL)] + [(name, name) for name in self._capabilities]
        if selected:
            self._offer_backend(selected)
            self.backend_filter.value = selected

    def _list_backends(self) -> list[dict[str, Any]]:
        """The server's backends that have a name (kept by name); none when they cannot be listed."""
        assert self.client is not None
        try:
            backends = [b for b in self.client.backends() if "name" in b]
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self._set_error("backends", f"cannot list the backends: {one_line(exc)}")
            return []
        self._backends = {b["name"]: b for b in backends}
        return backends

    def _offer_backend(self, name: str) -> None:
        """Make ``name`` one of the backend filter's options (it may be one the server did not list)."""
        if name not in [value for _label, value in self.backend_filter.options]:
            self.backend_filter.options = [*self.backend_filter.options, (name, name)]

    # --- loading a page -----------------------------------------------------------------------

    def _load_page(self) -> None:
        """Query the current page and show it, reusing the widgets of rows still on it.

        The query runs without the lock (a click never waits for the event thread's query).
        Its answer is dropped when a newer answer is shown already, or when the question
        changed meanwhile (another page or other filters: that change made its own load).
        """
        with self._lock:
            if self._closed:
                return
            self._load_seq += 1
            seq, filters, asked = self._load_seq, self._question(), self.offset
        offset = asked
        try:
            page = self._query(filters, offset)
            if not page and offset and page.total:  # jobs went away under our feet
                offset = (page.total - 1) // self.page_size * self.page_size
                page = self._query(filters, offset)
        except Exception as exc:  # noqa: BLE001 - shown as one line
            with self._lock:
                if self._answers(seq, filters, asked):
                    self._set_error("page", f"cannot list the jobs: {one_line(exc)}")
            return
        with self._lock:
            if not self._answers(seq, filters, asked):
                return
            self._shown_seq = seq
            self.offset = offset
            self._set_error("page", "")
            self._render_page(page, page.total)

    def _answers(self, seq: int, filters: dict[str, str | None], offset: int) -> bool:
        """(Under the lock.) Whether load ``seq`` (of that page) may still be shown."""
        return (
            not self._closed and seq > self._shown_seq and self.offset == offset and self._question() == filters
        )

    def _question(self) -> dict[str, str | None]:
        """The filters and the sort of the page asked for."""
        return {**self.filters, "sort": self.sort}

    def _query(self, question: dict[str, str | None], offset: int) -> JobPage:
        assert self.client is not None
        self.page_queries += 1
        return self.client.jobs(
            backend=question["backend"], state=question["state"], q=question["q"], limit=self.page_size,
            offset=offset, sort=_server_sort(question["sort"] or DEFAULT_SORT),
        )

    def _render_page(self, jobs: Iterable[Job], total: int) -> None:
        """Show ``jobs`` as the table; rows still on the page keep their widget."""
        if split_sort(self.sort)[0] not in SERVER_SORT_KEYS:
            jobs = sort_jobs(jobs, self.sort)
        with self._lock:
            old = dict(self.rows)
            rows = {job.id: self._row_for(job, old) for job in jobs}
            if len(self._seen) > _SEEN_MAX:
                self._seen.clear()
            self._seen.update(rows)
            children = tuple(rows.values())
            if children != self.table.children:
                self.table.children = children
            self.rows = rows  # after the table: whoever sees a row in rows finds it in the table
            for row in old.values():
                row.close()
            self.total = total
            self._show_empty(not rows)
            self.page_label.value = f"&nbsp;{html.escape(self.page_text)}&nbsp;" if rows else ""
            self.prev_button.disabled = self.offset <= 0
            self.next_button.disabled = self.offset + self.page_size >= total
            shown = self.detail.job_id
            if shown is not None and shown in rows:
                self.detail.update(rows[shown].job)

    def _row_for(self, job: Job, old: dict[str, JobRow]) -> JobRow:
        """(Under the lock.) ``job``'s row: its widget taken out of ``old`` (updated), else a new one."""
        row = old.pop(job.id, None)
        if row is None:
            row = JobRow(job, self._row_clicked, self.read_only_reason)
            row.set_selected(job.id == self.selected)
        elif job.updated >= row.job.updated:
            row.update(job)
        return row

    def _show_empty(self, empty: bool) -> None:
        """(Under the lock.) Say what to do next instead of a bare header when no job is shown."""
        value = empty_html(any(self.filters.values())) if empty else ""
        if value != self.empty.value:
            self.empty.value = value
        self.empty.layout.display = None if empty else "none"
        self.header.layout.display = "none" if empty else None

    def _request_reload(self) -> None:
        """Query the page again soon: all requests within ``RELOAD_DELAY_S`` make one query."""
        with self._lock:
            if self._closed:
                return
            self._reload_wanted = True
            if self._reloader is not None:
                return
            self._reloader = start_thread(
                self._reload_loop, name="jupyter-compute-monitor-reload",
                on_error=lambda line: self._set_error("page", f"cannot list the jobs: {line}"),
            )

    def _reload_loop(self) -> None:
        try:
            while True:
                if self._closing.wait(RELOAD_DELAY_S):
                    return
                with self._lock:
                    if self._closed or not self._reload_wanted:
                        return
                    self._reload_wanted = False
                self._load_page()
        finally:
            with self._lock:
                self._reloader = None
                again = self._reload_wanted and not self._closed
            if again:  # asked for between the last check and now
                self._request_reload()

    # --- live updates (called from LiveJobs' thread) ------------------------------------------

    def on_job(self, job: Job) -> None:
        self._guarded(self._apply, job)

    def on_deleted(self, job_id: str) -> None:
        self._guarded(self._deleted, job_id)

    def on_resync(self) -> None:
        self._guarded(self._load_page)  # on the event thread: no thread per monitor

    def on_status(self, connected: bool, error: str) -> None:
        self._set_error("live", "" if connected else f"live updates paused: {error} (retrying)")

    def _guarded(self, function: Callable[..., None], *args: Any) -> None:
        """Run a live update; a failure shows as the error line (never a traceback)."""
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001
            log.debug("jupyter-compute: a live update of the monitor failed", exc_info=True)
            self._set_error("event", f"a live update failed: {one_line(exc)}")
        else:
            if self._errors["event"]:
                self._set_error("event", "")

    def _deleted(self, job_id: str) -> None:
        self.detail.show_deleted(job_id)
        if job_id in self.rows:
            self._request_reload()

    def _apply(self, job: Job) -> None:
        """One job changed: update its row (and the detail pane) in place.

        An older change than the row shows is ignored. A row that stops matching the filters,
        and a job that is not shown but can belong on the page (see :meth:`_may_belong`), make
        the page be queried again (once for many events, see :meth:`_request_reload`).
        """
        with self._lock:
            if self._closed:
                return
            row = self.rows.get(job.id)
            if row is not None:
                if job.updated < row.job.updated:
                    return  # an older event than what is shown
                moved = self._moves(row.job, job)
                row.update(job)
                reload = moved or not self._matches(job)
            else:
                reload = self._matches(job) and self._may_belong(job)
            if self.detail.job_id == job.id:
                self.detail.update(job)  # (it ignores older news itself)
            self._seen.add(job.id)
        if reload:
            self._request_reload()

    def _moves(self, old: Job, new: Job) -> bool:
        """(Under the lock.) Whether a shown job's change moves it in the server's order (the page is
        then queried again); a job's creation time never changes, the default order never moves."""
        key = split_sort(_server_sort(self.sort))[0]
        return key != "created" and sort_value(old, key) != sort_value(new, key)

    def _may_belong(self, job: Job) -> bool:
        """(Under the lock.) Whether a matching job that is not shown may belong on this page (in the
        server's order): always when the page is not full; else when it does not come after the page's
        last job: on page 1 it is new (or newly matching); on a later page, when it falls within the
        page, or before it and is new (it moves every later page down one)."""
        shown = [row.job for row in self.rows.values()]
        if len(shown) < self.page_size:
            return True
        key, descending = split_sort(_server_sort(self.sort))
        values = [sort_value(j, key) for j in shown]
        value = sort_value(job, key)
        first, last = (max(values), min(values)) if descending else (min(values), max(values))
        if (value < last) if descending else (value > last):
            return False
        if self.offset == 0 or ((value <= first) if descending else (value >= first)):
            return True
        return job.id not in self._seen

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
        """Move the duration of running jobs on (only those rows' duration values; and the detail pane)."""
        now = utcnow()
        with self._lock:
            if self._closed:
                return
            for row in self.rows.values():
                if row.job.state is JobState.RUNNING:
                    row.tick(now)
        self.detail.refresh_elapsed()

    # --- selection ----------------------------------------------------------------------------

    def _row_clicked(self, job_id: str) -> None:
        """A row's select button: show its job beside the list, or hide it when it is shown already."""
        self.select(None if job_id == self.selected else job_id)

    def select(self, job_id: str | None) -> None:
        """Show the detail pane of ``job_id`` beside the list (None hides it, the list takes the width)."""
        self._set_error("select", "")
        with self._lock:
            if self.selected in self.rows:
                self.rows[self.selected].set_selected(False)
            self.selected = job_id
            if job_id is None:
                self.detail.hide()
                self.remove_class("jc-split")
                return
            self.add_class("jc-split")
            row = self.rows.get(job_id)
            if row is not None:
                row.set_selected(True)
                self.detail.show(row.job)
                return
        if self.client is None:
            return
        try:
            job = self.client.job(job_id)  # not shown: ask the server (without the lock)
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self._set_error("select", f"cannot show job {job_id[:8]}: {one_line(exc)}")
            return
        with self._lock:
            if self.selected == job_id and not self._closed:
                self.detail.show(job)

    # --- errors, text and HTML ------------------------------------------------------------------

    def _set_error(self, slot: str, message: str) -> None:
        """Set one kind of error (``page``, ``backends``, ``select``, ``live``, ``event``); the
        line shows the first one set, in that order."""
        with self._lock:
            self._errors[slot] = message
            line = next((self._errors[name] for name in _ERROR_SLOTS if self._errors[name]), "")
            value = error_html(line) if line else ""
            if value != self.error.value:
                self.error.value = value

    @property
    def error_text(self) -> str:
        """The error line shown (plain text), ``""`` when all is well."""
        return html.unescape(_strip_tags(self.error.value))

    def _table_rows(self, state: Callable[[Job], Any]) -> list[tuple[Any, ...]]:
        """The shown jobs as table rows (``_TABLE_HEADERS``); ``state`` makes the state's cell."""
        now = utcnow()
        return [
            (job.id[:8], job.name, job.backend, state(job), local_time(job.created, now),
             local_time(job.started, now), duration_text(duration_seconds(job, now)), job.message)
            for job in (row.job for row in self.rows.values())
        ]

    def _caption(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.filters.items() if v)
        return f"Jobs {self.page_text}" + (f" ({shown})" if shown else "")

    def _repr_html_(self) -> str:
        rows = self._table_rows(lambda job: Raw(badge_html(job.state, job.native_status)))
        table = html_table(_TABLE_HEADERS, rows, caption=self._caption(), css_class="jc-monitor-static")
        if not rows and "empty" in self.__dict__:
            table += empty_html(any(self.filters.values()))
        error = self.error.value
        return (f"<div>{error}</div>" if error else "") + table

    def __repr__(self) -> str:
        if "page_label" not in self.__dict__:  # not built yet (an error in __init__)
            return "<JobMonitor>"
        lines = [self._caption(), text_table(_TABLE_HEADERS, self._table_rows(_state_text))]
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
            self._closing.set()
        _TICKER.discard(self)
        if self._live is not None:
            self._live.remove_listener(self)
        self.detail.close()
        with self._lock:
            rows, self.rows = self.rows, {}
        for row in rows.values():
            row.close()
        for child in self.children:
            close_tree(child)
        super().close()


def _state_text(job: Job) -> str:
    """The state as text, with the platform's own status when it says more: ``FAILED (Error)``."""
    native = job.native_status
    if not native or native.upper() == job.state.value:
        return job.state.value
    return f"{job.state.value} ({native})"


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


class _Ticker:
    """One thread for every monitor: moves running rows' durations on every second (``_TICK_S``).

    Monitors are held weakly; the thread starts with the first monitor and ends as soon as
    the last one is closed (or collected).
    """

    def __init__(self) -> None:
        self._monitors: weakref.WeakSet[JobMonitor] = weakref.WeakSet()
        # Re-entrant: a monitor collected by the garbage collector closes itself (``__del__``) in
        # whichever thread the collection runs, possibly one already holding this lock.
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, monitor: JobMonitor) -> None:
        with self._lock:
            self._monitors.add(monitor)
            if self._thread is not None:
                return
            self._wake.clear()
            thread = self._thread = threading.Thread(target=self._run, name="jupyter-compute-ticker", daemon=True)
        # Started outside the lock: a new thread may collect a monitor, whose close() takes the lock,
        # before start() returns.
        thread.start()

    def discard(self, monitor: JobMonitor) -> None:
        with self._lock:
            self._monitors.discard(monitor)
            if not self._monitors:
                self._wake.set()  # end the thread now

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def _run(self) -> None:
        while True:
            self._wake.wait(_TICK_S)
            with self._lock:
                monitors = list(self._monitors)
                if not monitors:
                    self._thread = None
                    return
                self._wake.clear()
            for monitor in monitors:
                try:
                    monitor._tick()
                except Exception:  # noqa: BLE001 - cosmetic; never a traceback
                    log.debug("jupyter-compute: updating elapsed times failed", exc_info=True)
            del monitors, monitor


_TICKER = _Ticker()
