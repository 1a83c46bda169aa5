"""What every remote backend shares about HTTP: its one client, the retry policy, JSON answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from ..errors import BackendError

#: Idempotent GETs are tried this often, with exponential backoff from RETRY_BACKOFF_S.
GET_ATTEMPTS = 3
RETRY_BACKOFF_S = 0.25
RETRY_STATUSES = frozenset({502, 503, 504})
#: ``decode_json(empty=...)`` not given: an empty body is "not JSON" like any other.
_NOT_GIVEN: Any = object()


class ClientMixin:
    """The one ``httpx.AsyncClient`` of a remote backend (JSON accepted, the backend's ``timeout``).

    Opened by ``start`` or on first use, closed by ``close``; put it before ``Backend`` in the bases.
    """

    timeout: httpx.Timeout
    _http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the HTTP client, off the event loop."""
        await self._client()

    async def close(self) -> None:
        """Close the HTTP client (a later call opens a new one)."""
        client, self._http = self._http, None
        if client is not None:
            await client.aclose()

    async def _client(self) -> httpx.AsyncClient:
        """The client, opened (in a thread) on first use: by ``start``, or by a call made before it."""
        if self._http is None:
            client = await open_client(timeout=self.timeout, headers={"Accept": "application/json"})
            if self._http is None:  # another call may have opened one meanwhile
                self._http = client
            else:
                await client.aclose()
        return self._http


async def open_client(**options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient``, made in a thread: loading the CA certificates blocks for ~50 ms."""
    return await asyncio.to_thread(httpx.AsyncClient, **options)


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    platform: str,
    what: str,
    backend: str,
    scrub: Callable[[str], str],
    **kwargs: Any,
) -> httpx.Response:
    """Send, retrying with backoff what cannot have reached the platform: a connection that was never
    made (any method), and for GETs any transport error and 502/503/504.

    A failure becomes a BackendError naming the platform and the action, with ``scrub`` removing any
    secret from the text, and ``uncertain`` when the request may have been sent (its answer lost).
    Other answers are returned as they are.
    """
    for attempt in range(GET_ATTEMPTS):
        if attempt:
            await asyncio.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
        last = attempt + 1 == GET_ATTEMPTS
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            if not last and (method == "GET" or not_sent(exc)):
                continue
            raise transport_failure(exc, platform=platform, what=what, backend=backend, scrub=scrub,
                                    attempts=attempt + 1) from None  # fmt: skip
        if response.status_code in RETRY_STATUSES and method == "GET" and not last:
            continue
        return response
    raise AssertionError("unreachable")


def acted_maybe(response: httpx.Response) -> bool:
    """Whether a failed answer leaves open that the platform acted: a 5xx to a request that changes
    something (a read that fails changed nothing)."""
    return response.status_code >= 500 and response.request.method not in ("GET", "HEAD")


def not_sent(exc: httpx.TransportError) -> bool:
    """Whether a request certainly never reached the platform (no connection was made)."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


#: A timeout's kind → what did not happen within its limit, and which limit that is.
_TIMEOUTS: tuple[tuple[type[httpx.TimeoutException], str, str], ...] = (
    (httpx.ConnectTimeout, "no connection", "connect"),
    (httpx.WriteTimeout, "the request could not be sent", "write"),
    (httpx.PoolTimeout, "no free connection", "pool"),
    (httpx.ReadTimeout, "no answer", "read"),
)


def transport_failure(
    exc: httpx.TransportError, *, platform: str, what: str, backend: str, scrub: Callable[[str], str],
    attempts: int = 1,
) -> BackendError:  # fmt: skip
    """The BackendError for a request that got no answer: "<platform> did not answer (<what>): <reason>".

    ``attempts``: how often the request was tried. ``scrub`` removes secrets from the exception's text.
    """
    tried = f" (tried {attempts} times)" if attempts > 1 else ""
    sent = not not_sent(exc)
    return BackendError(f"{platform} did not answer ({what}): {transport_reason(exc, scrub)}{tried}", backend=backend,
                        uncertain=sent, reached=sent)


def transport_reason(exc: httpx.TransportError, scrub: Callable[[str], str]) -> str:
    """Why a request got no answer, in words: "no answer within 30 s" for a read timeout."""
    if isinstance(exc, httpx.TimeoutException):
        missing, limit = next(((words, key) for kind, words, key in _TIMEOUTS if isinstance(exc, kind)),
                              ("no answer", "read"))  # fmt: skip
        seconds = _timeout_s(exc, limit)
        return missing + (f" within {seconds:g} s" if seconds is not None else " in time")
    said = scrub(str(exc)).strip()
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__


def _timeout_s(exc: httpx.TimeoutException, limit: str) -> float | None:
    """The limit (seconds) that ran out, as the request carried it."""
    try:
        timeouts = exc.request.extensions.get("timeout") or {}
    except RuntimeError:  # an exception raised without its request
        return None
    value = timeouts.get(limit)
    return float(value) if isinstance(value, (int, float)) else None


def decode_json(
    response: httpx.Response,
    *,
    platform: str,
    what: str,
    backend: str,
    scrub: Callable[[str], str],
    empty: Any = _NOT_GIVEN,
) -> Any:
    """The JSON of an answer (``empty`` for an empty body, when given); else a BackendError in words."""
    if not response.content and empty is not _NOT_GIVEN:
        return empty
    try:
        return response.json()
    except ValueError:
        raise BackendError(
            f"{platform} answered {what} with something that is not JSON: {scrub(response.text[:200])!r}",
            backend=backend,
        ) from None
