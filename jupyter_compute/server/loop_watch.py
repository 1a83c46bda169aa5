"""A watch for blocking calls on event loops: the check behind "no file or network I/O on the loop".

Switched on by ``JUPYTER_COMPUTE_LOOP_WATCH=<report file>`` (the test suite sets it for every server it
starts); ``JUPYTER_COMPUTE_LOOP_WATCH_MS`` sets the threshold (50 ms). It hooks the point where asyncio
runs each callback, as asyncio's own debug mode does for ``slow_callback_duration``, but measures what
the callback itself spent rather than the time on the clock, so that a busy machine (a CPU shared with
other processes, the GIL held by a worker thread, the garbage collector) cannot make a quick callback look
slow: the CPU time of the loop's thread (``/proc/self/task/<tid>/schedstat``), less the collector's pauses,
plus the time it spent blocked in a system call — read, write, fsync, a process or a socket waited on,
a sleep — sampled from ``/proc/self/task/<tid>/syscall``. A wait on a lock (a futex: the GIL, or a lock of
ours) is not counted: the price of not counting the GIL.

A watcher thread looks at the running callback every few milliseconds. One that has held its loop past
the threshold has its stack sampled, and when the call that holds the loop was made by our code (the
innermost coroutine on the stack is in ``jupyter_compute``, or a plain callback of ours), one JSON line
is appended to the report file: where it blocked, how long so far, in which process and thread.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
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
_SETTING_UP = (str(Path(__file__).resolve().parent / "app.py"), "initialize_settings")
_FUTEX = {"x86_64": b"202", "aarch64": b"98"}.get(os.uname().machine, b"202")


@dataclass
class _Running:
    """The callback a loop's thread is running now, and what it has spent so far."""

    handle: asyncio.Handle
    cpu_at_start: float
    blocked: float = 0.0
    gc_time: float = 0.0
    gc_began: float = 0.0
    last_look: float = 0.0
    reported: bool = False


_stats = threading.local()


def _own_cpu_time() -> float:
    """Seconds the calling thread has run on a CPU, from the scheduler (0 where Linux does not say)."""
    fd = getattr(_stats, "fd", None)
    if fd is None:
        try:
            fd = _stats.fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        except OSError:
            fd = _stats.fd = -1
    return _cpu_time_in(os.pread(fd, 128, 0)) if fd >= 0 else 0.0


def _cpu_time_of(native_id: int) -> float:
    """The same for another thread of this process."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat", "rb") as stats:
            return _cpu_time_in(stats.read())
    except OSError:
        return 0.0


def _cpu_time_in(schedstat: bytes) -> float:
    fields = schedstat.split()
    return int(fields[0]) / 1e9 if fields else 0.0


def _blocked_in_a_system_call(native_id: int) -> bool:
    """Whether a thread of this process waits in a system call now, other than a lock's (futex) wait.
    (Running, or ready to run, it shows ``running`` or ``-1``.)"""
    try:
        with open(f"/proc/self/task/{native_id}/syscall", "rb") as call:
            number = call.read().split(b" ", 1)[0]
    except OSError:
        return False
    return number.isdigit() and number != _FUTEX


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
            watch._running[tid] = _Running(handle, _own_cpu_time())
            try:
                original(handle)
            finally:
                watch._running.pop(tid, None)

        asyncio.Handle._run = timed_run  # type: ignore[method-assign,assignment]  # the hook asyncio's debug mode times
        gc.callbacks.append(self._time_collection)
        self._thread.start()

    def stop(self) -> None:
        asyncio.Handle._run = self._original_run  # type: ignore[method-assign]  # put back
        gc.callbacks.remove(self._time_collection)
        self._stopped.set()

    def _time_collection(self, phase: str, info: dict[str, Any]) -> None:
        """The garbage collector's pauses are nobody's blocking call: not counted."""
        running = self._running.get(threading.get_ident())
        if running is None:
            return
        if phase == "start":
            running.gc_began = time.monotonic()
        elif running.gc_began:
            running.gc_time += time.monotonic() - running.gc_began
            running.gc_began = 0.0

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

    @staticmethod
    def _held_for(running: _Running, native_id: int | None) -> float:
        """How long the callback has held its loop: its thread's CPU time since it began, less the garbage
        collector's, plus the time it was seen blocked in a system call (each look counts the time since
        the last one, at most two sampling periods: a watcher kept from running counts too little, never
        too much)."""
        if native_id is None:
            return 0.0
        now = time.monotonic()
        if running.last_look and _blocked_in_a_system_call(native_id):
            running.blocked += min(now - running.last_look, 2 * _SAMPLE_EVERY_S)
        running.last_look = now
        collecting = now - running.gc_began if running.gc_began else 0.0
        cpu = _cpu_time_of(native_id) - running.cpu_at_start - running.gc_time - collecting
        return max(0.0, cpu) + running.blocked

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
            "of_which_blocked_in_system_calls_ms": round(running.blocked * 1000, 1),
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

    Only what the running callback called counts (see ``_inside_callback``). The innermost coroutine
    decides (a sync call made by a coroutine is that coroutine's doing): ours, or someone else's such as a
    test's. When it is a library's (tornado calling a plain handler method,
    say) or there is none, the innermost frame of ours does. A module being imported is not counted, nor
    the extension's set-up (``initialize_settings``, which a real server runs before its loop starts).
    """
    inside = _inside_callback(stack)
    if inside is None or any(_not_counted(f) for f in inside):
        return None
    coroutine = _innermost(stack, lambda f: f.is_async and f.filename != _THIS_FILE)
    if coroutine is not None and not coroutine.third_party:
        return coroutine if coroutine.ours else None
    return _innermost(stack, lambda f: f.ours)


def _not_counted(frame: _Frame) -> bool:
    """A frame of a module's first import (once per process, not a call that blocks each time), or of the
    extension's set-up (before the server serves; a test harness runs it on a loop)."""
    importing = frame.name == "<module>" or frame.filename.startswith("<frozen importlib")
    return importing or (frame.filename, frame.name) == _SETTING_UP


def _inside_callback(stack: list[_Frame]) -> list[_Frame] | None:
    """The frames the running callback made (those above this module's hook), or None when the hook is not
    on the stack: the thread switched to another greenlet (Playwright's sync API runs the test there while
    a callback of its loop waits), which is not the callback's work."""
    hooks = [i for i, f in enumerate(stack) if f.filename == _THIS_FILE and f.name == "timed_run"]
    return stack[hooks[-1] + 1:] if hooks else None


def _innermost(stack: list[_Frame], wanted: Callable[[_Frame], bool]) -> _Frame | None:
    return next((f for f in reversed(stack) if wanted(f)), None)


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
