"""A large CSV in a file is parsed by pyarrow on several threads, a piece at a time, and gives the very frame
``pandas.read_csv`` gives; whatever pyarrow would read otherwise (a quote out of place included) goes back
to pandas."""

from __future__ import annotations

import io
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from jupyter_compute import results_frames
from jupyter_compute.client import Client
from jupyter_compute.errors import InvalidSpec
from jupyter_compute.models import JobSpec
from jupyter_compute.results import read_frame
from tests.conftest import LiveServer

ROWS = 1_300_000  # about 38 MB of CSV: above ARROW_CSV_MIN_BYTES, several pieces


def write_big_csv(path: Path, cities: list[str]) -> Path:
    """Gaps in numbers and strings, booleans, ints, floats, and text values chosen from ``cities``."""
    rng = np.random.default_rng(21)
    x = rng.random(ROWS).round(6)
    x[rng.integers(0, ROWS, 500)] = np.nan
    frame = pd.DataFrame({
        "id": np.arange(ROWS),
        "x": x,
        "city": np.array(cities, dtype=object)[rng.integers(0, len(cities), ROWS)],
        "flag": rng.integers(0, 2, ROWS).astype(bool),
    })  # fmt: skip
    frame.to_csv(path, index=False)
    assert path.stat().st_size >= results_frames.ARROW_CSV_MIN_BYTES
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_big_csv(tmp_path_factory.mktemp("speed") / "big.csv", ["Oslo", "Lima Peru", "", "NA", "Perth"])


@pytest.fixture(scope="module")
def big_quoted_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Values quoted by pandas (commas, quotes, newlines in them)."""
    cities = ["Oslo", "Lima, Peru", 'the "Cork"', "Perth\nWA", "", "NA"]
    return write_big_csv(tmp_path_factory.mktemp("speed") / "quoted.csv", cities)


@pytest.fixture(scope="module")
def big_stray_quote_csv(big_quoted_csv: Path) -> Path:
    """Quoted values with newlines in them, and, far into the file, a quote inside a value that is not quoted
    (text to pandas): counting quotes would place row ends inside values from there on."""
    text = big_quoted_csv.read_bytes()
    middle = text.index(b"\n", len(text) // 2) + 1
    path = big_quoted_csv.with_name("stray.csv")
    path.write_bytes(text[:middle] + b'999999999,0.5,a 5" pipe,True\n' + text[middle:])
    return path


@pytest.fixture
def thread_names() -> Iterator[set[str]]:
    """The names of the threads that ran Python code meanwhile."""
    names: set[str] = set()

    def seen(*_: Any) -> None:
        names.add(threading.current_thread().name)

    threading.setprofile(seen)
    try:
        yield names
    finally:
        threading.setprofile(None)


def test_a_large_csv_file_is_parsed_on_several_threads_as_pandas_reads_it(
    big_csv: Path, thread_names: set[str]
) -> None:
    frame = read_frame(big_csv, "big.csv")
    assert any(name.startswith("jupyter-compute-csv") for name in thread_names), thread_names
    assert_frame_equal(frame, pd.read_csv(big_csv), check_exact=True)


def test_a_large_csv_with_quoted_values_is_parsed_on_several_threads(big_quoted_csv: Path,
                                                                     thread_names: set[str]) -> None:  # fmt: skip
    frame = read_frame(big_quoted_csv, "quoted.csv")
    assert any(name.startswith("jupyter-compute-csv") for name in thread_names)
    assert_frame_equal(frame, pd.read_csv(big_quoted_csv), check_exact=True)


def test_a_quote_out_of_place_sends_the_read_back_to_pandas(big_stray_quote_csv: Path) -> None:
    """Row ends found by counting quotes would be wrong after it: the frame is pandas' own all the same."""
    assert_frame_equal(read_frame(big_stray_quote_csv, "stray.csv"), pd.read_csv(big_stray_quote_csv), check_exact=True)


def test_options_pyarrow_does_not_take_are_read_by_pandas(big_csv: Path, thread_names: set[str]) -> None:
    some = read_frame(big_csv, "big.csv", usecols=["id", "city"], dtype={"id": "int32"})
    assert not any(name.startswith("jupyter-compute-csv") for name in thread_names)
    assert_frame_equal(some, pd.read_csv(big_csv, usecols=["id", "city"], dtype={"id": "int32"}), check_exact=True)
    assert_frame_equal(read_frame(big_csv, "big.csv", nrows=10), pd.read_csv(big_csv, nrows=10), check_exact=True)


def test_a_client_on_the_same_machine_gets_the_frame_pandas_gives(module_server: LiveServer, big_csv: Path,
                                                                  big_quoted_csv: Path) -> None:  # fmt: skip
    with module_server.client() as client:
        job = client.submit(JobSpec(backend="local", command=f'cp {big_csv} {big_quoted_csv} "$JUPYTER_COMPUTE_OUTPUT_DIR"/'))
        job_id = job.wait(timeout=120, progress=False).id
    with Client(module_server.url, module_server.token) as client:
        for path in (big_csv, big_quoted_csv):
            frame = client.to_pandas(job_id, path.name, progress=False)
            assert_frame_equal(frame, pd.read_csv(path), check_exact=True)


