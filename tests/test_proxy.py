"""The passthrough forwards to a backend's API with its credentials, and refuses escapes."""

from __future__ import annotations

import asyncio
import json
import pytest
import tornado.httpserver
import tornado.testing
import tornado.web
from jupyter_server.utils import url_path_join

from jupyter_compute.server.proxy import build_target

SEEN: list[dict] = []


class EchoHandler(tornado.web.RequestHandler):
    def _echo(self) -> None:
        SEEN.append({"method": self.request.method, "uri": self.request.uri, "headers": dict(self.request.headers),
                     "body": self.request.body.decode()})
        self.set_header("Content-Type", "application/json")
        self.set_header("X-Internal", "not forwarded")
        self.set_status(201 if self.request.method == "POST" else 200)
        self.finish(json.dumps(SEEN[-1]))

    get = post = put = delete = patch = _echo


@pytest.fixture
def echo_port(jp_asyncio_loop):
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/.*", EchoHandler)]))
    server.add_sockets([sock])
    SEEN.clear()
    yield port
    server.stop()


@pytest.fixture
def compute_config(echo_port, monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "s3cret-key")
    return {"backends": {"echo": {"kind": "echo_backend:EchoBackend", "url": f"http://127.0.0.1:{echo_port}/api/v1",
                                  "api_key_env": "ECHO_API_KEY"}}}


async def proxy(http_server_client, jp_base_url, jp_auth_header, raw_path: str, **kwargs):
    url = url_path_join(jp_base_url, "compute/proxy/echo") + "/" + raw_path
    return await http_server_client.fetch(url, headers=dict(jp_auth_header), raise_error=False,
                                          allow_nonstandard_methods=True, **kwargs)


async def test_forwards_with_credentials(jp_serverapp, http_server_client, jp_base_url, jp_auth_header,
                                         caplog):
    reply = await proxy(http_server_client, jp_base_url, jp_auth_header, "items/42?full=1&q=a%20b")
    assert reply.code == 200
    seen = json.loads(reply.body)
    assert seen["uri"] == "/api/v1/items/42?full=1&q=a%20b"
    assert seen["headers"]["X-Api-Key"] == "s3cret-key"
    assert "Authorization" not in seen["headers"] and "Cookie" not in seen["headers"]
    assert "X-Internal" not in reply.headers

    posted = await proxy(http_server_client, jp_base_url, jp_auth_header, "jobs", method="POST",
                         body=b'{"algo": 1}', )
    assert posted.code == 201 and json.loads(posted.body)["body"] == '{"algo": 1}'

    # the platform credential stays on the server: not in the backend list nor in the server log
    listing = await http_server_client.fetch(url_path_join(jp_base_url, "compute/api/backends"),
                                             headers=dict(jp_auth_header))
    assert b"s3cret-key" not in listing.body and b"/api/v1" not in listing.body

    # an unknown backend is a 404 naming the field
    local = await http_server_client.fetch(url_path_join(jp_base_url, "compute/proxy/nowhere/x"),
                                           headers=dict(jp_auth_header), raise_error=False)
    assert local.code == 404 and json.loads(local.body)["error"]["field"] == "backend"
    no_api = await http_server_client.fetch(url_path_join(jp_base_url, "compute/proxy/local/x"),
                                            headers=dict(jp_auth_header), raise_error=False)
    assert no_api.code == 405 and json.loads(no_api.body)["error"]["type"] == "NotSupported"
    assert "compute/proxy/echo/items/42" in caplog.text, "the server log was captured"
    assert "s3cret-key" not in caplog.text


ESCAPES = [
    "../secret",
    "items/../../secret",
    "%2e%2e/secret",
    "%2E%2E%2Fsecret",
    "..%2fsecret",
    ".%2e/secret",
    "%252e%252e/secret",
    "items%2f..%2f..%2fsecret",
    "..\\secret",
    "%5c..%5csecret",
    "/etc/passwd",
    "//evil.example.org/x",
    "http://evil.example.org/x",
    "https:%2f%2fevil.example.org",
    "http:evil.example.org",
    "items/./x",
    "items//x",
    "%00",
    "items%0d%0aX-Injected:%201",
]


