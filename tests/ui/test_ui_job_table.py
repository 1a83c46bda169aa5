"""The job table in a real JupyterLab, in headless chromium: the empty state, whole state badges
(nothing clipped), header and rows lined up, a header click that sorts, durations moving on in the
browser, and a selected job's detail beside the table with each DataFrame name box beside its button.

Screenshots (light and dark) in test-artifacts/screenshots/: job-table-empty-*, job-table-*,
job-table-detail-*.
"""

from __future__ import annotations

import nbformat

from jupyter_compute.widgets.job_table import STATE_ICONS

from ui.conftest import NOTEBOOK, open_notebook, run_all_cells, screenshot_both_themes, wait_for_text

MONITOR = f"{NOTEBOOK} .jc-monitor"
TIMEOUT_MS = 120_000
CSV = "printf 'x,y\\n1,a\\n2,b\\n' > \"$JUPYTER_COMPUTE_OUTPUT_DIR/table.csv\""

# Elements inside the monitor whose content is wider than their box (clipped, or cut with an ellipsis).
_CLIPPED = r"""selector => [...document.querySelectorAll(selector)]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth)
    .map(e => `${e.className}: ${e.textContent} (${e.scrollWidth} > ${e.clientWidth})`)"""


def monitor_notebook(lab_server) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from jupyter_compute.widgets import JobMonitor\n\nJobMonitor()")]
    nbformat.write(nb, lab_server.root / "jobs.ipynb")
    return "jobs.ipynb"


def names_shown(page) -> list[str]:
    return page.locator(f"{MONITOR} .jc-job-row .jc-jt-cells .jc-col-name").evaluate_all(
        "cells => cells.map(c => c.firstChild.textContent.trim())")


def dismiss_toasts(page) -> None:
    """Close the notifications (the sidebar's job toasts would cover the screenshots)."""
    close = ".Toastify__toast .jp-Notification-Toast-Close"
    for _ in range(10):  # a toast may arrive while others slide out
        page.evaluate("sel => document.querySelectorAll(sel).forEach(b => b.click())", close)
        page.wait_for_timeout(500)
        if not page.locator(close).count():
            break
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement?.blur()")


