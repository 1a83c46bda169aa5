"""The monitor's job table against a real `jupyter server` with two local backends: whole state
badges with the platform's status on hover, sorting by every column, a duration that moves on while a
job runs and stays put after, an empty state that says what to do, the detail beside the list, and
the DataFrame name box beside its button.

Widgets run in the test process without a kernel (ipywidgets works without a comm). Every test names
its jobs with its own token and filters the monitor on it.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LiveServer, start_live_server
from conftest import wait_for as poll

from jupyter_compute.client import Client
from jupyter_compute.errors import InvalidSpec
from jupyter_compute.widgets import JobMonitor
from jupyter_compute.widgets.monitor import RELOAD_DELAY_S
from jupyter_compute.widgets.job_table import duration_seconds, duration_text, sort_value

TIMEOUT = 120.0
wait_for = functools.partial(poll, timeout=TIMEOUT, every=0.05)
BACKENDS = {"alpha": {"kind": "local"}, "beta": {"kind": "local"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_live_server(tmp_path_factory.mktemp("table") / "jupyter", backends=BACKENDS)
    yield server
    server.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def token() -> str:
    return "tab" + uuid.uuid4().hex[:10]


@pytest.fixture
def monitors() -> Iterator[list[JobMonitor]]:
    made: list[JobMonitor] = []
    yield made
    for monitor in made:
        monitor.close()


def monitor_of(monitors: list[JobMonitor], client: Client, **kwargs: Any) -> JobMonitor:
    monitor = JobMonitor(client, namespace={}, **kwargs)
    monitors.append(monitor)
    return monitor


def badge(row: Any) -> tuple[str, str]:
    """The state word and the hover text of a row's badge (as the browser gets them)."""
    match = re.search(r'class="jc-state-badge" title="([^"]*)".*?class="jc-state-word">([^<]*)<', row.cells.value)
    assert match, row.cells.value
    return match.group(2), match.group(1)


def shown_seconds(row: Any) -> float:
    """The duration a row shows, in seconds (its hover has them to a tenth)."""
    match = re.search(r'title="([0-9.]+) s"', row.duration.value)
    assert match, row.duration.value
    return float(match.group(1))


def test_badges_show_the_whole_state_and_the_platforms_status_on_hover(client, token, monitors):
    monitor = monitor_of(monitors, client, q=token)
    failed = client.submit(command="exit 3", name=f"{token}-failed", backend="alpha")
    late = client.submit(command="sleep 60", name=f"{token}-late", backend="alpha", timeout_s=1)
    ok = client.submit(command="true", name=f"{token}-ok", backend="beta")
    for job, state in ((failed, "FAILED"), (late, "TIMED_OUT"), (ok, "SUCCEEDED")):
        wait_for(lambda job=job, state=state: job.id in monitor.rows and monitor.rows[job.id].state == state,
                 f"the row of {job.name} to show {state}")
        native = client.job(job.id).native_status
        assert native, "the local backend tells its own status"
        word, hover = badge(monitor.rows[job.id])
        assert word == state, "the whole state word, never cut"
        assert native in hover, "the platform's own status is on the badge's hover"
        assert f"jc-state-{state}" in monitor.rows[job.id]._dom_classes
    assert set(monitor.header.buttons) == {"name", "backend", "state", "created", "started", "duration"}
    static = monitor._repr_html_()
    assert ">TIMED_OUT<" in static and f"the platform says: {client.job(late.id).native_status}" in static
    assert "TIMED_OUT" in repr(monitor) and "created" in repr(monitor).splitlines()[1]


def _finish_three_jobs(client: Client, token: str) -> list[Any]:
    """Three jobs with different names, backends, states, times and durations."""
    failing = client.submit(command="sleep 1.5; exit 1", name=f"{token}-b", backend="beta")
    quick = client.submit(command="true", name=f"{token}-c", backend="alpha")
    slow = client.submit(command="sleep 60", name=f"{token}-a", backend="alpha")
    for job in (failing, quick):
        job.wait(timeout=TIMEOUT, progress=False, raise_on_failure=False)
    poll(lambda: client.job(slow.id).state.value == "RUNNING", "the slow job to run", timeout=TIMEOUT)
    client.cancel(slow.id)
    poll(lambda: client.job(slow.id).is_terminal, "the slow job to end", timeout=TIMEOUT)
    return [client.job(job.id) for job in (failing, quick, slow)]


