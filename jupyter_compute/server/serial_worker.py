"""One worker thread that runs calls in the order they were made, taking all the calls made while it was
busy in one hop.

A hop to a thread costs the event loop a few tens of microseconds (a work item, a wake-up of the worker,
a wake-up of the loop, a future chained to a future), more than a small SQLite statement. Under
concurrent requests the calls queue up anyway (one thread owns the connection), so they go over
together: one hop, and one wake-up of the loop, for many calls.

Calls made with ``grouped=True`` that follow each other in a hop also run inside one ``group()`` context
(the store's: one transaction, so one commit for many small writes). A group that fails to close fails
every call in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


class SerialWorker:
    """Runs functions on its one thread, in call order; see the module's note."""

    def __init__(self, thread_name: str, group: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._group = group
        self._waiting: list[_Call[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the batch under way, if any
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, function: Callable[..., T], *args: Any, grouped: bool = False) -> T:
        """``function(*args)`` on the worker thread, after every call made before this one; ``grouped``: it may
        share the ``group()`` context with the grouped calls next to it."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:  # a second loop (tests): no batching with it
            return await loop.run_in_executor(self._executor, function, *args)
        done: asyncio.Future[T] = loop.create_future()
        self._waiting.append(_Call(function, args, done, grouped and self._group is not None))
        if self._loop is None:
            self._loop = loop
            self._drainer = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[_Call[Any]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                outcomes = await loop.run_in_executor(self._executor, self._run_all, batch)
                for call, (result, error) in zip(batch, outcomes, strict=True):
                    if call.done.done():
                        continue
                    if error is not None:
                        call.done.set_exception(error)
                    else:
                        call.done.set_result(result)
        except BaseException as exc:  # the executor was shut down, or the drain cancelled: nobody is left waiting
            error = exc if isinstance(exc, Exception) else RuntimeError("the worker thread stopped")
            for call in [*batch, *self._waiting]:
                if not call.done.done():
                    call.done.set_exception(error)
            self._waiting = []
            raise
        finally:
            self._loop = None

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
        """Stop the thread once the call under way has returned; later calls fail."""
        self._executor.shutdown(wait=False)
