"""The job table of :class:`~jupyter_compute.widgets.monitor.JobMonitor`: its columns, rows, sortable
header and empty state.

Columns (fixed widths, so rows never move sideways as values change): name (ellipsised, the whole
name and the id on hover), backend, state (a badge: colour, icon and the whole state word; the
platform's own status on hover), created and started (local time of the kernel: ``14:03:12`` today,
``Dec 6 14:03`` this year, ``Dec 6 2025`` before), duration (``m:ss`` / ``h:mm:ss``: how long the job
ran; it moves on each second while the job runs and is frozen at finished - started after; ``—``
while queued: a queued job has not run) and the message.

A row is one widget of four: the select button, the cells up to "started" (one ``HTML``), the
duration (its own ``HTML``, so the monitor's one-second tick rewrites only that value) and the
message. ``TABLE_CSS`` styles them (JupyterLab's theme variables: light and dark). In a split view
(the monitor's ``jc-split`` class, a job's detail beside the list) the backend, started and message
columns are left out.

CSS classes: ``jc-job-row`` (with ``jc-state-<STATE>``, ``jc-selected``), ``jc-row-select``,
``jc-jt-cells``, ``jc-jt-duration``, ``jc-jt-message``, ``jc-state-badge``, ``jc-col-<column>``;
the header ``jc-jt-header`` with a ``jc-sort`` button per sortable column (``jc-sort-<column>``,
``jc-sorted`` on the one sorted by); the empty state ``jc-jt-empty``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import ipywidgets as w

from ..models import JobState, utcnow
from ._util import state_colour

if TYPE_CHECKING:
    from ..client import Job

__all__ = [
    "COLUMNS",
    "DEFAULT_SORT",
    "SERVER_SORT_KEYS",
    "TABLE_CSS",
    "JobRow",
    "SortHeader",
    "badge_html",
    "cells_html",
    "duration_seconds",
    "duration_text",
    "empty_html",
    "local_time",
    "sort_jobs",
]


class Column(NamedTuple):
    key: str
    label: str
    width_px: int  # 0: takes the rest of the row
    sortable: bool


COLUMNS = (
    Column("name", "name", 200, True),
    Column("backend", "backend", 104, True),
    Column("state", "state", 126, True),
    Column("created", "created", 100, True),
    Column("started", "started", 100, True),
    Column("duration", "duration", 96, True),
    Column("message", "message", 0, False),
)
_WIDTH = {c.key: c.width_px for c in COLUMNS}
#: The columns the server sorts by (``GET jobs?sort=``); duration is sorted here, on the page shown.
SERVER_SORT_KEYS = frozenset({"name", "backend", "state", "created", "started"})
DEFAULT_SORT = "-created"
#: Columns left out while a job's detail is shown beside the list.
SPLIT_HIDDEN = ("backend", "started", "message")
_SELECT_PX = 34
_CELL_KEYS = ("name", "backend", "state", "created", "started")

#: The glyph of each state in its badge.
STATE_ICONS = {
    JobState.SUCCEEDED.value: "✓",
    JobState.FAILED.value: "✗",
    JobState.CANCELLED.value: "⊘",
    JobState.TIMED_OUT.value: "◕",  # the clock ran out (glyphs of DejaVu Sans: no emoji font needed)
    JobState.RUNNING.value: "▶",
    JobState.QUEUED.value: "◷",
    JobState.UNKNOWN.value: "?",
}
_BADGE = ("display:inline-block;white-space:nowrap;border-radius:10px;padding:0 8px;line-height:18px;"
          "font-size:11px;font-weight:600;letter-spacing:0.02em;vertical-align:middle")
#: States whose badge colour is light: dark text on them.
_LIGHT_BADGES = frozenset({JobState.QUEUED.value, JobState.UNKNOWN.value})


def _template(keys: Iterable[str]) -> str:
    return " ".join(f"{_WIDTH[k]}px" for k in keys)


def _cells_width(hidden: Iterable[str] = ()) -> int:
    return sum(_WIDTH[k] for k in _CELL_KEYS if k not in hidden)


_SPLIT_CELLS = [k for k in _CELL_KEYS if k not in SPLIT_HIDDEN]
_SPLIT_LIST_PX = _SELECT_PX + _cells_width(SPLIT_HIDDEN) + _WIDTH["duration"]
_HIDE_IN_SPLIT = ", ".join(f".jc-split .jc-col-{k}" for k in SPLIT_HIDDEN)

#: The table's styles (carried by a hidden HTML widget of the monitor).
TABLE_CSS = f"""<style>
.jc-jt-header, .jc-job-row {{ flex-wrap: nowrap; align-items: center; }}
.jc-jt-header {{ border-bottom: 1px solid var(--jp-border-color1); }}
.jc-jt-header > *, .jc-job-row > * {{ margin: 0 !important; flex: none; }}
.jc-jt-header > .jc-jt-spacer, .jc-job-row > .jc-row-select {{ width: {_SELECT_PX}px !important; }}
.jc-job-row > .jc-jt-cells {{ width: {_cells_width()}px !important; }}
.jc-split .jc-job-row > .jc-jt-cells {{ width: {_cells_width(SPLIT_HIDDEN)}px !important; }}
.jc-jt-grid {{ display: grid; grid-template-columns: {_template(_CELL_KEYS)}; align-items: center; }}
.jc-split .jc-jt-grid {{ grid-template-columns: {_template(_SPLIT_CELLS)}; }}
{_HIDE_IN_SPLIT} {{ display: none !important; }}
.jc-split .jc-jt-list {{ flex: 0 0 auto !important; min-width: {_SPLIT_LIST_PX}px; }}
.jc-jt-cell {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding: 0 6px;
  color: var(--jp-ui-font-color1); }}
