"""The job monitor with 10,000 running jobs on one platform that lists them a page at a time: the ModelArts
stand-in, whose training-job search answers at most 50 jobs a page (``offset`` a page index).

Why this stand-in: of the backends that ask for many jobs at once (``batch_status``), ModelArts is the one
whose list is paged (Ocean's ``computeStatus`` answers every job in one call; the MAAP and Datastory
backends ask for one job at a time).

The jobs are put on the stand-in (running, with no program behind them) and recorded in the store as the
backend records them before a real `jupyter server` with our extension starts; nothing changes on the
platform afterwards, so every cycle is idle. The anchor, 1,000 jobs on a stand-in and a server of their
own, runs beside it in the same run (started first: the big one's filling and start-up put its cycles some
seconds later, so that they do not meet): the figures should scale with the number of jobs. Each cycle prints a ``bench:`` line: the search calls it made
(must be ⌈N / 50⌉), the jobs they listed, its wall time (from its first search to the stand-in's last answer;
the stand-in runs in this process), the server's CPU during it (psutil's ``cpu_times`` of its process) and,
from the second on, the server's share of a core since the previous cycle ended (the idle wait, then the
cycle).

An idle server refreshes every 30 s (ModelArts' ceiling of the backoff); ``poll_interval_s`` is set to 30 so
that it does from the first cycle on. The idle server's share of a core from the end of the first cycle to
the end of the third, about 65 s, must stay ≤ 5 %: two whole periods, with the store's sweep and the
discovery of scheduled jobs (each every 60 s here) in them. The server runs without the test suite's loop
watch (it costs CPU on every callback); ``tests/test_monitor_batch_cycle.py`` runs cycles with it. Job
events published during the run are counted (none expected).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from conftest import MA_AK, MA_PROJECT, MA_SK, LiveServer, free_port, start_live_server, wait_for
from test_monitor_batch_cycle import EventLog, Searches, count_searches, fill_store, put_jobs, recorded_jobs

from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
from jupyter_compute.server import loop_watch

BIG, ANCHOR = 10_000, 1_000
PAGE = 50  # ModelArts' largest search page
POLL_S = 30.0
CYCLES = 3
QUIET_S = 3.0  # no search for this long after one: the cycle is over (the next comes 30 s later)
MAX_IDLE_SHARE = 0.05
TIMEOUT = 180.0
SAMPLE_EVERY_S = 0.05


class CpuSampler:
    """The CPU seconds (user + system) of one process, read every SAMPLE_EVERY_S in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            times = self.process.cpu_times()
            self.samples.append((time.monotonic(), times.user + times.system))
            self._stop.wait(SAMPLE_EVERY_S)

    def at(self, moment: float) -> float:
        """The CPU seconds used by ``moment`` (the first sample at or after it)."""
        wait_for(lambda: self.samples[-1][0] >= moment, "a CPU sample", timeout=TIMEOUT)
        return next(cpu for when, cpu in self.samples if when >= moment)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Cycle:
    """What one refresh cycle cost."""

    calls: int
    jobs: int
    wall_s: float
    cpu_s: float
    share: float | None  # of a core, from the end of the previous cycle to the end of this one


@dataclass
class Run:
    jobs: int
    cycles: list[Cycle]
    idle_share: float
    idle_s: float
    events: int


@dataclass
class Bench:
    """One size: its stand-in (searches counted), its server and what watches that server."""

    jobs: int
    searches: Searches
    server: LiveServer
    cpu: CpuSampler
    events: EventLog

    def figures(self) -> Run:
        """The CYCLES first cycles' figures (once they are over)."""
        cycles = self.searches.wait_ended(CYCLES, quiet_s=QUIET_S, timeout=TIMEOUT)
        ends = [cycle[-1].ended + 0.25 for cycle in cycles]  # the server reads the last page after it
        figures = []
        for i, cycle in enumerate(cycles):
            start = cycle[0].started
            share = (self.cpu.at(ends[i]) - self.cpu.at(ends[i - 1])) / (ends[i] - ends[i - 1]) if i else None
            figures.append(Cycle(len(cycle), sum(call.items for call in cycle), cycle[-1].ended - start,
                                 self.cpu.at(ends[i]) - self.cpu.at(start - SAMPLE_EVERY_S), share))  # fmt: skip
        idle = (self.cpu.at(ends[-1]) - self.cpu.at(ends[0])) / (ends[-1] - ends[0])
        return Run(self.jobs, figures, idle, ends[-1] - ends[0], len(self.events.job_ids()))


