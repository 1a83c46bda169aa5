"""The local backend with real processes: jobs, logs, results, notebooks, cancel, queue, restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import nbformat
import psutil
import pytest
from conftest import pid_alive, read_result, run, started, until, wait_for, wait_status

from jupyter_compute.backends import local, local_runner
from jupyter_compute.backends import local_files as files
from jupyter_compute.backends.local import (
    LocalBackend,
    complete_utf8,
    media_type,
    param_env_name,
)
from jupyter_compute.backends.local_notebook import INJECTED_TAG, inject_parameters
from jupyter_compute.backends.local_journal import JOURNAL
from jupyter_compute.errors import InvalidSpec, NotFound
from jupyter_compute.models import JobSpec, JobState, LogChunk, RemoteStatus

T = TypeVar("T")


def backend(data_dir: Path, **config: Any) -> AbstractAsyncContextManager[LocalBackend]:
    return started(LocalBackend("local", config, data_dir=data_dir))


def gated(command: str, gate: Path) -> str:
    """``command`` run only once the test creates the file ``gate``."""
    return f'while [ ! -e "{gate}" ]; do sleep 0.02; done; {command}'


def job_record(data_dir: Path, job_id: str, name: str) -> dict[str, Any]:
    return files.read_json(data_dir / "jobs" / job_id / name) or {}


def live_group_members(pgid: int) -> list[psutil.Process]:
    """Processes of group ``pgid`` that are still running (zombies are dead)."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
    return members


@pytest.fixture(autouse=True)
def no_leftovers(tmp_path: Path) -> Any:
    """Whatever a failing test leaves running under tmp_path is killed afterwards."""
    yield
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            env = proc.environ()
            if str(tmp_path) in " ".join(proc.cmdline()) or str(tmp_path) in str(env):
                proc.kill()


# mapping table ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("native", "state"),
    [
        ("queued", JobState.QUEUED),
        ("running", JobState.RUNNING),
        ("succeeded", JobState.SUCCEEDED),
        ("failed", JobState.FAILED),
        ("cancelled", JobState.CANCELLED),
        ("timed_out", JobState.TIMED_OUT),
        ("lost", JobState.FAILED),
    ],
)
def test_status_map_row(native: str, state: JobState) -> None:
    assert LocalBackend.status_map[native] is state


def test_status_map_has_no_other_rows() -> None:
    assert set(LocalBackend.status_map) == {
        "queued", "running", "succeeded", "failed", "cancelled", "timed_out", "lost"
    }  # fmt: skip


def test_capabilities_and_intervals(tmp_path: Path) -> None:
    b = LocalBackend("local", data_dir=tmp_path)
    caps = b.describe()["capabilities"]
    assert caps["can_cancel"] and caps["can_delete"] and caps["has_logs"] and caps["has_results"]
    assert caps["has_environments"] and caps["has_clusters"]
    assert b.kind == "local" and b.poll_interval <= 0.5 and b.poll_max_interval <= 2.0
    assert b.max_jobs == (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.parquet", "application/vnd.apache.parquet"),
        ("sub/b.jsonl", "application/x-ndjson"),
        ("c.ipynb", "application/x-ipynb+json"),
        ("d.csv", "text/csv"),
        ("e.json", "application/json"),
        ("no_extension", None),
    ],
)
def test_media_types(name: str, expected: str | None) -> None:
    assert media_type(name) == expected


def test_complete_utf8_keeps_cut_characters_for_next_read() -> None:
    text = "aé€😀".encode()
    assert complete_utf8(text) == text
    for cut in range(1, len(text)):
        kept = complete_utf8(text[:cut])
        kept.decode("utf-8")  # never a broken character
        assert text[:cut].startswith(kept) and cut - len(kept) < 4


def test_inject_parameters_after_tagged_cell_or_on_top() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os"),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(x)"),
    ]
    inject_parameters(nb, {"x": 2, "name": "it's"})
    assert nb.cells[2].metadata.tags == [INJECTED_TAG]
    assert nb.cells[2].source == "# Parameters\nx = 2\nname = \"it's\"\n"
    inject_parameters(nb, {"x": 3})  # an earlier injection is replaced
    assert [c.source for c in nb.cells].count("# Parameters\nx = 3\n") == 1 and len(nb.cells) == 4
    untagged = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    assert inject_parameters(untagged, {"y": None}).cells[0].source == "# Parameters\ny = None\n"


