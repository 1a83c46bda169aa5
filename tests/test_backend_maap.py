"""The maap backend against the real MAAP sandbox over HTTP on loopback (both flavours), and S3
products from a real S3 server (moto) — the backend alone, no Jupyter server."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from conftest import read_result, run, run_demo_notebook, s3_client, start_live_server, started, wait_status

from jupyter_compute.backends.base import backend_class
from jupyter_compute.backends.maap import (
    OGC_MESSAGES,
    OGC_STATUS,
    SWAGGER_STATUS,
    MaapBackend,
    entry_message,
    parse_step,
)
from jupyter_compute.backends.maap_storage import file_name, s3_path
from jupyter_compute.errors import AuthError, InvalidSpec, NotFound, NotSupported
from jupyter_compute.models import JobSpec, JobState
from jupyter_compute.results import read_frame
from jupyter_compute.sandbox.maap import DEMO_GRANULES, EXPIRED_TOKEN, VALID_TOKEN, MaapSandbox
from test_sandbox_maap import PRODUCT_FOLDER, register_folder_algorithm

TREES = "sample-trees.csv"  # a built-in granule of every sandbox: species,height_m,diameter_cm; 6 rows
QUEUE = "maap-dps-worker-8gb"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[MaapSandbox]:
    with MaapSandbox() as sb:
        yield sb


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAAP_PGT", VALID_TOKEN)


def maap(sb: MaapSandbox, flavor: str = "swagger", **config: Any) -> AbstractAsyncContextManager[MaapBackend]:
    return started(MaapBackend("maap", {"url": sb.url, "flavor": flavor, "token_env": "MAAP_PGT", **config}))


def check_trees_stats(data: bytes) -> None:
    frame = read_frame(data, "row_stats.csv")
    assert list(frame.columns) == ["granule", "column", "count", "mean", "min", "max"]
    height = frame.set_index("column").loc["height_m"]
    assert height["count"] == 6 and height["min"] == 12.8 and height["max"] == 30.0
    assert abs(height["mean"] - 20.833333) < 1e-5


def spec(**fields: Any) -> JobSpec:
    return JobSpec(backend="maap", **fields)


# --- the status tables, row by row ---------------------------------------------------------

SWAGGER_ROWS = [
    ("PENDING", JobState.QUEUED),
    ("RUNNING", JobState.RUNNING),
    ("SUCCESS", JobState.SUCCEEDED),
    ("ERROR", JobState.FAILED),
    ("CANCELED", JobState.CANCELLED),
    ("TIMEOUT", JobState.TIMED_OUT),
]
OGC_ROWS = [
    ("accepted", JobState.QUEUED),
    ("running", JobState.RUNNING),
    ("successful", JobState.SUCCEEDED),
    ("failed", JobState.FAILED),
    ("offline", JobState.FAILED),
    ("dismissed", JobState.CANCELLED),
    ("deduped", JobState.SUCCEEDED),
]


@pytest.mark.parametrize(("native", "state"), SWAGGER_ROWS)
def test_swagger_status_table(native: str, state: JobState) -> None:
    b = MaapBackend("m", {"url": "http://127.0.0.1:1/api/"})
    assert b.status_map[native] is state
    assert b._entry_status({"status": native, "steps": []}).state is state


@pytest.mark.parametrize(("native", "state"), OGC_ROWS)
def test_ogc_status_table(native: str, state: JobState) -> None:
    b = MaapBackend("m", {"url": "http://127.0.0.1:1/api/", "flavor": "ogc"})
    assert b.status_map[native] is state
    status = b._ogc_brief({"status": native})
    assert status.state is state and status.native_status == native


def test_status_tables_are_complete_and_deduped_is_said_plainly() -> None:
    assert dict(SWAGGER_STATUS) == dict(SWAGGER_ROWS) and dict(OGC_STATUS) == dict(OGC_ROWS)
    b = MaapBackend("m", {"url": "http://127.0.0.1:1/api/", "flavor": "ogc"})
    assert b._ogc_brief({"status": "deduped"}).message == OGC_MESSAGES["deduped"]
    assert "identical to an earlier run" in OGC_MESSAGES["deduped"]


def test_registered_kind_and_capabilities_per_flavour() -> None:
    assert backend_class("maap") is MaapBackend
    swagger = MaapBackend("m", {"url": "http://127.0.0.1:1/api"})
    ogc = MaapBackend("m", {"url": "http://127.0.0.1:1/api", "flavor": "ogc"})
    assert swagger.capabilities.has_webhooks and not swagger.capabilities.can_cancel
    assert not swagger.capabilities.has_environments and swagger.capabilities.can_proxy
    assert ogc.capabilities.can_cancel and ogc.capabilities.has_environments and not ogc.capabilities.has_webhooks
    assert swagger.api_base == "http://127.0.0.1:1/api/"
    assert (swagger.describe()["flavor"], swagger.describe()["url"]) == ("swagger", "http://127.0.0.1:1/api/")
    shown = MaapBackend("m", {"url": "https://me:pa55@maap.example.org/api/?ticket=t1", "flavor": "ogc"}).describe()
    assert (shown["flavor"], shown["url"]) == ("ogc", "https://maap.example.org/api/"), "no credentials shown"
    assert MaapBackend("m", {"url": "http://x/api/", "poll_interval_s": 1e6}).poll_interval == 1e6
    for bad in ({"url": "ftp://x"}, {"url": "http://x", "flavor": "soap"}, {"url": "http://x", "timeout_s": 0}):
        with pytest.raises(InvalidSpec) as caught:
            MaapBackend("m", bad)
        assert caught.value.field in ("url", "flavor", "timeout_s")


def test_entry_message_prefers_errors_then_the_last_messages() -> None:
    entry = {"status": "ERROR", "steps": [
        {"index": 0, "status": "SUCCESS", "messages": [{"level": "WARN", "text": "slow disk"}]},
        {"index": 1, "status": "ERROR", "messages": [{"level": "WARN", "text": "odd column"},
                                                     {"level": "ERROR", "text": "RuntimeError: boom"}]},
    ]}  # fmt: skip
    assert entry_message(entry) == "RuntimeError: boom"
    entry["steps"][1]["messages"].pop()
    assert entry_message(entry) == "odd column"
    running = {"status": "RUNNING", "steps": [{"index": 0, "status": "RUNNING", "description": "stage-in"}]}
    assert entry_message(running) == "step 0: stage-in"


def test_s3_urls_are_rewritten() -> None:
    assert s3_path("s3://s3.amazonaws.com:80/bucket/user/dps_output/a/out.csv") == "bucket/user/dps_output/a/out.csv"
    assert s3_path("s3://my.bucket/key/out.csv") == "my.bucket/key/out.csv"
    assert file_name("s3://s3.amazonaws.com:80/bucket/a/out.csv") == "out.csv"
    with pytest.raises(InvalidSpec):
        s3_path("s3://s3.amazonaws.com:80/bucket-only")


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavor", "fields", "field"),
    [
        ("swagger", {"inputs": [TREES]}, "algorithm"),
        ("swagger", {"algorithm": "  ", "inputs": [TREES]}, "algorithm"),
        ("swagger", {"algorithm": "row-stats"}, "inputs"),
        ("swagger", {"algorithm": "row-stats", "inputs": [""]}, "inputs[0]"),
        ("swagger", {"algorithm": "row-stats", "inputs": [TREES], "environment": QUEUE}, "environment"),
        ("swagger", {"algorithm": "row-stats", "inputs": [TREES], "params": {"x": [1]}}, "params"),
        ("swagger", {"algorithm": "row-stats", "inputs": [TREES], "command": "ls"}, "command"),
        ("swagger", {"algorithm": "row-stats", "inputs": [TREES], "timeout_s": 5}, "timeout_s"),
        ("ogc", {"algorithm": "row-stats", "inputs": [TREES], "environment": QUEUE}, "algorithm"),
        ("ogc", {"algorithm": "1", "inputs": [], "environment": QUEUE}, "inputs"),
        ("ogc", {"algorithm": "1", "inputs": [TREES]}, "environment"),
        ("ogc", {"algorithm": "1", "inputs": [TREES], "environment": "no-such-queue"}, "environment"),
        ("ogc", {"algorithm": "1", "inputs": [TREES], "environment": QUEUE, "params": {"granules": "x"}}, "params"),
    ],
)
def test_validation_names_the_field(sandbox: MaapSandbox, flavor: str, fields: dict, field: str) -> None:
    async def body() -> None:
        async with maap(sandbox, flavor) as b:  # start() has read the queues (ogc)
            with pytest.raises(InvalidSpec) as caught:
                b.validate(spec(**fields))
            assert caught.value.field == field, caught.value
            with pytest.raises(InvalidSpec) as caught:
                await b.submit(spec(**fields), "job-x")
            assert caught.value.field == field

    run(body)


def test_platform_refusals_name_the_field(sandbox: MaapSandbox) -> None:
    async def body() -> None:
        async with maap(sandbox) as b:
            with pytest.raises(InvalidSpec) as caught:
                await b.submit(spec(algorithm="no-such-algorithm", inputs=[TREES]), "j")
            assert caught.value.field == "algorithm" and "no-such-algorithm" in caught.value.message
        async with maap(sandbox, "ogc") as b:
            with pytest.raises(InvalidSpec) as caught:
                await b.submit(spec(algorithm="999", inputs=[TREES], environment=QUEUE), "j")
            assert caught.value.field == "algorithm" and "999" in caught.value.message

    run(body)


def test_forms_declare_the_fields(sandbox: MaapSandbox) -> None:
    async def body() -> None:
        async with maap(sandbox) as b:
            form = b.form()
            assert form.field("algorithm").required and form.field("inputs").type == "tags"
            assert form.field("inputs").required
            with pytest.raises(KeyError):
                form.field("environment")
        async with maap(sandbox, "ogc") as b:
            queue = b.form().field("environment")
            assert queue.type == "choice" and queue.required and set(queue.choices) == set(sandbox.queues)
            assert b.form().field("params").type == "mapping"

    run(body)


# --- swagger flavour ------------------------------------------------------------------------


class _AccessLog(logging.Handler):
    """The sandbox's own request log (tornado's access log): "POST /api/v1/jobs (127.0.0.1)"."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        summary = str(record.args[1]) if isinstance(record.args, tuple) and len(record.args) > 1 else ""
        self.lines.append(summary.rsplit(" (", 1)[0])

    async def until(self, line: str, timeout: float = 5.0) -> list[str]:
        """The lines once ``line`` is among them (tornado logs a request just after answering it)."""
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            assert time.monotonic() < deadline, (line, self.lines)
            await asyncio.sleep(0.01)
        return list(self.lines)


