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
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=CONNECT_TIMEOUT_S,
                                          sock_read=timeout),
            auto_decompress=False,
            read_bufsize=READ_AHEAD,
            skip_auto_headers=("Accept-Encoding",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def exchange(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None, *,
                 streams_body: bool = False) -> Exchange:  # fmt: skip
        """Start one request to ``url`` (already checked and encoded) with ``body``; with ``streams_body``,
        its body follows through :meth:`Exchange.feed` instead."""
        return Exchange(self.session, method, URL(url, encoded=True), headers, body, streams_body)

    async def aclose(self) -> None:
        """Close every connection."""
        await self.session.close()


class Exchange:
    """One request to the platform. The body is handed over chunk by chunk: at most BODY_CHUNKS_WAITING
    chunks wait, and :meth:`feed` makes the caller wait beyond that. Should the platform answer (or fail)
    before the body ends, the rest of the body is dropped and the connection is not reused."""

    def __init__(self, session: aiohttp.ClientSession, method: str, url: URL, headers: Mapping[str, str],
                 body: bytes | None, streams_body: bool) -> None:  # fmt: skip
        self._session, self._method, self._url, self._headers, self._data = session, method, url, headers, body
        self._body: asyncio.Queue[bytes] | None = None
        self._sent: asyncio.Future[aiohttp.ClientResponse] | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._body_done = not streams_body
        self.cut_short = False
        if streams_body:
            self._body = asyncio.Queue(BODY_CHUNKS_WAITING)
            self._sent = asyncio.ensure_future(self._send(self._chunks()))
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
        if self._sent is None:
            self._response = await self._send(self._data)
            return self._response
        if not self._body_done:
            assert self._body is not None
            await self._body.put(_END)
            self._body_done = True
        self._response = await self._sent
        return self._response

    def close(self, *, clean: bool = True) -> None:
        """Let the connection go: back to the pool when the exchange ended ``clean``, closed otherwise."""
        if not self._body_done:
            self._answered(None)
        response = self._response or self._unclaimed_response()
        if response is None:
            return
        if clean and not self.cut_short:
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
