"""The OpenAPI 3.0 document of the REST API, served at ``compute/api/openapi.json``."""

from __future__ import annotations

from typing import Any

from ..forms import FIELD_TYPES
from ..models import (
    MAX_LOG_OFFSET, MAX_SPEC_BYTES, MAX_TAG_CHARS, SPEC_LIST_LIMITS, SPEC_TEXT_LIMITS, JobState,
)

_TEXT = {"type": "string"}
_NUM = {"type": "number", "nullable": True}
_INT = {"type": "integer", "nullable": True}
_OPT_TEXT = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time", "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str = "path", schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema or _TEXT, **extra}


_BACKEND = _param("backend", description="A configured backend's name")
_JOB_ID = _param("job_id", description="Our job id")

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
    "Capabilities": {"type": "object", "additionalProperties": {"type": "boolean"}},
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
            "label": _TEXT, "type": {"type": "string", "enum": list(FIELD_TYPES)}, "required": {"type": "boolean"},
            "default": {"nullable": True}, "choices": {"type": "array", "items": {}, "nullable": True},
            "min": _NUM, "max": _NUM, "help": _TEXT,
        },
    },
    "Form": {
        "type": "object",
        "required": ["fields", "one_of"],
        "properties": {
            "fields": {"type": "array", "items": _ref("FormField")},
            "one_of": {"type": "array", "items": {"type": "array", "items": _TEXT},
                       "description": "Groups of field names of which exactly one must be given"},
        },
    },
    "JobSpec": {
        "type": "object",
        "additionalProperties": False,
        "description": f"At most {MAX_SPEC_BYTES:,} bytes of JSON (413 beyond); large data goes in an upload.",
        "properties": {
            **{name: {**_OPT_TEXT, "maxLength": limit} for name, limit in SPEC_TEXT_LIMITS.items()},
            "backend": {"type": "string", "default": "local", "maxLength": SPEC_TEXT_LIMITS["backend"]},
            "name": {"type": "string", "maxLength": SPEC_TEXT_LIMITS["name"]},
            "inputs": {"type": "array", "items": {}, "maxItems": SPEC_LIST_LIMITS["inputs"]},
            "params": {"type": "object"},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS},
                     "maxItems": SPEC_LIST_LIMITS["tags"]},
            "timeout_s": _NUM, "extra": {"type": "object"},
        },
    },
    "SubmitRequest": {
        "allOf": [_ref("JobSpec")],
        "description": "A JobSpec, optionally with an idempotency_key (or the Idempotency-Key header).",
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
                       "limit": {"type": "integer"}, "offset": {"type": "integer"}},
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
        405: "The backend's platform cannot do this",
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
            "summary": "The fields of this backend's job spec (the submit form the panels render)",
            "parameters": [_BACKEND],
            "responses": _responses({"200": _json(_ref("Form"), "The form")}, 404),
        }
    },
    "/api/jobs": {
        "get": {
            "summary": "Jobs, newest first by default, with filters and paging",
            "parameters": [
                _param("backend", "query"),
                _param("state", "query", {"type": "array", "items": {"type": "string",
                       "enum": [s.value for s in JobState]}}, style="form", explode=True),
                _param("tag", "query"),
                _param("q", "query", description="Free text over name, ids, status and message"),
                _param("sort", "query", description="created, updated, name, state, backend, started or "
                       "finished; a leading '-' sorts descending"),
                _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}),
                _param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}),
            ],
            "responses": _responses({"200": _json(_ref("JobPage"), "A page of jobs and the total count")}, 400),
        },
        "post": {
            "summary": "Submit a job (recorded before the platform is called)",
            "parameters": [_param("Idempotency-Key", "header")],
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
    "/api/jobs/{job_id}/logs": {
        "get": {"summary": "The job's log from a byte offset", "parameters": [
            _JOB_ID, _param("offset", "query",
                            {"type": "integer", "minimum": 0, "maximum": MAX_LOG_OFFSET, "default": 0})],
                "responses": _responses({"200": _json(_ref("LogChunk"), "Log text")}, 400, 404, 405, 502)},
    },
    "/api/jobs/{job_id}/results": {
        "get": {"summary": "The files the job produced", "parameters": [_JOB_ID],
                "responses": _responses({"200": _json({"type": "object", "properties": {
                    "results": {"type": "array", "items": _ref("ResultFile")}}}, "Results")}, 404, 405, 502)},
    },
    "/api/jobs/{job_id}/results/{name}": {
        "get": {"summary": "One result's bytes, streamed through the server",
                "parameters": [_JOB_ID, _param("name", description="Result name; may contain '/'")],
                "responses": _responses({"200": {"description": "The bytes", "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}, 404, 405, 502)},
    },
    "/api/events": {
        "get": {"summary": "Server-sent events: a 'job' event for every change of a job, "
                           "'job_deleted' when one is forgotten",
                "responses": _responses({"200": {"description": "An event stream", "content": {
                    "text/event-stream": {"schema": {"type": "string"}}}}})},
    },
    "/api/uploads": {
        "post": {
            "summary": "Keep a file sent by a kernel (e.g. a DataFrame job input) for a backend to read",
            "parameters": [_param("name", "query", description="A plain file name")],
            "requestBody": {"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
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
            "parameters": [_BACKEND, _param("path", description="Path under the backend's API base; "
                                            "'..', absolute URLs and encoded separators are refused")],
            "responses": _responses({"default": {"description": "The platform's own answer, streamed"}}, 400, 404,
                                    405, 502),
        }
        for method in ("get", "post", "put", "patch", "delete")
    },
}


def openapi_document(base_url: str = "/") -> dict[str, Any]:
    """The document, with the server URL under this server's ``base_url``."""
    from .. import __version__

    return {
        "openapi": "3.0.3",
        "info": {"title": "jupyter-compute", "version": __version__,
                 "description": "Submit, watch, stop and read compute jobs on many platforms."},
        "servers": [{"url": base_url.rstrip("/") + "/compute"}],
        "security": [{"token": []}],
        "paths": PATHS,
        "components": {
            "schemas": _SCHEMAS,
            "responses": _RESPONSES,
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization",
                                          "description": "'token <Jupyter server token>'"}},
        },
    }
