"""`ComputeApp.sandbox = True` through the in-process server: every platform's stand-in as a backend,
with credentials of its own that never replace the user's."""

from __future__ import annotations

import os

import pytest

from conftest import HARDHAT_ADDRESSES, HARDHAT_KEYS, wait_for_state


@pytest.fixture
def compute_config(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OCEAN_PRIVATE_KEY", HARDHAT_KEYS[1])  # a user's own wallet, for their own backends
    return {"sandbox": True, "backends": {"local": {"kind": "local"}}}


async def test_every_stand_in_is_a_working_backend_and_the_users_key_is_untouched(api, jp_serverapp) -> None:
    backends = {b["name"]: b for b in (await api("GET", "backends")).body["backends"]}
    assert {"local", "maap", "maap-ogc", "datastory", "modelarts", "ocean"} <= set(backends)
    assert all(b["available"] for b in backends.values()), backends
    assert backends["ocean"]["consumer_address"] == HARDHAT_ADDRESSES[0], "the sandbox signs with its own key"
    assert os.environ["OCEAN_PRIVATE_KEY"] == HARDHAT_KEYS[1], "the user's variable was not replaced"
    assert not any(name.startswith("JUPYTER_COMPUTE_SANDBOX_") for name in os.environ), "withheld like any secret"
    assert os.environ["OCEAN_PROVIDER_URL"].startswith("http://127.0.0.1:"), "the notebooks find the stand-ins"

    environments = await api("GET", "backends", "ocean", "environments")
    assert environments.status == 200 and len(environments.body["environments"]) == 2
    clusters = await api("GET", "backends", "modelarts", "clusters")
    assert clusters.status == 200 and any(c["id"].startswith("pool:") for c in clusters.body["clusters"])
    job = await api("POST", "jobs", body={"backend": "ocean", "code": "print('hello from the provider')",
                                          "inputs": [{"documentId": _demo_did(), "serviceId": "compute",
                                                      "transferTxId": "0x" + "ab" * 32}]})
    assert job.status == 201, job.body
    assert (await wait_for_state(api, job.body["id"], {"SUCCEEDED", "FAILED"}))["state"] == "SUCCEEDED"


def _demo_did() -> str:
    from jupyter_compute.sandbox.ocean import DEMO_DATASET_DID

    return DEMO_DATASET_DID


def test_stopping_the_stand_ins_puts_the_environment_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from jupyter_compute.server.sandboxes import start_sandboxes

    monkeypatch.setenv("OCEAN_PROVIDER_URL", "http://provider.example.org")
    monkeypatch.delenv("MAAP_SANDBOX_URL", raising=False)
    running = start_sandboxes(logging.getLogger("test"))
    try:
        assert os.environ["OCEAN_PROVIDER_URL"] != "http://provider.example.org"
        assert "MAAP_SANDBOX_URL" in os.environ
    finally:
        running.stop()
    assert os.environ["OCEAN_PROVIDER_URL"] == "http://provider.example.org"
    assert "MAAP_SANDBOX_URL" not in os.environ and not running.stoppers


async def test_the_passthrough_is_open_exactly_where_can_proxy_says(jp_serverapp, api, http_server_client,
                                                                    jp_base_url, jp_auth_header) -> None:
    from jupyter_server.utils import url_path_join

    backends = (await api("GET", "backends")).body["backends"]
    kinds = {b["kind"] for b in backends}
    assert {"local", "maap", "datastory", "modelarts", "ocean"} <= kinds
    for backend in backends:
        url = url_path_join(jp_base_url, "compute/proxy", backend["name"], "no-such-page")
        reply = await http_server_client.fetch(url, headers=dict(jp_auth_header), raise_error=False)
        closed = reply.code == 405 and b'"NotSupported"' in reply.body
        assert closed != backend["capabilities"]["can_proxy"], (backend["name"], reply.code, reply.body[:300])
