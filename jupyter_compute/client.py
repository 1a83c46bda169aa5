"""The kernel-side client of the jupyter-compute REST API.

``Client()`` finds the Jupyter server by itself: from ``JUPYTER_COMPUTE_URL`` and
``JUPYTER_COMPUTE_TOKEN`` (the server extension sets them, so its kernels inherit them), else
from the ``jpserver-*.json`` files of the running servers. Every call has a timeout; GETs and
job submissions (which carry an idempotency key) are retried a few times when the connection
fails. Server errors come back as the same :mod:`jupyter_compute.errors` classes, whose text names
the cause and the fix; in IPython each shows as that one line, without a traceback (see
:mod:`jupyter_compute.errors`). ``Job.wait()`` raises :class:`~jupyter_compute.errors.JobFailed`
for a job that ended without succeeding.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import httpx

from . import models, results
from .errors import (
    ERROR_TYPES,
    AuthError,
    ComputeError,
    InvalidSpec,
    JobFailed,
    NotFound,
    WaitTimeout,
    error_from_dict,
)
from .formatting import elapsed_seconds, format_duration, job_html, one_line, state_line
from .forms import Form
from .models import Cluster, Environment, JobSpec, JobState, LogChunk, ResultFile

if TYPE_CHECKING:
    import threading

    import pandas
    import urllib3

    from .results_http import Downloads

__all__ = ["Client", "Job", "JobPage", "LogChunk", "ResultList"]

ENV_URL = "JUPYTER_COMPUTE_URL"
ENV_TOKEN = "JUPYTER_COMPUTE_TOKEN"
API_PATH = "compute/api/"

JobRef = str | models.Job

_HOW_TO_CONNECT = (
    f"pass Client(url=..., token=...) or set {ENV_URL} and {ENV_TOKEN} "
    "(the server's URL including its base_url, and its token)"
)
_STATUS_ERRORS: dict[int, type[ComputeError]] = {401: AuthError, 403: AuthError, 404: NotFound}
_CHUNK_SIZE = 64 * 1024
_MAX_POLL = 2.0
_EVENTS_SILENCE_S = 60.0  # the server sends a keepalive every 15 s
_FOLLOW_STATE_CHECK_S = 2.0  # follow_logs: how often an idle log's job is asked whether it ended


class Client:
    """Talks to the jupyter-compute server extension; one HTTP connection pool per client."""

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0, retries: int = 3
    ) -> None:
        discovered_token = None
        if url is None:
            url, discovered_token = _discover()
        self.url, url_token = _normalise_url(url)
        token = token or url_token or discovered_token or _known_token(self.url)
        self.timeout = timeout
        self.retries = retries
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"token {token}"
        self._http = httpx.Client(base_url=self.url + API_PATH, headers=headers, timeout=timeout)
        self._downloads: Downloads | None = None

    def __repr__(self) -> str:
        return f"<Client {self.url}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
        if self._downloads is not None:
            self._downloads.close()

    # --- backends ---------------------------------------------------------------------------

    def backends(self) -> list[dict[str, Any]]:
        """The backends configured on the server: ``{"name", "kind", "capabilities"}`` each."""
        return list(self._get("backends")["backends"])

    def environments(self, backend: str = "local") -> list[Environment]:
        """Where jobs of ``backend`` may run and at what size."""
        data = self._get(f"backends/{_quote(backend)}/environments")
        return [Environment.from_dict(e) for e in data["environments"]]

    def clusters(self, backend: str) -> list[Cluster]:
        """The clusters and pools of ``backend`` with their capacity."""
        return [Cluster.from_dict(c) for c in self._get(f"backends/{_quote(backend)}/clusters")["clusters"]]

    def form(self, backend: str = "local") -> Form:
        """The submit form ``backend`` declares: its fields, to render and check before submitting."""
        return Form.from_dict(self._get(f"backends/{_quote(backend)}/form"))

    def list_files(self, path: str = "") -> list[dict[str, str]]:
        """The folder ``path`` (relative to the server's root; "" for the root) as the Jupyter server's
        contents API lists it: ``{"name", "path", "type"}`` per entry (type ``directory``, ``notebook`` or
        ``file``), folders first, then by name. NotFound for a folder the server does not have."""
        url = f"{self.url}api/contents/{quote(path.strip('/'), safe='/')}"
        data = self._request("GET", url, params={"content": 1, "type": "directory"}, retry=True)
        entries = data.get("content") if isinstance(data, dict) else None
        found = [{key: str(entry.get(key, "")) for key in ("name", "path", "type")}
                 for entry in entries or () if isinstance(entry, dict)]
        return sorted(found, key=lambda entry: (entry["type"] != "directory", entry["name"].lower()))

    def proxy(
        self,
        backend: str,
        path: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """A request to ``backend``'s own API through the server's passthrough
        (``compute/proxy/{backend}/{path}``, open where the backend's ``capabilities.can_proxy`` says so).

        ``path`` is relative to the backend's API base (``"ogc/processes"``). The server adds the
        backend's credentials, so none enters this process. The platform's answer is returned as it
        came, whatever its status (``response.json()``, ``response.raise_for_status()``); the server's
        own refusals (no such backend, no passthrough, a path that leaves the API) raise our errors.
        """
        url = f"{self.url}compute/proxy/{_quote(backend)}/{path}"
        request = self._http.build_request(method, url, params=params, json=json, content=content,
                                           headers={"Accept": "*/*"})  # fmt: skip
        response = self._send(request, retry=method.upper() in ("GET", "HEAD"))
        if not response.is_success and _is_our_error(response):
            _raise_for_status(response, self.url)
        return response

    # --- jobs -------------------------------------------------------------------------------

    def submit(
        self,
        spec: JobSpec | Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Job:
        """Submit a job: ``fields`` are merged over ``spec``; the backend defaults to ``local``.

        The spec is checked before anything is sent. The submission carries an idempotency key
        (a new one unless given), so a retry after a dropped connection never runs a job twice.
        """
        if "inputs" in fields:
            fields = {**fields, "inputs": [self._server_input(item, i) for i, item in enumerate(fields["inputs"])]}
        body = _spec_body(spec, fields)
        body["idempotency_key"] = idempotency_key or uuid.uuid4().hex
        job = self._bind(self._request("POST", "jobs", json=body, retry=True))
        job.idempotency_key = body["idempotency_key"]
        return job

    def upload(self, data: bytes | str | os.PathLike[str] | pandas.DataFrame, name: str | None = None) -> str:
        """Store a file, bytes or a DataFrame (as CSV) on the server for a job to read; its path there."""
        if _is_dataframe(data):
            payload, name = data.to_csv(index=False).encode(), name or "frame.csv"  # type: ignore[union-attr]
        elif isinstance(data, bytes):
            payload, name = data, name or "upload.bin"
        else:
            path = Path(data)
            payload, name = path.read_bytes(), name or path.name
        return str(self._request("POST", "uploads", params={"name": name}, content=payload)["path"])

    def _server_input(self, item: Any, index: int) -> Any:
        """A job input as the server sees it: a DataFrame is uploaded first and becomes its path."""
        return self.upload(item, f"input-{index}.csv") if _is_dataframe(item) else item

    def jobs(
        self,
        backend: str | None = None,
        state: str | JobState | Iterable[str | JobState] | None = None,
        tag: str | None = None,
        q: str | None = None,
        limit: int = 50,
        offset: int = 0,
        sort: str = "-created",
        cursor: str | None = None,
    ) -> JobPage:
        """One page of the jobs the server knows, newest first by default; ``.total`` counts all.

        ``cursor``: the ``.next`` of the page before, asked with the same filters and sort (instead of an
        offset: as fast at any depth, and no job is skipped or seen twice when jobs come and go)."""
        states = [state] if isinstance(state, str) else list(state or [])
        params = {
            "backend": backend,
            "state": [str(s) for s in states],
            "tag": tag,
            "q": q,
            "limit": limit,
            "offset": offset,
            "sort": sort,
            "cursor": cursor,
        }
        data = self._get("jobs", params={k: v for k, v in params.items() if v not in (None, [])})
        page = [self._bind(j) for j in data["jobs"]]
        return JobPage(
            page,
            total=data.get("total", len(page)),
            limit=data.get("limit", limit),
            offset=data.get("offset", offset),
            next=data.get("next"),
        )

    def iter_jobs(
        self,
        backend: str | None = None,
        state: str | JobState | Iterable[str | JobState] | None = None,
        tag: str | None = None,
        q: str | None = None,
        sort: str = "-created",
        page_size: int = 1000,
    ) -> Iterator[Job]:
        """Every job that matches, in the order ``sort``, read a page at a time by cursor: each job once,
        jobs added meanwhile after the last one read included when the order puts them there."""
        page = self.jobs(backend, state, tag, q, limit=page_size, sort=sort)
        while True:
            yield from page
            if page.next is None:
                return
            page = self.jobs(backend, state, tag, q, limit=page_size, sort=sort, cursor=page.next)

    def job(self, job: JobRef) -> Job:
        """The job as the server knows it now."""
        return self._bind(self._get(_job_path(job)))

    def cancel(self, job: JobRef) -> Job:
        """Ask the platform to stop the job; answers the job as it is after the request."""
        return self._bind(self._request("POST", _job_path(job, "cancel")))

    def delete(self, job: JobRef) -> None:
        """Forget the job (and delete it on its platform where the backend can)."""
        self._request("DELETE", _job_path(job))

    def job_detail(self, job: JobRef) -> dict[str, Any]:
        """What the job's platform says of it beyond its status (backends with ``capabilities.has_detail``).

        Answers ``{"facts": {name: JSON value}, "actions": [{"name", "label", "fields", "help"}]}``:
        ``facts`` for people to read, and the actions the job offers now (beyond cancel and delete),
        each with the form fields of the values it takes (as :meth:`form` declares fields;
        ``Form.from_dict(action)`` reads them). Run one with :meth:`act`.
        """
        detail = self._get(_job_path(job, "detail")).get("detail") or {}
        return {"facts": dict(detail.get("facts") or {}), "actions": list(detail.get("actions") or [])}

    def act(self, job: JobRef, action: str, /, **values: Any) -> Job:
        """Run one of the actions :meth:`job_detail` offers, with the values of its fields by name;
        answers the job as it is after it. A bad value raises :class:`InvalidSpec` naming the field,
        an action the job does not offer (now) :class:`NotSupported`. Sent once, never retried. (A value
        may be called ``job`` or ``action`` too: those two come first, by position.)"""
        path = _job_path(job, "actions", _quote(action))
        return self._bind(self._request("POST", path, json={"values": values}))

    def logs(self, job: JobRef, offset: int = 0) -> LogChunk:
        """The job's log from ``offset`` on, as far as it is written."""
        data = self._get(_job_path(job, "logs"), params={"offset": offset})
        return LogChunk(
            text=data.get("text", ""), offset=data.get("offset", offset), complete=bool(data.get("complete"))
        )

    def follow_logs(
        self, job: JobRef, *, poll: float = 0.5, stop: threading.Event | None = None
    ) -> Iterator[str]:
        """The job's log from the start, each new piece of text as soon as it is written.

        Ends when the server says the log is complete, or when the job has ended and a read
        brings nothing more (for backends whose logs never say "complete"; the job's state is
        asked at most every 2 s, and only after a read that brought nothing). Reads again at once
        after text came, else sleeps ``poll`` seconds. Setting ``stop`` (a ``threading.Event``)
        ends it early, within ``poll`` seconds. Errors (:class:`ComputeError`) are raised to
        the caller; closing the iterator stops it too.
        """
        follower = _LogFollower(self, job)
        while stop is None or not stop.is_set():
            chunk = self.logs(job, follower.offset)
            if chunk.text:
                yield chunk.text
            if follower.finished(chunk):
                return
            if not follower.read_again_at_once(chunk) and _pause(poll, stop):
                return

    def results(self, job: JobRef) -> list[ResultFile]:
        """The files the job produced (outputs and logs)."""
        return [ResultFile.from_dict(r) for r in self._get(_job_path(job, "results"))["results"]]

    def iter_result(self, job: JobRef, name: str) -> Iterator[bytes]:
        """The bytes of one result, streamed in chunks."""
        with self._open_result(job, name) as response:
            yield from response.iter_bytes(_CHUNK_SIZE)

    def download(self, job: JobRef, name: str, path: str | os.PathLike[str]) -> Path:
        """Save one result to ``path`` (a file, or an existing directory to save it in)."""
        target = Path(path)
        if target.is_dir():
            target = target / PurePosixPath(name).name
        partial = target.with_name(target.name + ".part")
        try:
            with partial.open("wb") as out:
                for chunk in self.iter_result(job, name):
                    out.write(chunk)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def to_pandas(
        self, job: JobRef, name: str | None = None, *, progress: bool | None = None, **read_kwargs: Any
    ) -> pandas.DataFrame:
        """Load a result into a DataFrame (see :func:`results.read_frame` for the formats).

        Without ``name``, the job's only tabular output is read, or its part files
        (``part-00000.csv`` …, as Spark and Hadoop write them) as one frame. A ``name`` ending
        in ``/`` reads every tabular file of that folder as one frame.

        The bytes are parsed as they arrive. ``read_kwargs`` go to the pandas reader: ``usecols``,
        ``nrows`` (the download stops once enough rows are read) … for CSV, ``columns`` and
        ``filters`` for Parquet. ``progress``: a bar of the bytes read (``None``: for results of
        32 MB or more, in a notebook or on a terminal; see :mod:`results_progress`).
        """
        files = self.results(job)
        if name is None:
            name = _only_table(files, _job_id(job))
        if name.endswith("/") or name == "":
            parts = _tables_under(files, name)
            if not parts:
                raise NotFound(f"job {_job_id(job)} has no tabular result under '{name}'", field="name")
            import pandas

            frames = [self.to_pandas(job, part.name, progress=progress, **read_kwargs) for part in parts]
            return pandas.concat(frames, ignore_index=True)
        listed = next((f for f in files if f.name == name), ResultFile(name))
        with self._result_stream(job, name, listed.size, progress) as (stream, content_type):
            return results.read_frame(stream, name, listed.media_type or content_type, **read_kwargs)

    # --- events -----------------------------------------------------------------------------

    def events(self) -> Iterator[dict[str, Any]]:
        """Follow job changes as the server pushes them (``compute/api/events``).

        Connects at once (raising :class:`ComputeError` if the server cannot be reached or
        refuses), then answers an iterator of ``{"event": "job", "data": <job JSON>}`` and
        ``{"event": "job_deleted", "data": {"id": ...}}`` dicts; keepalive comments are skipped.
        The iterator raises :class:`ComputeError` when the stream ends or drops (or stays silent
        for ``_EVENTS_SILENCE_S`` seconds, four keepalives); the caller reconnects. Close the
        iterator (``.close()``) to end the stream early.
        """
        timeout = httpx.Timeout(self.timeout, read=_EVENTS_SILENCE_S)
        request = self._http.build_request(
            "GET", "events", headers={"Accept": "text/event-stream"}, timeout=timeout
        )
        response = self._send(request, retry=True, stream=True)
        if not response.is_success:
            try:
                response.read()
                _raise_for_status(response, self.url)
            finally:
                response.close()
        return _server_sent_events(response, self.url)

    # --- HTTP -------------------------------------------------------------------------------

    def _bind(self, data: Mapping[str, Any]) -> Job:
        job = cast(Job, Job.from_dict(data))
        job._client = self
        return job

    def _get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params, retry=True)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        retry: bool = False,
    ) -> Any:
        """Send a request and answer its JSON body (None for an empty answer)."""
        request = self._http.build_request(method, path, params=params, json=json, content=content)
        response = self._send(request, retry=retry)
        _raise_for_status(response, self.url)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ComputeError(
                f"{self.url} answered {request.url.path} with something other than JSON; "
                "is the jupyter_compute server extension enabled?"
            ) from None

    def _send(self, request: httpx.Request, *, retry: bool, stream: bool = False) -> httpx.Response:
        """Send; when ``retry`` (idempotent requests), connection failures are retried with backoff."""
        for attempt in range(self.retries if retry else 0):
            with contextlib.suppress(httpx.TransportError):
                return self._http.send(request, stream=stream)
            time.sleep(min(0.25 * 2**attempt, _MAX_POLL))
        try:
            return self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc, self.timeout) from exc

    @contextlib.contextmanager
    def _result_stream(
        self, job: JobRef, name: str, size: int | None, progress: bool | None
    ) -> Iterator[tuple[IO[bytes], str | None]]:
        """A result's body as a buffered stream read as the parser asks (see :mod:`results_http`),
        and its media type; the connection is dropped if the block ends before the body does."""
        import urllib3

        from . import results_http, results_progress

        url = str(self._http.base_url.join(_job_path(job, "results") + "/" + quote(name, safe="/")))
        headers = {"Accept": "*/*"}
        if "authorization" in self._http.headers:
            headers["Authorization"] = self._http.headers["authorization"]
        if self._downloads is None:
            self._downloads = results_http.Downloads(self.timeout, self.retries)
        try:
            response = self._downloads.open(url, headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ComputeError(f"cannot reach the Jupyter server at {self.url}: {_short_text(str(exc))}") from None
        if response.status >= 300:
            _raise_for_status(_as_httpx_response(response, url), self.url)
        with (
            results_progress.byte_progress(name, size, progress) as update,
            results_http.ResponseStream(response, f"result '{name}'", update) as raw,
        ):
            yield results_http.buffered(raw), response.headers.get("content-type")

    @contextlib.contextmanager
    def _open_result(self, job: JobRef, name: str) -> Iterator[httpx.Response]:
        path = _job_path(job, "results") + "/" + quote(name, safe="/")
        request = self._http.build_request("GET", path, headers={"Accept": "*/*"})
        response = self._send(request, retry=True, stream=True)
        try:
            if not response.is_success:
                response.read()
                _raise_for_status(response, self.url)
            yield response
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc, self.timeout) from exc
        finally:
            response.close()


