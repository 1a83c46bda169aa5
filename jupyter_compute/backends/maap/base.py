"""What both flavours of the ``maap`` backend share: config, the token, HTTP calls and their errors,
the search-index lag, the job list walk, the submit form's frame, and reading products.

:class:`MaapBackend` is the class the registry names (kind ``maap``). Constructing it builds the
flavour the config's ``flavor`` names — :class:`~.swagger.MaapSwaggerBackend` (``swagger``, the
default) or :class:`~.ogc.MaapOgcBackend` (``ogc``) — each of which implements its own API only.

Search-index lag: for a few seconds after submission MAAP may answer 404 for a job it has accepted.
Reads and cancels of a job submitted here less than ``INDEX_LAG_S`` ago retry through it, so a cancel
in the first seconds cancels instead of answering NotFound while the job runs on.

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
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx

from ...errors import AuthError, BackendError, ComputeError, InvalidSpec, NotFound, NotSupported
from ...forms import Form, FormField
from ...models import JobSpec, RemoteStatus, ResultFile, parse_time
from .. import _http
from ..base import COMMON_FIELDS, Backend, Submission, config_positive, config_text, public_url
from ..secrets import read_secret
from .storage import ProductIndex, S3Reader, file_name, is_log, media_type, stream_http

_T = TypeVar("_T")

#: The default flavour, when the config names none.
DEFAULT_FLAVOR = "swagger"

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

#: A job the platform does not know this soon after its submission is retried (search-index lag).
INDEX_LAG_S = 10.0
INDEX_LAG_RETRY_S = 0.5
MAX_PAGES = 1000
#: Product lists (name → URLs) kept in memory for this many jobs; older ones are read again.
MAX_INDEXED_JOBS = 256
CONFIG_KEYS = frozenset({
    "url", "flavor", "token_env", "granule_input", "timeout_s", "poll_interval_s",
    "s3_endpoint_url", "s3_key_env", "s3_secret_env",
    "confirm_window_s",
})  # fmt: skip
PROGRAM_FIELDS = ("command", "script", "code", "notebook")
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


#: JobSpec fields MAAP cannot take, in the order they are checked, and why.
UNTAKEN_FIELDS: tuple[tuple[str, str], ...] = (
    *((program, f"MAAP runs a registered algorithm, not a {program}") for program in PROGRAM_FIELDS),
    ("cluster", "MAAP has no clusters to choose; pick a queue as the environment"),
    ("timeout_s", "MAAP's DPS takes no time limit per job"),
)


def _refuse_untaken_fields(spec: JobSpec) -> None:
    """InvalidSpec naming the first field of :data:`UNTAKEN_FIELDS` the spec sets."""
    for field, why in UNTAKEN_FIELDS:
        if getattr(spec, field) is not None:
            raise InvalidSpec(why, field=field)


def _granule_ids(inputs: list[Any]) -> list[str]:
    """The granule ids, stripped, each once, in their order; refused when one is blank or there are none."""
    granules: list[str] = []
    for i, granule in enumerate(inputs):
        if not isinstance(granule, str) or not granule.strip():
            raise InvalidSpec("granule ids must be non-empty strings", field=f"inputs[{i}]")
        if granule.strip() not in granules:
            granules.append(granule.strip())
    if not granules:
        raise InvalidSpec("give at least one granule id to run the algorithm over", field="inputs")
    return granules


class MaapBackend(_http.ClientMixin, Backend):
    """Runs registered MAAP algorithms over granules on the DPS.

    ``MaapBackend(name, config)`` answers an instance of the flavour's class (the config's
    ``flavor``); each flavour's class declares its name with ``class …(MaapBackend, flavor="…")``.
    A flavour's class may also be constructed directly (then ``flavor``, if given, must be its own).
    """

    kind: ClassVar[str] = "maap"
    secret_env_defaults: ClassVar[Mapping[str, str]] = {"token_env": "MAAP_PGT"}
    #: The flavour a class implements (set by ``flavor=`` in its class statement).
    flavor: ClassVar[str] = ""
    #: Whether every API call needs the token (else it is sent only when set).
    token_required: ClassVar[bool] = False
    #: How the algorithm is named on this API, for the message asking for it.
    algorithm_words: ClassVar[str] = ""
    #: Jobs per page of the job list.
    page_size: int
    _flavors: ClassVar[dict[str, type[MaapBackend]]] = {}

    def __init_subclass__(cls, *, flavor: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if flavor is not None:
            cls.flavor = flavor
            MaapBackend._flavors[flavor] = cls

    def __new__(cls, name: str, config: Mapping[str, Any] | None = None, **kwargs: Any) -> MaapBackend:
        """The flavour's class picks itself; ``MaapBackend`` picks the class of the config's ``flavor``."""
        if cls is not MaapBackend:
            return super().__new__(cls)
        flavor = _text(config or {}, "flavor", DEFAULT_FLAVOR)
        if flavor not in cls._flavors:
            known = ", ".join(sorted(cls._flavors))
            raise InvalidSpec(f"maap backend config 'flavor' must be one of {known}", field="flavor")
        return super().__new__(cls._flavors[flavor])

    def __init__(self, name: str, config: Mapping[str, Any] | None = None, *, data_dir: Path | str | None = None,
                 log: Any = None) -> None:  # fmt: skip
        super().__init__(name, config, data_dir=data_dir, log=log)
        if _text(self.config, "flavor", self.flavor) != self.flavor:
            raise InvalidSpec(f"{type(self).__name__} speaks the '{self.flavor}' flavour only", field="flavor")
        url = _text(self.config, "url", None)
        if not url or not url.startswith(("http://", "https://")):
            raise InvalidSpec("maap backend config 'url' must be the http(s) URL of the MAAP API", field="url")
        self.url = url.rstrip("/") + "/"
        self.token_env = _text(self.config, "token_env", "MAAP_PGT") or "MAAP_PGT"
        self.timeout = httpx.Timeout(_positive(self.config, "timeout_s", 30.0), connect=10.0)
        self.poll_interval = _positive(self.config, "poll_interval_s", type(self).poll_interval) or 2.0
        self.poll_max_interval = max(self.poll_interval, type(self).poll_max_interval)
        s3_key_env = _text(self.config, "s3_key_env", None)
        s3_secret_env = _text(self.config, "s3_secret_env", None)
        self._s3_env = (s3_key_env, s3_secret_env)
        self.s3_endpoint_url = _text(self.config, "s3_endpoint_url", None)
        self._s3: S3Reader | None = None
        self._submitted: dict[str, float] = {}
        self._products: dict[str, ProductIndex] = {}
        unknown = sorted(set(self.config) - CONFIG_KEYS)
        if unknown:
            self.log.warning("maap backend '%s': unknown config keys ignored: %s", name, ", ".join(unknown))

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
        if self.token_required:
            raise AuthError(
                f"no MAAP token: set the environment variable {self.token_env} of the Jupyter server "
                "to your MAAP proxy-granting ticket (PGT)",
                backend=self.name,
            )
        return {}

    def _product_auth(self) -> dict[str, str]:
        """The token for reading a product link (storage sends it only to the API's own origin)."""
        token = self._token()
        return {"proxy-ticket": token} if token else {}

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
            await self._client(), method, self.url + path, json=json_body, params=params, headers=self._auth(),
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
        error.maap_said = said  # type: ignore[union-attr]
        return error

    async def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, what=what, **kwargs)
        return _http.decode_json(response, platform="MAAP", what=what, backend=self.name, scrub=self._scrub)

    async def _json_object(self, path: str, *, subject: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """``GET path`` answered with a JSON object (``subject`` names it when the answer is not one)."""
        data = await self._json("GET", path, what=what, **kwargs)
        if not isinstance(data, dict):
            raise BackendError(f"MAAP answered {subject} with something that is not an object")
        return data

    async def _lagging(self, remote_id: str, read: Callable[[], Awaitable[_T]]) -> _T:
        """``await read()``, retried while a fresh job may not be visible yet (search-index lag)."""
        while True:
            try:
                return await read()
            except NotFound:
                submitted = self._submitted.get(remote_id)
                lagging = submitted is not None and time.monotonic() - submitted <= INDEX_LAG_S
                if not lagging or self._gone(remote_id):
                    raise
            await asyncio.sleep(INDEX_LAG_RETRY_S)

    def _gone(self, remote_id: str) -> bool:
        """Whether a job this backend submitted is known to be gone from the platform for good."""
        return False

    def _note_submitted(self, remote_id: str) -> None:
        now = time.monotonic()
        for old in [r for r, t in self._submitted.items() if now - t > INDEX_LAG_S]:
            del self._submitted[old]
        self._submitted[remote_id] = now

    # the submit form and its check ----------------------------------------------------
    def form(self) -> Form:
        common = tuple(f for f in COMMON_FIELDS if f.name != "timeout_s")
        return Form(fields=self._fields() + common)

    def _fields(self) -> tuple[FormField, ...]:
        """The flavour's own fields: algorithm, granules, and what else its API takes."""
        raise NotImplementedError

    def validate(self, spec: JobSpec) -> JobSpec:
        """Algorithm and granules here; the flavour checks its algorithm's form and the rest."""
        _refuse_untaken_fields(spec)
        algorithm = self._algorithm(spec.algorithm)
        granules = _granule_ids(spec.inputs)
        self._check_options(spec)
        return spec.replace(algorithm=algorithm, inputs=granules)

    def _algorithm(self, algorithm: str | None) -> str:
        """The algorithm, stripped; refused when missing or when the flavour cannot name it."""
        algorithm = (algorithm or "").strip()
        if not algorithm:
            raise InvalidSpec(f"give the MAAP algorithm to run: {self.algorithm_words}", field="algorithm")
        self._check_algorithm(algorithm)
        return algorithm

    def _check_algorithm(self, algorithm: str) -> None:
        """Refuse an algorithm (stripped, not empty) this API cannot name (InvalidSpec naming "algorithm")."""

    def _check_options(self, spec: JobSpec) -> None:
        """Refuse an environment or parameters this API cannot take (InvalidSpec naming the field)."""

    # jobs -----------------------------------------------------------------------------
    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        return await self._submit(await self.validated(spec), job_id)

    async def _submit(self, spec: JobSpec, job_id: str) -> Submission:
        """Start a checked spec on the platform."""
        raise NotImplementedError

    async def list_jobs(self) -> list[tuple[str, RemoteStatus]]:
        """Every job of this account on the platform (all pages, until a short one)."""
        found: dict[str, RemoteStatus] = {}
        size = self.page_size
        for page_number in range(MAX_PAGES):
            page = await self._job_page(page_number * size, size)
            if not isinstance(page, list):
                raise BackendError("MAAP answered the job list with something that is not a list", backend=self.name)
            new = 0
            for item in page:
                remote_id = self._listed_id(item)
                if remote_id and remote_id not in found:
                    new += 1
                    found[remote_id] = self._listed_status(item)
            if len(page) < size or not new:  # a short page ends the list (and a page of repeats)
                break
        else:
            self.log.warning("maap backend '%s': job list cut at %d pages", self.name, MAX_PAGES)
        return list(found.items())

    async def _job_page(self, offset: int, limit: int) -> Any:
        """One page of the job list as the API answers it (a list of job objects, if all is well)."""
        raise NotImplementedError

    def _listed_id(self, item: Any) -> str | None:
        """The remote id of one item of a job list page; None when it is not a job."""
        raise NotImplementedError

    def _listed_status(self, item: Mapping[str, Any]) -> RemoteStatus:
        """The status of one job of a job list page."""
        raise NotImplementedError

    # results --------------------------------------------------------------------------
    async def results(self, remote_id: str) -> list[ResultFile]:
        """Every product file of the job (what they are: see the flavour's ``_product_index``)."""
        index = await self._product_index(remote_id)
        self._products.pop(remote_id, None)
        self._products[remote_id] = index
        while len(self._products) > MAX_INDEXED_JOBS:  # the oldest first; re-read when opened again
            del self._products[next(iter(self._products))]
        return [
            ResultFile(name, None, "log" if is_log(name) else "output", media_type(name)) for name in index.urls
        ]

    async def _product_index(self, remote_id: str) -> ProductIndex:
        """The job's products: result name → the URLs its bytes can be read from."""
        raise NotImplementedError

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
            auth, client = self._product_auth(), await self._client()
            async for chunk in stream_http(client, url, api_base=self.url, auth=auth, timeout=self.timeout):
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
