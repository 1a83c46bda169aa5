"""The older WPS routes of MAAP's DPS (``/api/dps/job…``), which maap-py 5.1's ``DPSJob`` helpers use.

Same jobs as the OGC routes (one job store, one id). XML in and out, as maap-api-nasa writes it
(``api/endpoints/job.py``, ``api/utils/ogc_translate.py``); ``wps`` is
``http://www.opengis.net/wps/2.0``, ``ows`` is ``http://www.opengis.net/ows/2.0``.

=============================  ====  ==============================================================
route                          auth  answer
=============================  ====  ==============================================================
``POST dps/job``               yes   body ``wps:Execute`` (``ows:Identifier`` ``job-<algo>:<version>``,
                                     ``wps:Input id=…`` > ``wps:Data`` > ``wps:LiteralValue``; the
                                     inputs ``queue``, ``dedup``, ``identifier`` (the tag) are
                                     control inputs, ``granules`` a JSON list or one id) → 200
                                     ``wps:StatusInfo`` (``wps:JobID``, ``wps:Status`` Accepted).
                                     No queue: the first queue. Refusals: ``ows:ExceptionReport``,
                                     400 ``FailedJobSubmit`` "User does not have access to <q>. Valid
                                     queues: [...]"; 500 ``FailedJobSubmit`` for an unknown
                                     algorithm, bad inputs or a body that is not an Execute.
``GET dps/job/{id}/status``    no    200 ``wps:StatusInfo``; Status Accepted, Running, Succeeded,
                                     Failed, Dismissed, Deduped, Offline; an unknown id (also a job
                                     still hidden by the index lag, or a purged one) → Deleted.
``GET dps/job/{id}``           no    200 ``wps:Result``: ``wps:JobID``, then one ``wps:Output id=<product>``
                                     per staged product with one ``wps:Data`` per URL (http, s3), then
                                     the S3 console URL, which every product gets (bare when it has no
                                     s3 URL); a failed job adds ``wps:Output id="traceback"``. Running
                                     (or dismissed, deduped: nothing staged): JobID only. Not started
                                     by a worker yet → 500 ``FailedGetResult``. Unknown id → the
                                     ``StatusInfo`` Deleted.
``GET dps/job/{id}/metrics``   no    200 ``<metrics>`` (machine_type, architecture,
                                     machine_memory_size, directory_size, operating_system,
                                     job_start_time, job_end_time, job_duration_seconds, cpu_usage
                                     (ns), cache_usage, mem_usage, max_mem_usage (bytes), swap_usage,
                                     read/write/sync/async/total_io_stats); a job not started yet →
                                     500 ``FailedGetMetrics``. Unknown id → the ``StatusInfo`` Deleted.
``POST dps/job/cancel/{id}``   yes   queued → purged, running → revoked (then Dismissed): 202
                                     ``wps:StatusInfo`` with the cancelled job's id and Status
                                     Accepted (maap-api-nasa renders its constant ``job-queued``, the
                                     state of the purge/revoke job it just queued); finished → 400
                                     ``FailedJobCancel`` "Not allowed to cancel job with status
                                     job-completed"; unknown → 500 "Failed to dismiss job <id>. …".
=============================  ====  ==============================================================
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from .server import HYSDS_NAMES, S3_HOST, MaapSandbox, _Live, _Run, parse_inputs

WPS_NS = "http://www.opengis.net/wps/2.0"
OWS_NS = "http://www.opengis.net/ows/2.0"
NS = {"wps": WPS_NS, "ows": OWS_NS}
#: OGC status → the WPS status the older routes show.
WPS_STATUS = {
    "accepted": "Accepted", "running": "Running", "successful": "Succeeded", "failed": "Failed",
    "dismissed": "Dismissed", "deduped": "Deduped", "offline": "Offline",
}
CONTROL_INPUTS = ("queue", "dedup", "identifier")
CONSOLE = "https://s3.console.aws.amazon.com/s3/buckets/"
METRIC_NAMES = (
    "machine_type", "architecture", "machine_memory_size", "directory_size", "operating_system",
    "job_start_time", "job_end_time", "job_duration_seconds", "cpu_usage", "cache_usage", "mem_usage",
    "max_mem_usage", "swap_usage", "read_io_stats", "write_io_stats", "sync_io_stats", "async_io_stats",
    "total_io_stats",
)


# ---------------------------------------------------------------------- XML documents
def _root(tag: str) -> ET.Element:
    """A root element with the namespace declarations maap-api-nasa writes."""
    root = ET.Element(tag)
    root.set("xmlns:wps", WPS_NS)
    root.set("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
    root.set("xmlns:schemaLocation", "http://schemas.opengis.net/wps/2.0/wps.xsd")
    root.set("xmlns:ows", OWS_NS)
    return root


def status_xml(job_id: str, status: str) -> bytes:
    """``wps:StatusInfo`` with ``wps:JobID`` and ``wps:Status``."""
    root = _root("wps:StatusInfo")
    ET.SubElement(root, "wps:JobID").text = job_id
    ET.SubElement(root, "wps:Status").text = status
    return ET.tostring(root)


def result_xml(job_id: str, products: list[dict[str, Any]], traceback: str | None) -> bytes:
    """``wps:Result``: one ``wps:Output`` per product (its URLs as ``wps:Data``), then the traceback."""
    root = _root("wps:Result")
    ET.SubElement(root, "wps:JobID").text = job_id
    for product in products:
        output = ET.SubElement(root, "wps:Output", {"id": product["id"]})
        for url in product["urls"]:
            ET.SubElement(output, "wps:Data").text = url
    if traceback is not None:
        output = ET.SubElement(root, "wps:Output", {"id": "traceback"})
        ET.SubElement(output, "wps:Data").text = traceback
    return ET.tostring(root)


def metrics_xml(values: dict[str, Any]) -> bytes:
    """``<metrics>`` with one element per metric (empty when unknown)."""
    root = ET.Element("metrics")
    for name in METRIC_NAMES:
        value = values.get(name)
        ET.SubElement(root, name).text = None if value is None else str(value)
    return ET.tostring(root)


def exception_xml(code: str, locator: str, text: str) -> bytes:
    """``ows:ExceptionReport`` > ``ows:Exception exceptionCode locator`` > ``ows:ExceptionText``."""
    root = _root("ows:ExceptionReport")
    exception = ET.SubElement(root, "ows:Exception", {"exceptionCode": code, "locator": locator})
    ET.SubElement(exception, "ows:ExceptionText").text = text
    return ET.tostring(root)


def parse_execute(body: bytes) -> tuple[str, dict[str, Any], dict[str, str]]:
    """A ``wps:Execute`` → (job type, inputs, control inputs); ValueError when it is not one.

    Input values are JSON when they parse as JSON (as the live server reads them), else text."""
    root = _execute_root(body)
    identifier = (root.findtext("ows:Identifier", None, NS) or "").strip()
    if not identifier:
        raise ValueError("the wps:Execute has no ows:Identifier")
    inputs: dict[str, Any] = {}
    control: dict[str, str] = {}
    for name, text in _literal_inputs(root):
        if name in CONTROL_INPUTS:
            control[name] = text.strip()
        else:
            inputs[name] = _input_value(text)
    return identifier, inputs, control


def _execute_root(body: bytes) -> ET.Element:
    """The ``wps:Execute`` element of ``body``; ValueError when the body is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"the body is not XML: {exc}") from None
    if root.tag != f"{{{WPS_NS}}}Execute":
        raise ValueError("the body is not a wps:Execute")
    return root


