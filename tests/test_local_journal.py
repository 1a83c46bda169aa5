"""The local backend's queue journal: queued jobs kept as lines of one file, their folders made as they start."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run, until, wait_status
from test_local_backend import backend, gated, no_leftovers  # noqa: F401 — no_leftovers: an autouse fixture

from jupyter_compute.backends import local, local_journal
from jupyter_compute.backends import local_files as files
from jupyter_compute.backends.local_journal import JOURNAL, QueueJournal
from jupyter_compute.backends.local_runner import FOLDER_TAKEN, PLAN_ON_STDIN
from jupyter_compute.errors import NotFound
from jupyter_compute.models import JobSpec, JobState


def plan_of(command: str, job_dir: Path) -> bytes:
    """A plan as the backend writes it, for ``command`` run in the folder ``job_dir``."""
    plan = {"argv": ["/bin/sh", "-c", command], "cwd": str(job_dir.parent), "env": {}, "timeout_s": None,
            "submitted": 1.0, "spec": {"command": command}}
    return json.dumps(plan).encode()


def test_the_journal_keeps_the_lines_that_stand_and_skips_a_torn_one(tmp_path: Path) -> None:
    journal = QueueJournal(tmp_path)
    journal.append([("a", b'{"n":1}'), ("b", b'{"n":2}')])
    journal.append([("c", b'{"n":3}')])
    journal.drop("b")
    journal.close()
    with open(tmp_path / JOURNAL, "ab") as f:
        f.write(b'{"id":"d","plan":{"n":')  # an OS crash in the middle of a write
    again = QueueJournal(tmp_path)
    assert again.peek() == {"a", "c"}
    assert again.load(has_folder=["c"]) == {"a": b'{"n":1}'}  # "c" was started: its folder tells from now on
    assert (tmp_path / JOURNAL).read_bytes() == b'{"id":"a","plan":{"n":1}}\n', "rewritten with what stands"
    assert "a" in again and "c" not in again
    again.drop("a")
    assert QueueJournal(tmp_path).load() == {}
    assert not (tmp_path / JOURNAL).exists(), "nothing stands: no file"


def test_a_long_journal_is_rewritten_without_the_jobs_that_have_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_journal, "COMPACT_SLACK", 4)
    journal = QueueJournal(tmp_path)
    for i in range(5):
        journal.append([(f"j{i}", b"{}")])
    for started in ("j0", "j1", "j3"):
        (tmp_path / started).mkdir()
    journal.drop("j4")
    journal.append([("new", b"{}")])  # 6 lines > 2 * 0 + 4: rewritten first
    ids = [json.loads(line)["id"] for line in (tmp_path / JOURNAL).read_text().splitlines()]
    assert ids == ["j2", "new"]
    assert all(job_id not in journal for job_id in ("j0", "j1", "j3", "j4")) and "j2" in journal


def run_runner(job_dir: Path, plan: bytes) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", local.RUNNER_MODULE, str(job_dir), PLAN_ON_STDIN],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_of_two_runners_of_one_job_only_the_one_that_makes_its_folder_runs_it(tmp_path: Path) -> None:
    """After a restart of the server, a queued job may be started again while its first runner still starts:
    making the folder is the launch claim, and the other runner does nothing."""
    job_dir = tmp_path / "jobs" / "twice"
    job_dir.parent.mkdir()
    marker = tmp_path / "ran"
    plan = plan_of(f'echo once >> "{marker}"', job_dir)
    runners = [run_runner(job_dir, plan) for _ in range(2)]
    for runner in runners:
        runner.communicate(plan, timeout=120)
    assert sorted(runner.returncode for runner in runners) == [0, FOLDER_TAKEN]
    assert marker.read_text() == "once\n"
    assert files.read_json(job_dir / files.STATUS)["state"] == "SUCCEEDED"
    assert sorted(p.name for p in job_dir.parent.iterdir()) == ["twice"], "the loser left nothing behind"


def test_a_runner_whose_job_was_settled_before_it_made_the_folder_does_nothing(tmp_path: Path) -> None:
    job_dir = tmp_path / "jobs" / "settled"
    job_dir.parent.mkdir()
    marker = tmp_path / "ran"
    plan = plan_of(f'touch "{marker}"', job_dir)
    assert files.materialize(job_dir, plan, status=files.final_status("CANCELLED", "cancelled before it started"))
    runner = run_runner(job_dir, plan)
    output, _ = runner.communicate(plan, timeout=120)
    assert runner.returncode == FOLDER_TAKEN, output
    assert not marker.exists()
    assert not (job_dir / files.RUNNER).exists()
    assert files.read_json(job_dir / files.STATUS)["state"] == "CANCELLED"


def test_a_cancel_that_makes_the_folder_before_the_runner_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job is cancelled while its runner starts (a slow interpreter here): the cancel makes the job's folder
    first, the runner finds it taken and exits, the job never runs and its slot is free again."""
    monkeypatch.setattr(sys, "executable", str(slow_interpreter(tmp_path, 1)))
    marker = tmp_path / "ran"

    async def body() -> None:
        async with backend(tmp_path / "data", max_jobs=1) as b:
            submitted = await b.submit(JobSpec(command=f'touch "{marker}"'), "c-racing")
            assert submitted.status.state is JobState.RUNNING
            await b.cancel("c-racing")
            assert (await b.status("c-racing")).state is JobState.CANCELLED
            await until(lambda: b.counters["exits"] >= 1, "the runner to exit", timeout=120)
            assert (await b.status("c-racing")).state is JobState.CANCELLED
            assert not marker.exists(), "the cancelled job ran"
            assert (await b.submit(JobSpec(command="true"), "c-next")).status.state is JobState.RUNNING
            assert (await wait_status(b, "c-next", timeout=120)).state is JobState.SUCCEEDED

    run(body)