.jc-jt-muted {{ color: var(--jp-ui-font-color2); font-size: 85%; }}
.jc-job-row > .jc-jt-duration {{ width: {_WIDTH["duration"]}px !important; }}
.jc-jt-duration .jc-jt-cell, .jc-jt-message .jc-jt-cell {{ display: block; }}
.jc-job-row .widget-html-content {{ min-width: 0; }}
.jc-jt-duration .jc-jt-cell {{ font-variant-numeric: tabular-nums; text-align: right; padding-right: 12px; }}
.jc-job-row > .jc-jt-message, .jc-jt-header > .jc-col-message {{ flex: 1 1 0; min-width: 6em; }}
.jc-job-row {{ border-bottom: 1px solid var(--jp-border-color2); }}
.jc-job-row:hover {{ background: var(--jp-layout-color2); }}
.jc-job-row.jc-selected, .jc-job-row.jc-selected:hover {{
  background: color-mix(in srgb, var(--jp-brand-color1) 18%, transparent); }}
button.jc-sort {{ background: transparent; box-shadow: none; text-align: left; padding: 0 6px;
  font-weight: 600; color: var(--jp-ui-font-color1); }}
button.jc-sort:hover {{ background: var(--jp-layout-color2); box-shadow: none; }}
button.jc-sort.jc-sorted {{ color: var(--jp-brand-color1); }}
button.jc-sort-duration {{ text-align: right; padding-right: 12px; }}
.jc-jt-header .jc-col-message {{ font-weight: 600; padding: 0 6px; color: var(--jp-ui-font-color1); }}
.jc-jt-empty {{ padding: 18px 12px; color: var(--jp-ui-font-color1); line-height: 1.6; }}
.jc-jt-empty code {{ background: var(--jp-layout-color2); padding: 1px 4px; border-radius: 3px; white-space: nowrap; }}
.jc-detail .jc-fields td:first-child, .jc-detail .jc-fields th {{ white-space: nowrap; }}
.jc-detail .jc-fields td {{ overflow-wrap: anywhere; }}
.jc-jt-body > .jc-detail > * {{ flex-shrink: 0 !important; }}
</style>"""


# --- text of the cells ------------------------------------------------------------------------------


def local_time(value: datetime | None, now: datetime | None = None) -> str:
    """``value`` in the kernel's local time: ``14:03:12`` today, ``Dec 6 14:03`` this year, else
    ``Dec 6 2025``; ``—`` for none."""
    if value is None:
        return "—"
    local = value.astimezone()
    today = (now or utcnow()).astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M:%S")
    if local.year == today.year:
        return f"{local:%b} {local.day} {local:%H:%M}"
    return f"{local:%b} {local.day} {local.year}"


def full_time(value: datetime | None) -> str:
    """The whole local timestamp (for the hover)."""
    return "" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def duration_seconds(job: Job, now: datetime | None = None) -> float | None:
    """How long the job ran: until ``now`` while it runs, finished - started after; None before it started."""
    if job.started is None:
        return None
    end = job.finished
    if end is None:
        if job.is_terminal:
            return None
        end = now or utcnow()
    return max(0.0, (end - job.started).total_seconds())


def duration_text(seconds: float | None) -> str:
    """``0:07``, ``12:05``, ``2:07:12``, ``3 d 04:05``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes}:{secs:02d}"
    days, hours = divmod(hours, 24)
    if not days:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days} d {hours:02d}:{minutes:02d}"


