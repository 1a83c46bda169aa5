"""One result's bytes as a readable stream over HTTP, for the readers of :mod:`results`.

httpx's pure-Python HTTP/1.1 parser costs about three times the CPU of urllib3's for a large
body (measured: 0.5–0.9 s against 0.1–0.3 s for 300 MB on loopback), and that CPU competes
with the parser that turns the bytes into a frame; so result bodies are read with urllib3,
the rest of the client keeps httpx.
"""

from __future__ import annotations

import io
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import urllib3

from .errors import ComputeError

_SCHEMES = ("http", "https")
#: Bytes asked of the socket at a time.
READ_SIZE = 1024 * 1024


class Downloads:
    """A connection pool for result bodies; ``open`` starts one GET and answers its response."""

    def __init__(self, timeout: float, retries: int) -> None:
        # Connection failures are retried with backoff (GET is idempotent); answers are not.
        retry = urllib3.Retry(
            total=retries, connect=retries, read=0, status=0, redirect=0, backoff_factor=0.25, raise_on_status=False
        )
        # The certificates httpx trusts for the rest of the client (certifi's, or SSL_CERT_FILE / SSL_CERT_DIR).
        options: dict[str, Any] = {
            "timeout": urllib3.Timeout(connect=timeout, read=timeout),
            "retries": retry,
            "ssl_context": httpx.create_ssl_context(),
        }
        self._pool = urllib3.PoolManager(**options)
        # As httpx does for the rest of the client: the proxy the environment names, unless NO_PROXY exempts the host.
        proxies = urllib.request.getproxies()
        self._proxies: dict[str, urllib3.PoolManager] = {
            scheme: _proxy_manager(proxies[scheme], options) for scheme in _SCHEMES if scheme in proxies
        }

    def open(self, url: str, headers: Mapping[str, str]) -> urllib3.BaseHTTPResponse:
        """The answer to ``GET url``, its body not read yet."""
        return self._pool_for(url).request("GET", url, headers=dict(headers), preload_content=False)

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        parts = urllib.parse.urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        return proxy if proxy is not None and not urllib.request.proxy_bypass(parts.hostname or "") else self._pool

    def close(self) -> None:
        """Close the pooled connections."""
        for pool in (self._pool, *self._proxies.values()):
            pool.clear()


def _proxy_manager(url: str, options: dict[str, Any]) -> urllib3.ProxyManager:
    """A pool reaching servers through the HTTP(S) proxy at ``url``, which may hold ``user:password@``
    (sent as Basic ``Proxy-Authorization``, as httpx does). Raises :class:`ComputeError` for a proxy
    URL it cannot use; the message never holds the credentials."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    where = _location(parts)
    if parts.scheme not in _SCHEMES:
        raise ComputeError(
            f"cannot download results through the proxy {where}: only http:// and https:// proxies are supported "
            "(set NO_PROXY to the Jupyter server's host to reach it directly)"
        )
    headers = {}
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers = urllib3.make_headers(proxy_basic_auth=credentials)
    proxy_ssl = {"proxy_ssl_context": options["ssl_context"]} if parts.scheme == "https" else {}
    return urllib3.ProxyManager(where, proxy_headers=headers, **proxy_ssl, **options)


def _location(parts: urllib.parse.SplitResult) -> str:
    """``scheme://host[:port]`` of a proxy URL, without its credentials."""
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host:
        raise ComputeError("the proxy URL in HTTP_PROXY / HTTPS_PROXY is not a valid URL (no host, or a bad port)")
    where = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"
    return f"{where}:{port}" if port else where


class ResponseStream(io.RawIOBase):
    """The body of an answer as an unseekable binary stream; ``on_read(n)`` is told of every read.

    Closing it before the end drops the connection, so the server stops sending.
    """

    def __init__(
        self, response: urllib3.BaseHTTPResponse, what: str, on_read: Callable[[int], Any] | None = None
    ) -> None:
        self._response = response
        self._what = what
        self._on_read = on_read
        self.bytes_read = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            count = self._response.readinto(buffer)
        except urllib3.exceptions.HTTPError as exc:
            raise ComputeError(f"the download of {self._what} broke off: {exc}") from None
        self._ended = count == 0
        self.bytes_read += count
        if self._on_read is not None and count:
            self._on_read(count)
        return count

    def close(self) -> None:
        if not self.closed:
            if self._ended:
                self._response.release_conn()
            else:
                self._response.close()
        super().close()


def buffered(stream: ResponseStream) -> io.BufferedReader:
    """``stream`` with a read buffer of :data:`READ_SIZE` (what parsers read from)."""
    return io.BufferedReader(stream, READ_SIZE)
