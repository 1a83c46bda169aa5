"""The OpenAPI 3.0 document of the REST API, served at ``compute/api/openapi.json``."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..backends.base import Capabilities
from ..forms import Form, field_type_names
from ..models import LOCAL_FILE_HEADER, MAX_LOG_OFFSET, MAX_SPEC_BYTES, JobState
from .handlers import MAX_QUERY_INT
from .service import MAX_IDEMPOTENCY_KEY, UPLOAD_NAME
from .spec_schema import spec_schema, submit_schemas
from .store import MAX_LIMIT, SORT_KEYS

if TYPE_CHECKING:
    from ..backends.base import Backend

_TEXT = {"type": "string"}
_NUM = {"type": ["number", "null"]}
_INT = {"type": ["integer", "null"]}
_OPT_TEXT = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """One kind of server-sent event: its name, and its data as JSON."""
    return {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"const": name}, "data": {"type": "string", "contentMediaType": "application/json",
                                           "contentSchema": data}}}


def _param(name: str, where: str = "path", schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema or _TEXT, **extra}


def _query(name: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An optional query parameter, which an empty value (``?name=``) leaves out."""
    return _param(name, "query", schema, allowEmptyValue=True, **extra)


_BACKEND = _param("backend", description="A configured backend's name")
#: One passthrough path segment as a client sends it: no control character, '%', '/', '\\' or ':' (which could
#: make it a URL of its own), and no leading '.' (so never '.' or '..').
_PROXY_PATH = r"^([^\u0000-\u001f\u007f%/\\:.][^\u0000-\u001f\u007f%/\\:]*)?$"
_JOB_ID = _param("job_id", description="Our job id")
_ACTION = _param("action", description="The name of an action the job's detail offers now")

#: What each capability flag promises (a flag missing here is described by its name only).
_CAPABILITY_TEXT = {
    "can_cancel": "POST jobs/{job_id}/cancel stops the job on its platform",
    "can_delete": "DELETE jobs/{job_id} removes the job from its platform too",
    "can_list": "The platform lists the account's jobs",
    "has_logs": "GET jobs/{job_id}/logs reads the job's log",
    "has_results": "GET jobs/{job_id}/results lists the files the job made",
    "has_environments": "GET backends/{backend}/environments answers",
    "has_clusters": "GET backends/{backend}/clusters answers",
    "has_webhooks": "The platform calls back when a job changes (POST webhooks/...)",
    "can_proxy": "The passthrough proxy/{backend}/... forwards to the platform's own API",
    "has_detail": "GET jobs/{job_id}/detail says more of a job than its status, and the actions it offers "
                  "(POST jobs/{job_id}/actions/{action}); without it, the detail is empty",
    "discovers_jobs": "Jobs the platform starts on its own (e.g. by a schedule) are recorded and followed",
}


