"""The passthrough's own HTTP/1.1 client (server/proxy_upstream.py, proxy_connection.py) against platforms
that answer in each of the ways HTTP allows, or break the rules: a scripted TCP server on loopback writes the
exact bytes of each answer."""

from __future__ import annotations

import asyncio
import datetime
import gc
import ipaddress
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import tornado.web

from jupyter_compute.server.proxy_connection import Answer, PlatformError
from jupyter_compute.server.proxy_upstream import BODY_CHUNKS_WAITING, ProxyClient

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ScriptedPlatform:
    """Answers each connection with ``script``; counts the connections and keeps every request head."""

    def __init__(self, script: Script) -> None:
        self.script, self.connections, self.heads = script, 0, []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def head(self, reader: asyncio.StreamReader) -> str:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        self.heads.append(head)
        return head


@pytest.fixture
def client(jp_asyncio_loop: Any) -> Iterator[ProxyClient]:
    proxy_client = ProxyClient(60.0)
    yield proxy_client
    jp_asyncio_loop.run_until_complete(proxy_client.aclose())


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def body_of(answer: Answer) -> bytes:
    return b"".join([chunk async for chunk in answer.chunks()])


async def fetch(client: ProxyClient, port: int, path: str = "/x") -> tuple[int, bytes]:
    """GET ``path`` of the platform on ``port``: its status and whole body (or what the client raised)."""
    exchange = client.exchange("GET", f"http://127.0.0.1:{port}{path}", {})
    try:
        answer = await exchange.response()
        return answer.status, await body_of(answer)
    finally:
        exchange.close()


async def test_answers_of_every_framing_are_read_whole_and_the_connection_is_kept_when_it_may_be(
        client: ProxyClient) -> None:  # fmt: skip
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Seen: a\r\n\r\nhello",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nto the end of the connection",  # no length: the body ends with the connection
    ]

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            await platform.head(reader)
            writer.write(answers.pop(0))
            await writer.drain()
        await writer.drain()

    platform = ScriptedPlatform(script)
    port = await platform.start()
    got = []
    for _ in range(5):
        exchange = client.exchange("GET", f"http://127.0.0.1:{port}/api/items?a=1", {"Accept": "text/plain"})
        answer = await exchange.response()
        got.append((answer.status, answer.reason, await body_of(answer)))
        exchange.close()
    assert got == [(200, "OK", b"hello"), (201, "Created", b"abcdefg"), (200, "OK", b"ok"), (204, "No Content", b""),
                   (200, "OK", b"to the end of the connection")]
    assert platform.connections == 1, "the four answers of declared end left the connection open for the next"
    first = platform.heads[0].split("\r\n")
    assert first[0] == "GET /api/items?a=1 HTTP/1.1" and f"Host: 127.0.0.1:{port}" in first
    assert "Accept: text/plain" in first and any(line.startswith("User-Agent: jupyter-compute/") for line in first)


async def test_a_platform_that_closed_an_idle_connection_gets_the_next_request_on_a_new_one(
        client: ProxyClient) -> None:  # fmt: skip
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await platform.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()  # then the connection is closed, as a platform's keep-alive timeout does

    platform = ScriptedPlatform(script)
    port = await platform.start()
    for _ in range(3):  # each request goes on the connection before, unless its close was seen by then
        assert await fetch(client, port) == (200, b"ok")
    assert platform.connections == 3


