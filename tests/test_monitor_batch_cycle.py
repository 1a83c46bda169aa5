"""The monitor's batch cycle on a platform whose job list is paged: the ModelArts stand-in's training-job
search (``limit`` 1–50 a page, ``offset`` a page index), through a real Jupyter server.

250 jobs run on the stand-in (put there as running jobs, with no program behind them) and are recorded in
the server's store as the backend records them. Each refresh cycle must list them with exactly
⌈250 / 20⌉ = 13 search calls and ask for no job alone; an idle cycle writes nothing and publishes nothing;
a job whose status changes on the platform is recorded changed after a cycle, and only the changed jobs
get a new ``updated`` stamp and an event.

The helpers here (the stand-in filled before it starts, its searches counted, the store filled) serve
``tests/benchmarks/test_bench_monitor_scale.py`` too.
"""

from __future__ import annotations

import asyncio
import copy
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

import pytest
from conftest import MA_BUCKET, MA_OBS_KEY, MA_OBS_SECRET, MA_PROJECT, MA_TOKEN, LiveServer, start_live_server, wait_for

from jupyter_compute.backends.modelarts.common import DESCRIPTION_PREFIX
from jupyter_compute.backends.modelarts.training import job_status
from jupyter_compute.errors import ComputeError
from jupyter_compute.models import Job, JobSpec
from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.sandbox.modelarts.jobs import Job as PlatformJob
from jupyter_compute.sandbox.modelarts.jobs import now_ms, validate_create
from jupyter_compute.server.store import JobStore

BACKEND = "ma"
JOBS = 250
PAGE = 20
PENDING = 5  # the newest jobs wait for resources; the others run
ENV = {"MA_TOKEN": MA_TOKEN, "MA_OBS_AK": MA_OBS_KEY, "MA_OBS_SK": MA_OBS_SECRET}
TIMEOUT = 120.0


# --- the platform: jobs put on the stand-in, its searches counted --------------------------------------


def training_body(bucket: str) -> dict[str, Any]:
    """A training job's create body: code and outputs on OBS, one CPU node."""
    return {
        "kind": "job",
        "metadata": {"name": "scale", "description": ""},
        "algorithm": {
            "code_dir": f"obs://{bucket}/code/", "boot_file": "train.py",
            "engine": {"engine_name": "PyTorch", "engine_version": "2.1"},
            "outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": f"obs://{bucket}/out/"}}}],
        },
        "spec": {"resource": {"flavor_id": "modelarts.vm.cpu.8u", "node_count": 1}},
    }  # fmt: skip


def put_jobs(sb: ModelArtsSandbox, count: int, *, pending: int = 0, bucket: str = MA_BUCKET) -> list[str]:
    """Put ``count`` jobs on the stand-in before it starts, one a second, the newest ``pending`` of them waiting
    for resources and the others running (no worker runs them: they stay so until changed); our job ids of them,
    oldest first (each one's description names it, as our submissions do)."""
    normal, plan = validate_create(training_body(bucket), pools=sb._pools, public_flavors=sb._flavors,
                                   algorithms=sb.algorithms)  # fmt: skip
    first = now_ms() - count * 1000
    ours = []
    for i in range(count):
        job_id, remote_id, created = uuid.uuid4().hex, str(uuid.uuid4()), first + i * 1000
        body = copy.deepcopy(normal)
        body["metadata"].update(name=f"scale-{i:05d}", description=f"{DESCRIPTION_PREFIX}{job_id}")
        waiting = i >= count - pending
        job = PlatformJob(id=remote_id, seq=next(sb._seq), body=body, plan=plan, dir=sb.workdir / "jobs" / remote_id,
                          created_ms=created, phase="Pending" if waiting else "Running",
                          secondary_phase="Queuing" if waiting else "Running",
                          start_ms=None if waiting else created + 500)  # fmt: skip
        sb._jobs[remote_id] = job
        sb._all_jobs.append(job)
        ours.append(job_id)
    return ours


