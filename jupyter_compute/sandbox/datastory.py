"""A local stand-in of the Datastory offline algorithm platform's task API.

Follows ``shared/specs/datastory-offline.md`` (documented parts exactly, assumed parts as the spec
assumes them); imports nothing else of jupyter_compute. Tasks really run: each one reads its input from
the file system its submission names (HDFS through WebHDFS, CEPH through S3), runs a small built-in
algorithm in a worker thread (never on the server's event loop) and writes result files under
``outputPath``.

What it refuses (each row is a case of ``tests/test_sandbox_datastory.py``)
---------------------------------------------------------------------------
==================================================================  ======  ===========================================
request                                                             answer  test
==================================================================  ======  ===========================================
no ``Authorization``, a wrong token, or ``Bearer <token>``          401     ``test_auth_errors``
submit body not JSON, or not an object                              400     ``test_validation_errors``
``email`` missing, empty or not an address                          400     ``test_validation_errors``
``algorithm`` missing; ``params`` not an object                     400     ``test_validation_errors``
a file-system descriptor missing; ``fileSystemType`` not HDFS/CEPH  400     ``test_validation_errors``
CEPH path without ``bucket#``                                       400     ``test_validation_errors``
``taskId`` not an integer                                           400     ``test_validation_errors``
``taskId`` unknown                                                  404     ``test_validation_errors``
unknown algorithm, missing input, bad CSV, unknown key column       ERROR   ``test_error_with_message``
HDFS primary down and no ``spareHost``                              ERROR   ``test_unreachable_without_spare_is_error``
==================================================================  ======  ===========================================

Starting it
-----------
::

    from jupyter_compute.sandbox.datastory import DatastorySandbox
    from jupyter_compute.sandbox.webhdfs import WebHdfsSandbox       # an HDFS to read/write
    with WebHdfsSandbox() as hdfs, DatastorySandbox() as sb:
        sb.url            # "http://127.0.0.1:PORT"  (the API base)
        sb.submit_url     # sb.url + submit_path
        sb.token          # "sandbox-token"  → header  Authorization: sandbox-token

    python -m jupyter_compute.sandbox.datastory --port 8766 [--token T] [--with-webhdfs]

``DatastorySandbox(token="sandbox-token", port=0, submit_path="/api/algorithm/task/submit", *,
host="127.0.0.1", start_delay_s=0.0, min_run_s=0.0, connect_timeout_s=3.0, first_task_id=3039696)``

- ``start_delay_s``: a task stays ``INITIALING`` this long before it starts; ``min_run_s``: a task stays
  ``RUNNING`` at least this long. Both may be changed while running.
- ``connect_timeout_s``: how long the HDFS primary ``host:port`` is probed before ``spareHost`` is used.

Routes (every one needs ``Authorization: <token>``, a bare token; anything else → 401
``{"code": 401, "message": "Unauthorized: invalid or missing token"}``)
---------------------------------------------------------------------------------------------------
``POST <submit_path>`` (default ``/api/algorithm/task/submit``), JSON body::

    {"algorithm": "<name>", "params": {...}, "email": "a@b.c",
     "inputFileSystemInfo": {...}, "outputFileSystemInfo": {...}}

→ 200 ``{"id": <int>}``. 400 ``{"code": 400, "message": …}`` for: a body that is not a JSON object, a
missing/empty ``algorithm``, a missing or invalid ``email`` (required), ``params`` not an object, a
missing descriptor, ``fileSystemType`` not ``HDFS``/``CEPH``, missing ``host``/``port``/``inputPath``/
``outputPath``, CEPH without ``userName``/``password`` or a path without ``#``. An unknown algorithm is
accepted and the task ends ``ERROR`` (the platform learns it when it runs).

``GET /api/algorithm/task/get?taskId=<id>`` → 200 ``{"id", "status", "addTime", "startTime",
"finishTime", "message"}``. Statuses ``INITIALING`` → ``RUNNING`` → ``FINISHED`` | ``ERROR``; times
``YYYY-MM-DD HH:MM:SS`` in UTC+8, ``startTime``/``finishTime`` null until set. ``message`` is a
**sandbox addition** (the documented answer has none): null, or the failure reason when ``ERROR``.
Missing/non-integer ``taskId`` → 400; unknown → 404 ``{"code": 404, "message"}``.

File systems
------------
- ``HDFS``: fsspec's ``WebHDFS(host, port=int(port), user=userName)``. The primary ``host:port`` is
  probed with a TCP connect (``connect_timeout_s``); when it does not answer, ``spareHost`` is used —
  written ``"host"`` (same port) or ``"host:port"``.
- ``CEPH``: ``s3fs.S3FileSystem(key=userName, secret=password, endpoint_url="http://host:port")``;
  ``bucket#prefix`` → ``bucket/prefix``. The output bucket is created when missing. The secret is never
  logged nor put in a message (it is masked as ``***`` if an error text contains it).
- ``inputPath`` a file, or a folder: all files below it (sorted; names starting ``_`` or ``.`` skipped).

Algorithms (``ALGORITHMS``)
---------------------------
=================  ========================================================================================
``column-summary``  CSV input(s) (same header; rows concatenated) → ``part-00000.csv`` with columns
                    ``column,count,mean,min,max`` (count = non-empty values; mean/min/max empty when a
                    column is not all numeric); ``params.columns`` (list) restricts the columns
``word-count``      text input(s) → ``part-00000.csv`` ``word,count`` (lower-cased ``\\w+`` words; count
                    desc, then word); ``params.min_count`` (default 1)
``dedup``           CSV input(s) → ``part-00000.csv``: the rows (header kept) without duplicates on
                    ``params.keys`` (list of column names; default all columns), first occurrence kept
``sleep``           sleeps ``params.seconds`` (default 1) → ``part-00000.csv`` ``slept`` (for status tests)
``fail``            always fails with ``params.message`` (default "failed on purpose")
=================  ========================================================================================
Every successful task also writes an empty ``_SUCCESS`` marker (Hadoop style). Failures (unknown
algorithm, missing input path, unreachable file system, bad CSV, unknown key column) → ``ERROR`` with
the reason in ``message``.

Attributes for tests: ``submissions`` (the submitted bodies, with ``password`` replaced by ``***``),
``tasks()`` (id → a copy of the task answer).
"""
from __future__ import annotations

