"""The job timeline: one bar per job from created → started → finished, grouped by backend.

``JobTimeline(client=None, backend=None, limit=500)`` draws the newest ``limit`` jobs with bqplot (a true
ipywidget that renders offline): the waiting part of a bar (created → started) lighter, the running part
(started → finished) in the state's colour; each backend is a band of lanes (a job takes the first lane of
its backend that is free from its creation on, so bars never overlap and the band stays short). It follows
the server's pushed events (:class:`~jupyter_compute.widgets.live.LiveJobs`) like the job monitor.

Updates are made in place: jobs sit in fixed slots of blocks of ``BLOCK`` bars, each block two bqplot
``Lines`` marks (waiting, running), and a change rewrites only the arrays of the blocks it touched. Events
are coalesced (at most one update every ``FLUSH_S``); running bars grow to "now" every ``TICK_S``. The
marks are made again only when the figure needs more blocks, or by :meth:`JobTimeline.redraw`.
"""

from __future__ import annotations

import html
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from typing import TYPE_CHECKING, Any

import bqplot as bq
import ipywidgets as W
import numpy as np

from ..models import JobState
from ._util import STATE_COLOURS, connect, error_html, log, one_line, start_thread, state_colour, text_table
from .live import LiveJobs

if TYPE_CHECKING:
    from ..client import Client, Job

__all__ = ["BLOCK", "FLUSH_S", "TICK_S", "JobTimeline", "TimelineBar"]

#: Bars per block: a change re-sends the arrays of its block only.
BLOCK = 64
#: Events within this many seconds make one update (at most 1 / FLUSH_S updates a second).
FLUSH_S = 0.25
#: Running bars grow to "now" this often.
TICK_S = 2.0
#: The waiting part of a bar is the state's colour mixed with this share of white (light on both themes).
WAIT_TINT = 0.6
_ROW_PX = 14
_MIN_HEIGHT, _MAX_HEIGHT = 150, 560
_MARGIN = {"top": 8, "bottom": 32, "left": 110, "right": 40}
#: The shortest time the x axis spans, and its tick format by span (strftime, as d3 takes it).
_MIN_SPAN = timedelta(seconds=30)
_TICK_FORMATS = ((timedelta(minutes=2), "%H:%M:%S"), (timedelta(days=1), "%H:%M"), (timedelta.max, "%b %d %H:%M"))

CSS = """<style>
.jc-timeline .jc-tl-legend { font-size: var(--jp-ui-font-size1, 13px); color: var(--jp-ui-font-color1); }
.jc-timeline .jc-tl-swatch { display: inline-block; width: 14px; height: 8px; border-radius: 2px;
  margin: 0 4px 0 10px; vertical-align: middle; }
.jc-timeline .bqplot .axis text, .jc-capacity-chart .bqplot .axis text,
.jc-timeline .bqplot .axislabel, .jc-capacity-chart .bqplot .axislabel {
  fill: var(--jp-ui-font-color1) !important; }
.jc-timeline .bqplot .axis path, .jc-timeline .bqplot .axis line,
.jc-capacity-chart .bqplot .axis path, .jc-capacity-chart .bqplot .axis line { stroke: var(--jp-border-color1); }
.jc-timeline .bqplot .plotarea_background, .jc-capacity-chart .bqplot .plotarea_background {
  fill: var(--jp-layout-color0); }
.jc-timeline .bqplot > svg, .jc-capacity-chart .bqplot > svg { background: transparent; }
.jc-timeline .bqplot .tick line { stroke: var(--jp-border-color2); }
.jc-timeline .bqplot path.line { stroke-linecap: square; } /* a job of no length still shows */
</style>"""


def _ms(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "ms")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TimelineBar:
    """What the timeline shows of one job (times in UTC; ``end`` is "now" for a job still going)."""

    job_id: str
    backend: str
    state: str
    row: float
    created: datetime
    started: datetime | None
    end: datetime
    colour: str


class _Lanes:
    """First-fit lanes of one backend: a job takes the first lane free from its creation on."""

    def __init__(self) -> None:
        self.lanes: list[dict[str, tuple[datetime, datetime | None]]] = []

    def place(self, job_id: str, start: datetime, end: datetime | None) -> int:
        for index, lane in enumerate(self.lanes):
            if all(not _overlap(start, end, s, e) for s, e in lane.values()):
                lane[job_id] = (start, end)
                return index
        self.lanes.append({job_id: (start, end)})
        return len(self.lanes) - 1

    def update(self, lane: int, job_id: str, start: datetime, end: datetime | None) -> None:
        self.lanes[lane][job_id] = (start, end)

    def remove(self, lane: int, job_id: str) -> None:
        self.lanes[lane].pop(job_id, None)


