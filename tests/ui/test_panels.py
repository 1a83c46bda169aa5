"""The notebook panels in a real JupyterLab, driven in headless chromium: pick an environment,
fill the submit form, watch the job's row change state live, load its result as a DataFrame,
cancel a running job from the monitor, and see the form refuse bad values at their fields.

Every step leaves a screenshot in test-artifacts/screenshots/ (panels-*.png).
"""

from __future__ import annotations

import contextlib
import re
import time

import nbformat
import pytest
from playwright.sync_api import expect

from ui.conftest import NOTEBOOK, open_notebook, run_all_cells, screenshot, wait_for_text

OUTPUT = ".jp-OutputArea-output"
PANEL = f"{NOTEBOOK} .jc-panel"
FORM = f"{PANEL} .jc-submit-form"
MONITOR = f"{PANEL} .jc-monitor"


def panel_notebook(lab_server, name: str = "panel.ipynb") -> str:
    """A notebook showing ``jc.panel()``, written into the lab server's root."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import jupyter_compute as jc\n\npanel = jc.panel()\npanel")]
    nbformat.write(nb, lab_server.root / name)
    return name


def show_panel(page, lab_server):
    open_notebook(page, lab_server, panel_notebook(lab_server))
    run_all_cells(page, timeout=120)
    page.locator(FORM).wait_for()
    page.locator(f"{FORM} .jc-field-command textarea").wait_for()


def tab(page, title: str):
    page.locator(f"{PANEL} .lm-TabBar-tab", has_text=re.compile("^" + title + "$")).click()


def row(page, name: str, state: str | None = None):
    """The monitor row of the job called ``name`` (in ``state`` when given)."""
    selector = f"{MONITOR} .jc-job-row" + (f".jc-state-{state}" if state else "")
    return page.locator(selector, has_text=name)


def field_error(page, field: str):
    """The message line under a form field."""
    return page.locator(f"{FORM} .jc-field-row", has=page.locator(f".jc-field-{field}")).locator(".jc-field-error")


def fill_slots(client) -> list:
    """Busy every slot of the local backend with a sleeping job, so the next job waits QUEUED."""
    env = client.environments("local")[0]
    blockers = [
        client.submit(command="sleep 120", name=f"blocker-{i}", tags=["ui-blocker"])
        for i in range(max(0, env.max_jobs - (env.running_jobs or 0)))
    ]
    deadline = time.monotonic() + 30
    while any(b.refresh().state.value != "RUNNING" for b in blockers):
        assert time.monotonic() < deadline, [b.state for b in blockers]
        time.sleep(0.2)
    return blockers


def test_submit_from_the_panel_watch_it_live_and_load_its_result(lab_server, page):
    client = lab_server.client()
    show_panel(page, lab_server)

    # pick the environment in the form's picker (folded under the field until asked for)
    page.locator(f"{FORM} .jc-environment-choice .jupyter-widget-Collapse-header").click()
    picker = page.locator(f"{FORM} .jc-env-picker")
    picker.locator(".jc-env-row button.jc-cell").nth(2).click()  # the first row's name
    wait_for_text(page, "chosen: This machine", selector=f"{FORM} .jc-env-details")
    screenshot(page, "panels-1-environment-picked")

    # fill the form; every slot is busy, so the job waits QUEUED first
    blockers = fill_slots(client)
    page.locator(f"{FORM} .jc-field-command textarea").fill(
        "sleep 2; printf 'n,square\\n1,1\\n2,4\\n3,9\\n' > $JUPYTER_COMPUTE_OUTPUT_DIR/x.csv; echo ok")
    page.locator(f"{FORM} .jc-field-name input").fill("ui panel job")
    screenshot(page, "panels-2-form-filled")
    page.locator(f"{FORM} button.jc-submit").click()
    # (said in the form, which the panel leaves for the Jobs tab: the text is there, hidden)
    expect(page.locator(f"{FORM} .jc-submit-status")).to_have_text(
        re.compile(r"Submitted job [0-9a-f]{8} 'ui panel job': QUEUED"))

    # the panel switched to the Jobs tab; the row shows each state as it comes, by itself
    row(page, "ui panel job", "QUEUED").wait_for(timeout=30_000)
    row(page, "ui panel job").scroll_into_view_if_needed()
    screenshot(page, "panels-3-queued")
    for blocker in blockers:  # free a slot (through the API: the page is only watched)
        client.cancel(blocker)
    row(page, "ui panel job", "RUNNING").wait_for(timeout=30_000)
    screenshot(page, "panels-4-running")
    row(page, "ui panel job", "SUCCEEDED").wait_for(timeout=60_000)
    screenshot(page, "panels-5-succeeded")

    # its detail pane, and the result as a DataFrame
    row(page, "ui panel job").locator("button.jc-row-select").click()
    detail = page.locator(f"{MONITOR} .jc-detail")
    detail.wait_for()
    wait_for_text(page, "ok", selector=f"{MONITOR} .jc-log")
    detail.locator("button.jc-load-df").first.click()
    frame = detail.locator(".jc-df-output table.dataframe")
    frame.wait_for(timeout=30_000)
    cells = frame.evaluate(
        "t => [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(c => c.textContent.trim()))")
    assert [r[1:] for r in cells] == [["1", "1"], ["2", "4"], ["3", "9"]]
    frame.scroll_into_view_if_needed()
    screenshot(page, "panels-6-dataframe")

    job = client.jobs(q="ui panel job")[0]
    assert job.state.value == "SUCCEEDED" and job.spec.environment == "local"


def test_cancel_from_the_monitor_updates_the_row_live(lab_server, page):
    client = lab_server.client()
    show_panel(page, lab_server)
    page.locator(f"{FORM} .jc-field-command textarea").fill("sleep 120")
    page.locator(f"{FORM} .jc-field-name input").fill("ui long job")
    page.locator(f"{FORM} button.jc-submit").click()

    row(page, "ui long job", "RUNNING").wait_for(timeout=30_000)
    row(page, "ui long job").locator("button.jc-row-select").click()
    detail = page.locator(f"{MONITOR} .jc-detail")
    detail.locator("button.jc-cancel").click()
    detail.locator("button.jc-confirm-yes").click()
    screenshot(page, "panels-7-cancel-confirmed")
    row(page, "ui long job", "CANCELLED").wait_for(timeout=30_000)
    screenshot(page, "panels-8-cancelled")
    assert client.jobs(q="ui long job")[0].state.value == "CANCELLED"


def test_the_form_refuses_bad_values_at_their_fields(lab_server, page):
    client = lab_server.client()
    before = client.jobs(limit=1).total
    show_panel(page, lab_server)

    # nothing filled: the program is missing, said under the command field
    page.locator(f"{FORM} button.jc-submit").click()
    message = field_error(page, "command")
    message.filter(has_text="give exactly one of Shell command or Python script").wait_for()
    wait_for_text(page, "1 field to fix before submitting", selector=f"{FORM} .jc-form-error")
    screenshot(page, "panels-9-missing-program")

    # a number out of range: said under that field, and the first message is gone
    page.locator(f"{FORM} .jc-field-command textarea").fill("echo never")
    page.locator(f"{FORM} .jc-field-timeout_s input").fill("0.5")
    page.locator(f"{FORM} button.jc-submit").click()
    field_error(page, "timeout_s").filter(has_text="Time limit (s) must be at least 1").wait_for()
    assert field_error(page, "command").inner_text().strip() == ""
    screenshot(page, "panels-10-out-of-range")

    # a refusal by the server (a script that is not there), at the field it names
    page.locator(f"{FORM} .jc-field-timeout_s input").fill("")
    page.locator(f"{FORM} .jc-field-command textarea").fill("")
    page.locator(f"{FORM} .jc-program-kind .widget-toggle-button", has_text="Python script").click()
    page.locator(f"{FORM} .jc-field-script input").fill("no/such/script.py")
    page.locator(f"{FORM} button.jc-submit").click()
    field_error(page, "script").filter(has_text="no such script file").wait_for()
    screenshot(page, "panels-11-server-refusal")

    # copy as code shows the call and the magic
    page.locator(f"{FORM} .jc-field-script input").fill("")
    page.locator(f"{FORM} .jc-program-kind .widget-toggle-button", has_text="Shell command").click()
    page.locator(f"{FORM} .jc-field-command textarea").fill("echo copied")
    page.locator(f"{FORM} button.jc-copy-code").click()
    code = page.locator(f"{FORM} .jc-code textarea")
    code.wait_for()
    text = code.input_value()
    assert "Client().submit(" in text and "%submit_job --backend local" in text and "echo copied" in text
    screenshot(page, "panels-12-copy-as-code")
    assert client.jobs(limit=1).total == before  # nothing was submitted


def test_the_panels_notebook_runs_in_jupyterlab(lab_server, page):
    path = lab_server.add("notebooks/panels.ipynb")
    open_notebook(page, lab_server, path)
    run_all_cells(page, timeout=180)
    for selector in (".jc-panel", ".jc-env-picker", ".jc-cluster-picker", ".jc-submit-form", ".jc-monitor"):
        page.locator(f"{NOTEBOOK} {selector}:visible").first.wait_for()  # each shown on its own too
    wait_for_text(page, "loaded 'squares.csv' (10 rows × 2 columns) into df", selector=OUTPUT)
    assert page.locator(f"{NOTEBOOK} {OUTPUT} table.dataframe").count() >= 1
    # the cluster picker's Nodes toggle is on: this machine is listed as its node
    page.locator(f"{NOTEBOOK} .jc-cluster-picker .jc-cluster-nodes").first.wait_for()
    page.locator(f"{NOTEBOOK} .jc-cluster-nodes:visible").first.scroll_into_view_if_needed()
    screenshot(page, "panels-13-notebook-pickers")
    shot = screenshot(page, "panels-14-notebook", full_page=True)
    assert shot.stat().st_size > 10_000


@pytest.fixture(autouse=True)
def _cancel_leftovers(lab_server):
    """Stop the sleeping jobs a failed test may leave behind."""
    yield
    with contextlib.suppress(Exception):  # the server may be gone already
        client = lab_server.client()
        for job in client.jobs(state=["QUEUED", "RUNNING"], limit=100):
            client.cancel(job)
