"""One result's bytes as a readable stream over HTTP, for the readers of :mod:`results`.

httpx's pure-Python HTTP/1.1 parser costs about three times the CPU of urllib3's for a large
body (measured: 0.5–0.9 s against 0.1–0.3 s for 300 MB on loopback), and that CPU competes
with the parser that turns the bytes into a frame; so result bodies are read with urllib3,
the rest of the client keeps httpx.

A result that is a file on this very machine (a ``local`` job's output) is read from the file itself:
the request asks for it (``X-Compute-Local-File: 1``), the server names the file and its identity
(device, inode, size, modification time) instead of sending it, and the file is read only if this
process opens that very file; otherwise, or with ``JUPYTER_COMPUTE_LOCAL_RESULTS=0``, the bytes come
over HTTP.
"""

from __future__ import annotations

import io
import os
import stat
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import urllib3

from .errors import ComputeError
from .models import LOCAL_FILE_HEADER

_SCHEMES = ("http", "https")
#: Bytes asked of the socket at a time.
READ_SIZE = 1024 * 1024
#: Set to ``0`` to read results over HTTP even when their file is on this machine.
LOCAL_RESULTS_ENV = "JUPYTER_COMPUTE_LOCAL_RESULTS"


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

        #: Whether the server's files may be on this machine (False once one was not).
        self._same_host = True

    def open(self, url: str, headers: Mapping[str, str]) -> urllib3.BaseHTTPResponse:
        """The answer to ``GET url``, its body not read yet: the result's own file when it is on this machine."""
        if self._same_host and os.environ.get(LOCAL_RESULTS_ENV, "1") != "0":
            response = self._get(url, {**headers, LOCAL_FILE_HEADER: "1"})
            named = response.headers.get(LOCAL_FILE_HEADER) if response.status == 204 else None
            if named is None:
                return response
            response.release_conn()
            local = _open_local_file(named)
            if local is not None:
                media_type = response.headers.get("content-type")
                return LocalFileResponse(local, {"Content-Type": media_type} if media_type else {})
            self._same_host = False
        return self._get(url, headers)

    def _get(self, url: str, headers: Mapping[str, str]) -> urllib3.BaseHTTPResponse:
        return self._pool_for(url).request("GET", url, headers=dict(headers), preload_content=False)

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        parts = urllib.parse.urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        return proxy if proxy is not None and not urllib.request.proxy_bypass(parts.hostname or "") else self._pool

    def close(self) -> None:
        """Close the pooled connections."""
        for pool in (self._pool, *self._proxies.values()):
            pool.clear()


class LocalFileResponse(urllib3.BaseHTTPResponse):
    """A result's file on this machine, as the answer whose body it is (``200 OK``)."""

    def __init__(self, file: io.BufferedReader, headers: Mapping[str, str]) -> None:
        super().__init__(
            headers=headers, status=200, version=11, version_string="HTTP/1.1", reason="OK", decode_content=False,
            request_url=None,
        )  # fmt: skip
        self.file = file
        self.size = os.fstat(file.fileno()).st_size

    def read(self, amt: int | None = None, decode_content: bool | None = None, cache_content: bool = False) -> bytes:
        return self.file.read(amt)

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        return self.file.read1(-1 if amt is None else amt)

    def readinto(self, b: Any) -> int:
        return self.file.readinto(b)

    def release_conn(self) -> None:
        self.file.close()

    def drain_conn(self) -> None:
        self.file.close()

    def close(self) -> None:
        self.file.close()


def _open_local_file(named: str) -> io.BufferedReader | None:
    """The file the server named (``path=…; dev=…; ino=…; size=…; mtime_ns=…``), opened, if it is that very
    file on this machine; None when it cannot be opened here or is another file."""
    facts = dict(part.strip().partition("=")[::2] for part in named.split(";"))
    path = urllib.parse.unquote(facts.pop("path", ""))
    try:
        wanted = {key: int(facts[key]) for key in ("dev", "ino", "size", "mtime_ns")}
    except (KeyError, ValueError):
        return None
    if not os.path.isabs(path):
        return None
    try:  # not blocking: what has that name here may be a FIFO, which would wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    found = os.fstat(fd)
    same = {"dev": found.st_dev, "ino": found.st_ino, "size": found.st_size, "mtime_ns": found.st_mtime_ns}
    if not stat.S_ISREG(found.st_mode) or wanted != same:
        os.close(fd)
        return None
    os.set_blocking(fd, True)
    return open(path, "rb", opener=lambda _path, _flags: fd)  # LocalFileResponse closes it


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
        # A local file is read where the reader seeks (Parquet: its columns); the bar counts up to its size.
        self._file = response.file if isinstance(response, LocalFileResponse) else None
        self._to_report = response.size if isinstance(response, LocalFileResponse) else None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._file is not None

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._file is None:
            raise io.UnsupportedOperation("a download cannot seek")
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell() if self._file is not None else self.bytes_read

    @property
    def local_path(self) -> str | None:
        """A path to the result's file on this machine, for readers that open it themselves (then call
        :meth:`mark_read`); None for a download. On Linux the path of the file opened here, so that it is
        the very file checked, not whatever has its name now."""
        if self._file is None:
            return None
        by_descriptor = f"/proc/self/fd/{self._file.fileno()}"
        return by_descriptor if os.path.exists(by_descriptor) else str(self._file.name)

    def mark_read(self) -> None:
        """The reader has read the file by its :attr:`local_path`: the bar shows it all read."""
        if self._to_report:
            self._report(self._to_report)

    def readinto(self, buffer: Any) -> int:
        try:
            count = self._response.readinto(buffer)
        except urllib3.exceptions.HTTPError as exc:
            raise ComputeError(f"the download of {self._what} broke off: {exc}") from None
        self._ended = count == 0
        self.bytes_read += count
        if self._on_read is not None and count:
            self._report(count)
        return count

    def _report(self, count: int) -> None:
        if self._to_report is not None:
            count = min(count, self._to_report)
            self._to_report -= count
        if count and self._on_read is not None:
            self._on_read(count)

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
