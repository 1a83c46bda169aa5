"""Shared fixtures: an in-process Jupyter server with the extension (non-root base_url),
a JSON helper over real HTTP, a live `jupyter server` subprocess for end-to-end tests, and the
helpers the backend, sandbox and notebook tests share (polling, backends started and closed, S3 on
moto, the demo notebooks)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from traitlets.config import Config

from jupyter_compute.server import loop_watch

pytest_plugins = ["pytest_jupyter.jupyter_server", "ray_cluster_fixtures"]

#: Sandbox mode would start a two-node Ray cluster (~35 s, ~1 GiB) in every sandbox-mode server of the suite:
#: off, unless a test points it at the session's cluster (``ray_sandbox_env``) or unsets it to start one.
os.environ.setdefault("JUPYTER_COMPUTE_RAY_SANDBOX", "off")

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")
B = TypeVar("B")

#: Hardhat's default accounts #0 and #1 (private keys, then addresses): published test keys that hold nothing.
HARDHAT_KEYS = ("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
                "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
HARDHAT_ADDRESSES = ("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")


#: The report of the whole run (pytest-xdist's workers inherit it from the process that started them).
_REPORT_BASE = Path(os.environ.setdefault(
    loop_watch.ENV_REPORT, str(Path(tempfile.mkdtemp(prefix="loop-watch-")) / "blocking-calls.jsonl")))
#: The xdist worker this process is ("gw0", "gw1" …), None without xdist.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
#: Every server this process starts (in this process or a child) reports blocking calls of our code here: a file
#: of its own in an xdist worker, so that what one worker's servers do never fails another worker's test.
LOOP_WATCH_REPORT = _REPORT_BASE.with_name(f"{_REPORT_BASE.stem}-{_WORKER}{_REPORT_BASE.suffix}") if _WORKER else _REPORT_BASE
os.environ[loop_watch.ENV_REPORT] = str(LOOP_WATCH_REPORT)
loop_watch.install_from_env()


#: Reports that failed a test; any other (made while a module's or the session's fixtures were set up or
#: torn down) fails the whole run at its end.
_BLOCKING_CALLS_FAILED: list[dict[str, Any]] = []


@pytest.fixture(autouse=True)
def no_blocking_call_in_our_code() -> Iterator[None]:
    """Fails the test during which our code held an event loop over the threshold (see loop_watch)."""
    _, start = loop_watch.read_report(LOOP_WATCH_REPORT)
    yield
    found, _ = loop_watch.read_report(LOOP_WATCH_REPORT, start)
    if found:
        _BLOCKING_CALLS_FAILED.extend(found)
        pytest.fail(_blocking_calls_text(found), pytrace=False)


_BLOCKING_CALLS_HEADER = f"our code blocked an event loop for over {loop_watch.DEFAULT_THRESHOLD_MS:g} ms:"


def _blocking_calls_text(found: list[dict[str, Any]]) -> str:
    lines = "\n".join(json.dumps(record) for record in found)
    return f"{_BLOCKING_CALLS_HEADER}\n{lines}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The blocking calls that failed a test (in this process, or in an xdist worker: the report says which)."""
    text = str(report.longrepr) if report.failed else ""
    if _BLOCKING_CALLS_HEADER in text:
        _BLOCKING_CALLS_FAILED.extend(json.loads(line) for line in text.splitlines() if line.startswith("{"))


def _run_reports() -> list[dict[str, Any]]:
    """What every server of the run reported: the run's own file and those of its xdist workers."""
    workers = sorted(_REPORT_BASE.parent.glob(f"{_REPORT_BASE.stem}-gw*{_REPORT_BASE.suffix}"))
    return [record for path in (_REPORT_BASE, *workers) for record in loop_watch.read_report(path)[0]]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A blocking call outside any test (in a module's fixtures) fails the run too, and is shown (by the process that
    started the run: with xdist, once the workers are done)."""
    unreported = [record for record in _run_reports() if record not in _BLOCKING_CALLS_FAILED]
    if unreported and not hasattr(session.config, "workerinput"):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = _blocking_calls_text(unreported) + "\n(while fixtures were set up or torn down)"
        if reporter is not None:
            reporter.write_line(text, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def jp_base_url() -> str:
    return "/base%20url/"


@pytest.fixture
def compute_config() -> dict[str, Any]:
    """ComputeApp settings for the in-process server; tests override this fixture."""
    return {"backends": {"local": {"kind": "local", "max_jobs": 2}}}


@pytest.fixture
def jp_server_config(compute_config: dict[str, Any]) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"jupyter_compute": True}},
        "ComputeApp": compute_config,
    })


@pytest.fixture
def jp_serverapp(jp_server_config, jp_argv, jp_configurable_serverapp, jp_asyncio_loop):
    """The in-process server, with extension start hooks run as a real `jupyter server` runs them."""
    app = jp_configurable_serverapp(config=jp_server_config, argv=jp_argv)
    jp_asyncio_loop.run_until_complete(app.extension_manager.start_all_extensions())
    return app


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


@pytest.fixture
def api(jp_fetch):
    """``await api("GET", "jobs", params=...)`` → Reply with the JSON body; never raises on 4xx/5xx."""

    async def call(method: str, *path: str, body: Any = None, params: dict | None = None,
                   headers: dict | None = None, raw_body: bytes | None = None) -> Reply:
        data = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        if data is None and method in ("POST", "PUT", "PATCH"):
            data = b""
        response = await jp_fetch("compute", "api", *path, method=method, body=data, params=params,
                                  headers=headers, raise_error=False, allow_nonstandard_methods=True)
        text = response.body.decode() if response.body else ""
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        return Reply(response.code, parsed, response.headers)

    return call


async def wait_for_job(api, job_id: str, check: Callable[[dict], bool], what: str, timeout: float = 120.0) -> dict:
    """Poll the REST API until ``check`` holds for the job; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        reply = await api("GET", "jobs", job_id)
        assert reply.status == 200, reply.body
        if check(reply.body):
            return reply.body
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: job {job_id} still {reply.body['state']}: {reply.body}")
        await asyncio.sleep(0.2)


