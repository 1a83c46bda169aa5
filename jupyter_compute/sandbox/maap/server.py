"""A faithful local stand-in of NASA MAAP's DPS job service: both API flavours on one tornado server.

What it refuses (as the live service does); each row is tested in ``tests/test_sandbox_maap.py``
(``test_refusals`` unless another test is named):

==  =================================================  ===================================================
#   request                                            answer
==  =================================================  ===================================================
1   no credential header (OGC routes, queues,          401 ``{"message": "No valid authentication
    ``POST dps/job``, ``POST dps/job/cancel/{id}``)    credentials provided or processed.", "code": 401}``
2   an expired PGT (``EXPIRED_TOKEN``) in              401 ``{"message": "Invalid session or insufficient
    ``proxy-ticket``, ``cpticket``, ``X-MAAP-API-Key``,  permissions.", "code": 401}``; an expired JWT as
    ``cas-authorization`` or ``dps-token``               ``Authorization: Bearer`` is accepted, as live
3   an unknown token, in any of those or as Bearer     401 invalid session (as row 2)
4   a bad ``proxy-ticket`` before a good Bearer        401 invalid session: the first header present decides
5   ``Authorization`` that is not ``Bearer <token>``   401 ``Malformed Authorization header.``
6   an execution without a body, or without a queue    400 OGC error ``{type, title, status, detail, instance}``
7   an execution on a queue not the user's             400 ``FailedJobSubmit: User does not have access to <q>``
8   an execution whose ``inputs`` are not an object,   400 ``FailedJobSubmit: …``
    or whose granules are not ids
9   an execution of an unknown processID               404 type ``…/no-such-process``
10  an unknown job, or one within ``index_lag_s`` of   404 type ``…/no-such-job`` (GET/DELETE
    its creation (``test_index_lag_answers_404_…``)    ``ogc/jobs/{id}``, ``…/results``, ``…/metrics``)
11  results of a job no worker has started             500 ``{"status": 500, "detail"}``
12  DELETE of a finished job                           400 ``Not allowed to cancel job with status job-<x>``
13  a negative or non-numeric limit/offset/pageSize    400
14  a WPS Execute that is not one, or of an unknown    500 ``ows:ExceptionReport`` ``FailedJobSubmit``
    algorithm
15  a WPS Execute on a queue not the user's            400 ``ows:ExceptionReport`` ``FailedJobSubmit``
16  a WPS cancel of a finished job / an unknown one    400 ``FailedJobCancel`` / 500 ``FailedJobSubmit``
17  WPS metrics / result of a job no worker has        500 ``FailedGetMetrics`` / ``FailedGetResult``
    started
18  swagger: a body that breaks the model, an unknown  400 / 404 / 409 ``{"message"}``
    algorithm_id, bad paging or callback_uri (400);    (``test_swagger_validation_errors``)
    unknown ids (404); running an entry twice (409);
    submitting a DEPRECATED job (400)
==  =================================================  ===================================================

Follows ``shared/specs/maap-dps.md`` and ``maap-dps-swagger.yaml``; imports nothing else of
jupyter_compute. Entries and jobs really run: every algorithm is a local Python program started as
a subprocess (never on the server's event loop), with granules staged in from the sandbox's data
folder and products served over http (and uploaded to S3 when an endpoint is given).

Starting it
-----------
::

    from jupyter_compute.sandbox.maap import MaapSandbox, VALID_TOKEN
    with MaapSandbox(granules={"G1": b"a,b\\n1,2\\n"}) as sb:      # or sb = MaapSandbox().start() ... sb.stop()
        sb.url            # "http://127.0.0.1:PORT/api/"   (the API root, as maap-py's maap_api_root)
        sb.base_url       # "http://127.0.0.1:PORT"

    python -m jupyter_compute.sandbox.maap --port 8765          # demo server, Ctrl-C to stop

``MaapSandbox(port=0, *, host="127.0.0.1", workdir=None, granules=None, sample_granules=True,
timeout_s=300, index_lag_s=0, start_delay_s=0, tokens=(VALID_TOKEN,), expired_tokens=(EXPIRED_TOKEN,),
queues=None, user_id="sandbox-user", s3_endpoint_url=None, s3_bucket=None, s3_access_key=None,
s3_secret_key=None, s3_region="us-east-1", callback_timeout_s=5)``

- ``port`` 0 picks a free port; ``workdir`` holds granules and run folders (a temp dir, removed on
  ``stop()``, when not given).
- ``timeout_s``: time limit of one run, counted from its start (read when a run starts, so tests may
  change ``sb.timeout_s`` between runs). Swagger entries end ``TIMEOUT``; OGC jobs end ``failed``
  (the live service has no timeout status).
- ``index_lag_s``: for this long after creation an entry/job is invisible to reads (404 and absent
  from lists), like MAAP's search-index lag. Swagger: ``GET jobentries/{id}`` and the list (``run``
  is not affected). OGC: ``GET/DELETE ogc/jobs/{id}``, ``…/results``, ``…/metrics`` and the list.
- ``start_delay_s``: a started run stays PENDING/accepted this long before a worker takes it.
- ``queues``: ``{name: worker slots}``; default ``DEFAULT_QUEUES`` = {"maap-dps-worker-8gb": 4,
  "maap-dps-worker-32gb": 2, "maap-dps-sandbox": 1}. OGC jobs wait (``accepted``) while their queue's
  slots are busy; swagger entries run at once. Any other queue name is refused.
- S3: when ``s3_endpoint_url`` and ``s3_bucket`` are given, stage-out also uploads every output file
  to ``<bucket>/<user_id>/dps_output/<algorithm>/<version>/<YYYY>/<MM>/<DD>/<HH>/<MM>/<SS>/<run id>/<name>``
  (the bucket is created when missing) and lists it as ``s3://s3.amazonaws.com:80/<bucket>/<key>``
  (MAAP's style: rewrite to ``s3://<bucket>/<key>`` and use the real endpoint to read it). Needs
  botocore (installed with s3fs or boto3); imported only when S3 is configured.

Methods (thread-safe, callable from tests): ``start()``, ``stop()``, context manager,
``add_granule(id, data)``, ``register_algorithm(name, program, version="main", description="")`` →
processID, ``cancel_entry(entry_id)`` (swagger entries have no cancel route: this ends a PENDING or
RUNNING entry ``CANCELED``), ``mark_offline(job_id)`` (an OGC job's worker is lost: the job ends
``offline``), ``file_url(run_id, name)``. Attributes: ``algorithms`` ({name: processID}),
``granules`` ({id: path}), ``callback_log`` ([{"uri", "entry_id", "step", "status" | "error"}], one
per callback attempt), ``queues``, ``tokens``, ``expired_tokens``, ``timeout_s``, ``index_lag_s``,
``start_delay_s`` (the last three may be changed while running).

Algorithms (built in; ``processID`` is the integer the OGC flavour wants)
-------------------------------------------------------------------------
=====  ==============  ==================================================================================
pid    algorithm_id    what it does (``params`` = OGC inputs other than ``granules``; swagger entries take
                       numbers from a granule ``description``: ``"3"`` or ``"seconds=3"``)
=====  ==============  ==================================================================================
1      ``row-stats``   each granule is a CSV: one row per (granule, column) with count/mean/min/max
                       → ``row_stats.csv`` (columns granule,column,count,mean,min,max; mean/min/max
                       empty for a non-numeric column, which also prints a ``WARNING:``)
2      ``word-count``  words of all text granules → ``word_counts.csv`` (word,count; count desc, word)
3      ``fail``        exits 1; stderr ends ``RuntimeError: <params.message or first description>``
4      ``sleep``       sleeps ``seconds`` (default 1) → ``slept.txt``; for cancel/timeout tests
5      ``slow-steps``  ``steps`` (default 3) lines ``step i/N`` ``delay`` s apart → ``steps.csv`` (step,square)
=====  ==============  ==================================================================================
``algorithm_id`` may also be written ``name:version`` (all built-ins are version ``main``); an OGC
job's ``job_type`` is ``job-<name>:<version>``. A registered program is run as
``python <program> <job.json>`` in its run folder; ``job.json`` has ``algorithm_id``, ``input_dir``,
``output_dir``, ``params`` and ``granules`` [{granule_id, description, path}]. Files it writes to
``output_dir`` are the products; stdout lines starting ``WARNING:`` become WARN step messages.

Granules
--------
``granules={"G1": data}`` / ``add_granule("G1", data)``: ``data`` is ``bytes`` or ``str`` (the file's
content) or an ``os.PathLike`` (an existing file, read at stage-in). Built-in samples (unless
``sample_granules=False``): ``sample-trees.csv`` (species,height_m,diameter_cm; 6 rows) and
``sample-text.txt``. A swagger ``data_collection`` item or an OGC granule whose id is unknown fails
the run at stage-in (``ERROR`` / ``failed``) with the message ``Granule '<id>' not found``. A swagger
item without ``granule_id`` (or with an empty one) is parameter-only: its description reaches the
algorithm, nothing is staged. OGC inputs: ``{"granules": ["G1", …] | "G1", <other params>…}``
(items may also be ``{"granule_id", "description"}``).

Swagger flavour (``/api/v1/…``, no authentication)
--------------------------------------------------
Exactly the swagger's paths, bodies and codes: ``POST/GET /api/v1/jobs``, ``GET /api/v1/jobs/{job_id}``,
``POST /api/v1/jobs/{job_id}/submit`` → 200 ``{"entry_id"}`` (PENDING, not started),
``POST /api/v1/jobentries/{entry_id}/run`` body ``{"callback_uri": "http…" | ""}`` → 204,
``GET /api/v1/jobentries?offset=0&limit=50`` (creation order), ``GET /api/v1/jobentries/{entry_id}``.
Errors: non-2xx ``{"message"}``; 400 for a body that breaks the model (``algorithm_id`` is required
here, the swagger marks nothing required), an unknown ``algorithm_id``, a bad offset/limit or a
callback_uri that is neither "" nor http(s); 404 unknown ids; 409 running an entry twice; 400
submitting a DEPRECATED job. A Job echoes the JobInput fields (``status`` defaults to ACTIVE) plus
``job_id``. An entry has three steps, present from creation with status PENDING:
0 ``stage-in``, 1 ``run algorithm``, 2 ``stage-out``. Each has ``index``, ``description``, ``status``,
``messages`` [{level WARN|ERROR, text}], ``files`` [{file_uri, description}], and ``time_started`` /
``time_ended`` (UTC ``…Z``) once set (absent before). Step 1's files are the logs
(``…/_stdout.txt`` "log: stdout", ``…/_stderr.txt`` "log: stderr"), also on failure; step 2's files
are the outputs (description ``output``; with S3 each output is listed twice, http first, then its
``s3://`` URL with description ``output (s3)``). When a step fails (ERROR/TIMEOUT/CANCELED) the
later steps become CANCELED without ever starting. Entry status: PENDING → RUNNING → SUCCESS | ERROR |
TIMEOUT | CANCELED. Callback: with a ``callback_uri``, each step's JobStepResults (exactly the
model, no entry id: the URI is per entry) is POSTed when it starts (RUNNING) and when it ends, in
order, one at a time, with ``callback_timeout_s``; failures are logged and never fail the job; the
last POST carries the entry's final status (skipped steps are not posted).

Live (OGC) flavour (``/api/…``)
-------------------------------
``GET /api/environment/config`` (no auth; maap-py's client config: ``service`` {``maap_api_root`` =
this server's ``/api``, ``maap_token``, ``tiler_endpoint``}, ``maap_endpoint`` with every endpoint
name maap-py 5.1 reads — ``mas_algo`` "mas/algorithm", ``dps_job`` "dps/job", ``processes_ogc``
"ogc/processes", ``deployment_jobs_ogc`` "ogc/deploymentJobs", ``jobs_ogc`` "ogc/jobs",
``algorithm_register``, ``algorithm_build``, ``search_granule_url``, ``search_collection_url``,
``member``, ``member_dps_token``, ``requester_pays``, ``edc_credentials``, ``s3_signed_url``,
``workspace_bucket_credentials``, ``wmts`` — and ``search.indexed_attributes``). Point maap-py at it
with ``MAAP_API_HOST_SCHEME=http`` and ``MAAP(maap_host="127.0.0.1:PORT")``.
Every other route below needs auth: the first header present among
``proxy-ticket``, ``cpticket``, ``Authorization``, ``X-MAAP-API-Key``, ``cas-authorization``,
``dps-token`` decides. Valid: a token in ``tokens`` (default ``VALID_TOKEN`` = "sandbox-pgt");
``Authorization`` must be ``Bearer <token>`` and also accepts ``expired_tokens`` (the live server
accepts expired JWTs). Expired (``EXPIRED_TOKEN`` = "expired-pgt") or unknown → 401
``{"message": "Invalid session or insufficient permissions.", "code": 401}``; no header → 401
``{"message": "No valid authentication credentials provided or processed.", "code": 401}``.

- ``GET /api/mas/algorithm/resource`` → ``{"code": 200, "message": "success", "queues": [names]}``.
- ``GET /api/ogc/processes`` / ``GET /api/ogc/processes/{pid}`` (no auth): the registry.
- ``POST /api/ogc/processes/{pid}/execution`` body ``{"inputs": {…}, "queue": "…", "tag"?, "dedup"?}``
  → 202 ``{"jobID", "processID" (int), "status": "accepted", "created" (naive local time),
  "links": [{"href": "/ogc/processes/<pid>/execution", "rel": "self", "type", "hreflang", "title"},
  {"href": "/ogc/jobs/<id>", "rel": "monitor", …}]}`` (no ``/api`` prefix, as live; maap-py reads
  the job id from the ``monitor`` link). 400 ``{type: null, title, status, detail, instance}``
  without a body or queue;
  ``detail`` ``FailedJobSubmit: User does not have access to <queue>`` for another queue; 404
  ``no-such-process``. ``dedup: true`` with the same processID and inputs as an earlier successful
  job → the new job is ``deduped`` at once (no results, no pointer to the earlier run).
- ``GET /api/ogc/jobs?limit&offset&pageSize&processID&status&tag&queue&datetime&getJobDetails&fields``
  → ``{"status": 200, "jobs": [{"jobID", "type": "process", "status", "job_type"}], "links":
  [{"href": "/ogc/job/<id>"}…]}``, newest first; page = limit, else pageSize, else 100; no total,
  no next link (the end is a short page). With ``getJobDetails=true`` items are the detailed job
  documents (below, plus ``type`` "process" and ``job_type``). Unknown processID → empty list.
- ``GET /api/ogc/jobs/{id}`` → ``{"jobID", "processID", "type": null, "status"}``; with
  ``getJobDetails=true`` also ``created``/``started``/``finished`` (UTC ``…Z`` or null),
  ``job_queue``, ``tags`` ([tag or "<name>:<version>"]), ``products`` (one URL string: the S3 folder
  ``s3://s3.amazonaws.com:80/<bucket>/<prefix>/`` with S3, else ``http://…/files/<id>/``; null
  until staged); ``fields=inputs`` adds ``inputs``. Unknown → 404 ``{"type": "…/no-such-job",
  "title", "status": 404, "detail", "instance"}``.
- ``GET /api/ogc/jobs/{id}/results``: accepted → 500 ``{"status": 500, "detail"}``; running,
  dismissed, deduped → ``{}``; successful → ``{"additionalProp1": {"id": "<product>", "links":
  [{"href": http}, {"href": s3}?]}, …}``: one product per top-level entry of the output folder —
  a file (links to the file) or a folder (links to the folder: ``http://…/files/<id>/<folder>/``,
  whose page is an HTML index of its files, and ``s3://…/<prefix>/<folder>``) — then the logs
  ``_stdout.txt`` / ``_stderr.txt`` (names starting ``_`` are logs, http only); failed / offline →
  the log products plus ``"detail": "Job failed and traceback is <stderr tail or error>"``.
- ``GET /api/ogc/jobs/{id}/metrics`` → machine_type, job_start_time, job_end_time,
  job_duration_seconds, cpu_usage (s), max_resident_set_size (kB), directory_size (bytes).
- ``DELETE /api/ogc/jobs/{id}`` → 202 ``{"jobID", "type": "process", "status": "dismissed"}``: an
  accepted job is purged (404 afterwards); a running one is killed and then shows ``dismissed``;
  otherwise 400 ``detail`` ``Not allowed to cancel job with status job-completed`` (job-failed,
  job-revoked, job-deduped, job-offline).
- Statuses: accepted, running, successful, failed, dismissed, deduped, offline.

WPS flavour (``/api/dps/job…``, XML; maap-py's ``DPSJob`` helpers): see ``wps.py``. Same jobs and
ids as the OGC routes.

Files: ``GET /files/{run_id}/{name}`` serves a published product or log (no auth);
``GET /files/{run_id}/`` lists them as ``{"files": [names]}``; ``GET /files/{run_id}/<folder>/``
is the HTML index of a product folder (links relative to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import html
import json
import logging
import mimetypes
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web

from .._procs import kill_group
from .._server import ThreadedServer, cli_parser, serve_until_stopped

from .swagger import validation_error

log = logging.getLogger(__name__)

VALID_TOKEN = "sandbox-pgt"
#: The granule the demo notebook runs over (a sandbox started for the demos holds it).
DEMO_GRANULES = {"plots.csv": "plot,species,biomass_t_ha\n1,oak,182.5\n2,pine,140.0\n3,birch,95.25\n4,oak,201.0\n"}
EXPIRED_TOKEN = "expired-pgt"
DEFAULT_QUEUES = {"maap-dps-worker-8gb": 4, "maap-dps-worker-32gb": 2, "maap-dps-sandbox": 1}
AUTH_HEADERS = ("proxy-ticket", "cpticket", "Authorization", "X-MAAP-API-Key", "cas-authorization", "dps-token")
MSG_INVALID_SESSION = "Invalid session or insufficient permissions."
MSG_NO_CREDENTIALS = "No valid authentication credentials provided or processed."
OGC_EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
STEP_NAMES = ("stage-in", "run algorithm", "stage-out")
_STAGE_IN, _RUN_ALGORITHM, _STAGE_OUT = range(len(STEP_NAMES))
_JOB_INPUT_FIELDS = ("job_name", "algorithm_id", "data_collection", "status", "description")
_LOG_NAMES = ("_stdout.txt", "_stderr.txt")
S3_HOST = "s3.amazonaws.com:80"
ALGORITHMS_DIR = Path(__file__).resolve().parent / "algorithms"

BUILTIN_ALGORITHMS = (
    ("row-stats", "row_stats.py", "Per-column count/mean/min/max of each granule CSV"),
    ("word-count", "word_count.py", "Word counts of the text granules"),
    ("fail", "fail.py", "Always fails, with a traceback on stderr"),
    ("sleep", "sleep.py", "Sleeps N seconds"),
    ("slow-steps", "slow_steps.py", "Prints N progress steps, slowly"),
)

SAMPLE_GRANULES = {
    "sample-trees.csv": (
        "species,height_m,diameter_cm\n"
        "oak,21.5,60\npine,30.0,45\nbirch,15.2,25\noak,18.0,52\npine,27.5,40\nbirch,12.8,20\n"
    ),
    "sample-text.txt": "the forest and the trees\nthe biomass of the forest\n",
}

# OGC status → the raw HySDS status name the live server shows in errors.
HYSDS_NAMES = {
    "accepted": "job-queued", "running": "job-started", "successful": "job-completed",
    "failed": "job-failed", "dismissed": "job-revoked", "deduped": "job-deduped", "offline": "job-offline",
}
OGC_OF_SWAGGER = {
    "PENDING": "accepted", "RUNNING": "running", "SUCCESS": "successful", "ERROR": "failed",
    "TIMEOUT": "failed", "CANCELED": "dismissed",
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def zulu(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None


def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "granule"
    return name[:120]


@dataclass
class Algorithm:
    name: str
    version: str
    process_id: int
    program: Path
    description: str = ""

    @property
    def job_type(self) -> str:
        return f"job-{self.name}:{self.version}"


@dataclass
class _Run:
    """One run: a swagger job entry or an OGC job (``flavour``)."""

    id: str
    flavour: str
    algorithm: Algorithm
    granules: list[dict[str, Any]]
    params: dict[str, Any]
    created: dt.datetime = field(default_factory=utc_now)
    created_local: dt.datetime = field(default_factory=dt.datetime.now)
    created_mono: float = field(default_factory=time.monotonic)
    status: str = "PENDING"  # swagger vocabulary, for both flavours
    steps: list[dict[str, Any]] = field(default_factory=list)
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    started_mono: float | None = None
    callback_uri: str = ""
    cb_queue: asyncio.Queue | None = None
    cb_task: asyncio.Task | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)  # {name, kind, http, s3}
    error: str | None = None
    stop_reason: str | None = None  # CANCELED | offline
    task: asyncio.Task | None = None
    dir: Path | None = None
    s3_prefix: str | None = None
    cpu_s: float | None = None
    maxrss_kb: int | None = None
    # swagger
    job_id: str = ""
    job_name: str = ""
    # ogc
    queue: str = ""
    tag: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    ogc_override: str | None = None  # deduped | offline

    def __post_init__(self) -> None:
        if not self.steps:
            self.steps = [
                {"index": i, "description": d, "status": "PENDING", "messages": [], "files": []}
                for i, d in enumerate(STEP_NAMES)
            ]

    @property
    def ogc_status(self) -> str:
        return self.ogc_override or OGC_OF_SWAGGER[self.status]

    @property
    def tag_or_default(self) -> str:
        """The OGC job's tag, else ``<algorithm>:<version>``."""
        return self.tag or f"{self.algorithm.name}:{self.algorithm.version}"


