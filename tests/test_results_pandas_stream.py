"""``Client.to_pandas`` through a live Jupyter server: read options reach the reader, ``nrows`` stops
the download, large results show a progress bar with their size, bad options are named."""

from __future__ import annotations

import base64
import gzip
import http.server
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from jupyter_compute import results_http
from jupyter_compute.client import Client
from jupyter_compute.errors import ComputeError, InvalidSpec, NotFound
from jupyter_compute.models import JobSpec
from jupyter_compute.results import read_frame
from tests.conftest import LiveServer

SMALL_ROWS = 5_000
BIG_ROWS = 1_600_000  # about 80 MB of CSV: above the progress bar's threshold, far above socket buffers


def small_frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({
        "id": np.arange(SMALL_ROWS),
        "name": [f"item-{i % 97}" for i in range(SMALL_ROWS)],
        "value": rng.normal(size=SMALL_ROWS).round(5),
        "when": pd.date_range("2024-01-01", periods=SMALL_ROWS, freq="min").astype(str),
    })  # fmt: skip


def big_table() -> pa.Table:
    rng = np.random.default_rng(6)
    return pa.table({
        "id": np.arange(BIG_ROWS),
        "x": rng.random(BIG_ROWS),
        "y": rng.random(BIG_ROWS),
        "label": pa.array(np.array(["alpha", "beta", "gamma"])[rng.integers(0, 3, BIG_ROWS)]),
    })  # fmt: skip


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The result files, written here; the job copies them to its outputs."""
    import pyarrow.csv as pacsv

    folder = tmp_path_factory.mktemp("tables")
    small = small_frame()
    small.to_csv(folder / "small.csv", index=False)
    small.to_parquet(folder / "small.parquet", row_group_size=500, index=False)
    small.set_index("when").to_parquet(folder / "indexed.parquet")  # pandas' own index kept in the file
    small.to_json(folder / "small.jsonl", orient="records", lines=True)
    for name in ("small.csv", "small.jsonl", "small.parquet"):
        (folder / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes()))
    (folder / "gzipped-inside.csv").write_bytes(gzip.compress((folder / "small.csv").read_bytes()))
    pacsv.write_csv(big_table(), folder / "big.csv")
    return {p.name: p for p in folder.iterdir()}


@pytest.fixture(scope="module")
def job_id(module_server: LiveServer, tables: dict[str, Path]) -> str:
    paths = " ".join(str(p) for p in tables.values())
    with module_server.client() as client:
        job = client.submit(JobSpec(backend="local", command=f'cp {paths} "$JUPYTER_COMPUTE_OUTPUT_DIR"/'))
        return job.wait(timeout=120, progress=False).id


@pytest.fixture(autouse=True)
def over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the download: the bytes come over HTTP even on the server's machine (a client
    there reads a local job's file itself by default; tests/test_results_fast_path.py covers that)."""
    monkeypatch.setenv(results_http.LOCAL_RESULTS_ENV, "0")


@pytest.fixture
def client(module_server: LiveServer) -> Iterator[Client]:
    with module_server.client() as c:
        yield c


# --- options reach the reader -------------------------------------------------------------------------


def test_whole_results_read_as_pandas_reads_the_files(client: Client, job_id: str, tables: dict[str, Path]) -> None:
    assert_frame_equal(client.to_pandas(job_id, "small.csv"), pd.read_csv(tables["small.csv"]))
    assert_frame_equal(client.to_pandas(job_id, "small.parquet"), pd.read_parquet(tables["small.parquet"]))
    indexed = client.to_pandas(job_id, "indexed.parquet")
    assert_frame_equal(indexed, pd.read_parquet(tables["indexed.parquet"]))
    assert indexed.index.name == "when"
    # JSON lines: as the same reader gives for the local file (pyarrow's, which reads the times as times).
    assert_frame_equal(client.to_pandas(job_id, "small.jsonl"), read_frame(tables["small.jsonl"], "small.jsonl"))
    assert_frame_equal(client.to_pandas(job_id, "big.csv", progress=False), pd.read_csv(tables["big.csv"]))


def test_usecols_and_nrows_reach_the_csv_reader(client: Client, job_id: str, tables: dict[str, Path]) -> None:
    frame = client.to_pandas(job_id, "small.csv", usecols=["id", "when"], nrows=123)
    assert_frame_equal(frame, pd.read_csv(tables["small.csv"], usecols=["id", "when"], nrows=123))
    assert list(frame.columns) == ["id", "when"] and len(frame) == 123


