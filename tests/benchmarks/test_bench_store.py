"""How listing one page of jobs scales from 1,000 to 100,000 jobs in the store.

The indexed queries (default sort, backend filter, state filter) should cost about the
same at both sizes; free text is a scan and is only reported. Each test prints a line
``store list [...]`` with the two medians and their ratio (run pytest with ``-s``).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from typing import Any

import pytest

from jupyter_compute.models import Job, JobSpec, JobState
from jupyter_compute.server.store import JobStore

SMALL, BIG = 1_000, 100_000
RUNS = 15
INDEXED = ("default sort", "backend filter", "state filter")
MAX_INDEXED_RATIO = 20.0
MAX_MS = 1000.0

BACKENDS = ("local", "ocean", "maap", "datastory", "modelarts")
STATE_WEIGHTS = {
    JobState.SUCCEEDED: 70, JobState.FAILED: 15, JobState.CANCELLED: 5, JobState.TIMED_OUT: 2,
    JobState.RUNNING: 3, JobState.QUEUED: 3, JobState.UNKNOWN: 2,
}
TAG_POOL = ("nightly", "gpu", "exp-a", "exp-b", "prod", "test", "team-x", "team-y")
VERBS = ("train", "eval", "sweep", "etl", "report")


def query(name: str, size: int) -> dict[str, Any]:
    """The list() arguments of each benchmarked query; the offset sits half-way through."""
    return {
        "default sort": {},
        "offset half-way": {"offset": size // 2},
        "backend filter": {"backend": "maap"},
        "state filter": {"state": JobState.RUNNING},
        "tag filter": {"tag": "nightly"},
        "free text q": {"q": "OUT OF MEMORY"},
    }[name]


def generate_jobs(count: int, seed: int = 7) -> Iterator[Job]:
    """Jobs spread over backends, states and tags, one every 30 s, as a busy server would hold."""
    rnd = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    states, weights = list(STATE_WEIGHTS), list(STATE_WEIGHTS.values())
    for i in range(count):
        backend = rnd.choice(BACKENDS)
        state = rnd.choices(states, weights)[0]
        tags = rnd.sample(TAG_POOL, rnd.randint(0, 2))
        name = f"{rnd.choice(VERBS)}-{i}"
        created = start + timedelta(seconds=30 * i + rnd.random())
        spec = JobSpec(backend=backend, name=name, command=f"python {name}.py --epochs 10",
                       params={"seed": i, "lr": 0.01}, tags=tags)
        yield Job(
            id=f"{rnd.getrandbits(128):032x}", backend=backend, spec=spec, name=name,
            remote_id=f"remote-{i}", state=state, native_status=state.value.lower(),
            message="CUDA out of memory" if rnd.random() < 0.01 else "",
            created=created, updated=created + timedelta(seconds=5),
            started=created + timedelta(seconds=2), tags=tags,
        )


@dataclass
class Stores:
    """The filled stores by size, and the event loop their coroutines run on."""

    loop: asyncio.AbstractEventLoop
    by_size: dict[int, JobStore]

    def lister(self, size: int, arguments: dict[str, Any]) -> Callable[[], tuple[list[Job], int]]:
        store = self.by_size[size]
        return lambda: self.loop.run_until_complete(store.list(**arguments))


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    loop = asyncio.new_event_loop()
    folder = tmp_path_factory.mktemp("store-bench")
    by_size = {}
    for size in (SMALL, BIG):
        started = time.perf_counter()
        store = JobStore(folder / f"jobs-{size}.sqlite")
        loop.run_until_complete(store.open())
        inserted = loop.run_until_complete(store.bulk_create(generate_jobs(size)))
        assert inserted == size
        by_size[size] = store
        print(f"\nstore bench: filled {size:,} jobs in {time.perf_counter() - started:.1f} s")
    yield Stores(loop, by_size)
    for store in by_size.values():
        loop.run_until_complete(store.close())
    loop.close()


def median_ms(function: Callable[[], Any], runs: int = RUNS) -> float:
    function()  # warm the page cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@pytest.mark.parametrize("name", ["default sort", "offset half-way", "backend filter",
                                  "state filter", "tag filter", "free text q"])
def test_bench_list_page(benchmark: Any, capsys: pytest.CaptureFixture[str], stores: Stores,
                         name: str) -> None:
    small = stores.lister(SMALL, query(name, SMALL))
    big = stores.lister(BIG, query(name, BIG))
    assert big()[1] > small()[1] > 0

    small_ms, big_ms = median_ms(small), median_ms(big)
    benchmark.pedantic(big, rounds=RUNS, warmup_rounds=1)
    ratio = big_ms / small_ms
    with capsys.disabled():
        print(f"\nstore list [{name}]: {SMALL:,} jobs {small_ms:.2f} ms, "
              f"{BIG:,} jobs {big_ms:.2f} ms, ratio {ratio:.1f}x")
    assert big_ms < MAX_MS
    if name in INDEXED:
        assert ratio < MAX_INDEXED_RATIO
