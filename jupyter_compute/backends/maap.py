"""The ``maap`` backend: NASA MAAP's DPS (Data Processing System), in two flavours.

``flavor: swagger`` speaks the published "MAAP API - DPS Job Submission" (``/api/v1/…``): a job
*definition* (algorithm + granules) is created — or reused when one for the same algorithm and the
same granule set exists — then one *entry* (a run) is created and started, three calls in that
order. The entry id is the remote id. The service can call back with each step's JobStepResults:
the callback URL the server hands us (``webhook_url``) goes into ``callback_uri``. That API has no
cancel, so ``can_cancel`` is False.

``flavor: ogc`` speaks the OGC API Processes routes MAAP serves today (``/api/ogc/…``,
``/api/mas/…``): the algorithm is its integer process id, the queue (required) is the job's
environment, products come from ``ogc/jobs/{id}/results`` and the job's ``products`` URL, and a job
is cancelled with DELETE (dismiss).

Search-index lag: for a few seconds after submission MAAP may answer 404 for a job it has accepted.
Reads and cancels of a job submitted here less than ``INDEX_LAG_S`` ago retry through it, so a cancel
in the first seconds cancels instead of answering NotFound while the job runs on.

Product folders: a DPS product is usually a folder (its links name the folder, over http and
``s3://``). A product whose links may name a folder (ending in ``/``, or a name of no known file
type) is listed file by file as ``<product>/<path>`` — in S3 when an S3 endpoint is configured,
else from the http link's index page — so each CSV inside can be read (``to_pandas(job,
"<product>/")`` reads them all). A link that turns out to be a file stays one result.

Config keys:

- ``url`` (required): the API base, e.g. ``https://api.maap-project.org/api/``.
- ``flavor``: ``swagger`` (default) or ``ogc``.
- ``token_env``: the environment variable holding the MAAP token (a proxy-granting ticket), read
  at each call and sent as ``proxy-ticket``; default ``MAAP_PGT``. The ogc flavour needs it; the
  swagger API declares no auth, so there it is sent only when set. Never logged or shown.
- ``granule_input``: the name of the algorithm input the granule ids go to (ogc; default
  ``granules``): ``inputs = {<granule_input>: [ids…], **params}``.
- ``timeout_s``: seconds each HTTP call may take (default 30).
- ``poll_interval_s``: the monitor's first poll interval (default 2 s); a very large value
  leaves a swagger job to the callbacks.
- ``s3_endpoint_url``, ``s3_key_env``, ``s3_secret_env``: where and with which keys ``s3://``
  products are read (s3fs). Without keys, s3fs's own credential chain decides.

Callbacks (swagger): a JobStepResults describes one step, not the entry: the body does not say how
many steps there are, so a SUCCESS step need not be the last, and callbacks may arrive out of
order. :meth:`MaapBackend.handle_webhook` therefore checks the body's shape and answers None: the
server re-reads the entry at once, and the entry's own status is the one recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from ..errors import AuthError, BackendError, ComputeError, InvalidSpec, NotFound, NotSupported
from ..forms import NOT_BLANK_TEXT, Form, FormField
from ..models import Environment, JobSpec, JobState, RemoteStatus, ResultFile, map_native_status, parse_time
from . import _http
from .base import COMMON_FIELDS, Backend, Capabilities, Submission, config_positive, config_text, public_url
from .maap_storage import (
    ProductIndex,
    S3Reader,
    file_name,
    is_log,
    list_http_folder,
    may_be_folder,
    media_type,
    s3_path,
    stream_http,
)
from .secrets import read_secret

FLAVORS = ("swagger", "ogc")

#: JobEntry / JobStepResults statuses of the swagger API.
SWAGGER_STATUS: Mapping[str, JobState] = {
    "PENDING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "SUCCESS": JobState.SUCCEEDED,
    "ERROR": JobState.FAILED,
    "CANCELED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMED_OUT,
}

#: OGC API Processes statuses as MAAP serves them.
OGC_STATUS: Mapping[str, JobState] = {
    "accepted": JobState.QUEUED,
    "running": JobState.RUNNING,
    "successful": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "offline": JobState.FAILED,
    "dismissed": JobState.CANCELLED,
    "deduped": JobState.SUCCEEDED,
}

#: What an OGC status means, in words, when MAAP says nothing more.
OGC_MESSAGES: Mapping[str, str] = {
    "accepted": "queued",
    "running": "running",
    "successful": "",
    "failed": "the algorithm failed",
    "offline": "the DPS worker running the job went offline",
    "dismissed": "cancelled",
    "deduped": "identical to an earlier run (deduplicated); no new products",
}

#: The DPS's internal job statuses, which leak into some error messages, in words.
INTERNAL_STATUS_WORDS: Mapping[str, str] = {
    "job-completed": "has already finished",
    "job-failed": "has already failed",
    "job-revoked": "was already cancelled",
    "job-deduped": "has already finished (it was deduplicated)",
    "job-offline": "has already ended (its worker went offline)",
    "job-queued": "is queued",
    "job-started": "is running",
}

SWAGGER_CAPABILITIES = Capabilities(can_list=True, has_results=True, has_webhooks=True, can_proxy=True)
OGC_CAPABILITIES = Capabilities(
    can_cancel=True, can_list=True, has_results=True, has_environments=True, can_proxy=True
)

#: A job the platform does not know this soon after its submission is retried (search-index lag).
INDEX_LAG_S = 10.0
INDEX_LAG_RETRY_S = 0.5
#: How long the list of queues is trusted before it is read again.
QUEUE_CACHE_S = 60.0
SWAGGER_PAGE = 50
OGC_PAGE = 100
MAX_PAGES = 1000
#: Product lists (name → URLs) kept in memory for this many jobs; older ones are read again.
MAX_INDEXED_JOBS = 256
#: Dismissed job ids remembered (a dismissed queued job is purged: its 404 then means "cancelled").
MAX_REMEMBERED = 4096
CONFIG_KEYS = frozenset({
    "url", "flavor", "token_env", "granule_input", "timeout_s", "poll_interval_s",
    "s3_endpoint_url", "s3_key_env", "s3_secret_env",
    "confirm_window_s",
})  # fmt: skip
#: A failed job's traceback is kept in its message up to this many characters (the end is kept).
MAX_DETAIL = 4000
PROGRAM_FIELDS = ("command", "script", "code", "notebook")
_QUEUE_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(gb|vcpu|cpu)", re.IGNORECASE)
_INTERNAL_STATUS = re.compile(r"\bjob-[a-z]+\b")


def _positive(config: Mapping[str, Any], key: str, default: float | None) -> float | None:
    value = config_positive(config, key, default, kind="maap")
    return None if value is None else float(value)


def _text(config: Mapping[str, Any], key: str, default: str | None) -> str | None:
    return config_text(config, key, default, kind="maap")


def _platform_message(response: httpx.Response) -> str:
    """MAAP's own words from an error answer, whichever of its error shapes it uses."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "detail", "title", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    text = response.text or ""
    found = re.search(r"<(?:ows:)?ExceptionText>(.*?)</(?:ows:)?ExceptionText>", text, re.DOTALL)
    if found:
        return found.group(1).strip()
    return text.strip()[:500] or response.reason_phrase or f"HTTP {response.status_code}"