def recorded_jobs(sb: ModelArtsSandbox, backend: str = BACKEND) -> list[Job]:
    """The stand-in's jobs as the server records them after a first look (so an unchanged one is up to date)."""
    jobs = []
    for remote_id, platform_job in sb._jobs.items():
        view = platform_job.view()
        status = job_status(view)
        meta = view["metadata"]
        created = datetime.fromtimestamp(meta["create_time"] / 1000, UTC)
        jobs.append(Job(
            id=meta["description"].removeprefix(DESCRIPTION_PREFIX), backend=backend, remote_id=remote_id,
            spec=JobSpec(backend=backend, name=meta["name"], command="python train.py"), name=meta["name"],
            state=status.state, native_status=status.native_status, message=status.message, started=status.started,
            created=created, updated=created,
        ))  # fmt: skip
    return jobs


def fill_store(home: Path, jobs: list[Job]) -> int:
    """Record ``jobs`` in the store of a live server made under ``home`` (before it starts)."""

    async def fill() -> int:
        async with JobStore(home / "data" / "compute" / "jobs.sqlite") as store:
            return await store.bulk_create(jobs)

    return asyncio.run(fill())


@dataclass
class Search:
    """One training-job search the stand-in answered."""

    started: float
    ended: float
    page: int
    items: int


@dataclass
class Searches:
    """The stand-in's training-job searches and per-job look-ups, as they come (counted on its own thread)."""

    calls: list[Search] = field(default_factory=list)
    looked_up: list[str] = field(default_factory=list)

    def cycles(self) -> list[list[Search]]:
        """The searches grouped by cycle: each cycle starts at page 0."""
        grouped: list[list[Search]] = []
        for call in list(self.calls):
            if call.page == 0 or not grouped:
                grouped.append([])
            grouped[-1].append(call)
        return grouped

    def ended_cycles(self, after: float = 0.0, *, quiet_s: float | None = None) -> list[list[Search]]:
        """The cycles begun after ``after`` (a monotonic time) that are over: the next one has begun, or (with
        ``quiet_s``) no search came for ``quiet_s`` seconds after its last one."""
        cycles = self.cycles()
        if cycles and quiet_s is not None and time.monotonic() - cycles[-1][-1].ended > quiet_s:
            cycles.append([])
        return [cycle for cycle in cycles[:-1] if cycle[0].started > after]

    def wait_ended(self, count: int, *, after: float = 0.0, quiet_s: float | None = None,
                   timeout: float = TIMEOUT) -> list[list[Search]]:  # fmt: skip
        """Wait until ``count`` cycles begun after ``after`` are over (see :meth:`ended_cycles`); those cycles."""
        deadline = time.monotonic() + timeout
        while len(ended := self.ended_cycles(after, quiet_s=quiet_s)) < count:
            assert time.monotonic() < deadline, f"{count} refresh cycles not over in {timeout} s: {len(ended)} are"
            time.sleep(0.05)
        return ended[:count]


def count_searches(sb: ModelArtsSandbox) -> Searches:
    """Count every training-job search and every per-job look-up the stand-in answers from now on."""
    searches = Searches()
    search, find = sb._search, sb._find_job

    def counted_search(body: Any) -> dict[str, Any]:
        started = time.monotonic()
        answer = search(body)
        searches.calls.append(Search(started, time.monotonic(), answer["offset"], answer["count"]))
        return answer

    def counted_find(job_id: str) -> Any:
        searches.looked_up.append(job_id)
        return find(job_id)

    sb._search = counted_search  # type: ignore[method-assign]
    sb._find_job = counted_find  # type: ignore[method-assign]
    return searches


def backend_config(sb: ModelArtsSandbox, obs: str, *, page: int, poll_interval_s: float) -> dict[str, Any]:
    """The server's ``ma`` backend on the stand-in (IAM token; OBS on ``obs``)."""
    return {
        "kind": "modelarts", "endpoint": sb.base_url, "project_id": MA_PROJECT, "token_env": "MA_TOKEN",
        "obs_endpoint": obs, "obs_ak_env": "MA_OBS_AK", "obs_sk_env": "MA_OBS_SK",
        "upload_root": f"obs://{MA_BUCKET}/jupyter-compute/", "search_page_size": page,
        "poll_interval_s": poll_interval_s,
    }  # fmt: skip


def set_phase(sb: ModelArtsSandbox, remote_id: str, phase: str) -> None:
    """Move a job of the stand-in to ``phase`` (Running: started now; Completed: ended now)."""

    def move() -> None:
        job = sb._jobs[remote_id]
        with job.lock:
            job.phase = job.secondary_phase = phase
            if phase == "Running":
                job.start_ms = now_ms()
            else:
                job.end_ms = now_ms()

    sb._call(move)


