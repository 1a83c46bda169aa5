"""A faithful local stand-in of Huawei Cloud ModelArts (v1 clusters, v2 pools and training jobs).

Follows ``shared/specs/modelarts.md`` to the field name and the quirk; imports nothing of
jupyter_compute except ``_server.py``. Training jobs really run: a worker thread downloads the code and
the inputs from OBS (any S3 endpoint, e.g. moto), runs the boot file once per node and uploads the
outputs (see ``jobs``).

Starting it
-----------
::

    from jupyter_compute.sandbox.modelarts import ModelArtsSandbox
    with ModelArtsSandbox(s3_endpoint="http://127.0.0.1:9000") as sb:
        sb.base_url       # "http://127.0.0.1:PORT"; calls are sb.base_url + "/v2/" + sb.project_id + "/…"
        sb.job(job_id)    # a snapshot of a training job (the API's view)

    python -m jupyter_compute.sandbox.modelarts --s3-endpoint http://127.0.0.1:9000 [--port 8767]

``ModelArtsSandbox(port=0, host="127.0.0.1", *, s3_endpoint, s3_key="sandbox-obs-ak",
s3_secret="sandbox-obs-sk", project_id="sandbox-project", credentials=None, tokens=None, step_delay_s=0.3,
workdir=None)`` — ``workdir`` holds the jobs' folders (a temp dir, removed on ``stop()``, when not
given); ``credentials`` AK → SK (default ``DEFAULT_CREDENTIALS``), ``tokens`` the valid ``X-Auth-Token``
values (default ``{DEFAULT_TOKEN}``), ``step_delay_s`` the time a job spends in Creating and in Pending (may be
changed while running). Attribute ``algorithms`` ({id: algorithm fields}, empty) names the algorithms
``algorithm.id`` may use.

Authentication (every API route; checked as API Gateway does: credentials, then the project)
------------------------------------------------------------------------------------------
``X-Auth-Token: <token>``, or AK/SK ``Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…,
Signature=…`` verified against the request actually received (``auth``). What is refused, and the test of each row
(in ``tests/test_sandbox_modelarts.py``; ``[…]`` is a case of ``test_gateway_refuses``)::

    the request                                         answer           test
    --------------------------------------------------  ---------------  ---------------------------------------
    neither Authorization nor X-Auth-Token              401 APIGW.0301   [no credentials]
    X-Auth-Token not a valid token                      401 APIGW.0301   [unknown token]
    a signature and beside it a wrong X-Auth-Token      401 APIGW.0301   [wrong X-Auth-Token beside a signature
      (signed or not; with a valid one it passes)                          (signed)], [… (added)],
                                                                         test_a_valid_token_beside_a_signature_passes
    Authorization not "SDK-HMAC-SHA256 Access=…,        401 APIGW.0301   [malformed Authorization]
      SignedHeaders=…, Signature=<hex>"
    SignedHeaders leaving out host                      401 APIGW.0301   [SignedHeaders without host]
    SignedHeaders not sorted (or a name twice)          401 APIGW.0301   [SignedHeaders not sorted]
    SignedHeaders with an upper-case name               401 APIGW.0301   [SignedHeaders not lower-case]
    no X-Sdk-Date / X-Sdk-Date not signed /             401 APIGW.0301   [no X-Sdk-Date], [X-Sdk-Date not signed],
      not YYYYMMDDTHHMMSSZ                                                 [X-Sdk-Date malformed]
    X-Sdk-Date over 15 minutes off the server's clock   401 APIGW.0301   [X-Sdk-Date 20 minutes old], [… ahead]
    an unknown access key                               401 APIGW.0301   [unknown access key]
    a signature that is not the HMAC of what arrived:   401 APIGW.0301   [wrong secret], [body changed after
      wrong secret, or body, query, path or a signed                       signing], [query …], [path …],
      header changed after signing                                         [signed header changed after signing]
    X-Sdk-Content-Sha256 neither UNSIGNED-PAYLOAD nor   401 APIGW.0301   [X-Sdk-Content-Sha256 not the body's]
      the body's sha256
    a project id in the path other than the sandbox's   403 ModelArts.0203  test_token_auth_project_check_and_…
    X-Project-Id naming another project than the path   403 ModelArts.0203  test_x_project_id_must_name_the_…
    an unknown path, or a method the path does not take 404 APIGW.0101   test_token_auth_project_check_and_…

Credentials are checked before the project: a request failing both is a 401.
A 401 body is ``{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: …",
"request_id"}`` and never carries a secret key or a token; a 403 is ``{"error_code", "error_msg"}``. Every
answer carries ``X-Request-Id``. Huawei's own SDK (``huaweicloudsdkmodelarts``) passes all of them
(``tests/test_client_huawei_sdk.py``).

Routes (errors are ``{"error_code", "error_msg"}``)
---------------------------------------------------
- ``GET /v1/{project_id}/clusters?cluster_name&status&offset&limit&sort_by&order`` → ``{total_count, count,
  clusters}``; ``cluster_name``/``status`` match exactly; ``offset`` is a page index (default 0), ``limit``
  1… (default 1000), ``sort_by`` created_at|cluster_name, ``order`` desc|asc; a bad value → 400
  ``ModelArts.0101``. Five seeded clusters (running ×2, deploying, abnormal, concerning).
- ``GET /v2/{project_id}/pools?workspaceId&labelSelector=k=v,k2!=v&status=created|failed|creating`` →
  ``{apiVersion, kind: PoolList, items}`` (no paging); ``GET …/pools/{name}`` (404 ``ModelArts.50015001``
  "pool not found"); ``GET …/pools/{name}/nodes?limit=0-500&continue=`` → NodeList with
  ``metadata.continue`` ("" on the last page) and ``metadata.remainingItemCount``; limit 0 means the
  default 500; a bad limit or continue token → 400 ``ModelArts.50004000``. Seeded pools (``seed``):
  ``pool-cpu-a1b2c3`` cpu-pool (7 × modelarts.vm.cpu.8u, one Creating, one Abnormal),
  ``pool-gpu-d4e5f6`` gpu-pool (2 × modelarts.vm.gpu.t4), ``pool-npu-g7h8i9`` npu-pool (2 ×
  modelarts.bm.npu.arm.8snt9.d, one Checking; workspace ``ws-research-01``), ``pool-mix-j1k2l3``
  mixed-pool (modelarts.vm.cpu.2u and modelarts.vm.cpu.4u, one node each: a job there names its flavor).
- ``GET /v1/{project_id}/app-auth/apps?app_name&offset&limit&sort_by&order`` → ``{apps, count,
  total_count}`` (``offset`` an item offset, ``limit`` default 1000; sort_by app_name|created_at|updated_at);
  two seeded apps, each with its ``app_key`` and ``app_secret`` (what a passthrough must never hand out).
- ``GET /v2/{project_id}/training-job-flavors?flavor_type=CPU|GPU|Ascend`` → ``{total_count, flavors}``
  (the public pool's flavors: modelarts.vm.cpu.2u, modelarts.vm.cpu.8u, modelarts.vm.gpu.t4).
- ``POST /v2/{project_id}/training-jobs`` → 201 with the job; ``GET …/training-jobs/{id}`` → 200;
  ``DELETE …/training-jobs/{id}`` → 202 with an empty body (as the API reference; a running job is
  terminated first); ``POST …/training-jobs/{id}/actions`` ``{"action_type": "terminate"}`` → 202 with
  the job (Terminating); a finished job → 400 ``ModelArts.0105``. An unknown job → 400 ``ModelArts.2775``.
  Create-body errors → 400 naming the field: ``ModelArts.2762`` (invalid parameter), ``ModelArts.2791``
  (bad OBS url), ``ModelArts.2763`` (flavor not offered by the pool / public pool), ``ModelArts.2755``
  (unknown ``algorithm.id``); an unknown ``pool_id`` → 404 ``ModelArts.50015001``.
- ``POST /v2/{project_id}/training-job-searches`` ``{offset (page index), limit 1-50 (default 10), sort_by
  create_time|name|duration, order desc|asc, group_by, workspace_id, filters: [{key, operator, value: []}]}``
  → ``{total, count, limit, offset, sort_by, order, group_by, items}``; filter keys ``name`` (like / in /
  not), ``phase`` (in / not), ``create_time`` (between [ms, ms]).
- ``GET …/training-jobs/{id}/tasks/{task}/logs/preview`` → ``{content, current_size, full_size}`` (the
  last 5 MB at most); ``GET …/logs/url`` → ``{"obs_url"}``, a temporary link (one hour) served by the
  sandbox without credentials. An unknown task → 404 ``ModelArts.0102``.

Job phases: Creating → Pending (secondary Queuing) → Running → Completed | Failed (secondary Failed, or
CreateFailed when a download failed) | Terminating → Terminated. ``status.task_statuses`` gives each
task's exit code and a readable message; the task logs hold the service lines and the program's output.
A job's processes see only what running Python needs of the host's environment (``PASSED_ENV`` in
``jobs``) and the job's ``algorithm.environments``, never the rest of the host's variables.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import secrets
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tornado.web

from . import seed
from .._server import ThreadedServer, cli_parser, serve_until_stopped
from .jobs import (
    CAN_TERMINATE,
    E_BAD_PARAM,
    E_NOT_ALLOWED,
    E_NOT_FOUND,
    E_POOL_NOT_FOUND,
    ApiError,
    Job,
    Worker,
    read_log_tail,
    validate_create,
)
from .handlers import Api, Base, NoRouteHandler
from .listing import E_POOL_BAD_REQUEST, int_arg, list_apps, list_clusters, list_pools, search_jobs
from .obs import ObsStore
from .services import Services
from .workflows import Workflows

DEFAULT_PROJECT = "sandbox-project"
DEFAULT_CREDENTIALS = {"SANDBOXAK0000000001": "sandbox-secret-key"}
DEFAULT_TOKEN = "sandbox-iam-token"
E_NO_RESOURCE = "ModelArts.0102"
LOG_URL_TTL_S = 3600


class ModelArtsSandbox(ThreadedServer):
    """The ModelArts stand-in (see the module docstring)."""

    thread_name = "modelarts-sandbox"

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, s3_endpoint: str,
                 s3_key: str = "sandbox-obs-ak", s3_secret: str = "sandbox-obs-sk",
                 project_id: str = DEFAULT_PROJECT, credentials: Mapping[str, str] | None = None,
                 tokens: Iterable[str] | None = None, step_delay_s: float = 0.3,
                 workdir: str | os.PathLike[str] | None = None) -> None:
        super().__init__(port, host)
        self.project_id = project_id
        self.s3_endpoint = s3_endpoint
        self.credentials = dict(credentials if credentials is not None else DEFAULT_CREDENTIALS)
        self.tokens = set(tokens if tokens is not None else {DEFAULT_TOKEN})
        self.step_delay_s = float(step_delay_s)
        self.algorithms: dict[str, dict[str, Any]] = {}
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="modelarts-sandbox-"))
        self._store = ObsStore(s3_endpoint, s3_key, s3_secret)
        self._link_key = secrets.token_bytes(32)
        self._seq = itertools.count(1)
        self._clusters = seed.clusters(project_id)
        self._pools = {p["metadata"]["name"]: p for p in seed.pools()}
        self._nodes = seed.nodes()
        self._flavors = seed.public_flavors()
        self._apps = seed.apps(project_id)
        self._jobs: dict[str, Job] = {}
        self._all_jobs: list[Job] = []  # deleted ones too: their workers are stopped and joined at the end
        self.services = Services(self)
        self.workflows = Workflows(self)

    # ------------------------------------------------------------------ public API
    def job(self, job_id: str) -> dict[str, Any]:
        """A snapshot of a training job as the API shows it (KeyError when unknown)."""
        return self._call(self._job_view, job_id)

    def _job_view(self, job_id: str) -> dict[str, Any]:
        job = self._jobs[job_id]
        with job.lock:
            return job.view()

    # ------------------------------------------------------------------ server plumbing
    def _make_app(self) -> tornado.web.Application:
        sb = {"sb": self}
        p, rid = r"([^/]+)", r"([^/]+)"
        jobs = rf"/v2/{p}/training-jobs"
        routes = [
            (rf"/v1/{p}/clusters/?", ClustersHandler, sb),
            (rf"/v1/{p}/app-auth/apps/?", AppsHandler, sb),
            (rf"/v2/{p}/pools/?", PoolsHandler, sb),
            (rf"/v2/{p}/pools/{rid}/nodes/?", NodesHandler, sb),
            (rf"/v2/{p}/pools/{rid}/?", PoolHandler, sb),
            (rf"/v2/{p}/training-job-flavors/?", FlavorsHandler, sb),
            (rf"/v2/{p}/training-job-searches/?", SearchHandler, sb),
            (rf"{jobs}/?", JobsHandler, sb),
            (rf"{jobs}/{rid}/actions/?", ActionsHandler, sb),
            (rf"{jobs}/{rid}/tasks/{rid}/logs/preview/?", LogPreviewHandler, sb),
            (rf"{jobs}/{rid}/tasks/{rid}/logs/url/?", LogUrlHandler, sb),
            (rf"{jobs}/{rid}/?", JobHandler, sb),
            (rf"/sandbox-obs/training-logs/{rid}/{rid}", LogDownloadHandler, sb),
            *self.services.routes(sb),
            *self.workflows.routes(sb),
        ]
        return tornado.web.Application(routes, default_handler_class=NoRouteHandler, default_handler_args=sb)

    async def _shutdown(self) -> None:
        for job in self._all_jobs:
            job.stop.set()
        self.services.stop()
        self.workflows.stop()
        await super()._shutdown()

    def _after_stop(self) -> None:
        deadline = time.monotonic() + 15
        for job in self._all_jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))
        self.services.join(max(0.0, deadline - time.monotonic()))
        self.workflows.join(max(0.0, deadline - time.monotonic()))
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ------------------------------------------------------------------ operations (on the loop)
    def _find_job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(400, E_NOT_FOUND, f"The training job {job_id} does not exist.")
        return job

    def _create_job(self, body: Any) -> Job:
        normal, plan = validate_create(body, pools=self._pools, public_flavors=self._flavors,
                                       algorithms=self.algorithms)
        job_id = str(uuid.uuid4())
        job = Job(id=job_id, seq=next(self._seq), body=normal, plan=plan, dir=self.workdir / "jobs" / job_id)
        self._jobs[job_id] = job
        self._all_jobs.append(job)
        Worker(job, self._store, lambda: self.step_delay_s).start()
        return job

    def _terminate(self, job: Job) -> dict[str, Any]:
        with job.lock:
            if job.phase not in CAN_TERMINATE:
                raise ApiError(400, E_NOT_ALLOWED, f"The operation is not allowed: training job {job.id} is "
                                                   f"{job.phase}; only Creating, Pending or Running jobs "
                                                   "can be terminated.")
            job.phase = job.secondary_phase = "Terminating"
            job.stop.set()
            return job.view()

    def _delete(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        with job.lock:
            if job.phase in CAN_TERMINATE:
                job.phase = job.secondary_phase = "Terminating"
            job.stop.set()
            job.deleted = True
            done = job.done
        if done:  # the worker has ended and will not clean up: do it here, off the loop
            threading.Thread(target=shutil.rmtree, args=(job.dir, True), daemon=True).start()

    def _log_link(self, job: Job, task: str, base: str) -> str:
        expires = int(time.time()) + LOG_URL_TTL_S
        signature = self._link_signature(job.id, task, expires)
        return (f"{base}/sandbox-obs/training-logs/{quote(job.id)}/{quote(task)}"
                f"?Expires={expires}&Signature={signature}")

    def _link_signature(self, job_id: str, task: str, expires: int) -> str:
        return hmac.new(self._link_key, f"{job_id}/{task}/{expires}".encode(), hashlib.sha256).hexdigest()

    def _search(self, body: Any) -> dict[str, Any]:
        return search_jobs(list(self._jobs.values()), body)

    def _encode_continue(self, pool: str, offset: int) -> str:
        raw = json.dumps({"pool": pool, "offset": offset}).encode()
        mac = hmac.new(self._link_key, raw, hashlib.sha256).digest()[:8]
        return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")

    def _decode_continue(self, pool: str, token: str) -> int:
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, raw = blob[:8], blob[8:]
            if not hmac.compare_digest(mac, hmac.new(self._link_key, raw, hashlib.sha256).digest()[:8]):
                raise ValueError("signature")
            data = json.loads(raw)
            if data["pool"] != pool or not isinstance(data["offset"], int) or data["offset"] < 0:
                raise ValueError("pool")
            return data["offset"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ApiError(400, E_POOL_BAD_REQUEST, f"Bad request. invalid continue token {token!r}") from None


# ---------------------------------------------------------------------- handlers
class ClustersHandler(Api):
    def get(self, _project: str) -> None:
        self.send(200, list_clusters(self.sb._clusters,
                                     self.args("cluster_name", "status", "offset", "limit", "sort_by", "order")))


class AppsHandler(Api):
    def get(self, _project: str) -> None:
        self.send(200, list_apps(self.sb._apps, self.args("app_name", "offset", "limit", "sort_by", "order")))


class PoolsHandler(Api):
    def get(self, _project: str) -> None:
        self.send(200, list_pools(list(self.sb._pools.values()), self.args("workspaceId", "labelSelector", "status")))


class PoolHandler(Api):
    def get(self, _project: str, name: str) -> None:
        pool = self.sb._pools.get(name)
        if pool is None:
            raise ApiError(404, E_POOL_NOT_FOUND, "pool not found")
        self.send(200, pool)


class NodesHandler(Api):
    def get(self, _project: str, name: str) -> None:
        if name not in self.sb._pools:
            raise ApiError(404, E_POOL_NOT_FOUND, "pool not found")
        limit = int_arg(self.get_query_argument("limit", None), "limit", 500, 0, 500, E_POOL_BAD_REQUEST) or 500
        token = self.get_query_argument("continue", None)
        nodes = self.sb._nodes[name]
        start = self.sb._decode_continue(name, token) if token else 0
        if start > len(nodes):
            raise ApiError(400, E_POOL_BAD_REQUEST, f"Bad request. invalid continue token {token!r}")
        page = nodes[start:start + limit]
        end = start + len(page)
        more = end < len(nodes)
        self.send(200, {"kind": "NodeList", "apiVersion": "v2",
                        "metadata": {"continue": self.sb._encode_continue(name, end) if more else "",
                                     "remainingItemCount": len(nodes) - end},
                        "items": page})


class FlavorsHandler(Api):
    def get(self, _project: str) -> None:
        kind = self.get_query_argument("flavor_type", None)
        if kind and kind not in ("CPU", "GPU", "Ascend"):
            raise ApiError(400, E_BAD_PARAM, f"Invalid parameter flavor_type: {kind!r} must be CPU, GPU or Ascend")
        flavors = [f for f in self.sb._flavors if not kind or f["flavor_type"] == kind]
        self.send(200, {"total_count": len(flavors), "flavors": flavors})


class JobsHandler(Api):
    def post(self, _project: str) -> None:
        job = self.sb._create_job(self.json_body())
        with job.lock:
            self.send(201, job.view())


class JobHandler(Api):
    def get(self, _project: str, job_id: str) -> None:
        job = self.sb._find_job(job_id)
        with job.lock:
            view = job.view()
        self.send(200, view)

    def delete(self, _project: str, job_id: str) -> None:
        self.sb._delete(self.sb._find_job(job_id))
        self.send(202)


class ActionsHandler(Api):
    def post(self, _project: str, job_id: str) -> None:
        job = self.sb._find_job(job_id)
        body = self.json_body()
        action = body.get("action_type") if isinstance(body, dict) else None
        if action != "terminate":
            raise ApiError(400, E_BAD_PARAM, f"Invalid parameter action_type: {action!r} is not supported "
                                             "(use 'terminate')")
        self.send(202, self.sb._terminate(job))


class SearchHandler(Api):
    def post(self, _project: str) -> None:
        self.send(200, self.sb._search(self.json_body()))


def _task_of(sb: ModelArtsSandbox, job_id: str, task: str) -> Job:
    job = sb._find_job(job_id)
    if task not in job.tasks:
        raise ApiError(404, E_NO_RESOURCE, f"The resource does not exist: training job {job_id} has no task "
                                           f"{task!r} (tasks: {', '.join(job.tasks)})")
    return job


class LogPreviewHandler(Api):
    async def get(self, _project: str, job_id: str, task: str) -> None:
        job = _task_of(self.sb, job_id, task)
        text = await asyncio.get_running_loop().run_in_executor(None, _log_preview, job.log_path(task))
        self.send_encoded(200, text)


def _log_preview(path: Path) -> str:
    """The log preview answer (up to 5 MB of log) as JSON text: read and encoded off the loop."""
    content, current, full = read_log_tail(path)
    return json.dumps({"content": content, "current_size": current, "full_size": full})


class LogUrlHandler(Api):
    def get(self, _project: str, job_id: str, task: str) -> None:
        job = _task_of(self.sb, job_id, task)
        base = f"{self.request.protocol}://{self.request.host}"
        self.send(200, {"obs_url": self.sb._log_link(job, task, base)})


class LogDownloadHandler(Base):
    """The temporary log link: no credentials, but a valid signature and expiry (like a signed OBS URL)."""

    async def get(self, job_id: str, task: str) -> None:
        try:
            expires = int(self.get_query_argument("Expires", ""))
        except ValueError:
            expires = 0
        signature = self.get_query_argument("Signature", "")
        job = self.sb._jobs.get(job_id)
        valid = hmac.compare_digest(self.sb._link_signature(job_id, task, expires), signature)
        if not valid or expires < time.time() or job is None or task not in job.tasks:
            return self.send(403, {"error_code": "AccessDenied", "error_msg": "the link is invalid or has expired"})
        path = job.log_path(task)
        data = await asyncio.get_running_loop().run_in_executor(
            None, lambda: path.read_bytes() if path.exists() else b"")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Request-Id", self.request_id)
        self.finish(data)


# ---------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("modelarts", "Local stand-in of Huawei Cloud ModelArts")
    parser.add_argument("--s3-endpoint", required=True, help="S3 endpoint standing in for OBS")
    parser.add_argument("--s3-key", default="sandbox-obs-ak")
    parser.add_argument("--s3-secret", default="sandbox-obs-sk")
    parser.add_argument("--project-id", default=DEFAULT_PROJECT)
    parser.add_argument("--token", action="append", default=None, help=f"valid IAM token (default {DEFAULT_TOKEN})")
    parser.add_argument("--step-delay-s", type=float, default=0.3)
    args = parser.parse_args(argv)
    sandbox = ModelArtsSandbox(args.port, args.host, s3_endpoint=args.s3_endpoint, s3_key=args.s3_key,
                               s3_secret=args.s3_secret, project_id=args.project_id, tokens=args.token,
                               step_delay_s=args.step_delay_s)
    return serve_until_stopped(sandbox, lambda sb: (
        f"ModelArts sandbox at {sb.base_url}  project {sb.project_id}  "
        f"(X-Auth-Token: {next(iter(sb.tokens))}; AK {next(iter(sb.credentials))})"))

