"""`ComputeApp.sandbox = True` (what `scripts/lab.sh` runs): every platform's demo notebook runs in a
real JupyterLab, its kernel launched by the server, against stand-ins the server started itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ui.conftest import LabServer, open_notebook, run_all_cells, screenshot, start_lab, wait_for_text

OUTPUT = ".jp-OutputArea-output"
SECRETS = ("sandbox-pgt", "sandbox-token", "sandbox-secret-key",
           "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")


@pytest.fixture(scope="module")
def sandbox_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    lab = start_lab(tmp_path_factory.mktemp("sandbox-lab") / "jupyter", ["--ComputeApp.sandbox=True"])
    yield lab
    lab.server.stop()


def test_every_platform_is_a_backend(sandbox_lab: LabServer) -> None:
    with sandbox_lab.client() as client:
        backends = {b["name"]: b for b in client.backends()}
    assert {"local", "maap", "maap-ogc", "datastory", "modelarts", "ocean"} <= set(backends)
    assert all(b["available"] for b in backends.values()), backends


@pytest.mark.parametrize(("notebook", "computed"), [
    ("ocean", "mean temperature: 59.90 °F over 10 days"),
    ("modelarts", "best site: valencia, mean 31.25 kWh/day over 4 days"),
    ("datastory", "population: mean 798.75 over 4 cities (hdfs-main)"),
    ("maap", "mean biomass 154.69 t/ha over 4 plots"),
])
def test_the_demo_notebook_runs(sandbox_lab: LabServer, page, notebook: str, computed: str) -> None:
    path = sandbox_lab.add(f"notebooks/{notebook}.ipynb")
    open_notebook(page, sandbox_lab, path)
    run_all_cells(page, timeout=240)
    wait_for_text(page, computed, selector=OUTPUT)
    # the server's stand-in, told apart by what sandbox mode set in the environment the kernel inherited
    wait_for_text(page, "sandbox the server started in sandbox mode", selector=OUTPUT)
    screenshot(page, f"sandbox-{notebook}")
    shown = page.locator(OUTPUT).all_inner_texts()
    for secret in SECRETS:
        assert not any(secret in text for text in shown), f"a sandbox credential is shown by {notebook}"


def test_the_servers_log_holds_no_credential(sandbox_lab: LabServer) -> None:
    log = Path(sandbox_lab.server.log_path).read_text()
    assert "sandboxes running for maap, maap-ogc, datastory, modelarts, ocean" in log
    for secret in SECRETS:
        assert secret not in log
