"""Where MAAP puts a job's products, and how their bytes are streamed through the server.

MAAP names a product by URL: an ``http(s)://`` download link, or an S3 URL in one of two styles,
``s3://<bucket>/<key>`` or the DPS's own ``s3://s3.amazonaws.com:80/<bucket>/<key>`` (the host and
port written where the bucket belongs). Both S3 styles are read with s3fs (in a worker thread)
against the configured endpoint; http links are streamed with the backend's httpx client. The
MAAP token is only ever sent to the MAAP API's own origin, never to a product host, and never
across a redirect that leaves that origin.

A product link may name a folder: ``list_http_folder`` reads its files from the folder's HTML index
page(s) (relative links, as static file servers list a folder), ``S3Reader.list_folder`` from S3.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import mimetypes
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from ...errors import AuthError, BackendError, InvalidSpec, NotFound
from .._fsspec import s3_filesystem

CHUNK_SIZE = 64 * 1024
MAX_REDIRECTS = 5
#: Limits of listing an http product folder from its index pages.
MAX_INDEX_BYTES = 4 * 1024 * 1024
MAX_FOLDER_DEPTH = 8
MAX_FOLDER_FILES = 10_000
_HREF = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
#: The DPS writes S3 URLs with an endpoint host (and port) where the bucket belongs.
_S3_HOST = re.compile(r"^(s3([.-][a-z0-9-]+)*\.amazonaws\.com|[^/]*:\d+)$", re.IGNORECASE)
#: Media types mimetypes does not know for common product files.
MEDIA_TYPES: dict[str, str] = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".parquet": "application/vnd.apache.parquet",
    ".jsonl": "application/x-ndjson",
    ".geojson": "application/geo+json",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".nc": "application/x-netcdf",
    ".h5": "application/x-hdf5",
    ".log": "text/plain",
}
LOG_SUFFIXES = (".log", "_stderr.txt", "_stdout.txt")


def media_type(name: str) -> str | None:
    suffix = PurePosixPath(name).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0]


def is_log(name: str) -> bool:
    return name.lower().endswith(LOG_SUFFIXES)


def s3_path(url: str) -> str:
    """``bucket/key`` of an S3 URL in either style; InvalidSpec if it names no object."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise InvalidSpec(f"not an S3 URL: {url}", field="name")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if _S3_HOST.match(parts.netloc):
        bucket, keys = (segments[0], segments[1:]) if segments else ("", [])
    else:
        bucket, keys = unquote(parts.netloc), segments
    if not bucket or not keys:
        raise InvalidSpec(f"the S3 URL names no object: {url}", field="name")
    return "/".join([bucket, *keys])


def file_name(url: str) -> str:
    """The file name a product URL ends with (its last path segment)."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        with_bucket = parts.path if _S3_HOST.match(parts.netloc) else f"/{parts.netloc}{parts.path}"
        path = with_bucket
    else:
        path = parts.path
    return unquote(path.rstrip("/").rsplit("/", 1)[-1]) or parts.netloc


def same_origin(url: str, base: str) -> bool:
    a, b = httpx.URL(url), httpx.URL(base)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


@dataclass
class ProductIndex:
    """A job's result names → the URLs each can be read from (tried in order; the first that works wins).

    Links of one product that end in the same file name are the same object served two ways (an
    https link and an S3 URL); a file name seen again in another product or step is another file,
    and gets that product's prefix (then a number) to keep the names unique.
    """

    urls: dict[str, list[str]] = field(default_factory=dict)

    def add(self, links: Iterable[str], *, prefix: str = "") -> list[str]:
        groups: dict[str, list[str]] = {}
        for url in links:
            if isinstance(url, str) and url:
                groups.setdefault(file_name(url), []).append(url)
        names = []
        for base, sources in groups.items():
            name, n = base, 1
            if name in self.urls:
                name = f"{prefix}{base}"
            while name in self.urls:
                n += 1
                stem, suffix = PurePosixPath(base).stem, PurePosixPath(base).suffix
                name = f"{prefix}{stem}-{n}{suffix}"
            self.urls[name] = sources
            names.append(name)
        return names

    def put(self, name: str, sources: list[str]) -> str:
        """One file under its own name (a number added when taken); returns the name used."""
        unique, n = name, 1
        parent, stem, suffix = PurePosixPath(name).parent, PurePosixPath(name).stem, PurePosixPath(name).suffix
        while unique in self.urls:
            n += 1
            unique = str(parent / f"{stem}-{n}{suffix}") if str(parent) != "." else f"{stem}-{n}{suffix}"
        self.urls[unique] = sources
        return unique


def may_be_folder(url: str) -> bool:
    """Whether a product URL may name a folder: it ends with ``/`` or its name has no known file type."""
    return url.endswith("/") or media_type(file_name(url)) is None


def _relative_links(page: str) -> list[str]:
    """The relative links of an index page (no parent, no absolute, no query links)."""
    found = []
    for href in _HREF.findall(page):
        href = html.unescape(href).split("#", 1)[0]
        if not href or href.startswith(("/", "?", ".", "#")) or urlsplit(href).scheme or href in found:
            continue
        found.append(href)
    return found


class S3Reader:
    """Streams ``s3://`` objects with s3fs against one endpoint (blocking calls in worker threads)."""

    #: botocore client options of the store (none: botocore's defaults).
    client_config: Mapping[str, Any] = {}

    def __init__(self, endpoint_url: str | None, key: str | None, secret: str | None) -> None:
        self.endpoint_url = endpoint_url
        self._key, self._secret = key, secret
        self._fs: Any = None

    def _filesystem(self) -> Any:
        if self._fs is None:
            self._fs = s3_filesystem(self.endpoint_url, self._key, self._secret, config=self.client_config)
        return self._fs

    def _open(self, path: str) -> Any:
        fs = self._filesystem()
        fs.invalidate_cache(path)  # a listing of the products folder must not fix an old size
        try:
            return fs.open(path, "rb", block_size=CHUNK_SIZE * 16)
        except FileNotFoundError:
            raise NotFound(f"the product s3://{path} does not exist (any more)", field="name") from None
        except PermissionError as exc:
            raise AuthError(f"the S3 store refused to read s3://{path}: {exc}") from None
        except OSError as exc:
            raise BackendError(f"cannot read s3://{path}: {exc}") from None

    async def stream(self, url: str) -> AsyncIterator[bytes]:
        path = s3_path(url)
        handle = await asyncio.to_thread(self._open, path)
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    def list_folder(self, url: str) -> list[str]:
        """The object URLs under an S3 "folder" URL (blocking; run in a thread)."""
        path = s3_path(url).rstrip("/")
        try:
            found = self._filesystem().find(path)
        except (FileNotFoundError, PermissionError):
            return []
        return [f"s3://{p}" for p in sorted(found)]


