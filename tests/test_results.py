"""results.read_frame on real files of every supported format, and its errors on bad input."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jupyter_compute.errors import InvalidSpec, NotFound
from jupyter_compute.results import is_tabular, read_frame

ROWS = [{"id": 1, "city": "Oslo", "temp": 3.5}, {"id": 2, "city": "Lima", "temp": 19.25}]


def check_rows(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["id", "city", "temp"]
    assert frame["id"].tolist() == [1, 2]
    assert frame["city"].tolist() == ["Oslo", "Lima"]
    assert frame["temp"].tolist() == [3.5, 19.25]


def csv_bytes(sep: str = ",") -> bytes:
    lines = [sep.join(ROWS[0])] + [sep.join(str(v) for v in row.values()) for row in ROWS]
    return ("\n".join(lines) + "\n").encode()


def parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS), sink)
    return sink.getvalue()


def json_lines_bytes() -> bytes:
    return "".join(json.dumps(row) + "\n" for row in ROWS).encode()


FILES = {
    "table.csv": csv_bytes(),
    "table.tsv": csv_bytes("\t"),
    "table.tab": csv_bytes("\t"),
    "table.csv.gz": gzip.compress(csv_bytes()),
    "table.tsv.bz2": bz2.compress(csv_bytes("\t")),
    "table.parquet": parquet_bytes(),
    "table.pq": parquet_bytes(),
    "records.json": json.dumps(ROWS).encode(),
    "columns.json": pd.DataFrame(ROWS).to_json().encode(),
    "table.jsonl": json_lines_bytes(),
    "table.ndjson": json_lines_bytes(),
    "lines-named.json": json_lines_bytes(),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_reads_each_format_from_a_path(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(FILES[name])
    check_rows(read_frame(path, name))
    check_rows(read_frame(str(path), name))


@pytest.mark.parametrize("name", sorted(FILES))
def test_reads_each_format_from_bytes_and_file_objects(name: str) -> None:
    check_rows(read_frame(FILES[name], name))
    check_rows(read_frame(io.BytesIO(FILES[name]), name))


@pytest.mark.parametrize(
    "content",
    [
        csv_bytes(),
        csv_bytes("\t"),
        parquet_bytes(),
        json.dumps(ROWS).encode(),
        json.dumps(ROWS, indent=2).encode(),
        json_lines_bytes(),
        gzip.compress(csv_bytes()),
        gzip.compress(parquet_bytes()),
    ],
    ids=["csv", "tsv", "parquet", "json", "json-pretty", "json-lines", "gzip-csv", "gzip-parquet"],
)
def test_sniffs_the_format_without_extension(content: bytes) -> None:
    check_rows(read_frame(content, "output"))


@pytest.mark.parametrize(
    ("media_type", "content"),
    [
        ("text/csv; charset=utf-8", csv_bytes()),
        ("text/tab-separated-values", csv_bytes("\t")),
        ("application/vnd.apache.parquet", parquet_bytes()),
        ("application/x-ndjson", json_lines_bytes()),
    ],
)
def test_media_type_chooses_when_the_name_does_not(media_type: str, content: bytes) -> None:
    check_rows(read_frame(content, "result.out", media_type))


def test_extension_wins_over_media_type() -> None:
    check_rows(read_frame(csv_bytes("\t"), "table.tsv", "text/csv"))


def test_read_kwargs_reach_pandas() -> None:
    frame = read_frame(csv_bytes(), "table.csv", usecols=["city"])
    assert frame["city"].tolist() == ["Oslo", "Lima"]
    assert list(frame.columns) == ["city"]


def test_options_the_pyarrow_engine_lacks_use_the_default_engine() -> None:
    frame = read_frame(csv_bytes(), "table.csv", nrows=1)
    assert frame["city"].tolist() == ["Oslo"]


def test_semicolons_are_read_when_sep_is_given() -> None:
    check_rows(read_frame(csv_bytes(";"), "output", sep=";"))


class Pipe(io.RawIOBase):
    """An unseekable stream of ``data``, as a download is."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_non_seekable_file_objects_are_spooled() -> None:
    pipe = Pipe(parquet_bytes())
    assert not pipe.seekable()
    check_rows(read_frame(cast(IO[bytes], pipe), "table.parquet"))