def test_a_header_click_sorts_by_its_column_and_a_second_reverses(client, token, monitors):
    jobs = _finish_three_jobs(client, token)
    monitor = monitor_of(monitors, client, q=token)
    wait_for(lambda: all(monitor.rows.get(j.id) and monitor.rows[j.id].job.is_terminal for j in jobs),
             "the three rows in their final states")
    assert {j.state.value for j in jobs} == {"FAILED", "SUCCEEDED", "CANCELLED"}
    for column in ("name", "backend", "state", "created", "started", "duration"):
        tie = [j.id for j in jobs]  # two jobs are on alpha: the server breaks the tie by submission order
        for _click in range(2):
            monitor.header.buttons[column].click()
            key, descending = monitor.sort.lstrip("-"), monitor.sort.startswith("-")
            assert key == column
            ranked = sorted(jobs, key=lambda j, key=key: (sort_value(j, key), tie.index(j.id)), reverse=descending)
            assert [r.job.id for r in monitor.rows.values()] == [j.id for j in ranked], (column, monitor.sort)
            assert [row.job.id for row in monitor.table.children] == [j.id for j in ranked]
            arrow = "▼" if descending else "▲"
            assert monitor.header.buttons[column].description.endswith(arrow)
            assert "jc-sorted" in monitor.header.buttons[column]._dom_classes
            others = [b for c, b in monitor.header.buttons.items() if c != column]
            assert not any(b.description.endswith(("▲", "▼")) for b in others)
    assert monitor.error_text == ""


def test_the_duration_moves_on_while_running_and_stays_put_after(client, token, monitors):
    monitor = monitor_of(monitors, client, q=token)
    clock = client.submit(command="sleep 90", name=f"{token}-clock")
    ended = client.submit(command="sleep 90", name=f"{token}-ended")
    for job in (clock, ended):
        wait_for(lambda job=job: job.id in monitor.rows and monitor.rows[job.id].state == "RUNNING",
                 f"{job.name} to run")
    row = monitor.rows[clock.id]
    cells, cells_value, first = row.cells, row.cells.value, shown_seconds(row)
    wait_for(lambda: shown_seconds(row) >= first + 1, "the running job's duration to move on")
    assert row.cells is cells and row.cells.value == cells_value, "a tick changes only the duration's value"

    client.cancel(ended.id)
    wait_for(lambda: monitor.rows[ended.id].state == "CANCELLED", "the cancelled row")
    stopped = monitor.rows[ended.id]
    frozen = stopped.duration.value
    job = client.job(ended.id)
    assert duration_text(duration_seconds(job)) in frozen, "finished - started"
    assert job.finished is not None and job.started is not None
    witness = shown_seconds(row)
    wait_for(lambda: shown_seconds(row) >= witness + 2, "two more ticks of the running job")
    assert stopped.duration.value == frozen, "an ended job's duration is frozen"
    client.cancel(clock.id)


def test_the_empty_table_says_what_to_do_next(client, token, monitors, tmp_path):
    filtered = monitor_of(monitors, client, q=token)
    assert filtered.rows == {} and filtered.empty.layout.display is None
    assert "No job matches these filters" in filtered.empty.value
    assert filtered.header.layout.display == "none" and filtered.page_label.value == "", "no bare headers, no 0 of 0"
    assert "No job matches" in filtered._repr_html_()
    job = client.submit(command="true", name=f"{token}-first")
    wait_for(lambda: job.id in filtered.rows, "the job to show")
    assert filtered.empty.layout.display == "none" and filtered.header.layout.display is None
    assert "1–1 of 1" in filtered.page_label.value

    fresh = start_live_server(tmp_path / "jupyter")
    try:
        with fresh.client() as other:
            monitor = monitor_of(monitors, other)
            assert "No jobs yet" in monitor.empty.value
            assert "%submit_job" in monitor.empty.value and "Submit" in monitor.empty.value
            monitor.close()
    finally:
        fresh.stop()


