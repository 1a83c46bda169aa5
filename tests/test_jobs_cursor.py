"""Paging the job list by keyset cursor (``GET jobs?cursor=``, the answer's ``next``) on a live server.

The server's store is filled before it starts with jobs that tie on every sort key (so only the seq
tie-breaker orders them) and that lack start or end times (NULL sorts first ascending, last descending).
While a walk is under way, more jobs are written into the same SQLite file by a second store (as another
server process sharing it would), some of them behind the walk and some ahead of it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, start_live_server, wait_for

from jupyter_compute.models import Job, JobSpec, JobState
from jupyter_compute.server import store as store_module
from jupyter_compute.server.store import SORT_KEYS, JobStore

PREFILLED = 120
PAGE = 7
ADDED_PER_PAGE = 2
SORTS = [f"{sign}{key}" for key in SORT_KEYS for sign in ("", "-")]
SUMMARY_KEYS = ["id", "backend", "name", "remote_id", "state", "native_status", "message", "created", "updated",
                "started", "finished", "tags", "results", "spec", "spec_summarised"]
START = datetime(2024, 1, 1, tzinfo=UTC)


def made_job(rnd: random.Random, number: int, prefix: str) -> Job:
    """A finished job whose every sort value is drawn from a few (ties), times sometimes missing."""
    created = START + timedelta(seconds=rnd.randint(0, 20), microseconds=rnd.choice([0, 250_000]))
    started = None if rnd.random() < 0.3 else created + timedelta(seconds=rnd.randint(0, 3))
    finished = None if started is None or rnd.random() < 0.3 else started + timedelta(seconds=rnd.randint(0, 3))
    state = rnd.choice([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED])
    name = rnd.choice(["alpha", "beta", "gamma", ""])
    backend = rnd.choice(["local", "elsewhere"])
    return Job(
        id=f"{prefix}-{number:05d}", backend=backend, spec=JobSpec(backend=backend, name=name, command="true"),
        name=name, state=state, created=created, updated=created + timedelta(seconds=rnd.randint(0, 5)),
        started=started, finished=finished, tags=rnd.sample(["x", "y"], rnd.randint(0, 2)),
    )


def store_path(home: Path) -> Path:
    return home / "data" / "compute" / "jobs.sqlite"


async def add_jobs(path: Path, jobs: list[Job]) -> int:
    async with JobStore(path) as store:
        return await store.bulk_create(jobs)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    home = tmp_path_factory.mktemp("cursor") / "jupyter"
    rnd = random.Random(20)
    jobs = [made_job(rnd, i, "pre") for i in range(PREFILLED)]
    jobs.append(Job(id="pre-long", backend="local", name="long",
                    spec=JobSpec(name="long", command="x" * 2000, params={f"p{i}": i for i in range(30)}),
                    state=JobState.SUCCEEDED, created=START))
    assert asyncio.run(add_jobs(store_path(home), jobs)) == len(jobs)
    live = start_live_server(home)
    yield live, store_path(home)
    live.stop()


def api(live: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=live.url + "compute/api/", headers={"Authorization": f"token {live.token}"},
                        timeout=60)


def every_job(http: httpx.Client, sort: str) -> list[str]:
    """The ids of all jobs in the order ``sort``, by offset."""
    ids: list[str] = []
    while True:
        page = http.get("jobs", params={"sort": sort, "limit": 1000, "offset": len(ids)}).json()
        ids += [job["id"] for job in page["jobs"]]
        if len(ids) >= page["total"]:
            return ids


class Walk:
    """A walk through every page of one sort by cursor, with jobs added to the store between pages."""

    def __init__(self, http: httpx.Client, store: JobStore, loop: asyncio.AbstractEventLoop, sort: str) -> None:
        self.http, self.store, self.loop, self.sort = http, store, loop, sort
        self.rnd = random.Random(sort)
        self.seen: list[str] = []
        self.pages: list[dict[str, Any]] = []
        #: Each added job's id, with the last job the walk had read when it was added.
        self.added: list[tuple[str, str]] = []

    def run(self) -> None:
        params: dict[str, Any] = {"sort": self.sort, "limit": PAGE}
        while True:
            page = self.http.get("jobs", params=params).json()
            self.pages.append(page)
            assert page["offset"] == len(self.seen)
            self.seen += [job["id"] for job in page["jobs"]]
            if "next" not in page:
                return
            self.add_some()
            params = {"sort": self.sort, "limit": PAGE, "cursor": page["next"]}

    def add_some(self) -> None:
        jobs = [made_job(self.rnd, self.rnd.getrandbits(40), f"add-{self.sort}") for _ in range(ADDED_PER_PAGE)]
        assert self.loop.run_until_complete(self.store.bulk_create(jobs)) == len(jobs)
        self.added += [(job.id, self.seen[-1]) for job in jobs]


@pytest.mark.parametrize("sort", SORTS)
def test_walk_by_cursor_sees_each_job_once_in_order(server: tuple[LiveServer, Path], sort: str) -> None:
    live, path = server
    loop, store = asyncio.new_event_loop(), JobStore(path)  # a second store on the server's file
    loop.run_until_complete(store.open())
    try:
        with api(live) as http:
            before = every_job(http, sort)
            walk = Walk(http, store, loop, sort)
            walk.run()
            after = every_job(http, sort)
    finally:
        loop.run_until_complete(store.close())
        loop.close()

    assert len(walk.seen) == len(set(walk.seen)), "a job came twice"
    assert set(before) <= set(walk.seen), "a job there all along was missed"
    position = {job_id: i for i, job_id in enumerate(after)}
    assert [position[j] for j in walk.seen] == sorted(position[j] for j in walk.seen), "out of order"
    ahead = [job_id for job_id, last_read in walk.added if position[job_id] > position[last_read]]
    assert ahead and set(ahead) <= set(walk.seen), "a job added ahead of the walk was missed"
    assert len(walk.pages) > 5 and all("next" in page for page in walk.pages[:-1])
    assert "next" not in walk.pages[-1] and len(walk.pages[-1]["jobs"]) <= PAGE


def test_pages_keep_their_shape_and_total(server: tuple[LiveServer, Path]) -> None:
    live, _ = server
    with api(live) as http:
        page = http.get("jobs", params={"limit": 3}).json()
        assert list(page) == ["jobs", "total", "limit", "offset", "next"]
        assert page["limit"] == 3 and page["offset"] == 0 and page["total"] >= PREFILLED
        assert [list(job) for job in page["jobs"]] == [SUMMARY_KEYS] * 3
        long = http.get("jobs", params={"q": "pre-long"}).json()
        (job,) = long["jobs"]
        assert long["total"] == 1 and "next" not in long
        assert job["spec_summarised"] is True and len(job["spec"]["command"]) < 2000
        assert job["spec"]["params"] == {f"p{i}": i for i in range(20)}
        whole = http.get("jobs/pre-long").json()
        assert {k: v for k, v in job.items() if k not in ("spec", "spec_summarised")} == \
            {k: v for k, v in whole.items() if k != "spec"}


def test_offset_pages_carry_next_and_it_continues_them(server: tuple[LiveServer, Path]) -> None:
    live, _ = server
    with api(live) as http:
        query = {"sort": "name", "backend": "local", "state": "SUCCEEDED,FAILED"}
        middle = http.get("jobs", params={**query, "limit": 5, "offset": 10}).json()
        following = http.get("jobs", params={**query, "limit": 5, "cursor": middle["next"]}).json()
        by_offset = http.get("jobs", params={**query, "limit": 5, "offset": 15}).json()
        assert following["offset"] == 15 and following["jobs"] == by_offset["jobs"]
        assert following["total"] == by_offset["total"] == middle["total"]


def test_no_next_on_the_last_page(server: tuple[LiveServer, Path]) -> None:
    live, _ = server
    with api(live) as http:
        total = http.get("jobs", params={"limit": 1, "q": "pre-"}).json()["total"]
        assert total == PREFILLED + 1
        exact = http.get("jobs", params={"limit": total, "q": "pre-"}).json()
        assert len(exact["jobs"]) == total and "next" not in exact
        almost = http.get("jobs", params={"limit": total - 1, "q": "pre-"}).json()
        assert len(almost["jobs"]) == total - 1 and "next" in almost
        last = http.get("jobs", params={"limit": 2, "offset": total - 2, "q": "pre-"}).json()
        assert len(last["jobs"]) == 2 and "next" not in last
        none = http.get("jobs", params={"q": "no job has this text"}).json()
        assert none["jobs"] == [] and none["total"] == 0 and "next" not in none


def forged(fields: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def test_bad_cursors_are_refused_naming_cursor(server: tuple[LiveServer, Path]) -> None:
    live, _ = server
    with api(live) as http:
        cursor = http.get("jobs", params={"sort": "-created", "limit": 2}).json()["next"]
        _, query_print, *_ = json.loads(base64.urlsafe_b64decode(cursor + "=="))
        refused = [
            {"cursor": "not a cursor"},
            {"cursor": "%%%"},
            {"cursor": base64.urlsafe_b64encode(b"[" * 20_000).decode()},  # nested past Python's recursion limit
            {"cursor": forged(["x"])},
            {"cursor": forged([1, query_print, "text", 1, 1])},  # a created time must be a number
            {"cursor": forged([1, query_print, 5, 1, -1])},
            {"cursor": forged([99, query_print, 5, 1, 1])},
            {"cursor": cursor, "sort": "created"},
            {"cursor": cursor, "sort": "name"},
            {"cursor": cursor, "state": "FAILED"},
            {"cursor": cursor, "q": "alpha"},
            {"cursor": cursor, "backend": "local"},
            {"cursor": cursor, "offset": 4},
        ]
        for params in refused:
            reply = http.get("jobs", params={"sort": "-created", **params})
            assert reply.status_code == 400, params
            assert reply.json()["error"]["field"] == "cursor", params
        assert http.get("jobs", params={"sort": "-created", "cursor": cursor}).status_code == 200


def test_client_iterates_every_job_by_cursor(server: tuple[LiveServer, Path]) -> None:
    live, _ = server
    client = live.client()
    with api(live) as http:
        expected = every_job(http, "finished")
    assert [job.id for job in client.iter_jobs(sort="finished", page_size=9)] == expected
    first = client.jobs(limit=4, sort="finished")
    assert first.next is not None and first.offset == 0
    second = client.jobs(limit=4, sort="finished", cursor=first.next)
    assert [job.id for job in [*first, *second]] == expected[:8] and second.offset == 4
    alpha = [job.id for job in client.iter_jobs(q="alpha", state=["SUCCEEDED"], page_size=5)]
    assert alpha == [job.id for job in client.jobs(q="alpha", state=["SUCCEEDED"], limit=1000)]


def test_a_changed_job_is_listed_as_it_is_now(live_server: LiveServer) -> None:
    client = live_server.client()
    job = client.submit(command="true", name="changes", tags=["t"])
    done = wait_for(lambda: (j := client.job(job.id)).is_terminal and j, "the job to end", timeout=120)
    with api(live_server) as http:
        (listed,) = http.get("jobs", params={"tag": "t"}).json()["jobs"]
        whole = http.get(f"jobs/{job.id}").json()
    assert listed["state"] == done.state.value == "SUCCEEDED"
    assert {k: v for k, v in listed.items() if k != "spec_summarised"} == whole


def test_a_database_from_before_summaries_lists_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in store_module.MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    rnd = random.Random(3)
    jobs = [made_job(rnd, i, "old") for i in range(30)]
    columns = store_module._COLUMNS  # the columns of schema version 1
    conn.executemany(f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                     [store_module._job_to_row(job)[: len(columns)] for job in jobs])
    conn.close()

    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with JobStore(path) as store:
            listed, _ = await store.list(sort="started", limit=100)
            page = await store.page(sort="started", limit=100)
            return [job.to_dict(summary=True) for job in listed], json.loads(page.jobs)

    decoded, text = asyncio.run(both())
    assert len(text) == 30 and text == decoded
