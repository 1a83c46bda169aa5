"""How jobs are put into words: sizes, durations, times, one-line errors, what a job runs.

One set of helpers for the magics and the panels alike; nothing here imports IPython,
ipywidgets or pandas (only :mod:`jupyter_compute.models`), so any module may use it.

- ``format_size(n)``: ``512 B``, ``1.5 kB``, ``20 MB`` (decimal units); ``""`` when unknown.
- ``format_duration(s)``: ``4.2 s``, ``12 s``, ``3 min 05 s``, ``2 h 07 min``, ``3 d 04 h``.
- ``elapsed_seconds(job)``: how long a job has run (so far, or in all); None before it started.
- ``format_when(dt)``: a timestamp in the local time zone, to the second.
- ``one_line(error)``: an exception (or text) as one short line, never a traceback.
- ``program_text(spec)``: what a job runs, as one short line (``command: echo hi``).
- ``state_line(job)``: the job's state as one line (``job 1a2b3c4d 'greet' on local: SUCCEEDED (1.2 s)``).
- ``STATE_COLOURS`` / ``state_colour(state)``: the CSS colour of each :class:`JobState`.
- ``job_html(job)``: the job as a small HTML table (its ``_repr_html_``), every text escaped.
"""

from __future__ import annotations

import html
from datetime import datetime

from .models import Job, JobSpec, JobState, utcnow

__all__ = [
    "STATE_COLOURS",
    "elapsed_seconds",
    "format_duration",
    "format_size",
    "format_when",
    "job_html",
    "one_line",
    "program_text",
    "state_colour",
    "state_line",
]

#: The colour of each job state (SUCCEEDED green, FAILED red, CANCELLED grey, TIMED_OUT orange,
#: RUNNING blue, QUEUED amber, UNKNOWN light grey).
STATE_COLOURS: dict[str, str] = {
    JobState.SUCCEEDED.value: "#2e7d32",
    JobState.FAILED.value: "#c62828",
    JobState.CANCELLED.value: "#757575",
    JobState.TIMED_OUT.value: "#ef6c00",
    JobState.RUNNING.value: "#1565c0",
    JobState.QUEUED.value: "#f9a825",
    JobState.UNKNOWN.value: "#9e9e9e",
}

#: The longest line ``one_line`` and ``program_text`` give (longer text is cut, with ``…``).
MAX_LINE = 300
#: The spec fields naming a job's program, in the order they are looked at.
PROGRAM_FIELDS = ("command", "script", "notebook", "algorithm", "code")


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


def _cut(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(error: BaseException | str) -> str:
    """An error as one line: its message (and type when the message is empty), cut if long."""
    text = (str(error).strip() or type(error).__name__) if isinstance(error, BaseException) else str(error)
    return _cut(" ".join(text.split()))


def program_text(spec: JobSpec | Job) -> str:
    """What the job runs as one short line: ``command: echo hi``, ``code: import os (+3 lines)``.

    The first of command, script, notebook, algorithm and code that is set; a program of several
    lines shows its first line (as written) and how many more there are. ``""`` when none is set.
    ``spec`` may also be a job (its spec is used).
    """
    if isinstance(spec, Job):
        spec = spec.spec
    for field in PROGRAM_FIELDS:
        value = getattr(spec, field, None)
        if not value:
            continue
        lines = str(value).strip().splitlines() or [""]
        more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
        return f"{field}: {_cut(lines[0].strip(), MAX_LINE - len(field) - len(more) - 2)}{more}"
    return ""


def state_line(job: Job) -> str:
    """``job 1a2b3c4d 'greet' on local: RUNNING (4.2 s)``: short id, name, backend, state, how long it ran.

    A job that ended without succeeding adds its message: ``...: FAILED (1.2 s): exited with code 3``.
    """
    line = f"job {job.id[:8]} {job.name!r} on {job.backend}: {job.state.value}"
    took = elapsed_seconds(job)
    if took is not None:
        line += f" ({format_duration(took)})"
    if job.message and job.is_terminal and job.state is not JobState.SUCCEEDED:
        line += f": {one_line(job.message)}"
    return line


def state_colour(state: JobState | str) -> str:
    """The CSS colour of a job state (grey for anything unknown)."""
    value = state.value if isinstance(state, JobState) else str(state)
    return STATE_COLOURS.get(value.upper(), STATE_COLOURS[JobState.UNKNOWN.value])


def job_html(job: Job) -> str:
    """The job as a small HTML table: id, name, backend, state (a coloured badge), native status,
    times and message. Every text is escaped; a job holds no secret, and none is added here."""
    esc = html.escape
    state = job.state.value
    badge = (
        f'<span style="background:{state_colour(state)};color:#fff;border-radius:3px;padding:1px 6px;'
        f'font-weight:600;font-size:90%">{esc(state)}</span>'
    )
    took = format_duration(elapsed_seconds(job))
    rows = [
        ("id", esc(job.id)),
        ("name", esc(job.name)),
        ("backend", esc(job.backend)),
        ("state", badge),
        ("native status", esc(job.native_status)),
        ("created", esc(format_when(job.created))),
        ("started", esc(format_when(job.started))),
        ("finished", esc(format_when(job.finished))),
        ("elapsed", esc(took)),
        ("message", f'<span style="white-space:pre-wrap">{esc(job.message)}</span>' if job.message else ""),
    ]
    cell = "text-align:left;padding:1px 8px;vertical-align:top"
    body = "".join(
        f'<tr><th style="{cell};font-weight:600">{label}</th><td style="{cell}">{value}</td></tr>'
        for label, value in rows
        if value
    )
    return f'<table class="jc-job" style="border-collapse:collapse">{body}</table>'
