"""A bytes-read progress bar for large result downloads.

As Jupyter users expect: ``tqdm.auto`` when tqdm is installed (a widget in a notebook, a text
bar in a terminal); without it, an ipywidgets bar in a kernel and a carriage-return line on a
terminal's stderr. ``progress=None`` shows one only for results of at least :data:`THRESHOLD`
bytes, and only where someone is looking (a kernel, or stderr on a terminal), so scripts whose
output goes to a file or a pipe stay quiet; ``True`` always shows one, ``False`` never.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

#: The smallest result that gets a bar by default (bytes).
THRESHOLD = 32 * 1024 * 1024
#: The least time between two redraws of the fallback bars (seconds).
_REDRAW_S = 0.2

Update = Callable[[int], None]


@contextlib.contextmanager
def byte_progress(name: str, total: int | None, enabled: bool | None = None) -> Iterator[Update]:
    """A function to call with each number of bytes read; the bar closes as the block ends."""
    if not _wanted(total, enabled):
        yield _ignore
        return
    with _bar(name, total) as update:
        yield update


def _ignore(count: int) -> None:
    return None


def _wanted(total: int | None, enabled: bool | None) -> bool:
    if enabled is not None:
        return enabled
    on_terminal = sys.stderr is not None and sys.stderr.isatty()
    return total is not None and total >= THRESHOLD and (_in_kernel() or on_terminal)


def _bar(name: str, total: int | None) -> contextlib.AbstractContextManager[Update]:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _widget_bar(name, total) if _in_kernel() else _text_bar(name, total)
    return _tqdm_bar(tqdm, name, total)


@contextlib.contextmanager
def _tqdm_bar(tqdm: Any, name: str, total: int | None) -> Iterator[Update]:
    with tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024) as bar:
        yield bar.update


class _Throttled:
    """An :data:`Update` that counts the bytes read and calls ``show(done)`` at most every :data:`_REDRAW_S`."""

    def __init__(self, show: Update) -> None:
        self.done = 0
        self._show = show
        self._shown = 0.0

    def __call__(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._shown >= _REDRAW_S:
            self._shown = now
            self._show(self.done)


@contextlib.contextmanager
def _widget_bar(name: str, total: int | None) -> Iterator[Update]:
    import ipywidgets
    from IPython.display import display

    bar = ipywidgets.IntProgress(value=0, min=0, max=max(total or 0, 1), description="reading")
    label = ipywidgets.Label(_caption(name, 0, total))
    display(ipywidgets.HBox([bar, label]))

    def show(done: int) -> None:
        bar.value = min(done, bar.max)
        label.value = _caption(name, done, total)

    update = _Throttled(show)
    try:
        yield update
    finally:
        show(update.done)
        bar.bar_style = "success" if total is None or update.done >= total else ""


@contextlib.contextmanager
def _text_bar(name: str, total: int | None) -> Iterator[Update]:
    stream = sys.stderr

    def show(done: int) -> None:
        stream.write("\r" + _caption(name, done, total))
        stream.flush()

    update = _Throttled(show)
    try:
        yield update
    finally:
        show(update.done)
        stream.write("\n")
        stream.flush()


def _caption(name: str, done: int, total: int | None) -> str:
    """``name: 12.0 of 300.5 MB (4%)``, or ``name: 12.0 MB`` when the total is unknown."""
    if not total:
        return f"{name}: {_megabytes(done)} MB"
    return f"{name}: {_megabytes(done)} of {_megabytes(total)} MB ({100 * done // total}%)"


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f}"


def _in_kernel() -> bool:
    """Running in a Jupyter kernel (one that has imported IPython already)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None
