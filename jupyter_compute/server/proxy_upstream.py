"""The passthrough's side towards the platforms: pooled HTTP/1.1 connections (proxy_connection.py), and
exchanges on them whose request body is fed chunk by chunk as the caller sends it.

Made for this one path rather than taken from a general HTTP client: a small GET costs ~25 µs of CPU here,
against ~80 µs through aiohttp and ~1.2 ms through httpx (loopback, this machine), and that cost is most of
what the passthrough adds to a request (issue 20). Parsing, the part that must be exact, is httptools'.
A request whose connection is pooled goes out at once, while the caller's request is still being read.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import Mapping

from yarl import URL

from .. import __version__
from .proxy_connection import Answer, PlatformConnection, PlatformError

#: How many request-body chunks (tornado reads up to 64 KiB at a time) may wait for the connection to open.
BODY_CHUNKS_WAITING = 16
#: Seconds to open a connection to a platform.
CONNECT_TIMEOUT_S = 10.0
#: Idle connections kept per platform.
IDLE_PER_PLATFORM = 32
#: Seconds an idle connection is kept (a NAT or load balancer may drop a quiet one without a word).
IDLE_KEEP_S = 15.0
#: Methods whose request may be sent again when its pooled connection is lost before any answer.
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE"))
USER_AGENT = f"jupyter-compute/{__version__}"

_Key = tuple[str, str, int]


class ProxyClient:
    """The passthrough's pooled connections to the platforms; an answer's head, and each wait for its body,
    may take up to ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._idle: dict[_Key, list[tuple[float, PlatformConnection]]] = {}
        self._connections: weakref.WeakSet[PlatformConnection] = weakref.WeakSet()
        self._tls: ssl.SSLContext | None = None  # made at the first HTTPS platform

    def exchange(self, method: str, url: URL | str, headers: Mapping[str, str], body: bytes | None = None, *,
                 streams_body: bool = False) -> Exchange:  # fmt: skip
        """Start one request to ``url`` (already checked and encoded) with ``body``; with ``streams_body``,
        its body follows through :meth:`Exchange.feed` instead."""
        target = url if isinstance(url, URL) else URL(url, encoded=True)
        return Exchange(self, method, target, headers, body, streams_body)

    def idle_connection(self, key: _Key) -> PlatformConnection | None:
        """The most recently used open connection to the platform, if one was idle less than IDLE_KEEP_S."""
        idle = self._idle.get(key)
        fresh_since = asyncio.get_running_loop().time() - IDLE_KEEP_S
        while idle:
            since, connection = idle.pop()
            if not connection.closed and since >= fresh_since:
                return connection
            connection.close()
        return None

    async def connect(self, url: URL) -> PlatformConnection:
        host, port = url.raw_host or "", url.port or 0
        tls = await self._tls_context() if url.scheme == "https" else None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, connection = await asyncio.get_running_loop().create_connection(
                    PlatformConnection, host, port, ssl=tls, server_hostname=host if tls else None)
        except TimeoutError:
            raise PlatformError(f"no connection to {host}:{port} within {CONNECT_TIMEOUT_S:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise PlatformError(f"cannot connect to {host}:{port}: {exc}") from None
        self._connections.add(connection)
        return connection

    async def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:  # in a worker thread: reading the system's CAs takes ~20 ms
            self._tls = await asyncio.to_thread(ssl.create_default_context)
        return self._tls

    def release(self, key: _Key, connection: PlatformConnection) -> None:
        """Keep an open connection whose last answer was whole for the next request."""
        idle = self._idle.setdefault(key, [])
        if connection.closed or len(idle) >= IDLE_PER_PLATFORM:
            connection.close()
            return
        connection.expect(None)
        connection.resume_reading()
        idle.append((asyncio.get_running_loop().time(), connection))

    async def aclose(self) -> None:
        """Close every connection."""
        self._idle.clear()
        for connection in list(self._connections):
            connection.close()


class Exchange:
    """One request to the platform. The body is written as it is fed; :meth:`feed` makes the caller wait while
    the platform is behind (or, before the connection is open, once BODY_CHUNKS_WAITING chunks wait). Should the
    platform answer (or fail) before the body ends, the rest of the body is dropped and the connection is not
    reused."""

    def __init__(self, client: ProxyClient, method: str, url: URL, headers: Mapping[str, str],
                 body: bytes | None, streams_body: bool) -> None:  # fmt: skip
        self._client = client
        self._key: _Key = (url.scheme, url.raw_host or "", url.port or 0)
        self.answer = Answer(client.timeout)
        self.answer.when_headed(self._answered)
        self._chunked = streams_body and not any(name.lower() == "content-length" for name in headers)
        self._body_done = not streams_body  # nothing more is to be fed
        self._body_sent = False  # all of it was written
        self.cut_short = False
        self._taken = False
        self._waiting: list[bytes] = []  # chunks fed before the connection is open
        self._room: asyncio.Future[None] | None = None
        self._connection: PlatformConnection | None = None
        self._opening: asyncio.Task[None] | None = None
        try:
            head = _request_head(method, url, headers, body, self._chunked)
        except PlatformError as exc:
            self.answer.fail(exc)
            return
        # a body that streams is not kept to be sent again, so it never goes on a connection the platform may
        # have just closed
        connection = None if streams_body else client.idle_connection(self._key)
        if connection is not None:
            if method in IDEMPOTENT_METHODS:
                self.answer.resend = lambda: self._resend(url, head, body)
            self._start(connection, head, body)
        else:
            self._opening = asyncio.ensure_future(self._open(url, head, body))

    def _resend(self, url: URL, head: bytes, body: bytes | None) -> None:
        """Send the request again on a new connection (its pooled one was lost before any answer)."""
        lost, self._connection = self._connection, None
        self.answer.connection = None
        if lost is not None:
            lost.expect(None)  # what else it tells as it closes concerns nobody now
            lost.close()
        self._opening = asyncio.ensure_future(self._open(url, head, body))

    async def _open(self, url: URL, head: bytes, body: bytes | None) -> None:
        try:
            connection = await self._client.connect(url)
        except PlatformError as exc:
            self.answer.fail(exc)
            return
        except Exception as exc:  # noqa: BLE001 — whatever it is, the caller must hear of it, not wait
            self.answer.fail(PlatformError(f"cannot connect to {url.raw_host}: {type(exc).__name__}: {exc}"))
            return
        self._start(connection, head, body)

    def _start(self, connection: PlatformConnection, head: bytes, body: bytes | None) -> None:
        self._connection = connection
        self.answer.connection = connection
        connection.expect(self.answer)
        connection.write(head + body if body else head)
        for chunk in self._waiting:
            self._write_chunk(chunk)
        self._waiting.clear()
        if self._body_done:
            self._end_body()
        self._free_room()

    def feed(self, chunk: bytes) -> asyncio.Future[None] | None:
        """Pass a chunk of the request body on; something to await when the platform is behind."""
        if self._body_done or not chunk:
            return None
        if self._connection is None:
            self._waiting.append(chunk)
            return self._wait_room() if len(self._waiting) >= BODY_CHUNKS_WAITING else None
        self._write_chunk(chunk)
        drained = self._connection.drained()
        if drained is None:
            return None
        drained.add_done_callback(lambda _: self._free_room())
        room = self._wait_room()
        if self._client.timeout:
            stall = asyncio.get_running_loop().call_later(self._client.timeout, self._stalled, room)
            room.add_done_callback(lambda _: stall.cancel())
        return room

    async def response(self) -> Answer:
        """The platform's answer (status and headers; its body is read from it), once the request body has
        all been fed."""
        if not self._body_done:
            self._body_done = True
            if self._connection is not None:
                self._end_body()
        return await self.answer.head()

    def take_body(self, min_left: int) -> tuple[list[bytes], int, int] | None:
        """Take the rest of the answer's body, when at least ``min_left`` bytes of it are still to come on a plain
        (not TLS) connection and its length is declared: what has come of it so far, the socket the rest comes
        on (no longer read here) and how many bytes are still to come. The connection is then closed, never
        pooled, when the exchange ends. None (and nothing changed) when the body cannot be taken."""
        answer, connection = self.answer, self._connection
        fd = connection.socket_fd() if connection is not None else None
        length = answer.content_length
        if (connection is None or fd is None or length is None or answer.header("transfer-encoding") is not None
                or answer.error is not None or answer.complete or length - answer.received < min_left):
            return None
        connection.pause_reading()
        self._taken = True
        return answer.take_chunks(), fd, length - answer.received

    def close(self, *, clean: bool = True) -> None:
        """Let the connection go: back to the pool when the exchange ended ``clean`` and whole, closed otherwise."""
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
            self.answer.fail(PlatformError("the request was given up before a connection opened"))
        self._body_done = True
        self._free_room()
        connection, self._connection = self._connection, None
        if connection is None:
            return
        answer = self.answer
        if (clean and answer.complete and answer.keep_alive and self._body_sent and not self.cut_short
                and not self._taken):
            self._client.release(self._key, connection)
        else:
            connection.expect(None)  # what the connection's end tells concerns nobody now
            connection.close()

    def _answered(self) -> None:
        """The platform answered or failed: a body still coming goes nowhere."""
        if not self._body_done:
            self._body_done = self.cut_short = True
            self._waiting.clear()
        self._free_room()

    def _stalled(self, room: asyncio.Future[None]) -> None:
        """The platform took none of the body for the timeout: the request fails, and the rest of the body (still
        read from the caller) goes nowhere."""
        if room.done():
            return
        self.answer.fail(PlatformError(f"the platform took none of the request body for {self._client.timeout:g} s"))
        self._answered()
        if self._connection is not None:
            self._connection.expect(None)
            self._connection.close()

    def _write_chunk(self, chunk: bytes) -> None:
        assert self._connection is not None
        self._connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if self._chunked else chunk)

    def _end_body(self) -> None:
        if self.cut_short or self._connection is None:
            return
        if self._chunked:
            self._connection.write(b"0\r\n\r\n")
        self._body_sent = True

    def _wait_room(self) -> asyncio.Future[None]:
        if self._room is None or self._room.done():
            self._room = asyncio.get_running_loop().create_future()
        return self._room

    def _free_room(self) -> None:
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)


def _host_header(url: URL) -> str:
    host = url.raw_host or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return host if url.is_default_port() else f"{host}:{url.port}"


def _header_lines(headers: Mapping[str, str]) -> list[str]:
    """``name: value`` lines; a header that would break the request's framing is refused (its value untold)."""
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or ":" in name or "\n" in name:
            raise PlatformError(f"the request header '{name.strip()}' holds a line break: not sent")
        lines.append(f"{name}: {value}")
    return lines


def _request_head(method: str, url: URL, headers: Mapping[str, str], body: bytes | None, chunked: bool) -> bytes:
    """The request line and headers, as sent."""
    names = {name.lower() for name in headers}
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {_host_header(url)}", *_header_lines(headers)]
    if "user-agent" not in names:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in names:
        lines.append("Accept: */*")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif body is not None and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise PlatformError("a request header holds characters HTTP/1.1 headers cannot carry") from None
