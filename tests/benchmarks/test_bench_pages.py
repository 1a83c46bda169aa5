"""Pages of the job list on a real server holding 100,000 jobs, against the floor in the same server.

The floor is a bare Jupyter ``APIHandler`` answering a ready JSON body of the same size as the page
(``pages_floor.py``, loaded as a second server extension). Prints ``bench:`` lines (run with ``-s``):

- the first page (50 jobs), a 1,000-row page, and a deep page (50 jobs at position 50,000) by offset
  and by cursor, each with the floor's median and the ratio; goals: 1,000 rows ≤ 10× the floor, the
  deep page by cursor ≤ 3×;
- the delay a small request (the floor, 16 bytes) meets while another client fetches 1,000-row pages
  back to back, over its latency on the idle server: max and p99; goal: ≤ 10 ms. Beside it the same
  figures while the other client fetches floor answers of the same size (the anchor: what any answer of
  that size costs, and the machine's own noise, e.g. other processes on its cores). A busy machine
  delays both alike, so the goal is asserted where the machine cannot blur it: the server runs with the
  loop watch (``loop_watch``) at 10 ms, which times each callback of its event loop by the CPU and the
  system calls of the loop's own thread, and must find none of ours (a list call's) over 10 ms; and the
  p99 seen by the small request must not pass the larger of 10 ms and the anchor's.

Plain timing: it runs the same with and without ``--benchmark-disable``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, start_live_server
from test_bench_store import generate_jobs

from jupyter_compute.models import TERMINAL_STATES, Job, JobState
from jupyter_compute.server import loop_watch
from jupyter_compute.server.store import JobStore

JOBS = 100_000
DEEP = 50_000
RUNS = 50
PROBES = 300
ROUNDS = 6
PROBE_EVERY_S = 0.01
MAX_BIG_PAGE_RATIO = 10.0
MAX_DEEP_RATIO = 3.0
MAX_DELAY_MS = 10.0
LOOP_WATCH_REPORT = "loop-watch-10ms.jsonl"
HERE = Path(__file__).resolve().parent

#: The other client: fetches 1,000-row pages back to back (walking the list by offset), or as many bytes
#: from the floor (size given), until killed; prints a line per answer.
PAGER = """
import sys, httpx
url, token, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
with httpx.Client(base_url=url, headers={"Authorization": "token " + token}, timeout=60) as http:
    offset = 0
    while True:
        if size:
            reply = http.get("bench-floor", params={"size": size})
        else:
            reply = http.get("compute/api/jobs", params={"limit": 1000, "offset": offset})
            offset = (offset + 1000) % 99_000
        assert reply.status_code == 200 and len(reply.content) > 600_000
        print(len(reply.content), flush=True)
