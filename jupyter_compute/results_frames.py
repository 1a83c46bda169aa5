"""Building a large DataFrame without holding it twice.

pandas' readers build a frame from parts and join them at the end: ``read_csv`` joins the chunks
its C parser makes, ``read_parquet`` converts a whole Arrow table, so for a moment both copies
live (measured: 1.75× the frame's memory at the peak for a CSV streamed from the server, 2.3× for
Parquet). Here the parts are joined one column at a time, each column's parts freed as soon as it
is joined, so the peak stays near the frame itself plus one column or group of columns (1.3×
for that CSV, 1.4× for that Parquet). The values and dtypes are pandas' own.

Freed parts go back to the system as each column is joined (glibc keeps them otherwise, and the peak
would be the frame twice over).
"""

from __future__ import annotations

import ctypes
import functools
import inspect
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

#: Text per CSV chunk (bytes): the chunk's frame is about this size, the extra memory at the peak.
CSV_CHUNK_BYTES = 32 * 1024 * 1024
#: Parquet columns are read in at most this many groups, one group's Arrow table held at a time.
PARQUET_GROUPS = 8

#: ``read_csv`` options whose meaning needs the whole file in one piece (as does an ``index_col``): with one of
#: them, pandas reads it so.
_WHOLE_CSV_OPTIONS = frozenset({"nrows", "skipfooter", "engine", "chunksize", "iterator"})


def rows_per_chunk(head: bytes) -> int:
    """How many CSV rows make about :data:`CSV_CHUNK_BYTES`, judged by the lines of ``head``."""
    lines = max(head.count(b"\n"), 1)
    return max(CSV_CHUNK_BYTES * lines // max(len(head), 1), 10_000)


def read_csv_by_column(stream: IO[bytes] | Any, options: dict[str, Any], chunk_rows: int) -> pandas.DataFrame:
    """``pandas.read_csv(stream, **options)``, read in chunks of ``chunk_rows`` rows joined column by column."""
    import pandas as pd

    if _WHOLE_CSV_OPTIONS.intersection(options) or not _no_index(options):
        return pd.read_csv(stream, **options)
    with pd.read_csv(stream, chunksize=chunk_rows, **options) as reader:
        chunks = list(reader)
    return join_by_column(chunks)


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