@contextlib.contextmanager
def access_log() -> Iterator[_AccessLog]:
    logger = logging.getLogger("tornado.access")
    handler, level = _AccessLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_swagger_submit_makes_three_calls_in_order_and_succeeds_by_polling(sandbox: MaapSandbox) -> None:
    granule = "plots-a.csv"
    sandbox.add_granule(granule, "plot,biomass\n1,10.5\n2,20.5\n3,30.5\n")

    async def body() -> None:
        async with maap(sandbox) as b:
            with access_log() as log:
                submission = await b.submit(spec(algorithm="row-stats", inputs=[granule], name="plots"), "job-1")
                entry_id = submission.remote_id
                lines = await log.until(f"POST /api/v1/jobentries/{entry_id}/run")
            calls = [line for line in lines if "/api/v1/" in line]
            job_id = sandbox._entries[entry_id].job_id
            assert calls == [
                "GET /api/v1/jobs",
                "POST /api/v1/jobs",
                f"POST /api/v1/jobs/{job_id}/submit",
                f"POST /api/v1/jobentries/{entry_id}/run",
            ]
            assert sandbox._jobs[job_id]["data_collection"] == [{"granule_id": granule, "description": ""}]
            assert sandbox._entries[entry_id].callback_uri == ""  # no webhook_url: polled only
            assert submission.status.state is JobState.QUEUED

            final = await wait_status(b, entry_id)
            assert final.state is JobState.SUCCEEDED and final.native_status == "SUCCESS"
            assert final.started and final.finished and final.started <= final.finished

            files = {r.name: r for r in await b.results(entry_id)}
            assert files["row_stats.csv"].kind == "output" and files["row_stats.csv"].media_type == "text/csv"
            assert files["_stdout.txt"].kind == "log"
            frame = read_frame(await read_result(b, entry_id, "row_stats.csv"), "row_stats.csv")
            biomass = frame.set_index("column").loc["biomass"]
            assert biomass["count"] == 3 and biomass["mean"] == 20.5 and biomass["max"] == 30.5
            with pytest.raises(NotFound):
                await read_result(b, entry_id, "nothing.csv")

            fresh = MaapBackend("maap", {"url": sandbox.url})  # after a restart: the name map is rebuilt
            try:
                again = read_frame(await read_result(fresh, entry_id, "row_stats.csv"), "row_stats.csv")
                assert again.equals(frame)
            finally:
                await fresh.close()

    run(body)


