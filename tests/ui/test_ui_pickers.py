"""The Environments and Clusters tabs of ``jc.panel()`` in a real JupyterLab (sandbox mode: every platform's
stand-in, so ModelArts pools and clusters in every status), driven in headless chromium.

Checks what only a browser can tell: no cell's text is clipped, the table is as tall as its rows, a click
on a heading sorts and a click on a row chooses, and a chosen cluster is the only one marked. Screenshots
in both themes: environments-{light,dark}.png and clusters-{light,dark}.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import nbformat
import pytest

from ui.conftest import NOTEBOOK, LabServer, open_notebook, run_all_cells, screenshot_both_themes, start_lab

PANEL = f"{NOTEBOOK} .jc-panel"

# Every cell of the shown table: text not clipped (wider or taller than its box), no ellipsis.
CLIPPED_CELLS = r"""table => [...table.querySelectorAll('button.jc-cell')]
    .filter(cell => cell.scrollWidth > cell.clientWidth + 1 || cell.scrollHeight > cell.clientHeight + 1
                    || getComputedStyle(cell).textOverflow === 'ellipsis')
    .map(cell => cell.textContent)"""

# The table's height against its rows: no scroll bar, and no empty space under the last row.
TABLE_FIT = r"""table => {
    const cells = [...table.querySelectorAll('button.jc-cell')];
    const bottom = Math.max(...cells.map(cell => cell.getBoundingClientRect().bottom));
    return {scrolls: table.scrollHeight > table.clientHeight + 1,
            gap: table.getBoundingClientRect().bottom - bottom};
}"""


@pytest.fixture(scope="module")
def sandbox_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    lab = start_lab(tmp_path_factory.mktemp("pickers-lab") / "jupyter", ["--ComputeApp.sandbox=True"])
    yield lab
    lab.server.stop()


def show_panel(page, lab: LabServer) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import jupyter_compute as jc\npanel = jc.panel()\npanel")]
    nbformat.write(nb, lab.root / "pickers.ipynb")
    open_notebook(page, lab, "pickers.ipynb")
    run_all_cells(page, timeout=180)
    page.locator(PANEL).wait_for(timeout=120_000)


def open_tab(page, title: str) -> None:
    page.locator(f"{PANEL} .lm-TabBar-tab", has_text=re.compile(f"^{title}$")).click()


def assert_nothing_cut(table) -> None:
    assert table.evaluate(CLIPPED_CELLS) == []
    assert "…" not in "".join(table.locator("button.jc-cell").all_inner_texts())


def check_sort(page, table, rows) -> None:
    """A click on a heading sorts by it, a second one reverses; the arrow says which way."""
    cpus = table.locator(".jc-env-head button.jc-cell", has_text=re.compile("^CPUs"))
    cpus.click()
    page.wait_for_function("el => el.textContent.trim() === 'CPUs ▲'", arg=cpus.element_handle())
    values = rows.locator("button.jc-cell:nth-child(4)").all_inner_texts()
    numbers = [float(v) for v in values if v not in ("—", "")]
    assert numbers == sorted(numbers) and len(numbers) >= 3, values
    cpus.click()
    page.wait_for_function("el => el.textContent.trim() === 'CPUs ▼'", arg=cpus.element_handle())
    numbers = [float(v) for v in rows.locator("button.jc-cell:nth-child(4)").all_inner_texts() if v != "—"]
    assert numbers == sorted(numbers, reverse=True)


def check_filter(page, picker, table, rows, count: int) -> None:
    """Typing in the filter keeps the rows holding the words; clearing it brings all back."""
    picker.locator(".jc-env-filter input").fill("modelarts")
    page.wait_for_function("([t, n]) => t.querySelectorAll('.jc-env-row').length < n",
                           arg=[table.element_handle(), count])
    assert set(rows.locator("button.jc-cell:nth-child(2)").all_inner_texts()) == {"modelarts"}
    picker.locator(".jc-env-filter input").fill("")
    page.wait_for_function("([t, n]) => t.querySelectorAll('.jc-env-row').length === n",
                           arg=[table.element_handle(), count])


def test_environments_table_sorts_filters_chooses_and_cuts_nothing(sandbox_lab, page):
    show_panel(page, sandbox_lab)
    open_tab(page, "Environments")
    picker = page.locator(f"{PANEL} .jc-env-picker").locator("visible=true")
    table = picker.locator(".jc-env-table")
    rows = table.locator(".jc-env-row")
    rows.first.wait_for(timeout=60_000)
    count = rows.count()
    assert count >= 5, count
    assert_nothing_cut(table)
    fit = table.evaluate(TABLE_FIT)
    assert not fit["scrolls"] and 0 <= fit["gap"] <= 4, fit
    texts = table.locator("button.jc-cell").all_inner_texts()
    assert [t for t in texts if re.fullmatch(r"\d+ × Ascend \w+", t)], texts  # a GPU type in full
    check_sort(page, table, rows)
    check_filter(page, picker, table, rows, count)

    # a click on a row chooses it, and marks only it
    name_cell = rows.nth(2).locator("button.jc-cell").nth(2)
    name = name_cell.inner_text()
    name_cell.click()
    picker.locator(".jc-env-details", has_text=f"chosen: {name}").wait_for()
    assert table.locator(".jc-env-row.jc-selected").count() == 1
    assert table.locator(".jc-env-row.jc-selected button.jc-cell").nth(2).inner_text() == name
    assert_nothing_cut(table)
    picker.scroll_into_view_if_needed()
    screenshot_both_themes(page, "environments")


# The theme's colour of each meaning, as the browser computes it.
THEME_COLOURS = """() => {
    const probe = v => { const d = document.createElement('div'); d.style.color = `var(${v})`;
                         document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; };
    return {failing: probe('--jp-error-color1'), busy: probe('--jp-warn-color1'),
            healthy: probe('--jp-success-color1')};
}"""


def check_colours(page, picker) -> None:
    for meaning, colour in page.evaluate(THEME_COLOURS).items():
        status = picker.locator(f".jc-cluster-status.jc-health-{meaning}").first
        assert status.evaluate("el => getComputedStyle(el).color") == colour, meaning
    abnormal = picker.locator(".jc-cluster-status", has_text="abnormal").first
    assert "jc-health-failing" in abnormal.get_attribute("class")


def check_ids_on_hover(picker, rows) -> None:
    names = picker.locator(".jc-cluster-name")
    titles = [names.nth(i).get_attribute("title") or "" for i in range(names.count())]
    assert len(titles) == rows.count() and all(re.fullmatch(r"[\w-]+/.+", t) for t in titles), titles
    assert "modelarts/cluster:ff8080817a1c2b3d017a1c2b9e010003" in titles
    assert "ff8080817a1c2b3d017a1c2b9e010003" not in picker.inner_text()


def choose_and_check(page, picker, rows, index: int) -> None:
    """Click the choose button of row ``index``: that row, and only it, is marked."""
    rows.nth(index).locator(".jc-choose").click()
    page.wait_for_function("row => row.classList.contains('jc-selected')", arg=rows.nth(index).element_handle())
    assert picker.locator(".jc-cluster-row.jc-selected").count() == 1
    assert picker.locator(".jc-choose", has_text="chosen").count() == 1
    assert rows.nth(index).locator(".jc-choose").inner_text().strip() == "chosen"


def test_clusters_grouped_coloured_and_only_the_chosen_one_marked(sandbox_lab, page):
    show_panel(page, sandbox_lab)
    open_tab(page, "Clusters")
    picker = page.locator(f"{PANEL} .jc-cluster-picker").locator("visible=true")
    rows = picker.locator(".jc-cluster-row")
    rows.first.wait_for(timeout=60_000)
    headings = picker.locator(".jc-cluster-heading").all_inner_texts()
    assert {h.split()[0] for h in headings} >= {"local", "modelarts"}, headings
    assert picker.locator(".jc-choose", has_text="chosen").count() == 0
    check_colours(page, picker)
    check_ids_on_hover(picker, rows)
    for index in (3, 1):
        choose_and_check(page, picker, rows, index)
    rows.nth(1).scroll_into_view_if_needed()
    screenshot_both_themes(page, "clusters")