import contextlib
import copy
import csv
import datetime as dt
import io
import json
import logging
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from ._server import ThreadedServer, cli_parser, serve_until_stopped

log = logging.getLogger(__name__)

CST = dt.timezone(dt.timedelta(hours=8))
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_SUBMIT_PATH = "/api/algorithm/task/submit"
GET_PATH = "/api/algorithm/task/get"


class TaskFailed(Exception):
    """A task's failure reason (becomes its ``message``)."""


def _now() -> str:
    return dt.datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------- algorithms
def _parse_csv(name: str, data: bytes) -> list[list[str]]:
    """The non-empty rows of one CSV file (UTF-8, a BOM allowed)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TaskFailed(f"bad CSV {name}: not UTF-8 text") from None
    try:
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise TaskFailed(f"bad CSV {name}: {exc}") from None
    return [r for r in rows if r]


def _same_header(name: str, this_header: list[str], header: list[str] | None) -> list[str]:
    """The header every input shares (the first one read)."""
    if header is None:
        return this_header
    if this_header != header:
        raise TaskFailed(f"bad CSV {name}: header {this_header} differs from {header}")
    return header


def _check_widths(name: str, body: list[list[str]], header: list[str]) -> list[list[str]]:
    """``body``, once each row is known to have as many fields as the header."""
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TaskFailed(f"bad CSV {name}: line {line} has {len(row)} fields, expected {len(header)}")
    return body


def _read_csv(files: list[tuple[str, bytes]]) -> tuple[list[str], list[list[str]]]:
    """The common header and all data rows of the CSV inputs, in order."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    for name, data in files:
        table = _parse_csv(name, data)
        if table:
            header = _same_header(name, table[0], header)
            rows += _check_widths(name, table[1:], header)
    if header is None:
        raise TaskFailed("bad CSV: the input is empty")
    return header, rows