"""


def finished_jobs(count: int) -> Iterator[Job]:
    """test_bench_store's jobs, each ended (so the server's monitor has none to follow)."""
    for job in generate_jobs(count):
        yield job if job.state in TERMINAL_STATES else dataclasses.replace(job, state=JobState.SUCCEEDED)


async def fill_store(path: Path) -> int:
    async with JobStore(path) as store:
        return await store.bulk_create(finished_jobs(JOBS))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("bench-pages") / "jupyter"
    started = time.perf_counter()
    # live_server's layout: JUPYTER_DATA_DIR=home/data, the store at <data>/compute/jobs.sqlite
    assert asyncio.run(fill_store(home / "data" / "compute" / "jobs.sqlite")) == JOBS
    print(f"\npages bench: filled {JOBS:,} jobs in {time.perf_counter() - started:.1f} s")
    config = home / "config"
    (config / "jupyter_server_config.d").mkdir(parents=True)
    (config / "jupyter_server_config.py").write_text(f"import sys\nsys.path.insert(0, {str(HERE)!r})\n")
    (config / "jupyter_server_config.d" / "pages_floor.json").write_text(
        '{"ServerApp": {"jpserver_extensions": {"pages_floor": true}}}')
    with pytest.MonkeyPatch.context() as env:  # the server's loop watch: a report of its own, at the goal
        env.setenv(loop_watch.ENV_REPORT, str(home / LOOP_WATCH_REPORT))
        env.setenv(loop_watch.ENV_THRESHOLD_MS, str(MAX_DELAY_MS))
        live = start_live_server(home)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"token {server.token}"}, timeout=60) as client:
        assert client.get("bench-floor", params={"size": 100}).content == b'{"pad": "' + b"x" * 89 + b'"}'
        yield client


def elapsed_ms(http: httpx.Client, path: str, params: dict[str, Any]) -> tuple[float, bytes]:
    started = time.perf_counter()
    reply = http.get(path, params=params)
    took = (time.perf_counter() - started) * 1000
    assert reply.status_code == 200, reply.text[:300]
    return took, reply.content


@dataclass
class Versus:
    """Medians of a page and of the floor answering the same number of bytes, timed in turns."""

    name: str
    ours_ms: float
    floor_ms: float
    size: int

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.floor_ms

    def line(self, goal: float | None) -> str:
        target = f", goal <= {goal:g}x" if goal else ""
        return (f"bench: pages [{self.name}] {self.size:,} bytes: ours {self.ours_ms:.2f} ms, "
                f"floor {self.floor_ms:.2f} ms, ratio {self.ratio:.1f}x{target}")


def versus(http: httpx.Client, name: str, params: dict[str, Any]) -> Versus:
    _, body = elapsed_ms(http, "compute/api/jobs", params)
    floor = {"size": len(body)}
    elapsed_ms(http, "bench-floor", floor)
    ours, floors = [], []
    for _ in range(RUNS):
        ours.append(elapsed_ms(http, "compute/api/jobs", params)[0])
        floors.append(elapsed_ms(http, "bench-floor", floor)[0])
    return Versus(name, statistics.median(ours), statistics.median(floors), len(body))


def test_pages_against_the_floor(http: httpx.Client, capsys: pytest.CaptureFixture[str]) -> None:
    first = http.get("compute/api/jobs").json()
    assert first["total"] == JOBS and len(first["jobs"]) == 50
    before_deep = http.get("compute/api/jobs", params={"offset": DEEP - 50}).json()
    by_offset = http.get("compute/api/jobs", params={"offset": DEEP}).json()
    by_cursor = http.get("compute/api/jobs", params={"cursor": before_deep["next"]}).json()
    assert by_cursor["jobs"] == by_offset["jobs"] and by_cursor["offset"] == DEEP

    results = [
        (versus(http, "first page, 50 jobs", {}), None),
        (versus(http, "1,000 jobs", {"limit": 1000}), MAX_BIG_PAGE_RATIO),
        (versus(http, f"50 jobs at {DEEP:,} by offset", {"offset": DEEP}), None),
        (versus(http, f"50 jobs at {DEEP:,} by cursor", {"cursor": before_deep["next"]}), MAX_DEEP_RATIO),
    ]
    with capsys.disabled():
        print()
        for result, goal in results:
            print(result.line(goal))
    for result, goal in results:
        if goal is not None:
            assert result.ratio <= goal, result.line(goal)


def probe_ms(http: httpx.Client, count: int) -> list[float]:
    """Latencies of ``count`` small requests (the floor, 16 bytes), one every PROBE_EVERY_S."""
    times = []
    for _ in range(count):
        times.append(elapsed_ms(http, "bench-floor", {"size": 16})[0])
        time.sleep(PROBE_EVERY_S)
    return times


@dataclass
class Delays:
    """What a small request met over its idle latency while another client fetched big answers."""

    added: list[float] = dataclasses.field(default_factory=list)
    fetched: int = 0

    @property
    def worst(self) -> float:
        return max(self.added)

    @property
    def p99(self) -> float:
        return sorted(self.added)[int(len(self.added) * 0.99) - 1]

    def text(self) -> str:
        return (f"{self.fetched} answers; added p50 {statistics.median(self.added):.2f} ms, "
                f"p99 {self.p99:.2f} ms, max {self.worst:.2f} ms")

    def probe(self, server: LiveServer, http: httpx.Client, idle_ms: float, size: int) -> None:
        """Probe while a pager fetches 1,000-row pages (``size`` 0) or floor answers of ``size`` bytes."""
        pager = subprocess.Popen([sys.executable, "-c", PAGER, server.url, server.token, str(size)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert pager.stdout is not None
            assert int(pager.stdout.readline()) > 600_000  # the answers are flowing
            self.added += [max(0.0, t - idle_ms) for t in probe_ms(http, PROBES // ROUNDS)]
        finally:
            pager.kill()
            self.fetched += len(pager.communicate()[0].split()) + 1


def test_list_calls_delay_no_request(server: LiveServer, http: httpx.Client,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    size = len(http.get("compute/api/jobs", params={"limit": 1000}).content)
    report = server.log_path.parent / LOOP_WATCH_REPORT
    _, watched_from = loop_watch.read_report(report)
    probe_ms(http, 20)  # warm up
    idle = statistics.median(probe_ms(http, PROBES))
    ours, floor = Delays(), Delays()
    for _ in range(ROUNDS):  # in turns, so that both meet the same machine
        floor.probe(server, http, idle, size)
        ours.probe(server, http, idle, 0)
    held, _ = loop_watch.read_report(report, watched_from)
    with capsys.disabled():
        print(f"\nbench: pages [delay of a 16-byte request, idle {idle:.2f} ms] during 1,000-job pages: "
              f"{ours.text()}; during floor answers of {size:,} bytes: {floor.text()}; "
              f"goal max <= {MAX_DELAY_MS:g} ms")
        print(f"bench: pages [loop watch at {MAX_DELAY_MS:g} ms during {ours.fetched} pages of 1,000 jobs] "
              f"{len(held)} callbacks of ours over it" + "".join(f"\n  {entry}" for entry in held))
    assert ours.fetched > 20 and floor.fetched > 20
    assert held == []
    assert ours.p99 <= max(MAX_DELAY_MS, floor.p99)
