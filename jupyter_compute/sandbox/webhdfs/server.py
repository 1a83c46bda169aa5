"""The sandbox server: NameNode and DataNode routes on one tornado server in a background thread."""
from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tornado.web

from .._server import ThreadedServer, cli_parser, serve_until_stopped
from . import ops
from .fs import Namespace
from .params import HdfsError, Params

log = logging.getLogger(__name__)

NN_PREFIX = "/webhdfs/v1"
DN_PREFIX = "/webhdfs/datanode/v1"


class WebHdfsSandbox(ThreadedServer):
    """WebHDFS NameNode + DataNode on one tornado server in a background thread."""

    thread_name = "webhdfs-sandbox"
    max_body_size = 1 << 30

    def __init__(self, root_dir: str | Path | None = None, port: int = 0, *, host: str = "127.0.0.1",
                 permissions: bool = False) -> None:
        super().__init__(port, host)
        self._own_root = root_dir is None
        self.root_dir = Path(tempfile.mkdtemp(prefix="webhdfs-sandbox-") if root_dir is None else root_dir)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.root_dir = self.root_dir.resolve()
        self._snapshot_root = Path(tempfile.mkdtemp(prefix="webhdfs-snapshots-"))
        self.ns = Namespace(self.root_dir, self._snapshot_root, permissions=permissions)
        self._ops: ThreadPoolExecutor | None = None

    @property
    def url(self) -> str:
        """``http://host:port/webhdfs/v1``."""
        return f"{self.base_url}{NN_PREFIX}"

    def local_path(self, hdfs_path: str) -> Path:
        """The real file behind an HDFS path (for tests)."""
        return self.ns.locate(hdfs_path).real

    def _make_app(self) -> tornado.web.Application:
        # One thread runs the operations (file I/O, checksums) off the loop, one request at a time as before.
        self._ops = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhdfs-ops")
        return tornado.web.Application([
            (rf"{NN_PREFIX}(/.*)?", _Handler, {"sb": self, "dispatch": ops.namenode}),
            (rf"{DN_PREFIX}(/.*)?", _Handler, {"sb": self, "dispatch": ops.datanode}),
        ])

    async def run_op(self, dispatch: Callable[[ops.Request], ops.Answer], request: ops.Request) -> ops.Answer:
        """Answer ``request`` on the operations thread."""
        return await asyncio.get_running_loop().run_in_executor(self._ops, _answer, dispatch, request)

    def _after_stop(self) -> None:
        if self._ops is not None:
            self._ops.shutdown(wait=True)
            self._ops = None
        shutil.rmtree(self._snapshot_root, ignore_errors=True)
        if self._own_root:
            shutil.rmtree(self.root_dir, ignore_errors=True)


class _Handler(tornado.web.RequestHandler):
    """Turns a request into an :class:`ops.Request`, and an answer or :class:`HdfsError` into a reply."""

    def initialize(self, sb: WebHdfsSandbox, dispatch: Callable[[ops.Request], ops.Answer]) -> None:
        self.sb, self.dispatch = sb, dispatch

    def check_xsrf_cookie(self) -> None:  # an API, not a web form
        return

    def _build(self, path: str | None) -> ops.Request:
        raw = {k: v[-1].decode("utf-8", "replace") for k, v in self.request.query_arguments.items()}
        return ops.Request(self.sb.ns, self.request.method or "GET", path, Params(raw), self.request.body or b"",
                           self.request.remote_ip or "127.0.0.1", self.sb.base_url, DN_PREFIX)

    async def _handle(self, path: str | None = None) -> None:
        self._reply(await self.sb.run_op(self.dispatch, self._build(path)))

    def _reply(self, answer: ops.Answer) -> None:
        self.set_status(answer.status)
        for key, value in answer.headers.items():
            self.set_header(key, value)
        if isinstance(answer.body, bytes):
            self.set_header("Content-Type", "application/octet-stream")
            self.finish(answer.body)
        elif answer.body is None:
            self.finish()
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(answer.body)

    get = put = post = delete = _handle


def _answer(dispatch: Callable[[ops.Request], ops.Answer], request: ops.Request) -> ops.Answer:
    """The answer to one request; an :class:`HdfsError` (or an OS error, as Hadoop's IOException) too."""
    try:
        return dispatch(request)
    except HdfsError as err:
        return ops.Answer(err.status, err.body())
    except OSError as err:
        log.exception("webhdfs sandbox: %s", err)
        return ops.Answer(500, HdfsError("IOException", str(err), 500).body())


def main(argv: list[str] | None = None) -> int:
    """``python -m jupyter_compute.sandbox.webhdfs [--port P] [--host H] [--root-dir DIR] [--permissions]``."""
    parser = cli_parser("webhdfs", "Local stand-in of an HDFS cluster's WebHDFS REST API")
    parser.add_argument("--root-dir", default=None)
    parser.add_argument("--permissions", action="store_true",
                        help="check read/write/execute permission bits and ACLs (dfs.permissions.enabled)")
    args = parser.parse_args(argv)
    sandbox = WebHdfsSandbox(args.root_dir, args.port, host=args.host, permissions=args.permissions)
    return serve_until_stopped(sandbox, lambda sb: (
        f"WebHDFS sandbox at {sb.url}  (host {sb.host}, port {sb.port}, root {sb.root_dir})"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
