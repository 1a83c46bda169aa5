"""Results read fast: a client on the server's machine reads a local job's result file itself (the server
names it and its identity only when asked, and only for a file of that job), and a large CSV is parsed
in blocks on all cores, giving the frame pandas gives."""

from __future__ import annotations

import io
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from jupyter_compute import results_http
from jupyter_compute.client import Client
from jupyter_compute.errors import NotFound
from jupyter_compute.models import JobSpec
from jupyter_compute.results import read_frame
from tests.conftest import LiveServer
from tests.test_results_pandas_stream import CountingForwarder

ROWS = 400_000  # about 20 MB of CSV: several parse blocks, above the progress bar's threshold with progress=True


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fast")
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "id": np.arange(ROWS),
        "x": rng.random(ROWS).round(6),
        "city": np.array(["Oslo", "Lima, Peru", 'the "Cork"', "Perth\nWA"])[rng.integers(0, 4, ROWS)],
        "flag": rng.integers(0, 2, ROWS).astype(bool),
    })  # fmt: skip
    frame.to_csv(folder / "big.csv", index=False)
    frame.to_parquet(folder / "big.parquet", row_group_size=50_000, index=False)
    (folder / "outside.csv").write_text("a,b\n1,2\n")
    return {p.name: p for p in folder.iterdir()}


@pytest.fixture(scope="module")
def job_id(module_server: LiveServer, tables: dict[str, Path]) -> str:
    out = '"$JUPYTER_COMPUTE_OUTPUT_DIR"'
    command = f"cp {tables['big.csv']} {tables['big.parquet']} {out}/ && ln -s {tables['outside.csv']} {out}/linked.csv"
    with module_server.client() as client:
        return client.submit(JobSpec(backend="local", command=command)).wait(timeout=120, progress=False).id


@pytest.fixture
def client(module_server: LiveServer) -> Iterator[Client]:
    with module_server.client() as c:
        yield c


def result_url(server: LiveServer, job_id: str, name: str) -> str:
    return f"{server.url}compute/api/jobs/{job_id}/results/{name}"


def ask_for_the_file(server: LiveServer, job_id: str, name: str) -> httpx.Response:
    headers = {"Authorization": f"token {server.token}", results_http.LOCAL_FILE_HEADER: "1"}
    return httpx.get(result_url(server, job_id, name), headers=headers, timeout=30)


# --- the server names the file ------------------------------------------------------------------------


def test_the_server_names_a_local_result_file_only_when_asked(
    module_server: LiveServer, job_id: str, tables: dict[str, Path]
) -> None:
    named = ask_for_the_file(module_server, job_id, "big.csv")
    assert named.status_code == 204 and named.content == b""
    facts = dict(p.strip().partition("=")[::2] for p in named.headers[results_http.LOCAL_FILE_HEADER].split(";"))
    path = Path(urllib.parse.unquote(facts["path"]))
    found = path.stat()
    assert path.is_absolute() and path.read_bytes() == tables["big.csv"].read_bytes()
    assert [int(facts[k]) for k in ("dev", "ino", "size", "mtime_ns")] == [
        found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns
    ]  # fmt: skip
    plain = httpx.get(result_url(module_server, job_id, "big.csv"), headers={"Authorization": f"token {module_server.token}"})
    assert plain.status_code == 200 and plain.content == tables["big.csv"].read_bytes()
    assert results_http.LOCAL_FILE_HEADER not in plain.headers


def test_no_file_outside_the_job_folder_is_named(module_server: LiveServer, job_id: str) -> None:
    # An output linked to a file elsewhere is neither named nor sent; nor is a name climbing out of the folder.
    for name in ("linked.csv", "..%2Fjob.json", "nothing.csv"):
        answer = ask_for_the_file(module_server, job_id, name)
        assert answer.status_code in (400, 404), (name, answer.status_code)
        assert results_http.LOCAL_FILE_HEADER not in answer.headers
        assert "path=" not in answer.text


def test_without_a_login_nothing_is_named(module_server: LiveServer, job_id: str) -> None:
    answer = httpx.get(result_url(module_server, job_id, "big.csv"), headers={results_http.LOCAL_FILE_HEADER: "1"})
    assert answer.status_code in (401, 403)
    assert results_http.LOCAL_FILE_HEADER not in answer.headers


# --- the client reads it ------------------------------------------------------------------------------


def read_through_a_counter(server: LiveServer, job_id: str, name: str, **read_kwargs: Any) -> tuple[pd.DataFrame, int]:
    """The frame ``to_pandas`` gives through a forwarder that counts the bytes the server sends."""
    port = int(server.url.split(":")[2].split("/")[0])
    forwarder = CountingForwarder(port)
    try:
        with Client(server.url.replace(f":{port}/", f":{forwarder.port}/"), server.token) as client:
            frame = client.to_pandas(job_id, name, progress=False, **read_kwargs)
    finally:
        forwarder.close()
    return frame, forwarder.served


