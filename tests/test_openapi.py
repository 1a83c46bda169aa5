"""The OpenAPI document is valid and describes exactly the routes that exist."""

from __future__ import annotations

from jsonschema import Draft202012Validator
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


async def test_the_document_says_what_this_server_takes(api):
    """Its backends by name, where each route serves them, and each one's job spec (from its form)."""
    document = (await api("GET", "openapi.json")).body
    schemas = document["components"]["schemas"]
    environments = document["paths"]["/api/backends/{backend}/environments"]["get"]["parameters"][0]
    assert environments["schema"]["enum"] == ["local"]
    passthrough = document["paths"]["/proxy/{backend}/{path}"]["get"]["parameters"][0]
    assert "enum" not in passthrough["schema"] and "No configured backend" in passthrough["description"]
    assert schemas["SubmitRequest"]["oneOf"] == [{"$ref": "#/components/schemas/Submit.local"}]

    local = Draft202012Validator(schemas["Submit.local"])
    for body in ({"command": "true"}, {"backend": "local", "script": "run.py", "command": None, "tags": ["a"]}):
        assert local.is_valid(body), body
    for body in ({}, {"command": " "}, {"command": "true", "script": "run.py"}, {"command": "a\0b"},
                 {"command": "true", "algorithm": "x"}, {"command": "true", "environment": "elsewhere"},
                 {"command": "true", "timeout_s": 0.5}, {"backend": "maap", "command": "true"}):
        assert not local.is_valid(body), body
        assert (await api("POST", "jobs", body=body)).status in (400, 404), body
