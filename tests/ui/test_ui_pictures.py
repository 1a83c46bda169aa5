"""The pictures in a real JupyterLab (headless chromium, no network): the job timeline and the cluster
capacity chart render as bqplot SVG, the timeline grows live as jobs come and run, and both read well in
the light and the dark theme (screenshots timeline-*.png, capacity-*.png and panel-pictures-*.png).
"""

from __future__ import annotations

import re
import time

import nbformat

from jupyter_compute.widgets._util import STATE_COLOURS
from jupyter_compute.widgets.timeline import tint
from ui.conftest import NOTEBOOK, open_notebook, run_all_cells, screenshot_both_themes

TIMELINE = f"{NOTEBOOK} .jc-timeline"
CAPACITY = f"{NOTEBOOK} .jc-capacity-chart"
TIMEOUT = 120.0

# The timeline's bars as drawn: bqplot draws each line of a Lines mark as a path.line; a bar's waiting
# part is a path in a lighter colour (``tint`` of its state's), its running part one in the state's colour
# (of no length before it starts). Answers, for each path, whether it is a waiting part, and its extent (px).
_PATHS = r"""([selector, tints]) => {
    const root = document.querySelector(selector);
    return [...(root?.querySelectorAll('.bqplot path.line') ?? [])]
        .filter(path => /^M/.test(path.getAttribute('d') || ''))
        .map(path => ({waiting: tints.includes(getComputedStyle(path).stroke),
                       right: path.getBBox().x + path.getBBox().width, width: path.getBBox().width}));
}"""
TINTS = [f"rgb({int(c[1:3], 16)}, {int(c[3:5], 16)}, {int(c[5:7], 16)})" for c in map(tint, STATE_COLOURS.values())]


# The capacity chart's drawn bars (bqplot's rect.bar of a share above 0).
_SHOWN_BARS = r"""selector => [...(document.querySelector(selector)?.querySelectorAll('.bqplot rect.bar') ?? [])]
    .filter(rect => parseFloat(rect.getAttribute('width')) > 0).length"""


def pictures_notebook(lab) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("import jupyter_compute as jc\nfrom jupyter_compute.widgets import CapacityChart, "
                                  "JobTimeline\n\ntimeline = JobTimeline()\ntimeline"),
        nbformat.v4.new_code_cell("client = jc.Client()\ncapacity = CapacityChart(client.clusters('local'))\ncapacity"),
    ]
    nbformat.write(nb, lab.root / "pictures.ipynb")
    return "pictures.ipynb"


def drawn_bars(page, selector: str = TIMELINE) -> int:
    """How many bars the timeline draws (one waiting part each)."""
    return sum(path["waiting"] for path in page.evaluate(_PATHS, [selector, TINTS]))


def running_ends(page) -> list[float]:
    """The right ends (px) of the running parts drawn."""
    return [path["right"] for path in page.evaluate(_PATHS, [TIMELINE, TINTS]) if not path["waiting"] and path["width"] > 0]


def wait_until(page, probe, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(200)
    return found


def test_timeline_grows_live_and_capacity_chart_shows(lab_server, page):
    client = lab_server.client()
    done = [client.submit(command="true", name=f"quick-{i}") for i in range(3)]
    for job in done:
        job.wait(timeout=TIMEOUT, progress=False)
    open_notebook(page, lab_server, pictures_notebook(lab_server))
    run_all_cells(page, timeout=180)

    page.locator(f"{TIMELINE} .bqplot svg").first.wait_for(timeout=TIMEOUT * 1000)
    wait_until(page, lambda: drawn_bars(page) == 3, "one drawn bar per finished job")
    labels = page.locator(f"{TIMELINE} .bqplot .axis text").all_text_contents()
    assert "local" in labels, f"the backend's band is labelled: {labels}"

    # a job added while the timeline shows: its bar appears live, and grows while it runs
    runner = client.submit(command="sleep 25", name="runner")
    wait_until(page, lambda: drawn_bars(page) == 4, "the new job's bar, added live")
    deadline = time.monotonic() + TIMEOUT
    while runner.refresh().state.value != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    first = wait_until(page, lambda: max(running_ends(page), default=0), "the running part drawn")
    wait_until(page, lambda: max(running_ends(page)) > first + 1, "the running bar to grow to the right")
    screenshot_both_themes(page, "timeline")

    capacity = page.locator(f"{CAPACITY} .bqplot")
    capacity.scroll_into_view_if_needed()
    wait_until(page, lambda: page.evaluate(_SHOWN_BARS, CAPACITY) >= 3, "the capacity bars (CPU, memory, nodes)")
    texts = " ".join(page.locator(f"{CAPACITY} .bqplot .axis text").all_text_contents())
    assert re.search(r"· CPU: .* used · .* free of", texts) and "· memory:" in texts, texts
    assert "GPU" not in texts, "the local machine has no GPU: no GPU bar"
    screenshot_both_themes(page, "capacity")
    client.cancel(runner.id)


def test_panel_shows_the_pictures_in_its_tabs(lab_server, page):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import jupyter_compute as jc\npanel = jc.panel()\npanel")]
    nbformat.write(nb, lab_server.root / "panel.ipynb")
    client = lab_server.client()
    for i in range(4):
        client.submit(command=f"sleep {i}", name=f"panel-job-{i}")
    open_notebook(page, lab_server, "panel.ipynb")
    run_all_cells(page, timeout=180)
    panel = f"{NOTEBOOK} .jc-panel"
    page.locator(f"{panel} .lm-TabBar-tab", has_text=re.compile("^Jobs$")).click()
    page.locator(f"{panel} .jc-timeline .bqplot svg").first.wait_for(timeout=TIMEOUT * 1000)
    wait_until(page, lambda: drawn_bars(page, f"{panel} .jc-timeline") >= 4, "the panel's timeline bars")
    page.locator(f"{panel} .jc-timeline").scroll_into_view_if_needed()
    screenshot_both_themes(page, "panel-pictures-jobs")
    page.locator(f"{panel} .lm-TabBar-tab", has_text=re.compile("^Clusters$")).click()
    wait_until(page, lambda: page.evaluate(_SHOWN_BARS, f"{panel} .jc-capacity-chart") >= 3, "the capacity bars")
    screenshot_both_themes(page, "panel-pictures-clusters")
