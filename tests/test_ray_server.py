"""The ray backend through the Jupyter server's REST API, against a real two-node Ray cluster on loopback
(``ray_cluster``, started once for the session): a script job with a DataFrame input and parameters, its
log by offset and its result in pandas; a job whose tasks run on both nodes; cancel, delete, a time limit;
a job asking for more CPUs than any node has (QUEUED, in words, then stopped); a submission whose answer was
lost, adopted through Ray's ``submission_id``; bad specs refused naming the field with nothing sent; results
kept in S3 (moto); no secret in any answer or log line; and a Ray head killed and restarted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import s3_client, until, wait_for_job, wait_for_state
from fault_proxy import FaultProxy

from jupyter_compute.results import read_frame

TOKEN = "ray-dashboard-SECRET-41c7e2d9"
S3_KEY, S3_SECRET = "RAYRESULTS-KEY-SECRET-0b1e", "ray-results-SECRET-6d2f93aa"
ENDED = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}
FRAME = pd.DataFrame({"site": ["oslo", "lima", "pune"], "kwh": [12.5, 30.0, 18.25], "days": [5, 10, 5]})

SCRIPT = """\
import json, os
import pandas as pd

inputs = json.loads(os.environ["JUPYTER_COMPUTE_INPUTS"])
frame = pd.read_csv(inputs[0])
scale = float(os.environ["JUPYTER_COMPUTE_PARAM_SCALE"])
frame["per_day"] = frame.kwh / frame.days * scale
frame.to_csv(os.path.join(os.environ["JUPYTER_COMPUTE_OUTPUT_DIR"], "per_day.csv"), index=False)
print("héllo, wörld")
print("rows:", len(frame))
"""

BOTH_NODES = """\
import os, ray
ray.init()

@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def where(i):
    import time
    time.sleep(1)
    return ray.get_runtime_context().get_node_id()

nodes = ray.get([where.remote(i) for i in range(6)])
with open(os.path.join(os.environ["JUPYTER_COMPUTE_OUTPUT_DIR"], "nodes.json"), "w") as out:
    json = __import__("json"); json.dump(nodes, out)
