"""The demo notebooks run from top to bottom in a real kernel against a live server.

The platform notebooks run here under a server in sandbox mode (as `scripts/lab.sh` and Binder start it); the
same notebooks against a plain server whose backends are configured as real platforms are run beside each
platform's server tests (test_backend_maap, test_ocean_server, test_datastory_server, test_modelarts_server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from conftest import (
    REPO,
    LiveServer,
    run_demo_notebook,
    run_notebook,
    start_live_server,
    stored_notebook,
    untracked_files,
)

PLATFORM_NOTEBOOKS = ("maap.ipynb", "ocean.ipynb", "datastory.ipynb", "modelarts.ipynb", "ray.ipynb")
#: What sandbox mode sets in the server's environment for its kernels to inherit: the stand-ins' addresses.
SANDBOX_VARS = ("MAAP_SANDBOX_URL", "OCEAN_PROVIDER_URL", "DATASTORY_SANDBOX_URL", "MODELARTS_SANDBOX_URL",
                "RAY_SANDBOX_DASHBOARD_URL")


def test_quickstart_notebook(module_server, tmp_path):
    # The kernel is given no URL or token: it must find the live server by itself.
    _, text = run_notebook("quickstart.ipynb", module_server.kernel_env(), tmp_path, timeout=300)
    assert "wrote 24 rows to waves.csv" in text
    assert module_server.token not in text

    with module_server.client() as client:
        page = client.jobs(tag="quickstart")
        assert page.total == 1 and page[0].state.value == "SUCCEEDED"
        waves = page[0].to_pandas()
    assert waves["step"].tolist() == list(range(24))
    assert abs(waves.loc[4, "sine"] - 0.841471) < 1e-6


# --- the platform notebooks, as committed -----------------------------------------------------------


@pytest.mark.parametrize("name", PLATFORM_NOTEBOOKS)
def test_platform_notebooks_reach_the_platform_only_through_the_server(name: str) -> None:
    nb = stored_notebook(name)  # valid, and without outputs
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for direct in ("jupyter_compute.sandbox", "import httpx", "Sandbox(", "boto3", "moto"):
        assert direct not in code, f"{name}: {direct!r}: a stand-in started, or a platform reached, from the kernel"
    assert "client.backends()" in code, "the backend is found by asking the server"
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Against the real platform")
    assert "c.ComputeApp.backends" in last.source and "_env" in last.source, "the configuration, secrets by env var"


def test_a_notebook_without_its_backend_says_how_to_configure_one(module_server) -> None:
    """A plain server with no MAAP backend: the first cell fails with one line saying what to do."""
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "maap.ipynb", as_version=4)
    runner = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "notebooks")}})  # fmt: skip
    before = untracked_files()
    with pytest.raises(CellExecutionError) as failed:
        runner.execute(env=module_server.kernel_env())
    assert untracked_files() == before
    assert failed.value.ename == "NotFound"
    [error] = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    [line] = error.traceback  # no frames: IPython shows our errors as one line
    assert "no working MAAP backend" in line and "README.md" in line and "scripts/lab.sh" in line, line


# --- the platform notebooks under a server in sandbox mode ------------------------------------------


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory, ray_cluster: Any) -> Iterator[LiveServer]:
    """One server in sandbox mode for the platform notebooks (each tags its own jobs); its `ray` backend is the
    session's two-node Ray cluster (as the one sandbox mode starts, without starting another)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_COMPUTE_RAY_SANDBOX", ray_cluster.dashboard_url)
        server = start_live_server(tmp_path_factory.mktemp("sandbox") / "jupyter",
                                   extra_args=["--ComputeApp.sandbox=True"])  # fmt: skip
    yield server
    server.stop()
    server.checked_log(_sandbox_secrets())


