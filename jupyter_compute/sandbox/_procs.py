"""The sandboxes' job processes: each is started in a session of its own and ended as a group."""

from __future__ import annotations

import contextlib
import os
import signal


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group led by ``pid`` (started with ``start_new_session``); gone is fine."""
    with contextlib.suppress(OSError):
        os.killpg(pid, sig)
