"""The ``modelarts`` backend: Huawei Cloud ModelArts training jobs, with inputs and results on OBS.

A job is a v2 training job (``POST /v2/{project_id}/training-jobs``); its id is the remote id. Code,
inputs and outputs live on OBS (S3-compatible): local scripts and input files are uploaded under
``upload_root`` first (and removed again when an upload fails or the platform refuses the job), and
the results are the files under the job's output folder, which the show answer keeps
(``algorithm.outputs``), so they are found again after a restart. What a spec may hold is
described in :mod:`.training`; capacity (clusters, pools, flavors) in
:mod:`.capacity`; credentials in :mod:`.auth`.

Config keys:

- ``endpoint`` (required): the API base URL, e.g. ``https://modelarts.cn-north-4.myhuaweicloud.com``.
- ``project_id`` (required): the project the calls are made in.
- Credentials, read at each call from the variables named here (or what the server withheld of them
  from its children): ``token_env`` (an IAM token, sent as ``X-Auth-Token``; default
  ``MODELARTS_TOKEN``) or ``ak_env``/``sk_env`` (access keys; requests are signed with
  ``SDK-HMAC-SHA256``; defaults ``HUAWEICLOUD_SDK_AK``/``HUAWEICLOUD_SDK_SK``). Naming one chooses
  it; otherwise access keys are used when both are set, else a token.
- ``obs_endpoint``: the S3 endpoint URL of OBS (``https://obs.<region>.myhuaweicloud.com``);
  ``obs_ak_env``/``obs_sk_env``: the variables of its keys (default: the access-key variables).
- ``upload_root``: an OBS folder (``obs://bucket/jupyter-compute/``) where local code and inputs
  are uploaded (``<root>/<job id>/code/``, ``…/inputs/<name>/``) and default outputs go
  (``<root>/<job id>/output/``).
- ``workspace_id``: the workspace jobs are created and listed in, and pools listed from.
- ``nodes_page_size``: nodes asked for per page of a pool's node list (1–500, default 500).
- ``search_page_size``: jobs asked for per page of the job search (1–50, default 50).
- ``timeout_s``: seconds each HTTP call and each OBS request may take (default 30); ``poll_interval_s``.

Credentials must be set when the backend is made (AuthError naming the variables otherwise, and the
server lists the backend as unavailable); they are read again at every call, so a rotated token works.

A spec's local files (``script``, local ``inputs``) are read only where :meth:`Backend.local_source`
allows (under the server's root_dir and uploads folder); any other input path is an OBS path.

The passthrough proxy works with a token only: an AK/SK signature covers the very request it
signs, which the proxy's per-backend headers cannot carry (``can_proxy`` is False then). It does
not forward the app-auth paths, whose answers carry the apps' ``app_secret``.

Pools and their nodes are read once for ``clusters`` and ``environments`` together (kept
``CAPACITY_TTL_S`` seconds, a few pools at a time); the job search behind ``status_many`` reads, newest
first, the pages that hold the jobs asked for (⌈jobs / page size⌉ when they are the newest) and at most
``STATUS_PAGES`` more (the jobs it does not reach are then asked for one by one).

Cluster ids are ``cluster:<cluster_id>`` (v1 clusters, for inference services) and
``pool:<pool name>`` (v2 pools, where training jobs run); a job's ``cluster`` takes either
``pool:<name>`` or the bare pool name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import weakref
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import httpx

from ...errors import AuthError, BackendError, ComputeError, InvalidSpec, NotFound, NotSupported
from ...forms import Form, FormField
from ...models import Cluster, Environment, JobSpec, JobState, LogChunk, RemoteStatus, ResultFile
from .. import _http
from ..base import (
    COMMON_FIELDS, Backend, Capabilities, DiscoveredJob, JobDetail, Submission, config_known, config_positive,
    config_text, public_url,
)
from ..maap_storage import CHUNK_SIZE, media_type
from .auth import AKSK, TOKEN, Auth, segment
from .capacity import (
    PoolNodes,
    flavor_environments,
    pool_cluster,
    pool_display_name,
    pool_flavors,
    pool_name,
    v1_cluster,
)
from .training import (
    training_facts,
    DESCRIPTION_PREFIX,
    OUTPUT_NAME,
    Plan,
    Source,
    create_body,
    job_description,
    job_folder,
    job_id_of,
    job_status,
    log_slice,
    output_folders,
    plan_job,
    task_names,
)
from .forms import REFRESH_ON, form_for
from .refusals import field_hint
from .service_jobs import ServiceJobs
from .services import BATCH, REAL_TIME, ServicePlan, is_service, plan_service
from .status import TRAINING_PHASES
from .workflow_jobs import WorkflowJobs
from .workflows import WORKFLOW, ExecutionPlan, is_execution, plan_execution
from .storage import KeyPair, ObsStore, client_options, display_url, join, obs_path
from ..secrets import read_secret

TRAINING = "training"
AnyPlan = Plan | ServicePlan | ExecutionPlan
JOB_KINDS = (TRAINING, BATCH, REAL_TIME, WORKFLOW)
CAPABILITIES = Capabilities(
    can_cancel=True, can_delete=True, can_list=True, has_logs=True, has_results=True,
    has_environments=True, has_clusters=True, has_detail=True, discovers_jobs=True,
)  # fmt: skip
TOKEN_CAPABILITIES = dataclasses.replace(CAPABILITIES, can_proxy=True)
CONFIG_KEYS = frozenset({
    "endpoint", "project_id", "token_env", "ak_env", "sk_env", "obs_endpoint", "obs_ak_env", "obs_sk_env",
    "upload_root", "workspace_id", "nodes_page_size", "search_page_size", "timeout_s", "poll_interval_s",
    "confirm_window_s", "discover_interval_s", "watch_workflows",
})  # fmt: skip
#: ModelArts answers a job it does not know with 400 and this code (404 is accepted too).
NOT_FOUND_CODES = frozenset({"ModelArts.2775"})
MAX_SEARCH_PAGE = 50
V1_PAGE = 100
MAX_NODE_PAGE = 500
MAX_PAGES = 1000
#: Search pages one ``status_many`` call reads beyond the ones its jobs fill (others' jobs and finished ones
#: come between them in the listing, newest first).
STATUS_PAGES = 5
#: Seconds the pools and their nodes are kept for ``clusters`` and ``environments``.
CAPACITY_TTL_S = 15.0
#: Pools whose nodes are read at the same time.
NODE_WALKS = 4
#: Path segments of the passthrough that are refused (their answers carry the apps' ``app_secret``).
REFUSED_SEGMENTS = ("app-auth", "api-auths")
#: Words in ModelArts' refusal of a create call → the spec field they are about (first match wins).
FIELD_HINTS: tuple[tuple[str, str], ...] = (
    ("node_count", "extra.node_count"), ("flavor", "environment"), ("pool", "cluster"),
    ("boot_file", "extra.boot_file"), ("code_dir", "extra.code_dir"), ("image_url", "extra.image_url"),
    ("engine", "extra.engine"), ("command", "command"), ("algorithm.id", "algorithm"), ("parameters", "params"),
    ("inputs", "inputs"), ("outputs", "output"),
)
#: Where ModelArts' error answers put (error code, message), in the spellings it uses.
ERROR_KEYS = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))
#: Output folders of recent jobs kept in memory (the show answer has them too).
MAX_REMEMBERED = 1024


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _coded_error(body: Any) -> tuple[str, str] | None:
    """(error code, message) of a JSON error body, under the first pair of ERROR_KEYS it uses; else None."""
    if not isinstance(body, Mapping):
        return None
    for code_key, msg_key in ERROR_KEYS:
        code, msg = body.get(code_key), body.get(msg_key)
        if code or msg:
            return str(code or ""), str(msg or "").strip()
    return None


def platform_error(response: httpx.Response) -> tuple[str, str]:
    """(error code, message) of an error answer, in whichever of ModelArts' spellings it comes."""
    coded = _coded_error(_json_or_none(response))
    if coded is not None:
        return coded
    return "", (response.text or "").strip()[:500] or response.reason_phrase or f"HTTP {response.status_code}"


