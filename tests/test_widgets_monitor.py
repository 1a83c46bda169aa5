"""The job monitor widget against a real `jupyter server`: rows follow jobs without a refresh.

Widgets run in the test process without a kernel (ipywidgets works without a comm). One
server is shared by the module; every test names its jobs with its own token and filters the
monitor on it, so tests do not see each other's jobs.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, UTC
from typing import Any

import httpx
import pytest
from conftest import LiveServer, start_live_server
from conftest import wait_for as poll

from jupyter_compute.client import _EVENTS_SILENCE_S, Client, _server_sent_events
from jupyter_compute.client import Job as ClientJob
from jupyter_compute.errors import ComputeError, NotFound
from jupyter_compute.models import Job as StoredJob
from jupyter_compute.models import JobSpec, JobState
from jupyter_compute.widgets import JobDetail, JobMonitor, LiveJobs
from jupyter_compute.widgets import _util as widget_util
from jupyter_compute.widgets._util import (
    format_duration,
    format_size,
    html_table,
    state_colour,
)
from jupyter_compute.widgets.detail import LOG_FLUSH_S, LOG_TAIL_CHARS
from jupyter_compute.widgets.monitor import _TICKER, RELOAD_DELAY_S

TIMEOUT = 60.0
#: Poll until a condition holds (with this module's longer deadline: widget threads and a live server).
wait_for = functools.partial(poll, timeout=TIMEOUT, every=0.02)

CSV_JOB = (
    "echo first line; sleep 1; echo second line; "
    "printf 'x,y\\n1,a\\n2,b\\n3,c\\n' > \"$JUPYTER_COMPUTE_OUTPUT_DIR/table.csv\"; "
    "echo not a table > \"$JUPYTER_COMPUTE_OUTPUT_DIR/notes.txt\""
)


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
    wait_for(lambda: second.id in monitor.rows and monitor.table.children[0] is monitor.rows[second.id],
             "the new job to appear at the top of page 1 without a refresh")
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
    wait_for(lambda: any("second line" in out.get("text", "") for out in detail.log_view.outputs),
             "the log view to show the second line (it is sent at most once a second)")
    assert len(detail.log_view.outputs) == 1, "the log is one stream output"

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
    assert "exited with code 3" in row.message.value and "disk is on fire" in row.message.value
    assert state_colour("FAILED") in row.cells.value and state_colour("FAILED") in row.message.value, \
        "the failed state (and its message) are red"
    row.select_button.click()
    assert "exited with code 3" in monitor.detail.fields.value
    assert "exited with code 3" in repr(monitor)


def test_paging_and_filters(client, token, monitors):
    jobs = [client.submit(command="true", name=f"{token}-{i}") for i in range(7)]
    failing = client.submit(command="exit 1", name=f"{token}-bad")
    for job in [*jobs, failing]:
        job.wait(timeout=TIMEOUT, progress=False, raise_on_failure=False)  # one of them fails

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
    client = first.client()
    try:
        monitor = JobMonitor(client, namespace={})
        monitors.append(monitor)
        live = LiveJobs.for_client(client)
        assert live.wait_connected(TIMEOUT) and monitor in live.listeners
        assert monitor.error_text == ""
        first.stop()
        wait_for(lambda: not live.connected, "the stream to drop with the server")
        # reconnecting fails while the server is down: the monitor says so (not silently stale)
        # It says its live updates paused, or (when a page read was under way as the server went, the line
        # shows that error first) that it cannot list the jobs: either way not silently stale.
        wait_for(lambda: any(words in monitor.error_text for words in ("live updates paused", "cannot list the jobs")),
                 "the monitor to say the server is gone", timeout=_EVENTS_SILENCE_S + 60)
        assert "\n" not in monitor.error_text and "Traceback" not in monitor.error_text
        second = start_live_server(home, port=port, token=first.token)
        with second.client() as other:
            job = other.submit(command="true", name="after-restart")
        wait_for(lambda: shows_state(monitor, job.id, "SUCCEEDED"), "the job submitted after the restart")
        assert live.connections >= 2
        wait_for(lambda: monitor.error_text == "", "the paused line to go once the stream is back")
        monitor.close()
    finally:
        client.close()  # ends the LiveJobs thread even when the test failed early
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


# --- robustness: stale events, off-page events, threads, failures ---------------------------------


def make_job(job_id: str = "f" * 32, state: str = "RUNNING", updated_s: int = 10, created_s: int = 0,
             **fields: Any) -> ClientJob:
    """A job as the client hands it out (not on any server), ``*_s`` seconds after a fixed time."""
    base = datetime(2030, 1, 1, tzinfo=UTC)
    job = StoredJob(id=job_id, backend="local", spec=JobSpec(command="true"), name=fields.pop("name", "made"),
                    state=JobState(state), created=base + timedelta(seconds=created_s),
                    updated=base + timedelta(seconds=updated_s), **fields)
    return ClientJob.from_dict(job.to_dict())  # type: ignore[return-value]


def newer(job: ClientJob, seconds: int = 1, **changes: Any) -> ClientJob:
    changed = dataclasses.replace(job, updated=job.updated + timedelta(seconds=seconds), **changes)
    changed._client = job._client
    return changed


class FakeLogClient:
    """Just enough of a Client for a JobDetail: a scripted follow_logs and to_pandas."""

    def __init__(self) -> None:
        self.follows: list[Callable[[threading.Event | None], Iterator[str]]] = []
        self.follow_calls = 0
        self.frames: dict[str, Any] = {}
        self.gates: dict[str, threading.Event] = {}

    def follow_logs(self, job: Any, *, poll: float = 0.5, stop: threading.Event | None = None) -> Iterator[str]:
        script = self.follows[min(self.follow_calls, len(self.follows) - 1)]
        self.follow_calls += 1
        return script(stop)

    def to_pandas(self, job_id: str, name: str) -> Any:
        gate = self.gates.get(job_id)
        if gate is not None:
            assert gate.wait(TIMEOUT)
        return self.frames[job_id]


def test_stale_events_never_bring_back_old_state(client, token, monitors):
    """A cancel reply (or any event) older than what a row and the detail pane show is ignored."""
    job = client.submit(command="true", name=f"{token}-stale").wait(timeout=TIMEOUT, progress=False)
    monitor = JobMonitor(client, q=token, namespace={}, live=False)
    monitors.append(monitor)
    monitor.select(job.id)
    current = monitor.rows[job.id].job
    assert current.state is JobState.SUCCEEDED and monitor.detail.job is current
    old = dataclasses.replace(current, state=JobState.RUNNING, finished=None,
                              updated=current.updated - timedelta(seconds=5))
    old._client = client
    monitor._apply(old)  # e.g. a cancel reply that arrives after the pushed SUCCEEDED
    assert shows_state(monitor, job.id, "SUCCEEDED")
    assert monitor.detail.job.state is JobState.SUCCEEDED and ">SUCCEEDED<" in monitor.detail.title.value
    monitor.detail.update(old)  # the pane checks on its own too
    assert monitor.detail.job.state is JobState.SUCCEEDED
    later = newer(current, message="newer news")
    monitor._apply(later)
    assert monitor.rows[job.id].job is later and monitor.detail.job is later


def test_off_page_events_query_only_when_the_job_can_belong_there(client, token, monitors):
    for i in range(5):
        client.submit(command="true", name=f"{token}-{i}").wait(timeout=TIMEOUT, progress=False)
    monitor = JobMonitor(client, q=token, page_size=3, namespace={}, live=False)
    monitors.append(monitor)
    page = [row.job for row in monitor.rows.values()]
    queries = monitor.page_queries
    everything = client.jobs(q=token, limit=10)
    older = [job for job in everything if job.id not in monitor.rows]
    assert len(older) == 2
    for i in range(50):  # changes of jobs older than the page: they cannot show up on page 1
        monitor.on_job(newer(older[i % 2], i + 1, message=f"off-page {i}"))
    time.sleep(RELOAD_DELAY_S * 3)
    assert monitor.page_queries == queries, "no page query for jobs that cannot be on the page"
    for i in range(30):  # changes of jobs on the page: rows updated in place
        monitor.on_job(newer(page[i % 3], i + 1, message=f"on-page {i}"))
    time.sleep(RELOAD_DELAY_S * 3)
    assert monitor.page_queries == queries and monitor.rows[page[0].id].job.message.startswith("on-page")

    # a burst of events for a new job: the page is queried once (or a few times), not once per event
    fresh = client.submit(command="true", name=f"{token}-fresh")
    for i in range(30):
        monitor.on_job(newer(fresh, i))
    wait_for(lambda: fresh.id in monitor.rows, "the new job to show on page 1")
    wait_for(lambda: monitor._reloader is None, "the reloads to end")
    assert 1 <= monitor.page_queries - queries <= 3, monitor.page_queries - queries
    assert next(iter(monitor.rows)) == fresh.id and monitor.total == 6


def test_page_two_follows_new_jobs(client, token, monitors):
    for i in range(4):
        client.submit(command="true", name=f"{token}-{i}").wait(timeout=TIMEOUT, progress=False)
    monitor = JobMonitor(client, q=token, page_size=2, namespace={})
    monitors.append(monitor)
    monitor.next_page()
    assert monitor.page_text == "3–4 of 4"
    shown = list(monitor.rows)
    fresh = client.submit(command="true", name=f"{token}-fresh")
    wait_for(lambda: monitor.total == 5, "page 2's total to count the new job")
    wait_for(lambda: monitor.page_text == "3–4 of 5" and list(monitor.rows) != shown,
             "page 2 to move down by the new job")
    fresh.wait(timeout=TIMEOUT, progress=False)


def test_log_view_keeps_a_bounded_tail_and_updates_at_most_once_a_second():
    fake = FakeLogClient()
    chunk = "".join(f"line {i:05d}\n" for i in range(1000))  # 11,000 characters
    chunks = 40

    def chatty(stop: threading.Event | None) -> Iterator[str]:
        for _ in range(chunks):
            yield chunk
            time.sleep(0.05)  # 40 chunks over about 2 s

    fake.follows.append(chatty)
    detail = JobDetail(fake)  # type: ignore[arg-type]
    sends: list[float] = []
    detail.log_view.observe(lambda _change: sends.append(time.monotonic()), "outputs")
    started = time.monotonic()
    detail.show(make_job())
    wait_for(lambda: detail._follow_state == "complete", "the log to be read to its end")
    took = time.monotonic() - started
    total = chunks * len(chunk)
    assert len(detail.log_text) == LOG_TAIL_CHARS < total and detail.log_text.endswith("line 00999\n")
    assert detail._tail.dropped == total - LOG_TAIL_CHARS
    outputs = detail.log_view.outputs
    assert outputs[0]["name"] == "stderr" and f"{total - LOG_TAIL_CHARS:,} earlier characters" in outputs[0]["text"]
    assert outputs[1]["text"] == detail.log_text
    # one send right away, then at most one a second (plus the last one when the log ends)
    assert len(sends) <= took / LOG_FLUSH_S + 3, (len(sends), took)
    gaps = [b - a for a, b in itertools.pairwise(sends[:-1])]
    assert all(gap >= LOG_FLUSH_S * 0.9 for gap in gaps), gaps
    detail.close()


def test_log_follower_tries_again_when_the_job_changes_state():
    """A log not there yet (NotFound) ends the follower; the next state change starts it again."""
    fake = FakeLogClient()

    def missing(stop: threading.Event | None) -> Iterator[str]:
        raise NotFound("job has no log yet")
        yield ""  # pragma: no cover

    def present(stop: threading.Event | None) -> Iterator[str]:
        yield "now it runs\n"

    fake.follows += [missing, present]
    detail = JobDetail(fake)  # type: ignore[arg-type]
    queued = make_job(state="QUEUED")
    detail.show(queued)
    wait_for(lambda: detail._follow_state == "ended", "the follower to give up")
    assert "no log yet" in detail.log_status.value and detail.log_text == ""
    detail.update(newer(queued, message="still queued"))  # no state change: no new attempt
    time.sleep(0.2)
    assert fake.follow_calls == 1
    detail.update(newer(queued, 2, state=JobState.RUNNING))
    wait_for(lambda: "now it runs" in detail.log_text, "the log once the job runs")
    wait_for(lambda: detail._follow_state == "complete", "the follower to finish")
    assert fake.follow_calls == 2 and detail.log_status.value == ""
    detail.close()


def test_dataframe_loads_never_write_into_another_jobs_pane():
    import pandas

    fake = FakeLogClient()
    fake.follows.append(lambda stop: iter(()))
    first, second = make_job("a" * 32), make_job("b" * 32)
    fake.frames = {first.id: pandas.DataFrame({"x": [1]}), second.id: pandas.DataFrame({"y": [2, 3]})}
    fake.gates[first.id] = gate = threading.Event()
    namespace: dict[str, Any] = {}
    detail = JobDetail(fake, namespace=namespace)  # type: ignore[arg-type]
    detail.show(first)
    detail.load_dataframe("t.csv", wait=False)  # slow: waits for the gate
    detail.show(second)  # the user switched job meanwhile
    detail.load_dataframe("t.csv")
    assert list(namespace["df"].columns) == ["y"] and "2 rows" in detail.df_status.value
    gate.set()
    time.sleep(0.3)
    assert list(namespace["df"].columns) == ["y"], "the first job's frame came too late: dropped"
    assert "2 rows" in detail.df_status.value and "y" in detail.df_output.outputs[0]["data"]["text/plain"]
    detail.close()


def test_a_failing_listener_stops_neither_the_others_nor_the_thread(client, token, capfd):
    class Broken:
        calls = 0

        def on_job(self, job: Any) -> None:
            Broken.calls += 1
            raise RuntimeError("listener bug")

    class Recorder:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on_job(self, job: Any) -> None:
            self.seen.append(job.state.value)

    with Client(client.url, client._http.headers["Authorization"].split()[1]) as own:
        live = LiveJobs.for_client(own)
        broken, recorder = Broken(), Recorder()
        live.add_listener(broken)
        live.add_listener(recorder)
        assert live.wait_connected(TIMEOUT)
        own.submit(command="true", name=f"{token}-listeners")
        wait_for(lambda: "SUCCEEDED" in recorder.seen, "the good listener to see the job end")
        assert Broken.calls >= 2 and live.connected, "the thread goes on after the failures"
        assert "Broken.on_job failed: listener bug" in live.last_error
        live.close()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "listener bug" not in out + err, "nothing printed into a cell"


def test_a_failing_update_shows_as_the_monitors_error_line(client, token, monitors, monkeypatch):
    monitor = JobMonitor(client, q=token, namespace={})
    monitors.append(monitor)

    def broken(job: Any) -> None:
        raise RuntimeError("cannot draw the row")

    monkeypatch.setattr(monitor, "_apply", broken)
    monitor.on_job(make_job())
    assert monitor.error_text == "a live update failed: cannot draw the row"
    monkeypatch.undo()
    monitor.on_job(make_job(name="elsewhere"))
    assert monitor.error_text == "", "the next update that works clears it"
    monitor.on_status(False, "cannot reach the server")
    assert monitor.error_text == "live updates paused: cannot reach the server (retrying)"
    monitor.on_status(True, "")
    assert monitor.error_text == ""


def test_monitors_without_a_client_share_one_client_and_their_threads_stop(server, monkeypatch):
    """20 monitors: one client, one event thread, one ticker; closed, their threads are gone."""
    monkeypatch.setenv("JUPYTER_COMPUTE_URL", server.url)
    monkeypatch.setenv("JUPYTER_COMPUTE_TOKEN", server.token)
    monkeypatch.setattr(widget_util, "_default", None)
    before = set(threading.enumerate())

    def new_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in before]

    made = [JobMonitor(namespace={}) for _ in range(20)]
    try:
        shared = widget_util.default_client()
        assert all(m.client is shared for m in made)
        live = LiveJobs.for_client(shared)
        assert live.wait_connected(TIMEOUT) and len(live.listeners) == 20
        wait_for(lambda: len(new_threads()) <= 2, "only the event thread and the ticker to run")
        names = sorted(t.name.split()[0] for t in new_threads())
        assert names == ["jupyter-compute-events", "jupyter-compute-ticker"], names

        # a followed log stops with its monitor too
        job = shared.submit(command="sleep 30", name="followed")
        made[0].select(job.id)
        wait_for(lambda: any(t.name == "jupyter-compute-log" for t in new_threads()), "the log follower")
        for monitor in made:
            monitor.close()
        # the ticker ends at once, the log follower within its poll; only the event thread may
        # wait for its next event or keepalive
        wait_for(lambda: [t.name.split()[0] for t in new_threads()] in ([], ["jupyter-compute-events"]),
                 "the monitors' threads to end", timeout=10)
        assert not _TICKER.running and live.listeners == []
        shared.cancel(job)
        shared.close()  # a closed default client is replaced on next use
        wait_for(lambda: new_threads() == [], "the event thread to end with its client", timeout=30)
        assert widget_util.default_client() is not shared
    finally:
        for monitor in made:
            monitor.close()
        widget_util.default_client().close()


def test_no_server_is_one_red_line_and_greyed_out_controls(tmp_path, monkeypatch):
    for name in ("JUPYTER_COMPUTE_URL", "JUPYTER_COMPUTE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))  # no server files there
    monkeypatch.setattr(widget_util, "_default", None)
    before = threading.active_count()
    monitor = JobMonitor(namespace={})
    assert monitor.error_text.startswith("cannot show the jobs: found no running Jupyter server")
    assert "\n" not in monitor.error_text and monitor.client is None
    assert monitor.prev_button.disabled and monitor.next_button.disabled and monitor.search.disabled
    assert monitor.rows == {} and "error: cannot show the jobs" in repr(monitor)
    assert threading.active_count() == before
    monitor.close()


def test_an_ending_event_thread_leaves_the_flag_of_the_new_one_alone():
    class NoServer:
        url = "http://127.0.0.1:9/"

    live = LiveJobs(NoServer())  # type: ignore[arg-type]
    old_stop = live._stop
    live._set_connected(old_stop, True)
    live._stop = threading.Event()  # a new thread took over (and connected)
    live._set_connected(live._stop, True)
    live._set_connected(old_stop, False)  # the old thread's finally
    assert live.connected
    live._set_connected(live._stop, False)
    assert not live.connected


def test_the_ticker_lets_a_monitor_go_from_a_thread_that_holds_its_lock():
    """The garbage collector closes a monitor (``__del__``) in whatever thread it runs, one holding the
    ticker's lock included: that must not hang (it did once, in the ticker thread's start)."""
    from jupyter_compute.widgets.monitor import _Ticker

    class Ticked:
        def _tick(self) -> None:
            pass

    ticker, monitor, done = _Ticker(), Ticked(), threading.Event()

    def add_then_close_while_holding_the_lock() -> None:
        with ticker._lock:
            ticker.add(monitor)  # type: ignore[arg-type]
            ticker.discard(monitor)  # type: ignore[arg-type]
        done.set()

    thread = threading.Thread(target=add_then_close_while_holding_the_lock, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    assert done.is_set(), "closing a monitor inside the ticker's lock hung"
    poll(lambda: not ticker.running, "the ticker with no monitor to end", timeout=TIMEOUT)