async def test_what_cannot_be_answered_is_a_platform_error_that_says_why(client: ProxyClient,
                                                                       free_port: int) -> None:
    refused = client.exchange("GET", f"http://127.0.0.1:{free_port}/x", {})
    with pytest.raises(PlatformError, match=f"cannot connect to 127.0.0.1:{free_port}"):
        await refused.response()
    refused.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await platform.head(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read()

    platform = ScriptedPlatform(garbage)
    port = await platform.start()
    exchange = client.exchange("GET", f"http://127.0.0.1:{port}/x", {})
    with pytest.raises(PlatformError, match="not valid HTTP"):
        await exchange.response()
    exchange.close()

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await cut_platform.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    cut_platform = ScriptedPlatform(cut)
    cut_port = await cut_platform.start()
    with pytest.raises(PlatformError, match="before its answer was whole"):
        await fetch(client, cut_port)


async def test_a_header_with_a_line_break_is_not_sent_and_its_value_is_not_told(client: ProxyClient) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await platform.head(reader)

    platform = ScriptedPlatform(script)
    port = await platform.start()
    exchange = client.exchange("GET", f"http://127.0.0.1:{port}/x", {"X-Api-Key": "s3cret\r\nX-Injected: 1"})
    with pytest.raises(PlatformError, match="'X-Api-Key' holds a line break") as info:
        await exchange.response()
    assert "s3cret" not in str(info.value)
    exchange.close()
    assert platform.connections == 0


async def test_a_platform_that_never_answers_is_given_up_on() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await platform.head(reader)
        await reader.read()

    platform = ScriptedPlatform(script)
    port = await platform.start()
    patient = ProxyClient(0.5)
    try:
        exchange = patient.exchange("GET", f"http://127.0.0.1:{port}/x", {})
        with pytest.raises(TimeoutError):
            await exchange.response()
        exchange.close()
    finally:
        await patient.aclose()


async def test_a_streamed_body_without_a_length_goes_chunked_and_one_answered_early_is_cut_short(
        client: ProxyClient) -> None:  # fmt: skip
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await platform.head(reader)
        if "/early" in head:
            writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            await reader.read()
            return
        received = b""
        while not received.endswith(b"0\r\n\r\n"):
            received += await reader.read(1 << 16)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(received), received))
        await writer.drain()

    platform = ScriptedPlatform(script)
    port = await platform.start()
    exchange = client.exchange("POST", f"http://127.0.0.1:{port}/up", {}, streams_body=True)
    for piece in (b"ab", b"cde"):
        assert exchange.feed(piece) is None
    answer = await exchange.response()
    assert await body_of(answer) == b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
    assert "Transfer-Encoding: chunked" in platform.heads[0]
    exchange.close()

    early = client.exchange("POST", f"http://127.0.0.1:{port}/early", {"Content-Length": "100000000"},
                            streams_body=True)
    await early.answer.head()
    await asyncio.sleep(0)  # the answer's callbacks run
    assert early.feed(b"x" * 1000) is None and early.cut_short
    assert (await early.response()).status == 413
    early.close()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platform.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.finish({"scheme": self.request.protocol})


async def test_https_platforms_are_reached_with_their_certificates_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free_port: int) -> None:  # fmt: skip
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/hello", Hello)]), ssl_options=tls)
    server.listen(free_port, "127.0.0.1")
    try:
        untrusting = ProxyClient(60.0)
        exchange = untrusting.exchange("GET", f"https://127.0.0.1:{free_port}/hello", {})
        with pytest.raises(PlatformError, match="CERTIFICATE_VERIFY_FAILED"):
            await exchange.response()
        exchange.close()
        await untrusting.aclose()

        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # how a user trusts a platform's own CA
        trusting = ProxyClient(60.0)
        for _ in range(2):
            exchange = trusting.exchange("GET", f"https://127.0.0.1:{free_port}/hello", {})
            answer = await exchange.response()
            assert answer.status == 200 and await body_of(answer) == b'{"scheme": "https"}'
            assert exchange.take_body(0) is None, "a TLS body never goes by the pump"
            exchange.close()
        await trusting.aclose()
    finally:
        server.stop()


async def test_a_caller_that_leaves_before_the_answer_closes_the_connection_quietly(
        client: ProxyClient, caplog: Any) -> None:  # fmt: skip
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await platform.head(reader)
        await reader.read()
        platform.left = True

    platform = ScriptedPlatform(script)
    platform.left = False  # type: ignore[attr-defined]
    port = await platform.start()
    exchange = client.exchange("GET", f"http://127.0.0.1:{port}/slow", {})
    while platform.connections == 0 or not platform.heads:
        await asyncio.sleep(0.01)
    exchange.close(clean=False)
    while not platform.left:  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
    gc.collect()  # a failure nobody saw is reported when its future is collected
    await asyncio.sleep(0.05)
    assert "never retrieved" not in caplog.text


