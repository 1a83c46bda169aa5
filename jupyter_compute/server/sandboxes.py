"""``c.ComputeApp.sandbox = True``: every platform's local stand-in, started with the server and
configured as one of its backends, so the demo notebooks run anywhere (a laptop, Binder, CI).
Ray's is a real two-node Ray cluster on loopback, started in the background (the server does not wait
for it) when Ray is installed; ``JUPYTER_COMPUTE_RAY_SANDBOX`` set to ``off`` leaves it out, and set to a
Ray dashboard's URL configures that cluster instead of starting one.

Each sandbox listens on a free loopback port. The server's environment gets the sandboxes'
(public, made-up) credentials under variables of their own (``SECRET_ENV``), which the server then
withholds from kernels like any secret, and the URLs the demo notebooks look for
(``MAAP_SANDBOX_URL``, ``OCEAN_PROVIDER_URL`` …), which kernels inherit. A sandbox that cannot
start is left out with a warning (one left out on purpose, or for want of an optional package, with an
info line); the others still run. Each keeps its files (granules, run folders, HDFS files, Ray's logs
and results) in a folder of its own under the sandbox mode's data directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: A well-known public test key (Hardhat's account #0): it guards nothing, on any chain.
SANDBOX_WALLET_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
MODELARTS_DEMO_BUCKET = "modelarts-demo"
#: Where the stand-ins' (made-up) credentials are put: names of their own, so a user's real
#: credentials under the platforms' usual variables (OCEAN_PRIVATE_KEY …) are never replaced.
SECRET_ENV = {
    "maap": "JUPYTER_COMPUTE_SANDBOX_MAAP_PGT", "datastory": "JUPYTER_COMPUTE_SANDBOX_DATASTORY_TOKEN",
    "modelarts-ak": "JUPYTER_COMPUTE_SANDBOX_MODELARTS_AK", "modelarts-sk": "JUPYTER_COMPUTE_SANDBOX_MODELARTS_SK",
    "ocean": "JUPYTER_COMPUTE_SANDBOX_OCEAN_KEY",
}
#: "off": no Ray sandbox; an http(s) URL: that Ray dashboard; unset or empty: a local cluster (Ray installed).
RAY_CHOICE_ENV = "JUPYTER_COMPUTE_RAY_SANDBOX"


class LeftOut(Exception):
    """A platform's stand-in not started, on purpose or for want of an optional package (an info line)."""


@dataclass
class SandboxSet:
    """The running stand-ins: the backends they serve, the variables they need, and how to stop them."""

    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    #: The environment's values before the stand-ins set theirs (None: unset), put back at stop.
    replaced: dict[str, str | None] = field(default_factory=dict)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # stopping the rest matters more
                logging.getLogger("jupyter_compute.sandbox").exception("stopping a sandbox failed")
        self.stoppers.clear()
        for name, value in self.replaced.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.replaced.clear()


def _maap(found: SandboxSet, folder: Path) -> None:
    from ..sandbox.maap import DEMO_GRANULES, VALID_TOKEN, MaapSandbox

    sandbox = MaapSandbox(workdir=folder, granules=DEMO_GRANULES).start()
    found.stoppers.append(sandbox.stop)
    found.backends["maap"] = {"kind": "maap", "flavor": "swagger", "url": sandbox.url}
    found.backends["maap-ogc"] = {"kind": "maap", "flavor": "ogc", "url": sandbox.url, "token_env": SECRET_ENV["maap"]}
    found.env.update({"MAAP_SANDBOX_URL": sandbox.url, SECRET_ENV["maap"]: VALID_TOKEN})


def _datastory(found: SandboxSet, folder: Path) -> None:
    from ..sandbox.datastory import DEFAULT_TOKEN, DatastorySandbox
    from ..sandbox.webhdfs import WebHdfsSandbox

    hdfs = WebHdfsSandbox(root_dir=folder / "hdfs").start()
    found.stoppers.append(hdfs.stop)
    platform = DatastorySandbox().start()
    found.stoppers.append(platform.stop)
    found.backends["datastory"] = {
        "kind": "datastory", "url": platform.url, "token_env": SECRET_ENV["datastory"],
        "storage": {"hdfs-main": {"type": "HDFS", "host": hdfs.host, "port": hdfs.port, "user": "alice"}},
    }
    found.env.update({"DATASTORY_SANDBOX_URL": platform.url, "WEBHDFS_SANDBOX_PORT": str(hdfs.port),
                      SECRET_ENV["datastory"]: DEFAULT_TOKEN})


