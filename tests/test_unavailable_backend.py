"""A backend that cannot be set up is listed as unavailable with the reason; the others keep working."""

from __future__ import annotations

import pytest

from conftest import wait_for_state


@pytest.fixture
def compute_config(monkeypatch):
    monkeypatch.delenv("NEEDS_KEY", raising=False)
    return {"backends": {"local": {"kind": "local"}, "keyed": {"kind": "echo_backend:NeedsKeyBackend"}}}


async def test_the_broken_backend_says_what_to_set_and_local_still_runs(api, jp_serverapp):
    backends = {b["name"]: b for b in (await api("GET", "backends")).body["backends"]}
    assert backends["local"]["available"] is True
    keyed = backends["keyed"]
    assert keyed["available"] is False and "set NEEDS_KEY" in keyed["message"]
    assert not any(keyed["capabilities"].values()), "nothing can be done with it"

    refused = await api("POST", "jobs", body={"backend": "keyed", "command": "true"})
    assert refused.status == 503
    assert refused.body["error"]["field"] == "backend" and "set NEEDS_KEY" in refused.body["error"]["message"]
    assert (await api("GET", "jobs")).body["total"] == 0, "nothing was recorded"
    assert (await api("GET", "backends", "keyed", "environments")).status == 503

    job = await api("POST", "jobs", body={"command": "echo still fine", "name": "fine"})
    assert job.status == 201, job.body
    done = await wait_for_state(api, job.body["id"], {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED"


def test_local_jobs_never_see_a_backend_secret_even_by_its_default_variable():
    from jupyter_compute.server.app import secret_env_names

    names = secret_env_names({
        "ocean": {"kind": "ocean", "url": "http://provider"},  # key variable left to its default
        "maap": {"kind": "maap", "token_env": "MY_MAAP"},
        "ds": {"kind": "datastory", "storage": {"ceph": {"type": "CEPH", "access_key_env": "CEPH_AK",
                                                         "secret_key_env": "CEPH_SK"}}},
        "local": {"kind": "local"},
    })
    assert {"OCEAN_PRIVATE_KEY", "MY_MAAP", "CEPH_AK", "CEPH_SK", "DATASTORY_TOKEN"} <= set(names)
    assert "MAAP_PGT" not in names, "a variable the config replaced is not a secret of this server"


class TestAPlatformThatNeverAnswersAtStart:
    @pytest.fixture
    def compute_config(self):
        return {"backend_start_timeout": 0.5,
                "backends": {"local": {"kind": "local"}, "stuck": {"kind": "echo_backend:HangingStartBackend"}}}

    async def test_the_server_starts_and_the_other_backends_work(self, api, jp_serverapp):
        backends = {b["name"]: b for b in (await api("GET", "backends")).body["backends"]}
        assert backends["stuck"]["available"] is True, "only slow: kept, its calls have their own timeouts"
        job = await api("POST", "jobs", body={"command": "echo fine", "name": "fine"})
        assert job.status == 201, job.body
        assert (await wait_for_state(api, job.body["id"], {"SUCCEEDED", "FAILED"}))["state"] == "SUCCEEDED"


class TestLocalJobsAndTheOtherBackendsSecrets:
    KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # Hardhat's public test key #1

    @pytest.fixture
    def compute_config(self, monkeypatch):
        monkeypatch.setenv("OCEAN_PRIVATE_KEY", self.KEY)  # the ocean backend's default variable
        monkeypatch.setenv("HARMLESS_SETTING", "visible")
        return {"backend_start_timeout": 1.0, "backends": {
            "local": {"kind": "local"},
            "ocean": {"kind": "ocean", "url": "http://127.0.0.1:9"},  # no provider there: only its key matters
        }}

    async def test_a_local_job_does_not_inherit_the_key(self, api, jp_serverapp):
        job = await api("POST", "jobs", body={"command": "env", "name": "env"})
        assert job.status == 201, job.body
        assert (await wait_for_state(api, job.body["id"], {"SUCCEEDED", "FAILED"}))["state"] == "SUCCEEDED"
        log = (await api("GET", "jobs", job.body["id"], "logs")).body["text"]
        assert "HARMLESS_SETTING=visible" in log, "the job saw the server's environment"
        assert "OCEAN_PRIVATE_KEY" not in log and self.KEY[2:] not in log

    async def test_kernels_and_jobs_cannot_read_it_from_the_servers_environment(self, api, jp_serverapp):
        import os

        assert "OCEAN_PRIVATE_KEY" not in os.environ, "kernels the server starts inherit os.environ"
        assert os.environ.get("HARMLESS_SETTING") == "visible", "only the secrets are withheld"
        ocean = {b["name"]: b for b in (await api("GET", "backends")).body["backends"]}["ocean"]
        assert ocean["available"] and ocean["consumer_address"].startswith("0x"), "the backend still has its key"


class TestACallTimeSecretStillWorksOnceWithheld:
    @pytest.fixture
    def compute_config(self, monkeypatch):
        monkeypatch.setenv("NEEDS_KEY", "s3cr3t-value")
        return {"backends": {"keyed": {"kind": "echo_backend:NeedsKeyBackend"}}}

    async def test_the_backend_reads_it_after_it_left_the_environment(self, api, jp_serverapp):
        import os

        assert "NEEDS_KEY" not in os.environ
        reply = await api("GET", "backends", "keyed", "environments")
        assert reply.status == 200 and reply.body["environments"][0]["description"] == "key of 12 characters"
