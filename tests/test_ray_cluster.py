"""Real local Ray clusters (``jupyter_compute.sandbox.ray_cluster``) over Ray's Jobs REST API: two nodes
that share out a job's tasks, nothing listening beyond loopback, a head killed and started again on the
same URL, nothing left once stopped, a head that cannot start reported with its output; and sandbox mode's
Ray platform (its own cluster, off or without Ray, or a URL)."""

from __future__ import annotations

import ipaddress
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from conftest import wait_for
from jupyter_compute.sandbox.ray_cluster import LocalRayCluster
from jupyter_compute.server.sandboxes import RAY_CHOICE_ENV, SandboxSet, start_sandboxes

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
#: Tasks of 1 CPU each, spread: on two nodes of 1 CPU, they run on both.
SPREAD_JOB = """
import time, ray
ray.init()
@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def node_id():
    time.sleep(1)
    return ray.get_runtime_context().get_node_id()
print("NODES", *sorted(set(ray.get([node_id.remote() for _ in range(4)]))))
"""


def _get(url: str, path: str, **params: Any) -> Any:
    reply = httpx.get(url + path, params=params, timeout=10, trust_env=False)
    reply.raise_for_status()
    return reply.json()


def _alive_node_ids(url: str) -> set[str]:
    summary = _get(url, "/nodes", view="summary")["data"]["summary"]
    return {node["raylet"]["nodeId"] for node in summary if node["raylet"].get("state") == "ALIVE"}


def _run_job(url: str, code: str) -> tuple[dict[str, Any], str]:
    """Submit ``python -c code`` over the Jobs REST API, wait for its end; its record and its logs."""
    reply = httpx.post(f"{url}/api/jobs/", json={"entrypoint": f"python -c {shlex.quote(code)}"}, timeout=30,
                       trust_env=False)
    assert reply.status_code == 200, reply.text
    job_id = reply.json()["submission_id"]
    job = wait_for(lambda: (record := _get(url, f"/api/jobs/{job_id}"))["status"] in TERMINAL and record,
                   f"Ray job {job_id} to end", timeout=180, every=0.5)
    return job, _get(url, f"/api/jobs/{job_id}/logs")["logs"]


def _dashboard_refuses(url: str) -> bool:
    try:
        httpx.get(url + "/api/version", timeout=5, trust_env=False)
    except httpx.ConnectError:
        return True
    return False