COMPRESSED = {
    "table.csv.gz": gzip.compress(csv_bytes()),
    "table.jsonl.gz": gzip.compress(json_lines_bytes()),
    "table.parquet.gz": gzip.compress(parquet_bytes()),
    "gzipped-inside.csv": gzip.compress(csv_bytes()),  # named plain, its compression sniffed
    "table.tsv.bz2": bz2.compress(csv_bytes("\t")),
    "table.csv.xz": lzma.compress(csv_bytes()),
}


@pytest.mark.parametrize("name", COMPRESSED)
def test_compressed_results_are_read_from_an_unseekable_stream(name: str) -> None:
    # A buffered download, as Client.to_pandas reads: a GzipFile over it says it can seek, and cannot.
    stream = io.BufferedReader(Pipe(COMPRESSED[name]))
    assert not stream.seekable()
    check_rows(read_frame(stream, name))


def test_the_pyarrow_engine_reads_csv() -> None:
    check_rows(read_frame(csv_bytes(), "table.csv", engine="pyarrow"))
    check_rows(read_frame(io.BufferedReader(Pipe(csv_bytes())), "table.csv", engine="pyarrow"))


def test_a_separator_pandas_reads_with_its_python_engine_is_read() -> None:
    # pandas warns that it falls back to its python engine: a warning, not a refusal.
    with pytest.warns(pd.errors.ParserWarning, match="python"):
        check_rows(read_frame(csv_bytes("::"), "table.csv", sep="::"))


@pytest.mark.parametrize("options", [{}, {"sep": ";"}, {"engine": "pyarrow"}])
def test_a_row_longer_than_its_header_is_refused_with_the_reason(options: dict[str, str]) -> None:
    sep = options.get("sep", ",")
    content = f"a{sep}b\n1{sep}2{sep}3\n".encode()
    with pytest.raises(InvalidSpec) as caught:
        read_frame(content, "ragged.csv", **options)
    assert caught.value.field == "name"
    reason = str(caught.value).lower()
    assert "'ragged.csv' as csv" in reason
    assert "length of header" in reason or "expected 2 columns, got 3" in reason, reason


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
        ("empty", b"", "empty"),
        ("notes.txt", b"just some words\nand more words\n", "no comma or tab"),
        ("table.parquet", b"PAR1 this is not parquet", "as Parquet"),
        ("broken.json", b'[{"a": 1}, {"a": ', "as JSON"),
        ("broken.jsonl", b'{"a": 1}\n{"a": \n', "as JSON lines"),
        ("ragged.csv", b"a,b\n1,2,3\n", "as CSV"),
        ("empty.csv", b"", "as CSV"),
        ("table.csv.gz", b"a,b\n1,2\n", "as CSV"),
        ("binary.csv", b"\xff\xfe\x00\x01garbage", "as CSV"),
    ],
)
def test_unreadable_content_is_a_clear_invalid_spec(name: str, content: bytes, words: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        read_frame(content, name)
    assert caught.value.field == "name"
    assert f"'{name}'" in str(caught.value)
    assert words in str(caught.value)
    error = caught.value  # no parser traceback chained to it
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_frame(tmp_path / "nope.csv", "nope.csv")


@pytest.mark.parametrize(
    ("name", "media_type", "expected"),
    [
        ("out/table.csv", None, True),
        ("TABLE.CSV.GZ", None, True),
        ("x.parquet", None, True),
        ("x.ndjson", None, True),
        ("result", "text/csv", True),
        ("result", "application/json; charset=utf-8", True),
        ("stdout.log", "text/plain", False),
        ("model.pkl", None, False),
        ("archive.gz", None, False),
        ("result", None, False),
    ],
)
def test_is_tabular(name: str, media_type: str | None, expected: bool) -> None:
    assert is_tabular(name, media_type) is expected


def test_importing_results_does_not_import_pandas() -> None:
    code = "import sys, jupyter_compute.results; assert not {'pandas', 'pyarrow'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
