"""A v1 inference service's record and the worker thread that moves it through its states.

Batch: deploying → running → finished (or failed with ``error_msg``); the worker reads every file under
``src_path`` from OBS, asks the model (one request per file, or per csv row built by ``mapping_rule``),
and writes under ``dest_path`` one ``<input name>_result.txt`` per input (JSON lines, one per csv row in
order, for csv; the model's JSON answer for a file) and ``infer-result-0.manifest`` (one line per input:
``{"source", "result": "SUCCESSFUL"|"FAILED", "inference-loc"|"error_message"}``), as the platform does.
Real-time: deploying → running, then running until stopped, or until its ``schedule`` ends it.
A stop asked for while deploying or running: stopping → stopped. Each step waits ``step_delay_s``.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .jobs import now_ms
from .obs import ObsPath, ObsStore, StageError
from .service_body import obs_folder
from .service_models import MODELS, Model, ModelError, build_request, check_start, json_line, predict, predict_file

log = logging.getLogger(__name__)

#: States a stop is allowed from, and those a start is allowed from.
CAN_STOP = frozenset({"deploying", "running", "concerning", "pending", "waiting"})
CAN_START = frozenset({"stopped", "failed", "finished"})
MANIFEST = "infer-result-0.manifest"


class Stopped(Exception):
    """A stop (or a delete) arrived while the worker was busy."""


_creations = itertools.count()


@dataclass
class Service:
    """One service and everything its worker changes (guarded by ``lock``)."""

    id: str
    body: dict[str, Any]
    api_id: str
    predict_url: str
    created_ms: int = field(default_factory=now_ms)
    #: Creation order: breaks ties of the millisecond times in listings (newest first means the last created).
    created_seq: int = field(default_factory=lambda: next(_creations))
    status: str = "deploying"
    progress: int = 0
    error_msg: str = ""
    update_time: int = field(default_factory=now_ms)
    transition_at: int = field(default_factory=now_ms)
    start_time: int | None = None
    finished_time: int | None = None
    due_time: int | None = None
    invocation_times: int = 0
    failed_times: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    authed_apps: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False

    @property
    def name(self) -> str:
        return self.body["service_name"]

    @property
    def kind(self) -> str:
        return self.body["infer_type"]

    def model(self, index: int = 0) -> Model:
        return MODELS[self.body["config"][index]["model_id"]]

    def event(self, info: str, abnormal: bool = False) -> None:
        """Add a lifecycle event (call with ``lock`` held)."""
        self.events.append({"event_type": "abnormal" if abnormal else "normal", "event_info": info,
                            "occur_time": now_ms()})

    def set_status(self, status: str) -> None:
        """Change the status (call with ``lock`` held)."""
        self.status, self.transition_at = status, now_ms()


class Runner:
    """Moves one service from a start to its next resting state, in a thread."""

    def __init__(self, svc: Service, store: ObsStore, workdir: Path, step_delay: Callable[[], float],
                 unit_seconds: Callable[[str], float]) -> None:
        self.svc, self.store, self.workdir = svc, store, workdir
        self.step_delay, self.unit_seconds = step_delay, unit_seconds
        self.thread = threading.Thread(target=self.run, name=f"modelarts-service-{svc.id[:8]}", daemon=True)

    # -------------------------------------------------------------- helpers
    def _pause(self, seconds: float | None = None) -> None:
        if self.svc.stop.wait(self.step_delay() if seconds is None else seconds):
            raise Stopped

    def _move(self, status: str, info: str, progress: int | None = None) -> None:
        with self.svc.lock:
            if self.svc.stop.is_set():
                raise Stopped
            self.svc.set_status(status)
            if progress is not None:
                self.svc.progress = progress
            self.svc.event(info)

    def _note(self, info: str) -> None:
        with self.svc.lock:
            self.svc.event(info)

    # -------------------------------------------------------------- run
    def run(self) -> None:
        try:
            self._deploy()
            if self.svc.kind == "batch":
                self._batch()
            else:
                self._serve()
        except Stopped:
            self._stopped()
        except (ModelError, StageError) as exc:
            self._failed(str(exc))
        except Exception as exc:  # an internal error fails the service, never the server
            log.exception("ModelArts sandbox: service %s failed internally", self.svc.id)
            self._failed(f"sandbox internal error: {exc}")

    def _deploy(self) -> None:
        svc = self.svc
        label = f"[{svc.model().model_name} {svc.model().model_version}]"
        self._note("start to deploy service")
        self._pause()
        self._move("deploying", f"{label} prepare environment success", progress=40)
        self._pause()
        self._move("deploying", f"{label} starting model", progress=80)
        for index in range(len(svc.body["config"])):
            check_start(svc.model(index))
        self._pause()

    def _serve(self) -> None:
        svc = self.svc
        schedule = svc.body["schedule"]
        wait_s = None
        with svc.lock:
            if svc.stop.is_set():
                raise Stopped
            svc.set_status("running")
            svc.progress, svc.start_time = 100, now_ms()
            svc.event("service is running")
            if schedule:
                wait_s = schedule[0]["duration"] * self.unit_seconds(schedule[0]["time_unit"])
                svc.due_time = svc.start_time + int(wait_s * 1000)
        if not svc.stop.wait(wait_s):
            self._schedule_stop(schedule[0])
        raise Stopped

    def _schedule_stop(self, rule: dict[str, Any]) -> None:
        with self.svc.lock:
            if self.svc.stop.is_set():
                return
            self.svc.set_status("stopping")
            self.svc.event(f"the service is stopped by its schedule (stop after {rule['duration']} "
                           f"{rule['time_unit']})")
            self.svc.stop.set()

    def _stopped(self) -> None:
        svc = self.svc
        with svc.lock:
            if svc.deleted:
                return
            if svc.status != "stopping":
                svc.set_status("stopping")
                svc.event("stopping service")
        time.sleep(self.step_delay())
        with svc.lock:
            if not svc.deleted:
                svc.set_status("stopped")
                svc.due_time = None
                svc.event("service stopped")

    def _failed(self, message: str) -> None:
        with self.svc.lock:
            if self.svc.deleted:
                return
            self.svc.set_status("failed")
            self.svc.error_msg = message
            self.svc.event(message, abnormal=True)

    # -------------------------------------------------------------- batch
    def _batch(self) -> None:
        svc = self.svc
        config = svc.body["config"][0]
        with svc.lock:
            if svc.stop.is_set():
                raise Stopped
            svc.set_status("running")
            svc.progress, svc.start_time = 100, now_ms()
            svc.event(f"batch task started: reading {config['src_path']}")
        src, dest = obs_folder(config["src_path"], "src_path"), obs_folder(config["dest_path"], "dest_path")
        folder = self.workdir / svc.id / f"run-{now_ms()}"
        try:
            files = self.store.download(src, folder / "in", "the batch input src_path")
            self._infer_all(config, src, dest, sorted(files), folder)
            count = self.store.upload(folder / "out", dest, "the batch results")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        with svc.lock:
            if svc.stop.is_set():
                raise Stopped
            svc.set_status("finished")
            svc.finished_time = now_ms()
            svc.event(f"batch task finished: {count - 1} result file(s) written to {config['dest_path']}")

    def _infer_all(self, config: dict[str, Any], src: ObsPath, dest: ObsPath, files: list[Path],
                   folder: Path) -> None:
        out = folder / "out"
        out.mkdir(parents=True, exist_ok=True)
        lines = []
        for file in files:
            rel = file.relative_to(folder / "in").as_posix()
            source = f"obs://{src.bucket}/{src.key}{rel}"
            result_name = f"{PurePosixPath(rel).name}_result.txt"
            try:
                text = self._infer_file(config, file)
            except ModelError as exc:
                lines.append(json_line({"source": source, "result": "FAILED", "error_message": str(exc)}))
                continue
            (out / result_name).write_text(text)
            lines.append(json_line({"source": source, "result": "SUCCESSFUL",
                                    "inference-loc": f"obs://{dest.bucket}/{dest.key}{result_name}"}))
        (out / MANIFEST).write_text("".join(lines))

    def _infer_file(self, config: dict[str, Any], file: Path) -> str:
        model = MODELS[config["model_id"]]
        if config["mapping_type"] == "file":
            self._work(model)
            return json_line(predict_file(model, file.read_bytes()))
        if file.suffix.lower() != ".csv":
            raise ModelError(f"{file.name} is not a .csv file (mapping_type csv)")
        rows = list(csv.reader(io.StringIO(file.read_text(encoding="utf-8", errors="replace"))))
        answers = []
        for row in rows:
            if not row:
                continue
            self._work(model)
            try:
                answers.append(json_line(predict(model, build_request(config["mapping_rule"], row))))
            except ModelError as exc:
                answers.append(json_line({"error_msg": str(exc)}))
        return "".join(answers)

    def _work(self, model: Model) -> None:
        """One request's work: a stop ends it; the slow model takes a step delay."""
        if self.svc.stop.is_set():
            raise Stopped
        if model.slow:
            self._pause()
