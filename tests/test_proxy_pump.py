"""A large answer of declared length goes through the passthrough by the pump (server/proxy_pump.py):
it arrives intact, the caller's connection stays open for its next request, the platform's connection
is closed rather than pooled, and an answer that breaks off, stalls or loses its caller mid-body is
never passed off as whole and leaves the server serving."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.httpserver
import tornado.iostream
import tornado.testing
import tornado.web
from conftest import until
from jupyter_server.utils import url_path_join
from traitlets.config import Config

from jupyter_compute.server import proxy_pump
from jupyter_compute.server.proxy import PUMP_MIN_BYTES
from jupyter_compute.server.proxy_upstream import ProxyClient
from tests.test_proxy_streaming import PIECE, pattern, pattern_hash



def test_this_machine_pumps() -> None:
    """The tests below are of the pump's path: on this (Linux) machine it must be the one taken."""
    assert proxy_pump.AVAILABLE

LARGE = 24 << 20
TIMEOUT_S = 2.0


class Platform:
    """What the platform saw: connections opened, answers whose caller left before their end."""

    def __init__(self) -> None:
        self.connections = 0
        self.left_mid_answer = 0


class CountingServer(tornado.httpserver.HTTPServer):
    def initialize(self, *args: Any, platform: Platform, **kwargs: Any) -> None:  # type: ignore[override]
        self.platform = platform
        super().initialize(*args, **kwargs)

    def handle_stream(self, stream: tornado.iostream.IOStream, address: Any) -> None:
        self.platform.connections += 1
        super().handle_stream(stream, address)


class BytesHandler(tornado.web.RequestHandler):
    """``?size=N``: N bytes of the pattern with their length declared. ``&send=M``: only the first M are sent,
    then the connection is closed; ``&stall=M``: the first M are sent, then nothing until the caller goes."""

    def initialize(self, platform: Platform) -> None:
        self.platform = platform

    async def get(self, *_: Any) -> None:
        size = int(self.get_query_argument("size"))
        send = int(self.get_query_argument("send", str(size)))
        stall = int(self.get_query_argument("stall", str(size)))
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(size))
        sent = 0
        try:
            for piece in pattern(min(send, stall)):
                self.write(piece)
                await self.flush()
                sent += len(piece)
        except tornado.iostream.StreamClosedError:
            self.platform.left_mid_answer += 1
            return
        if sent < size:
            if stall < size:
                await asyncio.Event().wait()  # cancelled with the server when the test ends
            self.request.connection.close()  # type: ignore[union-attr]

    def on_connection_close(self) -> None:
        self.platform.left_mid_answer += 1


@pytest.fixture
def platform(jp_asyncio_loop: Any) -> Iterator[tuple[int, Platform]]:
    seen = Platform()
    sock, port = tornado.testing.bind_unused_port()
    app = tornado.web.Application([(r".*/bytes", BytesHandler, {"platform": seen})])
    server = CountingServer(app, platform=seen)
    server.add_sockets([sock])
    yield port, seen
    server.stop()