@dataclass(frozen=True)
class _Folders:
    """The folders and files of one run, under ``root``."""

    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def stdout(self) -> Path:
        return self.logs / "_stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.logs / "_stderr.txt"

    @property
    def job_file(self) -> Path:
        return self.root / "job.json"


@dataclass(frozen=True)
class _Exit:
    """How a program ended: its exit code and, when it was reaped here, its resource usage."""

    code: int
    cpu_s: float | None = None
    maxrss_kb: int | None = None


class _Stopper:
    """Stops a process group: SIGTERM at the first press, SIGKILL at each press 2 s or more later."""

    grace_s = 2.0

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.term_at: float | None = None

    def press(self) -> None:
        now = time.monotonic()
        if self.term_at is None:
            kill_group(self.pid, signal.SIGTERM)
            self.term_at = now
        elif now - self.term_at > self.grace_s:
            kill_group(self.pid, signal.SIGKILL)


class MaapSandbox(ThreadedServer):
    """The MAAP DPS stand-in (see the module docstring)."""

    thread_name = "maap-sandbox"

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        workdir: str | os.PathLike | None = None,
        granules: Mapping[str, bytes | str | os.PathLike] | None = None,
        sample_granules: bool = True,
        timeout_s: float = 300.0,
        index_lag_s: float = 0.0,
        start_delay_s: float = 0.0,
        tokens: tuple[str, ...] | list[str] = (VALID_TOKEN,),
        expired_tokens: tuple[str, ...] | list[str] = (EXPIRED_TOKEN,),
        queues: dict[str, int] | None = None,
        user_id: str = "sandbox-user",
        s3_endpoint_url: str | None = None,
        s3_bucket: str | None = None,
        s3_access_key: str | None = None,
        s3_secret_key: str | None = None,
        s3_region: str = "us-east-1",
        callback_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(port, host)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="maap-sandbox-"))
        (self.workdir / "granules").mkdir(parents=True, exist_ok=True)
        (self.workdir / "runs").mkdir(parents=True, exist_ok=True)
        self.timeout_s = float(timeout_s)
        self.index_lag_s = float(index_lag_s)
        self.start_delay_s = float(start_delay_s)
        self.tokens = set(tokens)
        self.expired_tokens = set(expired_tokens)
        self.queues = dict(queues if queues is not None else DEFAULT_QUEUES)
        self.user_id = user_id
        self.s3_endpoint_url = s3_endpoint_url
        self.s3_bucket = s3_bucket
        self.s3_access_key = s3_access_key
        self.s3_secret_key = s3_secret_key
        self.s3_region = s3_region
        self.callback_timeout_s = float(callback_timeout_s)
        self.callback_log: list[dict[str, Any]] = []

        self._lock = threading.Lock()
        self._algorithms: dict[str, Algorithm] = {}
        self._granules: dict[str, Path] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._entries: dict[str, _Run] = {}
        self._ogc: dict[str, _Run] = {}
        self._waiting: dict[str, list[_Run]] = {q: [] for q in self.queues}
        self._busy: dict[str, int] = dict.fromkeys(self.queues, 0)
        self._s3_client: Any = None
        self._s3_lock = threading.Lock()

        for name, program, description in BUILTIN_ALGORITHMS:
            self.register_algorithm(name, ALGORITHMS_DIR / program, description=description)
        if sample_granules:
            for gid, text in SAMPLE_GRANULES.items():
                self.add_granule(gid, text)
        for gid, data in (granules or {}).items():
            self.add_granule(gid, data)

    # ------------------------------------------------------------------ public API
    @property
    def url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def algorithms(self) -> dict[str, int]:
        with self._lock:
            return {a.name: a.process_id for a in self._algorithms.values()}

    @property
    def granules(self) -> dict[str, Path]:
        with self._lock:
            return dict(self._granules)

    def file_url(self, run_id: str, name: str) -> str:
        return f"{self.base_url}/files/{quote(run_id)}/{quote(name)}"

    def add_granule(self, granule_id: str, data: bytes | str | os.PathLike) -> Path:
        """Register a granule: bytes/str are its content, a path-like an existing file."""
        if not isinstance(granule_id, str) or not granule_id:
            raise ValueError("granule_id must be a non-empty string")
        if isinstance(data, os.PathLike):
            path = Path(data).resolve()
            if not path.is_file():
                raise FileNotFoundError(path)
        elif isinstance(data, (bytes, bytearray, str)):
            raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            path = self.workdir / "granules" / f"{uuid.uuid4().hex[:8]}-{_safe_name(granule_id)}"
            path.write_bytes(raw)
        else:
            raise TypeError("granule data must be bytes, str (content) or a path-like")
        with self._lock:
            self._granules[granule_id] = path
        return path

    def register_algorithm(self, name: str, program: str | os.PathLike, *, version: str = "main",
                           description: str = "") -> int:
        """Register a Python program as an algorithm; returns its integer processID."""
        path = Path(program).resolve()
        if not path.is_file():
            raise FileNotFoundError(path)
        with self._lock:
            existing = self._algorithms.get(name)
            pid = existing.process_id if existing else len(self._algorithms) + 1
            self._algorithms[name] = Algorithm(name, version, pid, path, description)
            return pid

    def cancel_entry(self, entry_id: str) -> str:
        """End a swagger entry CANCELED (there is no swagger route for it). Returns its status."""
        return self._call(self._cancel_entry, entry_id)

    def mark_offline(self, job_id: str) -> str:
        """Simulate a lost worker: a running (or queued) OGC job ends ``offline``."""
        return self._call(self._mark_offline, job_id)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.stop()
        runs = [*self._entries.values(), *self._ogc.values()]
        tasks = [t for r in runs for t in (r.task, r.cb_task) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.close_all_connections(), 5)

    def _after_stop(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _make_app(self) -> tornado.web.Application:
        from .wps import wps_routes  # noqa: PLC0415 - wps.py builds on this module's handlers

        sb = {"sb": self}
        rid = r"([^/]+)"
        routes = [
            (r"/api/v1/jobs/?", SwJobsHandler, sb),
            (rf"/api/v1/jobs/{rid}/submit/?", SwSubmitHandler, sb),
            (rf"/api/v1/jobs/{rid}/?", SwJobHandler, sb),
            (r"/api/v1/jobentries/?", SwEntriesHandler, sb),
            (rf"/api/v1/jobentries/{rid}/run/?", SwRunHandler, sb),
            (rf"/api/v1/jobentries/{rid}/?", SwEntryHandler, sb),
            (r"/api/v1/.*", SwNotFoundHandler, sb),
            (r"/api/environment/config/?", EnvConfigHandler, sb),
            (r"/api/mas/algorithm/resource/?", QueuesHandler, sb),
            (r"/api/ogc/processes/?", ProcessesHandler, sb),
            (rf"/api/ogc/processes/{rid}/execution/?", ExecuteHandler, sb),
            (rf"/api/ogc/processes/{rid}/?", ProcessHandler, sb),
            (r"/api/ogc/jobs/?", OgcJobsHandler, sb),
            (rf"/api/ogc/jobs/{rid}/results/?", OgcResultsHandler, sb),
            (rf"/api/ogc/jobs/{rid}/metrics/?", OgcMetricsHandler, sb),
            (rf"/api/ogc/jobs/{rid}/?", OgcJobHandler, sb),
            *wps_routes(self),
            (rf"/files/{rid}/?", FilesHandler, sb),
            (rf"/files/{rid}/(.+)", FilesHandler, sb),
        ]
        return tornado.web.Application(routes, default_handler_class=NotFoundHandler,
                                       default_handler_args=sb)

    # ------------------------------------------------------------------ lookups
    def _algorithm(self, algorithm_id: str) -> Algorithm | None:
        with self._lock:
            algo = self._algorithms.get(algorithm_id)
            if algo is None and ":" in algorithm_id:
                name, version = algorithm_id.rsplit(":", 1)
                algo = self._algorithms.get(name)
                if algo is not None and algo.version != version:
                    algo = None
            return algo

    def _algorithm_by_pid(self, pid: str) -> Algorithm | None:
        with self._lock:
            return next((a for a in self._algorithms.values() if str(a.process_id) == str(pid)), None)

    def _run(self, run_id: str) -> _Run | None:
        """A swagger entry or an OGC job."""
        return self._entries.get(run_id) or self._ogc.get(run_id)

    def _visible(self, run: _Run) -> bool:
        return time.monotonic() - run.created_mono >= self.index_lag_s

    # ------------------------------------------------------------------ swagger operations
    def _create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        job: dict[str, Any] = {k: body[k] for k in _JOB_INPUT_FIELDS if k in body}
        job.setdefault("status", "ACTIVE")
        job["job_id"] = str(uuid.uuid4())
        self._jobs[job["job_id"]] = job
        return job

    def _submit(self, job: dict[str, Any]) -> _Run:
        algo = self._algorithm(job["algorithm_id"])
        assert algo is not None
        granules = [{"granule_id": g.get("granule_id", ""), "description": g.get("description", "")}
                    for g in job.get("data_collection", [])]
        run = _Run(id=str(uuid.uuid4()), flavour="swagger", algorithm=algo, granules=granules, params={},
                   job_id=job["job_id"], job_name=job.get("job_name", ""))
        self._entries[run.id] = run
        return run

    def _start_entry(self, run: _Run, callback_uri: str) -> None:
        run.callback_uri = callback_uri
        if callback_uri:
            run.cb_queue = asyncio.Queue()
            run.cb_task = asyncio.ensure_future(self._callback_sender(run))
        run.task = asyncio.ensure_future(self._entry_main(run))

    async def _entry_main(self, run: _Run) -> None:
        try:
            if self.start_delay_s > 0:
                await asyncio.sleep(self.start_delay_s)
            if run.stop_reason:
                self._finish(run, "CANCELED")
                return
            self._mark_started(run)
            await self._execute(run)
        finally:
            if run.cb_queue is not None:
                run.cb_queue.put_nowait(None)

    def _cancel_entry(self, entry_id: str) -> str:
        run = self._entries.get(entry_id)
        if run is None:
            raise KeyError(entry_id)
        if run.status == "PENDING" and run.task is None:
            self._finish(run, "CANCELED")
        elif run.status in ("PENDING", "RUNNING"):
            run.stop_reason = "CANCELED"
        return run.status

    # ------------------------------------------------------------------ ogc operations
    def _execute_ogc(self, algo: Algorithm, inputs: dict[str, Any], granules: list[dict[str, Any]],
                     params: dict[str, Any], queue: str, tag: str | None, dedup: bool) -> _Run:
        run = _Run(id=str(uuid.uuid4()), flavour="ogc", algorithm=algo, granules=granules, params=params,
                   queue=queue, tag=tag, inputs=inputs)
        self._ogc[run.id] = run
        key = json.dumps(inputs, sort_keys=True)
        if dedup and any(
            r.algorithm.process_id == algo.process_id and r.ogc_status == "successful"
            and json.dumps(r.inputs, sort_keys=True) == key
            for r in self._ogc.values() if r is not run
        ):
            run.ogc_override = "deduped"
            run.status = "SUCCESS"
            run.finished = utc_now()
            for step in run.steps:
                step["status"] = "CANCELED"
            return run
        self._waiting[queue].append(run)
        self._pump(queue)
        return run

    def _pump(self, queue: str) -> None:
        waiting = self._waiting[queue]
        while waiting and self._busy[queue] < self.queues[queue]:
            run = waiting[0]
            delay = run.created_mono + self.start_delay_s - time.monotonic()
            if delay > 0:
                asyncio.get_running_loop().call_later(delay + 0.01, self._pump, queue)
                return
            waiting.pop(0)
            self._busy[queue] += 1
            self._mark_started(run)
            run.task = asyncio.ensure_future(self._ogc_main(run))

    async def _ogc_main(self, run: _Run) -> None:
        try:
            await self._execute(run)
        finally:
            self._busy[run.queue] -= 1
            self._pump(run.queue)

    def _dismiss(self, run: _Run) -> tuple[int, dict[str, Any]]:
        status = run.ogc_status
        if status == "accepted":
            with contextlib.suppress(ValueError):
                self._waiting[run.queue].remove(run)
            self._ogc.pop(run.id, None)
        elif status == "running":
            run.stop_reason = "CANCELED"
        else:
            return 400, {"detail": f"Not allowed to cancel job with status {HYSDS_NAMES[status]}"}
        return 202, {"jobID": run.id, "type": "process", "status": "dismissed"}

    def _mark_offline(self, job_id: str) -> str:
        run = self._ogc.get(job_id)
        if run is None:
            raise KeyError(job_id)
        if run.ogc_status == "accepted":
            with contextlib.suppress(ValueError):
                self._waiting[run.queue].remove(run)
            run.ogc_override = "offline"
            self._finish(run, "ERROR", "The worker went offline before the job started")
        elif run.ogc_status == "running":
            run.stop_reason = "offline"
        return run.ogc_status

    # ------------------------------------------------------------------ running
    def _mark_started(self, run: _Run) -> None:
        run.status = "RUNNING"
        run.started = utc_now()
        run.started_mono = time.monotonic()

    def _notify(self, run: _Run, step: dict[str, Any]) -> None:
        if run.cb_queue is not None:
            run.cb_queue.put_nowait(copy.deepcopy(step))

    def _step_begin(self, run: _Run, index: int) -> None:
        step = run.steps[index]
        step["status"] = "RUNNING"
        step["time_started"] = zulu(utc_now())
        self._notify(run, step)

    def _step_end(self, run: _Run, index: int, status: str, messages: list[dict[str, str]] | None = None,
                  files: list[dict[str, str]] | None = None) -> None:
        step = run.steps[index]
        step["status"] = status
        step["time_ended"] = zulu(utc_now())
        step["messages"].extend(messages or [])
        step["files"].extend(files or [])
        if status != "SUCCESS":  # later steps never start; the entry ends before the callback goes out
            self._finish(run, status, "; ".join(m["text"] for m in messages or []) or None)
        self._notify(run, step)

    def _finish(self, run: _Run, status: str, error: str | None = None) -> None:
        for step in run.steps:
            if step["status"] == "PENDING":
                step["status"] = "CANCELED"
        run.status = status
        run.error = run.error or error
        run.finished = utc_now()
        if run.stop_reason == "offline":
            run.ogc_override = "offline"

    async def _execute(self, run: _Run) -> None:
        """Run the three steps of a run; an internal error ends the run, never the server."""
        deadline = (run.started_mono or time.monotonic()) + self.timeout_s
        folders = _Folders(self.workdir / "runs" / run.id)
        run.dir = folders.root
        try:
            staged = await self._stage_in_step(run, folders)
            if staged is not None and await self._algorithm_step(run, folders, staged, deadline):
                await self._stage_out_step(run, folders)
        except asyncio.CancelledError:
            if run.status in ("PENDING", "RUNNING"):
                self._finish(run, "CANCELED", "the sandbox stopped")
            raise
        except Exception as exc:  # an internal error ends the run, never the server
            log.exception("MAAP sandbox: run %s failed internally", run.id)
            running = next((s["index"] for s in run.steps if s["status"] == "RUNNING"), _STAGE_IN)
            self._step_end(run, running, "ERROR", [_error(f"sandbox error: {exc}")])

    async def _stage_in_step(self, run: _Run, folders: _Folders) -> list[dict[str, Any]] | None:
        """Step 0: copy the granules into the input folder; the job.json items, or None when the run ended."""
        self._step_begin(run, _STAGE_IN)
        staged = []
        for i, granule in enumerate(run.granules):
            gid = granule.get("granule_id") or ""
            item = {"granule_id": gid, "description": granule.get("description", ""), "path": None}
            if gid:
                item["path"] = await self._stage_granule(gid, i, folders.input)
                if item["path"] is None:
                    await self._fail_stage_in(run, folders.logs, f"Granule {gid!r} not found")
                    return None
            staged.append(item)
        if run.stop_reason:
            self._stopped(run, _STAGE_IN, None)
            return None
        self._step_end(run, _STAGE_IN, "SUCCESS")
        return staged

    async def _stage_granule(self, gid: str, index: int, in_dir: Path) -> str | None:
        """Copy one granule into ``in_dir``; its staged path, or None when it is unknown or gone."""
        with self._lock:
            src = self._granules.get(gid)
        if src is None:
            return None
        name = _safe_name(gid)
        if "." not in name and src.suffix:
            name += src.suffix
        dst = in_dir / f"{index:03d}-{name}"
        copied = await asyncio.to_thread(_copy_if_exists, src, dst)
        return str(dst) if copied else None

    async def _fail_stage_in(self, run: _Run, log_dir: Path, msg: str) -> None:
        await asyncio.to_thread(_write_failure_log, log_dir, msg)
        await self._publish_logs(run, log_dir)  # OGC triage products; not listed in steps
        self._step_end(run, _STAGE_IN, "ERROR", [_error(msg)])

    async def _algorithm_step(self, run: _Run, folders: _Folders, staged: list[dict[str, Any]],
                              deadline: float) -> bool:
        """Step 1: run the program on the staged granules; whether the run goes on."""
        self._step_begin(run, _RUN_ALGORITHM)
        await asyncio.to_thread(_prepare_run_dir, folders, {
            "algorithm_id": run.algorithm.name, "input_dir": str(folders.input), "output_dir": str(folders.output),
            "params": run.params, "granules": staged,
        })
        rc, timed_out = await self._run_program(run, folders, deadline)
        logs = await self._publish_logs(run, folders.logs)
        log_files = [{"file_uri": o["http"], "description": f"log: {o['name'][1:-4]}"} for o in logs]
        warnings = [{"level": "WARN", "text": t} for t in await asyncio.to_thread(_warnings, folders.stdout)]
        if timed_out:
            msg = f"Time limit of {self.timeout_s:g} s exceeded: the algorithm was stopped"
            self._step_end(run, _RUN_ALGORITHM, "TIMEOUT", [*warnings, _error(msg)], log_files)
        elif run.stop_reason:
            self._stopped(run, _RUN_ALGORITHM, log_files)
        elif rc != 0:
            tail = (await asyncio.to_thread(_tail, folders.stderr)).strip()
            last = tail.splitlines()[-1] if tail else "no error output"
            msg = f"Algorithm {run.algorithm.name!r} exited with code {rc}: {last}"
            run.error = tail or msg
            self._step_end(run, _RUN_ALGORITHM, "ERROR", [*warnings, _error(msg)], log_files)
        else:
            self._step_end(run, _RUN_ALGORITHM, "SUCCESS", warnings, log_files)
            return True
        return False

    async def _stage_out_step(self, run: _Run, folders: _Folders) -> None:
        """Step 2: publish the output folder's files (and upload them to S3 when configured)."""
        self._step_begin(run, _STAGE_OUT)
        try:
            published = await self._stage_out(run, folders.output)
        except Exception as exc:  # noqa: BLE001 - becomes the step's message
            log.warning("MAAP sandbox: stage-out of %s failed: %s", run.id, exc)
            self._step_end(run, _STAGE_OUT, "ERROR", [_error(f"stage-out failed: {exc}")])
            return
        if run.stop_reason:
            self._stopped(run, _STAGE_OUT, None)
            return
        self._step_end(run, _STAGE_OUT, "SUCCESS", files=_output_files(published))
        self._finish(run, "SUCCESS")

    def _stopped(self, run: _Run, index: int, files: list[dict[str, str]] | None) -> None:
        if run.stop_reason == "offline":
            self._step_end(run, index, "ERROR", [_error("The worker went offline")], files)
        else:
            self._step_end(run, index, "CANCELED", [{"level": "WARN", "text": "The run was canceled"}], files)

    async def _run_program(self, run: _Run, folders: _Folders, deadline: float) -> tuple[int, bool]:
        """Run the algorithm program; returns (exit code, timed out). Never blocks the loop: the program
        is started and reaped in threads, and stopped at the deadline or when the run is stopped."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1",
                   MAAP_SANDBOX_JOB=str(folders.job_file))
        argv = [sys.executable, str(run.algorithm.program), str(folders.job_file)]
        proc = await asyncio.to_thread(_spawn, argv, folders, env)
        exited = _exit_of(proc.pid)
        try:
            timed_out = await self._supervise(run, proc.pid, exited, deadline)
        except BaseException:
            if not exited.done():
                kill_group(proc.pid, signal.SIGKILL)
                with contextlib.suppress(Exception):  # let the reaper collect it before the error goes on
                    await asyncio.wait_for(asyncio.shield(exited), 5)
                proc.returncode = -9
            raise
        result = exited.result()
        proc.returncode = result.code
        if result.cpu_s is not None:
            run.cpu_s, run.maxrss_kb = result.cpu_s, result.maxrss_kb
        return result.code, timed_out

    async def _supervise(self, run: _Run, pid: int, exited: asyncio.Future[_Exit], deadline: float) -> bool:
        """Wait until the program exits, stopping it at the deadline or on request; whether it timed out."""
        stopper = _Stopper(pid)
        timed_out = False
        while not exited.done():
            if not timed_out and not run.stop_reason and time.monotonic() >= deadline:
                timed_out = True
            if timed_out or run.stop_reason:
                stopper.press()
            await asyncio.wait({exited}, timeout=0.05)
        return timed_out

    async def _publish_logs(self, run: _Run, log_dir: Path) -> list[dict[str, Any]]:
        """List the run's log files (those written) among its outputs; the entries added."""
        present = await asyncio.to_thread(_existing, log_dir, _LOG_NAMES)
        logs = [{"name": name, "kind": "log", "path": log_dir / name, "http": self.file_url(run.id, name), "s3": None}
                for name in present]
        run.outputs.extend(logs)
        return logs

    async def _stage_out(self, run: _Run, out_dir: Path) -> list[dict[str, Any]]:
        names = await asyncio.to_thread(_list_files, out_dir)
        published = []
        if self.s3_endpoint_url and self.s3_bucket:
            t = run.started or utc_now()
            run.s3_prefix = (f"{self.user_id}/dps_output/{run.algorithm.name}/{run.algorithm.version}/"
                             f"{t:%Y/%m/%d/%H/%M/%S}/{run.id}")
        for name in names:
            entry = {"name": name, "kind": "output", "path": out_dir / name,
                     "http": self.file_url(run.id, name), "s3": None}
            if run.s3_prefix:
                key = f"{run.s3_prefix}/{name}"
                await asyncio.to_thread(self._upload, out_dir / name, key)
                entry["s3"] = f"s3://{S3_HOST}/{self.s3_bucket}/{key}"
            published.append(entry)
        # outputs first, logs after (as products are listed)
        logs = [o for o in run.outputs if o["kind"] == "log"]
        run.outputs = published + logs
        return published

    def _upload(self, path: Path, key: str) -> None:
        with self._s3_lock:
            if self._s3_client is None:
                import botocore.config  # noqa: PLC0415 - only needed with S3
                import botocore.session  # noqa: PLC0415

                session = botocore.session.get_session()
                client = session.create_client(
                    "s3", endpoint_url=self.s3_endpoint_url, region_name=self.s3_region,
                    aws_access_key_id=self.s3_access_key or "sandbox",
                    aws_secret_access_key=self.s3_secret_key or "sandbox",
                    config=botocore.config.Config(connect_timeout=5, read_timeout=30,
                                                  retries={"max_attempts": 2}))
                try:
                    client.head_bucket(Bucket=self.s3_bucket)
                except Exception:  # noqa: BLE001 - create a missing bucket
                    client.create_bucket(Bucket=self.s3_bucket)
                self._s3_client = client
            client = self._s3_client
        with open(path, "rb") as fh:
            client.put_object(Bucket=self.s3_bucket, Key=key, Body=fh.read())

    async def _callback_sender(self, run: _Run) -> None:
        client = tornado.httpclient.AsyncHTTPClient()
        assert run.cb_queue is not None
        while True:
            step = await run.cb_queue.get()
            if step is None:
                return
            record: dict[str, Any] = {"uri": run.callback_uri, "entry_id": run.id, "step": step}
            try:
                response = await client.fetch(tornado.httpclient.HTTPRequest(
                    run.callback_uri, method="POST", body=json.dumps(step),
                    headers={"Content-Type": "application/json"},
                    connect_timeout=self.callback_timeout_s, request_timeout=self.callback_timeout_s,
                ), raise_error=False)
                record["status"] = response.code
                if response.code >= 400:
                    log.warning("MAAP sandbox: callback %s answered %s", run.callback_uri, response.code)
            except Exception as exc:  # noqa: BLE001 - a failing callback never fails the job
                record["error"] = str(exc)
                log.warning("MAAP sandbox: callback %s failed: %s", run.callback_uri, exc)
            self.callback_log.append(record)

    # ------------------------------------------------------------------ views
    def _entry_view(self, run: _Run) -> dict[str, Any]:
        return {
            "entry_id": run.id, "job_id": run.job_id, "job_name": run.job_name, "user_id": self.user_id,
            "status": run.status, "callback_uri": run.callback_uri, "steps": copy.deepcopy(run.steps),
        }

    def _products_url(self, run: _Run) -> str | None:
        if not any(o["kind"] == "output" for o in run.outputs) and run.ogc_status != "successful":
            return None
        if run.ogc_override == "deduped":
            return None
        if run.s3_prefix:
            return f"s3://{S3_HOST}/{self.s3_bucket}/{run.s3_prefix}/"
        return f"{self.base_url}/files/{run.id}/"

    def _ogc_view(self, run: _Run, details: bool, fields: set[str]) -> dict[str, Any]:
        view: dict[str, Any] = {"jobID": run.id, "processID": run.algorithm.process_id, "type": None,
                                "status": run.ogc_status}
        if details:
            view.update({
                "created": zulu(run.created), "started": zulu(run.started), "finished": zulu(run.finished),
                "job_queue": run.queue, "tags": [run.tag_or_default],
                "products": self._products_url(run),
            })
        if "inputs" in fields:
            view["inputs"] = copy.deepcopy(run.inputs)
        return view

    def _products(self, run: _Run) -> list[dict[str, Any]]:
        """The staged products, in order: a top-level output file is one product, a top-level output
        folder is one product (its links name the folder), then the logs. ``{"id", "urls"}``."""
        products: dict[str, dict[str, Any]] = {}
        for out in run.outputs:
            top, _, rest = out["name"].partition("/")
            if top in products:
                continue
            if not rest:
                urls = [out["http"]] + ([out["s3"]] if out.get("s3") else [])
            else:
                urls = [self.file_url(run.id, top) + "/"]
                if run.s3_prefix:
                    urls.append(f"s3://{S3_HOST}/{self.s3_bucket}/{run.s3_prefix}/{top}")
            products[top] = {"id": top, "urls": urls}
        return list(products.values())

    async def _metrics(self, run: _Run) -> dict[str, Any]:
        """A run's metrics (the OGC names); sizes read in a worker thread."""
        size = 0
        if run.dir is not None:
            size = await asyncio.to_thread(_dir_size, run.dir)
        duration = (run.finished - run.started).total_seconds() if run.started and run.finished else None
        return {
            "machine_type": "sandbox-local", "architecture": platform.machine(),
            "operating_system": platform.system(), "job_start_time": zulu(run.started),
            "job_end_time": zulu(run.finished), "job_duration_seconds": duration,
            "cpu_usage": run.cpu_s, "max_resident_set_size": run.maxrss_kb, "directory_size": size,
        }

    def _ogc_results(self, run: _Run) -> tuple[int, dict[str, Any]]:
        status = run.ogc_status
        if status == "accepted":
            return 500, {"status": 500, "detail": (
                f"Failed to get job result of job with id: {run.id}. 'NoneType' object has no attribute "
                "'get'. If you don't see expected results, please contact administrator of DPS")}
        if status in ("running", "dismissed", "deduped"):
            return 200, {}
        body: dict[str, Any] = {}
        for n, product in enumerate(self._products(run), start=1):
            body[f"additionalProp{n}"] = {"id": product["id"], "links": [{"href": u} for u in product["urls"]]}
        if status in ("failed", "offline"):
            body["detail"] = f"Job failed and traceback is {run.error or 'unknown error'}"
        return 200, body


# ---------------------------------------------------------------------- helpers (run in threads)
def _copy_if_exists(src: Path, dst: Path) -> bool:
    """Copy ``src`` to ``dst`` (making its folder); False when ``src`` is gone."""
    if not src.exists():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return True


def _write_failure_log(log_dir: Path, msg: str) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "_stdout.txt").write_text("")
    (log_dir / "_stderr.txt").write_text(msg + "\n")


