"""The datastory backend against the real sandboxes over loopback: the Datastory task API
(DatastorySandbox), HDFS through WebHDFS (WebHdfsSandbox) and CEPH through S3 (moto's server)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, UTC
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from conftest import free_port, read_result, run, s3_client, started, wait_status

from jupyter_compute.backends.base import backend_class
from jupyter_compute.backends.datastory import (
    STATUS,
    DatastoryBackend,
    format_platform_time,
    parse_platform_time,
)
from jupyter_compute.errors import ComputeError, InvalidSpec, NotFound, NotSupported
from jupyter_compute.forms import check_spec
from jupyter_compute.models import JobSpec, JobState
from jupyter_compute.results import read_frame
from jupyter_compute.sandbox.datastory import DatastorySandbox
from jupyter_compute.sandbox.webhdfs import WebHdfsSandbox

TOKEN = "sandbox-token"
CEPH_KEY = "AKIDCEPHACCESS0001"
CEPH_SECRET = "ceph-secret-value-do-not-leak-42"
EMAIL = "analyst@example.org"
CSV = "city,words\nparis,the cat sat\nlyon,the dog ran\nparis,the cat ran\n"


@pytest.fixture(scope="module")
def platform() -> Iterator[Any]:
    with DatastorySandbox(token=TOKEN) as sb:
        yield sb


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> tuple[str, int]:
    s3_client(s3_endpoint, CEPH_KEY, CEPH_SECRET).create_bucket(Bucket="lake")
    address = urlsplit(s3_endpoint)
    return address.hostname, address.port


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_TOKEN", TOKEN)
    monkeypatch.setenv("CEPH_KEY", CEPH_KEY)
    monkeypatch.setenv("CEPH_SECRET", CEPH_SECRET)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "cities.csv"
    path.write_text(CSV)
    return path


def storage_config(
    hdfs_port: int, s3_addr: tuple[str, int] | None = None, **hdfs_extra: Any
) -> dict[str, Any]:
    storage: dict[str, Any] = {
        "hdfs-main": {
            "type": "HDFS",
            "host": "127.0.0.1",
            "port": hdfs_port,
            "user": "alice",
            **hdfs_extra,
        },
    }
    if s3_addr:
        storage["ceph"] = {
            "type": "CEPH", "host": s3_addr[0], "port": s3_addr[1], "bucket": "lake",
            "access_key_env": "CEPH_KEY", "secret_key_env": "CEPH_SECRET",
        }  # fmt: skip
    return storage


def backend(platform: Any, storage: dict[str, Any], **config: Any) -> AbstractAsyncContextManager[DatastoryBackend]:
    return started(DatastoryBackend("ds", {"url": platform.url, "token_env": "DS_TOKEN", "storage": storage, **config}))


def spec(**values: Any) -> JobSpec:
    values.setdefault("algorithm", "word-count")
    values.setdefault("extra", {"email": EMAIL})
    return JobSpec(backend="ds", **values)


# --- tables, times, the form ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("native", "state"),
    [("INITIALING", JobState.QUEUED), ("RUNNING", JobState.RUNNING),
     ("FINISHED", JobState.SUCCEEDED), ("ERROR", JobState.FAILED)],
)  # fmt: skip
def test_status_table_row_by_row(native: str, state: JobState) -> None:
    assert STATUS[native] is state
    b = DatastoryBackend("ds", {"url": "http://x", "storage": storage_config(1)})
    status = b._remote_status(
        {"id": 1, "status": native, "message": "said so" if native == "ERROR" else None}
    )
    assert status.state is state and status.native_status == native
    if native == "ERROR":
        assert status.message == "said so"  # the platform's own words are kept


def test_status_table_is_complete_and_unknown_maps_to_unknown() -> None:
    assert set(STATUS) == {"INITIALING", "RUNNING", "FINISHED", "ERROR"}
    b = DatastoryBackend("ds", {"url": "http://x", "storage": storage_config(1)})
    assert b._remote_status({"status": "MYSTERY"}).state is JobState.UNKNOWN


def test_times_are_utc_plus_8_and_round_trip() -> None:
    parsed = parse_platform_time("2022-08-08 15:51:23")
    assert parsed == datetime(2022, 8, 8, 7, 51, 23, tzinfo=UTC)
    assert parsed is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert format_platform_time(parsed) == "2022-08-08 15:51:23"
    # across midnight: 02:00 in Beijing is 18:00 the day before in UTC
    assert parse_platform_time("2023-01-01 02:00:00") == datetime(
        2022, 12, 31, 18, 0, tzinfo=UTC
    )
    assert parse_platform_time(None) is None and parse_platform_time("") is None
    assert parse_platform_time("not a time") is None
    b = DatastoryBackend("ds", {"url": "http://x", "storage": storage_config(1)})
    status = b._remote_status({"status": "FINISHED", "startTime": "2022-08-08 15:51:23",
                               "finishTime": "2022-08-08 15:52:35"})  # fmt: skip
    assert status.started == datetime(2022, 8, 8, 7, 51, 23, tzinfo=UTC)
    assert status.finished == datetime(2022, 8, 8, 7, 52, 35, tzinfo=UTC)
    assert b._remote_status({"status": "INITIALING", "startTime": None}).started is None


def test_kind_capabilities_and_form() -> None:
    assert backend_class("datastory") is DatastoryBackend
    b = DatastoryBackend(
        "ds", {"url": "http://x", "storage": storage_config(1, ("127.0.0.1", 2))}
    )
    caps = b.capabilities
    assert caps.has_results and not (
        caps.can_cancel or caps.can_list or caps.has_logs or caps.can_delete
    )
    form = b.form()
    for name in (
        "algorithm",
        "inputs",
        "output",
        "params",
        "extra.email",
        "extra.storage",
    ):
        assert form.has(name), name
    assert form.field("extra.email").required and form.field("algorithm").required
    assert form.field("extra.storage").type == "choice"
    assert form.field("extra.storage").choices == ("hdfs-main", "ceph")
    with pytest.raises(InvalidSpec) as err:
        check_spec(form, {"algorithm": "word-count", "inputs": ["/a"], "extra": {}})
    assert err.value.field == "extra.email"
    with pytest.raises(InvalidSpec) as err:
        check_spec(
            form,
            {
                "algorithm": "x",
                "inputs": ["/a"],
                "extra": {"email": EMAIL, "storage": "nope"},
            },
        )
    assert err.value.field == "extra.storage"

    async def unsupported() -> None:
        for call in (b.cancel("1|hdfs-main|/o/"), b.logs("1|hdfs-main|/o/")):
            with pytest.raises(NotSupported):
                await call

    run(unsupported)
    assert b.describe()["storage"] == ["ceph", "hdfs-main"] and b.describe()["url"] == "http://x"
    shown = DatastoryBackend("ds", {"url": "https://me:pa55@ds.example.cn/api?key=k1",
                                    "storage": storage_config(1, ("h", 2))})
    assert shown.describe()["url"] == "https://ds.example.cn/api", "the URL is shown without credentials or query"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"algorithm": ""}, "algorithm"),
        ({"extra": {}}, "extra.email"),
        ({"extra": {"email": "not-an-email"}}, "extra.email"),
        ({"extra": {"email": EMAIL, "storage": "nowhere"}}, "extra.storage"),
        ({"inputs": []}, "inputs"),
        ({"inputs": ["/a", "/b"]}, "inputs"),
        ({"inputs": ["relative/path"]}, "inputs"),
        ({"output": "no-slash"}, "output"),
        ({"command": "echo"}, "command"),
    ],
)
def test_validate_names_the_field(changes: dict[str, Any], field: str) -> None:
    b = DatastoryBackend("ds", {"url": "http://x", "storage": storage_config(1)})
    values = {"inputs": ["/data/in.csv"], **changes}
    with pytest.raises(InvalidSpec) as err:
        b.validate(spec(**values))
    assert err.value.field == field


def test_bad_config_names_the_key() -> None:
    with pytest.raises(InvalidSpec) as err:
        DatastoryBackend("ds", {"url": "http://x"})
    assert err.value.field == "storage"
    with pytest.raises(InvalidSpec) as err:
        DatastoryBackend(
            "ds",
            {
                "url": "http://x",
                "storage": {"c": {"type": "CEPH", "host": "h", "port": 1}},
            },
        )
    assert err.value.field == "storage.c.access_key_env"
    with pytest.raises(InvalidSpec) as err:
        DatastoryBackend(
            "ds",
            {"url": "http://x", "storage": storage_config(1), "default_storage": "zz"},
        )
    assert err.value.field == "default_storage"


# --- round trips against the sandboxes ----------------------------------------------------------


def _word_counts(frame: Any) -> dict[str, int]:
    cols = list(frame.columns)
    return {str(w): int(c) for w, c in zip(frame[cols[0]], frame[cols[1]], strict=True)}


def test_hdfs_round_trip(platform: Any, hdfs: WebHdfsSandbox, csv_file: Path) -> None:
    async def scenario() -> None:
        async with backend(platform, storage_config(hdfs.port)) as b:
            checked = b.validate(
                spec(inputs=[str(csv_file)], params={"column": "words"})
            )
            sub = await b.submit(checked, "job-hdfs-1")
            assert sub.status.state is JobState.QUEUED
            assert (
                hdfs.local_path("/jupyter-compute/job-hdfs-1-input/cities.csv")
            ).read_text() == CSV
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.SUCCEEDED, status.message
            assert status.native_status == "FINISHED"
            assert status.started is not None and status.started.tzinfo is not None
            assert status.finished is not None and status.finished >= status.started
            results = await b.results(sub.remote_id)
            assert results, "no result files"
            assert all(not r.name.startswith("_") for r in results)
            frames = [
                read_frame(await read_result(b, sub.remote_id, r.name), r.name)
                for r in results
            ]
            counts: dict[str, int] = {}
            for frame in frames:
                for word, n in _word_counts(frame).items():
                    counts[word] = counts.get(word, 0) + n
            assert (
                counts["the"] == 3
                and counts["cat"] == 2
                and counts["ran"] == 2
                and counts["dog"] == 1
            )
            with pytest.raises(NotFound):
                await read_result(b, sub.remote_id, "no-such-part")

    run(scenario)


def test_hdfs_existing_input_and_explicit_output(
    platform: Any, hdfs: WebHdfsSandbox, csv_file: Path
) -> None:
    target = hdfs.local_path("/data/cities.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(CSV)

    async def scenario() -> None:
        async with backend(platform, storage_config(hdfs.port)) as b:
            sub = await b.submit(
                b.validate(
                    spec(
                        algorithm="column-summary",
                        inputs=["/data/cities.csv"],
                        output="/out/summary",
                    )
                ),
                "job-hdfs-2",
            )
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.SUCCEEDED, status.message
            assert sub.remote_id.endswith("|/out/summary/")
            results = await b.results(sub.remote_id)
            assert results
            frame = read_frame(
                await read_result(b, sub.remote_id, results[0].name), results[0].name
            )
            assert len(frame) >= 1

    run(scenario)


def test_spare_host_when_the_primary_does_not_answer(
    platform: Any, hdfs: WebHdfsSandbox, csv_file: Path
) -> None:
    storage = storage_config(free_port(), spare_host=f"127.0.0.1:{hdfs.port}")

    async def scenario() -> None:
        async with backend(platform, storage) as b:
            sub = await b.submit(b.validate(spec(inputs=[str(csv_file)])), "job-spare")
            assert hdfs.local_path(
                "/jupyter-compute/job-spare-input/cities.csv"
            ).exists()
            body = platform.submissions[-1]
            assert body["inputFileSystemInfo"]["spareHost"] == f"127.0.0.1:{hdfs.port}"
            assert body["inputFileSystemInfo"]["port"] == str(
                storage["hdfs-main"]["port"]
            )
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.SUCCEEDED, status.message
            results = await b.results(sub.remote_id)
            assert [r.name for r in results] == ["part-00000.csv"]
            frame = read_frame(
                await read_result(b, sub.remote_id, "part-00000.csv"), "part-00000.csv"
            )
            assert _word_counts(frame)["the"] == 3

    run(scenario)


def test_no_host_answers_is_a_clear_error(platform: Any, csv_file: Path) -> None:
    async def scenario() -> None:
        async with backend(
            platform,
            storage_config(free_port(), spare_host=f"127.0.0.1:{free_port()}"),
        ) as b:
            with pytest.raises(ComputeError) as err:
                await b.submit(b.validate(spec(inputs=[str(csv_file)])), "job-down")
            assert "NameNode" in err.value.message

    run(scenario)


def test_ceph_round_trip(platform: Any, hdfs: WebHdfsSandbox, s3: tuple[str, int], csv_file: Path,
                         caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with backend(
            platform, storage_config(hdfs.port, s3), default_storage="ceph"
        ) as b:
            checked = b.validate(spec(inputs=[str(csv_file)]))
            assert checked.extra["storage"] == "ceph"
            sub = await b.submit(checked, "job-ceph-1")
            assert CEPH_SECRET not in sub.remote_id and CEPH_KEY not in sub.remote_id
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.SUCCEEDED, status.message
            results = await b.results(sub.remote_id)
            assert results
            counts: dict[str, int] = {}
            for r in results:
                for word, n in _word_counts(
                    read_frame(await read_result(b, sub.remote_id, r.name), r.name)
                ).items():
                    counts[word] = counts.get(word, 0) + n
            assert counts["the"] == 3 and counts["paris"] == 2 and counts["dog"] == 1
            ceph_body = platform.submissions[-1]
            assert ceph_body["inputFileSystemInfo"]["fileSystemType"] == "CEPH"
            assert (
                ceph_body["inputFileSystemInfo"]["inputPath"]
                == "lake#jupyter-compute/job-ceph-1-input/cities.csv"
            )
            assert (
                ceph_body["outputFileSystemInfo"]["outputPath"]
                == "lake#jupyter-compute/job-ceph-1/"
            )
            assert isinstance(ceph_body["outputFileSystemInfo"]["port"], str)
            for thing in (
                sub.remote_id,
                status.message,
                str(results),
                str(checked.to_dict()),
            ):
                assert CEPH_SECRET not in thing and TOKEN not in thing

    run(scenario)
    for record in caplog.records:
        text = record.getMessage()
        assert CEPH_SECRET not in text and TOKEN not in text


def test_validation_errors_before_anything_is_uploaded_or_submitted(
    platform: Any, hdfs: WebHdfsSandbox, csv_file: Path
) -> None:
    before = len(platform.submissions)

    async def scenario() -> None:
        async with backend(platform, storage_config(hdfs.port)) as b:
            for bad, field in (
                (spec(inputs=[str(csv_file)], extra={}), "extra.email"),
                (
                    spec(
                        inputs=[str(csv_file)], extra={"email": EMAIL, "storage": "zz"}
                    ),
                    "extra.storage",
                ),
                (spec(inputs=[str(csv_file)], algorithm=" "), "algorithm"),
                (spec(inputs=["/does/not/exist.csv"]), "inputs"),
            ):
                with pytest.raises(InvalidSpec) as err:
                    await b.submit(bad, "job-bad")
                assert err.value.field == field

    run(scenario)
    assert not hdfs.local_path("/jupyter-compute/job-bad-input").exists()
    assert not hdfs.local_path("/jupyter-compute/job-bad").exists()
    assert len(platform.submissions) == before


def test_failed_task_keeps_the_message_and_leaks_no_secret(
    platform: Any,
    hdfs: WebHdfsSandbox,
    s3: tuple[str, int],
    csv_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with backend(platform, storage_config(hdfs.port, s3)) as b:
            sub = await b.submit(
                b.validate(spec(algorithm="no-such-algorithm", inputs=[str(csv_file)],
                                extra={"email": EMAIL, "storage": "ceph"})),
                "job-fail",
            )  # fmt: skip
            status = await wait_status(b, sub.remote_id)
            assert status.state is JobState.FAILED and status.native_status == "ERROR"
            assert (
                "no-such-algorithm" in status.message
            )  # the platform's own reason is kept
            leaky = await b.submit(
                b.validate(spec(algorithm="fail", inputs=[str(csv_file)], params={"message": f"boom {CEPH_SECRET}"},
                                extra={"email": EMAIL, "storage": "ceph"})),
                "job-fail-2",
            )  # fmt: skip
            leaked = await wait_status(b, leaky.remote_id)
            assert leaked.state is JobState.FAILED and "boom" in leaked.message
            assert CEPH_SECRET not in leaked.message
            for text in (status.message, sub.remote_id):
                assert (
                    CEPH_SECRET not in text
                    and TOKEN not in text
                    and CEPH_KEY not in text
                )
            # wrong token: the error names the variable, never the value
            with mock.patch.dict(os.environ, {"DS_TOKEN": "wrong-token-value"}), pytest.raises(ComputeError) as err:
                await b.status(sub.remote_id)
            assert "wrong-token-value" not in str(err.value) and "DS_TOKEN" in str(
                err.value
            )
            with pytest.raises(NotFound):
                await b.status("garbage")

    run(scenario)
    for record in caplog.records:
        text = record.getMessage()
        assert CEPH_SECRET not in text and TOKEN not in text


def test_missing_ceph_keys_name_the_variables(
    platform: Any,
    hdfs: WebHdfsSandbox,
    s3: tuple[str, int],
    csv_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CEPH_SECRET")

    async def scenario() -> None:
        async with backend(platform, storage_config(hdfs.port, s3)) as b:
            with pytest.raises(ComputeError) as err:
                await b.submit(b.validate(spec(inputs=[str(csv_file)], extra={"email": EMAIL, "storage": "ceph"})),
                               "job-nokeys")  # fmt: skip
            assert "CEPH_SECRET" in str(err.value)

    run(scenario)


def test_read_frame_on_part_bytes() -> None:
    frame = read_frame(io.BytesIO(b"word,count\nthe,3\n").getvalue(), "part-00000.csv")
    assert _word_counts(frame) == {"the": 3}


def test_states_in_order_and_times_against_the_platform(
    hdfs: WebHdfsSandbox, csv_file: Path
) -> None:
    """INITIALING → RUNNING → FINISHED as the platform reports them, times read as UTC+8."""

    async def scenario(sb: Any) -> None:
        async with backend(sb, storage_config(hdfs.port)) as b:
            before = datetime.now(UTC).replace(microsecond=0)
            sub = await b.submit(b.validate(spec(inputs=[str(csv_file)])), "job-states")
            seen: list[tuple[str, JobState]] = []
            deadline = time.monotonic() + 20
            while True:
                status = await b.status(sub.remote_id)
                if not seen or seen[-1][0] != status.native_status:
                    seen.append((status.native_status, status.state))
                if status.state.is_terminal or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert seen == [("INITIALING", JobState.QUEUED), ("RUNNING", JobState.RUNNING),
                            ("FINISHED", JobState.SUCCEEDED)]  # fmt: skip
            after = datetime.now(UTC)
            assert status.started is not None and status.finished is not None
            assert (
                before <= status.started <= status.finished <= after
            )  # UTC+8 read right, not 8 h off
            task_id = int(sub.remote_id.split("|")[0])
            raw = sb.tasks()[task_id]
            assert format_platform_time(status.started) == raw["startTime"]
            assert format_platform_time(status.finished) == raw["finishTime"]

    with DatastorySandbox(token=TOKEN, start_delay_s=0.4, min_run_s=0.4) as sb:
        run(lambda: scenario(sb))


def test_error_row_against_the_platform(
    platform: Any, hdfs: WebHdfsSandbox, csv_file: Path
) -> None:
    async def scenario() -> None:
        async with backend(platform, storage_config(hdfs.port)) as b:
            sub = await b.submit(
                b.validate(
                    spec(
                        algorithm="fail",
                        inputs=[str(csv_file)],
                        params={"message": "disk full"},
                    )
                ),
                "job-err",
            )
            status = await wait_status(b, sub.remote_id)
            assert (status.state, status.native_status) == (JobState.FAILED, "ERROR")
            assert "disk full" in status.message
            assert status.finished is not None

    run(scenario)


NUMBERS = "name,score\nann,1\nbob,3\nann,1\ncid,5\n"


def test_column_summary_and_dedup_values(
    platform: Any, hdfs: WebHdfsSandbox, tmp_path: Path
) -> None:
    source = tmp_path / "scores.csv"
    source.write_text(NUMBERS)

    async def scenario() -> None:
        async with backend(platform, storage_config(hdfs.port)) as b:
            summary = await b.submit(
                b.validate(spec(algorithm="column-summary", inputs=[str(source)])),
                "job-sum",
            )
            dedup = await b.submit(
                b.validate(
                    spec(
                        algorithm="dedup",
                        inputs=[str(source)],
                        params={"keys": ["name"]},
                    )
                ),
                "job-dedup",
            )
            for sub in (summary, dedup):
                status = await wait_status(b, sub.remote_id)
                assert status.state is JobState.SUCCEEDED, status.message
            frame = read_frame(
                await read_result(b, summary.remote_id, "part-00000.csv"), "part-00000.csv"
            )
            row = frame.set_index("column").loc["score"]
            assert int(row["count"]) == 4 and float(row["mean"]) == 2.5
            assert float(row["min"]) == 1 and float(row["max"]) == 5
            names = [r.name for r in await b.results(dedup.remote_id)]
            assert names == ["part-00000.csv"]  # _SUCCESS is not offered
            frame = read_frame(
                await read_result(b, dedup.remote_id, "part-00000.csv"), "part-00000.csv"
            )
            assert list(frame["name"]) == ["ann", "bob", "cid"] and list(
                frame["score"]
            ) == [1, 3, 5]

    run(scenario)


def test_configurable_submit_path(hdfs: WebHdfsSandbox, csv_file: Path) -> None:
    async def scenario(sb: Any) -> None:
        async with backend(
            sb, storage_config(hdfs.port), submit_path="/v2/tasks/new"
        ) as b:
            sub = await b.submit(b.validate(spec(inputs=[str(csv_file)])), "job-path")
            assert (await wait_status(b, sub.remote_id)).state is JobState.SUCCEEDED

    with DatastorySandbox(token=TOKEN, submit_path="/v2/tasks/new") as sb:
        run(lambda: scenario(sb))


def test_scrub_removes_every_secret_in_force() -> None:
    b = DatastoryBackend("ds", {"url": "http://x", "token_env": "DS_TOKEN",
                                "storage": storage_config(1, ("127.0.0.1", 2))})  # fmt: skip
    text = b._scrub(f"a {TOKEN} b {CEPH_SECRET} c {CEPH_KEY}")
    assert (
        TOKEN not in text
        and CEPH_SECRET not in text
        and CEPH_KEY not in text
        and text.count("***") == 3
    )
