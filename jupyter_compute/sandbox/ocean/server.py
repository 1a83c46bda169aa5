"""A faithful local stand-in of an Ocean Protocol Provider's Compute-to-Data endpoints.

Follows ``shared/specs/ocean-provider-compute.md``: the code-true variant by default (where the docs
and the Provider's code disagree, it answers as the code does), the docs' shapes with
``variant="docs"``. Imports nothing of jupyter_compute but ``_server.py``. Jobs really compute: see
``jobs.py`` for the pod-like folder and the algorithm run.

What it refuses
---------------
Each row is a test of ``tests/test_sandbox_ocean.py`` (``-k <test>``). Answers are 400 unless said;
``{x}`` stands for ``{"error": {x}}`` and "validation error" for ``{"message": "Validation error",
"errors": {<field>: [<text>]}, "success": false}``.

========================================  ====================================================  ===================
refused                                   answer                                                test
========================================  ====================================================  ===================
a signed call without consumerAddress or  validation error naming each field                    missing_fields
nonce
a start without an asset's order, an      the same: each missing field named; no nonce spent    every_asset
algorithm or an environment
a signature of the raw text (not of its   ``signature``: ``Invalid signature provided. …``      raw_text
keccak)
a signature by another key, or the        the same                                              another_key,
address in lower case                                                                           lower_case
a nonce not above the stored one (stale   ``Invalid signature expected nonce (X) > current      nonce_not_above
or reused)                                nonce (Y).``
an environment this Provider does not     ``{"error": "Environment invalid or does not          unknown_environment
have                                      exist"}``
a dataset DID this Provider does not      ``{"dataset.documentId": "did_not_found"}``           unknown_dataset_did
know                                      (additional datasets: ``"datasets[i].documentId"``)
a serviceId the dataset does not have     ``{"dataset.serviceId": "not_found"}``                service_the_dataset
an algorithm DID unknown here, or a       ``{"algorithm": "did_not_found"}`` / ``"not_algo"``   unknown_algorithm
dataset's DID
a raw algorithm (``meta``) without        ``{"algorithm": "meta_oneof_url_rawcode_remote"}``    without_code
rawcode
a raw or untrusted algorithm where the    ``{"dataset": "no_raw_algo_allowed"}`` /              dataset_rules
dataset forbids it                        ``"not_trusted_algo"``
a paid environment whose orders paid no   ``{"dataset": "fees_not_paid"}``                      unpaid_paid
fee
an order of another consumer, or of       ``{"dataset": "order_invalid"}``; an algorithm's      order_serves_only
another asset or service                  order: ``{"algorithm": "in_use_or_not_on_chain"}``
status without consumerAddress            validation error (another owner's jobs are not        status_is_unsigned
                                          listed)
stop or delete of another owner's job     200, nothing happens (stop answers ``[]``)            only_for_the_owner
a result of another owner's job           404 ``{"error": "Owner <address> mismatch for job     only_for_the_owner
                                          X"}``
a result of an unknown job, a negative    404 ``No results for job X`` / ``Negative index`` /   result_errors
or too large index; a result signed for   ``No such index N …``; 400 ``signature``
another index
========================================  ====================================================  ===================

An order binds at its first use to its consumer, asset and service (there is no chain to read it
from); any non-empty ``transferTxId`` is an order, a transaction hash (``0x`` + 64 hex) a paid one.

Starting it
-----------
::

    from jupyter_compute.sandbox.ocean import OceanProviderSandbox, DEMO_DATASET_DID, DEMO_DATASET_SERVICE_ID
    with OceanProviderSandbox(step_delay_s=0.05) as sb:      # or sb = OceanProviderSandbox().start() … sb.stop()
        sb.base_url            # "http://127.0.0.1:PORT"  (the Provider URL)
        sb.provider_address    # checksummed, from a fixed public test key

    python -m jupyter_compute.sandbox.ocean --port 8030 [--variant docs] [--step-delay-s 0.2]

``OceanProviderSandbox(port=0, host="127.0.0.1", *, chain_id=8996, variant="code", step_delay_s=0.2,
work_dir=None)``; ``work_dir`` holds the seeded demo file and the job folders (a temp dir removed at
``stop()`` when not given). Seeded: ``DEMO_DATASET_DID`` (``DEMO_DATASET_CSV``, 10 rows of numbers;
its compute service is ``DEMO_DATASET_SERVICE_ID``) and ``DEMO_ALGORITHM_DID`` (summarises every
input CSV into ``summary.csv``: one row per numeric column with dataset,column,count,sum,mean,min,
max; ``algocustomdata`` ``{"columns": [...]}`` narrows it). Environments ``FREE_ENVIRONMENT_ID``
(priceMin 0) and ``PAID_ENVIRONMENT_ID`` (a GPU one, priceMin 1.5). Methods:
``register_dataset(did, path, *, service_id="compute", allow_raw_algorithm=True, trusted_algorithms=None)``,
``register_algorithm(did, code, *, image="python", tag="3.11", entrypoint="python $ALGO")``,
``job(job_id)`` (a snapshot: the status object plus ``environment``, ``history`` (every status
taken), ``folder``, ``note``, ``pid``; KeyError when unknown), ``nonce_of(address)`` (0 when none);
attribute ``requests`` (a copy of the last 10,000 ``(method, path, query params)``).

Routes (code-true)
------------------
- ``GET /`` → ``serviceEndpoints`` {name: [method, path]} (nonce + compute endpoints),
  ``providerAddresses`` {"<chain id>": address}, ``chainIds``, ``software``, ``version``
  (docs: one ``providerAddress``).
- ``GET /api/services/nonce?userAddress=`` → ``{"nonce": <stored>}`` (0 for a new address).
- ``GET /api/services/computeEnvironments`` → ``{"<chain id>": [env, …]}`` (``chainId`` ignored);
  docs: a flat list, ``nCPU``/``nGPU``, and ramGB/diskGB/priceMin/maxJobDuration as strings.
- ``POST /api/services/compute`` (JSON; signed ``consumerAddress + dataset.documentId``) → ``[status]``.
  Validated as the Provider's ``ComputeStartRequest``: ``dataset.documentId``, ``dataset.serviceId``
  and ``dataset.transferTxId`` (the order of the dataset) are required; ``algorithm.documentId`` is
  required without ``algorithm.meta`` and when ``algorithm.serviceId`` and ``algorithm.transferTxId``
  are given, ``algorithm.meta`` without ``algorithm.documentId``; a published (DID) algorithm needs
  its order too (``algorithm.serviceId``, ``algorithm.transferTxId``; any values), and each of
  ``additionalDatasets`` its ``documentId``, ``serviceId`` and ``transferTxId``; then
  ``consumerAddress``, ``nonce`` (numeric) and the signature. Every missing field is named in one
  validation error. There is no chain: any non-empty ``transferTxId`` stands for an order, except
  in a paid environment, whose provider fee only a real transaction pays — there every dataset's
  ``transferTxId`` must be a transaction hash (``0x`` + 64 hex digits), else 400
  ``{"error": {"dataset": "fees_not_paid"}}``. Unknown DIDs, services and orders are refused (see the
  table above); a ``meta`` with a non-Python entrypoint is accepted and ends 32 (this sandbox runs
  Python only), a dataset whose file has gone ends 31. ``agreementId`` is ``dataset.transferTxId``.
- ``GET /api/services/compute?consumerAddress=[&jobId=]`` (unsigned; ``signature``/``nonce`` ignored,
  nothing stored) → always an array: the owner's jobs whose ``owner`` equals ``consumerAddress``
  exactly, so another owner's job answers ``[]`` (as the operator's SQL filter does).
- ``PUT /api/services/compute`` (signed ``consumerAddress + jobId + documentId``; no jobId: all the
  owner's jobs) → status array; an unfinished job gets ``stopreq`` 1, its algorithm is killed and
  it still publishes and ends at 70 (a finished job is left as it is). A stop that comes before the
  algorithm started means it never starts (no status 40).
- ``DELETE /api/services/compute`` (signed as PUT) → 200 with the JSON body ``""`` (what the code
  sends; docs: the status array with status 8). The job is gone afterwards.
- ``GET /api/services/computeResult?jobId&index&consumerAddress&nonce&signature`` (signed
  ``consumerAddress + jobId + index``) → the bytes, ``Content-Disposition: attachment;filename=<name>``;
  404 ``{"error": …}``: ``No results for job X``, ``Owner <address> mismatch for job X``,
  ``Negative index``, ``No such index N in this compute job``.

Signatures are checked as the Provider does: ``msg = <signed string> + str(nonce)``, the signer is
recovered from ``encode_defunct(primitive=keccak(text=msg))`` and compared as a string with
``consumerAddress`` (send it checksummed); ``v`` may be 27/28 or 0/1, with or without ``0x``. The
nonce must be > the stored one, else 400 ``Invalid signature expected nonce (<stored>) > current
nonce (<sent>).``; it is stored only when the signature is good (then a start refused later, say
for an unknown DID, has spent it, as on the Provider, whose request validation stores it). Errors:
400 ``{"message": "Validation error", "errors": {<field>: [<text>]}, "success": false}`` (a missing
field, a bad signature, a stale nonce), 400 ``{"error": "Environment invalid or does not exist"}``,
400 ``{"error": {<where>: <code>}}`` (the table above), 404 ``{"error": …}`` for unknown routes, 503
``{"error": …}`` for anything unexpected.

What an algorithm sees
----------------------
As in the operator engine's pod (the spec's "What the algorithm sees"), with the job's ``data``
folder in place of ``/data`` (a real pod mounts ``/data``; a stand-in cannot), so code written for a
real pod runs unchanged: ``VOLUME`` (the ``data`` folder), ``INPUTS`` (``$VOLUME/inputs``), ``OUTPUTS``
(``$VOLUME/outputs``), ``LOGS`` (``$VOLUME/logs``), ``DIDS`` (a JSON list of the input DIDs) and
``TRANSFORMATION_DID`` (the algorithm DID, or ``raw``); also ``ALGO`` (the algorithm's path, which the
entrypoint ``python $ALGO`` names). Files: each dataset's file at ``$INPUTS/<did>/0``, the custom data
(``algorithm.algocustomdata``, ``{}`` when none) at ``$INPUTS/algoCustomData.json``, ``$VOLUME/ddos/<did>``,
the code at ``$VOLUME/transformations/algorithm``. It runs as ``<this Python> <algorithm file>`` with the
job's folder as working directory. Every file written under ``$OUTPUTS`` becomes an ``output`` result;
its stdout and stderr become ``algorithm.log`` (``algorithmLog``); ``configure.log`` is listed last as
``configrationLog`` (sic). The environment's ``maxJobDuration`` bounds a run (killed, ``stopreq`` 2).
An algorithm that fails (an exception, a non-zero exit) still ends at 70 with ``stopreq`` 0, as the
operator engine's jobs do: its failure shows as a job without ``output`` results and a traceback in
its log (the spec: "failure or stop is read from ``stopreq``/results").
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import mimetypes
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import tornado.web
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address

from .._server import ThreadedServer, cli_parser, serve_until_stopped
from .jobs import Algorithm, Dataset, Job, JobRunner, status_object

log = logging.getLogger(__name__)

# A fixed, public test key: the sandbox Provider's identity (never use it for anything real).
PROVIDER_TEST_KEY = keccak(text="jupyter-compute/ocean-sandbox/provider-key")
OPERATOR_ADDRESS = to_checksum_address(keccak(text="jupyter-compute/ocean-sandbox/operator")[-20:])
FEE_TOKEN_ADDRESS = to_checksum_address(keccak(text="jupyter-compute/ocean-sandbox/fee-token")[-20:])

DEMO_DATASET_DID = "did:op:" + keccak(text="jupyter-compute/ocean-sandbox/demo-dataset").hex()
DEMO_ALGORITHM_DID = "did:op:" + keccak(text="jupyter-compute/ocean-sandbox/demo-algorithm").hex()
DEMO_DATASET_SERVICE_ID = "compute"
FREE_ENVIRONMENT_ID = "ocean-compute"
PAID_ENVIRONMENT_ID = "ocean-compute-gpu"

_TEMPERATURE = (12, 15, 11, 17, 14, 19, 13, 16, 18, 20)
_RAINFALL = (0.0, 2.5, 1.0, 0.0, 4.5, 3.0, 0.5, 0.0, 2.0, 1.5)
DEMO_DATASET_CSV = "day,temperature,rainfall\n" + "".join(
    f"{day},{t},{r}\n" for day, t, r in zip(range(1, 11), _TEMPERATURE, _RAINFALL, strict=True))

DEMO_ALGORITHM_CODE = '''\
"""Summarise every input CSV: count, sum, mean, min and max of each numeric column."""
import csv
import json
import os
from pathlib import Path

inputs = Path(os.environ.get("INPUTS", "/data/inputs"))
outputs = Path(os.environ.get("OUTPUTS", "/data/outputs"))
custom = json.loads((inputs / "algoCustomData.json").read_text() or "{}")
wanted = custom.get("columns") if isinstance(custom, dict) else None


def fmt(x):
    return str(int(x)) if float(x).is_integer() else repr(round(x, 6))


rows = []
for did in json.loads(os.environ.get("DIDS", "[]")):
    for path in sorted((inputs / did).iterdir()):
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            table = list(reader)
        for column in reader.fieldnames or []:
            if wanted and column not in wanted:
                continue
            try:
                values = [float(r[column]) for r in table if r[column].strip()]
            except ValueError:
                continue
            if values:
                rows.append([did, column, len(values), fmt(sum(values)), fmt(sum(values) / len(values)),
                             fmt(min(values)), fmt(max(values))])
outputs.mkdir(parents=True, exist_ok=True)
with (outputs / "summary.csv").open("w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["dataset", "column", "count", "sum", "mean", "min", "max"])
    writer.writerows(rows)
print(f"summarised {len(rows)} columns")
'''

ENVIRONMENTS: tuple[dict[str, Any], ...] = (
    {"id": FREE_ENVIRONMENT_ID, "cpuNumber": 2, "cpuType": "AMD EPYC 7B13 (sandbox)", "gpuNumber": 0,
     "gpuType": "", "ramGB": 4, "diskGB": 10, "priceMin": 0, "desc": "Free CPU environment (sandbox)",
     "maxJobs": 8, "storageExpiry": 604800, "maxJobDuration": 3600},
    {"id": PAID_ENVIRONMENT_ID, "cpuNumber": 8, "cpuType": "AMD EPYC 7B13 (sandbox)", "gpuNumber": 1,
     "gpuType": "NVIDIA T4", "ramGB": 32, "diskGB": 100, "priceMin": 1.5,
     "desc": "GPU environment, paid (sandbox)", "maxJobs": 2, "storageExpiry": 604800, "maxJobDuration": 36000},
)
SERVICE_PATHS = {
    "nonce": ("GET", "/api/services/nonce"),
    "computeEnvironments": ("GET", "/api/services/computeEnvironments"),
    "computeStart": ("POST", "/api/services/compute"),
    "computeStatus": ("GET", "/api/services/compute"),
    "computeStop": ("PUT", "/api/services/compute"),
    "computeDelete": ("DELETE", "/api/services/compute"),
    "computeResult": ("GET", "/api/services/computeResult"),
}
MSG_ENV_INVALID = "Environment invalid or does not exist"
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class ProviderError(tornado.web.HTTPError):
    """An answer in one of the Provider's error shapes."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.body = body


