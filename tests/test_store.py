"""The SQLite job registry: round trips, idempotency, durability, filters, sorting, paging."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import datetime, timedelta, timezone, UTC
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jupyter_compute.errors import ComputeError, InvalidSpec, NotFound
from jupyter_compute.models import TERMINAL_STATES, Job, JobSpec, JobState, ResultFile
from jupyter_compute.server.store import SCHEMA_VERSION, SORT_KEYS, JobStore

T = TypeVar("T")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PARIS = timezone(timedelta(hours=2))


def with_store(path: Path, scenario: Callable[[JobStore], Awaitable[T]]) -> T:
    """Open a store on ``path``, run ``scenario`` with it, close it."""

    async def main() -> T:
        async with JobStore(path) as store:
            return await scenario(store)

    return asyncio.run(main())


def make_job(job_id: str, **fields: Any) -> Job:
    backend = fields.pop("backend", "local")
    name = fields.pop("name", f"job {job_id}")
    spec = JobSpec(backend=backend, name=name, command="echo hi", tags=fields.get("tags", []))
    return Job(id=job_id, backend=backend, spec=spec, name=name, **fields)


def full_job() -> Job:
    """A job with every field set, its times in a non-UTC zone."""
    spec = JobSpec(
        backend="ocean", name="train", environment="env-1", cluster="pool-a", code="print(1)",
        algorithm="did:op:123", inputs=["did:op:data", {"url": "s3://b/k"}],
        params={"lr": 0.1, "layers": [1, 2]}, output="out/", tags=["gpu", "exp-a"],
        timeout_s=600.0, extra={"chainId": 8996},
    )
    return Job(
        id="a1b2c3d4", backend="ocean", spec=spec, name="train", remote_id="r-42",
        state=JobState.RUNNING, native_status="Running algorithm", message="step 1 of 3",
        created=datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=PARIS),
        updated=datetime(2024, 5, 1, 14, 0, 1, 654321, tzinfo=PARIS),
        started=datetime(2024, 5, 1, 14, 0, 2, 1, tzinfo=PARIS),
        finished=None, tags=["gpu", "exp-a"],
        results=[ResultFile("out.csv", 1234, "output", "text/csv"), ResultFile("log.txt", None, "log")],
        idempotency_key="key-1",
    )


def assert_utc(job: Job) -> None:
    for value in (job.created, job.updated, job.started, job.finished):
        if value is not None:
            assert value.utcoffset() == timedelta(0)


# round trips ----------------------------------------------------------------------------
def test_create_get_update_delete_round_trip(tmp_path: Path) -> None:
    job = full_job()

    async def scenario(store: JobStore) -> None:
        assert await store.create(job) == (job, True)
        got = await store.get(job.id)
        assert got == job
        assert got.created == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
        assert_utc(got)

        finished = datetime(2024, 5, 1, 13, 30, 0, 999999, tzinfo=PARIS)
        results = [ResultFile("model.pt", 10**9, "output", "application/octet-stream")]
        updated = await store.update(
            job.id, remote_id="r-43", state=JobState.SUCCEEDED, native_status="Finished",
            message="", started=job.started, finished=finished, results=results,
            name="renamed", tags=["prod"],
        )
        assert (updated.remote_id, updated.state) == ("r-43", JobState.SUCCEEDED)
        assert (updated.native_status, updated.message) == ("Finished", "")
        assert (updated.name, updated.tags) == ("renamed", ["prod"])
        assert updated.finished == finished and updated.results == results
        assert updated.updated > job.updated and updated.created == job.created
        assert updated.spec == job.spec and updated.idempotency_key == "key-1"
        assert_utc(updated)
        assert await store.get(job.id) == updated

        await store.delete(job.id)
        with pytest.raises(NotFound) as missing:
            await store.get(job.id)
        assert missing.value.field == "job_id"
        with pytest.raises(NotFound):
            await store.delete(job.id)

    with_store(tmp_path / "jobs.sqlite", scenario)


def test_update_accepts_state_text_and_clears_times(tmp_path: Path) -> None:
    async def scenario(store: JobStore) -> Job:
        await store.create(full_job())
        return await store.update("a1b2c3d4", state="failed", started=None, message=None)

    job = with_store(tmp_path / "jobs.sqlite", scenario)
    assert (job.state, job.started, job.message) == (JobState.FAILED, None, "")


def test_update_refuses_missing_jobs_and_bad_changes(tmp_path: Path) -> None:
    async def scenario(store: JobStore) -> None:
        with pytest.raises(NotFound):
            await store.update("nope", state=JobState.RUNNING)
        await store.create(make_job("j1"))
        with pytest.raises(TypeError, match="spec"):
            await store.update("j1", spec=JobSpec())
        with pytest.raises(InvalidSpec) as bad_state:
            await store.update("j1", state="SLEEPING")
        assert bad_state.value.field == "state"

    with_store(tmp_path / "jobs.sqlite", scenario)


def test_tag_changes_follow_updates_and_deletes(tmp_path: Path) -> None:
    async def scenario(store: JobStore) -> list[int]:
        await store.create(make_job("j1", tags=["a", "b"]))
        await store.create(make_job("j2", tags=["b"]))
        counts = [(await store.list(tag="a"))[1]]
        await store.update("j1", tags=["c"])
        counts += [(await store.list(tag=t))[1] for t in ("a", "b", "c")]
        await store.delete("j2")
        counts.append((await store.list(tag="b"))[1])
        return counts

    assert with_store(tmp_path / "jobs.sqlite", scenario) == [1, 0, 1, 1, 0]


def test_duplicate_id_is_an_error(tmp_path: Path) -> None:
    async def scenario(store: JobStore) -> None:
        await store.create(make_job("j1"))
        with pytest.raises(ComputeError, match="already exists"):
            await store.create(make_job("j1", name="other"))

    with_store(tmp_path / "jobs.sqlite", scenario)


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    with pytest.raises(ComputeError, match="not open"):
        asyncio.run(JobStore(tmp_path / "jobs.sqlite").get("j1"))


# idempotency ----------------------------------------------------------------------------
def test_idempotency_key_gives_one_job(tmp_path: Path) -> None:
    async def scenario(store: JobStore) -> None:
        first, created = await store.create(make_job("j1", idempotency_key="k"))
        assert created
        again, created = await store.create(make_job("j2", idempotency_key="k", name="retry"))
        assert not created and again == first
        assert (await store.list())[1] == 1
        assert (await store.create(make_job("j3", idempotency_key="other")))[1]
        assert (await store.create(make_job("j4")))[1]  # no key: always a new job

    with_store(tmp_path / "jobs.sqlite", scenario)


def test_concurrent_creates_with_one_key_give_one_job(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"

    async def scenario() -> None:
        async with JobStore(path) as one, JobStore(path) as other:
            results = await asyncio.gather(
                one.create(make_job("j1", idempotency_key="k")),
                one.create(make_job("j2", idempotency_key="k")),
                other.create(make_job("j3", idempotency_key="k")),
            )
            assert sorted(created for _, created in results) == [False, False, True]
            assert len({job.id for job, _ in results}) == 1
            assert (await other.list())[1] == 1

    asyncio.run(scenario())


# durability and schema ------------------------------------------------------------------
def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "data" / "compute" / "jobs.sqlite"

    async def write(store: JobStore) -> Job:
        await store.create(full_job())
        return await store.update("a1b2c3d4", state=JobState.SUCCEEDED, finished=T0)

    async def read(store: JobStore) -> Job:
        return await store.get("a1b2c3d4")

    written = with_store(path, write)
    assert with_store(path, read) == written
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ComputeError, match="newer"):
        with_store(path, lambda store: store.list())


# filters --------------------------------------------------------------------------------
BACKENDS = ("local", "ocean", "maap")
STATES = tuple(JobState)
TAGS = (["gpu"], ["gpu", "nightly"], [], ["nightly"])


def sample_jobs(count: int = 42) -> list[Job]:
    """Jobs spread over backends, states and tags, with ties in every sort key."""
    return [
        make_job(
            f"{i:04d}-job",
            backend=BACKENDS[i % 3],
            state=STATES[i % len(STATES)],
            tags=list(TAGS[i % 4]),
            name=["Train model", "eval", "Nightly ETL", "report"][i % 4],
            remote_id=f"R-{i}" if i % 2 else None,
            native_status=["Pending", "running step", "done"][i % 3],
            message="Out of memory" if i % 7 == 0 else "",
            created=T0 + timedelta(minutes=i // 3),
            updated=T0 + timedelta(minutes=i % 5),
            started=T0 + timedelta(minutes=i % 4) if i % 3 else None,
            finished=T0 + timedelta(hours=i % 2) if i % 5 else None,
        )
        for i in range(count)
    ]


def matches(job: Job, backend: Any = None, state: Any = None, tag: Any = None, q: Any = None) -> bool:
    """What the store's list filters should select, written plainly."""
    states = None
    if state is not None:
        states = {JobState(s) for s in ([state] if isinstance(state, str) else state)}
    text = " ".join([job.name, job.id, job.remote_id or "", job.native_status, job.message])
    return (
        (backend is None or job.backend == backend)
        and (states is None or job.state in states)
        and (tag is None or tag in job.tags)
        and (q is None or q.lower() in text.lower())
    )


