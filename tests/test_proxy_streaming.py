"""The passthrough streams bodies both ways: large uploads and downloads arrive intact, every refusal
comes before the platform is contacted (a body on its way or not), and a caller that leaves mid-body
leaves neither the platform's request nor the server hanging."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.iostream
import tornado.testing
import tornado.web
from conftest import until
from echo_backend import EchoBackend
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.utils import url_path_join
from traitlets.config import Config

UPLOAD_BYTES = 48 << 20
DOWNLOAD_BYTES = 48 << 20
PIECE = 1 << 20


def pattern(size: int) -> Iterator[bytes]:
    """``size`` bytes of a fixed, non-repeating-per-piece pattern, in pieces of at most PIECE bytes."""
    index = 0
    while size > 0:
        piece = hashlib.sha256(str(index).encode()).digest() * (PIECE // 32)
        yield piece[:size]
        size -= len(piece)
        index += 1


def pattern_hash(size: int) -> str:
    digest = hashlib.sha256()
    for piece in pattern(size):
        digest.update(piece)
    return digest.hexdigest()


class Upstream:
    """What the platform saw: connections accepted, bodies received whole, bodies broken off."""

    def __init__(self) -> None:
        self.connections = 0
        self.received: list[dict[str, Any]] = []
        self.broken_off = 0
        self.partial = 0


class CountingServer(tornado.httpserver.HTTPServer):
    def initialize(self, *args: Any, upstream: Upstream, **kwargs: Any) -> None:  # type: ignore[override]
        self.upstream = upstream
        super().initialize(*args, **kwargs)

    def handle_stream(self, stream: tornado.iostream.IOStream, address: Any) -> None:
        self.upstream.connections += 1
        super().handle_stream(stream, address)


@tornado.web.stream_request_body
class SinkHandler(tornado.web.RequestHandler):
    """Hashes a request body as it comes; answers its size, hash and headers."""

    def initialize(self, upstream: Upstream) -> None:
        self.upstream = upstream

    def prepare(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def data_received(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self.upstream.partial = self.size

    def on_connection_close(self) -> None:
        self.upstream.broken_off += 1
        super().on_connection_close()

    def post(self, *_: Any) -> None:
        seen = {"size": self.size, "sha256": self.digest.hexdigest(), "headers": dict(self.request.headers)}
        self.upstream.received.append(seen)
        self.finish(seen)

    put = post


class BytesHandler(tornado.web.RequestHandler):
    """``?size=N``: the pattern's first N bytes, flushed piece by piece."""

    async def get(self, *_: Any) -> None:
        size = int(self.get_query_argument("size"))
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(size))
        for piece in pattern(size):
            self.write(piece)
            await self.flush()


class BreakingHandler(tornado.web.RequestHandler):
    """An answer without a length that breaks off after its first piece (the platform fell over)."""

    async def get(self, *_: Any) -> None:
        self.write(next(pattern(PIECE)))
        await self.flush()
        self.request.connection.close()


class RefusingEcho(EchoBackend):
    """The echo platform, whose passthrough does not forward ``admin/...``."""

    def proxy_refusal(self, path: str) -> str | None:
        return "its admin API is not for notebooks" if path.startswith("admin") else None


