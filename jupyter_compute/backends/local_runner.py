"""The detached runner of one local job: ``python -m jupyter_compute.backends.local_runner DIR``
(``DIR --plan-on-stdin`` for a job from the queue journal, whose folder it makes first).

Started by the local backend in a session of its own, so that the job outlives the Jupyter server.
It starts the job (``plan.json``) as the leader of a new process group with its output in
``job.log``, records the job's pid, enforces the timeout, ends the whole group on SIGTERM (a
cancel) or on timeout, and writes ``status.json`` once at the end.

Every job pays for this process's start-up, so it imports little (stdlib, and psutil only when a job
left processes behind) and sees its job end as it happens (a pidfd where the OS has them), not on
its next look.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import local_files as files
from .local_procs import is_alive, kill_job, start_token

#: Seconds between SIGTERM and SIGKILL when a job is cancelled or times out.
GRACE_S = 3.0
#: How often the runner looks at its job, the clock and the cancel request.
TICK_S = 0.1
#: The option of a runner that makes its job's folder from the plan given on stdin.
PLAN_ON_STDIN = "--plan-on-stdin"
#: The exit code of a runner whose job's folder was made by another meanwhile (it did nothing).
FOLDER_TAKEN = 3


class _StopRequest:
    """Set by SIGTERM, SIGINT or SIGHUP: the backend asks the runner to cancel the job."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True


def _exited(pid: int) -> bool:
    """True once the child ``pid`` has ended; it is left unreaped so its pid stays reserved.

    Where ``os.waitid`` is missing (macOS before Python 3.13) an unreaped child that ended is a
    zombie, which psutil sees without reaping it.
    """
    if hasattr(os, "waitid"):
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    return not is_alive(pid, None)  # our unreaped child: its pid cannot belong to anyone else


def _complete_folder(job_dir: Path, plan: dict[str, Any]) -> None:
    """Make what the submission left to the runner (each file created costs a queued job): the outputs folder,
    the parameters file and the log."""
    (job_dir / files.OUTPUTS).mkdir(exist_ok=True)
    params = job_dir / files.PARAMS
    if not params.exists():
        files.write_json(params, plan.get("spec", {}).get("params", {}))
    open(job_dir / files.LOG, "ab").close()


def _start(job_dir: Path, plan: dict[str, Any]) -> subprocess.Popen[bytes]:
    env = {**os.environ, **plan.get("env", {}), "PYTHONUNBUFFERED": "1"}
    with open(job_dir / files.LOG, "ab") as log:
        return subprocess.Popen(
            plan["argv"],
            cwd=plan.get("cwd") or None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def _exit_waiter(pid: int) -> Any:
    """A callable that waits up to its argument (seconds) for the job to end; at once if it ends."""
    try:
        pidfd = os.pidfd_open(pid)  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):  # not Linux 5.3+: a plain sleep
        return time.sleep
    return lambda seconds: select.select([pidfd], [], [], seconds)


def _supervise(job_dir: Path, pid: int, timeout_s: float | None, stop: _StopRequest) -> str:
    """Wait for the job: 'exited', 'cancelled' or 'timed_out'."""
    deadline = time.monotonic() + timeout_s if timeout_s else None
    wait = _exit_waiter(pid)
    while not _exited(pid):
        if stop.requested or (job_dir / files.CANCEL).exists():
            return "cancelled"
        if deadline is not None and time.monotonic() >= deadline:
            return "timed_out"
        wait(TICK_S)
    return "exited"