async def wait_for_state(api, job_id: str, states: set[str], timeout: float = 60.0) -> dict:
    """Poll the REST API until the job reaches one of ``states``."""
    return await wait_for_job(api, job_id, lambda job: job["state"] in states, f"reaching {sorted(states)}", timeout)


def free_port() -> int:
    """A loopback port nothing listens on (as a closed port too: connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- polling (never a fixed sleep), processes ---------------------------------------------------------


class Deadline:
    """The end of a wait of ``timeout`` seconds for ``what``; ``check`` fails the test once it is past."""

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout, self.what = timeout, what
        self.end = time.monotonic() + timeout

    def check(self, last: Any, explain: Callable[[], Any] | None = None) -> None:
        """Fail once past the end, showing ``last`` (what the wait saw last) and what ``explain`` answers."""
        if time.monotonic() > self.end:
            more = f"; {explain()}" if explain else ""
            raise AssertionError(f"timed out after {self.timeout} s waiting for {self.what} (last: {last!r}){more}")


def wait_for(probe: Callable[[], T], what: str = "the condition", *, timeout: float = 30.0,
             every: float = 0.05) -> T:  # fmt: skip
    """Call ``probe`` until it answers something truthy, and answer that; fail naming ``what`` after ``timeout`` s."""
    deadline = Deadline(timeout, what)
    while not (value := probe()):
        deadline.check(value)
        time.sleep(every)
    return value


async def until(probe: Callable[[], T], what: str = "the condition", *, timeout: float = 30.0,
                every: float = 0.05) -> T:  # fmt: skip
    """``wait_for`` on an event loop: the loop keeps running between the calls of ``probe``."""
    deadline = Deadline(timeout, what)
    while not (value := probe()):
        deadline.check(value)
        await asyncio.sleep(every)
    return value


def pid_alive(pid: int) -> bool:
    """Whether a process with this id still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- backends under test ------------------------------------------------------------------------------


def run(test: Callable[[], Awaitable[T]]) -> T:
    """Run an async test body (no pytest-asyncio here)."""
    return asyncio.run(test())  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def started(backend: B) -> AsyncIterator[B]:
    """The backend started, and closed again however the block ends."""
    await backend.start()  # type: ignore[attr-defined]
    try:
        yield backend
    finally:
        await backend.close()  # type: ignore[attr-defined]


async def wait_status(b: Any, remote_id: str, states: Iterable[Any] | None = None, *, timeout: float = 30.0,
                      every: float = 0.05, explain: Callable[[], Any] | None = None) -> Any:  # fmt: skip
    """Poll ``b.status`` until the job is terminal (or in one of ``states``): its RemoteStatus.

    ``explain`` adds what it answers to the failure message (e.g. the sandbox's own record of the job).
    """
    wanted = None if states is None else set(states)
    deadline = Deadline(timeout, f"job {remote_id} to reach {'an end' if wanted is None else wanted}")
    while True:
        status = await b.status(remote_id)
        if status.state.is_terminal if wanted is None else status.state in wanted:
            return status
        deadline.check(status, explain)
        await asyncio.sleep(every)


async def read_result(b: Any, remote_id: str, name: str) -> bytes:
    """All the bytes of one result, as ``open_result`` streams them."""
    return b"".join([chunk async for chunk in b.open_result(remote_id, name)])


