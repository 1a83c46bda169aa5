"""The ``maap`` backend's ``swagger`` flavour: the published "MAAP API - DPS Job Submission" (``/api/v1/…``).

A job *definition* (algorithm + granules) is created — or reused when one for the same algorithm and
the same granule set exists — then one *entry* (a run) is created and started, three calls in that
order. The entry id is the remote id. The service can call back with each step's JobStepResults:
the callback URL the server hands us (``webhook_url``) goes into ``callback_uri``. That API has no
cancel, so ``can_cancel`` is False; it has no queues either.

Callbacks: a JobStepResults describes one step, not the entry: the body does not say how many steps
there are, so a SUCCESS step need not be the last, and callbacks may arrive out of order.
:meth:`MaapSwaggerBackend.handle_webhook` therefore checks the body's shape and answers None: the
server re-reads the entry at once, and the entry's own status is the one recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from ...errors import BackendError, InvalidSpec, NotSupported
from ...forms import NOT_BLANK_TEXT, FormField
from ...models import Environment, JobSpec, JobState, RemoteStatus, map_native_status
from ..base import Capabilities, Submission
from .base import MaapBackend, _time
from .storage import ProductIndex

#: JobEntry / JobStepResults statuses of the swagger API.
SWAGGER_STATUS: Mapping[str, JobState] = {
    "PENDING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "SUCCESS": JobState.SUCCEEDED,
    "ERROR": JobState.FAILED,
    "CANCELED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMED_OUT,
}
SWAGGER_CAPABILITIES = Capabilities(can_list=True, has_results=True, has_webhooks=True, can_proxy=True)
SWAGGER_PAGE = 50


def parse_step(body: Any) -> dict[str, Any]:
    """Check a swagger JobStepResults (a callback body); InvalidSpec(field="body") naming what is wrong."""
    step = _step_object(body)
    for problem_of in _STEP_CHECKS:
        why = problem_of(step)
        if why is not None:
            raise InvalidSpec(f"not a JobStepResults: {why}", field="body")
    return step


def _step_object(body: Any) -> dict[str, Any]:
    """The callback body as an object, decoded first when it came as JSON text."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            raise InvalidSpec("the callback body is not JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidSpec("the callback body must be a JobStepResults object", field="body")
    return body


def _index_problem(step: Mapping[str, Any]) -> str | None:
    index = step.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return "'index' must be a whole number ≥ 0"
    return None


def _status_problem(step: Mapping[str, Any]) -> str | None:
    if step.get("status") not in SWAGGER_STATUS:
        return f"'status' must be one of {', '.join(SWAGGER_STATUS)}"
    return None


def _messages_problem(step: Mapping[str, Any]) -> str | None:
    messages = step.get("messages", [])
    if not isinstance(messages, list):
        return "'messages' must be a list"
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("text", ""), str):
            return "each message must be an object with a 'text'"
        if message.get("level") not in (None, "WARN", "ERROR"):
            return "a message's 'level' must be WARN or ERROR"
    return None


def _texts_problem(step: Mapping[str, Any]) -> str | None:
    for key in ("description", "time_started", "time_ended"):
        if step.get(key) is not None and not isinstance(step[key], str):
            return f"'{key}' must be a string"
    return None


def _times_problem(step: Mapping[str, Any]) -> str | None:
    for key in ("time_started", "time_ended"):
        if step.get(key) and _time(step[key]) is None:
            return f"'{key}' is not a time"
    return None


def _is_file_object(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("file_uri", ""), str)


def _files_problem(step: Mapping[str, Any]) -> str | None:
    files = step.get("files", [])
    if not isinstance(files, list) or not all(_is_file_object(f) for f in files):
        return "'files' must be a list of objects with a 'file_uri'"
    return None


