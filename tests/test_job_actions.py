"""A job's detail (facts) and actions from the notebook: the client, the magics in a real kernel, and the
detail pane's facts table and action buttons, against a live `jupyter server` whose 'sched' backend is the
test platform of ``echo_backend.ScheduleBackend`` (a job tells its runs and notes; it offers 'note' while
it runs and 'rerun' once it ended, each with one required field).
"""

from __future__ import annotations

import functools
import html
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, start_live_server
from conftest import wait_for as poll
from jupyter_client import KernelManager
from test_magics import Kernel, assert_one_line_error

from jupyter_compute.client import Client
from jupyter_compute.errors import InvalidSpec, NotFound, NotSupported
from jupyter_compute.magics_line import parse_param
from jupyter_compute.widgets import JobMonitor
from jupyter_compute.widgets.actions import ActionBar, action_class
from jupyter_compute.widgets.facts import detail_text, facts_html, facts_text

TESTS = Path(__file__).resolve().parent
wait_for = functools.partial(poll, timeout=60.0, every=0.02)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server with the local backend and the schedule platform (found on the PYTHONPATH)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
        live = start_live_server(tmp_path_factory.mktemp("actions") / "jupyter",
                                 backends={"local": {"kind": "local"},
                                           "sched": {"kind": "echo_backend:ScheduleBackend"}})
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with server.client() as c:
        yield c


@pytest.fixture
def name() -> str:
    return "act" + uuid.uuid4().hex[:10]


# --- the client ---------------------------------------------------------------------------------


def test_detail_and_actions_through_the_client(client: Client, name: str) -> None:
    job = client.submit(backend="sched", name=name)  # this platform runs no program of ours
    detail = job.detail()
    assert detail["facts"] == {"runs": 1, "notes": [], "schedule": None}
    assert [a["name"] for a in detail["actions"]] == ["note"]
    note = detail["actions"][0]
    assert note["label"] == "Add a note" and note["fields"][0]["name"] == "text" and note["fields"][0]["required"]

    assert job.act("note", text="first") is job and job.state.value == "QUEUED"
    assert client.job_detail(job.id)["facts"]["notes"] == ["first"]

    with pytest.raises(InvalidSpec) as refused:
        client.act(job, "note")
    assert refused.value.field == "text" and "Note is required" in str(refused.value)
    with pytest.raises(NotSupported, match="does not offer 'rerun' now"):
        client.act(job.id, "rerun", reason="again")

    job.cancel()
    assert job.state.value == "CANCELLED"
    assert [a["name"] for a in job.detail()["actions"]] == ["rerun"]
    again = client.act(job.id, "rerun", reason="once more")
    assert again.state.value == "RUNNING" and not again.is_terminal and again.finished is None
    assert client.job_detail(again)["facts"]["runs"] == 2


def test_a_backend_without_detail_says_nothing_more_and_offers_no_action(client: Client, name: str) -> None:
    job = client.submit(command="true", name=name)
    assert job.detail() == {"facts": {}, "actions": []}
    with pytest.raises(NotSupported):
        job.act("rerun")
    with pytest.raises(NotFound):
        client.job_detail("0" * 32)


def test_values_named_like_the_arguments_reach_the_action(client: Client, name: str) -> None:
    job = client.submit(backend="sched", name=name)
    with pytest.raises(InvalidSpec) as refused:  # 'job' and 'action' are values here, not the arguments
        client.act(job.id, "note", job="x", action="y")
    assert refused.value.field == "text"


# --- showing facts --------------------------------------------------------------------------------


FACTS = {
    "predict url": "https://example.org/v1/infers/" + "x" * 200,
    "apis": [{"method": "POST", "path": "/predict", "apps": ["a", "b"]}, {"method": "GET", "path": "/health"}],
    "params": {"lr": 0.1, "layers": [1, 2], "note": "line one\nline two", "empty": {}},
    "ready": True,
    "schedule": None,
}


