"""One worker thread that runs calls in the order they were made, taking all the calls made while it was
busy in one hop.

A hop to a thread costs the event loop tens of microseconds (a wake-up of the worker, a wake-up of the loop),
more than a small SQLite statement; ``run_in_executor`` adds a concurrent future chained to the loop's. Under
concurrent requests the calls queue up anyway (one thread owns the connection), so they go over together:
the calls made in one turn of the loop are sent as one batch, the worker runs every batch queued while it
was busy as one, and it hands their outcomes back with one wake-up of each loop that made them.

Calls made with ``grouped=True`` that follow each other in a hop also run inside one ``group()`` context
(the store's: one transaction, so one commit for many small writes). A group that fails to close fails
every call in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_Outcome = tuple[Any, BaseException | None]


@dataclass
class _Call(Generic[T]):
    function: Callable[..., T]
    args: tuple[Any, ...]
    done: asyncio.Future[T]
    grouped: bool

    def run(self) -> _Outcome:
        """The call's result or error; nothing when its caller gave up waiting."""
        if self.done.cancelled():
            return None, None
        try:
            return self.function(*self.args), None
        except Exception as exc:  # noqa: BLE001 — handed to this call's caller
            return None, exc


def _settle(calls: list[_Call[Any]], outcomes: list[_Outcome]) -> None:
    """On the calls' loop: give each waiting caller its outcome."""
    for call, (result, error) in zip(calls, outcomes, strict=True):
        if call.done.done():
            continue
        if error is not None:
            call.done.set_exception(error)
        else:
            call.done.set_result(result)


class SerialWorker:
    """Runs functions on its one thread, in call order; see the module's note."""

    def __init__(self, thread_name: str, group: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        self._thread_name = thread_name
        self._group = group
        self._pending: dict[asyncio.AbstractEventLoop, list[_Call[Any]]] = {}  # made in this turn of each loop
        self._batches: queue.SimpleQueue[list[_Call[Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._lock = threading.Lock()

    async def run(self, function: Callable[..., T], *args: Any, grouped: bool = False) -> T:
        """``function(*args)`` on the worker thread, after every call made before this one; ``grouped``: it may
        share the ``group()`` context with the grouped calls next to it."""
        return await self.submit(function, *args, grouped=grouped)

    def submit(self, function: Callable[..., T], *args: Any, grouped: bool = False) -> asyncio.Future[T]:
        """:meth:`run`, its place in the order taken at once (on the running loop): the future of its outcome."""
        if self._stopped:
            raise RuntimeError("the worker thread stopped")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:  # the first call of this turn of the loop: the calls of the turn go over together
            pending = self._pending[loop] = []
            loop.call_soon(self._send, loop)
        pending.append(_Call(function, args, done, grouped and self._group is not None))
        return done

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop, None)
        if not batch:  # sent already, by shutdown
            return
        try:
            self._put(batch)
        except RuntimeError as exc:  # stopped meanwhile
            _settle(batch, [(None, exc)] * len(batch))

    def _put(self, batch: list[_Call[Any]] | None) -> None:
        with self._lock:
            if self._stopped:
                raise RuntimeError("the worker thread stopped")
            if batch is None:
                self._stopped = True
            elif self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=f"{self._thread_name}_0", daemon=True)
                self._thread.start()
            self._batches.put(batch)

    def _serve(self) -> None:
        """The worker thread: runs every batch queued while it was busy as one."""
        while True:
            calls: list[_Call[Any]] = []
            batch = self._batches.get()
            while batch is not None:
                calls += batch
                try:
                    batch = self._batches.get_nowait()
                except queue.Empty:
                    break
            if calls:
                self._hand_back(calls, self._run_all(calls))
            if batch is None:  # the stop: nothing can follow it (see _put)
                return

    @staticmethod
    def _hand_back(calls: list[_Call[Any]], outcomes: list[_Outcome]) -> None:
        """One wake-up of each loop that made some of ``calls``, with their outcomes."""
        by_loop: dict[asyncio.AbstractEventLoop, tuple[list[_Call[Any]], list[_Outcome]]] = {}
        for call, outcome in zip(calls, outcomes, strict=True):
            made, kept = by_loop.setdefault(call.done.get_loop(), ([], []))
            made.append(call)
            kept.append(outcome)
        for loop, (made, kept) in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits there any more
                loop.call_soon_threadsafe(_settle, made, kept)

    def _run_all(self, batch: list[_Call[Any]]) -> list[_Outcome]:
        """Each call of ``batch`` in turn, runs of grouped calls each in one ``group()`` context."""
        outcomes: list[_Outcome] = []
        start = 0
        while start < len(batch):
            end = start + 1
            while batch[start].grouped and end < len(batch) and batch[end].grouped:
                end += 1
            if end - start == 1:
                outcomes.append(batch[start].run())
            else:
                outcomes.extend(self._run_group(batch[start:end]))
            start = end
        return outcomes

    def _run_group(self, calls: list[_Call[Any]]) -> list[_Outcome]:
        assert self._group is not None
        try:
            with self._group():
                return [call.run() for call in calls]
        except Exception as exc:  # noqa: BLE001 — the group did not close (a failed commit): none of it holds
            return [(None, exc)] * len(calls)

    def shutdown(self) -> None:
        """Stop the thread once the calls made before have run; later calls fail."""
        for loop in list(self._pending):
            self._send(loop)
        with contextlib.suppress(RuntimeError):  # stopped already
            self._put(None)