@pytest.fixture(scope="module")
def sandbox_kernel_env(sandbox_server: LiveServer) -> dict[str, str]:
    """The environment of a kernel of the sandbox-mode server: the server's own, plus what sandbox mode set in
    it. A kernel the server starts inherits that; these notebooks run in kernels of the test's own, so a local
    job of the server (which inherits the same) reads it for them."""
    probe = f"import json, os; print(json.dumps({{k: os.environ.get(k) for k in {SANDBOX_VARS!r}}}))"
    with sandbox_server.client() as client:
        job = client.submit(code=probe, name="environment probe").wait(timeout=120, progress=False)
        inherited = json.loads(job.logs().strip().splitlines()[-1])
        backends = {b["name"]: b for b in client.backends()}
    assert all(value and value.startswith("http://127.0.0.1:") for value in inherited.values()), inherited
    assert inherited["MAAP_SANDBOX_URL"] == backends["maap"]["url"], "the notebook can tell the stand-in apart"
    return sandbox_server.kernel_env() | inherited


def _sandbox_secrets() -> tuple[str, ...]:
    from jupyter_compute.sandbox.datastory import DEFAULT_TOKEN
    from jupyter_compute.sandbox.maap import VALID_TOKEN
    from jupyter_compute.sandbox.modelarts import DEFAULT_CREDENTIALS
    from jupyter_compute.server.sandboxes import SANDBOX_WALLET_KEY

    (access_key, secret_key), = DEFAULT_CREDENTIALS.items()
    return VALID_TOKEN, DEFAULT_TOKEN, access_key, secret_key, SANDBOX_WALLET_KEY[2:]


def _run_in_sandbox_mode(name: str, env: dict[str, str]) -> str:
    nb, text = run_demo_notebook(name, env, timeout=300)
    shown = nbformat.writes(nb).lower()
    for secret in _sandbox_secrets():
        assert secret.lower() not in shown, f"a sandbox secret in {name}'s outputs"
    return text


def _tagged(server: LiveServer, tag: str) -> list[tuple[str, str, Any]]:
    """The jobs with ``tag``: backend, state and (a job that succeeded) its table, read through the server."""
    with server.client() as client:
        return [(job.backend, job.state.value, job.to_pandas() if job.state.value == "SUCCEEDED" else None)
                for job in client.jobs(tag=tag)]


def test_maap_notebook_in_sandbox_mode(sandbox_server: LiveServer, sandbox_kernel_env: dict[str, str]) -> None:
    text = _run_in_sandbox_mode("maap.ipynb", sandbox_kernel_env)
    url = sandbox_kernel_env["MAAP_SANDBOX_URL"]
    assert (f"Backend 'maap': MAAP's DPS (swagger API) at {url} — the local MAAP sandbox the server started in "
            "sandbox mode") in text, text
    assert "(1, 'row-stats', 'Per-column count/mean/min/max of each granule CSV')" in text, "registry via passthrough"
    assert "mean biomass 154.69 t/ha over 4 plots" in text, text
    assert "queues of 'maap-ogc': [('maap-dps-worker-8gb', 8.0)" in text and "the same product as above: True" in text
    jobs = _tagged(sandbox_server, "maap-demo")
    assert sorted((backend, state) for backend, state, _ in jobs) == [("maap", "SUCCEEDED"), ("maap-ogc", "SUCCEEDED")]
    for _, _, stats in jobs:
        biomass = stats.set_index("column").loc["biomass_t_ha"]
        assert (biomass["count"], biomass["mean"], biomass["min"], biomass["max"]) == (4, 154.6875, 95.25, 201.0)


def test_ocean_notebook_in_sandbox_mode(sandbox_server: LiveServer, sandbox_kernel_env: dict[str, str]) -> None:
    from conftest import HARDHAT_ADDRESSES

    text = _run_in_sandbox_mode("ocean.ipynb", sandbox_kernel_env)
    url = sandbox_kernel_env["OCEAN_PROVIDER_URL"]
    assert (f"Backend 'ocean': the Ocean Provider at {url} (chain 8996) — the local Provider sandbox the server "
            "started in sandbox mode") in text, text
    assert f"consumer wallet: {HARDHAT_ADDRESSES[0]}" in text
    assert "using environment ocean-compute" in text and "read 10 rows" in text
    assert "mean temperature: 59.90 °F over 10 days" in text, text
    [(backend, state, frame)] = _tagged(sandbox_server, "ocean-demo")
    assert (backend, state) == ("ocean", "SUCCEEDED")
    assert frame["day"].tolist() == list(range(1, 11)) and frame.loc[0, "fahrenheit"] == 53.6
    assert round(frame["fahrenheit"].mean(), 2) == 59.9


