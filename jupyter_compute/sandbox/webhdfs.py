"""A local stand-in of an HDFS cluster's WebHDFS REST API (NameNode + one "DataNode" on one server).

Follows ``shared/specs/storage.md`` (Apache Hadoop's WebHDFS REST API, security off); imports nothing
else of jupyter_compute. fsspec's ``fsspec.implementations.webhdfs.WebHDFS(host="127.0.0.1",
port=sb.port, user="alice")`` works against it unchanged.

Starting it
-----------
::

    from jupyter_compute.sandbox.webhdfs import WebHdfsSandbox
    with WebHdfsSandbox() as sb:          # or sb = WebHdfsSandbox().start() ... sb.stop()
        sb.host, sb.port                  # "127.0.0.1", PORT
        sb.url                            # "http://127.0.0.1:PORT/webhdfs/v1"
        sb.root_dir                       # the real folder holding HDFS "/"

    python -m jupyter_compute.sandbox.webhdfs --port 9870 [--root-dir DIR]    # Ctrl-C to stop

``WebHdfsSandbox(root_dir=None, port=0, *, host="127.0.0.1")``: files live under ``root_dir`` (a temp
dir, removed on ``stop()``, when not given); HDFS path ``/a/b`` is ``root_dir/a/b``.

Routes
------
NameNode: ``/webhdfs/v1/<path>?op=<OP>&user.name=<user>[&…]``

==============  ======  =============================================================================
op              method  answer
==============  ======  =============================================================================
GETFILESTATUS   GET     ``{"FileStatus": {accessTime, blockSize, childrenNum, fileId, group, length,
                        modificationTime, owner, pathSuffix: "", permission, replication, storagePolicy,
                        type: FILE|DIRECTORY}}``
LISTSTATUS      GET     ``{"FileStatuses": {"FileStatus": [… pathSuffix = child name …]}}`` (a file
                        lists itself with ``pathSuffix`` "")
OPEN            GET     307 ``Location: <datanode url>`` (``offset``/``length`` carried over); with
                        ``noredirect=true`` 200 ``{"Location": …}``
CREATE          PUT     307 ``Location``; ``overwrite`` (default false → 403 FileAlreadyExistsException
                        when the file exists); ``noredirect=true`` → 200 ``{"Location"}``
APPEND          POST    307 ``Location`` (404 when the file does not exist)
MKDIRS          PUT     ``{"boolean": true}`` (parents created)
DELETE          DELETE  ``{"boolean": true|false}`` (false when missing); ``recursive=true`` needed for a
                        non-empty folder (else 403 PathIsNotEmptyDirectoryException)
RENAME          PUT     ``destination=<abs path>`` → ``{"boolean": true|false}`` (false when the source
                        is missing or the destination exists as a file; into an existing folder = move
                        inside it, as HDFS)
GETHOMEDIRECTORY GET    ``{"Path": "/user/<user>"}``
GETCONTENTSUMMARY GET   ``{"ContentSummary": {directoryCount, fileCount, length, quota, spaceConsumed,
                        spaceQuota}}``
==============  ======  =============================================================================

DataNode: ``/webhdfs/datanode/v1/<path>?op=OPEN|CREATE|APPEND&user.name=…`` — ``OPEN`` 200 bytes
(``offset``, ``length``), ``CREATE`` PUT body → 201 (file written, parents created), ``APPEND`` POST
body → 200. Hadoop puts the DataNode on another port; here it shares the NameNode's.

Errors: ``{"RemoteException": {"exception", "javaClassName", "message"}}`` — 404
FileNotFoundException, 403 AccessControlException (a write op without ``user.name``: Hadoop's
default user ``dr.who`` may not write) / FileAlreadyExistsException / PathIsNotEmptyDirectoryException,
400 IllegalArgumentException (unknown op, bad offset/length, wrong method for the op, a path leaving
the root). Owners: the ``user.name`` that created a path (``hdfs`` for paths made outside the API);
group ``supergroup``.
"""
from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import tornado.httpserver
import tornado.netutil
import tornado.web

from ._server import ThreadedServer, cli_parser, serve_until_stopped

log = logging.getLogger(__name__)

NN_PREFIX = "/webhdfs/v1"
DN_PREFIX = "/webhdfs/datanode/v1"
BLOCK_SIZE = 134217728

_JAVA = {
    "FileNotFoundException": "java.io.FileNotFoundException",
    "AccessControlException": "org.apache.hadoop.security.AccessControlException",
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
    "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
    "PathIsNotEmptyDirectoryException": "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    "UnsupportedOperationException": "java.lang.UnsupportedOperationException",
    "IOException": "java.io.IOException",
}