@pytest.fixture
def jp_server_config(platform: tuple[int, Platform], monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("ECHO_API_KEY", "pump-key")
    return Config({
        "ServerApp": {"jpserver_extensions": {"jupyter_compute": True}},
        "ComputeApp": {"proxy_timeout": TIMEOUT_S, "backends": {
            "echo": {"kind": "echo_backend:EchoBackend", "url": f"http://127.0.0.1:{platform[0]}/api/v1",
                     "api_key_env": "ECHO_API_KEY"}}},
    })


class Caller:
    """One kept-alive HTTP/1.1 connection to the Jupyter server, read by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str,
                 auth: dict[str, str]) -> None:  # fmt: skip
        self.reader, self.writer, self.path, self.auth = reader, writer, path, auth

    async def ask(self, query: str) -> tuple[int, dict[str, str]]:
        """Send a GET for ``bytes?{query}``; the answer's status and headers."""
        auth = "".join(f"{k}: {v}\r\n" for k, v in self.auth.items())
        self.writer.write(f"GET {self.path}?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in head[1:] if line)
        return int(head[0].split()[1]), {k.lower(): v for k, v in headers.items()}

    async def body(self, size: int, *, stop_after: int | None = None) -> tuple[int, str]:
        """Read up to ``size`` bytes (fewer if the connection ends first); their count and hash."""
        digest, got = hashlib.sha256(), 0
        while got < size and (stop_after is None or got < stop_after):
            chunk = await self.reader.read(min(PIECE, size - got))
            if not chunk:
                break
            digest.update(chunk)
            got += len(chunk)
        return got, digest.hexdigest()

    async def get(self, size: int) -> tuple[int, dict[str, str], int, str]:
        status, headers = await self.ask(f"size={size}")
        return status, headers, *await self.body(int(headers["content-length"]))


@pytest.fixture
def connect(http_server_client: Any, jp_http_port: int, jp_base_url: str, jp_auth_header: Any) -> Iterator[Any]:
    """Opens a Caller's connection (closed at the end of the test)."""
    opened: list[asyncio.StreamWriter] = []

    async def caller() -> Caller:
        reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
        opened.append(writer)
        return Caller(reader, writer, url_path_join(jp_base_url, "compute/proxy/echo/bytes"), dict(jp_auth_header))

    yield caller
    for writer in opened:
        writer.close()


async def test_a_large_answer_arrives_whole_and_the_connection_serves_the_next(
        connect: Any, platform: tuple[int, Platform]) -> None:
    caller = await connect()
    for size in (LARGE, LARGE + 12345, 2 << 10):  # two large ones, then a small one, on one connection
        status, headers, got, digest = await caller.get(size)
        assert status == 200 and headers["content-length"] == str(size)
        assert got == size and digest == pattern_hash(size)
    # each large answer went by the pump, so its platform connection was closed, not pooled for the next one
    assert platform[1].connections == 3


async def test_an_answer_that_breaks_off_mid_body_is_not_passed_off_as_whole(
        connect: Any, http_server_client: Any, jp_base_url: str, jp_auth_header: Any) -> None:
    caller = await connect()
    status, headers = await caller.ask(f"size={LARGE}&send={LARGE // 2}")
    assert status == 200 and headers["content-length"] == str(LARGE)
    got, _ = await caller.body(LARGE)
    assert PUMP_MIN_BYTES < got < LARGE
    assert await caller.reader.read() == b"", "the caller's connection was closed"

    # the server goes on
    reply = await http_server_client.fetch(url_path_join(jp_base_url, "compute/proxy/echo/bytes") + f"?size={LARGE}",
                                           headers=dict(jp_auth_header), request_timeout=120)
    assert reply.code == 200 and hashlib.sha256(reply.body).hexdigest() == pattern_hash(LARGE)


async def test_a_platform_that_stalls_mid_body_is_given_up_on(connect: Any, platform: tuple[int, Platform]) -> None:
    """Nothing for ``proxy_timeout`` seconds while the body is awaited: the caller's connection is closed."""
    caller = await connect()
    status, _ = await caller.ask(f"size={LARGE}&stall={LARGE // 2}")
    assert status == 200
    got, _ = await caller.body(LARGE)
    assert PUMP_MIN_BYTES < got < LARGE
    assert await caller.reader.read() == b""
    await until(lambda: platform[1].left_mid_answer >= 1, "the platform's connection to be closed", timeout=60)


async def test_a_caller_leaving_mid_answer_frees_the_platform_and_the_server(
        connect: Any, platform: tuple[int, Platform], http_server_client: Any, jp_base_url: str,
        jp_auth_header: Any) -> None:  # fmt: skip
    caller = await connect()
    status, _ = await caller.ask(f"size={256 << 20}")
    assert status == 200
    got, _ = await caller.body(256 << 20, stop_after=PUMP_MIN_BYTES * 4)
    assert got >= PUMP_MIN_BYTES * 4
    caller.writer.close()
    await until(lambda: platform[1].left_mid_answer >= 1, "the platform's answer to be broken off", timeout=120)

    reply = await http_server_client.fetch(url_path_join(jp_base_url, "compute/proxy/echo/bytes") + "?size=1000",
                                           headers=dict(jp_auth_header), request_timeout=120)
    assert reply.code == 200 and reply.body == next(pattern(1000))


async def test_a_body_taken_from_a_paused_client_keeps_its_order(platform: tuple[int, Platform]) -> None:
    """The client stops reading once it holds READ_AHEAD bytes; taking the body then still hands over every
    byte once, in order: what the client held, then the socket's."""
    client = ProxyClient(60.0)
    left, right = await _socket_pair()
    try:
        size = 32 << 20
        exchange = client.exchange("GET", f"http://127.0.0.1:{platform[0]}/api/v1/bytes?size={size}", {})
        response = await exchange.response()
        connection = response.connection
        assert connection is not None
        await until(lambda: connection.reading_paused, "the client to stop reading with its buffer full", timeout=60)
        taken = exchange.take_body(PUMP_MIN_BYTES)
        assert taken is not None
        read, source, rest = taken
        assert sum(map(len, read)) + rest == size and read

        digest = hashlib.sha256(b"".join(read))
        reading = asyncio.ensure_future(_read_all(right, rest, digest))
        await proxy_pump.Pump(source, left.get_extra_info("socket").fileno(), rest, 60.0).run()
        assert await reading == rest and digest.hexdigest() == pattern_hash(size)
        exchange.close()
    finally:
        left.close()
        right[1].close()
        await client.aclose()


async def _socket_pair() -> tuple[asyncio.StreamWriter, tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A connected pair of TCP sockets on loopback: a writer's end and a reader's."""
    accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Future()
    server = await asyncio.start_server(lambda r, w: accepted.set_result((r, w)), "127.0.0.1", 0)
    _, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    right = await accepted
    server.close()
    return writer, right


async def _read_all(right: tuple[asyncio.StreamReader, asyncio.StreamWriter], size: int, digest: Any) -> int:
    got = 0
    while got < size and (chunk := await right[0].read(PIECE)):
        digest.update(chunk)
        got += len(chunk)
    return got