def _overlap(a0: datetime, a1: datetime | None, b0: datetime, b1: datetime | None) -> bool:
    """Whether two spans meet (an open end runs on for ever)."""
    return (a1 is None or b0 < a1) and (b1 is None or a0 < b1)


def _end(job: Job) -> datetime | None:
    """Where the bar ends for good, or None while the job goes on."""
    if job.state.is_terminal:
        return job.finished or job.updated
    return None


class JobTimeline(W.VBox):
    """A live timeline of jobs (see the module doc); ``bar(job_id)`` is what a job's bar shows.

    ``live=False`` draws a snapshot without following events; ``flush()`` applies pending changes now.
    ``updates`` counts the updates sent, ``ticks`` the growths of running bars.
    """

    def __init__(self, client: Client | None = None, backend: str | None = None, *, limit: int = 500,
                 live: bool = True, **kwargs: Any) -> None:
        if limit < 1:
            raise ValueError("limit must be 1 or more")
        super().__init__(**kwargs)
        self.add_class("jc-timeline")
        self.backend = backend
        self.limit = limit
        self.updates = 0
        self.ticks = 0
        self.client: Client | None = None
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._slot: dict[str, int] = {}
        self._slots: list[str] = []  # job ids by slot, dense: slot // BLOCK is the block
        self._lane: dict[str, int] = {}
        self._lanes: dict[str, _Lanes] = {}
        self._dirty: set[int] = set()
        self._sent: dict[str, TimelineBar] = {}  # what each bar shows (sent)
        self._layout_dirty = False
        self._closed = False
        self._live: LiveJobs | None = None
        self._pump = _Pump(self)
        self._build()
        try:
            self.client = connect(client)
        except Exception as exc:  # noqa: BLE001 - no server: one red line
            self._error(f"cannot show the timeline: {one_line(exc)}")
            return
        if live:  # listen first, then load (in a thread: the cell showing it does not wait)
            self._live = LiveJobs.for_client(self.client)
            self._live.add_listener(self)
            start_thread(self._load, name="jupyter-compute-timeline-load", on_error=self._error)
        else:
            self._load()
        weakref.finalize(self, self._pump.stop)  # a timeline collected unclosed ends its thread
        self._pump.start()

    # --- the figure -----------------------------------------------------------------------------

    def _build(self) -> None:
        self.x_scale = bq.DateScale()
        self.y_scale = bq.LinearScale(min=-0.5, max=0.5, reverse=True, allow_padding=False)
        self.x_axis = bq.Axis(scale=self.x_scale, grid_lines="none", num_ticks=6)
        self.y_axis = bq.Axis(scale=self.y_scale, orientation="vertical", grid_lines="none",
                              tick_values=np.array([]), tick_labels={})
        self.figure = bq.Figure(
            marks=[], axes=[self.x_axis, self.y_axis], fig_margin=dict(_MARGIN), animation_duration=0,
            padding_y=0.0, background_style={"fill": "none"},
            layout=W.Layout(width="100%", height=f"{_MIN_HEIGHT}px", min_height=f"{_MIN_HEIGHT}px"),
        )
        self.figure.add_class("jc-tl-figure")
        self._tooltip = bq.Tooltip(fields=["name"], labels=["job"])  # a bar's job, on hover
        self._waiting: list[bq.Lines] = []
        self._running: list[bq.Lines] = []
        self.legend = W.HTML(_legend_html())
        self.legend.add_class("jc-tl-legend")
        self.message = W.HTML()
        self.message.add_class("jc-error")
        self.children = [W.HTML(CSS, layout=W.Layout(display="none")), self.legend, self.figure, self.message]

    def _new_block(self) -> None:
        common = {"scales": {"x": self.x_scale, "y": self.y_scale}, "stroke_width": 6.0, "interpolation": "linear",
                  "tooltip": self._tooltip}
        empty_x, empty_y = np.zeros((0, 2), dtype="datetime64[ms]"), np.zeros((0, 2))
        self._waiting.append(bq.Lines(x=empty_x, y=empty_y, colors=[], **common))
        self._running.append(bq.Lines(x=empty_x.copy(), y=empty_y.copy(), colors=[], **common))

    def redraw(self) -> None:
        """Make every mark again from the jobs shown (a full redraw; updates are otherwise in place)."""
        with self._lock:
            old = [*self._waiting, *self._running]
            self._waiting, self._running = [], []
            for _ in range((len(self._slots) + BLOCK - 1) // BLOCK):
                self._new_block()
            self._dirty = set(range(len(self._waiting)))
            self._layout_dirty = True
            self._apply_pending(replace_marks=True)
        for mark in old:
            mark.close()

    # --- jobs -----------------------------------------------------------------------------------

    def _load(self) -> None:
        """Show the newest ``limit`` jobs (on start and after the event stream reconnected)."""
        if self.client is None:
            return
        asked = _now()
        try:
            jobs = self.client.jobs(backend=self.backend, limit=min(self.limit, 1000))
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self._error(f"cannot list the jobs: {one_line(exc)}")
            return
        self._error("")
        with self._lock:
            if self._closed:
                return
            listed = {job.id for job in jobs}
            for job_id in [j for j, job in self._jobs.items() if j not in listed and job.created < asked]:
                self._remove(job_id)  # gone (or older than the newest ``limit``); newer ones came by events
            for job in sorted(jobs, key=lambda j: j.created):
                self._put(job)
        self.flush()

    def _put(self, job: Job) -> None:
        """(Under the lock.) Place or update ``job``'s bar (not sent until the next flush)."""
        old = self._jobs.get(job.id)
        if old is not None and job.updated < old.updated:
            return  # older news than what is shown
        if self.backend is not None and job.backend != self.backend:
            return
        self._jobs[job.id] = job
        if old is None:
            self._place(job)
            self._drop_oldest()
        else:
            self._lanes[job.backend].update(self._lane[job.id], job.id, job.created, _end(job))
        if job.id in self._slot:
            self._dirty.add(self._slot[job.id] // BLOCK)

    def _place(self, job: Job) -> None:
        lanes = self._lanes.get(job.backend)
        if lanes is None:
            lanes = self._lanes[job.backend] = _Lanes()
            self._layout_dirty = True
        before = len(lanes.lanes)
        self._lane[job.id] = lanes.place(job.id, job.created, _end(job))
        self._layout_dirty |= len(lanes.lanes) != before
        self._slot[job.id] = len(self._slots)
        self._slots.append(job.id)

    def _drop_oldest(self) -> None:
        while len(self._jobs) > self.limit:
            self._remove(min(self._jobs.values(), key=lambda j: j.created).id)

    def _remove(self, job_id: str) -> None:
        """(Under the lock.) Forget a job; the last slot's job moves into its slot (slots stay dense)."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        self._lanes[job.backend].remove(self._lane.pop(job_id), job_id)
        self._sent.pop(job_id, None)
        slot, last = self._slot.pop(job_id), self._slots.pop()
        if last != job_id:
            self._slots[slot] = last
            self._slot[last] = slot
        self._dirty |= {slot // BLOCK, len(self._slots) // BLOCK}

    # --- live events (LiveJobs' thread) ---------------------------------------------------------

    def on_job(self, job: Job) -> None:
        self._guarded(self._event, job)

    def on_deleted(self, job_id: str) -> None:
        self._guarded(self._deleted, job_id)

    def on_resync(self) -> None:
        self._guarded(self._load)

    def on_status(self, connected: bool, error: str) -> None:
        self._error("" if connected else f"live updates paused: {error} (retrying)")

    def _event(self, job: Job) -> None:
        with self._lock:
            if not self._closed:
                self._put(job)
        self._pump.wake()

    def _deleted(self, job_id: str) -> None:
        with self._lock:
            self._remove(job_id)
        self._pump.wake()

    def _guarded(self, function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001 - one red line, never a traceback
            log.debug("jupyter-compute: a live update of the timeline failed", exc_info=True)
            self._error(f"a live update failed: {one_line(exc)}")

    # --- sending --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send the pending changes now (the live updates call it at most every ``FLUSH_S``)."""
        with self._lock:
            if not self._closed:
                self._apply_pending()

    def tick(self) -> None:
        """Grow the running bars to "now"."""
        with self._lock:
            if self._closed:
                return
            for job_id, job in self._jobs.items():
                if not job.state.is_terminal:
                    self._dirty.add(self._slot[job_id] // BLOCK)
            self.ticks += 1
            self._apply_pending()

    @property
    def has_running(self) -> bool:
        """Whether a bar is still growing."""
        with self._lock:
            return any(not job.state.is_terminal for job in self._jobs.values())

    def _apply_pending(self, replace_marks: bool = False) -> None:
        """(Under the lock.) Rewrite the dirty blocks' arrays and, when needed, the layout."""
        removed = self._fit_blocks()
        replace_marks = replace_marks or removed is not None
        if not self._dirty and not replace_marks and not self._jobs:
            return
        with self.figure.hold_sync(), self.x_scale.hold_sync(), self.y_scale.hold_sync():
            self._write(replace_marks)
        self.updates += 1
        for mark in removed or ():
            mark.close()

    def _write(self, replace_marks: bool) -> None:
        """(Under the lock.) Write the dirty blocks, then the marks list and layout when they changed."""
        now, offsets = _now(), self._offsets()
        for block in sorted(self._dirty):
            self._write_block(block, now, offsets)
        self._dirty = set()
        if replace_marks:
            self.figure.marks = [m for pair in zip(self._waiting, self._running, strict=True) for m in pair]
        if self._layout_dirty or replace_marks:
            self._write_layout(offsets)
        self._layout_dirty = False
        self._write_domain(now)

    def _fit_blocks(self) -> list[bq.Lines] | None:
        """(Under the lock.) One block of marks per BLOCK jobs; the marks of emptied blocks (to close once
        off the figure), or None when the blocks stayed the same."""
        blocks = (len(self._slots) + BLOCK - 1) // BLOCK
        changed = len(self._waiting) != blocks
        while len(self._waiting) < blocks:
            self._new_block()
        removed: list[bq.Lines] = []
        while len(self._waiting) > blocks:
            removed += [self._waiting.pop(), self._running.pop()]
        self._dirty = set(range(blocks)) if self._layout_dirty else {b for b in self._dirty if b < blocks}
        return removed if changed else None

    def _offsets(self) -> dict[str, int]:
        """The first row of each backend's band (bands in name order, one empty row between)."""
        offsets, row = {}, 0
        for name in sorted(self._lanes):
            offsets[name] = row
            row += max(1, len(self._lanes[name].lanes)) + 1
        return offsets

    def _rows(self) -> int:
        return sum(max(1, len(lanes.lanes)) + 1 for lanes in self._lanes.values()) - 1

    def _write_block(self, block: int, now: datetime, offsets: dict[str, int]) -> None:
        """Write one block's arrays (a job not started yet has a running part of no length)."""
        bars = [self._bar(job_id, now, offsets) for job_id in self._slots[block * BLOCK:(block + 1) * BLOCK]]
        waiting, running, rows = _spans(bars)
        colours = [b.colour for b in bars]
        names = [self._label(b.job_id) for b in bars]
        _set(self._waiting[block], waiting, rows, [tint(c) for c in colours], names)
        _set(self._running[block], running, rows.copy(), colours, names)
        self._sent.update((b.job_id, b) for b in bars)

    def _write_layout(self, offsets: dict[str, int]) -> None:
        rows = max(1, self._rows())
        centres = [offsets[name] + (max(1, len(self._lanes[name].lanes)) - 1) / 2 for name in sorted(offsets)]
        self.y_scale.min, self.y_scale.max = -0.6, rows - 0.4
        self.y_axis.tick_values = np.array(centres, dtype=float)
        self.y_axis.tick_labels = {_tick_key(c): name for c, name in zip(centres, sorted(offsets), strict=True)}
        height = int(min(_MAX_HEIGHT, max(_MIN_HEIGHT, rows * _ROW_PX + _MARGIN["top"] + _MARGIN["bottom"])))
        self.figure.layout.height = f"{height}px"
        plot_px = height - _MARGIN["top"] - _MARGIN["bottom"]
        width = float(max(1.5, min(9.0, 0.65 * plot_px / rows)))
        for mark in (*self._waiting, *self._running):
            if mark.stroke_width != width:
                mark.stroke_width = width

    def _write_domain(self, now: datetime) -> None:
        if not self._jobs:
            return
        first = min(job.created for job in self._jobs.values())
        last = max(self._bar_end(job, now) for job in self._jobs.values())
        span = max(last - first, _MIN_SPAN)
        # naive UTC: bqplot sends a Date as UTC ("...Z")
        self.x_scale.min = (first - span * 0.02).astimezone(UTC).replace(tzinfo=None)
        self.x_scale.max = (first + span * 1.03).astimezone(UTC).replace(tzinfo=None)
        tick_format = next(fmt for limit, fmt in _TICK_FORMATS if span <= limit)
        if self.x_axis.tick_format != tick_format:
            self.x_axis.tick_format = tick_format

    def _label(self, job_id: str) -> str:
        """A bar's tooltip: the job's name and short id (not its state, so a change of state sends no text)."""
        job = self._jobs[job_id]
        return f"{job.name or '(no name)'} · {job.backend} · {job_id[:8]}"

    @staticmethod
    def _bar_end(job: Job, now: datetime) -> datetime:
        end = _end(job)
        return end if end is not None else max(now, job.updated)

    def _bar(self, job_id: str, now: datetime, offsets: dict[str, int]) -> TimelineBar:
        job = self._jobs[job_id]
        started = job.started
        if started is None and job.state is JobState.RUNNING:
            started = job.updated
        return TimelineBar(
            job_id=job.id, backend=job.backend, state=job.state.value,
            row=float(offsets.get(job.backend, 0) + self._lane[job_id]), created=job.created,
            started=started, end=self._bar_end(job, now), colour=state_colour(job.state.value),
        )

    # --- reading --------------------------------------------------------------------------------

    def bar(self, job_id: str) -> TimelineBar | None:
        """What the figure shows of a job (as last sent to it): its row, times and colour."""
        with self._lock:
            return self._sent.get(job_id)

    @property
    def job_ids(self) -> list[str]:
        """The jobs shown, oldest first."""
        with self._lock:
            return [job.id for job in sorted(self._jobs.values(), key=lambda j: j.created)]

    def band(self, backend: str) -> tuple[float, float] | None:
        """The first and last row of a backend's band (None when it has no jobs shown)."""
        with self._lock:
            offsets = self._offsets()
            if backend not in offsets:
                return None
            return float(offsets[backend]), float(offsets[backend] + max(1, len(self._lanes[backend].lanes)) - 1)

    # --- errors, text and HTML ------------------------------------------------------------------

    def _error(self, message: str) -> None:
        value = error_html(message) if message else ""
        if self.message.value != value:
            self.message.value = value

    @property
    def error_text(self) -> str:
        """The error line shown, ``""`` when all is well."""
        return html.unescape(self.message.value.split(">", 1)[-1].rsplit("<", 1)[0]) if self.message.value else ""

    def _snapshot(self) -> list[TimelineBar]:
        with self._lock:
            now, offsets = _now(), self._offsets()
            return [self._bar(job_id, now, offsets) for job_id in self.job_ids]

    def _repr_html_(self) -> str:
        return timeline_svg(self._snapshot()) + self.message.value

    def __repr__(self) -> str:
        bars = self._snapshot()
        where = self.backend or "all backends"
        head = f"<JobTimeline {where}: {len(bars)} jobs>"
        if not bars:
            return head
        rows = [(b.job_id[:8], b.backend, b.state, _clock(b.created), _clock(b.started), _clock(b.end))
                for b in bars[-20:]]
        return head + "\n" + text_table(("id", "backend", "state", "created", "started", "end"), rows)

    # --- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop following events and ticking; close the figure."""
        with self._lock:
            self._closed = True
        self._pump.stop()
        if self._live is not None:
            self._live.remove_listener(self)
        for mark in (*self._waiting, *self._running):
            mark.close()
        for widget in (self.figure, self.x_axis, self.y_axis, self.x_scale, self.y_scale, self._tooltip,
                       *self.children):
            widget.close()
        super().close()


def _spans(bars: list[TimelineBar]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The waiting and running parts' (start, end) times and the bars' rows, as (n, 2) arrays."""
    waiting = np.array([(_ms(b.created), _ms(b.started or b.end)) for b in bars], dtype="datetime64[ms]")
    running = np.array([(_ms(b.started or b.end), _ms(b.end)) for b in bars], dtype="datetime64[ms]")
    rows = np.array([(b.row, b.row) for b in bars], dtype=float)
    return waiting.reshape(-1, 2), running.reshape(-1, 2), rows.reshape(-1, 2)


def _set(mark: bq.Lines, x: np.ndarray, y: np.ndarray, colors: list[str], labels: list[str]) -> None:
    """Assign what changed (an equal array is not sent again), in one message."""
    with mark.hold_sync():
        if list(mark.labels) != labels:
            mark.labels = labels
        if mark.y.shape != y.shape or not np.array_equal(mark.y, y):
            mark.y = y
        if mark.x.shape != x.shape or not np.array_equal(mark.x, x):
            mark.x = x
        if list(mark.colors) != colors:
            mark.colors = colors


def _tick_key(value: float) -> str:
    """A tick value as the browser writes it (``2`` and ``2.5``, as JavaScript prints numbers)."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _clock(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "—"


def tint(colour: str, share: float = WAIT_TINT) -> str:
    """``#rrggbb`` mixed with ``share`` of white: the lighter colour of a bar's waiting part."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)


def _legend_html() -> str:
    parts = ['<span class="jc-tl-legend">']
    for state in ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"):
        parts.append(f'<span class="jc-tl-swatch" style="background:{STATE_COLOURS[state]}"></span>{state.lower()}')
    parts.append(f'<span class="jc-tl-swatch" style="background:{tint(STATE_COLOURS["SUCCEEDED"])}"></span>'
                 "waiting (lighter)</span>")
    return "".join(parts)


def timeline_svg(bars: Iterable[TimelineBar], width: int = 720) -> str:
    """The bars as an inline SVG (the static fallback): one ``<g class="jc-tl-bar">`` per job."""
    bars = list(bars)
    if not bars:
        return '<div class="jc-timeline"><b>Timeline</b> <span class="jc-muted">no jobs</span></div>'
    first = min(b.created for b in bars)
    span = max((max(b.end for b in bars) - first).total_seconds(), 1.0)
    rows = int(max(b.row for b in bars)) + 1

    def x(moment: datetime) -> float:
        return _SVG_LEFT + (moment - first).total_seconds() / span * (width - _SVG_LEFT - 10)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{rows * _SVG_ROW + 24}" '
             f'style="font:11px sans-serif;color:var(--jp-ui-font-color1,#333)">']
    for name in sorted({b.backend for b in bars}):
        row = min(b.row for b in bars if b.backend == name)
        parts.append(f'<text x="4" y="{row * _SVG_ROW + 10}" fill="currentColor">{html.escape(name)}</text>')
    parts.extend(_svg_bar(b, x) for b in bars)
    parts.append(f'<text x="{_SVG_LEFT}" y="{rows * _SVG_ROW + 20}" fill="currentColor">{_clock(first)}</text></svg>')
    return f'<div class="jc-timeline"><b>Timeline</b><br>{"".join(parts)}</div>'


_SVG_LEFT, _SVG_ROW = 110, 12


def _svg_bar(bar: TimelineBar, x: Callable[[datetime], float]) -> str:
    """One job's bar in the static SVG: its waiting part (lighter) and its running part."""
    y, started = bar.row * _SVG_ROW + 2, bar.started or bar.end
    title = html.escape(f"{bar.job_id[:8]} {bar.backend} {bar.state} {_clock(bar.created)} → {_clock(bar.end)}")
    parts = [f'<g class="jc-tl-bar"><title>{title}</title>'
             f'<rect x="{x(bar.created):.1f}" y="{y}" width="{max(1.0, x(started) - x(bar.created)):.1f}" '
             f'height="8" fill="{tint(bar.colour)}"/>']
    if bar.started is not None:
        parts.append(f'<rect x="{x(bar.started):.1f}" y="{y}" width="{max(1.0, x(bar.end) - x(bar.started)):.1f}" '
                     f'height="8" fill="{bar.colour}"/>')
    parts.append("</g>")
    return "".join(parts)


class _Pump:
    """The timeline's thread: coalesces events into one update every ``FLUSH_S`` and ticks running bars.

    It holds the timeline weakly: a timeline that is garbage-collected ends it.
    """

    def __init__(self, timeline: JobTimeline) -> None:
        self._ref = weakref.ref(timeline)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jupyter-compute-timeline", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        last_tick = time.monotonic()
        while not self._stop.is_set():
            timeline = self._ref()
            if timeline is None:
                return
            timeout = TICK_S if timeline.has_running else None  # idle until an event
            del timeline
            woken = self._wake.wait(timeout)
            if self._stop.is_set() or (woken and self._stop.wait(FLUSH_S)):
                return
            self._wake.clear()
            timeline = self._ref()
            if timeline is None:
                return
            due = time.monotonic() - last_tick >= TICK_S
            try:
                if due:
                    last_tick = time.monotonic()
                    timeline.tick()
                else:
                    timeline.flush()
            except Exception as exc:  # noqa: BLE001 - shown as one line
                log.debug("jupyter-compute: updating the timeline failed", exc_info=True)
                timeline._error(f"updating the timeline failed: {one_line(exc)}")
            del timeline