def _living(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.Error:
            continue
    return alive


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


# --- the cluster --------------------------------------------------------------------------------------------


def test_a_job_over_the_rest_api_runs_its_tasks_on_both_nodes(ray_cluster: LocalRayCluster) -> None:
    url = ray_cluster.dashboard_url
    assert url.startswith("http://127.0.0.1:") and ray_cluster.gcs_address.startswith("127.0.0.1:")
    nodes = _alive_node_ids(url)
    assert len(nodes) == 2, nodes

    job, logs = _run_job(url, SPREAD_JOB)
    assert job["status"] == "SUCCEEDED", (job, logs)
    used = next(line.split()[1:] for line in logs.splitlines() if line.startswith("NODES"))
    assert set(used) == nodes, (used, nodes)


def test_nothing_of_the_cluster_listens_beyond_loopback(ray_cluster: LocalRayCluster) -> None:
    names, bound = [], []
    for proc in ray_cluster.processes():
        try:
            name, connections = proc.name(), proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue  # an idle worker that Ray ended meanwhile
        names.append(name)
        bound += [(name, c.laddr) for c in connections if c.status == psutil.CONN_LISTEN or not c.raddr]
    assert names.count("raylet") == 2 and "gcs_server" in names, names
    assert any(addr.port == int(ray_cluster.dashboard_url.rsplit(":", 1)[1]) for _, addr in bound), bound
    assert [(name, addr) for name, addr in bound if not _is_loopback(addr.ip)] == []


def test_a_killed_head_comes_back_on_the_same_url_with_its_nodes_and_stop_leaves_nothing(
        own_ray_head: LocalRayCluster) -> None:
    cluster = own_ray_head
    url, gcs = cluster.dashboard_url, cluster.gcs_address
    cluster.add_node(cpus=1)
    before = _alive_node_ids(url)
    assert len(before) == 2, before

    cluster.kill_head()
    assert _dashboard_refuses(url), "the head's processes are gone with it"

    cluster.restart_head()
    assert (cluster.dashboard_url, cluster.gcs_address) == (url, gcs)
    after = _alive_node_ids(url)
    assert len(after) == 2 and not after & before, (before, after)
    job, logs = _run_job(url, "import ray; ray.init(); print('CPUS', ray.cluster_resources()['CPU'])")
    assert job["status"] == "SUCCEEDED" and "CPUS 2.0" in logs, (job, logs)

    procs = cluster.processes()
    assert procs
    cluster.stop()
    assert _living(procs) == [] and cluster.processes() == []
    assert cluster.temp_dir is not None and not cluster.temp_dir.exists()
    cluster.stop()  # again: nothing to do


def test_a_head_that_cannot_start_is_reported_with_its_output(tmp_path: Path) -> None:
    cluster = LocalRayCluster(tmp_path, object_store_mb=1)  # below Ray's minimum object store
    try:
        with pytest.raises(RuntimeError, match=r"the Ray head process ended \(code 1\)") as failure:
            cluster.start()
        assert "ray-head.log ---" in str(failure.value)
        assert "minimum allowed is 78643200 bytes" in str(failure.value), "the end of the head's output"
    finally:
        cluster.stop()
    assert cluster.processes() == []


# --- sandbox mode -------------------------------------------------------------------------------------------


SERVER_SECRET = "0x" + "5e" * 32


def _environment_text(proc: psutil.Process) -> str:
    try:
        return "".join(proc.environ().values())
    except psutil.Error:  # gone meanwhile
        return ""


def _clusters(running: SandboxSet) -> list[LocalRayCluster]:
    """The clusters sandbox mode started (found by the stoppers it keeps)."""
    owners = [getattr(stop, "__self__", None) for stop in running.stoppers]
    return [owner for owner in owners if isinstance(owner, LocalRayCluster)]


def test_sandbox_mode_starts_a_two_node_cluster_of_its_own_and_stops_it(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    monkeypatch.delenv(RAY_CHOICE_ENV, raising=False)
    monkeypatch.setenv("OCEAN_PRIVATE_KEY", SERVER_SECRET)  # secrets of the server starting the sandbox
    monkeypatch.setenv("RAY_DASHBOARD_TOKEN", SERVER_SECRET[::-1])
    running = start_sandboxes(logging.getLogger("test"), tmp_path)
    procs: list[psutil.Process] = []
    try:
        (cluster,) = _clusters(running)
        url = cluster.dashboard_url
        assert running.backends["ray"] == {"kind": "ray", "address": url,
                                           "results_url": str(tmp_path / "ray" / "results")}
        assert (tmp_path / "ray" / "results").is_dir()
        assert os.environ["RAY_SANDBOX_DASHBOARD_URL"] == url and url.startswith("http://127.0.0.1:")
        wait_for(lambda: len(_alive_node_ids_or_none(url)) == 2, "both sandbox nodes ALIVE", timeout=180, every=0.5)
        procs = cluster.processes()
        assert procs
        info, logs = _run_job(url, "import os; print('seen:', [os.environ.get(name) for name in "
                                   "('OCEAN_PRIVATE_KEY', 'RAY_DASHBOARD_TOKEN')])")  # fmt: skip
        assert info["status"] == "SUCCEEDED" and "seen: [None, None]" in logs, "the server's secrets stay out"
        assert not [p for p in _living(procs) if SERVER_SECRET in _environment_text(p)
                    or SERVER_SECRET[::-1] in _environment_text(p)]  # fmt: skip
    finally:
        running.stop()
    assert _living(procs) == [] and cluster.processes() == []
    assert "RAY_SANDBOX_DASHBOARD_URL" not in os.environ


def _alive_node_ids_or_none(url: str) -> set[str]:
    try:
        return _alive_node_ids(url)
    except (httpx.HTTPError, ValueError, KeyError):
        return set()  # not up yet


def test_sandbox_mode_has_no_ray_backend_when_off_or_without_ray(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv(RAY_CHOICE_ENV, "off")
    running = start_sandboxes(logging.getLogger("test"), tmp_path / "off")
    running.stop()
    assert "ray" not in running.backends and not _clusters(running) and "RAY_SANDBOX_DASHBOARD_URL" not in running.env
    assert not (tmp_path / "off" / "ray").exists()

    monkeypatch.delenv(RAY_CHOICE_ENV)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: find_spec finds nothing
    running = start_sandboxes(logging.getLogger("test"), tmp_path / "no-ray")
    running.stop()
    assert "ray" not in running.backends and not _clusters(running)
    ray_lines = [(r.levelname, r.getMessage()) for r in caplog.records if "ray sandbox" in r.getMessage()]
    assert ray_lines == [("INFO", f"jupyter-compute: no ray sandbox: {RAY_CHOICE_ENV}=off"),
                         ("INFO", "jupyter-compute: no ray sandbox: Ray is not installed "
                                  "(pip install 'jupyter-compute[ray]')")]


def test_sandbox_mode_uses_the_ray_cluster_a_url_names(ray_sandbox_env: str, tmp_path: Path) -> None:
    running = start_sandboxes(logging.getLogger("test"), tmp_path)
    try:
        assert running.backends["ray"] == {"kind": "ray", "address": ray_sandbox_env,
                                           "results_url": str(tmp_path / "ray" / "results")}
        assert os.environ["RAY_SANDBOX_DASHBOARD_URL"] == ray_sandbox_env
        assert not _clusters(running) and not (tmp_path / "ray" / "ray-head.log").exists(), "no cluster started"
        assert len(_alive_node_ids(ray_sandbox_env)) == 2
    finally:
        running.stop()
