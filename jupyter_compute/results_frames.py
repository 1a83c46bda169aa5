"""Building a large DataFrame without holding it twice.

pandas' readers build a frame from parts and join them at the end: ``read_csv`` joins the chunks
its C parser makes, ``read_parquet`` converts a whole Arrow table, so for a moment both copies
live (measured: 1.75× the frame's memory at the peak for a CSV streamed from the server, 2.3× for
Parquet). Here the parts are joined one column at a time, each column's parts freed as soon as it
is joined, so the peak stays near the frame itself plus one column or group of columns (1.3×
for that CSV, 1.4× for that Parquet). The values and dtypes are pandas' own.

Freed parts go back to the system as each column is joined (glibc keeps them otherwise, and the peak
would be the frame twice over).

A large CSV that lies in a file (a path, or a result file on this machine) is parsed by pyarrow on all
cores, a piece of :data:`ARROW_CSV_PIECE_BYTES` at a time, and joined by column likewise: pandas' own
parallel reader takes a path too, but maps the whole file and holds every block twice (2.7× the frame
at the peak). A piece ends at a newline outside quoted values, found by counting quotes. A quote that is
text to pandas (inside a value that is not quoted) throws the count off; a piece cut inside a quoted value
that way shows it (see :func:`_ends_outside_quotes`), and only then are its quotes checked one by one (see
:func:`check_quoting`), which sends the whole read back to pandas if one is out of place. So do lines
pyarrow reads otherwise than pandas (blanks only, in a one-column file; an old Mac line end). Only a plain
read goes there, and only if pyarrow sees the columns as pandas does (the same dtypes on the first rows, no
type pandas would not give); anything else is read by pandas again, from the start.
"""

from __future__ import annotations

import collections
import ctypes
import functools
import inspect
import io
import os
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

#: Text per CSV chunk (bytes): the chunk's frame is about this size, the extra memory at the peak.
CSV_CHUNK_BYTES = 32 * 1024 * 1024
#: Parquet columns are read in at most this many groups, one group's Arrow table held at a time.
PARQUET_GROUPS = 4

#: ``read_csv`` options whose meaning needs the whole file in one piece (as does an ``index_col``): with one of
#: them, pandas reads it so.
_WHOLE_CSV_OPTIONS = frozenset({"nrows", "skipfooter", "engine", "chunksize", "iterator"})

#: A CSV file this large or more is parsed by pyarrow (below, pandas' C parser on one core is as quick).
ARROW_CSV_MIN_BYTES = 32 * 1024 * 1024
#: Text handed to pyarrow at a time, cut at the end of a row: its parse is the extra memory at the peak.
ARROW_CSV_PIECE_BYTES = 8 * 1024 * 1024
#: The first piece: pyarrow infers the column types from it, pandas reads its first rows to check them.
_FIRST_PIECE_BYTES = 1024 * 1024
#: Text parsed between two returns of freed memory to the system (each costs a few milliseconds).
_TRIM_BYTES = 128 * 1024 * 1024
#: Threads parsing pieces at most.
_MAX_WORKERS = 4
#: Rows pandas reads to check that pyarrow sees the same columns.
_CHECK_ROWS = 2000
#: pandas' read_csv options that pyarrow's reader is given the same meaning of (``index_col`` only False).
_ARROW_CSV_OPTIONS = frozenset({"sep", "delimiter", "index_col"})
#: Arrow types that become, column for column, what pandas' C parser gives.
_ARROW_CSV_TYPES = ("int64", "double", "bool", "string")
#: A line of spaces and tabs, which pandas skips as it skips an empty line.
_BLANK_LINE = re.compile(rb"(?:\A|[\r\n])[ \t]+(?:[\r\n]|\Z)")
#: An old Mac line end, which pandas reads otherwise than pyarrow after some others (``\r\r,\n``).
_LONE_CARRIAGE_RETURN = re.compile(rb"\r(?!\n)")


