"""In-process fan-out of job changes to the subscribers of ``compute/api/events``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

_CLOSED = object()


class Subscription:
    """One subscriber's queue. A subscriber too slow to keep up loses the oldest events first."""

    def __init__(self, hub: EventHub, maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def _offer(self, item: Any) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when ``timeout`` passes first. Raises StopAsyncIteration once closed."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSED:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        self._hub._subscribers.discard(self)


class EventHub:
    """Publishes events to every current subscriber without ever blocking the publisher."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size

    def subscribe(self) -> Subscription:
        subscription = Subscription(self, self._queue_size)
        self._subscribers.add(subscription)
        return subscription

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        event = {"event": kind, "data": data}
        for subscription in list(self._subscribers):
            subscription._offer(event)

    def close(self) -> None:
        """End every subscription (server shutdown)."""
        for subscription in list(self._subscribers):
            subscription._offer(_CLOSED)
        self._subscribers.clear()


def format_sse(event: dict[str, Any]) -> str:
    """One server-sent event in wire format."""
    return f"event: {event['event']}\ndata: {json.dumps(event['data'], separators=(',', ':'))}\n\n"
