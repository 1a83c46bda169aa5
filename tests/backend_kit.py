"""The backend test kit: one :class:`KitCase` per backend, describing how to run it against its local
stand-in. ``test_backend_kit.py`` runs the same contract suite over every case in :data:`CASES`.

A case says how to build the backend against its stand-in (:attr:`KitCase.make`, given a
:class:`KitSite`), a quick spec that succeeds (writing a result file where the platform has results),
a long-running spec to cancel, the environment its config reads its secrets from and those secret
strings themselves (no answer may carry them).

Adding a backend (e.g. Ray) to the suite: write its ``make`` (start its stand-in with ``site.enter`` or
take a conftest fixture with ``site.fixture``), its two specs, and append a ``KitCase`` to ``CASES``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import HARDHAT_KEYS, MA_AK, MA_BUCKET, MA_OBS_KEY, MA_OBS_SECRET, MA_PROJECT, MA_SK, s3_client, started

from jupyter_compute.backends.base import Backend
from jupyter_compute.models import JobSpec, JobState

#: What the quick job of every case prints to its log (where the platform has logs).
QUICK_LOG_LINE = "kit-quick-log"
#: The table every quick job writes where the spec chooses its outputs.
QUICK_TABLE = "a,b\n1,2\n"


@dataclass(frozen=True)
class KitSite:
    """Where a case is set up: a private folder, the conftest fixtures, and an exit stack for stand-ins."""

    workdir: Path
    #: ``fixture("modelarts")``: a conftest fixture's value (module-scoped ones only).
    fixture: Callable[[str], Any]
    #: ``enter(Sandbox(...))``: a (sync) stand-in, entered now and left after the backend is closed.
    enter: Callable[[contextlib.AbstractContextManager[Any]], Any]


@dataclass(frozen=True)
class KitCase:
    """One backend as the kit runs it (see the module docstring)."""

    id: str
    #: The backend, not started, configured against its stand-in (started by :meth:`started`).
    make: Callable[[KitSite], Backend]
    #: A spec that succeeds within seconds (and writes a result where the platform has results).
    quick: Callable[[Path], JobSpec]
    #: A spec that runs for minutes (to cancel, and to delete while it runs); None: the platform has none.
    long: Callable[[Path], JobSpec] | None
    #: Environment variables the config names for its secrets, with their values (set for the module).
    env: Mapping[str, str] = field(default_factory=dict)
    #: The secret strings the config holds (through ``env``): no answer may carry any of them.
    secrets: tuple[str, ...] = ()
    #: A line the quick job's log shows (where the platform has logs).
    log_line: str | None = QUICK_LOG_LINE
    #: A result file the quick job makes (None: any file will do, the platform names them).
    result_name: str | None = None
    #: The states a cancelled long job may end in (as the backend's own tests assert).
    cancel_ends: frozenset[JobState] = frozenset({JobState.CANCELLED})

    @contextlib.asynccontextmanager
    async def started(self, site: KitSite) -> AsyncIterator[Backend]:
        """The backend started against its stand-in, and closed however the block ends."""
        async with started(self.make(site)) as backend:
            yield backend


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- local: real processes, no stand-in ------------------------------------------------------------


LOCAL_QUICK_COMMAND = f'echo {QUICK_LOG_LINE}; printf "a,b\\n1,2\\n" > "$JUPYTER_COMPUTE_OUTPUT_DIR/kit.csv"'


def _local(site: KitSite) -> Backend:
    from jupyter_compute.backends.local import LocalBackend

    return LocalBackend("kit-local", {}, data_dir=site.workdir / "data")


LOCAL = KitCase(
    id="local",
    make=_local,
    quick=lambda _: JobSpec(backend="kit-local", command=LOCAL_QUICK_COMMAND),
    long=lambda _: JobSpec(backend="kit-local", command="sleep 300"),
    result_name="kit.csv",
)


# --- ocean: the Ocean Provider sandbox -------------------------------------------------------------

OCEAN_KEY_ENV = "KIT_OCEAN_KEY"
#: The demo dataset with its order (the sandbox has no chain: any transaction hash pays).
OCEAN_ORDER_TX = "0x" + "0d" * 32
OCEAN_QUICK_CODE = f"""\
import os
from pathlib import Path
print("{QUICK_LOG_LINE}", flush=True)
(Path(os.environ.get("OUTPUTS", "/data/outputs")) / "kit.csv").write_text({QUICK_TABLE!r})
"""
OCEAN_LONG_CODE = "import time\nprint('kit-long', flush=True)\ntime.sleep(300)\n"


def _ocean(site: KitSite) -> Backend:
    from jupyter_compute.backends.ocean import OceanBackend
    from jupyter_compute.sandbox.ocean import OceanProviderSandbox

    sandbox = site.enter(OceanProviderSandbox(step_delay_s=0.05))
    return OceanBackend("kit-ocean", {"url": sandbox.base_url, "private_key_env": OCEAN_KEY_ENV, "timeout_s": 20})


def _ocean_spec(code: str) -> JobSpec:
    from jupyter_compute.sandbox.ocean import DEMO_DATASET_DID, DEMO_DATASET_SERVICE_ID

    dataset = {"documentId": DEMO_DATASET_DID, "serviceId": DEMO_DATASET_SERVICE_ID, "transferTxId": OCEAN_ORDER_TX}
    return JobSpec(backend="kit-ocean", inputs=[dataset], code=code)


OCEAN = KitCase(
    id="ocean",
    make=_ocean,
    quick=lambda _: _ocean_spec(OCEAN_QUICK_CODE),
    long=lambda _: _ocean_spec(OCEAN_LONG_CODE),
    env={OCEAN_KEY_ENV: HARDHAT_KEYS[0]},
    secrets=(HARDHAT_KEYS[0][2:],),  # the key's hex, with or without its 0x
    result_name="kit.csv",
)


# --- maap: the MAAP sandbox, both flavours ---------------------------------------------------------

MAAP_TOKEN_ENV = "KIT_MAAP_PGT"
MAAP_TOKEN = "kit-maap-pgt-SECRET-5e1f0b7a"
MAAP_GRANULE = "sample-trees.csv"  # built into every MAAP sandbox
MAAP_QUEUE = "maap-dps-worker-8gb"


def _maap(flavor: str) -> Callable[[KitSite], Backend]:
    def make(site: KitSite) -> Backend:
        from jupyter_compute.backends.maap import MaapBackend
        from jupyter_compute.sandbox.maap import MaapSandbox

        sandbox = site.enter(MaapSandbox(tokens=(MAAP_TOKEN,)))
        return MaapBackend(f"kit-maap-{flavor}", {"url": sandbox.url, "flavor": flavor, "token_env": MAAP_TOKEN_ENV})

    return make


MAAP_SWAGGER = KitCase(
    id="maap-swagger",
    make=_maap("swagger"),
    quick=lambda _: JobSpec(backend="kit-maap-swagger", algorithm="row-stats", inputs=[MAAP_GRANULE]),
    long=lambda _: JobSpec(backend="kit-maap-swagger", algorithm="sleep", inputs=[MAAP_GRANULE],
                           params={"seconds": 300}),
    env={MAAP_TOKEN_ENV: MAAP_TOKEN},
    secrets=(MAAP_TOKEN,),
    log_line=None,
    result_name="row_stats.csv",
)

MAAP_OGC = KitCase(
    id="maap-ogc",
    make=_maap("ogc"),
    quick=lambda _: JobSpec(backend="kit-maap-ogc", algorithm="1", inputs=[MAAP_GRANULE], environment=MAAP_QUEUE),
    long=lambda _: JobSpec(backend="kit-maap-ogc", algorithm="4", inputs=[MAAP_GRANULE], environment=MAAP_QUEUE,
                           params={"seconds": 300}),
    env={MAAP_TOKEN_ENV: MAAP_TOKEN},
    secrets=(MAAP_TOKEN,),
    log_line=None,
    result_name="row_stats.csv",
)


# --- datastory: the task API sandbox, HDFS through WebHDFS, CEPH through S3 (moto) ------------------

DS_TOKEN = "kit-ds-token-SECRET-2c9d4e81"
DS_CEPH_KEY = "KITCEPHKEY-SECRET-77a1c3"
DS_CEPH_SECRET = "kit-ceph-secret-SECRET-90b3f6"
DS_ENV = {"KIT_DS_TOKEN": DS_TOKEN, "KIT_CEPH_KEY": DS_CEPH_KEY, "KIT_CEPH_SECRET": DS_CEPH_SECRET}
DS_EMAIL = "kit@example.org"
DS_CSV = "city,words\nparis,the cat sat\nlyon,the dog ran\n"


def _datastory(site: KitSite) -> Backend:
    from urllib.parse import urlsplit

    from jupyter_compute.backends.datastory import DatastoryBackend
    from jupyter_compute.sandbox.datastory import DatastorySandbox

    platform = site.enter(DatastorySandbox(token=DS_TOKEN))
    hdfs = site.fixture("hdfs")
    s3 = urlsplit(site.fixture("s3_endpoint"))
    s3_client(s3.geturl(), DS_CEPH_KEY, DS_CEPH_SECRET).create_bucket(Bucket="kit-lake")
    storage = {
        "hdfs-main": {"type": "HDFS", "host": "127.0.0.1", "port": hdfs.port, "user": "alice"},
        "ceph": {"type": "CEPH", "host": s3.hostname, "port": s3.port, "bucket": "kit-lake",
                 "access_key_env": "KIT_CEPH_KEY", "secret_key_env": "KIT_CEPH_SECRET"},
    }  # fmt: skip
    return DatastoryBackend("kit-ds", {"url": platform.url, "token_env": "KIT_DS_TOKEN", "storage": storage})


DATASTORY = KitCase(
    id="datastory",
    make=_datastory,
    quick=lambda workdir: JobSpec(backend="kit-ds", algorithm="word-count", params={"column": "words"},
                                  inputs=[str(_write(workdir / "cities.csv", DS_CSV))], extra={"email": DS_EMAIL}),
    long=lambda workdir: JobSpec(backend="kit-ds", algorithm="sleep", params={"seconds": 300},
                                 inputs=[str(_write(workdir / "cities.csv", DS_CSV))], extra={"email": DS_EMAIL}),
    env=DS_ENV,
    secrets=(DS_TOKEN, DS_CEPH_KEY, DS_CEPH_SECRET),
    log_line=None,
)


# --- modelarts: the ModelArts sandbox with OBS on moto ---------------------------------------------

MA_CPU_FLAVOR = "modelarts.vm.cpu.8u"  # a flavor of the sandbox's public pool
MA_ENV = {"KIT_MA_AK": MA_AK, "KIT_MA_SK": MA_SK, "KIT_OBS_AK": MA_OBS_KEY, "KIT_OBS_SK": MA_OBS_SECRET}
#: The boot file: prints the log line, ticks for --sleep seconds, writes kit.csv to --train_url.
MA_BOOT = f"""\
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--train_url")
parser.add_argument("--sleep", type=float, default=0.0)
args, _ = parser.parse_known_args()
print("{QUICK_LOG_LINE}", flush=True)
for i in range(int(args.sleep * 10)):
    print("tick", i, flush=True)
    time.sleep(0.1)
