"""`ComputeApp.sandbox = True` through the in-process server: every platform's stand-in as a backend,
with credentials of its own that never replace the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import HARDHAT_ADDRESSES, HARDHAT_KEYS, start_live_server, wait_for_state


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


def test_stopping_the_stand_ins_puts_the_environment_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import logging

    from jupyter_compute.server.sandboxes import start_sandboxes

    monkeypatch.setenv("OCEAN_PROVIDER_URL", "http://provider.example.org")
    monkeypatch.delenv("MAAP_SANDBOX_URL", raising=False)
    running = start_sandboxes(logging.getLogger("test"), tmp_path)
    try:
        assert os.environ["OCEAN_PROVIDER_URL"] != "http://provider.example.org"
        assert "MAAP_SANDBOX_URL" in os.environ
        assert {p.name for p in tmp_path.iterdir()} == {"maap", "datastory", "modelarts", "ocean"}, "files kept apart"
        assert any((tmp_path / "maap").iterdir()), "the MAAP stand-in's granules are in its folder"
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


def _job_names(home: Path, *args: str) -> list[str]:
    """The names of the jobs a server on ``home`` lists (started with ``args``, stopped after)."""
    server = start_live_server(home, extra_args=list(args))
    try:
        with server.client() as client:
            return sorted(job.name for job in client.jobs())
    finally:
        server.stop()


def _run_job(home: Path, name: str, *args: str) -> None:
    server = start_live_server(home, extra_args=list(args))
    try:
        with server.client() as client:
            client.submit(command="echo hi", name=name).wait(timeout=120, progress=False)
    finally:
        server.stop()


@pytest.mark.timeout(600)
def test_demo_jobs_never_mix_with_real_ones(tmp_path: Path) -> None:
    """Sandbox mode keeps its jobs in a data dir of its own, starts afresh unless told to keep them, and a
    plain server on the same machine never lists them."""
    home = tmp_path / "jupyter"
    sandbox, keep = "--ComputeApp.sandbox=True", "--ComputeApp.sandbox_keep_data=True"
    _run_job(home, "demo 1", sandbox)
    _run_job(home, "real work")
    assert _job_names(home) == ["real work"], "a plain server lists no demo job"
    assert (home / "data" / "compute-sandbox" / "sandboxes" / "maap").is_dir(), "the stand-ins' files are there"

    _run_job(home, "demo 2", sandbox)  # a fresh start: demo 1 is gone
    assert _job_names(home, sandbox, keep) == ["demo 2"], "kept when asked, and only the demo's own"
    assert _job_names(home) == ["real work"]


def test_a_data_dir_that_is_not_the_sandboxs_is_never_emptied(tmp_path: Path) -> None:
    from jupyter_compute.server.app import SANDBOX_MARK, clear_sandbox_data

    real = tmp_path / "real"
    (real / "uploads").mkdir(parents=True)
    (real / "jobs.sqlite").write_text("a real store")
    assert not clear_sandbox_data(real)
    assert (real / "jobs.sqlite").exists() and (real / "uploads").is_dir()

    (real / SANDBOX_MARK).write_text("")
    assert clear_sandbox_data(real)
    assert not (real / "jobs.sqlite").exists() and not (real / "uploads").exists()
