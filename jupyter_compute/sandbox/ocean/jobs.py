"""Compute jobs of the Ocean Provider sandbox: the operator engine's part.

Each job gets a private folder laid out like a C2D pod's ``/data``; its algorithm runs as a
subprocess started and watched from the job's own worker thread (never on the server's loop), and
its status walks the operator engine's steps ``1 → 20 → 30 → 40 → 60 → 70`` (or ends at 31/32).
The algorithm sees the pod's variables (``VOLUME``, ``INPUTS``, ``OUTPUTS``, ``LOGS``, ``DIDS``,
``TRANSFORMATION_DID``) naming the job's ``data`` folder instead of ``/data``. An algorithm that fails
still ends at 70, as in the operator engine: its failure shows only as a job without outputs and a
traceback in its log. See ``server.py`` for the HTTP side; this module imports nothing of ours.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._procs import kill_group

# The operator engine's status texts; the docs spell two of them differently.
STATUS_TEXT_CODE = {
    1: "Warming up", 7: "Job stopped", 8: "Job deleted successfully", 10: "Job started",
    20: "Configuring volumes", 30: "Provisioning success", 31: "Data provisioning failed",
    32: "Algorithm provisioning failed", 40: "Running algorithm ", 50: "Filtering results",
    60: "Publishing results", 70: "Job finished",
}
STATUS_TEXT_DOCS = {**STATUS_TEXT_CODE, 40: "Running algorith", 70: "Job completed"}

ALGORITHM_LOG = "algorithm.log"
CONFIGURATION_LOG = "configure.log"
# What a job's algorithm may see of the server's environment (nothing secret).
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "TZ")


@dataclass
class Dataset:
    """A registered dataset asset: its file, its compute service's id and that service's rules."""

    did: str
    path: Path
    service_id: str = "compute"
    allow_raw_algorithm: bool = True
    trusted_algorithms: frozenset[str] | None = None


@dataclass
class Algorithm:
    """An algorithm to run: a registered asset (``did``) or raw code (``did`` "raw")."""

    did: str
    code: str | None
    image: str = "python"
    tag: str = "3.11"
    entrypoint: str = "python $ALGO"


@dataclass
class Job:
    """One compute job, as the operator engine keeps it."""

    job_id: str
    owner: str
    agreement_id: str
    environment: str
    algorithm: Algorithm  # known: the Provider refuses unknown DIDs at the start
    datasets: list[tuple[str, Path]]  # (did, file); a file gone by provisioning ends the job at 31
    algocustomdata: Any
    max_duration_s: float
    folder: Path
    algo_did: str
    created: float = field(default_factory=time.time)
    finished: float | None = None
    status: int = 1
    stopreq: int = 0
    removed: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    result_paths: list[Path] = field(default_factory=list)
    history: list[int] = field(default_factory=lambda: [1])
    note: str = ""  # why provisioning failed (for tests; the Provider does not say)
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None  # the running algorithm, set under the runner's lock
    deleted: bool = False
    done: bool = False  # its worker thread has ended
    stop_requested: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def input_dids(self) -> list[str]:
        return [did for did, _ in self.datasets]


def _date(moment: float | None, variant: str) -> str | None:
    if moment is None:
        return None
    if variant == "docs":
        return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(moment)


def status_object(job: Job, variant: str = "code", status: int | None = None) -> dict[str, Any]:
    """The job as the Provider answers it (code-true fields, or the docs' spelling)."""
    code = job.status if status is None else status
    texts = STATUS_TEXT_DOCS if variant == "docs" else STATUS_TEXT_CODE
    body: dict[str, Any] = {
        "agreementId": job.agreement_id, "jobId": job.job_id, "owner": job.owner, "status": code,
        "statusText": texts[code], "dateCreated": _date(job.created, variant),
        "dateFinished": _date(job.finished, variant),
        "results": [dict(r) for r in job.results] if job.results else "",
        "stopreq": job.stopreq, "removed": job.removed, "algoDID": job.algo_did, "inputDID": job.input_dids,
    }
    if variant == "docs":
        body["documentId"] = job.input_dids[0] if job.input_dids else None
    return body


def pod_environment(job: Job) -> dict[str, str]:
    """The variables the operator engine's pod gives an algorithm, with the job's folder for ``/data``."""
    data = job.folder / "data"
    return {"VOLUME": str(data), "INPUTS": str(data / "inputs"), "OUTPUTS": str(data / "outputs"),
            "LOGS": str(data / "logs"), "DIDS": json.dumps(job.input_dids), "TRANSFORMATION_DID": job.algo_did}


def python_argv(entrypoint: str, algo_path: Path) -> list[str] | None:
    """The command of a Python entrypoint (``python $ALGO`` → this interpreter), else None."""
    try:
        argv = shlex.split(entrypoint.replace("$ALGO", shlex.quote(str(algo_path))))
    except ValueError:
        return None
    if not argv or not Path(argv[0]).name.startswith("python"):
        return None
    return [sys.executable, *argv[1:]]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill an algorithm: its whole process group, then the leader itself should the group signal miss."""
    if proc.returncode is not None:
        return
    kill_group(proc.pid)
    with contextlib.suppress(OSError):
        proc.kill()


class JobRunner:
    """Runs jobs on worker threads; every change of a job is made under ``lock``."""

    def __init__(self, lock: threading.RLock, step_delay_s: Callable[[], float]) -> None:
        self.lock = lock
        self.step_delay_s = step_delay_s
        self.closing = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, job: Job) -> None:
        thread = threading.Thread(target=self._run, args=(job,), name=f"ocean-job-{job.job_id[:8]}", daemon=True)
        job.thread = thread
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def stop(self, job: Job) -> None:
        """Ask a job to stop: its algorithm is killed (or never started), then it publishes and ends at 70.

        Race-free with the start of the algorithm: the runner checks the request and starts the
        process under the same lock, so either it sees the request and starts nothing, or the
        process is already recorded here and is killed at once.
        """
        with self.lock:
            if job.finished is None:
                job.stopreq = 1
                job.stop_requested.set()
                if job.proc is not None:
                    _kill(job.proc)

    def delete(self, job: Job) -> None:
        """Forget a job: its algorithm is killed and its folder removed."""
        with self.lock:
            job.deleted = True
            job.stop_requested.set()
            if job.proc is not None:
                _kill(job.proc)
            remove_now = job.done or job.thread is None
        if remove_now:
            shutil.rmtree(job.folder, ignore_errors=True)

    def close(self) -> None:
        self.closing.set()
        for thread in list(self._threads):
            thread.join(10)

    # ------------------------------------------------------------------ the steps
    def _pause(self, job: Job) -> bool:
        """Wait one step; True when the job must end now (deleted, or the server stops)."""
        return self.closing.wait(max(0.0, self.step_delay_s())) or job.deleted

    def _set(self, job: Job, status: int) -> None:
        with self.lock:
            job.status = status
            job.history.append(status)

    def _finish(self, job: Job, status: int, results: list[tuple[dict[str, Any], Path]] | None = None) -> None:
        with self.lock:
            job.status = status
            job.history.append(status)
            job.results = [r for r, _ in results or []]
            job.result_paths = [p for _, p in results or []]
            job.finished = time.time()

    def _run(self, job: Job) -> None:
        try:
            self._steps(job)
        except Exception as exc:  # noqa: BLE001 - a job must end even when the sandbox itself fails
            self._crashed(job, exc)
        finally:
            with self.lock:
                job.done = True
                remove = job.deleted
            if remove:
                shutil.rmtree(job.folder, ignore_errors=True)

    def _steps(self, job: Job) -> None:
        if self._pause(job):
            return
        self._set(job, 20)
        failed = self._provision(job)
        if self._pause(job):
            return
        if failed:
            self._finish(job, failed)
            return
        self._set(job, 30)
        if self._pause(job):
            return
        if not job.stop_requested.is_set():
            self._set(job, 40)
            self._execute(job)
            if self._pause(job):
                return
        self._set(job, 60)
        results = self._collect(job)
        if self._pause(job):
            return
        self._finish(job, 70, results)

    def _crashed(self, job: Job, exc: Exception) -> None:
        """Finish a job whose run broke inside the sandbox (never leave it at a running status)."""
        with self.lock:
            if job.proc is not None:
                _kill(job.proc)
        note = f"the sandbox failed running this job: {type(exc).__name__}: {exc}"
        try:
            results = self._collect(job)
        except OSError:
            results = []
        with self.lock:
            job.note = job.note or note
            if job.finished is None:
                self._finish(job, 70, results)

    def _provision(self, job: Job) -> int | None:
        """Lay out the pod's folders; 31 or 32 when data or algorithm cannot be provisioned."""
        data = job.folder / "data"
        for sub in ("inputs", "transformations", "outputs", "logs", "ddos"):
            (data / sub).mkdir(parents=True, exist_ok=True)
        log: list[str] = [f"job {job.job_id}: configuring volumes"]
        for did, path in job.datasets:
            if not path.is_file():
                job.note = f"dataset {did}: file gone"
                log.append(job.note)
                self._write(data / "logs" / CONFIGURATION_LOG, log)
                return 31
            target = data / "inputs" / did / "0"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            (data / "ddos" / did).write_text(json.dumps({"id": did, "metadata": {"name": path.name}}))
            log.append(f"dataset {did}: {target.stat().st_size} bytes → inputs/{did}/0")
        algo = job.algorithm
        algo_path = data / "transformations" / "algorithm"
        argv = python_argv(algo.entrypoint, algo_path)
        if algo.code is None or argv is None:
            job.note = ("algorithm has no rawcode" if algo.code is None else
                        f"entrypoint {algo.entrypoint!r} is not Python (this sandbox runs Python only)")
            log.append(job.note)
            self._write(data / "logs" / CONFIGURATION_LOG, log)
            return 32
        algo_path.write_text(algo.code, encoding="utf-8")
        (data / "inputs" / "algoCustomData.json").write_text(json.dumps(job.algocustomdata), encoding="utf-8")
        log.append(f"algorithm {algo.did}: {algo.image}:{algo.tag}, entrypoint {algo.entrypoint!r}")
        log.append("provisioning success")
        self._write(data / "logs" / CONFIGURATION_LOG, log)
        return None

    @staticmethod
    def _write(path: Path, lines: list[str]) -> None:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _execute(self, job: Job) -> None:
        data = job.folder / "data"
        algo_path = data / "transformations" / "algorithm"
        argv = python_argv(job.algorithm.entrypoint, algo_path) or [sys.executable, str(algo_path)]
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.update(pod_environment(job), ALGO=str(algo_path), PYTHONUNBUFFERED="1")
        deadline = time.monotonic() + job.max_duration_s
        with open(data / "logs" / ALGORITHM_LOG, "wb") as log:
            with self.lock:  # see stop(): the request is checked and the process recorded at once
                if job.stop_requested.is_set() or self.closing.is_set():
                    return
                try:
                    proc = subprocess.Popen(argv, cwd=job.folder, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
                except OSError as exc:
                    log.write(f"could not start the algorithm: {exc}\n".encode())
                    return
                job.proc, job.pid = proc, proc.pid
            try:
                self._watch(job, proc, deadline, log)
            finally:
                _kill(proc)  # never left running, whatever happened above
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        if proc.returncode and job.stopreq == 0:
            job.note = f"the algorithm exited with code {proc.returncode}"  # for tests: the Provider does not say

    def _watch(self, job: Job, proc: subprocess.Popen[bytes], deadline: float, log: Any) -> None:
        """Wait for the algorithm; kill it on a stop request, at the server's stop or past its time limit."""
        while True:
            try:
                proc.wait(timeout=0.05)
                return
            except subprocess.TimeoutExpired:
                pass
            late = time.monotonic() > deadline
            if job.stop_requested.is_set() or self.closing.is_set() or late:
                with self.lock:
                    if late and not job.stop_requested.is_set():
                        job.stopreq = 2
                    _kill(proc)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    log.write(b"the algorithm did not end when killed\n")
                return

    def _collect(self, job: Job) -> list[tuple[dict[str, Any], Path]]:
        """The job's results in the Provider's order: outputs, then logs."""
        data = job.folder / "data"
        out: list[tuple[dict[str, Any], Path]] = []
        outputs = data / "outputs"
        for path in sorted(p for p in outputs.rglob("*") if p.is_file()):
            out.append(({"filename": path.relative_to(outputs).as_posix(), "filesize": path.stat().st_size,
                         "type": "output"}, path))
        for name, kind in ((ALGORITHM_LOG, "algorithmLog"), (CONFIGURATION_LOG, "configrationLog")):
            path = data / "logs" / name
            if path.is_file():
                out.append(({"filename": name, "filesize": path.stat().st_size, "type": kind}, path))
        return out