@contextlib.contextmanager
def bench(jobs: int, folder: Path) -> Iterator[Bench]:
    """``jobs`` running jobs on a fresh stand-in and in a fresh store, and a server watching them."""
    sb = ModelArtsSandbox(s3_endpoint=f"http://127.0.0.1:{free_port()}", project_id=MA_PROJECT,
                          credentials={MA_AK: MA_SK})  # fmt: skip  (no job reads or writes OBS)
    put_jobs(sb, jobs)
    searches = count_searches(sb)
    home = folder / f"jupyter-{jobs}"
    with sb:
        assert fill_store(home, recorded_jobs(sb)) == jobs
        config = {"kind": "modelarts", "endpoint": sb.base_url, "project_id": MA_PROJECT, "ak_env": "MA_AK",
                  "sk_env": "MA_SK", "search_page_size": PAGE, "poll_interval_s": POLL_S}  # fmt: skip
        server = start_live_server(home, backends={"ma": config})
        cpu = CpuSampler(server.process.pid)
        try:
            yield Bench(jobs, searches, server, cpu, EventLog(server))
        finally:
            cpu.stop()
            server.stop()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Run]:
    folder = tmp_path_factory.mktemp("bench-monitor-scale")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MA_AK", MA_AK)
        monkeypatch.setenv("MA_SK", MA_SK)
        monkeypatch.delenv(loop_watch.ENV_REPORT, raising=False)  # the servers run as deployed
        with bench(ANCHOR, folder) as anchor, bench(BIG, folder) as big:
            return {ANCHOR: anchor.figures(), BIG: big.figures()}


def print_run(run: Run) -> None:
    for i, cycle in enumerate(run.cycles, 1):
        share = f"; {cycle.share:.1%} of a core since the previous one" if cycle.share is not None else ""
        print(f"bench: monitor [{run.jobs:,} running jobs, page {PAGE}] cycle {i}: {cycle.calls} list calls "
              f"(⌈N/page⌉ = {math.ceil(run.jobs / PAGE)}), {cycle.jobs:,} jobs refreshed, wall {cycle.wall_s:.2f} s, "
              f"server CPU {cycle.cpu_s:.2f} s{share}")
    print(f"bench: monitor [{run.jobs:,} running jobs] idle server {run.idle_share:.2%} of a core over "
          f"{run.idle_s:.0f} s (goal ≤ {MAX_IDLE_SHARE:.0%}); {run.events} job events")


def test_monitor_cycle_with_10000_running_jobs(runs: dict[int, Run]) -> None:
    big, anchor = runs[BIG], runs[ANCHOR]
    print()
    print_run(anchor)
    print_run(big)
    cpu = [sum(c.cpu_s for c in run.cycles) / CYCLES for run in (anchor, big)]
    wall = [sum(c.wall_s for c in run.cycles) / CYCLES for run in (anchor, big)]
    print(f"bench: monitor [a cycle, {BIG:,} vs {ANCHOR:,} jobs] CPU {cpu[1]:.2f} s vs {cpu[0]:.2f} s "
          f"({cpu[1] / cpu[0]:.1f}x), wall {wall[1]:.2f} s vs {wall[0]:.2f} s ({wall[1] / wall[0]:.1f}x) for "
          f"{BIG // ANCHOR}x the jobs; idle server {big.idle_share:.2%} vs {anchor.idle_share:.2%} of a core")
    for run in (anchor, big):
        pages = math.ceil(run.jobs / PAGE)
        assert [cycle.calls for cycle in run.cycles] == [pages] * CYCLES, "⌈N/page⌉ list calls a cycle"
        assert [cycle.jobs for cycle in run.cycles] == [run.jobs] * CYCLES
        assert run.events == 0, "an idle cycle publishes nothing"
    assert big.idle_share <= MAX_IDLE_SHARE, f"the idle server used {big.idle_share:.1%} of a core"