def s3_client(endpoint: str, key: str = "testing", secret: str = "testing", **options: Any) -> Any:
    """A boto3 S3 client of the moto server at ``endpoint`` (``options``: more client arguments, e.g. config)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, **options)  # fmt: skip


@dataclass
class LiveServer:
    """A `jupyter server` subprocess with the extension, on loopback."""

    url: str
    token: str
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path

    def client(self):
        from jupyter_compute.client import Client

        return Client(self.url, self.token)

    def checked_log(self, secrets: Iterable[str] = ()) -> str:
        """The server's log, checked: no traceback once its backends are set up, none of ``secrets`` anywhere."""
        log = self.log_path.read_text()
        assert "Traceback" not in log.split("jupyter-compute: backends")[-1]
        for secret in secrets:
            assert secret not in log, "a secret in the server log"
        return log

    def kernel_env(self, *drop: str) -> dict[str, str]:
        """The environment for a kernel of this server: no JUPYTER_COMPUTE_* (it finds the server by
        itself) and none of the variables named in ``drop`` (the server's secrets)."""
        return {k: v for k, v in self.env.items() if not k.startswith("JUPYTER_COMPUTE_") and k not in drop}

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_live_server(home: Path, *, port: int | None = None, token: str | None = None,
                      extra_args: list[str] = (), backends: Mapping[str, Any] | None = None) -> LiveServer:
    """Start `python -m jupyter_server` with private Jupyter dirs under ``home``; wait until it answers.

    ``backends``: written as ``c.ComputeApp.backends`` into its ``jupyter_server_config.py``.
    """
    if backends is not None:
        (home / "config").mkdir(parents=True, exist_ok=True)
        (home / "config" / "jupyter_server_config.py").write_text(f"c.ComputeApp.backends = {dict(backends)!r}\n")
    port = port or free_port()
    token = token or secrets.token_hex(16)
    env = dict(os.environ)
    for key in ("JUPYTER_COMPUTE_URL", "JUPYTER_COMPUTE_TOKEN"):
        env.pop(key, None)
    env.update({
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "IPYTHONDIR": str(home / "ipython"),
    })
    (home / "root").mkdir(parents=True, exist_ok=True)
    base_url = "/live/"
    log_path = home / f"server-{port}.log"
    args = [
        sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.base_url={base_url}",
        f"--ServerApp.root_dir={home / 'root'}", "--ServerApp.jpserver_extensions={'jupyter_compute': True}",
        "--allow-root", *extra_args,
    ]
    log = open(log_path, "ab")  # noqa: SIM115 — handed to the child process
    process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home / "root")
    url = f"http://127.0.0.1:{port}{base_url}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter server exited: {log_path.read_text()[-3000:]}")
        try:
            reply = httpx.get(url + "compute/api/backends", headers={"Authorization": f"token {token}"}, timeout=2)
            if reply.status_code == 200:
                return LiveServer(url, token, env, process, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"jupyter server did not answer in 60 s: {log_path.read_text()[-3000:]}")


# --- ModelArts on OBS (moto's S3) -----------------------------------------------------------------------

#: The ModelArts tests' project, keys and bucket: distinct, recognisable secret values that no answer,
#: error, log line or stored record may carry.
MA_PROJECT = "sandbox-project"
MA_AK = "MAAK-SECRET-0c5e71d2"
MA_SK = "ma-sk-SECRET-4b9f2a61"
MA_TOKEN = "ma-token-SECRET-83d0e5f7"
MA_OBS_KEY = "OBSKEY-SECRET-1a7c3e90"
MA_OBS_SECRET = "obs-secret-SECRET-6d2b8f14"
MA_BUCKET = "ma-bucket"


@pytest.fixture(scope="module")
def obs(s3_endpoint: str) -> str:
    """moto's S3 server standing in for OBS, with MA_BUCKET made there; its endpoint URL."""
    s3_client(s3_endpoint, MA_OBS_KEY, MA_OBS_SECRET).create_bucket(Bucket=MA_BUCKET)
    return s3_endpoint


@pytest.fixture(scope="module")
def modelarts(obs: str) -> Iterator[Any]:
    """The ModelArts sandbox on that OBS: project MA_PROJECT, signatures by MA_AK/MA_SK, the token MA_TOKEN."""
    from jupyter_compute.sandbox.modelarts import ModelArtsSandbox

    with ModelArtsSandbox(s3_endpoint=obs, s3_key=MA_OBS_KEY, s3_secret=MA_OBS_SECRET, project_id=MA_PROJECT,
                          credentials={MA_AK: MA_SK}, tokens={MA_TOKEN}, step_delay_s=0.2) as sb:  # fmt: skip
        yield sb


# --- the demo notebooks --------------------------------------------------------------------------------


def stored_notebook(name: str) -> Any:
    """``notebooks/<name>`` as committed, checked: valid, and no code cell carries outputs or a count."""
    import nbformat

    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    return nb