def _literal_inputs(root: ET.Element) -> list[tuple[str, str]]:
    """(input id, text) of every ``wps:Input`` > ``wps:Data`` > ``wps:LiteralValue``, in document order."""
    return [(item.get("id") or "", value.text or "")
            for item in root.findall("wps:Input", NS) for value in item.findall("wps:Data/wps:LiteralValue", NS)]


def _input_value(text: str) -> Any:
    """An input's value: its JSON when it parses as JSON, else the text ("" stays "")."""
    try:
        return json.loads(text) if text else ""
    except ValueError:
        return text


def products_with_console(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The products, each with the S3 console URL the live server appends after its URLs.

    The spec is silent on this URL (it says only "outputs as S3 URLs"); this follows maap-api-nasa
    (``api/endpoints/job.py``, ``Result.get``): every product gets ``CONSOLE``, extended by the part
    after ``:80/`` of each ``s3://`` URL it has, so a product without one (the stand-in without S3,
    or a log, which is http only) ends with the bare ``https://s3.console.aws.amazon.com/s3/buckets/``."""
    shown = []
    for product in products:
        urls = list(product["urls"])
        console = CONSOLE
        for url in product["urls"]:
            if url.startswith("s3://"):  # the stand-in's s3 URLs all name S3_HOST, which ends ":80"
                console += url.split(f"{S3_HOST}/", 1)[1] + "/?region=us-east-1&tab=overview"
        urls.append(console)
        shown.append({"id": product["id"], "urls": urls})
    return shown


