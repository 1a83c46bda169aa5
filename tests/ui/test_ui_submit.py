"""The submit form in a real JupyterLab (sandbox mode, so every platform's form is there): choose the kind of
program, browse the server's folders for a script, submit it to the local backend; look at the Ocean and
ModelArts forms. No label is cut, in either theme.

Screenshots: submit-local-{light,dark}.png, submit-local-browse-{light,dark}.png,
submit-ocean-{light,dark}.png, submit-modelarts-{light,dark}.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import nbformat
import pytest
from playwright.sync_api import expect

from ui.conftest import NOTEBOOK, LabServer, open_notebook, run_all_cells, screenshot_both_themes, start_lab

FORM = f"{NOTEBOOK} .jc-submit-form"

# The labels (and toggle buttons) of the form whose text does not fit their box.
CUT_LABELS = """form => [...document.querySelectorAll(form + ' .widget-label, ' + form + ' .widget-toggle-button')]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent + ' ' + e.scrollWidth + '>' + e.clientWidth)"""
# The widths of the visible inputs of the form's fields (their boxes, label included).
FIELD_WIDTHS = """form => [...document.querySelectorAll(form + ' .jc-field')]
    .filter(e => e.offsetParent !== null).map(e => Math.round(e.getBoundingClientRect().width))"""


@pytest.fixture(scope="module")
def sandbox_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    lab = start_lab(tmp_path_factory.mktemp("submit-lab") / "jupyter", ["--ComputeApp.sandbox=True"])
    (lab.root / "scripts").mkdir()
    (lab.root / "scripts" / "hello_ui.py").write_text("print('hello from the file picker')\n")
    (lab.root / "scripts" / "table.csv").write_text("a\n1\n")
    (lab.root / "top.py").write_text("print('top')\n")
    yield lab
    lab.server.stop()


def form_notebook(lab: LabServer) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from jupyter_compute.widgets import SubmitForm\n\nform = SubmitForm()\nform")]
    nbformat.write(nb, lab.root / "submit.ipynb")
    return "submit.ipynb"


def visible_row(page, field: str):
    return page.locator(f"{FORM} .jc-field-row:visible", has=page.locator(f".jc-field-{field}"))


def no_label_cut(page) -> None:
    assert page.evaluate(CUT_LABELS, FORM) == []
    widths = page.evaluate(FIELD_WIDTHS, FORM)
    assert len(set(widths)) == 1, widths  # every field as wide as the others (the Ocean datasets box too)


def test_choose_a_program_browse_for_a_script_and_submit_it(sandbox_lab: LabServer, page) -> None:
    open_notebook(page, sandbox_lab, form_notebook(sandbox_lab))
    run_all_cells(page, timeout=120)
    page.locator(f"{FORM} .jc-program-kind").wait_for()

    kinds = page.locator(f"{FORM} .jc-program-kind .widget-toggle-button")
    assert kinds.all_inner_texts() == ["Shell command", "Python script", "Python code", "Notebook"]
    assert page.locator(f"{FORM} .jc-field-row:visible .jc-field").count() == 7  # one program field of four
    expect(page.locator(f"{FORM} .jc-field-command")).to_be_visible()
    no_label_cut(page)
    screenshot_both_themes(page, "submit-local")

    kinds.filter(has_text="Python script").click()
    expect(page.locator(f"{FORM} .jc-field-script")).to_be_visible()
    expect(page.locator(f"{FORM} .jc-field-command")).to_be_hidden()
    row = visible_row(page, "script")
    row.locator(".jc-file-choice .jupyter-widget-Collapse-header").click()
    listing = row.locator(".jc-file-list select")
    listing.wait_for()
    expect(listing.locator("option")).to_have_text(["\U0001f4c1 scripts/", "top.py"])  # no csv, no notebook
    listing.select_option(label="\U0001f4c1 scripts/")
    expect(listing.locator("option")).to_have_text(["\u2191 ..", "hello_ui.py"])
    expect(row.locator(".jc-crumbs")).to_contain_text("scripts")
    listing.select_option(label="hello_ui.py")
    expect(page.locator(f"{FORM} .jc-field-script input")).to_have_value("scripts/hello_ui.py")
    page.locator(f"{FORM} .jc-field-name input").fill("picked in the browser")
    no_label_cut(page)
    screenshot_both_themes(page, "submit-local-browse")

    page.locator(f"{FORM} button.jc-submit").click()
    expect(page.locator(f"{FORM} .jc-submit-status")).to_have_text(
        re.compile(r"Submitted job [0-9a-f]{8} 'picked in the browser'"), timeout=60_000)
    with sandbox_lab.client() as client:
        job = client.jobs(q="picked in the browser")[0]
        assert job.spec.script is not None and job.spec.command is None and job.spec.code is None
        assert job.wait(timeout=120, progress=False).state.value == "SUCCEEDED"
        assert "hello from the file picker" in client.logs(job.id).text


@pytest.mark.parametrize(("backend", "first_field"), [("ocean", "inputs"), ("modelarts", "extra-kind")])
def test_other_backends_forms_fit(sandbox_lab: LabServer, page, backend: str, first_field: str) -> None:
    open_notebook(page, sandbox_lab, form_notebook(sandbox_lab))
    run_all_cells(page, timeout=120)
    page.locator(f"{FORM} .jc-backend select").select_option(backend)
    page.locator(f"{FORM} .jc-field-{first_field}").wait_for()
    if backend == "ocean":
        kinds = page.locator(f"{FORM} .jc-program-kind .widget-toggle-button")
        assert kinds.all_inner_texts() == ["Algorithm DID", "Raw algorithm (Python)", "Algorithm file"]
        kinds.filter(has_text="Raw algorithm (Python)").click()
        expect(page.locator(f"{FORM} .jc-field-code")).to_be_visible()
        chosen = page.locator(f"{FORM} .jc-field-environment select")
        assert chosen.evaluate("s => s.options[s.selectedIndex].text").endswith("free")  # filled, not empty
    else:
        page.locator(f"{FORM} .jc-field-cluster input").fill("pool:pool-gpu-d4e5f6")
        page.locator(f"{FORM} .jc-field-cluster input").press("Enter")
        flavors = page.locator(f"{FORM} .jc-field-environment datalist option")
        expect(flavors).to_have_count(1, timeout=60_000)
        assert flavors.first.get_attribute("value") == "modelarts.vm.gpu.t4"
    no_label_cut(page)
    screenshot_both_themes(page, f"submit-{backend}")