def test_a_deleted_queued_job_does_not_come_back_after_a_restart(tmp_path: Path) -> None:
    gate = tmp_path / "gate"

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            await b.submit(JobSpec(command=gated("true", gate)), "r-holder")
            for job_id in ("r-deleted", "r-kept"):
                assert (await b.submit(JobSpec(command="true"), job_id)).status.state is JobState.QUEUED
            await b.delete("r-deleted")
            with pytest.raises(NotFound):
                await b.status("r-deleted")
        again = local.LocalBackend("local", {"max_jobs": 1}, data_dir=tmp_path)
        assert await again.recover("r-kept") == "r-kept", "found in the journal before the backend started"
        assert await again.recover("r-deleted") is None
        async with backend(tmp_path, max_jobs=1) as b:
            assert await b.recover("r-kept") == "r-kept"
            assert await b.recover("r-deleted") is None
            with pytest.raises(NotFound):
                await b.status("r-deleted")
            assert (await b.status("r-kept")).state is JobState.QUEUED
            gate.touch()
            assert (await wait_status(b, "r-kept", timeout=120)).state is JobState.SUCCEEDED
            assert not (tmp_path / "jobs" / "r-deleted").exists()

    run(body)


class HeldScan:
    """Holds the scan of a LocalBackend's start in its thread (once :meth:`hold` is called) until ``release``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered, self.release, self._monkeypatch = threading.Event(), threading.Event(), monkeypatch

    def hold(self) -> None:
        real_scan = local.LocalBackend._scan

        def slow_scan(backend: local.LocalBackend) -> list[Any]:
            self.entered.set()
            self.release.wait(120)
            return real_scan(backend)

        self._monkeypatch.setattr(local.LocalBackend, "_scan", slow_scan)


@pytest.fixture
def scan(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldScan]:
    held = HeldScan(monkeypatch)
    yield held
    held.release.set()


def test_a_start_cut_short_during_its_scan_still_tracks_the_queued_jobs(tmp_path: Path, scan: HeldScan) -> None:
    """The server gives the extension's start a deadline: a start cancelled while it reads the jobs on disk still
    tracks what it found (a queued job of the journal is known nowhere else), and meanwhile such a job is queued,
    not unknown (the monitor would fail a job its backend does not know)."""
    gate = tmp_path / "gate"
    entered, release = scan.entered, scan.release

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            await b.submit(JobSpec(command=gated("true", gate)), "s-holder")
            assert (await b.submit(JobSpec(command="true"), "s-kept")).status.state is JobState.QUEUED
        scan.hold()
        again = local.LocalBackend("local", {"max_jobs": 2}, data_dir=tmp_path)
        try:
            starting = asyncio.ensure_future(again.start())
            await until(entered.is_set, "the scan to begin", timeout=120)
            assert (await again.status("s-kept")).state is JobState.QUEUED
            starting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await starting
            release.set()
            assert (await wait_status(again, "s-kept", timeout=120)).state is JobState.SUCCEEDED
        finally:
            release.set()
            gate.touch()
            await again.close()

    run(body)


def test_a_queued_job_asked_for_while_start_scans_is_answered_once_the_scan_is_done(
    tmp_path: Path, scan: HeldScan
) -> None:
    """After a restart, a user may ask for a job of the queue journal while start still reads the jobs on disk:
    its logs, results, cancel and delete wait for the scan and act on the job, not answer 'no local job'."""
    gate = tmp_path / "gate"
    entered, release = scan.entered, scan.release

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            await b.submit(JobSpec(command=gated("true", gate)), "s-holder")
            for job_id in ("s-logs", "s-cancel", "s-delete"):
                assert (await b.submit(JobSpec(command="true"), job_id)).status.state is JobState.QUEUED
        scan.hold()
        again = local.LocalBackend("local", {"max_jobs": 1}, data_dir=tmp_path)
        try:
            starting = asyncio.ensure_future(again.start())
            await until(entered.is_set, "the scan to begin", timeout=120)
            asked = [asyncio.ensure_future(call) for call in (
                again.logs("s-logs"), again.results("s-logs"), again.cancel("s-cancel"), again.delete("s-delete"))]
            await asyncio.sleep(0.2)
            assert not any(call.done() for call in asked), "they wait for the scan"
            release.set()
            await starting
            chunk, listed, _, _ = await asyncio.wait_for(asyncio.gather(*asked), 120)
            assert (chunk.text, chunk.complete, listed) == ("", False, [])
            assert (await again.status("s-cancel")).state is JobState.CANCELLED
            with pytest.raises(NotFound):
                await again.status("s-delete")
            assert (await again.status("s-logs")).state is JobState.QUEUED
        finally:
            release.set()
            gate.touch()
            await again.close()

    run(body)


def test_a_journal_used_before_it_is_loaded_keeps_the_lines_written_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a restart, submissions and deletes may come before the backend read the journal (a slow start):
    neither a rewrite nor a drop may lose what the previous server queued."""
    monkeypatch.setattr(local_journal, "COMPACT_SLACK", 2)
    before = QueueJournal(tmp_path)
    before.append([("old-1", b"{}"), ("old-2", b"{}")])
    before.close()
    after = QueueJournal(tmp_path)
    after.drop("old-2")
    for i in range(6):  # past the slack: the file is rewritten on the way
        after.append([(f"new-{i}", b"{}")])
    assert list(QueueJournal(tmp_path).load()) == ["old-1", *(f"new-{i}" for i in range(6))]


