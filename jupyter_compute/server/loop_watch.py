"""A watch for blocking calls on event loops: the check behind "no file or network I/O on the loop".

Switched on by ``JUPYTER_COMPUTE_LOOP_WATCH=<report file>`` (the test suite sets it for every server it
starts); ``JUPYTER_COMPUTE_LOOP_WATCH_MS`` sets the threshold (50 ms). It hooks the point where asyncio
runs each callback, as asyncio's own debug mode does for ``slow_callback_duration``, with one difference:
a callback's time counts only while its thread ran or was blocked, not while it waited for a CPU (from
``/proc/<pid>/task/<tid>/schedstat``), so a busy machine does not make a quick callback look slow.

A watcher thread looks at the running callback every few milliseconds. One that has held its loop past
the threshold has its stack sampled, and when the call that holds the loop was made by our code (the
innermost coroutine on the stack is in ``jupyter_compute``, or a plain callback of ours), one JSON line
is appended to the report file: where it blocked, how long so far, in which process and thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

ENV_REPORT = "JUPYTER_COMPUTE_LOOP_WATCH"
ENV_THRESHOLD_MS = "JUPYTER_COMPUTE_LOOP_WATCH_MS"
DEFAULT_THRESHOLD_MS = 50.0

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1]) + os.sep
_THIS_FILE = str(Path(__file__).resolve())
_ASYNC_FLAGS = 0x80 | 0x200  # CO_COROUTINE | CO_ASYNC_GENERATOR
_SAMPLE_EVERY_S = 0.005


@dataclass
class _Running:
    """The callback a loop's thread is running now, and its clocks when it began."""

    handle: asyncio.Handle
    wall: float
    waited: float
    reported: bool = False


_stats = threading.local()


def _waited_for_cpu() -> float:
    """Seconds the calling thread has spent runnable but waiting for a CPU (0 where Linux does not say)."""
    fd = getattr(_stats, "fd", None)
    if fd is None:
        try:
            fd = _stats.fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        except OSError:
            fd = _stats.fd = -1
    if fd < 0:
        return 0.0
    return _waited_in(os.pread(fd, 128, 0))


def _waited_of(native_id: int) -> float:
    """The same for another thread of this process."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat", "rb") as stats:
            return _waited_in(stats.read())
    except OSError:
        return 0.0


def _waited_in(schedstat: bytes) -> float:
    fields = schedstat.split()
    return int(fields[1]) / 1e9 if len(fields) > 1 else 0.0


@dataclass(frozen=True)
class _Frame:
    filename: str
    lineno: int
    name: str
    is_async: bool

    @property
    def ours(self) -> bool:
        return self.filename.startswith(_PACKAGE_DIR) and self.filename != _THIS_FILE

    @property
    def third_party(self) -> bool:
        return "site-packages" in self.filename or self.filename.startswith(sys.base_prefix)

    def __str__(self) -> str:
        name = self.filename[len(_PACKAGE_DIR):] if self.ours else self.filename
        return f"{name}:{self.lineno} in {self.name}"


class LoopWatch:
    """Samples the callbacks of every event loop in this process; see the module's docstring."""

    def __init__(self, report: Path, threshold_s: float) -> None:
        self.report = report
        self.threshold_s = threshold_s
        self._running: dict[int, _Running] = {}
        self._original_run = asyncio.Handle._run
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watch", daemon=True)

    def start(self) -> None:
        watch = self
        original = self._original_run

        def timed_run(handle: asyncio.Handle) -> None:
            tid = threading.get_ident()
            watch._running[tid] = _Running(handle, time.monotonic(), _waited_for_cpu())
            try:
                original(handle)
            finally:
                watch._running.pop(tid, None)

        asyncio.Handle._run = timed_run  # type: ignore[method-assign,assignment]  # the hook asyncio's debug mode times
        self._thread.start()

    def stop(self) -> None:
        asyncio.Handle._run = self._original_run  # type: ignore[method-assign]  # put back
        self._stopped.set()

    def _watch(self) -> None:
        native_ids = {thread.ident: thread.native_id for thread in threading.enumerate()}
        while not self._stopped.wait(_SAMPLE_EVERY_S):
            for tid, running in list(self._running.items()):
                if running.reported:
                    continue
                if tid not in native_ids:
                    native_ids = {thread.ident: thread.native_id for thread in threading.enumerate()}
                held = self._held_for(running, native_ids.get(tid))
                if held >= self.threshold_s:
                    running.reported = True
                    self._sample(tid, running, held)

    def _held_for(self, running: _Running, native_id: int | None) -> float:
        wall = time.monotonic() - running.wall
        if native_id is None:
            return wall
        return wall - max(0.0, _waited_of(native_id) - running.waited)

    def _sample(self, tid: int, running: _Running, held: float) -> None:
        frame = sys._current_frames().get(tid)
        if frame is None or self._running.get(tid) is not running:
            return  # it ended meanwhile
        stack = _stack_of(frame)
        culprit = _culprit(stack)
        if culprit is None:
            return
        thread = threading._active.get(tid)  # type: ignore[attr-defined]  # another thread's name
        record = {
            "pid": os.getpid(),
            "process": " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]]),
            "thread": thread.name if thread is not None else str(tid),
            "held_ms_at_least": round(held * 1000, 1),
            "blocking_call_in": str(culprit),
            "stack": [str(f) for f in stack if f.ours or f is stack[-1]][-8:],
        }
        with open(self.report, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def _stack_of(frame: FrameType) -> list[_Frame]:
    """The sampled stack, outermost first."""
    frames: list[_Frame] = []
    current: FrameType | None = frame
    while current is not None:
        code = current.f_code
        frames.append(_Frame(code.co_filename, current.f_lineno, code.co_name, bool(code.co_flags & _ASYNC_FLAGS)))
        current = current.f_back
    frames.reverse()
    return frames


def _culprit(stack: list[_Frame]) -> _Frame | None:
    """The frame of ours that made the blocking call, or None when someone else made it.

    The innermost coroutine decides (a sync call made by a coroutine is that coroutine's doing): ours,
    or someone else's such as a test's. When it is a library's (tornado calling a plain handler method,
    say) or there is none, the innermost frame of ours does.
    """
    coroutines = [f for f in stack if f.is_async and f.filename != _THIS_FILE]
    if coroutines and not coroutines[-1].third_party:
        return coroutines[-1] if coroutines[-1].ours else None
    ours = [f for f in stack if f.ours]
    return ours[-1] if ours else None


_installed: LoopWatch | None = None


def install_from_env() -> LoopWatch | None:
    """Start the watch in this process when ``JUPYTER_COMPUTE_LOOP_WATCH`` names a report file (once)."""
    global _installed
    report = os.environ.get(ENV_REPORT)
    if not report or _installed is not None:
        return _installed
    threshold_ms = float(os.environ.get(ENV_THRESHOLD_MS) or DEFAULT_THRESHOLD_MS)
    _installed = LoopWatch(Path(report), threshold_ms / 1000)
    _installed.start()
    return _installed


def read_report(report: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The records appended to ``report`` after byte ``offset``, and the offset after them."""
    try:
        with open(report, "rb") as source:
            source.seek(offset)
            data = source.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()], offset + len(complete)