def _capabilities_schema() -> dict[str, Any]:
    names = [flag.name for flag in dataclasses.fields(Capabilities)]
    return {"type": "object", "required": names, "additionalProperties": {"type": "boolean"},
            "properties": {name: {"type": "boolean", "description": _CAPABILITY_TEXT.get(name, name)}
                           for name in names}}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": _TEXT, "message": _TEXT, "field": _TEXT, "backend": _TEXT, "job_id": _TEXT},
            }
        },
    },
    "Capabilities": _capabilities_schema(),
    "Backend": {
        "type": "object",
        "required": ["name", "kind", "capabilities"],
        "properties": {"name": _TEXT, "kind": _TEXT, "capabilities": _ref("Capabilities"),
                       "available": {"type": "boolean"}, "message": _TEXT},
    },
    "Environment": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": _TEXT, "name": _TEXT, "backend": _TEXT, "description": _TEXT, "cpus": _NUM, "gpus": _INT,
            "gpu_type": _OPT_TEXT, "memory_gb": _NUM, "disk_gb": _NUM, "price": _NUM, "max_jobs": _INT,
            "running_jobs": _INT, "max_duration_s": _NUM, "raw": {"type": "object"},
        },
    },
    "Cluster": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": _TEXT, "name": _TEXT, "backend": _TEXT, "status": _TEXT, "nodes": _INT, "nodes_available": _INT,
            "cpus": _NUM, "cpus_allocatable": _NUM, "memory_gb": _NUM, "memory_gb_allocatable": _NUM,
            "gpus": _INT, "gpus_allocatable": _INT, "gpu_type": _OPT_TEXT, "raw": {"type": "object"},
            "health": {"type": "string", "enum": ["healthy", "busy", "failing", "unknown"],
                       "description": "What status means, by the backend's own table of its platform's statuses"},
        },
    },
    "ResultFile": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": _TEXT, "size": _INT, "kind": {"type": "string", "enum": ["output", "log"]},
                       "media_type": _OPT_TEXT},
    },
    "FormField": {
        "type": "object",
        "required": ["name", "label", "type", "required"],
        "properties": {
            "name": {"type": "string", "description": "Path in the job spec: 'command', 'params.rows', 'extra.x'"},
            "label": _TEXT, "type": {"type": "string", "enum": list(field_type_names())},
            "required": {"type": "boolean"},
            "default": {}, "choices": {"type": ["array", "null"], "items": {}},
            "min": _NUM, "max": _NUM, "help": _TEXT,
            "pattern": {**_OPT_TEXT, "description": "A regular expression the whole text (each item of tags) "
                        "must match, in the syntax Python and JavaScript share"},
            "choice_labels": {"type": ["array", "null"], "items": _TEXT,
                              "description": "What a person reads for each of 'choices', in their order (the "
                              "value sent is the choice)"},
        },
    },
    "Form": {
        "type": "object",
        "required": ["fields", "one_of"],
        "properties": {
            "fields": {"type": "array", "items": _ref("FormField")},
            "one_of": {"type": "array", "items": {"type": "array", "items": _TEXT},
                       "description": "Groups of field names of which exactly one must be given"},
            "refresh_on": {"type": "array", "items": _TEXT,
                           "description": "Fields whose change makes it another form: fetch it again with the "
                           "values chosen so far of these fields as query parameters"},
        },
    },
    "JobSpec": {
        **spec_schema(),
        "description": f"At most {MAX_SPEC_BYTES:,} bytes of JSON (413 beyond); large data goes in an upload.",
    },
    "SubmitRequest": {
        **spec_schema(request=True),
        "description": "A JobSpec, optionally with an idempotency_key (or the Idempotency-Key header). Each "
                       "backend takes the fields of its form (GET backends/{backend}/form); the document a "
                       "server serves says which, backend by backend.",
    },
    "Job": {
        "type": "object",
        "required": ["id", "backend", "state"],
        "properties": {
            "id": _TEXT, "backend": _TEXT, "name": _TEXT, "remote_id": _OPT_TEXT,
            "state": {"type": "string", "enum": [s.value for s in JobState]},
            "native_status": _TEXT, "message": _TEXT, "created": _TIME, "updated": _TIME,
            "started": _TIME, "finished": _TIME, "tags": {"type": "array", "items": _TEXT},
            "results": {"type": "array", "items": _ref("ResultFile")}, "spec": _ref("JobSpec"),
            "spec_summarised": {"type": "boolean", "description": "In lists and events: whether the spec's long "
                                "text or long lists were cut (GET jobs/{id} has the whole spec)"},
        },
    },
    "JobPage": {
        "type": "object",
        "required": ["jobs", "total", "limit", "offset"],
        "properties": {"jobs": {"type": "array", "items": _ref("Job")}, "total": {"type": "integer"},
                       "limit": {"type": "integer"},
                       "offset": {"type": "integer", "description": "The position of the page's first job"},
                       "next": {"type": "string", "description": "The cursor of the page after this one (pass it "
                                "as `cursor` with the same filters and sort); absent on the last page"}},
    },
    "JobAction": {
        "type": "object",
        "required": ["name", "label", "fields", "help"],
        "properties": {
            "name": {"type": "string", "description": "Its path segment: POST jobs/{job_id}/actions/{name}"},
            "label": _TEXT, "help": _TEXT,
            "fields": {"type": "array", "items": _ref("FormField"),
                       "description": "The form of the values it takes (names are the keys of 'values')"},
        },
    },
    "JobDetail": {
        "type": "object",
        "required": ["facts", "actions"],
        "properties": {
            "facts": {"type": "object", "description": "What the platform says of the job, for people (JSON "
                      "values by name); empty when its backend has no detail"},
            "actions": {"type": "array", "items": _ref("JobAction"),
                        "description": "The actions the job offers now, beyond cancel and delete"},
        },
    },
    "ActionRequest": {
        "type": "object",
        "properties": {"values": {"type": "object", "description": "The values of the action's form, by field "
                                  "name (none: an empty object)"}},
        "additionalProperties": False,
    },
    "LogChunk": {
        "type": "object",
        "required": ["text", "offset", "complete"],
        "properties": {"text": _TEXT, "offset": {"type": "integer"}, "complete": {"type": "boolean"}},
    },
}