STORE_ONE_LINE = """
import resource, signal, sys
from pathlib import Path
from jupyter_compute.backends.local_journal import QueueJournal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) as on a full disk
journal = QueueJournal(Path(sys.argv[1]))
journal.append([("a", b"{}")])
size = journal.path.stat().st_size
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, hard))
try:
    journal.append([("b", b'{"pad":"' + b"x" * 100 + b'"}')])
except OSError:
    print("refused")
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
journal.append([("c", b"{}")])
"""


def test_a_write_the_full_disk_cut_short_leaves_no_part_of_it(tmp_path: Path) -> None:
    """A submission the journal could not take is refused, and no part of its line stays to spoil the next."""
    done = subprocess.run([sys.executable, "-c", STORE_ONE_LINE, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout == "refused\n"
    assert list(QueueJournal(tmp_path).load()) == ["a", "c"]


def slow_interpreter(tmp_path: Path, seconds: float, when: str = PLAN_ON_STDIN) -> Path:
    """A stand-in for the runner's interpreter that waits ``seconds`` before it starts Python when its arguments hold
    ``when`` (by default: a runner, not the backend's probe of its options; ``""``: always)."""
    slow_python = tmp_path / "slow-python"
    slow_python.write_text(f'#!/bin/sh\ncase "$*" in *{when}*) sleep {seconds};; esac\n'
                           f'exec "{sys.executable}" "$@"\n')
    slow_python.chmod(0o755)
    return slow_python


def test_a_job_deleted_while_its_runner_starts_neither_runs_nor_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(slow_interpreter(tmp_path, 1)))
    marker = tmp_path / "ran"

    async def body() -> None:
        async with backend(tmp_path / "data", max_jobs=1) as b:
            assert (await b.submit(JobSpec(command=f'touch "{marker}"'), "d-job")).status.state is JobState.RUNNING
            await b.delete("d-job")
            assert b.counters["exits"] == 1, "delete waited for the runner, which found the folder made and left"
            assert not (tmp_path / "data/jobs/d-job").exists()
            with pytest.raises(NotFound):
                await b.status("d-job")
        assert not marker.exists(), "the deleted job ran"
        assert not (tmp_path / "data/jobs/d-job").exists()

    run(body)


def test_a_runner_that_makes_no_folder_in_time_leaves_its_job_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner that hangs before it made its job's folder does not hold the job as starting forever."""
    monkeypatch.setattr(sys, "executable", str(slow_interpreter(tmp_path, 600)))
    monkeypatch.setattr(local, "STARTING_GRACE_S", 1.0)

    async def body() -> None:
        async with backend(tmp_path / "data", max_jobs=1, safety_tick_s=0.2) as b:
            assert (await b.submit(JobSpec(command="true"), "h-job")).status.state is JobState.RUNNING
            status = await wait_status(b, "h-job", timeout=120)
            assert (status.state, status.native_status) == (JobState.FAILED, "lost"), status
            assert status.message == local.SLOW_START_MESSAGE

    run(body)


def test_a_runner_that_cannot_be_started_fails_its_job_at_once(tmp_path: Path) -> None:
    (tmp_path / "jobs" / local.RUNNERS_LOG).mkdir(parents=True)  # where the runner's output would go

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            status = (await b.submit(JobSpec(command="true"), "n-job")).status
            assert status.state is JobState.FAILED and status.message.startswith("could not start the runner"), status

    run(body)


def test_a_runners_log_grown_past_its_limit_is_moved_aside_for_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "RUNNERS_LOG_MAX_BYTES", 1000)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / local.RUNNERS_LOG).write_bytes(b"small\n")

    async def submit_and_wait(b: local.LocalBackend, job_id: str) -> None:
        await b.submit(JobSpec(command="true"), job_id)
        assert (await wait_status(b, job_id, timeout=120)).state is JobState.SUCCEEDED

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            await submit_and_wait(b, "s-job")
            assert (jobs / local.RUNNERS_LOG).read_bytes().startswith(b"small\n"), "under the limit: kept"
            (jobs / local.RUNNERS_LOG).write_bytes(b"old\n" * 300)
            await submit_and_wait(b, "r-job")

    run(body)
    assert (jobs / (local.RUNNERS_LOG + ".1")).read_bytes() == b"old\n" * 300
    new = (jobs / local.RUNNERS_LOG).read_bytes()
    assert len(new) < 1000 and not new.startswith(b"old"), "a new log"