class HeaderAuthorizer(Authorizer):
    """Refuses the action named by a request's ``X-Test-Refuse`` header (none: allows everything)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return handler.request.headers.get("X-Test-Refuse") != action


@pytest.fixture
def upstream(jp_asyncio_loop: Any) -> Iterator[tuple[int, Upstream]]:
    seen = Upstream()
    sock, port = tornado.testing.bind_unused_port()
    app = tornado.web.Application([(r".*/sink", SinkHandler, {"upstream": seen}), (r".*/bytes", BytesHandler),
                                   (r".*/breaking", BreakingHandler)])
    server = CountingServer(app, upstream=seen, max_body_size=1 << 34)
    server.add_sockets([sock])
    yield port, seen
    server.stop()


@pytest.fixture
def compute_config(upstream: tuple[int, Upstream], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ECHO_API_KEY", "stream-key")
    return {"backends": {
        "echo": {"kind": "test_proxy_streaming:RefusingEcho", "url": f"http://127.0.0.1:{upstream[0]}/api/v1",
                 "api_key_env": "ECHO_API_KEY"},
        "local": {"kind": "local"},
    }}


@pytest.fixture
def jp_server_config(compute_config: dict[str, Any]) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"jupyter_compute": True}, "authorizer_class": HeaderAuthorizer},
        "ComputeApp": compute_config,
    })


@pytest.fixture
def proxy_url(jp_serverapp: Any, jp_base_url: str) -> Callable[[str], str]:
    """The server-relative URL of a passthrough path."""

    def url(path: str) -> str:
        return url_path_join(jp_base_url, "compute/proxy") + "/" + path

    return url


async def send(http_server_client: Any, url: str, headers: dict[str, str], *, method: str = "POST",
               size: int = 0, declare_length: bool = True, on_chunk: Callable[[bytes], None] | None = None,
               expect_continue: bool = False) -> Any:
    """A request whose body (``size`` bytes of the pattern) is produced piece by piece; with
    ``expect_continue``, only once the server has said it will take it (``Expect: 100-continue``)."""
    headers = dict(headers)
    if size and declare_length:
        headers["Content-Length"] = str(size)

    async def produce(write: Callable[[bytes], Any]) -> None:
        for piece in pattern(size):
            await write(piece)

    return await http_server_client.fetch(
        url, method=method, headers=headers, raise_error=False, body_producer=produce if size else None,
        body=None if size or method not in ("POST", "PUT") else b"", streaming_callback=on_chunk,
        request_timeout=300, allow_nonstandard_methods=True, expect_100_continue=expect_continue)


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
async def test_large_upload_arrives_intact(http_server_client: Any, proxy_url: Any, jp_auth_header: Any,
                                           upstream: tuple[int, Upstream], declare_length: bool) -> None:
    reply = await send(http_server_client, proxy_url("echo/sink"), dict(jp_auth_header), method="PUT",
                       size=UPLOAD_BYTES, declare_length=declare_length)
    assert reply.code == 200, reply.body[:500]
    seen = json.loads(reply.body)
    assert seen["size"] == UPLOAD_BYTES and seen["sha256"] == pattern_hash(UPLOAD_BYTES)
    assert seen["headers"]["X-Api-Key"] == "stream-key"
    assert ("Content-Length" in seen["headers"]) == declare_length, seen["headers"]
    assert upstream[1].received == [seen]


async def test_large_download_arrives_intact(http_server_client: Any, proxy_url: Any, jp_auth_header: Any) -> None:
    digest = hashlib.sha256()
    pieces: list[int] = []

    def take(chunk: bytes) -> None:
        digest.update(chunk)
        pieces.append(len(chunk))

    reply = await send(http_server_client, proxy_url(f"echo/bytes?size={DOWNLOAD_BYTES}"), dict(jp_auth_header),
                       method="GET", on_chunk=take)
    assert reply.code == 200
    assert sum(pieces) == DOWNLOAD_BYTES and digest.hexdigest() == pattern_hash(DOWNLOAD_BYTES)
    assert reply.headers["Content-Length"] == str(DOWNLOAD_BYTES)
    assert len(pieces) > 1, "the answer came in one piece: not streamed"


REFUSALS = {
    # name: (path, extra headers, drop the login, expected status, expected error type)
    "no login": ("echo/sink", {}, True, 401, "HTTPError"),
    "not authorised": ("echo/sink", {"X-Test-Refuse": "write"}, False, 403, "HTTPError"),
    "escape": ("echo/..%2fsink", {}, False, 400, "InvalidSpec"),
    "dot segment": ("echo/x/../sink", {}, False, 400, "InvalidSpec"),
    "backend's refusal": ("echo/admin/sink", {}, False, 403, "AuthError"),
    "backend without API": ("local/sink", {}, False, 405, "NotSupported"),
    "unknown backend": ("nowhere/sink", {}, False, 404, "NotFound"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
async def test_refusals_come_before_the_platform_is_contacted(http_server_client: Any, proxy_url: Any,
                                                               jp_auth_header: Any, upstream: tuple[int, Upstream],
                                                               name: str) -> None:
    path, extra, anonymous, status, kind = REFUSALS[name]
    headers = {**({} if anonymous else dict(jp_auth_header)), **extra}
    # a refusal closes the connection (tornado reads no body it will not use): a client of a large body
    # asks first, with Expect: 100-continue, to read the refusal
    reply = await send(http_server_client, proxy_url(path), headers, size=8 << 20, expect_continue=True)
    assert reply.code == status, (name, reply.code, reply.body[:300])
    assert json.loads(reply.body)["error"]["type"] == kind
    assert upstream[1].connections == 0, f"{name}: the platform was contacted"

    # a request with leave to go through does reach it (the count above could have moved)
    allowed = await send(http_server_client, proxy_url("echo/sink"), dict(jp_auth_header), size=8 << 20,
                         expect_continue=True)
    assert allowed.code == 200 and upstream[1].connections == 1


async def test_a_caller_leaving_mid_body_frees_the_platform_and_the_server(
        http_server_client: Any, jp_http_port: int, proxy_url: Any, jp_auth_header: Any,
        upstream: tuple[int, Upstream]) -> None:
    seen = upstream[1]
    _, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    path = proxy_url("echo/sink")
    auth = "".join(f"{k}: {v}\r\n" for k, v in dict(jp_auth_header).items())
    writer.write(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: {UPLOAD_BYTES}\r\n\r\n".encode())
    sent = 0
    for piece in pattern(4 << 20):
        writer.write(piece)
        await writer.drain()
        sent += len(piece)
    await until(lambda: seen.partial > 0, "the platform to get the first bytes of the body", timeout=120)
    writer.close()
    await writer.wait_closed()

    await until(lambda: seen.broken_off == 1, "the platform's request to be broken off", timeout=120)
    assert seen.received == [] and 0 < seen.partial <= sent

    # the server goes on: the next upload goes through whole
    reply = await send(http_server_client, proxy_url("echo/sink"), dict(jp_auth_header), size=2 << 20)
    assert reply.code == 200 and json.loads(reply.body)["sha256"] == pattern_hash(2 << 20)



async def test_a_method_it_does_not_forward_contacts_nothing(http_server_client: Any, proxy_url: Any,
                                                              jp_auth_header: Any,
                                                              upstream: tuple[int, Upstream]) -> None:
    reply = await send(http_server_client, proxy_url("echo/sink"), dict(jp_auth_header), method="HEAD")
    assert reply.code == 405 and upstream[1].connections == 0


async def test_an_answer_the_platform_breaks_off_does_not_arrive_as_whole(
        http_server_client: Any, proxy_url: Any, jp_auth_header: Any) -> None:
    """The passthrough has sent its headers when the platform's answer breaks off: the caller's connection is
    closed, so no client takes the piece for the whole answer."""
    received: list[int] = []
    with pytest.raises(tornado.httpclient.HTTPClientError) as broken:
        await http_server_client.fetch(proxy_url("echo/breaking"), headers=dict(jp_auth_header),
                                       streaming_callback=lambda chunk: received.append(len(chunk)),
                                       request_timeout=120)
    assert broken.value.code == 599, broken.value
    assert sum(received) <= PIECE
