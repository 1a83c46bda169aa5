"""The stored summaries of the job list: rewritten when their format is not this code's, built when missing;
and the remote ids of a backend read without decoding its jobs."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, UTC
from pathlib import Path
from typing import Any

import pytest

from jupyter_compute.models import Job, JobSpec, JobState
from jupyter_compute.server import store as store_module
from jupyter_compute.server.store import SUMMARY_FORMAT, JobStore

START = datetime(2024, 1, 1, tzinfo=UTC)
#: More jobs than one batch of the refresh, so that it takes several.
COUNT = 2 * store_module._REFRESH_BATCH + 7
OLD = '{"id":"stale","shape":"old"}'
PAGE = 400


def made_job(rnd: random.Random, number: int, backend: str = "local", remote_id: str | None = None) -> Job:
    created = START + timedelta(seconds=number)
    name = rnd.choice(["alpha", "beta", ""])
    return Job(
        id=f"job-{number:05d}", backend=backend, spec=JobSpec(backend=backend, name=name, command="true"),
        name=name, remote_id=remote_id, state=rnd.choice(list(JobState)), created=created, updated=created,
        started=created if rnd.random() < 0.5 else None, tags=rnd.sample(["x", "y"], rnd.randint(0, 2)),
    )


def fill(path: Path, jobs: list[Job]) -> None:
    async def main() -> None:
        async with JobStore(path) as store:
            assert await store.bulk_create(jobs) == len(jobs)

    asyncio.run(main())


def read_back(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every job of the store as its list page gives it, and as decoded jobs make it (sorted alike)."""

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with JobStore(path) as store:
            served: list[dict[str, Any]] = []
            listed: list[dict[str, Any]] = []
            cursor = None
            while True:
                page = await store.page(sort="created", limit=PAGE, cursor=cursor)
                jobs, _ = await store.list(sort="created", limit=PAGE, offset=page.offset)
                served += json.loads(page.jobs)
                listed += [job.to_dict(summary=True) for job in jobs]
                if page.next is None:
                    return served, listed
                cursor = page.next

    return asyncio.run(main())


def sql(path: Path, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        return conn.execute(statement, params).fetchall()


@pytest.mark.parametrize("stored_format", [SUMMARY_FORMAT - 1, SUMMARY_FORMAT + 1])
def test_summaries_of_another_format_are_rewritten_on_open(tmp_path: Path, stored_format: int) -> None:
    path = tmp_path / "jobs.sqlite"
    rnd = random.Random(1)
    fill(path, [made_job(rnd, i) for i in range(COUNT)])
    sql(path, "UPDATE jobs SET summary = ?", (OLD,))
    sql(path, "UPDATE meta SET summary_format = ?", (stored_format,))

    served, decoded = read_back(path)
    assert len(served) == COUNT and served == decoded
    assert sql(path, "SELECT summary_format FROM meta") == [(SUMMARY_FORMAT,)]
    assert sql(path, "SELECT count(*) FROM jobs WHERE summary = ?", (OLD,)) == [(0,)]


def test_summaries_of_this_format_are_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    fill(path, [made_job(random.Random(2), 0)])
    sql(path, "UPDATE jobs SET summary = ?", (OLD,))

    served, _ = read_back(path)
    assert served == [json.loads(OLD)]


def test_a_job_without_summary_is_listed_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    rnd = random.Random(3)
    fill(path, [made_job(rnd, i) for i in range(40)])
    sql(path, "UPDATE jobs SET summary = NULL WHERE seq % 3 = 0")

    served, decoded = read_back(path)
    assert len(served) == 40 and served == decoded


def test_remote_ids_are_those_of_the_backend(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    rnd = random.Random(4)
    jobs = [made_job(rnd, i, "ocean", f"r-{i}") for i in range(1500)]
    jobs += [made_job(rnd, 2000, "ocean", None), made_job(rnd, 2001, "ocean", ""),
             made_job(rnd, 2002, "local", "r-local")]
    fill(path, jobs)

    async def main() -> tuple[set[str], set[str], set[str]]:
        async with JobStore(path) as store:
            return await store.remote_ids("ocean"), await store.remote_ids("local"), await store.remote_ids("x")

    assert asyncio.run(main()) == ({f"r-{i}" for i in range(1500)}, {"r-local"}, set())