class Job(models.Job):
    """A job handle bound to the client that fetched it: refresh, wait, cancel, read results."""

    _client: Client | None = None

    def __repr__(self) -> str:
        return f"<Job {self.id[:8]} {self.backend} {self.name!r} {self.state.value}>"

    def _repr_html_(self) -> str:
        """The job in a notebook: a small table of its id, name, backend, state, times and message."""
        return job_html(self)

    @property
    def results(self) -> ResultList:
        """The files this job produced, as last seen; ``job.results()`` fetches them fresh."""
        return self._results

    @results.setter
    def results(self, files: Iterable[ResultFile]) -> None:
        self._results = ResultList(files, self)

    @property
    def client(self) -> Client:
        """The client this job talks through."""
        if self._client is None:
            raise ComputeError(
                f"job {self.id} is not bound to a Client; get it from one: Client().job({self.id!r})",
                job_id=self.id,
            )
        return self._client

    def refresh(self) -> Job:
        """Update this job's fields in place from the server."""
        self._update_from(self.client.job(self.id))
        return self

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: bool = True,
        poll: float = 0.5,
        raise_on_failure: bool = True,
    ) -> Job:
        """Poll until the job has ended, and answer it (this handle, updated).

        A job that ended without succeeding (FAILED, CANCELLED, TIMED_OUT) raises
        :class:`JobFailed`, which carries the job (``.job``), its ``.state`` and its message
        (``.reason``); with ``raise_on_failure=False`` the job is answered whatever its end.
        Raises :class:`WaitTimeout` when it has not ended after ``timeout`` seconds (it keeps
        running). Polls every ``poll`` seconds, backing off to 2 s. With ``progress``, one status
        line is kept up to date (a display in a notebook, a carriage return on a terminal).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll
        with _progress_line(progress) as show:
            while True:
                show(state_line(self.refresh()))
                if self.is_terminal:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise WaitTimeout(
                        f"job {self.id[:8]} {self.name!r} on {self.backend} is still {self.state.value} after "
                        f"{timeout:g} s; call wait() again to keep waiting, or cancel() to stop it",
                        job_id=self.id,
                        backend=self.backend,
                    )
                time.sleep(interval if remaining is None else min(interval, remaining))
                interval = min(interval * 1.5, _MAX_POLL)
        if raise_on_failure and self.state is not JobState.SUCCEEDED:
            raise _job_failed(self)
        return self

    def cancel(self) -> Job:
        """Ask the platform to stop this job, and update this handle."""
        self._update_from(self.client.cancel(self.id))
        return self

    def delete(self) -> None:
        """Forget this job on the server (and on its platform where possible)."""
        self.client.delete(self.id)

    def detail(self) -> dict[str, Any]:
        """What the platform says of this job beyond its status: ``{"facts", "actions"}``
        (see :meth:`Client.job_detail`)."""
        return self.client.job_detail(self.id)

    def act(self, action: str, /, **values: Any) -> Job:
        """Run one of the actions :meth:`detail` offers with these values, and update this handle."""
        self._update_from(self.client.act(self.id, action, **values))
        return self

    def logs(self) -> str:
        """The whole log written so far."""
        parts: list[str] = []
        offset = 0
        while True:
            chunk = self.client.logs(self.id, offset)
            parts.append(chunk.text)
            if chunk.complete or not chunk.text or chunk.offset <= offset:
                return "".join(parts)
            offset = chunk.offset

    def to_pandas(
        self, name: str | None = None, *, progress: bool | None = None, **read_kwargs: Any
    ) -> pandas.DataFrame:
        """Load a result into a DataFrame; without ``name``, the only tabular output (see :meth:`Client.to_pandas`)."""
        return self.client.to_pandas(self.id, name, progress=progress, **read_kwargs)

    def download(self, name: str, path: str | os.PathLike[str]) -> Path:
        """Save one result to ``path`` (a file, or an existing directory to save it in)."""
        return self.client.download(self.id, name, path)

    def _update_from(self, other: models.Job) -> None:
        key = self.idempotency_key
        for f in dataclasses.fields(models.Job):
            setattr(self, f.name, getattr(other, f.name))
        self.idempotency_key = self.idempotency_key or key


class _LogFollower:
    """Where :meth:`Client.follow_logs` reads next, and whether it has seen the job end."""

    def __init__(self, client: Client, job: JobRef) -> None:
        self._client = client
        self._job = job
        self.offset = 0
        self._ended = False
        self._last_check: float | None = None

    def finished(self, chunk: LogChunk) -> bool:
        """The log is complete, or the job had ended and this read brought nothing more."""
        return chunk.complete or (self._ended and not chunk.text)

    def read_again_at_once(self, chunk: LogChunk) -> bool:
        """Take in ``chunk``; whether to read again without a pause: after text that moved the
        offset (more may be written already), or when the job is just seen to have ended (one
        more read: text written before it ended)."""
        advanced = chunk.offset > self.offset
        self.offset = max(self.offset, chunk.offset)
        if chunk.text:
            return advanced
        return self._job_just_ended()

    def _job_just_ended(self) -> bool:
        """Ask whether the job has ended, at most every ``_FOLLOW_STATE_CHECK_S`` seconds."""
        now = time.monotonic()
        if self._last_check is not None and now - self._last_check < _FOLLOW_STATE_CHECK_S:
            return False
        self._last_check = now
        self._ended = self._client.job(self._job).is_terminal
        return self._ended


def _pause(seconds: float, stop: threading.Event | None) -> bool:
    """Sleep ``seconds``; True when ``stop`` was set meanwhile (never without a ``stop``)."""
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


class ResultList(list[ResultFile]):
    """A job's result files (``models.Job.results``) that can also be called to refresh them."""

    def __init__(self, files: Iterable[ResultFile] = (), job: Job | None = None) -> None:
        super().__init__(files)
        self._job = job

    def __call__(self) -> ResultList:
        """Fetch the job's result files from the server (and keep them on the job)."""
        job = self._job
        if job is None:
            raise ComputeError("this list of results belongs to no job")
        job.results = job.client.results(job.id)
        return job.results