def badge_html(state: JobState | str, native_status: str = "") -> str:
    """The state as a coloured pill: icon and the whole word; the platform's own status on hover."""
    value = state.value if isinstance(state, JobState) else str(state)
    text = "#212121" if value in _LIGHT_BADGES else "#ffffff"
    hover = f"{value} — the platform says: {native_status}" if native_status else value
    return (
        f'<span class="jc-state-badge" title="{html.escape(hover)}" '
        f'style="{_BADGE};background:{state_colour(value)};color:{text}">'
        f'<span aria-hidden="true">{STATE_ICONS.get(value, "?")}</span>&nbsp;'
        f'<span class="jc-state-word">{html.escape(value)}</span></span>'
    )


def _cell(key: str, inner: str, title: str = "") -> str:
    hover = f' title="{html.escape(title)}"' if title else ""
    return f'<span class="jc-jt-cell jc-col-{key}"{hover}>{inner}</span>'


def cells_html(job: Job, read_only: str | None = None, now: datetime | None = None) -> str:
    """The name, backend, state, created and started cells of ``job``'s row; ``read_only``: why the job can
    only be read (shown beside the backend's name)."""
    name = job.name or "(unnamed)"
    backend = html.escape(job.backend)
    backend_title = job.backend
    if read_only is not None:
        backend = f'<span class="jc-read-only-backend" style="color:var(--jp-warn-color1)">{backend} (read-only)</span>'
        backend_title = f"Read-only: {read_only}"
    return (
        '<div class="jc-jt-grid">'
        + _cell("name", f'{html.escape(name)} <span class="jc-jt-muted">{html.escape(job.id[:8])}</span>',
                f"{name}\nid {job.id}")
        + _cell("backend", backend, backend_title)
        + _cell("state", badge_html(job.state, job.native_status))
        + _cell("created", local_time(job.created, now), full_time(job.created))
        + _cell("started", local_time(job.started, now), full_time(job.started))
        + "</div>"
    )


def duration_html(job: Job, now: datetime | None = None) -> str:
    seconds = duration_seconds(job, now)
    title = "not started" if seconds is None else f"{seconds:.1f} s"
    return _cell("duration", duration_text(seconds), title)


def message_html(job: Job) -> str:
    failed = job.state in (JobState.FAILED, JobState.TIMED_OUT)
    style = f' style="color:{state_colour(job.state)}"' if failed else ""
    message = html.escape(job.message)
    return f'<span class="jc-jt-cell jc-col-message" title="{message}"{style}>{message}</span>'


def empty_html(filtered: bool) -> str:
    """What the table says when it has no row: what to do next."""
    if filtered:
        return (
            '<div class="jc-jt-empty"><b>No job matches these filters.</b><br>'
            "Set backend and state to <i>all</i> and clear the search box to see every job.</div>"
        )
    return (
        '<div class="jc-jt-empty"><b>No jobs yet.</b><br>'
        "Submit one from the <b>Submit</b> tab of <code>jupyter_compute.panel()</code>, or from a cell: "
        "<code>%load_ext jupyter_compute</code> then <code>%submit_job echo hello</code>.<br>"
        "It shows up here as soon as it is submitted, and follows its state live.</div>"
    )


# --- sorting ---------------------------------------------------------------------------------------


def split_sort(sort: str) -> tuple[str, bool]:
    """The column and direction (descending?) of ``sort`` (``"-created"``: created, newest first)."""
    return (sort[1:], True) if sort.startswith("-") else (sort, False)


def sort_value(job: Job, key: str) -> tuple[Any, ...]:
    """``job``'s value for column ``key``, ordered as the server orders it (a missing value first)."""
    if key == "duration":
        value: Any = duration_seconds(job)
    elif key == "state":
        value = job.state.value
    else:
        value = getattr(job, key)
    return (0,) if value is None else (1, value)


def sort_jobs(jobs: Iterable[Job], sort: str) -> list[Job]:
    """``jobs`` in the order ``sort`` (used for the columns the server does not sort by)."""
    key, descending = split_sort(sort)
    return sorted(jobs, key=lambda job: sort_value(job, key), reverse=descending)


# --- widgets ---------------------------------------------------------------------------------------


_shared: dict[str, w.Widget] = {}


def _shared_widget(name: str, make: Callable[[], w.Widget]) -> Any:
    """One layout or style widget for every row (made once; again if it was closed): a row's widgets
    take them instead of making their own, which makes a row several times quicker to build."""
    widget = _shared.get(name)
    if widget is None or getattr(widget, "comm", None) is None:
        widget = _shared[name] = make()
    return widget