# validation -------------------------------------------------------------------------------
@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text("print('hi')\n")
    nbformat.write(nbformat.v4.new_notebook(), str(work / "nb.ipynb"))
    (work / "text.ipynb").write_text("not json")
    (work / "empty.ipynb").write_text("{}")
    (work / "v9.ipynb").write_text('{"nbformat": 9}')
    return work


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "command"),
        ({"command": "true", "script": "job.py"}, "command"),
        ({"code": "1", "notebook": "nb.ipynb"}, "code"),
        ({"command": "   "}, "command"),
        ({"script": "missing.py"}, "script"),
        ({"notebook": "missing.ipynb"}, "notebook"),
        ({"notebook": "job.py"}, "notebook"),
        ({"command": "true", "environment": "gpu-large"}, "environment"),
        ({"command": "true", "cluster": "elsewhere"}, "cluster"),
        ({"command": "true", "algorithm": "did:op:123"}, "algorithm"),
        ({"notebook": "nb.ipynb", "params": {"not a name": 1}}, "params"),
        ({"command": "true", "params": {"a-b": 1, "A_B": 2}}, "params"),
    ],
)
def test_validate_names_the_field(files_dir: Path, spec: dict[str, Any], field: str) -> None:
    b = LocalBackend("local", {"cwd": str(files_dir)}, data_dir=files_dir.parent / "data")
    with pytest.raises(InvalidSpec) as info:
        b.validate(JobSpec.from_dict(spec))
    assert info.value.field == field


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("text.ipynb", "does not appear to be JSON"),
        ("empty.ipynb", "missing a key: cells"),
        ("v9.ipynb", "Unsupported nbformat version 9"),
    ],
)
def test_validate_reads_the_notebook(files_dir: Path, name: str, reason: str) -> None:
    b = LocalBackend("local", {"cwd": str(files_dir)}, data_dir=files_dir.parent / "data")
    with pytest.raises(InvalidSpec) as info:
        b.validate(JobSpec(notebook=name))
    assert info.value.field == "notebook" and reason in info.value.message
    assert not (files_dir.parent / "data").exists()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"command": "echo a\0b"}, "command"),
        ({"code": "print(1)\0"}, "code"),
        ({"script": "job.py\0"}, "script"),
        ({"notebook": "nb.ipynb\0"}, "notebook"),
        ({"command": "true", "params": {"a": "x\0y"}}, "params"),
        ({"command": "true", "params": {"a\0b": 1}}, "params"),
        ({"notebook": "nb.ipynb", "params": {"a": "\0"}}, "params"),
    ],
)
def test_validate_refuses_nul_bytes(files_dir: Path, spec: dict[str, Any], field: str) -> None:
    b = LocalBackend("local", {"cwd": str(files_dir)}, data_dir=files_dir.parent / "data")
    with pytest.raises(InvalidSpec) as info:
        b.validate(JobSpec.from_dict(spec))
    assert info.value.field == field and "NUL byte" in info.value.message


def test_validate_makes_paths_absolute(files_dir: Path) -> None:
    b = LocalBackend("local", {"cwd": str(files_dir)}, data_dir=files_dir.parent / "data")
    spec = b.validate(JobSpec(script="job.py", environment="local", cluster="localhost"))
    assert spec.script == str(files_dir / "job.py")
    assert b.validate(JobSpec(notebook="nb.ipynb")).notebook == str(files_dir / "nb.ipynb")
    assert b.validate(JobSpec(command="true")).command == "true"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"max_jobs": 0}, "max_jobs"),
        ({"hidden_env": "MY_SECRET"}, "hidden_env"),
        ({"hidden_env": ["MY_SECRET", 1]}, "hidden_env"),
    ],
)
def test_bad_config(tmp_path: Path, config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        LocalBackend("local", config, data_dir=tmp_path)
    assert info.value.field == field


def test_bad_job_id(tmp_path: Path) -> None:

    async def body() -> None:
        async with backend(tmp_path) as b:
            with pytest.raises(InvalidSpec) as bad:
                await b.submit(JobSpec(command="true"), "../escape")
            assert bad.value.field == "job_id"

    run(body)


# jobs -------------------------------------------------------------------------------------
def test_command_job_writes_csv_result(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path) as b:
            command = (
                'mkdir -p "$JUPYTER_COMPUTE_OUTPUT_DIR/sub" && '
                'printf "a,b\\n1,2\\n" > "$JUPYTER_COMPUTE_OUTPUT_DIR/table.csv" && '
                'printf "%s" "$JUPYTER_COMPUTE_JOB_ID" > "$JUPYTER_COMPUTE_OUTPUT_DIR/sub/id.txt"'
            )
            submission = await b.submit(JobSpec(command=command), "job-csv")
            assert submission.remote_id == "job-csv"
            assert submission.status.state in (JobState.QUEUED, JobState.RUNNING)
            status = await wait_status(b, "job-csv")
            assert status.state is JobState.SUCCEEDED and status.native_status == "succeeded"
            assert status.started and status.finished and status.started <= status.finished
            results = {r.name: r for r in await b.results("job-csv")}
            assert set(results) == {"table.csv", "sub/id.txt", "job.log"}
            assert (results["table.csv"].size, results["table.csv"].kind) == (8, "output")
            assert results["table.csv"].media_type == "text/csv"
            assert (results["job.log"].kind, results["job.log"].media_type) == ("log", "text/plain")
            assert await read_result(b, "job-csv", "table.csv") == b"a,b\n1,2\n"
            assert await read_result(b, "job-csv", "sub/id.txt") == b"job-csv"

    run(body)


def test_output_named_job_log_wins_the_name(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path) as b:
            own = 'echo to-log; printf own > "$JUPYTER_COMPUTE_OUTPUT_DIR/job.log"'
            await b.submit(JobSpec(command=own), "j-own-log")
            nested = (
                'echo to-log; mkdir "$JUPYTER_COMPUTE_OUTPUT_DIR/sub" && '
                'printf own > "$JUPYTER_COMPUTE_OUTPUT_DIR/sub/job.log"'
            )
            await b.submit(JobSpec(command=nested), "j-sub-log")
            assert (await wait_status(b, "j-own-log")).state is JobState.SUCCEEDED
            results = await b.results("j-own-log")
            assert [(r.name, r.size, r.kind) for r in results] == [("job.log", 3, "output")]
            assert await read_result(b, "j-own-log", "job.log") == b"own"
            assert (await b.logs("j-own-log")).text == "to-log\n"
            assert (await wait_status(b, "j-sub-log")).state is JobState.SUCCEEDED
            results = await b.results("j-sub-log")
            assert [(r.name, r.kind) for r in results] == [
                ("sub/job.log", "output"), ("job.log", "log")
            ]  # fmt: skip
            assert await read_result(b, "j-sub-log", "sub/job.log") == b"own"
            assert await read_result(b, "j-sub-log", "job.log") == b"to-log\n"

    run(body)


def test_jobs_do_not_see_the_server_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "MY_SECRET": "platform-secret-1b2c",
        "JUPYTER_COMPUTE_TOKEN": "compute-token-3d4e",
        "JUPYTER_TOKEN": "jupyter-token-5f6a",
        "JPY_API_TOKEN": "hub-token-7b8c",
    }
    for name, value in {**secrets, "MY_ORDINARY": "plain-value-9d0e"}.items():
        monkeypatch.setenv(name, value)

    async def body() -> None:
        async with backend(tmp_path, hidden_env=["MY_SECRET"]) as b:
            await b.submit(JobSpec(command="env"), "j-env")
            assert (await wait_status(b, "j-env")).state is JobState.SUCCEEDED
            log = (await b.logs("j-env")).text
            assert "MY_ORDINARY=plain-value-9d0e" in log.splitlines()
            for name, value in secrets.items():
                assert name not in log and value not in log

    run(body)


