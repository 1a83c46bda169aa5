"""The ModelArts service status table, row by row: each native status → our state and its words, a
failure's own words, and a stopped real-time service that its schedule stopped (SUCCEEDED) or a person
stopped (CANCELLED), told from its events."""

from __future__ import annotations

import pytest

from jupyter_compute.backends.modelarts.services import service_status, stopped_by_schedule
from jupyter_compute.backends.modelarts.status import EXECUTION_STATUS, SERVICE_STATUS, STEP_WORDS
from jupyter_compute.backends.modelarts.workflows import execution_status
from jupyter_compute.models import JobState

ROWS = [
    ("pending", JobState.QUEUED, "waiting to be deployed"),
    ("waiting", JobState.QUEUED, "waiting for resources"),
    ("deploying", JobState.QUEUED, "being deployed"),
    ("running", JobState.RUNNING, "running"),
    ("concerning", JobState.RUNNING, "running, but some instances are unhealthy"),
    ("finished", JobState.SUCCEEDED, ""),
    ("failed", JobState.FAILED, "the service failed"),
    ("stopping", JobState.RUNNING, "being stopped"),
    ("stopped", JobState.CANCELLED, "stopped"),
    ("deleting", JobState.CANCELLED, "being deleted"),
]


def test_every_status_of_the_spec_has_a_row() -> None:
    assert set(SERVICE_STATUS) == {native for native, _, _ in ROWS}


@pytest.mark.parametrize(("native", "state", "words"), ROWS)
def test_service_status_row(native: str, state: JobState, words: str) -> None:
    status = service_status({"status": native, "publish_at": 1_700_000_000_000, "update_time": 1_700_000_060_000})
    assert (status.state, status.native_status, status.message) == (state, native, words)
    assert status.started is not None
    assert (status.finished is not None) == state.is_terminal


def test_an_unknown_status_is_unknown_in_words() -> None:
    status = service_status({"status": "hibernating"})
    assert status.state is JobState.UNKNOWN and "hibernating" in status.message


def test_the_platform_words_of_a_failure_are_kept() -> None:
    status = service_status({"status": "failed", "error_msg": "model exited with code 1"})
    assert (status.state, status.message) == (JobState.FAILED, "model exited with code 1")


@pytest.mark.parametrize(("events", "by_schedule"), [
    ([{"event_info": "service is running"}, {"event_info": "the service is stopped by its schedule (1 MINUTES)"},
      {"event_info": "service stopped"}], True),
    ([{"event_info": "service is running"}, {"event_info": "stopping service"}, {"event_info": "service stopped"}],
     False),
    ([{"event_info": "the service is stopped by its schedule"}, {"event_info": "service is running"},
      {"event_info": "stopping service"}], False),  # started again since, then stopped by a person
    ([], False),
])  # fmt: skip
def test_who_stopped_a_real_time_service(events: list[dict[str, str]], by_schedule: bool) -> None:
    assert stopped_by_schedule(events) is by_schedule
    status = service_status({"status": "stopped", "infer_type": "real-time"}, by_schedule=by_schedule)
    assert status.state is (JobState.SUCCEEDED if by_schedule else JobState.CANCELLED)


EXECUTION_ROWS = [
    ("init", JobState.QUEUED),
    ("running", JobState.RUNNING),
    ("completed", JobState.SUCCEEDED),
    ("stopped", JobState.CANCELLED),
    ("abnormal", JobState.FAILED),
]


def test_every_execution_status_of_the_spec_has_a_row() -> None:
    assert set(EXECUTION_STATUS) == {native for native, _ in EXECUTION_ROWS}


@pytest.mark.parametrize(("native", "state"), EXECUTION_ROWS)
def test_execution_status_row(native: str, state: JobState) -> None:
    status = execution_status({"status": native, "created_at": "2022-10-28T15:31:43.409368+08:00", "duration": 90,
                               "steps_execution": [{"step_name": "train", "status": "completed"}]})  # fmt: skip
    assert (status.state, status.native_status) == (state, native)
    assert status.started is not None and status.started.utcoffset() is not None
    assert (status.finished is not None) == state.is_terminal
    if state.is_terminal:
        assert (status.finished - status.started).total_seconds() == 90


@pytest.mark.parametrize("step", sorted(STEP_WORDS))
def test_every_step_status_is_said_in_words(step: str) -> None:
    status = execution_status({"status": "running", "steps_execution": [{"step_name": "s", "status": step}]})
    if step in ("wait_inputs", "hold"):
        assert status.message.startswith("waiting for input: step 's'"), status.message
    else:
        assert status.message == f"s: {STEP_WORDS[step]}"


def test_a_failed_step_gives_its_error() -> None:
    status = execution_status({"status": "abnormal", "steps_execution": [
        {"step_name": "train", "status": "failed", "error_info": {"error_message": "out of memory"}}]})
    assert (status.state, status.message) == (JobState.FAILED, "step 'train': out of memory")