def rows_per_chunk(head: bytes) -> int:
    """How many CSV rows make about :data:`CSV_CHUNK_BYTES`, judged by the lines of ``head``."""
    lines = max(head.count(b"\n"), 1)
    return max(CSV_CHUNK_BYTES * lines // max(len(head), 1), 10_000)


def read_csv_by_column(stream: IO[bytes] | Any, options: dict[str, Any], chunk_rows: int) -> pandas.DataFrame:
    """``pandas.read_csv(stream, **options)``, read in chunks of ``chunk_rows`` rows joined column by column."""
    import pandas as pd

    if _WHOLE_CSV_OPTIONS.intersection(options) or not _no_index(options):
        return pd.read_csv(stream, **options)
    if _arrow_may_read(stream, options):
        frame = _read_csv_with_arrow(stream, options)
        if frame is not None:
            return frame
    with pd.read_csv(stream, chunksize=chunk_rows, **options) as reader:
        chunks = list(reader)
    return join_by_column(chunks)


def _arrow_may_read(stream: IO[bytes] | Any, options: dict[str, Any]) -> bool:
    """A plain read (no option pyarrow would read otherwise) of a large file that can go back to its start."""
    if not set(options) <= _ARROW_CSV_OPTIONS or options.get("index_col", False) is not False:
        return False
    sep = _separator(options)
    if not (isinstance(sep, str) and len(sep) == 1 and sep not in '"\r\n'):
        return False
    # A file or bytes, not a decompressor: those seek by decompressing again, or not to the end at all.
    if not (isinstance(stream, (io.BufferedReader, io.BytesIO)) and stream.seekable()):
        return False
    start = stream.tell()
    size = stream.seek(0, 2) - start
    stream.seek(start)
    return size >= ARROW_CSV_MIN_BYTES


def _separator(options: dict[str, Any]) -> Any:
    """The field separator ``read_csv`` is given (``sep``, else ``delimiter``, else a comma)."""
    return options.get("sep", options.get("delimiter", ","))


def _read_csv_with_arrow(stream: IO[bytes] | Any, options: dict[str, Any]) -> pandas.DataFrame | None:
    """The frame ``pandas.read_csv`` gives, parsed by pyarrow; None (``stream`` back where it was) when
    pyarrow cannot read it as pandas would."""
    import pyarrow as pa

    start = stream.tell()
    try:
        frame = _arrow_csv(stream, _separator(options))
    except (pa.ArrowException, ValueError, ImportError):  # ImportError: pandas' missing-value list moved
        frame = None
    if frame is None:
        pa.system_memory_pool().release_unused()
        _give_back_memory()
        stream.seek(start)
    return frame


def _arrow_csv(stream: IO[bytes] | Any, sep: str) -> pandas.DataFrame | None:
    import pandas as pd
    import pyarrow as pa

    pieces = _RowPieces(stream, ARROW_CSV_PIECE_BYTES)
    parse = _ArrowPieces(sep)
    first = pieces.next(_FIRST_PIECE_BYTES)  # small: the parsers wait for its column types
    if first is None:
        return None
    table = parse(*first, None)
    sample = pd.read_csv(io.BytesIO(memoryview(first[0])[: first[1]]), sep=sep, index_col=False, nrows=_CHECK_ROWS)
    if not _like_pandas(table.schema, sample):
        return None
    tables = [table]
    schema = table.schema
    del first, table, sample
    workers = min(os.cpu_count() or 1, _MAX_WORKERS)
    with ThreadPoolExecutor(workers, thread_name_prefix="jupyter-compute-csv") as pool:
        pending: collections.deque[tuple[Future[pa.Table], bytearray]] = collections.deque()
        while (piece := pieces.next()) is not None:
            pending.append((pool.submit(parse, *piece, schema), piece[0]))
            del piece
            if len(pending) > workers:  # one piece read ahead of the parsers, no more
                tables.append(pieces.parsed(*pending.popleft()))
        tables.extend(pieces.parsed(*done) for done in pending)
    del pieces  # its buffers
    return _arrow_to_frame(tables, parse.pool)


class _RowPieces:
    """The text of a stream in pieces of about ``size`` bytes, each ending at the end of a row (a newline outside
    quoted values), read into buffers that are used again once a piece is parsed."""

    def __init__(self, stream: IO[bytes] | Any, size: int) -> None:
        self._stream = stream
        self._size = size
        self._carry = b""  # the start of a row the last piece ended before
        self._spare: list[bytearray] = []
        self._unreturned = 0

    def next(self, size: int | None = None) -> tuple[bytearray, int] | None:
        """The next piece (its buffer, and where the piece ends in it), of about ``size`` bytes (else the size given
        at first); None at the end. Raises ValueError at text that ends inside a quoted value, or when no row ends
        within a few pieces. (A count thrown off by a quote that is text shows once the piece is parsed: see
        :func:`_ends_outside_quotes`.)"""
        size = size or self._size
        while True:
            carry = self._carry
            buffer = self._buffer(len(carry) + size)
            buffer[: len(carry)] = carry
            got = len(carry) + _read_into(self._stream, memoryview(buffer)[len(carry) : len(carry) + size])
            cut = _last_row_end(buffer, got, at_end=got == len(carry))
            if cut:
                self._carry = bytes(buffer[cut:got])
                return buffer, cut
            self.give_back(buffer)
            if not got:
                return None
            if got > 4 * max(size, self._size):
                raise ValueError("no end of row in a piece of text")
            self._carry = bytes(buffer[:got])

    def parsed(self, future: Future[Any], buffer: bytearray) -> Any:
        """The table of a piece, once parsed; its buffer is free again."""
        table = future.result()
        self.give_back(buffer)
        self._unreturned += len(buffer)
        if self._unreturned >= _TRIM_BYTES:  # the parsers' freed memory, back to the system now and then
            self._unreturned = 0
            _give_back_memory()
        return table

    def give_back(self, buffer: bytearray) -> None:
        """``buffer`` is not read any more: the next pieces may go there."""
        self._spare.append(buffer)

    def _buffer(self, size: int) -> bytearray:
        while self._spare:
            buffer = self._spare.pop()
            if len(buffer) >= size:
                return buffer
        return bytearray(size)


class _ArrowPieces:
    """pyarrow's CSV reader on one piece of text, with pandas' meaning of missing values and booleans;
    later pieces are read with the first one's column names and types."""

    def __init__(self, sep: str) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.csv as pacsv
        from pandas._libs.parsers import STR_NA_VALUES

        self.pool = pa.system_memory_pool()  # glibc's: what is freed goes back to the system (_give_back_memory)
        # A piece ends at the end of a row and is read in one block, so a newline in a quoted value is
        # parsed as pandas does without pyarrow's slower search for row ends.
        self.parse = pacsv.ParseOptions(delimiter=sep, newlines_in_values=False)
        #: What may stand beside a quote that opens or closes a value (see :func:`check_quoting`).
        self.edges = np.zeros(256, dtype=bool)
        self.edges[[ord(sep), ord("\n"), ord("\r"), ord('"')]] = True
        self.null_values = sorted(STR_NA_VALUES)

    def __call__(self, buffer: bytearray, end: int, schema: Any) -> Any:
        """The table of the piece ``buffer[:end]``. Raises ValueError at a line pandas would read otherwise."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        piece = memoryview(buffer)[:end]
        if buffer.find(b"\r", 0, end) >= 0 and _LONE_CARRIAGE_RETURN.search(piece):
            raise ValueError("a line that ends with a carriage return alone")
        header = {} if schema is None else {"column_names": schema.names}
        types = {} if schema is None else {"column_types": schema}
        read = pacsv.ReadOptions(use_threads=False, block_size=len(piece) + 1, **header)
        convert = pacsv.ConvertOptions(
            null_values=self.null_values, strings_can_be_null=True,
            true_values=["True", "TRUE", "true"], false_values=["False", "FALSE", "false"], **types,
        )  # fmt: skip
        source = pa.BufferReader(pa.py_buffer(piece))
        table = pacsv.read_csv(
            source, read_options=read, parse_options=self.parse, convert_options=convert, memory_pool=self.pool
        )
        # pandas skips a line of blanks; pyarrow reads it as a row, which only a one-column table can hold.
        if table.num_columns == 1 and _BLANK_LINE.search(piece):
            raise ValueError("a line of blanks")
        if not _ends_outside_quotes(table, buffer, end):
            check_quoting(piece, self.edges)
        return table


def _arrow_to_frame(tables: list[Any], pool: Any) -> pandas.DataFrame | None:
    """The pieces' tables as one frame, joined a column at a time, each column's Arrow memory freed once converted."""
    import pandas as pd
    import pyarrow as pa

    whole = pa.concat_tables(tables)
    tables.clear()
    _give_back_memory()
    columns: dict[str, pandas.Series] = {}
    for name in whole.schema.names:
        column = whole.column(0)
        whole = whole.remove_column(0)
        if pa.types.is_boolean(column.type) and column.null_count:
            return None  # pandas gives objects (True, False, nan) there
        columns[name] = column.to_pandas(use_threads=False)
        del column
        pool.release_unused()
        _give_back_memory()
    return pd.DataFrame(columns, copy=False)


def _like_pandas(schema: Any, sample: pandas.DataFrame) -> bool:
    """pyarrow's columns are pandas' own: the same names, types pandas gives, the same dtypes on the first rows."""
    names = list(schema.names)
    if names != list(sample.columns) or len(set(names)) != len(names) or any(not n or n[0] == "\ufeff" for n in names):
        return False
    if any(str(field.type) not in _ARROW_CSV_TYPES for field in schema):
        return False
    return all(_same_kind(str(schema.field(name).type), sample[name].dtype) for name in names)


def _same_kind(arrow_type: str, pandas_dtype: Any) -> bool:
    """An Arrow column's dtype matches the one pandas gave on the first rows (ints with gaps are floats there)."""
    kind = getattr(pandas_dtype, "kind", "O")
    if arrow_type == "string":
        return str(pandas_dtype) == "str"
    if arrow_type == "int64":
        return kind in "if"  # pandas' first rows may have gaps the rest of the file has too
    if arrow_type == "double":
        return kind == "f"
    return kind == "b"


def _read_into(stream: Any, view: memoryview) -> int:
    """Fill ``view`` from ``stream`` (less at its end); how many bytes were read."""
    got = 0
    while got < len(view) and (count := stream.readinto(view[got:])):
        got += count
    return got


def _last_row_end(data: bytearray, end: int, *, at_end: bool) -> int:
    """The position after the last newline of ``data[:end]`` outside quoted values, by counting quotes (the text
    starts a row; ``at_end``: ``end`` itself, the text's end); 0 if none."""
    import numpy as np

    quotes = int(np.count_nonzero(np.frombuffer(data, np.uint8, end) == ord('"')))  # 8x bytearray.count's speed
    if at_end:
        if quotes % 2:
            raise ValueError("the text ends inside a quoted value")
        return end
    while (cut := data.rfind(b"\n", 0, end)) >= 0:
        quotes -= data.count(b'"', cut + 1, end)
        if quotes % 2 == 0:
            return cut + 1
        end = cut
    return 0


def _ends_outside_quotes(table: Any, buffer: bytearray, end: int) -> bool:
    """Whether the piece ``buffer[:end]``, read into ``table``, surely ends outside quoted values.

    It ends after a newline (only the file's last piece may not). Had that newline been inside a quoted value
    (quotes counted wrong, a quote having been text), the value would have run on to the end of the piece: a
    row of too few values (pyarrow refuses it), or in the last column a value that is not a number or a
    boolean (refused too) or text that ends with the newline (seen here)."""
    import pyarrow as pa

    if buffer[end - 1] != ord("\n"):
        return False
    last = table.column(table.num_columns - 1)
    if not table.num_rows or not pa.types.is_string(last.type):
        return True
    value = last[table.num_rows - 1].as_py()
    return value is None or not value.endswith("\n")


def check_quoting(piece: memoryview, edges: Any) -> None:
    """Raise ValueError unless every quote of ``piece`` (text that starts a row and has an even number of
    quotes: see :func:`_last_row_end`) opens a value, after a separator, a line end or another quote (a quote
    doubled inside a value), or closes one, before them; taken in turn, as counting them takes them. A quote
    anywhere else is text to pandas, and counting quotes would have put row ends inside values. ``edges``: a
    numpy bool array of 256, True at the separator, the line ends and the quote."""
    import numpy as np

    text = np.frombuffer(piece, np.uint8)
    quotes = np.flatnonzero(text == ord('"'))
    opening, closing = quotes[0::2], quotes[1::2]
    if not (edges[text[opening[opening > 0] - 1]].all() and edges[text[closing[closing + 1 < len(text)] + 1]].all()):
        raise ValueError("a quote inside a value that is not quoted")


def _no_index(options: dict[str, Any]) -> bool:
    """No ``index_col`` (0 is a column, not False)."""
    return options.get("index_col") is None or options.get("index_col") is False


def join_by_column(chunks: list[pandas.DataFrame]) -> pandas.DataFrame:
    """The frames of ``chunks`` (same columns) one under the other, with a fresh RangeIndex."""
    import pandas as pd

    if len(chunks) == 1:
        return chunks[0]
    columns: dict[Any, pandas.Series] = {}
    for name in list(chunks[0].columns):
        parts = [chunk.pop(name) for chunk in chunks]
        columns[name] = pd.concat(parts, ignore_index=True)
        del parts
        _give_back_memory()
    return pd.DataFrame(columns, copy=False)


def _give_back_memory() -> None:
    """Return the C library's freed memory to the system (glibc keeps freed parts of a few MB otherwise)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere: other C libraries give freed memory back by themselves)."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


def read_parquet_by_columns(source: str | IO[bytes] | Any, names: list[str]) -> pandas.DataFrame:
    """The ``names`` columns of a Parquet file, read by ``pandas.read_parquet`` a group of columns at a time."""
    import pandas as pd
    import pyarrow as pa

    size = -(-len(names) // PARQUET_GROUPS)
    columns: dict[str, pandas.Series] = {}
    for start in range(0, len(names), size):
        if hasattr(source, "seek"):
            source.seek(0)
        part = pd.read_parquet(source, engine="pyarrow", columns=names[start : start + size], **_lean_arrow())
        columns.update((name, part[name]) for name in part.columns)
        del part
        pa.default_memory_pool().release_unused()
        _give_back_memory()
    return pd.DataFrame(columns, copy=False)


@functools.cache
def _lean_arrow() -> dict[str, Any]:
    """Arrow → pandas without a second copy: one block per column (numeric columns then keep Arrow's
    memory), each Arrow column freed as it is converted; nothing where pandas cannot pass it on (< 3.0)."""
    import pandas as pd

    if "to_pandas_kwargs" not in inspect.signature(pd.read_parquet).parameters:
        return {}
    return {"to_pandas_kwargs": {"split_blocks": True, "self_destruct": True}}


def plain_frame(pandas_metadata: dict[str, Any] | None) -> bool:
    """The file keeps no index of its own beyond 0, 1, 2 … and its column names are its field names:
    reading it by groups of columns gives what reading it whole would."""
    if not pandas_metadata:
        return True
    plain_index = all(
        isinstance(index, dict) and index.get("kind") == "range" and index.get("name") is None
        and index.get("start") == 0 and index.get("step") == 1
        for index in pandas_metadata.get("index_columns", [])
    )  # fmt: skip
    columns = pandas_metadata.get("columns", [])
    return plain_index and all(c.get("name") == c.get("field_name") for c in columns)
