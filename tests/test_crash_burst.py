"""A SIGKILL of the Jupyter server in the middle of a burst of submissions (issue 14, point 6): every
acknowledged job is still tracked, and every key retried by a client ends as one job that ran once.

Each job is a shell command that appends its Idempotency-Key to a ledger file: the ledger, not the
server, is the judge of how many times each submission ran. Eight clients submit sixty jobs; the
server is killed once some of them were acknowledged (an event, not a timer), while others are in
flight. A second server on the same home then gets every key again, as a client with retries sends
it, and the test waits for every job to end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Deadline, LiveServer, start_live_server

KEYS = 60
CLIENTS = 8
#: The server is killed once this many submissions were acknowledged (the others in flight or not yet sent).
KILL_AFTER = 20
FINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}
#: Generous bounds for a loaded 2-core machine: they only end a test that is stuck, they time nothing.
REQUEST_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 240.0


def start(home: Path, token: str | None = None) -> LiveServer:
    """``start_live_server``, again on another port when another process took the one it picked."""
    for _ in range(3):
        try:
            return start_live_server(home, token=token)
        except RuntimeError as exc:
            if "is not available" not in str(exc):
                raise
    return start_live_server(home, token=token)


def post_job(client: httpx.Client, server: LiveServer, key: str, ledger: Path) -> httpx.Response:
    body = {"backend": "local", "name": key, "command": f"echo {key} >> {ledger}"}
    return client.post(server.url + "compute/api/jobs", json=body,
                       headers={"Authorization": f"token {server.token}", "Idempotency-Key": key})  # fmt: skip


def burst(server: LiveServer, keys: list[str], ledger: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Submit every key from CLIENTS threads and kill the server once KILL_AFTER were acknowledged.

    Answers the acknowledged keys (key → job id) and those that got no answer (key → the error).
    """
    acked: dict[str, str] = {}
    unanswered: dict[str, str] = {}
    refused: dict[str, str] = {}  # an HTTP answer that is not an acknowledgement
    lock = threading.Lock()
    enough = threading.Event()
    todo = iter(keys)

    def worker() -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            while True:
                with lock:
                    key = next(todo, None)
                if key is None:
                    return
                try:
                    reply = post_job(client, server, key, ledger)
                except httpx.TransportError as exc:
                    with lock:
                        unanswered[key] = type(exc).__name__
                    continue
                with lock:
                    if reply.status_code in (200, 201) and reply.json().get("id"):
                        acked[key] = reply.json()["id"]
                        if len(acked) >= KILL_AFTER:
                            enough.set()
                    else:
                        refused[key] = f"{reply.status_code} {reply.text[:300]}"

    def killer() -> None:
        enough.wait(timeout=300)
        server.kill()

    kill = threading.Thread(target=killer, name="killer")
    kill.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            for future in [pool.submit(worker) for _ in range(CLIENTS)]:
                future.result()
    finally:
        enough.set()  # the burst ended without enough acknowledgements: kill anyway (the checks below fail)
        kill.join()
    assert not refused, f"submissions answered with an error before the kill: {refused}"
    assert len(acked) >= KILL_AFTER, f"only {len(acked)} acknowledged before the burst ended"
    assert unanswered, "the kill came after the burst: no submission was cut short"
    assert set(acked) | set(unanswered) == set(keys)
    return acked, unanswered


def retry(server: LiveServer, key: str, ledger: Path) -> tuple[int, str]:
    """Send ``key`` again as a client with retries does: until an answer (bounded); its status and job id."""
    deadline = Deadline(SETTLE_TIMEOUT_S, f"an answer to the retry of {key}")
    pause = 0.2
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        while True:
            try:
                reply = post_job(client, server, key, ledger)
            except httpx.TransportError as exc:
                last: Any = repr(exc)
            else:
                if reply.status_code not in (502, 503, 504):
                    assert reply.status_code in (200, 201), f"retry of {key}: {reply.status_code} {reply.text}"
                    return reply.status_code, reply.json()["id"]
                last = f"{reply.status_code} {reply.text[:300]}"
            deadline.check(last)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def all_jobs(server: LiveServer) -> list[dict[str, Any]]:
    reply = httpx.get(server.url + "compute/api/jobs", params={"limit": 1000, "sort": "created"},
                      headers={"Authorization": f"token {server.token}"}, timeout=REQUEST_TIMEOUT_S)  # fmt: skip
    reply.raise_for_status()
    page = reply.json()
    assert page["total"] == len(page["jobs"]), page["total"]
    return page["jobs"]