def test_swagger_definitions_are_reused_for_the_same_algorithm_and_granule_set(sandbox: MaapSandbox) -> None:
    sandbox.add_granule("reuse-1.txt", "alpha beta")
    sandbox.add_granule("reuse-2.txt", "beta gamma")

    async def body() -> None:
        async with maap(sandbox) as b:
            first = await b.submit(spec(algorithm="word-count", inputs=["reuse-1.txt", "reuse-2.txt"]), "a")
            count = len(sandbox._jobs)
            second = await b.submit(spec(algorithm="word-count", inputs=["reuse-2.txt", "reuse-1.txt"]), "b")
            assert len(sandbox._jobs) == count, "same algorithm and granule set: the definition is reused"
            job_of = {e: sandbox._entries[e].job_id for e in (first.remote_id, second.remote_id)}
            assert job_of[first.remote_id] == job_of[second.remote_id] and first.remote_id != second.remote_id

            third = await b.submit(spec(algorithm="word-count", inputs=["reuse-1.txt"]), "c")
            assert len(sandbox._jobs) == count + 1 and sandbox._entries[third.remote_id].job_id not in job_of.values()
            fourth = await b.submit(spec(algorithm="word-count", inputs=["reuse-1.txt"], params={"n": 2}), "d")
            assert len(sandbox._jobs) == count + 2, "other parameters: another definition"
            for entry in (first, second, third, fourth):
                assert (await wait_status(b, entry.remote_id)).state is JobState.SUCCEEDED
            words = read_frame(await read_result(b, first.remote_id, "word_counts.csv"), "word_counts.csv")
            assert dict(zip(words["word"], words["count"], strict=True)) == {"beta": 2, "alpha": 1, "gamma": 1}

    run(body)


