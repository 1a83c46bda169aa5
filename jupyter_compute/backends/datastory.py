"""The ``datastory`` backend: Datastory's offline algorithm platform.

A job runs one of the platform's algorithms over one input (a file or a folder) on a file system
the caller names, and writes its results as files under an output folder. Steps: upload a local
input file first (WebHDFS or S3), submit the task with ``inputFileSystemInfo`` /
``outputFileSystemInfo``, poll ``/api/algorithm/task/get?taskId=``, then list and read the output
folder through fsspec. The platform documents no list, cancel or log endpoint: those capability
flags are False.

Config keys:

- ``url`` (required): the API base, e.g. ``https://datastory.example.cn``.
- ``token_env``: the environment variable holding the API token, read at each call and sent as
  ``Authorization: <token>``; default ``DATASTORY_TOKEN``.
- ``submit_path``: the submit route (undocumented); default ``/api/algorithm/task/submit``.
- ``get_path``: the status route; default ``/api/algorithm/task/get``.
- ``storage`` (required): named profiles, e.g.
  ``{"hdfs-main": {"type": "HDFS", "host", "port", "spare_host", "user"},
  "ceph": {"type": "CEPH", "host", "port", "access_key_env", "secret_key_env", "bucket"}}``.
  ``spare_host`` may be ``host`` or ``host:port`` (or give ``spare_port``); ``bucket`` is where a
  CEPH profile puts uploads and default outputs; a profile may set its own ``output_root``.
- ``default_storage``: the profile used when a spec names none (default: the first).
- ``output_root``: default output folders are ``<output_root>/<job_id>/`` (default
  ``/jupyter-compute``); uploaded inputs go to ``<output_root>/<job_id>-input/<file name>``.
- ``timeout_s``, ``poll_interval_s``.

Job spec: ``algorithm`` (required), ``params``, ``inputs`` = one path on the profile's file system
(HDFS ``/path``, CEPH ``bucket#path``) or a local file (``file://…`` or an existing local path)
uploaded first, ``output`` (a folder), ``extra.email`` (required: the platform mails failures),
``extra.storage`` (a profile name).

Secrets (API token, CEPH keys) live only in environment variables; the descriptors carrying the CEPH
keys are built at submit time and never stored, and every message from the platform is scrubbed.

The remote id is ``<task id>|<profile>|<output folder>``, so results can be found after a restart.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone, UTC
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx

from ..errors import AuthError, BackendError, ComputeError, InvalidSpec, NotFound
from ..forms import Form, FormField
from ..models import JobSpec, JobState, RemoteStatus, ResultFile, map_native_status
from . import _http
from .base import COMMON_FIELDS, Backend, Capabilities, Submission, config_positive, config_text, public_url
from .datastory_storage import CHUNK_SIZE, Profile, Storage
from .maap_storage import media_type
from .secrets import read_secret

STATUS: Mapping[str, JobState] = {
    "INITIALING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "FINISHED": JobState.SUCCEEDED,
    "ERROR": JobState.FAILED,
}
STATUS_WORDS: Mapping[str, str] = {
    "INITIALING": "initialising or waiting for resources",
    "RUNNING": "running",
    "FINISHED": "",
    "ERROR": "the task failed",
}
CAPABILITIES = Capabilities(has_results=True, can_proxy=True)  # the task API, its token added on the server
#: The platform's local time (China Standard Time).
PLATFORM_TZ = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CONFIG_KEYS = frozenset({
    "url", "token_env", "submit_path", "get_path", "storage", "default_storage", "output_root",
    "timeout_s", "poll_interval_s",
    "confirm_window_s",
})  # fmt: skip
PROGRAM_FIELDS = ("command", "script", "code", "notebook")
UNUSED_FIELDS = ("environment", "cluster", "timeout_s")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
T = TypeVar("T")


def parse_platform_time(value: Any) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` in UTC+8 → an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        local = datetime.strptime(value.strip(), TIME_FORMAT)
    except ValueError:
        try:
            local = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=PLATFORM_TZ)
    return local.astimezone(UTC)


def format_platform_time(value: datetime) -> str:
    """An aware datetime → the platform's ``YYYY-MM-DD HH:MM:SS`` in UTC+8."""
    return value.astimezone(PLATFORM_TZ).strftime(TIME_FORMAT)