def ledger_counts(ledger: Path) -> Counter[str]:
    return Counter(ledger.read_text().split()) if ledger.exists() else Counter()


@pytest.mark.timeout(600)
def test_sigkill_during_a_burst_of_submissions(tmp_path: Path) -> None:
    home = tmp_path / "jupyter"
    ledger = tmp_path / "ledger"
    run = uuid.uuid4().hex[:8]
    keys = [f"burst-{run}-{i:02d}" for i in range(KEYS)]

    first = start(home)
    try:
        acked, unanswered = burst(first, keys, ledger)
    finally:
        first.kill()  # a no-op once the burst killed it
    print(f"acknowledged {len(acked)}, no answer {len(unanswered)}: {sorted(Counter(unanswered.values()).items())}")

    second = start(home, token=first.token)
    try:
        # Every key again, acknowledged or not, concurrently as the burst was.
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = dict(zip(keys, pool.map(lambda key: retry(second, key, ledger), keys), strict=True))
        ids = {key: job_id for key, (_, job_id) in answers.items()}
        for key, job_id in acked.items():
            assert answers[key] == (200, job_id), f"acknowledged {key} was {job_id}, its retry answered {answers[key]}"
        assert len(set(ids.values())) == len(keys), "two keys answered with the same job"
        print(f"retries: {sorted(Counter(status for status, _ in answers.values()).items())} (200 existing, 201 new)")

        # One job per key, each listed under the id its key answers, each ending.
        deadline = Deadline(SETTLE_TIMEOUT_S, "every job to end")
        while True:
            jobs = all_jobs(second)
            names = Counter(job["name"] for job in jobs)
            assert names == Counter(keys), f"not one job per key: {names - Counter(keys)} {Counter(keys) - names}"
            assert {job["name"]: job["id"] for job in jobs} == ids
            pending = {job["name"]: (job["state"], job["native_status"], job["message"])
                       for job in jobs if job["state"] not in FINAL}  # fmt: skip
            if not pending:
                break
            deadline.check(pending)
            time.sleep(0.5)

        # Retries that come late answer the same ended jobs and start nothing.
        with ThreadPoolExecutor(CLIENTS) as pool:
            late = dict(zip(keys, pool.map(lambda key: retry(second, key, ledger), keys), strict=True))
        assert late == {key: (200, job_id) for key, job_id in ids.items()}
        assert [(job["id"], job["state"]) for job in all_jobs(second)] == [(job["id"], job["state"]) for job in jobs]

        ran = ledger_counts(ledger)
        for job in jobs:
            if job["state"] != "SUCCEEDED":
                assert job["state"] == "FAILED" and job["message"], f"{job['name']} ended without a reason: {job}"
                assert not ran[job["name"]], f"{job['name']} ran but is recorded FAILED: {job}"
        failed = {job["name"]: job["message"] for job in jobs if job["state"] != "SUCCEEDED"}
        assert not failed, f"jobs that did not run: {failed}"
        assert {key: n for key, n in ran.items() if n != 1} == {}, "a submission ran more than once"
        assert set(ran) == set(keys), f"submissions lost: {sorted(set(keys) - set(ran))}"
    finally:
        second.stop()
    first.checked_log()
    log = second.checked_log()
    print(f"after the restart: {log.count('sending it again')} recorded jobs sent again, "
          f"{log.count('after its submission')} found on the backend and adopted")