def test_a_runners_log_that_cannot_be_moved_aside_is_written_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(local, "RUNNERS_LOG_MAX_BYTES", 1000)
    jobs = tmp_path / "jobs"
    (jobs / (local.RUNNERS_LOG + ".1")).mkdir(parents=True)  # in the way of the move
    (jobs / local.RUNNERS_LOG).write_bytes(b"old\n" * 300)

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            await b.submit(JobSpec(command="true"), "w-job")
            assert (await wait_status(b, "w-job", timeout=120)).state is JobState.SUCCEEDED

    with caplog.at_level(logging.WARNING):
        run(body)
    assert (jobs / local.RUNNERS_LOG).read_bytes().startswith(b"old\n" * 300)
    assert f"could not move {jobs / local.RUNNERS_LOG} aside" in caplog.text


def test_a_job_deleted_while_its_launch_waits_for_the_runner_options_neither_runs_nor_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first launch waits for the probe of the runner's options (a slow interpreter here): a delete that comes
    meanwhile waits for that launch, which then finds the folder made (cancelled) and starts no runner."""
    monkeypatch.setattr(sys, "executable", str(slow_interpreter(tmp_path, 1, when="")))  # the probe too
    marker = tmp_path / "ran"

    async def body() -> None:
        async with backend(tmp_path / "data", max_jobs=1) as b:
            submitting = asyncio.ensure_future(b.submit(JobSpec(command=f'touch "{marker}"'), "p-job"))
            await until(lambda: "p-job" in b._launched, "its launch to begin", timeout=120)
            assert "p-job" not in b._runners, "the runner is not started yet: the probe takes a second"
            await b.delete("p-job")
            assert submitting.done(), "delete waited for the launch"
            assert b.counters["spawns"] == 0
            assert not (tmp_path / "data/jobs/p-job").exists()
        assert not marker.exists(), "the deleted job ran"

    run(body)


def test_a_runner_that_does_not_read_a_large_plan_holds_up_no_other_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan larger than a pipe holds is written to its runner off the launch: a runner that hangs before it reads
    it keeps one slot only, and the next job starts and ends meanwhile."""
    monkeypatch.setattr(sys, "executable", str(slow_interpreter(tmp_path, 600, when="hanging")))
    code = "print('big')\n" + "#" * (2 * local.PIPE_BYTES) + "\n"

    async def body() -> None:
        async with backend(tmp_path / "data", max_jobs=2) as b:
            assert (await b.submit(JobSpec(code=code), "hanging")).status.state is JobState.RUNNING
            assert (await b.submit(JobSpec(command="true"), "next")).status.state is JobState.RUNNING
            assert (await wait_status(b, "next", timeout=120)).state is JobState.SUCCEEDED
            assert (await b.status("hanging")).message == "starting"

    run(body)
