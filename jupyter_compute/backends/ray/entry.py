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


def run(command: str, env: dict[str, str], timeout_s: float | None) -> int:
    """Run ``command`` with the shell in a process group of its own; its exit code (128 + signal when one
    ended it). Ray's stop (SIGTERM to this process) is passed on to the program's group."""
    program = subprocess.Popen(command, shell=True, env=env, start_new_session=True)

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
    return 128 - code if code < 0 else code


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