# ---------------------------------------------------------------------- handlers
class _Wps(_Live):
    def xml(self, code: int, body: bytes) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "text/xml; charset=utf-8")
        self.finish(body)

    def failure(self, code: int, kind: str, locator: str, text: str) -> None:
        self.xml(code, exception_xml(kind, locator, text))

    def known_job(self, job_id: str) -> _Run | None:
        """The job, or None when unknown, purged or still hidden by the index lag."""
        run = self.sb._ogc.get(job_id)
        return run if run is not None and self.sb._visible(run) else None

    def deleted(self, job_id: str) -> None:
        self.xml(200, status_xml(job_id, "Deleted"))


class WpsSubmitHandler(_Wps):
    def post(self) -> None:
        try:
            job_type, inputs, control = parse_execute(self.request.body or b"")
        except ValueError as exc:
            return self.failure(500, "FailedJobSubmit", "Execute", f"Failed to submit job. Exception Message: {exc}")
        name = job_type[4:] if job_type.startswith("job-") else job_type
        algo = self.sb._algorithm(name)
        if algo is None:
            return self.failure(500, "FailedJobSubmit", "Execute",
                                f"Failed to submit job of type {job_type}. Exception Message: "
                                f"no algorithm registered as {name}")
        queue = control.get("queue") or next(iter(self.sb.queues))
        if queue not in self.sb.queues:
            return self.failure(400, "FailedJobSubmit", "Execute",
                                f"User does not have access to {queue}. Valid queues: {list(self.sb.queues)}")
        parsed = parse_inputs(inputs)
        if isinstance(parsed, str):
            return self.failure(500, "FailedJobSubmit", "Execute",
                                f"Failed to submit job of type {job_type}. Exception Message: {parsed}")
        granules, params = parsed
        dedup = control.get("dedup", "false").lower() == "true"
        run = self.sb._execute_ogc(algo, inputs, granules, params, queue, control.get("identifier") or None, dedup)
        self.xml(200, status_xml(run.id, "Accepted"))


class WpsStatusHandler(_Wps):
    auth_required = False

    def get(self, job_id: str) -> None:
        run = self.known_job(job_id)
        if run is None:
            return self.deleted(job_id)
        self.xml(200, status_xml(job_id, WPS_STATUS[run.ogc_status]))


class WpsResultHandler(_Wps):
    auth_required = False

    def get(self, job_id: str) -> None:
        run = self.known_job(job_id)
        if run is None:
            return self.deleted(job_id)
        status = run.ogc_status
        # The spec is silent on this route before a job ends. maap-api-nasa (``api/endpoints/job.py``,
        # ``Result.get``) reads ``job.job_info.metrics.products_staged`` as the OGC results route does,
        # and the spec says what that lookup gives there: "Before a worker has started the job: 500;
        # while running: {}". Here the first is the XML ``FailedGetResult`` of its ``except`` (not JSON
        # ``null``, which it would answer only if ``products_staged`` were missing), the second an empty
        # staged list: a ``wps:Result`` with the JobID only.
        if status == "accepted":
            return self.failure(500, "FailedGetResult", "GetResult",
                                f"Failed to get job result of job with id: {job_id}. 'NoneType' object has no "
                                "attribute 'get'. If you don't see expected results, please contact "
                                "administrator of DPS")
        if status in ("running", "dismissed", "deduped"):
            return self.xml(200, result_xml(job_id, [], None))
        traceback = (run.error or "unknown error") if status in ("failed", "offline") else None
        self.xml(200, result_xml(job_id, products_with_console(self.sb._products(run)), traceback))


