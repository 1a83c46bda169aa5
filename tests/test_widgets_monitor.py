"""The job monitor widget against a real `jupyter server`: rows follow jobs without a refresh.

Widgets run in the test process without a kernel (ipywidgets works without a comm). One
server is shared by the module; every test names its jobs with its own token and filters the
monitor on it, so tests do not see each other's jobs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from conftest import LiveServer, start_live_server

from jupyter_compute.client import Client, _server_sent_events
from jupyter_compute.errors import ComputeError, NotFound
from jupyter_compute.widgets import JobMonitor, LiveJobs
from jupyter_compute.widgets._util import (
    format_duration,
    format_size,
    html_table,
    state_colour,
)

TIMEOUT = 60.0

CSV_JOB = (
    "echo first line; sleep 1; echo second line; "
    "printf 'x,y\\n1,a\\n2,b\\n3,c\\n' > \"$JUPYTER_COMPUTE_OUTPUT_DIR/table.csv\"; "
    "echo not a table > \"$JUPYTER_COMPUTE_OUTPUT_DIR/notes.txt\""
)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Poll ``predicate`` until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def row_state(monitor: JobMonitor, job_id: str) -> str | None:
    row = monitor.rows.get(job_id)
    return row.state if row is not None else None


def shows_state(monitor: JobMonitor, job_id: str, state: str) -> bool:
    """The row's widget value (what the browser shows) has the state and its CSS class."""
    row = monitor.rows.get(job_id)
    return (
        row is not None
        and f">{state}<" in row.cells.value
        and f"jc-state-{state}" in row._dom_classes
    )


@pytest.fixture(scope="module")
def server(module_server: LiveServer) -> LiveServer:
    return module_server


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def token() -> str:
    return "mon" + uuid.uuid4().hex[:10]


@pytest.fixture
def monitors() -> Iterator[list[JobMonitor]]:
    made: list[JobMonitor] = []
    yield made
    for monitor in made:
        monitor.close()