print("distinct nodes:", len(set(nodes)))
"""


def ray_config(dashboard_url: str, results: str, **more: Any) -> dict[str, Any]:
    return {"kind": "ray", "address": dashboard_url, "results_url": results, "token_env": "RAY_TEST_TOKEN",
            "poll_interval_s": 0.5, **more}


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_TEST_TOKEN", TOKEN)


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ray-results"
    folder.mkdir()
    return folder


@pytest.fixture
def compute_config(ray_cluster, results_dir, server_log) -> dict[str, Any]:
    return {"backends": {"ray": ray_config(ray_cluster.dashboard_url, str(results_dir))}}


def ray_job(ray_cluster: Any, job_id: str) -> httpx.Response:
    return httpx.get(f"{ray_cluster.dashboard_url}/api/jobs/{job_id}", timeout=30)


def alive_nodes(ray_cluster: Any) -> set[str]:
    summary = httpx.get(f"{ray_cluster.dashboard_url}/nodes?view=summary", timeout=30).json()["data"]["summary"]
    return {node["raylet"]["nodeId"] for node in summary if node["raylet"]["state"] == "ALIVE"}


def ray_job_count(ray_cluster: Any) -> int:
    return len(httpx.get(f"{ray_cluster.dashboard_url}/api/jobs/", timeout=30).json())


async def submit(rec: Any, **spec: Any) -> dict[str, Any]:
    reply = await rec("POST", "jobs", body={"backend": "ray", **spec})
    assert reply.status == 201, reply.body
    return reply.body


async def upload_frame(rec: Any) -> str:
    stored = await rec("POST", "uploads", params={"name": "sites.csv"}, raw_body=FRAME.to_csv(index=False).encode())
    assert stored.status == 201, stored.body
    return stored.body["path"]


async def result_frame(rec: Any, job_id: str, name: str) -> pd.DataFrame:
    answer = await rec("GET", "jobs", job_id, "results", name)
    assert answer.status == 200, answer.body
    body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
    return read_frame(body.encode(), name)


# --- a job's life --------------------------------------------------------------------------------


async def test_a_script_job_with_a_dataframe_runs_and_its_result_loads_into_pandas(
        rec, jp_root_dir, ray_cluster, results_dir, jp_serverapp, server_log) -> None:  # fmt: skip
    script = jp_root_dir / "per_day.py"
    script.write_text(SCRIPT)
    job = await submit(rec, script=str(script), inputs=[await upload_frame(rec)], params={"scale": 2},
                       name="per day", tags=["ray-test"])  # fmt: skip
    assert ray_job(ray_cluster, job["id"]).json()["submission_id"] == job["id"], "our id is Ray's submission id"
    done = await wait_for_state(rec, job["id"], ENDED, timeout=180)
    assert done["state"] == "SUCCEEDED", done
    assert done["native_status"] == "SUCCEEDED" and done["started"] and done["finished"]

    frame = await result_frame(rec, job["id"], "per_day.csv")
    assert frame["per_day"].tolist() == pytest.approx([5.0, 6.0, 7.3])
    assert (results_dir / job["id"] / "per_day.csv").is_file(), "the job wrote into the shared results folder"

    whole = await rec("GET", "jobs", job["id"], "logs")
    assert whole.status == 200 and "rows: 3" in whole.body["text"] and whole.body["complete"], whole.body
    # by offset (bytes): from the start of a line after non-ASCII text, the rest of the log
    at = whole.body["text"].encode().index(b"rows: 3")
    rest = await rec("GET", "jobs", job["id"], "logs", params={"offset": str(at)})
    assert rest.status == 200 and rest.body["text"].startswith("rows: 3"), rest.body
    assert rest.body["offset"] == whole.body["offset"] == len(whole.body["text"].encode())

    rec.assert_free_of([TOKEN])
    assert not [line for line in server_log if TOKEN in line]


async def test_a_jobs_tasks_run_on_both_nodes(rec, ray_cluster, jp_serverapp) -> None:
    job = await submit(rec, code=BOTH_NODES, name="spread")
    done = await wait_for_state(rec, job["id"], ENDED, timeout=180)
    assert done["state"] == "SUCCEEDED", (done, (await rec("GET", "jobs", job["id"], "logs")).body)
    answer = await rec("GET", "jobs", job["id"], "results", "nodes.json")
    assert answer.status == 200, answer.body
    nodes = answer.body if isinstance(answer.body, list) else json.loads(answer.body)
    assert len(set(nodes)) == 2 and set(nodes) <= alive_nodes(ray_cluster), nodes


async def test_a_notebook_job_runs_with_its_parameters_and_comes_back_executed(
        rec, jp_root_dir, jp_serverapp) -> None:  # fmt: skip
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("factor = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import os, pandas as pd\n"
            "frame = pd.DataFrame({'n': [1, 2, 3]}) * factor\n"
            "frame.to_csv(os.path.join(os.environ['JUPYTER_COMPUTE_OUTPUT_DIR'], 'scaled.csv'), index=False)\n"
            "print('scaled by', factor)"),
    ])  # fmt: skip
    nbformat.write(nb, jp_root_dir / "scale.ipynb")
    job = await submit(rec, notebook="scale.ipynb", params={"factor": 7})
    done = await wait_for_state(rec, job["id"], ENDED, timeout=240)
    assert done["state"] == "SUCCEEDED", (done, (await rec("GET", "jobs", job["id"], "logs")).body)
    assert (await result_frame(rec, job["id"], "scaled.csv"))["n"].tolist() == [7, 14, 21]
    listing = await rec("GET", "jobs", job["id"], "results")
    executed = await rec("GET", "jobs", job["id"], "results", "scale.ipynb")
    assert executed.status == 200, listing.body
    cells = executed.body["cells"]
    printed = "".join("".join(o.get("text", "")) for o in cells[-1]["outputs"])
    assert "scaled by 7" in printed, "executed, its parameters injected"


async def test_pip_packages_and_variables_go_to_rays_runtime_environment(rec, ray_cluster, jp_serverapp) -> None:
    """What Ray is asked to install and set (the install itself is Ray's, and slow: the job is stopped)."""
    job = await submit(rec, command="true", extra={"pip": ["pyjokes==0.6.0"], "env_vars": {"STAGE": "test"}})
    runtime_env = ray_job(ray_cluster, job["id"]).json()["runtime_env"]
    assert runtime_env["pip"] == ["pyjokes==0.6.0"] and runtime_env["env_vars"]["STAGE"] == "test", runtime_env
    assert runtime_env["working_dir"].startswith("gcs://_ray_pkg_"), runtime_env
    assert (await rec("POST", "jobs", job["id"], "cancel")).status == 200
    done = await wait_for_state(rec, job["id"], ENDED, timeout=120)
    assert done["state"] == "CANCELLED", done


async def test_a_link_a_job_leaves_in_its_results_serves_nothing_of_the_server(rec, results_dir, jp_serverapp) -> None:
    job = await submit(rec, command='cd "$JUPYTER_COMPUTE_OUTPUT_DIR" && echo ok > real.txt && ln -s / root '
                                   "&& ln -s /etc/hostname host")  # fmt: skip
    done = await wait_for_state(rec, job["id"], ENDED, timeout=180)
    assert done["state"] == "SUCCEEDED", done
    assert (await rec("GET", "jobs", job["id"], "results", "real.txt")).body == "ok\n"
    for name in ("host", "root/etc/hostname"):
        assert (await rec("GET", "jobs", job["id"], "results", name)).status == 404, name


async def test_a_working_dir_is_sent_whole_with_its_modes_and_without_its_links(
        rec, jp_root_dir, jp_serverapp) -> None:  # fmt: skip
    folder = jp_root_dir / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "numbers.txt").write_text("1\n2\n3\n")
    run = folder / "run.sh"
    run.write_text('#!/bin/sh\nwc -l < data/numbers.txt > "$JUPYTER_COMPUTE_OUTPUT_DIR/count.txt"\nls\n')
    run.chmod(0o755)
    (folder / "secrets").symlink_to("/etc")
    job = await submit(rec, command="./run.sh", extra={"working_dir": "project"})
    done = await wait_for_state(rec, job["id"], ENDED, timeout=180)
    assert done["state"] == "SUCCEEDED", (done, (await rec("GET", "jobs", job["id"], "logs")).body)
    assert str((await rec("GET", "jobs", job["id"], "results", "count.txt")).body).strip() == "3"
    log = (await rec("GET", "jobs", job["id"], "logs")).body["text"]
    assert "run.sh" in log and "secrets" not in log, log