# --- what pyarrow would read otherwise goes back to pandas (small pieces, so that every case has several) -----


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results_frames, "ARROW_CSV_MIN_BYTES", 1)
    monkeypatch.setattr(results_frames, "ARROW_CSV_PIECE_BYTES", 4096)
    monkeypatch.setattr(results_frames, "_FIRST_PIECE_BYTES", 4096)


def rows(header: str, make: Any, count: int = 6000) -> bytes:
    return (header + "\n" + "".join(make(i) + "\n" for i in range(count))).encode()


CASES = {
    "quoted newlines and quotes": rows("a,b", lambda i: f'{i},"line {i}\nnext ""{i}"""'),
    "dates stay text": rows("when,v", lambda i: f"2024-01-{i % 28 + 1:02d},{i}"),
    "times stay text": rows("t,v", lambda i: f"12:{i % 60:02d}:00,{i}"),
    "ints with spaces": rows("a,b", lambda i: f" {i},{i}"),
    "booleans with gaps": rows("a,b", lambda i: f"{'' if i % 7 == 0 else 'true'},{i}"),
    "a string late in an int column": rows("a,b", lambda i: f"{'x' if i == 5000 else i},{i}"),
    "a float late in an int column": rows("a,b", lambda i: f"{'1.5' if i == 5000 else i},{i}"),
    "a gap late in an int column": rows("a,b", lambda i: f"{'' if i == 5000 else i},{i}"),
    "a column empty at first": rows("a,b", lambda i: f"{'' if i < 3000 else i},{i}"),
    "ints too large": rows("a,b", lambda i: f"{2**64 + i},{i}"),
    "the same name twice": rows("a,a", lambda i: f"{i},{i}"),
    "a column without a name": rows("a,", lambda i: f"{i},{i}"),
    "pandas' missing values": rows("a,b", lambda i: f"{['NA', 'None', '<NA>', 'n/a', str(i)][i % 5]},{i}"),
    "quotes inside unquoted values": rows("a,b", lambda i: f'x"{i},{i}'),
    "stray quotes and quoted newlines": rows("a,b", lambda i: f'{i} 5" long,"line {i}\nnext"'),
    # past the first piece (which pandas reads too), counting quotes would cut inside the values that follow,
    # where the rest of a value looks like a whole row
    "a quote out of place, then values with a newline": rows(
        "a,b", lambda i: 'r 5" long,0' if i in (1000, 4000) else f'r{i},"x{i}\ny,z"'),
    "one byte order mark": b"\xef\xbb\xbf" + rows("a,b", lambda i: f"{i},{i}"),
    "rows too short": rows("a,b,c", lambda i: f"{i},{i}" if i % 100 == 99 else f"{i},{i},{i}"),
    "blank lines": rows("a,b", lambda i: "" if i % 50 == 0 else f"{i},{i}"),
    "windows line ends": rows("a,b", lambda i: f"{i},v{i}\r"),
    # the cut inside a value of the first column: the row the piece ends with has too few values
    "a quote out of place, then newlines in the first column": rows(
        "a,b", lambda i: '5" long,0' if i in (1000, 4000) else f'"x{i}\ny",{i}'),
    "text values that end with a newline": rows("a,b", lambda i: f'{i},"x{i}\n"'),
    "lines of blanks in one column": rows("a", lambda i: " \t " if i % 50 == 0 else f"v{i}"),
    "a carriage return alone": rows("a,b", lambda i: f"{i},\r\r," if i == 3000 else f"{i},v{i}"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_what_pyarrow_would_read_otherwise_is_read_as_pandas_reads_it(small_pieces: None, case: str) -> None:
    data = CASES[case]
    assert_frame_equal(read_frame(data, "t.csv"), pd.read_csv(io.BytesIO(data)), check_exact=True)


def test_a_tab_separated_file_too(small_pieces: None, thread_names: set[str]) -> None:
    data = rows("a\tb\tc", lambda i: f"{i}\t{i / 3:.4f}\tword {i}")
    assert_frame_equal(read_frame(data, "t.tsv"), pd.read_csv(io.BytesIO(data), sep="\t"), check_exact=True)
    assert any(name.startswith("jupyter-compute-csv") for name in thread_names)


def test_rows_too_long_are_still_refused(small_pieces: None) -> None:
    data = rows("a,b", lambda i: f"{i},{i},{i}" if i == 5000 else f"{i},{i}")
    with pytest.raises(InvalidSpec):
        read_frame(data, "t.csv")


def test_text_without_a_row_end_goes_back_to_pandas(small_pieces: None) -> None:
    data = b'a,b\n1,"' + b"x\n" * 20_000 + b'"\n2,y\n'
    assert_frame_equal(read_frame(data, "t.csv"), pd.read_csv(io.BytesIO(data)), check_exact=True)


def test_a_value_left_open_at_the_end_is_refused_as_pandas_refuses_it(small_pieces: None) -> None:
    # the quote out of place evens the count, so only reading the quotes as pandas does finds the open value
    data = rows("a,b", lambda i: '5" long,0' if i == 10 else f"{i},v{i}") + b'9,"open'
    with pytest.raises(pd.errors.ParserError):
        pd.read_csv(io.BytesIO(data))
    with pytest.raises(InvalidSpec, match="EOF inside string"):
        read_frame(data, "t.csv")


@pytest.mark.parametrize("cell", ['"ab"cd', '"ab" ', 'a"b"c', '"a""b"', ' "ab"', '""x', '"a"""', '" "" "', 'a""', '"a\nb"x'])
@pytest.mark.parametrize("column", ["first", "last"])
def test_quotes_anywhere_in_a_value_are_read_as_pandas_reads_them(small_pieces: None, arrow_reads: list[int],
                                                                  cell: str, column: str) -> None:  # fmt: skip
    # the pieces are read by pyarrow without checking each quote: its meaning of quotes that are text must be pandas'
    data = rows("a,b", lambda i: (f"{cell},{i}" if column == "first" else f"{i},{cell}") if i % 7 == 3 else f"v{i},{i}")
    assert_frame_equal(read_frame(data, "t.csv"), pd.read_csv(io.BytesIO(data)), check_exact=True)
    assert arrow_reads == [1]


@pytest.fixture
def arrow_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many reads pyarrow's path gave a frame for (one number, counted up)."""
    count = [0]
    arrow_to_frame = results_frames._arrow_to_frame

    def counted(*args: Any) -> pd.DataFrame | None:
        frame = arrow_to_frame(*args)
        count[0] += frame is not None
        return frame

    monkeypatch.setattr(results_frames, "_arrow_to_frame", counted)
    return count


def messy_csv(seed: int) -> bytes:
    """Up to 60 rows of one to three columns: numbers, words, quoted values with separators, quotes,
    newlines and carriage returns in them, quotes out of place, blanks."""
    rand = random.Random(seed)

    def value() -> str:
        kind = rand.random()
        if kind < 0.3:
            return str(rand.randint(0, 99))
        if kind < 0.6:
            return "".join(rand.choice("xyz ") for _ in range(rand.randint(1, 4)))
        if kind < 0.85:
            return '"' + "".join(rand.choice(["x", "1", ",", "\n", '""', " ", "\r\n"]) for _ in range(rand.randint(0, 4))) + '"'
        return "".join(rand.choice(["x", "1", " ", '"', "\n", ",", "\r", "ab"]) for _ in range(rand.randint(1, 3)))

    columns = rand.randint(1, 3)
    lines = ["abc"[:columns]] + [",".join(value() for _ in range(columns)) for _ in range(rand.randint(5, 60))]
    text = "\n".join(lines) + ("\n" if rand.random() < 0.8 else "")
    if rand.random() < 0.3:
        at = rand.randrange(len(text))
        text = text[:at] + '"' + text[at:]
    return text.encode()


def test_messy_text_in_tiny_pieces_is_read_as_pandas_reads_it(monkeypatch: pytest.MonkeyPatch,
                                                              arrow_reads: list[int]) -> None:  # fmt: skip
    monkeypatch.setattr(results_frames, "ARROW_CSV_MIN_BYTES", 1)
    monkeypatch.setattr(results_frames, "ARROW_CSV_PIECE_BYTES", 64)
    monkeypatch.setattr(results_frames, "_FIRST_PIECE_BYTES", 64)
    for seed in range(4000):
        data = messy_csv(seed)
        before = arrow_reads[0]
        try:
            got: pd.DataFrame | None = read_frame(data, "t.csv")
        except InvalidSpec:
            got = None
        if arrow_reads[0] == before:
            continue  # read by pandas (or refused, as rows too long are)
        try:
            want: pd.DataFrame | None = pd.read_csv(io.BytesIO(data))
        except pd.errors.ParserError:
            want = None
        assert (got is None) == (want is None), (seed, data)
        if want is not None:
            assert_frame_equal(got, want, check_exact=True, obj=f"seed {seed}: {data!r}")
    assert arrow_reads[0] > 100  # the test reaches pyarrow's path


def test_a_compressed_file_is_read_by_pandas(small_pieces: None, tmp_path: Path, thread_names: set[str]) -> None:
    import gzip

    data = rows("a,b", lambda i: f"{i},v{i}")
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(data))
    assert_frame_equal(read_frame(tmp_path / "t.csv.gz", "t.csv.gz"), pd.read_csv(io.BytesIO(data)), check_exact=True)
    assert not any(name.startswith("jupyter-compute-csv") for name in thread_names)