def _csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _numbers(values: list[str]) -> list[float] | None:
    """``values`` as numbers, or None when one is not a number."""
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def _summary_row(column: str, values: list[str]) -> list[Any]:
    """``column,count,mean,min,max`` of the non-empty ``values`` (blank statistics unless all are numbers)."""
    nums = _numbers(values)
    if not nums:
        return [column, len(values), "", "", ""]
    return [column, len(values), _fmt(sum(nums) / len(nums)), _fmt(min(nums)), _fmt(max(nums))]


def algo_column_summary(files: list[tuple[str, bytes]], params: dict[str, Any]) -> dict[str, bytes]:
    """count, mean, min and max of each column (or of ``params.columns``)."""
    header, rows = _read_csv(files)
    cols = params.get("columns") or header
    if not isinstance(cols, list) or any(c not in header for c in cols):
        raise TaskFailed(f"params.columns must list columns of {header}")
    out = []
    for col in cols:
        i = header.index(col)
        out.append(_summary_row(col, [r[i].strip() for r in rows if r[i].strip() != ""]))
    return {"part-00000.csv": _csv_bytes(["column", "count", "mean", "min", "max"], out)}


def algo_word_count(files: list[tuple[str, bytes]], params: dict[str, Any]) -> dict[str, bytes]:
    counts: Counter[str] = Counter()
    for name, data in files:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise TaskFailed(f"{name}: not UTF-8 text") from None
        counts.update(w.lower() for w in re.findall(r"\w+", text))
    min_count = int(params.get("min_count", 1))
    rows = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda t: (-t[1], t[0]))
    return {"part-00000.csv": _csv_bytes(["word", "count"], [list(r) for r in rows])}


def _key_indexes(params: dict[str, Any], header: list[str]) -> list[int]:
    """The positions of the ``params.keys`` columns (all columns by default)."""
    keys = params.get("keys") or header
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys:
        raise TaskFailed("params.keys must be a list of column names")
    missing = [k for k in keys if k not in header]
    if missing:
        raise TaskFailed(f"unknown key column(s) {missing}; columns are {header}")
    return [header.index(k) for k in keys]


def algo_dedup(files: list[tuple[str, bytes]], params: dict[str, Any]) -> dict[str, bytes]:
    """The rows without duplicates on ``params.keys``, first occurrence kept."""
    header, rows = _read_csv(files)
    idx = _key_indexes(params, header)
    first: dict[tuple[str, ...], list[str]] = {}
    for row in rows:
        first.setdefault(tuple(row[i] for i in idx), row)
    return {"part-00000.csv": _csv_bytes(header, list(first.values()))}


def algo_sleep(files: list[tuple[str, bytes]], params: dict[str, Any]) -> dict[str, bytes]:
    seconds = float(params.get("seconds", 1))
    time.sleep(max(0.0, min(seconds, 3600)))
    return {"part-00000.csv": _csv_bytes(["slept"], [[_fmt(seconds)]])}


def algo_fail(files: list[tuple[str, bytes]], params: dict[str, Any]) -> dict[str, bytes]:
    raise TaskFailed(str(params.get("message") or "failed on purpose"))


ALGORITHMS: dict[str, Callable[[list[tuple[str, bytes]], dict[str, Any]], dict[str, bytes]]] = {
    "column-summary": algo_column_summary,
    "word-count": algo_word_count,
    "dedup": algo_dedup,
    "sleep": algo_sleep,
    "fail": algo_fail,
}


# ---------------------------------------------------------------------- submissions
_SIDES = (("inputFileSystemInfo", "inputPath"), ("outputFileSystemInfo", "outputPath"))


def _algorithm_problem(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("algorithm"), str) or not body["algorithm"].strip():
        return "algorithm is required"
    return None


def _email_problem(body: dict[str, Any]) -> str | None:
    email = body.get("email")
    if not email:
        return "email is required"
    if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
        return f"email is not a valid address: {email!r}"
    return None


def _params_problem(body: dict[str, Any]) -> str | None:
    if body.get("params") is not None and not isinstance(body["params"], dict):
        return "params must be a JSON object"
    return None


