"""Jobs survive a SIGKILL of the Jupyter server: the restarted server re-attaches to them."""

from __future__ import annotations

import time

from conftest import start_live_server

GATED_CSV = """
import os, pathlib, time
gate = pathlib.Path(os.environ["JUPYTER_COMPUTE_PARAM_GATE"])
deadline = time.time() + 120
while not gate.exists() and time.time() < deadline:
    time.sleep(0.1)
pathlib.Path(os.environ["JUPYTER_COMPUTE_OUTPUT_DIR"], "late.csv").write_text("k,v\\na,1\\nb,2\\n")
print("finished after the restart")
"""


def wait_running(client, job_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.job(job_id).state.value != "RUNNING":
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.2)


def test_jobs_survive_server_sigkill(tmp_path):
    home = tmp_path / "jupyter"
    gate = tmp_path / "gate"  # the jobs finish only once the test opens it, after the restart
    first = start_live_server(home)
    try:
        with first.client() as client:
            good = client.submit(code=GATED_CSV, name="survivor", params={"gate": str(gate)})
            bad = client.submit(command=f"while [ ! -e {gate} ]; do sleep 0.1; done; exit 3", name="fails later")
            wait_running(client, good.id)
            wait_running(client, bad.id)
    finally:
        first.kill()

    second = start_live_server(home, token=first.token)
    try:
        with second.client() as client:
            page = client.jobs(q="survivor")
            assert page.total == 1 and page[0].id == good.id
            assert page[0].state.value == "RUNNING", "the job kept running while no server was up"
            gate.touch()

            survivor = client.job(good.id).wait(timeout=60, progress=False)
            assert survivor.state.value == "SUCCEEDED", survivor.message
            assert "finished after the restart" in survivor.logs()
            frame = survivor.to_pandas("late.csv")
            assert frame.to_dict("list") == {"k": ["a", "b"], "v": [1, 2]}

            failed = client.job(bad.id).wait(timeout=60, progress=False, raise_on_failure=False)
            assert failed.state.value == "FAILED" and "3" in failed.message, failed.message
    finally:
        second.stop()
