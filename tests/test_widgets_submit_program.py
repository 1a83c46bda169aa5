"""The submit form's program selector, file picker and platform-listed choices, against a live `jupyter server`
in sandbox mode (every platform's stand-in started by the server itself).

The widgets live in the test process and talk to the server through a real Client; clicks are value changes
as a browser would send them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator

import ipywidgets as W
import pytest
from conftest import LiveServer, start_live_server, wait_for

from jupyter_compute.client import Client
from jupyter_compute.models import JobState
from jupyter_compute.widgets import SubmitForm
from jupyter_compute.widgets.file_picker import FilePicker


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("submit-program")
    root = home / "root"
    (root / "jobs" / "deeper").mkdir(parents=True)
    (root / "hello.py").write_text("print('hello from a picked script')\n")
    (root / "jobs" / "inner.py").write_text("print('inner')\n")
    (root / "jobs" / "analysis.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (root / "data.csv").write_text("a,b\n1,2\n")
    (root / "notes.txt").write_text("not a program\n")
    live = start_live_server(home, extra_args=["--ComputeApp.sandbox=True"])
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with server.client() as c:
        yield c


def shown_program_rows(form: SubmitForm) -> list[str]:
    assert form.program is not None
    return [name for name, row in form.program.rows.items() if row.layout.display != "none"]


# --- the program selector ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["local", "ocean"])
def test_the_selector_offers_exactly_the_backends_kinds_and_shows_one_field(client, backend):
    declared = client.form(backend)
    form = SubmitForm(client, backend)
    assert form.program is not None
    assert [value for _, value in form.program.widget.options] == list(declared.one_of[0])
    assert [label for label, _ in form.program.widget.options] == [declared.label(n) for n in declared.one_of[0]]
    assert shown_program_rows(form) == [declared.one_of[0][0]]
    for kind in declared.one_of[0]:
        form.program.widget.value = kind  # a click on the kind's button
        assert shown_program_rows(form) == [kind]
    assert "Give exactly one of" not in form.hint.value  # the selector says it
    form.close()


def test_a_backend_without_alternatives_has_no_selector(client):
    form = SubmitForm(client, "maap-ogc")
    assert form.program is None and form.error.value == ""
    form.close()


def test_switching_kind_submits_exactly_that_program(client):
    form = SubmitForm(client)
    form.controls["command"].widget.value = "echo from the command"
    form.program.widget.value = "code"
    form.controls["code"].widget.value = "print('from the code')"
    assert {k for k in form.spec() if k in ("command", "script", "code", "notebook")} == {"code"}
    assert "%%submit_job" in form.copy_as_code() and "echo" not in form.code_area.value
    job = form.submit()
    assert job is not None, form.error_text
    assert job.spec.code == "print('from the code')" and job.spec.command is None
    done = job.wait(timeout=120, progress=False)
    assert done.state is JobState.SUCCEEDED
    # back to the command, typed before: that one is sent, the code is not
    form.program.widget.value = "command"
    job = form.submit()
    assert job is not None and job.spec.command == "echo from the command" and job.spec.code is None
    form.close()


def test_an_empty_program_is_said_at_the_shown_field(client):
    form = SubmitForm(client)
    form.program.widget.value = "notebook"
    assert form.submit() is None
    assert list(form.check()) == ["notebook"]
    assert "give exactly one of" in form.messages["notebook"].value  # said at the field shown
    assert form.messages["command"].value == ""
    form.close()


# --- the file picker ----------------------------------------------------------------------------------------


def test_list_files_reads_the_servers_root(client):
    root = client.list_files()
    assert [(e["name"], e["type"]) for e in root][:1] == [("jobs", "directory")]  # folders first
    assert {e["name"] for e in root} >= {"hello.py", "data.csv", "notes.txt"}
    inner = {e["name"]: e for e in client.list_files("jobs")}
    assert inner["analysis.ipynb"]["type"] == "notebook" and inner["inner.py"]["path"] == "jobs/inner.py"


def test_the_script_picker_lists_folders_and_scripts_and_fills_the_field(client):
    form = SubmitForm(client)
    picker = form.file_pickers["script"]
    assert picker.names() == ["jobs/", "hello.py"]  # no .csv, .txt or notebook
    assert form.file_pickers["notebook"].names() == ["jobs/"]
    picker.listing.value = "jobs"  # a click on the folder opens it
    assert picker.path == "jobs" and picker.names() == ["deeper/", "inner.py"]
    assert [b.description for b in picker.crumbs.children if isinstance(b, W.Button)] == ["root", "jobs"]
    picker.listing.value = "jobs/inner.py"
    assert form.program.kind == "script" and form.values()["script"] == "jobs/inner.py"
    picker.crumbs.children[0].click()  # back to the root
    assert picker.path == "" and picker.names() == ["jobs/", "hello.py"]
    form.close()


def test_a_picked_script_is_submitted_and_runs(client):
    form = SubmitForm(client)
    form.file_pickers["script"].listing.value = "hello.py"
    job = form.submit()
    assert job is not None, form.error_text
    assert job.wait(timeout=120, progress=False).state is JobState.SUCCEEDED
    assert "hello from a picked script" in client.logs(job.id).text
    # typing a path stays possible
    form.controls["script"].widget.value = "jobs/inner.py"
    assert form.spec()["script"] == "jobs/inner.py"
    form.close()


def test_the_notebook_picker_lists_notebooks(client):
    form = SubmitForm(client)
    picker = form.file_pickers["notebook"]
    picker.browse("jobs")
    assert picker.names() == ["deeper/", "analysis.ipynb"]
    picker.listing.value = "jobs/analysis.ipynb"
    assert form.program.kind == "notebook" and form.spec()["notebook"] == "jobs/analysis.ipynb"
    form.close()


def test_a_folder_that_cannot_be_listed_is_a_message(client):
    picker = FilePicker(client, suffixes=(".py",))
    picker.browse("no/such/folder")
    assert "cannot list 'no/such/folder'" in html.unescape(picker.message.value) and picker.path == ""
    assert "FilePicker /" in repr(picker) and "<li>jobs/</li>" in picker._repr_html_()
    picker.close()


# --- choices the platform lists -------------------------------------------------------------------------------


def test_maap_algorithms_come_from_the_platform_with_free_text(client):
    listed = client.proxy("maap-ogc", "ogc/processes").json()["processes"]
    form = SubmitForm(client, "maap-ogc")
    combo = form.controls["algorithm"].widget
    assert isinstance(combo, W.Combobox)
    assert len(combo.options) == len(listed) > 0
    for process, label in zip(listed, combo.options, strict=True):
        assert str(process["processID"]) in label and process["id"] in label
    combo.value = combo.options[0]  # a listed one is sent as its process id
    assert form.values()["algorithm"] == str(listed[0]["processID"])
    combo.value = "424242"  # one not listed: accepted as typed
    assert form.values()["algorithm"] == "424242" and "algorithm" not in form.check()
    combo.value = "not a number"
    assert "not in the expected form" in form.check()["algorithm"]
    form.close()


def test_the_ocean_environment_dropdown_is_filled(client):
    environments = client.environments("ocean")
    form = SubmitForm(client, "ocean")
    dropdown = form.controls["environment"].widget
    assert isinstance(dropdown, W.Dropdown)
    assert [value for _, value in dropdown.options if value is not None] == [e.id for e in environments]
    free = next(e.id for e in environments if e.price == 0)
    assert dropdown.value == free and "free" in dropdown.label  # a real choice shown, not an empty one
    form.close()


def test_modelarts_flavors_follow_the_chosen_pool(client):
    flavors_of: dict[str, list[str]] = {}
    for environment in client.environments("modelarts"):
        for pool in environment.raw.get("pools", []):
            flavors_of.setdefault(pool, []).append(environment.id)
    form = SubmitForm(client, "modelarts")
    pools = form.controls["cluster"].widget
    assert isinstance(pools, W.Combobox) and len(pools.options) == len(flavors_of)
    every = set(form.controls["environment"].widget.options)
    assert every == {f for found in flavors_of.values() for f in found}
    for pool, flavors in flavors_of.items():
        form.set_values(cluster=pool)
        wait_for(lambda pool=pool, flavors=flavors: form._chosen.get("cluster") == pool and not form._rebuilding
                 and list(form.controls["environment"].widget.options) == flavors,
                 f"the flavors of {pool}", timeout=120)  # fmt: skip
        assert form.values()["cluster"] == pool
    form.controls["environment"].widget.value = "modelarts.vm.some.other"  # free text
    assert form.values()["environment"] == "modelarts.vm.some.other" and "environment" not in form.check()
    form.close()


def test_labels_fit_their_column(client):
    for backend in ("local", "ocean", "modelarts", "maap-ogc"):
        form = SubmitForm(client, backend)
        width = int(form.backend_select.style.description_width.removesuffix("px"))
        longest = max(len(f.label) + 2 for f in form.form.fields)
        assert width >= longest * 7, (backend, width, longest)
        widths = {c.widget.layout.width for c in form.controls.values() if hasattr(c.widget, "description")}
        assert widths == {form.backend_select.layout.width}, (backend, widths)  # one column, one width
        form.close()


def test_the_static_fallback_shows_the_chosen_program_only(client):
    form = SubmitForm(client)
    form.program.widget.value = "code"
    form.controls["code"].widget.value = "print(1)"
    page = form._repr_html_()
    assert "Program" in page and "Python code" in page and "Shell command" not in page
    assert repr(form) == "<SubmitForm local: 10 fields, filled cluster, code, environment>"
    form.close()