def _html(value: str, *classes: str) -> w.HTML:
    """An HTML widget of a row (with the shared layout and style)."""
    return w.HTML(value, layout=_shared_widget("html-layout", w.Layout),
                  style=_shared_widget("html-style", lambda: w.HTML().style), _dom_classes=classes)


class JobRow(w.HBox):
    """One job's row: its select button, cells, duration and message. Changes of the job update it in
    place (only the widgets whose text changed)."""

    def __init__(self, job: Job, on_select: Callable[[str], None],
                 read_only: Callable[[str], str | None] = lambda backend: None) -> None:
        self.job = job
        self._read_only = read_only
        self.select_button = w.Button(
            description="▸", tooltip="Show the job's details, log and results beside",
            layout=_shared_widget("button-layout", lambda: w.Layout(width=f"{_SELECT_PX}px")),
            style=_shared_widget("button-style", w.ButtonStyle), _dom_classes=("jc-row-select",),
        )
        self.cells = _html(cells_html(job, read_only(job.backend)), "jc-jt-cells")
        self.duration = _html(duration_html(job), "jc-jt-duration")
        self.message = _html(message_html(job), "jc-jt-message", "jc-col-message")
        super().__init__([self.select_button, self.cells, self.duration, self.message],
                         layout=_shared_widget("row-layout", w.Layout),
                         _dom_classes=("jc-job-row", f"jc-state-{job.state.value}"))
        self.select_button.on_click(lambda _button: on_select(self.job.id))

    def __repr__(self) -> str:
        return f"<JobRow {self.job.id[:8]} {self.job.name!r} {self.job.state.value}>"

    @property
    def state(self) -> str:
        """The state shown, e.g. ``"RUNNING"``."""
        return self.job.state.value

    def update(self, job: Job) -> bool:
        """Show ``job``'s current fields; True when anything visible changed."""
        old, self.job = self.job, job
        changed = False
        if old.state != job.state:
            self.remove_class(f"jc-state-{old.state.value}")
            self.add_class(f"jc-state-{job.state.value}")
            changed = True
        for widget, value in ((self.cells, cells_html(job, self._read_only(job.backend))),
                              (self.duration, duration_html(job)), (self.message, message_html(job))):
            if value != widget.value:
                widget.value = value
                changed = True
        return changed

    def tick(self, now: datetime) -> None:
        """Move a running job's duration on to ``now`` (only the duration's value changes)."""
        value = duration_html(self.job, now)
        if value != self.duration.value:
            self.duration.value = value

    def set_selected(self, selected: bool) -> None:
        if selected:
            self.add_class("jc-selected")
            self.select_button.button_style = "info"
        else:
            self.remove_class("jc-selected")
            self.select_button.button_style = ""

    def close(self) -> None:
        for child in self.children:
            child.close()
        super().close()


class SortHeader(w.HBox):
    """The table's header: a button per sortable column (a click sorts by it, a second click reverses),
    an arrow on the column sorted by."""

    def __init__(self, sort: str, on_sort: Callable[[str], None]) -> None:
        self.buttons: dict[str, w.Button] = {}
        spacer = w.HTML("").add_class("jc-jt-spacer")
        children: list[w.Widget] = [spacer]
        for column in COLUMNS:
            if not column.sortable:
                children.append(w.HTML(column.label).add_class(f"jc-col-{column.key}"))
                continue
            button = w.Button(layout=w.Layout(width=f"{column.width_px}px"))
            button.add_class("jc-sort").add_class(f"jc-sort-{column.key}").add_class(f"jc-col-{column.key}")
            button.on_click(lambda _b, key=column.key: on_sort(key))
            self.buttons[column.key] = button
            children.append(button)
        super().__init__(children)
        self.add_class("jc-jt-header")
        self.show_sort(sort)

    def show_sort(self, sort: str) -> None:
        """Mark the column sorted by, with ▲ (ascending) or ▼ (descending)."""
        key, descending = split_sort(sort)
        for column, button in self.buttons.items():
            label = next(c.label for c in COLUMNS if c.key == column)
            if column == key:
                button.description = f"{label} {'▼' if descending else '▲'}"
                button.tooltip = f"Sorted by {label}, {'descending' if descending else 'ascending'}: click to reverse"
                button.add_class("jc-sorted")
            else:
                button.description = label
                button.tooltip = f"Sort by {label}"
                button.remove_class("jc-sorted")