@contextlib.asynccontextmanager
async def _followed(
    client: httpx.AsyncClient, url: str, *, api_base: str, auth: Mapping[str, str], timeout: httpx.Timeout,
    accept: str | None, doing: str,
) -> AsyncIterator[tuple[str, httpx.Response]]:
    """The streamed answer to ``GET url`` and its final URL, redirects followed by hand so ``auth`` is sent to
    ``api_base``'s origin only; ``doing`` words a failure ("list", "download"). Closed on leaving."""
    for _ in range(MAX_REDIRECTS + 1):
        headers = {**({"Accept": accept} if accept else {}), **(auth if same_origin(url, api_base) else {})}
        request = client.build_request("GET", url, headers=headers, timeout=timeout)
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot {doing} {file_name(url)}: {type(exc).__name__}: {exc}") from None
        try:
            if not (response.is_redirect and "location" in response.headers):
                yield url, response
                return
            url = urljoin(url, response.headers["location"])
        finally:
            await response.aclose()
    raise BackendError(f"too many redirects {doing}ing {file_name(url)}")


async def _get_page(client: httpx.AsyncClient, url: str, *, api_base: str, auth: Mapping[str, str],
                    timeout: httpx.Timeout) -> tuple[str, str] | None:
    """(final URL, text) of an HTML page, or None when ``url`` answers something else (a file)."""
    async with _followed(client, url, api_base=api_base, auth=auth, timeout=timeout, accept="text/html",
                         doing="list") as (url, response):
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.status_code >= 400 or kind != "text/html":
            return None
        body = b""
        async for chunk in response.aiter_bytes(CHUNK_SIZE):
            body += chunk
            if len(body) > MAX_INDEX_BYTES:
                raise BackendError(f"the index page of {file_name(url)} is too large to list")
        return url, body.decode(response.encoding or "utf-8", errors="replace")
    return None  # unreachable: _followed yields or raises


async def list_http_folder(client: httpx.AsyncClient, url: str, *, api_base: str, auth: Mapping[str, str],
                           timeout: httpx.Timeout) -> dict[str, str] | None:
    """The files of an http product folder from its index page(s): {relative path: URL}.

    None when ``url`` is not a folder (it answers a file, not an HTML index). Sub-folders (links
    ending in ``/``) are listed too, up to ``MAX_FOLDER_DEPTH`` levels and ``MAX_FOLDER_FILES`` files.
    """
    first = await _get_page(client, url, api_base=api_base, auth=auth, timeout=timeout)
    if first is None:
        return None
    files: dict[str, str] = {}
    pending = [("", first, 0)]
    while pending:
        prefix, (base, page), depth = pending.pop(0)
        base = base if base.endswith("/") else base + "/"
        for link in _relative_links(page):
            target, rel = urljoin(base, link), prefix + unquote(link)
            if not link.endswith("/"):
                files[rel] = target
            elif depth + 1 < MAX_FOLDER_DEPTH:
                sub = await _get_page(client, target, api_base=api_base, auth=auth, timeout=timeout)
                if sub is not None:
                    pending.append((rel, sub, depth + 1))
            if len(files) >= MAX_FOLDER_FILES:
                raise BackendError(f"the product folder {file_name(url)} holds more than {MAX_FOLDER_FILES} files")
    return files


async def stream_http(
    client: httpx.AsyncClient,
    url: str,
    *,
    api_base: str,
    auth: Mapping[str, str],
    timeout: httpx.Timeout,
) -> AsyncIterator[bytes]:
    """GET ``url`` chunk by chunk, following redirects by hand so ``auth`` stays on ``api_base``'s origin."""
    async with _followed(client, url, api_base=api_base, auth=auth, timeout=timeout, accept=None,
                         doing="download") as (url, response):
        _raise_for_product_status(url, response.status_code)
        try:
            async for chunk in response.aiter_bytes(CHUNK_SIZE):
                yield chunk
        except httpx.HTTPError as exc:
            raise BackendError(f"the download of {file_name(url)} broke off: {exc}") from None


def _raise_for_product_status(url: str, status: int) -> None:
    if status == 404:
        raise NotFound(f"the product {file_name(url)} does not exist (any more)", field="name")
    if status in (401, 403):
        raise AuthError(f"the product host refused to serve {file_name(url)} (HTTP {status})")
    if status >= 400:
        raise BackendError(f"downloading {file_name(url)} failed: HTTP {status}", status=status)