def test_rows_follow_jobs_without_refresh(client, token, monitors):
    monitor = JobMonitor(client, q=token, namespace={})
    monitors.append(monitor)
    assert monitor.rows == {} and monitor.page_text == "0 of 0"
    assert "jc-monitor" in monitor._dom_classes

    first = client.submit(command="true", name=f"{token}-first")
    wait_for(lambda: shows_state(monitor, first.id, "SUCCEEDED"), "the first job's row to show SUCCEEDED")
    first_row = monitor.rows[first.id]
    first_cells = first_row.cells

    calls: list[dict[str, Any]] = []
    list_jobs = client.jobs

    def counting_jobs(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return list_jobs(*args, **kwargs)

    client.jobs = counting_jobs  # type: ignore[method-assign]
    second = client.submit(command="sleep 1; echo done", name=f"{token}-second")
    wait_for(lambda: second.id in monitor.rows, "the new job to appear without a refresh")
    assert monitor.table.children[0] is monitor.rows[second.id], "a new job shows at the top of page 1"
    assert monitor.table.children[1] is first_row
    second_row = monitor.rows[second.id]
    queries_when_shown = len(calls)

    wait_for(lambda: shows_state(monitor, second.id, "SUCCEEDED"), "the second job's row to show SUCCEEDED")
    assert len(calls) == queries_when_shown, "state changes of a shown job update its row without a query"
    assert monitor.rows[second.id] is second_row, "the changed row was updated in place"
    assert monitor.rows[first.id] is first_row and first_row.cells is first_cells, "other rows untouched"
    assert list(monitor.table.children) == [second_row, first_row]
    assert monitor.page_text == "1–2 of 2"
    assert monitor.error_text == ""


def test_select_follows_log_and_loads_dataframe(client, token, monitors):
    namespace: dict[str, Any] = {}
    monitor = JobMonitor(client, q=token, namespace=namespace)
    monitors.append(monitor)
    job = client.submit(command=CSV_JOB, name=f"{token}-csv")
    row = wait_for(lambda: monitor.rows.get(job.id), "the job's row")

    row.select_button.click()
    detail = monitor.detail
    assert detail.job_id == job.id and detail.layout.display is None, "the detail pane is shown"
    assert "jc-selected" in row._dom_classes
    assert {"jc-detail"} <= set(detail._dom_classes) and "jc-log" in detail.log_view._dom_classes
    wait_for(lambda: "first line" in detail.log_text, "the log's first line")
    wait_for(lambda: "second line" in detail.log_text, "the followed log's second line")
    assert detail.log_text.index("first line") < detail.log_text.index("second line")
    assert any("second line" in out.get("text", "") for out in detail.log_view.outputs)

    buttons = wait_for(lambda: detail.load_buttons, "the Load as DataFrame button of the results")
    assert set(buttons) == {"table.csv"}, "only tabular results can be loaded"
    assert "jc-load-df" in buttons["table.csv"]._dom_classes
    assert "B" in detail.results_box.children[0].children[0].value, "the result's size is shown"
    assert detail.cancel_button.disabled, "a finished job cannot be cancelled"

    detail.df_name.value = "frame"
    buttons["table.csv"].click()
    wait_for(lambda: "frame" in namespace, "the frame bound in the namespace")
    frame = namespace["frame"]
    assert frame.to_dict("list") == {"x": [1, 2, 3], "y": ["a", "b", "c"]}
    wait_for(lambda: detail.df_output.outputs, "the frame's head under the button")
    assert "<table" in detail.df_output.outputs[0]["data"]["text/html"]
    assert "3 rows × 2 columns" in detail.df_status.value

    detail.df_name.value = "not a name"
    detail.load_dataframe("table.csv")
    assert "not a valid Python variable name" in detail.df_status.value


def test_cancel_needs_confirmation_and_ends_the_job(client, token, monitors):
    monitor = JobMonitor(client, q=token, namespace={})
    monitors.append(monitor)
    job = client.submit(command="sleep 60", name=f"{token}-sleeper")
    wait_for(lambda: shows_state(monitor, job.id, "RUNNING"), "the sleeper's row to show RUNNING")
    monitor.rows[job.id].select_button.click()
    detail = monitor.detail
    wait_for(lambda: not detail.cancel_button.disabled, "Cancel to be enabled for a running job")
    assert "jc-cancel" in detail.cancel_button._dom_classes

    detail.cancel_button.click()
    assert detail.confirm.layout.display is None and "Confirm cancel?" in detail.confirm_label.value
    detail.confirm_no.click()
    assert detail.confirm.layout.display == "none"
    assert client.job(job.id).state.value == "RUNNING", "No leaves the job alone"

    detail.cancel_button.click()
    assert "jc-confirm-yes" in detail.confirm_yes._dom_classes
    detail.confirm_yes.click()
    wait_for(lambda: shows_state(monitor, job.id, "CANCELLED"), "the row to show CANCELLED")
    assert client.job(job.id).state.value == "CANCELLED"
    wait_for(lambda: detail.cancel_button.disabled, "Cancel to be greyed out once the job ended")
    assert detail.error.value == ""

    detail.delete_button.click()
    assert "Confirm delete?" in detail.confirm_label.value
    detail.confirm_yes.click()
    wait_for(lambda: job.id not in monitor.rows, "the deleted job's row to go")
    assert "(deleted)" in detail.title.value and detail.delete_button.disabled
    with pytest.raises(NotFound):
        client.job(job.id)


def test_failed_job_shows_its_message(client, token, monitors):
    monitor = JobMonitor(client, q=token, namespace={})
    monitors.append(monitor)
    job = client.submit(command="echo 'disk is on fire' >&2; exit 3", name=f"{token}-fails")
    wait_for(lambda: shows_state(monitor, job.id, "FAILED"), "the row to show FAILED")
    message = client.job(job.id).message
    assert "exited with code 3" in message
    row = monitor.rows[job.id]
    assert "exited with code 3" in row.cells.value and "disk is on fire" in row.cells.value
    assert state_colour("FAILED") in row.cells.value, "the failed state (and its message) are red"
    row.select_button.click()
    assert "exited with code 3" in monitor.detail.fields.value
    assert "exited with code 3" in repr(monitor)


def test_paging_and_filters(client, token, monitors):
    jobs = [client.submit(command="true", name=f"{token}-{i}") for i in range(7)]
    failing = client.submit(command="exit 1", name=f"{token}-bad")
    for job in [*jobs, failing]:
        job.wait(timeout=TIMEOUT, progress=False)

    monitor = JobMonitor(client, q=token, page_size=3, namespace={})
    monitors.append(monitor)
    assert monitor.page_text == "1–3 of 8" and "1–3 of 8" in monitor.page_label.value
    assert [r.job.name for r in monitor.rows.values()] == [f"{token}-bad", f"{token}-6", f"{token}-5"]
    assert monitor.prev_button.disabled and not monitor.next_button.disabled
    monitor.next_button.click()
    assert monitor.page_text == "4–6 of 8"
    assert [r.job.name for r in monitor.rows.values()] == [f"{token}-4", f"{token}-3", f"{token}-2"]
    monitor.next_button.click()
    assert monitor.page_text == "7–8 of 8" and monitor.next_button.disabled
    monitor.prev_button.click()
    assert monitor.page_text == "4–6 of 8"

    monitor.state_filter.value = "FAILED"  # as a user picks it: back to page 1, filtered
    assert monitor.page_text == "1–1 of 1" and list(monitor.rows) == [failing.id]
    assert "local" in [value for _label, value in monitor.backend_filter.options]
    monitor.backend_filter.value = "local"
    assert list(monitor.rows) == [failing.id]
    monitor.state_filter.value = ""
    monitor.search.value = f"{token}-3"
    assert [r.job.id for r in monitor.rows.values()] == [jobs[3].id]
    monitor.set_filters(state="SUCCEEDED", q=token)
    assert monitor.total == 7 and monitor.filters == {"backend": None, "state": "SUCCEEDED", "q": token}

    static = monitor._repr_html_()
    assert static.startswith("<table") and f"{token}-6" in static and state_colour("SUCCEEDED") in static
    assert "Jobs 1–3 of 7" in static
    text = repr(monitor)
    assert text.splitlines()[0].startswith("Jobs 1–3 of 7") and f"{token}-6" in text and "SUCCEEDED" in text
    bundle = monitor._repr_mimebundle_()
    assert bundle["text/html"] == static and bundle["text/plain"] == text
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_server_errors_show_as_one_red_line(server, monitors):
    with Client(server.url, "not-the-token") as client:
        monitor = JobMonitor(client, namespace={})
        monitors.append(monitor)
        assert monitor.rows == {}
        assert "cannot list the jobs" in monitor.error_text and "Traceback" not in monitor.error_text
        assert "color:#c62828" in monitor.error.value and "\n" not in monitor.error_text
        assert "error: cannot list the jobs" in repr(monitor)
        monitor.close()


def test_reconnects_after_a_server_restart(tmp_path, monitors):
    """The stream drops with the server; LiveJobs reconnects and resyncs, still without a refresh."""
    home = tmp_path / "jupyter"
    first = start_live_server(home)
    port = int(first.url.split(":")[2].split("/")[0])
    second = None
    try:
        client = first.client()
        monitor = JobMonitor(client, namespace={})
        monitors.append(monitor)
        live = LiveJobs.for_client(client)
        assert live.wait_connected(TIMEOUT) and monitor in live.listeners
        first.stop()
        wait_for(lambda: not live.connected, "the stream to drop with the server")
        second = start_live_server(home, port=port, token=first.token)
        with second.client() as other:
            job = other.submit(command="true", name="after-restart")
        wait_for(lambda: shows_state(monitor, job.id, "SUCCEEDED"), "the job submitted after the restart")
        assert live.connections >= 2
        monitor.close()
        client.close()
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_events_parse_server_sent_events():
    body = (
        b": connected\n\n"
        b"event: job\ndata: {\"id\": \"a\",\ndata: \"state\": \"RUNNING\"}\n\n"
        b": keepalive\n\n"
        b"event: job_deleted\ndata:{\"id\":\"b\"}\n\n"
        b"event: job\ndata: not json\n\n"
    )
    response = httpx.Response(200, content=body, request=httpx.Request("GET", "http://x/compute/api/events"))
    stream = _server_sent_events(response, "http://x/")
    assert next(stream) == {"event": "job", "data": {"id": "a", "state": "RUNNING"}}
    assert next(stream) == {"event": "job_deleted", "data": {"id": "b"}}
    with pytest.raises(ComputeError, match="ended"):
        next(stream)


def test_events_stream_from_the_server(client):
    stream = client.events()
    job = client.submit(command="true", name="evented")
    states = []
    for event in stream:
        if event["event"] == "job" and event["data"]["id"] == job.id:
            states.append(event["data"]["state"])
            if states[-1] == "SUCCEEDED":
                break
    stream.close()
    assert states[0] == "QUEUED" and states[-1] == "SUCCEEDED"


def test_util_formatting():
    assert format_size(512) == "512 B" and format_size(1500) == "1.5 kB" and format_size(None) == ""
    assert format_duration(4.25) == "4.2 s" and format_duration(185) == "3 min 05 s"
    assert format_duration(2 * 3600 + 7 * 60) == "2 h 07 min"
    assert html_table(["a"], [["<b>"]]).count("&lt;b&gt;") == 1
