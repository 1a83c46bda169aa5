"""The ``maap`` backend's ``ogc`` flavour: the OGC API Processes routes MAAP serves today (``/api/ogc/…``,
``/api/mas/…``).

The algorithm is its integer process id, the queue (required) is the job's environment, products come
from ``ogc/jobs/{id}/results`` and the job's ``products`` URL, and a job is cancelled with DELETE
(dismiss). Every call carries the token.

Product folders: a DPS product is usually a folder (its links name the folder, over http and
``s3://``). A product whose links may name a folder (ending in ``/``, or a name of no known file
type) is listed file by file as ``<product>/<path>`` — in S3 when an S3 endpoint is configured,
else from the http link's index page — so each CSV inside can be read (``to_pandas(job,
"<product>/")`` reads them all). A link that turns out to be a file stays one result.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from ...errors import BackendError, ComputeError, InvalidSpec, NotFound, NotSupported
from ...forms import NOT_BLANK_TEXT, Form, FormField
from ...models import Environment, JobSpec, JobState, RemoteStatus, map_native_status
from ..base import Capabilities, Submission
from .base import MaapBackend, _said, _text, _time, _translate_internal
from .storage import ProductIndex, file_name, list_http_folder, may_be_folder, s3_path

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

OGC_CAPABILITIES = Capabilities(
    can_cancel=True, can_list=True, has_results=True, has_environments=True, can_proxy=True
)
OGC_PAGE = 100
#: How long the list of queues is trusted before it is read again.
QUEUE_CACHE_S = 60.0
#: Dismissed job ids remembered (a dismissed queued job is purged: its 404 then means "cancelled").
MAX_REMEMBERED = 4096
#: A failed job's traceback is kept in its message up to this many characters (the end is kept).
MAX_DETAIL = 4000
_QUEUE_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(gb|vcpu|cpu)", re.IGNORECASE)


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


def algorithm_label(process: Mapping[str, Any]) -> str:
    """What the form shows for a registered algorithm: ``name:version (process N)``."""
    name, version = process.get("id") or process.get("title") or "?", process.get("version")
    return f"{name}{f':{version}' if version else ''} (process {process.get('processID')})"


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


def _object_key(url: str) -> str:
    """One spelling per S3 object (both S3 URL styles agree); other URLs as they are."""
    if url.startswith("s3://"):
        try:
            return "s3://" + s3_path(url)
        except InvalidSpec:
            return url
    return url


def _names_folder(url: str) -> bool:
    """Whether the ``products`` URL names a folder: it ends with ``/`` or its name has no extension."""
    return url.endswith("/") or "." not in file_name(url)


def _product_links(product: Mapping[str, Any]) -> list[str]:
    """The non-empty ``href`` of each of a result's links."""
    return [h for link in product.get("links") or [] if isinstance(link, dict)
            and isinstance(h := link.get("href"), str) and h]  # fmt: skip


def _with_other_links(
    listed: dict[str, str] | None, via: str | None, links: tuple[str | None, ...]
) -> dict[str, list[str]] | None:
    """{relative path: [its listed URL, its URL under each other folder link]}; None when nothing was listed."""
    if not listed:
        return None
    return {
        rel: [url, *(f"{u.rstrip('/')}/{quote(rel)}" for u in links if u and u != via)]
        for rel, url in listed.items()
    }