def _modelarts(found: SandboxSet, folder: Path) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    from ..sandbox.modelarts import DEFAULT_CREDENTIALS, DEFAULT_PROJECT, ModelArtsSandbox

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no log line per OBS request
    obs = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    obs.start()
    found.stoppers.append(obs.stop)
    host, port = obs.get_host_and_port()
    obs_url = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=obs_url, region_name="us-east-1", aws_access_key_id="sandbox",
                 aws_secret_access_key="sandbox").create_bucket(Bucket=MODELARTS_DEMO_BUCKET)
    api = ModelArtsSandbox(s3_endpoint=obs_url, workdir=folder).start()
    found.stoppers.append(api.stop)
    (access_key, secret_key), = DEFAULT_CREDENTIALS.items()
    found.backends["modelarts"] = {
        "kind": "modelarts", "endpoint": api.base_url, "project_id": DEFAULT_PROJECT,
        "ak_env": SECRET_ENV["modelarts-ak"], "sk_env": SECRET_ENV["modelarts-sk"], "obs_endpoint": obs_url,
        "upload_root": f"obs://{MODELARTS_DEMO_BUCKET}/jupyter-compute/",
    }
    found.env.update({"MODELARTS_SANDBOX_URL": api.base_url, "OBS_SANDBOX_URL": obs_url,
                      SECRET_ENV["modelarts-ak"]: access_key, SECRET_ENV["modelarts-sk"]: secret_key})


def _ocean(found: SandboxSet, folder: Path) -> None:
    from ..sandbox.ocean import OceanProviderSandbox

    provider = OceanProviderSandbox(step_delay_s=0.2, work_dir=folder).start()
    found.stoppers.append(provider.stop)
    found.backends["ocean"] = {"kind": "ocean", "url": provider.base_url, "private_key_env": SECRET_ENV["ocean"]}
    found.env.update({"OCEAN_PROVIDER_URL": provider.base_url, SECRET_ENV["ocean"]: SANDBOX_WALLET_KEY})


def _ray(found: SandboxSet, folder: Path) -> None:
    choice = os.environ.get(RAY_CHOICE_ENV, "").strip()
    if choice.lower() == "off":
        raise LeftOut(f"{RAY_CHOICE_ENV}=off")
    if choice and not choice.startswith(("http://", "https://")):
        raise ValueError(f"{RAY_CHOICE_ENV} is 'off', a Ray dashboard's http(s) URL or empty, not {choice!r}")
    url = choice.rstrip("/")
    if not url:
        if importlib.util.find_spec("ray") is None:
            raise LeftOut("Ray is not installed (pip install 'jupyter-compute[ray]')")
        from ..sandbox.ray_cluster import LocalRayCluster

        # two nodes, so that the demo shows work spread out; it comes up while the server starts
        cluster = LocalRayCluster(folder, nodes=2, cpus_per_node=1).start(wait=False)
        found.stoppers.append(cluster.stop)
        url = cluster.dashboard_url
    results = folder / "results"
    results.mkdir(exist_ok=True)
    found.backends["ray"] = {"kind": "ray", "address": url, "results_url": str(results)}
    found.env["RAY_SANDBOX_DASHBOARD_URL"] = url


PLATFORMS: dict[str, Callable[[SandboxSet, Path], None]] = {
    "maap": _maap, "datastory": _datastory, "modelarts": _modelarts, "ocean": _ocean, "ray": _ray,
}


def start_sandboxes(log: logging.Logger, files: Path) -> SandboxSet:
    """Start every platform's stand-in, each keeping its files in ``files/<platform>``; set the
    variables they need in this process's environment."""
    found = SandboxSet()
    for platform, start in PLATFORMS.items():
        folder = files / platform
        try:
            folder.mkdir(parents=True, exist_ok=True)
            start(found, folder)
        except LeftOut as why:
            log.info("jupyter-compute: no %s sandbox: %s", platform, why)
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: nothing of it to keep
        except Exception as exc:  # noqa: BLE001 — e.g. moto not installed: the other platforms still run
            log.warning("jupyter-compute: the %s sandbox did not start: %s: %s", platform, type(exc).__name__, exc)
    found.replaced = {name: os.environ.get(name) for name in found.env}
    os.environ.update(found.env)
    log.info("jupyter-compute: sandboxes running for %s", ", ".join(found.backends) or "no platform")
    return found