class WpsMetricsHandler(_Wps):
    auth_required = False

    async def get(self, job_id: str) -> None:
        run = self.known_job(job_id)
        if run is None:
            return self.deleted(job_id)
        if run.started is None:
            return self.failure(500, "FailedGetMetrics", "GetMetrics",
                                f"Failed to get job metrics. No metrics for job {job_id} yet: it has not "
                                "started. Please contact administrator of DPS for clarification if needed")
        self.xml(200, metrics_xml(wps_metrics(await self.sb._metrics(run))))


def wps_metrics(ogc: dict[str, Any]) -> dict[str, Any]:
    """The OGC metrics under the WPS names and units (cpu in ns, memory in bytes)."""
    rss = ogc.get("max_resident_set_size")
    cpu = ogc.get("cpu_usage")
    return {
        "machine_type": ogc.get("machine_type"), "architecture": ogc.get("architecture"),
        "machine_memory_size": None, "directory_size": ogc.get("directory_size"),
        "operating_system": ogc.get("operating_system"), "job_start_time": ogc.get("job_start_time"),
        "job_end_time": ogc.get("job_end_time"), "job_duration_seconds": ogc.get("job_duration_seconds"),
        "cpu_usage": None if cpu is None else int(cpu * 1e9), "cache_usage": 0,
        "mem_usage": None if rss is None else rss * 1024, "max_mem_usage": None if rss is None else rss * 1024,
        "swap_usage": 0, "read_io_stats": 0, "write_io_stats": 0, "sync_io_stats": 0, "async_io_stats": 0,
        "total_io_stats": 0,
    }


class WpsCancelHandler(_Wps):
    def post(self, job_id: str) -> None:
        run = self.known_job(job_id)
        if run is None:
            return self.failure(500, "FailedJobSubmit", "Execute",
                                f"Failed to dismiss job {job_id}. Please try again or contact DPS "
                                f"administrator. Job with id {job_id} was not found.")
        status = run.ogc_status
        if status not in ("accepted", "running"):
            return self.failure(400, "FailedJobCancel", "Dismiss",
                                f"Not allowed to cancel job with status {HYSDS_NAMES[status]}")
        self.sb._dismiss(run)
        # The spec is silent on this answer. maap-api-nasa (``api/endpoints/job.py``, ``StopJobs.post``)
        # answers ``status_response(job_id, STATUS_JOB_QUEUED)`` for a queued and a running job alike:
        # the cancelled job's id with ``job-queued`` (the just-queued purge/revoke job's state), which
        # ``get_status`` renders "Accepted" — not the cancelled job's own status. (Its
        # ``wait_for_completion`` query parameter is not served here: the stand-in ignores it.)
        self.xml(202, status_xml(job_id, WPS_STATUS["accepted"]))


def wps_routes(sb: MaapSandbox) -> list[tuple[str, type, dict[str, Any]]]:
    """The WPS routes (before the generic ``dps/job/{id}`` one)."""
    args = {"sb": sb}
    rid = r"([^/]+)"
    return [
        (r"/api/dps/job/?", WpsSubmitHandler, args),
        (rf"/api/dps/job/cancel/{rid}/?", WpsCancelHandler, args),
        (rf"/api/dps/job/{rid}/status/?", WpsStatusHandler, args),
        (rf"/api/dps/job/{rid}/metrics/?", WpsMetricsHandler, args),
        (rf"/api/dps/job/{rid}/?", WpsResultHandler, args),
    ]