@pytest.mark.parametrize("raw_path", ESCAPES)
async def test_refuses_escapes(jp_serverapp, http_server_client, jp_base_url, jp_auth_header, raw_path):
    reply = await proxy(http_server_client, jp_base_url, jp_auth_header, raw_path)
    assert reply.code == 400, (raw_path, reply.code, reply.body)
    assert json.loads(reply.body)["error"]["field"] == "path"
    assert SEEN == [], f"{raw_path!r} reached the upstream as {SEEN}"


@pytest.mark.parametrize("raw_path", ESCAPES)
def test_build_target_never_leaves_the_base(raw_path):
    with pytest.raises(Exception) as info:
        build_target("http://127.0.0.1:9/api/v1", raw_path, "")
    assert getattr(info.value, "field", None) == "path"


def test_build_target_keeps_legal_paths():
    target = build_target("http://127.0.0.1:9/api/v1/", "jobs/did:op:abc/status", "x=1")
    assert str(target) == "http://127.0.0.1:9/api/v1/jobs/did:op:abc/status?x=1"


async def test_local_jobs_see_no_secret(jp_serverapp, jp_fetch, jp_auth_header):
    token = jp_serverapp.identity_provider.token
    reply = await jp_fetch("compute", "api", "jobs", method="POST",
                           body=json.dumps({"command": "env; echo ENV-DONE"}))
    job_id = json.loads(reply.body)["id"]
    for _ in range(200):
        job = json.loads((await jp_fetch("compute", "api", "jobs", job_id)).body)
        if job["state"] == "SUCCEEDED":
            break
        await asyncio.sleep(0.1)
    log = json.loads((await jp_fetch("compute", "api", "jobs", job_id, "logs")).body)["text"]
    assert "ENV-DONE" in log and "JUPYTER_COMPUTE_OUTPUT_DIR=" in log
    assert "s3cret-key" not in log and token not in log


def _login_cookie(reply) -> str:
    """The ``name=value`` of the Jupyter login cookie an answer sets ('' when it sets none)."""
    cookies = [c for c in reply.headers.get_list("Set-Cookie") if c.startswith("username-")]
    assert len(cookies) <= 1, cookies
    return cookies[0].split(";")[0] if cookies else ""


async def test_a_token_login_gets_jupyters_cookie_as_on_any_jupyter_route(
        jp_serverapp, http_server_client, jp_base_url, jp_auth_header):
    # Jupyter answers a request that came with a token with a login cookie; the passthrough signs it only
    # after the request has gone on to the platform, and its answers must still carry it, refusals included.
    status = await http_server_client.fetch(url_path_join(jp_base_url, "api/status"), headers=dict(jp_auth_header))
    forwarded = await proxy(http_server_client, jp_base_url, jp_auth_header, "items/1")
    refused = await proxy(http_server_client, jp_base_url, jp_auth_header, "items/../x")
    assert (forwarded.code, refused.code) == (200, 400)
    cookies = [_login_cookie(reply) for reply in (status, forwarded, refused)]
    assert all(cookies), cookies
    assert {c.split("=", 1)[0] for c in cookies} == {cookies[0].split("=", 1)[0]}
    for reply in (status, forwarded):
        attributes = sorted(a.strip().split("=")[0].lower() for a in reply.headers["Set-Cookie"].split(";")[1:])
        assert "httponly" in attributes and "path" in attributes, attributes
    assert "Cookie" not in SEEN[0]["headers"], "Jupyter's cookie is not passed on to the platform"

    # the cookie alone logs the next request in, and a request that has it gets no new one
    again = await http_server_client.fetch(url_path_join(jp_base_url, "compute/proxy/echo/items/2"),
                                           headers={"Cookie": cookies[1]}, raise_error=False)
    assert again.code == 200 and _login_cookie(again) == ""
    anonymous = await http_server_client.fetch(url_path_join(jp_base_url, "compute/proxy/echo/items/3"),
                                               raise_error=False)
    assert anonymous.code == 401 and _login_cookie(anonymous) == ""
    assert [json.loads(reply.body)["uri"] for reply in (forwarded, again)] == ["/api/v1/items/1", "/api/v1/items/2"]