def test_columns_and_filters_reach_the_parquet_reader(client: Client, job_id: str, tables: dict[str, Path]) -> None:
    columns = client.to_pandas(job_id, "small.parquet", columns=["value", "id"])
    assert list(columns.columns) == ["value", "id"]
    assert_frame_equal(columns, pd.read_parquet(tables["small.parquet"], columns=["value", "id"]))
    wanted: dict[str, Any] = {"columns": ["id", "name"], "filters": [("id", ">=", 4990), ("name", "!=", "item-44")]}
    filtered = client.to_pandas(job_id, "small.parquet", **wanted)
    assert_frame_equal(filtered, pd.read_parquet(tables["small.parquet"], **wanted))
    assert sorted(filtered["id"]) == [i for i in range(4990, SMALL_ROWS) if i % 97 != 44]


def test_gzipped_results_are_read_from_a_download(client: Client, job_id: str, tables: dict[str, Path]) -> None:
    assert_frame_equal(client.to_pandas(job_id, "small.csv.gz"), pd.read_csv(tables["small.csv"]))
    assert_frame_equal(client.to_pandas(job_id, "gzipped-inside.csv"), pd.read_csv(tables["small.csv"]))
    assert_frame_equal(client.to_pandas(job_id, "small.parquet.gz"), pd.read_parquet(tables["small.parquet"]))
    from_disk = read_frame(tables["small.jsonl"], "small.jsonl")
    assert_frame_equal(client.to_pandas(job_id, "small.jsonl.gz"), from_disk)
    assert_frame_equal(client.to_pandas(job_id, "small.csv.gz", nrows=10), pd.read_csv(tables["small.csv"], nrows=10))


def test_csv_options_pandas_reads_with_other_engines_are_read(
    client: Client, job_id: str, tables: dict[str, Path]
) -> None:
    expected = pd.read_csv(tables["small.csv"], engine="pyarrow")
    assert_frame_equal(client.to_pandas(job_id, "small.csv", engine="pyarrow"), expected)
    # A separator pandas reads with its python engine (it warns so): read, not refused.
    with pytest.warns(pd.errors.ParserWarning):
        frame = client.to_pandas(job_id, "small.csv", sep=",+", nrows=50)
    assert_frame_equal(frame, pd.read_csv(tables["small.csv"], nrows=50))


# --- proxies --------------------------------------------------------------------------------------------