with open(os.path.join(args.train_url, "kit.csv"), "w") as f:
    f.write({QUICK_TABLE!r})
"""


def _modelarts(site: KitSite) -> Backend:
    from jupyter_compute.backends.modelarts import ModelArtsBackend

    sandbox = site.fixture("modelarts")  # conftest: signatures by MA_AK/MA_SK, OBS on moto with MA_BUCKET
    backend = ModelArtsBackend("kit-modelarts", {
        "endpoint": sandbox.base_url, "project_id": MA_PROJECT, "ak_env": "KIT_MA_AK", "sk_env": "KIT_MA_SK",
        "obs_endpoint": site.fixture("obs"), "obs_ak_env": "KIT_OBS_AK", "obs_sk_env": "KIT_OBS_SK",
        "upload_root": f"obs://{MA_BUCKET}/kit/", "timeout_s": 20,
    })  # fmt: skip
    backend.local_roots = (site.workdir.resolve(),)
    return backend


def _modelarts_spec(workdir: Path, **params: Any) -> JobSpec:
    boot = _write(workdir / "kit_train.py", MA_BOOT)
    return JobSpec(backend="kit-modelarts", script=str(boot.resolve()), environment=MA_CPU_FLAVOR, params=params)


MODELARTS = KitCase(
    id="modelarts",
    make=_modelarts,
    quick=_modelarts_spec,
    long=lambda workdir: _modelarts_spec(workdir, sleep=300),
    env=MA_ENV,
    secrets=(MA_AK, MA_SK, MA_OBS_KEY, MA_OBS_SECRET),
    result_name="kit.csv",
)


#: Every backend the kit runs, in the order of the suite's ids.
CASES: tuple[KitCase, ...] = (LOCAL, OCEAN, MAAP_SWAGGER, MAAP_OGC, DATASTORY, MODELARTS)
