"""One platform HTTP call with the retry policy every remote backend shares."""

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
    """Send once, or (GETs only) retry connection errors and 502/503/504 with backoff.

    A connection failure becomes a BackendError naming the platform and the action, with
    ``scrub`` removing any secret from the text. Other answers are returned as they are.
    """
    attempts = GET_ATTEMPTS if method == "GET" else 1
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
        last = attempt + 1 == attempts
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            if not last:
                continue
            raise BackendError(
                f"{platform} did not answer ({what}): {type(exc).__name__}: {scrub(str(exc))}", backend=backend
            ) from None
        if response.status_code in RETRY_STATUSES and not last:
            continue
        return response
    raise AssertionError("unreachable")
