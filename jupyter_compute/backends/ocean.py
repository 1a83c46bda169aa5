"""The ``ocean`` backend: Ocean Protocol Compute-to-Data through an Ocean Provider.

An algorithm (a published algorithm DID, or raw Python code) runs next to a dataset that never
leaves its provider; the job's outputs and logs are downloaded from the provider afterwards. Calls
that start, stop, delete or download are signed by the consumer wallet (see ``ocean_signing``);
listing environments and reading statuses are not. Endpoint paths come from the provider's root
document (``GET {url}/``), read once and kept: ``start`` reads it and the environments in the
background, so a provider that is down or silent never holds up the server.

Config keys:

- ``url`` (required): the provider's base URL, e.g. ``https://v4.provider.oceanprotocol.com``; a
  ``user:password@`` or query string in it is sent with every call but never shown (``describe``).
- ``chain_id``: the chain whose environments are used (default: the provider's first ``chainIds``).
- ``private_key_env``: the environment variable holding the consumer wallet's private key (64 hex
  digits, with or without ``0x``), read once when the backend is built; default
  ``OCEAN_PRIVATE_KEY``. The key stays in the backend object; only its address is ever shown.
- ``timeout_s``: seconds each HTTP call may take (default 30); ``poll_interval_s``.

Job spec: ``inputs[0]`` is the dataset (a DID, or ``{documentId, serviceId, transferTxId,
userdata}``), further inputs are additional datasets (objects) — published datasets only: a local
file or a DataFrame is refused; ``algorithm`` is an algorithm DID (its order in ``extra.algorithm``
= ``{serviceId, transferTxId, userdata}``) or ``code`` is raw Python (its container in
``extra.container`` = ``{image, tag, entrypoint}``) or ``script`` a local file read as raw code
(only from the folders the server shares, see ``Backend.local_source``); ``params`` reach the
algorithm as ``algoCustomData.json``; ``environment`` is a compute environment id (default: the
first free one). ``extra.dataset`` gives the order of a dataset written as a bare DID. A spec that
carries the wallet's private key anywhere (raw code included) is refused: it would leave the server.

The Provider starts a job only on ordered assets: every dataset, and a published algorithm, needs
its order — ``serviceId`` (the asset's service that was ordered) and ``transferTxId`` (the order's
transaction). ``validate`` names a missing one before anything is sent. Ordering on chain is not
done here: give the ``transferTxId``s you have.

The remote id is ``<jobId>|<dataset documentId>``: stop and delete sign the documentId too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import AuthError, BackendError, ComputeError, InvalidSpec, NotFound
from ..forms import Form, FormField
from ..models import Environment, JobSpec, JobState, LogChunk, RemoteStatus, ResultFile
from . import _http
from .base import COMMON_FIELDS, Backend, Capabilities, Submission, config_known, config_positive, config_text
from .ocean_errors import is_signature_problem, provider_words, refusal_field, response_body
from .ocean_signing import ConsumerKey, NonceCounter, parse_nonce, signed_text
from .ocean_spec import (
    check_algorithm_extra,
    check_one_algorithm,
    check_orders,
    check_params,
    checked_datasets,
    checked_extra,
    environment_id,
    read_script,
    refuse_not_taken,
    start_body,
)
from .ocean_status import (
    STATUS_MAP,
    ResultEntry,
    environment_list,
    is_finished,
    is_free,
    job_status,
    normalise_environment,
    result_entries,
)

CONFIG_KEYS = frozenset({"url", "chain_id", "private_key_env", "timeout_s", "poll_interval_s", "confirm_window_s"})
CAPABILITIES = Capabilities(can_cancel=True, can_delete=True, has_logs=True, has_results=True,
                            has_environments=True)  # fmt: skip

#: The spec's endpoint paths, used when the provider's root document does not name one.
DEFAULT_PATHS: Mapping[str, str] = {
    "computeStart": "/api/services/compute",
    "computeStatus": "/api/services/compute",
    "computeStop": "/api/services/compute",
    "computeDelete": "/api/services/compute",
    "computeResult": "/api/services/computeResult",
    "computeEnvironments": "/api/services/computeEnvironments",
    "nonce": "/api/services/nonce",
}
METHODS: Mapping[str, str] = {
    "computeStart": "POST", "computeStatus": "GET", "computeStop": "PUT", "computeDelete": "DELETE",
    "computeResult": "GET", "computeEnvironments": "GET", "nonce": "GET",
}  # fmt: skip

LOG_READ_LIMIT = 1024 * 1024
#: Finished jobs' algorithm logs kept in memory (they cannot change): this many jobs, each at most this long.
LOG_CACHE_JOBS = 32
LOG_CACHE_BYTES = LOG_READ_LIMIT
CHUNK_SIZE = 64 * 1024
_STALE_NONCE = re.compile(r"expected nonce", re.IGNORECASE)
_NUMBERS_IN_PARENS = re.compile(r"\(([0-9][0-9.eE+]*)\)")
#: The HTTP statuses of a provider refusing a request it finds wrong.
REFUSED = (400, 409, 422)


def split_remote_id(remote_id: str) -> tuple[str, str]:
    """``jobId|documentId`` → (jobId, documentId); a bare jobId gives an empty documentId."""
    job_id, _, document_id = str(remote_id).partition("|")
    if not job_id.strip():
        raise NotFound(f"'{remote_id}' is not an Ocean compute job id", field="remote_id")
    return job_id.strip(), document_id.strip()


class OceanBackend(_http.ClientMixin, Backend):
    """Runs algorithms over datasets with an Ocean Provider's Compute-to-Data."""

    kind: ClassVar[str] = "ocean"
    capabilities: Capabilities = CAPABILITIES
    status_map: ClassVar[Mapping[str, JobState]] = STATUS_MAP
    batch_status: ClassVar[bool] = True
    secret_env_defaults: ClassVar[Mapping[str, str]] = {"private_key_env": "OCEAN_PRIVATE_KEY"}

    def __init__(self, name: str, config: Mapping[str, Any] | None = None, *, data_dir: Path | str | None = None,
                 log: Any = None) -> None:  # fmt: skip
        super().__init__(name, config, data_dir=data_dir, log=log)
        config_known(self.config, CONFIG_KEYS, kind="ocean")
        url = config_text(self.config, "url", None, kind="ocean")
        if not url or not url.startswith(("http://", "https://")):
            raise InvalidSpec("ocean backend config 'url' must be the http(s) URL of an Ocean Provider", field="url")
        try:
            self._base = httpx.URL(url)
        except httpx.InvalidURL:
            raise InvalidSpec("ocean backend config 'url' is not a valid URL", field="url") from None
        parts = urlsplit(url)
        #: The provider's URL as shown: without a user:password@ or a query string.
        self.url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path.rstrip("/"), "", ""))
        chain_id = self.config.get("chain_id")
        if chain_id is not None and (isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0):
            raise InvalidSpec("ocean backend config 'chain_id' must be a positive whole number", field="chain_id")
        self.chain_id: int | None = chain_id
        self.private_key_env = config_text(self.config, "private_key_env", "OCEAN_PRIVATE_KEY", kind="ocean") or ""
        self.timeout = httpx.Timeout(float(config_positive(self.config, "timeout_s", 30.0, kind="ocean")), connect=10.0)
        self.poll_interval = float(config_positive(self.config, "poll_interval_s", type(self).poll_interval,
                                                   kind="ocean"))  # fmt: skip
        self.poll_max_interval = max(self.poll_interval, type(self).poll_max_interval)
        self._key = ConsumerKey.from_env(self.private_key_env)
        self.address = self._key.address
        self._nonces = NonceCounter()
        self._signing = asyncio.Lock()
        self._paths: dict[str, str] | None = None
        self.provider_address: str | None = None
        self._environments: list[Environment] | None = None
        self._warm_up_task: asyncio.Task[None] | None = None
        self._finished_logs: OrderedDict[str, bytes] = OrderedDict()

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the HTTP client, and read the provider's root and environments (for the form) in the
        background: a provider that is slow or down must not hold up the server's start."""
        await super().start()
        if self._warm_up_task is None or self._warm_up_task.done():
            self._warm_up_task = asyncio.create_task(self._warm_up(), name=f"ocean warm-up {self.name}")

    async def _warm_up(self) -> None:
        try:
            await self.environments()
        except ComputeError as exc:
            self.log.warning("ocean backend '%s': could not reach the provider: %s", self.name, exc.message)
        except Exception as exc:  # noqa: BLE001 — a background task: log it, the first real call reports it
            self.log.warning("ocean backend '%s': could not read the provider's environments (%s)", self.name,
                             type(exc).__name__)  # fmt: skip

    async def close(self) -> None:
        """Stop the warm-up if it still runs, then close the HTTP client."""
        task, self._warm_up_task = self._warm_up_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().close()

    def describe(self) -> dict[str, Any]:
        """Name, kind, capabilities, the provider's URL (without credentials or query), chain, addresses."""
        data = super().describe()
        data.update(url=self.url, consumer_address=self.address, chain_id=self.chain_id)
        if self.provider_address:
            data["provider_address"] = self.provider_address
        return data

    def _scrub(self, text: str) -> str:
        return self._key.scrub(str(text))

    # discovery ------------------------------------------------------------------------
    async def _discover(self) -> dict[str, str]:
        """Endpoint paths, chain id and provider address from ``GET {url}/`` (read once)."""
        if self._paths is not None:
            return self._paths
        root = await self._root_document()
        paths = endpoint_paths(root)
        self._settle_chain(chain_ids(root))
        self.provider_address = provider_address(root, self.chain_id)
        self._paths = paths
        return paths

    async def _root_document(self) -> dict[str, Any]:
        """The provider's root document (``GET {url}/``)."""
        response = await _http.request(
            await self._client(), "GET", str(self._endpoint_url("/")), platform="the Ocean Provider",
            what="reading its root document", backend=self.name, scrub=self._scrub,
        )  # fmt: skip
        root = self._json(response, "reading its root document")
        if not isinstance(root, dict):
            raise BackendError(f"{self.url}/ is not an Ocean Provider (no root document)", backend=self.name)
        return root

    def _settle_chain(self, chains: Sequence[int]) -> None:
        """Take the provider's first chain when none is configured; refuse a configured one it does not serve."""
        if not chains:
            return
        if self.chain_id is None:
            self.chain_id = chains[0]
        elif self.chain_id not in chains:
            raise InvalidSpec(
                f"the Ocean Provider at {self.url} serves chains {', '.join(map(str, chains))}, not {self.chain_id}",
                field="chain_id", backend=self.name,
            )  # fmt: skip

    async def _url(self, endpoint: str, params: Mapping[str, Any] | None = None) -> httpx.URL:
        return self._endpoint_url((await self._discover())[endpoint], params)

    def _endpoint_url(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.URL:
        """``path`` (absolute) under the configured URL with ``params`` added to its own query (and credentials)."""
        url = self._base.copy_with(path=self._base.path.rstrip("/") + path)
        return url.copy_merge_params(dict(params)) if params else url

    # HTTP -----------------------------------------------------------------------------
    def _json(self, response: httpx.Response, what: str) -> Any:
        if not response.is_success:
            raise self._error(response, what)
        return _http.decode_json(response, platform="the Ocean Provider", what=what, backend=self.name,
                                 scrub=self._scrub, empty=None)  # fmt: skip

    def _error(self, response: httpx.Response, what: str) -> ComputeError:
        """The error for a non-2xx answer, in the provider's own words (and ours for its codes)."""
        status = response.status_code
        said = self._scrub(provider_words(response))
        if status in (401, 403):
            return AuthError(f"the Ocean Provider refused consumer {self.address} ({what}): {said}", backend=self.name)
        if status == 404:
            return NotFound(f"not found on the Ocean Provider ({what}): {said}", backend=self.name)
        if status in REFUSED:
            return self._refusal(status, response_body(response), said, what)
        return BackendError(f"the Ocean Provider failed {what} (HTTP {status}): {said}", status=status,
                            backend=self.name, uncertain=_http.acted_maybe(response))  # fmt: skip

    def _refusal(self, status: int, body: Any, said: str, what: str) -> ComputeError:
        """The error for a 400/409/422: a refused signature, or the spec field the provider refused."""
        field, words = refusal_field(body, said)
        if field is None and is_signature_problem(said):
            return BackendError(f"the Ocean Provider refused the signature ({what}): {said}", status=status,
                                backend=self.name)  # fmt: skip
        detail = f" ({words})" if words else ""
        return InvalidSpec(f"the Ocean Provider refused {what}: {said}{detail}", field=field, backend=self.name)

    async def _get(self, endpoint: str, params: Mapping[str, Any], *, what: str) -> Any:
        """An unsigned GET (retried on connection errors and 502/503/504)."""
        response = await _http.request(
            await self._client(), "GET", str(await self._url(endpoint, params)), platform="the Ocean Provider",
            what=what, backend=self.name, scrub=self._scrub,
        )  # fmt: skip
        return self._json(response, what)

    async def _stored_nonce(self) -> int:
        data = await self._get("nonce", {"userAddress": self.address}, what="reading the consumer's nonce")
        value = data.get("nonce") if isinstance(data, dict) else data
        try:
            return parse_nonce(value)
        except (ValueError, ArithmeticError):
            raise BackendError(f"the Ocean Provider sent a nonce that is not a number: {value!r}",
                               backend=self.name) from None  # fmt: skip

    async def _signed(
        self, endpoint: str, signed: Mapping[str, Any], *, what: str,
        params: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None, stream: bool = False,
    ) -> httpx.Response:  # fmt: skip
        """One signed call (not retried on connection errors: a nonce is spent once).

        Signed calls go one at a time so their nonces reach the provider in the order they were
        drawn. A "stale nonce" refusal (another client of this wallet went ahead) is signed again,
        once, with a nonce above the provider's fresh one. ``stream``: the caller reads and closes.
        """
        client = await self._client()
        floor = 0
        async with self._signing:
            for attempt in range(2):
                nonce = self._nonces.next(await self._stored_nonce(), floor=floor)
                message = signed_text(endpoint, {"consumerAddress": self.address, **signed}, nonce)
                signature = await asyncio.to_thread(self._key.sign, message)
                auth = {"consumerAddress": self.address, "nonce": nonce, "signature": signature}
                query = {**(params or {}), **(auth if body is None else {})}
                payload = {**body, **auth} if body is not None else None
                request = client.build_request(METHODS[endpoint], await self._url(endpoint, query), json=payload)
                try:
                    response = await client.send(request, stream=stream)
                except httpx.TransportError as exc:
                    raise _http.transport_failure(exc, platform="the Ocean Provider", what=what, backend=self.name,
                                                  scrub=self._scrub) from None  # fmt: skip
                if response.status_code != 400 or attempt:
                    return response
                await response.aread()
                said = provider_words(response)
                if not _STALE_NONCE.search(said):
                    return response
                await response.aclose()
                floor = max([nonce, *(_nonce_or_zero(n) for n in _NUMBERS_IN_PARENS.findall(said))])
                self.log.info("ocean backend '%s': stale nonce %d (%s); signing again", self.name, nonce, what)
        raise AssertionError("unreachable")

    async def _signed_json(self, endpoint: str, signed: Mapping[str, Any], *, what: str, **kwargs: Any) -> Any:
        return self._json(await self._signed(endpoint, signed, what=what, **kwargs), what)

    # the form and the check -----------------------------------------------------------
    def form(self) -> Form:
        common = tuple(f for f in COMMON_FIELDS if f.name != "timeout_s")
        env_help = "The compute environment; default: the provider's first free environment (priceMin 0)."
        known = self._environments or []
        free = next((e.id for e in known if is_free(e)), None)
        environment = (
            FormField("environment", "Environment", "choice", choices=tuple(e.id for e in known), default=free,
                      choice_labels=tuple(environment_label(e) for e in known), help=env_help)
            if known else FormField("environment", "Environment", "string", help=env_help)
        )  # fmt: skip
        fields = (
            FormField("inputs", "Datasets", "tags", required=True,
                      help="The dataset's DID (did:op:…), its order in 'Dataset order'. Through the API an input "
                           "may also be {documentId, serviceId, transferTxId, userdata}, as additional datasets "
                           "must be."),
            FormField("algorithm", "Algorithm DID", "string",
                      help="A published algorithm (did:op:…); its order goes in extra.algorithm."),
            FormField("code", "Raw algorithm (Python)", "code",
                      help="Python run as in a C2D pod: each dataset at $INPUTS/<DID>/0 (/data/inputs), the "
                           "DIDs in $DIDS, the custom data in $INPUTS/algoCustomData.json; what it writes under "
                           "$OUTPUTS (/data/outputs) comes back as results."),
            FormField("script", "Algorithm file", "path",
                      help="A .py file under the server's root folder, sent as raw code."),
            environment,
            FormField("params", "Custom data", "mapping",
                      help="algocustomdata: the algorithm reads it from data/inputs/algoCustomData.json."),
            FormField("extra.dataset", "Dataset order", "mapping",
                      help="serviceId and transferTxId (and userdata) of the dataset given as a DID: the Provider "
                           "needs its order (the transferTxId comes from ordering the dataset on chain)."),
            FormField("extra.algorithm", "Algorithm order", "mapping",
                      help="serviceId and transferTxId (and userdata) of a published algorithm: needed too."),
            FormField("extra.container", "Container", "mapping",
                      help="image, tag, entrypoint of raw code; default python:3.11, 'python $ALGO'."),
        )  # fmt: skip
        return Form(fields=fields + common, one_of=(("algorithm", "code", "script"),))

    async def form_for(self, values: Mapping[str, Any]) -> Form:
        """The form, its environments read first when the start's background read has not (yet) read them
        (a provider that cannot be reached leaves the environment a text field)."""
        if self._environments is None:
            with contextlib.suppress(ComputeError):
                await self.environments()
        return self.form()

    def validate(self, spec: JobSpec) -> JobSpec:
        """Datasets, one algorithm, the order objects. A ``script`` is read here and becomes ``code``."""
        refuse_not_taken(spec)
        extra = checked_extra(spec.extra)
        datasets = checked_datasets(spec.inputs, extra)
        algorithm = (spec.algorithm or "").strip() or None
        code = self._script_code(spec.script, spec.code, algorithm) if spec.script is not None else spec.code
        check_one_algorithm(algorithm, code)
        self._check_code(code, "script" if spec.script is not None else "code")
        check_algorithm_extra(algorithm, code, extra)
        check_params(spec.params)
        environment = environment_id(spec.environment)
        self._refuse_key_in({"params": spec.params, "inputs": datasets, "algorithm": algorithm, "extra": extra,
                             "environment": environment})  # fmt: skip
        check_orders(datasets, algorithm, extra)
        return spec.replace(inputs=datasets, algorithm=algorithm, code=code, script=None,
                            environment=environment, extra=extra)  # fmt: skip

    def _script_code(self, script: str, code: str | None, algorithm: str | None) -> str:
        """The text of the algorithm file ``script``, the spec's only algorithm."""
        if code is not None or algorithm:
            raise InvalidSpec("give one algorithm: a script, raw code or an algorithm DID", field="script")
        path = self.local_source(script, field="script", required=True)
        if path is None:
            raise InvalidSpec("give the path of the algorithm file", field="script")
        return read_script(path, script)

    def _check_code(self, code: str | None, field: str) -> None:
        """Raw code must say something, and must not carry the consumer wallet's private key."""
        if code is None:
            return
        if not code.strip():
            raise InvalidSpec("the raw algorithm is empty", field=field)
        if self._key.found_in(code):
            raise InvalidSpec("the raw algorithm contains the consumer wallet's private key, which must never leave "
                              "this server: the Provider would store it and run it", field=field)  # fmt: skip

    def _refuse_key_in(self, sent: Mapping[str, Any]) -> None:
        """InvalidSpec naming the first field (of everything else the Provider gets) that holds the private key."""
        for field, value in sent.items():
            if self._key.found_in(json.dumps(value, default=str)):
                raise InvalidSpec(f"'{field}' contains the consumer wallet's private key, which must never leave "
                                  "this server", field=field)  # fmt: skip

    def _start_body(self, spec: JobSpec, environment: str) -> dict[str, Any]:
        return start_body(spec, environment)

    # jobs -----------------------------------------------------------------------------
    async def submit(self, spec: JobSpec, job_id: str) -> Submission:
        spec = await self.validated(spec)
        environment = spec.environment or await self._default_environment()
        body = self._start_body(spec, environment)
        document_id = body["dataset"]["documentId"]
        answer = await self._signed_json("computeStart", {"documentId": document_id}, body=body,
                                         what="starting the compute job")  # fmt: skip
        first = answer[0] if isinstance(answer, list) and answer else answer
        remote = first.get("jobId") if isinstance(first, dict) else None
        if not isinstance(remote, str) or not remote:
            raise BackendError("the Ocean Provider started the job but sent no jobId", backend=self.name)
        self.log.info("ocean backend '%s': job %s is compute job %s on %s", self.name, job_id, remote, environment)
        return Submission(f"{remote}|{document_id}", job_status(first))

    async def _default_environment(self) -> str:
        environments = await self.environments()
        for environment in environments:
            if is_free(environment):
                return environment.id
        known = ", ".join(e.id for e in environments) or "none"
        raise InvalidSpec(f"the Ocean Provider offers no free compute environment; choose one (known: {known})",
                          field="environment", backend=self.name)  # fmt: skip

    async def recover(self, job_id: str) -> str | None:
        """None: a Provider's compute job carries nothing of ours (its jobId is the Provider's own and the
        start request takes no client token), so a job whose start answer was lost cannot be told from the
        consumer's other jobs; it ends UNKNOWN with words (the consumer's job list shows it on the Provider)."""
        return None

    async def _jobs(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """The consumer's status objects (one job, or all of them): an unsigned GET."""
        params = {"consumerAddress": self.address, **({"jobId": job_id} if job_id else {})}
        what = f"reading compute job {job_id}" if job_id else "listing the consumer's compute jobs"
        data = await self._get("computeStatus", params, what=what)
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        return [item for item in items if isinstance(item, dict) and item.get("jobId")]

    async def _job(self, remote_id: str) -> dict[str, Any]:
        job_id, _ = split_remote_id(remote_id)
        for item in await self._jobs(job_id):
            if str(item.get("jobId")) == job_id:
                return item
        raise NotFound(f"the Ocean Provider knows no compute job {job_id} of {self.address}", backend=self.name)

    async def status(self, remote_id: str) -> RemoteStatus:
        return job_status(await self._job(remote_id))

    async def status_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteStatus]:
        """All of the consumer's jobs in one GET; an id the provider did not list is left out."""
        wanted = {split_remote_id(remote_id)[0]: remote_id for remote_id in remote_ids}
        found: dict[str, RemoteStatus] = {}
        for item in await self._jobs():
            remote_id = wanted.get(str(item.get("jobId")))
            if remote_id is not None:
                found[remote_id] = job_status(item)
        return found

    async def cancel(self, remote_id: str) -> None:
        job_id, document_id = split_remote_id(remote_id)
        await self._job_call("computeStop", job_id, document_id, what=f"stopping compute job {job_id}")

    async def delete(self, remote_id: str) -> None:
        job_id, document_id = split_remote_id(remote_id)
        await self._job_call("computeDelete", job_id, document_id, what=f"deleting compute job {job_id}")
        self._finished_logs.pop(job_id, None)

    async def _job_call(self, endpoint: str, job_id: str, document_id: str, *, what: str) -> None:
        query = {"jobId": job_id, **({"documentId": document_id} if document_id else {})}
        await self._signed_json(endpoint, {"jobId": job_id, "documentId": document_id}, params=query, what=what)

    # results and logs -----------------------------------------------------------------
    async def results(self, remote_id: str) -> list[ResultFile]:
        """Outputs, then logs, as the provider lists them (none until the job has published)."""
        return [entry.to_result_file() for entry in result_entries(await self._job(remote_id))]

    def open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        """Stream one result (signed ``computeResult`` by its index in the results list)."""
        return self._open_result(remote_id, name)

    async def _open_result(self, remote_id: str, name: str) -> AsyncIterator[bytes]:
        job = await self._job(remote_id)
        entry = next((e for e in result_entries(job) if e.name == name), None)
        if entry is None:
            raise NotFound(f"compute job {split_remote_id(remote_id)[0]} has no result named '{name}'", field="name",
                           backend=self.name)  # fmt: skip
        async for chunk in self._download(str(job["jobId"]), entry.index, name):
            yield chunk

    async def _download(self, job_id: str, index: int, name: str) -> AsyncGenerator[bytes, None]:
        what = f"downloading {name} of compute job {job_id}"
        response = await self._signed("computeResult", {"jobId": job_id, "index": index},
                                      params={"jobId": job_id, "index": index}, what=what, stream=True)  # fmt: skip
        try:
            if not response.is_success:
                await response.aread()
                raise self._error(response, what)
            try:
                async for chunk in response.aiter_bytes(CHUNK_SIZE):
                    yield chunk
            except httpx.TransportError as exc:
                raise BackendError(f"the Ocean Provider broke off {what}: {_http.transport_reason(exc, self._scrub)}",
                                   backend=self.name) from None  # fmt: skip
        finally:
            await response.aclose()

    async def logs(self, remote_id: str, offset: int = 0) -> LogChunk:
        """The algorithm log from byte ``offset`` once the provider lists it (an empty chunk before).

        A finished job's log cannot change: it is downloaded once and kept (see ``LOG_CACHE_JOBS``).
        """
        if offset < 0:
            raise InvalidSpec("'offset' must not be negative", field="offset")
        job_id, _ = split_remote_id(remote_id)
        kept = self._kept_log(job_id)
        if kept is not None:
            return _log_chunk(kept[offset:], offset, finished=True, at_end=True)
        job = await self._job(remote_id)
        finished = is_finished(job)
        entry = next((e for e in result_entries(job) if e.type == "algorithmLog"), None)
        if entry is None:
            return LogChunk("", offset, complete=finished)
        return await self._provider_log(job_id, entry, offset, finished=finished)

    async def _provider_log(self, job_id: str, entry: ResultEntry, offset: int, *, finished: bool) -> LogChunk:
        """The log from byte ``offset``, downloaded; a finished job's log is read from 0 and kept when it may be."""
        start = 0 if finished and offset <= LOG_CACHE_BYTES else offset  # from 0 when it may be kept whole
        data, at_end = await self._read_log(job_id, entry, start, offset + LOG_READ_LIMIT)
        if finished and start == 0 and at_end:
            self._keep_log(job_id, data)
        return _log_chunk(data[offset - start:], offset, finished=finished, at_end=at_end)

    def _kept_log(self, job_id: str) -> bytes | None:
        """The whole log of a finished job, when it is kept (it becomes the most recently used)."""
        kept = self._finished_logs.get(job_id)
        if kept is not None:
            self._finished_logs.move_to_end(job_id)
        return kept

    def _keep_log(self, job_id: str, data: bytes) -> None:
        """Keep a finished job's whole log when it is short enough; forget the least recently used beyond
        ``LOG_CACHE_JOBS``."""
        if len(data) > LOG_CACHE_BYTES:
            return
        self._finished_logs[job_id] = data
        while len(self._finished_logs) > LOG_CACHE_JOBS:
            self._finished_logs.popitem(last=False)

    async def _read_log(self, job_id: str, entry: ResultEntry, start: int, end: int) -> tuple[bytes, bool]:
        """Bytes ``start`` to ``end`` of a job's log (and one more, to tell whether it goes on); whether the
        download reached the end of the log."""
        data = bytearray()
        seen = 0
        async with contextlib.aclosing(self._download(job_id, entry.index, entry.name)) as chunks:
            async for chunk in chunks:
                data += chunk[max(0, start - seen):]
                seen += len(chunk)
                if len(data) > end - start:
                    return bytes(data[: end - start + 1]), False
        return bytes(data), True

    # capacity -------------------------------------------------------------------------
    async def environments(self) -> list[Environment]:
        """This chain's compute environments (both response shapes and both field spellings)."""
        await self._discover()
        params = {"chainId": self.chain_id} if self.chain_id is not None else {}
        data = await self._get("computeEnvironments", params, what="listing the compute environments")
        found = [normalise_environment(raw, self.name) for raw in environment_list(data, self.chain_id)]
        self._environments = found
        return found


def environment_label(environment: Environment) -> str:
    """What the form shows for an environment: its name (and id when they differ), and whether it is free."""
    name = environment.name if environment.name and environment.name != environment.id else ""
    return environment.id + (f" ({name})" if name else "") + (" — free" if is_free(environment) else "")


def endpoint_paths(root: Mapping[str, Any]) -> dict[str, str]:
    """The endpoint paths a root document declares, the spec's defaults for the others."""
    declared = root.get("serviceEndpoints")
    endpoints: Mapping[str, Any] = declared if isinstance(declared, dict) else {}
    paths = dict(DEFAULT_PATHS)
    for name in DEFAULT_PATHS:
        path = _declared_path(endpoints.get(name))
        if path is not None:
            paths[name] = path
    return paths


def _declared_path(declared: Any) -> str | None:
    """The path of one ``serviceEndpoints`` entry (``[method, path]`` or a path); never a URL of another host."""
    path = declared[-1] if isinstance(declared, (list, tuple)) and declared else declared
    return path if isinstance(path, str) and path.startswith("/") else None


def chain_ids(root: Mapping[str, Any]) -> list[int]:
    """The chains a root document says the provider serves."""
    return [int(c) for c in root.get("chainIds") or [] if isinstance(c, (int, str)) and str(c).isdigit()]


def provider_address(root: Mapping[str, Any], chain_id: int | None) -> str | None:
    """The provider's address on ``chain_id`` (``providerAddresses``), or its one ``providerAddress``."""
    addresses = root.get("providerAddresses")
    if isinstance(addresses, dict):
        found = addresses.get(str(chain_id))
        return found if isinstance(found, str) else None
    single = root.get("providerAddress")
    return single if isinstance(single, str) else None


def _nonce_or_zero(text: str) -> int:
    try:
        return parse_nonce(text)
    except (ValueError, ArithmeticError):
        return 0


def _log_chunk(data: bytes, offset: int, *, finished: bool, at_end: bool) -> LogChunk:
    """A LogChunk of at most LOG_READ_LIMIT bytes of ``data`` (read from ``offset``), cut between characters."""
    if len(data) > LOG_READ_LIMIT:
        data, at_end = _whole_utf8(data[:LOG_READ_LIMIT]), False
    return LogChunk(data.decode("utf-8", errors="replace"), offset + len(data), complete=finished and at_end)


def _whole_utf8(data: bytes) -> bytes:
    """``data`` without a UTF-8 character cut at its end."""
    for cut in range(min(3, len(data)) + 1):
        try:
            (data[: len(data) - cut] if cut else data).decode("utf-8")
        except UnicodeDecodeError:
            continue
        return data[: len(data) - cut] if cut else data
    return data
