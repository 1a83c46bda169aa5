"""The ray backend's configuration: what it takes, and what it refuses naming the key (no cluster needed)."""

from __future__ import annotations

import pytest

from jupyter_compute.backends.base import backend_class
from jupyter_compute.backends.ray import RayBackend
from jupyter_compute.errors import InvalidSpec


def test_the_kind_is_built_in() -> None:
    assert backend_class("ray") is RayBackend


@pytest.mark.parametrize(("config", "field"), [
    ({}, "address"),
    ({"address": "127.0.0.1:8265"}, "address"),
    ({"address": "http://h:8265", "port": 1}, "port"),
    ({"address": "http://h:8265", "headers": {"Authorization": "Bearer abc"}}, "headers"),
    ({"address": "http://h:8265", "headers": {"X-Team": 3}}, "headers"),
    ({"address": "http://h:8265", "results_url": "s3://b/p", "results_options": "x"}, "results_options"),
    ({"address": "http://h:8265", "timeout_s": 0}, "timeout_s"),
    ({"address": "http://h:8265", "results_url": "relative/results"}, "results_url"),
    ({"address": "http://h:8265", "results_url": "s3://b/p", "results_options": {"secret": "x"}}, "results_options"),
    ({"address": "http://h:8265", "results_url": "s3://b/p",
      "results_options": {"client_kwargs": {"aws_session_token": "x"}}}, "results_options"),
])
def test_a_bad_config_is_refused_naming_the_key(config: dict, field: str) -> None:
    with pytest.raises(InvalidSpec) as refused:
        RayBackend("ray", config)
    assert refused.value.field == field, refused.value


def test_the_description_shows_no_credential_and_results_need_a_location() -> None:
    backend = RayBackend("ray", {"address": "https://me:pw@ray.example.org/", "headers": {"X-Team": "geo"}})
    assert backend.describe()["url"] == "https://ray.example.org"
    assert not backend.capabilities.has_results, "no results_url: logs only"
    shared = RayBackend("ray", {"address": "http://h:8265", "results_url": "/shared/results"})
    assert shared.capabilities.has_results and shared.outputs_at is not None
    assert str(shared.outputs_at.shared_folder) == "/shared/results"
    remote = RayBackend("ray", {"address": "http://h:8265", "results_url": "s3://bucket/prefix/"})
    assert remote.outputs_at is not None and remote.outputs_at.shared_folder is None
    assert remote.outputs_at.url_of("job-1") == "s3://bucket/prefix/job-1"


def test_jobs_stopped_before_they_started_are_remembered_across_a_restart(tmp_path) -> None:
    from jupyter_compute.backends.ray.backend import _StoppedBeforeStart

    first = _StoppedBeforeStart(tmp_path)
    first.add("job-1")
    first.add("job-2")
    again = _StoppedBeforeStart(tmp_path)
    assert "job-1" in again and "job-2" in again and "job-3" not in again
    assert not list(tmp_path.glob("*.tmp")), "written whole"