_RESPONSES = {
    f"E{code}": {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
    for code, text in {
        400: "Bad input: the field and the reason are named",
        401: "Not authenticated: no token, or a wrong one",
        403: "Not authorized (or a browser write without its XSRF token), or the platform refused our credentials",
        404: "No such backend, job or result",
        405: "The backend's platform cannot do this, or the job is read-only (its backend is not configured)",
        413: "The job spec is too large: give large data as an upload and name it in the spec",
        502: "The platform failed; its own message is kept",
        503: "The backend is configured but cannot work; the message says what to set",
    }.items()
}


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    out = dict(ok)
    if 404 in errors:  # the route names a backend (or a job of one): it may be configured but unavailable
        errors = (*errors, 503)
    for code in (401, 403, *errors):
        out[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    return out


PATHS: dict[str, dict[str, Any]] = {
    "/api/backends": {
        "get": {
            "summary": "The configured backends with their capability flags",
            "responses": _responses({"200": _json({"type": "object", "properties": {
                "backends": {"type": "array", "items": _ref("Backend")}}}, "Backends")}),
        }
    },
    "/api/backends/{backend}/environments": {
        "get": {
            "summary": "Where jobs may run on this backend, and at what size",
            "parameters": [_BACKEND],
            "responses": _responses({"200": _json({"type": "object", "properties": {
                "environments": {"type": "array", "items": _ref("Environment")}}}, "Environments")}, 404, 405, 502),
        }
    },
    "/api/backends/{backend}/clusters": {
        "get": {
            "summary": "Clusters and pools with their capacity",
            "parameters": [_BACKEND],
            "responses": _responses({"200": _json({"type": "object", "properties": {
                "clusters": {"type": "array", "items": _ref("Cluster")}}}, "Clusters")}, 404, 405, 502),
        }
    },
    "/api/backends/{backend}/form": {
        "get": {
            "summary": "The fields of this backend's job spec (the submit form the panels render), for the values "
                       "chosen so far",
            "description": "Query parameters are the values chosen so far of the fields the form's refresh_on "
                           "names (e.g. ?extra.kind=workflow); another name is refused (400), a blank value is "
                           "none. The backend may ask its platform to make the form (502 when that fails).",
            "parameters": [_BACKEND],
            "responses": _responses({"200": _json(_ref("Form"), "The form")}, 400, 404, 502),
        }
    },
    "/api/jobs": {
        "get": {
            "summary": "Jobs, newest first by default, with filters and paging",
            "parameters": [
                _query("backend"),
                _query("state", {"type": "array", "items": {"type": "string",
                       "enum": [s.value for s in JobState]}}, style="form", explode=True),
                _query("tag"),
                _query("q", description="Free text over name, ids, status and message"),
                _query("sort", {"type": "string", "enum": [*SORT_KEYS, *(f"-{key}" for key in SORT_KEYS)],
                       "default": "-created"}, description="The order; a leading '-' sorts descending"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}),
                _query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_QUERY_INT, "default": 0},
                       description="Jobs to skip (0 when a cursor is given)"),
                _query("cursor", description="Start after the page whose `next` this is, with the same filters "
                       "and sort (fast at any depth); 400 naming `cursor` when it is malformed or of another query"),
            ],
            "responses": _responses({"200": _json(_ref("JobPage"), "A page of jobs and the total count")}, 400),
        },
        "post": {
            "summary": "Submit a job (recorded before the platform is called)",
            "parameters": [_param("Idempotency-Key", "header", {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
                                  description="Same as the body's idempotency_key (which wins); empty is none")],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SubmitRequest")}}},
            "responses": _responses({
                "201": _json(_ref("Job"), "The new job"),
                "200": _json(_ref("Job"), "The job first submitted with this idempotency key"),
            }, 400, 404, 413, 502),
        },
    },
    "/api/jobs/{job_id}": {
        "get": {"summary": "One job", "parameters": [_JOB_ID],
                "responses": _responses({"200": _json(_ref("Job"), "The job")}, 404)},
        "delete": {"summary": "Forget a job (cancelled first if it runs; removed from the platform where possible)",
                   "parameters": [_JOB_ID],
                   "responses": _responses({"204": {"description": "Deleted"}}, 404, 405, 502)},
    },
    "/api/jobs/{job_id}/cancel": {
        "post": {"summary": "Stop a job", "parameters": [_JOB_ID],
                 "responses": _responses({"200": _json(_ref("Job"), "The job after the request")}, 404, 405, 502)},
    },
    "/api/jobs/{job_id}/detail": {
        "get": {"summary": "What the platform says of a job beyond its status, and the actions it offers now "
                           "(empty for a backend without has_detail, a read-only job or one not on its platform)",
                "parameters": [_JOB_ID],
                "responses": _responses({"200": _json({"type": "object", "required": ["detail"], "properties": {
                    "detail": _ref("JobDetail")}}, "The job's detail")}, 404, 405, 502)},
    },
    "/api/jobs/{job_id}/actions/{action}": {
        "post": {"summary": "Run an action the job's detail offers, with its form's values; the job's status "
                            "after it is recorded (a finished job may run again) and pushed as an event",
                 "parameters": [_JOB_ID, _ACTION],
                 "requestBody": {"required": False, "content": {"application/json": {"schema": _ref(
                     "ActionRequest")}}},
                 "responses": _responses({"200": _json(_ref("Job"), "The job after the action")},
                                         400, 404, 405, 413, 502)},
    },
    "/api/jobs/{job_id}/logs": {
        "get": {"summary": "The job's log from a byte offset", "parameters": [
            _JOB_ID, _query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_LOG_OFFSET, "default": 0})],
                "responses": _responses({"200": _json(_ref("LogChunk"), "Log text")}, 400, 404, 405, 502)},
    },
    "/api/jobs/{job_id}/results": {
        "get": {"summary": "The files the job produced", "parameters": [_JOB_ID],
                "responses": _responses({"200": _json({"type": "object", "properties": {
                    "results": {"type": "array", "items": _ref("ResultFile")}}}, "Results")}, 404, 405, 502)},
    },
    "/api/jobs/{job_id}/results/{name}": {
        "get": {"summary": "One result's bytes, streamed through the server",
                "parameters": [_JOB_ID, _param("name", description="Result name; may contain '/'"),
                               _param(LOCAL_FILE_HEADER, "header",
                                      description="'1': a client on the server's machine asks for the file's path "
                                                  "instead of its bytes (any other value is ignored)")],
                "responses": _responses({
                    "200": {"description": "The bytes, with the result's own media type", "content": {"*/*": {}}},
                    "204": {"description": f"Asked with {LOCAL_FILE_HEADER}, for a file of this machine that the "
                                           f"server's user owns: no bytes; the answer's {LOCAL_FILE_HEADER} header "
                                           "holds 'path=<quoted absolute path>; dev; ino; size; mtime_ns', which "
                                           "the client checks against the file it opens",
                            "headers": {LOCAL_FILE_HEADER: {"schema": _TEXT}}},
                }, 404, 405, 502)},
    },
    "/api/events": {
        "get": {"summary": "Server-sent events: a 'job' event for every change of a job, "
                           "'job_deleted' when one is forgotten",
                "responses": _responses({"200": {"description": "An event stream", "content": {
                    "text/event-stream": {"schema": {"oneOf": [_event("job", _ref("Job")), _event(
                        "job_deleted", {"type": "object", "required": ["id"], "properties": {"id": _TEXT}})]}}}}})},
    },
    "/api/uploads": {
        "post": {
            "summary": "Keep a file sent by a kernel (e.g. a DataFrame job input) for a backend to read",
            "parameters": [_param("name", "query", {"type": "string", "pattern": f"^{UPLOAD_NAME.pattern}$"},
                                  required=True, description="A plain file name: letters, digits, '.', '-', '_'")],
            "requestBody": {"description": "The file's bytes (none: an empty file)",
                            "content": {"application/octet-stream": {}}},
            "responses": _responses({"201": _json({"type": "object", "properties": {
                "path": _TEXT, "name": _TEXT, "size": {"type": "integer"}}}, "Where the server keeps it")}, 400),
        }
    },
    "/api/webhooks/{backend}/{token}": {
        "post": {
            "summary": "A platform's callback about one job; the token in the URL is the credential",
            "security": [],
            "parameters": [_BACKEND, _param("token", description="Unguessable, made by the server for one job")],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "204": {"description": "Applied"},
                "400": {"$ref": "#/components/responses/E400"},
                "403": {"$ref": "#/components/responses/E403"},
                "404": {"$ref": "#/components/responses/E404"},
            },
        }
    },
    "/api/openapi.json": {
        "get": {"summary": "This document",
                "responses": _responses({"200": _json({"type": "object"}, "OpenAPI 3.0 document")})},
    },
    "/proxy/{backend}/{path}": {
        method: {
            "summary": "Pass a request through to the backend's own API with its credentials added",
            "parameters": [_BACKEND, _param("path", "path", {"type": "string", "pattern": _PROXY_PATH}, description=(
                "Path under the backend's API base. The server takes several segments ('a/b'); this document can "
                "describe one, as a client encodes '/' in a parameter and encoded separators are refused, as are "
                "'.' and '..' segments, absolute URLs, control characters and '%' or '\\' in any form"))],
            "responses": {"default": {"description": (
                "The platform's own answer, streamed, whatever its status. Refused before it is forwarded, with an "
                "Error body: 400 (the path), 401 (no Jupyter login), 403, 404 (no such backend), 405 (the backend "
                "has no passthrough), 502 (the platform did not answer) and 503 (the backend cannot work)")}},
        }
        for method in ("get", "post", "put", "patch", "delete")
    },
}


