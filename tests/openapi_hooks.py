"""Schemathesis hooks of tests/test_openapi_conformance.py (named in its configuration).

A job spec names things that exist only on a machine or a platform: a script or a notebook file, an
algorithm registered on MAAP. The document says their shape, not which ones exist (no schema can), so a
spec that fits it may still be refused for naming nothing (a 400 at that field). Like a test's fixtures,
these hooks put real ones in place of every value the document accepts there (a value it refuses is
left for the server to refuse), and harmless programs: the run never executes generated text.

The local backend's rules for parameters are beyond a schema too (names that collide once made
environment variables; for a notebook, names that are Python identifiers; no NUL character, as in
environment variables): the hooks keep only the parameters that follow them.
"""

from __future__ import annotations

import keyword
import re
from typing import Any

import schemathesis

from jupyter_compute.backends.local import param_env_name
from jupyter_compute.models import SPEC_TEXT_LIMITS

#: What a local job runs, by program field (the files are made by the test, in the jobs' folder).
LOCAL_PROGRAMS = {"command": "true", "code": "pass", "script": "job.py", "notebook": "job.ipynb"}
#: The MAAP stand-in's algorithm 'fail' (process id 3): exits at once.
MAAP_PROCESS = "3"


def _given(body: dict[str, Any], field: str, pattern: str = r"[\s\S]*") -> bool:
    """Whether the document accepts ``body[field]`` as given text (whose whole fits ``pattern``)."""
    value = body.get(field)
    return (isinstance(value, str) and bool(value.strip()) and "\0" not in value
            and len(value) <= SPEC_TEXT_LIMITS[field] and re.fullmatch(pattern, value) is not None)


def _local_params(params: dict[str, Any], notebook: bool) -> dict[str, Any]:
    """The parameters the local backend takes: distinct as environment variables, no NUL; for a
    notebook, Python identifiers."""
    kept: dict[str, Any] = {}
    for name, value in params.items():
        texts = [name, value] if isinstance(value, str) else [name]
        if any("\0" in text for text in texts) or param_env_name(name) in map(param_env_name, kept):
            continue
        if notebook and (not name.isidentifier() or keyword.iskeyword(name)):
            continue
        kept[name] = value
    return kept


def _real_spec(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with real (and harmless) programs, files and algorithms in place of generated ones."""
    body = dict(body)
    if body.get("backend") in (None, "local"):
        body.update({field: real for field, real in LOCAL_PROGRAMS.items() if _given(body, field)})
        if isinstance(body.get("params"), dict):
            body["params"] = _local_params(body["params"], notebook=_given(body, "notebook"))
    elif body.get("backend") == "maap" and _given(body, "algorithm", " *[0-9]+ *"):
        body["algorithm"] = MAAP_PROCESS
    return body


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Real programs, files and algorithms in the job specs sent to ``POST jobs``."""
    if case.operation.method.upper() == "POST" and case.operation.path == "/api/jobs" and isinstance(case.body, dict):
        case.body = _real_spec(case.body)
    return case


@schemathesis.hook
def map_query(context: Any, query: Any) -> Any:
    """No generated cursor in ``GET jobs``: a cursor is only ever what an earlier page's ``next`` said (a
    made-up one is refused, naming ``cursor``, which tests/test_jobs_cursor.py checks)."""
    if context.operation.method.upper() == "GET" and context.operation.path == "/api/jobs" and query:
        query.pop("cursor", None)
    return query
