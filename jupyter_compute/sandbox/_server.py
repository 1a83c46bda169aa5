"""A tornado server on its own thread and event loop: the plumbing every sandbox shares.

Also the command line of a sandbox (``python -m jupyter_compute.sandbox.<name>``): :func:`cli_parser`
and :func:`serve_until_stopped`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import tornado.httpserver
import tornado.netutil
import tornado.web

S = TypeVar("S", bound="ThreadedServer")
T = TypeVar("T")


class ThreadedServer:
    """Serves ``_make_app()`` on ``host``/``port`` (0: a free port) from a background thread.

    Subclasses give the app, and may extend ``_shutdown`` (on the loop, before it stops) and
    ``_after_stop`` (on the caller's thread, once it has). ``start()``/``stop()`` or ``with``.
    """

    thread_name = "sandbox"
    max_body_size: int | None = None

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = int(port)
        self._port_req = int(port)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: tornado.httpserver.HTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _make_app(self) -> tornado.web.Application:
        raise NotImplementedError

    def start(self: S) -> S:
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, args=(ready, errors), name=self.thread_name,
                                        daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError(f"{self.thread_name} did not start within 30 s")
        if errors:
            self._thread = None
            raise errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        self._thread = None
        self._loop = None
        self._after_stop()

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _shutdown(self) -> None:
        """Stop taking requests and close open connections (runs on the server's loop)."""
        if self._server is not None:
            self._server.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.close_all_connections(), 5)

    def _after_stop(self) -> None:
        """Clean-up once the loop has stopped (remove temporary folders, join workers)."""

    def _call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop and answer its result."""
        if self._loop is None:
            raise RuntimeError("the sandbox is not running")

        async def wrapper() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop

        async def setup() -> None:
            sockets = tornado.netutil.bind_sockets(self._port_req, self.host)
            self.port = sockets[0].getsockname()[1]
            self._server = tornado.httpserver.HTTPServer(self._make_app(), max_body_size=self.max_body_size)
            self._server.add_sockets(sockets)

        try:
            loop.run_until_complete(setup())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            errors.append(exc)
            ready.set()
            loop.close()
            self._loop = None
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()


def cli_parser(module: str, description: str) -> argparse.ArgumentParser:
    """The arguments of ``python -m jupyter_compute.sandbox.<module>``, starting with ``--port`` and ``--host``."""
    parser = argparse.ArgumentParser(prog=f"python -m jupyter_compute.sandbox.{module}", description=description)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    return parser


def serve_until_stopped(sandbox: contextlib.AbstractContextManager[T], banner: Callable[[T], str]) -> int:
    """Run ``sandbox`` (logging at INFO), print ``banner`` of it, and stop it on SIGINT or SIGTERM; exit code 0."""
    logging.basicConfig(level=logging.INFO)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sandbox as running:
        print(banner(running), flush=True)
        while not stop.wait(0.5):
            pass
    return 0
