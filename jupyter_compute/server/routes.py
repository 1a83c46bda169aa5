"""The route table: OpenAPI path templates (under ``{base_url}compute``) and their handlers.

The tornado patterns and the OpenAPI document are both derived from this one table, and
a test checks every method of every handler is described, so the two cannot drift apart.
"""

from __future__ import annotations

import re

from tornado.web import RequestHandler

from . import handlers as h
from .proxy import ProxyHandler

#: Parameters that may span several path segments.
MULTI_SEGMENT_PARAMS = {"name", "path"}

ROUTES: list[tuple[str, type[RequestHandler]]] = [
    ("/api/backends", h.BackendsHandler),
    ("/api/backends/{backend}/environments", h.EnvironmentsHandler),
    ("/api/backends/{backend}/clusters", h.ClustersHandler),
    ("/api/backends/{backend}/form", h.FormHandler),
    ("/api/jobs", h.JobsHandler),
    ("/api/jobs/{job_id}", h.JobHandler),
    ("/api/jobs/{job_id}/cancel", h.JobCancelHandler),
    ("/api/jobs/{job_id}/detail", h.JobDetailHandler),
    ("/api/jobs/{job_id}/actions/{action}", h.JobActionHandler),
    ("/api/jobs/{job_id}/logs", h.JobLogsHandler),
    ("/api/jobs/{job_id}/results", h.JobResultsHandler),
    ("/api/jobs/{job_id}/results/{name}", h.JobResultHandler),
    ("/api/uploads", h.UploadsHandler),
    ("/api/events", h.EventsHandler),
    ("/api/webhooks/{backend}/{token}", h.WebhookHandler),
    ("/api/openapi.json", h.OpenAPIHandler),
    ("/proxy/{backend}/{path}", ProxyHandler),
]


def tornado_pattern(template: str) -> str:
    """'/api/jobs/{job_id}' → 'compute/api/jobs/(?P<job_id>[^/]+)' (relative to base_url)."""

    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        body = ".*" if name == "path" else ".+" if name in MULTI_SEGMENT_PARAMS else "[^/]+"
        return f"(?P<{name}>{body})"

    return "compute" + re.sub(r"\{(\w+)\}", group, template.replace(".", r"\."))


def handler_methods(handler: type[RequestHandler]) -> set[str]:
    """The HTTP methods a handler class really implements."""
    return {
        method
        for method in ("get", "post", "put", "patch", "delete")
        if getattr(handler, method) is not getattr(RequestHandler, method)
    }
