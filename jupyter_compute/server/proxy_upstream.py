"""The passthrough's side towards the platform: one pooled aiohttp session, and exchanges on it whose
request body is fed chunk by chunk as the caller sends it.

aiohttp rather than httpx: on this path httpx costs ~1.2–1.6 ms of CPU per request against ~0.3 ms for
aiohttp (a small GET on loopback), which is most of the passthrough's added latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping

import aiohttp
from yarl import URL

#: How many request-body chunks (tornado reads up to 64 KiB at a time) may wait for the platform.
BODY_CHUNKS_WAITING = 16
#: The most response bytes read ahead of the caller.
READ_AHEAD = 1 << 20
#: Seconds to open a connection to a platform.
CONNECT_TIMEOUT_S = 10.0

_END = b""


class ProxyClient:
    """The passthrough's pooled connections to the platforms; each read of an answer may take up to ``timeout``
    seconds. Made on the server's event loop (aiohttp binds its session to the running loop)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=CONNECT_TIMEOUT_S,
                                          sock_read=timeout),
            auto_decompress=False,
            read_bufsize=READ_AHEAD,
            skip_auto_headers=("Accept-Encoding",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def exchange(self, method: str, url: URL | str, headers: Mapping[str, str], body: bytes | None = None, *,
                 streams_body: bool = False) -> Exchange:  # fmt: skip
        """Start one request to ``url`` (already checked and encoded) with ``body``; with ``streams_body``,
        its body follows through :meth:`Exchange.feed` instead."""
        target = url if isinstance(url, URL) else URL(url, encoded=True)
        return Exchange(self.session, method, target, headers, body, streams_body)

    async def aclose(self) -> None:
        """Close every connection."""
        await self.session.close()


class Exchange:
    """One request to the platform. The body is handed over chunk by chunk: at most BODY_CHUNKS_WAITING
    chunks wait, and :meth:`feed` makes the caller wait beyond that. Should the platform answer (or fail)
    before the body ends, the rest of the body is dropped and the connection is not reused."""

    def __init__(self, session: aiohttp.ClientSession, method: str, url: URL, headers: Mapping[str, str],
                 body: bytes | None, streams_body: bool) -> None:  # fmt: skip
        self._session, self._method, self._url, self._headers = session, method, url, headers
        self._body: asyncio.Queue[bytes] | None = None
        self._sent: asyncio.Future[aiohttp.ClientResponse] | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._body_done = not streams_body
        self.cut_short = False
        self._taken = False
        if streams_body:
            self._body = asyncio.Queue(BODY_CHUNKS_WAITING)
        # the request goes out now, while the caller's server still finishes reading the request
        self._sent = asyncio.ensure_future(self._send(self._chunks() if streams_body else body))
        self._sent.add_done_callback(self._answered)

    async def _send(self, data: AsyncIterator[bytes] | bytes | None) -> aiohttp.ClientResponse:
        return await self._session.request(self._method, self._url, headers=self._headers, data=data,
                                           allow_redirects=False)

    async def _chunks(self) -> AsyncIterator[bytes]:
        assert self._body is not None
        while chunk := await self._body.get():
            yield chunk

    def feed(self, chunk: bytes) -> Awaitable[None] | None:
        """Pass a chunk of the request body on; something to await when the platform is behind."""
        if self._body_done or not chunk:
            return None
        assert self._body is not None
        if not self._body.full():
            self._body.put_nowait(chunk)
            return None
        return self._body.put(chunk)

    def _answered(self, sent: asyncio.Future[aiohttp.ClientResponse] | None) -> None:
        """The platform answered or failed: a body still coming goes nowhere (its waiting chunks are let go)."""
        if sent is not None and not sent.cancelled():
            sent.exception()  # seen here: a failure nobody awaits (the caller left) is not reported as lost
        if self._body_done:
            return
        self._body_done = self.cut_short = True
        assert self._body is not None
        while not self._body.empty():
            self._body.get_nowait()
        self._body.put_nowait(_END)

    async def response(self) -> aiohttp.ClientResponse:
        """The platform's answer (status and headers; its body is read from ``content``), once the
        request body has all been fed."""
        assert self._sent is not None
        if not self._body_done:
            assert self._body is not None
            await self._body.put(_END)
            self._body_done = True
        self._response = await self._sent
        return self._response

    def take_body(self, min_left: int) -> tuple[list[bytes], int, int] | None:
        """Take the rest of the answer's body away from aiohttp, when at least ``min_left`` bytes of it are still
        to come on a plain (not TLS) connection and its length is declared: what aiohttp has read of it so far,
        the socket the rest comes on (aiohttp no longer reads from it) and how many bytes are still to come.
        The connection is then closed, never pooled, when the exchange ends. None (and nothing changed) when
        the body cannot be taken."""
        response = self._response
        fd = _plain_socket(response) if response is not None else None
        if response is None or fd is None:
            return None
        length, content = response.content_length, response.content
        if (length is None or "transfer-encoding" in response.headers or content.exception() is not None
                or length - content.total_bytes < min_left):
            return None
        # Reading drops aiohttp's buffer below its low-water mark, which resumes a paused parser: what it still
        # held comes into the buffer and is read too, until nothing is left anywhere in aiohttp.
        read: list[bytes] = []
        while data := content.read_nowait():
            read.append(data)
        assert response.connection is not None and response.connection.protocol is not None
        response.connection.protocol.pause_reading()  # and its sock_read timer is off: the taker keeps time
        self._taken = True
        return read, fd, length - content.total_bytes

    def close(self, *, clean: bool = True) -> None:
        """Let the connection go: back to the pool when the exchange ended ``clean``, closed otherwise."""
        if not self._body_done:
            self._answered(None)
        response = self._response or self._unclaimed_response()
        if response is None:
            return
        if clean and not self.cut_short and not self._taken:
            response.release()
        else:
            response.close()

    def _unclaimed_response(self) -> aiohttp.ClientResponse | None:
        """The answer that came while nobody waited for it any more; a request still under way is cancelled."""
        if self._sent is None:
            return None
        if not self._sent.done():
            self._sent.cancel()
            return None
        if self._sent.cancelled() or self._sent.exception() is not None:
            return None
        return self._sent.result()


def _plain_socket(response: aiohttp.ClientResponse) -> int | None:
    """The descriptor of the open, plain-HTTP socket an answer comes on; None for TLS or a connection gone."""
    connection = response.connection
    transport = connection.transport if connection is not None else None
    if (response.url.scheme != "http" or connection is None or connection.protocol is None or transport is None
            or transport.is_closing() or transport.get_extra_info("ssl_object") is not None):
        return None
    sock = transport.get_extra_info("socket")
    return None if sock is None else int(sock.fileno())
