"""1,000 jobs in the job table and the job timeline: 100 state changes applied in place, against a
full redraw of both, in the same run.

The store is filled before a real server starts (jobs in terminal states on three backends, so nothing
polls them). A JobMonitor (page size 1,000) and a JobTimeline (limit 1,000) show every job. Every widget
message is recorded on its way to the browser: the kernel's comm is replaced by one that keeps the size of
each message (its JSON and its binary buffers), so the figures are what a browser would receive.

- In place: each change goes through ``on_job`` (as LiveJobs hands it over) and the timeline sends it at
  once (``flush()`` after every change: no coalescing helps it). The table rewrites one row's cells; the
  timeline rewrites the arrays of the one block of 64 bars holding the job.
- Coalesced: the same 100 changes as one burst of events, sent as the timeline's thread would after
  ``FLUSH_S`` (one flush).
- Full redraw (the anchor): for each change every row widget is made anew (``redraw_page`` of
  test_bench_monitor) and the timeline's marks are made anew (``JobTimeline.redraw()``). It is measured on
  the first ``REDRAWS`` changes (a redraw costs the same whatever changed) and compared per change.

Prints ``bench:`` lines with the wall time and the bytes and messages of each, and their ratios; asserts
that in place costs at most ``MAX_BYTES_RATIO`` of a full redraw's bytes and less wall time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC
from typing import Any

import comm
import pytest
from comm import DummyComm
from conftest import LiveServer, start_live_server
from test_bench_monitor import changed, fill_store, redraw_page

from jupyter_compute.models import Job as StoredJob
from jupyter_compute.models import JobSpec, JobState
from jupyter_compute.widgets import JobMonitor, JobTimeline

JOBS = 1_000
UPDATES = 100
REDRAWS = 3
BACKENDS = ("local", "batch", "gpu")
TERMINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT)
MAX_BYTES_RATIO = 0.2


@dataclass
class Wire:
    """What the widgets sent: messages and bytes (JSON plus binary buffers)."""

    messages: int = 0
    bytes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def record(self, msg_type: str, data: Any, buffers: Any) -> None:
        self.messages += 1
        self.kinds[msg_type] = self.kinds.get(msg_type, 0) + 1
        self.bytes += len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or ())

    def since(self, mark: tuple[int, int]) -> tuple[int, int]:
        return self.messages - mark[0], self.bytes - mark[1]

    def mark(self) -> tuple[int, int]:
        return self.messages, self.bytes


WIRE = Wire()


class RecordingComm(DummyComm):
    """A comm that sends nothing and records what it would have sent."""

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        WIRE.record(msg_type, data, buffers)


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: RecordingComm(**kwargs))


def stored_jobs(count: int) -> list[StoredJob]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    jobs = []
    for i in range(count):
        state = TERMINAL[i % len(TERMINAL)]
        created = start + timedelta(seconds=30 * i)
        name = f"tl-{i:04d}"
        jobs.append(StoredJob(
            id=f"{i:032x}", backend=BACKENDS[i % len(BACKENDS)], spec=JobSpec(name=name, command="true"),
            name=name, state=state, native_status=state.value.lower(), created=created,
            updated=created + timedelta(seconds=600), started=created + timedelta(seconds=5 + i % 40),
            finished=created + timedelta(seconds=60 + (i * 37) % 500),
        ))
    return jobs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("bench-timeline") / "jupyter"
    assert asyncio.run(fill_store(home / "data" / "compute" / "jobs.sqlite", stored_jobs(JOBS))) == JOBS
    live = start_live_server(home, backends={name: {"kind": "local"} for name in BACKENDS})
    yield live
    live.stop()


@dataclass
class Cost:
    """Wall time, messages and bytes, added up over the steps measured."""

    wall_s: float = 0.0
    messages: int = 0
    bytes: int = 0
    steps: int = 0

    def add(self, action: Callable[[], object]) -> None:
        mark, started = WIRE.mark(), time.perf_counter()
        action()
        self.wall_s += time.perf_counter() - started
        messages, size = WIRE.since(mark)
        self.messages += messages
        self.bytes += size

    def per(self, changes: int) -> tuple[float, float, float]:
        """Wall time (s), bytes and messages a change."""
        return self.wall_s / changes, self.bytes / changes, self.messages / changes

    def text(self, changes: int) -> str:
        wall, size, messages = self.per(changes)
        return (f"wall {self.wall_s * 1000:.1f} ms ({wall * 1000:.2f} ms a change), {self.messages:,} messages "
                f"({messages:.1f} a change), {self.bytes / 1e3:,.1f} kB ({size / 1e3:.2f} kB a change)")


def ratio_text(ours: Cost, changes: int, anchor: Cost) -> str:
    wall, size, messages = ours.per(changes)
    a_wall, a_size, a_messages = anchor.per(REDRAWS)
    return (f"wall {wall * 1000:.2f} vs {a_wall * 1000:.1f} ms ({wall / a_wall:.4f}x), bytes {size / 1e3:.2f} vs "
            f"{a_size / 1e3:.1f} kB ({size / a_size:.4f}x, goal ≤ {MAX_BYTES_RATIO}x), messages {messages:.1f} vs "
            f"{a_messages:.0f} ({messages / a_messages:.4f}x)")


def test_timeline_and_table_in_place_vs_full_redraw(server: LiveServer) -> None:
    costs = {(kind, widget): Cost() for kind in ("in place", "coalesced", "redraw") for widget in ("table", "timeline")}
    with server.client() as client:
        monitor = JobMonitor(client, page_size=JOBS, namespace={}, live=False)
        timeline = JobTimeline(client, limit=JOBS, live=False)
        try:
            assert len(monitor.rows) == JOBS and len(timeline.job_ids) == JOBS
            marks = list(timeline.figure.marks)
            jobs = [row.job for row in monitor.rows.values()]
            events = [changed(jobs[(i * 7) % JOBS], i) for i in range(UPDATES)]

            # in place: one change at a time, each sent at once
            for job in events:
                costs["in place", "table"].add(lambda job=job: monitor.on_job(job))
                costs["in place", "timeline"].add(lambda job=job: (timeline.on_job(job), timeline.flush()))
            assert list(timeline.figure.marks) == marks, "the marks were kept"
            for job in events:
                assert monitor.rows[job.id].job.state == job.state
                assert timeline.bar(job.id).state == job.state.value

            # coalesced: the same jobs changed again, as one burst the timeline's thread sends once
            burst = [changed(job, UPDATES + i) for i, job in enumerate(events)]
            costs["coalesced", "table"].add(lambda: [monitor.on_job(job) for job in burst])
            costs["coalesced", "timeline"].add(lambda: ([timeline.on_job(job) for job in burst], timeline.flush()))
            assert list(timeline.figure.marks) == marks

            # the anchor: a full redraw of both for each change
            current = {job.id: job for job in jobs}
            for job in burst[:REDRAWS]:
                current[job.id] = job
                costs["redraw", "table"].add(lambda: redraw_page(monitor, list(current.values())))
                costs["redraw", "timeline"].add(timeline.redraw)
            assert not set(marks) & set(timeline.figure.marks), "the redraw made new marks"
        finally:
            monitor.close()
            timeline.close()

    report(costs)


def report(costs: dict[tuple[str, str], Cost]) -> None:
    """Print the figures and their ratios; assert the goal (in place ≤ MAX_BYTES_RATIO of a redraw's bytes)."""
    print()
    for widget in ("table", "timeline"):
        for kind, changes in (("in place", UPDATES), ("coalesced", UPDATES), ("redraw", REDRAWS)):
            what = {"in place": f"{UPDATES} state changes in place, each sent at once",
                    "coalesced": f"{UPDATES} state changes in one burst",
                    "redraw": f"full redraw (anchor), on {REDRAWS} changes"}[kind]
            print(f"bench: {widget} [{JOBS:,} jobs, {what}] {costs[kind, widget].text(changes)}")
    both = {kind: Cost() for kind in ("in place", "coalesced", "redraw")}
    for (kind, _widget), cost in costs.items():
        both[kind].wall_s += cost.wall_s
        both[kind].bytes += cost.bytes
        both[kind].messages += cost.messages
    for widget, pick in (("table", "table"), ("timeline", "timeline")):
        for kind in ("in place", "coalesced"):
            print(f"bench: {widget} [a change, {kind} vs full redraw] "
                  f"{ratio_text(costs[kind, pick], UPDATES, costs['redraw', pick])}")
    for kind in ("in place", "coalesced"):
        print(f"bench: table+timeline [a change, {kind} vs full redraw] {ratio_text(both[kind], UPDATES, both['redraw'])}")
    for widget in ("table", "timeline"):
        ours, anchor = costs["in place", widget].per(UPDATES), costs["redraw", widget].per(REDRAWS)
        assert ours[1] <= MAX_BYTES_RATIO * anchor[1], f"the {widget} in place sends far less than a redraw"
        assert ours[0] < anchor[0], f"the {widget} in place is quicker than a redraw"
