"""The ray backend's status table row by row, and how a job's status is put into words (Ray's job info as
its dashboard sends it; no cluster needed)."""

from __future__ import annotations

import json
from datetime import datetime, UTC

import pytest

from jupyter_compute.backends.ray import ray_said
from jupyter_compute.backends.ray.cluster_facts import cluster_of, environments_of
from jupyter_compute.backends.ray.status import ASKS_KEY, STATUS, TIMEOUT_KEY, pending_reason, remote_status
from jupyter_compute.models import JobState

STARTED_MS, ENDED_MS = 1796598637051, 1796598641988


def info(status: str, **more: object) -> dict:
    return {"type": "SUBMISSION", "submission_id": "job-1", "status": status, "message": "", "error_type": None,
            "start_time": STARTED_MS, "end_time": None, "metadata": {}, "driver_exit_code": None, **more}


@pytest.mark.parametrize(("native", "state"), [
    ("PENDING", JobState.QUEUED),
    ("RUNNING", JobState.RUNNING),
    ("STOPPED", JobState.CANCELLED),
    ("SUCCEEDED", JobState.SUCCEEDED),
    ("FAILED", JobState.FAILED),
])
def test_each_ray_status_maps_to_our_state(native: str, state: JobState) -> None:
    assert STATUS[native] is state
    assert remote_status(info(native)).state is state
    assert remote_status(info(native)).native_status == native


def test_the_table_has_every_status_of_rays_job_api() -> None:
    assert set(STATUS) == {"PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"}


def test_an_unknown_status_is_unknown_in_words() -> None:
    status = remote_status(info("ARCHIVED"))
    assert status.state is JobState.UNKNOWN and "ARCHIVED" in status.message


def test_a_waiting_job_has_not_started_and_a_running_one_has() -> None:
    assert remote_status(info("PENDING")).started is None
    running = remote_status(info("RUNNING"))
    assert running.started == datetime.fromtimestamp(STARTED_MS / 1000, UTC) and running.finished is None
    ended = remote_status(info("SUCCEEDED", end_time=ENDED_MS))
    assert ended.finished == datetime.fromtimestamp(ENDED_MS / 1000, UTC)


def test_a_failure_keeps_rays_reason_and_type_without_the_log_tail() -> None:
    status = remote_status(info("FAILED", error_type="JOB_ENTRYPOINT_COMMAND_ERROR", message=(
        "Job entrypoint command failed with exit code 3, last available logs (truncated to 20,000 chars):\nboom")))
    assert status.message == "Job entrypoint command failed with exit code 3 (JOB_ENTRYPOINT_COMMAND_ERROR)"


def test_our_time_limit_is_timed_out_and_any_other_exit_124_is_a_failure() -> None:
    timed_out = remote_status(info("FAILED", driver_exit_code=124, metadata={TIMEOUT_KEY: "3"}))
    assert timed_out.state is JobState.TIMED_OUT and "time limit of 3 s" in timed_out.message
    assert remote_status(info("FAILED", driver_exit_code=124)).state is JobState.FAILED


def test_a_job_asking_for_more_than_any_node_has_says_so() -> None:
    asks = {ASKS_KEY: json.dumps({"CPU": 64, "tpu": 1})}
    nodes = [{"CPU": 1.0, "memory": 2.0e10}, {"CPU": 2.0, "memory": 2.0e10}]
    message = remote_status(info("PENDING", metadata=asks), nodes).message
    assert "64 CPU, 1 tpu" in message and "2 CPU, 0 tpu" in message and "no node" in message, message


def test_a_job_that_fits_a_node_waits_for_others_to_free_it() -> None:
    assert "to be free" in pending_reason({"CPU": 1}, [{"CPU": 1.0}])
    assert pending_reason({}, [{"CPU": 1.0}]) == "", "asking for nothing: Ray's own words stand"
    message = "Job has not started yet."
    assert remote_status(info("PENDING", message=message), None).message == message


def test_rays_error_answers_are_cut_to_their_reason() -> None:
    import httpx

    traceback = ("Traceback (most recent call last):\n  File \"job_head.py\", line 419\nRuntimeError: Request failed "
                 "with status code 400: Traceback ...\nValueError: Job with submission_id x already exists. Please "
                 "use a different submission_id.\n.\n")  # fmt: skip
    said = ray_said(httpx.Response(500, text=traceback))
    assert said == "ValueError: Job with submission_id x already exists. Please use a different submission_id."
    assert ray_said(httpx.Response(404, text="Job nope does not exist")) == "Job nope does not exist"


#: Nodes as Ray's state API (``GET /api/v0/nodes``) lists them: resource names as Ray knows them.
NODE = {"node_id": "n1", "node_ip": "127.0.0.1", "is_head_node": True, "state": "ALIVE",
        "resources_total": {"CPU": 4.0, "GPU": 1.0, "memory": 8 * 2**30, "object_store_memory": 1e8,
                            "node:127.0.0.1": 1.0, "node:__internal_head__": 1.0, "accelerator_type:T4": 1.0,
                            "my_tpu": 2.0}}
DEAD = {"node_id": "n2", "node_ip": "127.0.0.2", "is_head_node": False, "state": "DEAD",
        "resources_total": {"CPU": 4.0}}


def test_the_cluster_counts_alive_nodes_and_free_resources() -> None:
    status = {"data": {"clusterStatus": {"loadMetricsReport": {"usage": {
        "CPU": [1.0, 4.0], "GPU": [1.0, 1.0], "memory": [2 * 2**30, 8 * 2**30]}}}}}
    cluster = cluster_of("ray", "http://head:8265", [NODE, DEAD], status)
    assert (cluster.nodes, cluster.nodes_available, cluster.cpus, cluster.cpus_allocatable) == (2, 1, 4.0, 3.0)
    assert (cluster.gpus, cluster.gpus_allocatable, cluster.gpu_type) == (1, 0, "T4")
    assert (cluster.memory_gb, cluster.memory_gb_allocatable) == (8.0, 6.0)
    assert [n["state"] for n in cluster.raw["nodes"]] == ["ALIVE", "DEAD"]


def test_environments_are_the_kinds_of_alive_nodes() -> None:
    a_little_less = {**NODE, "node_id": "n3", "resources_total": {**NODE["resources_total"],
                                                                  "memory": 8 * 2**30 - 2**27}}  # fmt: skip
    (kind,) = environments_of([NODE, a_little_less, DEAD], backend="ray", running_jobs=1)
    assert (kind.cpus, kind.gpus, kind.gpu_type, kind.memory_gb) == (4.0, 1, "T4", 7.88)
    cpu_only = {"node_id": "n4", "state": "ALIVE", "resources_total": {"CPU": 2.0, "memory": 4 * 2**30}}
    assert len(environments_of([NODE, cpu_only], backend="ray", running_jobs=0)) == 2
    assert kind.raw["nodes"] == 2 and kind.raw["custom_resources"] == {"my_tpu": 2.0}
    assert "2 my_tpu" in kind.name and "× 2 nodes" in kind.name