def test_code_job_sees_params(tmp_path: Path) -> None:
    code = (
        "import json, os\n"
        "params = json.load(open(os.environ['JUPYTER_COMPUTE_PARAMS']))\n"
        "out = os.path.join(os.environ['JUPYTER_COMPUTE_OUTPUT_DIR'], 'seen.json')\n"
        "json.dump({'file': params, 'alpha': os.environ['JUPYTER_COMPUTE_PARAM_ALPHA'],\n"
        "           'sizes': os.environ['JUPYTER_COMPUTE_PARAM_SIZES']}, open(out, 'w'))\n"
    )
    params = {"alpha": "a b", "sizes": [1, 2]}

    async def body() -> None:
        async with backend(tmp_path / "data") as b:
            await b.submit(JobSpec(code=code, params=params), "job-code")
            assert (await wait_status(b, "job-code")).state is JobState.SUCCEEDED
            seen = json.loads(await read_result(b, "job-code", "seen.json"))
            assert seen == {"file": params, "alpha": "a b", "sizes": "[1, 2]"}
            assert (tmp_path / "data/jobs/job-code" / files.SCRIPT).read_text() == code

    assert param_env_name("max-iter") == "JUPYTER_COMPUTE_PARAM_MAX_ITER"
    run(body)


def test_script_job_runs_in_configured_cwd(files_dir: Path) -> None:
    (files_dir / "job.py").write_text(
        "import os, sys\n"
        "print('cwd', os.getcwd())\n"
        "open(os.path.join(os.environ['JUPYTER_COMPUTE_OUTPUT_DIR'], 'py.txt'), 'w')"
        ".write(sys.executable)\n"
    )

    async def body() -> None:
        async with backend(files_dir.parent / "data", cwd=str(files_dir)) as b:
            await b.submit(JobSpec(script="job.py"), "job-script")
            assert (await wait_status(b, "job-script")).state is JobState.SUCCEEDED
            assert (await read_result(b, "job-script", "py.txt")).decode() == sys.executable
            assert f"cwd {files_dir}" in (await b.logs("job-script")).text

    run(body)


def test_failing_job_reports_exit_code_and_last_line(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path) as b:
            await b.submit(JobSpec(command="echo working; echo 'disk full' >&2; exit 3"), "j-fail")
            suicide = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
            await b.submit(JobSpec(code=suicide), "j-sig")
            status = await wait_status(b, "j-fail")
            assert status.state is JobState.FAILED and status.native_status == "failed"
            assert status.message == "exited with code 3: disk full"
            assert job_record(tmp_path, "j-fail", files.STATUS)["exit_code"] == 3
            killed = await wait_status(b, "j-sig")
            assert killed.state is JobState.FAILED and killed.message == "killed by signal SIGKILL"

    run(body)


def test_logs_offsets_and_complete(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    command = "echo first; " + gated("printf 'sécond\\n' >&2", gate)

    async def body() -> None:
        async with backend(tmp_path) as b:
            await b.submit(JobSpec(command=command), "j-log")
            log = tmp_path / "jobs/j-log/job.log"  # made by the job's runner, as it starts
            await until(lambda: log.exists() and log.stat().st_size > 0)
            chunk = await b.logs("j-log")
            assert chunk == type(chunk)("first\n", 6, False)
            gate.touch()
            await wait_status(b, "j-log")
            rest = await b.logs("j-log", chunk.offset)
            assert (rest.text, rest.offset, rest.complete) == ("sécond\n", 14, True)
            assert (await b.logs("j-log", 0)).text == "first\nsécond\n"
            assert (await b.logs("j-log", 100)).text == ""
            with pytest.raises(InvalidSpec):
                await b.logs("j-log", -1)

    run(body)


def _notebook(path: Path, *cells: Any) -> None:
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), str(path))


