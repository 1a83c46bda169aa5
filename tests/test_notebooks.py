"""The demo notebooks run from top to bottom in a real kernel against a live server."""

from __future__ import annotations

from conftest import run_notebook


def test_quickstart_notebook(live_server, tmp_path):
    # The kernel is given no URL or token: it must find the live server by itself.
    _, text = run_notebook("quickstart.ipynb", live_server.kernel_env(), tmp_path, timeout=300)
    assert "wrote 24 rows to waves.csv" in text
    assert live_server.token not in text

    with live_server.client() as client:
        page = client.jobs(tag="quickstart")
        assert page.total == 1 and page[0].state.value == "SUCCEEDED"
        waves = page[0].to_pandas()
    assert waves["step"].tolist() == list(range(24))
    assert abs(waves.loc[4, "sine"] - 0.841471) < 1e-6
