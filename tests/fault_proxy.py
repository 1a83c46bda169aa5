"""A fault-injecting HTTP proxy on loopback, in front of a platform's stand-in.

``plan(method, path)`` says what to do with each request:
- ``"pass"``: forward it and send the answer back;
- ``"lose-answer"``: forward it (the platform acts), then close the connection without an answer;
- ``"fail-after"``: forward it (the platform acts), then answer 500;
- ``"drop"``: close the connection without forwarding (the platform never sees it);
- ``"fail-before"``: answer 500 without forwarding;
- ``"stall"``: wait ``stall_s`` seconds, then forward it and answer (a client may have given up by then).
``forwarded`` lists the (method, path) pairs the platform received.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

INJECTED = b'{"detail": "injected fault"}'
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding"}


class FaultProxy:
    def __init__(self, upstream: str, plan: Callable[[str, str], str], port: int = 0, stall_s: float = 3.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.stall_s = stall_s
        self.plan = plan
        self.forwarded: list[tuple[str, str]] = []
        self._client = httpx.Client(timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy.plan(self.command, self.path)
                if action == "drop":
                    self._cut()
                    return
                if action == "fail-before":
                    self._answer(500, INJECTED)
                    return
                if action == "stall":
                    time.sleep(proxy.stall_s)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                answer = proxy._client.request(self.command, proxy.upstream + self.path, headers=headers, content=body)
                proxy.forwarded.append((self.command, self.path))
                if action == "lose-answer":
                    self._cut()
                    return
                if action == "fail-after":
                    self._answer(500, INJECTED)
                    return
                headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS]
                self._answer(answer.status_code, answer.content, headers)

            def _answer(self, status: int, content: bytes, headers: list[tuple[str, str]] = ()) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except OSError:  # the client gave up (a stall)
                    self.close_connection = True

            def _cut(self) -> None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
