"""REST handlers of ``{base_url}compute/api/``: parse, call the service, serialise.

Every handler method is ``@web.authenticated`` and ``@authorized`` on the resource
``compute``; POST/DELETE from a browser also need Jupyter's XSRF token (APIHandler).
Errors answer ``{"error": {"type", "message", "field"?, ...}}`` — never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import ComputeError, InvalidSpec, PayloadTooLarge
from ..forms import refresh_values
from ..models import LOCAL_FILE_HEADER, MAX_LOG_OFFSET, MAX_SPEC_BYTES, JobState
from .events import format_sse
from .service import MAX_IDEMPOTENCY_KEY, action_values

if TYPE_CHECKING:
    from ..backends.local import LocalBackend
    from .app import ComputeApp
    from .service import JobService
    from .store import PageText

AUTH_RESOURCE = "compute"
SSE_KEEPALIVE_S = 15.0
MAX_QUERY_INT = 2**53


#: How deep a request body may nest (a job spec needs a handful of levels).
MAX_JSON_DEPTH = 32


def _refuse_constant(name: str) -> Any:
    raise InvalidSpec(f"'{name}' is not a JSON number", field="body")


#: Made once: json.dumps/json.loads given an option build a new encoder or decoder on every call.
_ENCODER = json.JSONEncoder(allow_nan=False)
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def check_json_value(value: Any) -> None:
    """Refuse (InvalidSpec naming the top-level field) what parses as JSON but cannot be kept:
    nesting deeper than MAX_JSON_DEPTH, and text that is not Unicode (a lone surrogate, ``"\\ud800"``)."""
    stack: list[tuple[Any, str, int]] = [(value, "body", 0)]
    while stack:
        item, field, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidSpec(f"'{field}' nests deeper than {MAX_JSON_DEPTH} levels", field=field)
        if isinstance(item, dict):
            for key, inner in item.items():
                owner = key if depth == 0 else field
                stack.append((key, owner, depth + 1))
                stack.append((inner, owner, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, field, depth + 1) for inner in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidSpec(f"'{field}' holds text that is not valid Unicode (a lone surrogate)",
                                  field=field) from None


class ComputeHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every jupyter-compute handler: auth resource, JSON helpers, error bodies."""

    auth_resource = AUTH_RESOURCE

    @property
    def compute(self) -> ComputeApp:
        return self.extensionapp  # type: ignore[return-value]

    @property
    def service(self) -> JobService:
        return self.compute.service

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(_ENCODER.encode(data), set_content_type="application/json; charset=UTF-8")

    def json_body(self) -> Any:
        try:
            raw = self.request.body or b"null"
            body = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
        except RecursionError:
            raise InvalidSpec(f"the request body nests deeper than {MAX_JSON_DEPTH} levels", field="body") from None
        except ValueError as exc:  # not JSON, not UTF-8, or an integer too long to read
            raise InvalidSpec(f"the request body is not valid JSON: {exc}", field="body") from None
        check_json_value(body)
        return body

    def int_argument(self, name: str, default: int, minimum: int = 0, maximum: int = MAX_QUERY_INT) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidSpec(f"'{name}' must be an integer, not '{raw}'", field=name) from None
        if not minimum <= value <= maximum:
            raise InvalidSpec(f"'{name}' must be between {minimum} and {maximum}", field=name)
        return value

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ComputeError) and not self._finished:
            if e.http_status >= 500:
                self.log.warning("%s %s: %s", self.request.method, self.request.path, e)
            self.send_error(e.http_status, exc_info=sys.exc_info())
            return
        super()._handle_request_exception(e)

    def _needs_login(self) -> bool:
        """Whether this request was refused for want of a Jupyter login (not a route of its own credential)."""
        method = getattr(self, (self.request.method or "").lower(), None)
        allowed = getattr(method, "__allow_unauthenticated", False)
        return not allowed and getattr(self, "_jupyter_current_user", None) is None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 403 and self._needs_login():
            # Jupyter refuses a request with no (or a wrong) token as 403; HTTP's word for it is 401.
            status_code = 401
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'token realm="jupyter"')
        if status_code == 405 and "Allow" not in self._headers:
            from .routes import handler_methods  # routes imports this module

            self.set_header("Allow", ", ".join(sorted(m.upper() for m in handler_methods(type(self)))))
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ComputeError):
            body = exc.to_dict()
        elif isinstance(exc, web.HTTPError):
            body = {"error": {"type": "HTTPError", "message": exc.log_message or self._reason}}
        else:
            body = {"error": {"type": "ServerError", "message": "internal error; see the server log"}}
        self.finish(json.dumps(body), set_content_type="application/json; charset=UTF-8")


class BackendsHandler(ComputeHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"backends": self.service.describe_backends()})


