"""Job changes pushed by the server, handed to the panels from one background thread.

:class:`LiveJobs` follows ``compute/api/events`` (:meth:`Client.events`) in a daemon thread,
so the kernel's main thread never waits for it. Listeners (see :class:`JobListener`) are
objects with any of the methods

- ``on_job(job)``: a job (a bound :class:`jupyter_compute.client.Job`) was created or changed;
- ``on_deleted(job_id)``: a job was forgotten;
- ``on_resync()``: the stream (re)connected and events may have been missed: reload what is shown;
- ``on_status(connected, error)``: the stream is open (``True, ""``), or opening it failed and
  it is being retried (``False, "<one line>"``), so the panel can say its updates are paused.

Listeners are held weakly (a panel that is garbage-collected stops listening) and are called
from the background thread: ipywidgets trait changes from there are fine (ipykernel sends comm
messages through its thread-safe iopub). A listener that raises is logged at debug level and
never stops the others or the thread. ``LiveJobs.for_client(client)`` gives the one instance
of a client; its thread starts with the first listener and ends at the first event or
keepalive (every 15 s) after the last one is gone. The panels made without a client all use
:func:`~jupyter_compute.widgets._util.default_client`, so one process has one such thread.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..errors import ComputeError
from ._util import is_closed, log, one_line

if TYPE_CHECKING:
    from ..client import Client, Job

__all__ = ["JobListener", "LiveJobs"]


class JobListener(Protocol):
    """What LiveJobs calls (each method is optional: missing ones are skipped)."""

    def on_job(self, job: Job) -> None: ...

    def on_deleted(self, job_id: str) -> None: ...

    def on_resync(self) -> None: ...

    def on_status(self, connected: bool, error: str) -> None: ...


class LiveJobs:
    """Follows the server's job events in a daemon thread and calls the listeners.

    On a dropped or refused stream it reconnects after 0.5 s, doubling up to ``max_backoff``
    seconds, and after every (re)connection calls the listeners' ``on_resync``. A connection
    that fails is reported through ``on_status`` (a stream that drops is not, unless opening it
    again fails). It stops for good when the client is closed or :meth:`close` is called.
    """

    _registry: ClassVar[weakref.WeakKeyDictionary[Client, LiveJobs]] = weakref.WeakKeyDictionary()
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, client: Client, *, min_backoff: float = 0.5, max_backoff: float = 10.0) -> None:
        self.client = client
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.last_error = ""
        self.connections = 0
        self._listeners: list[weakref.ref[Any]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self.connected else "connecting"
        return f"<LiveJobs {self.client.url} {state}, {len(self.listeners)} listener(s)>"

    @classmethod
    def for_client(cls, client: Client) -> LiveJobs:
        """The client's LiveJobs (made on first use; a closed one is replaced)."""
        with cls._registry_lock:
            live = cls._registry.get(client)
            if live is None or live._closed:
                live = cls._registry[client] = cls(client)
            return live

    # --- listeners --------------------------------------------------------------------------

    @property
    def listeners(self) -> list[Any]:
        """The listeners still alive."""
        with self._lock:
            return self._alive()

    def add_listener(self, listener: Any) -> None:
        """Call ``listener``'s methods (see :class:`JobListener`) from now on; starts the thread."""
        with self._lock:
            if self._closed:
                raise ComputeError("this LiveJobs is closed; use LiveJobs.for_client(client)")
            if all(ref() is not listener for ref in self._listeners):
                self._listeners.append(weakref.ref(listener))
            self._start_locked()

    def remove_listener(self, listener: Any) -> None:
        """Stop calling ``listener`` (the thread ends at its next event or keepalive if none is left)."""
        with self._lock:
            self._listeners = [ref for ref in self._listeners if ref() not in (None, listener)]

    def _alive(self) -> list[Any]:
        alive = [ref() for ref in self._listeners]
        return [listener for listener in alive if listener is not None]

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the event stream is open right now."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the stream is open (for scripts and tests; the panels never wait)."""
        return self._connected.wait(timeout)

    def close(self) -> None:
        """Stop following; the thread ends at the stream's next event or keepalive (≤ 15 s)."""
        with self._lock:
            self._closed = True
            self._listeners.clear()
            self._stop.set()
        with self._registry_lock:
            if self._registry.get(self.client) is self:
                del self._registry[self.client]

    def _start_locked(self) -> None:
        if self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name=f"jupyter-compute-events {self.client.url}", daemon=True
        )
        self._thread.start()

    def _retire_if_unused(self, stop: threading.Event) -> bool:
        """Stop this thread when no listener is left; True when it should end."""
        with self._lock:
            if stop.is_set():
                return True
            if not self._alive():
                self._listeners.clear()
                stop.set()
                return True
            return False

    def _set_connected(self, stop: threading.Event, connected: bool) -> None:
        """Set the ``connected`` flag for the thread of ``stop`` only while it is the current
        thread: an old thread ending must not clear the flag a new one has set."""
        with self._lock:
            if stop is not self._stop:
                return
            if connected:
                self._connected.set()
            else:
                self._connected.clear()

    def _run(self, stop: threading.Event) -> None:
        try:
            self._follow(stop)
        except Exception as exc:  # noqa: BLE001 - never a traceback from this thread
            self._failed(exc)
            self._set_connected(stop, False)

    def _follow(self, stop: threading.Event) -> None:
        delay = self.min_backoff
        while not self._retire_if_unused(stop):
            try:
                stream = self.client.events()
            except Exception as exc:  # noqa: BLE001 - reported to the listeners, then retried
                self._failed(exc)
                self._broadcast("on_status", False, self.last_error)
            else:
                self._set_connected(stop, True)
                self.connections += 1
                delay = self.min_backoff
                try:
                    self._broadcast("on_status", True, "")
                    self._broadcast("on_resync")
                    for event in stream:
                        if self._retire_if_unused(stop):
                            break
                        self._dispatch(event)
                except Exception as exc:  # noqa: BLE001 - the stream dropped: reconnect
                    self._failed(exc)
                finally:
                    self._set_connected(stop, False)
                    stream.close()  # type: ignore[attr-defined]
            if is_closed(self.client):
                self.close()
                return
            if stop.wait(delay):
                return
            delay = min(delay * 2, self.max_backoff)

    def _failed(self, exc: BaseException) -> None:
        self.last_error = one_line(exc)
        log.debug("job events: %s", self.last_error)

    # --- dispatch ---------------------------------------------------------------------------

    def _broadcast(self, method: str, *args: Any) -> None:
        for listener in self.listeners:
            self._call(listener, method, *args)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind, data = event.get("event"), event.get("data")
        if not isinstance(data, dict) or "id" not in data:
            return
        if kind == "job":
            try:
                job = self.client._bind(data)
            except (KeyError, TypeError, ValueError) as exc:
                self._failed(exc)
                return
            self._broadcast("on_job", job)
        elif kind == "job_deleted":
            self._broadcast("on_deleted", str(data["id"]))

    def _call(self, listener: Any, method: str, *args: Any) -> None:
        """Call one listener; its failure is logged (at debug level: a traceback printed from this
        thread would land in whatever notebook cell ran last) and never stops the others or the
        thread. The panels catch their own failures and show them as their error line."""
        function = getattr(listener, method, None)
        if function is None:
            return
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001 - a listener's bug must not end the stream
            self.last_error = f"{type(listener).__name__}.{method} failed: {one_line(exc)}"
            log.debug("jupyter-compute: %r.%s failed", listener, method, exc_info=True)