class JobPage(list[Job]):
    """One page of jobs; ``total`` is how many match in all, ``next`` the cursor of the page after it
    (None on the last page; see :meth:`Client.jobs`)."""

    def __init__(self, jobs: Iterable[Job], *, total: int, limit: int, offset: int, next: str | None = None) -> None:
        super().__init__(jobs)
        self.total = total
        self.limit = limit
        self.offset = offset
        self.next = next


# --- helpers ----------------------------------------------------------------------------------


#: What to do about a job that ended this way, said after why it ended.
_FAILURE_FIXES = {
    JobState.FAILED: "see its log: job.logs()",
    JobState.TIMED_OUT: "give it more time: submit(..., timeout_s=SECONDS)",
    JobState.CANCELLED: "wait(raise_on_failure=False) answers a cancelled job without raising",
}


def _job_failed(job: Job) -> JobFailed:
    """The :class:`JobFailed` for a job that ended without succeeding: what, why, and what to do."""
    took = format_duration(elapsed_seconds(job))
    text = f"job {job.id[:8]} {job.name!r} on {job.backend} {job.state.value}"
    text += f" after {took}" if took else ""
    text += f": {one_line(job.message)}" if job.message else ""
    fix = _FAILURE_FIXES.get(job.state, "see its log: job.logs()")
    return JobFailed(f"{text}; {fix}", job=job)


