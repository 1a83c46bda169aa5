"""Every route refuses requests without credentials; browser writes need the XSRF token."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

from jupyter_server.utils import url_path_join

from jupyter_compute.server.routes import ROUTES, handler_methods

SAMPLE = {"backend": "local", "job_id": "0" * 32, "action": "rerun", "name": "out.csv", "path": "items/1",
          "token": "0" * 32 + ".f00d"}


def route_urls(base_url: str):
    for template, handler in ROUTES:
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template)
        for method in sorted(handler_methods(handler)):
            yield method.upper(), url_path_join(base_url, "compute", path)


async def test_every_route_refuses_anonymous_requests(jp_serverapp, http_server_client, jp_base_url):
    urls = list(route_urls(jp_base_url))
    assert len(urls) >= 16
    for method, url in urls:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        response = await http_server_client.fetch(
            url, method=method, body=body, raise_error=False, follow_redirects=False, allow_nonstandard_methods=True
        )
        assert response.code in (401, 403), (method, url, response.code)
        bad_token = await http_server_client.fetch(
            url, method=method, body=body, raise_error=False, follow_redirects=False,
            allow_nonstandard_methods=True, headers={"Authorization": "token wrong"},
        )
        assert bad_token.code in (401, 403), (method, url, bad_token.code)


async def test_browser_writes_need_the_xsrf_token(jp_serverapp, http_server_client, jp_base_url):
    token = jp_serverapp.identity_provider.token
    jobs_url = url_path_join(jp_base_url, "compute/api/jobs")
    # A browser logs in once with the token, then carries only cookies.
    login = await http_server_client.fetch(f"{jobs_url}?token={token}", raise_error=False)
    assert login.code == 200
    cookies = SimpleCookie()
    for header in login.headers.get_list("Set-Cookie"):
        cookies.load(header)
    page = await http_server_client.fetch(url_path_join(jp_base_url, "login"), raise_error=False)
    for header in page.headers.get_list("Set-Cookie"):  # the page a browser loads sets the XSRF cookie
        cookies.load(header)
    assert "_xsrf" in cookies
    cookie_header = "; ".join(f"{k}={v.value}" for k, v in cookies.items())

    reading = await http_server_client.fetch(jobs_url, headers={"Cookie": cookie_header}, raise_error=False)
    assert reading.code == 200

    body = b'{"command": "true"}'
    refused = await http_server_client.fetch(jobs_url, method="POST", body=body, headers={"Cookie": cookie_header},
                                             raise_error=False)
    assert refused.code == 403
    accepted = await http_server_client.fetch(
        jobs_url, method="POST", body=body, raise_error=False,
        headers={"Cookie": cookie_header, "X-XSRFToken": cookies["_xsrf"].value})
    assert accepted.code == 201, accepted.body


async def test_no_token_is_401_and_an_undeclared_method_405_with_allow(jp_serverapp, http_server_client, jp_base_url,
                                                                       jp_auth_header):
    url = url_path_join(jp_base_url, "compute/api/backends")
    anonymous = await http_server_client.fetch(url, raise_error=False)
    assert anonymous.code == 401 and anonymous.headers["WWW-Authenticate"].startswith("token")
    traced = await http_server_client.fetch(url, method="TRACE", headers=dict(jp_auth_header), raise_error=False,
                                            allow_nonstandard_methods=True)
    assert traced.code == 405 and traced.headers["Allow"] == "GET", traced.headers
