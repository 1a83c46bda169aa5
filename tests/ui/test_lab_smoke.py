"""The quickstart notebook, run in a real JupyterLab in headless chromium: a job submitted to the
`local` backend, its log, and its result loaded into a DataFrame shown as an HTML table."""

from __future__ import annotations

from ui.conftest import (
    open_notebook,
    run_all_cells,
    run_in_new_cell,
    screenshot,
    wait_for_text,
)

OUTPUT = ".jp-OutputArea-output"


def table_rows(table) -> list[list[str]]:
    """The body rows of a rendered DataFrame: [index, *cells] per row."""
    return table.evaluate(
        "t => [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(c => c.textContent.trim()))")


def test_quickstart_runs_in_jupyterlab(lab_server, page):
    path = lab_server.add("notebooks/quickstart.ipynb")
    panel = open_notebook(page, lab_server, path)

    run_all_cells(page, timeout=120)

    wait_for_text(page, "wrote 24 rows to waves.csv", selector=OUTPUT)
    wait_for_text(page, "1 quickstart job(s)", selector=OUTPUT)
    tables = panel.locator(f"{OUTPUT} table.dataframe")
    assert tables.count() == 2  # waves.head() and waves.describe()
    head, described = tables.nth(0), tables.nth(1)
    assert head.locator("thead th").all_inner_texts()[-3:] == ["step", "sine", "cosine"]
    assert [row[1] for row in table_rows(head)] == ["0", "1", "2", "3", "4"]
    count = next(row for row in table_rows(described) if row[0] == "count")
    assert [float(value) for value in count[1:]] == [24.0, 24.0, 24.0]

    # The whole DataFrame, typed into a new cell the way a user would: all of its 24 rows.
    cell = run_in_new_cell(page, "waves")
    whole = cell.locator(f"{OUTPUT} table.dataframe")
    rows = table_rows(whole)
    assert len(rows) == 24
    assert [int(row[1]) for row in rows] == list(range(24))
    whole.scroll_into_view_if_needed()
    screenshot(page, "quickstart-dataframe")

    head.scroll_into_view_if_needed()
    shot = screenshot(page, "quickstart")
    assert shot.stat().st_size > 10_000