@contextlib.contextmanager
def _progress_line(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A function showing one status line updated in place (or doing nothing when disabled)."""
    if not enabled:
        yield lambda text: None
        return
    display = _kernel_display()
    if display is not None:
        yield _display_updater(display)
    else:
        with _stream_updater() as show:
            yield show


def _kernel_display() -> Callable[..., Any] | None:
    """IPython's ``display`` when running in a kernel that has imported IPython already."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if getattr(shell, "kernel", None) is None:
        return None
    from IPython.display import display

    return display


def _display_updater(display: Callable[..., Any]) -> Callable[[str], None]:
    handle: Any = None

    def show(text: str) -> None:
        nonlocal handle
        bundle = {"text/plain": text}
        if handle is None:
            handle = display(bundle, raw=True, display_id=True)
        else:
            handle.update(bundle, raw=True)

    return show


@contextlib.contextmanager
def _stream_updater() -> Iterator[Callable[[str], None]]:
    """Rewrite one line of stderr with a carriage return; end it with a newline."""
    stream = sys.stderr
    width = 0

    def show(text: str) -> None:
        nonlocal width
        stream.write("\r" + text.ljust(width))
        stream.flush()
        width = max(width, len(text))

    try:
        yield show
    finally:
        if width:
            stream.write("\n")
            stream.flush()


# --- finding the server -----------------------------------------------------------------------


def _discover() -> tuple[str, str | None]:
    """URL and token from the environment, else from the running server that started us."""
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL], os.environ.get(ENV_TOKEN)
    runtime_dir = _runtime_dir()
    servers = _running_servers(runtime_dir)
    by_pid = {server.get("pid"): server for server in servers}
    for pid in _ancestor_pids():
        if pid in by_pid:
            return by_pid[pid]["url"], by_pid[pid].get("token")
    if len(servers) == 1:
        return servers[0]["url"], servers[0].get("token")
    if not servers:
        raise ComputeError(f"found no running Jupyter server (looked in {runtime_dir}); {_HOW_TO_CONNECT}")
    urls = ", ".join(server["url"] for server in servers)
    raise ComputeError(
        f"found {len(servers)} running Jupyter servers ({urls}) and none of them started this "
        f"process; {_HOW_TO_CONNECT}"
    )


