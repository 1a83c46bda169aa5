"""The layout of one local job's folder, shared by backend, runner and notebook executor.

Stdlib only, and light: the runner imports this in a fresh process. Every file another process may
read while it is written goes through :func:`write_json` (a rename) or :func:`write_json_once` (a
link, so the first writer wins and nobody clobbers a final status).

What is fsynced, and why that is enough
---------------------------------------
Only a job's final status (``status.json``, written once by its runner, off the server) is flushed
to disk (``durable=True``). A queued job is a line of the queue journal (:mod:`.local_journal`), appended
and not fsynced; its runner makes its folder as it starts (:func:`materialize`: filled under a temporary
name and renamed into place, so it appears whole). The files the server writes in a folder (a notebook
job's plan, a launch claim) are written whole by a rename or a link but not fsynced either; the runner
adds the rest (the parameters file, the outputs folder, the log) as it starts:

- against a crash of the server (killed, OOM), an unflushed file is as safe as a flushed one: it
  sits in the kernel's page cache, which outlives the process, and a rename or link is atomic, so
  a reader sees the old file or the whole new one;
- the record of truth is the server's SQLite store (WAL), not the folder: a job is acknowledged
  only once the store has it, and a folder the store names but the disk lost is reported as
  gone (the job ends FAILED with that reason), never silently dropped. (That the store names the
  job is written just after the answer: a server stopped in between finds the job recorded as
  being submitted, looks for the journal line or the folder of that id, and adopts it, or sends the
  job again);
- only an OS crash or a power cut can lose an unflushed file, and that also kills every runner
  and job of this machine: what was running is settled as lost either way, and a job still queued
  loses its journal line (or folder) only when the store, whose WAL is not fsynced at each commit either
  (``synchronous=NORMAL``), may lose the same last moments. An fsync per file would buy nothing the
  store does not already give up, at a quarter of the server's time per submission. (A torn last
  line of the journal is skipped.)
- such a crash can also keep a renamed folder while losing what was written into it (empty files).
  A folder with no launch claim and no readable plan is therefore taken as ended: the backend claims
  it and records it FAILED, "job folder incomplete (the machine stopped while it was written)". One
  with a claim but no plan is settled by its runner (which fails on the missing plan) or, if no
  runner is recorded, as lost.

The final status is the exception: it is the one fact the folder holds that nothing can rebuild
(the job's outcome), and its runner pays for the flush after the job ended, off any request: the
file's content, then the folder that links it in (the link is a change of the folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

PLAN = "plan.json"  # what the runner starts (argv, cwd, env, timeout) and the normalised JobSpec
PARAMS = "params.json"  # the job's parameters, path exported as JUPYTER_COMPUTE_PARAMS
SCRIPT = "script.py"  # inline ``code`` written out
NOTEBOOK_INPUT = "input.ipynb"  # the notebook with its parameters injected
OUTPUTS = "outputs"  # the job's results, exported as JUPYTER_COMPUTE_OUTPUT_DIR
LOG = "job.log"  # stdout and stderr of the job
LAUNCHED = "launched"  # claim taken (O_EXCL) by whoever starts or cancels a queued job
RUNNER = "runner.json"  # pid and start token of the runner, written by the runner as it starts
PROCESS = "process.json"  # pid, pgid, start token and start time of the job, written by the runner
CANCEL = "cancel"  # a cancel request, seen by the runner even if its signal is lost
ERROR = "error.json"  # an explanation left by the job's own helper (the notebook executor)
STATUS = "status.json"  # the final status, written once
RUNNER_LOG = "runner.log"  # the runner's own output (its crashes)


def now_iso() -> str:
    """The current time as ISO text in UTC."""
    return datetime.now(UTC).isoformat()


def read_json(path: Path) -> dict[str, Any] | None:
    """A small JSON object from ``path``, or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_tmp(path: Path, data: Any, durable: bool) -> Path:
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    return tmp


def write_fresh(path: Path, data: Any) -> None:
    """Write ``data`` as JSON (bytes: as they are) into a folder no other process sees yet (it appears whole, by
    a rename)."""
    # Encoded in one piece (json.dump would encode it bit by bit, in Python) and written with three system calls:
    # a queued submission pays for each (open() adds a stat, a terminal check and seeks).
    data_bytes = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data_bytes)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (a file created, renamed or linked in it) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: Any, *, durable: bool = False) -> None:
    """Write ``data`` as JSON so that readers see the old or the new file, never half of one.

    ``durable``: flush the file, then its folder, to disk (see the module's note on what is fsynced).
    """
    tmp = _write_tmp(path, data, durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)


def write_json_once(path: Path, data: Any, *, durable: bool = False) -> bool:
    """Write ``data`` atomically unless ``path`` exists; True if this call wrote it.

    ``durable``: flush the file, then (once linked) its folder, to disk: a status that survives a power cut.
    """
    tmp = _write_tmp(path, data, durable)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    if durable:
        sync_folder(path.parent)
    return True


def claim(job_dir: Path) -> bool:
    """Take the job's one-time launch claim; False if somebody already took it.

    The claim appears whole, its time in it: a reader never sees an empty one (read as claimed long ago).
    """
    return write_json_once(job_dir / LAUNCHED, time.time())


def materialize(
    job_dir: Path, plan: bytes, *, runner: dict[str, Any] | None = None, status: dict[str, Any] | None = None
) -> bool:
    """Make the folder of a job kept in the queue journal (:mod:`.local_journal`): its plan, the files the plan
    names (``files``: name to text), the launch claim and ``runner`` (the runner starting it) or ``status`` (a
    job settled before it ran), filled under a temporary name and renamed into place, so that it appears whole.

    False if the folder was there already: whoever made it first took the job's launch claim.
    """
    if job_dir.exists():
        return False
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{job_dir.name}-", dir=job_dir.parent))
    try:
        write_fresh(tmp / PLAN, plan)
        for name, text in json.loads(plan).get("files", {}).items():
            write_fresh(tmp / name, str(text).encode("utf-8"))
        write_fresh(tmp / LAUNCHED, time.time())
        if runner is not None:
            write_fresh(tmp / RUNNER, runner)
        if status is not None:
            write_fresh(tmp / STATUS, status)
        os.rename(tmp, job_dir)  # refused if the folder exists by now (not empty: made by another)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if job_dir.exists():
            return False
        raise
    except BaseException:  # e.g. a plan cut short: nothing is left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def claimed_at(job_dir: Path) -> float | None:
    """When the launch claim was taken (epoch seconds), or None if it was not."""
    try:
        return float((job_dir / LAUNCHED).read_text() or 0)
    except (OSError, ValueError):
        return None


def remove_job_folder(job_dir: Path) -> None:
    """Remove a job's folder, first moving it out of its name (to a ``.tmp-`` one, cleared at start-up
    if this is cut short): a write that comes late (a runner's last status, a launch claim) then fails
    instead of filling a folder half removed."""
    trash = Path(tempfile.mkdtemp(prefix=f".tmp-deleted-{job_dir.name}-", dir=job_dir.parent))
    with contextlib.suppress(FileNotFoundError):
        os.rename(job_dir, trash / job_dir.name)
    shutil.rmtree(trash, ignore_errors=True)


def final_status(
    state: str, message: str = "", *, exit_code: int | None = None, started: str | None = None,
    native_status: str | None = None,
) -> dict[str, Any]:
    """The content of ``status.json``; ``native_status`` defaults to the lowercased state."""
    return {
        "state": state,
        "native_status": native_status or state.lower(),
        "exit_code": exit_code,
        "message": message,
        "started": started,
        "finished": now_iso(),
    }