#: What :func:`parse_step` checks, in order: each answers why a step is refused, or None.
_STEP_CHECKS: tuple[Callable[[Mapping[str, Any]], str | None], ...] = (
    _index_problem,
    _status_problem,
    _messages_problem,
    _texts_problem,
    _times_problem,
    _files_problem,
)


def _steps(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    steps = [s for s in entry.get("steps") or [] if isinstance(s, dict)]
    return sorted(steps, key=lambda s: i if isinstance(i := s.get("index"), int) else 0)


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
    latest = _latest_step_texts(steps)
    if latest:
        return "; ".join(latest)
    return _running_step_text(entry, steps)


def _latest_step_texts(steps: list[dict[str, Any]]) -> list[str]:
    """The messages of the last step that has any; [] when none has."""
    for step in reversed(steps):
        texts = _step_texts(step)
        if texts:
            return texts
    return []


def _running_step_text(entry: Mapping[str, Any], steps: list[dict[str, Any]]) -> str:
    """``step <index>: <description>`` of the step a RUNNING entry is in; "" when that is not known."""
    if entry.get("status") != "RUNNING":
        return ""
    current = [s for s in steps if s.get("status") == "RUNNING"]
    if current and current[-1].get("description"):
        return f"step {current[-1].get('index')}: {current[-1]['description']}"
    return ""


def _param_text(name: str, value: Any) -> str:
    """A swagger parameter as the ``name=value`` description of a granule-less data_collection item."""
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    return f"{name}={text}"


def _definition_contents(job: Mapping[str, Any]) -> tuple[set[Any], set[Any]]:
    """A job definition's granule ids and its parameter texts (the granule-less data_collection items)."""
    items = [g for g in job.get("data_collection") or [] if isinstance(g, dict)]
    granules = {g["granule_id"] for g in items if g.get("granule_id")}
    params = {g.get("description") for g in items if not g.get("granule_id")}
    return granules, params


def _is_reusable(job: Any, algorithm: str | None, granules: set[str], params: set[str]) -> bool:
    """Whether a listed job definition is an ACTIVE one of this algorithm, granule set and parameters."""
    if not isinstance(job, dict) or job.get("algorithm_id") != algorithm or not job.get("job_id"):
        return False
    same = _definition_contents(job) == (granules, params)
    return same and job.get("status", "ACTIVE") != "DEPRECATED"


def _reusable_definition(jobs: Any, algorithm: str | None, granules: set[str], params: set[str]) -> str | None:
    """The job_id of the first listed definition :func:`_is_reusable` accepts; None when there is none."""
    for job in jobs if isinstance(jobs, list) else []:
        if _is_reusable(job, algorithm, granules, params):
            return str(job["job_id"])
    return None


def _definition_body(spec: JobSpec, params: set[str]) -> dict[str, Any]:
    """The JobDefinition to create: the granules, then the parameter texts (sorted) as granule-less items."""
    return {
        "job_name": spec.name or spec.algorithm,
        "algorithm_id": spec.algorithm,
        "data_collection": [{"granule_id": g, "description": ""} for g in spec.inputs]
        + [{"description": text} for text in sorted(params)],
        "status": "ACTIVE",
        "description": "created by jupyter-compute",
        **spec.extra,
    }


class MaapSwaggerBackend(MaapBackend, flavor="swagger"):
    """MAAP's DPS through its swagger API: job definitions, their entries (runs), step callbacks."""

    capabilities = SWAGGER_CAPABILITIES
    status_map: ClassVar[Mapping[str, JobState]] = SWAGGER_STATUS
    algorithm_words: ClassVar[str] = "its algorithm_id"
    page_size = SWAGGER_PAGE

    # the submit form and its check ----------------------------------------------------
    def _fields(self) -> tuple[FormField, ...]:
        return (
            FormField("algorithm", "Algorithm", "string", required=True,
                      help="The algorithm_id of a registered DPS algorithm."),
            FormField("inputs", "Granules", "tags", required=True, pattern=NOT_BLANK_TEXT,
                      help="Granule ids the algorithm runs over."),
            FormField("params", "Parameters", "mapping",
                      help="name=value texts, sent as granule-less items of the job's data collection."),
        )  # fmt: skip

    def _check_options(self, spec: JobSpec) -> None:
        """No queue; parameters are name=value texts."""
        if spec.environment is not None:
            raise InvalidSpec("the swagger DPS API has no queues to choose", field="environment")
        for key, value in spec.params.items():
            if isinstance(value, (dict, list)) or value is None or "=" in key:
                raise InvalidSpec(f"parameter '{key}': the swagger DPS API takes name=value text only", field="params")

    # jobs -----------------------------------------------------------------------------
    async def _submit(self, spec: JobSpec, job_id: str) -> Submission:
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
        found = _reusable_definition(jobs, spec.algorithm, wanted_granules, wanted_params)
        if found is not None:
            return found
        return await self._create_definition(spec, wanted_params)

    async def _create_definition(self, spec: JobSpec, params: set[str]) -> str:
        """Define the job (a refusal names "algorithm" unless MAAP's answer named a field); its job_id."""
        body = _definition_body(spec, params)
        try:
            created = await self._json("POST", "v1/jobs", what="defining the job", json_body=body)
        except InvalidSpec as exc:
            exc.field = exc.field or "algorithm"
            raise
        job_id = created.get("job_id") if isinstance(created, dict) else None
        if not job_id:
            raise BackendError("MAAP defined the job but sent no job_id", backend=self.name)
        return str(job_id)

    async def status(self, remote_id: str) -> RemoteStatus:
        return self._entry_status(await self._lagging(remote_id, lambda: self._entry(remote_id)))

    async def cancel(self, remote_id: str) -> None:
        raise NotSupported("the MAAP DPS swagger API cannot cancel a job entry once it runs", backend=self.name)

    async def recover(self, job_id: str) -> str | None:
        """None: job entries carry nothing of ours to find them by (no tag, no client token), so a job
        whose submission's answer was lost ends UNKNOWN with words."""
        return None

    async def _entry(self, remote_id: str) -> dict[str, Any]:
        return await self._json_object(f"v1/jobentries/{quote(remote_id, safe='')}",
                                       subject=f"job entry {remote_id}", what=f"reading job entry {remote_id}")

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

    async def _job_page(self, offset: int, limit: int) -> Any:
        params = {"offset": offset, "limit": limit}
        return await self._json("GET", "v1/jobentries", what="listing job entries", params=params)

    def _listed_id(self, item: Any) -> str | None:
        return str(item["entry_id"]) if isinstance(item, dict) and item.get("entry_id") else None

    def _listed_status(self, item: Mapping[str, Any]) -> RemoteStatus:
        return self._entry_status(item)

    # callbacks ------------------------------------------------------------------------
    async def handle_webhook(self, remote_id: str, body: Any) -> RemoteStatus | None:
        """Check a JobStepResults callback; None: the server re-reads the entry (see the module doc)."""
        step = parse_step(body)
        self.log.debug("maap entry %s: step %s is %s", remote_id, step["index"], step["status"])
        return None

    # results and capacity -------------------------------------------------------------
    async def _product_index(self, remote_id: str) -> ProductIndex:
        """Each step's files by name (a name an earlier step has taken gets the prefix ``step<index>/``)."""
        entry = await self._lagging(remote_id, lambda: self._entry(remote_id))
        index = ProductIndex()
        for step in _steps(entry):  # a step's files of one name are one file (an http and an s3 link)
            files = [f for f in step.get("files") or [] if isinstance(f, dict)]
            uris = [u for f in files if isinstance(u := f.get("file_uri"), str)]
            index.add(uris, prefix=f"step{step.get('index', 0)}/")
        return index

    async def environments(self) -> list[Environment]:
        raise NotSupported("the MAAP DPS swagger API has no queues", backend=self.name)