def flavor_refusal(flavor: str | None, offered: Sequence[str], pool: str) -> str | None:
    """Why a job of ``flavor`` (None: unnamed) cannot run on a pool offering ``offered``; None when it can."""
    if flavor and offered and flavor not in offered:
        return f"pool {pool} offers {', '.join(offered)}, not {flavor}"
    if not flavor and len(offered) > 1:
        return f"pool {pool} offers several flavors ({', '.join(offered)}): choose one"
    return None


def _watched(value: Any) -> tuple[str, ...]:
    """``watch_workflows``: workflow ids whose scheduled executions are recorded as jobs."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidSpec("modelarts backend config 'watch_workflows' must be a list of workflow ids",
                          field="watch_workflows")
    return tuple(v.strip() for v in value)


def _submitted(status: RemoteStatus) -> RemoteStatus:
    """The status of a job just created: queued while the platform does not say otherwise."""
    if status.state is JobState.UNKNOWN:
        return RemoteStatus(JobState.QUEUED, status.native_status or "Creating", "submitted")
    return status


def _is_last_page(page: int, size: int, count: int, total: Any) -> bool:
    """Whether page ``page`` (from 0) of ``count`` items, ``size`` asked for, ends a listing of ``total``."""
    return count < size or (isinstance(total, int) and (page + 1) * size >= total)


def _http_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _page_size(config: Mapping[str, Any], key: str, maximum: int) -> int:
    """A page-size setting: a whole number 1–``maximum`` (default ``maximum``)."""
    value = config.get(key, maximum)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidSpec(f"modelarts backend config '{key}' must be a whole number 1–{maximum}", field=key)
    return value


class ModelArtsBackend(_http.ClientMixin, Backend):
    """Runs training jobs on Huawei Cloud ModelArts; code, inputs and outputs on OBS."""

    kind: ClassVar[str] = "modelarts"
    capabilities: Capabilities = CAPABILITIES  # per instance: the proxy needs a token
    status_map: ClassVar[Mapping[str, JobState]] = TRAINING_PHASES
    #: v1 cluster ``status`` (deploying, running, concerning = alarm raised, abnormal) and v2 pool
    #: ``status.phase`` (Creating, Running, Abnormal, Deleting, Error).
    cluster_status_meanings: ClassVar[Mapping[str, str]] = {
        "running": "healthy", "deploying": "busy", "creating": "busy", "deleting": "busy", "concerning": "busy",
        "abnormal": "failing", "error": "failing",
    }
    batch_status: ClassVar[bool] = True
    secret_env_defaults: ClassVar[Mapping[str, str]] = {
        "token_env": "MODELARTS_TOKEN", "ak_env": "HUAWEICLOUD_SDK_AK", "sk_env": "HUAWEICLOUD_SDK_SK",
    }

    def __init__(self, name: str, config: Mapping[str, Any] | None = None, *, data_dir: Path | str | None = None,
                 log: Any = None) -> None:  # fmt: skip
        super().__init__(name, config, data_dir=data_dir, log=log)
        config_known(self.config, CONFIG_KEYS, kind="modelarts")
        self.endpoint = httpx.URL(self._endpoint())
        self.project_id = self._project_id()
        self.auth = self._auth()
        self._configure_obs()
        self.workspace_id = self._text("workspace_id", None)
        self.nodes_page_size = _page_size(self.config, "nodes_page_size", MAX_NODE_PAGE)
        self.search_page_size = _page_size(self.config, "search_page_size", MAX_SEARCH_PAGE)
        self._configure_timing()
        self.capabilities = TOKEN_CAPABILITIES if self.auth.mode == TOKEN else CAPABILITIES
        self._obs: ObsStore | None = None
        self._outputs: dict[str, dict[str, str]] = {}
        self._plans: dict[int, tuple[weakref.ref[JobSpec], AnyPlan]] = {}  # validate's, for submit
        self.services = ServiceJobs(self)
        self.workflows = WorkflowJobs(self)
        self.watch_workflows = _watched(self.config.get("watch_workflows"))
        self._capacity: tuple[float, list[PoolNodes]] | None = None
        self._capacity_lock = asyncio.Lock()
        self._node_walks = asyncio.Semaphore(NODE_WALKS)

    # config ---------------------------------------------------------------------------
    def _endpoint(self) -> str:
        endpoint = self._text("endpoint", None)
        if not endpoint or not _http_url(endpoint):
            raise InvalidSpec("modelarts backend config 'endpoint' must be the http(s) URL of the API",
                              field="endpoint")  # fmt: skip
        return endpoint.rstrip("/")

    def _project_id(self) -> str:
        project_id = self._text("project_id", None)
        if not project_id:
            raise InvalidSpec("modelarts backend config 'project_id' is required", field="project_id")
        return project_id

    def _auth(self) -> Auth:
        """The credentials' mode and variables; AuthError when the chosen ones are not set now."""
        if "token_env" in self.config and ("ak_env" in self.config or "sk_env" in self.config):
            raise InvalidSpec("give either token_env or ak_env/sk_env, not both", field="token_env")
        texts = {k: self._text(k, None) for k in ("token_env", "ak_env", "sk_env")}
        return Auth.from_config(self.config, self.project_id, texts)

    def _configure_obs(self) -> None:
        """OBS endpoint, the variables of its keys, and the folder local files are uploaded to."""
        obs_endpoint = self._text("obs_endpoint", None)
        if obs_endpoint and not _http_url(obs_endpoint):
            raise InvalidSpec("modelarts backend config 'obs_endpoint' must be an http(s) URL", field="obs_endpoint")
        self.obs_endpoint = obs_endpoint
        self.obs_ak_env = self._text("obs_ak_env", self.auth.ak_env) or self.auth.ak_env
        self.obs_sk_env = self._text("obs_sk_env", self.auth.sk_env) or self.auth.sk_env
        root = self._text("upload_root", None)
        self.upload_root = obs_path(root, "upload_root", folder=True) if root else None

    def _configure_timing(self) -> None:
        """Timeouts of HTTP and OBS calls, and the poll intervals."""
        timeout_s = float(config_positive(self.config, "timeout_s", 30.0, kind="modelarts"))
        self.timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        self.obs_options = client_options(timeout_s)
        self.poll_interval = float(config_positive(self.config, "poll_interval_s", type(self).poll_interval,
                                                   kind="modelarts"))  # fmt: skip
        self.poll_max_interval = max(self.poll_interval, type(self).poll_max_interval)

    def _text(self, key: str, default: str | None) -> str | None:
        return config_text(self.config, key, default, kind="modelarts")

    # lifecycle ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Name, kind, capabilities, the API's URL (without credentials or query) and how calls are signed."""
        data = super().describe()
        data["url"] = public_url(str(self.endpoint))
        data["auth"] = "token" if self.auth.mode == TOKEN else "access keys"
        return data

    # credentials ----------------------------------------------------------------------
    def _scrub(self, text: Any) -> str:
        return self._scrubber()(text)

    def _scrubber(self) -> Callable[[Any], str]:
        """A scrub with the secrets in force now read once (for the many texts of one listing)."""
        secrets = self.auth.secrets() + [s for s in self._obs_keys(required=False) if len(s) >= 4]
        ordered = sorted(set(secrets), key=len, reverse=True)

        def scrub(text: Any) -> str:
            text = str(text)
            for secret in ordered:
                text = text.replace(secret, "***")
            return text

        return scrub

    @property
    def api_base(self) -> str | None:
        """The API for the passthrough (token auth only; see the module doc)."""
        return str(self.endpoint) + "/" if self.auth.mode == TOKEN else None

    def proxy_refusal(self, path: str) -> str | None:
        """The app-auth paths are not forwarded: their answers carry the apps' ``app_secret``."""
        text = path
        for _ in range(5):  # however often it was percent-encoded
            decoded = unquote(text)
            if decoded == text:
                break
            text = decoded
        segments = [s.strip().lower() for s in text.replace("\\", "/").split("/")]
        if any(s.startswith(REFUSED_SEGMENTS) for s in segments):
            return "ModelArts app-auth answers carry the apps' app_secret, which must not leave the server"
        return None

    async def auth_headers(self) -> dict[str, str]:
        if self.auth.mode == AKSK:
            raise NotSupported("the passthrough needs token auth: AK/SK signatures cover one request each",
                               backend=self.name)  # fmt: skip
        return self.auth.token_headers()

    # HTTP -----------------------------------------------------------------------------
    async def _call(self, method: str, path: str, *, what: str, params: Sequence[tuple[str, Any]] = (),
                    json_body: Any = None, field_hints: Sequence[tuple[str, str]] = ()) -> httpx.Response:  # fmt: skip
        """One API call under ``/…/{project_id}``-style ``path`` (already encoded); errors in words.

        A refusal (InvalidSpec) names the spec field of the first of ``field_hints`` whose word it says.
        """
        try:
            prepared = self.auth.prepare(method, self.endpoint, path, params=params, json_body=json_body)
        except AuthError as exc:
            exc.backend = self.name
            raise
        self.log.debug("modelarts backend '%s': %s %s", self.name, method, path)
        response = await _http.request(
            await self._client(), method, prepared.url, headers=prepared.headers, content=prepared.body or None,
            platform="ModelArts", what=what, backend=self.name, scrub=self._scrub,
        )  # fmt: skip
        if response.is_success:
            return response
        raise self._error(response, what, field_hints)

    def _error(self, response: httpx.Response, what: str, field_hints: Sequence[tuple[str, str]] = ()) -> ComputeError:
        code, said = platform_error(response)
        text = self._scrub(f"{code}: {said}" if code else said)
        request_id = response.headers.get("x-request-id")
        if request_id:
            text += f" (request id {self._scrub(request_id)})"
        status = response.status_code
        error: ComputeError
        if status in (401, 403):
            error = AuthError(f"ModelArts refused {self.auth.describe()} ({what}): {text}", backend=self.name)
        elif status == 404 or code in NOT_FOUND_CODES:
            error = NotFound(f"not found on ModelArts ({what}): {text}", backend=self.name)
        elif status in (400, 409, 422):
            error = InvalidSpec(f"ModelArts refused {what}: {text}", field=field_hint(text, field_hints),
                                backend=self.name)  # fmt: skip
        else:
            error = BackendError(f"ModelArts failed {what} (HTTP {status}): {text}", status=status, backend=self.name,
                                 uncertain=_http.acted_maybe(response))
        return error

    async def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, what=what, **kwargs)
        return _http.decode_json(response, platform="ModelArts", what=what, backend=self.name, scrub=self._scrub,
                                 empty={})  # fmt: skip

    def _path(self, version: str, *parts: str) -> str:
        return "/" + "/".join([version, segment(self.project_id), *parts])

    # OBS ------------------------------------------------------------------------------
    def _obs_keys(self, *, required: bool = True) -> tuple[str, ...]:
        key, secret = read_secret(self.obs_ak_env) or "", read_secret(self.obs_sk_env) or ""
        if key and secret:
            return key, secret
        if required:
            raise AuthError(
                f"no OBS keys: set the environment variables {self.obs_ak_env} and {self.obs_sk_env} of the "
                "Jupyter server to the access key id and secret of the bucket", backend=self.name,
            )  # fmt: skip
        return tuple(v for v in (key, secret) if v)

    def _store(self) -> ObsStore:
        if not self.obs_endpoint:
            raise NotSupported("this modelarts backend has no 'obs_endpoint' configured: OBS files cannot be "
                               "read or written", backend=self.name)  # fmt: skip
        keys = KeyPair(*self._obs_keys())
        if self._obs is None or self._obs.keys != keys:  # new keys in the environment: a new client
            self._obs = ObsStore(self.obs_endpoint, keys, options=self.obs_options)
        return self._obs

    async def _fs(self, call: Any, *args: Any, what: str) -> Any:
        """A blocking OBS call in a worker thread; its errors as ComputeErrors, secrets scrubbed."""
        try:
            return await asyncio.to_thread(call, *args)
        except ComputeError as exc:
            exc.message, exc.backend = self._scrub(exc.message), exc.backend or self.name
            raise
        except FileNotFoundError as exc:
            raise NotFound(f"{what}: not found on OBS: {self._scrub(exc)}", backend=self.name) from None
        except PermissionError as exc:
            raise AuthError(f"{what}: OBS refused the keys in ${self.obs_ak_env}/${self.obs_sk_env}: "
                            f"{self._scrub(exc)}", backend=self.name) from None  # fmt: skip
        except Exception as exc:  # noqa: BLE001 — botocore and fsspec errors of every kind
            raise BackendError(f"{what} failed: {type(exc).__name__}: {self._scrub(exc)}",
                               backend=self.name) from None  # fmt: skip

    # capacity -------------------------------------------------------------------------
    async def _v1_clusters(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            data = await self._json("GET", self._path("v1", "clusters"), what="listing the clusters",
                                    params=[("offset", page), ("limit", V1_PAGE)])  # fmt: skip
            items = [c for c in (data.get("clusters") or []) if isinstance(c, dict)] if isinstance(data, dict) else []
            found.extend(items)
            total = data.get("total_count") if isinstance(data, dict) else None
            if len(items) < V1_PAGE or (isinstance(total, int) and len(found) >= total):
                break
        return found

    async def _pools(self) -> list[dict[str, Any]]:
        params = [("workspaceId", self.workspace_id)] if self.workspace_id else []
        data = await self._json("GET", self._path("v2", "pools"), what="listing the pools", params=params)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BackendError("ModelArts answered the pool list without items", backend=self.name)
        return [p for p in items if isinstance(p, dict) and pool_name(p)]

    async def _nodes(self, pool: str) -> list[dict[str, Any]]:
        """Every node of a pool, through all ``continue`` pages."""
        nodes: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            params: list[tuple[str, Any]] = [("limit", self.nodes_page_size)]
            if token:
                params.append(("continue", token))
            data = await self._json("GET", self._path("v2", "pools", segment(pool), "nodes"),
                                    what=f"listing the nodes of pool {pool}", params=params)  # fmt: skip
            items = data.get("items") if isinstance(data, dict) else None
            nodes.extend(n for n in items or [] if isinstance(n, dict))
            metadata = data.get("metadata") if isinstance(data, dict) else None
            token = metadata.get("continue") if isinstance(metadata, dict) else None
            if not token:
                return nodes
        self.log.warning("modelarts backend '%s': node list of pool %s cut at %d pages", self.name, pool, MAX_PAGES)
        return nodes

    async def _bounded_nodes(self, pool: str) -> list[dict[str, Any]]:
        async with self._node_walks:
            return await self._nodes(pool)

    async def _pools_with_nodes(self) -> list[PoolNodes]:
        """The pools with their nodes, read once per ``CAPACITY_TTL_S`` (callers at the same time share it)."""
        async with self._capacity_lock:
            if self._capacity is not None and time.monotonic() - self._capacity[0] < CAPACITY_TTL_S:
                return self._capacity[1]
            pools = await self._pools()
            nodes = await asyncio.gather(*(self._bounded_nodes(pool_name(p)) for p in pools))
            found: list[PoolNodes] = list(zip(pools, nodes, strict=True))
            self._capacity = (time.monotonic(), found)
            return found

    async def clusters(self) -> list[Cluster]:
        """The v1 clusters (all pages) and the v2 pools with their nodes' capacity."""
        try:
            v1 = await self._v1_clusters()
        except NotFound:  # a region without the v1 cluster API
            v1 = []
        pools = await self._pools_with_nodes()
        return [v1_cluster(self.name, c) for c in v1] + [pool_cluster(self.name, p, n) for p, n in pools]

    async def environments(self) -> list[Environment]:
        """The flavors the pools offer, sized from their nodes."""
        return flavor_environments(self.name, await self._pools_with_nodes())

    # the form and the check -----------------------------------------------------------
    def form(self) -> Form:
        common = tuple(f for f in COMMON_FIELDS if f.name != "timeout_s")
        root = display_url(self.upload_root) if self.upload_root else None
        fields = (
            FormField("extra.kind", "Job kind", "choice", default=TRAINING, choices=JOB_KINDS,
                      help="A training job; a batch service (a model over an input folder, results to the output "
                      "folder); a real-time service (a model behind a predict URL until stopped); or an execution "
                      "of a workflow."),
            FormField("script", "Code (local)", "path",
                      help="A script (the boot file) or folder in the server's folders, uploaded to OBS"
                      + (f" under {root}" if root else "")),
            FormField("extra.code_dir", "Code folder (OBS)", "path", help="obs://bucket/path/ holding the code."),
            FormField("extra.boot_file", "Boot file", "string",
                      help="The script in the code folder that starts the job."),
            FormField("algorithm", "Algorithm id", "string", help="Run an algorithm registered on ModelArts instead."),
            FormField("extra.image_url", "Custom image", "string", help="An image (SWR path) to run the command in."),
            FormField("command", "Command", "text", help="The command a custom image runs."),
            FormField("extra.engine", "Engine", "mapping",
                      help="engine_name and engine_version (or engine_id) of a code job."),
            FormField("environment", "Flavor", "string",
                      help="The flavor (e.g. modelarts.vm.cpu.8u); required unless a pool with one flavor is chosen."),
            FormField("cluster", "Pool", "string", help="A dedicated resource pool: pool:<name> or its name."),
            FormField("extra.node_count", "Nodes (training)", "integer", min=1,
                      help="How many nodes run the job (default 1)."),
            FormField("inputs", "Inputs", "tags",
                      help="OBS paths, or files in the server's folders (uploaded first); name=path names one "
                      "(default data_url, data_url_1, …)."),
            FormField("params", "Parameters", "mapping",
                      help="Passed to the boot file as --name=value (to a service's model: environment variables)."),
            FormField("extra.model_id", "Model id (services)", "string", help="The model a service deploys."),
            FormField("extra.workflow_id", "Workflow id (workflow)", "string",
                      help="The workflow to run; params are its parameters, inputs name=obs://… its data."),
            FormField("extra.instance_count", "Instances (services)", "integer", min=1, max=128,
                      help="How many instances serve the model (default 1)."),
            FormField("extra.mapping_type", "Input mapping (batch)", "choice", choices=("file", "csv"),
                      help="file: each input file is one request; csv: each row is one (default for a CSV)."),
            FormField("extra.mapping_rule", "CSV mapping rule (batch)", "mapping",
                      help="Request fields by csv column index; made from a local CSV's header when not given."),
            FormField("extra.req_uri", "Inference path (batch)", "string",
                      help="The model's inference path (default /)."),
            FormField("extra.duration", "Stop after (real-time)", "integer", min=1,
                      help="The auto-stop schedule's duration, in the unit below."),
            FormField("extra.time_unit", "Unit (real-time)", "choice", choices=("MINUTES", "HOURS", "DAYS"),
                      help="The unit of 'Stop after' (default HOURS)."),
            FormField("output", "Output folder (OBS)", "path",
                      help=f"Default {root}<job id>/output/; passed as --{OUTPUT_NAME}." if root
                      else f"obs://bucket/path/; passed as --{OUTPUT_NAME}."),
        )  # fmt: skip
        return Form(fields=fields + common, refresh_on=REFRESH_ON)

    async def form_for(self, values: Mapping[str, Any]) -> Form:
        """The form of the job kind chosen (and, for a workflow, of the workflow chosen): see :mod:`.forms`."""
        return await form_for(self, values)

    def validate(self, spec: JobSpec) -> JobSpec:
        """Check the spec (reads local files); InvalidSpec naming the field. The plan made is kept for
        ``submit`` as long as the spec lives."""
        plan = self._make_plan(spec)
        self._plans[id(spec)] = (weakref.ref(spec), plan)
        weakref.finalize(spec, self._plans.pop, id(spec), None)
        return spec

    def _make_plan(self, spec: JobSpec) -> AnyPlan:
        """The plan of the job kind ``extra.kind`` names (default ``training``)."""
        kind = spec.extra.get("kind", TRAINING)
        if kind == TRAINING:
            return plan_job(spec, upload_root=self.upload_root, resolve=self.local_source)
        if kind in (BATCH, REAL_TIME):
            return plan_service(spec, kind, upload_root=self.upload_root, resolve=self.local_source)
        if kind == WORKFLOW:
            return plan_execution(spec)
        raise InvalidSpec(f"'extra.kind' must be one of {', '.join(JOB_KINDS)}, not {kind!r}", field="extra.kind")

    async def _plan(self, spec: JobSpec) -> AnyPlan:
        """The plan ``validate`` made of this very spec (validating it first, in a thread, if it was not)."""
        spec = await self.validated(spec)
        known, plan = self._plans.get(id(spec), (None, None))
        if plan is None or known is None or known() is not spec:
            return await asyncio.to_thread(self._make_plan, spec)
        return plan

    async def _check_on_platform(self, plan: Plan) -> None:
        """What only the platform and OBS can tell, before anything is uploaded or created."""
        if plan.pool:
            await self._check_pool(plan.pool, plan.flavor)
        if not self.obs_endpoint:
            return  # nothing can be checked on OBS; the platform checks the paths
        store = self._store()
        await self._check_code(store, plan)
        await self._check_inputs(store, plan)

    async def _check_pool(self, name: str, flavor: str | None) -> None:
        """The pool exists and offers the flavor (or, with none given, just one)."""
        try:
            pool = await self._json("GET", self._path("v2", "pools", segment(name)), what=f"reading pool {name}")
        except NotFound:
            raise InvalidSpec(f"ModelArts has no pool '{name}'", field="cluster", backend=self.name) from None
        if not isinstance(pool, dict):
            return  # an answer without a pool object names no flavors to check against
        refusal = flavor_refusal(flavor, pool_flavors(pool), pool_display_name(pool))
        if refusal:
            raise InvalidSpec(refusal, field="environment", backend=self.name)

    async def _check_code(self, store: ObsStore, plan: Plan) -> None:
        """The OBS code folder holds the boot file (or, without one, anything)."""
        if not plan.code_obs:
            return
        if plan.boot_file:
            boot = join(plan.code_obs, plan.boot_file)
            if not await self._fs(store.exists, boot, what="checking the boot file"):
                raise InvalidSpec(f"the boot file {display_url(boot)} does not exist", field="extra.boot_file")
        elif not await self._fs(store.exists, plan.code_obs, what="checking the code folder"):
            raise InvalidSpec(f"the code folder {display_url(plan.code_obs)} is empty or missing",
                              field="extra.code_dir")  # fmt: skip

    async def _check_inputs(self, store: ObsStore, plan: Plan) -> None:
        """Every OBS input exists, as an object or as a folder."""
        for source in plan.inputs:
            if source.obs is None:
                continue  # a local input: it is uploaded
            if not await self._obs_exists(store, source.obs, what=f"checking {source.field}"):
                raise InvalidSpec(f"{display_url(source.obs)} does not exist on OBS", field=source.field)

    async def _obs_exists(self, store: ObsStore, path: str, *, what: str) -> bool:
        """Whether ``path`` is an object or, failing that, a folder holding objects."""
        if await self._fs(store.exists, path, what=what):
            return True
        return not path.endswith("/") and bool(await self._fs(store.exists, path + "/", what=what))

    # jobs -----------------------------------------------------------------------------
    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        plan = await self._plan(spec)
        if isinstance(plan, ServicePlan):
            return await self.services.submit(plan, job_id)
        if isinstance(plan, ExecutionPlan):
            return await self.workflows.submit(plan, job_id)
        await self._check_on_platform(plan)
        code_obs, inputs = await self._upload_plan(plan, job_id)
        output = plan.output or self._job_folder(job_id, "output", field="output")
        body = create_body(plan, job_id=job_id, code_obs=code_obs, inputs=inputs, output=output,
                           workspace_id=self.workspace_id)  # fmt: skip
        data = await self._create(plan, job_id, body)
        remote_id = job_id_of(data) if isinstance(data, dict) else ""
        if not remote_id:
            raise BackendError("ModelArts created the job but answered no metadata.id", backend=self.name)
        self._remember(remote_id, {OUTPUT_NAME: output})
        self.log.info("modelarts backend '%s': job %s is training job %s", self.name, job_id, remote_id)
        return Submission(remote_id, _submitted(job_status(data, self._scrub)))

    async def _upload_plan(self, plan: Plan, job_id: str) -> tuple[str | None, dict[str, str]]:
        """Upload the plan's local code and inputs: (the code folder on OBS, input name → OBS path).

        When an upload fails, what was uploaded already is removed.
        """
        try:
            code_obs = await self._upload_code(plan, job_id)
            inputs = {source.name: await self._input_path(source, job_id) for source in plan.inputs}
        except ComputeError:
            await self._remove_uploads(plan, job_id)
            raise
        return code_obs, inputs

    async def _upload_code(self, plan: Plan, job_id: str) -> str | None:
        """The OBS code folder: the one given, or ``<job>/code/`` with the local code uploaded to it."""
        if plan.code_local is None:
            return plan.code_obs
        folder = self._job_folder(job_id, "code", field="script")
        await self._upload(plan.code_local, folder, what="the code")
        return folder

    async def _input_path(self, source: Source, job_id: str) -> str:
        """The OBS path of an input: the one given, or where its local file or folder was uploaded."""
        if source.local is None:
            return source.obs or ""
        folder = self._job_folder(job_id, "inputs", source.name, field=source.field)
        return await self._upload(source.local, folder, what=source.field)

    async def _create(self, plan: Plan, job_id: str, body: dict[str, Any]) -> Any:
        """The create call's answer; a refusal names the spec field it is about, and removes the uploads."""
        try:
            return await self._json("POST", self._path("v2", "training-jobs"),
                                    what=f"creating the training job of {job_id}", json_body=body,
                                    field_hints=FIELD_HINTS)  # fmt: skip
        except InvalidSpec:  # refused: no job uses the uploads (after other errors one may, see recover)
            await self._remove_uploads(plan, job_id)
            raise

    def _job_folder(self, job_id: str, *parts: str, field: str) -> str:
        """``<upload_root>/<job_id>/<parts…>/``; InvalidSpec naming ``field`` without an upload_root."""
        if self.upload_root is None:  # plan_job has refused this already; kept for direct callers
            raise InvalidSpec("this backend has no upload_root for local files and default outputs", field=field)
        return job_folder(self.upload_root, job_id, *parts)

    async def _remove_uploads(self, plan: Plan, job_id: str) -> None:
        """Remove ``<upload_root>/<job_id>/`` after a failed submission (best effort: a failure is logged)."""
        if plan.needs_upload:
            await self._remove_job_folder(job_id)

    async def _remove_job_folder(self, job_id: str) -> None:
        """Remove ``<upload_root>/<job_id>/`` (best effort: a failure is logged)."""
        if self.upload_root is None:
            return
        folder = job_folder(self.upload_root, job_id)
        try:
            await self._fs(self._store().remove, folder, what=f"removing the uploads of job {job_id}")
        except ComputeError as exc:
            self.log.warning("modelarts backend '%s': %s left on OBS: %s", self.name, display_url(folder), exc)

    async def _upload(self, local: Path, folder: str, *, what: str) -> str:
        """A local file or folder into the OBS ``folder``; the uploaded object's path (a file) or ``folder``."""
        target = join(folder, local.name) if await asyncio.to_thread(local.is_file) else folder
        await self._fs(self._store().upload, local, target, what=f"uploading {what}")
        return target

    def _remember(self, remote_id: str, outputs: dict[str, str]) -> None:
        self._outputs.pop(remote_id, None)
        self._outputs[remote_id] = outputs
        while len(self._outputs) > MAX_REMEMBERED:
            del self._outputs[next(iter(self._outputs))]

    async def _show(self, remote_id: str) -> dict[str, Any]:
        if not remote_id or not isinstance(remote_id, str):
            raise NotFound("no ModelArts training job id given", field="remote_id", backend=self.name)
        data = await self._json("GET", self._path("v2", "training-jobs", segment(remote_id)),
                                what=f"reading training job {remote_id}")  # fmt: skip
        if not isinstance(data, dict):
            raise BackendError(f"ModelArts answered training job {remote_id} with no job object", backend=self.name)
        return data

    def _other_kind(self, remote_id: str) -> ServiceJobs | WorkflowJobs | None:
        """The job kind a remote id belongs to when it is not a training job (whose ids have no prefix)."""
        if is_service(remote_id):
            return self.services
        return self.workflows if is_execution(remote_id) else None

    async def status(self, remote_id: str) -> RemoteStatus:
        if kind := self._other_kind(remote_id):
            return await kind.status(remote_id)
        return job_status(await self._show(remote_id), self._scrub)

    async def _search(self, max_pages: int = MAX_PAGES) -> AsyncIterator[dict[str, Any]]:
        """Training jobs, newest first, at most ``max_pages`` pages."""
        async for items in self._search_pages(max_pages):
            for item in items:
                yield item

    async def _search_pages(self, max_pages: int = MAX_PAGES) -> AsyncIterator[list[dict[str, Any]]]:
        """Training jobs, newest first, page by page (``offset`` is the page index), at most ``max_pages`` pages."""
        size = self.search_page_size
        for page in range(max_pages):
            items, total = await self._search_page(page, size)
            yield [item for item in items if isinstance(item, dict) and job_id_of(item)]
            if _is_last_page(page, size, len(items), total):
                return
        if max_pages == MAX_PAGES:
            self.log.warning("modelarts backend '%s': job search cut at %d pages", self.name, MAX_PAGES)

    async def _search_page(self, page: int, size: int) -> tuple[list[Any], Any]:
        """(the items, the ``total`` said) of one page of the job search."""
        body: dict[str, Any] = {"offset": page, "limit": size, "sort_by": "create_time", "order": "desc"}
        if self.workspace_id:
            body["workspace_id"] = self.workspace_id
        data = await self._json("POST", self._path("v2", "training-job-searches"), what="listing training jobs",
                                json_body=body)  # fmt: skip
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BackendError("ModelArts answered the job search without items", backend=self.name)
        return items, data.get("total")

    async def status_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteStatus]:
        """Services in one listing, executions in one listing per workflow, training jobs from the job search,
        newest first, stopping once every id is found (⌈ids / page size⌉ pages when they are the newest jobs;
        ``STATUS_PAGES`` pages more at most).

        An id left out is not among them: the monitor then asks for that job alone.
        """
        services = [r for r in remote_ids if is_service(r)]
        executions = [r for r in remote_ids if is_execution(r)]
        found = await self.services.status_many(services) if services else {}
        if executions:
            found.update(await self.workflows.status_many(executions))
        training = set(remote_ids) - set(services) - set(executions)
        if training:
            found.update(await self._training_status_many(training))
        return found

    async def _training_status_many(self, wanted: set[str]) -> dict[str, RemoteStatus]:
        found: dict[str, RemoteStatus] = {}
        scrub = self._scrubber()
        pages = -(-len(wanted) // self.search_page_size) + STATUS_PAGES
        async for items in self._search_pages(min(pages, MAX_PAGES)):
            for item in items:
                job_id = job_id_of(item)
                if job_id in wanted:
                    found[job_id] = job_status(item, scrub)
            if len(found) == len(wanted):
                break
        return found

    async def list_jobs(self) -> list[tuple[str, RemoteStatus]]:
        """Every training job of the project (or workspace) with its status, newest first, then every service."""
        scrub = self._scrubber()
        jobs = [(job_id_of(item), job_status(item, scrub)) async for item in self._search()]
        return jobs + await self.services.list_jobs()

    async def recover(self, job_id: str) -> str | None:
        """The training job created for our ``job_id`` (its description names it), if any."""
        description = f"{DESCRIPTION_PREFIX}{job_id}"
        async for item in self._search():
            if job_description(item) == description:
                return job_id_of(item)
        return await self.services.recover(job_id)

    async def cancel(self, remote_id: str) -> None:
        if kind := self._other_kind(remote_id):
            return await kind.cancel(remote_id)
        await self._call(
            "POST", self._path("v2", "training-jobs", segment(remote_id), "actions"),
            what=f"terminating training job {remote_id}", json_body={"action_type": "terminate"},
        )  # fmt: skip

    async def delete(self, remote_id: str) -> None:
        if kind := self._other_kind(remote_id):
            await kind.delete(remote_id)
        else:
            await self._call("DELETE", self._path("v2", "training-jobs", segment(remote_id)),
                             what=f"deleting training job {remote_id}")  # fmt: skip
        self._outputs.pop(remote_id, None)

    # detail, actions, discovery -------------------------------------------------------
    async def detail(self, remote_id: str) -> JobDetail:
        """A service's facts (predict URL, app authentication with secrets masked, schedule), an execution's
        (steps, to-do item, parameters, schedules, and its actions), a training job's."""
        if kind := self._other_kind(remote_id):
            return await kind.detail(remote_id)
        return JobDetail(training_facts(await self._show(remote_id)), [])

    async def act(self, remote_id: str, action: str, values: Mapping[str, Any]) -> RemoteStatus:
        if kind := self._other_kind(remote_id):
            return await kind.act(remote_id, action, values)
        return await super().act(remote_id, action, values)

    async def discover(self, known: Collection[str]) -> list[DiscoveredJob]:
        """Executions that a workflow's schedule started, in the workflows of our executions and
        ``watch_workflows``."""
        return await self.workflows.discover(known, self.watch_workflows)

    # logs -----------------------------------------------------------------------------
    async def logs(self, remote_id: str, offset: int = 0) -> LogChunk:
        """The first task's log from byte ``offset`` (its preview, the last ~5 MB); complete once the job ended.
        A service's log is its events."""
        if kind := self._other_kind(remote_id):
            return await kind.logs(remote_id, offset)
        job = await self._show(remote_id)
        done = job_status(job).state.is_terminal
        tasks = task_names(job)
        if not tasks:
            return LogChunk("", offset, complete=done)
        try:
            data = await self._json(
                "GET", self._path("v2", "training-jobs", segment(remote_id), "tasks", segment(tasks[0]), "logs",
                                  "preview"),
                what=f"reading the log of training job {remote_id}",
            )  # fmt: skip
        except NotFound:  # the task has no log yet
            return LogChunk("", offset, complete=done)
        text, end = log_slice(data if isinstance(data, dict) else {}, offset)
        return LogChunk(self._scrub(text), end, complete=done)

    # results --------------------------------------------------------------------------
    async def _output_folders(self, remote_id: str) -> dict[str, str]:
        folders = self._outputs.get(remote_id)
        kind = self._other_kind(remote_id)
        if folders is None and kind is not None:
            folders = await kind.output_folders(remote_id)
            self._remember(remote_id, folders)
        elif folders is None:
            folders = output_folders(await self._show(remote_id))
            self._remember(remote_id, folders)
        return folders

    @staticmethod
    def _result_paths(
        folders: Mapping[str, str], listing: Mapping[str, dict[str, int | None]]
    ) -> dict[str, tuple[str, int | None]]:
        """Result name → (OBS path, size); with several outputs, names start with the output's name."""
        paths: dict[str, tuple[str, int | None]] = {}
        for output, files in listing.items():
            for name, size in files.items():
                shown = name if len(folders) == 1 else f"{output}/{name}"
                paths[shown] = (join(folders[output], name), size)
        return paths

    async def _results_index(self, remote_id: str) -> dict[str, tuple[str, int | None]]:
        folders = await self._output_folders(remote_id)
        store = self._store()
        listing = {}
        for output, folder in folders.items():
            listing[output] = await self._fs(store.list_files, folder, what=f"listing the output {output}")
        return self._result_paths(folders, listing)

    async def results(self, remote_id: str) -> list[ResultFile]:
        """The files under the job's OBS output folder(s)."""
        index = await self._results_index(remote_id)
        return [ResultFile(name, size, "output", media_type(name)) for name, (_, size) in index.items()]

    def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        """Stream one output file from OBS."""
        return self._open_result(remote_id, name)

    async def _open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        parts = name.split("/") if isinstance(name, str) else []
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise NotFound(f"no result '{name}'", field="name", backend=self.name)
        folders = await self._output_folders(remote_id)
        output, relative = (next(iter(folders)), name) if len(folders) == 1 else name.partition("/")[::2]
        if output not in folders or not relative:
            raise NotFound(f"job {remote_id} has no result '{name}'", field="name", backend=self.name)
        store = self._store()
        handle = await self._fs(store.open_object, join(folders[output], relative), what=f"opening {name}")
        try:
            while chunk := await self._fs(handle.read, CHUNK_SIZE, what=f"reading {name}"):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)