class EnvironmentsHandler(ComputeHandler):
    @web.authenticated
    @authorized
    async def get(self, backend: str) -> None:
        environments = await self.service.environments(backend)
        self.write_json({"environments": [e.to_dict() for e in environments]})


class FormHandler(ComputeHandler):
    """The backend's submit form: the fields of its job spec, for the panels to render, as they are for the
    values chosen so far (query parameters, only of the fields its form's ``refresh_on`` names)."""

    @web.authenticated
    @authorized
    async def get(self, backend: str) -> None:
        chosen = self.service.backend(backend)
        given = {name: self.get_query_argument(name) for name in self.request.query_arguments}
        values = refresh_values(chosen.form(), given)
        self.write_json((await chosen.form_for(values)).to_dict())


class ClustersHandler(ComputeHandler):
    @web.authenticated
    @authorized
    async def get(self, backend: str) -> None:
        clusters = await self.service.clusters(backend)
        self.write_json({"clusters": [c.to_dict() for c in clusters]})


def _states(values: list[str]) -> list[JobState] | None:
    names = [name.strip().upper() for value in values for name in value.split(",") if name.strip()]
    try:
        return [JobState(name) for name in names] or None
    except ValueError:
        allowed = ", ".join(s.value for s in JobState)
        raise InvalidSpec(f"unknown state in {names} (allowed: {allowed})", field="state") from None


def page_body(page: PageText, limit: int) -> bytes:
    """The answer of ``GET jobs``: the page's jobs (JSON text made on the store's thread), the total, the
    limit, the page's offset and, unless it is the last page, ``next`` (the cursor of the page after it)."""
    tail: dict[str, Any] = {"total": page.total, "limit": limit, "offset": page.offset}
    if page.next is not None:
        tail["next"] = page.next
    return b'{"jobs":' + page.jobs + b"," + json.dumps(tail).encode()[1:]