def _is_port(value: Any) -> bool:
    try:
        int(str(value))
    except ValueError:
        return False
    return True


def _ceph_problem(side: str, path_key: str, info: dict[str, Any]) -> str | None:
    """CEPH needs credentials and a ``bucket#path``."""
    if not info.get("userName") or not info.get("password"):
        return f"{side}.userName and password are required for CEPH"
    bucket, sep, _ = str(info[path_key]).partition("#")
    if not sep or not bucket:
        return f"{side}.{path_key} must be written bucket#path"
    return None


def _descriptor_problem(side: str, path_key: str, info: Any) -> str | None:
    """What is wrong with one file-system descriptor (``inputFileSystemInfo`` or ``outputFileSystemInfo``)."""
    if not isinstance(info, dict):
        return f"{side} is required"
    kind = str(info.get("fileSystemType") or "").upper()
    if kind not in ("HDFS", "CEPH"):
        return f"{side}.fileSystemType must be HDFS or CEPH"
    missing = next((key for key in ("host", "port", path_key) if info.get(key) in (None, "")), None)
    if missing is not None:
        return f"{side}.{missing} is required"
    if not _is_port(info["port"]):
        return f"{side}.port must be a number"
    return _ceph_problem(side, path_key, info) if kind == "CEPH" else None


def _file_systems_problem(body: dict[str, Any]) -> str | None:
    for side, path_key in _SIDES:
        reason = _descriptor_problem(side, path_key, body.get(side))
        if reason is not None:
            return reason
    return None


#: The checks of a submission body, in the order their refusals are answered.
_BODY_CHECKS: tuple[Callable[[dict[str, Any]], str | None], ...] = (
    _algorithm_problem, _email_problem, _params_problem, _file_systems_problem)