def test_swagger_failures_timeouts_and_cancellations(sandbox: MaapSandbox) -> None:
    async def body() -> None:
        async with maap(sandbox) as b:
            failed = await b.submit(spec(algorithm="fail", inputs=[TREES], params={"message": "bad plot"}), "f")
            status = await wait_status(b, failed.remote_id)
            assert status.state is JobState.FAILED and status.native_status == "ERROR"
            assert "RuntimeError: " in status.message and "bad plot" in status.message
            assert {r.name for r in await b.results(failed.remote_id)} == {"_stdout.txt", "_stderr.txt"}

            missing = await b.submit(spec(algorithm="row-stats", inputs=["no-such-granule"]), "m")
            status = await wait_status(b, missing.remote_id)
            assert status.state is JobState.FAILED and "Granule 'no-such-granule' not found" in status.message

            sandbox.timeout_s = 0.5
            try:
                slow = await b.submit(spec(algorithm="sleep", inputs=[TREES], params={"seconds": 20}), "t")
                status = await wait_status(b, slow.remote_id)
            finally:
                sandbox.timeout_s = 300
            assert status.state is JobState.TIMED_OUT and "Time limit" in status.message

            running = await b.submit(spec(algorithm="sleep", inputs=[TREES], params={"seconds": 20}), "r")
            await wait_status(b, running.remote_id, states={JobState.RUNNING})
            with pytest.raises(NotSupported):
                await b.cancel(running.remote_id)
            sandbox.cancel_entry(running.remote_id)  # the platform's own cancel (no API route)
            assert (await wait_status(b, running.remote_id)).state is JobState.CANCELLED

    run(body)


