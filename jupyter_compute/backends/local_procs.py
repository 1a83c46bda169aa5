"""Finding and ending a local job's processes, grandchildren included (for backend and runner).

A job runs as the leader of its own process group; what it starts stays in that group unless it
makes a new session (a Jupyter kernel does), so the processes of a job are: its group, its
descendants, and the groups those descendants lead. Pids are reused, so a process is only ours when
its :func:`start_token` matches the one recorded.

The runner imports this in every job, so psutil (a tenth of the runner's start-up) is imported only
when a job left processes behind, or off Linux.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil


@functools.cache
def _boot_id() -> str:
    """This boot's id (no process outlives a boot, so it is read once)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def start_token(pid: int) -> str | None:
    """What tells this process from a later one with the same pid; None if there is no ``pid``.

    On Linux: the boot id and the start time in clock ticks since boot, which never changes
    (psutil's ``create_time`` adds the wall-clock boot time, which moves when the clock is
    stepped). Elsewhere: psutil's ``create_time``.
    """
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
            ticks = stat.rsplit(b")", 1)[1].split()[19]  # field 22, counted after "pid (comm)"
        except (OSError, IndexError):
            return None
        return f"{_boot_id()}:{ticks.decode()}"
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.3f}"
    except psutil.Error:
        return None


def _is_ours(proc: psutil.Process, token: str | None) -> bool:
    return token is None or start_token(proc.pid) == token


def is_alive(pid: int, token: str | None) -> bool:
    """True if ``pid`` is still the process of ``token`` and is not a zombie."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return _is_ours(proc, token) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def job_processes(
    pid: int, token: str | None, pgids: set[int] | None = None
) -> list[psutil.Process]:
    """The live processes of the job whose leader is ``pid`` (of start ``token``).

    When the leader is gone its group id cannot have been reused while members remain, so the
    members found with that group id are still the job's orphans. ``pgids`` collects the groups
    seen, to find their members again once the leader is gone.
    """
    import psutil

    pgids = pgids if pgids is not None else set()
    pgids.add(pid)
    procs = _leader_and_children(pid, token, pgids)
    own_group = _pgid(os.getpid())
    if own_group is not None:
        pgids.discard(own_group)  # never our own group
    for proc in psutil.process_iter():
        if _pgid(proc.pid) in pgids:
            procs.setdefault(proc.pid, proc)
    return [p for p in procs.values() if p.pid != os.getpid() and _running(p)]


def _leader_and_children(pid: int, token: str | None, pgids: set[int]) -> dict[int, psutil.Process]:
    """The job's leader and its descendants while the leader is ours; adds their groups to ``pgids``."""
    import psutil

    procs: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        leader = psutil.Process(pid)
        if not _is_ours(leader, token):
            pgids.discard(pid)  # the pid, hence that group id, now belongs to someone else
            return procs
        procs[pid] = leader
        for child in leader.children(recursive=True):
            procs[child.pid] = child
            group = _pgid(child.pid)
            if group:
                pgids.add(group)
    return procs


def _running(proc: psutil.Process) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_all(procs: Iterable[psutil.Process], sig: int) -> None:
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_running(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)


def kill_job(pid: int, token: str | None, grace: float = 3.0) -> None:
    """SIGTERM every process of the job, then SIGKILL what is left after ``grace`` seconds.

    A zombie counts as gone; a parent should reap its child only after this returns, so that
    the leader's pid (hence its group id) cannot be reused meanwhile.
    """
    if _nothing_left(pid):
        return
    pgids: set[int] = set()
    procs = job_processes(pid, token, pgids)
    _signal_all(procs, signal.SIGTERM)
    _wait_gone(procs, grace)
    leftovers = job_processes(pid, token, pgids)  # survivors, and whatever forked meanwhile
    _signal_all(leftovers, signal.SIGKILL)
    _wait_gone(leftovers, 2.0)


def _stat_fields(entry: str) -> tuple[str, int, int] | None:
    """State, parent pid and group id of process ``entry`` from ``/proc``; None if it is gone."""
    try:
        with open(f"/proc/{entry}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def _belongs(entry: str, pid: int) -> bool:
    """Whether process ``entry`` (of ``/proc``) is a live part of the job led by ``pid``."""
    fields = _stat_fields(entry)
    if fields is None:
        return False
    state, ppid, pgrp = fields
    if entry == str(pid):
        return state not in ("Z", "X")
    return ppid == pid or pgrp == pid


def _nothing_left(pid: int) -> bool:
    """True (Linux) when the job led by ``pid`` has no live process: the leader is gone or a zombie
    and no process is its child or in its group. A cheap look before psutil's full search."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    me = str(os.getpid())
    return not any(_belongs(entry, pid) for entry in entries if entry.isdigit() and entry != me)
