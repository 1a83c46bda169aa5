"""The fault campaign: 200 submissions through the REST API, 100 each to the MAAP (OGC) and the ModelArts
stand-ins, each behind a seeded fault-injecting proxy that spoils a fifth of all requests (a 500 before or
after the platform acted, a connection reset before or after, a stall past the backend's timeout); then
the MAAP platform down for a minute and back. The stand-ins' own job lists are the judges: no orphaned
platform job, no duplicate, nothing stuck, and every job the platform ran ends with its outcome."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MA_OBS_KEY, MA_OBS_SECRET, MA_PROJECT, MA_TOKEN, free_port, wait_for_job
from fault_proxy import FaultProxy
from platform_views import maap_jobs, maap_jobs_tagged, maap_process_id, modelarts_jobs

from jupyter_compute.sandbox.maap import VALID_TOKEN, MaapSandbox

FINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}
JOBS_PER_PLATFORM = 100
FAULTS = ["fail-before", "fail-after", "drop", "lose-answer", "stall"]
#: Why a job that the platform never saw may end: its request was lost on the way (UNKNOWN), it certainly
#: never left (FAILED "not submitted"), or a read it needed first (a queue, a flavour) failed.
NEVER_ON_PLATFORM = {("UNKNOWN", "submission answer lost"), ("FAILED", "not submitted"),
                     ("FAILED", "submission failed")}  # fmt: skip


def fifth_spoiled(seed: int) -> Callable[[str, str], str]:
    """A proxy plan that spoils one request in five, with a seeded mix of the faults."""
    rnd = random.Random(seed)
    return lambda method, path: rnd.choice(FAULTS) if rnd.random() < 0.2 else "pass"


async def submit_all(api: Any, bodies: list[dict], *, concurrency: int = 8) -> list[dict]:
    """POST every body with its own Idempotency-Key, ``concurrency`` at a time; a 5xx is retried once with the
    same key (as a client does). Each job as first answered (the error's job id for a 502)."""
    slots = asyncio.Semaphore(concurrency)

    async def submit(i: int, body: dict) -> dict:
        async with slots:
            headers = {"Idempotency-Key": f"campaign-{i}"}
            reply = await api("POST", "jobs", body=body, headers=headers)
            if reply.status >= 500:
                reply = await api("POST", "jobs", body=body, headers=headers)
            assert reply.status in (200, 201, 502), reply.body
            return reply.body if reply.status < 300 else {"id": reply.body["error"]["job_id"]}

    return list(await asyncio.gather(*(submit(i, body) for i, body in enumerate(bodies))))


def judge(jobs: list[dict], on_platform: dict[str, tuple[str, bool]]) -> Counter[str]:
    """Check our jobs against the platform's: ``on_platform`` maps a platform job to (our job id it was made
    for, whether it succeeded there). Returns how many jobs ended how."""
    made_for = Counter(owner for owner, _ in on_platform.values())
    duplicates = [owner for owner, count in made_for.items() if count > 1]
    assert not duplicates, f"platform jobs made twice for {duplicates}"
    ours = {job["id"]: job for job in jobs}
    assert len(ours) == len(jobs), "every submission is one job"
    orphans = {remote for remote, (owner, _) in on_platform.items() if ours.get(owner, {}).get("remote_id") != remote}
    assert not orphans, f"platform jobs that no job of ours tracks: {orphans}"
    outcomes: Counter[str] = Counter()
    for job in jobs:
        if job["remote_id"] is not None:
            _, succeeded = on_platform[job["remote_id"]]
            assert succeeded and job["state"] == "SUCCEEDED", (job, "the platform's outcome")
        else:
            assert (job["state"], job["native_status"]) in NEVER_ON_PLATFORM, job
        outcomes[f"{job['state']} ({job['native_status']})"] += 1
    return outcomes


# --- MAAP (OGC) ----------------------------------------------------------------------------------------


@pytest.fixture
def maap() -> Iterator[MaapSandbox]:
    with MaapSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def proxy_port() -> int:
    return free_port()


def maap_config(port: int, **settings: Any) -> dict[str, Any]:
    return {"kind": "maap", "flavor": "ogc", "url": f"http://127.0.0.1:{port}/api/", "token_env": "MAAP_PGT",
            **settings}


class TestMaapCampaign:
    @pytest.fixture
    def compute_config(self, proxy_port: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        monkeypatch.setenv("MAAP_PGT", VALID_TOKEN)
        return {"backends": {"maap": maap_config(proxy_port, confirm_window_s=5, timeout_s=2)}}

    @pytest.mark.timeout(900)
    async def test_no_orphan_no_duplicate_every_job_settled(self, api, jp_serverapp, maap, proxy_port):
        body = {"backend": "maap", "algorithm": maap_process_id(maap, "row-stats"), "inputs": ["sample-trees.csv"],
                "environment": "maap-dps-worker-8gb"}
        with FaultProxy(maap.base_url, fifth_spoiled(20261206), port=proxy_port, stall_s=3.0):
            first = await submit_all(api, [{**body, "name": f"maap {i}"} for i in range(JOBS_PER_PLATFORM)])

            def settled(job: dict) -> bool:
                """Ended; or UNKNOWN and truly absent from the platform (a job there is adopted by a later
                look, however slow the machine made the first ones)."""
                return job["state"] in FINAL or (job["state"] == "UNKNOWN" and not maap_jobs_tagged(maap, job["id"]))

            jobs = [await wait_for_job(api, j["id"], settled, "the job to settle", timeout=400) for j in first]
        owners = {remote: job["id"] for job in jobs for remote in maap_jobs_tagged(maap, job["id"])}
        on_platform = {remote: (owners.get(remote, ""), status == "successful")
                       for remote, status in maap_jobs(maap).items()}  # fmt: skip
        outcomes = judge(jobs, on_platform)
        print(f"\nMAAP campaign: {len(jobs)} submissions, {len(on_platform)} platform jobs, outcomes {dict(outcomes)}")


# --- ModelArts -----------------------------------------------------------------------------------------


class TestModelArtsCampaign:
    @pytest.fixture
    def compute_config(self, modelarts, obs: str, proxy_port: int, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("MA_TOKEN", MA_TOKEN)
        monkeypatch.setenv("MA_OBS_AK", MA_OBS_KEY)
        monkeypatch.setenv("MA_OBS_SK", MA_OBS_SECRET)
        return {"backends": {"ma": {
            "kind": "modelarts", "endpoint": f"http://127.0.0.1:{proxy_port}", "project_id": MA_PROJECT,
            "token_env": "MA_TOKEN", "obs_endpoint": obs, "obs_ak_env": "MA_OBS_AK", "obs_sk_env": "MA_OBS_SK",
            "upload_root": "obs://ma-bucket/campaign/", "timeout_s": 2, "confirm_window_s": 5,
            "poll_interval_s": 0.5,
        }}}  # fmt: skip

    @pytest.mark.timeout(900)
    async def test_no_orphan_no_duplicate_every_job_settled(self, api, jp_serverapp, jp_root_dir: Path, modelarts,
                                                            proxy_port):  # fmt: skip
        (jp_root_dir / "hello.py").write_text("print('hello from the campaign')\n")
        body = {"backend": "ma", "script": str(jp_root_dir / "hello.py"), "environment": "modelarts.vm.cpu.8u"}
        before = set(modelarts_jobs(modelarts.base_url, MA_PROJECT, MA_TOKEN))  # the module's other tests' jobs
        with FaultProxy(modelarts.base_url, fifth_spoiled(6122026), port=proxy_port, stall_s=3.0):
            first = await submit_all(api, [{**body, "name": f"ma {i}"} for i in range(JOBS_PER_PLATFORM)])
            platform = lambda: modelarts_jobs(modelarts.base_url, MA_PROJECT, MA_TOKEN)  # noqa: E731

            def settled(job: dict) -> bool:
                if job["state"] in FINAL:
                    return True
                return job["state"] == "UNKNOWN" and all(j["owner"] != job["id"] for j in platform().values())

            jobs = [await wait_for_job(api, j["id"], settled, "the job to settle", timeout=400) for j in first]
        on_platform = {remote: (job["owner"], job["phase"] == "Completed")
                       for remote, job in modelarts_jobs(modelarts.base_url, MA_PROJECT, MA_TOKEN).items()
                       if remote not in before}  # fmt: skip
        outcomes = judge(jobs, on_platform)
        print(f"\nModelArts campaign: {len(jobs)} submissions, {len(on_platform)} platform jobs, "
              f"outcomes {dict(outcomes)}")


# --- the platform down for a minute -------------------------------------------------------------------

OUTAGE_S = 60.0


class TestMaapOutage:
    """MAAP unreachable (connection refused) for 60 s while jobs run there, one submission's answer lost just
    before, and new submissions refused during it; then back. Every job recovers: those that ran (or ended)
    during the outage end with the platform's outcome, the lost answer is adopted, and the refused ones,
    retried with their keys once the platform is back, run once."""

    @pytest.fixture
    def compute_config(self, proxy_port: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        monkeypatch.setenv("MAAP_PGT", VALID_TOKEN)
        return {"backends": {"maap": maap_config(proxy_port, timeout_s=5)}}  # the default 120 s confirm window

    @pytest.mark.timeout(900)
    async def test_every_job_recovers(self, api, jp_serverapp, maap, proxy_port):
        sleep = maap_process_id(maap, "sleep")

        def body(name: str, seconds: float) -> dict:
            return {"backend": "maap", "algorithm": sleep, "inputs": ["sample-trees.csv"],
                    "environment": "maap-dps-worker-8gb", "params": {"seconds": seconds}, "name": name}

        lose_next_submission = []

        def plan(method: str, path: str) -> str:
            if method == "POST" and path.endswith("/execution") and lose_next_submission:
                return lose_next_submission.pop()
            return "pass"

        proxy = FaultProxy(maap.base_url, plan, port=proxy_port).__enter__()
        try:
            # jobs that end during the outage, and one that runs past it
            running = [(await api("POST", "jobs", body=body(f"through {i}", 20))).body for i in range(3)]
            running.append((await api("POST", "jobs", body=body("past it", OUTAGE_S + 15))).body)
            for job in running:
                await wait_for_job(api, job["id"], lambda j: j["state"] == "RUNNING", "the job to run", timeout=120)
            lose_next_submission.append("lose-answer")
            lost = (await api("POST", "jobs", body=body("answer lost", 1))).body
            assert lost["native_status"] == "confirming submission", lost
        finally:
            proxy.__exit__()
        down_since = time.monotonic()

        refused = []
        for i in range(2):
            reply = await api("POST", "jobs", body=body(f"refused {i}", 1), headers={"Idempotency-Key": f"down-{i}"})
            assert reply.status == 502 and "MAAP" in reply.body["error"]["message"], reply.body
            refused.append((await api("GET", "jobs", reply.body["error"]["job_id"])).body)
            assert (refused[-1]["state"], refused[-1]["native_status"]) == ("FAILED", "not submitted"), refused[-1]
        while time.monotonic() - down_since < OUTAGE_S:
            for job in [*running, lost]:  # nothing is given up on while the platform cannot be reached
                seen = (await api("GET", "jobs", job["id"])).body
                assert seen["state"] in ("QUEUED", "RUNNING"), seen
            await asyncio.sleep(2)

        with FaultProxy(maap.base_url, lambda method, path: "pass", port=proxy_port):
            for i, job in enumerate(refused):
                again = await api("POST", "jobs", body=body(f"refused {i}", 1), headers={"Idempotency-Key": f"down-{i}"})
                assert again.status == 201 and again.body["id"] == job["id"], again.body
            jobs = [await wait_for_job(api, job["id"], lambda j: j["state"] in FINAL, "the job to end", timeout=400)
                    for job in [*running, lost, *refused]]  # fmt: skip
            owners = {remote: job["id"] for job in jobs for remote in maap_jobs_tagged(maap, job["id"])}
            on_platform = {remote: (owners.get(remote, ""), status == "successful")
                           for remote, status in maap_jobs(maap).items()}  # fmt: skip
        outcomes = judge(jobs, on_platform)
        assert outcomes == {"SUCCEEDED (successful)": len(jobs)}, outcomes
