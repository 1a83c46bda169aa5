"""Platform callbacks: an unguessable per-job URL moves the job at once; anything else is refused."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from jupyter_compute.server.webhooks import WebhookTokens


@pytest.fixture
def compute_config():
    return {"backends": {"cb": {"kind": "echo_backend:CallbackBackend"}}}


def backend_of(jp_serverapp):
    return jp_serverapp.web_app.settings["jupyter_compute"].service.backend("cb")


async def post(http_server_client, url: str, body: bytes):
    """POST as a platform does: no Jupyter credentials, no XSRF token."""
    return await http_server_client.fetch(urlsplit(url).path, method="POST", body=body, raise_error=False)


async def test_callbacks_move_the_job_without_polling(api, jp_serverapp, http_server_client):
    reply = await api("POST", "jobs", body={"backend": "cb", "algorithm": "anything"})
    assert reply.status == 201
    job_id = reply.body["id"]
    url = backend_of(jp_serverapp).callback_urls[job_id]
    assert "/compute/api/webhooks/cb/" in url and job_id in url

    running = await post(http_server_client, url, b'{"status": "RUNNING"}')
    assert running.code == 204
    assert (await api("GET", "jobs", job_id)).body["state"] == "RUNNING"

    malformed = await post(http_server_client, url, b'{"status": "EXPLODED"}')
    assert malformed.code == 400 and json.loads(malformed.body)["error"]["field"] == "body"
    not_json = await post(http_server_client, url, b"<xml/>")
    assert not_json.code == 400
    assert (await api("GET", "jobs", job_id)).body["state"] == "RUNNING", "a refused callback changes nothing"

    forged = url[: url.rindex(".") + 1] + "0" * 64
    assert (await post(http_server_client, forged, b'{"status": "DONE"}')).code == 403
    other_backend = url.replace("/webhooks/cb/", "/webhooks/local/")
    assert (await post(http_server_client, other_backend, b'{"status": "DONE"}')).code == 403
    assert (await api("GET", "jobs", job_id)).body["state"] == "RUNNING"

    done = await post(http_server_client, url, b'{"status": "DONE"}')
    assert done.code == 204
    job = (await api("GET", "jobs", job_id)).body
    assert job["state"] == "SUCCEEDED" and job["finished"]


def test_tokens_survive_a_restart_and_cannot_be_forged(tmp_path):
    tokens = WebhookTokens(tmp_path / "webhook.key")
    token = tokens.token("maap", "job1")
    assert WebhookTokens(tmp_path / "webhook.key").job_id("maap", token) == "job1"
    assert tokens.job_id("ogc", token) is None
    assert tokens.job_id("maap", "job2" + token[4:]) is None
    assert tokens.job_id("maap", "nodot") is None
    assert oct((tmp_path / "webhook.key").stat().st_mode & 0o777) == "0o600"
