"""The job magics in a real IPython kernel against a live `jupyter server` with the extension.

One server and one kernel serve the whole module. The kernel is given no URL or token: the
magics' client finds the server through the Jupyter runtime directory, as in a notebook.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from conftest import LiveServer
from jupyter_client import KernelManager

TOKEN_VAR = "MAGICS_TEST_TOKEN"  # the kernel's environment holds the server's token under this name
SUBMITTED = re.compile(r"^Submitted job ([0-9a-f]{8}) (.+) on local: (QUEUED|RUNNING)$", re.MULTILINE)


@dataclass
class Output:
    """What one cell produced, message by message."""

    stdout: str = ""
    stderr: str = ""
    data: str = ""  # text/plain of displays, results and pager payloads (`%magic?`)
    error: str = ""  # a traceback, if the cell raised
    streams: list[tuple[float, str, str]] = field(default_factory=list)  # (wall time, name, text)

    @property
    def text(self) -> str:
        return f"{self.stdout}\n{self.stderr}\n{self.data}\n{self.error}"

    @property
    def shown(self) -> str:
        """stdout and the text of displays: ``--wait`` keeps the job's state line in a display,
        updated in place, whose last version is its final line."""
        return f"{self.stdout}\n{self.data}"


class Kernel:
    """A running python3 kernel with a blocking client."""

    def __init__(self, manager: KernelManager) -> None:
        self.manager = manager
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(
        self,
        code: str,
        timeout: float = 60,
        *,
        on_stream: Callable[[str], None] | None = None,
        interrupt_when: Callable[[str], bool] | None = None,
    ) -> Output:
        """Execute ``code``; collect its iopub messages as they arrive (with their arrival time).

        ``on_stream(text)`` is called with each stdout/stderr message as it arrives, from the loop
        that reads them. With ``interrupt_when``, the kernel is interrupted (Ctrl-C) once, right
        after the first stream message for which ``interrupt_when(text)`` is true.
        """
        msg_id = self.client.execute(code, allow_stdin=False)
        out = Output()
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                assert time.monotonic() < deadline, f"no answer to {code!r} in {timeout} s"
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.streams.append((time.time(), content["name"], content["text"]))
                if content["name"] == "stdout":
                    out.stdout += content["text"]
                else:
                    out.stderr += content["text"]
                if on_stream is not None:
                    on_stream(content["text"])
                if interrupt_when is not None and interrupt_when(content["text"]):
                    self.manager.interrupt_kernel()
                    interrupt_when = None
            elif kind in ("display_data", "update_display_data", "execute_result"):
                out.data += content["data"].get("text/plain", "") + "\n"
            elif kind == "error":
                out.error += "\n".join(content["traceback"]) + f"\n{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                break
        while True:
            reply = self.client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        for payload in reply["content"].get("payload", []):
            out.data += payload.get("data", {}).get("text/plain", "") + "\n"
        return out

    def value(self, expression: str) -> object:
        """The JSON value of ``expression`` evaluated in the kernel."""
        out = self.run(f"import json as _json; print(_json.dumps({expression}))")
        assert not out.error and not out.stderr, out.text
        return json.loads(out.stdout)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def server(module_server: LiveServer) -> LiveServer:
    return module_server


@pytest.fixture(scope="module")
def root(server: LiveServer) -> Path:
    return Path(server.env["JUPYTER_RUNTIME_DIR"]).parent / "root"


@pytest.fixture(scope="module")
def kernel(server: LiveServer, root: Path) -> Iterator[Kernel]:
    env = {k: v for k, v in server.env.items() if not k.startswith("JUPYTER_COMPUTE_")}
    env[TOKEN_VAR] = server.token
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(root))
    k = Kernel(manager)
    try:
        out = k.run("%load_ext jupyter_compute")
        assert not out.text.strip(), out.text
        yield k
    finally:
        k.close()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[object]:
    with server.client() as c:
        yield c


def submitted(out: Output) -> str:
    """The short id from the ``Submitted job ...`` line."""
    match = SUBMITTED.search(out.stdout)
    assert match, out.text
    return match.group(1)


def full_id(client, short: str) -> str:
    ids = [j.id for j in client.jobs(q=short, limit=1000) if j.id.startswith(short)]
    assert len(ids) == 1, ids
    return ids[0]


def assert_one_line_error(out: Output, magic: str, *needles: str) -> None:
    assert "Traceback" not in out.text and not out.error, out.text
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.text
    assert lines[0].startswith(f"{magic}: "), lines
    for needle in needles:
        assert needle in lines[0], lines


# --- loading and help -------------------------------------------------------------------------


def test_import_stays_light_and_extension_loads(kernel: Kernel) -> None:
    code = "import sys, jupyter_compute; assert 'IPython' not in sys.modules; print(jupyter_compute.load_ipython_extension)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    found = kernel.value(
        "[get_ipython().find_line_magic(m) is not None for m in "
        "('submit_job', 'jobs', 'job', 'job_logs', 'job_results', 'cancel_job', 'job_detail', 'job_action', "
        "'compute_connect')] + [get_ipython().find_cell_magic('submit_job') is not None]"
    )
    assert found == [True] * 10


def test_help_is_built_from_the_arguments(kernel: Kernel) -> None:
    for line in ("%submit_job --help", "%submit_job?", "%%submit_job -h\nprint(1)"):
        out = kernel.run(line)
        text = out.stdout + out.data
        assert not out.stderr and not out.error, out.text
        for option in ("--backend", "--env", "--cluster", "--name", "--param", "--extra", "--tag", "--timeout",
                       "--wait", "-o VAR", "program"):
            assert option in text, (line, text)
        assert "Options go before the program" in " ".join(text.split()), text
    expected = {
        "jobs": ("--backend", "--state", "--tag", "--limit"),
        "job": ("id",),
        "job_logs": ("--follow", "id"),
        "job_results": ("--name", "-o VAR", "id"),
        "cancel_job": ("id",),
        "job_detail": ("id", "facts"),
        "job_action": ("--value", "id", "action"),
        "compute_connect": ("--token TOKEN", "--token-env VAR", "url", "prefer --token-env"),
    }
    for magic, options in expected.items():
        out = kernel.run(f"%{magic} --help")
        assert not out.stderr and not out.error, out.text
        assert f"%{magic} [-h]" in out.stdout
        for option in options:
            assert option in " ".join(out.stdout.split()), (magic, out.stdout)
    assert "--follow" in kernel.run("%job_logs?").data


# --- submitting -------------------------------------------------------------------------------


def test_submit_command_and_wait(kernel: Kernel, client) -> None:
    out = kernel.run("%submit_job --name greet --wait echo hello")
    assert not out.stderr and not out.error, out.text
    short = submitted(out)
    assert re.search(rf"^job {short} 'greet' on local: SUCCEEDED \(\d+\.\d s\)$", out.shown, re.MULTILINE), out.text
    assert out.text.count("SUCCEEDED") == 1, out.text  # the final state once, not once more after the progress
    job = client.job(full_id(client, short))
    assert (job.spec.command, job.name, job.state.value) == ("echo hello", "greet", "SUCCEEDED")
    assert job.logs() == "hello\n"
    assert kernel.value("_job.id") == job.id

    # The command goes to the shell exactly as typed: quotes, spacing, $ and {} included.
    out = kernel.run("""%submit_job --wait -- echo "a   b" 'c' $((1+2)) {x} --wait""")
    assert not out.stderr, out.text
    job = client.job(full_id(client, submitted(out)))
    assert job.spec.command == """echo "a   b" 'c' $((1+2)) {x} --wait"""
    assert job.logs() == "a   b c 3 {x} --wait\n"

    # Options go before the program: after it, option-like words are the program's own.
    out = kernel.run("%submit_job -w echo hello --name x -o df --wait")
    assert not out.stderr and not out.error, out.text
    short = submitted(out)
    assert re.search(rf"^job {short} 'echo hello --name x -o df --wait' on local: SUCCEEDED", out.shown,
                     re.MULTILINE), out.text
    job = client.job(full_id(client, short))
    assert job.spec.command == "echo hello --name x -o df --wait" and job.logs() == "hello --name x -o df --wait\n"
    assert kernel.value("'df' in globals()") is False

    # Values attached to their options (--name=x, -nx) count as options too.
    out = kernel.run("%submit_job --name=attached -tattached --wait echo 1")
    job = client.job(full_id(client, submitted(out)))
    assert (job.name, job.tags, job.spec.command) == ("attached", ["attached"], "echo 1")


def test_a_script_flag_after_the_program_stays_in_the_command(kernel: Kernel, client) -> None:
    out = kernel.run("""%submit_job --wait python3 -c "import sys; print(sys.argv)" --timeout 30""")
    assert not out.stderr and not out.error, out.text
    short = submitted(out)
    assert f"job {short} " in out.shown and ": SUCCEEDED" in out.shown, out.text
    job = client.job(full_id(client, short))
    assert job.spec.command == """python3 -c "import sys; print(sys.argv)" --timeout 30"""
    assert job.spec.timeout_s is None
    assert job.logs() == "['-c', '--timeout', '30']\n"


def test_failed_job_prints_its_message(kernel: Kernel) -> None:
    out = kernel.run("%submit_job --wait --name broken exit 3")
    assert not out.error, out.text
    assert not out.stderr and "Traceback" not in out.text, out.text
    assert re.search(r"^job [0-9a-f]{8} 'broken' on local: FAILED \(.*\): .+", out.shown, re.MULTILINE), out.text
    assert out.text.count("FAILED") == 1, out.text


def test_submit_script_with_param(kernel: Kernel, client, root: Path) -> None:
    (root / "show_rows.py").write_text(
        "import os\nrows = int(os.environ['JUPYTER_COMPUTE_PARAM_ROWS'])\nprint('rows =', rows, rows * 'x')\n"
    )
    out = kernel.run("%submit_job --param rows=3 --wait show_rows.py")
    assert not out.stderr and not out.error, out.text
    short = submitted(out)
    assert f"job {short} 'show_rows.py' on local: SUCCEEDED" in out.shown
    job = client.job(full_id(client, short))
    assert job.spec.script == str(root / "show_rows.py")
    assert job.spec.params == {"rows": 3}
    assert kernel.run(f"%job_logs {short}").stdout == "rows = 3 xxx\n"


def test_param_values_are_json_when_they_can_be(kernel: Kernel, client) -> None:
    out = kernel.run(
        """%submit_job -p rows=3 -p ratio=0.5 -p flag=true -p 'names=["a", "b"]' -p title=hello """
        """-p empty= -t magics -t params --wait env"""
    )
    assert not out.stderr and not out.error, out.text
    job = client.job(full_id(client, submitted(out)))
    assert job.spec.params == {"rows": 3, "ratio": 0.5, "flag": True, "names": ["a", "b"], "title": "hello",
                               "empty": ""}
    assert job.tags == ["magics", "params"]
    log = job.logs()
    for line in ("JUPYTER_COMPUTE_PARAM_ROWS=3", "JUPYTER_COMPUTE_PARAM_FLAG=true",
                 'JUPYTER_COMPUTE_PARAM_NAMES=["a", "b"]', "JUPYTER_COMPUTE_PARAM_TITLE=hello"):
        assert line in log.splitlines(), log


def test_submit_notebook_by_absolute_path(kernel: Kernel, client, root: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("rows = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('doubled', rows * 2)"),
    ]
    folder = root / "nbs"
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / "double.ipynb")
    out = kernel.run(f"%submit_job --param rows=4 --wait {folder / 'double.ipynb'}", timeout=120)
    assert not out.stderr and not out.error, out.text
    short = submitted(out)
    assert f"job {short} 'double.ipynb' on local: SUCCEEDED" in out.shown
    job = client.job(full_id(client, short))
    assert job.spec.notebook == str(folder / "double.ipynb")
    executed = nbformat.reads(b"".join(client.iter_result(job.id, "double.ipynb")).decode(), as_version=4)
    printed = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
    assert "doubled 8\n" in printed


def test_cell_magic_loads_the_result_into_a_dataframe(kernel: Kernel, client) -> None:
    cell = textwrap.dedent(
        """\
        %%submit_job --wait -o df --name squares --tag magics
        import csv, os
        with open(os.path.join(os.environ["JUPYTER_COMPUTE_OUTPUT_DIR"], "squares.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["x", "square"])
            writer.writerows([x, x * x] for x in range(5))
        """
    )
    out = kernel.run(cell)
    assert not out.stderr and not out.error, out.text
    short = submitted(out)
    assert f"job {short} 'squares' on local: SUCCEEDED" in out.shown
    assert "loaded 'squares.csv' (5 rows × 2 columns) into df" in out.stdout
    assert kernel.value("[type(df).__name__, df['x'].tolist(), df['square'].tolist()]") == [
        "DataFrame", [0, 1, 2, 3, 4], [0, 1, 4, 9, 16]
    ]
    assert client.job(full_id(client, short)).spec.code == cell.split("\n", 1)[1]

    # %job_results lists the files with their sizes and loads one by name.
    out = kernel.run(f"%job_results {short} -o squares")
    assert not out.stderr and not out.error, out.text
    assert re.search(r"^\s+squares\.csv\s+\d+ B\s+output\s+text/csv$", out.stdout, re.MULTILINE), out.stdout
    assert re.search(r"^\s+job\.log\s+0 B\s+log\s+text/plain$", out.stdout, re.MULTILINE), out.stdout
    assert "loaded 'squares.csv' (5 rows × 2 columns) into squares" in out.stdout
    assert "square" in out.data and "16" in out.data  # the head is displayed
    assert kernel.value("squares.equals(df)") is True


# --- looking at jobs --------------------------------------------------------------------------


def test_jobs_lists_recent_jobs_with_the_total(kernel: Kernel, client) -> None:
    for i in range(3):
        assert not kernel.run(f"%submit_job --name listed-{i} --tag listed --wait true").stderr
    total = client.jobs(limit=1).total
    out = kernel.run("%jobs --limit 2")
    assert not out.stderr and not out.error, out.text
    assert f"2 of {total} jobs" in out.stdout
    assert "listed-2" in out.data and "listed-1" in out.data and "listed-0" not in out.data
    for column in ("name", "backend", "state", "native status", "created", "elapsed", "message"):
        assert column in out.data, out.data

    out = kernel.run("%jobs --tag listed --state SUCCEEDED")
    assert out.stdout.startswith("3 jobs"), out.text
    assert all(f"listed-{i}" in out.data for i in range(3)) and "SUCCEEDED" in out.data
    shorts = [j.id[:8] for j in client.jobs(tag="listed")]
    assert all(s in out.data for s in shorts)
    assert kernel.run("%jobs --tag nothing-has-this").stdout.strip() == "no jobs match"


def test_job_by_prefix(kernel: Kernel, client) -> None:
    out = kernel.run("%submit_job --name detailed --tag magics -p n=2 --wait echo details")
    short = submitted(out)
    job_id = full_id(client, short)
    out = kernel.run(f"%job {short}")
    assert not out.stderr and not out.error, out.text
    for line in (f"id             {job_id}", "name           detailed", "backend        local",
                 "state          SUCCEEDED", "program        command: echo details", "params         n=2",
                 "tags           magics", "results (1):"):
        assert line in out.stdout, out.stdout
    assert re.search(r"^\s+job\.log\s+8 B\s+log", out.stdout, re.MULTILINE), out.stdout
    assert kernel.run(f"%job {job_id}").stdout == out.stdout  # a full id works the same
    assert kernel.run(f"%job {short.upper()}").stdout == out.stdout
    assert kernel.run("%job").stdout == out.stdout  # the last submitted job


def test_unknown_and_ambiguous_prefixes(kernel: Kernel, client) -> None:
    assert_one_line_error(kernel.run("%job zzzz"), "job", "no job id starts with 'zzzz'")
    # Submit quick jobs until two ids share a first character (at most 17 jobs: pigeonhole).
    while True:
        ids = [j.id for j in client.jobs(limit=1000)]
        firsts = [i[0] for i in ids]
        shared = next((c for c in firsts if firsts.count(c) > 1), None)
        if shared:
            break
        client.submit(command="true", name="filler")
    count = sum(1 for i in ids if i.startswith(shared))
    out = kernel.run(f"%job {shared}")
    assert_one_line_error(out, "job", f"'{shared}' matches {count} jobs; give more of the id")
    assert_one_line_error(kernel.run(f"%cancel_job {shared}"), "cancel_job", "give more of the id")


def test_job_logs_follow_streams_lines_as_they_are_written(kernel: Kernel, client, tmp_path) -> None:
    gate = tmp_path / "gate"
    out = kernel.run(f"%submit_job --name ticker echo tick 1; while [ ! -e {gate} ]; do sleep 0.1; done; echo tick 2")
    short = submitted(out)
    job_id = full_id(client, short)
    seen: list[str] = []

    def open_the_gate_once_tick_1_is_shown(text: str) -> None:
        seen.append(text)
        if "tick 1" in "".join(seen) and not gate.exists():
            gate.touch()  # the job can only end after the follower showed its first line

    out = kernel.run(f"%job_logs {short} --follow", on_stream=open_the_gate_once_tick_1_is_shown)
    assert not out.stderr and not out.error, out.text
    assert gate.exists()
    log = "tick 1\ntick 2\n"
    assert out.stdout == log
    job = client.job(job_id).wait(timeout=30, progress=False)  # the store may lag the log
    assert job.state.value == "SUCCEEDED"

    # Without --follow: the whole log at once; following a finished job prints it and stops.
    assert kernel.run(f"%job_logs {short}").stdout == log
    assert kernel.run(f"%job_logs {short} --follow").stdout == log


def test_client_follow_logs_ends_with_the_log_or_when_stopped(client, tmp_path) -> None:
    gate = tmp_path / "gate"
    job = client.submit(command=f"echo one; while [ ! -e {gate} ]; do sleep 0.1; done; echo two", name="followed")
    stop = threading.Event()
    pieces = []
    for text in client.follow_logs(job.id, poll=0.1, stop=stop):
        pieces.append(text)
        stop.set()  # ends within one poll, while the job still waits
    assert "".join(pieces) == "one\n"
    assert client.job(job.id).state.value == "RUNNING"
    gate.touch()
    assert "".join(client.follow_logs(job.id, poll=0.1)) == "one\ntwo\n"  # ends with the job
    assert client.job(job.id).wait(timeout=30, progress=False).state.value == "SUCCEEDED"


def test_cancel_job(kernel: Kernel, client) -> None:
    out = kernel.run("%submit_job --name sleeper sleep 60")
    short = submitted(out)
    out = kernel.run(f"%cancel_job {short}")
    assert not out.stderr and not out.error, out.text
    assert re.search(rf"^job {short} 'sleeper' on local: CANCELLED", out.stdout, re.MULTILINE), out.stdout
    assert client.job(full_id(client, short)).state.value == "CANCELLED"
    out = kernel.run(f"%cancel_job {short}")
    assert "CANCELLED" in out.stdout and "already ended" in out.stdout, out.text


def test_ctrl_c_stops_following_and_waiting_quietly(kernel: Kernel, client) -> None:
    out = kernel.run("%submit_job --name patient for i in 1 2 3; do echo waiting $i; sleep 10; done")
    short = submitted(out)
    out = kernel.run(f"%job_logs {short} --follow", interrupt_when=lambda text: "waiting 1" in text)
    assert out.stdout.startswith("waiting 1\n"), out.text
    assert not out.stderr and not out.error and "Traceback" not in out.text, out.text
    assert client.job(full_id(client, short)).state.value == "RUNNING"  # only the reading stopped

    out = kernel.run("%submit_job --wait --name patient2 sleep 30",
                     interrupt_when=lambda text: text.startswith("Submitted job"))
    assert not out.error and "Traceback" not in out.text, out.text
    short2 = submitted(out)
    assert out.stderr.strip() == (
        f"stopped waiting: job {short2} keeps running (%job_logs {short2} --follow to watch, "
        f"%cancel_job {short2} to stop it)"
    ), out.text
    for job_id in (short, short2):
        assert "CANCELLED" in kernel.run(f"%cancel_job {job_id}").stdout


SLOW_ANSWER = """
import time as _time
_magics = get_ipython().magics_manager.registry["ComputeMagics"]
_client = _magics.client
_send = _client._send
def _slow_first_submit(request, **kwargs):
    response = _send(request, **kwargs)  # the server has the job now
    if request.method == "POST" and getattr(_slow_first_submit, "armed", True):
        _slow_first_submit.armed = False
        print("request sent", flush=True)
        _time.sleep(60)  # its answer is slow: Ctrl-C comes here
    return response
_client._send = _slow_first_submit
"""


def test_ctrl_c_while_submitting_keeps_the_job_the_server_took(kernel: Kernel, client) -> None:
    assert not kernel.run("_job = None").text.strip()
    out = kernel.run(SLOW_ANSWER)
    assert not out.stderr and not out.error, out.text
    try:
        out = kernel.run("%submit_job --name slow-answer sleep 30", interrupt_when=lambda text: "request sent" in text)
    finally:
        assert not kernel.run("del _client._send").text.strip()
    assert not out.error and "Traceback" not in out.text, out.text
    assert "Submitted job" not in out.stdout, out.text
    jobs = list(client.jobs(q="slow-answer"))
    assert len(jobs) == 1, jobs  # sent once more with the same idempotency key: still one job
    short = jobs[0].id[:8]
    assert_one_line_error(out, "submit_job", "interrupted, but the server has the job", f"job {short} 'slow-answer'",
                          "kept in _job", f"%cancel_job {short}")
    assert kernel.value("_job.id") == jobs[0].id
    assert "CANCELLED" in kernel.run("%cancel_job").stdout  # the last submitted job


class _InterruptedClient:
    """Stands in for the Client: the first submit is interrupted, the next one answers ``second``."""

    retries = 3

    def __init__(self, second: object) -> None:
        self.second = second
        self.calls: list[tuple[str, int]] = []

    def submit(self, spec: dict, *, idempotency_key: str):
        self.calls.append((idempotency_key, self.retries))
        if len(self.calls) == 1:
            raise KeyboardInterrupt
        if isinstance(self.second, BaseException):
            raise self.second
        return self.second


@pytest.mark.parametrize("second", ["job", "error", "interrupt"])
def test_ctrl_c_while_submitting_in_process(second: str, capsys) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_compute.client import Job
    from jupyter_compute.errors import ComputeError
    from jupyter_compute.magics import LAST_JOB_VAR, ComputeMagics
    from jupyter_compute.models import JobSpec

    job = Job(id="ab" * 16, backend="local", spec=JobSpec(command="true"), name="true")
    answer = {"job": job, "error": ComputeError("cannot reach the Jupyter server"), "interrupt": KeyboardInterrupt()}
    fake = _InterruptedClient(answer[second])
    shell = InteractiveShell.instance()
    shell.user_ns.pop(LAST_JOB_VAR, None)
    ComputeMagics(shell, client=fake).submit_job("--wait true")
    out = capsys.readouterr()
    assert not out.out and len(out.err.strip().splitlines()) == 1, out
    (key1, retries1), (key2, retries2) = fake.calls
    assert key1 == key2 and (retries1, retries2) == (3, 0) and fake.retries == 3  # same key, asked once
    if second == "job":
        assert shell.user_ns[LAST_JOB_VAR] is job
        assert out.err.startswith("submit_job: interrupted, but the server has the job: job abababab 'true'")
    else:
        assert LAST_JOB_VAR not in shell.user_ns
        expected = "the job was not submitted" if second == "error" else "it may have been submitted"
        assert out.err.startswith("submit_job: interrupted") and expected in out.err, out.err


@pytest.mark.parametrize(
    ("line", "options", "program"),
    [
        ("--wait echo hi --name x", ["--wait"], "echo hi --name x"),
        ("-w -n demo python train.py --timeout 30", ["-w", "-n", "demo"], "python train.py --timeout 30"),
        ("--name=demo -ndemo2 -o df  run  'a  b'", ["--name=demo", "-ndemo2", "-o", "df"], "run  'a  b'"),
        ("--wait -- --weird --wait", ["--wait"], "--weird --wait"),
        ("-p 'k=a b' -t x", ["-p", "k=a b", "-t", "x"], ""),
        ("-1 -w", [], "-1 -w"),
        ("", [], ""),
    ],
)
def test_split_submit_line_takes_options_only_before_the_program(line, options, program) -> None:
    from jupyter_compute.magics import ComputeMagics, split_submit_line

    assert split_submit_line(ComputeMagics.submit_job.parser, line) == (options, program)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "magic", "needles"),
    [
        ("%submit_job --backend nowhere echo hi", "submit_job",
         ["unknown backend 'nowhere' (configured: local) (field 'backend')"]),
        ("%submit_job --timeout -1 echo hi", "submit_job", ["timeout_s", "greater than 0"]),
        ("%submit_job --timeout soon echo hi", "submit_job", ["--timeout", "soon"]),
        ("%submit_job --param novalue echo hi", "submit_job", ["'novalue' has no value"]),
        ("%submit_job --param =3 echo hi", "submit_job", ["has no name"]),
        ("%submit_job", "submit_job", ["give exactly one of Shell command or Python script", "(field 'command')"]),
        ("%submit_job --wait --name nothing", "submit_job", ["give exactly one of", "(field 'command')"]),
        ("%submit_job --bogus echo hi", "submit_job", ["unrecognized option '--bogus'", "before the program"]),
        ("%submit_job --wait --name", "submit_job", ["option '--name' wants a value"]),
        ("%submit_job -p", "submit_job", ["option '-p' wants a value"]),
        ("%submit_job --wait=yes echo hi", "submit_job", ["unrecognized option '--wait=yes'"]),
        ("%submit_job -o 1df echo hi", "submit_job", ["variable name", "1df"]),
        ("%submit_job --env big echo hi", "submit_job", ["(field 'environment')"]),
        ("%submit_job missing.ipynb", "submit_job", ["missing.ipynb", "(field 'notebook')"]),
        ("%%submit_job --wait\n\n   \n", "submit_job", ["the cell is empty"]),
        ("%%submit_job --wait echo hi\nprint(1)", "submit_job", ["takes only options"]),
        ("%jobs --state BOGUS", "jobs", ["unknown state", "(field 'state')"]),
        ("%jobs --limit 0", "jobs", ["--limit"]),
        ("%job_logs zzzz", "job_logs", ["no job id starts with 'zzzz'"]),
        ("%job_results zzzz -o x", "job_results", ["no job id starts with 'zzzz'"]),
        ("%job 1 2", "job", ["unrecognized arguments: 2"]),
        ("%compute_connect ftp://example.org", "compute_connect", ["not the http(s) URL"]),
        ("%compute_connect http://127.0.0.1:9 --token-env MAGICS_TEST_UNSET", "compute_connect",
         ["MAGICS_TEST_UNSET is not set"]),
        (f"%compute_connect --token-env {TOKEN_VAR}", "compute_connect", ["--token-env goes with a URL"]),
        (f"%compute_connect http://127.0.0.1:9 --token x --token-env {TOKEN_VAR}", "compute_connect",
         ["not both"]),
    ],
)
def test_bad_input_is_one_line_and_submits_nothing(kernel: Kernel, client, cell, magic, needles) -> None:
    before = client.jobs(limit=1).total
    out = kernel.run(cell)
    assert_one_line_error(out, magic, *needles)
    assert not out.stdout.strip(), out.text
    assert client.jobs(limit=1).total == before


def test_result_errors(kernel: Kernel) -> None:
    out = kernel.run("%submit_job --wait -o frame echo no table here")
    assert "SUCCEEDED" in out.shown
    assert_one_line_error(out, "submit_job", "has no tabular result (its results: job.log)")
    assert kernel.value("'frame' in globals()") is False
    short = submitted(out)
    assert_one_line_error(kernel.run(f"%job_results {short} -o x --name other.csv"), "job_results",
                          "has no result 'other.csv'")
    out = kernel.run(f"%job_results {short} -o x --name job.log")  # any result, read as a table
    assert "Traceback" not in out.text


# --- choosing the server ----------------------------------------------------------------------


def test_compute_connect(kernel: Kernel, server: LiveServer) -> None:
    out = kernel.run(f"%compute_connect {server.url} --token {server.token}")
    assert out.stdout.strip() == f"connected to {server.url} (backends: local)", out.text
    assert not kernel.run("%jobs --limit 1").stderr
    out = kernel.run(f"%compute_connect {server.url} --token wrong")
    assert_one_line_error(out, "compute_connect", "401")
    assert server.token not in out.text
    assert not kernel.run("%jobs --limit 1").stderr  # a failed connect keeps the working client
    out = kernel.run(f"%compute_connect {server.url} --token-env {TOKEN_VAR}")  # no token in the cell
    assert out.stdout.strip() == f"connected to {server.url} (backends: local)", out.text
    assert not kernel.run("%jobs --limit 1").stderr
    assert server.token not in out.text
    out = kernel.run("%compute_connect")  # found again, without URL or token
    assert out.stdout.strip() == f"connected to {server.url} (backends: local)", out.text
    assert server.token not in out.text
