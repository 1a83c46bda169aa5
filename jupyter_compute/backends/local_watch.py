"""Telling the event loop the moment a local job's runner exits, so its slot is refilled at once.

On Linux 5.3+ a runner is watched through a pidfd, which the event loop reads (no thread, no
polling); it works for the runners this server started and for those it adopted after a restart.
Elsewhere the runners this server started are waited for by a small thread each; adopted ones are
left to the backend's slow safety tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
from collections.abc import Callable

from .local_procs import start_token


def open_pidfd(pid: int, token: str | None) -> int | None:
    """A pidfd of process ``pid`` if it is still the one of ``token``; None if it is gone or the OS has none.

    Blocking (reads ``/proc``): call it from a worker thread.
    """
    try:
        fd: int = os.pidfd_open(pid)  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        return None
    if token is not None and start_token(pid) != token:  # the pid was taken by another process
        os.close(fd)
        return None
    return fd


class ExitWatch:
    """Calls ``on_exit`` on the event loop once a watched process ends."""

    def __init__(self) -> None:
        self._fds: set[int] = set()

    def add_pidfd(self, fd: int, on_exit: Callable[[], None]) -> None:
        """Watch the process of pidfd ``fd`` (from :func:`open_pidfd`); the fd is closed once it fired."""
        loop = asyncio.get_running_loop()
        self._fds.add(fd)
        loop.add_reader(fd, self._fired, loop, fd, on_exit)

    def add_child(self, child: subprocess.Popen[bytes], on_exit: Callable[[], None]) -> None:
        """Watch a child without a pidfd: a daemon thread waits for it (and reaps it)."""
        loop = asyncio.get_running_loop()

        def wait() -> None:
            child.wait()
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                loop.call_soon_threadsafe(on_exit)

        threading.Thread(target=wait, name=f"local-runner-{child.pid}", daemon=True).start()

    def _fired(self, loop: asyncio.AbstractEventLoop, fd: int, on_exit: Callable[[], None]) -> None:
        self._discard(loop, fd)
        on_exit()

    def _discard(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        if fd in self._fds:
            self._fds.discard(fd)
            loop.remove_reader(fd)
            os.close(fd)

    def close(self) -> None:
        """Stop watching (the processes go on); call it on the loop the watches were added on."""
        loop = asyncio.get_running_loop()
        for fd in list(self._fds):
            self._discard(loop, fd)
