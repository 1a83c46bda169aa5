"""Real local Ray clusters for tests (a pytest plugin, listed in conftest's ``pytest_plugins``).

- ``ray_cluster`` (session): a two-node cluster (1 CPU each) shared by every test that needs one; a
  head costs ~20 s to start and a node ~14 s, so only tests that kill or restart one start their own.
- ``ray_sandbox_env``: ``JUPYTER_COMPUTE_RAY_SANDBOX`` set to that cluster's dashboard URL, so that
  sandbox mode configures its ``ray`` backend against it instead of starting a cluster.
- ``own_ray_head``: a one-node cluster of the test's own, for destructive tests (kill, restart).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_compute.sandbox.ray_cluster import LocalRayCluster
from jupyter_compute.server.sandboxes import RAY_CHOICE_ENV


def _started(workdir: Path, nodes: int) -> Iterator[LocalRayCluster]:
    cluster = LocalRayCluster(workdir, nodes=nodes, cpus_per_node=1)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    """A started two-node Ray cluster (1 CPU each) on loopback, stopped at the end of the session."""
    yield from _started(tmp_path_factory.mktemp("ray-cluster"), nodes=2)


@pytest.fixture
def ray_sandbox_env(ray_cluster: LocalRayCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """Sandbox mode's Ray platform pointed at ``ray_cluster`` (its dashboard URL, answered)."""
    monkeypatch.setenv(RAY_CHOICE_ENV, ray_cluster.dashboard_url)
    return ray_cluster.dashboard_url


@pytest.fixture
def own_ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    """A started one-node Ray cluster of this test's own (to kill, restart, grow), stopped after it."""
    yield from _started(tmp_path_factory.mktemp("own-ray-head"), nodes=1)