class JobsHandler(ComputeHandler):
    def compute_etag(self) -> None:
        """No ETag: the list changes with every job, and hashing a 1,000-job page holds the loop ~1 ms."""
        return None

    @web.authenticated
    @authorized
    async def get(self) -> None:
        limit = self.int_argument("limit", 50, minimum=1)
        page = await self.service.list_jobs(
            backend=self.get_query_argument("backend", None) or None,
            state=_states(self.get_query_arguments("state")),
            tag=self.get_query_argument("tag", None) or None,
            q=self.get_query_argument("q", None) or None,
            sort=self.get_query_argument("sort", None) or "-created",
            limit=limit,
            offset=self.int_argument("offset", 0),
            cursor=self.get_query_argument("cursor", None) or None,
        )
        self.finish(page_body(page, limit), set_content_type="application/json; charset=UTF-8")

    @web.authenticated
    @authorized("execute")  # a job runs code, like a kernel or a terminal
    async def post(self) -> None:
        if len(self.request.body) > MAX_SPEC_BYTES:
            raise PayloadTooLarge(f"a job spec is at most {MAX_SPEC_BYTES:,} bytes of JSON; give large data as "
                                  "an upload (POST uploads) and name it in the spec", field="body")
        body = self.json_body()
        header_key = self.request.headers.get("Idempotency-Key")
        if header_key and len(header_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidSpec(f"the Idempotency-Key header is at most {MAX_IDEMPOTENCY_KEY} characters",
                              field="Idempotency-Key")
        if header_key and isinstance(body, dict):
            body.setdefault("idempotency_key", header_key)
        job, created = await self.service.submit(body)
        self.set_header("Location", self.request.path.rstrip("/") + "/" + job.id)
        self.write_json(job.to_dict(), status=201 if created else 200)


class JobHandler(ComputeHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.write_json((await self.service.get(job_id)).to_dict())

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        await self.service.delete(job_id)
        self.set_status(204)
        self.finish()


class JobCancelHandler(ComputeHandler):
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        job = await self.service.cancel(job_id)
        if not job.is_terminal:  # the platform is stopping it: look again soon, not after the backoff
            self.compute.monitor.poke(job.id)
        self.write_json(job.to_dict())


class JobDetailHandler(ComputeHandler):
    """What the platform says of a job beyond its status (facts), and the actions it offers now."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        detail = await self.service.detail(job_id)
        self.write_json({"detail": detail.to_dict()})


class JobActionHandler(ComputeHandler):
    """Runs one of the actions a job's detail offers, with the values of its form."""

    @web.authenticated
    @authorized("execute")  # an action may start work on the platform, as a submission does
    async def post(self, job_id: str, action: str) -> None:
        if len(self.request.body) > MAX_SPEC_BYTES:
            raise PayloadTooLarge(f"an action request is at most {MAX_SPEC_BYTES:,} bytes of JSON", field="body")
        values = action_values(self.json_body() if self.request.body else {})
        job = await self.service.act(job_id, action, values)
        self.write_json(job.to_dict())


class JobLogsHandler(ComputeHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        chunk = await self.service.logs(job_id, self.int_argument("offset", 0, maximum=MAX_LOG_OFFSET))
        self.write_json({"text": chunk.text, "offset": chunk.offset, "complete": chunk.complete})


class JobResultsHandler(ComputeHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        results = await self.service.results(job_id)
        self.write_json({"results": [r.to_dict() for r in results]})


class JobResultHandler(ComputeHandler):
    """Streams one result's bytes through the server (never a platform URL).

    A client that asks with ``X-Compute-Local-File: 1`` is answered 204 with the file's absolute path and
    identity instead when the result is a file of this machine the server's user owns (see
    :func:`_local_result_file`); it reads the file itself when it can open that very file, else asks again.
    """

    @web.authenticated
    @authorized
    async def get(self, job_id: str, name: str) -> None:
        if self.request.headers.get(LOCAL_FILE_HEADER) == "1":
            local = await _local_result_file(self.service, job_id, name)
            if local is not None:
                self.set_header(LOCAL_FILE_HEADER, local)
                self.set_status(204)
                self.finish()
                return
        async with self.service.open_result(job_id, name) as (result, chunks):
            media_type = result.media_type or "application/octet-stream"
            self.set_header("Content-Type", media_type)
            filename = quote(name.rsplit("/", 1)[-1])
            self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{filename}")
            # No Content-Length: a running job's file may still grow while it streams.
            try:
                async for chunk in chunks:
                    self.write(chunk)
                    await self.flush()
            except StreamClosedError:
                return
        self.finish(set_content_type=media_type)


async def _local_result_file(service: JobService, job_id: str, name: str) -> str | None:
    """``path=<quoted absolute path>; dev=…; ino=…; size=…; mtime_ns=…`` of a local job's result file, when it
    lies in that job's folder and belongs to the server's own user; None otherwise (the bytes are then sent)."""
    from ..backends.local import LocalBackend

    try:
        job = await service.store.get(job_id)
        backend = service.job_backend(job)
        if not isinstance(backend, LocalBackend) or job.remote_id is None:
            return None
        # result_file checks the name as open_result does (an output of the job, or its log): no listing first
        return await asyncio.to_thread(_describe_local_file, backend, job.remote_id, name)
    except (ComputeError, OSError):
        return None


def _describe_local_file(backend: LocalBackend, remote_id: str, name: str) -> str | None:
    job_dir, path = backend.result_file(remote_id, name)  # checks the name and keeps to the job's outputs
    facts = os.stat(path)
    if not path.is_relative_to(job_dir) or not stat.S_ISREG(facts.st_mode) or facts.st_uid != os.getuid():
        return None
    return (
        f"path={quote(str(path))}; dev={facts.st_dev}; ino={facts.st_ino}; size={facts.st_size}; "
        f"mtime_ns={facts.st_mtime_ns}"
    )


class EventsHandler(ComputeHandler):
    """Server-sent events: one ``job`` event per change of any job, pushed as it happens."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        subscription = self.service.hub.subscribe()
        try:
            self.write(": connected\n\n")
            await self.flush()
            while True:
                try:
                    event = await subscription.next(timeout=SSE_KEEPALIVE_S)
                except StopAsyncIteration:
                    break
                self.write(format_sse(event) if event else ": keepalive\n\n")
                await self.flush()
        except StreamClosedError:
            return
        finally:
            subscription.close()
        self.finish(set_content_type="text/event-stream")


class UploadsHandler(ComputeHandler):
    """Stores a file sent by a kernel (e.g. a DataFrame given as a job input) for a backend to read."""

    @web.authenticated
    @authorized("write")
    async def post(self) -> None:
        name = self.get_query_argument("name", "")
        path = await self.service.store_upload(name, self.request.body)
        self.write_json({"path": str(path), "name": path.name, "size": len(self.request.body)}, status=201)


class WebhookHandler(ComputeHandler):
    """Platform callbacks. Authenticated by the unguessable token in the URL, not by Jupyter:
    a wrong token is refused with 403 and a body the backend does not recognise with 400."""

    def check_xsrf_cookie(self) -> None:
        """Platforms carry no XSRF token; the token in the URL is the credential."""

    @allow_unauthenticated
    async def post(self, backend: str, token: str) -> None:
        job_id = self.compute.webhook_tokens.job_id(backend, token)
        if job_id is None:
            raise web.HTTPError(403, "unknown callback token")
        job = await self.service.get(job_id)
        if job.backend != backend:
            raise web.HTTPError(403, "unknown callback token")
        polled = await self.service.webhook(job, self.json_body())
        if polled:
            self.compute.monitor.poke(job.id)
        self.set_status(204)
        self.finish()


class OpenAPIHandler(ComputeHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        from .openapi import openapi_document

        self.write_json(openapi_document(self.base_url, self.service.backends))