def run_notebook(name: str, env: Mapping[str, str], cwd: Path, *, timeout: int = 180) -> tuple[Any, str]:
    """Run ``notebooks/<name>`` top to bottom in a python3 kernel with ``env``, in ``cwd``; no cell may fail.

    Answers the executed notebook and the text of all its outputs (streams and text/plain).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute(env=dict(env))  # fmt: skip
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    return nb, text


def untracked_files(folder: str = "notebooks") -> set[str]:
    """The checkout's files under ``folder`` that git neither tracks nor ignores (every file there when
    the checkout is no git work tree)."""
    try:
        listing = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", folder], cwd=REPO,
                                 capture_output=True, text=True, check=True, timeout=60).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return {str(p.relative_to(REPO)) for p in (REPO / folder).rglob("*") if p.is_file()}
    return {line[3:] for line in listing.splitlines() if line.startswith("?? ")}


def run_demo_notebook(name: str, env: Mapping[str, str], *, timeout: int = 180) -> tuple[Any, str]:
    """:func:`run_notebook` where JupyterLab runs it (``notebooks/`` of the checkout), checked to leave no
    new file there: a demo writes only to a temporary or git-ignored folder."""
    before = untracked_files()
    nb, text = run_notebook(name, env, REPO / "notebooks", timeout=timeout)
    left = untracked_files() - before
    assert not left, f"{name} left files in the checkout: {sorted(left)}"
    return nb, text


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_live_server(tmp_path / "jupyter")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server shared by the tests of a module (they keep apart by their own job names)."""
    server = start_live_server(tmp_path_factory.mktemp("module") / "jupyter")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hdfs() -> Iterator[Any]:
    """A WebHDFS sandbox for the module (an HDFS stand-in on loopback)."""
    from jupyter_compute.sandbox.webhdfs import WebHdfsSandbox

    with WebHdfsSandbox() as sb:
        yield sb


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 server (moto) on loopback for the module; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


# --- grepping for secrets -----------------------------------------------------------------------

#: botocore/moto DEBUG records trace raw signed requests (an S3 access key id sits in the SigV4
#: Authorization header); they are third-party wire traces, silent unless a deployment turns them on.
THIRD_PARTY_WIRE_LOGGERS = ("botocore", "aiobotocore", "boto3", "moto", "s3fs", "urllib3")


class Recorder:
    """Wraps the ``api`` fixture and keeps the text of every answer (body and headers), to grep for secrets."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self.texts: list[str] = []

    async def __call__(self, *args: Any, **kwargs: Any) -> Reply:
        reply = await self._api(*args, **kwargs)
        self.texts.append(repr(reply.body) + repr(dict(reply.headers)))
        return reply

    def assert_free_of(self, secrets: Iterable[str]) -> None:
        assert self.texts, "no answer was recorded"
        for text in self.texts:
            for secret in secrets:
                assert secret not in text, f"{secret!r} in a REST answer: {text[:300]}"


@pytest.fixture
def rec(api) -> Recorder:
    return Recorder(api)


#: Loggers set to DEBUG while a test greps the log (the extension's own, "ComputeApp", does not propagate).
SERVER_LOGGERS = ("", "ServerApp", "ComputeApp", "jupyter_compute", "tornado", "httpx")


def log_everything() -> None:
    """DEBUG on the server's loggers (call again once the server started: it sets its own levels)."""
    import logging

    for name in SERVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


@pytest.fixture
def server_log() -> Iterator[list[str]]:
    """Every log record made while the test runs, by any logger but the third-party wire traces.

    Records are read where they are made (the record factory), not through handlers: the server
    replaces the handlers of its own loggers when it configures logging. Request this fixture from
    ``compute_config`` to see the lines of the server's start too.
    """
    import logging

    lines: list[str] = []
    make = logging.getLogRecordFactory()

    def collect(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if record.name.startswith(THIRD_PARTY_WIRE_LOGGERS):
            return record
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 — a malformed record: keep its parts
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        lines.append(f"{record.name} {record.levelname} {text}")
        return record

    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    saved = {lg: lg.level for lg in loggers}
    logging.setLogRecordFactory(collect)
    log_everything()
    yield lines
    logging.setLogRecordFactory(make)
    for lg in loggers:
        lg.setLevel(saved[lg])


def job_store_bytes(jp_serverapp) -> bytes:
    """The raw bytes of the server's SQLite job store (with its WAL), to grep for secrets."""
    data_dir = Path(jp_serverapp.web_app.settings["jupyter_compute"].data_dir)
    found = b"".join(p.read_bytes() for p in sorted(data_dir.glob("jobs.sqlite*")))
    assert found, f"no job store under {data_dir}"
    return found