def _known_token(url: str) -> str | None:
    """The token of ``url`` (normalised) if it is the server in the environment or a running one.

    A token is never sent to a server other than the one it belongs to.
    """
    if os.environ.get(ENV_URL) and _normalise_url(os.environ[ENV_URL])[0] == url:
        return os.environ.get(ENV_TOKEN)
    for server in _running_servers(_runtime_dir()):
        if _normalise_url(server["url"])[0] == url:
            return server.get("token")
    return None


def _runtime_dir() -> Path:
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def _running_servers(runtime_dir: Path) -> list[dict[str, Any]]:
    """The ``jpserver-*.json`` files of live servers reachable over http(s)."""
    import psutil

    servers = []
    for path in sorted(runtime_dir.glob("jpserver-*.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (
            isinstance(info, dict)
            and str(info.get("url", "")).startswith(("http://", "https://"))
            and isinstance(info.get("pid"), int)
            and psutil.pid_exists(info["pid"])
        ):
            servers.append(info)
    return servers


def _ancestor_pids() -> list[int]:
    """Our parent first, then its parent and so on (a kernel's parent is its server)."""
    import psutil

    try:
        return [process.pid for process in psutil.Process().parents()]
    except psutil.Error:
        return [os.getppid()]


def _normalise_url(url: str) -> tuple[str, str | None]:
    """``url`` without query and fragment, ending in ``/``; and a ``token`` found in its query."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        raise InvalidSpec(f"not the http(s) URL of a Jupyter server: {shown!r}", field="url")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    token = parse_qs(parts.query).get("token", [None])[0]
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), token


# --- requests and answers ---------------------------------------------------------------------


def _is_dataframe(value: Any) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def _spec_body(spec: JobSpec | Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted spec as JSON: ``fields`` over ``spec``, checked like the server checks it."""
    merged = spec.to_dict() if isinstance(spec, JobSpec) else dict(spec or {})
    merged.update(fields)
    try:
        checked = JobSpec.from_dict(merged)
    except InvalidSpec as exc:
        known = {f.name for f in dataclasses.fields(JobSpec)}
        if exc.field in merged and exc.field not in known:  # a misspelt field: say which there are
            raise InvalidSpec(f"{exc.message}; a job spec has {', '.join(sorted(known))}", field=exc.field) from None
        raise
    return {key: value for key, value in checked.to_dict().items() if value is not None}


def _job_id(job: JobRef) -> str:
    return job.id if isinstance(job, models.Job) else str(job)


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def _job_path(job: JobRef, *parts: str) -> str:
    return "/".join(("jobs", _quote(_job_id(job)), *parts))


_PART_FILE = re.compile(r"(?:.*/)?part-\d+(?:-[^/]*)?(?:\.[a-z0-9.]+)?")


def _as_httpx_response(response: urllib3.BaseHTTPResponse, url: str) -> httpx.Response:
    """A refused download as an httpx answer, for :func:`_raise_for_status` (its body read, its connection freed)."""
    body = response.read()  # urllib3 has undone any content encoding: only the media type is passed on
    response.release_conn()
    headers = {"Content-Type": response.headers.get("content-type", "application/octet-stream")}
    return httpx.Response(response.status, headers=headers, content=body, request=httpx.Request("GET", url))


def _is_table(file: ResultFile) -> bool:
    """An output that :func:`results.read_frame` can read (judged by name and media type)."""
    return file.kind == "output" and results.is_tabular(file.name, file.media_type)


def _tables_under(files: list[ResultFile], folder: str) -> list[ResultFile]:
    """The tabular outputs directly in ``folder`` ('' for the top), in name order."""
    return sorted(
        (f for f in files if _is_table(f) and f.name.startswith(folder) and "/" not in f.name[len(folder):]),
        key=lambda f: f.name,
    )


def _part_files_folder(tables: list[str]) -> str | None:
    """``'dir/'`` ('' for the top) when ``tables`` are several part files of one folder, else None."""
    folders = {t.rpartition("/")[0] for t in tables}
    if len(tables) < 2 or len(folders) != 1 or not all(_PART_FILE.fullmatch(t) for t in tables):
        return None
    folder = folders.pop()
    return f"{folder}/" if folder else ""


def _only_table(files: list[ResultFile], job_id: str) -> str:
    """The job's only tabular output, its part files' folder ('dir/'), or an error saying what there is."""
    tables = [f.name for f in files if _is_table(f)]
    if len(tables) == 1:
        return tables[0]
    folder = _part_files_folder(tables)
    if folder is not None:
        return folder
    if tables:
        raise InvalidSpec(
            f"job {job_id} has several tabular results ({', '.join(tables)}); pass name=... to pick one",
            field="name",
            job_id=job_id,
        )
    names = ", ".join(f.name for f in files) or "none"
    raise NotFound(
        f"job {job_id} has no tabular result (its results: {names}); pass name=... to read one",
        job_id=job_id,
    )


def _server_sent_events(response: httpx.Response, base_url: str) -> Iterator[dict[str, Any]]:
    """The events of an open ``text/event-stream`` answer as ``{"event", "data"}`` dicts.

    Follows the SSE wire format: ``field: value`` lines, an empty line ends an event, lines
    starting with ``:`` are comments. Events whose data is not JSON are skipped. The stream
    ending or failing raises :class:`ComputeError`; the response is closed in every case.
    """
    try:
        yield from _parse_events(response.iter_lines())
    except httpx.ReadTimeout:
        raise ComputeError(
            f"the event stream of {base_url} stayed silent for {_EVENTS_SILENCE_S:g} s"
        ) from None
    except httpx.TransportError as exc:
        raise ComputeError(f"the event stream of {base_url} dropped: {_short_text(str(exc))}") from exc
    finally:
        response.close()
    raise ComputeError(f"the event stream of {base_url} ended (the server closed it)")


def _parse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The events of SSE wire-format ``lines`` whose data is JSON, as ``{"event", "data"}`` dicts."""
    kind = "message"
    data: list[str] = []
    for line in lines:
        if not line:  # an empty line ends an event
            payload = _json_or_none(data)
            if payload is not None:
                yield {"event": kind, "data": payload}
            kind, data = "message", []
        elif not line.startswith(":"):  # a comment otherwise
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)


def _json_or_none(lines: list[str]) -> Any:
    """The JSON value the lines make up; None when there are none or they are not JSON."""
    if not lines:
        return None
    try:
        return json.loads("\n".join(lines))
    except ValueError:
        return None


def _raise_for_status(response: httpx.Response, base_url: str) -> None:
    """Raise the error a non-2xx answer stands for: the server's own, or one chosen by the status."""
    if response.is_success:
        return
    body = _json_body(response)
    if _our_error(body) is not None:
        raise _with_hint(error_from_dict(body, response.status_code))
    # Jupyter's own answers (a refused token, an unknown route) are judged by their status.
    raise _status_error(response, base_url, _error_message(body) or response.text)


def _status_error(response: httpx.Response, base_url: str, detail: object) -> ComputeError:
    """The error for a refusal that is not the extension's own: its class chosen by the status."""
    status = response.status_code
    cls = _STATUS_ERRORS.get(status, ComputeError)
    hint = f"; check the token: {_HOW_TO_CONNECT}" if cls is AuthError else ""
    return cls(
        f"{base_url} answered HTTP {status} to {response.request.method} "
        f"{response.request.url.path}: {_short_text(str(detail))}{hint}"
    )


def _json_body(response: httpx.Response) -> Any:
    """The answer's JSON body; None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _our_error(body: Any) -> dict[str, Any] | None:
    """The ``error`` object of the extension's own error body (``{"error": {"type": <ours>, …}}``)."""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) and error.get("type") in ERROR_TYPES else None


def _error_message(body: Any) -> Any:
    """The message of a JSON error body: its ``error.message``, else its ``message``; None if neither."""
    error = body.get("error") if isinstance(body, dict) else None
    return next((d.get("message") for d in (error, body) if isinstance(d, dict) and d.get("message")), None)


def _is_our_error(response: httpx.Response) -> bool:
    """The answer is the extension's own error body (``{"error": {"type": <ours>, …}}``), not a platform's."""
    error = _our_error(_json_body(response))
    return error is not None and isinstance(error.get("message"), str)


#: What to do about a missing thing, by the field the server names: added to its message.
_NOT_FOUND_HINTS = {
    "job_id": "client.jobs() lists the jobs",
    "name": "job.results() lists its results",
}


def _with_hint(error: ComputeError) -> ComputeError:
    """The server's error, with what to do added where its message does not say (a missing job …)."""
    hint = _NOT_FOUND_HINTS.get(error.field or "") if isinstance(error, NotFound) else None
    if hint and hint not in error.message:
        error.message = f"{error.message}; {hint}"
        error.args = (error.message,)
    return error


def _unreachable(url: str, exc: httpx.TransportError, timeout: float) -> ComputeError:
    """The connection failure in words, naming the server (never its token)."""
    if isinstance(exc, httpx.TimeoutException):
        reason = f"no answer within {timeout:g} s"
    elif isinstance(exc, httpx.ConnectError):
        reason = f"could not connect ({_short_text(str(exc))})"
    elif isinstance(exc, httpx.RemoteProtocolError):
        reason = f"the connection was dropped ({_short_text(str(exc))})"
    else:
        reason = _short_text(str(exc)) or type(exc).__name__
    return ComputeError(f"cannot reach the Jupyter server at {url}: {reason}")


def _short_text(text: str, limit: int = 200) -> str:
    """Text (HTML tags dropped, whitespace collapsed) cut to ``limit`` characters."""
    words = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return words if len(words) <= limit else words[: limit - 3] + "..."