class _Receiver:
    """A plain HTTP endpoint collecting the JSON bodies POSTed to it (the sandbox's callbacks)."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, Any]] = []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                bodies.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_swagger_callbacks_carry_job_step_results_and_handle_webhook_checks_them(sandbox: MaapSandbox) -> None:
    receiver = _Receiver()

    async def body() -> None:
        async with maap(sandbox, poll_interval_s=1e6) as b:
            b.webhook_url = lambda job_id: receiver.url + job_id
            submission = await b.submit(spec(algorithm="row-stats", inputs=[TREES]), "job-77")
            assert sandbox._entries[submission.remote_id].callback_uri == receiver.url + "job-77"
            deadline = time.monotonic() + 30
            while not any(s.get("status") == "SUCCESS" and s.get("index") == 2 for _, s in receiver.bodies):
                assert time.monotonic() < deadline, receiver.bodies
                await asyncio.sleep(0.05)
            assert {path for path, _ in receiver.bodies} == {"/hook/job-77"}
            steps = [step for _, step in receiver.bodies]
            assert [(s["index"], s["status"]) for s in steps] == [
                (0, "RUNNING"), (0, "SUCCESS"), (1, "RUNNING"), (1, "SUCCESS"), (2, "RUNNING"), (2, "SUCCESS"),
            ]
            for step in steps:  # valid: the entry is re-read (None), never guessed from one step
                assert await b.handle_webhook(submission.remote_id, step) is None
            assert await b.handle_webhook(submission.remote_id, json.dumps(steps[-1])) is None
            assert (await b.status(submission.remote_id)).state is JobState.SUCCEEDED

            good = steps[-1]
            malformed = [
                None, [], "not json", {"status": "SUCCESS"}, {**good, "index": "2"}, {**good, "index": True},
                {**good, "status": "DONE"}, {**good, "messages": "oops"},
                {**good, "messages": [{"level": "INFO", "text": "x"}]}, {**good, "files": [{"file_uri": 3}]},
                {**good, "time_ended": "yesterday"},
            ]
            for bad in malformed:
                with pytest.raises(InvalidSpec) as caught:
                    await b.handle_webhook(submission.remote_id, bad)
                assert caught.value.field == "body", bad
        async with maap(sandbox, "ogc") as b:
            with pytest.raises(NotSupported):
                await b.handle_webhook("x", steps[-1])

    try:
        run(body)
    finally:
        receiver.close()
    assert parse_step({"index": 0, "status": "PENDING"}) == {"index": 0, "status": "PENDING"}


def test_swagger_job_list_walks_every_page(sandbox: MaapSandbox) -> None:
    async def body() -> None:
        async with maap(sandbox) as b:
            ids = [(await b.submit(spec(algorithm="word-count", inputs=["sample-text.txt"]), f"p{i}")).remote_id
                   for i in range(3)]  # fmt: skip
            b.page_size = 2
            with access_log() as log:
                listed = dict(await b.list_jobs())
                last = len(sandbox._entries) // 2 * 2
                lines = await log.until(f"GET /api/v1/jobentries?offset={last}&limit=2")
            assert set(ids) <= set(listed) and len(listed) == len(sandbox._entries)
            pages = [line for line in lines if line.startswith("GET /api/v1/jobentries?")]
            assert len(pages) == len(sandbox._entries) // 2 + 1
            assert all(isinstance(s.state, JobState) for s in listed.values())

    run(body)


def test_index_lag_is_waited_out_after_submission() -> None:
    async def body(sb: MaapSandbox) -> None:
        async with maap(sb) as b:
            entry = await b.submit(spec(algorithm="word-count", inputs=["sample-text.txt"]), "lag-1")
            began = time.monotonic()
            status = await b.status(entry.remote_id)  # 404 for 1.5 s, then visible
            assert status.state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED)
            assert time.monotonic() - began >= 1.0
            with pytest.raises(NotFound):  # not one of ours: no waiting
                await b.status("never-submitted")
        async with maap(sb, "ogc") as b:
            job = await b.submit(spec(algorithm="2", inputs=["sample-text.txt"], environment=QUEUE), "lag-2")
            assert (await wait_status(b, job.remote_id)).state is JobState.SUCCEEDED
            began = time.monotonic()
            with pytest.raises(NotFound):
                await b.status("0f0f0f0f-unknown")
            assert time.monotonic() - began < 1.0

    with MaapSandbox(index_lag_s=1.5) as sb:
        run(lambda: body(sb))


# --- ogc flavour ----------------------------------------------------------------------------


def test_ogc_queues_are_the_environments(sandbox: MaapSandbox) -> None:
    async def body() -> None:
        async with maap(sandbox, "ogc") as b:
            envs = {e.id: e for e in await b.environments()}
            assert set(envs) == set(sandbox.queues)
            assert envs["maap-dps-worker-32gb"].memory_gb == 32 and envs[QUEUE].backend == "maap"
        async with maap(sandbox) as b:
            with pytest.raises(NotSupported):
                await b.environments()

    run(body)


def test_ogc_execute_status_results_and_products(sandbox: MaapSandbox) -> None:
    async def body() -> None:
        async with maap(sandbox, "ogc") as b:
            with access_log() as log:
                job = await b.submit(spec(algorithm="1", inputs=[TREES], environment=QUEUE), "ogc-job-1")
                await log.until("POST /api/ogc/processes/1/execution")
            run_ = sandbox._ogc[job.remote_id]
            assert run_.inputs == {"granules": [TREES]} and run_.queue == QUEUE and run_.tag == "ogc-job-1"
            assert job.status.state is JobState.QUEUED and job.status.native_status == "accepted"
            final = await wait_status(b, job.remote_id)
            assert final.state is JobState.SUCCEEDED and final.started and final.finished
            files = {r.name: r.kind for r in await b.results(job.remote_id)}
            assert files == {"row_stats.csv": "output", "_stdout.txt": "log", "_stderr.txt": "log"}
            check_trees_stats(await read_result(b, job.remote_id, "row_stats.csv"))
            assert await b.recover("ogc-job-1") == job.remote_id
            assert await b.recover("never-submitted") is None

    run(body)


def test_ogc_failures_offline_and_dedup(sandbox: MaapSandbox) -> None:
    async def body() -> None:
        async with maap(sandbox, "ogc") as b:
            failed = await b.submit(spec(algorithm="3", inputs=[TREES], environment=QUEUE,
                                         params={"message": "no biomass"}), "f")  # fmt: skip
            status = await wait_status(b, failed.remote_id)
            assert status.state is JobState.FAILED and "RuntimeError: no biomass" in status.message

            sleeper = await b.submit(spec(algorithm="4", inputs=[TREES], environment=QUEUE,
                                          params={"seconds": 20}), "o")  # fmt: skip
            await wait_status(b, sleeper.remote_id, states={JobState.RUNNING})
            sandbox.mark_offline(sleeper.remote_id)
            status = await wait_status(b, sleeper.remote_id)
            assert status.state is JobState.FAILED and status.native_status == "offline"
            assert "offline" in status.message

            fields = {"algorithm": "2", "inputs": ["sample-text.txt"], "environment": QUEUE, "extra": {"dedup": True}}
            original = await b.submit(spec(**fields), "d1")
            assert (await wait_status(b, original.remote_id)).state is JobState.SUCCEEDED
            duplicate = await b.submit(spec(**fields), "d2")
            status = await wait_status(b, duplicate.remote_id)
            assert status.state is JobState.SUCCEEDED and status.native_status == "deduped"
            assert status.message == "identical to an earlier run (deduplicated); no new products"
            assert await b.results(duplicate.remote_id) == []

    run(body)


def test_ogc_dismiss_running_and_queued_jobs_and_refuse_finished_ones() -> None:
    async def body(sb: MaapSandbox) -> None:
        async with maap(sb, "ogc") as b:
            busy = spec(algorithm="4", inputs=[TREES], environment="solo", params={"seconds": 30})
            running = await b.submit(busy, "c1")
            await wait_status(b, running.remote_id, states={JobState.RUNNING})
            queued = await b.submit(busy, "c2")  # the queue's only slot is taken
            assert (await b.status(queued.remote_id)).state is JobState.QUEUED

            await b.cancel(queued.remote_id)  # purged: MAAP forgets it
            status = await b.status(queued.remote_id)
            assert status.state is JobState.CANCELLED and status.native_status == "dismissed"

            await b.cancel(running.remote_id)
            status = await wait_status(b, running.remote_id)
            assert status.state is JobState.CANCELLED and status.native_status == "dismissed"

            done = await b.submit(spec(algorithm="2", inputs=["sample-text.txt"], environment="solo"), "c3")
            assert (await wait_status(b, done.remote_id)).state is JobState.SUCCEEDED
            with pytest.raises(InvalidSpec) as caught:
                await b.cancel(done.remote_id)
            assert "the job has already finished" in caught.value.message
            assert "job-completed" not in caught.value.message
            with pytest.raises(NotFound):
                await b.cancel("no-such-job")

    with MaapSandbox(queues={"solo": 1}) as sb:
        run(lambda: body(sb))


def test_ogc_job_list_walks_every_page(sandbox: MaapSandbox) -> None:
    async def body() -> None:
        async with maap(sandbox, "ogc") as b:
            ids = [(await b.submit(spec(algorithm="2", inputs=["sample-text.txt"], environment=QUEUE),
                                   f"l{i}")).remote_id for i in range(3)]  # fmt: skip
            b.page_size = 2
            listed = dict(await b.list_jobs())
            assert set(ids) <= set(listed) and len(listed) == len(sandbox._ogc)

    run(body)


def test_expired_or_missing_token_is_an_auth_error_naming_the_variable(
    sandbox: MaapSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> None:
        async with maap(sandbox, "ogc") as b:
            job = await b.submit(spec(algorithm="2", inputs=["sample-text.txt"], environment=QUEUE), "t1")
            monkeypatch.setenv("MAAP_PGT", EXPIRED_TOKEN)
            calls = [
                b.environments, b.list_jobs, lambda: b.status(job.remote_id), lambda: b.cancel(job.remote_id),
                lambda: b.results(job.remote_id), lambda: b.recover("t1"),
                lambda: b.submit(spec(algorithm="2", inputs=["sample-text.txt"], environment=QUEUE), "t2"),
            ]
            for call in calls:
                with pytest.raises(AuthError) as caught:
                    await call()
                message = caught.value.message
                assert "MAAP_PGT" in message and "renew" in message and EXPIRED_TOKEN not in message
            monkeypatch.delenv("MAAP_PGT")
            with pytest.raises(AuthError) as caught:
                await b.list_jobs()
            assert "MAAP_PGT" in caught.value.message
            with pytest.raises(AuthError):
                await b.auth_headers()
            monkeypatch.setenv("MAAP_PGT", VALID_TOKEN)
            assert await b.auth_headers() == {"proxy-ticket": VALID_TOKEN}
            assert (await wait_status(b, job.remote_id)).state is JobState.SUCCEEDED

        monkeypatch.setenv("MAAP_PGT", EXPIRED_TOKEN)
        b = MaapBackend("maap", {"url": sandbox.url, "flavor": "ogc"})
        await b.start()  # the server still starts; the queues are simply unknown
        try:
            assert b.form().field("environment").type == "string"
        finally:
            await b.close()

    run(body)


def test_a_cancel_right_after_submit_waits_out_the_index_lag() -> None:
    """For a few seconds MAAP does not find a fresh job (search-index lag): a cancel then must wait
    like the reads do, not answer NotFound while the job runs on to completion."""

    async def body(sb: MaapSandbox) -> None:
        async with maap(sb, "ogc") as b:
            busy = spec(algorithm="4", inputs=[TREES], environment="solo", params={"seconds": 30})
            first = await b.submit(busy, "lag-c1")
            await b.cancel(first.remote_id)  # 404 for 2 s on the platform; waited out
            status = await wait_status(b, first.remote_id)
            assert status.state is JobState.CANCELLED and status.native_status == "dismissed"

            blocker = await b.submit(busy, "lag-c2")
            await wait_status(b, blocker.remote_id, states={JobState.RUNNING})
            queued = await b.submit(busy, "lag-c3")  # waits for the only slot
            await b.cancel(queued.remote_id)  # purged once MAAP finds it
            status = await b.status(queued.remote_id)
            assert status.state is JobState.CANCELLED and status.native_status == "dismissed"
            assert sb._ogc.get(queued.remote_id) is None, "the platform forgot the queued job"
            await b.cancel(blocker.remote_id)
            assert (await wait_status(b, blocker.remote_id)).state is JobState.CANCELLED
            with pytest.raises(NotFound):  # not one of ours: no waiting
                await b.cancel("never-submitted")

    with MaapSandbox(index_lag_s=2.0, queues={"solo": 1}) as sb:
        run(lambda: body(sb))


FOLDER_FILES = {f"{PRODUCT_FOLDER}/biomass.csv", f"{PRODUCT_FOLDER}/extra/notes.txt"}


def check_biomass(data: bytes) -> None:
    frame = read_frame(data, "biomass.csv")
    assert list(frame.columns) == ["plot", "biomass"] and frame["biomass"].mean() == 20.5


def test_a_product_folder_is_listed_file_by_file(sandbox: MaapSandbox, tmp_path: Any) -> None:
    pid = register_folder_algorithm(sandbox, tmp_path)

    async def body() -> None:
        async with maap(sandbox, "ogc") as b:
            job = await b.submit(spec(algorithm=str(pid), inputs=[TREES], environment=QUEUE), "folder-1")
            assert (await wait_status(b, job.remote_id)).state is JobState.SUCCEEDED
            files = {r.name: r for r in await b.results(job.remote_id)}
            assert set(files) == FOLDER_FILES | {"summary.txt", "_stdout.txt", "_stderr.txt"}
            table = files[f"{PRODUCT_FOLDER}/biomass.csv"]
            assert table.kind == "output" and table.media_type == "text/csv"
            check_biomass(await read_result(b, job.remote_id, f"{PRODUCT_FOLDER}/biomass.csv"))
            notes = await read_result(b, job.remote_id, f"{PRODUCT_FOLDER}/extra/notes.txt")
            assert notes == b"three plots\n"
            with pytest.raises(NotFound):  # the folder itself is not a file
                await read_result(b, job.remote_id, PRODUCT_FOLDER)

    run(body)


# --- S3 products (a real S3 server: moto) ----------------------------------------------------


@pytest.fixture(scope="module")
def s3_server(s3_endpoint: str) -> str:
    return s3_endpoint


def test_s3_products_are_read_with_s3fs(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_KEY", "testing")
    monkeypatch.setenv("S3_SECRET", "testing")
    s3 = {"s3_endpoint_url": s3_server, "s3_key_env": "S3_KEY", "s3_secret_env": "S3_SECRET"}

    async def body(sb: MaapSandbox) -> None:
        client = s3_client(s3_server)
        for flavor, fields in (("swagger", {}), ("ogc", {"environment": QUEUE})):
            async with maap(sb, flavor, **s3) as b:
                job = await b.submit(spec(algorithm="row-stats" if flavor == "swagger" else "1",
                                          inputs=[TREES], **fields), f"s3-{flavor}")  # fmt: skip
                assert (await wait_status(b, job.remote_id)).state is JobState.SUCCEEDED
                names = [r.name for r in await b.results(job.remote_id)]
                assert names.count("row_stats.csv") == 1, names  # the http and the s3 link: one file
                sources = b._products[job.remote_id].urls["row_stats.csv"]
                s3_url = next(u for u in sources if u.startswith("s3://s3.amazonaws.com:80/"))
                check_trees_stats(await read_result(b, job.remote_id, "row_stats.csv"))
                # prove the bytes came from S3: change the object there, read again
                bucket, _, key = s3_path(s3_url).partition("/")
                client.put_object(Bucket=bucket, Key=key, Body=b"from,s3\n1,2\n")
                assert await read_result(b, job.remote_id, "row_stats.csv") == b"from,s3\n1,2\n"
            async with maap(sb, flavor) as plain:  # no S3 endpoint: the http link is read
                check_trees_stats(await read_result(plain, job.remote_id, "row_stats.csv"))

    with MaapSandbox(s3_endpoint_url=s3_server, s3_bucket="maap-ops-workspace",
                     s3_access_key="testing", s3_secret_key="testing") as sb:  # fmt: skip
        run(lambda: body(sb))


def test_a_product_folder_in_s3_is_listed_there(s3_server: str, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Any) -> None:
    monkeypatch.setenv("S3_KEY", "testing")
    monkeypatch.setenv("S3_SECRET", "testing")
    s3 = {"s3_endpoint_url": s3_server, "s3_key_env": "S3_KEY", "s3_secret_env": "S3_SECRET"}

    async def body(sb: MaapSandbox, pid: int) -> None:
        async with maap(sb, "ogc", **s3) as b:
            job = await b.submit(spec(algorithm=str(pid), inputs=[TREES], environment=QUEUE), "folder-s3")
            assert (await wait_status(b, job.remote_id)).state is JobState.SUCCEEDED
            names = [r.name for r in await b.results(job.remote_id)]
            assert sorted(names) == sorted([*FOLDER_FILES, "summary.txt", "_stdout.txt", "_stderr.txt"]), names
            name = f"{PRODUCT_FOLDER}/biomass.csv"
            sources = b._products[job.remote_id].urls[name]
            assert sources[0].startswith("s3://maap-ops-workspace/") and sources[1].startswith("http://")
            check_biomass(await read_result(b, job.remote_id, name))
            bucket, _, key = s3_path(sources[0]).partition("/")
            s3_client(s3_server).put_object(Bucket=bucket, Key=key, Body=b"plot,biomass\n9,1.5\n")
            assert await read_result(b, job.remote_id, name) == b"plot,biomass\n9,1.5\n"  # read from S3
        async with maap(sb, "ogc") as plain:  # no S3 endpoint: the folder is listed over http
            assert {r.name for r in await plain.results(job.remote_id)} >= FOLDER_FILES
            check_biomass(await read_result(plain, job.remote_id, name))

    with MaapSandbox(s3_endpoint_url=s3_server, s3_bucket="maap-ops-workspace",
                     s3_access_key="testing", s3_secret_key="testing") as sb:  # fmt: skip
        pid = register_folder_algorithm(sb, tmp_path)
        run(lambda: body(sb, pid))


def test_the_token_is_never_sent_to_a_product_host(sandbox: MaapSandbox) -> None:
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"a,b\n")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def body() -> None:
        async with maap(sandbox, "ogc") as b:
            from jupyter_compute.backends.maap_storage import ProductIndex

            index = ProductIndex()
            index.add([f"http://127.0.0.1:{server.server_address[1]}/products/out.csv"])
            b._products["elsewhere"] = index
            assert await read_result(b, "elsewhere", "out.csv") == b"a,b\n"
        assert seen and all("proxy-ticket" not in {k.lower() for k in h} for h in seen)

    try:
        run(body)
    finally:
        server.shutdown()
        server.server_close()


# --- the demo notebook, against a live server configured as for the real MAAP ----------------


@pytest.mark.parametrize("flavours", [("swagger", "ogc"), ("ogc",)], ids=["both-flavours", "ogc-only"])
def test_maap_notebook_runs_against_a_server_configured_for_a_real_maap(tmp_path, flavours) -> None:
    """Backends named as a user would, on a platform the test runs (a stand-in the server takes for MAAP); with
    the OGC API alone (what MAAP serves today) the notebook runs its algorithm by process number on a queue."""
    names = {"swagger": "my-maap", "ogc": "my-maap-ogc"}
    with MaapSandbox(granules=DEMO_GRANULES) as platform:
        server = start_live_server(tmp_path / "jupyter", backends={
            names[flavour]: {"kind": "maap", "flavor": flavour, "url": platform.url, "token_env": "MAAP_PGT"}
            for flavour in flavours
        })  # fmt: skip
        try:
            _, text = run_demo_notebook("maap.ipynb", server.kernel_env("MAAP_PGT"))  # the kernel holds no token
            first = names[flavours[0]]
            assert (f"Backend '{first}': MAAP's DPS ({flavours[0]} API) at {platform.url} — a real MAAP platform, "
                    "configured on the server") in text, text
            assert "the local MAAP sandbox" not in text and VALID_TOKEN not in text
            assert "(1, 'row-stats', 'Per-column count/mean/min/max of each granule CSV')" in text, "via passthrough"
            assert "mean biomass 154.69 t/ha over 4 plots" in text, text
            if len(flavours) == 2:
                assert "queues of 'my-maap-ogc'" in text and "the same product as above: True" in text
            else:
                assert "no other MAAP backend in the OGC flavour on this server: skipped" in text
            with server.client() as client:
                jobs = client.jobs(tag="maap-demo")
                assert {(j.backend, j.state.value) for j in jobs} == {(names[f], "SUCCEEDED") for f in flavours}
                for job in jobs:
                    biomass = job.to_pandas().set_index("column").loc["biomass_t_ha"]
                    assert (biomass["count"], biomass["mean"], biomass["max"]) == (4, 154.6875, 201.0)
            if "swagger" in flavours:
                steps = [(c["step"]["index"], c["step"]["status"], c.get("status")) for c in platform.callback_log]
                assert (2, "SUCCESS", 204) in steps, "MAAP called the server back"
        finally:
            server.stop()
    server.checked_log([VALID_TOKEN])


def test_250_entries_are_all_listed_in_a_stable_order() -> None:
    async def body() -> None:
        with MaapSandbox() as sb:
            async with httpx.AsyncClient(base_url=sb.url, timeout=30) as http:
                definition = (await http.post("v1/jobs", json={
                    "job_name": "many", "algorithm_id": "word-count", "status": "ACTIVE",
                    "data_collection": [{"granule_id": "sample-text.txt", "description": ""}]})).json()
                created = [(await http.post(f"v1/jobs/{definition['job_id']}/submit")).json()["entry_id"]
                           for _ in range(250)]  # created, not run: cheap
            async with maap(sb) as b:
                first = [entry_id for entry_id, _ in await b.list_jobs()]
                second = [entry_id for entry_id, _ in await b.list_jobs()]
        assert first == second, "the same order on every walk"
        assert sorted(first) == sorted(created) and len(first) == 250

    run(body)