def _pooled_then(then: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                 platform: list[ScriptedPlatform]) -> Script:  # fmt: skip
    """A script: the first request on a connection is answered whole (so the connection is pooled), the next
    one meets ``then``; any later connection answers every request whole."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = platform[0].connections == 1
        await platform[0].head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if first:
            await platform[0].head(reader)
            await then(reader, writer)
            return
        while True:
            await platform[0].head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    return script


async def test_a_request_lost_with_its_pooled_connection_is_sent_again_only_when_that_is_safe(
        client: ProxyClient) -> None:  # fmt: skip
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()  # the request was read; the connection ends with no answer

    holder: list[ScriptedPlatform] = []
    platform = ScriptedPlatform(_pooled_then(hang_up, holder))
    holder.append(platform)
    port = await platform.start()
    for method, resent in (("GET", True), ("POST", False)):
        platform.connections, platform.heads = 0, []
        warm = client.exchange("GET", f"http://127.0.0.1:{port}/warm", {})
        assert (await warm.response()).status == 200 and await body_of(warm.answer) == b"ok"
        warm.close()
        exchange = client.exchange(method, f"http://127.0.0.1:{port}/job", {}, b"" if method == "POST" else None)
        if resent:  # GET is idempotent: sent again on a new connection, and answered
            assert (await exchange.response()).status == 200
            assert [h.split(" ")[0] for h in platform.heads] == ["GET", "GET", "GET"]
        else:  # the platform may have acted on the POST: it is not sent twice
            with pytest.raises(PlatformError, match="closed the connection"):
                await exchange.response()
            assert [h.split(" ")[0] for h in platform.heads] == ["GET", "POST"]
        exchange.close()
        await client.aclose()


async def test_a_connection_reset_in_a_body_that_ends_with_the_connection_is_not_taken_as_its_end(
        client: ProxyClient) -> None:  # fmt: skip
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await platform.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart of it")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a reset, not a close

    platform = ScriptedPlatform(script)
    port = await platform.start()
    with pytest.raises(PlatformError, match="before its answer was whole"):
        await fetch(client, port)


async def test_bytes_past_a_whole_answer_change_nothing_of_it_and_end_the_connection(client: ProxyClient) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await platform.head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nstale")
        await writer.drain()
        await reader.read()

    platform = ScriptedPlatform(script)
    port = await platform.start()
    for _ in range(2):
        assert await fetch(client, port) == (200, b"first")
    assert platform.connections == 2, "the connection that said too much was not used again"


async def test_idle_connections_are_kept_for_a_while_only_and_no_timeout_means_none(
        client: ProxyClient, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await platform.head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    platform = ScriptedPlatform(script)
    port = await platform.start()
    unlimited = ProxyClient(0)  # proxy_timeout = 0: no limit, as before
    try:
        for keep_s, connections in ((60.0, 1), (0.0, 3)):
            platform.connections = 0
            monkeypatch.setattr("jupyter_compute.server.proxy_upstream.IDLE_KEEP_S", keep_s)
            for _ in range(3):
                assert await fetch(unlimited, port) == (200, b"ok")
                await asyncio.sleep(0.01)
            assert platform.connections == connections, keep_s
            await unlimited.aclose()
    finally:
        await unlimited.aclose()


async def test_an_exchange_given_up_before_its_connection_opened_lets_everyone_waiting_go(
        client: ProxyClient, free_port: int) -> None:  # fmt: skip
    exchange = client.exchange("POST", f"http://127.0.0.1:{free_port}/up", {}, streams_body=True)
    waits = [exchange.feed(b"x" * 100) for _ in range(BODY_CHUNKS_WAITING)]
    room = waits[-1]
    assert waits[:-1] == [None] * (BODY_CHUNKS_WAITING - 1) and room is not None and not room.done()
    exchange.close(clean=False)
    assert room.done()
    with pytest.raises(PlatformError, match="given up"):
        await exchange.answer.head()


async def test_an_upload_the_platform_stops_taking_fails_after_the_timeout_and_lets_the_caller_go() -> None:
    over = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await platform.head(reader)
        await over.wait()  # reads none of the body, and never answers

    platform = ScriptedPlatform(script)
    port = await platform.start()
    impatient = ProxyClient(0.5)
    try:
        exchange = impatient.exchange("PUT", f"http://127.0.0.1:{port}/up", {"Content-Length": str(1 << 30)},
                                      streams_body=True)
        while exchange._connection is None:  # the connection opens
            await asyncio.sleep(0.01)
        room = None
        for _ in range(100_000):  # until the socket's buffers are full
            room = exchange.feed(b"x" * (1 << 16))
            if room is not None:
                break
        assert room is not None, "the platform's side filled up"
        await asyncio.wait_for(room, 60)  # freed by the timeout, not left hanging
        assert exchange.feed(b"x" * (1 << 16)) is None and exchange.cut_short, "the rest of the body goes nowhere"
        with pytest.raises(PlatformError, match=r"took none of the request body for 0\.5 s"):
            await exchange.response()
        exchange.close()
    finally:
        over.set()
        await impatient.aclose()
        await asyncio.sleep(0.05)  # the platform's side ends