async def test_an_input_clashing_with_a_working_dir_file_is_refused(rec, ray_cluster, jp_root_dir,
                                                                   jp_serverapp) -> None:  # fmt: skip
    (jp_root_dir / "proj" / "inputs").mkdir(parents=True)
    (jp_root_dir / "proj" / "inputs" / "sites.csv").write_text("a\n1\n")
    (jp_root_dir / "sites.csv").write_text("b\n2\n")
    before = ray_job_count(ray_cluster)
    reply = await rec("POST", "jobs", body={"backend": "ray", "command": "true", "inputs": ["sites.csv"],
                                            "extra": {"working_dir": "proj"}})  # fmt: skip
    assert reply.status == 400 and reply.body["error"]["field"] == "extra.working_dir", reply.body
    assert "inputs/sites.csv" in reply.body["error"]["message"]
    assert ray_job_count(ray_cluster) == before


async def test_cancel_stops_a_running_job_and_delete_removes_it_everywhere(
        rec, ray_cluster, results_dir, jp_serverapp) -> None:  # fmt: skip
    job = await submit(rec, command='echo started > "$JUPYTER_COMPUTE_OUTPUT_DIR/partial.txt"; echo go; sleep 600')
    await wait_for_job(rec, job["id"], lambda j: j["state"] == "RUNNING", "running", timeout=180)
    await until(lambda: (results_dir / job["id"] / "partial.txt").exists(), "the job's first output", timeout=60)
    cancelled = await rec("POST", "jobs", job["id"], "cancel")
    assert cancelled.status == 200, cancelled.body
    done = await wait_for_state(rec, job["id"], ENDED, timeout=120)
    assert done["state"] == "CANCELLED" and done["native_status"] == "STOPPED", done
    assert ray_job(ray_cluster, job["id"]).json()["status"] == "STOPPED"

    gone = await rec("DELETE", "jobs", job["id"])
    assert gone.status == 204, gone.body
    assert ray_job(ray_cluster, job["id"]).status_code == 404, "removed from Ray"
    assert not (results_dir / job["id"]).exists(), "its outputs removed"
    assert (await rec("GET", "jobs", job["id"])).status == 404