def expected_order(jobs: list[Job], sort: str = "-created") -> list[str]:
    """The order the store promises: the key (None lowest), then insertion order."""
    key = sort.lstrip("-")

    def rank(pair: tuple[int, Job]) -> tuple[Any, ...]:
        value = getattr(pair[1], key)
        return (False, 0, pair[0]) if value is None else (True, value, pair[0])

    ids = [job.id for _, job in sorted(enumerate(jobs), key=rank)]
    return ids[::-1] if sort.startswith("-") else ids


def filled(tmp_path: Path, scenario: Callable[[JobStore], Awaitable[T]], jobs: list[Job]) -> T:
    async def run(store: JobStore) -> T:
        for job in jobs:
            await store.create(job)
        return await scenario(store)

    return with_store(tmp_path / "jobs.sqlite", run)


FILTERS = [
    {},
    {"backend": "ocean"},
    {"state": "RUNNING"},
    {"state": JobState.FAILED},
    {"state": ["QUEUED", JobState.SUCCEEDED]},
    {"state": []},
    {"tag": "nightly"},
    {"tag": "missing"},
    {"q": "etl"},
    {"q": "r-1"},
    {"backend": "maap", "state": ["RUNNING", "FAILED", "UNKNOWN"]},
    {"backend": "local", "tag": "gpu", "q": "train"},
    {"backend": "ocean", "state": "QUEUED", "tag": "nightly", "q": "0"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_filters_match_a_reference(tmp_path: Path, filters: dict[str, Any]) -> None:
    jobs = sample_jobs()
    page, total = filled(tmp_path, lambda store: store.list(limit=1000, **filters), jobs)
    expected = expected_order([job for job in jobs if matches(job, **filters)])
    assert [job.id for job in page] == expected
    assert total == len(expected)


@pytest.mark.parametrize("q", ["ETL", "etl", "eTl", "OUT OF", "pending", "r-11", "0007-JOB"])
def test_free_text_is_case_insensitive_over_every_text_field(tmp_path: Path, q: str) -> None:
    jobs = sample_jobs()
    page, total = filled(tmp_path, lambda store: store.list(q=q, limit=1000), jobs)
    assert {job.id for job in page} == {job.id for job in jobs if matches(job, q=q)}
    assert total == len(page) > 0


def test_free_text_wildcards_are_literal(tmp_path: Path) -> None:
    jobs = [make_job("j1", name="100%_done"), make_job("j2", name="1000 done"), make_job("j3", name="a\\b")]

    async def scenario(store: JobStore) -> list[list[str]]:
        return [[job.id for job in (await store.list(q=q))[0]] for q in ("%_", "0_", "\\", "  ")]

    assert filled(tmp_path, scenario, jobs) == [["j1"], [], ["j3"], ["j3", "j2", "j1"]]


def test_unknown_state_filter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec) as error:
        with_store(tmp_path / "jobs.sqlite", lambda store: store.list(state=["RUNNING", "LOST"]))
    assert error.value.field == "state"


# sorting and paging ---------------------------------------------------------------------
@pytest.mark.parametrize("sort", [*SORT_KEYS, *(f"-{key}" for key in SORT_KEYS)])
def test_sorted_pages_are_stable(tmp_path: Path, sort: str) -> None:
    jobs = sample_jobs()

    async def scenario(store: JobStore) -> tuple[list[str], list[str], set[int]]:
        everything = [job.id for job in (await store.list(sort=sort, limit=1000))[0]]
        paged: list[str] = []
        totals = set()
        for offset in range(0, len(jobs) + 5, 5):
            page, total = await store.list(sort=sort, limit=5, offset=offset)
            paged += [job.id for job in page]
            totals.add(total)
        return everything, paged, totals

    everything, paged, totals = filled(tmp_path, scenario, jobs)
    assert everything == expected_order(jobs, sort)
    assert paged == everything and len(set(paged)) == len(jobs)
    assert totals == {len(jobs)}


def test_filtered_pages_keep_the_filtered_total(tmp_path: Path) -> None:
    jobs = sample_jobs()

    async def scenario(store: JobStore) -> list[tuple[int, int]]:
        pages = [await store.list(backend="maap", limit=4, offset=o) for o in (0, 4, 12, 14, 100)]
        return [(len(page), total) for page, total in pages]

    assert filled(tmp_path, scenario, jobs) == [(4, 14), (4, 14), (2, 14), (0, 14), (0, 14)]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"sort": "size"}, "sort"),
        ({"sort": "-"}, "sort"),
        ({"sort": "+created"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "50"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 1.5}, "offset"),
    ],
)
def test_bad_paging_names_the_field(tmp_path: Path, arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as error:
        with_store(tmp_path / "jobs.sqlite", lambda store: store.list(**arguments))
    assert error.value.field == field


def test_limit_bounds_are_inclusive(tmp_path: Path) -> None:
    jobs = sample_jobs(3)

    async def scenario(store: JobStore) -> list[int]:
        return [len((await store.list(limit=limit))[0]) for limit in (1, 1000)]

    assert filled(tmp_path, scenario, jobs) == [1, 3]


# find and active ------------------------------------------------------------------------
def test_find_by_id_or_unique_prefix(tmp_path: Path) -> None:
    jobs = [make_job(job_id) for job_id in ("abc123", "abc456", "abd789", "abc")]

    async def scenario(store: JobStore) -> None:
        assert (await store.find("abd")).id == "abd789"
        assert (await store.find("abc4")).id == "abc456"
        assert (await store.find("abc")).id == "abc"  # a full id wins over longer ones
        with pytest.raises(InvalidSpec, match="4 job ids") as ambiguous:
            await store.find("ab")
        assert ambiguous.value.field == "job_id"
        for missing in ("abe", "abc1234", "b"):
            with pytest.raises(NotFound):
                await store.find(missing)
        with pytest.raises(InvalidSpec):
            await store.find("")

    filled(tmp_path, scenario, jobs)


def test_active_lists_every_unfinished_job_oldest_first(tmp_path: Path) -> None:
    jobs = sample_jobs()

    async def scenario(store: JobStore) -> tuple[list[Job], list[Job]]:
        return await store.active(), await store.active(backend="ocean")

    active, ocean = filled(tmp_path, scenario, jobs)
    unfinished = [job for job in jobs if job.state not in TERMINAL_STATES]
    assert [job.id for job in active] == expected_order(unfinished, "created")
    assert [job.id for job in ocean] == [job.id for job in active if job.backend == "ocean"]
    assert {job.state for job in active} == {JobState.QUEUED, JobState.RUNNING, JobState.UNKNOWN}


def test_a_finished_job_is_never_set_running_again(tmp_path: Path) -> None:
    async def scenario(store: JobStore) -> Job:
        await store.create(make_job("j1", state=JobState.RUNNING))
        await store.update("j1", state=JobState.CANCELLED, message="cancelled by user")
        # a status read before the cancel arrives late
        return await store.update("j1", state=JobState.RUNNING, message="running as pid 12", name="renamed")

    job = with_store(tmp_path / "jobs.sqlite", scenario)
    assert job.state is JobState.CANCELLED and job.message == "cancelled by user"
    assert job.name == "renamed", "other changes still apply"