@pytest.mark.parametrize("name", ["big.csv", "big.parquet"])
def test_a_client_on_the_same_machine_reads_the_file_itself(
    module_server: LiveServer, job_id: str, tables: dict[str, Path], name: str
) -> None:
    expected = pd.read_csv(tables[name]) if name.endswith(".csv") else pd.read_parquet(tables[name])
    frame, served = read_through_a_counter(module_server, job_id, name)
    assert_frame_equal(frame, expected)
    assert served < 10_000, served  # the answers naming the file, no body


def test_over_http_when_told_to(
    module_server: LiveServer, job_id: str, tables: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(results_http.LOCAL_RESULTS_ENV, "0")
    frame, served = read_through_a_counter(module_server, job_id, "big.csv")
    assert_frame_equal(frame, pd.read_csv(tables["big.csv"]))
    assert served > tables["big.csv"].stat().st_size


def test_read_options_reach_the_reader_of_the_local_file(
    client: Client, job_id: str, tables: dict[str, Path]
) -> None:
    some = client.to_pandas(job_id, "big.csv", usecols=["id", "city"], nrows=1000)
    assert_frame_equal(some, pd.read_csv(tables["big.csv"], usecols=["id", "city"], nrows=1000))
    picked = client.to_pandas(job_id, "big.csv", usecols=["city", "x"], dtype={"x": "float32"})
    assert_frame_equal(picked, pd.read_csv(tables["big.csv"], usecols=["city", "x"], dtype={"x": "float32"}))
    wanted: dict[str, Any] = {"columns": ["id", "city"], "filters": [("id", "<", 500)]}
    assert_frame_equal(client.to_pandas(job_id, "big.parquet", **wanted), pd.read_parquet(tables["big.parquet"], **wanted))


def test_a_file_that_is_not_the_one_named_is_not_read(module_server: LiveServer, job_id: str) -> None:
    named = ask_for_the_file(module_server, job_id, "big.csv").headers[results_http.LOCAL_FILE_HEADER]
    opened = results_http._open_local_file(named)
    assert opened is not None
    opened.close()
    for key in ("ino", "size", "mtime_ns", "dev"):
        value = named.split(f"{key}=")[1].split(";")[0]
        assert results_http._open_local_file(named.replace(f"{key}={value}", f"{key}={int(value) + 1}")) is None
    assert results_http._open_local_file(named.replace("path=/", "path=")) is None  # a relative path
    assert results_http._open_local_file("path=%2Fno%2Fsuch; dev=1; ino=2; size=3; mtime_ns=4") is None


def test_the_local_file_shows_its_progress_up_to_its_size(
    module_server: LiveServer, job_id: str, tables: dict[str, Path]
) -> None:
    script = (
        "import sys\nfrom jupyter_compute.client import Client\n"
        "frame = Client(sys.argv[1], sys.argv[2]).to_pandas(sys.argv[3], sys.argv[4], progress=True)\n"
        "print('rows', len(frame))\n"
    )
    for name in ("big.csv", "big.parquet"):
        shown = subprocess.run(
            [sys.executable, "-c", script, module_server.url, module_server.token, job_id, name],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        total = f"{tables[name].stat().st_size / 1e6:.1f} MB"
        lines = [line for line in shown.stderr.splitlines() if line]
        assert f"rows {ROWS}" in shown.stdout
        assert lines and lines[-1] == f"{name}: {total[:-3]} of {total} (100%)", shown.stderr


def test_a_missing_result_is_still_not_found(client: Client, job_id: str) -> None:
    with pytest.raises(NotFound):
        client.to_pandas(job_id, "nothing.csv")


# --- CSV options -------------------------------------------------------------------------------------


def test_an_index_column_is_kept_past_the_first_chunk() -> None:
    data = b"key,value\n" + b"".join(b"k%d,%d\n" % (i, i * 2) for i in range(30_000))
    expected = pd.read_csv(io.BytesIO(data), index_col=0)
    for index_col in (0, "key"):
        assert_frame_equal(read_frame(data, "indexed.csv", index_col=index_col), expected)


def test_a_named_fifo_is_not_opened_and_does_not_block(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    facts = os.stat(fifo)
    named = (f"path={urllib.parse.quote(str(fifo))}; dev={facts.st_dev}; ino={facts.st_ino}; "
             f"size={facts.st_size}; mtime_ns={facts.st_mtime_ns}")
    assert results_http._open_local_file(named) is None


def test_the_named_file_is_opened_by_its_name(tmp_path: Path) -> None:
    import os

    path = tmp_path / "out.csv"
    path.write_bytes(b"a,b\n1,2\n")
    facts = os.stat(path)
    named = (f"path={urllib.parse.quote(str(path))}; dev={facts.st_dev}; ino={facts.st_ino}; "
             f"size={facts.st_size}; mtime_ns={facts.st_mtime_ns}")
    opened = results_http._open_local_file(named)
    assert opened is not None
    with opened:
        assert opened.name == str(path) and opened.read() == b"a,b\n1,2\n"
