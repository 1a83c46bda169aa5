"""The ``ray`` backend: jobs on an existing Ray cluster, through its Jobs REST API (the dashboard).

A job is submitted with our job id as Ray's ``submission_id`` (so a submission whose answer was lost is
found again), its files zipped into a ``working_dir`` package (:mod:`.package`), and run under
:mod:`.entry`, which applies the time limit and puts the outputs in the results location. Statuses come
from one listing of the cluster's jobs per refresh; logs are read whole from Ray and handed out by offset.

Config keys:

- ``address`` (required): the dashboard's URL, e.g. ``http://127.0.0.1:8265`` (KubeRay: the head service's
  dashboard port, through a port-forward or an ingress).
- ``token_env``: the environment variable holding a bearer token for a dashboard behind authentication.
- ``headers``: more request headers (name → text), e.g. for an ingress; no secrets here.
- ``results_url``: where jobs' outputs are kept, ``<results_url>/<job id>/``: a folder every node and this
  server share (a path, or ``file://``), or an fsspec URL (``s3://bucket/prefix``) that the cluster writes
  with its own credentials and this server reads with ``results_options`` (fsspec options without secrets,
  e.g. ``{"endpoint_url": …}``) and the key pair in ``results_key_env``/``results_secret_env``. Without it
  jobs have logs but no results.
- ``python``: the cluster's Python command (default ``python``); ``timeout_s``, ``poll_interval_s``,
  ``confirm_window_s``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx

from ...errors import AuthError, BackendError, ComputeError, InvalidSpec, NotFound
from ...forms import Form, FormField
from ...models import Cluster, Environment, JobSpec, JobState, LogChunk, RemoteStatus, ResultFile
from .. import _http
from ..base import (
    COMMON_FIELDS, PROGRAM_FIELDS, Backend, Capabilities, Submission, config_known, config_positive, config_text,
    public_url,
)
from ..local import complete_utf8, media_type
from .cluster_facts import cluster_of, environments_of, node_totals
from .package import Package, build_package
from .results import ResultsLocation
from .spec import ENTRY_FILE, PLAN_FILE, RayPlan, check_spec, plan_job
from .status import ASKS_KEY, JOB_ID_KEY, STATUS, TIMEOUT_KEY, asks_of, remote_status
from ..secrets import read_secret, scrub

CONFIG_KEYS = frozenset({
    "kind", "address", "token_env", "headers", "results_url", "results_options", "results_key_env",
    "results_secret_env", "python", "timeout_s", "poll_interval_s", "confirm_window_s",
})  # fmt: skip
#: How long the nodes' resources are reused to explain why jobs wait.
NODES_TTL_S = 10.0
#: The most nodes read from the state API.
MAX_NODES = 10000
#: How long ``delete`` waits for a stopped job to end before removing it.
DELETE_WAIT_S = 30.0
#: Headers that carry credentials: never written in a config file.
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})
_RAY_ERROR_LINE = re.compile(r"^\w*(?:Error|Exception): .+")


class RayBackend(_http.ClientMixin, Backend):
    """Submits, follows and stops jobs on a Ray cluster."""

    kind: ClassVar[str] = "ray"
    status_map: ClassVar[Mapping[str, JobState]] = STATUS
    #: cluster_facts.cluster_of's statuses
    cluster_status_meanings: ClassVar[Mapping[str, str]] = {"healthy": "healthy", "no node alive": "failing"}
    batch_status: ClassVar[bool] = True
    recover_is_certain: ClassVar[bool] = True  # the job's id is ours: Ray has it or not
    poll_interval = 1.0
    poll_max_interval = 10.0

    def __init__(self, name: str, config: Mapping[str, Any] | None = None, *, data_dir: Path | str | None = None,
                 log: Any = None) -> None:  # fmt: skip
        super().__init__(name, config, data_dir=data_dir, log=log)
        config_known(self.config, CONFIG_KEYS, kind="ray")
        address = config_text(self.config, "address", None, kind="ray") or ""
        if not address.startswith(("http://", "https://")):
            raise InvalidSpec("ray backend config 'address' must be the http(s) URL of the Ray dashboard",
                              field="address")  # fmt: skip
        self.url = address.rstrip("/")
        self.token_env = config_text(self.config, "token_env", None, kind="ray")
        self.headers = _headers(self.config.get("headers"))
        self.python = config_text(self.config, "python", "python", kind="ray") or "python"
        self.outputs_at = ResultsLocation.from_config(self.config, backend=name)
        self.timeout = httpx.Timeout(float(config_positive(self.config, "timeout_s", 30.0, kind="ray")), connect=10.0)
        self.poll_interval = float(config_positive(self.config, "poll_interval_s", type(self).poll_interval,
                                                   kind="ray"))  # fmt: skip
        self.poll_max_interval = max(self.poll_interval, type(self).poll_max_interval)
        self.capabilities = Capabilities(
            can_cancel=True, can_delete=True, can_list=True, has_logs=True, has_results=self.outputs_at is not None,
            has_environments=True, has_clusters=True, can_proxy=True,
        )
        self._nodes: tuple[float, list[dict[str, float]]] | None = None
        self._stopped_before_start = _StoppedBeforeStart(self.data_dir)

    def describe(self) -> dict[str, Any]:
        data = super().describe()
        data["url"] = public_url(self.url)
        return data

    # HTTP -------------------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.token_env:
            token = read_secret(self.token_env)
            if not token:
                raise AuthError(f"no Ray dashboard token: set the environment variable {self.token_env} of the "
                                "Jupyter server", backend=self.name)  # fmt: skip
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _scrub(self, text: Any) -> str:
        return scrub(text, [read_secret(self.token_env), *(self.outputs_at.secrets() if self.outputs_at else ())])

    @property
    def api_base(self) -> str | None:
        return self.url + "/"

    async def auth_headers(self) -> dict[str, str]:
        return self._auth()

    async def _call(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """Send to the dashboard; a refusal or failure as our error, in Ray's words."""
        response = await _http.request(await self._client(), method, self.url + path, headers=self._auth(),
                                       platform="Ray", what=what, backend=self.name, scrub=self._scrub, **kwargs)
        if response.is_success:
            return response
        said = self._scrub(ray_said(response))
        status = response.status_code
        if status in (401, 403):
            raise AuthError(f"the Ray dashboard refused the request ({what}): {said}", backend=self.name)
        if status == 404:
            raise NotFound(f"Ray has no such thing ({what}): {said}", backend=self.name)
        if status == 400:
            raise InvalidSpec(f"Ray refused {what}: {said}", backend=self.name)
        raise BackendError(f"Ray failed {what} (HTTP {status}): {said}", status=status, backend=self.name,
                           uncertain=_http.acted_maybe(response))  # fmt: skip

    async def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, what=what, **kwargs)
        return _http.decode_json(response, platform="Ray", what=what, backend=self.name, scrub=self._scrub)

    # the form and the check -------------------------------------------------------------
    def form(self) -> Form:
        fields = (
            FormField("command", "Shell command", "text", help="Run on the cluster in the job's working directory."),
            FormField("script", "Python script", "path", help="A .py file on this server, sent with the job."),
            FormField("code", "Python code", "code", help="Inline Python source to run."),
            FormField("notebook", "Notebook", "path",
                      help="An .ipynb file; parameters go after its 'parameters' cell."),
            FormField("params", "Parameters", "mapping",
                      help="name=value pairs: JUPYTER_COMPUTE_PARAM_<NAME> for programs, variables for notebooks."),
            FormField("inputs", "Inputs", "tags",
                      help="Local files or folders sent with the job (listed in $JUPYTER_COMPUTE_INPUTS), or URLs."),
            FormField("extra.entrypoint_num_cpus", "CPUs for the entrypoint", "number", min=0,
                      help="CPUs reserved for the job's driver (Ray's default: 0; its tasks ask for their own)."),
            FormField("extra.entrypoint_num_gpus", "GPUs for the entrypoint", "number", min=0),
            FormField("extra.entrypoint_memory", "Memory for the entrypoint (bytes)", "number", min=0),
            FormField("extra.entrypoint_resources", "Custom resources", "mapping", help="name=amount pairs."),
            FormField("extra.pip", "pip packages", "tags", help="Installed for the job by Ray's runtime environment."),
            FormField("extra.env_vars", "Environment variables", "mapping"),
            FormField("extra.working_dir", "Working directory", "path",
                      help="A folder on this server sent with the job as its working directory."),
            *COMMON_FIELDS,
        )  # fmt: skip
        return Form(fields=fields, one_of=(PROGRAM_FIELDS,))

    def validate(self, spec: JobSpec) -> JobSpec:
        """Program, inputs, parameters and Ray's options, and the size of the job's files.
        Reads the local files the spec names: call it from a worker thread."""
        check_spec(spec, self.local_source)
        if spec.cluster is not None and spec.cluster != self.name:
            raise InvalidSpec(f"this backend has one cluster, '{self.name}'", field="cluster")
        return spec

    # jobs -------------------------------------------------------------------------------
    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        spec = await self.validated(spec)
        plan, package = await asyncio.to_thread(self._package, spec, job_id)
        await self._upload(package.name, package.data)
        body: dict[str, Any] = {
            "entrypoint": f"{self.python} {ENTRY_FILE}",
            "submission_id": job_id,
            "runtime_env": {"working_dir": package.uri, "env_vars": {**plan.env_vars, "JUPYTER_COMPUTE_JOB_ID": job_id},
                            **({"pip": plan.pip} if plan.pip else {})},
            "metadata": {JOB_ID_KEY: job_id, ASKS_KEY: json.dumps(plan.asks),
                         **({TIMEOUT_KEY: f"{spec.timeout_s:g}"} if spec.timeout_s else {})},
            **plan.resources,
        }  # fmt: skip
        await self._json("POST", "/api/jobs/", what=f"the submission of job {job_id}", json=body)
        try:
            status = await self.status(job_id)
        except ComputeError:  # Ray has the job: its first status can wait for the next refresh
            status = RemoteStatus(JobState.QUEUED, "PENDING", "submitted to Ray")
        return Submission(job_id, status)

    def _package(self, spec: JobSpec, job_id: str) -> tuple[RayPlan, Package]:
        """The job's plan and its working_dir package. Blocking: reads the files the spec names."""
        plan = plan_job(spec, self.local_source, python=self.python)
        entry_plan = {"command": plan.command, "timeout_s": spec.timeout_s, **self._output_plan(job_id)}
        files = {**plan.files, ENTRY_FILE: _ENTRY_SOURCE.read_bytes(), PLAN_FILE: json.dumps(entry_plan).encode()}
        return plan, build_package(files)

    def _output_plan(self, job_id: str) -> dict[str, Any]:
        """Where the job writes its outputs: straight into a shared folder, or copied to a URL at its end."""
        if self.outputs_at is None:
            return {}
        if self.outputs_at.shared_folder is not None:
            return {"output_dir": str(self.outputs_at.shared_folder / job_id)}
        return {"results_url": self.outputs_at.url_of(job_id), "results_options": self.outputs_at.public_options}

    async def _upload(self, name: str, data: bytes) -> None:
        """Put the package into Ray's GCS unless it is there already."""
        path = f"/api/packages/gcs/{name}"
        try:
            await self._call("GET", path, what=f"looking for package {name}")
            return
        except NotFound:
            pass
        await self._call("PUT", path, what=f"uploading package {name} ({len(data)} bytes)", content=data)

    async def recover(self, job_id: str) -> str | None:
        try:
            await self._json("GET", f"/api/jobs/{job_id}", what=f"looking for job {job_id}")
        except NotFound:
            return None
        return job_id

    async def status(self, remote_id: str) -> RemoteStatus:
        info = await self._job(remote_id)
        return self._status_of(info, await self._nodes_if_waiting([info]))

    async def status_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteStatus]:
        """One listing of the cluster's jobs for all of them (ids Ray does not list are left out)."""
        wanted = set(remote_ids)
        infos = [info for info in await self._list() if info.get("submission_id") in wanted]
        nodes = await self._nodes_if_waiting(infos)
        return {str(info["submission_id"]): self._status_of(info, nodes) for info in infos}

    async def list_jobs(self) -> list[tuple[str, RemoteStatus]]:
        infos = [info for info in await self._list() if info.get("submission_id")]
        nodes = await self._nodes_if_waiting(infos)
        return [(str(info["submission_id"]), self._status_of(info, nodes)) for info in infos]

    async def _list(self) -> list[dict[str, Any]]:
        response = await self._call("GET", "/api/jobs/", what="listing the cluster's jobs")
        data = await asyncio.to_thread(_json_or_none, response)  # every job of the cluster: decoded off the loop
        if not isinstance(data, list):
            raise BackendError("Ray answered the job listing with no list", backend=self.name)
        return [info for info in data if isinstance(info, dict)]

    async def _job(self, remote_id: str) -> dict[str, Any]:
        try:
            info = await self._json("GET", f"/api/jobs/{remote_id}", what=f"reading job {remote_id}")
        except NotFound:
            raise NotFound(f"Ray has no job '{remote_id}' (a restarted Ray head forgets the jobs of its earlier "
                           "run unless its GCS is fault tolerant)", backend=self.name) from None  # fmt: skip
        if not isinstance(info, dict):
            raise BackendError(f"Ray answered job {remote_id} with no job object", backend=self.name)
        return info

    def _status_of(self, info: Mapping[str, Any], nodes: list[dict[str, float]] | None) -> RemoteStatus:
        status = remote_status(info, nodes)
        remote_id = str(info.get("submission_id") or "")
        if status.state in (JobState.QUEUED, JobState.FAILED) and remote_id in self._stopped_before_start:
            return RemoteStatus(JobState.CANCELLED, status.native_status, "stopped before it started (Ray lists it as "
                                f"{status.native_status} until its start timeout)",
                                started=None, finished=status.finished)  # fmt: skip
        return status

    async def _nodes_if_waiting(self, infos: Sequence[Mapping[str, Any]]) -> list[dict[str, float]] | None:
        """The alive nodes' resources when some job waits asking for resources (reused for a few seconds);
        None when none does or the nodes cannot be read (then Ray's own words stand)."""
        if not any(info.get("status") == "PENDING" and asks_of(info) for info in infos):
            return None
        if self._nodes is None or time.monotonic() - self._nodes[0] > NODES_TTL_S:
            try:
                self._nodes = (time.monotonic(), node_totals(await self._node_list()))
            except ComputeError as exc:
                self.log.info("ray backend '%s': why jobs wait is not known: %s", self.name, exc.message)
                return None
        return self._nodes[1]

    async def cancel(self, remote_id: str) -> None:
        await self._stop(remote_id, await self._job(remote_id))

    async def _stop(self, remote_id: str, info: Mapping[str, Any]) -> None:
        """Stop the job Ray described as ``info``; one stopped before it started is remembered as such."""
        await self._json("POST", f"/api/jobs/{remote_id}/stop", what=f"stopping job {remote_id}")
        if info.get("status") == "PENDING":
            await asyncio.to_thread(self._stopped_before_start.add, remote_id)

    async def delete(self, remote_id: str) -> None:
        """Stop the job, wait for it to end, remove it from Ray and its outputs from the results location (those
        too when Ray has forgotten the job). A job stopped before it started stays in Ray's list until its start
        timeout (Ray refuses to remove it)."""
        try:
            await self._delete_from_ray(remote_id)
        finally:
            if self.outputs_at is not None:
                await self.outputs_at.remove(remote_id)

    async def _delete_from_ray(self, remote_id: str) -> None:
        try:
            info = await self._job(remote_id)
        except NotFound:
            return
        if STATUS.get(str(info.get("status"))) in (JobState.QUEUED, JobState.RUNNING):
            await self._stop(remote_id, info)
            info = await self._wait_until_ended(remote_id)
        if info.get("status") != "PENDING":
            await self._json("DELETE", f"/api/jobs/{remote_id}", what=f"deleting job {remote_id}")
        else:
            self.log.info("ray backend '%s': job %s was stopped before it started; Ray lists it until its start "
                          "timeout", self.name, remote_id)  # fmt: skip

    async def _wait_until_ended(self, remote_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + DELETE_WAIT_S
        while True:
            info = await self._job(remote_id)
            state = STATUS.get(str(info.get("status")))
            if info.get("status") == "PENDING" and remote_id in self._stopped_before_start:
                return info
            if state is not None and state.is_terminal:
                return info
            if time.monotonic() > deadline:
                raise BackendError(f"Ray did not end job {remote_id} within {DELETE_WAIT_S:g} s of its stop; "
                                   "delete it again later", backend=self.name)  # fmt: skip
            await asyncio.sleep(0.5)

    async def logs(self, remote_id: str, offset: int = 0) -> LogChunk:
        """The log from byte ``offset`` (Ray sends it whole each time); complete once the job has ended."""
        info = await self._job(remote_id)
        response = await self._call("GET", f"/api/jobs/{remote_id}/logs", what=f"reading the log of job {remote_id}")
        piece = await asyncio.to_thread(_log_from, response, offset)
        if piece is None:
            raise BackendError(f"Ray answered the log of job {remote_id} without a log", backend=self.name)
        ended = self._status_of(info, None).state.is_terminal
        return LogChunk(piece.decode(errors="replace"), offset + len(piece), complete=ended)

    # results ----------------------------------------------------------------------------
    async def results(self, remote_id: str) -> list[ResultFile]:
        if self.outputs_at is None:
            return []
        sizes = await self.outputs_at.list(remote_id)
        return [ResultFile(name, size, "output", media_type(name)) for name, size in sizes.items()]

    async def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        if self.outputs_at is None:
            raise NotFound(f"backend '{self.name}' keeps no results (no results_url)", backend=self.name)
        async for chunk in self.outputs_at.read(remote_id, name):
            yield chunk

    # capacity ---------------------------------------------------------------------------
    async def _node_list(self) -> list[dict[str, Any]]:
        """Every node of the cluster, from the state API (resource names as Ray knows them, unlike the node
        summary's, which are camel-cased)."""
        data = await self._json("GET", "/api/v0/nodes", what="reading the cluster's nodes",
                                params={"limit": str(MAX_NODES), "detail": "false"})  # fmt: skip
        result = data.get("data", {}).get("result", {}) if isinstance(data, dict) else {}
        nodes = result.get("result") if isinstance(result, dict) else None
        if not isinstance(nodes, list):
            raise BackendError("Ray answered the node list without nodes", backend=self.name)
        return [node for node in nodes if isinstance(node, dict)]

    async def environments(self) -> list[Environment]:
        """What one job may ask for: a kind of node each (its CPUs, GPUs, memory and custom resources)."""
        nodes = await self._node_list()
        running = sum(1 for info in await self._list() if info.get("status") == "RUNNING")
        return environments_of(nodes, backend=self.name, running_jobs=running)

    async def clusters(self) -> list[Cluster]:
        nodes = await self._node_list()
        status = await self._json("GET", "/api/cluster_status", what="reading the cluster's use")
        return [cluster_of(self.name, public_url(self.url), nodes, status)]


class _StoppedBeforeStart:
    """The jobs stopped while PENDING (Ray keeps showing them PENDING, then FAILED): kept in the backend's
    data folder so a restarted server still calls them CANCELLED."""

    def __init__(self, folder: Path | None) -> None:
        self._path = folder / "ray-stopped-before-start.json" if folder else None
        self._lock = threading.Lock()
        self._ids: frozenset[str] = frozenset()
        if self._path is not None and self._path.exists():
            try:
                self._ids = frozenset(json.loads(self._path.read_text()))
            except (OSError, ValueError, TypeError):
                self._ids = frozenset()

    def __contains__(self, remote_id: object) -> bool:
        return remote_id in self._ids

    def add(self, remote_id: str) -> None:
        """Remember one (blocking: writes the file, one writer at a time)."""
        with self._lock:
            self._ids = self._ids | {remote_id}
            if self._path is None:
                return
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self._path.parent, delete=False, suffix=".tmp") as out:
                json.dump(sorted(self._ids), out)
            os.replace(out.name, self._path)


_ENTRY_SOURCE = Path(__file__).with_name("entry.py")


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidSpec("ray backend config 'headers' must map header names to texts", field="headers")
    secret = sorted(name for name in value if name.lower() in SECRET_HEADERS)
    if secret:
        raise InvalidSpec(f"ray backend config 'headers' must hold no credential ('{secret[0]}'): name the "
                          "environment variable holding the token in 'token_env'", field="headers")  # fmt: skip
    return dict(value)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _log_from(response: httpx.Response, offset: int) -> bytes | None:
    """The bytes of a log answer from ``offset``, without a character cut at the end; None for no log."""
    data = _json_or_none(response)
    text = data.get("logs") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return None
    whole = text.encode()
    return complete_utf8(whole[offset:]) if offset < len(whole) else b""


def ray_said(response: httpx.Response) -> str:
    """Ray's reason in an error answer: the last ``…Error: …`` line of the traceback it sends, else its text."""
    text = response.text or ""
    lines = [line.strip() for line in text.splitlines() if _RAY_ERROR_LINE.match(line.strip())]
    said = lines[-1] if lines else text.strip()
    return said[:500] or response.reason_phrase or f"HTTP {response.status_code}"