def validation_error(errors: dict[str, list[str]]) -> ProviderError:
    return ProviderError(400, {"message": "Validation error", "errors": errors, "success": False})


def _required(field: str, when: str = "") -> str:
    return f"The {field} field is required{when}."


def _given(value: Any) -> bool:
    """What the Provider's ``required`` rule accepts: anything but a missing value, "" or an empty list."""
    return value is not None and value != "" and value != [] and value != {}


def recover_signer(message: str, signature: Any) -> str | None:
    """The checksummed address that signed keccak(message) with the Ethereum prefix, or None."""
    if not isinstance(signature, str):
        return None
    text = signature[2:] if signature[:2].lower() == "0x" else signature
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    if len(raw) != 65 or raw[64] not in (0, 1, 27, 28):
        return None
    if raw[64] < 27:
        raw = raw[:64] + bytes([raw[64] + 27])
    try:
        return Account.recover_message(encode_defunct(primitive=keccak(text=message)), signature=raw)
    except Exception:  # noqa: BLE001 - any unrecoverable signature is simply invalid
        return None


def _parse_nonce(raw: Any) -> tuple[Decimal, str] | None:
    if raw is None or isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return None
    text = raw if isinstance(raw, str) else str(raw)
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return (value, text) if value.is_finite() else None


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class OceanProviderSandbox(ThreadedServer):
    """The Provider stand-in (see the module docstring)."""

    thread_name = "ocean-provider-sandbox"

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, chain_id: int = 8996, variant: str = "code",
                 step_delay_s: float = 0.2, work_dir: str | Path | None = None) -> None:
        if variant not in ("code", "docs"):
            raise ValueError(f"variant must be 'code' or 'docs', not {variant!r}")
        super().__init__(port, host)
        self.chain_id = int(chain_id)
        self.variant = variant
        self.step_delay_s = float(step_delay_s)
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="ocean-sandbox-"))
        (self.work_dir / "assets").mkdir(parents=True, exist_ok=True)
        self.provider_address: str = Account.from_key(PROVIDER_TEST_KEY).address
        self._lock = threading.RLock()
        self._nonces: dict[str, Decimal] = {}
        self._datasets: dict[str, Dataset] = {}
        self._algorithms: dict[str, Algorithm] = {}
        self._jobs: dict[str, Job] = {}
        self._orders: dict[str, tuple[str, str, str]] = {}  # transferTxId → (consumer, did, serviceId)
        self._requests: collections.deque[tuple[str, str, dict[str, str]]] = collections.deque(maxlen=10_000)
        self._requests_lock = threading.Lock()
        self._runner = JobRunner(self._lock, lambda: self.step_delay_s)

        demo = self.work_dir / "assets" / "demo-numbers.csv"
        demo.write_text(DEMO_DATASET_CSV, encoding="utf-8")
        self.register_dataset(DEMO_DATASET_DID, demo)
        self.register_algorithm(DEMO_ALGORITHM_DID, DEMO_ALGORITHM_CODE)

    # ------------------------------------------------------------------ public API
    def register_dataset(self, did: str, path: str | Path, *, service_id: str = DEMO_DATASET_SERVICE_ID,
                         allow_raw_algorithm: bool = True, trusted_algorithms: Iterable[str] | None = None) -> None:
        """Publish a dataset: compute jobs on ``did``, ordered through its service ``service_id``, get ``path``."""
        if not isinstance(did, str) or not did.strip():
            raise ValueError("did must be a non-empty string")
        if not isinstance(service_id, str) or not service_id.strip():
            raise ValueError("service_id must be a non-empty string")
        file = Path(path).resolve()
        if not file.is_file():
            raise FileNotFoundError(file)
        trusted = frozenset(trusted_algorithms) if trusted_algorithms is not None else None
        with self._lock:
            self._datasets[did] = Dataset(did, file, service_id, bool(allow_raw_algorithm), trusted)

    def register_algorithm(self, did: str, code: str, *, image: str = "python", tag: str = "3.11",
                           entrypoint: str = "python $ALGO") -> None:
        """Publish an algorithm asset: ``code`` is run for jobs naming ``did``."""
        if not isinstance(did, str) or not did.strip():
            raise ValueError("did must be a non-empty string")
        if not isinstance(code, str):
            raise TypeError("code must be a string")
        with self._lock:
            self._algorithms[did] = Algorithm(did, code, image, tag, entrypoint)

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        with self._requests_lock:
            return [(m, p, dict(q)) for m, p, q in self._requests]

    def job(self, job_id: str) -> dict[str, Any]:
        """A snapshot of one job, for tests (KeyError when unknown)."""
        with self._lock:
            job = self._jobs[job_id]
            return {**status_object(job, "code"), "environment": job.environment, "history": list(job.history),
                    "folder": str(job.folder), "note": job.note, "pid": job.pid}

    def nonce_of(self, address: str) -> int | float:
        """The nonce stored for ``address`` (0 when none)."""
        with self._lock:
            return _plain(self._nonces.get(address.lower(), Decimal(0)))

    # ------------------------------------------------------------------ server plumbing
    def _make_app(self) -> tornado.web.Application:
        args = {"sb": self}
        return tornado.web.Application([
            (r"/", _RootHandler, args),
            (r"/api/services/nonce", _NonceHandler, args),
            (r"/api/services/computeEnvironments", _EnvironmentsHandler, args),
            (r"/api/services/compute", _ComputeHandler, args),
            (r"/api/services/computeResult", _ResultHandler, args),
        ], default_handler_class=_NotFoundHandler, default_handler_args=args)

    async def _shutdown(self) -> None:
        self._runner.closing.set()
        await super()._shutdown()

    def _after_stop(self) -> None:
        self._runner.close()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _record(self, method: str, path: str, query: dict[str, str]) -> None:
        with self._requests_lock:  # not the jobs' lock, which a job's thread may hold: this runs on the loop
            self._requests.append((method, path, query))

    # ------------------------------------------------------------------ answers
    def _root(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "chainIds": [self.chain_id],
            "serviceEndpoints": {name: [m, p] for name, (m, p) in SERVICE_PATHS.items()},
            "software": "Provider",
        }
        if self.variant == "docs":
            body.update(providerAddress=self.provider_address, version="1.3.4")
        else:
            body.update(providerAddresses={str(self.chain_id): self.provider_address}, version="2.1.6")
        return body

    def _environments(self) -> Any:
        now = time.time()
        with self._lock:
            busy = collections.Counter(j.environment for j in self._jobs.values() if j.finished is None)
        envs = [{**env, "currentJobs": busy[env["id"]], "consumerAddress": OPERATOR_ADDRESS, "lastSeen": now,
                 "feeToken": FEE_TOKEN_ADDRESS} for env in ENVIRONMENTS]
        if self.variant == "code":
            return {str(self.chain_id): envs}
        docs = []
        for env in envs:
            env = {("nCPU" if k == "cpuNumber" else "nGPU" if k == "gpuNumber" else k): v for k, v in env.items()}
            docs.append({**env, **{k: str(env[k]) for k in ("ramGB", "diskGB", "priceMin", "maxJobDuration")}})
        return docs

    def _verify(self, data: dict[str, Any], signed: Callable[[str], str], errors: dict[str, list[str]]) -> str:
        """Check consumerAddress, nonce and signature as the Provider does; the consumer on success.

        ``errors`` are the caller's own validation errors, refused together with these fields'."""
        consumer, (value, text) = _consumer_and_nonce(data, errors)
        with self._lock:  # check and store at once: a nonce is good for one call only
            stored = self._nonces.get(consumer.lower(), Decimal(0))
            if value <= stored:
                raise validation_error({"signature": [
                    f"Invalid signature expected nonce ({_plain(stored)}) > current nonce ({text})."]})
            _check_signature(signed(consumer) + text, data.get("signature"), consumer)
            self._nonces[consumer.lower()] = value
        return consumer

    def _start(self, data: Any) -> list[dict[str, Any]]:
        request = self._start_request(data)
        with self._lock:
            job = self._accept(request)
            answer = [status_object(job, self.variant)]
        log.info("job %s started for %s on %s (algorithm %s)", job.job_id, job.owner, job.environment, job.algo_did)
        self._runner.start(job)
        return answer

    def _start_request(self, data: Any) -> _StartRequest:
        """A start's fields, signature (a good one spends the nonce) and environment, checked in that order."""
        if not isinstance(data, dict):
            raise ProviderError(400, {"error": "The request body must be a JSON object"})
        dataset, algo = _object_at(data, "dataset"), _object_at(data, "algorithm")
        extra = data.get("additionalDatasets") or []
        errors = _start_errors(data, dataset, algo, extra)
        owner = self._verify(data, lambda c: f"{c}{dataset.get('documentId', '')}", errors)
        env = next((e for e in ENVIRONMENTS if e["id"] == data["environment"]), None)
        if env is None:
            raise ProviderError(400, {"error": MSG_ENV_INVALID})
        return _StartRequest(owner, env, [dataset, *extra], algo)

    def _accept(self, request: _StartRequest) -> Job:
        """Check a start's assets and orders (under the lock) and keep its new job."""
        algorithm, algo_did = self._algorithm_of(request.algorithm)
        files = [self._dataset_of(item, i, algo_did) for i, item in enumerate(request.datasets)]
        if algorithm.code is None:
            raise ProviderError(400, {"error": {"algorithm": "meta_oneof_url_rawcode_remote"}})
        if request.environment["priceMin"] > 0 and not all(
                _TX_HASH.fullmatch(str(item["transferTxId"])) for item in request.datasets):
            raise ProviderError(400, {"error": {"dataset": "fees_not_paid"}})
        self._take_orders(request.owner, request.datasets, request.algorithm, algo_did)
        job_id = uuid.uuid4().hex
        custom = request.algorithm.get("algocustomdata")
        job = Job(job_id=job_id, owner=request.owner, agreement_id=str(request.datasets[0]["transferTxId"]),
                  environment=request.environment["id"], algorithm=algorithm, datasets=files,
                  algocustomdata={} if custom is None else custom,
                  max_duration_s=float(request.environment["maxJobDuration"]),
                  folder=self.work_dir / "jobs" / job_id, algo_did=algo_did)
        self._jobs[job_id] = job
        return job

    def _algorithm_of(self, algo: dict[str, Any]) -> tuple[Algorithm, str]:
        """The algorithm to run and its DID ("raw" for ``meta``); refuses a DID that is no algorithm here."""
        meta = algo.get("meta")
        if meta:
            return _raw_algorithm(meta), "raw"
        did = str(algo["documentId"])
        if did in self._algorithms:
            return self._algorithms[did], did
        raise ProviderError(400, {"error": {"algorithm": "not_algo" if did in self._datasets else "did_not_found"}})

    def _dataset_of(self, item: dict[str, Any], index: int, algo_did: str) -> tuple[str, Path]:
        """(did, file) of one input, checked as the Provider's InputItemValidator does."""
        where = _dataset_field(index)
        did = str(item["documentId"])
        known = self._datasets.get(did)
        if known is None:
            raise ProviderError(400, {"error": {f"{where}.documentId": "did_not_found"}})
        if str(item["serviceId"]) != known.service_id:
            raise ProviderError(400, {"error": {f"{where}.serviceId": "not_found"}})
        if algo_did == "raw" and not known.allow_raw_algorithm:
            raise ProviderError(400, {"error": {where: "no_raw_algo_allowed"}})
        if algo_did != "raw" and known.trusted_algorithms is not None and algo_did not in known.trusted_algorithms:
            raise ProviderError(400, {"error": {where: "not_trusted_algo"}})
        return did, known.path

    def _take_orders(self, consumer: str, datasets: list[dict[str, Any]], algo: dict[str, Any], algo_did: str) -> None:
        """Bind each order (transferTxId) to its consumer and asset at first use; refuse it for anyone or
        anything else, as the Provider's order check does (an order names its consumer and service)."""
        wanted: list[tuple[str, str, tuple[str, str, str]]] = [
            (_dataset_field(i), str(item["transferTxId"]),
             (consumer, str(item["documentId"]), str(item["serviceId"]))) for i, item in enumerate(datasets)]
        if algo_did != "raw":
            wanted.append(("algorithm", str(algo["transferTxId"]), (consumer, algo_did, str(algo["serviceId"]))))
        for where, tx, use in wanted:
            bound = self._orders.get(tx)
            if bound is not None and bound != use:
                code = "in_use_or_not_on_chain" if where == "algorithm" else "order_invalid"
                raise ProviderError(400, {"error": {where: code}})
        for _, tx, use in wanted:
            self._orders.setdefault(tx, use)

    def _owned(self, owner: str, job_id: str | None) -> list[Job]:
        return [j for j in self._jobs.values() if j.owner == owner and (not job_id or j.job_id == job_id)]

    def _status(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        consumer = data.get("consumerAddress")
        if not consumer:
            raise validation_error({"consumerAddress": [_required("consumerAddress")]})
        with self._lock:
            return [status_object(j, self.variant) for j in self._owned(consumer, data.get("jobId"))]

    def _stop(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Stop the signer's job (or all its jobs); their status objects."""
        jobs = self._signed_jobs(data, forget=False)
        for job in jobs:
            self._runner.stop(job)
        with self._lock:
            return [status_object(j, self.variant) for j in jobs]

    def _delete(self, data: dict[str, Any]) -> Any:
        """Stop and forget the signer's job (or all its jobs): "" (code), or their status objects with
        status 8 (docs)."""
        jobs = self._signed_jobs(data, forget=True)
        for job in jobs:
            self._runner.delete(job)
        if self.variant != "docs":
            return ""
        with self._lock:
            return [status_object(j, "docs", status=8) for j in jobs]

    def _signed_jobs(self, data: dict[str, Any], *, forget: bool) -> list[Job]:
        """The jobs a stop or delete signed by their owner names (``forget``: no longer kept)."""
        job_id = data.get("jobId") or ""
        owner = self._verify(data, lambda c: f"{c}{job_id}{data.get('documentId') or ''}", {})
        with self._lock:
            jobs = self._owned(owner, job_id)
            if forget:
                for job in jobs:
                    del self._jobs[job.job_id]
        return jobs

    def _result(self, data: dict[str, Any]) -> tuple[Path, str]:
        """(file, name) of the result a signed computeResult request names."""
        errors = {k: [_required(k)] for k in ("jobId", "index") if data.get(k) in (None, "")}
        raw_index = data.get("index")
        index = _int_or_none(raw_index)
        if index is None:
            errors.setdefault("index", ["The index must be an integer."])
        job_id = str(data.get("jobId") or "")
        owner = self._verify(data, lambda c: f"{c}{job_id}{raw_index}", errors)
        assert index is not None  # else ``errors`` named the index and _verify refused the request
        with self._lock:
            return _result_file(self._jobs.get(job_id), job_id, owner, index)


@dataclass(frozen=True)
class _StartRequest:
    """A compute start whose fields and signature are good."""

    owner: str
    environment: dict[str, Any]
    datasets: list[dict[str, Any]]  # ``dataset``, then ``additionalDatasets``
    algorithm: dict[str, Any]


#: The fields that name an ordered asset.
_ORDER_FIELDS = ("documentId", "serviceId", "transferTxId")


def _object_at(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` when it is an object, else an empty one."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _missing(item: dict[str, Any], prefix: str, keys: Iterable[str], when: str = "") -> dict[str, list[str]]:
    """The validation errors of the ``keys`` that ``item`` (named ``prefix``) lacks."""
    return {f"{prefix}.{key}": [_required(f"{prefix}.{key}", when)] for key in keys if not _given(item.get(key))}


def _start_errors(data: dict[str, Any], dataset: dict[str, Any], algo: dict[str, Any],
                  extra: Any) -> dict[str, list[str]]:
    """The start request's missing fields, as the Provider's ComputeStartRequest rules name them."""
    errors = _missing(dataset, "dataset", _ORDER_FIELDS)
    errors.update(_algorithm_errors(algo))
    errors.update(_additional_dataset_errors(extra))
    if not _given(data.get("environment")):
        errors["environment"] = [_required("environment")]
    return errors


def _algorithm_errors(algo: dict[str, Any]) -> dict[str, list[str]]:
    """The rules on ``algorithm``: what it is (a DID or ``meta``), then its order."""
    meta, did = algo.get("meta"), algo.get("documentId")
    errors = _algorithm_source_errors(meta, did)
    errors.update(_algorithm_order_errors(algo, _given(meta), _given(did)))  # may reword documentId's error
    return errors


def _algorithm_source_errors(meta: Any, did: Any) -> dict[str, list[str]]:
    """``algorithm.documentId`` or ``algorithm.meta`` is required, and ``meta`` is an object."""
    if not _given(meta) and not _given(did):
        return {"algorithm.documentId": ["The algorithm.documentId field is required when algorithm.meta is not "
                                         "present."],
                "algorithm.meta": ["The algorithm.meta field is required when algorithm.documentId is not present."]}
    if _given(meta) and not isinstance(meta, dict):
        return {"algorithm.meta": ["The algorithm.meta must be an object."]}
    return {}


def _algorithm_order_errors(algo: dict[str, Any], meta_given: bool, did_given: bool) -> dict[str, list[str]]:
    """A published algorithm is ordered like a dataset; an order names a published algorithm."""
    if did_given:
        return {} if meta_given else _missing(algo, "algorithm", ("serviceId", "transferTxId"),
                                              " when algorithm.documentId is present")
    if _given(algo.get("serviceId")) and _given(algo.get("transferTxId")):
        return {"algorithm.documentId": ["The algorithm.documentId field is required when algorithm.serviceId, "
                                         "algorithm.transferTxId are present."]}
    return {}


def _additional_dataset_errors(extra: Any) -> dict[str, list[str]]:
    """Every item of ``additionalDatasets`` names its asset and order."""
    if not isinstance(extra, list):
        return {"additionalDatasets": ["The additionalDatasets must be a list."]}
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(extra):
        errors.update(_missing(item if isinstance(item, dict) else {}, f"additionalDatasets.{i}", _ORDER_FIELDS))
    return errors


def _dataset_field(index: int) -> str:
    """How the Provider names an input in its errors: ``dataset``, then ``datasets[1]``, …"""
    return f"datasets[{index}]" if index else "dataset"


def _raw_algorithm(meta: dict[str, Any]) -> Algorithm:
    """The algorithm a start's ``algorithm.meta`` gives (its code None when it has no ``rawcode``)."""
    container = _object_at(meta, "container")
    rawcode = meta.get("rawcode")
    code = rawcode if isinstance(rawcode, str) and rawcode.strip() else None
    return Algorithm("raw", code, str(container.get("image") or "python"), str(container.get("tag") or "latest"),
                     str(container.get("entrypoint") or "python $ALGO"))


def _consumer_and_nonce(data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, tuple[Decimal, str]]:
    """consumerAddress and the nonce (value, as sent); a validation error naming them and ``errors`` if any."""
    errors = dict(errors)
    consumer = data.get("consumerAddress")
    if not consumer or not isinstance(consumer, str):
        errors["consumerAddress"] = [_required("consumerAddress")]
    nonce = _parse_nonce(data.get("nonce"))
    if data.get("nonce") in (None, ""):
        errors["nonce"] = [_required("nonce")]
    elif nonce is None:
        errors["nonce"] = ["The nonce must be a number."]
    if not errors and isinstance(consumer, str) and nonce is not None:  # (no errors: both are good)
        return consumer, nonce
    raise validation_error(errors)


def _check_signature(message: str, signature: Any, consumer: str) -> None:
    """Refuse a signature of ``message`` that is not the consumer's."""
    signer = recover_signer(message, signature)
    if signer is None or signer != consumer:
        raise validation_error({"signature": [
            f"Invalid signature provided. The signature of {message!r} recovers to {signer or 'nothing'}, "
            f"not {consumer}: sign keccak(message) with the Ethereum message prefix and send the "
            "EIP-55 checksummed address."]})


def _int_or_none(raw: Any) -> int | None:
    try:
        return int(str(raw))
    except ValueError:
        return None


def _result_file(job: Job | None, job_id: str, owner: str, index: int) -> tuple[Path, str]:
    """(file, name) of a job's result ``index``; the Provider's 404 when there is none for ``owner``."""
    if job is None:
        raise ProviderError(404, {"error": f"No results for job {job_id}"})
    if job.owner != owner:
        raise ProviderError(404, {"error": f"Owner {owner} mismatch for job {job_id}"})
    if index < 0:
        raise ProviderError(404, {"error": "Negative index"})
    if not job.results:
        raise ProviderError(404, {"error": f"No results for job {job_id}"})
    if index >= len(job.results):
        raise ProviderError(404, {"error": f"No such index {index} in this compute job"})
    return job.result_paths[index], job.results[index]["filename"]


# ---------------------------------------------------------------------- handlers
class _Base(tornado.web.RequestHandler):
    def initialize(self, sb: OceanProviderSandbox) -> None:
        self.sb = sb

    def check_xsrf_cookie(self) -> None:  # an API, not a form
        return

    def prepare(self) -> None:
        self.sb._record(self.request.method or "", self.request.path, self.query())

    def query(self) -> dict[str, str]:
        return {k: v[0].decode("utf-8", "replace") for k, v in self.request.query_arguments.items() if v}

    def data(self) -> dict[str, Any]:
        """The request's parameters: its query, or its JSON body when there is no query."""
        query = self.query()
        if query or not self.request.body:
            return query
        try:
            body = json.loads(self.request.body)
        except ValueError:
            raise ProviderError(400, {"error": "The request body is not valid JSON"}) from None
        return body if isinstance(body, dict) else {}

    def send(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ProviderError):
            self.send(exc.status_code, exc.body)
        elif status_code >= 500:
            self.send(503, {"error": f"{type(exc).__name__}: {exc}" if exc else self._reason})
        else:
            self.send(status_code, {"error": self._reason})


class _NotFoundHandler(_Base):
    def prepare(self) -> None:
        super().prepare()
        raise ProviderError(404, {"error": f"Not found: {self.request.method} {self.request.path}"})


class _RootHandler(_Base):
    def get(self) -> None:
        self.send(200, self.sb._root())


class _NonceHandler(_Base):
    async def get(self) -> None:
        address = self.query().get("userAddress")
        if not address:
            raise validation_error({"userAddress": [_required("userAddress")]})
        # read on a worker thread, as every answer that takes the lock: a job's thread may hold it
        self.send(200, {"nonce": await asyncio.to_thread(self.sb.nonce_of, address)})


class _EnvironmentsHandler(_Base):
    async def get(self) -> None:
        self.send(200, await asyncio.to_thread(self.sb._environments))


class _ComputeHandler(_Base):
    """The compute endpoints. Each answer is worked out on a worker thread: recovering a signer is CPU
    work, and stop, delete and start wait for the job runner's lock (the sandbox is thread-safe)."""

    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            raise ProviderError(400, {"error": "The request body is not valid JSON"}) from None
        self.send(200, await asyncio.to_thread(self.sb._start, body))

    async def get(self) -> None:
        self.send(200, await asyncio.to_thread(self.sb._status, self.data()))

    async def put(self) -> None:
        self.send(200, await asyncio.to_thread(self.sb._stop, self.data()))

    async def delete(self) -> None:
        self.send(200, await asyncio.to_thread(self.sb._delete, self.data()))


class _ResultHandler(_Base):
    async def get(self) -> None:
        path, name = await asyncio.to_thread(self.sb._result, self.data())
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except OSError:
            raise ProviderError(404, {"error": f"No results for job {self.query().get('jobId', '')}"}) from None
        with handle:
            self.set_header("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream")
            self.set_header("Content-Disposition", f"attachment;filename={name}")
            while chunk := await asyncio.to_thread(handle.read, 1 << 16):
                self.write(chunk)
                await self.flush()
        self.finish()


# ---------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("ocean", "Local stand-in of an Ocean Protocol Provider (Compute-to-Data)")
    parser.add_argument("--chain-id", type=int, default=8996)
    parser.add_argument("--variant", choices=("code", "docs"), default="code")
    parser.add_argument("--step-delay-s", type=float, default=0.2)
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args(argv)
    sandbox = OceanProviderSandbox(args.port, args.host, chain_id=args.chain_id, variant=args.variant,
                                   step_delay_s=args.step_delay_s, work_dir=args.work_dir)
    return serve_until_stopped(sandbox, lambda sb: (
        f"Ocean Provider sandbox at {sb.base_url}  (chain {sb.chain_id}, provider {sb.provider_address}, "
        f"{sb.variant} variant)\n"
        f"dataset {DEMO_DATASET_DID} (service {DEMO_DATASET_SERVICE_ID})\nalgorithm {DEMO_ALGORITHM_DID}\n"
        f"environments {FREE_ENVIRONMENT_ID} (free), {PAID_ENVIRONMENT_ID} (paid)"))