def _last_log_line(job_dir: Path, limit: int = 200) -> str:
    try:
        with open(job_dir / files.LOG, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _failure_message(job_dir: Path, code: int) -> str:
    if code < 0:
        return f"killed by signal {_signal_name(-code)}"
    explained = files.read_json(job_dir / files.ERROR)
    if explained and explained.get("message"):
        return str(explained["message"])
    last = _last_log_line(job_dir)
    return f"exited with code {code}" + (f": {last}" if last else "")


def _outcome_status(
    job_dir: Path, outcome: str, code: int, started: str, timeout_s: float | None
) -> dict[str, Any]:
    if outcome == "cancelled":
        return files.final_status("CANCELLED", "cancelled", exit_code=code, started=started)
    if outcome == "timed_out":
        message = f"timed out after {timeout_s:g} s"
        return files.final_status("TIMED_OUT", message, exit_code=code, started=started)
    if code == 0:
        return files.final_status("SUCCEEDED", exit_code=0, started=started)
    return files.final_status(
        "FAILED", _failure_message(job_dir, code), exit_code=code, started=started
    )


def _runner_record() -> dict[str, Any]:
    return {"pid": os.getpid(), "start_token": start_token(os.getpid())}


def _make_folder(job_dir: Path) -> bool:
    """Make the folder of a job from the queue journal, its plan read from stdin, this runner recorded in it; then
    send this process's output to its ``runner.log``. False if the folder was made by another (a cancel, or
    another runner of the job after a restart of the server): the job is theirs."""
    if not files.materialize(job_dir, sys.stdin.buffer.read(), runner=_runner_record()):
        return False
    log = os.open(job_dir / files.RUNNER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    for fd in (1, 2):
        os.dup2(log, fd)
    os.close(log)
    return True


def run(job_dir: Path, stop: _StopRequest, *, recorded: bool = False) -> dict[str, Any]:
    """Run the job planned in ``job_dir`` to its end; the content of its ``status.json``. ``recorded``: this
    runner is recorded in the folder already."""
    if not recorded:
        # Recorded here, not by the backend that started it (the first thing, so that the launch claim's grace
        # covers the gap): a server killed just after starting it could not record it.
        files.write_json(job_dir / files.RUNNER, _runner_record())
    settled = files.read_json(job_dir / files.STATUS)
    if settled is not None:  # e.g. taken as lost while this runner was slow to start: it must not run now
        return settled
    plan = files.read_json(job_dir / files.PLAN)
    if plan is None:
        return files.final_status("FAILED", f"runner error: no readable {files.PLAN}")
    _complete_folder(job_dir, plan)
    if stop.requested or (job_dir / files.CANCEL).exists():
        return files.final_status("CANCELLED", "cancelled before it started")
    try:
        proc = _start(job_dir, plan)
    except OSError as exc:
        return files.final_status("FAILED", f"could not start the job: {exc}")
    started = files.now_iso()
    token = start_token(proc.pid)
    record = {"pid": proc.pid, "pgid": proc.pid, "start_token": token, "started": started}
    files.write_json(job_dir / files.PROCESS, record)
    timeout_s = plan.get("timeout_s")
    outcome = _supervise(job_dir, proc.pid, timeout_s, stop)
    kill_job(proc.pid, token, GRACE_S)  # on a normal exit: what the job left behind
    code = proc.wait()
    return _outcome_status(job_dir, outcome, code, started, timeout_s)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the job whose folder is the first argument; with ``--plan-on-stdin``, make that folder
    first (a job from the queue journal). Exits with ``FOLDER_TAKEN`` if another made it."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or args[1:] not in ([], [PLAN_ON_STDIN]):
        print(f"usage: python -m jupyter_compute.backends.local_runner <job_dir> [{PLAN_ON_STDIN}]", file=sys.stderr)
        return 2
    job_dir = Path(args[0]).resolve()
    stop = _StopRequest()
    from_journal = args[1:] == [PLAN_ON_STDIN]
    if from_journal and not _make_folder(job_dir):
        return FOLDER_TAKEN
    try:
        status = run(job_dir, stop, recorded=from_journal)
    except Exception as exc:  # noqa: BLE001 — never vanish without a status
        import traceback

        traceback.print_exc()
        status = files.final_status("FAILED", f"runner error: {type(exc).__name__}: {exc}")
    files.write_json_once(job_dir / files.STATUS, status, durable=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
