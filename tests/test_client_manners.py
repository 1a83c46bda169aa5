"""Client manners (issue 15, point 6): ``wait`` raises for a job that did not succeed, the client's
errors are one line in IPython, a job has an HTML repr, ``%submit_job --wait`` ends in one line,
and the README's Python snippets run as printed.

The jobs run on the ``local`` backend of a live `jupyter server`; the notebooks' kernels are given
no URL or token and find that server by themselves, as in JupyterLab.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, LiveServer

from jupyter_compute.client import Job
from jupyter_compute.errors import ComputeError, InvalidSpec, JobFailed, NotFound
from jupyter_compute.formatting import STATE_COLOURS
from jupyter_compute.models import JobSpec, JobState

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIMEOUT = 60


@pytest.fixture(scope="module")
def server(module_server: LiveServer) -> LiveServer:
    return module_server


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Any]:
    with server.client() as c:
        yield c


def run_cells(cells: list[str], server: LiveServer, cwd: Path, *, timeout: int = 120) -> list[list[Any]]:
    """Run ``cells`` as one notebook in a python3 kernel of ``server`` (errors allowed); each cell's outputs.

    As in JupyterLab, a display updated in place (``update_display_data``) is kept only as it ended.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in cells])
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute(env=server.kernel_env())  # fmt: skip
    return [cell.outputs for cell in nb.cells]


def shown(outputs: list[Any]) -> str:
    """What a cell shows, as text: its streams, the text of its displays and results, its error."""
    parts = []
    for out in outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            parts.append(out.data.get("text/plain", "") + "\n")
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback) + "\n")
    return ANSI.sub("", "".join(parts))


def errors(outputs: list[Any]) -> list[Any]:
    return [out for out in outputs if out.output_type == "error"]


# --- wait ---------------------------------------------------------------------------------------------


def _failing(client: Any, name: str) -> Job:
    return client.submit(command="echo going down; exit 3", name=name)


def _cancelled(client: Any, name: str) -> Job:
    job = client.submit(command="sleep 60", name=name)
    job.cancel()
    return job


def _timed_out(client: Any, name: str) -> Job:
    return client.submit(command="sleep 60", name=name, timeout_s=1)


@pytest.mark.parametrize(
    ("make", "state", "words"),
    [
        (_failing, JobState.FAILED, ("exited with code 3", "job.logs()")),
        (_cancelled, JobState.CANCELLED, ("raise_on_failure=False",)),
        (_timed_out, JobState.TIMED_OUT, ("timed out after 1 s", "timeout_s=")),
    ],
    ids=["failed", "cancelled", "timed-out"],
)
def test_wait_raises_job_failed_with_the_job(client, make, state: JobState, words: tuple[str, ...]) -> None:
    name = f"manners {state.value.lower()}"
    job = make(client, name)
    with pytest.raises(JobFailed) as caught:
        job.wait(timeout=TIMEOUT, progress=False)
    error = caught.value
    assert isinstance(error, ComputeError)
    assert error.job is job and job.state is state and error.state is state, (job, error.state)
    assert error.reason == job.message and job.message
    assert (error.job_id, error.backend) == (job.id, "local")
    text = str(error)
    assert "\n" not in text and "Traceback" not in text
    for needle in (job.id[:8], repr(name), state.value, *words):
        assert needle in text, (needle, text)
    if state is JobState.FAILED:
        assert "going down" in error.job.logs()

    # Told not to raise, wait answers the job however it ended.
    again = client.job(job.id)
    assert again.wait(timeout=TIMEOUT, progress=False, raise_on_failure=False) is again
    assert again.state is state


def test_wait_answers_a_job_that_succeeded(client) -> None:
    job = client.submit(command="echo fine", name="manners fine")
    assert job.wait(timeout=TIMEOUT, progress=False) is job and job.state is JobState.SUCCEEDED


# --- one line in IPython ------------------------------------------------------------------------------