#: Routes naming a backend, and which backends they serve (not the others: 404 or 405).
_BACKEND_ROUTES: dict[str, tuple[str, Callable[[Backend], bool]]] = {
    "/api/backends/{backend}/environments": ("has environments", lambda b: b.capabilities.has_environments),
    "/api/backends/{backend}/clusters": ("has clusters", lambda b: b.capabilities.has_clusters),
    "/api/backends/{backend}/form": ("works", lambda b: True),
    "/proxy/{backend}/{path}": ("has a passthrough", lambda b: b.capabilities.can_proxy and bool(b.api_base)),
}


def _backend_param(names: list[str], what: str) -> dict[str, Any]:
    """The ``backend`` path parameter of a route served by the backends ``names``."""
    if names:
        return _param("backend", schema={"type": "string", "enum": names},
                      description=f"A configured backend that {what}")
    return _param("backend", description=f"No configured backend {what}: any name is answered 404 (or 405)")


def _component_name(backend: str) -> str:
    return "Submit." + re.sub(r"[^A-Za-z0-9_-]", "_", backend)


def _form_field_schema() -> dict[str, Any]:
    """``FormField`` with the field types registered now (a type class added after import included)."""
    schema = copy.deepcopy(_SCHEMAS["FormField"])
    schema["properties"]["type"]["enum"] = list(field_type_names())
    return schema