class EventLog:
    """The server's job events, read in a thread from ``compute/api/events`` until the server stops."""

    def __init__(self, server: LiveServer) -> None:
        self.events: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(server,), daemon=True)
        self._thread.start()
        assert self.connected.wait(TIMEOUT), "the event stream did not connect"

    def _read(self, server: LiveServer) -> None:
        with server.client() as client:
            stream = client.events()
            self.connected.set()
            try:
                for event in stream:
                    self.events.append(event)
            except ComputeError:  # the server stopped
                return

    def job_ids(self) -> set[str]:
        return {event["data"]["id"] for event in list(self.events) if event["event"] == "job"}


# --- the test ----------------------------------------------------------------------------------------


@pytest.fixture
def platform(obs: str) -> Iterator[tuple[ModelArtsSandbox, list[str], Searches]]:
    """The stand-in with JOBS jobs (the newest PENDING waiting), its searches counted."""
    sb = ModelArtsSandbox(s3_endpoint=obs, s3_key=MA_OBS_KEY, s3_secret=MA_OBS_SECRET, project_id=MA_PROJECT,
                          tokens={MA_TOKEN})  # fmt: skip
    ours = put_jobs(sb, JOBS, pending=PENDING)
    searches = count_searches(sb)
    with sb:
        yield sb, ours, searches


@pytest.fixture
def server(platform, obs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A live server whose store records the stand-in's jobs; its ``ma`` backend lists them PAGE at a time."""
    sb, _, _ = platform
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "jupyter"
    assert fill_store(home, recorded_jobs(sb)) == JOBS
    live = start_live_server(home, backends={BACKEND: backend_config(sb, obs, page=PAGE, poll_interval_s=0.5)})
    yield live
    live.stop()


def stamps(server: LiveServer) -> dict[str, tuple[str, str]]:
    """Each job's (state, updated) as the server's job list says."""
    with server.client() as client:
        page = client.jobs(backend=BACKEND, limit=1000)
    assert page.total == JOBS
    return {job.id: (job.state.value, job.updated.isoformat()) for job in page}


def pages_asked(cycles: list[list[Search]]) -> list[list[int]]:
    return [[call.page for call in cycle] for cycle in cycles]


def jobs_listed(cycles: list[list[Search]]) -> list[int]:
    return [sum(call.items for call in cycle) for cycle in cycles]


def recorded_as(server: LiveServer, wanted: dict[str, str]) -> bool:
    """Whether the server records each job of ``wanted`` (id → state) in that state."""
    now = stamps(server)
    return all(now[job_id][0] == state for job_id, state in wanted.items())


def test_a_cycle_lists_every_job_in_pages_and_records_only_the_changed_ones(platform, server) -> None:
    sb, ours, searches = platform
    every_page = [list(range(math.ceil(JOBS / PAGE)))] * 2
    running, waiting = ours[JOBS // 2], ours[-1]  # neither the oldest: every cycle still reads every page
    remote = {job.id: str(job.remote_id) for job in recorded_jobs(sb)}

    events = EventLog(server)
    before = stamps(server)
    idle = searches.wait_ended(2, after=time.monotonic())
    assert pages_asked(idle) == every_page, "⌈N/page⌉ search calls a cycle, each page once"
    assert jobs_listed(idle) == [JOBS] * 2
    assert stamps(server) == before, "an idle cycle writes nothing"
    assert events.job_ids() == set(), "and publishes nothing"

    set_phase(sb, remote[running], "Completed")
    set_phase(sb, remote[waiting], "Running")
    changed_at = time.monotonic()
    wait_for(lambda: recorded_as(server, {running: "SUCCEEDED", waiting: "RUNNING"}), "the changes recorded",
             timeout=TIMEOUT)  # fmt: skip
    later = searches.wait_ended(2, after=changed_at)

    after = stamps(server)
    assert {job_id for job_id, stamp in after.items() if stamp != before[job_id]} == {running, waiting}
    assert events.job_ids() == {running, waiting}, "events for the changed jobs only"
    assert pages_asked(later) == every_page, "the same ⌈N/page⌉ calls after a change"
    assert set(searches.looked_up) <= {remote[running]}, "no job asked for alone (the finished one's outputs aside)"
    server.checked_log(secrets=ENV.values())
