"""Finding and ending a local job's processes, grandchildren included (shared by backend and runner).

A job runs as the leader of its own process group; what it starts stays in that group unless it
makes a new session (a Jupyter kernel does), so the processes of a job are: its group, its
descendants, and the groups those descendants lead. Pids are reused, so a process is only ours when
its ``create_time`` matches the one recorded.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable

import psutil


def create_time(pid: int) -> float | None:
    """The start time psutil reports for ``pid``, or None if there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_alive(pid: int, created: float | None) -> bool:
    """True if ``pid`` is still the process started at ``created`` and is not a zombie."""
    try:
        proc = psutil.Process(pid)
        same = created is None or abs(proc.create_time() - created) < 0.01
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def job_processes(pid: int, created: float | None, pgids: set[int] | None = None) -> list[psutil.Process]:
    """The live processes of the job whose leader is ``pid`` (started at ``created``).

    When the leader is gone its group id cannot have been reused while members remain, so the
    members found with that group id are still the job's orphans. ``pgids`` collects the groups
    seen, to find their members again once the leader is gone.
    """
    pgids = pgids if pgids is not None else set()
    pgids.add(pid)
    procs: dict[int, psutil.Process] = {}
    try:
        leader = psutil.Process(pid)
        if created is not None and abs(leader.create_time() - created) >= 0.01:
            pgids.discard(pid)  # the pid, hence that group id, now belongs to someone else
        else:
            procs[pid] = leader
            for child in leader.children(recursive=True):
                procs[child.pid] = child
                group = _pgid(child.pid)
                if group:
                    pgids.add(group)
    except psutil.Error:
        pass
    for proc in psutil.process_iter():
        if _pgid(proc.pid) in pgids:
            procs.setdefault(proc.pid, proc)
    mine = {os.getpid(), _pgid(os.getpid())}
    return [p for p in procs.values() if p.pid not in mine and _running(p)]


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_all(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_running(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)


def kill_job(pid: int, created: float | None, grace: float = 3.0) -> None:
    """SIGTERM every process of the job, then SIGKILL what is left after ``grace`` seconds.

    A zombie counts as gone; a parent should reap its child only after this returns, so that
    the leader's pid (hence its group id) cannot be reused meanwhile.
    """
    pgids: set[int] = set()
    procs = job_processes(pid, created, pgids)
    _signal_all(procs, signal.SIGTERM)
    _wait_gone(procs, grace)
    leftovers = job_processes(pid, created, pgids)  # survivors, and whatever forked meanwhile
    _signal_all(leftovers, signal.SIGKILL)
    _wait_gone(leftovers, 2.0)
