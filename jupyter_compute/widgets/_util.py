"""Small helpers shared by the panels: state colours, sizes, durations, static tables, and
the pieces every panel uses (the shared client, the CSS, closing widget trees, guarded threads).

Stable for every module of ``jupyter_compute.widgets`` (importing this module does not import
ipywidgets; ``style_widget`` does, when called):

- ``STATE_COLOURS`` / ``state_colour(state)``: the CSS colour of each :class:`JobState`
  (SUCCEEDED green, FAILED red, CANCELLED grey, TIMED_OUT orange, RUNNING blue, QUEUED amber).
- ``state_badge(state)``: the state as a coloured, bold ``<span>`` (HTML).
- ``ERROR_COLOUR``, ``MUTED``, ``GREEN``: the panels' other colours; ``CSS`` their shared
  styles and ``style_widget()`` an invisible widget carrying them.
- ``format_size(n)``, ``format_duration(s)``, ``format_when(dt)``, ``elapsed_seconds(job)``,
  ``one_line(error)``: from :mod:`jupyter_compute.formatting` (one set for panels and magics).
- ``fmt_number(x, digits)``: a number for a table cell (``—`` when unknown, no trailing ``.0``).
- ``Raw``: marks text as HTML already, so the table helpers do not escape it.
- ``html_table(headers, rows)``: a static ``<table>`` for ``_repr_html_`` (cells escaped unless Raw).
- ``text_table(headers, rows)``: the same as aligned plain text for ``__repr__``.
- ``error_html(error)``: the error's one line in red, for an ``HTML`` widget showing errors.
- ``default_client()`` / ``connect(client)``: the one ``Client()`` of this process that every
  panel made without a client shares (so they share one event stream and its thread).
- ``close_tree(widget, keep)``: close a widget and everything in it; ``set_hidden(widget, bool)``.
- ``start_thread(target, *args, name=..., on_error=...)``: a daemon thread whose failure is
  logged at debug level and handed to ``on_error`` as one line, never printed as a traceback.
"""

from __future__ import annotations

import html
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..formatting import (
    elapsed_seconds,
    format_duration,
    format_size,
    format_when,
    one_line,
    STATE_COLOURS,
    state_colour,
)
from ..models import JobState

if TYPE_CHECKING:
    from ..client import Client

__all__ = [
    "CSS",
    "ERROR_COLOUR",
    "GREEN",
    "MUTED",
    "STATE_COLOURS",
    "Raw",
    "close_tree",
    "connect",
    "default_client",
    "elapsed_seconds",
    "error_html",
    "fmt_number",
    "format_duration",
    "format_size",
    "format_when",
    "html_table",
    "is_closed",
    "one_line",
    "set_hidden",
    "start_thread",
    "state_badge",
    "state_colour",
    "style_widget",
    "text_table",
]

#: Background threads of the panels log here, at debug level. The NullHandler keeps Python's
#: last-resort handler from printing anything of it into whatever notebook cell ran last.
log = logging.getLogger("jupyter_compute.widgets")
log.addHandler(logging.NullHandler())

ERROR_COLOUR = "#c62828"
MUTED = "#666"
GREEN = "#43a047"

#: Styles shared by the panels (an HTML widget may carry a <style>; JupyterLab applies it).
CSS = f"""<style>
.jc-error, .jc-field-error, .jc-form-error {{ color: {ERROR_COLOUR}; }}
.jc-muted {{ color: {MUTED}; font-size: 90%; }}
.jc-code-input textarea, .jc-code textarea {{ font-family: var(--jp-code-font-family, monospace); font-size: 12px; }}
.jc-bar {{ display: inline-block; width: 160px; height: 10px; background: #e0e0e0;
  border-radius: 3px; vertical-align: middle; margin: 0 6px; overflow: hidden; }}
.jc-bar > div {{ height: 100%; background: {GREEN}; }}
.jc-static td, .jc-static th {{ padding: 2px 8px; text-align: left; }}
</style>"""


class Raw(str):
    """Text that is HTML already: ``html_table`` puts it in a cell as it is."""

    __slots__ = ()


def state_badge(state: JobState | str) -> Raw:
    """The state's name in its colour, bold."""
    value = state.value if isinstance(state, JobState) else str(state)
    return Raw(f'<span style="color:{state_colour(value)};font-weight:600">{html.escape(value)}</span>')


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

    # Rows have a cell per header; zip(strict=False) keeps a ragged row from raising in a repr.
    body = [[text(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() for row in body)
    return "\n".join(lines)


def error_html(error: BaseException | str) -> str:
    """One red line for an ``HTML`` widget; ``""`` for an empty message."""
    line = one_line(error)
    if not line:
        return ""
    return f'<span class="jc-error-text" style="color:{ERROR_COLOUR}">{html.escape(line)}</span>'


def fmt_number(value: float | None, digits: int = 1) -> str:
    """A number for a table cell: ``—`` when unknown, no trailing ``.0``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.{digits}f}"


# --- widgets ------------------------------------------------------------------------------------


def style_widget() -> Any:
    """An invisible ``HTML`` widget carrying the panels' CSS."""
    import ipywidgets as W

    return W.HTML(CSS, layout=W.Layout(display="none"))


def close_tree(widget: Any, keep: Iterable[Any] = ()) -> None:
    """Close ``widget`` and every widget in it, except those in ``keep`` (and what is in them)."""
    kept = {id(item) for item in keep}

    def close(item: Any) -> None:
        if id(item) in kept:
            return
        for child in getattr(item, "children", ()) or ():
            close(child)
        item.close()

    close(widget)


def set_hidden(widget: Any, hidden: bool) -> None:
    """Hide a widget (``display: none``) or show it again."""
    widget.layout.display = "none" if hidden else None


# --- the shared client --------------------------------------------------------------------------

_default: Client | None = None
_default_lock = threading.Lock()


def is_closed(client: Client) -> bool:
    """Whether ``client``'s connection pool is closed (it cannot be used any more)."""
    http = getattr(client, "_http", None)
    return bool(getattr(http, "is_closed", False))


def default_client() -> Client:
    """The one ``Client()`` of this process (made on first use; a closed one is replaced).

    Every panel made without a client uses it, so they all share one
    :class:`~jupyter_compute.widgets.live.LiveJobs`: one event stream and one thread.
    Raises :class:`~jupyter_compute.errors.ComputeError` when no server is found.
    """
    global _default
    with _default_lock:
        if _default is None or is_closed(_default):
            from ..client import Client

            _default = Client()
        return _default


def connect(client: Client | None) -> Client:
    """The given client, or the shared :func:`default_client`."""
    return client if client is not None else default_client()


# --- threads ------------------------------------------------------------------------------------


def start_thread(
    target: Callable[..., Any],
    *args: Any,
    name: str,
    on_error: Callable[[str], None] | None = None,
) -> threading.Thread:
    """Run ``target(*args)`` in a daemon thread; nothing it raises reaches a notebook cell.

    A failure is logged at debug level (logger ``jupyter_compute.widgets``) and handed to
    ``on_error`` as one line (to show in the panel); a failing ``on_error`` is only logged.
    """

    def run() -> None:
        try:
            target(*args)
        except Exception as exc:
            log.debug("%s failed", name, exc_info=True)
            if on_error is not None:
                try:
                    on_error(one_line(exc))
                except Exception:
                    log.debug("%s: reporting the failure failed", name, exc_info=True)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