def _said(error: ComputeError) -> str:
    """MAAP's own words in an error raised for one of its answers."""
    return str(getattr(error, "maap_said", error.message))


def _translate_internal(message: str) -> str:
    """``Not allowed to cancel job with status job-completed`` → words a user understands."""
    found = _INTERNAL_STATUS.search(message)
    if found and found.group(0) in INTERNAL_STATUS_WORDS:
        return f"the job {INTERNAL_STATUS_WORDS[found.group(0)]}"
    return message


def _time(value: Any) -> Any:
    try:
        return parse_time(value)
    except (TypeError, ValueError):
        return None


def _queue_environment(backend: str, queue: str) -> Environment:
    """A DPS queue as an environment; sizes read from names like ``maap-dps-worker-32vcpu-64gb``."""
    cpus = memory = None
    for number, unit in _QUEUE_SIZE.findall(queue):
        if unit.lower() == "gb":
            memory = float(number)
        else:
            cpus = float(number)
    return Environment(
        id=queue, name=queue, backend=backend, description="MAAP DPS queue",
        cpus=cpus, memory_gb=memory, raw={"queue": queue},
    )  # fmt: skip


def parse_step(body: Any) -> dict[str, Any]:
    """Check a swagger JobStepResults (a callback body); InvalidSpec(field="body") naming what is wrong."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            raise InvalidSpec("the callback body is not JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidSpec("the callback body must be a JobStepResults object", field="body")

    def refuse(why: str) -> InvalidSpec:
        return InvalidSpec(f"not a JobStepResults: {why}", field="body")

    index = body.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise refuse("'index' must be a whole number ≥ 0")
    if body.get("status") not in SWAGGER_STATUS:
        raise refuse(f"'status' must be one of {', '.join(SWAGGER_STATUS)}")
    messages = body.get("messages", [])
    if not isinstance(messages, list):
        raise refuse("'messages' must be a list")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("text", ""), str):
            raise refuse("each message must be an object with a 'text'")
        if message.get("level") not in (None, "WARN", "ERROR"):
            raise refuse("a message's 'level' must be WARN or ERROR")
    for key in ("description", "time_started", "time_ended"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise refuse(f"'{key}' must be a string")
    for key in ("time_started", "time_ended"):
        if body.get(key) and _time(body[key]) is None:
            raise refuse(f"'{key}' is not a time")
    files = body.get("files", [])
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("file_uri", ""), str) for f in files
    ):
        raise refuse("'files' must be a list of objects with a 'file_uri'")
    return body


def _steps(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    steps = [s for s in entry.get("steps") or [] if isinstance(s, dict)]
    return sorted(steps, key=lambda s: s.get("index") if isinstance(s.get("index"), int) else 0)


def _step_texts(step: Mapping[str, Any], level: str | None = None) -> list[str]:
    return [
        str(m.get("text")).strip() for m in step.get("messages") or []
        if isinstance(m, dict) and m.get("text") and (level is None or m.get("level") == level)
    ]  # fmt: skip


def entry_message(entry: Mapping[str, Any]) -> str:
    """A JobEntry's message: its ERROR-level step messages, else the messages of the last step that
    has any (warnings), else while it runs which step it is in."""
    steps = _steps(entry)
    errors = [text for step in steps for text in _step_texts(step, "ERROR")]
    if errors:
        return "; ".join(errors)
    for step in reversed(steps):
        texts = _step_texts(step)
        if texts:
            return "; ".join(texts)
    if entry.get("status") == "RUNNING":
        current = [s for s in steps if s.get("status") == "RUNNING"]
        if current and current[-1].get("description"):
            return f"step {current[-1].get('index')}: {current[-1]['description']}"
    return ""


class MaapBackend(_http.ClientMixin, Backend):
    """Runs registered MAAP algorithms over granules on the DPS (swagger or OGC flavour)."""

    kind: ClassVar[str] = "maap"
    secret_env_defaults: ClassVar[Mapping[str, str]] = {"token_env": "MAAP_PGT"}
    capabilities: Capabilities = SWAGGER_CAPABILITIES  # per instance: it depends on the flavour
    status_map: Mapping[str, JobState] = SWAGGER_STATUS  # likewise

    def __init__(self, name: str, config: Mapping[str, Any] | None = None, *, data_dir: Path | str | None = None,
                 log: Any = None) -> None:  # fmt: skip
        super().__init__(name, config, data_dir=data_dir, log=log)
        url = _text(self.config, "url", None)
        if not url or not url.startswith(("http://", "https://")):
            raise InvalidSpec("maap backend config 'url' must be the http(s) URL of the MAAP API", field="url")
        self.url = url.rstrip("/") + "/"
        self.flavor = _text(self.config, "flavor", "swagger")
        if self.flavor not in FLAVORS:
            raise InvalidSpec(f"maap backend config 'flavor' must be one of {', '.join(FLAVORS)}", field="flavor")
        self.token_env = _text(self.config, "token_env", "MAAP_PGT") or "MAAP_PGT"
        self.granule_input = _text(self.config, "granule_input", "granules") or "granules"
        self.timeout = httpx.Timeout(_positive(self.config, "timeout_s", 30.0), connect=10.0)
        self.poll_interval = _positive(self.config, "poll_interval_s", type(self).poll_interval) or 2.0
        self.poll_max_interval = max(self.poll_interval, type(self).poll_max_interval)
        self.capabilities = OGC_CAPABILITIES if self.flavor == "ogc" else SWAGGER_CAPABILITIES
        self.status_map = OGC_STATUS if self.flavor == "ogc" else SWAGGER_STATUS
        s3_key_env = _text(self.config, "s3_key_env", None)
        s3_secret_env = _text(self.config, "s3_secret_env", None)
        self._s3_env = (s3_key_env, s3_secret_env)
        self.s3_endpoint_url = _text(self.config, "s3_endpoint_url", None)
        self._s3: S3Reader | None = None
        self._submitted: dict[str, float] = {}
        self._dismissed: dict[str, None] = {}  # ordered: the oldest are forgotten first
        self._products: dict[str, ProductIndex] = {}
        self._queues: tuple[float, list[str]] | None = None
        self.page_size = OGC_PAGE if self.flavor == "ogc" else SWAGGER_PAGE
        unknown = sorted(set(self.config) - CONFIG_KEYS)
        if unknown:
            self.log.warning("maap backend '%s': unknown config keys ignored: %s", name, ", ".join(unknown))

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the HTTP client; read the queues once (ogc) so the form can offer them."""
        await super().start()
        if self.flavor == "ogc":
            try:
                await self._queue_names(fresh=True)
            except ComputeError as exc:  # the server must start even with an expired token
                self.log.warning("maap backend '%s': could not read the queues: %s", self.name, exc.message)

    def describe(self) -> dict[str, Any]:
        """Name, kind, capabilities, the flavour and the API's URL (without credentials or query)."""
        return {**super().describe(), "flavor": self.flavor, "url": public_url(self.url)}

    # credentials ----------------------------------------------------------------------
    def _token(self) -> str | None:
        return read_secret(self.token_env) or None

    def _auth(self) -> dict[str, str]:
        token = self._token()
        if token:
            return {"proxy-ticket": token}
        if self.flavor == "ogc":
            raise AuthError(
                f"no MAAP token: set the environment variable {self.token_env} of the Jupyter server "
                "to your MAAP proxy-granting ticket (PGT)",
                backend=self.name,
            )
        return {}

    def _scrub(self, text: str) -> str:
        token = self._token()
        return text.replace(token, "***") if token and len(token) >= 4 else text

    @property
    def api_base(self) -> str | None:
        return self.url

    async def auth_headers(self) -> dict[str, str]:
        return self._auth()

    # HTTP -----------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One API call (GETs retried on connection errors and 502/503/504); errors in words."""
        response = await _http.request(
            self._client(), method, self.url + path, json=json_body, params=params, headers=self._auth(),
            platform="MAAP", what=what, backend=self.name, scrub=self._scrub,
        )
        if response.is_success:
            return response
        raise self._error(response, what)

    def _error(self, response: httpx.Response, what: str) -> ComputeError:
        """The error for a non-2xx answer; ``what`` is the action ("reading job X"); MAAP's words kept."""
        status = response.status_code
        said = self._scrub(_platform_message(response))
        error: ComputeError
        if status in (401, 403):
            error = AuthError(
                f"MAAP refused the token in ${self.token_env} (expired or unknown): renew it and set "
                f"{self.token_env} again (MAAP said: {said})",
                backend=self.name,
            )
        elif status == 404:
            error = NotFound(f"not found on MAAP ({what}): {said}", backend=self.name)
        elif status in (400, 409, 422):
            error = InvalidSpec(f"MAAP refused {what}: {_translate_internal(said)}", backend=self.name)
        else:
            error = BackendError(f"MAAP failed {what} (HTTP {status}): {said}", status=status, backend=self.name,
                                 uncertain=_http.acted_maybe(response))
        error.maap_said = said  # type: ignore[attr-defined]
        return error

    async def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, what=what, **kwargs)
        return _http.decode_json(response, platform="MAAP", what=what, backend=self.name, scrub=self._scrub)

    async def _lagging(self, remote_id: str, read: Any) -> Any:
        """``await read()``, retried while a fresh job may not be visible yet (search-index lag)."""
        while True:
            try:
                return await read()
            except NotFound:
                submitted = self._submitted.get(remote_id)
                lagging = submitted is not None and time.monotonic() - submitted <= INDEX_LAG_S
                if not lagging or remote_id in self._dismissed:  # a dismissed queued job is gone for good
                    raise
            await asyncio.sleep(INDEX_LAG_RETRY_S)

    def _note_submitted(self, remote_id: str) -> None:
        now = time.monotonic()
        for old in [r for r, t in self._submitted.items() if now - t > INDEX_LAG_S]:
            del self._submitted[old]
        self._submitted[remote_id] = now

    # the submit form and its check ----------------------------------------------------
    def form(self) -> Form:
        common = tuple(f for f in COMMON_FIELDS if f.name != "timeout_s")
        if self.flavor == "swagger":
            fields: tuple[FormField, ...] = (
                FormField("algorithm", "Algorithm", "string", required=True,
                          help="The algorithm_id of a registered DPS algorithm."),
                FormField("inputs", "Granules", "tags", required=True, pattern=NOT_BLANK_TEXT,
                          help="Granule ids the algorithm runs over."),
                FormField("params", "Parameters", "mapping",
                          help="name=value texts, sent as granule-less items of the job's data collection."),
            )  # fmt: skip
            return Form(fields=fields + common)
        queues = self._queues[1] if self._queues else []
        queue = (
            FormField("environment", "Queue", "choice", required=True, choices=tuple(queues),
                      help="The DPS queue (worker size) the job runs on.")
            if queues else
            FormField("environment", "Queue", "string", required=True, help="The DPS queue the job runs on.")
        )  # fmt: skip
        fields = (
            FormField("algorithm", "Algorithm", "string", required=True, pattern=" *[0-9]+ *",
                      help="The registered algorithm's process id (a number)."),
            FormField("inputs", "Granules", "tags", required=True, pattern=NOT_BLANK_TEXT,
                      help=f"Granule ids, passed as the algorithm input '{self.granule_input}'."),
            queue,
            FormField("params", "Algorithm inputs", "mapping", help="Other inputs of the algorithm, by name."),
        )  # fmt: skip
        return Form(fields=fields + common)

    def validate(self, spec: JobSpec) -> JobSpec:
        """Algorithm, granules and (ogc) queue; the queue is checked against the queues last read."""
        for program in PROGRAM_FIELDS:
            if getattr(spec, program) is not None:
                raise InvalidSpec(f"MAAP runs a registered algorithm, not a {program}", field=program)
        if spec.cluster is not None:
            raise InvalidSpec("MAAP has no clusters to choose; pick a queue as the environment", field="cluster")
        if spec.timeout_s is not None:
            raise InvalidSpec("MAAP's DPS takes no time limit per job", field="timeout_s")
        algorithm = (spec.algorithm or "").strip()
        if not algorithm:
            what = "its process id (a number)" if self.flavor == "ogc" else "its algorithm_id"
            raise InvalidSpec(f"give the MAAP algorithm to run: {what}", field="algorithm")
        if self.flavor == "ogc":
            _process_id(algorithm)
        granules: list[str] = []
        for i, granule in enumerate(spec.inputs):
            if not isinstance(granule, str) or not granule.strip():
                raise InvalidSpec("granule ids must be non-empty strings", field=f"inputs[{i}]")
            if granule.strip() not in granules:
                granules.append(granule.strip())
        if not granules:
            raise InvalidSpec("give at least one granule id to run the algorithm over", field="inputs")
        if self.flavor == "swagger":
            if spec.environment is not None:
                raise InvalidSpec("the swagger DPS API has no queues to choose", field="environment")
            for key, value in spec.params.items():
                if isinstance(value, (dict, list)) or value is None or "=" in key:
                    raise InvalidSpec(
                        f"parameter '{key}': the swagger DPS API takes name=value text only", field="params"
                    )
        else:
            self._check_queue(spec.environment, self._queues[1] if self._queues else None)
            if self.granule_input in spec.params:
                raise InvalidSpec(
                    f"'{self.granule_input}' is where the granules go; give them as inputs", field="params"
                )
            try:
                json.dumps(spec.params)
            except (TypeError, ValueError) as exc:
                raise InvalidSpec(f"algorithm inputs must be JSON values: {exc}", field="params") from None
        return spec.replace(algorithm=algorithm, inputs=granules)

    def _check_queue(self, queue: str | None, known: list[str] | None) -> None:
        if not queue:
            raise InvalidSpec("give the DPS queue to run on as the environment", field="environment")
        if known is not None and queue not in known:
            shown = ", ".join(known) or "none"
            raise InvalidSpec(f"unknown queue '{queue}' (queues: {shown})", field="environment")

    # jobs -----------------------------------------------------------------------------
    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        spec = self.validate(spec)
        if self.flavor == "ogc":
            return await self._ogc_submit(spec, job_id)
        return await self._swagger_submit(spec, job_id)

    async def status(self, remote_id: str) -> RemoteStatus:
        if self.flavor == "ogc":
            return await self._ogc_status(remote_id)
        entry = await self._lagging(remote_id, lambda: self._entry(remote_id))
        return self._entry_status(entry)

    async def cancel(self, remote_id: str) -> None:
        if self.flavor != "ogc":
            raise NotSupported(
                "the MAAP DPS swagger API cannot cancel a job entry once it runs", backend=self.name
            )
        what = f"cancelling job {remote_id}"
        path = f"ogc/jobs/{quote(remote_id, safe='')}"
        try:  # a job submitted seconds ago may not be found yet (search-index lag): wait it out
            await self._lagging(remote_id, lambda: self._call("DELETE", path, what=what))
        except InvalidSpec as exc:  # e.g. "Not allowed to cancel job with status job-completed"
            raise InvalidSpec(
                f"cannot cancel job {remote_id}: {_translate_internal(_said(exc))}", backend=self.name
            ) from None
        except NotFound:
            if remote_id in self._dismissed:
                return
            raise
        self._dismissed[remote_id] = None
        while len(self._dismissed) > MAX_REMEMBERED:
            del self._dismissed[next(iter(self._dismissed))]

    async def recover(self, job_id: str) -> str | None:
        """(ogc) The job tagged with our id, when its submission's answer was lost.

        The swagger flavour cannot look one up: its job entries carry nothing of ours to find them by
        (no tag, no client token), so such a job ends UNKNOWN with words."""
        if self.flavor != "ogc":
            return None
        data = await self._json("GET", "ogc/jobs", what="listing jobs", params={"tag": job_id, "limit": 10})
        jobs = data.get("jobs") if isinstance(data, dict) else None
        for job in jobs or []:
            if isinstance(job, dict) and job.get("jobID"):
                return str(job["jobID"])
        return None

    async def list_jobs(self) -> list[tuple[str, RemoteStatus]]:
        """Every job of this account on the platform (all pages, until a short one)."""
        found: dict[str, RemoteStatus] = {}
        size = self.page_size
        for page_number in range(MAX_PAGES):
            params: dict[str, Any] = {"offset": page_number * size, "limit": size}
            if self.flavor == "ogc":
                params["getJobDetails"] = "true"
                data = await self._json("GET", "ogc/jobs", what="listing jobs", params=params)
                page = data.get("jobs") if isinstance(data, dict) else None
                key = "jobID"
            else:
                page = await self._json("GET", "v1/jobentries", what="listing job entries", params=params)
                key = "entry_id"
            if not isinstance(page, list):
                raise BackendError("MAAP answered the job list with something that is not a list", backend=self.name)
            new = 0
            for item in page:
                if isinstance(item, dict) and item.get(key) and str(item[key]) not in found:
                    new += 1
                    found[str(item[key])] = (
                        self._ogc_brief(item) if self.flavor == "ogc" else self._entry_status(item)
                    )
            if len(page) < size or not new:  # a short page ends the list (and a page of repeats)
                break
        else:
            self.log.warning("maap backend '%s': job list cut at %d pages", self.name, MAX_PAGES)
        return list(found.items())

    # callbacks ------------------------------------------------------------------------
    async def handle_webhook(self, remote_id: str, body: Any) -> RemoteStatus | None:
        """Check a JobStepResults callback; None: the server re-reads the entry (see the module doc)."""
        if self.flavor != "swagger":
            raise NotSupported("the MAAP OGC API makes no callbacks", backend=self.name)
        step = parse_step(body)
        self.log.debug("maap entry %s: step %s is %s", remote_id, step["index"], step["status"])
        return None

    # results --------------------------------------------------------------------------
    async def results(self, remote_id: str) -> list[ResultFile]:
        """Every product file (swagger: step files; ogc: result links and the products URL)."""
        if self.flavor == "ogc":
            index = await self._ogc_products(remote_id)
        else:
            entry = await self._lagging(remote_id, lambda: self._entry(remote_id))
            index = ProductIndex()
            for step in _steps(entry):  # a step's files of one name are one file (an http and an s3 link)
                uris = [f.get("file_uri") for f in step.get("files") or [] if isinstance(f, dict)]
                index.add(uris, prefix=f"step{step.get('index', 0)}/")
        self._products.pop(remote_id, None)
        self._products[remote_id] = index
        while len(self._products) > MAX_INDEXED_JOBS:  # the oldest first; re-read when opened again
            del self._products[next(iter(self._products))]
        return [
            ResultFile(name, None, "log" if is_log(name) else "output", media_type(name)) for name in index.urls
        ]

    def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        """Stream a product through the server: http(s) with httpx, ``s3://`` with s3fs."""
        return self._open_result(remote_id, name)

    async def _open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        index = self._products.get(remote_id)
        if index is None or name not in index.urls:
            await self.results(remote_id)
            index = self._products[remote_id]
        sources = index.urls.get(name)
        if not sources:
            raise NotFound(f"MAAP job {remote_id} has no product named '{name}'", field="name", backend=self.name)
        failure: ComputeError | None = None
        for url in sorted(sources, key=self._source_rank):
            started = False
            try:
                async for chunk in self._stream(url):
                    started = True
                    yield chunk
                return
            except ComputeError as exc:
                if started:
                    raise
                failure = exc
        assert failure is not None
        raise failure

    def _source_rank(self, url: str) -> int:
        """http(s) links first, unless an S3 endpoint is configured (then S3 first)."""
        is_s3 = url.startswith("s3://")
        return (0 if is_s3 else 1) if self.s3_endpoint_url else (1 if is_s3 else 0)

    async def _stream(self, url: str) -> AsyncIterator[bytes]:
        if url.startswith("s3://"):
            async for chunk in self._s3_reader().stream(url):
                yield chunk
        elif url.startswith(("http://", "https://")):
            auth = {"proxy-ticket": t} if (t := self._token()) else {}
            async for chunk in stream_http(self._client(), url, api_base=self.url, auth=auth, timeout=self.timeout):
                yield chunk
        else:
            raise NotSupported(f"cannot read the product {file_name(url)}: unknown URL scheme", backend=self.name)

    def _s3_reader(self) -> S3Reader:
        if self._s3 is None:
            key_env, secret_env = self._s3_env
            key = read_secret(key_env) if key_env else None
            secret = read_secret(secret_env) if secret_env else None
            self._s3 = S3Reader(self.s3_endpoint_url, key, secret)
        return self._s3

    # capacity -------------------------------------------------------------------------
    async def environments(self) -> list[Environment]:
        """(ogc) One environment per DPS queue."""
        if self.flavor != "ogc":
            raise NotSupported("the MAAP DPS swagger API has no queues", backend=self.name)
        return [_queue_environment(self.name, q) for q in await self._queue_names(fresh=True)]

    async def _queue_names(self, *, fresh: bool = False) -> list[str]:
        if not fresh and self._queues and time.monotonic() - self._queues[0] < QUEUE_CACHE_S:
            return self._queues[1]
        data = await self._json("GET", "mas/algorithm/resource", what="listing the queues")
        queues = data.get("queues") if isinstance(data, dict) else None
        if not isinstance(queues, list):
            raise BackendError("MAAP answered the queue list without a list of queues", backend=self.name)
        names = [str(q) for q in queues if isinstance(q, str) and q]
        self._queues = (time.monotonic(), names)
        return names

    # swagger flavour ------------------------------------------------------------------
    async def _swagger_submit(self, spec: JobSpec, job_id: str) -> Submission:
        definition = await self._definition(spec)
        what = f"creating a run of job definition {definition}"
        created = await self._json("POST", f"v1/jobs/{quote(definition, safe='')}/submit", what=what)
        entry_id = created.get("entry_id") if isinstance(created, dict) else None
        if not isinstance(entry_id, str) or not entry_id:
            raise BackendError(f"MAAP created a run of job {definition} but sent no entry_id", backend=self.name)
        callback = self.webhook_url(job_id) if self.webhook_url is not None else ""
        await self._call(
            "POST", f"v1/jobentries/{quote(entry_id, safe='')}/run", what=f"starting run {entry_id}",
            json_body={"callback_uri": callback},
        )  # fmt: skip
        self._note_submitted(entry_id)
        message = "started; MAAP calls back on progress" if callback else "started"
        return Submission(entry_id, RemoteStatus(JobState.QUEUED, "PENDING", message))

    async def _definition(self, spec: JobSpec) -> str:
        """The job_id of an ACTIVE definition for this algorithm, granule set and parameters; created if none."""
        wanted_granules = set(spec.inputs)
        wanted_params = {_param_text(k, v) for k, v in spec.params.items()}
        jobs = await self._json("GET", "v1/jobs", what="listing job definitions")
        for job in jobs if isinstance(jobs, list) else []:
            if not isinstance(job, dict) or job.get("algorithm_id") != spec.algorithm or not job.get("job_id"):
                continue
            items = [g for g in job.get("data_collection") or [] if isinstance(g, dict)]
            granules = {g["granule_id"] for g in items if g.get("granule_id")}
            params = {g.get("description") for g in items if not g.get("granule_id")}
            same = granules == wanted_granules and params == wanted_params
            if same and job.get("status", "ACTIVE") != "DEPRECATED":
                return str(job["job_id"])
        body = {
            "job_name": spec.name or spec.algorithm,
            "algorithm_id": spec.algorithm,
            "data_collection": [{"granule_id": g, "description": ""} for g in spec.inputs]
            + [{"description": text} for text in sorted(wanted_params)],
            "status": "ACTIVE",
            "description": "created by jupyter-compute",
            **spec.extra,
        }
        try:
            created = await self._json("POST", "v1/jobs", what="defining the job", json_body=body)
        except InvalidSpec as exc:
            exc.field = exc.field or "algorithm"
            raise
        job_id = created.get("job_id") if isinstance(created, dict) else None
        if not job_id:
            raise BackendError("MAAP defined the job but sent no job_id", backend=self.name)
        return str(job_id)

    async def _entry(self, remote_id: str) -> dict[str, Any]:
        entry = await self._json(
            "GET", f"v1/jobentries/{quote(remote_id, safe='')}", what=f"reading job entry {remote_id}"
        )
        if not isinstance(entry, dict):
            raise BackendError(f"MAAP answered job entry {remote_id} with something that is not an object")
        return entry

    def _entry_status(self, entry: Mapping[str, Any]) -> RemoteStatus:
        native = str(entry.get("status") or "")
        state = map_native_status(self.status_map, native)
        steps = _steps(entry)
        starts = [t for s in steps if (t := _time(s.get("time_started")))]
        ends = [t for s in steps if (t := _time(s.get("time_ended")))]
        return RemoteStatus(
            state=state,
            native_status=native,
            message=entry_message(entry),
            started=min(starts) if starts else None,
            finished=max(ends) if ends and state.is_terminal else None,
        )

    # ogc flavour ----------------------------------------------------------------------
    async def _ogc_submit(self, spec: JobSpec, job_id: str) -> Submission:
        process = _process_id(str(spec.algorithm))
        self._check_queue(spec.environment, await self._queue_names())
        body = {
            "inputs": {self.granule_input: list(spec.inputs), **spec.params},
            "queue": spec.environment,
            "tag": job_id,
            **spec.extra,
        }
        try:
            data = await self._json(
                "POST", f"ogc/processes/{process}/execution", what=f"running algorithm {process}", json_body=body
            )
        except NotFound as exc:
            raise InvalidSpec(f"MAAP has no algorithm with process id {process}", field="algorithm",
                              backend=self.name) from exc  # fmt: skip
        except InvalidSpec as exc:
            said = _said(exc).lower()
            exc.field = "environment" if "queue" in said else "inputs" if "granule" in said else "params"
            raise
        remote_id = data.get("jobID") if isinstance(data, dict) else None
        if not remote_id:
            raise BackendError("MAAP accepted the job but sent no jobID", backend=self.name)
        remote_id = str(remote_id)
        self._note_submitted(remote_id)
        native = str(data.get("status") or "accepted")
        message = f"queued on {spec.environment}" if native == "accepted" else OGC_MESSAGES.get(native, "")
        return Submission(remote_id, RemoteStatus(map_native_status(self.status_map, native), native, message))

    async def _ogc_job(self, remote_id: str) -> dict[str, Any]:
        data = await self._json(
            "GET", f"ogc/jobs/{quote(remote_id, safe='')}", params={"getJobDetails": "true"},
            what=f"reading job {remote_id}",
        )  # fmt: skip
        if not isinstance(data, dict):
            raise BackendError(f"MAAP answered job {remote_id} with something that is not an object")
        return data

    async def _ogc_status(self, remote_id: str) -> RemoteStatus:
        try:
            job = await self._lagging(remote_id, lambda: self._ogc_job(remote_id))
        except NotFound:
            if remote_id in self._dismissed:  # a queued job is purged when dismissed
                return RemoteStatus(JobState.CANCELLED, "dismissed", "cancelled before it started")
            raise
        status = self._ogc_brief(job)
        if status.native_status.lower() == "failed":
            detail = await self._failure_detail(remote_id)
            if detail:
                status.message = detail
        return status

    def _ogc_brief(self, job: Mapping[str, Any]) -> RemoteStatus:
        native = str(job.get("status") or "")
        state = map_native_status(self.status_map, native)
        message = OGC_MESSAGES.get(native.lower(), "")
        if native.lower() == "accepted" and job.get("job_queue"):
            message = f"queued on {job['job_queue']}"
        return RemoteStatus(
            state=state, native_status=native, message=message,
            started=_time(job.get("started")), finished=_time(job.get("finished")) if state.is_terminal else None,
        )  # fmt: skip

    async def _failure_detail(self, remote_id: str) -> str:
        """A failed job's traceback (results ``detail``), or "" when it staged nothing."""
        try:
            data = await self._ogc_results(remote_id)
        except ComputeError:
            return ""
        detail = data.get("detail")
        if not isinstance(detail, str) or not detail.strip():
            return ""
        detail = detail.strip()
        if len(detail) > MAX_DETAIL:
            detail = f"[traceback shortened to its last {MAX_DETAIL} characters] …{detail[-MAX_DETAIL:]}"
        return detail

    async def _ogc_results(self, remote_id: str) -> dict[str, Any]:
        try:
            data = await self._json(
                "GET", f"ogc/jobs/{quote(remote_id, safe='')}/results", what=f"reading the results of job {remote_id}"
            )
        except BackendError as exc:
            if exc.status == 500:  # no worker has started the job yet
                return {}
            raise
        return data if isinstance(data, dict) else {}

    async def _ogc_products(self, remote_id: str) -> ProductIndex:
        index = ProductIndex()
        data = await self._ogc_results(remote_id)
        for key, product in data.items():
            if not isinstance(product, dict):
                continue
            hrefs = [h for link in product.get("links") or [] if isinstance(link, dict)
                     and isinstance(h := link.get("href"), str) and h]  # fmt: skip
            name = str(product.get("id") or key)
            if not await self._add_folder(index, name, hrefs):
                index.add(hrefs, prefix=f"{name}/")
        job = await self._ogc_job(remote_id)
        products = job.get("products")
        if isinstance(products, str) and products:
            await self._add_products_url(index, products)
        return index

    async def _add_folder(self, index: ProductIndex, product: str, hrefs: list[str]) -> bool:
        """A product whose links name a folder: each of its files as ``<product>/<path>``. False when
        the product is one file (or its folder cannot be listed: then it is shown as it is)."""
        if not any(may_be_folder(u) for u in hrefs):
            return False
        try:
            files = await self._folder_files(hrefs)
        except (ComputeError, OSError) as exc:
            self.log.warning("maap backend '%s': cannot list the product %s: %s", self.name, product, exc)
            return False
        for rel, sources in sorted((files or {}).items()):
            index.put(f"{product}/{rel}", sources)
        return bool(files)

    async def _folder_files(self, hrefs: list[str]) -> dict[str, list[str]] | None:
        """{relative path: URLs} of a product folder: listed in S3 when an endpoint is configured,
        else from the http link's index page; each file also gets its URL under the other links."""
        s3 = next((u for u in hrefs if u.startswith("s3://")), None)
        http = next((u for u in hrefs if u.startswith(("http://", "https://"))), None)
        listed: dict[str, str] | None = None
        via = s3 if s3 and self.s3_endpoint_url else http
        if s3 and self.s3_endpoint_url:
            prefix = s3_path(s3.rstrip("/") + "/x")[:-1]  # bucket/key/ of the folder
            found = await asyncio.to_thread(self._s3_reader().list_folder, s3)
            listed = {u[len("s3://" + prefix):]: u for u in found if u.startswith("s3://" + prefix)} or None
        elif http and may_be_folder(http):
            auth = {"proxy-ticket": t} if (t := self._token()) else {}
            listed = await list_http_folder(self._client(), http, api_base=self.url, auth=auth, timeout=self.timeout)
        if not listed:
            return None
        files: dict[str, list[str]] = {}
        for rel, url in listed.items():
            files[rel] = [url, *(f"{u.rstrip('/')}/{quote(rel)}" for u in (s3, http) if u and u != via)]
        return files

    async def _add_products_url(self, index: ProductIndex, url: str) -> None:
        """The job's ``products`` URL: one file, or (s3, with an endpoint) a folder whose files are listed.

        An http folder cannot be listed in a standard way; its files are the result links anyway.
        """
        known = {_object_key(u) for sources in index.urls.values() for u in sources}
        if _object_key(url) in known:
            return
        looks_like_folder = url.endswith("/") or "." not in file_name(url)
        if not looks_like_folder:
            index.add([url], prefix="products/")
        elif url.startswith("s3://") and self.s3_endpoint_url:
            try:
                found = await asyncio.to_thread(self._s3_reader().list_folder, url)
            except (ComputeError, OSError) as exc:
                self.log.warning("maap backend '%s': cannot list the products folder: %s", self.name, exc)
                return
            for item in found:
                if _object_key(item) not in known:
                    index.add([item], prefix="products/")


def _object_key(url: str) -> str:
    """One spelling per S3 object (both S3 URL styles agree); other URLs as they are."""
    if url.startswith("s3://"):
        try:
            return "s3://" + s3_path(url)
        except InvalidSpec:
            return url
    return url


def _param_text(name: str, value: Any) -> str:
    """A swagger parameter as the ``name=value`` description of a granule-less data_collection item."""
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    return f"{name}={text}"


def _process_id(algorithm: str) -> int:
    try:
        number = int(algorithm.strip())
    except ValueError:
        number = -1
    if number < 0 or not algorithm.strip().isdigit():
        raise InvalidSpec(
            f"the MAAP algorithm must be its process id (a whole number), not '{algorithm}'", field="algorithm"
        )
    return number
