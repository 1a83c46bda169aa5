"""The client's HTTP handling and server discovery, against a throwaway fake of the REST API.

The fake serves the contract over real HTTP on 127.0.0.1 under a non-root base URL. It only
exercises the client (URL joining, auth, errors, retries, streaming, waiting); the tests against
the real server extension live elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from jupyter_compute import models, results
from jupyter_compute.client import Client, Job, JobPage, LogChunk
from jupyter_compute.errors import AuthError, ComputeError, InvalidSpec, NotFound, WaitTimeout

BASE = "/a/b/"
API = BASE + "compute/api/"
PROXY = BASE + "compute/proxy/"
TOKEN = "s3cret-t0ken"
LOG = "first line\nsecond line\nthird line\n"
CSV_ROWS = 20_000

FakeFile = tuple[str, bytes, "str | None", str]  # name, content, media type, kind


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class FakeCompute:
    """Just enough of the REST contract to test the client; states advance on each GET."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.jobs: dict[str, models.Job] = {}
        self.keys: dict[str, str] = {}
        self.timelines: dict[str, list[models.JobState]] = {}
        self.files: dict[str, dict[str, tuple[str, bytes, str]]] = {}
        self.drop_posts = 0
        self.lock = threading.Lock()

    def add_job(self, job_id: str, states: list[models.JobState], files: tuple[FakeFile, ...] = ()) -> None:
        """A job whose state walks through ``states`` (one step per GET) and that has ``files``."""
        self.jobs[job_id] = models.Job(
            id=job_id,
            backend="local",
            name=f"job-{job_id}",
            spec=models.JobSpec(),
            state=states[0],
            results=[models.ResultFile(n, len(b), kind, mt) for n, b, mt, kind in files],
        )
        self.timelines[job_id] = list(states)
        self.files[job_id] = {n: (mt, b, kind) for n, b, mt, kind in files}

    # --- dispatch ---------------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self.lock:
            seen = Seen(request.command, url.path, parse_qs(url.query), dict(request.headers), body)
            self.seen.append(seen)
        if url.path.startswith(PROXY):
            return self.passthrough(request, url.path[len(PROXY):], url.query, raw)
        if not url.path.startswith(API):
            return self.reply(request, 404, b"<html><body>404: Not Found</body></html>", "text/html")
        if request.headers.get("Authorization") != f"token {TOKEN}":  # as the extension's handlers answer
            return self.reply_json(request, 403, {"error": {"type": "HTTPError", "message": "Forbidden"}})
        parts = [unquote(p) for p in url.path[len(API) :].split("/")]
        if request.command == "POST" and parts == ["jobs"] and self.drop_posts:
            self.drop_posts -= 1
            request.close_connection = True  # read the request, answer nothing: a dropped connection
            return None
        status, answer = self.route(request.command, parts, parse_qs(url.query), body)
        if isinstance(answer, tuple):
            media_type, data = answer
            return self.reply(request, status, data, media_type)
        return self.reply_json(request, status, answer)

    def route(self, method: str, parts: list[str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        match method, parts:
            case "GET", ["backends"]:
                local = {"name": "local", "kind": "local", "capabilities": {"can_cancel": True}}
                return 200, {"backends": [local]}
            case "GET", ["backends", "local", "environments"]:
                return 200, {"environments": [{"id": "this-machine", "cpus": 4, "memory_gb": 8.0, "new": 1}]}
            case "GET", ["backends", "local", "clusters"]:
                return 200, {"clusters": [{"id": "localhost", "nodes": 1, "cpus": 4}]}
            case "GET", ["backends", backend, _]:
                return error(404, "NotFound", f"no backend '{backend}'", backend=backend)
            case "POST", ["jobs"]:
                return self.create(body)
            case "GET", ["jobs"]:
                jobs = [job.to_dict() for job in self.jobs.values()]
                return 200, {"jobs": jobs, "total": 42, "limit": int(query["limit"][0]), "offset": 0}
            case "GET", ["jobs", "html500"]:
                return 500, ("text/html", b"<html><title>500: Internal Server Error</title></html>")
            case _, ["jobs", job_id, *_] if job_id not in self.jobs:
                return error(404, "NotFound", f"no job '{job_id}'", job_id=job_id)
            case "GET", ["jobs", job_id]:
                return 200, self.advance(job_id).to_dict()
            case "POST", ["jobs", job_id, "cancel"]:
                self.jobs[job_id].state = models.JobState.CANCELLED
                self.timelines[job_id] = [models.JobState.CANCELLED]
                return 200, self.jobs[job_id].to_dict()
            case "DELETE", ["jobs", job_id]:
                del self.jobs[job_id]
                return 204, None
            case "GET", ["jobs", job_id, "logs"]:
                offset = int(query.get("offset", ["0"])[0])
                end = min(offset + 8, len(LOG))  # small pages, so reading the whole log takes several
                return 200, {"text": LOG[offset:end], "offset": end, "complete": False}
            case "GET", ["jobs", job_id, "results"]:
                return 200, {"results": [r.to_dict() for r in self.jobs[job_id].results]}
            case "GET", ["jobs", job_id, "results", *name] if "/".join(name) in self.files[job_id]:
                media_type, data, _ = self.files[job_id]["/".join(name)]
                return 200, (media_type, data)
            case "GET", ["jobs", job_id, "results", *name]:
                return error(404, "NotFound", f"no result '{'/'.join(name)}'", job_id=job_id)
        return error(404, "NotFound", "no such route")

    def passthrough(self, request: BaseHTTPRequestHandler, rest: str, query: str, body: bytes) -> None:
        """``compute/proxy/{backend}/{path}``: the "dps" backend's API echoes (or answers its own 404);
        any other backend has no passthrough (the extension's own error)."""
        backend, _, path = rest.partition("/")
        if request.headers.get("Authorization") != f"token {TOKEN}":
            return self.reply_json(request, 403, {"error": {"type": "HTTPError", "message": "Forbidden"}})
        if backend != "dps":
            return self.reply_json(request, *error(405, "NotSupported", f"backend '{backend}' has no API to pass "
                                                                        "through to", backend=backend))
        if path.startswith("missing"):
            return self.reply_json(request, 404, {"error": {"type": "NotFound", "code": 17}})  # the platform's own
        echo = {"method": request.command, "path": path, "query": query, "body": body.decode(),
                "accept": request.headers.get("Accept")}
        return self.reply_json(request, 200, echo)

    def create(self, body: dict[str, Any]) -> tuple[int, Any]:
        key = body["idempotency_key"]
        if key in self.keys:
            return 200, self.jobs[self.keys[key]].to_dict()
        if body.get("environment") == "bad":
            return error(400, "InvalidSpec", "no environment 'bad'", field="environment", backend="local")
        job_id = f"{len(self.jobs) + 1:04d}abcdef"
        spec = models.JobSpec.from_dict({k: v for k, v in body.items() if k != "idempotency_key"})
        job = models.Job(id=job_id, backend=spec.backend, name=spec.name, spec=spec, tags=spec.tags)
        self.jobs[job_id] = job
        self.timelines[job_id] = [models.JobState.QUEUED]
        self.files[job_id] = {}
        self.keys[key] = job_id
        return 201, self.jobs[job_id].to_dict()

    def advance(self, job_id: str) -> models.Job:
        timeline = self.timelines[job_id]
        job = self.jobs[job_id]
        job.state = timeline.pop(0) if len(timeline) > 1 else timeline[0]
        if job.is_terminal:
            job.finished = models.utcnow()
        return job

    # --- answers ----------------------------------------------------------------------------

    @staticmethod
    def reply(request: BaseHTTPRequestHandler, status: int, data: bytes, media_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", media_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        for start in range(0, len(data), 16 * 1024):  # in pieces, as a streamed file would come
            request.wfile.write(data[start : start + 16 * 1024])

    def reply_json(self, request: BaseHTTPRequestHandler, status: int, answer: Any) -> None:
        if status == 204:
            request.send_response(204)
            request.end_headers()
            return
        self.reply(request, status, json.dumps(answer).encode(), "application/json")

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST" and s.path == API + "jobs"]


def error(status: int, kind: str, message: str, **extra: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": kind, "message": message, **extra}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: Any

    def do_GET(self) -> None:
        self.server.app.handle(self)

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def app() -> FakeCompute:
    return FakeCompute()


@pytest.fixture()
def server_url(app: FakeCompute) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.app = app  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}{BASE}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def client(server_url: str) -> Iterator[Client]:
    with Client(server_url.rstrip("/"), token=TOKEN, timeout=5, retries=2) as client:
        yield client


@pytest.fixture(autouse=True)
def no_discovery_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Keep the real environment and the real runtime dir out of every test."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.delenv("JUPYTER_COMPUTE_URL", raising=False)
    monkeypatch.delenv("JUPYTER_COMPUTE_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    return runtime


# --- URLs, auth, errors -------------------------------------------------------------------------


def test_the_passthrough_answers_as_the_platform_did(client: Client) -> None:
    listing = client.proxy("dps", "ogc/processes", params={"q": "a b"})
    assert listing.status_code == 200
    assert listing.json() == {"method": "GET", "path": "ogc/processes", "query": "q=a+b", "body": "", "accept": "*/*"}
    posted = client.proxy("dps", "ogc/jobs", method="POST", json={"x": 1}).json()
    assert (posted["method"], json.loads(posted["body"])) == ("POST", {"x": 1})
    missing = client.proxy("dps", "missing/thing")  # the platform's own 404 (no message): its answer, as it came
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 17
    with pytest.raises(ComputeError) as refused:  # the server's own refusal: our error, in words
        client.proxy("local", "x")
    assert type(refused.value).__name__ == "NotSupported" and "no API to pass through" in str(refused.value)


def test_urls_are_joined_under_the_base_url_and_the_token_is_sent(client: Client, app: FakeCompute) -> None:
    assert client.backends() == [{"name": "local", "kind": "local", "capabilities": {"can_cancel": True}}]
    environment = client.environments()[0]
    assert (environment.id, environment.cpus, environment.memory_gb) == ("this-machine", 4, 8.0)
    assert client.clusters("local")[0].nodes == 1
    assert [s.path for s in app.seen] == [
        "/a/b/compute/api/backends",
        "/a/b/compute/api/backends/local/environments",
        "/a/b/compute/api/backends/local/clusters",
    ]
    assert {s.headers["Authorization"] for s in app.seen} == {f"token {TOKEN}"}


def test_repr_and_errors_never_show_the_token(server_url: str, client: Client) -> None:
    assert repr(client) == f"<Client {server_url}>"
    with Client(server_url + "?token=" + TOKEN) as from_query:
        assert TOKEN not in repr(from_query) and from_query.url == server_url
        assert from_query.backends()[0]["name"] == "local"  # the token of a pasted URL is used
    with pytest.raises(NotFound) as caught:
        client.job("missing")
    assert TOKEN not in str(caught.value)


def test_server_errors_become_the_same_exceptions(client: Client) -> None:
    with pytest.raises(NotFound) as caught:
        client.job("missing")
    assert caught.value.job_id == "missing"
    with pytest.raises(NotFound) as caught:
        client.environments("nope")
    assert caught.value.backend == "nope"
    with pytest.raises(InvalidSpec) as caught:
        client.submit(command="true", environment="bad")
    assert (caught.value.field, caught.value.backend) == ("environment", "local")


def test_a_non_json_error_is_a_compute_error_with_the_status(client: Client) -> None:
    with pytest.raises(ComputeError) as caught:
        client.job("html500")
    assert type(caught.value) is ComputeError
    assert "HTTP 500" in str(caught.value) and "Internal Server Error" in str(caught.value)
    assert "<" not in str(caught.value)


def test_a_wrong_token_is_an_auth_error(server_url: str) -> None:
    with Client(server_url, token="wrong") as client, pytest.raises(AuthError) as caught:
        client.backends()
    assert "HTTP 403" in str(caught.value) and "token" in str(caught.value)
    assert "wrong" not in str(caught.value)


def test_a_server_without_the_extension_is_not_found(server_url: str) -> None:
    with Client(server_url.replace("/a/b/", "/other/"), token=TOKEN) as client, pytest.raises(NotFound):
        client.backends()


def test_connection_failures_name_the_server_in_words() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a/b/"
    with Client(url, token=TOKEN, retries=1) as client, pytest.raises(ComputeError) as caught:
        client.backends()
    message = str(caught.value)
    assert url in message and "could not connect" in message and TOKEN not in message


def test_urls_that_are_not_http_are_refused() -> None:
    with pytest.raises(InvalidSpec) as caught:
        Client("localhost:8888", token=TOKEN)
    assert caught.value.field == "url"


# --- submitting and listing -----------------------------------------------------------------------


def test_submit_sends_the_checked_spec_with_an_idempotency_key(client: Client, app: FakeCompute) -> None:
    job = client.submit(command="echo hi", name="hello", tags=["demo"])
    assert isinstance(job, Job) and job.client is client
    assert (job.backend, job.name, job.tags) == ("local", "hello", ["demo"])
    assert job.state is models.JobState.QUEUED
    (post,) = app.posts()
    assert post.body["backend"] == "local" and post.body["command"] == "echo hi"
    assert len(post.body["idempotency_key"]) == 32 and job.idempotency_key == post.body["idempotency_key"]
    assert None not in post.body.values()
    assert repr(job) == f"<Job {job.id[:8]} local 'hello' QUEUED>"


def test_submit_merges_fields_over_a_spec(client: Client, app: FakeCompute) -> None:
    client.submit(models.JobSpec(name="a", command="x", params={"n": 1}), name="b")
    client.submit({"name": "c", "script": "print(1)"}, timeout_s=60)
    first, second = (post.body for post in app.posts())
    assert (first["name"], first["command"], first["params"]) == ("b", "x", {"n": 1})
    assert (second["name"], second["script"], second["timeout_s"]) == ("c", "print(1)", 60)


@pytest.mark.parametrize(("fields", "culprit"), [({"timeout_s": -1}, "timeout_s"), ({"bogus": 1}, "bogus")])
def test_a_bad_spec_is_refused_before_sending(
    client: Client, app: FakeCompute, fields: dict[str, Any], culprit: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        client.submit(command="true", **fields)
    assert caught.value.field == culprit
    assert app.posts() == []


def test_a_dropped_post_is_retried_with_the_same_idempotency_key(client: Client, app: FakeCompute) -> None:
    app.drop_posts = 1
    job = client.submit(command="true", name="once")
    first, second = app.posts()
    assert first.body["idempotency_key"] == second.body["idempotency_key"] == job.idempotency_key
    assert list(app.jobs) == [job.id]


def test_a_given_idempotency_key_answers_the_same_job(client: Client, app: FakeCompute) -> None:
    first = client.submit(command="true", idempotency_key="key-1")
    again = client.submit(command="true", idempotency_key="key-1")
    assert first.id == again.id and len(app.jobs) == 1


def test_jobs_pages_with_filters(client: Client, app: FakeCompute) -> None:
    app.add_job("j1", [models.JobState.RUNNING])
    page = client.jobs(state=["RUNNING", models.JobState.QUEUED], tag="demo", limit=10)
    assert isinstance(page, JobPage) and (page.total, page.limit, page.offset) == (42, 10, 0)
    assert [job.id for job in page] == ["j1"] and page[0].client is client
    query = app.seen[-1].query
    assert query["state"] == ["RUNNING", "QUEUED"] and query["tag"] == ["demo"]
    assert query["sort"] == ["-created"] and query["limit"] == ["10"]
    assert "backend" not in query and "q" not in query


# --- one job ----------------------------------------------------------------------------------


def test_cancel_logs_and_delete(client: Client, app: FakeCompute) -> None:
    app.add_job("j1", [models.JobState.RUNNING])
    job = client.job("j1")
    assert job.cancel() is job and job.state is models.JobState.CANCELLED
    assert client.logs("j1", 8) == LogChunk(text=LOG[8:16], offset=16, complete=False)
    assert job.logs() == LOG
    job.delete()
    assert app.seen[-1].method == "DELETE" and "j1" not in app.jobs
    with pytest.raises(NotFound):
        job.refresh()


def test_results_stream_and_download(client: Client, app: FakeCompute, tmp_path: Path) -> None:
    tmp_path = tmp_path / "downloads"
    tmp_path.mkdir()
    data = os.urandom(100_000)
    binary = "application/octet-stream"
    app.add_job("j1", [models.JobState.SUCCEEDED], (("sub dir/model.bin", data, binary, "output"),))
    job = client.job("j1")
    job.results.clear()  # as last seen; calling it fetches the list again
    assert job.results() == [models.ResultFile("sub dir/model.bin", len(data), "output", binary)]
    assert job.results == job.results() == client.results(job)
    assert dataclasses.asdict(job)["results"] == [r.to_dict() for r in job.results]
    assert b"".join(client.iter_result("j1", "sub dir/model.bin")) == data
    assert app.seen[-1].path == API + "jobs/j1/results/sub%20dir/model.bin"
    saved = job.download("sub dir/model.bin", tmp_path)
    assert saved == tmp_path / "model.bin" and saved.read_bytes() == data
    assert client.download(job, "sub dir/model.bin", tmp_path / "copy.bin").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin", "model.bin"]
    with pytest.raises(NotFound):
        client.download(job, "nope.bin", tmp_path / "nope.bin")
    assert not (tmp_path / "nope.bin").exists() and not (tmp_path / "nope.bin.part").exists()


def test_to_pandas_streams_the_only_tabular_output(
    client: Client, app: FakeCompute, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = "n,square\n" + "".join(f"{n},{n * n}\n" for n in range(CSV_ROWS))
    files = (
        ("stdout.log", b"done\n", "text/plain", "log"),
        ("out/squares.csv", csv.encode(), "text/csv", "output"),
        ("model.bin", b"\x00\x01", "application/octet-stream", "output"),
    )
    app.add_job("j1", [models.JobState.SUCCEEDED], files)
    sources: list[Any] = []
    real_read_frame = results.read_frame

    def spy(source: Any, name: str, media_type: str | None = None, **kwargs: Any) -> Any:
        sources.append(source)
        return real_read_frame(source, name, media_type, **kwargs)

    monkeypatch.setattr(results, "read_frame", spy)
    frame = client.job("j1").to_pandas()
    assert len(frame) == CSV_ROWS and list(frame.columns) == ["n", "square"]
    assert frame["square"].iloc[-1] == (CSV_ROWS - 1) ** 2 and frame["n"].sum() == sum(range(CSV_ROWS))
    assert not sources[0].seekable()  # the download itself, parsed as it arrives
    assert client.to_pandas("j1", "out/squares.csv", usecols=["square"]).shape == (CSV_ROWS, 1)


def test_to_pandas_without_a_single_table_says_what_there_is(client: Client, app: FakeCompute) -> None:
    tables = (("a.csv", b"x\n1\n", "text/csv", "output"), ("b.parquet", b"", None, "output"))
    app.add_job("two", [models.JobState.SUCCEEDED], tables)
    app.add_job("none", [models.JobState.SUCCEEDED], (("stdout.log", b"hi\n", "text/plain", "log"),))
    with pytest.raises(InvalidSpec) as caught:
        client.to_pandas("two")
    assert caught.value.field == "name" and "a.csv" in str(caught.value) and "b.parquet" in str(caught.value)
    with pytest.raises(NotFound) as missing:
        client.to_pandas("none")
    assert "stdout.log" in str(missing.value)


# --- waiting ------------------------------------------------------------------------------------


def test_wait_finishes_when_the_job_is_terminal(
    client: Client, app: FakeCompute, capsys: pytest.CaptureFixture[str]
) -> None:
    queued, running, succeeded = models.JobState.QUEUED, models.JobState.RUNNING, models.JobState.SUCCEEDED
    app.add_job("j1", [queued, running, running, succeeded])
    job = client.job("j1")
    assert job.wait(timeout=30, poll=0.01) is job and job.state is models.JobState.SUCCEEDED
    err = capsys.readouterr().err
    assert err.count("\r") >= 3 and err.endswith("\n") and err.count("\n") == 1
    assert "job j1 'job-j1' on local: RUNNING" in err and "SUCCEEDED" in err


def test_wait_times_out_naming_the_job_and_its_state(client: Client, app: FakeCompute) -> None:
    app.add_job("stuck", [models.JobState.RUNNING])
    job = client.job("stuck")
    with pytest.raises(WaitTimeout) as caught:
        job.wait(timeout=0.3, poll=0.05, progress=False)
    assert isinstance(caught.value, TimeoutError) and caught.value.job_id == "stuck"
    assert "'job-stuck'" in str(caught.value) and "RUNNING" in str(caught.value)


def test_wait_updates_one_display_in_a_kernel(
    client: Client, app: FakeCompute, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[tuple[str, str]] = []

    class Handle:
        def update(self, bundle: dict[str, str], raw: bool) -> None:
            shown.append(("update", bundle["text/plain"]))

    def display(bundle: dict[str, str], raw: bool, display_id: bool) -> Handle:
        shown.append(("display", bundle["text/plain"]))
        return Handle()

    shell = types.SimpleNamespace(kernel=object())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    app.add_job("j1", [models.JobState.RUNNING, models.JobState.RUNNING, models.JobState.SUCCEEDED])
    client.job("j1").wait(timeout=30, poll=0.01)
    assert [kind for kind, _ in shown] == ["display", "update"]
    assert "SUCCEEDED" in shown[-1][1] and capsys.readouterr().err == ""


# --- discovery ----------------------------------------------------------------------------------


def write_server_file(runtime: Path, pid: int, url: str, token: str) -> None:
    info = {"url": url, "token": token, "pid": pid, "base_url": urlsplit(url).path, "version": "2.0"}
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))


@pytest.fixture()
def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture()
def other_live_pid() -> Iterator[int]:
    """A live process that did not start this one."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def test_discovery_from_environment_variables(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_COMPUTE_URL", server_url)
    monkeypatch.setenv("JUPYTER_COMPUTE_TOKEN", TOKEN)
    with Client() as client:
        assert client.url == server_url and client.backends()[0]["name"] == "local"


def test_discovery_prefers_the_server_that_started_this_process(
    server_url: str, no_discovery_from_outside: Path
) -> None:
    write_server_file(no_discovery_from_outside, os.getppid(), server_url, TOKEN)
    write_server_file(no_discovery_from_outside, os.getpid(), "http://127.0.0.1:1/other/", "other-token")
    with Client() as client:
        assert client.url == server_url and client.backends()[0]["name"] == "local"


def test_discovery_takes_the_only_live_server(
    server_url: str, no_discovery_from_outside: Path, dead_pid: int
) -> None:
    write_server_file(no_discovery_from_outside, dead_pid, "http://127.0.0.1:1/stale/", "stale-token")
    write_server_file(no_discovery_from_outside, os.getpid(), server_url, TOKEN)
    (no_discovery_from_outside / "jpserver-broken.json").write_text("{not json")
    with Client() as client:
        assert client.url == server_url and client.backends()[0]["name"] == "local"


def test_discovery_refuses_to_guess_between_servers(
    no_discovery_from_outside: Path, other_live_pid: int
) -> None:
    write_server_file(no_discovery_from_outside, os.getpid(), "http://127.0.0.1:1/one/", "t1")
    write_server_file(no_discovery_from_outside, other_live_pid, "http://127.0.0.1:2/two/", "t2")
    with pytest.raises(ComputeError) as caught:
        Client()
    message = str(caught.value)
    assert "2 running Jupyter servers" in message and "url=" in message and "JUPYTER_COMPUTE_URL" in message
    assert "t1" not in message and "t2" not in message


def test_discovery_without_any_server_says_how_to_connect(no_discovery_from_outside: Path) -> None:
    with pytest.raises(ComputeError) as caught:
        Client()
    message = str(caught.value)
    assert "no running Jupyter server" in message and str(no_discovery_from_outside) in message


def test_a_given_url_finds_its_own_token_and_no_other(
    server_url: str, no_discovery_from_outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_server_file(no_discovery_from_outside, os.getpid(), server_url, TOKEN)
    with Client(server_url) as client:
        assert client.backends()[0]["name"] == "local"
    monkeypatch.setenv("JUPYTER_COMPUTE_URL", "http://127.0.0.1:1/elsewhere/")
    monkeypatch.setenv("JUPYTER_COMPUTE_TOKEN", "elsewhere-token")
    with Client(server_url.replace("127.0.0.1", "localhost")) as client, pytest.raises(AuthError):
        client.backends()  # the env token belongs to another server and is not sent


def test_importing_the_client_stays_light() -> None:
    code = (
        "import sys, jupyter_compute.client\n"
        "heavy = {'pandas', 'pyarrow', 'jupyter_server', 'IPython'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