def test_datastory_notebook_in_sandbox_mode(sandbox_server: LiveServer, sandbox_kernel_env: dict[str, str]) -> None:
    text = _run_in_sandbox_mode("datastory.ipynb", sandbox_kernel_env)
    url = sandbox_kernel_env["DATASTORY_SANDBOX_URL"]
    assert (f"Backend 'datastory': the Datastory platform at {url}, storage profiles hdfs-main — the local "
            "Datastory sandbox the server started in sandbox mode") in text, text
    assert "population: mean 798.75 over 4 cities (hdfs-main)" in text, text
    assert "backend 'datastory' has no other storage profile: skipped" in text
    [(backend, state, summary)] = _tagged(sandbox_server, "datastory-demo")
    assert (backend, state) == ("datastory", "SUCCEEDED")
    population = summary.set_index("column").loc["population"]
    assert (population["count"], population["mean"], population["max"]) == (4, 798.75, 2100)


def test_modelarts_notebook_in_sandbox_mode(sandbox_server: LiveServer, sandbox_kernel_env: dict[str, str]) -> None:
    text = _run_in_sandbox_mode("modelarts.ipynb", sandbox_kernel_env)
    url = sandbox_kernel_env["MODELARTS_SANDBOX_URL"]
    assert (f"Backend 'modelarts': ModelArts at {url} — the local ModelArts sandbox the server started in sandbox "
            "mode") in text, text
    assert "the server signs its ModelArts calls with its access keys" in text
    assert "pool: cpu-pool (pool:pool-cpu-a1b2c3) | flavor: modelarts.vm.cpu.8u" in text, text
    assert "munich: 4 days, mean 19.25 kWh, 2 above 20.0" in text, "the log was followed"
    assert "best site: valencia, mean 31.25 kWh/day over 4 days" in text, text
    assert "app infer-clients may call it; its secret reads ••••••••" in text, text
    assert "sandbox-app-secret" not in text and "sandbox-app-key" not in text  # the stand-in's app secrets and keys
    assert "SUCCEEDED | train: completed, release: completed" in text, text
    with sandbox_server.client() as client:
        jobs = {job.name: job for job in client.jobs(tag="modelarts-demo")}
        assert {name: (job.backend, job.state.value) for name, job in jobs.items()} == {
            "solar-site-metrics": ("modelarts", "SUCCEEDED"), "kwh-sums": ("modelarts", "SUCCEEDED"),
            "kwh-predictor": ("modelarts", "CANCELLED"), "train-and-approve": ("modelarts", "SUCCEEDED")}
        metrics = jobs["solar-site-metrics"].to_pandas("metrics.csv")
    assert metrics.set_index("site")["days_above"].to_dict() == {"munich": 2, "oslo": 0, "valencia": 4}


def test_ray_notebook_in_sandbox_mode(sandbox_server: LiveServer, sandbox_kernel_env: dict[str, str],
                                      ray_cluster: Any) -> None:  # fmt: skip
    text = _run_in_sandbox_mode("ray.ipynb", sandbox_kernel_env)
    assert (f"Backend 'ray': the Ray cluster at {ray_cluster.dashboard_url} — the local cluster the server started "
            "in sandbox mode") in text, text
    assert "2 of 2 nodes alive, 2 CPUs" in text, text
    assert "6 sites summarised by 4 tasks on 2 node(s)" in text, text
    assert "best site: valencia, mean 31.25 kWh/day over 4 days; computed on 2 nodes" in text, text
    [(backend, state, sites)] = _tagged(sandbox_server, "ray-demo")
    assert (backend, state) == ("ray", "SUCCEEDED")
    assert sites.set_index("site")["mean_kwh"].round(2).to_dict() == {
        "lima": 24.25, "oslo": 9.25, "perth": 29.25, "pune": 27.25, "quito": 21.25, "valencia": 31.25}
    assert sites["node"].nunique() == 2