def _config_text(config: Mapping[str, Any], key: str, default: str | None) -> str | None:
    return config_text(config, key, default, kind="datastory")


def _positive(config: Mapping[str, Any], key: str, default: float) -> float:
    return float(config_positive(config, key, default, kind="datastory"))


def _api_url(config: Mapping[str, Any]) -> str:
    """The configured API base, without a trailing slash."""
    url = _config_text(config, "url", None)
    if not url or not url.startswith(("http://", "https://")):
        raise InvalidSpec("datastory backend config 'url' must be the http(s) URL of the API", field="url")
    return url.rstrip("/")


def _route(config: Mapping[str, Any], key: str, default: str) -> str:
    """A configured API route, with one leading slash."""
    return "/" + (_config_text(config, key, default) or "").lstrip("/")


def _profiles(config: Mapping[str, Any]) -> dict[str, Profile]:
    """The named storage profiles of the config (at least one)."""
    storage = config.get("storage")
    if not isinstance(storage, Mapping) or not storage:
        raise InvalidSpec("datastory backend config 'storage' must name at least one profile", field="storage")
    return {name: Profile.from_config(name, data) for name, data in storage.items()}


def _default_profile(config: Mapping[str, Any], profiles: Mapping[str, Profile]) -> str:
    """The profile a spec naming none uses: ``default_storage``, else the first."""
    default = _config_text(config, "default_storage", next(iter(profiles)))
    if default is None or default not in profiles:
        raise InvalidSpec(f"datastory backend config 'default_storage' must be one of {', '.join(profiles)}",
                          field="default_storage")  # fmt: skip
    return default


def _refuse_unused(spec: JobSpec) -> None:
    """InvalidSpec for a program (the platform runs its own algorithms) or a field Datastory has no use for."""
    for program in PROGRAM_FIELDS:
        if getattr(spec, program) is not None:
            raise InvalidSpec(f"Datastory runs a platform algorithm, not a {program}", field=program)
    for unused in UNUSED_FIELDS:
        if getattr(spec, unused) is not None:
            raise InvalidSpec(f"Datastory takes no '{unused}'", field=unused)


def _algorithm(spec: JobSpec) -> str:
    """The name of the platform algorithm to run."""
    algorithm = (spec.algorithm or "").strip()
    if not algorithm:
        raise InvalidSpec("give the Datastory algorithm to run", field="algorithm")
    return algorithm


def _email(extra: Mapping[str, Any]) -> str:
    """The address the platform mails when the task fails."""
    email = extra.get("email")
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise InvalidSpec("give an email address: the platform mails it when the task fails", field="extra.email")
    return email.strip()


def _one_input(inputs: Sequence[Any]) -> str:
    """The spec's one input (blank ones left out), stripped."""
    given = [item for item in inputs if not (isinstance(item, str) and not item.strip())]
    if len(given) != 1 or not isinstance(given[0], str):
        raise InvalidSpec("give exactly one input: a path on the storage or a local file", field="inputs")
    return given[0].strip()


def _output_folder(output: str | None, profile: Profile) -> str | None:
    """The output folder given, checked on the profile's file system and ending in ``/`` (as given when blank)."""
    folder = output.strip() if output else None
    if not folder:
        return folder
    return profile.check_path(folder, "output").rstrip("/") + "/"


def _task_id(data: Any) -> str | None:
    """The task id of a submission answer, as text; None when it has none."""
    task = data.get("id") if isinstance(data, dict) else None
    if isinstance(task, bool) or not isinstance(task, (int, str)) or not str(task).strip():
        return None
    return str(task)


def split_remote_id(remote_id: str) -> tuple[str, str, str]:
    """``<task id>|<profile>|<output folder>`` → its three parts."""
    task, sep1, rest = str(remote_id).partition("|")
    profile, sep2, output = rest.partition("|")
    if not (sep1 and sep2 and task and profile and output):
        raise NotFound(
            f"'{remote_id}' is not a Datastory task of this server", field="remote_id"
        )
    return task, profile, output