async def test_delete_stops_a_running_job_first(rec, ray_cluster, jp_serverapp) -> None:
    job = await submit(rec, command="sleep 600")
    await wait_for_job(rec, job["id"], lambda j: j["state"] == "RUNNING", "running", timeout=180)
    gone = await rec("DELETE", "jobs", job["id"])
    assert gone.status == 204, gone.body
    assert ray_job(ray_cluster, job["id"]).status_code == 404


async def test_a_job_over_its_time_limit_ends_timed_out(rec, jp_serverapp) -> None:
    job = await submit(rec, command="sleep 600", timeout_s=3)
    done = await wait_for_state(rec, job["id"], ENDED, timeout=180)
    assert done["state"] == "TIMED_OUT", done
    assert "time limit of 3 s" in done["message"]


async def test_a_failing_program_fails_with_rays_words(rec, jp_serverapp) -> None:
    job = await submit(rec, code="raise SystemExit(3)")
    done = await wait_for_state(rec, job["id"], ENDED, timeout=180)
    assert done["state"] == "FAILED", done
    assert "exit code 3" in done["message"] and "JOB_ENTRYPOINT_COMMAND_ERROR" in done["message"], done


async def test_a_job_asking_for_more_cpus_than_any_node_has_waits_in_words_and_can_be_stopped(
        rec, ray_cluster, jp_serverapp) -> None:  # fmt: skip
    job = await submit(rec, command="echo never", extra={"entrypoint_num_cpus": 64})
    waiting = await wait_for_job(rec, job["id"], lambda j: "no node" in j["message"], "the reason in words", 120)
    assert waiting["state"] == "QUEUED" and waiting["native_status"] == "PENDING", waiting
    assert "64 CPU" in waiting["message"] and "1 CPU" in waiting["message"], waiting["message"]
    assert waiting["started"] is None

    stopped = await rec("POST", "jobs", job["id"], "cancel")
    assert stopped.status == 200, stopped.body
    done = await wait_for_state(rec, job["id"], ENDED, timeout=60)
    assert done["state"] == "CANCELLED" and "stopped before it started" in done["message"], done
    assert ray_job(ray_cluster, job["id"]).json()["status"] == "PENDING", "Ray still shows it PENDING"
    assert (await rec("DELETE", "jobs", job["id"])).status == 204


async def test_environments_and_clusters_show_both_nodes(rec, ray_cluster, jp_serverapp) -> None:
    clusters = await rec("GET", "backends", "ray", "clusters")
    assert clusters.status == 200, clusters.body
    (cluster,) = clusters.body["clusters"]
    assert cluster["nodes"] == 2 and cluster["nodes_available"] == 2 and cluster["cpus"] == 2, cluster
    assert cluster["cpus_allocatable"] is not None and cluster["memory_gb"] > 0
    assert {n["state"] for n in cluster["raw"]["nodes"]} == {"ALIVE"}
    assert cluster["gpus"] is None, "a resource the cluster does not have is left out"
    environments = await rec("GET", "backends", "ray", "environments")
    assert environments.status == 200, environments.body
    (kind,) = environments.body["environments"]
    assert kind["cpus"] == 1 and kind["raw"]["nodes"] == 2, kind


# --- bad input: 400 naming the field, nothing sent to Ray, nothing recorded ------------------------


