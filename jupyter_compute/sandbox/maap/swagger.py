"""The request-body models of the MAAP DPS swagger ("MAAP API - DPS Job Submission", Swagger 2.0),
copied as JSON Schema so the sandbox works from an installed package, and their validation.

Differences from the published file, all stricter and all documented in ``maap.py``: ``JobInput``
requires ``algorithm_id`` (a job cannot run without one) and bodies must be JSON objects. Extra
properties are allowed, as the swagger does not forbid them (the sandbox ignores them).
"""

from __future__ import annotations

from typing import Any

import jsonschema

STATUSES = ["SUCCESS", "ERROR", "PENDING", "RUNNING", "CANCELED", "TIMEOUT"]
JOB_STATUSES = ["ACTIVE", "DEPRECATED"]

_GRANULE = {
    "type": "object",
    "properties": {
        "granule_id": {"type": "string"},
        "description": {"type": "string"},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "JobInput": {
        "type": "object",
        "required": ["algorithm_id"],
        "properties": {
            "job_name": {"type": "string"},
            "algorithm_id": {"type": "string", "minLength": 1},
            "data_collection": {"type": "array", "items": _GRANULE},
            "status": {"type": "string", "enum": JOB_STATUSES},
            "description": {"type": "string"},
        },
    },
    "JobEntryRunInput": {
        "type": "object",
        "properties": {"callback_uri": {"type": "string"}},
    },
}

# Response models, used by the tests to check what the sandbox answers.
_STEP = {
    "type": "object",
    "required": ["index", "description", "status", "messages", "files"],
    "properties": {
        "index": {"type": "integer"},
        "description": {"type": "string"},
        "status": {"type": "string", "enum": STATUSES},
        "messages": {"type": "array", "items": {
            "type": "object", "required": ["level", "text"],
            "properties": {"level": {"type": "string", "enum": ["WARN", "ERROR"]},
                           "text": {"type": "string"}}}},
        "time_started": {"type": "string"},
        "time_ended": {"type": "string"},
        "files": {"type": "array", "items": {
            "type": "object", "required": ["file_uri", "description"],
            "properties": {"file_uri": {"type": "string"}, "description": {"type": "string"}}}},
    },
}
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Job": {
        "type": "object",
        "required": ["job_id", "algorithm_id"],
        "properties": {**SCHEMAS["JobInput"]["properties"], "job_id": {"type": "string"}},
    },
    "SubmitJobResponse": {
        "type": "object", "required": ["entry_id"],
        "properties": {"entry_id": {"type": "string"}},
    },
    "JobStepResults": _STEP,
    "JobEntry": {
        "type": "object",
        "required": ["entry_id", "job_id", "job_name", "user_id", "steps", "status", "callback_uri"],
        "properties": {
            "entry_id": {"type": "string"},
            "job_id": {"type": "string"},
            "job_name": {"type": "string"},
            "user_id": {"type": "string"},
            "steps": {"type": "array", "items": _STEP},
            "status": {"type": "string", "enum": STATUSES},
            "callback_uri": {"type": "string"},
        },
    },
    "ErrorResponse": {
        "type": "object", "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
}


def validation_error(model: str, body: Any) -> str | None:
    """None when ``body`` fits the request model, else one readable sentence naming the field."""
    schema = SCHEMAS.get(model) or RESPONSE_SCHEMAS[model]
    validator = jsonschema.Draft4Validator(schema)
    errors = sorted(validator.iter_errors(body), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if not errors:
        return None
    err = errors[0]
    where = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "required":
        return f"Invalid {model}: {err.message}"
    if err.validator == "enum":
        allowed = ", ".join(map(str, err.validator_value))
        return f"Invalid {model}: {where} must be one of {allowed}, not {err.instance!r}"
    return f"Invalid {model}: {where or 'body'}: {err.message}"