def test_facts_as_text_keep_every_value_whole_and_nested_values_indented() -> None:
    text = facts_text(FACTS)
    assert "predict url  https://example.org/v1/infers/" + "x" * 200 in text, "nothing is cut"
    assert "apis         - method: POST\n               path: /predict\n               apps: a, b\n" in text
    assert "\n             - method: GET\n" in text
    assert "params       lr: 0.1\n             layers: 1, 2\n             note:\n               line one\n" in text
    assert "empty: (none)" in text and "ready        true" in text and "schedule     —" in text
    assert detail_text({"facts": {}, "actions": []}) == "its platform says nothing more of this job"
    listed = detail_text({"facts": {"a": 1}, "actions": [{"name": "rerun", "label": "Run again", "help": "h",
                                                          "fields": [{"name": "reason", "required": True}]}]})
    assert listed.endswith("rerun: Run again (values: reason*) — h")


def test_facts_as_html_are_escaped_tables_with_nested_tables() -> None:
    page = facts_html({**FACTS, "<b>": "<script>"})
    assert page.startswith('<table class="jc-facts-table"') and "x" * 200 in page
    assert page.count('class="jc-fact-table"') == 3, "each object in a table of its own"
    assert "<ol" in page and "a, b" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert facts_html({}) == ""


def test_option_values_name_their_option_when_malformed() -> None:
    assert parse_param("model_id=abc") == ("model_id", "abc")
    assert parse_param("n=3", "--extra") == ("n", 3)
    for text, option, needle in (("kind", "--extra", "extra value 'kind' has no value: write --extra name=value"),
                                 ("=1", "--value", "value '=1' has no name: write --value name=value"),
                                 ("x", "--param", "parameter 'x' has no value")):
        with pytest.raises(Exception, match=needle):
            parse_param(text, option)


def test_the_action_bar_checks_the_form_before_running() -> None:
    ran: list[tuple[str, dict[str, Any]]] = []
    bar = ActionBar(lambda action, values: ran.append((action, values)))
    fields = [{"name": "text", "label": "Note", "type": "string", "required": True},
              {"name": "count", "label": "Count", "type": "integer", "min": 1}]
    bar.show([{"name": "note", "label": "Add a note", "fields": fields, "help": "a note"},
              {"name": "go on", "label": "Continue", "fields": []}])
    assert "jc-actions" in bar.buttons_box._dom_classes and bar.buttons_box.layout.display is None
    assert {"jc-action", action_class("note")} <= set(bar.buttons["note"]._dom_classes)
    assert "jc-action-go-on" in bar.buttons["go on"]._dom_classes
    assert bar.form_box.layout.display == "none"

    bar.buttons["note"].click()
    assert bar.opened == "note" and bar.form_box.layout.display is None and "jc-action-form" in bar.form_box._dom_classes
    assert "jc-field-text" in bar.controls["text"].widget._dom_classes and bar.run_button.description == "Add a note"
    bar.set_values(count=0)
    assert not bar.run() and not ran
    assert "Note is required" in bar.messages["text"].value and "Count" in bar.messages["count"].value
    bar.set_values(text="hello", count=None)
    bar.run_button.click()
    assert ran == [("note", {"text": "hello"})], "only the values given are sent"
    assert bar.run_button.disabled, "no second run while the first is on its way"
    bar.finished("note", InvalidSpec("too short", field="text"))
    assert "too short" in bar.messages["text"].value and not bar.run_button.disabled
    bar.finished("note")
    assert bar.opened is None and bar.form_box.layout.display == "none"

    bar.buttons["go on"].click()
    assert bar.fields_box.children == () and bar.run()  # no fields: the Run click is the confirmation
    assert ran[-1] == ("go on", {})
    bar.disable("Read-only: gone")
    assert bar.buttons["note"].disabled and bar.buttons["note"].tooltip == "Read-only: gone" and bar.opened is None
    bar.show([])
    assert bar.buttons == {} and bar.buttons_box.layout.display == "none"
    bar.close()


