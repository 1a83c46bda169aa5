"""One HTTP/1.1 connection from the passthrough to a platform, and the answer read on it.

The bytes of a request are written as the exchange (proxy_upstream.py) gives them; the answer is parsed by
httptools (llhttp, the parser of Node.js and uvicorn) as it arrives. The answer's body is held up to
READ_AHEAD bytes: beyond that the connection stops reading until the caller has taken some.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import AsyncIterator, Callable

import httptools

#: The most answer bytes read ahead of the caller.
READ_AHEAD = 1 << 20


class PlatformError(Exception):
    """The platform could not be reached, or its answer broke off or was not HTTP."""


class Answer:
    """A platform's answer: status and headers once :meth:`head` returns, then its body, held in order."""

    def __init__(self, timeout: float) -> None:
        self.connection: PlatformConnection | None = None  # set once the request is on one
        self._timeout = timeout
        self.status = 0
        self.reason = ""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = False
        self.complete = False  # every byte of the body has come
        self.received = 0  # body bytes received so far
        self.error: BaseException | None = None
        self._reason = bytearray()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._held = 0
        #: Called instead of failing when the connection is lost before any of the answer came (a pooled one the
        #: platform may have just closed): sends the request again. Set only for an idempotent request.
        self.resend: Callable[[], None] | None = None
        self._head: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._more: asyncio.Future[None] | None = None

    async def head(self) -> Answer:
        """Wait (no longer than the timeout) until the status and headers have come."""
        if not self._head.done():
            async with asyncio.timeout(self._timeout or None):
                await self._head  # a timeout cancels it: what comes later is then let go
        self._head.result()
        return self

    def header(self, name: str) -> str | None:
        """The (first) value of header ``name`` (lower case), or None."""
        wanted = name.encode("latin-1")
        for key, value in self.raw_headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    @property
    def content_length(self) -> int | None:
        length = self.header("content-length")
        return int(length) if length is not None and length.isdigit() else None

    def at_eof(self) -> bool:
        """Whether the whole body has come and been read."""
        return self.complete and not self._chunks

    def read_nowait(self) -> bytes:
        """What has come of the body and was not read yet."""
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._held = 0
        if self.connection is not None:
            self.connection.resume_reading()
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk as it comes; raises PlatformError when it breaks off, TimeoutError when the
        platform sends nothing for the timeout while it is awaited."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._held -= len(chunk)
                if self._held <= READ_AHEAD // 2 and self.connection is not None:
                    self.connection.resume_reading()
                yield chunk
            elif self.complete:
                return
            elif self.error is not None:
                raise self.error
            else:
                self._more = asyncio.get_running_loop().create_future()
                async with asyncio.timeout(self._timeout or None):
                    await self._more

    def take_chunks(self) -> list[bytes]:
        """Every chunk held, in order (the caller reads the rest from the socket)."""
        chunks = list(self._chunks)
        self._chunks.clear()
        self._held = 0
        return chunks

    def when_headed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (soon) once the head has come, or the answer failed before it. A failure is then seen
        (asyncio would report one that nobody awaits as lost); :meth:`head` still raises it."""

        def headed(head: asyncio.Future[None]) -> None:
            if not head.cancelled():
                head.exception()
            callback()

        self._head.add_done_callback(headed)

    def fail(self, error: BaseException) -> None:
        """The answer cannot come (whole): who waits for it, or reads it, gets ``error``."""
        if self.complete or self.error is not None:
            return
        self.resend = None
        self.error = error
        if not self._head.done():
            self._head.set_exception(error)
        self._wake()

    # --- fed by the connection ---

    def _lost(self, error: PlatformError) -> None:
        resend, self.resend = self.resend, None
        if resend is not None and not (self.status or self._reason or self.raw_headers or self.complete):
            resend()
        else:
            self.fail(error)

    def _began(self, status: int, keep_alive: bool) -> None:
        self.status, self.reason, self.keep_alive = status, self._reason.decode("latin-1"), keep_alive
        if not self._head.done():
            self._head.set_result(None)

    def _body(self, data: bytes) -> bool:
        """Hold ``data``; whether the connection should stop reading."""
        self._chunks.append(data)
        self._held += len(data)
        self.received += len(data)
        self._wake()
        return self._held > READ_AHEAD

    def _ended(self) -> None:
        self.complete = True
        self._wake()

    def _wake(self) -> None:
        if self._more is not None and not self._more.done():
            self._more.set_result(None)



class PlatformConnection(asyncio.Protocol):
    """An open connection to a platform; at most one answer is read on it at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reading_paused = False
        self.answer: Answer | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._interim = False  # the answer being parsed is a 1xx one, to be skipped
        self._stray = False  # the platform sent more than the answer: the connection is not used again
        self._writable: asyncio.Future[None] | None = None

    # --- what the exchange uses ---

    def expect(self, answer: Answer | None) -> None:
        """The next answer on this connection is read into ``answer`` (None: nothing is asked)."""
        self.answer = answer

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def drained(self) -> asyncio.Future[None] | None:
        """Something to await while the platform is behind reading what was written; None when it is not."""
        return self._writable

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.transport.pause_reading()
            self.reading_paused = True

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()
            self.reading_paused = False

    def socket_fd(self) -> int | None:
        """The descriptor of a plain (not TLS) socket; None otherwise."""
        if self.transport is None or self.closed or self.transport.get_extra_info("ssl_object") is not None:
            return None
        sock = self.transport.get_extra_info("socket")
        return None if sock is None else int(sock.fileno())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    # --- asyncio ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.answer is None:  # nothing was asked: a platform talking out of turn is not trusted further
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(PlatformError(f"the platform's answer is not valid HTTP: {exc}"))
            self.close()
        if self._stray:
            self.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self.answer
        if answer is not None and answer.status and exc is None and self._reads_to_close(answer):
            answer._ended()  # a body without a declared length ends with the connection (closed, not reset)
        elif answer is not None and not self._stray:
            reason = f": {exc}" if exc else ""
            answer._lost(PlatformError(f"the platform closed the connection before its answer was whole{reason}"))
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # --- httptools ---

    @property
    def _reading(self) -> Answer | None:
        """The answer the bytes being parsed belong to; None for bytes nobody asked for."""
        return None if self._stray else self.answer

    def on_message_begin(self) -> None:
        answer = self.answer
        if answer is None or answer.complete or answer.error is not None:
            self._stray = True
            return
        answer._reason.clear()
        answer.raw_headers.clear()

    def on_status(self, status: bytes) -> None:
        if (answer := self._reading) is not None:
            answer._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if (answer := self._reading) is not None:
            answer.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._interim = 100 <= status < 200
        if (answer := self._reading) is not None and not self._interim:
            answer._began(status, self._parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        if (answer := self._reading) is not None and answer._body(body):
            self.pause_reading()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if (answer := self._reading) is not None:
            answer._ended()

    def _fail(self, error: PlatformError) -> None:
        if self.answer is not None:
            self.answer.fail(error)

    @staticmethod
    def _reads_to_close(answer: Answer) -> bool:
        return not answer.complete and answer.error is None and answer.content_length is None and (
            (answer.header("transfer-encoding") or "").lower() != "chunked")
