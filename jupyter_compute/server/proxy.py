"""The credential-injecting passthrough ``compute/proxy/{backend}/{path}``.

Only paths that stay under the backend's configured API base are forwarded. The check
works on the raw request path, refuses anything that could be decoded into a different
location (dot segments, encoded separators, double encoding, backslashes, schemes,
empty segments), then checks the built URL once more against the base.

Bodies stream both ways with bounded memory: the request body goes on as it arrives (after every check
has passed, and no faster than the platform takes it), the answer is relayed chunk by chunk — or, for a
large body of declared length, moved from socket to socket through one reused buffer (proxy_pump.py).
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from asyncio import Future
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.utils import url_path_join
from tornado import httputil, web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream, StreamClosedError
from yarl import URL

from ..backends.base import Backend
from ..errors import AuthError, BackendError, InvalidSpec, NotSupported
from . import proxy_pump
from .handlers import ComputeHandler
from .proxy_connection import Answer, PlatformError
from .proxy_upstream import Exchange

if TYPE_CHECKING:
    from .app import ComputeApp

# Percent-encodings of '.', '/', '\\' and '%' itself (double encoding), and of control characters.
_ENCODED_DANGER = re.compile(r"%(2e|2f|5c|25|[01][0-9a-f]|7f)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)

#: Request headers passed on to the platform; Jupyter's own credentials never are.
FORWARDED_REQUEST_HEADERS = ("accept", "accept-encoding", "content-type", "if-none-match", "if-modified-since", "range")
#: Methods the passthrough forwards.
PROXIED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: Methods whose request body is passed on.
BODY_METHODS = ("POST", "PUT", "PATCH")
#: The least body still to come for the rest to go by the pump (proxy_pump) rather than chunk by chunk.
PUMP_MIN_BYTES = 1 << 20
#: Response headers passed back to the caller.
FORWARDED_RESPONSE_HEADERS = (
    "content-type", "content-encoding", "content-disposition", "content-range",
    "cache-control", "etag", "last-modified", "accept-ranges",
)
_FORWARDED_RESPONSE_HEADER_SET = frozenset(FORWARDED_RESPONSE_HEADERS)


def _refuse(reason: str) -> InvalidSpec:
    return InvalidSpec(f"refused passthrough path: {reason}", field="path")


def _has_control_characters(decoded: str) -> bool:
    return "\\" in decoded or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded)


def _is_absolute_url(decoded: str) -> bool:
    return bool(_SCHEME.match(decoded)) or "://" in decoded


def _has_dot_segments(decoded: str) -> bool:
    return any(segment in (".", "..") for segment in decoded.split("/"))


def _has_empty_segments(decoded: str) -> bool:
    return "" in decoded.split("/")[:-1]


#: What a decoded passthrough path must not be, and the words for it.
_DECODED_REFUSALS: tuple[tuple[Callable[[str], bool], str], ...] = (
    (_has_control_characters, "backslashes and control characters are not allowed"),
    (lambda decoded: decoded.startswith("/"), "the path must be relative to the backend's API base"),
    (_is_absolute_url, "absolute URLs are not allowed"),
    (_has_dot_segments, "'.' and '..' segments are not allowed"),
    (_has_empty_segments, "empty path segments are not allowed"),
)


def check_relative_path(raw_path: str) -> str:
    """Validate a raw (still percent-encoded) path relative to the API base; return it."""
    if _ENCODED_DANGER.search(raw_path):
        raise _refuse("encoded '.', '/', '\\', '%' or control characters are not allowed")
    decoded = unquote(raw_path)
    for refused, reason in _DECODED_REFUSALS:
        if refused(decoded):
            raise _refuse(reason)
    return raw_path


#: What a target's path and query may hold as they are; anything else is percent-encoded.
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


@functools.lru_cache(maxsize=64)
def _parsed_base(api_base: str) -> tuple[URL, str, str]:
    """A backend's API base, parsed; the start of every target under it (ending in '/'); its path decoded."""
    base = URL(api_base)
    path = base.raw_path.rstrip("/")
    return base, f"{base.scheme}://{base.raw_authority.rpartition('@')[2]}{path}/", unquote(path) + "/"


def _as_sent(text: str) -> str:
    return text if text.isascii() and text.isprintable() else quote(text, safe=_PRINTABLE_ASCII)


def build_target(api_base: str, raw_path: str, query: str) -> URL:
    """The platform URL for a passthrough request, guaranteed to stay under ``api_base``."""
    check_relative_path(raw_path)
    base, start, base_path = _parsed_base(api_base)
    text = start + _as_sent(raw_path)
    if query:
        text += "?" + _as_sent(query)
    target = URL(text, encoded=True)
    if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
        raise _refuse("the target leaves the backend's host")
    if not target.path.startswith(base_path):
        raise _refuse("the target leaves the backend's API base")
    return target