def test_a_selected_job_shows_beside_the_list(client, token, monitors):
    monitor = monitor_of(monitors, client, q=token)
    job = client.submit(command="true", name=f"{token}-pick")
    row = wait_for(lambda: monitor.rows.get(job.id), "the job's row")
    assert monitor.detail.layout.display == "none" and "jc-split" not in monitor._dom_classes
    assert list(monitor.body.children) == [monitor.list_box, monitor.detail]
    assert monitor.body.layout.flex_flow.startswith("row"), "list and detail side by side"

    row.select_button.click()
    assert monitor.detail.job_id == job.id and monitor.detail.layout.display is None
    assert "jc-split" in monitor._dom_classes, "the list makes room for the detail beside it"
    assert monitor.list_box.children[1] is monitor.table and monitor.detail not in monitor.list_box.children

    monitor.detail.close_button.click()
    assert monitor.detail.layout.display == "none" and "jc-split" not in monitor._dom_classes
    row.select_button.click()
    row.select_button.click()  # a second click on the shown job closes it too
    assert monitor.selected is None and "jc-split" not in monitor._dom_classes


TWO_TABLES = (
    "printf 'x\\n1\\n2\\n' > \"$JUPYTER_COMPUTE_OUTPUT_DIR/first.csv\"; "
    "printf 'y\\n3\\n' > \"$JUPYTER_COMPUTE_OUTPUT_DIR/second.csv\""
)


def test_each_load_button_has_its_variable_name_beside_it(client, token, monitors):
    monitor = monitor_of(monitors, client, q=token)
    namespace: dict[str, Any] = {}
    monitor.detail._namespace = namespace
    job = client.submit(command=TWO_TABLES, name=f"{token}-frames")
    job.wait(timeout=TIMEOUT, progress=False)
    wait_for(lambda: job.id in monitor.rows and monitor.rows[job.id].state == "SUCCEEDED", "the finished row")
    monitor.select(job.id)
    detail = monitor.detail
    buttons = wait_for(lambda: len(detail.load_buttons) == 2 and detail.load_buttons, "both Load buttons")
    boxes = {}
    for row in detail.results_box.children:
        pairs = [c for c in row.children if getattr(c, "children", ())]
        if not pairs:
            continue  # a result that is not a table
        name_box, button = pairs[0].children
        assert "jc-df-name" in name_box._dom_classes and "jc-load-df" in button._dom_classes, \
            "the name box sits right before its button, in one box of the result's row"
        boxes[button] = name_box
    assert set(boxes) == set(buttons.values()) and boxes[buttons["first.csv"]] is detail.df_name
    assert detail.df_name not in detail.children, "no name box under the log any more"
    boxes[buttons["first.csv"]].value = "one"
    boxes[buttons["second.csv"]].value = "two"
    buttons["second.csv"].click()
    wait_for(lambda: "two" in namespace, "the second frame bound to its own name")
    buttons["first.csv"].click()
    wait_for(lambda: "one" in namespace, "the first frame bound to its own name")
    assert namespace["one"].to_dict("list") == {"x": [1, 2]} and namespace["two"].to_dict("list") == {"y": [3]}


def test_a_sorted_page_follows_new_jobs_where_the_order_puts_them(client, token, monitors):
    for name in ("b", "c", "d"):
        client.submit(command="true", name=f"{token}-{name}").wait(timeout=TIMEOUT, progress=False)
    monitor = monitor_of(monitors, client, q=token, page_size=2, sort="name")
    assert [r.job.name for r in monitor.rows.values()] == [f"{token}-b", f"{token}-c"]
    assert monitor.header.buttons["name"].description == "name ▲"
    live = monitor._live
    assert live is not None

    def own_queries() -> int:
        """The page queries not made for a (re)connection of the event stream (each reloads the page once)."""
        return monitor.page_queries - live.connections

    queries = own_queries()
    last = client.submit(command="true", name=f"{token}-z")  # sorts after page 1: no query for it
    last.wait(timeout=TIMEOUT, progress=False)
    wait_for(lambda: last.id in monitor._seen, "the monitor to hear of the job sorting last")
    time.sleep(RELOAD_DELAY_S * 3)
    assert own_queries() == queries and last.id not in monitor.rows, "no query for a job after the page"
    first = client.submit(command="true", name=f"{token}-a")  # sorts first: page 1 shows it
    wait_for(lambda: list(monitor.rows)[:1] == [first.id], "the new job at the top of the name-sorted page")
    assert [r.job.name for r in monitor.rows.values()] == [f"{token}-a", f"{token}-b"]
    wait_for(lambda: monitor._reloader is None, "the reloads to end")
    assert monitor.total == 5 and monitor.page_queries - queries <= 3, monitor.page_queries - queries
    with pytest.raises(InvalidSpec):
        monitor.set_sort("message")
