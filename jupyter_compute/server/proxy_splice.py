"""The passthrough's fast lane for a large answer body: the kernel moves it from the platform's socket to the
caller's (Linux ``splice``, socket → pipe → socket), so no byte of it is copied through Python.

Driven by the event loop: the pump splices until either side would block, then waits on that side's
readiness (``add_reader``/``add_writer`` on duplicates of the two sockets, so neither the client's nor
tornado's own registrations are touched). At most a pipe's worth (1 MiB) is in flight, and one turn
moves at most TURN_BYTES before other work on the loop gets its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sys

from tornado.iostream import StreamClosedError

from .proxy_connection import PlatformError

#: Whether this system can splice (Linux, Python ≥ 3.10).
AVAILABLE = sys.platform == "linux" and hasattr(os, "splice")
#: The pipe's size asked for (the kernel may give less: /proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1 << 20
#: The most bytes moved in one turn of the event loop.
TURN_BYTES = 8 << 20

_F_SETPIPE_SZ = 1031
_F_GETPIPE_SZ = 1032
_CALLER_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN)
_FLAGS = (getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)) if AVAILABLE else 0


class Pump:
    """Moves ``length`` bytes from socket ``source`` to socket ``sink`` (both non-blocking; the pump works on
    duplicates of them and closes only those). :meth:`run` returns once every byte is out, and raises
    ``PlatformError`` when the source ends early or fails, ``TimeoutError`` when it sends
    nothing for ``timeout`` seconds while awaited, and ``StreamClosedError`` when the sink's peer left."""

    def __init__(self, source: int, sink: int, length: int, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._left, self._held, self._timeout = length, 0, timeout
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._source = self._sink = self._pipe_out = self._pipe_in = -1
        self._reading = self._writing = False
        self._idle_since = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        try:
            self._pipe_out, self._pipe_in = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self._source, self._sink = os.dup(source), os.dup(sink)
        except OSError:
            self._release()
            raise
        self._capacity = _pipe_size(self._pipe_in)

    async def run(self) -> None:
        """Move the bytes; on any outcome the pump's descriptors are closed."""
        try:
            if self._timeout:
                self._timer = self._loop.call_later(self._timeout, self._check_idle)
            self._turn()
            await self._done
        finally:
            self.stop()

    def stop(self, exc: BaseException | None = None) -> None:
        """Stop where it is (the caller or the platform went away): fail :meth:`run` with ``exc`` if given."""
        if not self._done.done():
            if exc is None:
                self._done.cancel()
            else:
                self._done.set_exception(exc)
        self._release()

    def _release(self) -> None:
        self._watch(read=False, write=False)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fd in (self._source, self._sink, self._pipe_out, self._pipe_in):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._source = self._sink = self._pipe_out = self._pipe_in = -1

    def _turn(self) -> None:
        """Splice until both sides would block (or this turn's share is moved), then wait on what blocked."""
        if self._done.done():
            return
        try:
            budget = TURN_BYTES
            while budget > 0:
                moved = self._fill() + self._drain()
                if not self._left and not self._held:
                    self._done.set_result(None)
                    self._release()
                    return
                if not moved:
                    break
                budget -= moved
        except Exception as exc:  # noqa: BLE001 — a callback of the loop: whatever failed ends the pump, in run()
            self.stop(exc)
            return
        want_read = bool(self._left) and self._held < self._capacity
        if want_read and not self._reading:
            self._idle_since = self._loop.time()
        self._watch(read=want_read, write=bool(self._held))

    def _fill(self) -> int:
        if not self._left or self._held >= self._capacity:
            return 0
        try:
            n = os.splice(self._source, self._pipe_in, min(self._left, self._capacity - self._held), flags=_FLAGS)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise PlatformError(f"the platform's answer broke off: {exc}") from None
        if n == 0:
            raise PlatformError(f"the platform's answer broke off with {self._left} bytes to come")
        self._left -= n
        self._held += n
        self._idle_since = self._loop.time()
        return n

    def _drain(self) -> int:
        if not self._held:
            return 0
        try:
            n = os.splice(self._pipe_out, self._sink, self._held, flags=_FLAGS)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in _CALLER_GONE:
                raise StreamClosedError(real_error=exc) from None
            raise
        self._held -= n
        return n

    def _watch(self, *, read: bool, write: bool) -> None:
        if read != self._reading and self._source >= 0:
            if read:
                self._loop.add_reader(self._source, self._turn)
            else:
                self._loop.remove_reader(self._source)
            self._reading = read
        if write != self._writing and self._sink >= 0:
            if write:
                self._loop.add_writer(self._sink, self._turn)
            else:
                self._loop.remove_writer(self._sink)
            self._writing = write

    def _check_idle(self) -> None:
        """sock_read's rule: a platform that sends nothing for ``timeout`` seconds while awaited has failed."""
        self._timer = None
        if self._done.done():
            return
        due = self._idle_since + self._timeout
        if self._reading and self._loop.time() >= due:
            self.stop(TimeoutError(f"the platform sent nothing for {self._timeout:g} s"))
            return
        self._timer = self._loop.call_at(max(due, self._loop.time() + self._timeout / 10), self._check_idle)


def _pipe_size(pipe_in: int) -> int:
    import fcntl  # noqa: PLC0415 — Unix only, and only reached where splice is

    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe_in, _F_SETPIPE_SZ, PIPE_BYTES)
    return int(fcntl.fcntl(pipe_in, _F_GETPIPE_SZ))
