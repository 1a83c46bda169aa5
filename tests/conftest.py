"""Shared fixtures: an in-process Jupyter server with the extension (non-root base_url),
a JSON helper over real HTTP, and a live `jupyter server` subprocess for end-to-end tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REPO = Path(__file__).resolve().parent.parent


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


async def wait_for_state(api, job_id: str, states: set[str], timeout: float = 60.0) -> dict:
    """Poll the REST API until the job reaches one of ``states``."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        reply = await api("GET", "jobs", job_id)
        assert reply.status == 200, reply.body
        if reply.body["state"] in states:
            return reply.body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stuck in {reply.body['state']}: {reply.body}")
        await asyncio.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
                      extra_args: list[str] = ()) -> LiveServer:
    """Start `python -m jupyter_server` with private Jupyter dirs under ``home``; wait until it answers."""
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