# --- the detail pane ------------------------------------------------------------------------------


def test_the_detail_pane_shows_facts_and_runs_actions(client: Client, name: str) -> None:
    job = client.submit(backend="sched", name=name)
    # Not live: the pane hears of the job only through its own calls, so the cancel made elsewhere
    # below stays unseen until an action is refused for it.
    monitor = JobMonitor(client, q=name, namespace={}, live=False)
    try:
        row = wait_for(lambda: monitor.rows.get(job.id), "the job's row")
        row.select_button.click()
        detail = monitor.detail
        bar = detail.action_bar
        wait_for(lambda: "runs" in detail.facts.value, "the facts table")
        assert "jc-facts" in detail.facts._dom_classes and "jc-facts-table" in detail.facts.value
        note = wait_for(lambda: bar.buttons.get("note"), "the note button")
        assert action_class("note") in note._dom_classes and not note.disabled

        note.click()
        bar.run_button.click()
        assert "Note is required" in bar.messages["text"].value, "checked before anything is sent"
        bar.set_values(text="checked by hand")
        bar.run_button.click()
        wait_for(lambda: "checked by hand" in detail.facts.value, "the note in the facts after the action")
        assert bar.opened is None and detail.error.value == ""

        wait_for(lambda: bar.buttons.get("note"), "the note button after the refresh").click()
        bar.set_values(text="too late")
        client.cancel(job.id)  # meanwhile, elsewhere: the job ends and offers 'note' no more
        bar.run_button.click()
        wait_for(lambda: "does not offer" in detail.error.value, "the refusal as the pane's red line")
        assert f'cannot run "Add a note" on job {job.id[:8]}: ' in html.unescape(detail.error.value)
        assert "jc-error" in detail.error._dom_classes and bar.opened == "note", "the form stays, to read"

        detail.refresh_detail()
        rerun = wait_for(lambda: bar.buttons.get("rerun"), "the rerun button once the job has ended")
        assert "note" not in bar.buttons and bar.opened is None
        rerun.click()
        bar.set_values(reason="after the cancel")
        bar.run_button.click()
        wait_for(lambda: detail.job is not None and detail.job.state.value == "RUNNING", "the job running again")
        wait_for(lambda: "note" in bar.buttons and ">2<" in detail.facts.value, "a running job's facts and actions")
        static = detail._repr_html_()
        assert "jc-facts-table" in static and "jc-actions-table" in static and "checked by hand" in static
    finally:
        monitor.close()


def test_a_live_pane_follows_the_actions_a_job_offers(client: Client, name: str) -> None:
    monitor = JobMonitor(client, q=name, namespace={})
    try:
        job = client.submit(backend="sched", name=name)
        wait_for(lambda: monitor.rows.get(job.id), "the job's row").select_button.click()
        bar = monitor.detail.action_bar
        wait_for(lambda: "note" in bar.buttons, "the note button of a waiting job")
        client.cancel(job.id)  # elsewhere: the pushed change brings the actions of an ended job
        wait_for(lambda: list(bar.buttons) == ["rerun"], "the rerun button of the cancelled job")
        monitor.detail.show_deleted(job.id)
        assert bar.buttons["rerun"].disabled and bar.buttons["rerun"].tooltip == "The job was deleted"
    finally:
        monitor.close()


def test_the_pane_names_the_field_a_server_refused(client: Client, name: str) -> None:
    monitor = JobMonitor(client, q=name, namespace={})
    try:
        job = client.submit(backend="sched", name=name)
        row = wait_for(lambda: monitor.rows.get(job.id), "the job's row")
        row.select_button.click()
        detail, bar = monitor.detail, monitor.detail.action_bar
        wait_for(lambda: bar.buttons.get("note"), "the note button").click()
        # A form that lets the value through, as an older kernel's copy of the form might: the server refuses it.
        bar.form = bar.form.__class__(fields=())
        bar.run_button.click()
        wait_for(lambda: "(field 'text')" in html.unescape(detail.error.value), "the server's refusal naming the field")
        assert "Note is required" in bar.messages["text"].value
    finally:
        monitor.close()


