"""The REST API over real HTTP, through an in-process Jupyter server with a non-root base_url."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nbformat
import psutil

from conftest import wait_for_state

WRITE_CSV = """
import csv, os, pathlib
out = pathlib.Path(os.environ["JUPYTER_COMPUTE_OUTPUT_DIR"])
n = int(os.environ["JUPYTER_COMPUTE_PARAM_ROWS"])
with open(out / "squares.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["x", "square"])
    for x in range(n):
        w.writerow([x, x * x])
print("wrote", n, "rows")
"""


def job_processes(job_id: str) -> list[psutil.Process]:
    """Every live process started for this job (found by the job id in its environment)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("JUPYTER_COMPUTE_JOB_ID") == job_id and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


async def test_script_job_end_to_end(api, jp_serverapp, jp_http_port, jp_base_url):
    reply = await api("POST", "jobs", body={"code": WRITE_CSV, "name": "squares", "params": {"rows": 5},
                                            "tags": ["demo"]})
    assert reply.status == 201, reply.body
    job = reply.body
    assert job["state"] in ("QUEUED", "RUNNING") and job["name"] == "squares"

    done = await wait_for_state(api, job["id"], {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED", done
    assert done["finished"] and done["started"]

    listed = await api("GET", "jobs", params={"tag": "demo", "state": "SUCCEEDED"})
    assert listed.body["total"] == 1 and listed.body["jobs"][0]["id"] == job["id"]

    logs = await api("GET", "jobs", job["id"], "logs")
    assert "wrote 5 rows" in logs.body["text"] and logs.body["complete"] is True

    results = await api("GET", "jobs", job["id"], "results")
    by_name = {r["name"]: r for r in results.body["results"]}
    assert by_name["squares.csv"]["kind"] == "output" and by_name["squares.csv"]["size"] > 0

    raw = await api("GET", "jobs", job["id"], "results", "squares.csv")
    assert raw.status == 200 and raw.body.splitlines()[:2] == ["x,square", "0,0"]

    from jupyter_compute.client import Client

    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    token = jp_serverapp.identity_provider.token

    def load():
        with Client(url, token) as client:
            return client.job(job["id"]).to_pandas()

    frame = await asyncio.to_thread(load)
    assert list(frame.columns) == ["x", "square"]
    assert frame["square"].tolist() == [0, 1, 4, 9, 16]


async def test_notebook_job_with_parameters(api, tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("factor = 1\nlabel = 'default'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import os, pathlib\n"
            "pathlib.Path(os.environ['JUPYTER_COMPUTE_OUTPUT_DIR'], 'answer.txt').write_text(f'{label}:{factor * 7}')\n"
            "print(label, factor * 7)"
        ),
    ]
    path = tmp_path / "analysis.ipynb"
    nbformat.write(nb, path)

    reply = await api("POST", "jobs", body={"notebook": str(path), "params": {"factor": 6, "label": "run"}})
    assert reply.status == 201, reply.body
    done = await wait_for_state(api, reply.body["id"], {"SUCCEEDED", "FAILED"}, timeout=120)
    assert done["state"] == "SUCCEEDED", done

    names = {r["name"] for r in done["results"]}
    assert "analysis.ipynb" in names, names
    assert (await api("GET", "jobs", done["id"], "results", "answer.txt")).body == "run:42"
    executed = await api("GET", "jobs", done["id"], "results", "analysis.ipynb")
    executed_nb = nbformat.reads(json.dumps(executed.body), as_version=4)
    injected = [c for c in executed_nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "factor = 6" in injected[0].source
    outputs = "".join(o.get("text", "") for c in executed_nb.cells for o in c.get("outputs", []))
    assert "run 42" in outputs


async def test_cancel_ends_every_process(api):
    reply = await api("POST", "jobs", body={"command": "sleep 300 & sleep 300; wait"})
    job_id = reply.body["id"]
    await wait_for_state(api, job_id, {"RUNNING"})
    for _ in range(50):
        if len(job_processes(job_id)) >= 2:
            break
        await asyncio.sleep(0.1)
    assert len(job_processes(job_id)) >= 2

    cancelled = await api("POST", "jobs", job_id, "cancel")
    assert cancelled.status == 200
    done = await wait_for_state(api, job_id, {"CANCELLED", "FAILED", "SUCCEEDED"})
    assert done["state"] == "CANCELLED", done
    for _ in range(50):
        if not job_processes(job_id):
            break
        await asyncio.sleep(0.1)
    assert job_processes(job_id) == []


async def test_timeout_ends_timed_out(api):
    reply = await api("POST", "jobs", body={"command": "sleep 60", "timeout_s": 1})
    done = await wait_for_state(api, reply.body["id"], {"TIMED_OUT", "FAILED", "SUCCEEDED", "CANCELLED"})
    assert done["state"] == "TIMED_OUT", done
    assert job_processes(reply.body["id"]) == []


async def test_third_job_waits_for_a_slot(api):
    ids = []
    for i in range(3):
        reply = await api("POST", "jobs", body={"command": f"sleep 2; echo done {i}", "name": f"slot-{i}"})
        assert reply.status == 201
        ids.append(reply.body["id"])
    for _ in range(100):
        states = [(await api("GET", "jobs", job_id)).body["state"] for job_id in ids]
        if states.count("RUNNING") == 2:
            break
        await asyncio.sleep(0.1)
    assert states.count("RUNNING") == 2 and states.count("QUEUED") == 1, states
    for job_id in ids:
        done = await wait_for_state(api, job_id, {"SUCCEEDED", "FAILED"})
        assert done["state"] == "SUCCEEDED"


async def test_same_idempotency_key_gives_one_job(api):
    body = {"command": "echo once", "idempotency_key": "retry-123"}
    first, second = await asyncio.gather(api("POST", "jobs", body=body), api("POST", "jobs", body=body))
    assert {first.status, second.status} == {200, 201}
    assert first.body["id"] == second.body["id"]
    third = await api("POST", "jobs", body={"command": "echo once"}, headers={"Idempotency-Key": "retry-123"})
    assert third.status == 200 and third.body["id"] == first.body["id"]
    listed = await api("GET", "jobs", params={"q": "echo once"})
    assert listed.body["total"] == 1


async def test_list_filters_sort_and_paging(api):
    for i in range(7):
        await api("POST", "jobs", body={"command": "true", "name": f"page-{i}", "tags": ["paging"]})
    first = await api("GET", "jobs", params={"tag": "paging", "limit": 3, "sort": "name"})
    second = await api("GET", "jobs", params={"tag": "paging", "limit": 3, "offset": 3, "sort": "name"})
    assert first.body["total"] == 7
    names = [j["name"] for j in first.body["jobs"] + second.body["jobs"]]
    assert names == [f"page-{i}" for i in range(6)]
    newest = await api("GET", "jobs", params={"tag": "paging", "limit": 1})
    assert newest.body["jobs"][0]["name"] == "page-6"
    assert (await api("GET", "jobs", params={"backend": "nope"})).body["total"] == 0


async def test_backends_environments_clusters(api):
    backends = (await api("GET", "backends")).body["backends"]
    local = next(b for b in backends if b["name"] == "local")
    assert local["kind"] == "local" and local["capabilities"]["can_cancel"] is True
    envs = (await api("GET", "backends", "local", "environments")).body["environments"]
    assert len(envs) == 1 and envs[0]["cpus"] >= 1 and envs[0]["memory_gb"] > 0 and envs[0]["max_jobs"] == 2
    clusters = (await api("GET", "backends", "local", "clusters")).body["clusters"]
    assert len(clusters) == 1 and clusters[0]["nodes"] == 1


async def test_delete_forgets_the_job(api):
    reply = await api("POST", "jobs", body={"command": "echo bye"})
    await wait_for_state(api, reply.body["id"], {"SUCCEEDED"})
    assert (await api("DELETE", "jobs", reply.body["id"])).status == 204
    gone = await api("GET", "jobs", reply.body["id"])
    assert gone.status == 404 and gone.body["error"]["type"] == "NotFound"


BAD_SUBMISSIONS = [
    ({"backend": "nowhere", "command": "true"}, 404, "backend"),
    ({}, 400, "command"),
    ({"command": "true", "code": "print(1)"}, 400, "command"),
    ({"command": "true", "timeout_s": "soon"}, 400, "timeout_s"),
    ({"command": 42}, 400, "command"),
    ({"command": "true", "colour": "red"}, 400, "colour"),
    ({"command": "true", "tags": [""]}, 400, "tags[0]"),
    ({"script": "/no/such/script.py"}, 400, "script"),
    ({"command": "true", "idempotency_key": 7}, 400, "idempotency_key"),
    ({"command": "true", "environment": "moon"}, 400, "environment"),
    (["command", "true"], 400, "body"),
]


async def test_bad_submissions_name_the_field_and_record_nothing(api):
    for body, status, field in BAD_SUBMISSIONS:
        reply = await api("POST", "jobs", body=body)
        assert reply.status == status, (body, reply.body)
        error = reply.body["error"]
        assert error["field"] == field, (body, error)
        assert error["message"] and "Traceback" not in error["message"]
    malformed = await api("POST", "jobs", raw_body=b"{not json")
    assert malformed.status == 400 and malformed.body["error"]["field"] == "body"
    assert (await api("GET", "jobs")).body["total"] == 0


async def test_unknown_ids_and_names_are_404(api):
    assert (await api("GET", "jobs", "0" * 32)).status == 404
    assert (await api("POST", "jobs", "0" * 32, "cancel")).status == 404
    assert (await api("GET", "jobs", "0" * 32, "logs")).status == 404
    assert (await api("GET", "backends", "nowhere", "environments")).body["error"]["field"] == "backend"
    reply = await api("POST", "jobs", body={"command": "echo hi"})
    await wait_for_state(api, reply.body["id"], {"SUCCEEDED"})
    missing = await api("GET", "jobs", reply.body["id"], "results", "nope.csv")
    assert missing.status == 404 and missing.body["error"]["field"] == "name"
    bad_query = await api("GET", "jobs", params={"limit": "many"})
    assert bad_query.status == 400 and bad_query.body["error"]["field"] == "limit"
    bad_state = await api("GET", "jobs", params={"state": "SLEEPING"})
    assert bad_state.status == 400 and bad_state.body["error"]["field"] == "state"
    bad_sort = await api("GET", "jobs", params={"sort": "colour"})
    assert bad_sort.status == 400 and bad_sort.body["error"]["field"] == "sort"
    huge = await api("GET", "jobs", params={"offset": str(10**30)})
    assert huge.status == 400 and huge.body["error"]["field"] == "offset"
    huge_log = await api("GET", "jobs", reply.body["id"], "logs", params={"offset": str(10**30)})
    assert huge_log.status == 400 and huge_log.body["error"]["field"] == "offset"


async def test_non_finite_numbers_are_refused(api):
    for raw in (b'{"command": "true", "params": {"x": NaN}}', b'{"command": "true", "timeout_s": Infinity}'):
        reply = await api("POST", "jobs", raw_body=raw)
        assert reply.status == 400 and reply.body["error"]["field"] == "body", reply.body
    assert (await api("GET", "jobs")).body["total"] == 0


async def test_a_running_jobs_log_streams_and_empty_files_keep_their_type(api, tmp_path: Path):
    gate = tmp_path / "go"
    code = (
        "import os, pathlib, time\n"
        "out = pathlib.Path(os.environ['JUPYTER_COMPUTE_OUTPUT_DIR'])\n"
        "(out / 'empty.csv').write_text('')\n"
        f"while not pathlib.Path({str(gate)!r}).exists():\n"
        "    print('tick', flush=True); time.sleep(0.05)\n"
    )
    reply = await api("POST", "jobs", body={"code": code})
    job_id = reply.body["id"]
    await wait_for_state(api, job_id, {"RUNNING"})
    for _ in range(100):
        if "tick" in (await api("GET", "jobs", job_id, "logs")).body["text"]:
            break
        await asyncio.sleep(0.05)
    growing = await api("GET", "jobs", job_id, "results", "job.log")
    assert growing.status == 200 and growing.body.startswith("tick")
    empty = await api("GET", "jobs", job_id, "results", "empty.csv")
    assert empty.status == 200 and empty.body is None
    assert empty.headers["Content-Type"].startswith("text/csv")
    gate.touch()
    assert (await wait_for_state(api, job_id, {"SUCCEEDED", "FAILED"}))["state"] == "SUCCEEDED"


async def test_deleting_a_running_job_stops_it(api):
    reply = await api("POST", "jobs", body={"command": "sleep 300"})
    job_id = reply.body["id"]
    await wait_for_state(api, job_id, {"RUNNING"})
    assert (await api("DELETE", "jobs", job_id)).status == 204
    assert (await api("GET", "jobs", job_id)).status == 404
    for _ in range(50):
        if not job_processes(job_id):
            break
        await asyncio.sleep(0.1)
    assert job_processes(job_id) == []


async def test_part_files_load_as_one_frame(api, jp_serverapp, jp_http_port, jp_base_url):
    code = (
        "import os, pathlib\n"
        "out = pathlib.Path(os.environ['JUPYTER_COMPUTE_OUTPUT_DIR'], 'result')\n"
        "out.mkdir()\n"
        "(out / 'part-00000.csv').write_text('k,v\\na,1\\nb,2\\n')\n"
        "(out / 'part-00001.csv').write_text('k,v\\nc,3\\n')\n"
        "(out / '_SUCCESS').write_text('')\n"
    )
    reply = await api("POST", "jobs", body={"code": code})
    done = await wait_for_state(api, reply.body["id"], {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED", done

    from jupyter_compute.client import Client

    def load():
        with Client(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token) as c:
            job_id = done["id"]
            return c.to_pandas(job_id), c.to_pandas(job_id, "result/"), c.to_pandas(job_id, "result/part-00001.csv")

    whole, folder, one_part = await asyncio.to_thread(load)
    assert whole.to_dict("list") == {"k": ["a", "b", "c"], "v": [1, 2, 3]}
    assert folder.equals(whole) and one_part.to_dict("list") == {"k": ["c"], "v": [3]}