_NN_OPS = {
    "GETFILESTATUS": "GET", "LISTSTATUS": "GET", "OPEN": "GET", "GETHOMEDIRECTORY": "GET",
    "GETCONTENTSUMMARY": "GET", "CREATE": "PUT", "MKDIRS": "PUT", "RENAME": "PUT", "APPEND": "POST",
    "DELETE": "DELETE",
}
_WRITE_OPS = {"CREATE", "MKDIRS", "RENAME", "APPEND", "DELETE"}


class HdfsError(Exception):
    def __init__(self, status: int, exception: str, message: str) -> None:
        super().__init__(message)
        self.status, self.exception, self.message = status, exception, message


class WebHdfsSandbox(ThreadedServer):
    """WebHDFS NameNode + DataNode on one tornado server in a background thread."""

    thread_name = "webhdfs-sandbox"
    max_body_size = 1 << 30

    def __init__(self, root_dir: str | Path | None = None, port: int = 0, *, host: str = "127.0.0.1") -> None:
        super().__init__(port, host)
        self._own_root = root_dir is None
        self.root_dir = Path(tempfile.mkdtemp(prefix="webhdfs-sandbox-") if root_dir is None else root_dir)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.root_dir = self.root_dir.resolve()
        self._lock = threading.RLock()
        self._owners: dict[str, str] = {}
        self._file_ids: dict[str, int] = {}

    # ------------------------------------------------------------------ public API
    @property
    def url(self) -> str:
        return f"{self.base_url}{NN_PREFIX}"

    def local_path(self, hdfs_path: str) -> Path:
        """The real file behind an HDFS path (for tests)."""
        return self._resolve(hdfs_path)

    def _make_app(self) -> tornado.web.Application:
        return tornado.web.Application([
            (rf"{NN_PREFIX}(/.*)?", _NameNodeHandler, {"sb": self}),
            (rf"{DN_PREFIX}(/.*)?", _DataNodeHandler, {"sb": self}),
        ])

    def _after_stop(self) -> None:
        if self._own_root:
            shutil.rmtree(self.root_dir, ignore_errors=True)

    # ------------------------------------------------------------------ file system
    @staticmethod
    def _norm(path: str | None) -> str:
        parts: list[str] = []
        for p in (path or "/").split("/"):
            if p in ("", "."):
                continue
            if p == "..":
                raise HdfsError(400, "IllegalArgumentException", f"Invalid path name {path}")
            parts.append(p)
        return "/" + "/".join(parts)

    def _resolve(self, path: str | None) -> Path:
        norm = self._norm(path)
        return self.root_dir.joinpath(*[p for p in norm.split("/") if p])

    def _status(self, norm: str, real: Path, suffix: str) -> dict[str, Any]:
        st = real.stat()
        is_dir = real.is_dir()
        with self._lock:
            fid = self._file_ids.setdefault(norm, 16386 + len(self._file_ids))
            owner = self._owners.get(norm, "hdfs")
        return {
            "accessTime": 0 if is_dir else int(st.st_atime * 1000),
            "blockSize": 0 if is_dir else BLOCK_SIZE,
            "childrenNum": len(list(real.iterdir())) if is_dir else 0,
            "fileId": fid,
            "group": "supergroup",
            "length": 0 if is_dir else st.st_size,
            "modificationTime": int(st.st_mtime * 1000),
            "owner": owner,
            "pathSuffix": suffix,
            "permission": "755" if is_dir else "644",
            "replication": 0 if is_dir else 1,
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }

    def _existing(self, path: str) -> tuple[str, Path]:
        norm, real = self._norm(path), self._resolve(path)
        if not real.exists():
            raise HdfsError(404, "FileNotFoundException", f"File does not exist: {norm}")
        return norm, real

    def _mkdirs(self, norm: str, user: str) -> None:
        real = self.root_dir
        cur = ""
        for part in [p for p in norm.split("/") if p]:
            cur += "/" + part
            real = real / part
            if real.is_file():
                raise HdfsError(403, "FileAlreadyExistsException", f"Parent path is not a directory: {cur}")
            if not real.exists():
                real.mkdir()
                with self._lock:
                    self._owners[cur] = user

    def _datanode_url(self, norm: str, op: str, args: dict[str, str]) -> str:
        return f"{self.base_url}{DN_PREFIX}{quote(norm)}?" + urlencode({"op": op, **args})

    def namenode(self, method: str, path: str | None, args: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        op = args.get("op", "").upper()
        if op not in _NN_OPS:
            raise HdfsError(400, "IllegalArgumentException",
                            f"Invalid value for webhdfs parameter \"op\": No enum constant "
                            f"org.apache.hadoop.hdfs.web.resources.{'GetOpParam' if method == 'GET' else 'PutOpParam'}"
                            f".Op.{op}")
        if _NN_OPS[op] != method:
            raise HdfsError(400, "IllegalArgumentException",
                            f"Invalid value for webhdfs parameter \"op\": {op} is not a {method} operation")
        user = args.get("user.name") or ""
        if op in _WRITE_OPS and not user:
            raise HdfsError(403, "AccessControlException",
                            f"Permission denied: user=dr.who, access=WRITE, inode=\"{self._norm(path)}\"")
        norm = self._norm(path)
        real = self._resolve(path)
        noredirect = args.get("noredirect", "false").lower() == "true"
        pass_args = {k: v for k, v in args.items() if k in ("user.name", "offset", "length", "overwrite")}

        def redirect(dn_op: str) -> tuple[int, dict[str, str], Any]:
            loc = self._datanode_url(norm, dn_op, pass_args)
            if noredirect:
                return 200, {}, {"Location": loc}
            return 307, {"Location": loc}, None

        if op == "GETFILESTATUS":
            norm, real = self._existing(path or "/")
            return 200, {}, {"FileStatus": self._status(norm, real, "")}
        if op == "LISTSTATUS":
            norm, real = self._existing(path or "/")
            if real.is_file():
                return 200, {}, {"FileStatuses": {"FileStatus": [self._status(norm, real, "")]}}
            items = [self._status(f"{norm.rstrip('/')}/{c.name}", c, c.name) for c in sorted(real.iterdir())]
            return 200, {}, {"FileStatuses": {"FileStatus": items}}
        if op == "GETHOMEDIRECTORY":
            return 200, {}, {"Path": f"/user/{user or 'dr.who'}"}
        if op == "GETCONTENTSUMMARY":
            norm, real = self._existing(path or "/")
            files = [real] if real.is_file() else [p for p in real.rglob("*") if p.is_file()]
            dirs = 0 if real.is_file() else 1 + sum(1 for p in real.rglob("*") if p.is_dir())
            length = sum(p.stat().st_size for p in files)
            return 200, {}, {"ContentSummary": {"directoryCount": dirs, "fileCount": len(files), "length": length,
                                                "quota": -1, "spaceConsumed": length, "spaceQuota": -1}}
        if op == "OPEN":
            norm, real = self._existing(path or "/")
            if real.is_dir():
                raise HdfsError(404, "FileNotFoundException", f"Path is not a file: {norm}")
            self._offsets(args, real.stat().st_size)
            return redirect("OPEN")
        if op == "CREATE":
            if real.is_dir():
                raise HdfsError(403, "FileAlreadyExistsException", f"{norm} already exists as a directory")
            if real.exists() and args.get("overwrite", "false").lower() != "true":
                raise HdfsError(403, "FileAlreadyExistsException", f"{norm} for client already exists")
            return redirect("CREATE")
        if op == "APPEND":
            norm, real = self._existing(path or "/")
            if real.is_dir():
                raise HdfsError(404, "FileNotFoundException", f"Failed to append to non-existent file {norm}")
            return redirect("APPEND")
        if op == "MKDIRS":
            self._mkdirs(norm, user)
            return 200, {}, {"boolean": True}
        if op == "DELETE":
            if norm == "/":
                return 200, {}, {"boolean": False}
            if not real.exists():
                return 200, {}, {"boolean": False}
            if real.is_dir():
                if any(real.iterdir()) and args.get("recursive", "false").lower() != "true":
                    raise HdfsError(403, "PathIsNotEmptyDirectoryException", f"{norm} is non empty': Directory is not empty")
                shutil.rmtree(real)
            else:
                real.unlink()
            self._forget(norm)
            return 200, {}, {"boolean": True}
        if op == "RENAME":
            dest = args.get("destination")
            if not dest or not dest.startswith("/"):
                raise HdfsError(400, "IllegalArgumentException",
                                f"Invalid value for webhdfs parameter \"destination\": {dest!r} is not absolute")
            dnorm, dreal = self._norm(dest), self._resolve(dest)
            if not real.exists() or norm == "/" or not dreal.parent.is_dir():
                return 200, {}, {"boolean": False}
            if dreal.is_dir():
                dnorm, dreal = f"{dnorm.rstrip('/')}/{real.name}", dreal / real.name
            if dreal.exists() or (dnorm + "/").startswith(norm + "/"):
                return 200, {}, {"boolean": False}
            real.rename(dreal)
            with self._lock:
                for key in [k for k in self._owners if k == norm or k.startswith(norm + "/")]:
                    self._owners[dnorm + key[len(norm):]] = self._owners.pop(key)
            return 200, {}, {"boolean": True}
        raise HdfsError(400, "UnsupportedOperationException", f"op {op} is not supported")  # pragma: no cover

    def _forget(self, norm: str) -> None:
        with self._lock:
            for key in [k for k in self._owners if k == norm or k.startswith(norm + "/")]:
                del self._owners[key]

    @staticmethod
    def _offsets(args: dict[str, str], size: int) -> tuple[int, int | None]:
        try:
            offset = int(args.get("offset") or 0)
            length = int(args["length"]) if args.get("length") not in (None, "", "null") else None
        except ValueError:
            raise HdfsError(400, "IllegalArgumentException", "Invalid value for webhdfs parameter offset/length") from None
        if offset < 0 or (length is not None and length < 0):
            raise HdfsError(400, "IllegalArgumentException", "Invalid value for webhdfs parameter \"offset\": "
                            f"Invalid parameter range: offset = {offset} < 0")
        if offset > size:
            raise HdfsError(400, "IllegalArgumentException",
                            f"Offset={offset} out of the range [0, {size}); OPEN")
        return offset, length

    def datanode(self, method: str, path: str | None, args: dict[str, str], body: bytes) -> tuple[int, Any]:
        op = args.get("op", "").upper()
        norm, real = self._norm(path), self._resolve(path)
        user = args.get("user.name") or "dr.who"
        if op == "OPEN" and method == "GET":
            norm, real = self._existing(path or "/")
            if real.is_dir():
                raise HdfsError(404, "FileNotFoundException", f"Path is not a file: {norm}")
            offset, length = self._offsets(args, real.stat().st_size)
            with real.open("rb") as fh:
                fh.seek(offset)
                return 200, fh.read() if length is None else fh.read(length)
        if op == "CREATE" and method == "PUT":
            if real.is_dir():
                raise HdfsError(403, "FileAlreadyExistsException", f"{norm} already exists as a directory")
            parent = norm.rsplit("/", 1)[0] or "/"
            self._mkdirs(parent, user)
            real.write_bytes(body)
            with self._lock:
                self._owners[norm] = user
            return 201, None
        if op == "APPEND" and method == "POST":
            norm, real = self._existing(path or "/")
            with real.open("ab") as fh:
                fh.write(body)
            return 200, None
        raise HdfsError(400, "IllegalArgumentException", f"Invalid DataNode operation {method} op={op}")


class _Base(tornado.web.RequestHandler):
    def initialize(self, sb: WebHdfsSandbox) -> None:
        self.sb = sb

    def check_xsrf_cookie(self) -> None:  # an API, not a web form
        return

    def _args(self) -> dict[str, str]:
        return {k: v[-1].decode("utf-8", "replace") for k, v in self.request.query_arguments.items()}

    def _error(self, err: HdfsError) -> None:
        self.set_status(err.status)
        self.set_header("Content-Type", "application/json")
        self.finish({"RemoteException": {"exception": err.exception,
                                         "javaClassName": _JAVA.get(err.exception, "java.io.IOException"),
                                         "message": err.message}})


class _NameNodeHandler(_Base):
    def _handle(self, path: str | None) -> None:
        try:
            status, headers, body = self.sb.namenode(self.request.method or "GET", path, self._args())
        except HdfsError as err:
            self._error(err)
            return
        except OSError as err:
            self._error(HdfsError(500, "IOException", str(err)))
            return
        self.set_status(status)
        for k, v in headers.items():
            self.set_header(k, v)
        if body is None:
            self.finish()
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(body)

    def get(self, path: str | None = None) -> None:
        self._handle(path)

    def put(self, path: str | None = None) -> None:
        self._handle(path)

    def post(self, path: str | None = None) -> None:
        self._handle(path)

    def delete(self, path: str | None = None) -> None:
        self._handle(path)


class _DataNodeHandler(_Base):
    def _handle(self, path: str | None) -> None:
        try:
            status, data = self.sb.datanode(self.request.method or "GET", path, self._args(), self.request.body or b"")
        except HdfsError as err:
            self._error(err)
            return
        except OSError as err:
            self._error(HdfsError(500, "IOException", str(err)))
            return
        self.set_status(status)
        if isinstance(data, bytes):
            self.set_header("Content-Type", "application/octet-stream")
            self.finish(data)
        else:
            if status == 201:
                self.set_header("Location", f"hdfs://{self.sb.host}:{self.sb.port}{self.sb._norm(path)}")
            self.finish()

    def get(self, path: str | None = None) -> None:
        self._handle(path)

    def put(self, path: str | None = None) -> None:
        self._handle(path)

    def post(self, path: str | None = None) -> None:
        self._handle(path)


# ---------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("webhdfs", "Local stand-in of an HDFS cluster's WebHDFS REST API")
    parser.add_argument("--root-dir", default=None)
    args = parser.parse_args(argv)
    return serve_until_stopped(WebHdfsSandbox(args.root_dir, args.port, host=args.host), lambda sb: (
        f"WebHDFS sandbox at {sb.url}  (host {sb.host}, port {sb.port}, root {sb.root_dir})"))


if __name__ == "__main__":
    sys.exit(main())
