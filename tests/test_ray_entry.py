"""The entrypoint a Ray job runs on the cluster (jupyter_compute/backends/ray/entry.py), run here as Ray runs
it: in the job's working directory, with its plan beside it. Its program's exit code, output, time limit,
and that the program never outlives it (Ray's stop, or a lost job supervisor, kills only its group)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from conftest import wait_for

from jupyter_compute.backends.ray import entry
from jupyter_compute.backends.ray.spec import PLAN_FILE

ENTRY = Path(entry.__file__)


def start(folder: Path, command: str, timeout_s: float | None = None) -> subprocess.Popen[bytes]:
    (folder / PLAN_FILE).write_text(json.dumps({"command": command, "timeout_s": timeout_s}))
    return subprocess.Popen([sys.executable, str(ENTRY)], cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def test_the_programs_exit_code_and_output_are_the_jobs(tmp_path: Path) -> None:
    job = start(tmp_path, "echo to the log; echo made > \"$JUPYTER_COMPUTE_OUTPUT_DIR/out.txt\"; exit 3")
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 3 and b"to the log" in out
    assert (tmp_path / "outputs" / "out.txt").read_text() == "made\n"


def test_bytes_that_are_no_utf8_reach_the_log_replaced(tmp_path: Path) -> None:
    """Ray reads a job's log as strict UTF-8: one bad byte would make the whole log unreadable."""
    job = start(tmp_path, f"{sys.executable} -c \"import sys; sys.stdout.buffer.write(bytes([104, 105, 255, 10]))\"")
    out, _ = job.communicate(timeout=60)
    assert out.decode("utf-8") == "hi\ufffd\n"


def test_the_time_limit_stops_the_program_with_its_own_code(tmp_path: Path) -> None:
    job = start(tmp_path, "sleep 300", timeout_s=1)
    out, _ = job.communicate(timeout=60)
    assert job.returncode == entry.TIMED_OUT_EXIT and b"time limit of 1 s" in out


def test_the_program_does_not_outlive_the_entrypoint(tmp_path: Path) -> None:
    marker = f"sleep {300 + os.getpid() % 97}"
    job = start(tmp_path, f"{marker} & {marker}; wait")
    programs = wait_for(lambda: [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] ==
                                 marker.split()] or None, "the program's two processes", timeout=60)  # fmt: skip
    assert len(programs) == 2
    job.send_signal(signal.SIGKILL)  # as when Ray's job supervisor is lost: nothing runs the stop
    job.wait(timeout=30)
    wait_for(lambda: not [p for p in programs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE],
             "the program to end with its entrypoint", timeout=60)  # fmt: skip


def test_rays_stop_reaches_the_program(tmp_path: Path) -> None:
    job = start(tmp_path, "trap 'echo stopping; exit 0' TERM; sleep 300 & wait")
    wait_for(lambda: [p for p in psutil.Process(job.pid).children(recursive=True) if "sleep" in p.name()] or None,
             "the program to run", timeout=60)  # fmt: skip
    job.send_signal(signal.SIGTERM)
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 128 + signal.SIGTERM and b"stopping" in out, out
