"""The JupyterLab face (labextension/): the Compute sidebar, job pages, the submit dialog and the
end-of-job notifications, in a real JupyterLab under ``--ComputeApp.sandbox=True``, in both themes.

Each step leaves a screenshot in test-artifacts/screenshots/ (``sidebar-<theme>-<step>.png``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import nbformat
import pandas as pd
import pytest

from ui.conftest import (
    LabServer, open_notebook, run_active_cell, run_in_new_cell, screenshot, screenshot_both_themes, set_theme,
    start_lab, wait_for_text,
)

SIDEBAR = "#jp-Compute-sidebar"
ROW = f"{SIDEBAR} .jp-Compute-jobRow"
JOB_PAGE = "#jp-main-dock-panel .jp-Compute-jobPage:not(.lm-mod-hidden)"
OUTPUT = ".jp-OutputArea-output"
TOAST = ".Toastify__toast"

# Every change of a row's state, as the page draws it: [{id, state, at}] (at: Date.now() in ms).
WATCH_ROWS = r"""() => {
    window.__computeRows = [];
    const seen = new Map();
    const record = row => {
        const id = row.dataset.jobId, state = row.dataset.state;
        if (!id || !state || seen.get(id) === state) return;
        seen.set(id, state);
        window.__computeRows.push({id, state, at: Date.now()});
    };
    document.querySelectorAll('.jp-Compute-jobRow').forEach(record);
    new MutationObserver(mutations => {
        for (const m of mutations) {
            const nodes = m.type === 'attributes' ? [m.target] : [...m.addedNodes];
            nodes.forEach(n => n instanceof HTMLElement && n.matches('.jp-Compute-jobRow') && record(n));
        }
    }).observe(document.querySelector('#jp-Compute-sidebar'), {subtree: true, childList: true, attributes: true,
                                                                attributeFilter: ['data-state']});
}"""

TABLE = pd.DataFrame({"city": ["lyon", "nice", "lille"], "visits": [3, 5, 8]})
MAKE_TABLE = ("sleep 2; printf 'city,visits\\nlyon,3\\nnice,5\\nlille,8\\n' "
              "> \"$JUPYTER_COMPUTE_OUTPUT_DIR/visits.csv\"")


@pytest.fixture(scope="module")
def sandbox_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    lab = start_lab(tmp_path_factory.mktemp("sidebar-lab") / "jupyter", ["--ComputeApp.sandbox=True"])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import pandas as pd")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / "work.ipynb")
    yield lab
    lab.server.stop()


def rows_of(page, job_id: str):
    return page.locator(f'{ROW}[data-job-id="{job_id}"]')


def open_sidebar(page) -> None:
    """Click the Compute icon in the left bar (unless JupyterLab restored the sidebar open already)."""
    tab = page.locator('.jp-SideBar [data-id="jp-Compute-sidebar"]')
    tab.wait_for()
    page.wait_for_function("() => window.jupyterapp?.shell.restored !== undefined")
    page.evaluate("() => window.jupyterapp.shell.restored")
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    page.locator(SIDEBAR).wait_for(state="visible")


def open_lab(page, lab: LabServer, theme: str) -> None:
    """JupyterLab in ``theme``, with the Compute sidebar open."""
    page.goto(lab.lab_url())
    page.locator('.jp-SideBar [data-id="jp-Compute-sidebar"]').wait_for()
    set_theme(page, theme)
    open_sidebar(page)


def recorded(page, job_id: str) -> list[dict]:
    return [r for r in page.evaluate("() => window.__computeRows") if r["id"] == job_id]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_job_from_a_notebook_is_followed_live_announced_and_loaded(sandbox_lab: LabServer, page, theme: str):
    with sandbox_lab.client() as client:  # jobs of two platforms, submitted elsewhere
        others = [
            client.submit(backend="datastory", algorithm="column-summary", inputs=[TABLE],
                          extra={"email": "ui@example.org"}, name=f"datastory-{theme}"),
            client.submit(backend="maap", algorithm="row-stats", inputs=["plots.csv"], name=f"maap-{theme}"),
        ]
    open_notebook(page, sandbox_lab, "work.ipynb")
    set_theme(page, theme)
    open_sidebar(page)
    for job in others:
        rows_of(page, job.id).wait_for()
    backends = set(page.locator(f"{ROW} .jp-Compute-backend").all_inner_texts())
    page.evaluate(WATCH_ROWS)
    list_reads: list[float] = []
    page.on("request", lambda r: "/compute/api/jobs?" in r.url and list_reads.append(time.time()))

    cell = run_in_new_cell(page, (
        "import time\nfrom jupyter_compute import Client\n"
        f"job = Client().submit(command={MAKE_TABLE!r}, name='visits-{theme}')\n"
        "print('submitted', job.id, time.time())"
    ))
    words = cell.locator(OUTPUT).inner_text().split()
    job_id, submitted_at = words[1], float(words[2])
    row = rows_of(page, job_id)
    row.wait_for(timeout=30_000)  # no click, no reload: the event stream brought it
    assert not [t for t in list_reads if t >= submitted_at - 1], "the sidebar re-read the list instead of following events"
    screenshot(page, f"sidebar-{theme}-1-submitted")
    page.locator(f'{ROW}[data-job-id="{job_id}"][data-state="SUCCEEDED"]').wait_for(timeout=120_000)
    states = [r["state"] for r in recorded(page, job_id)]
    appeared = recorded(page, job_id)[0]["at"] / 1000 - submitted_at
    print(f"sidebar: the row showed {appeared:+.3f} s after the kernel's submit returned; states drawn: {states}")
    assert states[-1] == "SUCCEEDED" and "RUNNING" in states, states
    assert states.index("RUNNING") < states.index("SUCCEEDED")
    assert set(states) <= {"QUEUED", "RUNNING", "SUCCEEDED"}, states
    backends |= set(page.locator(f"{ROW} .jp-Compute-backend").all_inner_texts())
    assert {"local", "maap", "datastory"} <= backends, backends

    toast = page.locator(TOAST, has_text=f"visits-{theme} succeeded").last
    toast.wait_for(timeout=30_000)
    screenshot(page, f"sidebar-{theme}-2-notified", animations="allow")  # "disabled" would end its timer
    toast.locator("button.jp-toast-button", has_text=re.compile("^Load in notebook$")).wait_for()
    toast.locator("button.jp-toast-button", has_text=re.compile("^Open$")).click()
    job_page = page.locator(JOB_PAGE)
    job_page.locator(".jp-Compute-pageHeader .jp-Compute-badge[data-state='SUCCEEDED']").wait_for()
    job_page.locator('.jp-Compute-resultTable [data-result="visits.csv"]').wait_for()
    wait_for_text(page, "Finished", selector=f"{JOB_PAGE} .jp-Compute-details")
    assert [li.get_attribute("data-state") for li in job_page.locator(".jp-Compute-history .jp-Compute-badge").all()] \
        == ["QUEUED", "RUNNING", "SUCCEEDED"]
    screenshot(page, f"sidebar-{theme}-3-job-page")

    job_page.locator(".jp-Compute-openInNotebook").click()
    cells = page.locator("#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")
    page.wait_for_function(
        "id => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')].some("
        "c => c.classList.contains('jp-mod-active') && c.innerText.includes(id))", arg=job_id)
    inserted = cells.last.locator(".cm-content").inner_text()
    assert f'df = Client().job("{job_id}").to_pandas("visits.csv")' in inserted
    screenshot(page, f"sidebar-{theme}-4-inserted")
    run_active_cell(page, timeout=120)
    run_in_new_cell(page, f"import pandas as pd\nassert df.equals(pd.DataFrame({TABLE.to_dict(orient='list')!r})), df")
    screenshot(page, f"sidebar-{theme}-5-loaded")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_cancel_on_the_job_page_ends_a_running_job(sandbox_lab: LabServer, page, theme: str):
    with sandbox_lab.client() as client:
        job = client.submit(command="sleep 600", name=f"long-{theme}")
    open_lab(page, sandbox_lab, theme)
    rows_of(page, job.id).locator(".jp-Compute-badge[data-state='RUNNING']").wait_for(timeout=60_000)
    # By keyboard: the list takes the focus, arrows move along the rows, Enter opens the focused one.
    page.locator(f"{SIDEBAR} .jp-Compute-jobList").focus()
    page.keyboard.press("Home")
    assert page.evaluate("() => document.activeElement.dataset.jobId") == job.id  # the newest row comes first
    assert "running" in (rows_of(page, job.id).get_attribute("aria-label") or "")
    page.keyboard.press("Enter")
    job_page = page.locator(JOB_PAGE)
    job_page.locator(".jp-Compute-pageHeader .jp-Compute-badge[data-state='RUNNING']").wait_for()
    job_page.locator(".jp-Compute-cancel").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text("Cancel this job?").wait_for()
    screenshot(page, f"sidebar-{theme}-6-confirm-cancel")
    dialog.get_by_role("button", name="Cancel job").click()
    job_page.locator(".jp-Compute-pageHeader .jp-Compute-badge[data-state='CANCELLED']").wait_for(timeout=60_000)
    rows_of(page, job.id).locator(".jp-Compute-badge[data-state='CANCELLED']").wait_for(timeout=30_000)
    assert job_page.locator(".jp-Compute-cancel").is_disabled()
    screenshot(page, f"sidebar-{theme}-7-cancelled")
    with sandbox_lab.client() as client:
        assert client.job(job.id).state == "CANCELLED"

    job_page.locator(".jp-Compute-delete").click()
    dialog.get_by_text("Delete this job?").wait_for()
    dialog.get_by_role("button", name="Delete job").click()
    job_page.wait_for(state="detached")  # the page closes
    rows_of(page, job.id).wait_for(state="detached")  # and the row leaves the list, pushed by the server
    with sandbox_lab.client() as client:
        assert job.id not in [j.id for j in client.jobs(q=f"long-{theme}")]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_dialog_refuses_a_bad_field_then_submits_to_a_platform(sandbox_lab: LabServer, page, theme: str):
    open_lab(page, sandbox_lab, theme)
    if theme == "light":
        page.locator(f"{SIDEBAR} .jp-Compute-newJob").click()
    else:  # the Launcher's card opens the same dialog
        page.evaluate("() => window.jupyterapp.commands.execute('launcher:create')")
        page.locator("#jp-main-dock-panel .jp-LauncherCard:visible", has_text="Compute Job").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("#jp-Compute-submit-backend").select_option("maap")
    dialog.locator('.jp-Compute-formFields[data-backend="maap"]').wait_for()  # its form, drawn
    dialog.locator('[data-field="algorithm"] input').fill("row-stats")
    dialog.locator('[data-field="name"] input').fill(f"from-dialog-{theme}")
    dialog.get_by_role("button", name="Submit").click()
    granules = dialog.locator('[data-field="inputs"]')
    wait_for_text(page, "Granules is required", selector='.jp-Dialog [data-field="inputs"] .jp-Compute-fieldError')
    assert granules.locator("input").get_attribute("aria-invalid") == "true"
    screenshot(page, f"sidebar-{theme}-8-dialog-refused")

    with sandbox_lab.client() as client:
        before = client.jobs(backend="maap", q=f"from-dialog-{theme}").total
    assert before == 0, "a refused form must send nothing"
    granules.locator("input").fill("plots.csv")
    dialog.get_by_role("button", name="Submit").click()
    dialog.wait_for(state="detached", timeout=60_000)
    row = page.locator(ROW, has_text=f"from-dialog-{theme}")
    row.wait_for(timeout=30_000)
    assert row.locator(".jp-Compute-backend").inner_text() == "maap"
    row.locator(".jp-Compute-badge[data-state='SUCCEEDED']").wait_for(timeout=120_000)
    screenshot(page, f"sidebar-{theme}-9-dialog-job-done")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_clusters_and_environments(sandbox_lab: LabServer, page, theme: str):
    open_lab(page, sandbox_lab, theme)
    page.locator(f'{SIDEBAR} .jp-Compute-tab[data-tab="clusters"]').click()
    cards = page.locator(f"{SIDEBAR} .jp-Compute-cluster")
    cards.first.wait_for(timeout=60_000)
    health = {card.get_attribute("data-cluster"): card.get_attribute("data-health") for card in cards.all()}
    with sandbox_lab.client() as client:
        meanings = {c.id: (c.status, c.health) for c in client.clusters("modelarts")}
    for cluster_id, (status, meaning) in meanings.items():  # as the backend's own table says
        assert health[cluster_id] == meaning, (cluster_id, status, meaning)
        if re.search(r"abnormal|error|fail", status, re.I):
            assert meaning == "failing", (cluster_id, status)
    assert "failing" in health.values() and "healthy" in health.values()
    assert page.locator(f"{SIDEBAR} .jp-Compute-capacity[data-resource='CPUs'] [role='meter']").count() > 0
    screenshot(page, f"sidebar-{theme}-10-clusters")

    page.locator(f'{SIDEBAR} .jp-Compute-tab[data-tab="environments"]').click()
    table = page.locator(f"{SIDEBAR} .jp-Compute-envTable")
    table.wait_for(timeout=60_000)
    def column(index: int) -> list[float]:
        """The known numbers of the sorted column, in the order shown (unknown ones come last)."""
        texts = table.locator(f"tbody tr td:nth-child({index})").all_inner_texts()
        known = [float(t.replace(",", "")) for t in texts if t != "—"]
        assert all(t != "—" for t in texts[:len(known)]), f"unknown values sort last: {texts}"
        return known

    for index, name in enumerate(("cpus", "gpus", "memory_gb", "price"), start=2):
        table.locator(f'button[data-column="{name}"]').click()  # numbers sort largest first
        values = column(index)
        assert values == sorted(values, reverse=True), (name, values)
        assert table.locator(f'th:nth-child({index})').get_attribute("aria-sort") == "descending"
        table.locator(f'button[data-column="{name}"]').click()
        assert column(index) == sorted(values), name
        if name in ("cpus", "memory_gb"):
            assert len(values) > 3, (name, values)
    table.locator('button[data-column="gpus"]').click()
    assert column(3)[0] >= 1, "the sandboxes offer GPU/NPU environments"
    screenshot(page, f"sidebar-{theme}-11-environments")


def test_search_and_filters_ask_the_server(sandbox_lab: LabServer, page):
    with sandbox_lab.client() as client:
        kept = client.submit(command="true", name="needle-kept", tags=["haystack"])
        other = client.submit(command="exit 3", name="needle-failing")
        client.job(kept.id).wait(timeout=120, progress=False)
        client.job(other.id).wait(timeout=120, progress=False, raise_on_failure=False)
    page.goto(sandbox_lab.lab_url())
    open_sidebar(page)
    rows_of(page, other.id).locator(".jp-Compute-badge[data-state='FAILED']").wait_for(timeout=30_000)
    page.locator(f"{SIDEBAR} .jp-Compute-search").fill("needle")
    page.locator(f"{SIDEBAR} .jp-Compute-pagerText", has_text=re.compile(r"^1–2 of 2$")).wait_for()
    page.locator(f"{SIDEBAR} select[aria-label='Filter by state']").select_option("FAILED")
    page.locator(f"{SIDEBAR} .jp-Compute-pagerText", has_text=re.compile(r"^1–1 of 1$")).wait_for()
    assert page.locator(ROW).evaluate_all("rows => rows.map(r => r.dataset.jobId)") == [other.id]
    page.locator(f"{SIDEBAR} select[aria-label='Filter by backend']").select_option("maap")
    page.get_by_text("No job matches these filters.").wait_for()
    screenshot(page, "sidebar-light-12-filtered")


def test_unavailable_backends_are_listed_with_their_reason(tmp_path, page, monkeypatch):
    monkeypatch.delenv("NO_SUCH_OCEAN_KEY", raising=False)
    lab = start_lab(tmp_path / "jupyter", backends={
        "local": {"kind": "local"},
        "ocean": {"kind": "ocean", "url": "http://127.0.0.1:9/", "private_key_env": "NO_SUCH_OCEAN_KEY"},
    })
    try:
        page.goto(lab.lab_url())
        open_sidebar(page)
        notice = page.locator(f'{SIDEBAR} .jp-Compute-unavailable[data-backend="ocean"]')
        notice.wait_for()
        assert "NO_SUCH_OCEAN_KEY" in notice.inner_text()
        options = page.locator(f"{SIDEBAR} select[aria-label='Filter by backend'] option").all_inner_texts()
        assert "ocean (unavailable)" in options and "local" in options
        screenshot(page, "sidebar-light-13-unavailable")
    finally:
        lab.server.stop()


def test_the_dialog_shows_what_the_server_refuses_at_its_field(sandbox_lab: LabServer, page):
    page.goto(sandbox_lab.lab_url())
    open_sidebar(page)
    # The palette's command (not awaited: it settles when the dialog closes)
    page.evaluate("() => { window.jupyterapp.commands.execute('compute:new-job', {backend: 'local'}); }")
    dialog = page.locator(".jp-Dialog")
    dialog.locator('.jp-Compute-formFields[data-backend="local"]').wait_for()  # its form, drawn
    dialog.locator('[data-field="script"] input').fill("no-such-script.py")  # passes the form's rules
    dialog.get_by_role("button", name="Submit").click()
    refused = dialog.locator('[data-field="script"] .jp-Compute-fieldError')
    refused.wait_for()
    assert "no-such-script.py" in refused.inner_text()
    assert dialog.locator('[data-field="script"] input').get_attribute("aria-invalid") == "true"
    screenshot(page, "sidebar-light-14-server-refused")
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    with sandbox_lab.client() as client:
        assert client.jobs(q="no-such-script").total == 0, "a refused submission leaves no job"


def test_notify_mine_tells_only_of_jobs_submitted_from_this_browser(tmp_path, page):
    lab = start_lab(tmp_path / "jupyter", settings={"jupyter-compute/plugin.jupyterlab-settings": {"notify": "mine"}})
    try:
        page.goto(lab.lab_url())
        open_sidebar(page)
        with lab.client() as client:
            other = client.submit(command="true", name="from-elsewhere")
        rows_of(page, other.id).locator(".jp-Compute-badge[data-state='SUCCEEDED']").wait_for(timeout=60_000)
        page.locator(f"{SIDEBAR} .jp-Compute-newJob").click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator("#jp-Compute-submit-backend").select_option("local")
        dialog.locator('.jp-Compute-formFields[data-backend="local"]').wait_for()  # its form, drawn
        dialog.locator('[data-field="command"] textarea').fill("true")
        dialog.locator('[data-field="name"] input').fill("from-this-browser")
        dialog.get_by_role("button", name="Submit").click()
        dialog.wait_for(state="detached", timeout=60_000)
        page.locator(TOAST, has_text="from-this-browser succeeded").wait_for(timeout=60_000)
        assert page.locator(TOAST, has_text="from-elsewhere").count() == 0
        screenshot(page, "sidebar-light-15-notify-mine", animations="allow")
    finally:
        lab.server.stop()


def test_a_job_whose_backend_is_gone_is_shown_read_only(tmp_path, page):
    """A job of a backend this server no longer has configured: listed with its backend named, its page
    readable, and no button that would fail."""
    home = tmp_path / "jupyter"
    first = start_lab(home, backends={"old": {"kind": "local"}, "local": {"kind": "local"}})
    try:
        with first.client() as client:
            job = client.submit(backend="old", command=MAKE_TABLE, name="from-old")
            job.wait(timeout=120, progress=False)
    finally:
        first.server.stop()
    lab = start_lab(home, backends={"local": {"kind": "local"}})
    try:
        page.goto(lab.lab_url())
        open_sidebar(page)
        row = rows_of(page, job.id)
        row.locator(".jp-Compute-backend.jp-mod-readOnly").get_by_text("old (read-only)").wait_for()
        assert "read-only" in (row.get_attribute("aria-label") or "")
        row.click()
        job_page = page.locator(JOB_PAGE)
        note = job_page.locator(".jp-Compute-readOnly")
        note.wait_for()
        assert "the backend “old” is not configured on this server" in note.inner_text()
        for button in ("Cancel", "Delete", "Open in notebook"):
            action = job_page.get_by_role("button", name=button, exact=True)
            assert action.is_disabled(), f"{button} stays off"
            assert "not configured" in (action.get_attribute("title") or "")
        job_page.locator(".jp-Compute-recordedResults").get_by_text("visits.csv").wait_for()
        assert job_page.locator(".jp-Compute-download").count() == 0, "nothing offered that cannot be fetched"
        wait_for_text(page, "The log is kept by old", f"{JOB_PAGE} .jp-Compute-log")
        screenshot(page, "sidebar-light-14-read-only")
    finally:
        lab.server.stop()


TIMELINE = f"{SIDEBAR} .jp-Compute-timeline"


def timeline_bar(page, job_id: str, part: str = "run"):
    return page.locator(f'{TIMELINE} rect.jp-Compute-timeline-{part}[data-job-id="{job_id}"]')


def bar_width(page, job_id: str) -> float:
    return float(timeline_bar(page, job_id).get_attribute("width") or 0)


def test_the_timeline_draws_each_job_grouped_by_backend_and_follows_it_in_place(sandbox_lab: LabServer, page):
    """One bar per job of the list, grouped by backend; a running bar grows, an ended one stays, a new
    job adds a bar, and a bar is updated in place (the same element) as its job changes state."""
    open_lab(page, sandbox_lab, "light")
    with sandbox_lab.client() as client:
        short = client.submit(command="sleep 2", name="timeline-short")
        long = client.submit(command="sleep 120", name="timeline-long")
        maap = client.submit(backend="maap", algorithm="row-stats", inputs=["plots.csv"], name="timeline-maap")
        try:
            for job in (short, long, maap):
                timeline_bar(page, job.id).wait_for(state="attached", timeout=30_000)
            page.evaluate("id => { document.querySelector(`.jp-Compute-timeline g[data-job-id=\"${id}\"]`).__mark = 1 }",
                          short.id)
            page.locator(f'{TIMELINE} rect[data-job-id="{short.id}"][data-state="SUCCEEDED"]').first.wait_for(
                state="attached", timeout=120_000)
            assert page.evaluate("id => document.querySelector(`.jp-Compute-timeline g[data-job-id=\"${id}\"]`).__mark",
                                 short.id) == 1, "the ended job's bar was drawn anew instead of changed in place"
            assert "jp-Compute-tl-SUCCEEDED" in (timeline_bar(page, short.id).get_attribute("class") or "")

            page.locator(f'{TIMELINE} rect[data-job-id="{long.id}"][data-state="RUNNING"]').first.wait_for(
                state="attached", timeout=120_000)
            running, ended = bar_width(page, long.id), bar_width(page, short.id)
            page.wait_for_function(
                "([id, w]) => parseFloat(document.querySelector(`.jp-Compute-timeline rect.jp-Compute-timeline-run"
                "[data-job-id=\"${id}\"]`).getAttribute('width')) > w + 1",
                arg=[long.id, running], timeout=60_000)
            assert bar_width(page, short.id) == pytest.approx(ended, abs=1e-3), "an ended job's bar kept growing"

            labels = page.locator(f"{TIMELINE} .jp-Compute-timeline-backend").all_inner_texts()
            assert {"local", "maap"} <= set(labels) and len(labels) == len(set(labels)), labels
            bars = page.locator(f"{TIMELINE} g[data-job-id]")
            before = bars.count()
            added = client.submit(command="true", name="timeline-added")
            timeline_bar(page, added.id).wait_for(state="attached", timeout=30_000)
            assert bars.count() == before + 1
            assert bars.count() == page.locator(ROW).count(), "one bar per job in the list"

            timeline_bar(page, long.id).click()
            page.locator(JOB_PAGE).wait_for(timeout=30_000)
            page.locator(f"{SIDEBAR} .jp-Compute-timeline").scroll_into_view_if_needed()
            screenshot_both_themes(page, "sidebar-timeline")
        finally:
            client.cancel(long.id)