class DatastoryBackend(_http.ClientMixin, Backend):
    """Runs Datastory offline algorithms over files on HDFS or CEPH."""

    kind: ClassVar[str] = "datastory"
    secret_env_defaults: ClassVar[Mapping[str, str]] = {"token_env": "DATASTORY_TOKEN"}
    capabilities: Capabilities = CAPABILITIES
    status_map: ClassVar[Mapping[str, JobState]] = STATUS

    def __init__(self, name: str, config: Mapping[str, Any] | None = None, *, data_dir: Path | str | None = None,
                 log: Any = None) -> None:  # fmt: skip
        super().__init__(name, config, data_dir=data_dir, log=log)
        self.url = _api_url(self.config)
        self.token_env = _config_text(self.config, "token_env", "DATASTORY_TOKEN") or "DATASTORY_TOKEN"
        self.submit_path = _route(self.config, "submit_path", "/api/algorithm/task/submit")
        self.get_path = _route(self.config, "get_path", "/api/algorithm/task/get")
        self.output_root = _config_text(self.config, "output_root", "/jupyter-compute") or "/jupyter-compute"
        self.timeout = httpx.Timeout(_positive(self.config, "timeout_s", 30.0), connect=10.0)
        self.poll_interval = _positive(self.config, "poll_interval_s", type(self).poll_interval)
        self.poll_max_interval = max(self.poll_interval, type(self).poll_max_interval)
        self.profiles: dict[str, Profile] = _profiles(self.config)
        self.default_storage: str = _default_profile(self.config, self.profiles)
        unknown = sorted(set(self.config) - CONFIG_KEYS)
        if unknown:
            self.log.warning("datastory backend '%s': unknown config keys ignored: %s", name, ", ".join(unknown))

    # lifecycle ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Name, kind, capabilities, the API's URL (without credentials or query) and the storage profiles."""
        data = super().describe()
        data["url"] = public_url(self.url)
        data["storage"] = sorted(self.profiles)
        return data

    # credentials ----------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        token = read_secret(self.token_env)
        if not token:
            raise AuthError(
                f"no Datastory token: set the environment variable {self.token_env} of the Jupyter server",
                backend=self.name,
            )
        return {"Authorization": token}

    def _scrub(self, text: Any) -> str:
        text = str(text)
        secrets = [read_secret(self.token_env) or ""]
        for profile in self.profiles.values():
            secrets.extend(profile.secrets())
        for secret in sorted(set(secrets), key=len, reverse=True):
            if secret and len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    @property
    def api_base(self) -> str | None:
        return self.url + "/"

    async def auth_headers(self) -> dict[str, str]:
        return self._auth()

    # HTTP -----------------------------------------------------------------------------
    async def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = await _http.request(
            await self._client(), method, self.url + path, headers=self._auth(),
            platform="Datastory", what=what, backend=self.name, scrub=self._scrub, **kwargs,
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        said = self._scrub(self._platform_message(response, body))
        status = response.status_code
        if status in (401, 403):
            raise AuthError(
                f"Datastory refused the token in ${self.token_env} ({what}): {said}",
                backend=self.name,
            )
        if status == 404:
            raise NotFound(
                f"not found on Datastory ({what}): {said}", backend=self.name
            )
        if status in (400, 409, 422):
            raise InvalidSpec(f"Datastory refused {what}: {said}", backend=self.name)
        if not response.is_success:
            raise BackendError(
                f"Datastory failed {what} (HTTP {status}): {said}",
                status=status,
                backend=self.name,
                uncertain=_http.acted_maybe(response),
            )
        if body is None:
            raise BackendError(
                f"Datastory answered {what} with something that is not JSON: {self._scrub(response.text[:200])!r}",
                backend=self.name,
            )
        return body

    @staticmethod
    def _platform_message(response: httpx.Response, body: Any) -> str:
        if isinstance(body, dict):
            for key in ("message", "msg", "error", "detail"):
                value = body.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
        return (
            (response.text or "").strip()[:500]
            or response.reason_phrase
            or f"HTTP {response.status_code}"
        )

    # the form and the check -----------------------------------------------------------
    def form(self) -> Form:
        common = tuple(f for f in COMMON_FIELDS if f.name != "timeout_s")
        fields = (
            FormField("algorithm", "Algorithm", "string", required=True,
                      help="The name of a Datastory offline algorithm."),
            FormField("inputs", "Input", "tags", required=True,
                      help="One path on the chosen storage (HDFS /path, CEPH bucket#path), or a local file to upload."),
            FormField("output", "Output folder", "path",
                      help=f"Where the results go; default {self.output_root}/<job id>/ on the chosen storage."),
            FormField("params", "Parameters", "mapping", help="The algorithm's parameters, by name."),
            FormField("extra.email", "Email", "string", required=True,
                      help="The platform mails this address when the task fails."),
            FormField("extra.storage", "Storage", "choice", choices=tuple(self.profiles),
                      default=self.default_storage, help="The file system the input and the results are on."),
        )  # fmt: skip
        return Form(fields=fields + common)

    def validate(self, spec: JobSpec) -> JobSpec:
        """The algorithm, the email, the storage profile, one input and the output folder."""
        _refuse_unused(spec)
        algorithm = _algorithm(spec)
        email = _email(spec.extra)
        storage = self._storage_name(spec.extra)
        profile = self.profiles[storage]
        source = _one_input(spec.inputs)
        if self._local_input(source) is None:
            source = profile.check_path(source, "inputs")
        output = _output_folder(spec.output, profile)
        extra = {**spec.extra, "email": email, "storage": storage}
        return spec.replace(algorithm=algorithm, inputs=[source], output=output, extra=extra)

    def _storage_name(self, extra: Mapping[str, Any]) -> str:
        """The profile ``extra.storage`` names (the default one when it names none)."""
        storage = extra.get("storage", self.default_storage)
        if storage is None or storage == "":
            storage = self.default_storage
        if not isinstance(storage, str) or storage not in self.profiles:
            raise InvalidSpec(f"unknown storage profile '{storage}' (known: {', '.join(self.profiles)})",
                              field="extra.storage")  # fmt: skip
        return storage

    def _local_input(self, source: str) -> str | None:
        """The local file an input names, to upload first (see ``local_source``), else None (a storage path)."""
        if "#" in source and not source.startswith("file://"):  # CEPH's bucket#path
            return None
        local = self.local_source(source, field="inputs")
        if local is not None and not local.is_file():
            raise InvalidSpec(f"the local input '{source}' is a folder: give one file", field="inputs")
        return str(local) if local is not None else None

    # jobs -----------------------------------------------------------------------------
    async def recover(self, job_id: str) -> str | None:
        """None: a Datastory task keeps nothing of ours (the task API takes no name or client token, and
        its id is the platform's), so a task whose submission answer was lost cannot be looked up; it
        ends UNKNOWN with words."""
        return None

    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        spec = await self.validated(spec)
        profile = self.profiles[spec.extra["storage"]]
        output = spec.output or profile.default_folder(self.output_root, job_id)
        input_path = await self._input_path(Storage(profile), spec.inputs[0], job_id)
        body = {
            "algorithm": spec.algorithm,
            "params": dict(spec.params),
            "email": spec.extra["email"],
            "inputFileSystemInfo": profile.descriptor("inputPath", input_path),
            "outputFileSystemInfo": profile.descriptor("outputPath", output),
        }
        data = await self._json("POST", self.submit_path, what=f"the task of job {job_id}", json=body)
        del body  # the descriptors hold the CEPH keys: not kept anywhere
        task = _task_id(data)
        if task is None:
            said = self._scrub(data.get("message") if isinstance(data, dict) else data)
            raise BackendError(f"Datastory answered the submission without a task id: {said}", backend=self.name)
        self.log.info("datastory backend '%s': job %s is task %s", self.name, job_id, task)
        return Submission(f"{task}|{profile.name}|{output}", RemoteStatus(JobState.QUEUED, "INITIALING", "submitted"))

    async def _input_path(self, storage: Storage, source: str, job_id: str) -> str:
        """The task's input on the storage: ``source`` itself once it is found there, or the local file
        ``source`` names once it is uploaded."""
        local = await asyncio.to_thread(self._local_upload, source)
        if local is not None:
            return await self._upload(storage, local, job_id)
        if not await self._fs(storage.exists, source, what=f"checking the input {source}"):
            raise InvalidSpec(f"the input '{source}' does not exist on storage '{storage.profile.name}'",
                              field="inputs")  # fmt: skip
        return source

    def _local_upload(self, source: str) -> str | None:
        """The local file to upload for ``source`` (it must still exist), or None for a storage path. Blocking."""
        local = self._local_input(source)
        if local is not None and not os.path.isfile(local):
            raise InvalidSpec(f"the local input file '{local}' does not exist", field="inputs")
        return local

    async def _upload(self, storage: Storage, local: str, job_id: str) -> str:
        """Upload a local input file next to the job's default output folder; the path it got."""
        name = os.path.basename(local)
        input_path = storage.profile.default_folder(self.output_root, job_id, "-input") + name
        await self._fs(storage.upload, local, input_path, what=f"uploading {name}")
        self.log.info("datastory backend '%s': uploaded %s to %s", self.name, name, input_path)
        return input_path

    async def status(self, remote_id: str) -> RemoteStatus:
        task, _, _ = split_remote_id(remote_id)
        data = await self._json(
            "GET", self.get_path, what=f"reading task {task}", params={"taskId": task}
        )
        if not isinstance(data, dict):
            raise BackendError(
                f"Datastory answered task {task} with no task object", backend=self.name
            )
        return self._remote_status(data)

    def _remote_status(self, data: Mapping[str, Any]) -> RemoteStatus:
        native = str(data.get("status") or "")
        message = data.get("message")
        if not isinstance(message, str) or not message.strip():
            message = STATUS_WORDS.get(
                native, f"unknown Datastory status '{native}'" if native else ""
            )
        return RemoteStatus(
            state=map_native_status(self.status_map, native or None),
            native_status=native,
            message=self._scrub(message.strip()),
            started=parse_platform_time(data.get("startTime")),
            finished=parse_platform_time(data.get("finishTime")),
        )

    async def results(self, remote_id: str) -> list[ResultFile]:
        _, profile_name, output = split_remote_id(remote_id)
        storage = self._storage(profile_name)
        files = await self._fs(storage.list_files, output, what="listing the results")
        return [
            ResultFile(name=n, size=s, media_type=media_type(n))
            for n, s in files.items()
        ]

    async def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        _, profile_name, output = split_remote_id(remote_id)
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise NotFound(f"no result '{name}'", field="name")
        storage = self._storage(profile_name)
        handle = await self._fs(storage.open, output, name, what=f"opening {name}")
        try:
            while chunk := await self._fs(
                handle.read, CHUNK_SIZE, what=f"reading {name}"
            ):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    def _storage(self, profile_name: str) -> Storage:
        profile = self.profiles.get(profile_name)
        if profile is None:
            raise NotFound(
                f"storage profile '{profile_name}' is not configured any more",
                backend=self.name,
            )
        return Storage(profile)

    async def _fs(self, call: Callable[..., T], *args: Any, what: str) -> T:
        """A blocking fsspec call in a worker thread; its errors as ComputeErrors, secrets scrubbed."""
        try:
            return await asyncio.to_thread(call, *args)
        except ComputeError as exc:
            exc.message = self._scrub(exc.message)
            exc.backend = exc.backend or self.name
            raise
        except FileNotFoundError as exc:
            raise NotFound(
                f"{what}: not found: {self._scrub(exc)}", backend=self.name
            ) from None
        except PermissionError as exc:
            raise AuthError(
                f"{what}: refused by the store: {self._scrub(exc)}", backend=self.name
            ) from None
        except Exception as exc:  # noqa: BLE001 — requests, botocore and fsspec errors of every kind
            raise BackendError(
                f"{what} failed: {type(exc).__name__}: {self._scrub(exc)}",
                backend=self.name,
            ) from None


