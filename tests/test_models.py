"""The common vocabulary: states, mapping helper, spec validation, JSON round trips, errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, UTC

import pytest

from jupyter_compute.errors import (
    AuthError,
    BackendError,
    ComputeError,
    InvalidSpec,
    NotFound,
    NotSupported,
    error_from_dict,
)
from jupyter_compute.models import (
    TERMINAL_STATES,
    Job,
    JobSpec,
    JobState,
    ResultFile,
    map_native_status,
    parse_time,
)


@pytest.mark.parametrize(("state", "terminal"), [
    (JobState.QUEUED, False),
    (JobState.RUNNING, False),
    (JobState.UNKNOWN, False),
    (JobState.SUCCEEDED, True),
    (JobState.FAILED, True),
    (JobState.CANCELLED, True),
    (JobState.TIMED_OUT, True),
])
def test_terminal_states_row(state: JobState, terminal: bool) -> None:
    assert state.is_terminal is terminal
    assert (state in TERMINAL_STATES) is terminal


def test_every_state_has_a_row() -> None:
    assert len(JobState) == 7


@pytest.mark.parametrize(("native", "expected"), [
    ("Running", JobState.RUNNING),
    ("running", JobState.RUNNING),
    ("RUNNING", JobState.RUNNING),
    ("done", JobState.SUCCEEDED),
    ("weird", JobState.UNKNOWN),
    (None, JobState.UNKNOWN),
    (70, JobState.SUCCEEDED),
])
def test_map_native_status(native, expected: JobState) -> None:
    table = {"Running": JobState.RUNNING, "done": JobState.SUCCEEDED, "70": JobState.SUCCEEDED}
    assert map_native_status(table, native) is expected


@pytest.mark.parametrize(("data", "field"), [
    ({"command": 1}, "command"),
    ({"params": []}, "params"),
    ({"tags": "a"}, "tags"),
    ({"tags": ["ok", 3]}, "tags[1]"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"timeout_s": True}, "timeout_s"),
    ({"backend": ""}, "backend"),
    ({"surprise": 1}, "surprise"),
    ({"inputs": {}}, "inputs"),
])
def test_spec_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        JobSpec.from_dict(data)
    assert info.value.field == field
    assert field.split("[")[0] in str(info.value)


def test_spec_and_job_round_trip_through_json() -> None:
    spec = JobSpec.from_dict({"command": "echo 1", "params": {"n": 2}, "tags": ["t"], "timeout_s": 5,
                              "environment": None})
    assert spec.environment is None and spec.backend == "local"
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    job = Job(id="abc", backend="local", spec=spec, name="n", state=JobState.RUNNING, started=started,
              results=[ResultFile("a.csv", 3, "output", "text/csv")], tags=["t"])
    again = Job.from_dict(job.to_dict())
    assert again.spec == spec and again.results == job.results and again.state is JobState.RUNNING
    assert again.started == started and again.started.tzinfo is not None
    assert job.to_dict()["started"].endswith("+00:00")


def test_parse_time_is_timezone_aware() -> None:
    assert parse_time("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("2026-01-01T08:00:00+08:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("2026-01-01T00:00:00").tzinfo is not None
    assert parse_time(None) is None


@pytest.mark.parametrize(("cls", "status"), [
    (InvalidSpec, 400), (NotFound, 404), (NotSupported, 405), (AuthError, 403), (BackendError, 502),
])
def test_errors_round_trip_and_share_one_base(cls, status: int) -> None:
    error = cls("it broke", field="f", backend="b")
    assert isinstance(error, ComputeError) and error.http_status == status
    body = error.to_dict()
    assert body == {"error": {"type": cls.__name__, "message": "it broke", "field": "f", "backend": "b"}}
    again = error_from_dict(body, status)
    assert type(again) is cls and again.field == "f" and again.message == "it broke"


def test_unrecognised_error_body_keeps_status_and_text() -> None:
    error = error_from_dict("<html>Bad gateway</html>", 502)
    assert type(error) is ComputeError and "502" in error.message and "Bad gateway" in error.message


def test_a_spec_dict_has_every_field_of_the_spec_in_order() -> None:
    import dataclasses

    spec = JobSpec(backend="local", command="true", params={"n": 1}, tags=["a"])
    assert list(spec.to_dict()) == [f.name for f in dataclasses.fields(JobSpec)]
    assert JobSpec.from_dict(spec.to_dict()) == spec


def test_a_summary_cuts_only_what_is_long_and_says_so() -> None:
    from jupyter_compute.models import SUMMARY_ITEMS, SUMMARY_TEXT_CHARS, summarised

    small = {"command": "x" * SUMMARY_TEXT_CHARS, "inputs": [["a"] * SUMMARY_ITEMS], "params": {"k": {"j": 1}}}
    assert summarised(small) == (small, False)
    for long in ({"command": "x" * (SUMMARY_TEXT_CHARS + 1)}, {"inputs": [["a"] * (SUMMARY_ITEMS + 1)]},
                 {"params": {"k": {str(i): i for i in range(SUMMARY_ITEMS + 1)}}}):
        cut, was_cut = summarised(long)
        assert was_cut and cut != long
    text, was_cut = summarised({"deep": [{"t": "y" * 2000}]})
    assert was_cut and len(text["deep"][0]["t"]) == SUMMARY_TEXT_CHARS + 1