# --- the magics -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel(server: LiveServer) -> Iterator[Kernel]:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=server.kernel_env(), cwd=str(Path(server.env["JUPYTER_RUNTIME_DIR"]).parent / "root"))
    k = Kernel(manager)
    try:
        out = k.run("%load_ext jupyter_compute")
        assert not out.text.strip(), out.text
        yield k
    finally:
        k.close()


def test_magics_submit_without_a_program_show_detail_and_run_actions(kernel: Kernel, client: Client, name: str) -> None:
    out = kernel.run(f"%submit_job -b sched --name {name} -x kind=batch-service -x replicas=2 -x 'ids=[1, 2]'")
    assert out.stdout.startswith("Submitted job ") and not out.stderr, out.text
    job = next(iter(client.jobs(q=name)))
    assert job.spec.extra == {"kind": "batch-service", "replicas": 2, "ids": [1, 2]}
    assert job.spec.command is None and job.spec.code is None

    out = kernel.run("%job_detail")  # the job last submitted
    assert not out.stderr and not out.error, out.text
    assert "runs      1" in out.data and "notes     (none)" in out.data and "note: Add a note (values: text*)" in out.data

    out = kernel.run(f'%job_action {job.id[:10]} note -v text="from the magic"')
    assert out.stdout.strip().startswith(f"job {job.id[:8]}") and "QUEUED" in out.stdout and not out.stderr, out.text
    assert client.job_detail(job.id)["facts"]["notes"] == ["from the magic"]
    assert_one_line_error(kernel.run("%job_action note"), "job_action", "Note is required", "(field 'text')")
    assert_one_line_error(kernel.run("%job_action rerun -v reason=x"), "job_action", "does not offer 'rerun' now")
    assert_one_line_error(kernel.run("%job_action"), "job_action", "give the action to run")
    assert_one_line_error(kernel.run("%job_action note -v text"), "job_action", "value 'text' has no value")

    client.cancel(job.id)
    out = kernel.run(f"%job_action {job.id[:10]} rerun -v reason=again")
    assert "RUNNING" in out.stdout and not out.stderr, out.text
    assert "runs      2" in kernel.run(f"%job_detail {job.id[:10]}").data


def test_magics_a_program_is_needed_only_where_the_server_says_so(kernel: Kernel, client: Client, name: str) -> None:
    before = client.jobs(limit=1).total
    out = kernel.run(f"%submit_job --wait --name {name}")  # the local backend runs a program
    assert_one_line_error(out, "submit_job", "give exactly one of", "(field 'command')")
    assert_one_line_error(kernel.run("%submit_job -x kind echo hi"), "submit_job", "extra value 'kind' has no value")
    assert client.jobs(limit=1).total == before
    assert "its platform says nothing more" in kernel.run("%job_detail " + client.submit(command="true").id).data


def test_magics_help(kernel: Kernel) -> None:
    text = " ".join(kernel.run("%submit_job --help").stdout.split())
    assert "-x <NAME=VALUE>, --extra <NAME=VALUE>" in text and "extra.NAME" in text and "Leave it out" in text
    text = " ".join(kernel.run("%job_action --help").stdout.split())
    assert "%job_action [-h] [-v NAME=VALUE]" in text and "%job_detail lists" in text
    assert "id" in text and "action" in text
    text = " ".join(kernel.run("%job_detail --help").stdout.split())
    assert "%job_detail [-h]" in text and "facts" in text
    assert "job_action" in kernel.run("%job_action?").data