def test_notebook_job_with_injected_parameters(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _notebook(
        work / "analysis.ipynb",
        nbformat.v4.new_markdown_cell("# Analysis"),
        nbformat.v4.new_code_cell('greeting = "hello"\nn = 1', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import os, sys\n"
            'print(f"{greeting} x{n * 2}")\n'
            "print(sys.executable)\n"
            "print(os.getcwd())\n"
            "out = os.environ['JUPYTER_COMPUTE_OUTPUT_DIR']\n"
            "open(os.path.join(out, 'n.txt'), 'w').write(str(n))"
        ),
    )
    params = {"greeting": "bonjour", "n": 21}

    async def body() -> None:
        async with backend(tmp_path / "data", cwd=str(work)) as b:
            await b.submit(JobSpec(notebook="analysis.ipynb", params=params), "j-nb")
            status = await wait_status(b, "j-nb", timeout=60)
            assert status.state is JobState.SUCCEEDED, status.message
            results = {r.name: r for r in await b.results("j-nb")}
            assert results["analysis.ipynb"].media_type == "application/x-ipynb+json"
            assert await read_result(b, "j-nb", "n.txt") == b"21"
            executed = nbformat.reads(
                (await read_result(b, "j-nb", "analysis.ipynb")).decode(), as_version=4
            )
            injected = executed.cells[2]
            assert injected.metadata.tags == [INJECTED_TAG]
            assert "greeting = 'bonjour'" in injected.source and "n = 21" in injected.source
            printed = executed.cells[3].outputs[0].text.splitlines()
            # the kernel is the venv's python (jupyter_client runs "python" as sys.executable)
            assert printed == ["bonjour x42", sys.executable, str(work)]
            assert "bonjour x42" in (await b.logs("j-nb")).text

    run(body)


def test_failing_notebook_is_saved_and_explained(tmp_path: Path) -> None:
    _notebook(
        tmp_path / "broken.ipynb",
        nbformat.v4.new_code_cell("print('before')"),
        nbformat.v4.new_code_cell("1 / 0"),
        nbformat.v4.new_code_cell("print('never')"),
    )

    async def body() -> None:
        async with backend(tmp_path / "data") as b:
            await b.submit(JobSpec(notebook=str(tmp_path / "broken.ipynb")), "j-nb-fail")
            status = await wait_status(b, "j-nb-fail", timeout=60)
            assert status.state is JobState.FAILED
            assert status.message == "cell 2 raised ZeroDivisionError: division by zero"
            executed = nbformat.reads(
                (await read_result(b, "j-nb-fail", "broken.ipynb")).decode(), as_version=4
            )
            assert executed.cells[0].outputs[0].text == "before\n"
            assert executed.cells[1].outputs[0].ename == "ZeroDivisionError"
            assert executed.cells[2].outputs == []
            assert "ZeroDivisionError" in (await b.logs("j-nb-fail")).text

    run(body)


def test_cancel_kills_the_whole_process_tree(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path) as b:
            await b.submit(JobSpec(command="sh -c 'sleep 300 & sleep 300'"), "j-cancel")
            await until(lambda: bool(job_record(tmp_path, "j-cancel", files.PROCESS)))
            process = job_record(tmp_path, "j-cancel", files.PROCESS)
            await until(
                lambda: sum(p.name() == "sleep" for p in live_group_members(process["pgid"])) == 2
            )
            assert (await b.status("j-cancel")).state is JobState.RUNNING
            await b.cancel("j-cancel")
            status = await b.status("j-cancel")
            assert (status.state, status.native_status) == (JobState.CANCELLED, "cancelled")
            assert live_group_members(process["pgid"]) == []
            assert not psutil.pid_exists(process["pid"]) or (
                psutil.Process(process["pid"]).status() == psutil.STATUS_ZOMBIE
            )
            runner = job_record(tmp_path, "j-cancel", files.RUNNER)
            await until(lambda: not psutil.pid_exists(runner["pid"]) or (
                psutil.Process(runner["pid"]).status() == psutil.STATUS_ZOMBIE
            ))  # fmt: skip
            await b.cancel("j-cancel")  # a finished job: nothing to do
            assert (await b.status("j-cancel")).state is JobState.CANCELLED

    run(body)


def test_status_reads_files_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()  # asyncio.run runs the loop in this thread
    on_loop: list[str] = []

    def spy(read: Callable[..., T]) -> Callable[..., T]:
        def wrapper(*args: Any) -> T:
            if threading.get_ident() == loop_thread:
                on_loop.append(read.__name__)
            return read(*args)

        return wrapper

    monkeypatch.setattr(files, "read_json", spy(files.read_json))
    monkeypatch.setattr(files, "claimed_at", spy(files.claimed_at))
    monkeypatch.setattr(local, "is_alive", spy(local.is_alive))
    gate = tmp_path / "gate"

    async def body() -> None:
        async with backend(tmp_path / "data", max_jobs=1) as b:
            await b.submit(JobSpec(command=gated("true", gate)), "s-run")
            await b.submit(JobSpec(command="true"), "s-queued")
            for job_id, state in (("s-run", JobState.RUNNING), ("s-queued", JobState.QUEUED)):
                on_loop.clear()
                assert (await b.status(job_id)).state is state
                assert on_loop == []
            gate.touch()
            await until(lambda: (tmp_path / "data/jobs/s-run" / files.STATUS).exists())
            on_loop.clear()
            assert (await b.status("s-run")).state is JobState.SUCCEEDED
            assert on_loop == []

    run(body)


@pytest.mark.parametrize("with_waitid", [True, False] if hasattr(os, "waitid") else [False])
def test_runner_sees_its_job_exit_and_leaves_it_unreaped(
    monkeypatch: pytest.MonkeyPatch, with_waitid: bool
) -> None:
    if not with_waitid:
        monkeypatch.delattr(os, "waitid", raising=False)  # as on macOS before Python 3.13
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert not local_runner._exited(child.pid)
        os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not local_runner._exited(child.pid):
            assert time.monotonic() < deadline, "exit not seen"
            time.sleep(0.02)
        assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE  # its pid stays ours
        assert local_runner._exited(child.pid)
    finally:
        child.kill()  # nothing to do once it was reaped
        child.wait()
    assert child.returncode == -signal.SIGTERM


def test_timeout_ends_timed_out(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path, default_timeout_s=30) as b:
            await b.submit(JobSpec(command="sleep 30", timeout_s=0.5), "j-slow")
            status = await wait_status(b, "j-slow", timeout=10)
            assert (status.state, status.native_status) == (JobState.TIMED_OUT, "timed_out")
            assert status.message == "timed out after 0.5 s"
            assert (status.finished - status.started).total_seconds() < 5

    run(body)


def test_max_jobs_queues_the_rest(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    command = gated('echo done > "$JUPYTER_COMPUTE_OUTPUT_DIR/done.txt"', gate)

    async def body() -> None:
        async with backend(tmp_path, max_jobs=2) as b:
            states = [(await b.submit(JobSpec(command=command), f"q{i}")).status for i in range(3)]
            assert [s.state for s in states] == [JobState.RUNNING] * 2 + [JobState.QUEUED]
            assert states[2].native_status == "queued" and "2 of 2" in states[2].message
            assert (await b.environments())[0].running_jobs == 2
            assert (await b.clusters())[0].cpus_allocatable == max((os.cpu_count() or 1) - 2, 0)
            assert not (tmp_path / "jobs/q2" / files.LAUNCHED).exists()
            gate.touch()
            finals = [await wait_status(b, f"q{i}") for i in range(3)]
            assert all(s.state is JobState.SUCCEEDED for s in finals)
            assert finals[2].started >= min(finals[0].finished, finals[1].finished)
            assert [r.name for r in await b.results("q2")] == ["done.txt", "job.log"]

    run(body)


def test_a_queued_job_costs_a_journal_line_and_its_runner_makes_its_folder(tmp_path: Path) -> None:
    """A submission appends the plan to the queue journal (a folder made per queued job costs the submission ten
    times more); the runner makes the folder, the outputs folder, the parameters file, a script's file and the
    log before the job starts, as the job expects to find them. Until then the job has no log and no results."""
    gate = tmp_path / "gate"
    code = ('import os, pathlib; out = pathlib.Path(os.environ["JUPYTER_COMPUTE_OUTPUT_DIR"]); '
            '(out / "seen.json").write_text(open(os.environ["JUPYTER_COMPUTE_PARAMS"]).read()); '
            'print("logged" if (out.parent / "job.log").exists() and (out.parent / "script.py").exists() else "no")')

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            await b.submit(JobSpec(command=gated("true", gate)), "f-holder")
            queued = await b.submit(JobSpec(code=code, params={"rows": 3}), "f-queued")
            assert queued.status.state is JobState.QUEUED
            assert not (tmp_path / "jobs/f-queued").exists()
            lines = [json.loads(line) for line in (tmp_path / "jobs" / JOURNAL).read_text().splitlines()]
            assert [line["id"] for line in lines] == ["f-holder", "f-queued"]
            assert lines[1]["plan"]["spec"]["params"] == {"rows": 3}
            assert await b.logs("f-queued") == LogChunk("", 0, False)
            assert await b.results("f-queued") == []
            with pytest.raises(NotFound, match="has not started"):
                b.open_result("f-queued", "job.log")
            assert (await b.status("f-queued")).state is JobState.QUEUED
            gate.touch()
            assert (await wait_status(b, "f-queued")).state is JobState.SUCCEEDED
            assert json.loads(await read_result(b, "f-queued", "seen.json")) == {"rows": 3}
            assert await read_result(b, "f-queued", "job.log") == b"logged\n"
            assert sorted(p.name for p in (tmp_path / "jobs/f-queued").iterdir()) == sorted([
                files.PLAN, files.SCRIPT, files.LAUNCHED, files.RUNNER, files.RUNNER_LOG, files.OUTPUTS, files.PARAMS,
                files.LOG, files.PROCESS, files.STATUS])

    run(body)


def test_cancel_queued_and_delete(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            await b.submit(JobSpec(command="sleep 300"), "d-running")
            queued = await b.submit(JobSpec(command="true"), "d-queued")
            assert queued.status.state is JobState.QUEUED
            await b.cancel("d-queued")
            status = await b.status("d-queued")
            assert status.state is JobState.CANCELLED and status.started is None
            await b.delete("d-running")
            assert not (tmp_path / "jobs/d-running").exists()
            with pytest.raises(NotFound):
                await b.status("d-running")
            # a job submitted later runs once the slot is free: the older cancelled one must not
            await b.submit(JobSpec(command="true"), "d-later")
            assert (await wait_status(b, "d-later")).state is JobState.SUCCEEDED
            assert not (tmp_path / "jobs/d-queued" / files.RUNNER).exists()
            assert (await b.status("d-queued")).state is JobState.CANCELLED

    run(body)


def test_a_write_that_comes_while_a_folder_is_removed_does_not_keep_it(tmp_path: Path, monkeypatch) -> None:
    """A runner's last status or a launch claim may land while a deleted job's folder is being removed:
    it must fail, and the folder must go (it once stayed, refilled half-way through the removal)."""
    job_dir = tmp_path / "jobs" / "late-1"
    (job_dir / files.OUTPUTS).mkdir(parents=True)
    (job_dir / files.LOG).write_text("log")
    remove = files.shutil.rmtree
    late_writes: list[BaseException] = []

    def remove_with_a_late_write(path: Path, *args: Any, **kwargs: Any) -> None:
        try:
            files.claim(job_dir)
        except FileNotFoundError as exc:
            late_writes.append(exc)
        remove(path, *args, **kwargs)

    monkeypatch.setattr(files.shutil, "rmtree", remove_with_a_late_write)
    files.remove_job_folder(job_dir)
    assert len(late_writes) == 1, "the late write found the folder under its name"
    assert list((tmp_path / "jobs").iterdir()) == []


def test_unreadable_notebook_is_refused_at_submit(tmp_path: Path) -> None:
    (tmp_path / "bad.ipynb").write_text("not json")

    async def body() -> None:
        async with backend(tmp_path / "data") as b:
            with pytest.raises(InvalidSpec) as info:
                await b.submit(JobSpec(notebook=str(tmp_path / "bad.ipynb")), "j-bad")
            assert info.value.field == "notebook"
            assert await b.recover("j-bad") is None
            assert not any((tmp_path / "data").glob("jobs/*"))  # refused before any folder

    run(body)


def test_submit_twice_starts_one_process(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path) as b:
            await b.submit(JobSpec(command="echo once"), "j-once")
            again = await b.submit(JobSpec(command="echo twice"), "j-once")
            assert again.remote_id == "j-once"
            await wait_status(b, "j-once")
            assert (await b.logs("j-once")).text == "once\n"
            assert await b.recover("j-once") == "j-once"
            assert await b.recover("never-submitted") is None

    run(body)


def test_unknown_jobs_and_results(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path) as b:
            for call in (b.status, b.cancel, b.delete, b.logs, b.results):
                with pytest.raises(NotFound):
                    await call("nope")
            with pytest.raises(NotFound):
                b.open_result("nope", "x")
            await b.submit(JobSpec(command="echo x > $JUPYTER_COMPUTE_OUTPUT_DIR/x.txt"), "j-res")
            await wait_status(b, "j-res")
            for escape in ("../spec.json", "/etc/passwd", "a/../../status.json", ""):
                with pytest.raises((InvalidSpec, NotFound)):
                    b.open_result("j-res", escape)
            with pytest.raises(NotFound) as info:
                b.open_result("j-res", "y.txt")
            assert info.value.field == "name"
            assert await read_result(b, "j-res", "job.log") == b""

    run(body)


def test_environment_and_cluster_describe_this_machine(tmp_path: Path) -> None:
    async def body() -> None:
        async with backend(tmp_path, max_jobs=3) as b:
            [env] = await b.environments()
            assert (env.id, env.backend, env.max_jobs, env.running_jobs) == ("local", "local", 3, 0)
            assert env.memory_gb is not None and env.disk_gb is not None
            assert env.cpus == os.cpu_count() and env.memory_gb > 0 and env.disk_gb > 0
            [cluster] = await b.clusters()
            assert (cluster.id, cluster.status, cluster.nodes) == ("localhost", "running", 1)
            assert cluster.cpus_allocatable == cluster.cpus == os.cpu_count()
            allocatable, memory = cluster.memory_gb_allocatable, cluster.memory_gb
            assert allocatable is not None and memory is not None and 0 < allocatable <= memory

    run(body)


# restarts ---------------------------------------------------------------------------------
def test_jobs_survive_a_restart_of_the_backend(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    slow = gated('echo late > "$JUPYTER_COMPUTE_OUTPUT_DIR/late.txt"', gate)

    async def first_server() -> int:
        async with backend(tmp_path, max_jobs=1) as b:
            await b.submit(JobSpec(command=slow), "r-running")
            assert (await b.submit(JobSpec(command="echo next"), "r-queued")).status.state is (
                JobState.QUEUED
            )
            await until(lambda: bool(job_record(tmp_path, "r-running", files.RUNNER)), "the runner to record itself")
        return int(job_record(tmp_path, "r-running", files.RUNNER)["pid"])

    runner_pid = run(first_server)
    assert psutil.pid_exists(runner_pid)  # the server is gone, the job is not

    async def second_server() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            assert (await b.status("r-running")).state is JobState.RUNNING
            assert (await b.status("r-queued")).state is JobState.QUEUED
            gate.touch()
            assert (await wait_status(b, "r-running")).state is JobState.SUCCEEDED
            assert await read_result(b, "r-running", "late.txt") == b"late\n"
            assert (await wait_status(b, "r-queued")).state is JobState.SUCCEEDED

    run(second_server)


SERVER = """
import asyncio, sys
from jupyter_compute.backends.local import LocalBackend
from jupyter_compute.models import JobSpec

async def main():
    b = LocalBackend("local", data_dir=sys.argv[1])
    await b.start()
    await b.submit(JobSpec(command=sys.argv[2]), "k-job")
    print("submitted", flush=True)
    await asyncio.sleep(300)

asyncio.run(main())
"""


def test_jobs_survive_sigkill_of_the_server_process(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    command = gated('echo ok > "$JUPYTER_COMPUTE_OUTPUT_DIR/ok.txt"', gate)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path), command], stdout=subprocess.PIPE
    )
    assert server.stdout is not None and server.stdout.readline() == b"submitted\n"
    server.kill()
    server.wait()
    gate.touch()  # the job only ends once its server is gone

    async def new_server() -> None:
        async with backend(tmp_path) as b:
            status = await wait_status(b, "k-job")
            assert status.state is JobState.SUCCEEDED
            assert await read_result(b, "k-job", "ok.txt") == b"ok\n"

    run(new_server)


def test_runner_killed_means_lost_and_no_orphans(tmp_path: Path) -> None:
    async def first_server() -> dict[str, Any]:
        async with backend(tmp_path) as b:
            await b.submit(JobSpec(command="sleep 300"), "r-lost")
            await until(lambda: bool(job_record(tmp_path, "r-lost", files.PROCESS)))
        return job_record(tmp_path, "r-lost", files.PROCESS)

    process = run(first_server)
    runner = job_record(tmp_path, "r-lost", files.RUNNER)["pid"]
    os.kill(runner, signal.SIGKILL)
    # Gone (or a zombie) before the next server looks: a busy machine may take a while to end it.
    def runner_dead() -> bool:
        try:
            return not pid_alive(runner) or psutil.Process(runner).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(runner_dead, "the runner to die", timeout=60)
    assert live_group_members(process["pgid"])  # the job is orphaned, still running

    async def second_server() -> None:
        async with backend(tmp_path) as b:
            status = await b.status("r-lost")
            assert (status.state, status.native_status) == (JobState.FAILED, "lost")
            assert status.message == "lost: runner vanished without status"
            await until(lambda: live_group_members(process["pgid"]) == [], "the orphaned job to be ended", timeout=60)

    run(second_server)


def test_a_launch_claim_is_never_read_half_written(tmp_path: Path) -> None:
    """A status read while the claim is being taken sees it unclaimed or claimed now, never long ago
    (an empty claim file was read as claimed at the epoch, and the job settled as lost while it started)."""
    seen: list[float | None] = []
    for attempt in range(200):
        job_dir = tmp_path / f"c{attempt}"
        job_dir.mkdir()
        taken = threading.Event()
        before = time.time()

        def read(job_dir: Path = job_dir, taken: threading.Event = taken) -> None:
            while not taken.is_set():
                seen.append(files.claimed_at(job_dir))
            seen.append(files.claimed_at(job_dir))

        reader = threading.Thread(target=read)
        reader.start()
        assert files.claim(job_dir)
        taken.set()
        reader.join()
        assert not files.claim(job_dir), "a claim is taken once"
        assert all(at is None or at >= before for at in seen), sorted({at for at in seen if at is not None})[:3]
        seen.clear()


def test_runner_never_starts_a_job_already_settled(tmp_path: Path) -> None:
    """A runner that gets going only after its job was settled (e.g. taken as lost) records itself and
    leaves the job unrun and its status as it was."""
    marker = tmp_path / "ran"
    b = LocalBackend("local", {}, data_dir=tmp_path)
    b._create_job(JobSpec(command=f"touch {marker}"), "s-late")
    job_dir = tmp_path / "jobs" / "s-late"
    assert files.claim(job_dir)
    lost = files.final_status("FAILED", "lost: runner vanished without status", native_status="lost")
    assert files.write_json_once(job_dir / files.STATUS, lost)
    runner = subprocess.run([sys.executable, "-m", local.RUNNER_MODULE, str(job_dir)], timeout=120,
                            capture_output=True)  # fmt: skip
    assert runner.returncode == 0, runner.stdout + runner.stderr
    assert not marker.exists(), "the settled job ran"
    assert files.read_json(job_dir / files.STATUS) == lost
    assert int(job_record(tmp_path, "s-late", files.RUNNER)["pid"]) > 0


# failures on the way ----------------------------------------------------------------------
def test_a_job_whose_runner_start_fails_ends_instead_of_staying_queued(tmp_path: Path) -> None:
    """The record of a queued job's runner cannot be written (a folder holds its name) when its turn
    comes: the job is settled from its folder, not left queued in memory forever. (A notebook job: it is
    queued as a folder, its input written as it was submitted.)"""
    gate = tmp_path / "gate"
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(notebook))

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            await b.submit(JobSpec(command=gated("true", gate)), "f-holder")
            assert (await b.submit(JobSpec(notebook=str(notebook)), "f-next")).status.state is JobState.QUEUED
            (tmp_path / "jobs" / "f-next" / files.RUNNER).mkdir()
            gate.touch()
            status = await wait_status(b, "f-next", timeout=120)
            assert status.state is JobState.FAILED and status.message, status
            assert (await wait_status(b, "f-holder", timeout=120)).state is JobState.SUCCEEDED

    run(body)


def test_a_status_the_sink_failed_to_take_is_told_again(tmp_path: Path) -> None:
    """The status sink fails once (a busy store) when told that a job ended: it is told again."""
    refused: list[RemoteStatus] = []
    told: list[tuple[str, RemoteStatus]] = []

    async def sink(remote_id: str, status: RemoteStatus) -> None:
        if status.state.is_terminal and not refused:
            refused.append(status)
            raise RuntimeError("the store is busy")
        told.append((remote_id, status))

    async def body() -> None:
        async with backend(tmp_path) as b:
            b.attach_status_sink(sink)
            await b.submit(JobSpec(command="true"), "p-job")
            await until(lambda: any(s.state.is_terminal for _, s in told), "the end to be told again", timeout=120)
            assert refused and told[-1] == ("p-job", refused[0])

    run(body)


INCOMPLETE = "job folder incomplete (the machine stopped while it was written)"


def test_a_job_folder_that_lost_its_plan_is_settled_failed(tmp_path: Path) -> None:
    """After an OS crash a job folder can survive with its files empty: a backend started over it (or asked
    about one it did not scan) records the job FAILED instead of answering 'queued' forever."""
    maker = LocalBackend("local", {}, data_dir=tmp_path)

    def half_written(job_id: str) -> None:
        maker._create_job(JobSpec(command="true"), job_id)
        (tmp_path / "jobs" / job_id / files.PLAN).write_bytes(b"")

    half_written("h-before")
    maker._create_job(JobSpec(command="true"), "h-whole")

    async def body() -> None:
        async with backend(tmp_path, max_jobs=1) as b:
            status = await b.status("h-before")
            assert (status.state, status.message) == (JobState.FAILED, INCOMPLETE), status
            assert job_record(tmp_path, "h-before", files.STATUS)["message"] == INCOMPLETE
            assert (await wait_status(b, "h-whole", timeout=120)).state is JobState.SUCCEEDED
            half_written("h-after")
            status = await b.status("h-after")
            assert (status.state, status.message) == (JobState.FAILED, INCOMPLETE), status

    run(body)


# what the status sink is told --------------------------------------------------------------
def test_a_short_job_is_told_once_as_ended_and_a_long_one_running_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job the queue launches is told running only once it has run ``TELL_RUNNING_AFTER_S``: a job that ends
    before is told once, as ended (half the records of a queue of short jobs); one that runs on is told
    running, then ended. (A job launched by its own submission is answered running by it, not told.)"""
    told: list[tuple[str, JobState]] = []

    async def sink(remote_id: str, status: RemoteStatus) -> None:
        told.append((remote_id, status.state))

    def states(job_id: str) -> list[JobState]:
        return [state for told_id, state in told if told_id == job_id]

    async def queued_behind_a_holder(b: LocalBackend, job_id: str, command: str, gate: Path) -> None:
        await b.submit(JobSpec(command=gated("true", gate)), f"{job_id}-holder")
        assert (await b.submit(JobSpec(command=command), job_id)).status.state is JobState.QUEUED

    async def body() -> None:
        async with backend(tmp_path / "data", max_jobs=1) as b:
            b.attach_status_sink(sink)
            monkeypatch.setattr(local, "TELL_RUNNING_AFTER_S", 3600.0)
            await queued_behind_a_holder(b, "t-short", "sleep 0.5", tmp_path / "gate-1")
            (tmp_path / "gate-1").touch()
            await until(lambda: JobState.SUCCEEDED in states("t-short"), "the short job's end", timeout=120)
            assert states("t-short") == [JobState.SUCCEEDED]

            monkeypatch.setattr(local, "TELL_RUNNING_AFTER_S", 0.2)
            await queued_behind_a_holder(b, "t-long", gated("true", tmp_path / "gate-3"), tmp_path / "gate-2")
            (tmp_path / "gate-2").touch()
            await until(lambda: JobState.RUNNING in states("t-long"), "the long job told running", timeout=120)
            (tmp_path / "gate-3").touch()
            await until(lambda: JobState.SUCCEEDED in states("t-long"), "the long job's end", timeout=120)
            assert states("t-long") == [JobState.RUNNING, JobState.SUCCEEDED]

    run(body)


def test_the_sink_is_told_the_waiting_statuses_together(tmp_path: Path) -> None:
    """Statuses waiting to be told go to the sink together (a store that batches its calls takes them in one
    hop), not one after the other: here the sink takes a status only while the three are in its hands."""
    accept = False
    refused: set[str] = set()
    inflight: set[str] = set()
    together = asyncio.Event()
    told: list[str] = []

    async def sink(remote_id: str, status: RemoteStatus) -> None:
        if not status.state.is_terminal:
            return
        if not accept:
            refused.add(remote_id)
            raise RuntimeError("the store is busy")
        inflight.add(remote_id)
        if len(inflight) == 3:
            together.set()
        await asyncio.wait_for(together.wait(), 120)
        told.append(remote_id)

    async def body() -> None:
        nonlocal accept
        async with backend(tmp_path / "data", max_jobs=3) as b:
            b.attach_status_sink(sink)
            for i in range(3):
                await b.submit(JobSpec(command="true"), f"g-{i}")
            await until(lambda: len(refused) == 3, "every end told once (and refused)", timeout=120)
            accept = True
            await until(lambda: len(told) == 3, "the three ends told together", timeout=120)
            assert sorted(told) == ["g-0", "g-1", "g-2"]

    run(body)


def test_the_results_of_a_told_end_are_listed_with_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink, told that a job ended, asks for its results: they were listed when its end was read (no
    second look at the disk); once told, results are listed afresh."""
    listings: list[Path] = []
    real = local._list_results

    def counting(job_dir: Path) -> list[Any]:
        listings.append(job_dir)
        return real(job_dir)

    monkeypatch.setattr(local, "_list_results", counting)
    seen: list[tuple[list[str], int]] = []  # the names, and how many listings asking for them made
    b = LocalBackend("local", {}, data_dir=tmp_path / "data")

    async def sink(remote_id: str, status: RemoteStatus) -> None:
        if status.state.is_terminal:
            before = len(listings)
            names = [result.name for result in await b.results(remote_id)]
            seen.append((names, len(listings) - before))

    async def body() -> None:
        async with started(b):
            b.attach_status_sink(sink)
            await b.submit(JobSpec(command='echo 1 > "$JUPYTER_COMPUTE_OUTPUT_DIR/a.txt"'), "l-job")
            await until(lambda: seen, "the end told", timeout=120)
            assert seen == [(["a.txt", "job.log"], 0)]
            (tmp_path / "data" / "jobs" / "l-job" / files.OUTPUTS / "b.txt").write_text("2")
            assert [result.name for result in await b.results("l-job")] == ["a.txt", "b.txt", "job.log"]

    run(body)


def test_a_runner_that_fails_to_start_settles_its_job_at_its_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner that exits before it made its job's folder (its interpreter cannot start) leaves its job FAILED as
    soon as its exit is seen, not after the launch claim's grace (no safety tick runs here)."""
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the runner's interpreter: exits at once, says nothing
    told: list[RemoteStatus] = []

    async def sink(remote_id: str, status: RemoteStatus) -> None:
        told.append(status)

    async def body() -> None:
        async with backend(tmp_path / "data", safety_tick_s=3600) as b:
            b.attach_status_sink(sink)
            await b.submit(JobSpec(command="true"), "x-job")
            await until(lambda: any(s.state.is_terminal for s in told), "the job settled", timeout=local.STARTING_GRACE_S)
            status = told[-1]
            assert (status.state, status.native_status) == (JobState.FAILED, "lost"), status
            assert status.message == local.NEVER_STARTED_MESSAGE and local.RUNNERS_LOG in status.message, status
            assert (tmp_path / "data/jobs/x-job" / files.STATUS).exists(), "the end is recorded in a folder of its own"

    run(body)
