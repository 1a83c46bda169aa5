"""The OpenAPI document is valid and describes exactly the routes that exist."""

from __future__ import annotations

from openapi_spec_validator import validate

from jupyter_compute.server.routes import ROUTES, handler_methods


async def test_openapi_document_matches_the_routes(api, jp_base_url):
    reply = await api("GET", "openapi.json")
    assert reply.status == 200
    document = reply.body
    validate(document)
    assert document["servers"][0]["url"].endswith(jp_base_url.rstrip("/") + "/compute")

    described = {path: {m for m in ops if m in ("get", "post", "put", "patch", "delete")}
                 for path, ops in document["paths"].items()}
    served = {template: handler_methods(handler) for template, handler in ROUTES}
    assert described == served
