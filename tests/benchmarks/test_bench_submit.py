"""1,000 submissions of ``true`` over REST, 8 at a time, against a bare POST handler in the same server.

The anchor is a plain Jupyter ``APIHandler`` (``bench/bare``, from a tiny server extension written
here) that parses the same JSON body and answers 201: the floor of any POST in this server. Both run
in one ``jupyter server`` process (without the test suite's loop watch, as in production), measured in the same run (anchor, ours, anchor again; the anchor's
better run counts). While they are timed, the local backend's two slots are held by two gated jobs,
so that the 1,000 jobs queue and no runner takes the CPU from under the submissions (the anchor has
none either); the gate then opens and the queue drains. Prints a ``bench:`` line with both rates and
the ratio; asserts the goal (≥ ``GOAL_RATIO`` of the bare rate) and that no submission is lost: every
job is recorded, and every one ends SUCCEEDED. The client (httpx) runs in a Python of its own, as a user's
kernel does; run as ``python test_bench_submit.py client <url> <token>`` it is that client.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import httpx
import pytest

from jupyter_compute.server import loop_watch

if TYPE_CHECKING:
    from conftest import LiveServer

JOBS = 1_000
CONCURRENCY = 8
GOAL_RATIO = 0.6
SETTLE_TIMEOUT_S = 240.0

BARE_EXTENSION = '''
import json
from jupyter_server.base.handlers import APIHandler
from tornado import web


class BareHandler(APIHandler):
    @web.authenticated
    async def post(self):
        body = json.loads(self.request.body)
        self.set_status(201)
        self.finish(json.dumps({"id": "bare", "name": body.get("name")}))


def _jupyter_server_extension_points():
    return [{"module": "bench_bare_handler"}]


def _load_jupyter_server_extension(serverapp):
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(base.rstrip("/") + "/bench/bare", BareHandler)])
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> LiveServer:
    from conftest import start_live_server

    home = tmp_path_factory.mktemp("bench-submit") / "jupyter"
    extension = home.parent / "ext"
    extension.mkdir()
    (extension / "bench_bare_handler.py").write_text(BARE_EXTENSION)
    monkeypatch_module.setenv("PYTHONPATH", str(extension))
    monkeypatch_module.delenv(loop_watch.ENV_REPORT, raising=False)  # measured as run in production
    enabled = home / "config" / "jupyter_server_config.d"
    enabled.mkdir(parents=True)
    (enabled / "bench_bare_handler.json").write_text('{"ServerApp": {"jpserver_extensions": {"bench_bare_handler": true}}}')
    live = start_live_server(home, backends={"local": {"kind": "local", "max_jobs": 2}})
    yield live
    live.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> pytest.MonkeyPatch:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@dataclass
class Answer:
    """What a submission got back."""

    status_code: int
    body: dict

    def json(self) -> dict:
        return self.body


def post_all(url: str, token: str, bodies: list[dict]) -> tuple[float, list[float], list[Answer]]:
    """:func:`post_from_here`, run by a Python of its own (as a user's kernel is): the client is timed apart from
    the heap and the garbage collections of this test process, which would weigh on whichever route they hit."""
    done = subprocess.run([sys.executable, __file__, "client", url, token], input=json.dumps(bodies),
                          capture_output=True, text=True, timeout=600, check=True)
    wall, latencies, answers = json.loads(done.stdout)
    return wall, latencies, [Answer(code, body) for code, body in answers]


async def post_from_here(url: str, token: str, bodies: list[dict]) -> tuple[float, list[float], list[httpx.Response]]:
    """POST every body, ``CONCURRENCY`` at a time on keep-alive connections: wall seconds, latencies, answers."""
    todo = iter(enumerate(bodies))
    answers: list[httpx.Response | None] = [None] * len(bodies)
    latencies: list[float] = []
    headers = {"Authorization": f"token {token}"}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=120, headers=headers, limits=limits) as client:

        async def worker() -> None:
            for i, body in todo:
                started = time.perf_counter()
                answers[i] = await client.post(url, json=body)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        wall = time.perf_counter() - started
    assert all(a is not None for a in answers)
    return wall, latencies, [a for a in answers if a is not None]


def rate_line(what: str, wall: float, latencies: list[float]) -> str:
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
    return f"{what}: {len(latencies) / wall:.0f}/s (p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {p95:.1f} ms)"


def wait_all_ended(server: LiveServer, ids: set[str]) -> dict[str, int]:
    """Wait until every job ended; the count of each final state (all jobs of the store are ours)."""
    headers = {"Authorization": f"token {server.token}"}
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        jobs: list[dict] = []
        with httpx.Client(timeout=60, headers=headers) as client:
            while True:
                page = client.get(server.url + "compute/api/jobs",
                                  params={"limit": 1000, "offset": len(jobs), "sort": "created"}).json()
                jobs.extend(page["jobs"])
                if len(jobs) >= page["total"] or not page["jobs"]:
                    break
        assert {job["id"] for job in jobs} == ids, "a submission was lost (or an extra job recorded)"
        states: dict[str, int] = {}
        for job in jobs:
            states[job["state"]] = states.get(job["state"], 0) + 1
        if states.get("SUCCEEDED", 0) == len(ids) or time.monotonic() > deadline:
            return states
        time.sleep(1.0)


def hold_slots(jobs_url: str, token: str, gate: Path) -> list[str]:
    """Two jobs that hold the local backend's two slots until ``gate`` exists; their ids."""
    holders = [{"backend": "local", "name": f"gate-{i}", "command": f'while [ ! -e "{gate}" ]; do sleep 0.05; done'}
               for i in range(2)]
    _, _, held = post_all(jobs_url, token, holders)
    assert [a.json()["state"] for a in held] == ["RUNNING", "RUNNING"], [a.text for a in held]
    return [a.json()["id"] for a in held]


def queued_ids(answers: list[Answer]) -> set[str]:
    """The ids of the submitted jobs, checked: each acknowledged once, new, and queued."""
    assert {a.status_code for a in answers} == {201}
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == JOBS
    assert {a.json()["state"] for a in answers} == {"QUEUED"}
    return ids


def test_submissions_against_a_bare_handler(server: LiveServer, tmp_path: Path) -> None:
    bare_url = server.url + "bench/bare"
    jobs_url = server.url + "compute/api/jobs"
    gate = tmp_path / "gate"
    held = hold_slots(jobs_url, server.token, gate)
    bodies = [{"backend": "local", "name": f"bench-{i:04d}", "command": "true"} for i in range(JOBS)]
    post_all(bare_url, server.token, bodies[:50])  # warm both paths up
    bare_1, bare_lat_1, bare_answers = post_all(bare_url, server.token, bodies)
    ours, our_lat, answers = post_all(jobs_url, server.token, bodies)
    bare_2, bare_lat_2, _ = post_all(bare_url, server.token, bodies)
    assert {a.status_code for a in bare_answers} == {201}
    ids = queued_ids(answers)
    gate.touch()
    ids |= set(held)

    bare, bare_lat = min((bare_1, bare_lat_1), (bare_2, bare_lat_2), key=lambda run: run[0])
    ratio = bare / ours
    print(f"\nbench: submissions, {JOBS} over REST, {CONCURRENCY} at a time: "
          f"{rate_line('ours', ours, our_lat)}; {rate_line('bare POST handler', bare, bare_lat)}; "
          f"ratio {ratio:.2f} (goal ≥ {GOAL_RATIO}) [python {sys.version.split()[0]}]")
    states = wait_all_ended(server, ids)
    print(f"bench: submissions, final states of the {JOBS} jobs and the 2 gates: {states}")
    assert states == {"SUCCEEDED": JOBS + len(held)}
    assert ratio >= GOAL_RATIO


if __name__ == "__main__" and sys.argv[1:2] == ["client"]:
    timed, delays, got = asyncio.run(post_from_here(sys.argv[2], sys.argv[3], json.loads(sys.stdin.read())))
    print(json.dumps([timed, delays, [(answer.status_code, answer.json()) for answer in got]]))