@functools.lru_cache(maxsize=8)
def _path_start(base_url: str) -> int:
    """Where ``{backend}/{path}`` starts in a passthrough request's path."""
    return len(url_path_join(base_url, "compute/proxy/"))


def max_body_size(app: ComputeApp) -> int:
    """The largest request body the passthrough takes (``ComputeApp.proxy_max_body_size``, 0: no limit)."""
    return app.proxy_max_body_size if app.proxy_max_body_size > 0 else sys.maxsize


def _declares_body(headers: httputil.HTTPHeaders) -> bool:
    return "Transfer-Encoding" in headers or headers.get("Content-Length", "0") != "0"


@web.stream_request_body
class ProxyHandler(ComputeHandler):
    """Forwards a request to the backend's own API with its credentials added, streaming both ways.

    Everything that can refuse the request (Jupyter's login and authorisation, the backend, the path)
    runs in ``prepare``, before the first byte goes to the platform; the body then flows as it arrives.
    """

    _exchange: Exchange | None = None
    _pump: proxy_pump.Pump | None = None
    _cookies_to_sign: list[Callable[[], None]] | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        self._cookies_to_sign = []
        await super().prepare()
        if self.request.method not in PROXIED_METHODS:
            return  # tornado answers 405
        await self._authorize()
        backend_name = self.path_kwargs["backend"]
        backend = self.service.backend(backend_name)
        target = self._target(backend, backend_name)
        headers = {k: v for k, v in self.request.headers.items() if k.lower() in FORWARDED_REQUEST_HEADERS}
        headers.update(await backend.auth_headers())
        client = self.compute.proxy_client
        method = self.request.method or "GET"
        if method in BODY_METHODS and _declares_body(self.request.headers):
            if "Content-Length" in self.request.headers:
                headers["Content-Length"] = self.request.headers["Content-Length"]
            self.request.connection.set_max_body_size(max_body_size(self.compute))  # type: ignore[union-attr]
            self._exchange = client.exchange(method, target, headers, streams_body=True)
        else:
            self._exchange = client.exchange(method, target, headers, b"" if method in BODY_METHODS else None)

    async def _authorize(self) -> None:
        """What ``@web.authenticated`` and ``@authorized`` check, done before the body is read."""
        user = self.current_user
        if not user:
            raise web.HTTPError(403)
        action = HTTP_METHOD_TO_AUTH_ACTION[self.request.method or "GET"]
        allowed = self.authorizer.is_authorized(self, user, action, self.auth_resource)
        if not (await allowed if inspect.isawaitable(allowed) else allowed):
            raise web.HTTPError(403, log_message=f"User is not authorized to {action} on resource: "
                                                 f"{self.auth_resource}.")

    def set_signed_cookie(self, name: str, value: str | bytes, expires_days: float | None = 30,
                          version: int | None = None, **kwargs: Any) -> None:
        """Sign a cookie set while ``prepare`` runs (Jupyter's login cookie, on a request that came with a token)
        only once the request has gone on to the platform: the answer carries it all the same, and the request
        does not wait for the signature."""
        sign = functools.partial(super().set_signed_cookie, name, value, expires_days, version, **kwargs)
        if self._cookies_to_sign is None:
            sign()
        else:
            self._cookies_to_sign.append(sign)

    set_secure_cookie = set_signed_cookie  # the name Jupyter calls

    def _sign_cookies(self) -> None:
        signs, self._cookies_to_sign = self._cookies_to_sign or [], None
        for sign in signs:
            sign()

    def flush(self, include_footers: bool = False) -> Future[None]:
        self._sign_cookies()  # an answer refused in prepare carries the cookie too
        return super().flush(include_footers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self._exchange.feed(chunk) if self._exchange is not None else None

    def compute_etag(self) -> None:
        """No ETag of ours: the platform's own (forwarded) is the only one, and hashing would hold the loop."""
        return None

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._pump is not None:
            self._pump.stop(StreamClosedError())
        if self._exchange is not None:
            self._exchange.close(clean=False)

    def on_finish(self) -> None:
        if self._exchange is not None:
            self._exchange.close()

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, StreamClosedError):  # the caller left (mid-body or mid-answer): no one to answer
            self.log.debug("%s %s: the caller closed the connection", self.request.method, self.request.path)
            return
        super()._handle_request_exception(e)

    async def _forward(self, backend_name: str) -> None:
        assert self._exchange is not None, "prepare opened the exchange"
        self._sign_cookies()  # the request is on its way (written in prepare, or its connection is opening)
        try:
            upstream = await self._exchange.response()
            self._answer_head(upstream)
            if upstream.complete:  # a short answer, whole already
                self.write(upstream.read_nowait())
            elif not await self._pump_body():
                await self._relay(upstream)
        except (PlatformError, TimeoutError) as exc:
            self._exchange.close(clean=False)
            if self._headers_written:  # an answer cut short must not end like a whole one
                self.log.warning("%s %s: the platform's answer broke off: %s", self.request.method,
                                 self.request.path, type(exc).__name__)
                self.request.connection.close()  # type: ignore[union-attr]
                return
            raise BackendError(
                f"the backend's API did not answer: {type(exc).__name__}: {exc}", backend=backend_name
            ) from None
        except StreamClosedError:
            self._exchange.close(clean=False)
            self.request.connection.close()  # type: ignore[union-attr]
            return
        self.finish(set_content_type=upstream.header("content-type") or "application/octet-stream")

    def _answer_head(self, upstream: Answer) -> None:
        """Copy the platform's status and chosen headers to our answer."""
        self.set_status(upstream.status, reason=upstream.reason or "Upstream")
        for name, value in upstream.raw_headers:
            lowered = name.decode("latin-1").lower()
            if lowered in _FORWARDED_RESPONSE_HEADER_SET:
                self.set_header(lowered, value.decode("latin-1"))
        length = upstream.header("content-length")
        if length is not None and upstream.status not in (204, 304):
            self.set_header("Content-Length", length)  # the raw bytes: not chunked

    async def _pump_body(self) -> bool:
        """Send the rest of a large body of declared length by the pump (see proxy_pump), when this system,
        both connections (plain HTTP/1.1 sockets) and our answer (no output transform) allow it. The
        connection to the platform is then closed at the end; the caller's stays open for its next request."""
        connection = self._plain_connection()
        taken = self._exchange.take_body(PUMP_MIN_BYTES) if connection and self._exchange else None
        if connection is None or taken is None:
            return False
        read, source, left = taken
        for data in read:
            self.write(data)
        await self.flush()  # our head and what the client had read go first, through tornado
        self._pump = proxy_pump.Pump(source, connection.stream.socket.fileno(), left,
                                       self.compute.proxy_client.timeout)
        await self._pump.run()
        # sent past tornado, which counts what it is given against the Content-Length
        if connection._expected_content_remaining is not None:
            connection._expected_content_remaining -= left
        return True

    def _plain_connection(self) -> HTTP1Connection | None:
        """The caller's connection when the answer's bytes go on it as they are: a plain socket, HTTP/1.x, a
        declared length, no output transform (compression); else None."""
        connection = self.request.connection
        if (not proxy_pump.AVAILABLE or self._transforms or "Content-Length" not in self._headers
                or not isinstance(connection, HTTP1Connection) or type(connection.stream) is not IOStream
                or not hasattr(connection, "_expected_content_remaining")):
            return None
        return connection

    async def _relay(self, upstream: Answer) -> None:
        """Copy the platform's body to our answer as it comes. A chunk is sent while the next one is read,
        and waits for the one before it, so at most two are held; the last goes out with the end of the answer."""
        sending: Awaitable[None] | None = None
        async for chunk in upstream.chunks():
            if sending is not None:
                await sending
            self.write(chunk)
            sending = None if upstream.at_eof() else self.flush()
        if sending is not None:
            await sending

    def _target(self, backend: Backend, backend_name: str) -> URL:
        """The platform URL this request goes to; refused when the backend or the path does not allow it."""
        if not backend.capabilities.can_proxy or not backend.api_base:
            raise NotSupported(f"backend '{backend_name}' has no API to pass through to", backend=backend_name)
        raw_path = self.request.path[_path_start(self.base_url):].partition("/")[2]
        target = build_target(backend.api_base, raw_path, self.request.query)
        refusal = backend.proxy_refusal(unquote(raw_path))
        if refusal:
            raise AuthError(f"the passthrough of backend '{backend_name}' does not forward this path: {refusal}",
                            backend=backend_name)
        return target

    async def get(self, backend: str, path: str) -> None:  # login and authorisation: checked in prepare
        await self._forward(backend)

    async def post(self, backend: str, path: str) -> None:  # login and authorisation: checked in prepare
        await self._forward(backend)

    async def put(self, backend: str, path: str) -> None:  # login and authorisation: checked in prepare
        await self._forward(backend)

    async def patch(self, backend: str, path: str) -> None:  # login and authorisation: checked in prepare
        await self._forward(backend)

    async def delete(self, backend: str, path: str) -> None:  # login and authorisation: checked in prepare
        await self._forward(backend)
