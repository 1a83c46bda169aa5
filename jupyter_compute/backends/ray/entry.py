"""Runs one jupyter-compute job on a Ray cluster, as the job's entrypoint: the program under its time limit,
then its outputs copied to the results location.

Shipped in the job's ``working_dir`` package and run there by Ray with the cluster's Python, so it uses the
standard library only (and fsspec on the cluster when the results location is not a folder the nodes
share). It reads its plan from ``_jupyter_compute_plan.json`` beside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

PLAN_FILE = "_jupyter_compute_plan.json"
#: The exit code of a job stopped by its time limit (as GNU timeout's).
TIMED_OUT_EXIT = 124
#: How long the program has to end after SIGTERM before it is killed.
GRACE_S = 2.0


def main() -> int:
    with open(PLAN_FILE, encoding="utf-8") as source:
        plan: dict[str, Any] = json.load(source)
    output_dir = os.path.abspath(plan.get("output_dir") or "outputs")
    os.makedirs(output_dir, exist_ok=True)
    env = {**os.environ, "JUPYTER_COMPUTE_OUTPUT_DIR": output_dir}
    code = run(plan["command"], env, plan.get("timeout_s"))
    if plan.get("results_url"):
        code = upload(output_dir, plan["results_url"], plan.get("results_options") or {}) or code
    return code


#: Runs the program (argv[1], with the shell) in the keeper's own process group, and ends that whole group
#: when the entry process dies: Ray's stop, or the loss of its job supervisor, kills only the entry's group.
KEEPER = """
import ctypes, os, signal, subprocess, sys
signal.signal(signal.SIGUSR1, lambda *_: os.killpg(0, signal.SIGKILL))
signal.signal(signal.SIGTERM, lambda *_: None)  # a stop reaches the program; the keeper waits for it
try:
    ctypes.CDLL(None).prctl(1, signal.SIGUSR1)  # PR_SET_PDEATHSIG: the entry process died
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[2]):
    os.killpg(0, signal.SIGKILL)
sys.exit(subprocess.call(sys.argv[1], shell=True))
"""


def run(command: str, env: dict[str, str], timeout_s: float | None) -> int:
    """Run ``command`` under the keeper in a process group of its own, its output copied to this log line by
    line (undecodable bytes replaced: Ray reads the log as strict UTF-8); its exit code (128 + signal when
    one ended it). Ray's stop (SIGTERM to this process) is passed on to the program's group."""
    program = subprocess.Popen([sys.executable, "-c", KEEPER, command, str(os.getpid())], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    pump = threading.Thread(target=copy_output, args=(program,), daemon=True)
    pump.start()

    def stopped(signum: int, frame: object) -> None:
        end(program)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stopped)
    try:
        code = program.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        print(f"jupyter-compute: the job reached its time limit of {timeout_s:g} s and was stopped", flush=True)
        end(program)
        return TIMED_OUT_EXIT
    finally:
        pump.join(timeout=GRACE_S)
    return 128 - code if code < 0 else code


def copy_output(program: subprocess.Popen[bytes]) -> None:
    """The program's output to this process's, as UTF-8 text."""
    assert program.stdout is not None
    for line in iter(program.stdout.readline, b""):
        sys.stdout.write(line.decode("utf-8", errors="replace"))
        sys.stdout.flush()


def end(program: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the program's group, SIGKILL after the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(program.pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + GRACE_S
        while program.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if program.poll() is not None:
            return


def upload(output_dir: str, url: str, options: dict[str, Any]) -> int:
    """Copy the outputs to ``url`` (an fsspec URL); 1 with a message when that fails, else 0."""
    names = [os.path.relpath(os.path.join(folder, name), output_dir)
             for folder, _, files in os.walk(output_dir) for name in files]  # fmt: skip
    if not names:
        return 0
    try:
        import fsspec

        fs, root = fsspec.core.url_to_fs(url, **options)
        for name in names:
            fs.put_file(os.path.join(output_dir, name), root.rstrip("/") + "/" + name.replace(os.sep, "/"))
    except Exception as exc:  # noqa: BLE001 — any failure is the job's, said in its log
        print(f"jupyter-compute: copying the outputs to {url} failed: {type(exc).__name__}: {exc}", flush=True)
        return 1
    print(f"jupyter-compute: {len(names)} output file(s) copied to {url}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
