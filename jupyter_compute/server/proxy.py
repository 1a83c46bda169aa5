"""The credential-injecting passthrough ``compute/proxy/{backend}/{path}``.

Only paths that stay under the backend's configured API base are forwarded. The check
works on the raw request path, refuses anything that could be decoded into a different
location (dot segments, encoded separators, double encoding, backslashes, schemes,
empty segments), then checks the built URL once more against the base.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

import httpx
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError

from ..backends.base import Backend
from ..errors import AuthError, BackendError, InvalidSpec, NotSupported, Unavailable
from .handlers import ComputeHandler

# Percent-encodings of '.', '/', '\\' and '%' itself (double encoding), and of control characters.
_ENCODED_DANGER = re.compile(r"%(2e|2f|5c|25|[01][0-9a-f]|7f)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)

#: Request headers passed on to the platform; Jupyter's own credentials never are.
FORWARDED_REQUEST_HEADERS = ("accept", "accept-encoding", "content-type", "if-none-match", "if-modified-since", "range")
#: Response headers passed back to the caller.
FORWARDED_RESPONSE_HEADERS = (
    "content-type", "content-encoding", "content-disposition", "content-range",
    "cache-control", "etag", "last-modified", "accept-ranges",
)


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


def build_target(api_base: str, raw_path: str, query: str) -> httpx.URL:
    """The platform URL for a passthrough request, guaranteed to stay under ``api_base``."""
    check_relative_path(raw_path)
    base = httpx.URL(api_base)
    base_path = base.raw_path.decode("ascii").split("?")[0].rstrip("/")
    target = httpx.URL(f"{base.scheme}://{base.netloc.decode('ascii')}{base_path}/{raw_path}")
    if query:
        target = target.copy_with(query=query.encode("ascii"))
    if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
        raise _refuse("the target leaves the backend's host")
    if not unquote(target.path).startswith(unquote(base_path) + "/"):
        raise _refuse("the target leaves the backend's API base")
    return target


class ProxyHandler(ComputeHandler):
    """Forwards a request to the backend's own API with its credentials added, streaming back."""

    async def _forward(self, backend_name: str) -> None:
        backend = self.service.backend(backend_name)
        target = self._target(backend, backend_name)
        headers = {k: v for k, v in self.request.headers.items() if k.lower() in FORWARDED_REQUEST_HEADERS}
        headers.update(await backend.auth_headers())
        body = self.request.body if self.request.method not in ("GET", "HEAD", "DELETE") else None
        client = self.compute.proxy_client
        if client is None:
            raise Unavailable("the passthrough opens as the server finishes starting: try again in a moment")
        try:
            async with client.stream(self.request.method, target, headers=headers,
                                                        content=body) as upstream:
                content_type = await self._relay(upstream)
        except httpx.HTTPError as exc:
            raise BackendError(
                f"the backend's API did not answer: {type(exc).__name__}: {exc}", backend=backend_name
            ) from None
        except StreamClosedError:
            return
        self.finish(set_content_type=content_type)

    def _target(self, backend: Backend, backend_name: str) -> httpx.URL:
        """The platform URL this request goes to; refused when the backend or the path does not allow it."""
        if not backend.capabilities.can_proxy or not backend.api_base:
            raise NotSupported(f"backend '{backend_name}' has no API to pass through to", backend=backend_name)
        prefix = url_path_join(self.base_url, "compute/proxy/")
        raw_path = self.request.path[len(prefix):].partition("/")[2]
        target = build_target(backend.api_base, raw_path, self.request.query)
        refusal = backend.proxy_refusal(unquote(raw_path))
        if refusal:
            raise AuthError(f"the passthrough of backend '{backend_name}' does not forward this path: {refusal}",
                            backend=backend_name)
        return target

    async def _relay(self, upstream: httpx.Response) -> str:
        """Copy the platform's status, chosen headers and body to our answer; its content type."""
        self.set_status(upstream.status_code, reason=upstream.reason_phrase or "Upstream")
        for name in FORWARDED_RESPONSE_HEADERS:
            if name in upstream.headers:
                self.set_header(name, upstream.headers[name])
        async for chunk in upstream.aiter_raw():
            self.write(chunk)
            await self.flush()
        return str(upstream.headers.get("content-type", "application/octet-stream"))

    @web.authenticated
    @authorized
    async def get(self, backend: str, path: str) -> None:
        await self._forward(backend)

    @web.authenticated
    @authorized
    async def post(self, backend: str, path: str) -> None:
        await self._forward(backend)

    @web.authenticated
    @authorized
    async def put(self, backend: str, path: str) -> None:
        await self._forward(backend)

    @web.authenticated
    @authorized
    async def patch(self, backend: str, path: str) -> None:
        await self._forward(backend)

    @web.authenticated
    @authorized
    async def delete(self, backend: str, path: str) -> None:
        await self._forward(backend)