# ---------------------------------------------------------------------- file systems
def _probe(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _answering_namenode(info: dict[str, Any], host: str, port: int, timeout: float) -> tuple[str, int]:
    """The primary NameNode ``host:port`` when it answers, else ``spareHost`` (``host`` or ``host:port``)."""
    if _probe(host, port, timeout):
        return host, port
    spare = str(info.get("spareHost") or "").strip()
    if not spare:
        raise TaskFailed(f"HDFS NameNode {host}:{port} does not answer and no spareHost is given")
    spare_host, _, spare_port = spare.rpartition(":") if ":" in spare else (spare, "", str(port))
    if not _probe(spare_host, int(spare_port), timeout):
        raise TaskFailed(f"HDFS NameNode {info['host']}:{info['port']} and spareHost {spare} do not answer")
    return spare_host, int(spare_port)


class _Store:
    """One side (input or output) of a submission: an fsspec file system and a root path."""

    def __init__(self, info: dict[str, Any], path_key: str, connect_timeout_s: float) -> None:
        self.kind = str(info["fileSystemType"]).upper()
        self.secret = str(info.get("password") or "")
        raw_path = str(info[path_key])
        host, port = str(info["host"]), int(str(info["port"]))
        if self.kind == "HDFS":
            from fsspec.implementations.webhdfs import WebHDFS

            host, port = _answering_namenode(info, host, port, connect_timeout_s)
            self.fs = WebHDFS(host=host, port=port, user=str(info.get("userName") or "") or None,
                              skip_instance_cache=True)
            self.path = "/" + raw_path.strip("/")
        else:
            import s3fs

            bucket, _sep, prefix = raw_path.partition("#")
            self.bucket = bucket
            self.fs = s3fs.S3FileSystem(key=str(info["userName"]), secret=self.secret,
                                        endpoint_url=f"http://{host}:{port}", skip_instance_cache=True,
                                        use_listings_cache=False,
                                        client_kwargs={"region_name": "us-east-1"})
            self.path = f"{bucket}/{prefix.strip('/')}".rstrip("/")

    def read_inputs(self) -> list[tuple[str, bytes]]:
        try:
            if not self.fs.exists(self.path):
                raise TaskFailed(f"input path not found: {self.path}")
            if self.fs.isdir(self.path):
                names = [p for p in sorted(self.fs.find(self.path))
                         if not p.rstrip("/").rsplit("/", 1)[-1].startswith(("_", "."))]
                if not names:
                    raise TaskFailed(f"input folder is empty: {self.path}")
            else:
                names = [self.path]
            return [(n, self.fs.cat_file(n)) for n in names]
        except TaskFailed:
            raise
        except FileNotFoundError:
            raise TaskFailed(f"input path not found: {self.path}") from None

    def write_outputs(self, files: dict[str, bytes]) -> None:
        if self.kind == "CEPH":
            try:
                self.fs.call_s3("head_bucket", Bucket=self.bucket)
            except Exception:  # noqa: BLE001 - missing (or unreadable): try to create it
                with contextlib.suppress(Exception):
                    self.fs.call_s3("create_bucket", Bucket=self.bucket)
        else:
            self.fs.mkdir(self.path)
        for name, data in {**files, "_SUCCESS": b""}.items():
            self.fs.pipe_file(f"{self.path}/{name}", data)


# ---------------------------------------------------------------------- the sandbox
class DatastorySandbox(ThreadedServer):
    """The Datastory task API on a tornado server in a background thread."""

    thread_name = "datastory-sandbox"

    def __init__(self, token: str = DEFAULT_TOKEN, port: int = 0, submit_path: str = DEFAULT_SUBMIT_PATH, *,
                 host: str = "127.0.0.1", start_delay_s: float = 0.0, min_run_s: float = 0.0,
                 connect_timeout_s: float = 3.0, first_task_id: int = 3039696) -> None:
        super().__init__(port, host)
        self.token = token
        self.submit_path = "/" + submit_path.strip("/")
        self.start_delay_s = float(start_delay_s)
        self.min_run_s = float(min_run_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.submissions: list[dict[str, Any]] = []
        self._next_id = int(first_task_id)
        self._tasks: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def submit_url(self) -> str:
        return self.url + self.submit_path

    @property
    def get_url(self) -> str:
        return self.url + GET_PATH

    def tasks(self) -> dict[int, dict[str, Any]]:
        with self._lock:
            return {k: self._answer(v) for k, v in self._tasks.items()}

    def _make_app(self) -> tornado.web.Application:
        return tornado.web.Application([
            (self.submit_path, _SubmitHandler, {"sb": self}),
            (GET_PATH, _GetHandler, {"sb": self}),
        ])

    async def _shutdown(self) -> None:
        self._stopping.set()
        await super()._shutdown()

    def _after_stop(self) -> None:
        for worker in list(self._workers):
            worker.join(5)

    # ------------------------------------------------------------------ tasks
    @staticmethod
    def _answer(task: dict[str, Any]) -> dict[str, Any]:
        return {k: task[k] for k in ("id", "status", "addTime", "startTime", "finishTime", "message")}

    @staticmethod
    def validate(body: Any) -> str | None:
        """The reason a submission is refused, or None."""
        if not isinstance(body, dict):
            return "the request body must be a JSON object"
        for check in _BODY_CHECKS:
            reason = check(body)
            if reason is not None:
                return reason
        return None

    def submit(self, body: dict[str, Any]) -> int:
        redacted = copy.deepcopy(body)
        for side in ("inputFileSystemInfo", "outputFileSystemInfo"):
            if isinstance(redacted.get(side), dict) and "password" in redacted[side]:
                redacted[side]["password"] = "***"
        with self._lock:
            task_id = self._next_id
            self._next_id += 1
            self._tasks[task_id] = {"id": task_id, "status": "INITIALING", "addTime": _now(), "startTime": None,
                                    "finishTime": None, "message": None}
            self.submissions.append(redacted)
        log.info("task %s submitted: algorithm=%s", task_id, body.get("algorithm"))
        worker = threading.Thread(target=self._run, args=(task_id, body), name=f"datastory-task-{task_id}",
                                  daemon=True)
        self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        worker.start()
        return task_id

    def _set(self, task_id: int, **fields: Any) -> None:
        with self._lock:
            self._tasks[task_id].update(fields)

    def _run(self, task_id: int, body: dict[str, Any]) -> None:
        if self._stopping.wait(self.start_delay_s):
            return
        started = time.monotonic()
        self._set(task_id, status="RUNNING", startTime=_now())
        secrets = [str(body[s].get("password")) for s in ("inputFileSystemInfo", "outputFileSystemInfo")
                   if body[s].get("password")]
        try:
            algo = ALGORITHMS.get(body["algorithm"])
            if algo is None:
                raise TaskFailed(f"unknown algorithm {body['algorithm']!r}; known: {', '.join(sorted(ALGORITHMS))}")
            params = body.get("params") or {}
            src = _Store(body["inputFileSystemInfo"], "inputPath", self.connect_timeout_s)
            files = src.read_inputs()
            outputs = algo(files, params)
            dst = _Store(body["outputFileSystemInfo"], "outputPath", self.connect_timeout_s)
            dst.write_outputs(outputs)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the task's message
            msg = str(exc) if isinstance(exc, TaskFailed) else f"{type(exc).__name__}: {exc}"
            for s in secrets:
                msg = msg.replace(s, "***")
            self._finish(task_id, started, "ERROR", msg)
            log.info("task %s failed: %s", task_id, msg)
            return
        self._finish(task_id, started, "FINISHED", None)
        log.info("task %s finished", task_id)

    def _finish(self, task_id: int, started: float, status: str, message: str | None) -> None:
        rest = self.min_run_s - (time.monotonic() - started)
        if rest > 0:
            self._stopping.wait(rest)
        self._set(task_id, status=status, finishTime=_now(), message=message)


class _Base(tornado.web.RequestHandler):
    def initialize(self, sb: DatastorySandbox) -> None:
        self.sb = sb

    def check_xsrf_cookie(self) -> None:
        return

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json;charset=UTF-8")
        self.finish(json.dumps(body))

    def prepare(self) -> None:
        if self.request.headers.get("Authorization", "") != self.sb.token:
            self._json(401, {"code": 401, "message": "Unauthorized: invalid or missing token"})


class _SubmitHandler(_Base):
    def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            self._json(400, {"code": 400, "message": "the request body is not valid JSON"})
            return
        reason = self.sb.validate(body)
        if reason:
            self._json(400, {"code": 400, "message": reason})
            return
        self._json(200, {"id": self.sb.submit(body)})


class _GetHandler(_Base):
    def get(self) -> None:
        raw = self.get_query_argument("taskId", "")
        try:
            task_id = int(raw)
        except ValueError:
            self._json(400, {"code": 400, "message": "taskId is required and must be an integer"})
            return
        with self.sb._lock:
            task = self.sb._tasks.get(task_id)
            answer = self.sb._answer(task) if task else None
        if answer is None:
            self._json(404, {"code": 404, "message": f"task {task_id} not found"})
            return
        self._json(200, answer)


# ---------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("datastory", "Local stand-in of the Datastory offline algorithm task API")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--submit-path", default=DEFAULT_SUBMIT_PATH)
    parser.add_argument("--start-delay-s", type=float, default=0.0)
    parser.add_argument("--with-webhdfs", action="store_true", help="also start a WebHDFS sandbox")
    parser.add_argument("--webhdfs-port", type=int, default=0)
    args = parser.parse_args(argv)
    lines: list[str] = []

    @contextlib.contextmanager
    def sandboxes() -> Iterator[DatastorySandbox]:
        with contextlib.ExitStack() as stack:
            if args.with_webhdfs:
                from .webhdfs import WebHdfsSandbox  # the sibling sandbox

                hdfs = stack.enter_context(WebHdfsSandbox(port=args.webhdfs_port, host=args.host))
                lines.append(f"WebHDFS sandbox at {hdfs.url} (host {hdfs.host}, port {hdfs.port})")
            yield stack.enter_context(DatastorySandbox(args.token, args.port, args.submit_path, host=args.host,
                                                       start_delay_s=args.start_delay_s))

    return serve_until_stopped(sandboxes(), lambda sb: "\n".join([
        *lines, f"Datastory sandbox at {sb.url}  (submit: {sb.submit_url}, header Authorization: {sb.token})",
        "algorithms: " + ", ".join(ALGORITHMS)]))


if __name__ == "__main__":
    sys.exit(main())
