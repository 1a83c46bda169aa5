"""The layout of one local job's folder, shared by backend, runner and notebook executor.

Stdlib only: the runner imports this in a fresh process. Every file another process may read
while it is written goes through :func:`write_json` (a rename) or :func:`write_json_once` (a link,
so the first writer wins and nobody clobbers a final status).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

SPEC = "spec.json"  # the normalised JobSpec
PLAN = "plan.json"  # what the runner starts: argv, cwd, env, timeout
PARAMS = "params.json"  # the job's parameters, path exported as JUPYTER_COMPUTE_PARAMS
SCRIPT = "script.py"  # inline ``code`` written out
NOTEBOOK_INPUT = "input.ipynb"  # the notebook with its parameters injected
OUTPUTS = "outputs"  # the job's results, exported as JUPYTER_COMPUTE_OUTPUT_DIR
LOG = "job.log"  # stdout and stderr of the job
LAUNCHED = "launched"  # claim taken (O_EXCL) by whoever starts or cancels a queued job
RUNNER = "runner.json"  # pid and start token of the runner, written by the backend
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


def _write_tmp(path: Path, data: Any) -> Path:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON so that readers see the old or the new file, never half of one."""
    os.replace(_write_tmp(path, data), path)


def write_json_once(path: Path, data: Any) -> bool:
    """Write ``data`` atomically unless ``path`` exists; True if this call wrote it."""
    tmp = _write_tmp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def claim(job_dir: Path) -> bool:
    """Take the job's one-time launch claim; False if somebody already took it.

    The claim appears whole, its time in it: a reader never sees an empty one (read as claimed long ago).
    """
    return write_json_once(job_dir / LAUNCHED, time.time())


def claimed_at(job_dir: Path) -> float | None:
    """When the launch claim was taken (epoch seconds), or None if it was not."""
    try:
        return float((job_dir / LAUNCHED).read_text() or 0)
    except (OSError, ValueError):
        return None


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
