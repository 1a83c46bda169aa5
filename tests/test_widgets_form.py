"""The notebook panels (pickers, submit form, compute panel) against a live `jupyter server`.

The widgets live in the test process (no kernel: ipywidgets works without a front end) and
talk to one real server subprocess with the extension for the whole module; clicks are
``button.click()``. The panels notebook is run last, in a real kernel, with nbclient.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import ipywidgets as W
import nbformat
import pytest
from conftest import MA_BUCKET, REPO, LiveServer, start_live_server, wait_for
from IPython.core.formatters import DisplayFormatter
from nbclient import NotebookClient

from jupyter_compute import forms
from jupyter_compute.client import Client
from jupyter_compute.forms import field_types
from jupyter_compute.models import Environment, JobState
from jupyter_compute.widgets import (
    ClusterPicker,
    ComputePanel,
    EnvironmentPicker,
    JobMonitor,
    SubmitForm,
    register_field_type,
)
from jupyter_compute.widgets import form as form_module
from jupyter_compute.widgets._util import fmt_number
from jupyter_compute.sandbox.modelarts.workflows import TRAIN_APPROVE_ID
from test_modelarts_server import ENV as MA_ENV
from test_modelarts_server import backend_config as ma_backend_config

SUBMITTED = re.compile(r"^Submitted job ([0-9a-f]{8}) '(.*)': (QUEUED|RUNNING|SUCCEEDED)$")
TAGS = re.compile(r"<[^>]+>")


def text(widget: W.HTML) -> str:
    """What an HTML widget shows, as plain text."""
    import html

    return html.unescape(TAGS.sub("", widget.value)).replace("\u00a0", " ")


@pytest.fixture(scope="module")
def server(module_server: LiveServer) -> LiveServer:
    return module_server


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with server.client() as c:
        yield c


def job_total(client: Client) -> int:
    return client.jobs(limit=1).total


def field_errors(form: SubmitForm) -> dict[str, str]:
    return {name: text(message) for name, message in form.messages.items() if message.value}


# --- the form -----------------------------------------------------------------------------------


def test_local_form_renders_a_widget_for_each_field(client):
    form = SubmitForm(client)
    declared = client.form("local")
    assert [f.name for f in declared.fields] == list(form.controls)
    assert form.backend == "local" and form.backend_select.value == "local"
    assert "local" in form.backend_select.options
    for field in declared.fields:
        widget = form.controls[field.name].widget
        assert f"jc-field-{field.name.replace('.', '-')}" in widget._dom_classes
        assert field.label in widget.description
        assert "jc-field-error" in form.messages[field.name]._dom_classes
    kinds = {name: type(control.widget) for name, control in form.controls.items()}
    assert kinds["command"] is W.Textarea and kinds["code"] is W.Textarea and kinds["params"] is W.Textarea
    assert "jc-code-input" in form.controls["code"].widget._dom_classes  # monospace
    assert kinds["environment"] is W.Dropdown and kinds["cluster"] is W.Dropdown
    assert kinds["timeout_s"] is W.Text and kinds["name"] is W.Text and kinds["tags"] is W.Text
    assert form.controls["command"].widget.tooltip.startswith("Run with /bin/sh")  # help as tooltip
    # defaults filled in; the one_of rule is the program selector (its kinds, one field shown)
    assert form.values()["environment"] == "local" and form.values()["cluster"] == "localhost"
    assert [kind for _, kind in form.program.widget.options] == ["command", "script", "code", "notebook"]
    assert text(form.hint) == ""
    # the environment and cluster fields are bound to pickers
    assert isinstance(form.environment_picker, EnvironmentPicker) and form.environment_picker.value == "local"
    assert isinstance(form.cluster_picker, ClusterPicker) and form.cluster_picker.value == "localhost"
    assert "jc-submit" in form.submit_button._dom_classes and "jc-submit-status" in form.status._dom_classes
    form.close()


def test_empty_form_shows_the_one_of_message_at_command_and_sends_nothing(client):
    before = job_total(client)
    form = SubmitForm(client)
    form.submit_button.click()
    errors = field_errors(form)
    assert list(errors) == ["command"]
    assert errors["command"] == "give exactly one of Shell command or Python script or Python code or Notebook"
    assert "1 field to fix" in text(form.error)
    assert form.last_job is None and form.status.value == ""
    assert job_total(client) == before
    form.close()


def test_out_of_range_number_shows_at_its_field(client):
    before = job_total(client)
    form = SubmitForm(client)
    form.controls["command"].widget.value = "echo never"
    form.controls["timeout_s"].widget.value = "0.5"  # typed as text, as a user would
    form.submit_button.click()
    assert field_errors(form) == {"timeout_s": "Time limit (s) must be at least 1"}
    form.controls["timeout_s"].widget.value = "soon"
    form.submit_button.click()
    assert field_errors(form) == {"timeout_s": "Time limit (s) must be a number"}
    form.controls["params"].widget.value = "rows=3\nnot a pair"
    form.controls["timeout_s"].widget.value = ""
    form.submit_button.click()
    assert field_errors(form) == {"params": "Parameters must be a set of key=value pairs"}
    assert job_total(client) == before and form.last_job is None
    # fixing the fields clears the messages
    form.controls["params"].widget.value = ""
    assert form.check() == {} and field_errors(form) == {} and form.error.value == ""
    form.close()


def test_a_valid_command_is_submitted_and_succeeds(client):
    before = job_total(client)
    form = SubmitForm(client)
    form.controls["command"].widget.value = "echo from-the-form"
    form.controls["name"].widget.value = "form job"
    form.controls["params"].widget.value = "rows=3\nlabel=x y\nflags=[1, 2]"
    form.controls["tags"].widget.value = "widgets, form"
    form.controls["timeout_s"].widget.value = "60"
    seen = []
    form.observe(lambda change: seen.append(change["new"]), "last_job")
    form.submit_button.click()
    assert field_errors(form) == {} and form.error.value == ""
    match = SUBMITTED.match(text(form.status))
    assert match, text(form.status)
    job = form.last_job
    assert seen == [job] and match.group(1) == job.id[:8] and match.group(2) == "form job"
    assert job.wait(timeout=60, progress=False).state is JobState.SUCCEEDED
    assert job.spec.command == "echo from-the-form" and job.spec.timeout_s == 60
    assert job.spec.params == {"rows": 3, "label": "x y", "flags": [1, 2]}
    assert job.tags == ["widgets", "form"] and job.spec.environment == "local"
    assert "from-the-form" in job.logs()
    assert job_total(client) == before + 1
    form.close()


def test_a_server_refusal_shows_at_the_field_it_names(client, tmp_path):
    before = job_total(client)
    form = SubmitForm(client)
    missing = tmp_path / "does-not-exist.py"
    form.controls["script"].widget.value = str(missing)
    form.submit_button.click()
    errors = field_errors(form)
    assert list(errors) == ["script"] and "no such script file" in errors["script"], errors
    assert "the server refused the job" in text(form.error)
    assert form.last_job is None and job_total(client) == before
    form.close()


def test_an_error_without_a_field_is_one_red_line(server):
    # A server that is not there: the widgets say so in one line, and raise nothing.
    dead = Client("http://127.0.0.1:9/nothing/", "x", timeout=2, retries=0)
    form = SubmitForm(dead)
    assert "cannot reach the Jupyter server" in text(form.error)
    assert "Traceback" not in form.error.value and "#c62828" in form.error.value
    form.submit_button.click()  # disabled in the browser; a click from code does nothing either
    assert form.last_job is None
    picker = EnvironmentPicker(dead)
    assert "cannot reach" in text(picker.message)
    panel = ComputePanel(dead)
    assert "cannot reach" in text(panel.form.error)
    for widget in (form, picker, panel):
        widget.close()


def test_an_unknown_backend_is_said_and_the_first_one_shown(client):
    form = SubmitForm(client, backend="nowhere")
    assert form.backend == "local" and "command" in form.controls
    assert "no backend 'nowhere' on the server (there are: local)" in text(form.error)
    form.close()


def test_copy_as_code_writes_a_call_and_a_magic_that_submit_the_same_spec(client, server, monkeypatch):
    form = SubmitForm(client)
    form.set_values(command="echo copied; echo $HOME", name="copied", params={"n": 3, "word": "3", "s": "a b"},
                    tags=["copy"], timeout_s=30)
    form.code_button.click()
    assert "jc-code" in form.code_area._dom_classes and form.code_area.layout.display is None
    code = form.code_area.value
    python, magic = code.split("# IPython magic")
    assert "Client().submit(" in python
    magic_line = magic.splitlines()[1]
    assert magic_line == (
        "%submit_job --backend local --env local --cluster localhost --name copied "
        "--param n=3 --param 'word=\"3\"' --param 's=a b' --tag copy --timeout 30 echo copied; echo $HOME"
    )
    expected = form.spec()

    # The Python call, run as it is with a client that finds the server from the environment.
    monkeypatch.setenv("JUPYTER_COMPUTE_URL", server.url)
    monkeypatch.setenv("JUPYTER_COMPUTE_TOKEN", server.token)
    namespace: dict = {}
    exec(python, namespace)
    from_python = namespace["job"]
    assert_same_spec(from_python.spec, expected)

    # The magic line, run by the real magics.
    from_magic = run_magic(client, magic_line)
    assert_same_spec(from_magic.spec, expected)
    for job in (from_python, from_magic):
        assert job.wait(timeout=60, progress=False).state is JobState.SUCCEEDED
    form.close()


def test_copy_as_code_writes_the_cell_magic_for_inline_code(client):
    form = SubmitForm(client)
    source = "import os\nprint('inline', os.environ['JUPYTER_COMPUTE_PARAM_K'])"
    form.set_values(code=source, params={"k": "v"})
    text_ = form.copy_as_code()
    magic = text_.split("# IPython magic")[1].split("\n", 1)[1]
    first, body = magic.split("\n", 1)
    assert first == "%%submit_job --backend local --env local --cluster localhost --param k=v"
    assert body.rstrip("\n") == source
    job = run_magic(client, first, body.rstrip("\n"))  # a pasted cell's body
    assert_same_spec(job.spec, form.spec())
    assert job.wait(timeout=60, progress=False).state is JobState.SUCCEEDED
    assert "inline v" in job.logs()
    form.close()


def test_copy_as_code_keeps_double_spaces(client):
    form = SubmitForm(client)
    form.set_values(command="printf '%s|' 'a  b'", name="two  spaces", params={"s": "x  y"})
    magic = form.copy_as_code().split("# IPython magic")[1].splitlines()[1]
    assert magic == (
        "%submit_job --backend local --env local --cluster localhost --name 'two  spaces' "
        "--param 's=x  y' printf '%s|' 'a  b'"
    )
    job = run_magic(client, magic)
    assert_same_spec(job.spec, form.spec())
    assert job.wait(timeout=60, progress=False).state is JobState.SUCCEEDED and job.logs() == "a  b|"
    form.close()


def test_copy_as_code_writes_no_magic_line_for_a_command_of_several_lines(client, server, monkeypatch):
    form = SubmitForm(client)
    command = "for word in one two; do\n  echo $word\ndone | tr a-z A-Z"
    form.set_values(command=command, name="multi")
    python, magic = form.copy_as_code().split("# IPython magic")
    assert "%submit_job" not in magic.split("\n", 1)[1].replace("# %submit_job cannot", "")
    assert "cannot run a shell command of several lines" in magic
    monkeypatch.setenv("JUPYTER_COMPUTE_URL", server.url)
    monkeypatch.setenv("JUPYTER_COMPUTE_TOKEN", server.token)
    namespace: dict = {}
    exec(python, namespace)
    job = namespace["job"].wait(timeout=60, progress=False)
    assert job.state is JobState.SUCCEEDED and job.logs() == "ONE\nTWO\n" and job.spec.command == command
    form.close()


def test_a_double_click_on_submit_submits_once(client):
    before = job_total(client)
    form = SubmitForm(client)
    form.set_values(command="true", name="clicked twice")
    form.submit_button.click()
    form.submit_button.click()
    assert job_total(client) == before + 1 and "already" in text(form.status)
    first = form.last_job
    form.set_values(name="clicked again")  # a changed value: a new submission
    form.submit_button.click()
    assert job_total(client) == before + 2 and form.last_job.id != first.id and "already" not in text(form.status)
    for job in (first, form.last_job):
        job.wait(timeout=60, progress=False)
    form.close()


def test_unknown_field_types_and_failing_factories_become_text_boxes(client, monkeypatch):
    monkeypatch.setattr(form_module, "_REGISTRY", dict(form_module._REGISTRY))

    def broken(field):
        raise RuntimeError("factory bug")

    register_field_type("path", broken)
    served = client.form("local").to_dict()
    served["fields"] += [
        {"name": "extra.colour", "label": "Colour", "type": "colour-from-the-future"},
        {"name": "extra.queue", "label": "Queue", "type": "choice", "required": True, "default": "q1",
         "choices": []},
    ]
    declared = forms.Form.from_dict(served)  # a newer server's form: read, not refused
    colour = declared.field("extra.colour")
    assert colour.type == "colour-from-the-future" and declared.has("extra.colour") and not declared.has("x")
    assert forms.check_values(declared, {"extra.colour": 3})["extra.colour"] == "Colour must be text"
    monkeypatch.setattr(client, "form", lambda backend="local": declared)
    form = SubmitForm(client)
    assert form.error.value == ""
    for name in ("script", "notebook", "extra.colour", "extra.queue"):
        widget = form.controls[name].widget
        assert isinstance(widget, W.Text) and f"jc-field-{name.replace('.', '-')}" in widget._dom_classes, name
    help_texts = {row.children[0].children[0].description: text(row.children[0].children[1])
                  for row in form.fields_box.children if "jc-field-row" in row._dom_classes}
    assert "shown as text (factory bug)" in help_texts["Python script"]
    assert "shown as text (the server lists no choices for 'Queue')" in help_texts["Queue *"]
    form.set_values(**{"extra.colour": "#00ff00", "command": "true"})
    assert form.spec()["extra"] == {"colour": "#00ff00"}
    form.close()


def test_pickers_keep_an_id_they_do_not_list(client):
    environments, clusters = EnvironmentPicker(client), ClusterPicker(client)
    environments.choose("not-listed")
    clusters.choose("not-listed")
    assert environments.value == "not-listed" and environments.environment is None
    assert clusters.value == "not-listed" and clusters.cluster is None
    assert "not among the environments listed" in text(environments.details)
    environments.choose("local")
    assert environments.environment.id == "local"
    for picker in (environments, clusters):
        picker.close()
    form = SubmitForm(client)
    form.set_values(environment="my-own-env")  # typed into the field: the picker does not undo it
    assert form.values()["environment"] == "my-own-env" and form.environment_picker.value == "my-own-env"
    form.close()


def assert_same_spec(spec, expected: dict) -> None:
    got = {k: v for k, v in spec.to_dict().items() if v not in (None, "", [], {})}
    assert got == {k: v for k, v in expected.items() if v not in (None, "", [], {})}


def run_magic(client: Client, line: str, cell: str | None = None):
    """Run a ``%submit_job`` line (or ``%%submit_job`` cell) with the real magics; the job it submitted."""
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_compute.magics import LAST_JOB_VAR, ComputeMagics

    shell = InteractiveShell.instance()
    magics = ComputeMagics(shell, client=client)
    prefix = "%%submit_job" if cell is not None else "%submit_job"
    assert line.startswith(prefix)
    shell.user_ns.pop(LAST_JOB_VAR, None)
    magics.submit_job(line[len(prefix):].strip(), cell)
    return shell.user_ns[LAST_JOB_VAR]


# --- a form that follows the choices -------------------------------------------------------------------


@pytest.fixture
def modelarts_server(tmp_path, modelarts, obs, monkeypatch) -> Iterator[LiveServer]:
    """A live server with a ModelArts backend on the sandbox (its keys in the server's environment only)."""
    for name, value in MA_ENV.items():
        monkeypatch.setenv(name, value)
    server = start_live_server(tmp_path / "jupyter", backends={"ma": ma_backend_config(modelarts.base_url, obs)})
    for name in MA_ENV:
        monkeypatch.delenv(name)
    yield server
    server.stop()


#: The job name typed before the form changes: every rebuilt form keeps it (the last thing a rebuild does).
TYPED_NAME = "chosen in the panel"


def shown(form: SubmitForm, name: str):
    """The control of field ``name`` once the form, fetched again in the background, shows it (built, and
    the name typed before put back)."""
    def built():
        return form.values().get("name") == TYPED_NAME and form.controls.get(name)

    return wait_for(built, f"the field {name} ({form.error_text or 'no error'}; fields: {', '.join(form.controls)})",
                    timeout=60)


def test_choosing_a_workflow_shows_its_parameters_and_submits(modelarts_server):
    with modelarts_server.client() as client:
        form = SubmitForm(client, backend="ma", pickers=False)
        assert "script" in form.controls and "extra.workflow_id" not in form.controls  # a training job's form
        form.controls["name"].widget.value = TYPED_NAME  # typed before the form changes: kept
        form.controls["extra.kind"].set("workflow")
        workflows = shown(form, "extra.workflow_id").widget
        assert "script" not in form.controls and form.error_text == ""
        assert (f"train-then-approve — {TRAIN_APPROVE_ID}", TRAIN_APPROVE_ID) in workflows.options
        assert len([value for _, value in workflows.options if value]) == 23
        workflows.value = TRAIN_APPROVE_ID
        epochs = shown(form, "params.epochs")
        assert form.values()["extra.workflow_id"] == TRAIN_APPROVE_ID and form.values()["extra.kind"] == "workflow"
        assert isinstance(form.controls["params.use_gpu"].widget, W.Checkbox)
        assert form.controls["params.optimizer"].widget.value == "adam" and epochs.get() == 3
        assert "training_data" in form.controls["inputs"].widget.tooltip
        epochs.widget.value = "2"
        form.controls["inputs"].widget.value = f"training_data=obs://{MA_BUCKET}/data/train/"
        job = form.submit()
        assert job is not None, form.error_text
        try:
            assert job.spec.extra == {"kind": "workflow", "workflow_id": TRAIN_APPROVE_ID}
            assert job.spec.params == {"learning_rate": 0.01, "epochs": 2, "use_gpu": False, "optimizer": "adam"}
            assert job.name == TYPED_NAME and job.remote_id.startswith(f"execution:{TRAIN_APPROVE_ID}/")
        finally:
            client.cancel(job)
        form.close()
    modelarts_server.checked_log(MA_ENV.values())


def test_a_choice_the_server_cannot_follow_is_the_red_line(modelarts_server):
    with modelarts_server.client() as client:
        form = SubmitForm(client, backend="ma", pickers=False)
        form.controls["name"].widget.value = TYPED_NAME
        form.controls["extra.kind"].set("workflow")
        shown(form, "extra.workflow_id").set("no-such-workflow")  # (not one the server listed)
        wait_for(lambda: "no-such-workflow" in form.error_text, "the red line", timeout=60)
        assert form.error_text.startswith("cannot load the form of 'ma' for these choices:"), form.error_text
        assert "params.epochs" not in form.controls
        form.controls["extra.kind"].set("batch-service")  # another choice: the form follows, the line goes
        shown(form, "extra.model_id")
        wait_for(lambda: form.error_text == "", "the red line cleared")
        assert "extra.workflow_id" not in form.controls and form.controls["environment"].get() == "modelarts.vm.cpu.2u"
        form.close()


# --- pickers ------------------------------------------------------------------------------------


def fake_env(id_: str, cpus: float | None, memory: float | None, gpus: int | None = None, **kw) -> Environment:
    return Environment(id=id_, name=kw.pop("name", id_), backend=kw.pop("backend", "fake"), cpus=cpus,
                       memory_gb=memory, gpus=gpus, **kw)


def test_environment_picker_lists_filters_sorts_and_chooses(client):
    picker = EnvironmentPicker(client)
    assert "jc-env-picker" in picker._dom_classes
    (local,) = picker.environments
    assert local.id == "local" and local.backend == "local" and local.cpus >= 1
    cells = picker.table.cells(local)
    assert cells[:2] == ["local", "This machine"]
    assert fmt_number(local.cpus) in cells and fmt_number(local.memory_gb) in cells
    assert cells[-1] == f"{local.running_jobs} / {local.max_jobs}"
    headings = [h.description for h in picker.table.headings.values()]
    assert "CPUs" in headings and "memory GB" in headings
    assert picker.value is None and picker.environment is None

    # choosing a row sets the trait others observe
    seen = []
    picker.observe(lambda change: seen.append(change["new"]), "value")
    picker.table.rows[("local", "local")].children[1].click()
    assert picker.value == "local" and seen == ["local"] and picker.environment.cpus == local.cpus
    assert "This machine" in text(picker.details)

    # filter and sort (with environments of another, made-up backend next to the real one)
    picker.environments = [
        local,
        fake_env("small", 2, 4, name="cpu-small", price=0.1),
        fake_env("gpu", 8, 64, gpus=2, gpu_type="A100", name="gpu-big", price=3.0),
        fake_env("unknown", None, None, name="mystery"),
    ]
    picker.filter.value = "a100"
    assert [e.id for e in picker.shown] == ["gpu"]
    assert "2 × A100" in picker.table.cells(picker.shown[0])
    picker.filter.value = "fake"
    assert [e.id for e in picker.shown] == ["small", "gpu", "unknown"]  # by name
    assert picker.value == "local"  # the choice stays, filtered out
    picker.table.headings["memory_gb"].click()
    assert [e.id for e in picker.shown] == ["small", "gpu", "unknown"]  # unknown values last
    picker.table.headings["memory_gb"].click()
    assert [e.id for e in picker.shown] == ["gpu", "small", "unknown"]  # ... in both directions
    shown_rows = [[cell.description for cell in row.children[1:]] for row in picker.table.children[1:]]
    assert shown_rows == [picker.table.cells(e) for e in picker.shown]
    picker.filter.value = ""
    picker.table.headings["price"].click()
    assert [e.id for e in picker.shown] == ["small", "gpu", "local", "unknown"]
    picker.table.headings["price"].click()
    assert [e.id for e in picker.shown] == ["gpu", "small", "local", "unknown"]
    assert "jc-selected" in picker.table.rows[("local", "local")]._dom_classes  # highlighted again

    picker.choose("gpu", backend="fake")
    assert picker.value == "gpu" and picker.environment.gpu_type == "A100"
    picker.close()


def test_cluster_picker_shows_capacity_nodes_and_chooses(client):
    picker = ClusterPicker(client)
    assert "jc-cluster-picker" in picker._dom_classes
    (cluster,) = picker.clusters
    assert cluster.id == "localhost" and cluster.status == "running"
    row = picker.rows.children[1]  # under the heading of its backend
    card = row.children[1].children[0]
    shown = text(card)
    assert f"{cluster.cpus_allocatable:g} / {cluster.cpus:g} CPU free" in shown
    assert "GB memory free" in shown and "● running" in shown
    assert "width:" in card.value  # the bars

    assert not any("jc-cluster-nodes" in w._dom_classes for w in picker.rows.children[1].children[1].children)
    picker.nodes_toggle.value = True
    nodes = [w for w in picker.rows.children[1].children[1].children if "jc-cluster-nodes" in w._dom_classes]
    assert len(nodes) == 1 and cluster.raw["hostname"] in text(nodes[0])

    (button,) = [b for _, b in picker._buttons]
    assert "jc-cluster-option" in button._dom_classes
    button.value = True  # a click on the toggle
    assert picker.value == "localhost" and picker.cluster.id == "localhost"
    button = picker._buttons[0][1]
    button.value = False
    assert picker.value is None
    picker.choose("localhost")
    assert picker._buttons[0][1].value is True
    picker.close()


def test_pickers_fill_the_form_fields(client):
    form = SubmitForm(client)
    form.set_values(environment=None, cluster=None)
    assert form.values()["environment"] is None
    form.environment_picker.table.rows[("local", "local")].children[1].click()
    assert form.values()["environment"] == "local"
    form.cluster_picker._buttons[0][1].value = False
    form.cluster_picker._buttons[0][1].value = True
    assert form.values()["cluster"] == "localhost"
    # and the picker follows the field
    form.environment_picker.choose(None)
    form.set_values(environment="local")
    assert form.environment_picker.value == "local"
    form.close()


# --- the registry ---------------------------------------------------------------------------------


def test_register_field_type_replaces_and_adds_renderers(client, monkeypatch):
    monkeypatch.setattr(form_module, "_REGISTRY", dict(form_module._REGISTRY))
    made = []

    def path_combobox(field):
        widget = W.Combobox(options=["/data/a.py", "/data/b.py"], description=field.label)
        widget.add_class("my-path")
        made.append(field.name)
        return widget  # a plain widget: its value is the field's value

    register_field_type("path", path_combobox)
    form = SubmitForm(client)
    assert made == ["script", "notebook"]
    assert "my-path" in form.controls["script"].widget._dom_classes
    assert "jc-field-script" in form.controls["script"].widget._dom_classes
    form.controls["script"].widget.value = "/data/a.py"
    assert form.values()["script"] == "/data/a.py" and form.values()["notebook"] is None
    assert form.spec()["script"] == "/data/a.py"
    form.close()

    # a type of its own is one FieldType class: the server's check, its JSON Schema and its widget
    monkeypatch.setattr(field_types, "_TYPES", dict(field_types._TYPES))

    class ColourType(forms.FieldType):
        name = "colour"

        def type_problem(self, value, form_field):
            return None if re.fullmatch("#[0-9a-f]{6}", str(value)) else "must be a colour like #ff0000"

        def value_schema(self, form_field, *, given):
            return {"type": "string", "pattern": "^#[0-9a-f]{6}$"}

        def widget(self, form_field):
            return form_module.FieldControl(W.ColorPicker(description=form_field.label))

    colour = forms.FormField("extra.colour", "Colour", "colour", default="#ff0000")
    control = form_module.field_control(colour)
    assert isinstance(control.widget, W.ColorPicker) and control.get() == "#ff0000"
    control.widget.value = "red"
    assert forms.check_values(forms.Form(fields=(colour,)), {"extra.colour": control.get()}) == {
        "extra.colour": "Colour must be a colour like #ff0000"}
    with pytest.raises(TypeError):
        register_field_type("x", "not a factory")  # type: ignore[arg-type]


def test_field_parsers():
    parse_number, parse_mapping = form_module.parse_number, form_module.parse_mapping
    assert parse_number(" ") is None and parse_number("3") == 3 and parse_number("2.5") == 2.5
    assert parse_number("3.0", integer=True) == 3 and parse_number("x") == "x"
    assert parse_mapping("") is None
    assert parse_mapping("a=1\n# note\n\nb = two words\nc=[1,2]\nd=\"7\"") == {
        "a": 1, "b": "two words", "c": [1, 2], "d": "7"}
    assert parse_mapping("a=1\nb") == "a=1\nb"
    values = {"a": 1, "b": "two words", "c": [1, 2], "d": "7", "e": True}
    assert parse_mapping(form_module.format_mapping(values)) == values
    assert form_module.parse_tags(" a, ,b ") == ["a", "b"] and form_module.parse_tags("") is None


# --- fallbacks and the panel ------------------------------------------------------------------------


def test_static_fallbacks(client):
    formatter = DisplayFormatter()
    picker, clusters, form = EnvironmentPicker(client), ClusterPicker(client), SubmitForm(client)
    for widget, words in (
        (picker, ["<table", "This machine", "CPUs"]),
        (clusters, ["<table", "CPU free", "running"]),
        (form, ["<table", "Program", "Shell command", "Time limit (s)"]),
    ):
        data, _ = formatter.format(widget)
        assert "application/vnd.jupyter.widget-view+json" in data  # the live widget first
        for word in words:
            assert word in data["text/html"], (type(widget).__name__, word)
        assert data["text/plain"] == repr(widget)
    assert repr(picker) == "<EnvironmentPicker all backends: 1 environments>"
    assert repr(form) == "<SubmitForm local: 10 fields, filled cluster, environment>"
    for widget in (picker, clusters, form):
        widget.close()


def test_compute_panel_tabs_and_links(client):
    panel = ComputePanel(client)
    try:
        assert isinstance(panel, W.Tab) and "jc-panel" in panel._dom_classes
        assert panel.titles == ("Submit", "Environments", "Clusters", "Jobs")
        assert panel.children[0] is panel.form and panel.monitor in panel.children[3].children
        assert type(panel.monitor).__name__ == "JobMonitor"
        html = panel._repr_html_()
        for title in panel.titles:
            assert f"<h4>{title}</h4>" in html

        # choosing in the Environments / Clusters tab fills the form
        panel.form.set_values(environment=None, cluster=None)
        panel.environments.table.rows[("local", "local")].children[1].click()
        panel.clusters._buttons[0][1].value = True
        assert panel.form.values()["environment"] == "local" and panel.form.values()["cluster"] == "localhost"

        # submitting switches to the Jobs tab, where the job shows up by itself
        panel.form.set_values(command="echo from-the-panel", name="panel job")
        panel.form.submit_button.click()
        job = panel.form.last_job
        assert job is not None and panel.selected_index == 3
        deadline = time.monotonic() + 30
        while job.id not in panel.monitor.rows and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job.id in panel.monitor.rows
    finally:
        panel.close()


# --- the notebook ------------------------------------------------------------------------------------


def test_panels_notebook(server, tmp_path):
    # The kernel is given no URL or token: it finds the live server by itself.
    env = {k: v for k, v in server.env.items() if not k.startswith("JUPYTER_COMPUTE_")}
    path = REPO / "notebooks" / "panels.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "commit it cleared"
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=env)
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "<ComputePanel " in shown and "tabs=Submit, Environments, Clusters, Jobs" in shown
    assert "%submit_job --backend local" in shown
    assert "'panels-demo' SUCCEEDED" in shown
    assert "loaded 'squares.csv' (10 rows × 2 columns) into df" in shown
    assert "wrote " in shown and "squares.csv" in shown  # %job_logs
    widgets = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert widgets >= 5
    assert server.token not in shown
    assert server.token not in nbformat.writes(nb), "nor in the saved notebook (widget state in its metadata)"
    with server.client() as c:
        assert c.jobs(tag="panels").total >= 1



def test_no_secret_in_any_widget_state(client, server):
    """Everything the widgets sync to the browser (and save in a notebook) is free of the server token."""
    from ipywidgets.widgets.widget import _instances

    panel = ComputePanel(client)
    job = client.submit(command="echo state-check", name="state check").wait(timeout=60, progress=False)
    assert job.state is JobState.SUCCEEDED
    monitor = JobMonitor(client)
    monitor.select(job.id)
    states = [w.get_state() for w in list(_instances.values())]
    assert len(states) > 50
    dumped = repr(states)
    assert "state check" in dumped, "the job reached the widgets"
    assert server.token not in dumped
    monitor.close()
    panel.close()