class AuthProxy(http.server.ThreadingHTTPServer):
    """An HTTP proxy on loopback that wants Basic ``user:pass`` in Proxy-Authorization (407 without it),
    then relays one request per connection; ``seen`` holds (path, authorised) of each request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[tuple[str, bool]] = []
        self.port = self.server_address[1]


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: AuthProxy

    def do_GET(self) -> None:
        target = urllib.parse.urlsplit(self.path)
        authorised = self.headers.get("Proxy-Authorization") == "Basic " + base64.b64encode(b"user:pass").decode()
        self.server.seen.append((target.path, authorised))
        self.close_connection = True
        if not authorised:
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        dropped = {"proxy-authorization", "proxy-connection", "connection"}
        head = [f"GET {target.path}{'?' + target.query if target.query else ''} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() not in dropped]
        with socket.create_connection((target.hostname, target.port)) as upstream:
            upstream.sendall(("\r\n".join([*head, "Connection: close", "", ""])).encode())
            while data := upstream.recv(256 * 1024):
                self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def auth_proxy() -> Iterator[AuthProxy]:
    proxy = AuthProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def use_proxy(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """``url`` as the proxy for every scheme, the loopback server not exempt from it."""
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "https_proxy", "HTTPS_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, url)


def test_results_download_through_a_proxy_that_wants_credentials(
    module_server: LiveServer, job_id: str, tables: dict[str, Path], auth_proxy: AuthProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    use_proxy(monkeypatch, f"http://user:pass@127.0.0.1:{auth_proxy.port}")
    with module_server.client() as client:
        assert_frame_equal(client.to_pandas(job_id, "small.csv"), pd.read_csv(tables["small.csv"]))
        assert_frame_equal(client.to_pandas(job_id, "small.csv.gz"), pd.read_csv(tables["small.csv"]))
    downloads = [authorised for path, authorised in auth_proxy.seen if path.endswith("/results/small.csv")]
    assert downloads == [True], auth_proxy.seen
    assert all(authorised for _, authorised in auth_proxy.seen), auth_proxy.seen


def test_a_proxy_refusing_the_credentials_is_an_error(
    module_server: LiveServer, job_id: str, auth_proxy: AuthProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy is really asked, and says no: the test above passes through it, not around it.
    use_proxy(monkeypatch, f"http://user:wrong@127.0.0.1:{auth_proxy.port}")
    with module_server.client() as client, pytest.raises(ComputeError) as caught:
        client.to_pandas(job_id, "small.csv")
    assert "wrong" not in str(caught.value)
    assert auth_proxy.seen and not any(authorised for _, authorised in auth_proxy.seen)


def test_a_socks_proxy_is_a_clear_error_without_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy(monkeypatch, "socks5://someone:s3cret@127.0.0.1:1080")
    with pytest.raises(ComputeError) as caught:
        results_http.Downloads(timeout=5, retries=0)
    message = str(caught.value)
    assert "socks5://127.0.0.1:1080" in message and "http://" in message and "NO_PROXY" in message
    assert "s3cret" not in message and "someone" not in message


# --- nrows stops the download -------------------------------------------------------------------------


class CountingForwarder:
    """A TCP forwarder on loopback in front of the server, counting the bytes the server sent through it."""

    def __init__(self, port: int) -> None:
        self.upstream = ("127.0.0.1", port)
        self.served = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(downstream, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, count: bool) -> None:
        try:
            while data := source.recv(256 * 1024):
                target.sendall(data)
                if count:
                    with self._lock:
                        self.served += len(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                end.close()

    def close(self) -> None:
        self._listener.close()


def test_nrows_stops_the_download_early(module_server: LiveServer, job_id: str, tables: dict[str, Path]) -> None:
    port = int(module_server.url.split(":")[2].split("/")[0])
    forwarder = CountingForwarder(port)
    try:
        url = module_server.url.replace(f":{port}/", f":{forwarder.port}/")
        with Client(url, module_server.token) as client:
            frame = client.to_pandas(job_id, "big.csv", nrows=1000)
            assert_frame_equal(frame, pd.read_csv(tables["big.csv"], nrows=1000))
            # The dropped connection is noticed by the server, which stops; the pool still serves.
            assert len(client.to_pandas(job_id, "small.csv")) == SMALL_ROWS
    finally:
        forwarder.close()
    size = tables["big.csv"].stat().st_size
    assert forwarder.served < size // 4, (forwarder.served, size)


# --- the progress bar ---------------------------------------------------------------------------------

READ_IN_A_SCRIPT = """
import sys
from jupyter_compute.client import Client
url, token, job_id, progress = sys.argv[1:]
frame = Client(url, token).to_pandas(job_id, "big.csv", progress={"on": True, "auto": None}[progress])
print("rows", len(frame))
"""


def read_in_a_script(server: LiveServer, job_id: str, progress: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", READ_IN_A_SCRIPT, server.url, server.token, job_id, progress],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip


def test_a_large_result_shows_its_progress_and_total(
    module_server: LiveServer, job_id: str, tables: dict[str, Path]
) -> None:
    total = f"{tables['big.csv'].stat().st_size / 1e6:.1f} MB"
    shown = read_in_a_script(module_server, job_id, "on")
    assert f"rows {BIG_ROWS}" in shown.stdout
    lines = [line for line in shown.stderr.splitlines() if line]  # carriage returns read as line ends here
    assert lines[-1] == f"big.csv: {total[:-3]} of {total} (100%)", shown.stderr
    assert len(lines) >= 2 and all(line.startswith("big.csv: ") and f" of {total} (" in line for line in lines)


def test_a_script_writing_to_a_pipe_shows_no_bar_by_default(module_server: LiveServer, job_id: str) -> None:
    quiet = read_in_a_script(module_server, job_id, "auto")
    assert f"rows {BIG_ROWS}" in quiet.stdout and quiet.stderr == ""


def test_a_notebook_shows_a_progress_widget_with_the_total(
    module_server: LiveServer, job_id: str, tables: dict[str, Path]
) -> None:
    import nbformat
    from nbclient import NotebookClient

    code = (
        "from jupyter_compute.client import Client\n"
        f"frame = Client({module_server.url!r}, {module_server.token!r}).to_pandas({job_id!r}, 'big.csv')\n"
        "len(frame)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs
    assert outputs[-1]["data"]["text/plain"] == str(BIG_ROWS)
    states = [w["state"] for w in nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"].values()]
    total = f"{tables['big.csv'].stat().st_size / 1e6:.1f} MB"
    assert f"big.csv: {total[:-3]} of {total} (100%)" in [s.get("value") for s in states]


# --- options that do not fit are named ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options", "field", "words"),
    [
        ("small.csv", {"usecols": ["id", "nope"]}, "usecols", "nope"),
        ("small.parquet", {"columns": ["id", "nope"]}, "columns", "'nope'"),
        ("small.parquet", {"filters": [("nope", "=", 1)]}, "filters", "'nope'"),
        ("small.parquet", {"filters": [("id", "~", 1)]}, "filters", "~"),
        ("small.csv", {"chunksize": 100}, "chunksize", "nrows"),
    ],
)
def test_an_option_that_does_not_fit_is_named(
    client: Client, job_id: str, name: str, options: dict, field: str, words: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        client.to_pandas(job_id, name, **options)
    assert caught.value.field == field
    assert field in str(caught.value) and words in str(caught.value)


def test_a_missing_result_is_not_found_and_names_it(client: Client, job_id: str) -> None:
    with pytest.raises(NotFound) as caught:
        client.to_pandas(job_id, "nope.csv")
    assert "nope.csv" in str(caught.value) and "job.results()" in str(caught.value)