def test_client_errors_are_one_line_in_a_kernel(server: LiveServer, tmp_path: Path) -> None:
    missing = "0" * 32
    cells = [
        "from jupyter_compute import Client\nclient = Client()",
        f"client.job({missing!r})",
        "client.submit(command='true', timeout_s=-1)",
        "client.submit(comand='true')",
        "client.submit(command='exit 4', name='doomed').wait(timeout=60)",
        "def helper():\n    return 1 / 0\nhelper()",
        f"%xmode Verbose\nclient.job({missing!r})",
    ]
    outputs = run_cells(cells, server, tmp_path)
    assert not errors(outputs[0]), shown(outputs[0])

    expected = {
        1: ("NotFound", [f"no job with id '{missing}'", "client.jobs() lists the jobs"]),
        2: ("InvalidSpec", ["'timeout_s' must be a finite number greater than 0"]),
        3: ("InvalidSpec", ["unknown field 'comand'", "a job spec has", "command"]),
        4: ("JobFailed", ["'doomed' on local FAILED", "exited with code 4", "job.logs()"]),
    }
    for index, (kind, needles) in expected.items():
        (error,) = errors(outputs[index])
        assert error.ename == kind, error
        lines = ANSI.sub("", "\n".join(error.traceback)).strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"{kind}: "), lines
        for needle in needles:
            assert needle in lines[0], (needle, lines)
        for internal in ("Traceback", "jupyter_compute/", "client.py", "httpx", "File "):
            assert internal not in shown(outputs[index]), (internal, shown(outputs[index]))

    # Nobody else's exception is hidden: the user's own error keeps its whole traceback.
    user_error = shown(outputs[5])
    assert "ZeroDivisionError" in user_error and "helper()" in user_error and "1 / 0" in user_error, user_error
    assert len(user_error.strip().splitlines()) > 3, user_error
    # %xmode Verbose brings the full traceback back for ours too.
    verbose = shown(outputs[6])
    assert "NotFound" in verbose and "client.py" in verbose and len(verbose.splitlines()) > 3, verbose


def test_one_line_in_an_interactive_shell(capsys) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    result = shell.run_cell(
        "from jupyter_compute.errors import NotFound\n"
        "def look():\n    raise NotFound('no job with id  \\'x\\'\\n  (client.jobs() lists them)', field='job_id')\n"
        "look()"
    )
    assert isinstance(result.error_in_exec, NotFound)
    out = ANSI.sub("", capsys.readouterr().out).strip()
    assert out == "NotFound: no job with id 'x' (client.jobs() lists them) (field 'job_id')", out

    result = shell.run_cell("raise ValueError('not ours')")
    out = ANSI.sub("", capsys.readouterr().out)
    assert isinstance(result.error_in_exec, ValueError)
    assert "ValueError" in out and "Traceback" in out, out


# --- the magic's --wait --------------------------------------------------------------------------------


def test_submit_job_wait_ends_in_one_line(server: LiveServer, tmp_path: Path) -> None:
    cells = [
        "%load_ext jupyter_compute",
        "%submit_job --wait --name once echo hi",
        "%submit_job --wait --name broken-once exit 3",
        "%submit_job --wait -o frame --name broken-frame exit 5",
    ]
    outputs = run_cells(cells, server, tmp_path)
    assert not shown(outputs[0]).strip()

    lines = shown(outputs[1]).strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Submitted job ") and lines[0].endswith(("QUEUED", "RUNNING"))
    short = lines[0].split()[2]
    assert re.fullmatch(rf"job {short} 'once' on local: SUCCEEDED \(\d+\.\d s\)", lines[1]), lines

    for cell, code in ((outputs[2], 3), (outputs[3], 5)):
        text = shown(cell)
        assert not errors(cell) and "Traceback" not in text, text
        final = [line for line in text.splitlines() if "FAILED" in line]
        assert len(final) == 1, text
        assert re.fullmatch(rf"job [0-9a-f]{{8}} 'broken-[a-z]+' on local: FAILED \(.+\): exited with code {code}",
                            final[0]), final
    stderr = [out.text for out in outputs[3] if out.output_type == "stream" and out.name == "stderr"]
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith("submit_job: nothing loaded into frame: the job did not succeed (%job_logs "), stderr


# --- the HTML repr --------------------------------------------------------------------------------------


def test_job_html_repr_escapes_every_text() -> None:
    job = Job(id="ab" * 16, backend="<i>local</i>", spec=JobSpec(command="true"), name="<b>x</b>",
              state=JobState.FAILED, native_status="exit<3>", message="<script>alert(1)</script> & more")  # fmt: skip
    page = job._repr_html_()
    for raw in ("<b>x</b>", "<i>local</i>", "<script>", "exit<3>"):
        assert raw not in page, raw
    for escaped in ("&lt;b&gt;x&lt;/b&gt;", "&lt;i&gt;local&lt;/i&gt;", "exit&lt;3&gt;", "ab" * 16,
                    "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"):  # fmt: skip
        assert escaped in page, escaped
    assert STATE_COLOURS["FAILED"] in page and ">FAILED</span>" in page
    for label in ("id", "name", "backend", "state", "native status", "created", "message"):
        assert f">{label}</th>" in page, label
    assert "started" not in page  # never started: no empty row