def _existing(folder: Path, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if (folder / name).exists()]


def _prepare_run_dir(folders: _Folders, job: dict[str, Any]) -> None:
    for sub in (folders.input, folders.output, folders.logs):
        sub.mkdir(parents=True, exist_ok=True)
    folders.job_file.write_text(json.dumps(job, indent=1), encoding="utf-8")


def _spawn(argv: list[str], folders: _Folders, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start the program in its own session (so its whole group can be stopped), output to the logs."""
    with open(folders.stdout, "wb") as out, open(folders.stderr, "wb") as err:
        return subprocess.Popen(argv, cwd=folders.root, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, start_new_session=True)


def _wait_for_exit(pid: int) -> _Exit:
    """Block until the child ``pid`` exits and reap it, with its resource usage."""
    try:
        _, status, usage = os.wait4(pid, 0)
    except ChildProcessError:  # reaped by someone else: the exit code is lost
        return _Exit(-1)
    return _Exit(os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def _exit_of(pid: int) -> asyncio.Future[_Exit]:
    """How the child ``pid`` ends, reaped on a thread of its own (a wait as long as the run must not hold a
    worker of the loop's shared executor)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_Exit] = loop.create_future()

    def settle(result: _Exit) -> None:
        if not future.done():
            future.set_result(result)

    def reap() -> None:
        result = _wait_for_exit(pid)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result)

    threading.Thread(target=reap, name=f"maap-sandbox-reaper-{pid}", daemon=True).start()
    return future


def _error(text: str) -> dict[str, str]:
    """An ERROR message of a step."""
    return {"level": "ERROR", "text": text}


def _output_files(published: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The stage-out step's files: each output's http URL, then its s3 URL when it has one."""
    files = []
    for out in published:
        files.append({"file_uri": out["http"], "description": "output"})
        if out.get("s3"):
            files.append({"file_uri": out["s3"], "description": "output (s3)"})
    return files


def _list_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _tail(path: Path, max_chars: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-max_chars:].decode("utf-8", errors="replace")


def _warnings(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line[len("WARNING:"):].strip() for line in lines if line.startswith("WARNING:")][:20]


# ---------------------------------------------------------------------- handlers
class _Base(tornado.web.RequestHandler):
    sb: MaapSandbox

    def initialize(self, sb: MaapSandbox) -> None:
        self.sb = sb

    def check_xsrf_cookie(self) -> None:  # an API, not a form
        return

    def send(self, code: int, body: Any = None) -> None:
        self.set_status(code)
        if body is None:
            self.finish()
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def json_body(self) -> tuple[bool, Any]:
        raw = self.request.body or b""
        if not raw.strip():
            return True, None
        try:
            return True, json.loads(raw)
        except ValueError as exc:
            return False, str(exc)

    def int_arg(self, name: str, default: int | None) -> int | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        value = int(raw)  # ValueError handled by callers
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        return value

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": self._reason, "code": status_code}))


class NotFoundHandler(_Base):
    def prepare(self) -> None:
        self.send(404, {"message": f"The requested URL {self.request.path} was not found on the server.",
                        "code": 404})


# ---- swagger flavour
class _Sw(_Base):
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": self._reason}))

    def error(self, code: int, message: str) -> None:
        self.send(code, {"message": message})


class SwNotFoundHandler(_Sw):
    def prepare(self) -> None:
        self.error(404, f"No such resource: {self.request.method} {self.request.path}")


class SwJobsHandler(_Sw):
    def get(self) -> None:
        self.send(200, list(self.sb._jobs.values()))

    def post(self) -> None:
        ok, body = self.json_body()
        if not ok:
            return self.error(400, f"Request body is not valid JSON: {body}")
        if body is None:
            return self.error(400, "Missing request body: a JobInput is required")
        problem = validation_error("JobInput", body)
        if problem:
            return self.error(400, problem)
        if self.sb._algorithm(body["algorithm_id"]) is None:
            return self.error(400, f"Unknown algorithm_id {body['algorithm_id']!r}; known: "
                                   + ", ".join(sorted(self.sb.algorithms)))
        self.send(200, self.sb._create_job(body))


class SwJobHandler(_Sw):
    def get(self, job_id: str) -> None:
        job = self.sb._jobs.get(job_id)
        if job is None:
            return self.error(404, f"Job {job_id} not found")
        self.send(200, job)


class SwSubmitHandler(_Sw):
    def post(self, job_id: str) -> None:
        job = self.sb._jobs.get(job_id)
        if job is None:
            return self.error(404, f"Job {job_id} not found")
        if job.get("status") == "DEPRECATED":
            return self.error(400, f"Job {job_id} is DEPRECATED and cannot be submitted")
        if self.sb._algorithm(job["algorithm_id"]) is None:
            return self.error(400, f"Unknown algorithm_id {job['algorithm_id']!r}")
        run = self.sb._submit(job)
        self.send(200, {"entry_id": run.id})


class SwEntriesHandler(_Sw):
    def get(self) -> None:
        try:
            offset = self.int_arg("offset", 0)
            limit = self.int_arg("limit", 50)
        except ValueError as exc:
            return self.error(400, f"Invalid pagination parameter: {exc}")
        visible = [r for r in self.sb._entries.values() if self.sb._visible(r)]
        assert offset is not None and limit is not None
        self.send(200, [self.sb._entry_view(r) for r in visible[offset:offset + limit]])


class SwEntryHandler(_Sw):
    def get(self, entry_id: str) -> None:
        run = self.sb._entries.get(entry_id)
        if run is None or not self.sb._visible(run):
            return self.error(404, f"Job entry {entry_id} not found")
        self.send(200, self.sb._entry_view(run))


class SwRunHandler(_Sw):
    def post(self, entry_id: str) -> None:
        run = self.sb._entries.get(entry_id)
        if run is None:
            return self.error(404, f"Job entry {entry_id} not found")
        ok, body = self.json_body()
        if not ok:
            return self.error(400, f"Request body is not valid JSON: {body}")
        if body is None:
            return self.error(400, "Missing request body: a JobEntryRunInput is required")
        problem = validation_error("JobEntryRunInput", body)
        if problem:
            return self.error(400, problem)
        uri = body.get("callback_uri", "")
        if uri and not re.match(r"^https?://[^/\s]+", uri):
            return self.error(400, f"Invalid JobEntryRunInput: callback_uri must be an http(s) URL or "
                                   f"an empty string, not {uri!r}")
        if run.task is not None or run.status != "PENDING":
            return self.error(409, f"Job entry {entry_id} was already run (status {run.status})")
        self.sb._start_entry(run, uri)
        self.send(204)


# ---- live (OGC) flavour
class _Live(_Base):
    auth_required = True

    def prepare(self) -> None:
        if self.auth_required:
            problem = self._auth_problem()
            if problem:
                self.send(401, {"message": problem, "code": 401})

    def _auth_problem(self) -> str | None:
        headers = self.request.headers
        name = next((h for h in AUTH_HEADERS if h in headers), None)
        if name is None:
            return MSG_NO_CREDENTIALS
        value = headers.get(name, "").strip()
        if name == "Authorization":
            if not value.lower().startswith("bearer "):
                return "Malformed Authorization header."
            token = value.split(None, 1)[1].strip()
            ok = token in self.sb.tokens or token in self.sb.expired_tokens
        else:
            ok = value in self.sb.tokens
        return None if ok else MSG_INVALID_SESSION

    def ogc_error(self, code: int, detail: str, kind: str | None = None, title: str | None = None) -> None:
        titles = {400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
        self.send(code, {"type": (OGC_EXC + kind) if kind else None,
                         "title": title or titles.get(code, "Error"), "status": code, "detail": detail,
                         "instance": self.request.path})

    def no_such_process(self) -> None:
        self.ogc_error(404, "No process with that process ID found", "no-such-process", "No Such Process")

    def details_arg(self) -> bool:
        """Whether ``getJobDetails`` asks for the detailed job documents."""
        return _truthy(self.get_query_argument("getJobDetails", None))

    def fields_arg(self) -> set[str]:
        """The names listed in ``fields`` (comma-separated)."""
        return set(filter(None, (self.get_query_argument("fields", "") or "").split(",")))

    def no_such_job(self, job_id: str) -> None:
        self.ogc_error(404, f"No job with that job ID found: {job_id}", "no-such-job", "No Such Job")

    def visible_job(self, job_id: str) -> _Run | None:
        run = self.sb._ogc.get(job_id)
        if run is None or not self.sb._visible(run):
            self.no_such_job(job_id)
            return None
        return run


class EnvConfigHandler(_Live):
    auth_required = False

    def get(self) -> None:
        root = f"{self.request.protocol}://{self.request.host}/api"
        self.send(200, {
            "maap_endpoint": {
                "search_granule_url": "cmr/granules", "search_collection_url": "cmr/collections",
                "algorithm_register": "mas/algorithm", "algorithm_build": "dps/algorithm/build",
                "mas_algo": "mas/algorithm", "dps_job": "dps/job", "processes_ogc": "ogc/processes",
                "deployment_jobs_ogc": "ogc/deploymentJobs", "jobs_ogc": "ogc/jobs",
                "wmts": "wmts", "member": "members/self",
                "member_dps_token": "members/dps/userImpersonationToken",
                "requester_pays": "members/self/awsAccess/requesterPaysBucket",
                "edc_credentials": "members/self/awsAccess/edcCredentials/{endpoint_uri}",
                "s3_signed_url": "members/self/presignedUrlS3/{bucket}/{key}",
                "workspace_bucket_credentials": "members/self/awsAccess/workspaceBucket",
            },
            "service": {"maap_api_root": root, "maap_token": "", "tiler_endpoint": ""},
            "search": {"indexed_attributes": []},
        })


class QueuesHandler(_Live):
    def get(self) -> None:
        self.send(200, {"code": 200, "message": "success", "queues": list(self.sb.queues)})


def _process_view(algo: Algorithm) -> dict[str, Any]:
    return {"processID": algo.process_id, "id": algo.name, "version": algo.version,
            "title": algo.name, "description": algo.description, "cwl_link": None}


class ProcessesHandler(_Live):
    auth_required = False

    def get(self) -> None:
        with self.sb._lock:
            algos = sorted(self.sb._algorithms.values(), key=lambda a: a.process_id)
        self.send(200, {"processes": [_process_view(a) for a in algos],
                        "links": [{"href": f"/ogc/processes/{a.process_id}"} for a in algos]})


class ProcessHandler(_Live):
    auth_required = False

    def get(self, pid: str) -> None:
        algo = self.sb._algorithm_by_pid(pid)
        if algo is None:
            return self.no_such_process()
        self.send(200, {**_process_view(algo), "links": [{"href": f"/ogc/processes/{pid}"}]})


class ExecuteHandler(_Live):
    def post(self, pid: str) -> None:
        algo = self.sb._algorithm_by_pid(pid)
        if algo is None:
            return self.no_such_process()
        ok, body = self.json_body()
        request = _parse_execution(body if ok else None, self.sb.queues)
        if isinstance(request, str):
            return self.ogc_error(400, request)
        run = self.sb._execute_ogc(algo, request.inputs, request.granules, request.params, request.queue,
                                   request.tag, request.dedup)
        self.send(202, _execution_answer(algo, run))


@dataclass(frozen=True)
class _Execution:
    """A checked OGC execution request."""

    inputs: dict[str, Any]
    granules: list[dict[str, Any]]
    params: dict[str, Any]
    queue: str
    tag: str | None
    dedup: bool


def _parse_execution(body: Any, queues: Collection[str]) -> _Execution | str:
    """An OGC execution body → the request, or the ``detail`` of the 400 that refuses it."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object with inputs and queue"
    queue = body.get("queue")
    if not queue or not isinstance(queue, str):
        return "FailedJobSubmit: queue is required"
    if queue not in queues:
        return f"FailedJobSubmit: User does not have access to {queue}"
    inputs = body.get("inputs")
    inputs = {} if inputs is None else inputs
    parsed = parse_inputs(inputs)
    if isinstance(parsed, str):
        return f"FailedJobSubmit: {parsed}"
    tag = body.get("tag")
    if tag is not None and not isinstance(tag, str):
        return "FailedJobSubmit: tag must be a string"
    dedup = body.get("dedup", False)
    return _Execution(inputs, *parsed, queue, tag, dedup if isinstance(dedup, bool) else str(dedup).lower() == "true")


def _execution_answer(algo: Algorithm, run: _Run) -> dict[str, Any]:
    """The 202 body of an accepted execution (links without the ``/api`` prefix, as live)."""
    return {
        "jobID": run.id, "processID": algo.process_id, "status": "accepted",
        "created": run.created_local.isoformat(),
        "links": [
            {"href": f"/ogc/processes/{algo.process_id}/execution", "rel": "self",
             "type": "application/json", "hreflang": "en", "title": "Process Execution"},
            {"href": f"/ogc/jobs/{run.id}", "rel": "monitor", "type": "application/json",
             "hreflang": "en", "title": "Job"},
        ],
    }


def parse_inputs(inputs: Any) -> tuple[list[dict[str, Any]], dict[str, Any]] | str:
    """An execution's ``inputs`` → (granules, other params), or what is wrong with them."""
    if not isinstance(inputs, dict):
        return "inputs must be an object"
    raw = inputs.get("granules", [])
    raw = [raw] if isinstance(raw, (str, dict)) else raw
    if not isinstance(raw, list):
        return "inputs.granules must be a list of granule ids"
    granules = []
    for item in raw:
        granule = _granule_item(item)
        if granule is None:
            return "inputs.granules must be a list of granule ids"
        granules.append(granule)
    return granules, {k: v for k, v in inputs.items() if k != "granules"}


def _granule_item(item: Any) -> dict[str, Any] | None:
    """One item of ``inputs.granules`` (an id, or ``{"granule_id", "description"}``); None when neither."""
    if isinstance(item, str):
        return {"granule_id": item, "description": ""}
    if isinstance(item, dict) and isinstance(item.get("granule_id", ""), str):
        return {"granule_id": item.get("granule_id", ""), "description": str(item.get("description", ""))}
    return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class _JobFilter:
    """A filter of the OGC job list: its query parameters (the first one given counts) and the job's value
    it must equal (after ``normalise``)."""

    params: tuple[str, ...]
    value_of: Callable[[_Run], str]
    normalise: Callable[[str], str] = str


_JOB_FILTERS = (
    _JobFilter(("processID", "process_id"), lambda r: str(r.algorithm.process_id)),
    _JobFilter(("status",), lambda r: r.ogc_status, lambda v: v.strip().lower()),
    _JobFilter(("tag",), lambda r: r.tag_or_default),
    _JobFilter(("queue",), lambda r: r.queue),
)


class OgcJobsHandler(_Live):
    def get(self) -> None:
        try:
            size, offset = self._paging()
        except ValueError as exc:
            return self.ogc_error(400, f"Invalid paging parameter: {exc}")
        runs = [r for r in reversed(self.sb._ogc.values()) if self.sb._visible(r)]  # newest first
        for job_filter in _JOB_FILTERS:
            wanted = self._first_query_argument(job_filter.params)
            if wanted:
                runs = [r for r in runs if job_filter.value_of(r) == job_filter.normalise(wanted)]
        page = runs[offset:offset + size]
        details, fields = self.details_arg(), self.fields_arg()
        jobs = [self._list_item(r, details, fields) for r in page]
        self.send(200, {"status": 200, "jobs": jobs, "links": [{"href": f"/ogc/job/{r.id}"} for r in page]})

    def _paging(self) -> tuple[int, int]:
        """(page size, offset): the page is ``limit``, else ``pageSize``, else 100. ValueError when bad."""
        limit = self.int_arg("limit", None)
        page_size = self.int_arg("pageSize", None)
        offset = self.int_arg("offset", 0) or 0
        size = limit if limit is not None else page_size if page_size is not None else 100
        return size, offset

    def _first_query_argument(self, names: tuple[str, ...]) -> str | None:
        return next((value for name in names if (value := self.get_query_argument(name, None))), None)

    def _list_item(self, run: _Run, details: bool, fields: set[str]) -> dict[str, Any]:
        if details:
            return {**self.sb._ogc_view(run, True, fields), "type": "process", "job_type": run.algorithm.job_type}
        return {"jobID": run.id, "type": "process", "status": run.ogc_status, "job_type": run.algorithm.job_type}


class OgcJobHandler(_Live):
    def get(self, job_id: str) -> None:
        run = self.visible_job(job_id)
        if run is None:
            return
        self.send(200, self.sb._ogc_view(run, self.details_arg(), self.fields_arg()))

    def delete(self, job_id: str) -> None:
        run = self.visible_job(job_id)
        if run is None:
            return
        code, body = self.sb._dismiss(run)
        if code == 400:
            return self.ogc_error(400, body["detail"])
        self.send(code, body)


class OgcResultsHandler(_Live):
    def get(self, job_id: str) -> None:
        run = self.visible_job(job_id)
        if run is None:
            return
        code, body = self.sb._ogc_results(run)
        self.send(code, body)


class OgcMetricsHandler(_Live):
    async def get(self, job_id: str) -> None:
        run = self.visible_job(job_id)
        if run is None:
            return
        self.send(200, await self.sb._metrics(run))


def _dir_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _files_in(run: _Run, folder: str) -> list[str]:
    """The names of a run's published files under ``folder`` (ending "/"), relative to it."""
    return [o["name"][len(folder):] for o in run.outputs if o["name"].startswith(folder)]


class FilesHandler(_Base):
    async def get(self, run_id: str, name: str | None = None) -> None:
        run = self.sb._run(run_id)
        if run is None:
            return self.send(404, {"message": f"No files for {run_id}"})
        if name is None:
            return self.send(200, {"files": [o["name"] for o in run.outputs]})
        folder = name.rstrip("/") + "/"
        inside = _files_in(run, folder)
        if inside:  # a product folder: an index page of its files (links relative to the folder)
            return self._index(folder, inside)
        out = next((o for o in run.outputs if o["name"] == name), None)
        if out is None:
            return self.send(404, {"message": f"No file {name!r} for {run_id}"})
        self._send_file(name, await asyncio.to_thread(Path(out["path"]).read_bytes))

    def _index(self, folder: str, names: list[str]) -> None:
        """An HTML index of a product folder, like a static file server's listing."""
        if not self.request.path.endswith("/"):
            self.redirect(self.request.path + "/")
            return
        items = "".join(f'<li><a href="{quote(n)}">{html.escape(n)}</a></li>' for n in names)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(f"<!DOCTYPE html><html><head><title>Index of {html.escape(folder)}</title></head>"
                    f"<body><h1>Index of {html.escape(folder)}</h1><ul>{items}</ul></body></html>")

    def _send_file(self, name: str, data: bytes) -> None:
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media.startswith("text/"):
            media += "; charset=utf-8"
        self.set_header("Content-Type", media)
        self.finish(data)


# ---------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("maap", "Local stand-in of NASA MAAP's DPS API (swagger + live flavours)")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--timeout-s", type=float, default=300.0)
    parser.add_argument("--index-lag-s", type=float, default=0.0)
    parser.add_argument("--start-delay-s", type=float, default=0.0)
    parser.add_argument("--granule", action="append", default=[], metavar="ID=PATH",
                        help="register a granule from a file (repeatable)")
    parser.add_argument("--token", action="append", default=None, help=f"valid token (default {VALID_TOKEN})")
    parser.add_argument("--s3-endpoint-url", default=None)
    parser.add_argument("--s3-bucket", default=None)
    parser.add_argument("--s3-access-key", default=None)
    parser.add_argument("--s3-secret-key", default=None)
    args = parser.parse_args(argv)
    granules: dict[str, Any] = {}
    for spec in args.granule:
        gid, _, path = spec.partition("=")
        granules[gid] = Path(path)
    sandbox = MaapSandbox(
        args.port, host=args.host, workdir=args.workdir, granules=granules, timeout_s=args.timeout_s,
        index_lag_s=args.index_lag_s, start_delay_s=args.start_delay_s,
        tokens=tuple(args.token or (VALID_TOKEN,)), s3_endpoint_url=args.s3_endpoint_url,
        s3_bucket=args.s3_bucket, s3_access_key=args.s3_access_key, s3_secret_key=args.s3_secret_key,
    )
    return serve_until_stopped(sandbox, lambda sb: (
        f"MAAP sandbox at {sb.url}  (swagger: {sb.url}v1/, token: proxy-ticket: {next(iter(sb.tokens))})\n"
        "algorithms: " + ", ".join(f"{k}={v}" for k, v in sb.algorithms.items()) + "\n"
        "granules: " + ", ".join(sb.granules)))