@pytest.mark.parametrize(("spec", "field"), [
    ({}, "command"),
    ({"command": "true", "code": "print(1)"}, "command"),
    ({"command": "true", "environment": "node-kind-1"}, "environment"),
    ({"command": "true", "output": "/tmp/x"}, "output"),
    ({"command": "true", "algorithm": "x"}, "algorithm"),
    ({"command": "true", "extra": {"num_cpus": 1}}, "extra.num_cpus"),
    ({"command": "true", "extra": {"entrypoint_num_cpus": -1}}, "extra.entrypoint_num_cpus"),
    ({"command": "true", "extra": {"entrypoint_resources": {"tpu": "two"}}}, "extra.entrypoint_resources.tpu"),
    ({"command": "true", "extra": {"env_vars": {"JUPYTER_COMPUTE_OUTPUT_DIR": "/"}}}, "extra.env_vars"),
    ({"command": "true", "extra": {"pip": [3]}}, "extra.pip"),
    ({"command": "true", "extra": {"working_dir": "/definitely/not/here"}}, "extra.working_dir"),
    ({"script": "/definitely/not/here.py"}, "script"),
    ({"script": "file:///proc/self/environ"}, "script"),
    ({"command": "true", "inputs": ["file:///definitely/not/here.csv"]}, "inputs"),
    ({"command": "true", "cluster": "another"}, "cluster"),
])
async def test_bad_specs_are_refused_naming_the_field(rec, ray_cluster, jp_serverapp, spec, field) -> None:
    before_jobs, before_ray = (await rec("GET", "jobs")).body["total"], ray_job_count(ray_cluster)
    reply = await rec("POST", "jobs", body={"backend": "ray", **spec})
    assert reply.status == 400, reply.body
    assert reply.body["error"].get("field") == field, reply.body
    assert (await rec("GET", "jobs")).body["total"] == before_jobs, "no job recorded"
    assert ray_job_count(ray_cluster) == before_ray, "nothing reached Ray"


# --- a lost answer ---------------------------------------------------------------------------------


class TestLostSubmitAnswer:
    @pytest.fixture
    def proxy(self, ray_cluster) -> Iterator[FaultProxy]:
        spoiled: list[str] = []

        def plan(method: str, path: str) -> str:
            if method == "POST" and path == "/api/jobs/" and not spoiled:
                spoiled.append(path)
                return "lose-answer"
            return "pass"

        with FaultProxy(ray_cluster.dashboard_url, plan) as proxy:
            yield proxy

    @pytest.fixture
    def compute_config(self, proxy, results_dir) -> dict[str, Any]:
        return {"backends": {"ray": ray_config(proxy.url, str(results_dir), confirm_window_s=60)}}

    async def test_the_job_ray_took_is_adopted_by_its_submission_id(self, rec, proxy, ray_cluster,
                                                                   jp_serverapp) -> None:
        reply = await rec("POST", "jobs", body={"backend": "ray", "command": "echo adopted"})
        assert reply.status in (201, 202), reply.body
        job_id = reply.body["id"]
        assert ("POST", "/api/jobs/") in proxy.forwarded, "Ray got the submission; its answer was lost"
        done = await wait_for_state(rec, job_id, ENDED, timeout=180)
        assert done["state"] == "SUCCEEDED" and done["remote_id"] == job_id, done
        assert proxy.forwarded.count(("POST", "/api/jobs/")) == 1, "submitted once, never twice"
        assert "adopted" in (await rec("GET", "jobs", job_id, "logs")).body["text"]


class TestOneListingPerRefresh:
    @pytest.fixture
    def proxy(self, ray_cluster) -> Iterator[FaultProxy]:
        with FaultProxy(ray_cluster.dashboard_url, lambda method, path: "pass") as proxy:
            yield proxy

    @pytest.fixture
    def compute_config(self, proxy, results_dir) -> dict[str, Any]:
        return {"backends": {"ray": ray_config(proxy.url, str(results_dir))}}

    async def test_running_jobs_are_refreshed_with_one_listing_per_cycle(self, rec, proxy, jp_serverapp) -> None:
        jobs = [await submit(rec, command="sleep 600", name=f"sleeper {i}") for i in range(3)]
        for job in jobs:
            await wait_for_job(rec, job["id"], lambda j: j["state"] == "RUNNING", "running", timeout=180)
        seen = len(proxy.forwarded)
        await until(lambda: proxy.forwarded[seen:].count(("GET", "/api/jobs/")) >= 3, "three refresh cycles",
                    timeout=60)  # fmt: skip
        reads = [path for method, path in proxy.forwarded[seen:] if method == "GET"]
        assert set(reads) == {"/api/jobs/"}, f"one listing per cycle, never a job alone: {reads}"
        for job in jobs:
            assert (await rec("POST", "jobs", job["id"], "cancel")).status == 200