def _refresh_params(forms: Mapping[str, Form]) -> list[dict[str, Any]]:
    """The query parameters of ``GET backends/{backend}/form``: every field some backend's form refreshes on."""
    names = sorted({name for form in forms.values() for name in form.refresh_on})
    return [_query(name, description="A value chosen so far, for a backend whose form's refresh_on names "
                   f"'{name}' ({', '.join(b for b, f in forms.items() if name in f.refresh_on)}); the others "
                   "answer 400") for name in names]


def _server_parts(backends: Mapping[str, Backend]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The paths and schemas of a server with these (working) backends: each route's ``backend`` one of those
    it serves, and ``POST jobs`` one of the backends' own specs (from their forms)."""
    paths = copy.deepcopy(PATHS)
    for template, (what, serves) in _BACKEND_ROUTES.items():
        names = [name for name, backend in backends.items() if serves(backend)]
        for operation in paths[template].values():
            operation["parameters"][0] = _backend_param(names, what)
    forms = {name: backend.form() for name, backend in backends.items()}
    paths["/api/backends/{backend}/form"]["get"]["parameters"] += _refresh_params(forms)
    specs = submit_schemas(forms)
    schemas = {**_SCHEMAS, **{_component_name(name): schema for name, schema in specs.items()}}
    if specs:
        schemas["SubmitRequest"] = {"oneOf": [_ref(_component_name(name)) for name in specs],
                                    "description": _SCHEMAS["SubmitRequest"]["description"]}
    return paths, schemas


def openapi_document(base_url: str = "/", backends: Mapping[str, Backend] | None = None) -> dict[str, Any]:
    """The document, with the server URL under this server's ``base_url``; with ``backends`` (the working
    ones), what this server's routes take: its backends' names and each one's job spec."""
    from .. import __version__

    paths, schemas = _server_parts(backends) if backends is not None else (PATHS, dict(_SCHEMAS))
    schemas["FormField"] = _form_field_schema()
    return {
        "openapi": "3.1.0",
        "info": {"title": "jupyter-compute", "version": __version__,
                 "description": "Submit, watch, stop and read compute jobs on many platforms."},
        "servers": [{"url": base_url.rstrip("/") + "/compute"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": _RESPONSES,
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization",
                                          "description": "'token <Jupyter server token>'"}},
        },
    }
