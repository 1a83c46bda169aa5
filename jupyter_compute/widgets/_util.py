"""Small helpers shared by the panels: state colours, sizes, durations, static tables.

Stable for every module of ``jupyter_compute.widgets`` (nothing here imports ipywidgets):

- ``STATE_COLOURS`` / ``state_colour(state)``: the CSS colour of each :class:`JobState`
  (SUCCEEDED green, FAILED red, CANCELLED grey, TIMED_OUT orange, RUNNING blue, QUEUED amber).
- ``state_badge(state)``: the state as a coloured, bold ``<span>`` (HTML).
- ``format_size(n)``: ``1.5 MB``-style byte counts; ``format_duration(s)``: ``2 min 05 s``.
- ``format_when(dt)``: a UTC time as ``2024-01-31 12:00:05`` in the local time zone.
- ``elapsed_seconds(job)``: run time so far (or in all) of a job, from its timestamps.
- ``Raw``: marks text as HTML already, so the table helpers do not escape it.
- ``html_table(headers, rows)``: a static ``<table>`` for ``_repr_html_`` (cells escaped unless Raw).
- ``text_table(headers, rows)``: the same as aligned plain text for ``__repr__``.
- ``one_line(error)``: an exception (or text) as one short line, never a traceback.
- ``error_html(error)``: that line in red, for an ``HTML`` widget showing errors.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..models import Job, JobState, utcnow

__all__ = [
    "STATE_COLOURS",
    "Raw",
    "elapsed_seconds",
    "error_html",
    "format_duration",
    "format_size",
    "format_when",
    "html_table",
    "one_line",
    "state_badge",
    "state_colour",
    "text_table",
]

STATE_COLOURS: dict[str, str] = {
    JobState.SUCCEEDED.value: "#2e7d32",  # green
    JobState.FAILED.value: "#c62828",  # red
    JobState.CANCELLED.value: "#757575",  # grey
    JobState.TIMED_OUT.value: "#ef6c00",  # orange
    JobState.RUNNING.value: "#1565c0",  # blue
    JobState.QUEUED.value: "#f9a825",  # amber
    JobState.UNKNOWN.value: "#9e9e9e",
}

ERROR_COLOUR = "#c62828"
_MAX_LINE = 300


class Raw(str):
    """Text that is HTML already: ``html_table`` puts it in a cell as it is."""

    __slots__ = ()


def _state_value(state: JobState | str) -> str:
    return state.value if isinstance(state, JobState) else str(state)


def state_colour(state: JobState | str) -> str:
    """The CSS colour of a job state (grey for anything unknown)."""
    return STATE_COLOURS.get(_state_value(state).upper(), STATE_COLOURS["UNKNOWN"])


def state_badge(state: JobState | str) -> Raw:
    """The state's name in its colour, bold."""
    value = _state_value(state)
    return Raw(f'<span style="color:{state_colour(value)};font-weight:600">{html.escape(value)}</span>')


def format_size(size: float | None) -> str:
    """Bytes in words: ``512 B``, ``1.5 kB``, ``20 MB`` (decimal units); ``""`` when unknown."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"
        value /= 1000
    return f"{value:.0f} PB"  # pragma: no cover - the loop returns at TB


def format_duration(seconds: float | None) -> str:
    """``4.2 s``, ``12 s``, ``3 min 05 s``, ``2 h 07 min``, ``3 d 04 h``; ``""`` when unknown."""
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def format_when(value: datetime | None) -> str:
    """A timestamp in the local time zone, to the second; ``""`` when there is none."""
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def elapsed_seconds(job: Job) -> float | None:
    """How long the job has run (until now while it runs); None before it started."""
    if job.started is None:
        return None
    end = job.finished or (None if job.is_terminal else utcnow())
    if end is None:
        return None
    return max(0.0, (end - job.started).total_seconds())


def _cell_html(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    return html.escape("" if value is None else str(value))


def html_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | None = None,
    css_class: str = "jc-table",
) -> str:
    """A static HTML table; cells are escaped unless they are :class:`Raw`."""
    parts = [f'<table class="{html.escape(css_class)}" style="border-collapse:collapse">']
    if caption:
        parts.append(f'<caption style="text-align:left">{html.escape(caption)}</caption>')
    cell = 'style="text-align:left;padding:2px 8px;border-bottom:1px solid #ddd"'
    parts.append("<thead><tr>" + "".join(f"<th {cell}>{html.escape(h)}</th>" for h in headers) + "</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td {cell}>{_cell_html(v)}</td>" for v in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 40) -> str:
    """The table as aligned plain text (cells cut to ``max_width`` characters, with ``…``)."""

    def text(value: Any) -> str:
        words = " ".join(("" if value is None else str(value)).split())
        return words if len(words) <= max_width else words[: max_width - 1] + "…"

    body = [[text(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(v)) for w, v in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in body)
    return "\n".join(lines)


def one_line(error: BaseException | str) -> str:
    """An error as one line: its message (and type when the message is empty), cut if long."""
    if isinstance(error, BaseException):
        text = str(error).strip() or type(error).__name__
    else:
        text = str(error)
    words = " ".join(text.split())
    return words if len(words) <= _MAX_LINE else words[: _MAX_LINE - 1] + "…"


def error_html(error: BaseException | str) -> str:
    """One red line for an ``HTML`` widget; ``""`` for an empty message."""
    line = one_line(error)
    if not line:
        return ""
    return f'<span class="jc-error-text" style="color:{ERROR_COLOUR}">{html.escape(line)}</span>'
