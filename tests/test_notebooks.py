"""The demo notebooks run from top to bottom in a real kernel against a live server."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from conftest import REPO


def run_notebook(path: Path, env: dict[str, str], cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute(
        env=env
    )
    return nb


def test_quickstart_notebook(live_server, tmp_path):
    # The kernel is given no URL or token: it must find the live server by itself.
    env = {k: v for k, v in live_server.env.items() if not k.startswith("JUPYTER_COMPUTE_")}
    nb = run_notebook(REPO / "notebooks" / "quickstart.ipynb", env, tmp_path)
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                   for cell in nb.cells for o in cell.get("outputs", []))
    assert "wrote 24 rows to waves.csv" in text
    assert live_server.token not in text

    with live_server.client() as client:
        page = client.jobs(tag="quickstart")
        assert page.total == 1 and page[0].state.value == "SUCCEEDED"
        waves = page[0].to_pandas()
    assert waves["step"].tolist() == list(range(24))
    assert abs(waves.loc[4, "sine"] - 0.841471) < 1e-6