def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def test_the_job_table_reads_whole_sorts_and_shows_the_detail_beside_it(lab_server, page):
    open_notebook(page, lab_server, monitor_notebook(lab_server))
    run_all_cells(page, timeout=120)
    wait_for_text(page, "No jobs yet", selector=f"{MONITOR} .jc-jt-empty", timeout=60)
    assert "%submit_job" in page.locator(f"{MONITOR} .jc-jt-empty").inner_text()
    assert not page.locator(f"{MONITOR} .jc-jt-header").is_visible(), "no bare header over nothing"
    screenshot_both_themes(page, "job-table-empty")

    with lab_server.client() as client:
        done = [
            client.submit(command="true", name="b quick one"),
            client.submit(command="echo 'out of memory' >&2; exit 3", name="c failing job"),
            client.submit(command="sleep 60", name="d sleeps past its limit", timeout_s=1),
            client.submit(command=CSV, name="a table maker with a rather long name that must be ellipsised"),
        ]
        running = client.submit(command="sleep 120", name="e still running")
        for job in done:
            job.wait(timeout=120, progress=False, raise_on_failure=False)
        for state in ("SUCCEEDED", "FAILED", "TIMED_OUT", "RUNNING"):
            page.locator(f"{MONITOR} .jc-job-row.jc-state-{state}").first.wait_for(timeout=TIMEOUT_MS)
        assert len(names_shown(page)) == 5

        badges = page.locator(f"{MONITOR} .jc-job-row .jc-state-badge")
        words = ["SUCCEEDED", "SUCCEEDED", "FAILED", "TIMED_OUT", "RUNNING"]
        assert sorted(badges.all_inner_texts()) == sorted(f"{STATE_ICONS[w]}\xa0{w}" for w in words)
        clipped = page.evaluate(_CLIPPED, f"{MONITOR} .jc-col-state, {MONITOR} .jc-state-badge, "
                                          f"{MONITOR} button.jc-sort, {MONITOR} .jc-col-created, "
                                          f"{MONITOR} .jc-col-started, {MONITOR} .jc-jt-duration .jc-jt-cell")
        assert clipped == [], clipped
        hover = page.locator(f"{MONITOR} .jc-job-row.jc-state-FAILED .jc-state-badge").get_attribute("title")
        assert hover.startswith("FAILED — the platform says: ") and len(hover) > len("FAILED — the platform says: ")
        long_name = page.locator(f"{MONITOR} .jc-job-row .jc-col-name", has_text="a table maker")
        assert "must be ellipsised" in long_name.get_attribute("title")

        # the header's columns and the rows' cells start at the same x
        for column in ("name", "backend", "state", "created", "started"):
            header, cell = box(page, f"{MONITOR} button.jc-sort-{column}"), box(page, f"{MONITOR} .jc-job-row .jc-col-{column}")
            assert abs(header["x"] - cell["x"]) <= 1.5, (column, header, cell)
        assert abs(box(page, f"{MONITOR} button.jc-sort-duration")["x"]
                   - box(page, f"{MONITOR} .jc-job-row .jc-jt-duration")["x"]) <= 1.5

        # the running job's duration moves on in the browser
        duration = page.locator(f"{MONITOR} .jc-job-row.jc-state-RUNNING .jc-jt-duration")
        before = duration.inner_text()
        page.wait_for_function("([sel, text]) => document.querySelector(sel)?.innerText !== text",
                               arg=[f"{MONITOR} .jc-job-row.jc-state-RUNNING .jc-jt-duration", before],
                               timeout=TIMEOUT_MS)

        page.locator(f"{MONITOR} button.jc-sort-name").click()
        page.wait_for_function("sel => document.querySelector(sel)?.textContent.includes('▲')",
                               arg=f"{MONITOR} button.jc-sort-name", timeout=TIMEOUT_MS)
        page.wait_for_function(
            """sel => { const n = [...document.querySelectorAll(sel)].map(c => c.firstChild.textContent.trim());
                        return n.length === 5 && n.every((x, i) => i === 0 || n[i - 1] <= x); }""",
            arg=f"{MONITOR} .jc-job-row .jc-jt-cells .jc-col-name", timeout=TIMEOUT_MS)
        assert names_shown(page)[0].startswith("a table maker")
        dismiss_toasts(page)
        screenshot_both_themes(page, "job-table")

        page.locator(f"{MONITOR} .jc-job-row", has_text="a table maker").locator("button.jc-row-select").click()
        detail = f"{MONITOR} .jc-detail"
        page.locator(f"{detail} button.jc-load-df").wait_for(timeout=TIMEOUT_MS)
        table, pane = box(page, f"{MONITOR} .jc-table"), box(page, detail)
        assert pane["x"] >= table["x"] + table["width"] - 1, ("the detail is right of the table", table, pane)
        assert pane["y"] < table["y"] + table["height"], ("side by side, not under", table, pane)
        name_box, button = box(page, f"{detail} .jc-df-name"), box(page, f"{detail} button.jc-load-df")
        assert abs((name_box["y"] + name_box["height"] / 2) - (button["y"] + button["height"] / 2)) < 6
        assert name_box["x"] + name_box["width"] <= button["x"] + 1, "the name box just before its button"
        clipped = page.evaluate(_CLIPPED, f"{MONITOR} .jc-col-state, {MONITOR} .jc-state-badge")
        assert clipped == [], clipped
        # the detail scrolls on its own: show its results, with the monitor's top in the notebook's view
        page.locator(detail).evaluate("""d => { const n = d.querySelector('.jc-df-name');
            d.scrollTop += n.getBoundingClientRect().top - d.getBoundingClientRect().top - 120; }""")
        page.locator(MONITOR).evaluate("m => m.scrollIntoView({block: 'start'})")
        dismiss_toasts(page)
        screenshot_both_themes(page, "job-table-detail")

        page.locator(f"{detail} button.jc-load-df").click()
        page.locator(f"{detail} .jc-df-output table").wait_for(timeout=TIMEOUT_MS)
        client.cancel(running.id)