# --- results in S3 ---------------------------------------------------------------------------------


class TestResultsInS3:
    @pytest.fixture
    def bucket(self, s3_endpoint) -> str:
        s3_client(s3_endpoint, S3_KEY, S3_SECRET).create_bucket(Bucket="ray-results")
        return "ray-results"

    @pytest.fixture
    def compute_config(self, ray_cluster, s3_endpoint, bucket, monkeypatch, server_log) -> dict[str, Any]:
        monkeypatch.setenv("RAY_S3_KEY", S3_KEY)
        monkeypatch.setenv("RAY_S3_SECRET", S3_SECRET)
        return {"backends": {"ray": ray_config(
            ray_cluster.dashboard_url, f"s3://{bucket}/jobs", results_options={"endpoint_url": s3_endpoint},
            results_key_env="RAY_S3_KEY", results_secret_env="RAY_S3_SECRET")}}  # fmt: skip

    async def test_outputs_are_copied_to_s3_and_read_back(self, rec, jp_fetch, s3_endpoint, bucket, jp_serverapp,
                                                         server_log) -> None:  # fmt: skip
        # the cluster writes with its own credentials (here given to the job; moto takes any)
        job = await submit(rec, code=(
            "import os, pandas as pd\n"
            "pd.DataFrame({'x': [1, 2, 3]}).to_parquet(os.path.join(os.environ['JUPYTER_COMPUTE_OUTPUT_DIR'], "
            "'table.parquet'))\n"), extra={"env_vars": {"AWS_ACCESS_KEY_ID": "cluster", "AWS_SECRET_ACCESS_KEY": "own"}})
        done = await wait_for_state(rec, job["id"], ENDED, timeout=180)
        assert done["state"] == "SUCCEEDED", (done, (await rec("GET", "jobs", job["id"], "logs")).body)
        keys = [o["Key"] for o in s3_client(s3_endpoint, S3_KEY, S3_SECRET).list_objects_v2(
            Bucket=bucket, Prefix=f"jobs/{job['id']}/").get("Contents", [])]  # fmt: skip
        assert keys == [f"jobs/{job['id']}/table.parquet"], keys
        listing = await rec("GET", "jobs", job["id"], "results")
        assert [r["name"] for r in listing.body["results"]] == ["table.parquet"], listing.body
        answer = await jp_fetch("compute", "api", "jobs", job["id"], "results", "table.parquet")
        assert read_frame(answer.body, "table.parquet")["x"].tolist() == [1, 2, 3]
        rec.assert_free_of([S3_KEY, S3_SECRET, TOKEN])
        assert not [line for line in server_log if S3_SECRET in line or S3_KEY in line]


# --- the head killed and restarted -----------------------------------------------------------------


class TestHeadKilledAndRestarted:
    @pytest.fixture
    def compute_config(self, own_ray_head, results_dir) -> dict[str, Any]:
        return {"backends": {"ray": ray_config(own_ray_head.dashboard_url, str(results_dir))}}

    async def test_jobs_are_kept_while_it_is_down_and_it_serves_again(self, rec, own_ray_head,
                                                                     jp_serverapp) -> None:  # fmt: skip
        running = await submit(rec, command="sleep 600")
        await wait_for_job(rec, running["id"], lambda j: j["state"] == "RUNNING", "running", timeout=180)
        await asyncio.to_thread(own_ray_head.kill_head)

        down = await rec("GET", "backends", "ray", "clusters")
        assert down.status in (502, 503), down.body
        assert "Ray did not answer" in down.body["error"]["message"], down.body
        await asyncio.sleep(3)  # several refresh cycles fail meanwhile
        kept = (await rec("GET", "jobs", running["id"])).body
        assert kept["state"] == "RUNNING", "an unreachable head changes no job"

        await asyncio.to_thread(own_ray_head.restart_head)
        lost = await wait_for_state(rec, running["id"], ENDED, timeout=120)
        assert lost["state"] == "FAILED" and "Ray has no job" in lost["message"], lost

        again = await submit(rec, command="echo back")
        done = await wait_for_state(rec, again["id"], ENDED, timeout=180)
        assert done["state"] == "SUCCEEDED", done