def test_job_html_repr_of_a_live_job(client) -> None:
    job = client.submit(command="echo shown", name="<b>x</b>").wait(timeout=TIMEOUT, progress=False)
    page = job._repr_html_()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert job.id in page and STATE_COLOURS["SUCCEEDED"] in page
    for label in ("backend", "native status", "created", "started", "finished", "elapsed"):
        assert f">{label}</th>" in page, label
    assert repr(job).startswith(f"<Job {job.id[:8]} local")  # the plain repr stays


# --- the README -----------------------------------------------------------------------------------------

README = REPO / "README.md"
#: ```python blocks are run in a kernel, top to bottom, unless a comment line before the block says
#: what else they are: ``<!-- readme-test: server-config -->`` (a jupyter_server_config.py, checked by
#: building its backends) or ``<!-- readme-test: skip -->``.
MARKER = re.compile(r"<!-- readme-test: ([a-z-]+) -->")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[tuple[str, str]]:
    """(kind, code) of each ```python block of the README; kind is "run" unless a marker says otherwise."""
    text = README.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        blocks.append((marker.group(1) if marker else "run", match.group(1)))
    return blocks


def test_readme_blocks_are_all_known() -> None:
    blocks = readme_blocks()
    kinds = [kind for kind, _ in blocks]
    assert set(kinds) <= {"run", "server-config", "skip"}, kinds
    runnable = [code for kind, code in blocks if kind == "run"]
    assert len(runnable) >= 2 and "to_pandas()" in runnable[0], runnable


def test_readme_snippets_run_as_printed(server: LiveServer, tmp_path: Path) -> None:
    runnable = [code for kind, code in readme_blocks() if kind == "run"]
    check = "print('df:', df.to_dict('list'))\nprint('state:', job.state.value)"
    outputs = run_cells([*runnable, check], server, tmp_path, timeout=180)
    for code, cell in zip(runnable, outputs[:-1], strict=True):  # the last cell is the check
        assert not errors(cell), (code, shown(cell))
    first = shown(outputs[0])
    assert "hi\n" in first and "SUCCEEDED" in first, first
    last = shown(outputs[-1])
    assert "df: {'n': [0, 1, 2, 3, 4], 'square': [0, 1, 4, 9, 16]}" in last, last
    assert "state: SUCCEEDED" in last
    assert server.token not in "".join(shown(cell) for cell in outputs)


def test_readme_server_config_snippets_configure_real_backends(tmp_path: Path) -> None:
    from traitlets.config import Config

    from jupyter_compute.backends.base import backend_class
    from jupyter_compute.errors import AuthError, Unavailable
    from jupyter_compute.server.app import ComputeApp

    traits = set(ComputeApp.class_trait_names(config=True))
    configs = [code for kind, code in readme_blocks() if kind == "server-config"]
    assert len(configs) >= 5
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    log = logging.getLogger("readme-test")
    log.addHandler(handler)
    built = set()
    for number, code in enumerate(configs):
        c = Config()
        exec(compile(code, "README.md", "exec"), {"c": c})
        assert set(c.ComputeApp) <= traits, (set(c.ComputeApp) - traits, code)
        for name, settings in c.ComputeApp.backends.items():
            settings = dict(settings)
            cls = backend_class(settings.pop("kind"))
            with contextlib.suppress(AuthError, Unavailable):  # its secret is not set here: the config was read
                cls(name, settings, data_dir=tmp_path / f"{number}-{name}", log=log)
            built.add(cls.kind)
    log.removeHandler(handler)
    assert not warnings, warnings  # e.g. "unknown config keys ignored"
    assert built >= {"local", "maap", "datastory", "modelarts", "ocean"}, built


def test_an_unbound_job_says_how_to_get_a_bound_one() -> None:
    job = Job(id="cd" * 16, backend="local", spec=JobSpec(command="true"))
    with pytest.raises(ComputeError) as caught:
        job.wait()
    assert "not bound to a Client" in str(caught.value) and "Client().job(" in str(caught.value)
    assert not isinstance(caught.value, (NotFound, InvalidSpec))
