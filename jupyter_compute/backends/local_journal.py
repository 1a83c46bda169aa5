"""The queue journal of the local backend: queued jobs kept as lines of one file, not as folders.

A submission appends its job's plan to ``<jobs>/.queue.jsonl`` (one ``write`` for all the submissions that
came together); the job's folder is made as it starts, by its runner (:func:`.local_files.materialize`), or
by whoever settles it first (a cancel). Making a folder costs this machine's file system ten to a hundred
times an append, and a queue of thousands of jobs would pay it on the request path.

The folder wins: a job whose folder exists is read from it, whatever the journal says; a line only stands
for a job with no folder yet. A deleted job's line is cancelled by a ``drop`` line. The file is rewritten
with the lines still standing (a temporary file renamed over it) when it is loaded (the backend's start), and
when it has grown by ``COMPACT_SLACK`` lines beyond twice what stood at its last rewrite (then without the
jobs that have a folder).

Like the job folders, it is written but not fsynced (see :mod:`.local_files`): a server killed keeps what
it wrote (page cache), and a torn last line (an OS crash) is skipped when it is read. A write that fails
(the disk full) is cut off the file again, so no line is ever glued onto a torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

JOURNAL = ".queue.jsonl"  # not a job id (a dot first), and not a leftover (".tmp-")
#: Lines beyond twice those that stood at the last rewrite after which the file is rewritten.
COMPACT_SLACK = 1024


def plan_line(job_id: str, plan: bytes) -> bytes:
    """The journal line of a queued job (``job_id`` is a job folder's name: no character JSON escapes)."""
    return b'{"id":"' + job_id.encode("ascii") + b'","plan":' + plan + b"}\n"


def _drop_line(job_id: str) -> bytes:
    return b'{"id":"' + job_id.encode("ascii") + b'","drop":true}\n'


class QueueJournal:
    """The journal file of one backend; every method but a membership test once the file was read blocks (call it
    from a worker thread), and may be called from several threads."""

    def __init__(self, jobs_dir: Path) -> None:
        self.path = jobs_dir / JOURNAL
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lines = 0  # in the file now
        self._kept = 0  # lines that stood at the last rewrite
        self._plans: dict[str, bytes] | None = None  # of the jobs whose line is in the file, not dropped (read once)

    def __contains__(self, job_id: object) -> bool:
        """Whether the file holds a line of ``job_id`` (its folder may have been made since). Blocks only the first
        time (the file is read), never once it was read."""
        plans = self._plans
        if plans is not None:
            return job_id in plans
        with self._lock:
            return job_id in self._known()

    def load(self, has_folder: Iterable[str] = ()) -> dict[str, bytes]:
        """The plan of each job the file names that has no folder (ids in ``has_folder`` do), in the order they
        were written; the file is rewritten with only those (kept as it is if that fails)."""
        with self._lock:
            self._plans = None
            standing = dict(self._known())
            for job_id in set(has_folder) & standing.keys():
                del standing[job_id]
            with contextlib.suppress(OSError):  # e.g. the disk is full: the lines of started jobs stay (folders win)
                self._rewrite(standing)
            return standing

    def peek(self) -> set[str]:
        """The ids of the jobs whose line stands in the file."""
        with self._lock:
            return set(self._known())

    def _known(self) -> dict[str, bytes]:
        """The standing lines, read from the file the first time."""
        if self._plans is None:
            plans: dict[str, bytes] = {}
            lines = 0
            with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as f:
                for line in f:
                    lines += 1
                    self._take(line, plans)
            self._plans, self._lines, self._kept = plans, lines, len(plans)
        return self._plans

    @staticmethod
    def _take(line: bytes, standing: dict[str, bytes]) -> None:
        try:
            record = json.loads(line)
        except ValueError:  # torn (an OS crash while it was written): it never stood
            return
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            return
        if record.get("drop"):
            standing.pop(record["id"], None)
        elif isinstance(record.get("plan"), dict):
            standing[record["id"]] = json.dumps(record["plan"], separators=(",", ":")).encode("utf-8")

    def append(self, plans: list[tuple[str, bytes]]) -> None:
        """Add the plan lines of ``plans`` (job id, plan JSON) in one write; first, if the file holds more than
        ``COMPACT_SLACK`` lines beyond twice those that stood at its last rewrite, rewrite it with the lines of
        the jobs that have no folder yet."""
        with self._lock:
            known = self._known()
            if self._lines > 2 * self._kept + COMPACT_SLACK:
                jobs_dir = self.path.parent
                self._rewrite({job_id: plan for job_id, plan in known.items() if not (jobs_dir / job_id).is_dir()})
            self._write(b"".join(plan_line(job_id, plan) for job_id, plan in plans))
            self._known().update(plans)
            self._lines += len(plans)

    def drop(self, job_id: str) -> None:
        """Cancel the line of ``job_id`` (a job removed): it is not queued again after a restart."""
        with self._lock:
            if job_id not in self._known():
                return
            self._write(_drop_line(job_id))
            self._known().pop(job_id, None)
            self._lines += 1

    def close(self) -> None:
        """Let the file go (it is opened again by the next write)."""
        with self._lock:
            self._close()

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        end = os.lseek(self._fd, 0, os.SEEK_END)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:  # e.g. the disk is full: what was written of it goes (a line cut short would glue on the next)
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, end)
            raise

    def _rewrite(self, standing: dict[str, bytes]) -> None:
        """Replace the file by one holding only ``standing`` (none: no file)."""
        self._close()
        if not standing:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        else:
            tmp = self.path.with_name(f".{JOURNAL}.{os.urandom(8).hex()}.tmp")
            try:
                tmp.write_bytes(b"".join(plan_line(job_id, plan) for job_id, plan in standing.items()))
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)
        self._plans = dict(standing)
        self._lines = self._kept = len(standing)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