class MaapOgcBackend(MaapBackend, flavor="ogc"):
    """MAAP's DPS through OGC API Processes: algorithms by process id, run on a queue, cancelled by dismissal."""

    capabilities = OGC_CAPABILITIES
    status_map: ClassVar[Mapping[str, JobState]] = OGC_STATUS
    token_required: ClassVar[bool] = True
    algorithm_words: ClassVar[str] = "its process id (a number)"
    page_size = OGC_PAGE

    def __init__(self, name: str, config: Mapping[str, Any] | None = None, *, data_dir: Path | str | None = None,
                 log: Any = None) -> None:  # fmt: skip
        super().__init__(name, config, data_dir=data_dir, log=log)
        self.granule_input = _text(self.config, "granule_input", "granules") or "granules"
        self._dismissed: dict[str, None] = {}  # ordered: the oldest are forgotten first
        self._queues: tuple[float, list[str]] | None = None
        #: The registered algorithms last read (when, and each one's process id and label), for the form.
        self._algorithms: tuple[float, list[tuple[str, str]]] | None = None

    async def start(self) -> None:
        """Open the HTTP client; read the queues once so the form can offer them."""
        await super().start()
        try:
            await self._queue_names(fresh=True)
        except ComputeError as exc:  # the server must start even with an expired token
            self.log.warning("maap backend '%s': could not read the queues: %s", self.name, exc.message)

    def _gone(self, remote_id: str) -> bool:
        return remote_id in self._dismissed  # a dismissed queued job is purged: gone for good

    # the submit form and its check ----------------------------------------------------
    async def form_for(self, values: Mapping[str, Any]) -> Form:
        """The form, offering the platform's registered algorithms (read again when older than a minute; a
        platform that cannot list them leaves the algorithm free text)."""
        if self._algorithms is None or time.monotonic() - self._algorithms[0] >= QUEUE_CACHE_S:
            try:
                await self._read_algorithms()
            except ComputeError as exc:
                self.log.info("maap backend '%s': could not list the algorithms: %s", self.name, exc.message)
        return self.form()

    async def _read_algorithms(self) -> None:
        data = await self._json("GET", "ogc/processes", what="listing the algorithms")
        processes = data.get("processes") if isinstance(data, dict) else None
        found = [(str(p.get("processID")), algorithm_label(p)) for p in processes or ()
                 if isinstance(p, dict) and str(p.get("processID")).isdigit()]  # fmt: skip
        self._algorithms = (time.monotonic(), found)

    def _algorithm_field(self) -> FormField:
        """The process id: one of the algorithms listed, or any other typed."""
        listed = self._algorithms[1] if self._algorithms else []
        return FormField("algorithm", "Algorithm", "open_choice" if listed else "string", required=True,
                         pattern=" *[0-9]+ *", choices=tuple(p for p, _ in listed) or None,
                         choice_labels=tuple(label for _, label in listed) or None,
                         help="The registered algorithm's process id (a number).")  # fmt: skip

    def _fields(self) -> tuple[FormField, ...]:
        queues = self._queues[1] if self._queues else []
        queue = (
            FormField("environment", "Queue", "choice", required=True, choices=tuple(queues),
                      help="The DPS queue (worker size) the job runs on.")
            if queues else
            FormField("environment", "Queue", "string", required=True, help="The DPS queue the job runs on.")
        )  # fmt: skip
        return (
            self._algorithm_field(),
            FormField("inputs", "Granules", "tags", required=True, pattern=NOT_BLANK_TEXT,
                      help=f"Granule ids, passed as the algorithm input '{self.granule_input}'."),
            queue,
            FormField("params", "Algorithm inputs", "mapping", help="Other inputs of the algorithm, by name."),
        )  # fmt: skip

    def _check_algorithm(self, algorithm: str) -> None:
        _process_id(algorithm)

    def _check_options(self, spec: JobSpec) -> None:
        """The queue (against the queues last read) and the algorithm's other inputs."""
        self._check_queue(spec.environment, self._queues[1] if self._queues else None)
        if self.granule_input in spec.params:
            raise InvalidSpec(f"'{self.granule_input}' is where the granules go; give them as inputs", field="params")
        try:
            json.dumps(spec.params)
        except (TypeError, ValueError) as exc:
            raise InvalidSpec(f"algorithm inputs must be JSON values: {exc}", field="params") from None

    def _check_queue(self, queue: str | None, known: list[str] | None) -> None:
        if not queue:
            raise InvalidSpec("give the DPS queue to run on as the environment", field="environment")
        if known is not None and queue not in known:
            shown = ", ".join(known) or "none"
            raise InvalidSpec(f"unknown queue '{queue}' (queues: {shown})", field="environment")

    # jobs -----------------------------------------------------------------------------
    async def _submit(self, spec: JobSpec, job_id: str) -> Submission:
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

    async def status(self, remote_id: str) -> RemoteStatus:
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

    async def cancel(self, remote_id: str) -> None:
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
        """The job tagged with our id, when its submission's answer was lost."""
        data = await self._json("GET", "ogc/jobs", what="listing jobs", params={"tag": job_id, "limit": 10})
        jobs = data.get("jobs") if isinstance(data, dict) else None
        for job in jobs or []:
            if isinstance(job, dict) and job.get("jobID"):
                return str(job["jobID"])
        return None

    async def _ogc_job(self, remote_id: str) -> dict[str, Any]:
        return await self._json_object(
            f"ogc/jobs/{quote(remote_id, safe='')}", params={"getJobDetails": "true"},
            subject=f"job {remote_id}", what=f"reading job {remote_id}",
        )  # fmt: skip

    def _ogc_brief(self, job: Mapping[str, Any]) -> RemoteStatus:
        """A job's status from its object alone (no results read)."""
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

    async def _job_page(self, offset: int, limit: int) -> Any:
        params = {"offset": offset, "limit": limit, "getJobDetails": "true"}
        data = await self._json("GET", "ogc/jobs", what="listing jobs", params=params)
        return data.get("jobs") if isinstance(data, dict) else None

    def _listed_id(self, item: Any) -> str | None:
        return str(item["jobID"]) if isinstance(item, dict) and item.get("jobID") else None

    def _listed_status(self, item: Mapping[str, Any]) -> RemoteStatus:
        return self._ogc_brief(item)

    async def handle_webhook(self, remote_id: str, body: Any) -> RemoteStatus | None:
        raise NotSupported("the MAAP OGC API makes no callbacks", backend=self.name)

    # results --------------------------------------------------------------------------
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

    async def _product_index(self, remote_id: str) -> ProductIndex:
        """The result links (a folder listed file by file: see the module doc) and the products URL."""
        index = ProductIndex()
        data = await self._ogc_results(remote_id)
        for key, product in data.items():
            if isinstance(product, dict):
                await self._add_product(index, str(product.get("id") or key), _product_links(product))
        job = await self._ogc_job(remote_id)
        products = job.get("products")
        if isinstance(products, str) and products:
            await self._add_products_url(index, products)
        return index

    async def _add_product(self, index: ProductIndex, name: str, hrefs: list[str]) -> None:
        """One result: its folder's files as ``<name>/<path>``, else its links as the file ``<name>/…``."""
        if not await self._add_folder(index, name, hrefs):
            index.add(hrefs, prefix=f"{name}/")

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
        if s3 and self.s3_endpoint_url:
            return _with_other_links(await self._s3_folder(s3), s3, (s3, http))
        return _with_other_links(await self._http_folder(http), http, (s3, http))

    async def _s3_folder(self, url: str) -> dict[str, str] | None:
        """{relative path: s3 URL} of the files under an ``s3://`` folder; None when it holds none."""
        prefix = "s3://" + s3_path(url.rstrip("/") + "/x")[:-1]  # s3://bucket/key/ of the folder
        found = await asyncio.to_thread(self._s3_reader().list_folder, url)
        return {u[len(prefix):]: u for u in found if u.startswith(prefix)} or None

    async def _http_folder(self, url: str | None) -> dict[str, str] | None:
        """{relative path: URL} from an http link's index page; None when the link cannot be a folder."""
        if not url or not may_be_folder(url):
            return None
        return await list_http_folder(await self._client(), url, api_base=self.url, auth=self._product_auth(),
                                      timeout=self.timeout)  # fmt: skip

    async def _add_products_url(self, index: ProductIndex, url: str) -> None:
        """The job's ``products`` URL: one file, or (s3, with an endpoint) a folder whose files are listed.

        An http folder cannot be listed in a standard way; its files are the result links anyway.
        """
        known = {_object_key(u) for sources in index.urls.values() for u in sources}
        if _object_key(url) in known:
            return
        if not _names_folder(url):
            index.add([url], prefix="products/")
        elif url.startswith("s3://") and self.s3_endpoint_url:
            await self._add_s3_products(index, url, known)

    async def _add_s3_products(self, index: ProductIndex, url: str, known: set[str]) -> None:
        """Each file of the ``s3://`` products folder not already a result, as ``products/<name>``."""
        try:
            found = await asyncio.to_thread(self._s3_reader().list_folder, url)
        except (ComputeError, OSError) as exc:
            self.log.warning("maap backend '%s': cannot list the products folder: %s", self.name, exc)
            return
        for item in found:
            if _object_key(item) not in known:
                index.add([item], prefix="products/")

    # capacity -------------------------------------------------------------------------
    async def environments(self) -> list[Environment]:
        """One environment per DPS queue."""
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
